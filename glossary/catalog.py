"""Read-only views of the store as plain data for the JSON API and the HTML pages: terms, lists,
citing articles with their sentences, candidates and the change feed."""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Connection, Row, Select, and_, bindparam, func, or_, select
from sqlalchemy.orm import Session, aliased

from glossary.models import (
    LABEL_KINDS,
    Article,
    Candidate,
    Change,
    Definition,
    Label,
    Mention,
    Relation,
    Term,
)
from glossary.text import fold

SENTENCE_MAX = 400
_SENTENCE_END = re.compile(
    r"[.!?。]['\"\u2019\u201d)]*\s+(?=[\"'\u2018\u201c(]?[A-Z0-9\uac00-\ud7a3])|\n"
)
# Short words that end in a period without ending a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr st mt no gen col lt maj sgt vs jan feb aug sept oct nov dec".split()
)


class NotFound(LookupError):
    """The named term, article or candidate does not exist."""


@dataclass(frozen=True)
class Redirect:
    """The slug names a merged term: the caller should go to `slug` instead."""

    slug: str


@dataclass(frozen=True)
class Page:
    """One page of a list, with what pagination needs."""

    items: list[dict]
    total: int
    page: int
    per_page: int

    @property
    def pages(self) -> int:
        """How many pages the list has (at least one)."""
        return max(1, -(-self.total // self.per_page))


def aware(value: datetime | None) -> datetime | None:
    """The time with its zone: SQLite hands back naive UTC times."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def _digest(data: object, size: int) -> str:
    raw = json.dumps(data, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()[:size]


def etag_of(data: object) -> str:
    """A strong entity tag for a representation built from plain data."""
    return '"' + _digest(data, 32) + '"'


def term_etag(detail: dict) -> str:
    """A term's entity tag: what editors can change, then the mention statistics, so a cache
    sees new mentions while an edit is refused only when the editable content changed."""
    editable = {k: v for k, v in detail.items() if k != "mentions"}
    return f'"{_digest(editable, 24)}.{_digest(detail.get("mentions"), 8)}"'


def same_term_content(tag: str, current: str) -> bool:
    """Whether an If-Match tag names the current editable content of a term."""
    tag = tag.removeprefix("W/")
    return tag.strip('"').split(".")[0] == current.strip('"').split(".")[0]


def _paginate(session: Session, query: Select, page: int, per_page: int) -> tuple[list, int]:
    total = session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    rows = list(session.execute(query.limit(per_page).offset((page - 1) * per_page)))
    return rows, total


def term_ref(term: Term) -> dict:
    """The short form of a term used wherever another term points to it."""
    return {"slug": term.slug, "name": term.name, "type": term.type}


def resolve_slug(session: Session, slug: str) -> Term | Redirect:
    """The term with this slug, a Redirect to the term a merged slug now lives at, or NotFound."""
    term = session.scalar(select(Term).where(Term.slug == slug))
    if term is None:
        raise NotFound(f"No term {slug!r}.")
    seen = {term.id}
    target = term
    while target.status == "merged" and target.merged_into_id and target.merged_into_id not in seen:
        seen.add(target.merged_into_id)
        target = session.get(Term, target.merged_into_id)
    return Redirect(target.slug) if target is not term else term


def _short_definition(definitions: list[Definition]) -> str | None:
    primary = [d for d in definitions if d.is_primary] or definitions
    return primary[0].text if primary else None


# term_detail's statements, built once: building a statement and its cache key costs more than
# SQLite takes to run it, and a page reads a dozen. Columns, not entities, so no ORM objects.
_TERM_COLUMNS = (Term.id, Term.slug, Term.name, Term.type, Term.status, Term.parent_id)
_TERM_ROW = select(
    *_TERM_COLUMNS,
    Term.merged_into_id,
    Term.wikidata,
    Term.latitude,
    Term.longitude,
    Term.created_at,
    Term.updated_at,
).where(Term.slug == bindparam("slug"))
_TERM_REF = select(*_TERM_COLUMNS).where(Term.id == bindparam("term_id"))
_LABELS = (
    select(
        Label.id,
        Label.text,
        Label.kind,
        Label.language,
        Label.romanization,
        Label.valid_from,
        Label.valid_to,
        Label.case_sensitive,
        Label.ambiguous,
    )
    .where(Label.term_id == bindparam("term_id"))
    .order_by(Label.id)
)
_DEFINITIONS = (
    select(
        Definition.id,
        Definition.text,
        Definition.source,
        Definition.author,
        Definition.as_of,
        Definition.is_primary,
        Definition.created_at,
    )
    .where(Definition.term_id == bindparam("term_id"))
    .order_by(Definition.id)
)
_CHILDREN = (
    select(Term.slug, Term.name, Term.type)
    .where(Term.parent_id == bindparam("term_id"), Term.status == "published")
    .order_by(Term.name, Term.id)
)
_MENTION_COUNTS = select(
    func.count(Mention.id), func.count(func.distinct(Mention.article_id))
).where(Mention.term_id == bindparam("term_id"))
_MERGED_FROM = (
    select(Term.slug).where(Term.merged_into_id == bindparam("term_id")).order_by(Term.slug)
)
_OTHER = aliased(Term)
_TERM_ID = bindparam("term_id")
_RELATIONS = (
    select(
        Relation.id,
        Relation.term_id,
        Relation.kind,
        Relation.date,
        _OTHER.id,
        _OTHER.slug,
        _OTHER.name,
        _OTHER.type,
        _OTHER.status,
    )
    .join(
        _OTHER,
        or_(
            and_(Relation.term_id == _TERM_ID, _OTHER.id == Relation.target_id),
            and_(Relation.target_id == _TERM_ID, _OTHER.id == Relation.term_id),
        ),
    )
    .where(or_(Relation.term_id == _TERM_ID, Relation.target_id == _TERM_ID))
    .order_by(_OTHER.name)
)
_LAST_ARTICLE = select(func.max(Article.id))


def _ref(row: Row) -> dict:
    return {"slug": row.slug, "name": row.name, "type": row.type}


def term_detail(session: Session, slug: str) -> dict | Redirect:
    """Everything about one term: labels by kind, definitions, hierarchy, relations, mentions."""
    term = session.execute(_TERM_ROW, {"slug": slug}).one_or_none()
    if term is None:
        raise NotFound(f"No term {slug!r}.")
    if term.status == "merged" and term.merged_into_id:
        found = resolve_slug(session, slug)
        if isinstance(found, Redirect):
            return found
    # The first read flushed any pending change; the rest go to the connection, skipping the
    # session's per-statement work (a third of each small read's cost).
    db = session.connection()
    labels: dict[str, list[dict]] = {kind: [] for kind in LABEL_KINDS}
    for lb in db.execute(_LABELS, {"term_id": term.id}):
        labels.setdefault(lb.kind, []).append(lb._asdict())
    definitions = [
        {
            "id": d.id,
            "text": d.text,
            "source": d.source,
            "author": d.author,
            "as_of": d.as_of,
            "primary": d.is_primary,
            "created_at": aware(d.created_at),
        }
        for d in db.execute(_DEFINITIONS, {"term_id": term.id})
    ]
    primary = [d for d in definitions if d["primary"]] or definitions
    parent = _term_ref_row(db, term.parent_id)
    ancestors, node, seen = [], parent, {term.id}
    while node is not None and node.id not in seen:
        seen.add(node.id)
        ancestors.insert(0, _ref(node))
        node = _term_ref_row(db, node.parent_id)
    children = [_ref(c) for c in db.execute(_CHILDREN, {"term_id": term.id})]
    mentions, articles = db.execute(_MENTION_COUNTS, {"term_id": term.id}).one()
    seen = _first_and_last_seen(db, term.id, articles) if articles else (None, None)
    merged_from = db.scalars(_MERGED_FROM, {"term_id": term.id}).all()
    return {
        "id": term.id,
        "slug": term.slug,
        "name": term.name,
        "type": term.type,
        "status": term.status,
        "wikidata": term.wikidata,
        "latitude": term.latitude,
        "longitude": term.longitude,
        "created_at": aware(term.created_at),
        "updated_at": aware(term.updated_at),
        "definition": primary[0]["text"] if primary else None,
        "labels": {k: v for k, v in labels.items() if v},
        "definitions": definitions,
        "parent": _ref(parent) if parent else None,
        "ancestors": ancestors,
        "children": children,
        **_relations(db, term.id),
        "merged_from": list(merged_from),
        "mentions": {
            "count": mentions,
            "articles": articles,
            "first_seen": seen[0],
            "last_seen": seen[1],
        },
    }


def _term_ref_row(db: Connection, term_id: int | None) -> Row | None:
    if term_id is None:
        return None
    return db.execute(_TERM_REF, {"term_id": term_id}).one_or_none()


def _relations(db: Connection, term_id: int) -> dict[str, list[dict]]:
    """Related, predecessor and successor terms, reading each relation from both of its ends."""
    out: dict[str, list[dict]] = {"related": [], "predecessors": [], "successors": []}
    inverse = {"related": "related", "successor": "predecessors", "predecessor": "successors"}
    forward = {"related": "related", "successor": "successors", "predecessor": "predecessors"}
    seen: set[tuple[str, int]] = set()
    rows = db.execute(_RELATIONS, {"term_id": term_id})
    for rel_id, rel_term_id, kind, when, other_id, slug, name, other_type, status in rows:
        key = (forward if rel_term_id == term_id else inverse)[kind]
        if (key, other_id) in seen or status != "published":
            continue
        seen.add((key, other_id))
        out[key].append(
            {"slug": slug, "name": name, "type": other_type, "date": when, "relation_id": rel_id}
        )
    return out


def list_terms(
    session: Session,
    *,
    type: str | None = None,
    parent: str | None = None,
    letter: str | None = None,
    status: str | None = "published",
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """Terms in name order, filtered by type, parent slug, first letter ("#" for others), status."""
    parent_term = aliased(Term)
    # Counted for the page's terms only (not grouped over every mention, then joined).
    mention_count = (
        select(func.count(Mention.id)).where(Mention.term_id == Term.id).scalar_subquery()
    )
    query = (
        select(
            Term.id,
            Term.slug,
            Term.name,
            Term.type,
            Term.status,
            parent_term.slug.label("parent"),
            mention_count.label("mention_count"),
        )
        .outerjoin(parent_term, parent_term.id == Term.parent_id)
        .order_by(func.lower(Term.name), Term.id)
    )
    if status:
        query = query.where(Term.status == status)
    if type:
        query = query.where(Term.type == type)
    if parent:
        query = query.where(parent_term.slug == parent)
    if letter:
        if letter == "#":
            query = query.where(
                ~or_(*(Term.name.ilike(f"{c}%") for c in "abcdefghijklmnopqrstuvwxyz"))
            )
        else:
            query = query.where(Term.name.ilike(f"{letter.lower()}%"))
    total = session.scalar(
        select(func.count()).select_from(query.with_only_columns(Term.id).order_by(None).subquery())
    )
    rows = session.execute(query.limit(per_page).offset((page - 1) * per_page)).all()
    short = _short_definitions(session, [row.id for row in rows])
    items = [
        {
            "slug": row.slug,
            "name": row.name,
            "type": row.type,
            "status": row.status,
            "parent": row.parent,
            "definition": short.get(row.id),
            "mention_count": row.mention_count,
        }
        for row in rows
    ]
    return Page(items, total or 0, page, per_page)


def _short_definitions(session: Session, term_ids: list[int]) -> dict[int, str]:
    """Each term's primary definition (else its first)."""
    out: dict[int, str] = {}
    if not term_ids:
        return out
    rows = session.execute(
        select(Definition.term_id, Definition.text, Definition.is_primary)
        .where(Definition.term_id.in_(term_ids))
        .order_by(Definition.term_id, Definition.is_primary.desc(), Definition.id)
    )
    for term_id, text, _primary in rows:
        out.setdefault(term_id, text)
    return out


def short_definitions(session: Session, term_ids: list[int]) -> dict[int, str]:
    """Each term's primary definition (else its first), by term id."""
    return _short_definitions(session, term_ids)


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The offsets of the sentence around [start, end), trimmed to about SENTENCE_MAX chars."""
    lo = max(0, start - SENTENCE_MAX)
    begin = lo
    # One character past the mention's start, so the pattern's lookahead can see it.
    for m in _SENTENCE_END.finditer(text, lo, min(len(text), start + 1)):
        if not _is_abbreviation(text, m.start()):
            begin = m.end()
    stop = len(text)
    for m in _SENTENCE_END.finditer(text, end, min(len(text), end + SENTENCE_MAX)):
        if not _is_abbreviation(text, m.start()):
            stop = m.start() + 1 if text[m.start()] != "\n" else m.start()
            break
    else:
        stop = min(len(text), end + SENTENCE_MAX)
    while begin < start and text[begin].isspace():
        begin += 1
    while stop > end and text[stop - 1].isspace():
        stop -= 1
    if stop - begin > SENTENCE_MAX:
        half = max(0, (SENTENCE_MAX - (end - start)) // 2)
        begin = max(begin, start - half)
        stop = min(stop, end + half)
    return begin, stop


def _is_abbreviation(text: str, dot: int) -> bool:
    word = re.search(r"(\w+)$", text[max(0, dot - 6) : dot])
    if word is None:
        return False
    w = word.group(1)
    return w.lower() in _ABBREVIATIONS or (len(w) == 1 and w.isupper())


def mention_context(text: str, start: int, end: int) -> dict:
    """The sentence around a mention, where it starts in the text, and the mention inside it."""
    s, e = sentence_bounds(text, start, end)
    return {
        "start": start,
        "end": end,
        "surface": text[start:end],
        "sentence": text[s:e],
        "sentence_start": s,
        "offset": start - s,
        "length": end - start,
    }


_ARTICLE_REF = (Article.id, Article.title, Article.url, Article.source, Article.published)


def _article_ref(article: Article | Row) -> dict:
    return {
        "id": article.id,
        "title": article.title,
        "url": article.url,
        "source": article.source,
        "published": article.published,
    }


# How many newest articles a citing-article page may walk past in date order, testing each for a
# mention of the term, before listing the term's citing articles by id and sorting them instead.
CITING_WALK = 20_000
# Co-mentioned terms are counted over the term's newest citing articles: bounded cost, and what was
# said alongside it lately.
CO_MENTION_ARTICLES = 500


def citing_article_ids(
    session: Session, term_id: int, page: int = 1, per_page: int = 20
) -> tuple[list[int], int]:
    """One page of the ids of the articles citing a term, newest first, and how many there are.

    A term cited by many articles fills its page after a short walk of the date index; a rarely
    cited one has few articles to sort. Either way the cost does not grow with the corpus."""
    total = session.scalar(
        select(func.count(func.distinct(Mention.article_id))).where(Mention.term_id == term_id)
    )
    if not total:
        return [], 0
    order = (Article.published.desc().nulls_last(), Article.id.desc())
    return _citing(session, term_id, total, order, per_page, (page - 1) * per_page), total


def _citing(
    session: Session,
    term_id: int,
    total: int,
    order: tuple,
    limit: int,
    offset: int = 0,
    *,
    dated: bool = False,
) -> list[int]:
    articles = session.scalar(select(func.max(Article.id))) or 0  # an upper bound, read at once
    if (offset + limit) * articles <= CITING_WALK * total:
        cites = select(Mention.id).where(
            Mention.term_id == term_id, Mention.article_id == Article.id
        )
        query = select(Article.id).where(cites.exists())
    else:
        cited = select(Mention.article_id).where(Mention.term_id == term_id)
        query = select(Article.id).where(Article.id.in_(cited))
    if dated:
        query = query.where(Article.published.is_not(None))
    return list(session.scalars(query.order_by(*order).limit(limit).offset(offset)))


def _seen_query(walk: bool, order: object) -> Select:
    """The date of the first dated article citing the term in `order`: found by walking the date
    index and testing each article (`walk`), or by listing the term's articles."""
    term_id = bindparam("term_id")
    if walk:
        cites = select(Mention.id).where(
            Mention.term_id == term_id, Mention.article_id == Article.id
        )
        citing = cites.exists()
    else:
        citing = Article.id.in_(select(Mention.article_id).where(Mention.term_id == term_id))
    query = select(Article.published).where(citing, Article.published.is_not(None))
    return query.order_by(order).limit(1)


_SEEN = {
    walk: (_seen_query(walk, Article.published.asc()), _seen_query(walk, Article.published.desc()))
    for walk in (True, False)
}


def _first_and_last_seen(
    db: Connection, term_id: int, total: int
) -> tuple[date | None, date | None]:
    """The dates of the oldest and the newest dated article citing the term (chosen as _citing
    chooses how to find a page of one)."""
    articles = db.scalar(_LAST_ARTICLE) or 0  # an upper bound, read at once
    first, last = _SEEN[articles <= CITING_WALK * total]
    params = {"term_id": term_id}
    return db.scalar(first, params), db.scalar(last, params)


def citing_articles(
    session: Session, slug: str, page: int = 1, per_page: int = 20
) -> Page | Redirect:
    """Articles that mention the term, newest first, each with the sentence around each mention."""
    found = resolve_slug(session, slug)
    if isinstance(found, Redirect):
        return found
    ids, total = citing_article_ids(session, found.id, page, per_page)
    articles = {
        a.id: a
        for a in session.execute(select(*_ARTICLE_REF, Article.text).where(Article.id.in_(ids)))
    }
    mentions: dict[int, list[Row]] = defaultdict(list)
    for m in session.execute(
        select(Mention.article_id, Mention.start, Mention.end)
        .where(Mention.term_id == found.id, Mention.article_id.in_(ids))
        .order_by(Mention.article_id, Mention.start)
    ):
        mentions[m.article_id].append(m)
    items = []
    for article_id in ids:
        article = articles[article_id]
        items.append(
            {
                **_article_ref(article),
                "mentions": [
                    mention_context(article.text, m.start, m.end) for m in mentions[article_id]
                ],
            }
        )
    return Page(items, total, page, per_page)


def article_detail(session: Session, article_id: int) -> dict:
    """One article with its text and every mention in it (terms and candidates)."""
    article = session.get(Article, article_id)
    if article is None:
        raise NotFound(f"No article {article_id}.")
    rows = session.execute(
        select(Mention, Term, Candidate)
        .outerjoin(Term, Term.id == Mention.term_id)
        .outerjoin(Candidate, Candidate.id == Mention.candidate_id)
        .where(Mention.article_id == article_id)
        .order_by(Mention.start, Mention.end.desc())
    )
    mentions = []
    for m, term, candidate in rows:
        mentions.append(
            {
                "start": m.start,
                "end": m.end,
                "surface": m.surface,
                "term": term.slug if term else None,
                "name": term.name if term else (candidate.name if candidate else None),
                "type": term.type if term else (candidate.type if candidate else None),
                "candidate": candidate.id if candidate else None,
                "ambiguous": m.ambiguous,
                "nested": m.nested,
            }
        )
    return {
        **_article_ref(article),
        "external_id": article.external_id,
        "language": article.language,
        "ingested_at": aware(article.ingested_at),
        "updated_at": aware(article.updated_at),
        "text": article.text,
        "mentions": mentions,
    }


def list_articles(
    session: Session,
    *,
    source: str | None = None,
    term: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> Page:
    """Articles newest first, optionally from one source or citing one term (by slug)."""
    filters = []
    if source:
        filters.append(Article.source == source)
    if term:
        cited = (
            select(Mention.article_id)
            .join(Term, Term.id == Mention.term_id)
            .where(Term.slug == term)
        )
        filters.append(Article.id.in_(cited))
    total = session.scalar(select(func.count(Article.id)).where(*filters)) or 0
    # Counted for the page's articles only (not grouped over every mention, then joined).
    mention_count = (
        select(func.count(Mention.id))
        .where(Mention.article_id == Article.id, Mention.term_id.is_not(None))
        .scalar_subquery()
    )
    rows = session.execute(
        select(*_ARTICLE_REF, mention_count.label("mention_count"))
        .where(*filters)
        .order_by(Article.published.desc().nulls_last(), Article.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    items = [{**_article_ref(row), "mention_count": row.mention_count} for row in rows]
    return Page(items, total, page, per_page)


def list_candidates(
    session: Session,
    *,
    status: str | None = "pending",
    type: str | None = None,
    page: int = 1,
    per_page: int = 50,
    contexts: int = 3,
) -> Page:
    """Candidate terms, most frequent first, each with a few sentences it appeared in."""
    query = select(Candidate).order_by(Candidate.count.desc(), Candidate.name, Candidate.id)
    if status:
        query = query.where(Candidate.status == status)
    if type:
        query = query.where(Candidate.type == type)
    rows, total = _paginate(session, query, page, per_page)
    candidates = [r[0] for r in rows]
    examples = _candidate_contexts(session, [c.id for c in candidates], contexts)
    accepted = {
        t.id: t.slug
        for t in session.scalars(
            select(Term).where(Term.id.in_([c.term_id for c in candidates if c.term_id]))
        )
    }
    items = [
        {
            "id": c.id,
            "name": c.name,
            "type": c.type,
            "status": c.status,
            "confidence": round(c.confidence, 3),
            "count": c.count,
            "first_seen": c.first_seen,
            "last_seen": c.last_seen,
            "draft_definition": c.draft_definition,
            "term": accepted.get(c.term_id) if c.term_id else None,
            "contexts": examples.get(c.id, []),
        }
        for c in candidates
    ]
    return Page(items, total, page, per_page)


def _candidate_contexts(session: Session, ids: list[int], limit: int) -> dict[int, list[dict]]:
    if not ids or limit <= 0:
        return {}
    picked: dict[int, list[Mention]] = defaultdict(list)
    for m in session.scalars(
        select(Mention)
        .where(Mention.candidate_id.in_(ids))
        .order_by(Mention.candidate_id, Mention.article_id.desc(), Mention.start)
    ):
        chosen = picked[m.candidate_id]
        if len(chosen) < limit and all(c.article_id != m.article_id for c in chosen):
            chosen.append(m)
    article_ids = {m.article_id for ms in picked.values() for m in ms}
    articles = {
        a.id: a for a in session.scalars(select(Article).where(Article.id.in_(sorted(article_ids))))
    }
    out: dict[int, list[dict]] = {}
    for cid, ms in picked.items():
        out[cid] = [
            {
                "article": m.article_id,
                "title": articles[m.article_id].title,
                **mention_context(articles[m.article_id].text, m.start, m.end),
            }
            for m in ms
        ]
    return out


def candidate_detail(session: Session, candidate_id: int) -> dict:
    """One candidate with up to ten sentences it appeared in."""
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise NotFound(f"No candidate {candidate_id}.")
    term = session.get(Term, candidate.term_id) if candidate.term_id else None
    return {
        "id": candidate.id,
        "name": candidate.name,
        "type": candidate.type,
        "status": candidate.status,
        "confidence": round(candidate.confidence, 3),
        "count": candidate.count,
        "first_seen": candidate.first_seen,
        "last_seen": candidate.last_seen,
        "draft_definition": candidate.draft_definition,
        "term": term.slug if term else None,
        "contexts": _candidate_contexts(session, [candidate.id], 10).get(candidate.id, []),
    }


def changes_since(session: Session, seq: int = 0, limit: int = 100) -> dict:
    """Change-log rows after `seq`, oldest first, with the seq to ask from next."""
    rows = session.scalars(
        select(Change).where(Change.seq > seq).order_by(Change.seq).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    return {
        "items": [
            {
                "seq": c.seq,
                "entity": c.entity,
                "id": c.entity_id,
                "op": c.op,
                "summary": c.summary,
                "actor": c.actor,
                "at": aware(c.at),
            }
            for c in rows
        ],
        "since": seq,
        "next": rows[-1].seq if rows else seq,
        "more": more,
    }


def mentions_by_month(session: Session, term_id: int) -> list[dict]:
    """How many mentions of the term each month has (by article date), oldest month first."""
    rows = session.execute(
        select(Article.published, func.count(Mention.id))
        .join(Article, Article.id == Mention.article_id)
        .where(Mention.term_id == term_id, Article.published.is_not(None))
        .group_by(Article.published)
    )
    months: Counter[str] = Counter()
    for published, n in rows:
        months[published.strftime("%Y-%m")] += n
    return [{"month": m, "count": months[m]} for m in sorted(months)]


def co_mentioned(session: Session, term_id: int, limit: int = 10) -> list[dict]:
    """Published terms most often cited in the same articles as this one, among its newest
    CO_MENTION_ARTICLES citing articles."""
    recent, _total = citing_article_ids(session, term_id, 1, CO_MENTION_ARTICLES)
    if not recent:
        return []
    shared = func.count(func.distinct(Mention.article_id))
    rows = session.execute(
        select(Mention.term_id, shared)
        .where(Mention.article_id.in_(recent), Mention.term_id != term_id)
        .group_by(Mention.term_id)
    ).all()
    counts = dict(rows)
    terms = session.execute(
        select(Term.id, Term.slug, Term.name, Term.type).where(
            Term.id.in_(list(counts)), Term.status == "published"
        )
    )
    ranked = sorted(terms, key=lambda t: (-counts[t.id], t.name))[:limit]
    return [{**_ref(t), "articles": counts[t.id]} for t in ranked]


def term_letters(session: Session, *, type: str | None = None) -> list[str]:
    """The first letters that published terms start with ("#" for anything not a-z)."""
    query = select(Term.name).where(Term.status == "published")
    if type:
        query = query.where(Term.type == type)
    letters = set()
    for name in session.scalars(query):
        first = fold(name)[:1]
        letters.add(first if "a" <= first <= "z" else "#")
    return sorted(letters)


def json_default(value: object) -> str:
    """Dates and datetimes in ISO form (for hashing and plain JSON output)."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON: {type(value).__name__}")
