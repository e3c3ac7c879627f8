"""Search: whoosh indexes of terms and articles that follow the store's change log, and the term
search, autocomplete and article search built on them (the only module that imports whoosh, with
glossary.search_schema)."""

from __future__ import annotations

import atexit
import bisect
import contextlib
import fcntl
import gc
import heapq
import html
import io
import json
import logging
import math
import mmap
import os
import re
import shutil
import threading
import time
import unicodedata
import uuid
import warnings
from array import array
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import chain, compress, repeat
from pathlib import Path

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload
from whoosh import index as whoosh_index
from whoosh.codec.whoosh3 import W3Codec, W3LeafMatcher
from whoosh.collectors import TimeLimit, WrappingCollector
from whoosh.filedb.filestore import FileStorage
from whoosh.filedb.structfile import StructFile
from whoosh.index import LockError
from whoosh.lang.porter import stem
from whoosh.matching import ArrayUnionMatcher, CombinationMatcher, FilterMatcher
from whoosh.query import (
    And,
    DisjunctionMax,
    Or,
    Query,
    Term,
)
from whoosh.scoring import BM25F, BM25FScorer

from glossary.models import Article, Change, Mention
from glossary.models import Term as TermModel
from glossary.search_schema import (
    KIND_ORDER,
    LABEL_PREFIX,
    SCHEMA_VERSION,
    WORD_PATTERN,
    ArticleRow,
    IndexCodec,
    LabelRow,
    TermRow,
    article_document,
    articles_schema,
    compact,
    counts_document,
    counts_schema,
    hangul_grams,
    has_hangul,
    has_phrase,
    norm_token,
    pair_bits,
    prose_words,
    romkey,
    term_document,
    terms_schema,
    word_hashes,
    words,
)
from glossary.store import Store, last_change

log = logging.getLogger(__name__)

NAMES = ("terms", "articles", "counts")
BATCH = 500  # rows read from the store at a time
# Change-log rows applied per commit of each index, and articles per segment in a rebuild: the
# postings of about 7,000 articles fill a writer's 128 MB, past which whoosh sorts them through
# temporary files, pickling each posting (40% of a rebuild of 20,000 articles).
ROUND = 5_000
SEGMENT_ARTICLES = 6_000
# Segments as separate files: a compound segment is copied into every reader's heap.
WRITER = {"compound": False, "codec": IndexCodec()}
# Article search reads whole posting lists, and whoosh's per-block cost in Python (read, unpickle,
# seek to the next) was most of the time of a common word at 128 postings a block.
ARTICLES_WRITER = {"compound": False, "codec": IndexCodec(blocklimit=4096)}
WRITERS = {"terms": WRITER, "counts": WRITER, "articles": ARTICLES_WRITER}
TIME_LIMIT = 0.2  # seconds: the bound on any one query's collector
# Article search stops checking phrases this long before TIME_LIMIT: reading the page's stored
# fields and texts and highlighting its snippets come after, and belong inside the bound too.
ANSWER_RESERVE = 0.03
MAX_QUERY_CHARS = 1000
MAX_TERM_WORDS = 10
MAX_ARTICLE_CLAUSES = 24
FACET_SAMPLE = 500  # article facets count at most this many matches (evenly spread) and scale up
POSTINGS_CACHE_MIN = 1024  # posting lists this long (in one segment) are kept decoded ...
POSTINGS_CACHE_BYTES = 48 << 20  # ... up to this many bytes per worker
PHRASE_CHECKS = 800  # candidates checked for quoted phrases; past this, the count is estimated
TERM_STOP = frozenset("a an and at by for from in of on or the to with".split())
POPULARITY = 0.08
_WORD = re.compile(WORD_PATTERN)


# --- records ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class SyncReport:
    """What one sync applied: documents per index, and the change-log sequence it reached."""

    status: str  # "ok", "busy" (lock not had within the bound) or "missing" (no index)
    terms: int = 0
    articles: int = 0
    seq: int = 0


@dataclass(frozen=True)
class ReindexReport:
    """What a full rebuild made."""

    terms: int
    articles: int
    seq: int
    seconds: float
    path: str


@dataclass(frozen=True)
class TermHit:
    """One term found by a term search, with the label that matched it."""

    slug: str
    name: str
    type: str
    score: float
    matched_label: str | None
    label_kind: str | None
    label_note: str | None
    snippet_html: str
    mention_count: int
    hangul: str | None


@dataclass(frozen=True)
class TermResults:
    """One page of term search results."""

    hits: list[TermHit]
    total: int
    facets: dict[str, int]
    page: int
    per_page: int
    did_you_mean: str | None = None


@dataclass(frozen=True)
class Suggestion:
    """One autocomplete entry: the term and the label whose prefix was typed."""

    slug: str
    name: str
    type: str
    label: str
    label_kind: str


@dataclass(frozen=True)
class ArticleHit:
    """One article found by an article search."""

    id: int
    title: str
    source: str | None
    published: str | None
    score: float
    snippet_html: str


@dataclass(frozen=True)
class ArticleResults:
    """One page of article search results with the count of all matches (estimated from an
    even sample of the candidates for a quoted phrase with more than PHRASE_CHECKS of them: then
    total_exact is False) and their facets (counted on at most FACET_SAMPLE of them and scaled
    up: then facets["approximate"] is True). partial: the time bound cut the query short."""

    hits: list[ArticleHit]
    total: int
    facets: dict = field(default_factory=dict)
    page: int = 1
    per_page: int = 20
    partial: bool = False
    total_exact: bool = True


# --- the index directory ----------------------------------------------------------------------
# index_dir/CURRENT names the live generation; index_dir/gen-*/{terms,articles,state.json}.


# Set when a request finds the live index missing or unreadable; the web app then starts a repair
# (glossary.follow.repair_indexes) instead of waiting for a restart.
damage_seen = threading.Event()


class _NoIndex(Exception):
    pass


_CURRENT: dict[str, tuple[tuple[int, int, int], Path | None]] = {}


def _current(index_dir: Path) -> Path | None:
    """The live generation named by CURRENT, or None. A swap replaces CURRENT (a new inode), so
    its name is read again only when a stat of the file says it changed: every search asks."""
    path = os.path.join(index_dir, "CURRENT")
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    key = (st.st_ino, st.st_mtime_ns, st.st_size)
    held = _CURRENT.get(path)
    if held is None or held[0] != key:
        try:
            name = Path(path).read_text().strip()
        except (FileNotFoundError, NotADirectoryError):
            return None
        held = (key, Path(index_dir) / name if name else None)
        _CURRENT[path] = held
    gen = held[1]
    return gen if gen is not None and os.path.isdir(gen) else None


def _read_state(gen: Path) -> dict:
    return json.loads((gen / "state.json").read_text())


def _write_state(gen: Path, state: dict) -> None:
    tmp = gen / f".state.{os.getpid()}.{threading.get_ident()}"
    tmp.write_text(json.dumps(state))
    os.replace(tmp, gen / "state.json")


@contextlib.contextmanager
def _locked(path: Path, timeout: float) -> Iterator[bool]:
    """An inter-process lock (flock) waited for at most timeout seconds; yields whether held."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    held = False
    try:
        deadline = time.monotonic() + timeout
        pause = 0.005
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                held = True
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    break
                time.sleep(pause)
                pause = min(pause * 2, 0.1)
        yield held
    finally:
        if held:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


# --- reading the store ------------------------------------------------------------------------


def _chunks(ids: Iterable[int], size: int = BATCH) -> Iterator[list[int]]:
    items = sorted(ids)
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _term_rows(session: Session, ids: Iterable[int]) -> list[TermRow]:
    rows: list[TermRow] = []
    for chunk in _chunks(ids):
        terms = session.scalars(
            select(TermModel)
            .options(
                selectinload(TermModel.labels),
                selectinload(TermModel.definitions),
                selectinload(TermModel.parent),
            )
            .where(TermModel.id.in_(chunk), TermModel.status == "published")
        ).all()
        for t in terms:
            defs = sorted(t.definitions, key=lambda d: (not d.is_primary, d.id))
            rows.append(
                TermRow(
                    id=t.id,
                    slug=t.slug,
                    name=t.name,
                    type=t.type,
                    parent=t.parent.slug if t.parent else None,
                    labels=tuple(
                        LabelRow(lb.text, lb.kind, lb.valid_from, lb.valid_to, lb.romanization)
                        for lb in t.labels
                    ),
                    definitions=tuple(d.text for d in defs),
                )
            )
    return rows


def _mention_counts(session: Session, ids: Iterable[int]) -> dict[int, int]:
    """Mentions per published term (terms without mentions count 0; others are left out)."""
    out: dict[int, int] = {}
    for chunk in _chunks(ids):
        published = sorted(session.scalars(
            select(TermModel.id).where(TermModel.id.in_(chunk), TermModel.status == "published")
        ))  # fmt: skip
        out.update(dict.fromkeys(published, 0))
        # Counted from the mention index alone: joining each mention to its term made this
        # 3.5x slower (all terms at 200,000 articles: 1.16 s, 0.35 s without the join).
        out.update(
            session.execute(
                select(Mention.term_id, func.count())
                .where(Mention.term_id.in_(published))
                .group_by(Mention.term_id)
            ).all()
        )
    return out


def _article_rows(session: Session, ids: Iterable[int]) -> list[ArticleRow]:
    rows: list[ArticleRow] = []
    for chunk in _chunks(ids):
        cited: dict[int, set[tuple[str, str, int]]] = {}
        for aid, slug, ttype, tid in session.execute(
            select(Mention.article_id, TermModel.slug, TermModel.type, TermModel.id)
            .join(TermModel, TermModel.id == Mention.term_id)
            .where(Mention.article_id.in_(chunk), TermModel.status == "published")
            .distinct()
        ):
            cited.setdefault(aid, set()).add((slug, ttype, tid))
        for a in session.execute(
            select(Article.id, Article.title, Article.text, Article.source, Article.published)
            .where(Article.id.in_(chunk))
            .order_by(Article.id)
        ):
            rows.append(
                ArticleRow(
                    a.id, a.title or "", a.text, a.source, a.published,
                    tuple(sorted(cited.get(a.id, ()))),
                )
            )  # fmt: skip
    return rows


def _add(writer: object, doc: dict) -> None:
    writer.add_document(**{k: v for k, v in doc.items() if v not in ("", None)})


# --- sync -------------------------------------------------------------------------------------


def sync_indexes(store: Store, index_dir: str | Path, *, lock_timeout: float = 30.0) -> SyncReport:
    """Apply the change-log entries newer than each index's last applied sequence, in batches."""
    index_dir = Path(index_dir)
    if _current(index_dir) is None:
        return SyncReport("missing")
    with _locked(index_dir / "sync.lock", lock_timeout) as held:
        if not held:
            log.warning("search sync: index lock busy for %.0f s; the next sync catches up",
                        lock_timeout)  # fmt: skip
            return SyncReport("busy")
        gen = _current(index_dir)
        if gen is None:
            return SyncReport("missing")
        try:
            return _sync_locked(store, gen, lock_timeout)
        except LockError:
            log.warning("search sync: whoosh writer lock busy; the next sync catches up")
            return SyncReport("busy")


