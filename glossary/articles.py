"""Articles in the store: ingest one (identity, mentions, candidates, change log) in one
transaction, ingest many in batches (a transaction per batch, a few statements per batch rather
than per article), re-match after label changes, delete."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Row, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.orm import Session

from glossary.annotate import annotate
from glossary.discover import candidate_key
from glossary.ingest import ArticleRecord, ReadError
from glossary.matcher import Matcher, Span
from glossary.models import Article, Candidate, Change, Mention, utcnow
from glossary.store import Store, last_change, record_change
from glossary.text import fold


@dataclass
class IngestReport:
    """Counts of one ingest run and a message for each failure."""

    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ids: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return self.new + self.updated + self.unchanged

    def summary(self) -> str:
        """One line such as `ingested 10 articles (8 new, 2 updated, 0 failed) in 1.2 s`."""
        return (
            f"ingested {self.total:,} articles ({self.new:,} new, {self.updated:,} updated, "
            f"{self.failed:,} failed) in {self.seconds:.1f} s"
        )


def identity_of(record: ArticleRecord) -> str:
    """The article's identity: its source id, else its url, else a hash of its normalized text."""
    if record.external_id:
        return f"id:{record.external_id}"[:600]
    if record.url:
        return f"url:{record.url}"[:600]
    return f"sha:{content_hash(record.text)}"


def content_hash(text: str) -> str:
    """A hash of the text that ignores case, spacing and spelling of quotes and dashes."""
    return hashlib.sha256(" ".join(fold(text).split()).encode()).hexdigest()


def _parse_date(value: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value) if value else None
    except ValueError:
        return None


BATCH_ARTICLES = 50  # articles per write transaction in a batch ingest
BATCH_SECONDS = 1.0  # and at most this long spent reading one batch


@dataclass
class _Pending:
    """An article read and identified, waiting for its batch's write transaction."""

    record: ArticleRecord
    identity: str
    digest: str
    published: dt.date | None
    spans: list[Span] | None = None  # annotated before the write lock when it will be written


def _pending(record: ArticleRecord) -> _Pending:
    return _Pending(
        record, identity_of(record), content_hash(record.text), _parse_date(record.published)
    )


def _meta(item: _Pending) -> dict:
    record = item.record
    return {
        "external_id": record.external_id,
        "url": record.url,
        "title": record.title,
        "source": record.source,
        "published": item.published,
        "language": record.language,
    }


_ARTICLE = Article.__table__
_MENTION = Mention.__table__
_CANDIDATE = Candidate.__table__
_CHANGE = Change.__table__
_CHUNK = 500  # ids or keys per IN (...) list
_META_KEYS = ("external_id", "url", "title", "source", "published", "language")


def _chunked(values: list, size: int = _CHUNK) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _stored_rows(session: Session, identities: Iterable[str]) -> dict[str, Row]:
    """The stored articles with these identities, by identity."""
    columns = [_ARTICLE.c[k] for k in ("id", "identity", "content_hash", "text", *_META_KEYS)]
    found: dict[str, Row] = {}
    for chunk in _chunked(sorted(set(identities))):
        for row in session.execute(select(*columns).where(_ARTICLE.c.identity.in_(chunk))):
            found[row.identity] = row
    return found


def _unchanged(row: Row | None, item: _Pending) -> bool:
    if row is None or row.content_hash != item.digest or row.text != item.record.text:
        return False
    return all(getattr(row, k) == v for k, v in _meta(item).items())


def _annotate(text: str, published: dt.date | None, matcher: Matcher) -> list[Span]:
    date = published.isoformat() if published else None
    return annotate(text, matcher, date=date, nested=True, candidates=True)


def store_article(
    session: Session, record: ArticleRecord, matcher: Matcher, *, actor: str | None = None
) -> tuple[str, Article]:
    """Insert or update one article with its mentions and candidates; returns
    ("new" | "updated" | "unchanged", article)."""
    [(status, article_id)] = _store_batch(session, [_pending(record)], matcher, actor=actor)
    return status, session.get(Article, article_id, populate_existing=True)


