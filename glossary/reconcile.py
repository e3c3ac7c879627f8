"""The W3C Entity Reconciliation API (0.2) at /reconcile, as OpenRefine speaks it: manifest,
query batches, preview cards, suggest for entities, types and properties, and data extension."""

from __future__ import annotations

import json

from flask import Blueprint, Flask, Response, current_app, request
from markupsafe import escape
from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import BadRequest, UnprocessableEntity

from glossary import catalog, lookup
from glossary.models import Label, Mention, Term
from glossary.store import Store, get_session, get_store

bp = Blueprint("reconcile", __name__, url_prefix="/reconcile")

TYPES = {
    "organization": "Organization",
    "place": "Place",
    "policy": "Policy",
    "event": "Event",
}
PROPERTIES = {
    "type": ("Type", "organization, place, policy or event"),
    "hangul": ("Hangul", "the name in Korean script"),
    "definition": ("Definition", "the primary definition"),
    "parent": ("Parent", "the term this one belongs to"),
    "wikidata": ("Wikidata id", "the Wikidata item (Q number)"),
    "mention_count": ("Mention count", "how many times articles cite the term"),
}
MATCH_SCORE = 85
MAX_QUERIES = 1000
MAX_IDS = 1000
PREVIEW_CSP = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors *"


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class PropertyValue(fields.Field):
    """A property value in a query: a string, number, boolean, {id, name}, or a list of them."""

    def _deserialize(self, value, attr, data, **kwargs):  # noqa: ANN001, ANN202
        items = value if isinstance(value, list) else [value]
        out = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                out.append(item["id"])
            elif isinstance(item, str | int | float | bool):
                out.append(str(item))
            else:
                raise ValidationError("Not a property value.")
        return out


class QueryProperty(Schema):
    class Meta:
        unknown = EXCLUDE

    pid = fields.String(required=True, validate=validate.Length(min=1, max=100))
    v = PropertyValue(required=True)


class TypeField(fields.Field):
    """One type id or a list of them."""

    def _deserialize(self, value, attr, data, **kwargs):  # noqa: ANN001, ANN202
        items = value if isinstance(value, list) else [value]
        if not all(isinstance(t, str) for t in items):
            raise ValidationError("A type is a string or a list of strings.")
        return items


class ReconQuery(_Strict):
    query = fields.String(load_default="", validate=validate.Length(max=500))
    type = TypeField(load_default=list)
    limit = fields.Integer(load_default=5, validate=validate.Range(min=1, max=100))
    properties = fields.List(fields.Nested(QueryProperty), load_default=list)
    type_strict = fields.String(
        load_default="any", validate=validate.OneOf(("any", "should", "all"))
    )


class ExtendProperty(Schema):
    class Meta:
        unknown = EXCLUDE

    id = fields.String(required=True, validate=validate.Length(min=1, max=100))
    settings = fields.Dict(load_default=dict)


class ExtendQuery(Schema):
    class Meta:
        unknown = EXCLUDE

    ids = fields.List(
        fields.String(validate=validate.Length(max=200)),
        required=True,
        validate=validate.Length(max=MAX_IDS),
    )
    properties = fields.List(
        fields.Nested(ExtendProperty), required=True, validate=validate.Length(max=50)
    )


class SuggestArgs(Schema):
    class Meta:
        unknown = EXCLUDE

    prefix = fields.String(load_default="", validate=validate.Length(max=200))
    type = fields.String(load_default=None)
    cursor = fields.Integer(load_default=0, validate=validate.Range(min=0, max=1000))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


recon_query = ReconQuery()
extend_query = ExtendQuery()
suggest_args = SuggestArgs()


# --- domain -----------------------------------------------------------------------------------


def _type_list(kind: str) -> list[dict]:
    return [{"id": kind, "name": TYPES.get(kind, kind)}]