def _sync_locked(store: Store, gen: Path, lock_timeout: float) -> SyncReport:
    state = _read_state(gen)
    seqs = {name: state.get(name, min(state["terms"], state["articles"])) for name in NAMES}
    ixs = {name: whoosh_index.open_dir(str(gen / name)) for name in NAMES}
    n_terms = n_articles = 0
    while True:
        start = min(seqs.values())
        with store.read() as session:
            changes = session.execute(
                select(Change.seq, Change.entity, Change.entity_id)
                .where(Change.seq > start)
                .order_by(Change.seq)
                .limit(ROUND)
            ).all()
            if not changes:
                break
            end = changes[-1].seq
            pending = {
                name: (
                    {c.entity_id for c in changes if c.entity == "term" and c.seq > seqs[name]},
                    {c.entity_id for c in changes if c.entity == "article" and c.seq > seqs[name]},
                )
                for name in NAMES
            }
            t, a = _apply(session, ixs, pending, lock_timeout, gen, seqs, end)
        n_terms += t
        n_articles += a
    return SyncReport("ok", n_terms, n_articles, min(seqs.values()))


def _apply(
    session: Session,
    ixs: dict[str, object],
    pending: dict[str, tuple[set[int], set[int]]],
    lock_timeout: float,
    gen: Path,
    seqs: dict[str, int],
    end: int,
) -> tuple[int, int]:
    """Re-read the changed terms and articles, and whatever their change touches, into the
    indexes: one writer, one delete and one commit per index and round. The articles index is
    committed first, then counts, then terms, each recording the sequence it reached, so that
    no index is ever ahead of one whose old documents it reads (articles read the terms' old
    slugs and types); the terms whose counts the articles commit may change are recorded before
    it, so a sync killed between two commits resumes correctly."""
    term_ids, article_ids = pending["articles"]
    new_terms = {r.id: r for r in _term_rows(session, term_ids)}
    with ixs["terms"].searcher() as ts, ixs["articles"].searcher() as as_:
        # A term whose slug or type changed, or which went away, is stale in the articles citing it.
        stale = set()
        for tid in term_ids:
            old = ts.document(tid=str(tid))
            new = new_terms.get(tid)
            if old and (new is None or (old["slug"], old["type"]) != (new.slug, new.type)):
                stale.add(tid)
        if stale:
            q = Or([Term("tids", str(t)) for t in stale])
            article_ids = article_ids | {int(as_.stored_fields(n)["aid"])
                                         for n in as_.docs_for_query(q)}  # fmt: skip
        # Articles that change change their cited terms' mention counts, before and after.
        indexed = _indexed(as_, "aid", article_ids)
        recount = set(_read_state(gen).get("recount", ()))
        for aid in indexed:
            old = as_.document(aid=str(aid))
            if old and old.get("tids"):
                recount.update(int(t) for t in old["tids"].split())
    count_terms, count_articles = pending["counts"]
    recount |= count_terms | _cited_terms(session, count_articles | article_ids)
    if seqs["articles"] < end:
        if article_ids:
            _advance(gen, seqs, recount=sorted(recount))
            _replace(ixs["articles"], "aid", indexed, list(_chunks(article_ids)),
                     lambda chunk: (article_document(r) for r in _article_rows(session, chunk)),
                     lock_timeout, ARTICLES_WRITER)  # fmt: skip
        _advance(gen, seqs, articles=end)
    if seqs["counts"] < end:
        if recount:
            counts = _mention_counts(session, recount)
            _replace(ixs["counts"], "tid", recount, [recount],
                     lambda _chunk: (counts_document(t, n) for t, n in counts.items()),
                     lock_timeout, scan=True)  # fmt: skip
        _advance(gen, seqs, counts=end, recount=[])
    changed_terms = pending["terms"][0]
    if seqs["terms"] < end:
        if changed_terms:
            rows = new_terms if changed_terms == term_ids else {
                r.id: r for r in _term_rows(session, changed_terms)}  # fmt: skip
            _replace(ixs["terms"], "tid", changed_terms, [changed_terms],
                     lambda _chunk: (term_document(r) for r in rows.values()),
                     lock_timeout)  # fmt: skip
        _advance(gen, seqs, terms=end)
    return len(changed_terms), len(article_ids)


def _advance(gen: Path, seqs: dict[str, int], **changes: object) -> None:
    """Record an index's new sequence after its commit (or the terms to recount before one)."""
    seqs.update({k: v for k, v in changes.items() if k in NAMES})
    state = _read_state(gen)
    state.update(changes)
    _write_state(gen, state)


def _indexed(searcher: object, key: str, ids: set[int]) -> set[int]:
    """Which of these ids have a document (new articles have none: no lookup of their own)."""
    reader = searcher.reader()
    return {i for i in ids if (key, str(i)) in reader}


def _cited_terms(session: Session, article_ids: set[int]) -> set[int]:
    """The terms the store's mentions of these articles cite now."""
    out: set[int] = set()
    for chunk in _chunks(article_ids):
        out.update(session.scalars(
            select(Mention.term_id).where(Mention.article_id.in_(chunk),
                                          Mention.term_id.is_not(None)).distinct()
        ))  # fmt: skip
    return out


def _replace(
    ix: object,
    key: str,
    existing: set[int],
    chunks: list,
    docs: Callable[[object], Iterable[dict]],
    timeout: float,
    writer_args: dict = WRITER,
    *,
    scan: bool = False,
) -> None:
    """One writer and one commit: delete the documents of the ids that have one, then add the
    documents of each chunk of ids. The documents to delete are found by one query, or with
    `scan` (an index of few, small documents) by reading every document's stored key: a query
    of hundreds of ids looks each up in every segment (at 200,000 articles, rewriting 524 of
    the counts index's 1,578 documents took 0.2-0.9 s by query, growing with its segments, and
    0.05 s by scan)."""
    writer = ix.writer(timeout=timeout, **writer_args)
    try:
        if existing and scan:
            wanted = {str(i) for i in existing}
            reader = writer.reader()
            try:
                doomed = [d for d, fields in reader.iter_docs() if fields.get(key) in wanted]
            finally:
                reader.close()
            for docnum in doomed:
                writer.delete_document(docnum)
        elif existing:
            writer.delete_by_query(Or([Term(key, str(i)) for i in sorted(existing)]))
        for chunk in chunks:
            for doc in docs(chunk):
                _add(writer, doc)
    except BaseException:
        writer.cancel()
        raise
    writer.commit()


# --- reindex, start-up, health ----------------------------------------------------------------