def _store_batch(
    session: Session, items: list[_Pending], matcher: Matcher, *, actor: str | None = None
) -> list[tuple[str, int]]:
    """Insert or update these articles (distinct identities) with their mentions, candidates and
    change-log rows inside the caller's transaction; returns (status, article id) for each."""
    session.flush()
    stored = _stored_rows(session, (item.identity for item in items))
    now = utcnow()
    new = [item for item in items if item.identity not in stored]
    updated = [
        item
        for item in items
        if item.identity in stored and not _unchanged(stored[item.identity], item)
    ]
    if new:
        rows = [
            {
                "identity": item.identity,
                "text": item.record.text,
                "content_hash": item.digest,
                "ingested_at": now,
                "updated_at": now,
                **_meta(item),
            }
            for item in new
        ]
        returned = session.execute(
            insert(_ARTICLE).returning(_ARTICLE.c.id, _ARTICLE.c.identity), rows
        )
        ids = {row.identity: row.id for row in returned}
    else:
        ids = {}
    ids.update((identity, row.id) for identity, row in stored.items())
    if updated:
        session.execute(
            update(_ARTICLE).where(_ARTICLE.c.id == bindparam("article_id")),
            [
                {
                    "article_id": ids[item.identity],
                    "text": item.record.text,
                    "content_hash": item.digest,
                    "updated_at": now,
                    **_meta(item),
                }
                for item in updated
            ],
        )
    written = new + updated
    changes = [
        {"entity": "article", "entity_id": ids[item.identity], "op": "upsert",
         "summary": item.record.title, "actor": actor}
        for item in written
    ]  # fmt: skip
    targets = []
    for item in written:
        if item.spans is None:
            item.spans = _annotate(item.record.text, item.published, matcher)
        targets.append((ids[item.identity], item.published, item.spans))
    changes += _replace_mentions(session, targets, [ids[item.identity] for item in updated])
    _record_changes(session, changes)
    status = {item.identity: "new" for item in new} | {item.identity: "updated" for item in updated}
    return [(status.get(item.identity, "unchanged"), ids[item.identity]) for item in items]


def _record_changes(session: Session, changes: list[dict]) -> None:
    """Append these change-log rows: the first through record_change (which takes the change
    lock every writer takes on PostgreSQL), the rest in one statement."""
    if not changes:
        return
    record_change(session, **changes[0])
    session.flush()
    if len(changes) > 1:
        now = utcnow()
        session.execute(insert(_CHANGE), [{**change, "at": now} for change in changes[1:]])


def match_article(session: Session, article: Article, matcher: Matcher) -> list[Span]:
    """Replace the article's mentions with what the matcher and discovery find now."""
    spans = _annotate(article.text, article.published, matcher)
    _record_changes(session, _replace_mentions(session, [(article.id, article.published, spans)]))
    return spans


