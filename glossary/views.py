"""HTML pages (search, terms, articles, browse) and the health check; each page shares its
argument schema and domain call with its JSON twin under /api/."""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from markupsafe import Markup, escape
from marshmallow import Schema, ValidationError
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, aliased

from glossary import apischemas, catalog, search
from glossary.models import TERM_TYPES, Article, Term
from glossary.store import get_session, get_store, schema_problem
from glossary.text import fold

bp = Blueprint("views", __name__)
log = logging.getLogger(__name__)

COUNTRY = "democratic-peoples-republic-of-korea"
SLUG_RE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
LABEL_KINDS = (
    ("preferred", "Preferred name"),
    ("alias", "Also called"),
    ("abbreviation", "Abbreviations"),
    ("former", "Former names"),
    ("hangul", "Korean (Hangul)"),
    ("hanja", "Chinese characters (Hanja)"),
    ("romanization", "Romanizations"),
    ("hidden", "Spelling variants (hidden)"),
)
ROMANIZATIONS = {
    "dprk": "DPRK official",
    "mr": "McCune-Reischauer",
    "rr": "Revised Romanization",
}
TYPE_PLURALS = {
    "organization": "Organizations",
    "place": "Places",
    "policy": "Policies",
    "event": "Events",
}
RELATION_KINDS = (
    ("related", "See also"),
    ("predecessors", "Predecessors"),
    ("successors", "Successors"),
)


# The JSON twins' argument schemas, shared so both read a URL the same way.
search_args = apischemas.SearchArgs()
page_args = apischemas.PageArgs()
term_list_args = apischemas.TermListArgs()


def load_args(schema: Schema) -> dict:
    """The query arguments loaded by the JSON twin's schema; a 400 page when they do not fit."""
    try:
        return schema.load(request.args)
    except ValidationError as exc:
        fields = ", ".join(sorted(str(k) for k in exc.messages))
        abort(400, f"Unusable query arguments: {fields}.")


def set_json_twin(url: str) -> str:
    """Advertise the page's JSON twin (head link and Link header); returns the URL."""
    g.json_url = url
    return url


def api_url(path: str, **args: object) -> str:
    """An /api/ URL with the given non-empty query arguments."""
    query = urlencode(
        {k: v for k, v in args.items() if v not in (None, "", False) and (k, v) != ("page", 1)}
    )
    return f"/api/{path}" + (f"?{query}" if query else "")


def page_url(page: int) -> str:
    """This page's URL with another page number, keeping every other argument."""
    args = request.args.to_dict()
    args["page"] = str(page)
    return url_for(request.endpoint, **(request.view_args or {}), **args)