def reindex(
    store: Store,
    index_dir: str | Path,
    *,
    progress: Callable[[int, int], None] | None = None,
) -> ReindexReport:
    """Rebuild both indexes from the store into a new directory, swap it in, then catch up."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    gen = index_dir / f"gen-{time.strftime('%Y%m%d%H%M%S')}-{uuid.uuid4().hex[:8]}"
    gen.mkdir()
    (gen / ".building").write_text(str(os.getpid()))
    try:
        seq, n_terms, n_articles = _build(store, gen, progress)
    except BaseException:
        shutil.rmtree(gen, ignore_errors=True)
        raise
    (gen / ".building").unlink()
    tmp = index_dir / f".CURRENT.{uuid.uuid4().hex}"
    tmp.write_text(gen.name)
    os.replace(tmp, index_dir / "CURRENT")
    log.info("search: rebuilt %d terms and %d articles into %s", n_terms, n_articles, gen)
    _remove_old_generations(index_dir, gen)
    report = sync_indexes(store, index_dir)
    return ReindexReport(n_terms, n_articles, max(seq, report.seq),
                         time.monotonic() - started, str(gen))  # fmt: skip


def _build(
    store: Store, gen: Path, progress: Callable[[int, int], None] | None
) -> tuple[int, int, int]:
    with store.read() as session:
        # Everything read after this point is at least as new as seq; sync re-applies the rest.
        seq = last_change(session)
        term_ids = session.scalars(
            select(TermModel.id).where(TermModel.status == "published")
        ).all()
        article_ids = session.scalars(select(Article.id)).all()
        total, done = len(term_ids) + len(article_ids), 0
        counts = _mention_counts(session, term_ids)
        for name, schema, ids, rows, doc in (
            ("terms", terms_schema(), term_ids, _term_rows, term_document),
            ("articles", articles_schema(), article_ids, _article_rows, article_document),
            ("counts", counts_schema(), [], None, None),
        ):
            (gen / name).mkdir()
            ix = whoosh_index.create_in(str(gen / name), schema)
            writer, in_writer = ix.writer(**WRITERS[name]), 0
            if name == "counts":
                for tid, n in counts.items():
                    _add(writer, counts_document(tid, n))
            for chunk in _chunks(ids):
                if in_writer >= SEGMENT_ARTICLES:
                    writer.commit(merge=False)
                    writer, in_writer = ix.writer(**WRITERS[name]), 0
                for row in rows(session, chunk):
                    _add(writer, doc(row))
                in_writer += len(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
            writer.commit(merge=False)
    _write_state(gen, {"terms": seq, "articles": seq, "counts": seq, "schema": SCHEMA_VERSION})
    return seq, len(term_ids), len(article_ids)


def _remove_old_generations(index_dir: Path, current: Path) -> None:
    """Keep the live generation and the one before it (workers may still be reading it); drop
    generations a killed rebuild left half-built."""
    others = [p for p in index_dir.glob("gen-*") if p != current]
    abandoned = [p for p in others if (p / ".building").exists() and not _building(p)]
    complete = sorted(
        (p for p in others if not (p / ".building").exists()), key=lambda p: p.stat().st_mtime
    )
    with _locked(index_dir / "sync.lock", 5.0) as held:
        if held:
            for old in abandoned + complete[:-1]:
                shutil.rmtree(old, ignore_errors=True)


def _check(index_dir: Path) -> tuple[str, str]:
    """("ok" | "missing" | "corrupt", why) for the live generation."""
    gen = _current(index_dir)
    if gen is None:
        return "missing", f"no index in {index_dir}"
    why = ""
    try:
        state = _read_state(gen)
        if state.get("schema") != SCHEMA_VERSION:
            return "corrupt", f"schema {state.get('schema')} is not {SCHEMA_VERSION}"
        for name in NAMES:
            ix = whoosh_index.open_dir(str(gen / name))
            with ix.searcher() as s:
                s.doc_count()
                next(iter(s.lexicon("aid" if name == "articles" else "tid")), None)
    except Exception as exc:  # noqa: BLE001 -- any failure to open means rebuild
        why = f"{type(exc).__name__}: {exc}"
        # whoosh leaves the files of a half-opened reader open: close them quietly now.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            seen: BaseException | None = exc
            while seen is not None:
                seen.__traceback__ = None
                seen = seen.__context__
            gc.collect()
    if not why:
        return "ok", ""
    return "corrupt", why


def ensure_indexes(store: Store, index_dir: str | Path) -> str:
    """Open the indexes at start-up, or rebuild them if missing or corrupt; "ok" or "rebuilt"."""
    index_dir = Path(index_dir)
    status, why = _check(index_dir)
    if status == "ok":
        sync_indexes(store, index_dir)
        return "ok"
    with _locked(index_dir / "rebuild.lock", 3600.0):
        status, why = _check(index_dir)  # another worker may have rebuilt it meanwhile
        if status == "ok":
            sync_indexes(store, index_dir)
            return "ok"
        log.warning("search index %s (%s): rebuilding it from the store", status, why)
        reindex(store, index_dir)
        return "rebuilt"


def index_status(index_dir: str | Path) -> dict:
    """Health of the indexes: status word, and documents and last sequence of each."""
    index_dir = Path(index_dir)
    status, _ = _check(index_dir)
    building = any(_building(p) for p in index_dir.glob("gen-*"))
    out: dict = {"status": status}
    if status == "ok":
        gen = _current(index_dir)
        state = _read_state(gen)
        for name in NAMES:
            with whoosh_index.open_dir(str(gen / name)).searcher() as s:
                out[name] = {"docs": s.doc_count(), "seq": state.get(name, state["terms"])}
    elif building:
        out["status"] = "rebuilding"
    else:
        damage_seen.set()
    return out


# --- searchers: one per worker process and thread, refreshed per request -----------------------


class _Searchers(threading.local):
    def __init__(self) -> None:
        self.pid = os.getpid()
        self.open: dict[tuple[str, str], tuple[Path, object]] = {}
        self.caches: dict[str, tuple[object, object]] = {}


_searchers = _Searchers()


_LENGTHS: dict[tuple[str, str, str], list] = {}


class _TermWeighting(BM25F):
    """BM25F reading document lengths from a list per segment and field instead of the length
    column (a lookup per posting scored), with the same values."""

    def scorer(self, searcher: object, fieldname: str, text: bytes, qf: int = 1) -> object:  # noqa: D102
        scorer = super().scorer(searcher, fieldname, text, qf=qf)
        reader = searcher.reader()
        if isinstance(scorer, BM25FScorer) and reader.is_atomic() and reader.segment():
            key = (*_segment_key(reader), fieldname)
            lengths = _LENGTHS.get(key)
            if lengths is None:
                lengths = [reader.doc_field_length(d, fieldname, 1)
                           for d in range(reader.doc_count_all())]  # fmt: skip
                with _FACET_LOCK:
                    if len(_LENGTHS) > 256:
                        _LENGTHS.clear()
                    _LENGTHS[key] = lengths
            scorer.dfl = lengths.__getitem__
        return scorer


class _MappedFile(StructFile):
    def get(self, position: int, length: int) -> bytes:  # noqa: D102
        return self.file[position : position + length]


class _MappedStorage(FileStorage):
    """Index files read through memory maps, without a system call per read (term search reads
    a document length per posting). The pages are the page cache's, shared between processes;
    the articles index, which grows with the corpus, is read through files instead."""

    def open_file(self, name: str, **kwargs: object) -> StructFile:  # noqa: D102
        with open(self._fpath(name), "rb") as fh:
            if os.fstat(fh.fileno()).st_size == 0:
                return StructFile(io.BytesIO(b""), name=name)
            return _MappedFile(mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ), name=name)


def _searcher(index_dir: str | Path, name: str) -> object:
    """This thread's searcher on the live generation, refreshed to the newest commit."""
    if _searchers.pid != os.getpid():  # forked: never share an inherited searcher
        _searchers.pid, _searchers.open, _searchers.caches = os.getpid(), {}, {}
    index_dir = Path(index_dir)
    gen = _current(index_dir)
    if gen is None:
        damage_seen.set()
        raise _NoIndex(str(index_dir))
    key = (str(index_dir), name)
    held = _searchers.open.get(key)
    searcher = None
    if held is not None:
        # Not Searcher.refresh(): whoosh 2.7.4's reader reuse looks readers up by the wrong key,
        # never reuses one and leaves all but one of the old segment readers open.
        with contextlib.suppress(Exception):
            if held[0] == gen and held[1].up_to_date():
                searcher = held[1]
        if searcher is None:
            with contextlib.suppress(Exception):
                held[1].close()
    if searcher is None:
        gen, searcher = _open_searcher(index_dir, gen, name)
    _searchers.open[key] = (gen, searcher)
    return searcher


OPEN_TRIES = 4  # a writer in another process can commit and delete files while one opens


def _open_searcher(index_dir: Path, gen: Path, name: str) -> tuple[Path, object]:
    """A new searcher on the newest commit, with its generation. A writer that commits while
    the index is being opened deletes the files of the segments it merged away; opening again
    reads the new table of contents. Only an index that fails every try is damaged."""
    attempt = 0
    while True:
        try:
            if name == "articles":
                return gen, FileStorage(str(gen / name)).open_index().searcher()
            ix = _MappedStorage(str(gen / name)).open_index()
            return gen, ix.searcher(weighting=_TermWeighting())
        except Exception as exc:  # a corrupt index answers like a missing one until rebuilt
            attempt += 1
            if attempt == OPEN_TRIES:
                log.warning("search index %s unreadable (%s); answering without it",
                            gen / name, exc)  # fmt: skip
                damage_seen.set()
                raise _NoIndex(str(gen / name)) from exc
            time.sleep(0.005 * attempt)
            gen = _current(index_dir) or gen


def _building(gen: Path) -> bool:
    """Whether a live process is still building this generation (a killed one left a marker)."""
    try:
        pid = int((gen / ".building").read_text().strip() or 0)
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def close_searchers() -> None:
    """Close this thread's searchers (at worker exit, and between tests)."""
    for _gen, searcher in _searchers.open.values():
        with contextlib.suppress(Exception):
            searcher.close()
    _searchers.open = {}
    _searchers.caches = {}
    _POSTINGS.clear()
    with _MAPS_LOCK:
        _MAPS.clear()


# Segments are read through open files: close the main thread's rather than leave them to the
# garbage collector at exit (which warns about each one).
atexit.register(close_searchers)


class _Deadline(WrappingCollector):
    """Stops collecting at a deadline, keeping what was collected (no signals, no threads), and
    remembers every matching document for counts and facets."""

    def __init__(self, child: object, deadline: float) -> None:
        super().__init__(child)
        self.deadline = deadline
        self.timedout = False
        self.seen: list[int] = []

    def collect_matches(self) -> None:  # noqa: D102
        child = self.child
        seen = self.seen
        offset = child.offset
        n = 0
        for sub_docnum in child.matches():
            child.collect(sub_docnum)
            seen.append(offset + sub_docnum)
            n += 1
            if not n & 127 and time.monotonic() > self.deadline:
                self.timedout = True
                raise TimeLimit


def _collect(
    searcher: object, q: Query, deadline: float, *, exact: bool = False, **kwargs: object
) -> tuple[object, list[int], bool]:
    """Results of q within the deadline, the matching document numbers seen, and whether time
    ran out. Only an exact collection sees every match: a top-N one skips what cannot make it."""
    child = searcher.collector(optimize=not exact, **kwargs)
    if exact:
        child.replace = 0
    collector = _Deadline(child, deadline)
    with contextlib.suppress(TimeLimit):
        searcher.search_with_collector(q, collector)
    return collector.results(), collector.seen, collector.timedout


def clean_query(q: str | None) -> str:
    """A user's string as plain text: control characters gone, at most 1,000 characters."""
    q = (q or "")[:MAX_QUERY_CHARS]
    return "".join(" " if unicodedata.category(c)[0] == "C" else c for c in q).strip()


# --- highlighting -----------------------------------------------------------------------------


def _typo_budget(word: str) -> int:
    return 2 if len(word) >= 9 else 1 if len(word) >= 5 else 0


def _candidates(words: Iterable[str]) -> re.Pattern[str] | None:
    """A pattern for the words that may match: those starting like one of the wanted words."""
    heads = sorted({w[:3] for w in words if w}, key=len, reverse=True)
    if not heads:
        return None
    alternatives = "|".join(re.escape(h) for h in heads)
    return re.compile(rf"(?<![^\W_])(?:{alternatives})[^\W_]*(?:['’][^\W_]+)*", re.I)