def _replace_mentions(
    session: Session,
    targets: list[tuple[int, dt.date | None, list[Span]]],
    replacing: Iterable[int] | None = None,
) -> list[dict]:
    """Store the mentions of each (article id, published, spans), creating or updating the
    candidates they name; `replacing` (every target when None) lists the articles whose old
    mentions go first. Returns the change-log rows of the new candidates."""
    session.flush()
    old_ids = sorted(set(t[0] for t in targets) if replacing is None else set(replacing))
    touched: set[int] = set()
    for chunk in _chunked(old_ids):
        touched.update(
            session.scalars(
                select(_MENTION.c.candidate_id)
                .where(_MENTION.c.article_id.in_(chunk), _MENTION.c.candidate_id.is_not(None))
                .distinct()
            )
        )
        session.execute(delete(_MENTION).where(_MENTION.c.article_id.in_(chunk)))
    keys = {s.surface: candidate_key(s.surface)[:500] for t in targets for s in t[2] if s.candidate}
    candidates = _Candidates(session, keys)
    rows: list[dict] = []
    for article_id, published, spans in targets:
        found: dict[str, dict | None] = {}
        for span in spans:
            row = {
                "article_id": article_id,
                "start": span.start,
                "end": span.end,
                "surface": span.surface[:500],
                "ambiguous": span.ambiguous,
                "nested": span.nested,
                "term_id": span.term_id,
                "candidate_id": None,
            }
            if span.candidate:
                candidate = candidates.use(span, published, found)
                if candidate is None:
                    continue
                row["term_id"], row["candidate_id"] = None, candidate
            elif span.term_id is None:
                continue
            rows.append(row)
    changes = candidates.save()
    for row in rows:
        if isinstance(row["candidate_id"], dict):
            row["candidate_id"] = row["candidate_id"]["id"]
            touched.add(row["candidate_id"])
    if rows:
        session.execute(insert(_MENTION), rows)
    _recount(session, touched)
    return changes


class _Candidates:
    """The candidates a batch of articles names: looked up in one query, new ones inserted and
    changed ones updated in one statement each."""

    _FIELDS = ("first_seen", "last_seen", "draft_definition", "type", "confidence")

    def __init__(self, session: Session, keys: dict[str, str]) -> None:
        self.session = session
        self.keys = keys  # surface -> key
        self.by_key: dict[str, dict] = {}
        columns = [_CANDIDATE.c[f] for f in ("id", "key", "status", *self._FIELDS)]
        for chunk in _chunked(sorted({k for k in keys.values() if k})):
            for row in session.execute(select(*columns).where(_CANDIDATE.c.key.in_(chunk))):
                self.by_key[row.key] = row._asdict()
        self.new: list[dict] = []
        self.changed: dict[str, dict] = {}

    def use(self, span: Span, seen: dt.date | None, found: dict[str, dict | None]) -> dict | None:
        """The candidate for a discovered span in an article (found: this article's so far),
        or None when the name was rejected or is a term now."""
        key = self.keys[span.surface]
        if not key:
            return None
        if key in found:
            return found[key]
        candidate = self.by_key.get(key)
        if candidate is None:
            candidate = {
                "id": None,
                "key": key,
                "name": span.surface.strip()[:500],
                "type": span.type,
                "confidence": span.confidence,
                "status": "pending",
                "first_seen": seen,
                "last_seen": seen,
                "draft_definition": span.definition,
            }
            self.by_key[key] = candidate
            self.new.append(candidate)
        elif candidate["status"] != "pending":
            # Rejected names are never proposed again; accepted or merged ones are terms now and
            # reach the article through the matcher.
            candidate = None
        else:
            before = tuple(candidate[f] for f in self._FIELDS)
            if seen and (candidate["first_seen"] is None or seen < candidate["first_seen"]):
                candidate["first_seen"] = seen
            if seen and (candidate["last_seen"] is None or seen > candidate["last_seen"]):
                candidate["last_seen"] = seen
            if span.definition and not candidate["draft_definition"]:
                candidate["draft_definition"] = span.definition
            if span.confidence > candidate["confidence"]:
                candidate["type"], candidate["confidence"] = span.type, span.confidence
            if candidate["id"] is not None and before != tuple(candidate[f] for f in self._FIELDS):
                self.changed[key] = candidate
        found[key] = candidate
        return candidate

    def save(self) -> list[dict]:
        """Insert the new candidates and update the changed ones; returns the change-log rows of
        the new ones."""
        if self.new:
            now = utcnow()
            rows = [
                {**{k: v for k, v in c.items() if k != "id"}, "count": 0,
                 "created_at": now, "updated_at": now}
                for c in self.new
            ]  # fmt: skip
            returned = self.session.execute(
                insert(_CANDIDATE).returning(_CANDIDATE.c.id, _CANDIDATE.c.key), rows
            )
            for row in returned:
                self.by_key[row.key]["id"] = row.id
        if self.changed:
            self.session.execute(
                update(_CANDIDATE).where(_CANDIDATE.c.id == bindparam("candidate_id")),
                [
                    {"candidate_id": c["id"], **{f: c[f] for f in self._FIELDS}}
                    for c in self.changed.values()
                ],
            )
        return [
            {
                "entity": "candidate",
                "entity_id": c["id"],
                "op": "upsert",
                "summary": c["name"],
                "actor": None,
            }
            for c in self.new
        ]