def manifest(root: str) -> dict:
    """The service manifest: what OpenRefine reads when the service is added."""
    root = root.rstrip("/")
    return {
        "versions": ["0.2"],
        "name": "North Korea glossary",
        "identifierSpace": f"{root}/terms/",
        "schemaSpace": f"{root}/reconcile/types/",
        "documentation": f"{root}/api/openapi.json",
        "serviceVersion": "1",
        "defaultTypes": [{"id": k, "name": v} for k, v in TYPES.items()],
        "view": {"url": f"{root}/terms/{{{{id}}}}"},
        "preview": {"url": f"{root}/reconcile/preview?id={{{{id}}}}", "width": 400, "height": 220},
        "suggest": {
            "entity": {"service_url": root, "service_path": "/reconcile/suggest/entity"},
            "type": {"service_url": root, "service_path": "/reconcile/suggest/type"},
            "property": {"service_url": root, "service_path": "/reconcile/suggest/property"},
        },
        "extend": {
            "propose_properties": {"service_url": root, "service_path": "/reconcile/properties"},
            "property_settings": [],
        },
    }


def _term_facts(session: Session, slugs: list[str]) -> dict[str, dict]:
    """Hangul labels, parent and Wikidata id of these terms, for property checks and extend."""
    facts: dict[str, dict] = {}
    terms = session.scalars(select(Term).where(Term.slug.in_(slugs))).all()
    ids = {t.id: t for t in terms}
    parents = {
        t.id: (t.slug, t.name)
        for t in session.scalars(
            select(Term).where(Term.id.in_(sorted({t.parent_id for t in terms if t.parent_id})))
        )
    }
    hangul: dict[int, list[str]] = {}
    for term_id, text in session.execute(
        select(Label.term_id, Label.text)
        .where(Label.term_id.in_(list(ids)), Label.kind == "hangul")
        .order_by(Label.id)
    ):
        hangul.setdefault(term_id, []).append(text)
    counts = dict(
        session.execute(
            select(Mention.term_id, func.count(Mention.id))
            .where(Mention.term_id.in_(list(ids)))
            .group_by(Mention.term_id)
        ).all()
    )
    definitions = catalog.short_definitions(session, list(ids))
    for t in terms:
        facts[t.slug] = {
            "term": t,
            "type": t.type,
            "hangul": hangul.get(t.id, []),
            "parent": parents.get(t.parent_id),
            "wikidata": t.wikidata,
            "definition": definitions.get(t.id),
            "mention_count": counts.get(t.id, 0),
        }
    return facts


def _property_agreement(facts: dict, properties: list[dict]) -> list[dict]:
    """One feature per query property: whether the term's value agrees."""
    features = []
    for prop in properties:
        pid, wanted = prop["pid"], {v.strip().casefold() for v in prop["v"]}
        if pid == "hangul":
            have = {h.casefold() for h in facts["hangul"]}
        elif pid == "parent":
            have = {x.casefold() for x in (facts["parent"] or ())}
        elif pid in ("wikidata", "type"):
            have = {(facts[pid] or "").casefold()}
        else:
            continue
        features.append({"id": pid, "value": bool(wanted & have)})
    return features


def reconcile_query(store: Store, session: Session, query: dict) -> dict:
    """Candidates for one query, best first, with `match` only on a confident unique hit."""
    types = [t for t in query["type"] if t]
    if types and not set(types) & TYPES.keys():
        return {"result": []}
    name = query["query"].strip()
    if not name:
        return {"result": []}
    hits = lookup.get_table(store).find(name, types=types or None, limit=query["limit"])
    facts = _term_facts(session, [h.term.slug for h in hits]) if hits else {}
    result = []
    for n, hit in enumerate(hits):
        features = [{"id": "name_score", "value": hit.score}]
        score = hit.score
        agreement = _property_agreement(facts[hit.term.slug], query["properties"])
        for feature in agreement:
            score += 5 if feature["value"] else -10
        features.extend(agreement)
        confident = (
            n == 0
            and hit.score >= MATCH_SCORE
            and not hit.ambiguous
            and all(f["value"] for f in agreement)
            and (len(hits) == 1 or hits[1].score < hit.score)
        )
        item = {
            "id": hit.term.slug,
            "name": hit.term.name,
            "score": max(0, min(100, score)),
            "match": confident,
            "type": _type_list(hit.term.type),
            "features": features,
        }
        if hit.term.definition:
            item["description"] = _short(hit.term.definition)
        result.append(item)
    result.sort(key=lambda r: -r["score"])
    return {"result": result}


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def reconcile_batch(store: Store, session: Session, queries: dict[str, dict]) -> dict:
    """Answers for a batch of queries, under the same keys."""
    return {key: reconcile_query(store, session, q) for key, q in queries.items()}


