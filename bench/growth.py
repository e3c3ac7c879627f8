"""Growing a benchmark store past the real corpus: generated articles stored by the real ingest
path (identities, known-term mentions, discovered candidates, change log, in the ingest's own
batched transactions) and indexed in bulk (parallel whoosh writers, one commit per fill) instead of
by the change-log sync, so that ingest and search can be measured at 50k-200k articles."""

from __future__ import annotations

import json
import resource
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

from sqlalchemy import func, select
from whoosh import index as whoosh_index

from glossary import search
from glossary.articles import ingest_records
from glossary.gazetteer import get_matcher
from glossary.ingest import ArticleRecord, ReadError, read_document
from glossary.models import Article, Change
from glossary.models import Term as TermModel
from glossary.search import sync_indexes
from glossary.search_schema import article_document, counts_document
from glossary.store import Store, last_change

# Each index writer keeps its share of a fill's postings in memory up to this many MB (whoosh's
# estimate; resident memory is about a quarter more): past it, whoosh spills sorted runs to disk
# and merges them in Python at the commit, which made a 14k-article fill cost 45% more CPU per
# article. 3 GB holds the 50k documents per writer of the 100k -> 200k fill.
FILL_LIMITMB = 3072


@dataclass
class FillReport:
    """What one bulk fill did and where its time went (seconds)."""

    articles: int = 0
    seconds: float = 0.0
    cpu_s: float = 0.0  # this process and its index writers
    writers_cpu_s: float = 0.0  # of which the index writer processes
    store_s: float = 0.0  # the real ingest path: read, match, discover, store
    document_s: float = 0.0  # rows read back as sync reads them, documents handed to writers
    commit_s: float = 0.0  # waiting for the writers to finish their segments
    counts_s: float = 0.0  # mention counts per term rewritten
    procs: int = 1
    segments: int = 0  # article-index segments after the fill

    @property
    def rate(self) -> float:
        """Articles per second of wall time."""
        return self.articles / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        """One line: rate, CPU per article and where the wall time went."""
        n = max(self.articles, 1)
        return (
            f"{self.articles:,} articles in {self.seconds:.0f} s = {self.rate:.0f}/s "
            f"({self.cpu_s / n * 1000:.1f} ms CPU per article, "
            f"{self.writers_cpu_s / n * 1000:.1f} of them in {self.procs} index writer "
            f"processes); wall: ingest path {self.store_s:.0f} s, documents "
            f"{self.document_s:.0f} s, writers finishing {self.commit_s:.0f} s, counts "
            f"{self.counts_s:.0f} s; {self.segments} article-index segments after"
        )


def article_count(store: Store) -> int:
    """How many articles the store holds."""
    with store.read() as s:
        return s.scalar(select(func.count(Article.id))) or 0


def read_records(records: Iterable[dict]) -> Iterator[ArticleRecord | ReadError]:
    """Generated records as `glossary ingest` reads a JSON Lines file of them."""
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    yield from read_document(data, "growth.jsonl")