def _recount(session: Session, candidate_ids: set[int]) -> None:
    counts = (
        select(func.count(_MENTION.c.id))
        .where(_MENTION.c.candidate_id == _CANDIDATE.c.id)
        .scalar_subquery()
    )
    now = utcnow()
    for chunk in _chunked(sorted(candidate_ids)):
        session.execute(
            update(_CANDIDATE)
            .where(_CANDIDATE.c.id.in_(chunk))
            .values(count=counts, updated_at=now)
        )


def ingest_records(
    store: Store,
    items: Iterable[ArticleRecord | ReadError],
    matcher_for: Callable[[], Matcher],
    *,
    actor: str | None = None,
    on_item: Callable[[str, str], None] | None = None,
) -> IngestReport:
    """Store the records in batches, each batch in one transaction (a crash loses no part of an
    article); a failure is reported and the rest goes on."""
    report = IngestReport()
    started = time.perf_counter()
    batch: list[ArticleRecord | ReadError] = []
    identities: set[str] = set()
    batch_started = time.perf_counter()
    for item in items:
        if isinstance(item, ArticleRecord):
            identity = identity_of(item)
            if identity in identities:  # the same article twice: the first goes in first
                _ingest_batch(store, batch, matcher_for, actor, report, on_item)
                batch, identities = [], set()
            identities.add(identity)
        if not batch:
            batch_started = time.perf_counter()
        batch.append(item)
        if (
            len(identities) >= BATCH_ARTICLES
            or time.perf_counter() - batch_started >= BATCH_SECONDS
        ):
            _ingest_batch(store, batch, matcher_for, actor, report, on_item)
            batch, identities = [], set()
    _ingest_batch(store, batch, matcher_for, actor, report, on_item)
    report.seconds = time.perf_counter() - started
    return report


def _ingest_batch(
    store: Store,
    items: list[ArticleRecord | ReadError],
    matcher_for: Callable[[], Matcher],
    actor: str | None,
    report: IngestReport,
    on_item: Callable[[str, str], None] | None,
) -> None:
    """Store one batch in one transaction; when that fails, each article in its own, so that
    the failure is reported against the article that caused it."""
    outcome: dict[int, tuple[str, str | int]] = {}  # index -> (status, article id or message)
    pending: dict[int, _Pending] = {}
    for index, item in enumerate(items):
        if isinstance(item, ReadError):
            outcome[index] = ("failed", item.message)
            continue
        try:
            pending[index] = _pending(item)
        except Exception as exc:  # one bad article must not stop the rest
            outcome[index] = ("failed", f"could not store: {exc}")
    if pending:
        try:
            seq, matcher = _annotate_outside_lock(store, pending, matcher_for, outcome)
            with store.write() as session:
                if last_change(session, "term") != seq:  # a term changed: match with it
                    matcher = matcher_for()
                    for item in pending.values():
                        item.spans = None
                done = _store_batch(session, list(pending.values()), matcher, actor=actor)
            outcome.update(zip(pending, done, strict=True))
        except Exception:  # find the article at fault: each in a transaction of its own
            for index, item in pending.items():
                item.spans = None  # annotated again, inside the transaction, with its matcher
                try:
                    with store.write() as session:
                        [outcome[index]] = _store_batch(session, [item], matcher_for(), actor=actor)
                except Exception as exc:
                    outcome[index] = ("failed", f"could not store: {exc}")
    for index, item in enumerate(items):
        status, detail = outcome[index]
        if status == "failed":
            report.failed += 1
            report.errors.append(f"{item.origin}: {detail}")
        else:
            setattr(report, status, getattr(report, status) + 1)
            report.ids.append(detail)
        if on_item:
            on_item(status, item.origin)


