"""Edits to the glossary: terms, labels, definitions, relations, merges and the candidate queue;
each runs inside the caller's write transaction, logs its changes and re-matches the articles a
label change may affect."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from glossary import articles, catalog
from glossary.catalog import NotFound, Redirect
from glossary.gazetteer import get_matcher
from glossary.models import (
    Candidate,
    Definition,
    Label,
    Mention,
    Relation,
    Term,
    utcnow,
)
from glossary.store import Store, record_change
from glossary.text import fold


class EditError(Exception):
    """An edit that cannot be made; `status` says which HTTP answer fits it."""

    status = 422

    def __init__(self, detail: str, errors: dict | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors


class Conflict(EditError):
    """The edit clashes with what the store holds (a slug taken, a label already there)."""

    status = 409


class Stale(EditError):
    """The term changed since the editor read it (If-Match does not match its ETag)."""

    status = 412


class Invalid(EditError):
    """The edit names something that does not exist or is not allowed (field errors)."""

    status = 422


def slugify(name: str) -> str:
    """A URL-safe slug from an English name: "Workers' Party of Korea" -> workers-party-of-korea."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = re.sub(r"['\u2019]", "", ascii_name.lower())
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name).strip("-")
    return slug[:200].strip("-") or "term"


def _term(session: Session, slug: str) -> Term:
    """The live term with this slug (a merged slug is not editable)."""
    term = session.scalar(select(Term).where(Term.slug == slug))
    if term is None:
        raise NotFound(f"No term {slug!r}.")
    return term


def _term_or_invalid(session: Session, slug: str, field: str) -> Term:
    term = session.scalar(select(Term).where(Term.slug == slug))
    if term is None:
        raise Invalid(f"No term {slug!r}.", {field: [f"No term {slug!r}."]})
    return term


def check_etag(session: Session, slug: str, if_match: str | None) -> None:
    """Raise Stale unless If-Match is absent, `*`, or the term's current ETag."""
    if if_match is None:
        return
    wanted = {t.strip() for t in if_match.split(",")}
    if "*" in wanted:
        return
    detail = catalog.term_detail(session, slug)
    if isinstance(detail, Redirect) or not any(
        catalog.same_term_content(tag, catalog.term_etag(detail)) for tag in wanted
    ):
        raise Stale("The term changed since it was read; fetch it again and reapply the edit.")


def _label(text: str, kind: str, **data: object) -> Label:
    text = " ".join(text.split())
    return Label(
        text=text,
        kind=kind,
        language=data.get("language"),
        romanization=data.get("romanization"),
        valid_from=data.get("valid_from"),
        valid_to=data.get("valid_to"),
        case_sensitive=bool(data.get("case_sensitive")),
        ambiguous=bool(data.get("ambiguous")),
        folded=fold(text)[:500],
    )


def _rematch(store: Store, session: Session, texts: Iterable[str], term_ids: Iterable[int]) -> int:
    """Re-match the articles that may contain these labels, with the matcher this edit made."""
    return articles.rematch_labels(store, session, texts, term_ids)


def _log(session: Session, term: Term, op: str, actor: str | None) -> None:
    session.flush()
    record_change(session, "term", term.id, op, summary=term.slug, actor=actor)
    session.flush()


# --- terms ------------------------------------------------------------------------------------


def create_term(store: Store, session: Session, data: dict, *, actor: str | None = None) -> str:
    """Create a published term with its labels, definitions and relations; returns its slug."""
    slug = data.get("slug") or slugify(data["name"])
    if session.scalar(select(Term.id).where(Term.slug == slug)) is not None:
        raise Conflict(f"The slug {slug!r} is taken.", {"slug": [f"{slug!r} is taken."]})
    term = Term(
        slug=slug,
        name=" ".join(data["name"].split()),
        type=data["type"],
        status="published",
        wikidata=data.get("wikidata"),
        latitude=data.get("latitude"),
        longitude=data.get("longitude"),
    )
    if data.get("parent"):
        term.parent_id = _term_or_invalid(session, data["parent"], "parent").id
    term.labels = [_label(term.name, "preferred", language="en")]
    seen = {(term.name, "preferred")}
    for lb in data.get("labels", []):
        key = (" ".join(lb["text"].split()), lb["kind"])
        if key not in seen and lb["kind"] != "preferred":
            seen.add(key)
            term.labels.append(_label(**lb))
    term.definitions = [
        Definition(
            text=d["text"],
            source=d.get("source"),
            author=d.get("author") or actor,
            as_of=d.get("as_of"),
            is_primary=(n == 0),
        )
        for n, d in enumerate(data.get("definitions", []))
    ]
    session.add(term)
    session.flush()
    for rel in data.get("relations", []):
        _add_relation(session, term, rel)
    _log(session, term, "create", actor)
    _rematch(store, session, [lb.text for lb in term.labels], [])
    return term.slug