def extend(session: Session, ids: list[str], properties: list[str]) -> dict:
    """Property values for each id (merged slugs answer with the term they now are)."""
    resolved: dict[str, str] = {}
    for slug in ids:
        try:
            found = catalog.resolve_slug(session, slug)
        except catalog.NotFound:
            continue
        resolved[slug] = found.slug
    facts = _term_facts(session, sorted(set(resolved.values())))
    meta = []
    for pid in properties:
        name = PROPERTIES.get(pid, (pid, ""))[0]
        item = {"id": pid, "name": name}
        if pid in ("type", "parent"):
            item["type"] = {"id": "type" if pid == "type" else "term", "name": name}
        meta.append(item)
    rows = {}
    for slug in ids:
        f = facts.get(resolved.get(slug, ""))
        rows[slug] = {pid: _values(f, pid) if f else [] for pid in properties}
    return {"meta": meta, "rows": rows}


def _values(facts: dict, pid: str) -> list[dict]:
    if pid == "type":
        return _type_list(facts["type"])
    if pid == "hangul":
        return [{"str": h} for h in facts["hangul"]]
    if pid == "definition":
        return [{"str": facts["definition"]}] if facts["definition"] else []
    if pid == "parent":
        return [{"id": facts["parent"][0], "name": facts["parent"][1]}] if facts["parent"] else []
    if pid == "wikidata":
        return [{"str": facts["wikidata"]}] if facts["wikidata"] else []
    if pid == "mention_count":
        return [{"int": facts["mention_count"]}]
    return []


def propose_properties(kind: str | None, limit: int) -> dict:
    """The properties data extension offers (the same for every type)."""
    props = [{"id": k, "name": v[0], "description": v[1]} for k, v in PROPERTIES.items()]
    out = {"properties": props[:limit], "limit": limit}
    if kind:
        out["type"] = kind
    return out


def suggest_entities(
    store: Store, index_dir: str, prefix: str, kind: str | None, limit: int
) -> dict:
    """Terms whose labels start with the prefix (search index), else lookup matches."""
    from glossary.search import suggest

    found = suggest(store, index_dir, prefix, limit=limit, type=kind) if len(prefix) >= 2 else []
    result = [
        {"id": s.slug, "name": s.name, "notable": _type_list(s.type)}
        for s in found
        if not kind or s.type == kind
    ]
    if not result and prefix.strip():
        hits = lookup.get_table(store).find(prefix, types=[kind] if kind else None, limit=limit)
        result = [
            {"id": h.term.slug, "name": h.term.name, "notable": _type_list(h.term.type)}
            for h in hits
        ]
    return {"result": result[:limit]}


def suggest_types(prefix: str) -> dict:
    """Our four types, filtered by prefix."""
    p = prefix.strip().casefold()
    return {
        "result": [
            {"id": k, "name": v}
            for k, v in TYPES.items()
            if not p or k.startswith(p) or v.casefold().startswith(p)
        ]
    }


def suggest_properties(prefix: str) -> dict:
    """Extension properties whose id or name starts with the prefix."""
    p = prefix.strip().casefold()
    return {
        "result": [
            {"id": k, "name": v[0], "description": v[1]}
            for k, v in PROPERTIES.items()
            if not p or k.startswith(p) or v[0].casefold().startswith(p)
        ]
    }


def preview_html(session: Session, slug: str, root: str) -> str:
    """A small HTML card for one term; every value is escaped."""
    found = catalog.resolve_slug(session, slug)
    detail = catalog.term_detail(session, found.slug)
    hangul = ", ".join(lb["text"] for lb in detail["labels"].get("hangul", []))
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>",
        escape(detail["name"]),
        "</title><style>body{font:14px/1.4 sans-serif;margin:8px}h1{font-size:16px;margin:0}"
        "p{margin:4px 0}.t{color:#555}</style></head><body>",
        f"<h1><a href='{escape(root.rstrip('/'))}/terms/{escape(detail['slug'])}' target='_blank'>",
        escape(detail["name"]),
        "</a></h1>",
        f"<p class='t'>{escape(TYPES.get(detail['type'], detail['type']))}",
    ]
    if hangul:
        parts.append(f" · <span lang='ko'>{escape(hangul)}</span>")
    if detail["parent"]:
        parts.append(f" · in {escape(detail['parent']['name'])}")
    parts.append("</p>")
    if detail["definition"]:
        parts.append(f"<p>{escape(_short(detail['definition'], 400))}</p>")
    parts.append(f"<p class='t'>{detail['mentions']['count']} mentions</p></body></html>")
    return "".join(str(p) for p in parts)