@bp.get("/")
def index() -> str:
    """The search page: one box, results with facets, pagination and "did you mean"."""
    args = load_args(search_args)
    q = (args.get("q") or "").strip()
    set_json_twin(api_url("search", **request.args.to_dict()))
    if not q:
        count = get_session().scalar(select(func.count(Term.id)).where(Term.status == "published"))
        return render_template("index.html", q="", term_count=count)
    results = search.search_terms(
        get_store(),
        current_app.config["INDEX_DIR"],
        q,
        type=args.get("type"),
        page=args["page"],
        per_page=args["per_page"],
    )
    pages = max(1, -(-results.total // results.per_page))
    return render_template(
        "index.html",
        q=q,
        type=args.get("type"),
        hits=results.hits,
        total=results.total,
        facets=sorted(results.facets.items(), key=lambda kv: (-kv[1], kv[0])),
        did_you_mean=results.did_you_mean if not results.total else None,
        page=results.page,
        pages=pages,
    )


@bp.get("/terms/<slug>")
def term(slug: str) -> str | Response:
    """A term: names, definitions, hierarchy, relations, a mentions chart and citing articles."""
    args = load_args(page_args)
    session = get_session()
    try:
        detail = catalog.term_detail(session, slug)
        if isinstance(detail, catalog.Redirect):
            return redirect(url_for("views.term", slug=detail.slug), 301)
        citing = catalog.citing_articles(session, slug, args["page"], args["per_page"])
    except catalog.NotFound:
        abort(404, f"There is no term “{slug}” in the glossary.")
    set_json_twin(api_url(f"terms/{detail['slug']}"))
    return render_template(
        "term.html",
        term=detail,
        formerly=former_names(detail["labels"].get("former", [])),
        citing=citing,
        contexts={a["id"]: sentences(a["mentions"]) for a in citing.items},
        chart=mention_chart(catalog.mentions_by_month(session, detail["id"])),
        co_mentioned=catalog.co_mentioned(session, detail["id"], 10),
        co_window=catalog.CO_MENTION_ARTICLES,
        label_kinds=LABEL_KINDS,
        romanizations=ROMANIZATIONS,
        relation_kinds=RELATION_KINDS,
        export_url=api_url("export"),
    )


@bp.get("/articles/<int:article_id>")
def article(article_id: int) -> str:
    """An article with every mention linked to its term, and the terms it cites by type."""
    session = get_session()
    try:
        detail = catalog.article_detail(session, article_id)
    except catalog.NotFound:
        abort(404, f"There is no article {article_id}.")
    set_json_twin(api_url(f"articles/{article_id}"))
    definitions = definitions_by_slug(session, {m["term"] for m in detail["mentions"] if m["term"]})
    segments = article_segments(detail["text"], detail["mentions"], definitions)
    return render_template(
        "article.html",
        article=detail,
        paragraphs=paragraphs(segments),
        terms_by_type=terms_by_type(detail["mentions"]),
        candidates=candidates_in(detail["mentions"]),
        candidate_count=sum(1 for m in detail["mentions"] if m["candidate"] and not m["term"]),
    )


@bp.get("/browse")
def browse() -> str:
    """Terms by type and initial letter with counts, and places by province."""
    args = load_args(term_list_args)
    session = get_session()
    kind, letter, parent = args.get("type"), args.get("letter"), args.get("parent")
    set_json_twin(api_url("terms", **request.args.to_dict()))
    terms = catalog.list_terms(
        session,
        type=kind,
        letter=letter,
        parent=parent,
        page=args["page"],
        per_page=args["per_page"],
    )
    parent_term = None
    if parent:
        try:
            found = catalog.resolve_slug(session, parent)
        except catalog.NotFound:
            abort(404, f"There is no term “{parent}” in the glossary.")
        if not isinstance(found, catalog.Redirect):
            parent_term = {"slug": found.slug, "name": found.name}
    return render_template(
        "browse.html",
        type=kind,
        letter=letter,
        parent=parent,
        parent_term=parent_term,
        terms=terms,
        type_counts=type_counts(session),
        letter_counts=letter_counts(session, kind, parent),
        provinces=province_counts(session) if kind in (None, "place") else [],
    )


@bp.get("/healthz")
def healthz() -> tuple[Response, int]:
    """Whether the database and the indexes answer, with counts of terms and articles."""
    body = {"status": "ok", "database": "ok", "index": "unknown", "terms": 0, "articles": 0,
            "worker": os.getpid()}  # fmt: skip
    problem = schema_problem()
    if problem:
        body.update(status="error", database="not initialized", detail=problem)
    else:
        try:
            session = get_session()
            body["terms"] = session.scalar(
                select(func.count(Term.id)).where(Term.status == "published")
            )
            body["articles"] = session.scalar(select(func.count(Article.id)))
        except SQLAlchemyError as exc:
            log.warning("health check: database unreachable: %s", exc)
            body["status"], body["database"] = "error", "unreachable"
    try:
        from glossary.search import index_status

        body["index"] = index_status(current_app.config["INDEX_DIR"])
    except Exception as exc:  # the health check reports, it never fails
        log.warning("health check: index status unavailable: %s", exc)
        body["index"] = {"status": "unavailable"}
    if isinstance(body["index"], dict) and body["index"].get("status") not in ("ok", None):
        body["status"] = "degraded" if body["status"] == "ok" else body["status"]
    return jsonify(body), (200 if body["status"] != "error" else 503)


# --- presentation helpers (pure functions of catalog data) -------------------------------------


def mention_chart(rows: list[dict], width: int = 640, height: int = 180) -> dict:
    """Bars for an inline SVG chart of mentions per month, every month in the range filled."""
    counts = {r["month"]: r["count"] for r in rows}
    if not counts:
        return {"bars": [], "months": []}
    first, last = min(counts), max(counts)
    y, m = int(first[:4]), int(first[5:7])
    months = []
    while f"{y:04d}-{m:02d}" <= last:
        key = f"{y:04d}-{m:02d}"
        months.append({"month": key, "count": counts.get(key, 0)})
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    left, right, top, bottom = 32, 8, 10, 22
    base = height - bottom
    peak = max(r["count"] for r in months)
    slot = (width - left - right) / len(months)
    bar_w = max(1.0, slot * 0.8)
    bars = []
    for i, r in enumerate(months):
        h = (base - top) * r["count"] / peak if peak else 0
        bars.append(
            {
                "x": round(left + i * slot + (slot - bar_w) / 2, 2),
                "y": round(base - h, 2),
                "w": round(bar_w, 2),
                "h": round(h, 2),
                **r,
            }
        )
    step = max(1, len(months) // 6)
    ticks = [
        {"x": round(left + i * slot + slot / 2, 2), "label": months[i]["month"]}
        for i in range(0, len(months), step)
    ]
    busiest = max(months, key=lambda r: r["count"])
    total = sum(r["count"] for r in months)
    summary = (
        f"{total} mention{'s' if total != 1 else ''} from {first} to {last}; "
        f"the busiest month was {busiest['month']} with {busiest['count']}."
    )
    return {
        "bars": bars,
        "months": months,
        "ticks": ticks,
        "width": width,
        "height": height,
        "left": left,
        "right": right,
        "top": top,
        "base": base,
        "max": peak,
        "summary": summary,
    }


def article_segments(text: str, mentions: list[dict], definitions: dict[str, str]) -> list[dict]:
    """The article text cut into plain runs and mentions (outermost first, never overlapping)."""
    segments: list[dict] = []
    pos = 0
    for m in sorted(mentions, key=lambda m: (m["start"], -m["end"])):
        if m["start"] < pos or m.get("nested") or m["end"] > len(text):
            continue
        if m["start"] > pos:
            segments.append({"text": text[pos : m["start"]]})
        segments.append(
            {
                "text": text[m["start"] : m["end"]],
                "term": m["term"],
                "candidate": m["candidate"],
                "name": m["name"],
                "type": m["type"],
                "definition": definitions.get(m["term"] or ""),
            }
        )
        pos = m["end"]
    if pos < len(text):
        segments.append({"text": text[pos:]})
    return segments


def paragraphs(segments: list[dict]) -> list[list[dict]]:
    """Segments grouped into paragraphs at blank lines; single line breaks become spaces."""
    out: list[list[dict]] = [[]]
    for seg in segments:
        if seg.get("term") or seg.get("candidate"):
            out[-1].append(seg)
            continue
        parts = PARAGRAPH_BREAK.split(seg["text"])
        for i, part in enumerate(parts):
            if i:
                out.append([])
            if part:
                out[-1].append({"text": part})
    return [p for p in out if any(seg["text"].strip() for seg in p)]


def sentences(contexts: list[dict]) -> list[list[tuple[str, bool]]]:
    """Mention contexts merged by sentence: each sentence once, every mention in it marked."""
    marks: dict[tuple[int, str], set[tuple[int, int]]] = {}
    for c in contexts:
        key = (c["sentence_start"], c["sentence"])
        marks.setdefault(key, set()).add((c["offset"], c["offset"] + c["length"]))
    out = []
    for (_start, sentence), spans in sorted(marks.items()):
        pieces, pos = [], 0
        for lo, hi in sorted(spans):
            if lo < pos:
                continue  # a mention nested in one already marked
            pieces += [(sentence[pos:lo], False), (sentence[lo:hi], True)]
            pos = hi
        pieces.append((sentence[pos:], False))
        out.append([(" ".join(text.split("\n")), marked) for text, marked in pieces if text])
    return out


def former_names(labels: list[dict]) -> list[dict]:
    """One "formerly ... until YEAR" line per end year: an English name first, then the rest."""
    by_year: dict[str, list[dict]] = {}
    for lb in labels:
        if lb.get("valid_to"):
            by_year.setdefault(lb["valid_to"][:4], []).append(lb)
    lines = []
    for year, group in sorted(by_year.items(), reverse=True):
        group = sorted(group, key=lambda lb: (lb.get("language") or "en").startswith("ko"))
        first = group[0]
        lines.append(
            {
                "text": first["text"],
                "since": (first.get("valid_from") or "")[:4],
                "until": year,
                "also": [lb["text"] for lb in group[1:]],
            }
        )
    return lines


def terms_by_type(mentions: list[dict]) -> list[tuple[str, list[dict]]]:
    """The distinct terms an article mentions, grouped by type, most mentioned first."""
    counts = Counter((m["type"], m["term"], m["name"]) for m in mentions if m["term"])
    groups: dict[str, list[dict]] = {}
    for (kind, slug, name), n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][2] or "")):
        groups.setdefault(kind, []).append({"slug": slug, "name": name, "count": n})
    return [(t, groups[t]) for t in TERM_TYPES if t in groups]