def _highlight(
    text: str,
    matches: Callable[[str], bool] | None,
    candidates: re.Pattern[str] | None = None,
    width: int = 240,
) -> str:
    """An HTML-escaped snippet of text around its best run of matching words, marked (the
    start of the text when there are no words to match)."""
    pattern = candidates or _WORD
    spans = (
        [(m.start(), m.end()) for m in pattern.finditer(text) if matches(m.group())]
        if matches is not None
        else []
    )
    start = 0
    if spans and len(text) > width:
        best, best_n = spans[0][0], 0
        j = 0
        for i, (s, _) in enumerate(spans):
            while j < len(spans) and spans[j][1] <= s + width:
                j += 1
            if j - i > best_n:
                best, best_n = s, j - i
        start = max(0, best - width // 4)
        space = text.rfind(" ", 0, start)
        start = 0 if start == 0 or space < 0 or start - space > 20 else space + 1
    end = min(len(text), start + width)
    if end < len(text):
        space = text.rfind(" ", start, end)
        end = space if space > start + width // 2 else end
    out = ["\u2026" if start > 0 else ""]
    pos = start
    for s, e in spans:
        if s < start or e > end:
            continue
        out.append(html.escape(text[pos:s]))
        out.append(f"<mark>{html.escape(text[s:e])}</mark>")
        pos = e
    out.append(html.escape(text[pos:end]))
    out.append("\u2026" if end < len(text) else "")
    return "".join(out)


# --- the terms index in memory: stored fields and the label vocabulary of each segment ------


def _deletes(word: str) -> set[str]:
    return {word[:i] + word[i + 1 :] for i in range(len(word))}


def _leaves(searcher: object) -> list[tuple[object, int]]:
    """The segment readers of a searcher with their offsets (none for an empty index)."""
    return [(r, o) for r, o in searcher.reader().leaf_readers() if r.segment() is not None]


class _TermSegment:
    """One segment's stored documents, and a one-deletion map of its label words for typos."""

    def __init__(self, segreader: object) -> None:
        self.docs = [segreader.stored_fields(n) for n in range(segreader.doc_count_all())]
        self.words: set[str] = set()
        for doc in self.docs:
            labels = doc["data"]["labels"]
            for i, label in enumerate(labels):
                self.words.update(w for w in label[4] if len(w) <= 24)
                # Tuples of strings, which the garbage collector stops tracking (lists and sets
                # made every full collection of a worker slower), and what _best_label needs
                # computed once rather than per query.
                fields = (tuple(f) if isinstance(f, list) else f for f in label)
                labels[i] = (*fields, *_label_extras(label))
        by_delete: dict[str, set[str]] = {}
        for w in self.words:
            for d in _deletes(w):
                by_delete.setdefault(d, set()).add(w)
        self.by_delete = {d: tuple(ws) for d, ws in by_delete.items()}


_TERM_SEGMENTS: dict[tuple[str, str], _TermSegment] = {}


class _TermCache:
    """The stored documents of a terms searcher by document number, and typo lookups."""

    def __init__(self, searcher: object) -> None:
        self.docs: list[dict] = []
        self.segments: list[_TermSegment] = []
        self.words: set[str] = set()
        for segreader, _offset in _leaves(searcher):
            key = _segment_key(segreader)
            seg = _TERM_SEGMENTS.get(key)
            if seg is None:
                seg = _TermSegment(segreader)
                with _FACET_LOCK:
                    if len(_TERM_SEGMENTS) > 64:
                        _TERM_SEGMENTS.clear()
                    _TERM_SEGMENTS[key] = seg
            self.segments.append(seg)
            self.words |= seg.words
            self.docs.extend(seg.docs)  # leaf readers come in document-number order

    def near(self, word: str, budget: int) -> set[str]:
        """The label words within budget edits of word (itself included)."""
        found = {word}
        if not budget:
            return found
        keys = {word} | _deletes(word)
        if budget == 2:
            keys |= {d2 for d in _deletes(word) for d2 in _deletes(d)}
        for seg in self.segments:
            for k in keys:
                if k in seg.words:
                    found.add(k)
                found.update(seg.by_delete.get(k, ()))
        return {w for w in found if w == word or _within(w, word, budget)}


def _segment_key(segreader: object) -> tuple[str, str]:
    """What names a segment across generations and indexes: its folder and its id."""
    return str(getattr(segreader.storage(), "folder", "")), segreader.segment().segment_id()


def _per_searcher(name: str, searcher: object, build: Callable[[object], object]) -> object:
    """What build makes of a searcher, kept until this thread's searcher changes."""
    held = _searchers.caches.get(name)
    if held is None or held[0] is not searcher:
        held = (searcher, build(searcher))
        _searchers.caches[name] = held
    return held[1]


_COUNT_SEGMENTS: dict[tuple[str, str, int], dict[str, int]] = {}


def _counts(searcher: object) -> dict[str, int]:
    """Mentions by term id from a counts searcher (per segment and deletions, cached)."""
    out: dict[str, int] = {}
    for segreader, _offset in _leaves(searcher):
        key = (*_segment_key(segreader), segreader.segment().deleted_count())
        part = _COUNT_SEGMENTS.get(key)
        if part is None:
            part = {d["tid"]: d.get("mentions", 0) for d in segreader.all_stored_fields()}
            with _FACET_LOCK:
                if len(_COUNT_SEGMENTS) > 64:
                    _COUNT_SEGMENTS.clear()
                _COUNT_SEGMENTS[key] = part
        out.update(part)
    return out


def _popularity(index_dir: str | Path) -> dict[str, int]:
    try:
        searcher = _searcher(index_dir, "counts")
    except (_NoIndex, OSError, whoosh_index.EmptyIndexError):
        return {}
    return _per_searcher("counts", searcher, _counts)


def _term_cache(searcher: object) -> _TermCache:
    return _per_searcher("terms", searcher, _TermCache)


def _within(a: str, b: str, limit: int) -> bool:
    """The Damerau-Levenshtein distance of a and b is at most limit."""
    if abs(len(a) - len(b)) > limit:
        return False
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) > limit:
            return False
        prev2, prev = prev, cur
    return prev[-1] <= limit


# --- term search ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _QueryWords:
    """A term query's words with their romanization keys and the index words within typo reach."""

    words: list[str]
    key: str
    rkey: str
    roms: list[str]
    near: list[set[str]]


class _ArrayUnion(ArrayUnionMatcher):
    """whoosh's array union (which it picks for an Or over an index under 5,000 documents), with
    its 2,048-slot array made, cleared and scanned by C code instead of a Python loop over every
    slot: that was a third of the time of a term search."""

    def __init__(
        self,
        submatchers: list,
        doccount: int,
        boost: float = 1.0,
        scored: bool = True,
        partsize: int = 2048,
    ) -> None:
        CombinationMatcher.__init__(self, submatchers, boost=boost)
        self._scored = scored
        self._doccount = doccount
        self._partsize = partsize or doccount
        self._zeros = array("d", bytes(8 * self._partsize))
        self._a = array("d", self._zeros)
        self._docnum = self._min_id()
        self._read_part()

    def _read_part(self) -> None:
        self._a[:] = self._zeros
        offset, limit = self._docnum, min(self._docnum + self._partsize, self._doccount)
        scored, boost, a = self._scored, self._boost, self._a
        for m in self._submatchers:
            while m.is_active() and m.id() < limit:
                if scored:
                    a[m.id() - offset] += m.score() * boost
                else:
                    a[m.id() - offset] = 1
                m.next()
        self._offset, self._limit = offset, limit
        self._hits = list(compress(range(offset, limit), a))

    def _find_next(self) -> None:
        hits = self._hits
        i = bisect.bisect_left(hits, self._docnum)
        if i < len(hits):
            self._docnum = hits[i]
        else:
            self._docnum = self._min_id()
            self._read_part()


class _Or(Or):
    """Or with the array union above where whoosh would use its own."""

    def _matcher(self, subs: list, searcher: object, context: object) -> object:
        # whoosh's choice (Or._matcher): a tree of unions where it needs one, else an array.
        needs_current = context.needs_current if context else True
        if len(subs) < self.TOO_MANY_CLAUSES and (
            needs_current or self.scale or len(subs) == 2 or searcher.doc_count_all() > 5000
        ):
            return super()._matcher(subs, searcher, context)
        scored = context.weighting is not None if context else True
        ms = [sub.matcher(searcher, context) for sub in subs]
        return _ArrayUnion(ms, searcher.doc_count_all(), boost=self.boost, scored=scored)


def _query_words(cache: _TermCache, reader: object, qwords: list[str]) -> _QueryWords:
    # A possessive typed without its apostrophe ("peoples security") is the label word it
    # names when the glossary's labels know that word and not the typed one.
    qwords = [
        w[:-1] if len(w) > 3 and w[-1] == "s" and w not in cache.words and w[:-1] in cache.words
        else w
        for w in qwords
    ]  # fmt: skip
    near = []
    for w in qwords:
        # A word the glossary already uses is not a typo: "police" is not "policy".
        known = w in cache.words or reader.doc_frequency("defs", stem(w)) > 0
        near.append({w} if known else cache.near(w, _typo_budget(w)))
    return _QueryWords(
        qwords,
        "".join(qwords),
        "".join(romkey(w) for w in qwords),
        [romkey(w) for w in qwords],
        near,
    )


def _word_query(qw: _QueryWords, i: int, vocabulary: set[str]) -> Query:
    word = qw.words[i]
    subs: list[Query] = [Term("name", word, boost=3.0), Term("labels", word, boost=2.0)]
    if qw.roms[i] != word:  # else the labels clause finds the same terms
        subs.append(Term("rom", qw.roms[i], boost=1.5))
    typos = sorted(qw.near[i] - {word})[:20]
    if typos:
        subs.append(_Or([Term("labels", t) for t in typos], boost=0.7))
    if i == len(qw.words) - 1 and len(word) >= 2 and word not in vocabulary:
        subs.append(Term("wprefix", word[:20], boost=1.2))  # a word still being typed
    if has_hangul(word):
        subs.append(_Or([Term("hangul", g) for g in hangul_grams(word)], boost=2.0))
    return DisjunctionMax(subs, tiebreak=0.1) if len(subs) > 1 else subs[0]