def _annotate_outside_lock(
    store: Store,
    pending: dict[int, _Pending],
    matcher_for: Callable[[], Matcher],
    outcome: dict[int, tuple[str, str | int]],
) -> tuple[int, Matcher]:
    """Annotate the articles that will be written before taking the write lock; a failing one
    is recorded in outcome and dropped. Returns the term change-log sequence matched against."""
    with store.read() as session:
        seq = last_change(session, "term")
        stored = _stored_rows(session, (item.identity for item in pending.values()))
    matcher = matcher_for()
    for index, item in list(pending.items()):
        if _unchanged(stored.get(item.identity), item):
            continue
        try:
            item.spans = _annotate(item.record.text, item.published, matcher)
        except Exception as exc:  # one bad article must not stop the rest
            outcome[index] = ("failed", f"could not store: {exc}")
            del pending[index]
    return seq, matcher


def articles_with_labels(
    session: Session, texts: Iterable[str], term_ids: Iterable[int]
) -> list[int]:
    """Ids of articles that may mention any of these label texts, or cite these terms now."""
    ids = set(
        session.scalars(select(Mention.article_id).where(Mention.term_id.in_(list(term_ids))))
    )
    words = [t for t in {t.strip() for t in texts} if len(t) >= 2]
    for start in range(0, len(words), 50):
        chunk = words[start : start + 50]
        conditions = [Article.text.ilike(f"%{_escape_like(w)}%", escape="\\") for w in chunk]
        ids.update(session.scalars(select(Article.id).where(or_(*conditions))))
    return sorted(ids)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def rematch(session: Session, article_ids: Iterable[int], matcher: Matcher) -> int:
    """Re-run matching over these articles inside the caller's transaction; returns how many."""
    session.flush()
    count = 0
    columns = (_ARTICLE.c.id, _ARTICLE.c.text, _ARTICLE.c.published)
    for chunk in _chunked(list(dict.fromkeys(article_ids))):
        found = session.execute(select(*columns).where(_ARTICLE.c.id.in_(chunk)))
        targets = [(r.id, r.published, _annotate(r.text, r.published, matcher)) for r in found]
        changes = _replace_mentions(session, targets)
        changes += [
            {"entity": "article", "entity_id": t[0], "op": "upsert", "summary": "re-matched",
             "actor": None}
            for t in targets
        ]  # fmt: skip
        _record_changes(session, changes)
        count += len(targets)
    return count


def rematch_labels(
    store: Store, session: Session, texts: Iterable[str], term_ids: Iterable[int]
) -> int:
    """After labels changed inside this transaction: re-match the articles that may contain the
    added or removed label texts or that cite these terms, with the matcher the change made."""
    from glossary.gazetteer import get_matcher

    session.flush()
    ids = articles_with_labels(session, texts, term_ids)
    if not ids:
        return 0
    return rematch(session, ids, get_matcher(store, session))


def delete_article(session: Session, article_id: int, *, actor: str | None = None) -> bool:
    """Delete one article and its mentions; returns False when there was none."""
    article = session.get(Article, article_id)
    if article is None:
        return False
    candidates = set(
        session.scalars(
            select(Mention.candidate_id).where(
                Mention.article_id == article_id, Mention.candidate_id.is_not(None)
            )
        )
    )
    session.delete(article)
    session.flush()
    if candidates:
        _recount(session, candidates)
    record_change(session, "article", article_id, "delete", summary=article.title, actor=actor)
    return True