def candidates_in(mentions: list[dict]) -> list[dict]:
    """The distinct candidate terms marked in an article."""
    seen: dict[int, dict] = {}
    for m in mentions:
        if m["candidate"] and not m["term"]:
            seen.setdefault(
                m["candidate"], {"id": m["candidate"], "name": m["name"], "type": m["type"]}
            )
    return list(seen.values())


# --- small reads the catalog does not offer (yet) ----------------------------------------------


def definitions_by_slug(session: Session, slugs: set[str]) -> dict[str, str]:
    """The short definition of each term named by slug."""
    if not slugs:
        return {}
    ids = dict(session.execute(select(Term.id, Term.slug).where(Term.slug.in_(slugs))).all())
    return {ids[i]: text for i, text in catalog.short_definitions(session, list(ids)).items()}


def letter_counts(session: Session, kind: str | None, parent: str | None) -> list[tuple[str, int]]:
    """How many published terms start with each letter ("#" for the rest)."""
    query = select(Term.name).where(Term.status == "published")
    if kind:
        query = query.where(Term.type == kind)
    if parent:
        parent_ids = select(Term.id).where(Term.slug == parent)
        query = query.where(Term.parent_id.in_(parent_ids))
    counts: Counter[str] = Counter()
    for name in session.scalars(query):
        first = fold(name)[:1]
        counts[first if "a" <= first <= "z" else "#"] += 1
    return sorted(counts.items())


