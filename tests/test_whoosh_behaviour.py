"""Pins the whoosh 2.7.4 behaviour that search relies on: refreshed searchers count exactly after
many small commits and merges, refreshing from an empty index works, posting blocks read directly
give what the matchers give, and two processes can sync one index at once."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest
from whoosh import index
from whoosh.columns import VarBytesColumn
from whoosh.fields import COLUMN, ID, TEXT, Schema
from whoosh.query import Every, Or, Term

from glossary import search
from glossary.search_schema import WeightedWords
from glossary.store import Store
from tests.search_queries import ARTICLES, add_article, load


def schema() -> Schema:
    return Schema(id=ID(stored=True, unique=True), body=TEXT())


def count(searcher: object) -> int:
    return len(searcher.search(Every(), limit=None))


def test_refreshed_searcher_counts_exactly_after_many_commits_and_merges(tmp_path: Path) -> None:
    ix = index.create_in(str(tmp_path), schema())
    searcher = ix.searcher()
    alive: set[str] = set()
    try:
        for n in range(60):
            writer = ix.writer()
            # Replace the way sync does: one delete for the batch's ids, then add each.
            ids = sorted({str(n), str(n // 2)})
            writer.delete_by_query(Or([Term("id", i) for i in ids]))
            for i in ids:
                writer.add_document(id=i, body=f"word{n} common")
            if n % 7 == 3:
                writer.delete_by_term("id", str(n - 3))
                alive.discard(str(n - 3))
            writer.commit(optimize=n % 20 == 19)  # small commits merge; every 20th optimizes
            alive.update(ids)
            searcher = searcher.refresh()
            assert count(searcher) == len(alive) == searcher.doc_count()
            assert len(searcher.search(Term("body", "common"), limit=None)) == len(alive)
    finally:
        searcher.close()


def test_refresh_from_an_empty_index(tmp_path: Path) -> None:
    ix = index.create_in(str(tmp_path), schema())
    searcher = ix.searcher()
    try:
        assert count(searcher) == 0
        with ix.writer() as writer:
            writer.add_document(id="1", body="hello")
        searcher = searcher.refresh()
        assert count(searcher) == 1
        assert searcher.refresh() is searcher  # unchanged index: the same searcher
    finally:
        searcher.close()


@pytest.mark.parametrize("writer_args", [search.WRITER, search.ARTICLES_WRITER],
                         ids=["blocks of 128", "blocks of 4096"])  # fmt: skip
def test_posting_blocks_read_directly_equal_the_matcher(
    tmp_path: Path, writer_args: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Postings read a block at a time, decoded now or from the worker's cache, are what
    whoosh's matcher gives, also after more documents are deleted from a cached segment."""
    monkeypatch.setattr(search, "POSTINGS_CACHE_MIN", 1)
    search.close_searchers()
    ix = index.create_in(str(tmp_path), Schema(id=ID(stored=True, unique=True), w=WeightedWords()))
    for first in (0, 300):  # two segments, of several blocks or of one
        writer = ix.writer(**writer_args)
        for n in range(first, first + 300):
            words = [("common", 0.5 + n % 7 / 10)] + ([("rare", 1.0)] if n % 50 == 0 else [])
            writer.add_document(id=str(n), w=words)
        writer.commit(merge=False)
    expected_counts = {"common": 595, "rare": 10, "absent": 0}
    for deleted, cached in (((0, 5, 127, 128, 350), False), ((), True), ((50, 299, 300), True)):
        writer = ix.writer(**writer_args)
        for n in deleted:
            writer.delete_by_term("id", str(n))
        writer.commit(merge=False)
        expected_counts["common"] -= len(deleted) if cached else 0
        expected_counts["rare"] -= sum(n % 50 == 0 for n in deleted) if cached else 0
        with ix.searcher() as searcher:
            leaves = search._leaves(searcher)
            assert len(leaves) == 2 and searcher.reader().has_deletions()
            assert bool(search._POSTINGS.items) == cached
            for word in ("common", "rare", "absent"):
                expected: list[tuple[int, float]] = []
                for segreader, offset in leaves:
                    if ("w", word) in segreader:
                        m = segreader.postings("w", word)
                        while m.is_active():
                            expected.append((offset + m.id(), m.weight()))
                            m.next()
                postings = search._postings(leaves, "w", word)
                pairs = zip(postings.ids.tolist(), postings.weights.tolist(), strict=True)
                assert list(pairs) == expected
                assert len(postings) == expected_counts[word]
    search.close_searchers()