def update_term(
    store: Store,
    session: Session,
    slug: str,
    data: dict,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> str:
    """Change a term's name, type, parent, Wikidata id or coordinates; returns its slug."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    if not data:
        return term.slug
    texts: set[str] = set()
    if "name" in data and data["name"] != term.name:
        name = " ".join(data["name"].split())
        preferred = next((lb for lb in term.labels if lb.kind == "preferred"), None)
        texts |= {term.name, name}
        if preferred is None:
            term.labels.append(_label(name, "preferred", language="en"))
        else:
            preferred.text, preferred.folded = name, fold(name)[:500]
        term.name = name
    if "type" in data and data["type"] != term.type:
        term.type = data["type"]
        texts |= {lb.text for lb in term.labels}
    if "parent" in data:
        parent = data["parent"]
        if parent is None:
            term.parent_id = None
        else:
            target = _term_or_invalid(session, parent, "parent")
            if _is_ancestor(session, term.id, target):
                raise Invalid("A term cannot sit under itself.", {"parent": ["Makes a cycle."]})
            term.parent_id = target.id
    for key in ("wikidata", "latitude", "longitude"):
        if key in data:
            setattr(term, key, data[key])
    _log(session, term, "update", actor)
    if texts:
        _rematch(store, session, texts, [term.id])
    return term.slug


def _is_ancestor(session: Session, term_id: int, node: Term | None) -> bool:
    seen: set[int] = set()
    while node is not None and node.id not in seen:
        if node.id == term_id:
            return True
        seen.add(node.id)
        node = session.get(Term, node.parent_id) if node.parent_id else None
    return False


def delete_term(
    store: Store,
    session: Session,
    slug: str,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> None:
    """Delete a term with its labels, definitions, relations and mentions."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    texts = [lb.text for lb in term.labels]
    cited = articles.articles_with_labels(session, [], [term.id])
    session.execute(update(Term).where(Term.merged_into_id == term.id).values(merged_into_id=None))
    session.execute(update(Candidate).where(Candidate.term_id == term.id).values(term_id=None))
    term_id = term.id
    session.delete(term)
    session.flush()
    record_change(session, "term", term_id, "delete", summary=slug, actor=actor)
    session.flush()
    ids = sorted(set(cited) | set(articles.articles_with_labels(session, texts, [])))
    if ids:
        articles.rematch(session, ids, get_matcher(store, session))


def merge_terms(
    store: Store, session: Session, source: str, target: str, *, actor: str | None = None
) -> str:
    """Merge `source` into `target`: its labels become the target's, its mentions and children
    move, and its slug redirects; returns the target's slug."""
    old = _term(session, source)
    new = _term_or_invalid(session, target, "target")
    if old.id == new.id:
        raise Invalid("A term cannot be merged into itself.", {"target": ["Same term."]})
    if old.status == "merged" or new.status == "merged":
        raise Conflict("A merged term cannot take part in another merge.")
    have = {(lb.text, lb.kind) for lb in new.labels}
    moved = []
    for lb in list(old.labels):
        kind = "alias" if lb.kind == "preferred" else lb.kind
        if (lb.text, kind) in have:
            continue
        have.add((lb.text, kind))
        moved.append(
            _label(
                lb.text,
                kind,
                language=lb.language,
                romanization=lb.romanization,
                valid_from=lb.valid_from,
                valid_to=lb.valid_to,
                case_sensitive=lb.case_sensitive,
                ambiguous=lb.ambiguous,
            )
        )
    texts = [lb.text for lb in old.labels]
    old.labels = []
    new.labels.extend(moved)
    for d in list(old.definitions):
        old.definitions.remove(d)
        new.definitions.append(
            Definition(text=d.text, source=d.source, author=d.author, as_of=d.as_of)
        )
    session.flush()
    session.execute(update(Term).where(Term.parent_id == old.id).values(parent_id=new.id))
    session.execute(update(Term).where(Term.merged_into_id == old.id).values(merged_into_id=new.id))
    session.execute(update(Mention).where(Mention.term_id == old.id).values(term_id=new.id))
    session.execute(update(Candidate).where(Candidate.term_id == old.id).values(term_id=new.id))
    _repoint_relations(session, old.id, new.id)
    if new.parent_id == new.id:
        new.parent_id = None
    old.status, old.merged_into_id, old.parent_id = "merged", new.id, None
    _log(session, old, "merge", actor)
    _log(session, new, "update", actor)
    _rematch(store, session, texts, [new.id])
    return new.slug


def _repoint_relations(session: Session, old_id: int, new_id: int) -> None:
    rels = session.scalars(
        select(Relation).where((Relation.term_id == old_id) | (Relation.target_id == old_id))
    ).all()
    existing = {
        (r.term_id, r.kind, r.target_id)
        for r in session.scalars(
            select(Relation).where((Relation.term_id == new_id) | (Relation.target_id == new_id))
        )
    }
    for rel in rels:
        term_id = new_id if rel.term_id == old_id else rel.term_id
        target_id = new_id if rel.target_id == old_id else rel.target_id
        if term_id == target_id or (term_id, rel.kind, target_id) in existing:
            session.delete(rel)
            continue
        existing.add((term_id, rel.kind, target_id))
        rel.term_id, rel.target_id = term_id, target_id
    session.flush()


# --- labels -----------------------------------------------------------------------------------


def _own_label(term: Term, label_id: int) -> Label:
    label = next((lb for lb in term.labels if lb.id == label_id), None)
    if label is None:
        raise NotFound(f"Term {term.slug!r} has no label {label_id}.")
    return label


def add_label(
    store: Store,
    session: Session,
    slug: str,
    data: dict,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> int:
    """Add a label to a term; returns the label's id."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    if data["kind"] == "preferred":
        raise Invalid("The preferred label is the term's name.", {"kind": ["Use alias."]})
    text = " ".join(data["text"].split())
    if any(lb.text == text and lb.kind == data["kind"] for lb in term.labels):
        raise Conflict(f"Term {slug!r} already has the {data['kind']} label {text!r}.")
    label = _label(**{**data, "text": text})
    term.labels.append(label)
    _log(session, term, "update", actor)
    _rematch(store, session, [text], [term.id])
    return label.id


def update_label(
    store: Store,
    session: Session,
    slug: str,
    label_id: int,
    data: dict,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> None:
    """Change a label's text, kind, language, romanization, dates or flags."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    label = _own_label(term, label_id)
    if not data:
        return
    if label.kind == "preferred" and data.get("kind", "preferred") != "preferred":
        raise Invalid("The preferred label stays preferred.", {"kind": ["Cannot change."]})
    if label.kind != "preferred" and data.get("kind") == "preferred":
        raise Invalid("Rename the term to change its preferred label.", {"kind": ["Not allowed."]})
    texts = {label.text}
    text = " ".join(data.get("text", label.text).split())
    kind = data.get("kind", label.kind)
    if (text, kind) != (label.text, label.kind) and any(
        lb.text == text and lb.kind == kind for lb in term.labels if lb.id != label.id
    ):
        raise Conflict(f"Term {slug!r} already has the {kind} label {text!r}.")
    texts.add(text)
    label.text, label.kind, label.folded = text, kind, fold(text)[:500]
    for key in ("language", "romanization", "valid_from", "valid_to"):
        if key in data:
            setattr(label, key, data[key])
    for key in ("case_sensitive", "ambiguous"):
        if key in data:
            setattr(label, key, bool(data[key]))
    if label.kind == "preferred":
        term.name = text
    _log(session, term, "update", actor)
    _rematch(store, session, texts, [term.id])


def delete_label(
    store: Store,
    session: Session,
    slug: str,
    label_id: int,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> None:
    """Remove a label (never the preferred one)."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    label = _own_label(term, label_id)
    if label.kind == "preferred":
        raise Conflict("The preferred label cannot be removed; rename the term instead.")
    text = label.text
    term.labels.remove(label)
    _log(session, term, "update", actor)
    _rematch(store, session, [text], [term.id])


# --- definitions ------------------------------------------------------------------------------


def _own_definition(term: Term, definition_id: int) -> Definition:
    d = next((d for d in term.definitions if d.id == definition_id), None)
    if d is None:
        raise NotFound(f"Term {term.slug!r} has no definition {definition_id}.")
    return d


def _set_primary(term: Term, chosen: Definition) -> None:
    for d in term.definitions:
        d.is_primary = d is chosen


def add_definition(
    session: Session,
    slug: str,
    data: dict,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> int:
    """Add a definition (primary when asked, or when it is the first); returns its id."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    d = Definition(
        text=data["text"],
        source=data.get("source"),
        author=data.get("author") or actor,
        as_of=data.get("as_of"),
    )
    term.definitions.append(d)
    if data.get("primary") or len(term.definitions) == 1:
        _set_primary(term, d)
    _log(session, term, "update", actor)
    return d.id


def update_definition(
    session: Session,
    slug: str,
    definition_id: int,
    data: dict,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> None:
    """Change a definition's text, source, author, year, or make it primary."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    d = _own_definition(term, definition_id)
    if not data:
        return
    for key in ("text", "source", "author", "as_of"):
        if key in data:
            setattr(d, key, data[key])
    if data.get("primary"):
        _set_primary(term, d)
    _log(session, term, "update", actor)


def delete_definition(
    session: Session,
    slug: str,
    definition_id: int,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> None:
    """Remove a definition; the next one becomes primary if it was."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    d = _own_definition(term, definition_id)
    was_primary = d.is_primary
    term.definitions.remove(d)
    if was_primary and term.definitions:
        _set_primary(term, term.definitions[0])
    _log(session, term, "update", actor)


# --- relations --------------------------------------------------------------------------------


def _add_relation(session: Session, term: Term, data: dict) -> Relation:
    target = _term_or_invalid(session, data["target"], "target")
    if target.id == term.id:
        raise Invalid("A term cannot relate to itself.", {"target": ["Same term."]})
    exists = session.scalar(
        select(Relation.id).where(
            Relation.term_id == term.id,
            Relation.kind == data["kind"],
            Relation.target_id == target.id,
        )
    )
    if exists is not None:
        raise Conflict(f"The {data['kind']} relation to {target.slug!r} exists.")
    rel = Relation(term_id=term.id, kind=data["kind"], target_id=target.id, date=data.get("date"))
    session.add(rel)
    session.flush()
    return rel


def add_relation(
    session: Session,
    slug: str,
    data: dict,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> int:
    """Relate a term to another (related, successor, predecessor); returns the relation's id."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    rel = _add_relation(session, term, data)
    _log(session, term, "update", actor)
    record_change(session, "term", rel.target_id, "update", summary=data["target"], actor=actor)
    return rel.id


def delete_relation(
    session: Session,
    slug: str,
    relation_id: int,
    *,
    if_match: str | None = None,
    actor: str | None = None,
) -> None:
    """Remove a relation that this term takes part in (from either end)."""
    term = _term(session, slug)
    check_etag(session, slug, if_match)
    rel = session.get(Relation, relation_id)
    if rel is None or term.id not in (rel.term_id, rel.target_id):
        raise NotFound(f"Term {slug!r} has no relation {relation_id}.")
    other = rel.target_id if rel.term_id == term.id else rel.term_id
    session.delete(rel)
    _log(session, term, "update", actor)
    record_change(session, "term", other, "update", summary="relation removed", actor=actor)


# --- candidates -------------------------------------------------------------------------------


def _pending(session: Session, candidate_id: int) -> Candidate:
    candidate = session.get(Candidate, candidate_id)
    if candidate is None:
        raise NotFound(f"No candidate {candidate_id}.")
    if candidate.status != "pending":
        raise Conflict(f"Candidate {candidate_id} is already {candidate.status}.")
    return candidate


def _candidate_articles(session: Session, candidate_id: int) -> list[int]:
    return list(
        session.scalars(
            select(Mention.article_id).where(Mention.candidate_id == candidate_id).distinct()
        )
    )


def _candidate_done(session: Session, candidate: Candidate, status: str, actor: str | None) -> None:
    candidate.status = status
    candidate.updated_at = utcnow()
    session.flush()
    record_change(session, "candidate", candidate.id, status, summary=candidate.name, actor=actor)


def accept_candidate(
    store: Store, session: Session, candidate_id: int, data: dict, *, actor: str | None = None
) -> str:
    """Make a candidate a published term; its past mentions now cite the term. Returns the slug."""
    candidate = _pending(session, candidate_id)
    past = _candidate_articles(session, candidate.id)
    definition = data.get("definition") or candidate.draft_definition
    slug = create_term(
        store,
        session,
        {
            "name": data.get("name") or candidate.name,
            "slug": data.get("slug"),
            "type": data.get("type") or candidate.type,
            "parent": data.get("parent"),
            "labels": data.get("labels", []),
            "definitions": [{"text": definition, "source": "candidate queue"}]
            if definition
            else [],
        },
        actor=actor,
    )
    term = _term(session, slug)
    candidate.term_id = term.id
    _candidate_done(session, candidate, "accepted", actor)
    _link_past_mentions(store, session, candidate, term, past)
    return slug


def merge_candidate(
    store: Store, session: Session, candidate_id: int, data: dict, *, actor: str | None = None
) -> str:
    """Add a candidate's name to an existing term as a label; returns the term's slug."""
    candidate = _pending(session, candidate_id)
    past = _candidate_articles(session, candidate.id)
    term = _term_or_invalid(session, data["term"], "term")
    if term.status != "published":
        raise Invalid(f"Term {term.slug!r} is {term.status}.", {"term": ["Not published."]})
    kind = data.get("kind") or "alias"
    text = " ".join(candidate.name.split())
    if not any(lb.text == text and lb.kind == kind for lb in term.labels):
        term.labels.append(_label(text, kind))
    candidate.term_id = term.id
    _log(session, term, "update", actor)
    _candidate_done(session, candidate, "merged", actor)
    _link_past_mentions(store, session, candidate, term, past)
    return term.slug


def _link_past_mentions(
    store: Store, session: Session, candidate: Candidate, term: Term, past: list[int]
) -> None:
    """Re-match every article the candidate appeared in (and any naming the term), then point
    each mention of the candidate that the matcher did not find again at the term."""
    before = session.execute(
        select(Mention.article_id, Mention.start, Mention.end, Mention.surface).where(
            Mention.candidate_id == candidate.id
        )
    ).all()
    session.flush()
    texts = [lb.text for lb in term.labels]
    ids = sorted(set(past) | set(articles.articles_with_labels(session, texts, [])))
    if ids:
        articles.rematch(session, ids, get_matcher(store, session))
    found = set(
        session.execute(
            select(Mention.article_id, Mention.start, Mention.end).where(Mention.term_id == term.id)
        ).all()
    )
    missing = [
        {"article_id": a, "start": s, "end": e, "surface": surface, "term_id": term.id}
        for a, s, e, surface in before
        if (a, s, e) not in found
    ]
    if missing:
        session.execute(Mention.__table__.insert(), missing)
    session.execute(delete(Mention).where(Mention.candidate_id == candidate.id))
    candidate.count = 0


def reject_candidate(session: Session, candidate_id: int, *, actor: str | None = None) -> None:
    """Reject a candidate: it is never proposed again and its mentions are dropped."""
    candidate = _pending(session, candidate_id)
    past = _candidate_articles(session, candidate.id)
    session.execute(delete(Mention).where(Mention.candidate_id == candidate.id))
    candidate.count = 0
    _candidate_done(session, candidate, "rejected", actor)
    for article_id in past:
        record_change(session, "article", article_id, "upsert", summary="candidate rejected")