def type_counts(session: Session) -> dict[str, int]:
    """How many published terms each type has."""
    rows = session.execute(
        select(Term.type, func.count(Term.id)).where(Term.status == "published").group_by(Term.type)
    )
    counts = dict(rows.all())
    return {t: counts.get(t, 0) for t in TERM_TYPES}


def province_counts(session: Session) -> list[dict]:
    """The country's first-level divisions that hold places, with how many they hold directly."""
    province, child = aliased(Term), aliased(Term)
    rows = session.execute(
        select(province.slug, province.name, func.count(child.id))
        .join(Term, Term.id == province.parent_id)
        .join(child, child.parent_id == province.id)
        .where(
            Term.slug == COUNTRY,
            province.status == "published",
            child.status == "published",
            child.type == "place",
        )
        .group_by(province.id, province.slug, province.name)
        .order_by(province.name)
    )
    return [{"slug": slug, "name": name, "count": n} for slug, name, n in rows]


# --- wiring ------------------------------------------------------------------------------------


def snippet_filter(html: str | None) -> Markup:
    """A search snippet as HTML, keeping only its <mark> highlights (all else re-escaped)."""
    text = str(escape(Markup(html or "").unescape()))
    return Markup(text.replace("&lt;mark&gt;", "<mark>").replace("&lt;/mark&gt;", "</mark>"))


def is_safe_url(value: object) -> bool:
    """Whether a value is an http(s) URL safe to put in an href."""
    return isinstance(value, str) and value.lower().startswith(("http://", "https://"))


@bp.after_app_request
def link_json_twin(response: Response) -> Response:
    """Send the JSON twin as a Link header too."""
    url = g.get("json_url")
    if url and response.mimetype == "text/html":
        response.headers.add("Link", f'<{url}>; rel="alternate"; type="application/json"')
    return response


def init_app(app: Flask) -> None:
    """Register the pages and their template helpers."""
    app.register_blueprint(bp)
    app.jinja_env.globals["page_url"] = page_url
    app.jinja_env.filters["snippet"] = snippet_filter
    app.jinja_env.tests["safe_url"] = is_safe_url
    app.jinja_env.tests["slug"] = lambda v: isinstance(v, str) and SLUG_RE.fullmatch(v) is not None
    app.jinja_env.filters["plural"] = lambda t: TYPE_PLURALS.get(t, t)

    @app.context_processor
    def _json_twin() -> dict:
        return {"json_url": g.get("json_url")}