def _content(qw: _QueryWords) -> list[int]:
    # Words such as "of" match most terms and cost the most: only the exact clauses use them.
    return [i for i, w in enumerate(qw.words) if w not in TERM_STOP] or list(range(len(qw.words)))


def _definitions_query(qw: _QueryWords) -> Query:
    return _Or([Term("defs", stem(qw.words[i])) for i in _content(qw)])


def _term_query(qw: _QueryWords, text: str, vocabulary: set[str]) -> Query:
    clauses = [_word_query(qw, i, vocabulary) for i in _content(qw)]
    clauses += [Term("exact", qw.key, boost=40.0), Term("exactrom", qw.rkey, boost=25.0)]
    grams = hangul_grams(text)
    if grams:
        clauses.append(_Or([Term("hangul", g) for g in grams[:40]], boost=2.0))
    return _Or(clauses)


def _label_extras(label: list) -> tuple[tuple[str, ...], int]:
    """What _best_label needs of a stored label beyond it: the romanization keys of its words,
    and how many of its own words are not stop words (a tuple of strings and an int, which the
    garbage collector stops tracking: a set per label made every full collection slower)."""
    own = sum(1 for w in words(label[0]) if w not in TERM_STOP)
    return tuple({romkey(w) for w in label[4]}), own


def _best_label(labels: list, qw: _QueryWords) -> tuple[list, float, float]:
    """The label of a term that the query matched best, how well (3 = the whole label) and how
    much of that label the query covers (Kim Il Sung University before its medical college)."""
    best, best_score, best_cover = labels[0], 0.0, 0.0
    for label in labels:
        wordset = label[4]
        roms, n_own = label[6:8] if len(label) > 7 else _label_extras(label)
        cover = 1.0
        if qw.key in label[3]:
            score = 3.0
        elif qw.rkey in label[5]:
            score = 2.5
        else:
            hit = 0.0
            last = len(qw.words) - 1
            for i, w in enumerate(qw.words):
                if w in wordset or qw.roms[i] in roms:
                    hit += 1
                elif i == last and any(x.startswith(w) for x in wordset):
                    hit += 0.8
                elif not qw.near[i].isdisjoint(wordset):
                    hit += 0.5
            score = 2.0 * hit / len(qw.words)
            cover = min(1.0, hit / n_own) if n_own else 0.0
        if (score, cover) > (best_score, best_cover) or (
            (score, cover) == (best_score, best_cover)
            and KIND_ORDER.get(label[1], 9) < KIND_ORDER.get(best[1], 9)
        ):
            best, best_score, best_cover = label, score, cover
    return best, best_score, best_cover


def _word_matcher(qw: _QueryWords) -> Callable[[str], bool]:
    wanted = set().union(*qw.near)
    stems = {stem(w) for w in qw.words}
    heads = {w[:2] for w in wanted | stems}

    def matches(raw: str) -> bool:
        if raw[:2].lower() not in heads and raw.isascii():
            return False
        w = norm_token(raw)
        return w in wanted or stem(w) in stems

    return matches


def search_terms(
    store: Store,
    index_dir: str | Path,
    q: str,
    *,
    type: str | None = None,
    page: int = 1,
    per_page: int = 20,
) -> TermResults:
    """Terms for a query: exact label hits first, then BM25F with typos, variants and Hangul."""
    page, per_page = max(1, int(page)), min(max(1, int(per_page)), 100)
    text = clean_query(q)
    qwords = words(text)[:MAX_TERM_WORDS]
    empty = TermResults([], 0, {}, page, per_page)
    if not qwords:
        return empty
    try:
        searcher = _searcher(index_dir, "terms")
    except (_NoIndex, OSError, whoosh_index.EmptyIndexError):
        log.warning("term search: no index in %s", index_dir)
        return empty
    deadline = time.monotonic() + TIME_LIMIT
    cache = _term_cache(searcher)
    qw = _query_words(cache, searcher.reader(), qwords)
    results, _, _ = _collect(
        searcher, _term_query(qw, text, cache.words), deadline, exact=True, limit=None
    )
    exact = set(searcher.docs_for_query(Term("exact", qw.key)))
    exactrom = set(searcher.docs_for_query(Term("exactrom", qw.rkey)))
    docs = cache.docs
    mentions = _popularity(index_dir)
    scores = {d: s for s, d in results.top_n}
    # Definitions are searched when no label explains every word of the query ("secret police"):
    # common words fill their postings, so the top 50 definition hits join the label hits.
    best = sorted(results.top_n, reverse=True)[:5]
    if not any(_best_label(docs[d]["data"]["labels"], qw)[1] >= 2.0 for _, d in best):
        defs, _, _ = _collect(searcher, _definitions_query(qw), deadline, limit=50)
        for s, d in defs.top_n:
            scores[d] = scores.get(d, 0.0) + 0.5 * s
    facets: Counter[str] = Counter()
    ranked = []
    for docnum, score in scores.items():
        doc = docs[docnum]
        facets[doc["type"]] += 1
        if type and doc["type"] != type:
            continue
        tier = 2 if docnum in exact else 1 if docnum in exactrom else 0
        pop = 1 + POPULARITY * math.log1p(mentions.get(doc["tid"], 0))
        ranked.append((tier, score * pop, docnum))
    ranked.sort(key=lambda r: (-r[0], -r[1], r[2]))
    if not ranked:
        suggestion = None if scores else _did_you_mean(searcher, qw)
        return TermResults([], 0, dict(facets), page, per_page, suggestion)
    # Rerank the head by how well the best label covers the query, then paginate.
    head = []
    for tier, score, docnum in ranked[: page * per_page + 10]:
        stored = docs[docnum]
        label, fit, cover = _best_label(stored["data"]["labels"], qw)
        rank = score * (1 + fit / 2) * (1 + cover / 4)
        head.append((tier, rank, score, docnum, stored, label, fit))
    head.sort(key=lambda h: (-h[0], -h[1], h[3]))
    page_rows = head[(page - 1) * per_page : page * per_page]
    matches = _word_matcher(qw)
    hits = []
    for _tier, score, _raw, _docnum, stored, label, fit in page_rows:
        matched = fit > 0
        hits.append(
            TermHit(
                slug=stored["slug"],
                name=stored["name"],
                type=stored["type"],
                score=round(score, 4),
                matched_label=label[0] if matched else None,
                label_kind=label[1] if matched else "definition",
                label_note=label[2] if matched else None,
                snippet_html=_highlight(stored["data"].get("definition") or "", matches),
                mention_count=mentions.get(stored["tid"], 0),
                hangul=stored["data"].get("hangul"),
            )
        )
    return TermResults(hits, len(ranked), dict(facets), page, per_page)


def _did_you_mean(searcher: object, qw: _QueryWords) -> str | None:
    """A spelling of the query that finds something, from the words of the labels."""
    cache = _term_cache(searcher)
    fixed, changed = [], False
    for w in qw.words:
        options = cache.near(w, 2 if len(w) >= 5 else 1) - {w} if len(w) > 3 else set()
        if options:
            fixed.append(min(options, key=lambda o: (abs(len(o) - len(w)), o)))
            changed = True
        else:
            fixed.append(w)
    if not changed:
        return None
    better = _query_words(cache, searcher.reader(), fixed)
    results = searcher.search(_term_query(better, " ".join(fixed), cache.words), limit=1)
    if not results:
        return None
    label, _, _ = _best_label(cache.docs[results.docnum(0)]["data"]["labels"], better)
    return label[0]


# --- suggest ----------------------------------------------------------------------------------


def suggest(
    store: Store,
    index_dir: str | Path,
    prefix: str,
    *,
    limit: int = 10,
    type: str | None = None,
) -> list[Suggestion]:
    """Terms whose labels start with what was typed (from two characters), best first."""
    limit = min(max(1, int(limit)), 50)
    text = clean_query(prefix)[:200]
    key = compact(text)
    qwords = words(text)[:MAX_TERM_WORDS]
    if len(key) < 2:
        return []
    try:
        searcher = _searcher(index_dir, "terms")
    except (_NoIndex, OSError, whoosh_index.EmptyIndexError):
        return []
    docs = _term_cache(searcher).docs
    mentions = _popularity(index_dir)
    found: list[Suggestion] = []
    seen: set[int] = set()
    # Whole labels starting with the prefix first, then labels whose words start with its words;
    # within each, the most mentioned terms first.
    rwords = [romkey(w) for w in qwords]
    rkey = "".join(rwords)
    queries = [Or([Term("lprefix", key[:LABEL_PREFIX]), Term("lprefix", rkey[:LABEL_PREFIX])])]
    if qwords:
        queries.append(
            And(
                [
                    Or([Term("wprefix", w[:20]), Term("wprefix", r[:20])])
                    for w, r in zip(qwords, rwords, strict=True)
                ]
            )
        )
    for tier, query in enumerate(queries):
        if type:
            query = And([query, Term("type", type)])
        hits = [d for d in searcher.docs_for_query(query) if d not in seen]
        if tier == 0 and max(len(key), len(rkey)) > LABEL_PREFIX:  # the index has only the start
            labels = [docs[d]["data"]["labels"] for d in hits]
            hits = [d for d, lb in zip(hits, labels, strict=True)
                    if _suggested_label(lb, key, rkey, qwords, 0)]  # fmt: skip
        # The most mentioned, then the shortest names, are the candidates worth ranking.
        hits = heapq.nsmallest(
            limit * 3,
            hits,
            key=lambda d: (-mentions.get(docs[d]["tid"], 0), len(docs[d]["name"]), d),
        )
        ranked = []
        for docnum in hits:
            label = _suggested_label(docs[docnum]["data"]["labels"], key, rkey, qwords, tier)
            if label is not None:
                stored = docs[docnum]
                kind = KIND_ORDER.get(label[1], 9)
                count = mentions.get(stored["tid"], 0)
                ranked.append((-count, kind, len(label[0]), docnum, label))
        for *_, docnum, label in sorted(ranked):
            if len(found) < limit:
                stored = docs[docnum]
                found.append(Suggestion(stored["slug"], stored["name"], stored["type"], *label[:2]))
                seen.add(docnum)
        if len(found) >= limit:
            break
    return found