# --- views ------------------------------------------------------------------------------------


def _json_param(name: str) -> object | None:
    raw = request.values.get(name)
    if raw is None:
        return None
    try:
        return json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BadRequest(f"The {name} parameter is not JSON (or is nested too deeply).") from exc


def _load(schema: Schema, data: object, what: str) -> dict:
    try:
        return schema.load(data)
    except ValidationError as exc:
        error = UnprocessableEntity(f"The {what} is not valid.")
        error.data = {"messages": {what: exc.messages}}
        raise error from exc


def _queries(raw: object) -> dict[str, dict]:
    if not isinstance(raw, dict):
        raise _invalid("queries", "A batch is an object of queries by key.")
    if len(raw) > MAX_QUERIES:
        raise _invalid("queries", f"At most {MAX_QUERIES} queries in a batch.")
    return {str(k): _load(recon_query, v, "queries") for k, v in raw.items()}


def _invalid(what: str, message: str) -> UnprocessableEntity:
    error = UnprocessableEntity(message)
    error.data = {"messages": {what: [message]}}
    return error


@bp.route("", methods=["GET", "POST"])
def service():
    """The manifest, or answers to `queries`, a single `query`, or an `extend` request."""
    queries = _json_param("queries")
    if queries is not None:
        return reconcile_batch(get_store(), get_session(), _queries(queries))
    extension = _json_param("extend")
    if extension is not None:
        data = _load(extend_query, extension, "extend")
        return extend(get_session(), data["ids"], [p["id"] for p in data["properties"]])
    single = request.values.get("query")
    if single is not None:
        try:
            parsed = json.loads(single)
        except (ValueError, RecursionError):
            parsed = single
        query = parsed if isinstance(parsed, dict) else {"query": str(single)}
        return reconcile_query(get_store(), get_session(), _load(recon_query, query, "query"))
    return manifest(request.url_root)


@bp.get("/preview")
def preview():
    """A small HTML card for the term `id`, shown by OpenRefine in a frame."""
    slug = request.args.get("id", "")
    if not slug or len(slug) > 200:
        raise _invalid("id", "Give the term's id.")
    html = preview_html(get_session(), slug, request.url_root)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


@bp.get("/suggest/entity")
def suggest_entity():
    """Autocomplete for terms."""
    args = _load(suggest_args, request.args, "suggest")
    return suggest_entities(
        get_store(), current_app.config["INDEX_DIR"], args["prefix"], args["type"], args["limit"]
    )


@bp.get("/suggest/type")
def suggest_type():
    """Autocomplete for our four types."""
    return suggest_types(_load(suggest_args, request.args, "suggest")["prefix"])


@bp.get("/suggest/property")
def suggest_property():
    """Autocomplete for the extension properties."""
    return suggest_properties(_load(suggest_args, request.args, "suggest")["prefix"])


@bp.get("/properties")
def properties():
    """The properties data extension can fetch for a type."""
    args = _load(suggest_args, request.args, "properties")
    return propose_properties(args["type"], args["limit"])


@bp.get("/types/<kind>")
def type_page(kind: str):
    """What one of our types is (the schema space)."""
    if kind not in TYPES:
        raise catalog.NotFound(f"No type {kind!r}.")
    return {"id": kind, "name": TYPES[kind]}


@bp.errorhandler(catalog.NotFound)
def _not_found(exc: catalog.NotFound) -> Response:
    from glossary.errors import problem

    return problem(404, str(exc))


def init_app(app: Flask) -> None:
    """Register the reconciliation service."""
    app.register_blueprint(bp)