def _cpu() -> tuple[float, float]:
    """CPU seconds of this process and of its finished child processes."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


# search.py's private helpers (until it has a bulk entry point) are imported where they are used,
# so that a change to them fails the growth section alone, not the whole suite at import.


def _articles_index(index_dir: Path) -> tuple[Path, object]:
    from glossary.search import _current

    gen = _current(Path(index_dir))
    if gen is None:
        raise RuntimeError(f"no index in {index_dir}")
    return gen, whoosh_index.open_dir(str(gen / "articles"))


def bulk_fill(
    store: Store,
    index_dir: Path,
    records: Iterable[dict],
    *,
    procs: int = 2,
    chunk: int = 5000,
    limitmb: int = FILL_LIMITMB,
) -> FillReport:
    """Store generated articles through the real ingest path, add them to the articles index in
    one commit (procs parallel writers, their segments kept as they are), rewrite the per-term
    mention counts, and move the index state past the fill's change-log rows (as a reindex
    does), so that the next sync sees only what comes after."""
    from glossary.search import _add, _article_rows, _read_state, _write_state

    report = FillReport(procs=procs)
    t_start, cpu_start = time.perf_counter(), _cpu()
    sync_indexes(store, index_dir, lock_timeout=600)
    gen, ix = _articles_index(index_dir)
    with store.read() as s:
        seq = last_change(s)
    state = _read_state(gen)
    if min(state["terms"], state["articles"]) < seq:
        raise RuntimeError(f"the index in {index_dir} has not caught up with the change log")
    with ix.searcher() as searcher:
        documents = searcher.doc_count()
    if procs > 1:
        writer = ix.writer(procs=procs, multisegment=True, limitmb=limitmb, batchsize=200,
                           **search.ARTICLES_WRITER)  # fmt: skip
    else:
        writer = ix.writer(limitmb=limitmb, **search.ARTICLES_WRITER)
    try:
        source = iter(records)
        while batch := list(islice(source, chunk)):
            t0 = time.perf_counter()
            rep = ingest_records(store, read_records(batch), lambda: get_matcher(store))
            if rep.failed or rep.new != rep.total:
                raise RuntimeError(f"fill: {rep.summary()}: {rep.errors[:3]}")
            t1 = time.perf_counter()
            with store.read() as s:
                for row in _article_rows(s, rep.ids):
                    _add(writer, article_document(row))
            report.store_s += t1 - t0
            report.document_s += time.perf_counter() - t1
            report.articles += rep.new
        t2 = time.perf_counter()
        writer.commit(merge=False)
        report.commit_s = time.perf_counter() - t2
    except BaseException:
        # MpWriter.cancel() does not reach its processes (it flags the parent's copies of them)
        for task in getattr(writer, "tasks", []):
            task.terminate()
        writer.cancel()
        raise
    with whoosh_index.open_dir(str(gen / "articles")).searcher() as searcher:
        # a writer process that died would leave its documents out without an error
        if searcher.doc_count() != documents + report.articles:
            raise RuntimeError(f"the articles index has {searcher.doc_count():,} documents, "
                               f"not {documents + report.articles:,}")  # fmt: skip
    t3 = time.perf_counter()
    refresh_counts(store, gen)
    report.counts_s = time.perf_counter() - t3
    with store.read() as s:
        end = last_change(s)
        others = s.scalar(
            select(func.count())
            .select_from(Change)
            .where(Change.seq > seq, Change.entity.not_in(("article", "candidate")))
        )
    if others:  # the sync must apply these: leave the state where it was
        raise RuntimeError(f"{others} changes other than the fill's came in during the fill")
    _write_state(gen, {**_read_state(gen), "terms": end, "articles": end, "counts": end,
                       "recount": []})  # fmt: skip
    report.segments = segment_count(index_dir)
    report.seconds = time.perf_counter() - t_start
    cpu_end = _cpu()
    report.writers_cpu_s = cpu_end[1] - cpu_start[1]
    report.cpu_s = cpu_end[0] - cpu_start[0] + report.writers_cpu_s
    return report


def segment_count(index_dir: Path) -> int:
    """How many segments the articles index has (each search visits every one)."""
    _, ix = _articles_index(index_dir)
    with ix.reader() as reader:
        return len(reader.leaf_readers())


def refresh_counts(store: Store, gen: Path) -> None:
    """Rewrite every published term's mention count in the counts index (what sync keeps up to
    date for the terms an ingest touches)."""
    from glossary.search import _mention_counts, _replace

    with store.read() as s:
        ids = s.scalars(select(TermModel.id).where(TermModel.status == "published")).all()
        counts = _mention_counts(s, ids)
    ix = whoosh_index.open_dir(str(gen / "counts"))
    _replace(ix, "tid", set(counts), [list(counts)],
             lambda _chunk: (counts_document(t, n) for t, n in counts.items()), 60.0,
             scan=True)  # fmt: skip