def _suggested_label(
    labels: list, key: str, rkey: str, qwords: list[str], tier: int
) -> list | None:
    """The label a prefix matched: the whole label (tier 0) or each of its words (tier 1)."""
    best = None
    for label in labels:
        if label[1] == "hidden":
            continue
        if tier == 0:
            ok = any(k.startswith(key) for k in label[3]) or any(
                k.startswith(rkey) for k in label[5]
            )
        else:
            roms = {romkey(x) for x in label[4]}
            ok = all(
                any(x.startswith(w) for x in label[4]) or any(x.startswith(romkey(w)) for x in roms)
                for w in qwords
            )
        if ok and (best is None or KIND_ORDER.get(label[1], 9) < KIND_ORDER.get(best[1], 9)):
            best = label
    return best


# --- article search ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _ParsedQuery:
    include: list[list[str]]  # each: the analyzed words of a word or a quoted phrase
    exclude: list[list[str]]


_CLAUSE = re.compile(r'(-?)"([^"]*)"?|(-?)([^\s"]+)')


def _analyze(text: str) -> list[str]:
    return prose_words(text)


def parse_article_query(q: str) -> _ParsedQuery:
    """Words, "quoted phrases" and -exclusions of a user's string; everything else is text."""
    include: list[list[str]] = []
    exclude: list[list[str]] = []
    for m in _CLAUSE.finditer(clean_query(q)):
        if len(include) + len(exclude) >= MAX_ARTICLE_CLAUSES:
            break
        negated, body = (m.group(1), m.group(2)) if m.group(2) is not None else m.group(3, 4)
        tokens = _analyze(body)
        if tokens:
            (exclude if negated else include).append(tokens)
    return _ParsedQuery(include, exclude)


def _date_key(value: str | None, end: bool) -> int | None:
    if not value:
        return None
    m = re.fullmatch(r"(\d{4})(?:-(\d{2}))?(?:-(\d{2}))?", value.strip())
    if not m:
        raise ValueError(f"not a date (YYYY, YYYY-MM or YYYY-MM-DD): {value!r}")
    year, month, day = m.group(1), m.group(2), m.group(3)
    return int(year + (month or ("12" if end else "01")) + (day or ("31" if end else "01")))


def search_articles(
    store: Store,
    index_dir: str | Path,
    q: str,
    *,
    terms: Sequence[str] = (),
    term_type: str | None = None,
    source: str | None = None,
    date_from: str | None = None,
    date_to: str | None = None,
    sort: str = "relevance",
    page: int = 1,
    per_page: int = 20,
) -> ArticleResults:
    """Articles for words, phrases and exclusions, filtered and faceted (ValueError for a date
    that is not YYYY, YYYY-MM or YYYY-MM-DD)."""
    started = time.monotonic()
    page, per_page = max(1, int(page)), min(max(1, int(per_page)), 100)
    empty = ArticleResults([], 0, _no_facets(), page, per_page)
    lo, hi = _date_key(date_from, False), _date_key(date_to, True)
    parsed = parse_article_query(q)
    if not parsed.include and clean_query(q) and not parsed.exclude:
        return empty  # only stop words or punctuation
    try:
        searcher = _searcher(index_dir, "articles")
    except (_NoIndex, OSError, whoosh_index.EmptyIndexError):
        log.warning("article search: no index in %s", index_dir)
        return empty
    filters = [("terms", s) for s in terms if s]
    filters += [("ttypes", term_type)] if term_type else []
    filters += [("source", source)] if source else []
    # Pages of one query come one after another: keep the matches of the last few queries.
    recent = _per_searcher("article-queries", searcher, lambda _s: {})
    key = repr((parsed, filters, lo, hi))
    found = recent.get(key)
    if found is None:
        found = _Matches(searcher, parsed, filters, lo, hi)
        if len(recent) >= 16:
            recent.pop(next(iter(recent)))
        recent[key] = found
    need = page * per_page
    by_date = sort == "date" or not parsed.include
    found.deadline = started + TIME_LIMIT - ANSWER_RESERVE  # phrase checks share the bound
    top = found.newest(need) if by_date else found.best(need)
    top = top[(page - 1) * per_page :]
    stored = [(score, searcher.stored_fields(d)) for score, d in top]
    texts = _article_texts(store, [int(s["aid"]) for _, s in stored])
    matches = _stem_matcher(parsed.include) if parsed.include else None
    candidates = _candidates(t for tokens in parsed.include for t in tokens)
    hits = [
        ArticleHit(
            id=int(s["aid"]),
            title=s.get("title", ""),
            source=s.get("source"),
            published=s.get("published"),
            score=round(float(score), 4) if not by_date else 0.0,
            snippet_html=_highlight(texts.get(int(s["aid"]), ""), matches, candidates),
        )
        for score, s in stored
    ]
    return ArticleResults(
        hits, found.total, found.facets, page, per_page, found.partial, found.exact
    )


def _idf(searcher: object, field: str, word: str) -> float:
    """whoosh's inverse document frequency, also on an index whose documents are all deleted or
    not yet there (whoosh's own takes the log of zero then)."""
    documents = searcher.doc_count_all()
    return math.log(max(documents, 1) / (searcher.doc_frequency(field, word) + 1)) + 1


class _Matches:
    """The articles matching a parsed query, found with array operations on whole posting lists
    (numpy) instead of whoosh's matchers (a posting at a time in Python, and then scoring every
    match: 10-20 times slower on common words), with their scores, count and facets.

    The count is exact, except for quoted phrases with more than PHRASE_CHECKS candidates, which
    are checked on an even sample; facets count at most FACET_SAMPLE matches spread evenly over
    the index and scale up (facets["approximate"] says so)."""

    def __init__(
        self,
        searcher: object,
        parsed: _ParsedQuery,
        filters: list[tuple[str, str]],
        lo: int | None,
        hi: int | None,
    ) -> None:
        self.columns: _ArticleColumns = _per_searcher("articles", searcher, _ArticleColumns)
        leaves = _leaves(searcher)
        size = searcher.doc_count_all()
        self.partial = False
        deadline = self.deadline = time.monotonic() + TIME_LIMIT
        sets: list[_Postings] = []
        weighted: list[tuple[float, _Postings]] = []
        words_ = [w for tokens in parsed.include for w in dict.fromkeys(tokens)]
        for word in dict.fromkeys(words_):
            if sets and time.monotonic() > deadline:
                self.partial = True  # the matches of the words read so far
                break
            postings = _postings(leaves, "text", word)
            sets.append(postings)
            weighted.append((_idf(searcher, "text", word), postings))
        sets += [_postings(leaves, field, value) for field, value in filters]
        excluded = [_postings(leaves, "text", t[0]).ids for t in parsed.exclude if len(t) == 1]
        # Every document in a range of dates: taken in date order, never sorted.
        self.everything = (lo, hi) if not sets and not excluded else None
        if self.everything is not None:
            self.docnums = np.array(self.columns.dated(lo, hi), dtype=np.int64)
        else:
            if sets:
                sets.sort(key=len)
                matched = sets[0].ids
                for other in sets[1:]:
                    matched = matched[_mask(size, other.ids)[matched]]
                if lo is not None or hi is not None:
                    dates = self.columns.date_array[matched]
                    matched = matched[(dates >= (lo or 0)) & (dates <= (hi or 99999999))]
            else:
                matched = np.sort(np.array(self.columns.dated(lo, hi), dtype=np.int64))
            for ids in excluded:
                matched = matched[~_mask(size, ids)[matched]]
            pairs = [word_hashes(t) for t in parsed.include if len(t) > 1]
            if pairs and len(matched):
                matched = _narrow_to_pairs(searcher, matched, pairs)
            self.docnums = matched
        self.scores = self._scores(searcher, leaves, parsed, weighted) if weighted else None
        phrases = ([word_hashes(t) for t in parsed.include if len(t) > 1],
                   [word_hashes(t) for t in parsed.exclude if len(t) > 1])  # fmt: skip
        self.check = _Phrases(searcher, *phrases) if any(phrases) else None
        if self.check is not None and self.everything is not None:
            self.everything, self.docnums = None, np.sort(self.docnums)
        self.total, self.exact, sample = self._count()
        self.facets = self.columns.facets(sample, self.total, self.exact)

    def _scores(
        self,
        searcher: object,
        leaves: list[tuple[object, int]],
        parsed: _ParsedQuery,
        weighted: list[tuple[float, _Postings]],
    ) -> np.ndarray:
        """BM25 of each match: its words' weights times their idf, plus a title bonus (twice the
        title's score) for each word or phrase whose words are all in the title."""
        docnums, size = self.docnums, searcher.doc_count_all()
        scores = np.zeros(len(docnums))
        for idf, postings in weighted:
            scores += idf * postings.dense(size)[docnums]
        for tokens in parsed.include:
            in_title = np.ones(len(docnums), dtype=bool)  # every word of the clause in the title
            sums = np.zeros(len(docnums))
            for word in dict.fromkeys(tokens):
                title = _postings(leaves, "title", word)
                in_title &= _mask(size, title.ids)[docnums]
                if not in_title.any():
                    break
                sums += 2.0 * _idf(searcher, "title", word) * title.dense(size)[docnums]
            else:
                scores += np.where(in_title, sums, 0.0)
        return scores

    def _count(self) -> tuple[int, bool, list[int]]:
        """The number of matches, whether it is exact, and the matches facets count."""
        docnums, check = self.docnums, self.check
        if check is not None:
            if len(docnums) <= PHRASE_CHECKS:
                keep = np.fromiter(map(check, docnums.tolist()), dtype=bool, count=len(docnums))
                self.docnums = docnums = docnums[keep]
                if self.scores is not None:
                    self.scores = self.scores[keep]
                self.check = None
            else:
                sample = _spread(docnums, PHRASE_CHECKS)
                kept = [d for d in sample if check(d)]
                total = _about(len(docnums) * len(kept) / len(sample))
                return total, False, _spread(kept, FACET_SAMPLE)
        return len(docnums), True, _spread(docnums, FACET_SAMPLE)

    def best(self, n: int) -> list[tuple[float, int]]:
        """The n best (score, docnum), best first (the first indexed first on a tie)."""
        if self.scores is None:
            return self.newest(n)
        scores, docnums = self.scores, self.docnums

        def top(k: int) -> list[tuple[float, int]]:
            chosen = _top(scores, docnums, k)
            return list(zip(scores[chosen].tolist(), docnums[chosen].tolist(), strict=True))

        return self._checked(top, n, key=lambda r: r[1])

    def newest(self, n: int) -> list[tuple[float, int]]:
        """The n newest (0.0, docnum), newest first (the first indexed first on a tie)."""
        columns = self.columns
        if self.everything is not None:  # every document in a range of dates

            def top(k: int) -> list[int]:
                return columns.newest(*self.everything, k)
        else:
            docnums = self.docnums
            dates = columns.date_array[docnums]

            def top(k: int) -> list[int]:
                return docnums[_top(dates, docnums, k)].tolist()

        return [(0.0, d) for d in self._checked(top, n)]

    def _checked(self, top: Callable[[int], list], n: int, key: Callable = lambda x: x) -> list:
        """The first n of top(k) that pass the phrase check, asking for more as needed, within
        the time bound (a phrase of common words that are rarely side by side has every one of
        their shared documents checked: past the bound, what was found, and partial)."""
        if self.check is None:
            return top(n)
        deadline = self.deadline
        verdicts: dict[int, bool] = {}
        k = 2 * n
        while True:
            ranked = top(k)
            kept = []
            for r in ranked:
                d = key(r)
                ok = verdicts.get(d)
                if ok is None:
                    if not len(verdicts) & 63 and time.monotonic() > deadline:
                        self.partial = True
                        return kept
                    ok = verdicts[d] = self.check(d)
                if ok:
                    kept.append(r)
                    if len(kept) == n:
                        return kept
            if len(ranked) < k:
                return kept
            k *= 4


