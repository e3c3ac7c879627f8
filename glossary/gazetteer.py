"""The matcher compiled from the store's published labels, built once per process and rebuilt
when a term changes."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from glossary.matcher import LabelEntry, Matcher
from glossary.models import Label, Term
from glossary.store import Store, last_change

_lock = threading.Lock()
_cache: dict[str, tuple[int, Matcher]] = {}


def label_entries(session: Session) -> list[LabelEntry]:
    """Every label of every published term, as the matcher takes them."""
    parent = aliased(Term)
    # Core rows read by position, in LabelEntry's field order: ORM rows read by name took
    # twice as long. The flush is the autoflush session.execute() would do: a write in
    # progress matches with its own labels.
    session.flush()
    rows = session.connection().execute(
        select(
            Term.id,
            Term.slug,
            Term.type,
            Label.text,
            Label.kind,
            Label.case_sensitive,
            Label.valid_from,
            Label.valid_to,
            parent.slug.label("parent"),
        )
        .join(Label, Label.term_id == Term.id)
        .outerjoin(parent, parent.id == Term.parent_id)
        .where(Term.status == "published")
        .order_by(Term.id, Label.id)
    )
    return [LabelEntry(*r) for r in rows]


def get_matcher(store: Store, session: Session | None = None) -> Matcher:
    """The matcher for the store's current glossary (shared read-only by every thread)."""
    own = session is None
    # Outside a write, the store's cheap term sequence says whether the cached matcher is current.
    seq = store.term_seq() if own else last_change(session, "term")
    cached = _cache.get(store.url)
    if cached and cached[0] == seq:
        return cached[1]
    session = session or store.read()
    try:
        if not own:
            # Inside a write the labels may be uncommitted: use them, but do not cache them.
            return Matcher(label_entries(session))
        with _lock:
            cached = _cache.get(store.url)
            if cached and cached[0] == seq:
                return cached[1]
            matcher = Matcher(label_entries(session))
            _cache[store.url] = (seq, matcher)
            return matcher
    finally:
        if own:
            session.close()


def forget_matchers() -> None:
    """Drop every cached matcher (tests that recreate a database at the same URL)."""
    with _lock:
        _cache.clear()