@pytest.mark.parametrize("documents", [10, 40_000])  # whoosh writes offsets past 32,768
def test_word_sequence_offsets_read_like_whoosh(tmp_path: Path, documents: int) -> None:
    """The offsets and lengths of a variable-length column, read from its file's tail, are
    whoosh's own (empty values and a column with stored offsets included)."""
    ix = index.create_in(str(tmp_path), Schema(id=ID(), seq=COLUMN(VarBytesColumn())))
    writer = ix.writer(**search.ARTICLES_WRITER)
    for n in range(documents):
        writer.add_document(id=str(n), seq=b"ab" * (n % 5) + b"c" * (n % 3))
    writer.commit()
    with ix.searcher() as searcher:
        ((segreader, _),) = search._leaves(searcher)
        whoosh_reader = segreader.column_reader("seq")
        data = search._column_bytes(segreader, "seq")
        offsets, lengths = search._var_bytes_index(data, documents)
        for n in (0, 1, 2, 3, 4, documents // 2, documents - 1):
            start, size = int(offsets[n]), int(lengths[n])
            assert bytes(data[start : start + size]) == whoosh_reader[n], n
        assert int(lengths.sum()) == sum(len(v) for v in whoosh_reader)


@pytest.fixture
def store(tmp_path: Path):
    """A store with the test glossary and articles, indexed."""
    st = Store(f"sqlite:///{tmp_path / 'g.db'}")
    st.migrate()
    load(st)
    search.ensure_indexes(st, tmp_path / "index")
    yield st
    search.close_searchers()
    st.dispose()


def test_searcher_follows_many_syncs(store: Store, tmp_path: Path) -> None:
    index_dir = tmp_path / "index"
    for n in range(55):
        with store.write() as session:
            add_article(session, 1000 + n, ("KCNA", "2024-01-01", f"Note {n}", "Plain note."), [])
        search.sync_indexes(store, index_dir)
        results = search.search_articles(store, index_dir, "", per_page=1)
        assert results.total == len(ARTICLES) + n + 1
        assert search.search_articles(store, index_dir, "plain note").total == n + 1


def _write_and_sync(url: str, index_dir: str, first: int, barrier: object) -> tuple[str, int]:
    st = Store(url)
    barrier.wait(timeout=60)
    applied = 0
    try:
        for n in range(first, first + 20):
            with st.write() as session:
                add_article(session, n, ("Yonhap", "2024-02-02", f"Item {n}", "Shared words."), [])
            report = search.sync_indexes(st, index_dir)
            assert report.status == "ok"
            applied += report.articles
    finally:
        st.dispose()
    return report.status, applied


@pytest.mark.slow
def test_two_processes_sync_at_once(store: Store, tmp_path: Path) -> None:
    index_dir = str(tmp_path / "index")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(2)
        with ctx.Pool(2) as pool:
            runs = [
                pool.apply_async(_write_and_sync, (store.url, index_dir, first, barrier))
                for first in (2000, 3000)
            ]
            results = [r.get(timeout=300) for r in runs]
    assert [status for status, _ in results] == ["ok", "ok"]
    assert sum(applied for _, applied in results) == 40  # each change applied exactly once
    assert search.sync_indexes(store, index_dir).articles == 0
    assert search.search_articles(store, index_dir, "shared words").total == 40
    assert search.index_status(index_dir)["articles"]["docs"] == len(ARTICLES) + 40