def _top(keys: np.ndarray, docnums: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k largest keys, largest first; on a tie the smaller document number
    first (docnums ascend, except in date order where ties never matter)."""
    if k <= 0 or not len(keys):
        return np.zeros(0, dtype=np.int64)
    if k < len(keys):
        kth = np.partition(keys, len(keys) - k)[len(keys) - k]  # the k-th largest
        above = np.flatnonzero(keys > kth)
        tied = np.flatnonzero(keys == kth)[: k - len(above)]
        chosen = np.concatenate((above, tied))
    else:
        chosen = np.arange(len(keys))
    return chosen[np.lexsort((docnums[chosen], -keys[chosen]))]


def _mask(size: int, ids: np.ndarray) -> np.ndarray:
    """A boolean array over the document numbers of an index, true at ids."""
    mask = np.zeros(size, dtype=bool)
    mask[ids] = True
    return mask


def _spread(items: Sequence[int] | np.ndarray, n: int) -> list[int]:
    """At most n of the items, evenly spread."""
    if len(items) > n:
        step = len(items) / n
        items = [items[int(i * step)] for i in range(n)]
    return items.tolist() if isinstance(items, np.ndarray) else [int(d) for d in items]


def _about(x: float) -> int:
    """x to two significant figures (an estimate should not look exact)."""
    if x < 100:
        return round(x)
    return int(round(x, 2 - len(str(int(x)))))


@dataclass(frozen=True)
class _Postings:
    """The live documents of a term, ascending, and their weights."""

    ids: np.ndarray  # int64
    weights: np.ndarray  # float64

    def __len__(self) -> int:
        return len(self.ids)

    def dense(self, size: int) -> np.ndarray:
        """The weights as an array over the document numbers of the index (0 where absent)."""
        out = np.zeros(size)
        out[self.ids] = self.weights
        return out


def _postings(leaves: list[tuple[object, int]], field: str, text: str) -> _Postings:
    """The documents of a term (deleted ones left out) with their weights."""
    ids: list[np.ndarray] = []
    weights: list[np.ndarray] = []
    for segreader, offset in leaves:
        _segment_postings(segreader, offset, field, text, ids, weights)
    if not ids:
        return _Postings(np.zeros(0, dtype=np.int64), np.zeros(0))
    return _Postings(np.concatenate(ids), np.concatenate(weights))


def _segment_postings(
    segreader: object, offset: int, field: str, text: str, ids: list, weights: list
) -> None:
    """Add a term's live postings in one segment (document numbers from offset), from the
    worker's cache of long posting lists or decoded now."""
    if (field, text) not in segreader:
        return
    key = (*_segment_key(segreader), field, text)
    cached = _POSTINGS.get(key)
    if cached is None:
        cached = _decode_postings(segreader, field, text)
        _POSTINGS.put(key, cached)
    found, found_weights = cached
    if segreader.segment().has_deletions():
        deleted = np.fromiter(segreader.segment().deleted_docs(), dtype=np.int64)
        live = ~np.isin(found, deleted)
        found, found_weights = found[live], found_weights[live]
    ids.append(np.add(found, offset, dtype=np.int64))
    weights.append(found_weights)


def _decode_postings(segreader: object, field: str, text: str) -> tuple[np.ndarray, np.ndarray]:
    """A term's postings in one segment, deleted documents included: its blocks read as whole
    tuples and converted at once (whoosh's W3LeafMatcher otherwise decodes them one by one:
    pinned by tests/test_whoosh_behaviour.py)."""
    m = segreader.postings(field, text)
    if isinstance(m, FilterMatcher):  # the segment has deletions
        m = m.child
        m.reset()
    if isinstance(m, W3LeafMatcher):
        id_blocks, weight_blocks = [], []
        while True:
            m._read_data()
            deltas, w = m._data[0], m._data[1]
            id_blocks.append(deltas)  # each block's first is its id, the others steps
            weight_blocks.append(repeat(w or 1.0, len(deltas)) if w is None or
                                 isinstance(w, float) else w)  # fmt: skip
            if m._lastblock:
                break
            m._goto(m._nextoffset)
        lengths = np.fromiter(map(len, id_blocks), dtype=np.int64, count=len(id_blocks))
        n = int(lengths.sum())
        steps = np.fromiter(chain.from_iterable(id_blocks), dtype=np.int64, count=n)
        found = np.cumsum(steps)
        if len(id_blocks) > 1:  # each block's ids start again from zero
            starts = np.cumsum(lengths)[:-1]
            found -= np.repeat(np.concatenate(([0], found[starts - 1])), lengths)
        found_weights = np.fromiter(chain.from_iterable(weight_blocks), dtype=np.float64,
                                    count=n)  # fmt: skip
    else:
        pairs = []
        while m.is_active():
            pairs.append((m.id(), m.weight()))
            m.next()
        found = np.array([p[0] for p in pairs], dtype=np.int64)
        found_weights = np.array([p[1] for p in pairs], dtype=np.float64)
    return found.astype(np.int32), found_weights


class _PostingsCache:
    """Decoded posting lists of at least POSTINGS_CACHE_MIN documents, by segment, field and
    word, shared by a worker's searchers (a segment never changes; deletions are applied on
    each read), the least recently used dropped past POSTINGS_CACHE_BYTES. At 200,000 articles
    decoding the lists of common words was more than half the time of an article search."""

    def __init__(self) -> None:
        self.items: OrderedDict[tuple, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self.used = 0
        self.lock = threading.Lock()

    def get(self, key: tuple) -> tuple[np.ndarray, np.ndarray] | None:
        """The cached postings of a key, or None."""
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple, value: tuple[np.ndarray, np.ndarray]) -> None:
        """Keep a decoded list if it is long enough to be worth it."""
        size = value[0].nbytes + value[1].nbytes
        if len(value[0]) < POSTINGS_CACHE_MIN or size > POSTINGS_CACHE_BYTES // 8:
            return
        with self.lock:
            if key in self.items:
                return
            self.items[key] = value
            self.used += size
            while self.used > POSTINGS_CACHE_BYTES:
                _, (ids, weights) = self.items.popitem(last=False)
                self.used -= ids.nbytes + weights.nbytes

    def clear(self) -> None:
        """Forget everything (tests, and a worker's searchers closing)."""
        with self.lock:
            self.items.clear()
            self.used = 0


_POSTINGS = _PostingsCache()


class _Phrases:
    """Which documents of an articles searcher have every included phrase and no excluded one,
    from the word sequence column of each segment."""

    def __init__(self, searcher: object, include: list[bytes], exclude: list[bytes]) -> None:
        self.include, self.exclude = include, exclude
        self.segments = _segment_maps(searcher)
        self.offsets = [offset for offset, _ in self.segments]

    def __call__(self, docnum: int) -> bool:
        offset, maps = self.segments[bisect.bisect_right(self.offsets, docnum) - 1]
        sequence = maps.sequence(docnum - offset)
        return all(has_phrase(sequence, p) for p in self.include) and not any(
            has_phrase(sequence, p) for p in self.exclude
        )


def _narrow_to_pairs(searcher: object, docnums: np.ndarray, phrases: list[bytes]) -> np.ndarray:
    """The docnums (ascending) whose pair filters may hold every adjacent pair of every phrase
    (the others lack at least one of them for certain)."""
    segments = _segment_maps(searcher)
    starts = np.array([offset for offset, _ in segments], dtype=np.int64)
    bounds = np.searchsorted(docnums, np.append(starts[1:], np.iinfo(np.int64).max))
    keep = np.ones(len(docnums), dtype=bool)
    lo = 0
    for (offset, maps), hi in zip(segments, bounds.tolist(), strict=True):
        if lo < hi:
            keep[lo:hi] = maps.may_have_pairs(docnums[lo:hi] - offset, phrases)
        lo = hi
    return docnums[keep]


def _big_endian(typecode: str) -> np.dtype:
    """The numpy type of a big-endian array written by whoosh with an array typecode."""
    return np.dtype(f">{'i' if typecode.islower() else 'u'}{array(typecode).itemsize}")


class _SegmentMaps:
    """One segment's word sequences and pair filters (its "sequence" and "pairs" columns), read
    through memory maps of their files: the pages are the page cache's, shared by the workers,
    and a searcher opened after a sync reuses the maps of the segments it shares with the last
    one. (whoosh's column reader derived a segment's offsets a document at a time in Python,
    about a millisecond per thousand articles, again in every new searcher, and then read each
    sequence with a seek and a buffered read.)"""

    def __init__(self, segreader: object) -> None:
        doccount = segreader.doc_count_all()
        self.words = _column_bytes(segreader, "sequence")
        offsets, lengths = _var_bytes_index(self.words, doccount)
        self.offsets, self.lengths = array("q", offsets.tobytes()), array("q", lengths.tobytes())
        width = segreader.schema["pairs"].column_type._fixedlen
        pairs = _column_bytes(segreader, "pairs")
        count = min(len(pairs) // width, doccount)  # later documents: the default, no pairs
        self.pairs = np.frombuffer(pairs, dtype=np.uint8, count=count * width).reshape(count, width)

    def sequence(self, docnum: int) -> bytes:
        """A document's word_hashes()."""
        start = self.offsets[docnum]
        return self.words[start : start + self.lengths[docnum]]

    def may_have_pairs(self, docnums: np.ndarray, phrases: list[bytes]) -> np.ndarray:
        """For each docnum of the segment, whether its filter has the bits of every pair."""
        filters = self.pairs
        inside = docnums < len(filters)
        rows = np.where(inside, docnums, 0)
        keep = inside.copy()
        nbits = filters.shape[1] * 8
        for bit in np.unique(np.concatenate([pair_bits(p, nbits) for p in phrases])).tolist():
            keep &= (filters[rows, bit >> 3] & (1 << (bit & 7))) != 0
        return keep


_MAPS: dict[tuple[str, str], _SegmentMaps] = {}
_MAPS_LOCK = threading.Lock()


def _segment_maps(searcher: object) -> list[tuple[int, _SegmentMaps]]:
    """The maps of each segment of an articles searcher, with its first document number."""

    def build(searcher: object) -> list[tuple[int, _SegmentMaps]]:
        out, keys = [], set()
        for segreader, offset in _leaves(searcher):
            key = _segment_key(segreader)
            maps = _MAPS.get(key)
            if maps is None:
                maps = _SegmentMaps(segreader)
                with _MAPS_LOCK:
                    _MAPS[key] = maps
            out.append((offset, maps))
            keys.add(key)
        _keep_only(_MAPS, _MAPS_LOCK, keys)
        return out

    return _per_searcher("segment-maps", searcher, build)


def _keep_only(cache: dict, lock: threading.Lock, keys: set) -> None:
    """Forget the segments the newest searcher no longer has (merged away, or of an older
    generation): searchers still open keep what they use, and the memory, and the space of
    the deleted files a map holds, is freed when they close."""
    with lock:
        for key in [k for k in cache if k not in keys]:
            del cache[key]


def _column_bytes(segreader: object, field: str) -> bytes | mmap.mmap:
    """The bytes of a segment's column file: a read-only memory map when the segment is a
    folder's files (as this service writes them), else a copy."""
    storage = segreader.storage()
    name = W3Codec.column_filename(segreader.segment(), field)
    folder = getattr(storage, "folder", None)
    if folder and os.path.exists(os.path.join(folder, name)):
        with open(os.path.join(folder, name), "rb") as fh:
            if not os.fstat(fh.fileno()).st_size:
                return b""
            return mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    if not storage.file_exists(name):
        return b""
    column = storage.open_file(name)
    try:
        return column.read()
    finally:
        column.close()


def _var_bytes_index(data: bytes | mmap.mmap, doccount: int) -> tuple[np.ndarray, np.ndarray]:
    """The offsets and lengths of a whoosh VarBytesColumn's values: its lengths (and, for a
    large column, offsets) are arrays at its end, big-endian, their type codes in its last
    bytes."""
    if not len(data) or not doccount:
        return np.zeros(doccount, dtype=np.int64), np.zeros(doccount, dtype=np.int64)
    last = len(data) - 1
    code, offsets = chr(data[last]), None
    if code == "X":  # offsets written too: "<lengths code><offsets code>X"
        code, offsets_code = chr(data[last - 2]), chr(data[last - 1])
        start = last - 2 - doccount * array(offsets_code).itemsize
        offsets = np.frombuffer(data, _big_endian(offsets_code), doccount, start)
        last = start
    start = last - doccount * array(code).itemsize
    lengths = np.frombuffer(data, _big_endian(code), doccount, start).astype(np.int64)
    if offsets is None:
        offsets = np.cumsum(lengths) - lengths
    return offsets.astype(np.int64), lengths


def _stem_matcher(include: list[list[str]]) -> Callable[[str], bool]:
    wanted = {t for tokens in include for t in tokens}
    heads = {t[:2] for t in wanted}

    def matches(raw: str) -> bool:
        low = raw[:2].lower()
        if low not in heads and raw.isascii():
            return False
        return stem(norm_token(raw)) in wanted

    return matches


def _article_texts(store: Store, ids: list[int]) -> dict[int, str]:
    if not ids:
        return {}
    with store.read() as session:
        rows = session.execute(select(Article.id, Article.text).where(Article.id.in_(ids)))
        return {aid: text for aid, text in rows}


_FACET_CACHE: dict[tuple[str, str], tuple[list, list, list, list, list]] = {}
_FACET_LOCK = threading.Lock()


def _segment_columns(segreader: object) -> tuple[list, list, list, list, list, np.ndarray]:
    """Per-document source, date and cited slugs of one segment, its document numbers by date
    (oldest first, the last indexed first on a tie), their dates, and the dates as an array
    (cached: segments never change; deleted documents keep their values but never match).
    Sources and slugs are shared strings: at 200,000 articles, a string per article and slug
    was a sixth of a worker's memory."""
    key = _segment_key(segreader)
    cached = _FACET_CACHE.get(key)
    if cached is None:
        names: dict[str, str] = {}
        sources = [names.setdefault(v, v) for v in segreader.column_reader("source")]
        dates = list(segreader.column_reader("date"))
        slugs = [
            tuple(names.setdefault(v, v) for v in b.decode().split())
            for b in segreader.column_reader("slugs")
        ]
        order = sorted(range(len(dates)), key=lambda d: (dates[d], -d))
        ordered = [dates[d] for d in order]
        cached = (sources, dates, slugs, order, ordered, np.array(dates, dtype=np.int64))
        with _FACET_LOCK:
            _FACET_CACHE[key] = cached
    return cached


def _no_facets() -> dict:
    return {"source": {}, "year": {}, "terms": [], "approximate": False}


class _ArticleColumns:
    """Source, date and cited slugs of every document of an articles searcher, by number, and
    each segment's documents in date order."""

    def __init__(self, searcher: object) -> None:
        self.sources: list[str] = []
        self.dates: list[int] = []
        self.slugs: list[tuple[str, ...]] = []
        self.segments: list[tuple[int, list[int], list[int], set[int]]] = []
        date_arrays: list[np.ndarray] = []
        leaves = _leaves(searcher)
        _keep_only(_FACET_CACHE, _FACET_LOCK, {_segment_key(r) for r, _ in leaves})
        for segreader, offset in leaves:
            sources, dates, slugs, order, ordered_dates, date_array = _segment_columns(segreader)
            date_arrays.append(date_array)
            self.sources.extend(sources)  # leaf readers come in document-number order
            self.dates.extend(dates)
            self.slugs.extend(slugs)
            deleted = set(segreader.segment().deleted_docs())
            self.segments.append((offset, order, ordered_dates, deleted))
        self.date_array = np.concatenate(date_arrays) if date_arrays else np.zeros(0, np.int64)

    def _ranges(self, lo: int | None, hi: int | None) -> Iterator[tuple[int, list[int], set[int]]]:
        for offset, order, ordered_dates, deleted in self.segments:
            i = bisect.bisect_left(ordered_dates, lo) if lo is not None else 0
            j = bisect.bisect_right(ordered_dates, hi) if hi is not None else len(order)
            yield offset, order[i:j], deleted

    def dated(self, lo: int | None, hi: int | None) -> list[int]:
        """Every live document published from lo to hi (either may be None), in date order
        within each segment."""
        out: list[int] = []
        for offset, part, deleted in self._ranges(lo, hi):
            if deleted:
                part = [d for d in part if d not in deleted]
            out.extend(map(offset.__add__, part) if offset else part)
        return out

    def newest(self, lo: int | None, hi: int | None, n: int) -> list[int]:
        """The n newest live documents published from lo to hi, newest first."""
        candidates: list[int] = []
        for offset, part, deleted in self._ranges(lo, hi):
            tail = [d for d in reversed(part[-(n + len(deleted)) :]) if d not in deleted][:n]
            candidates.extend(offset + d for d in tail)
        dates = self.dates
        return heapq.nlargest(n, candidates, key=lambda d: (dates[d], -d))

    def facets(self, sample: list[int], total: int, exact: bool) -> dict:
        """Counts by source and year, and the most cited terms, over the matches: counted on the
        sample of them and scaled up to their total when the sample is not all of them."""
        sources, dates, slugs = self.sources, self.dates, self.slugs
        approximate = not exact or len(sample) < total
        scale = total / len(sample) if approximate and sample else 1.0

        def counted(v: int) -> int:
            return _about(v * scale) if approximate else v

        source_counts = Counter(sources[d] for d in sample).most_common()
        year_counts = Counter(dates[d] // 10000 for d in sample)
        term_counts = Counter(chain.from_iterable(slugs[d] for d in sample)).most_common(10)
        return {
            "source": {k: counted(v) for k, v in source_counts if k},
            "year": {str(k): counted(v) for k, v in sorted(year_counts.items(), reverse=True) if k},
            "terms": [(k, counted(v)) for k, v in term_counts],
            "approximate": approximate,
        }
