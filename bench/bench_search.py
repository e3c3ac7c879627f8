"""Benchmark of search: reindex time and size, the sync of every article into an index of the
glossary alone (what an ingest does), term search, suggest, article search (against SQLite FTS5
over the same articles as the baseline), incremental sync, and the resident memory of a process
that opens the indexes and searches, printed as a markdown table.

    .venv/bin/python bench/bench_search.py [--corpus /work/shared/corpus] [--limit N] [--no-match]
        [--db PATH/g.db]

Loads the starter glossary (glossary/data/terms/*.jsonl, else the test glossary) and the articles
of corpus/*.jsonl.gz into a store in a temporary directory: through the ingest path with the matcher
(mentions, so facets and popularity are real) unless --no-match, then builds the indexes. --db
copies a store loaded by an earlier run (its path is printed) instead of loading again. Times are
wall-clock and, in brackets, CPU time of this process (the difference is waiting for the machine:
on a shared machine, compare CPU times).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, bench/ is first on the path, and its modules must not shadow the standard ones.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from glossary import search  # noqa: E402
from glossary.models import Article, Label, Term  # noqa: E402
from glossary.store import Store, record_change  # noqa: E402

TERM_QUERIES = [
    "Workers' Party of Korea", "workers party", "WPK", "Korean Workers Party", "조선로동당",
    "Ministry of People's Security", "ministry of peoples security", "Ministry of Socal Security",
    "State Security Department", "KPA", "Korean Peoples Army", "Supreme People's Asembly",
    "National Defense Commission", "KCNA", "Nodong Sinmun", "Pyongyang", "Phyongyang",
    "Pyeongyang", "평양", "Pyongyng", "North Pyongan", "Sinuiju", "Kaesong Industrial Complex",
    "Rajin-Sonbong", "Yongbyon", "Punggye-ri", "Mount Paektu", "Chongjin", "Cheongjin",
    "Ryanggang", "Wonsan", "Byungjin", "Juche", "Chollima", "80-day campaign",
    "8th Party Congress", "Central Committee", "Political Bureau", "Ministry of Foreign Affairs",
    "Kim Il Sung University", "Hamhung", "South Hwanghae", "Kangwon Province", "Nampo",
    "Cabinet", "Organization and Guidance", "Korean Central Television", "Reconnaissance",
]  # fmt: skip
ARTICLE_QUERIES: list[tuple[str, dict]] = [
    ("korea", {}),
    ("kim jong il", {}),
    ("party", {"sort": "date"}),
    ("pyongyang", {}),
    ('"Workers\' Party of Korea"', {}),
    ('"Supreme People\'s Assembly"', {}),
    ('"Korean People\'s Army"', {"sort": "date"}),
    ("nuclear", {}),
    ("nuclear -united", {}),
    ("economy agriculture", {}),
    ("rice harvest farm", {}),
    ("delegation visit china", {}),
    ("japan reactionaries", {}),
    ("south korean puppet", {}),
    ("anniversary birth", {}),
    ("kimilsungia festival", {}),
    ("football match", {}),
    ("floods damage", {}),
    ("satellite launch", {}),
    ("sanctions", {"date_from": "2012-06", "date_to": "2012-12"}),
    ("korea", {"sort": "date", "date_from": "2012"}),
    ("message", {"source": "KCNA"}),
    ("", {"sort": "date"}),
    ("", {"term_type": "place"}),
    ("congratulatory message president", {}),
    ("grand people's study house", {}),
    ('"great leader" -kim', {}),
    ("workers", {"page": 5}),
]


def read_corpus(corpus: Path, limit: int | None) -> list[dict]:
    """The corpus articles, in file order."""
    out: list[dict] = []
    for path in sorted(corpus.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                if line.strip():
                    out.append(json.loads(line))
                    if limit and len(out) >= limit:
                        return out
    return out


def load_glossary(store: Store) -> str:
    """The starter glossary when it is there, else the test glossary."""
    try:
        from glossary.terms import import_terms, load_term_files, starter_files

        files = starter_files()
        if files:
            items, errors = load_term_files(files)
            with store.write() as session:
                import_terms(session, items)
            return f"starter glossary ({len(items)} terms, {len(errors)} errors)"
    except ImportError:
        pass
    from tests.search_queries import GLOSSARY, add_term

    ids: dict[str, int] = {}
    with store.write() as session:
        for entry in sorted(GLOSSARY, key=lambda e: e[3] is not None):
            add_term(session, entry, ids)
    return f"test glossary ({len(GLOSSARY)} terms)"


def load_articles(store: Store, rows: list[dict], match: bool) -> str:
    """Store the corpus articles: through ingest with the matcher, or directly."""
    if match:
        try:
            from glossary.articles import ingest_records
            from glossary.gazetteer import get_matcher
            from glossary.ingest import ArticleRecord

            records = [
                ArticleRecord(
                    text=r["text"],
                    title=r.get("title"),
                    url=r.get("url") or r.get("index_url"),
                    external_id=r.get("id"),
                    source=r.get("source"),
                    published=r.get("date"),
                    origin=r.get("id", ""),
                )
                for r in rows
            ]
            report = ingest_records(store, records, lambda: get_matcher(store))
            return f"ingest with matcher ({report.new} new, {report.failed} failed)"
        except ImportError:
            pass
    import datetime as dt
    import hashlib

    with store.write() as session:
        for r in rows:
            a = Article(
                identity=f"id:{r['id']}",
                external_id=r["id"],
                title=r.get("title"),
                source=r.get("source"),
                published=dt.date.fromisoformat(r["date"]) if r.get("date") else None,
                text=r["text"],
                content_hash=hashlib.sha256(r["text"].encode()).hexdigest(),
            )
            session.add(a)
            session.flush()
            record_change(session, "article", a.id, "upsert")
    return "direct insert, no mentions"


def timed(fn: Callable[[], object], repeat: int = 1) -> list[float]:
    """Milliseconds of each call (wall clock; CPU time goes to CPU under the same key)."""
    out = []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        ms = (time.perf_counter() - t) * 1000
        out.append(ms)
        CPU_LIST.append((ms, (time.process_time() - c) * 1000))
    return out


CPU_LIST: list[tuple[float, float]] = []


def cpu_of(values: list[float]) -> list[float]:
    """The CPU milliseconds of the calls whose wall milliseconds are values."""
    wall = {}
    for ms, cpu in CPU_LIST:
        wall.setdefault(ms, cpu)
    return [wall[v] for v in values]


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def fts5_baseline(db: Path, rows: list[dict]) -> Callable[[str, dict], None]:
    """An FTS5 table over the same articles and a query function with the same shape of work."""
    conn = sqlite3.connect(db)
    conn.execute(
        "CREATE VIRTUAL TABLE a USING fts5(title, text, source UNINDEXED, date UNINDEXED, "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    conn.executemany(
        "INSERT INTO a(title, text, source, date) VALUES (?, ?, ?, ?)",
        [(r.get("title") or "", r["text"], r.get("source"), r.get("date")) for r in rows],
    )
    conn.commit()

    def fts_query(q: str) -> str:
        parts = []
        inside = False
        for chunk in q.split('"'):
            if inside and chunk.strip():
                parts.append('"' + chunk.replace("'", " ") + '"')
            elif not inside:
                for w in chunk.split():
                    w = "".join(c for c in w if c.isalnum() or c == "-")
                    if w.startswith("-") and len(w) > 1:
                        parts.append("NOT " + w[1:])
                    elif w.strip("-"):
                        parts.append(w.strip("-"))
            inside = not inside
        # FTS5 wants NOT after a positive term.
        pos = [p for p in parts if not p.startswith("NOT ")]
        neg = [p for p in parts if p.startswith("NOT ")]
        return " ".join(pos + neg)

    def run(q: str, kw: dict) -> None:
        where, args = [], []
        expr = fts_query(q)
        if expr:
            where.append("a MATCH ?")
            args.append(expr)
        if kw.get("source"):
            where.append("source = ?")
            args.append(kw["source"])
        if kw.get("date_from"):
            where.append("date >= ?")
            args.append(kw["date_from"])
        if kw.get("date_to"):
            where.append("date <= ?")
            args.append(kw["date_to"] + "-31")
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        order = "date DESC" if kw.get("sort") == "date" or not expr else "bm25(a, 2.0, 1.0)"
        offset = (kw.get("page", 1) - 1) * 20
        hits = conn.execute(
            f"SELECT rowid, snippet(a, 1, '<mark>', '</mark>', '…', 24) FROM a {clause} "
            f"ORDER BY {order} LIMIT 20 OFFSET {offset}",
            args,
        ).fetchall()
        conn.execute(f"SELECT count(*) FROM a {clause}", args).fetchone()
        conn.execute(f"SELECT source, count(*) FROM a {clause} GROUP BY source", args).fetchall()
        conn.execute(
            f"SELECT substr(date, 1, 4), count(*) FROM a {clause} GROUP BY 1", args
        ).fetchall()
        del hits

    return run


def bulk_sync(db: Path, work: Path) -> tuple[float, float, int]:
    """Wall and CPU seconds of syncing every article of the store at db into an index of its
    glossary alone (built from a copy without articles, at the change before the first article's),
    and how many articles."""
    with sqlite3.connect(db) as src, sqlite3.connect(work / "bare.db") as dst:
        src.backup(dst)
    with sqlite3.connect(work / "bare.db") as conn:
        first = conn.execute("SELECT min(seq) FROM change WHERE entity = 'article'").fetchone()[0]
        conn.execute("DELETE FROM mention")
        conn.execute("DELETE FROM article")
    bare = Store(f"sqlite:///{work / 'bare.db'}")
    gen = Path(search.reindex(bare, work / "index").path)
    bare.dispose()
    state = json.loads((gen / "state.json").read_text())
    state.update({name: (first or 1) - 1 for name in search.NAMES})
    (gen / "state.json").write_text(json.dumps(state))
    store = Store(f"sqlite:///{db}")
    t, c = time.perf_counter(), time.process_time()
    report = search.sync_indexes(store, work / "index", lock_timeout=600)
    wall, cpu = time.perf_counter() - t, time.process_time() - c
    store.dispose()
    search.close_searchers()
    shutil.rmtree(work / "index")
    return wall, cpu, report.articles


def resident_mb() -> float:
    """This process's resident memory."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def memory_probe(db: Path, index_dir: Path) -> None:
    """Run in a child process: resident memory before the indexes are opened, after article
    searches, and after term searches and suggest, as JSON."""
    store = Store(f"sqlite:///{db}")
    before = resident_mb()
    for q, kw in ARTICLE_QUERIES:
        search.search_articles(store, index_dir, q, **kw)
    articles = resident_mb()
    for q in TERM_QUERIES:
        search.search_terms(store, index_dir, q)
        search.suggest(store, index_dir, q[:4])
    print(json.dumps({"before": before, "articles": articles, "terms": resident_mb()}))


def memory(db: Path, index_dir: Path) -> dict:
    """The memory probe's figures, from a fresh process."""
    out = subprocess.run(
        [sys.executable, __file__, "--probe-memory", str(db), str(index_dir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def both(values: list[float], p: float) -> str:
    """A percentile of wall time with the CPU time of the same calls in brackets."""
    return f"{pct(values, p):.1f} [{pct(cpu_of(values), p):.1f}]"


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--corpus", default="/work/shared/corpus")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--no-match", action="store_true")
    parser.add_argument("--db", default=None)
    parser.add_argument("--probe-memory", nargs=2, metavar=("DB", "INDEX"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.probe_memory:
        memory_probe(Path(args.probe_memory[0]), Path(args.probe_memory[1]))
        return
    random.seed(7)
    tmp = Path(tempfile.mkdtemp(prefix="bench-search-"))
    print(f"store: {tmp / 'g.db'}", flush=True)
    rows = read_corpus(Path(args.corpus), args.limit)
    t = time.perf_counter()
    if args.db:
        with sqlite3.connect(args.db) as src, sqlite3.connect(tmp / "g.db") as dst:
            src.backup(dst)
        glossary_note = articles_note = f"copied from {args.db}"
    store = Store(f"sqlite:///{tmp / 'g.db'}")
    store.migrate()
    if not args.db:
        glossary_note = load_glossary(store)
        articles_note = load_articles(store, rows, not args.no_match)
    load_s = time.perf_counter() - t
    index_dir = tmp / "index"

    (tmp / "bulk").mkdir()
    bulk_s, bulk_cpu, bulk_n = bulk_sync(tmp / "g.db", tmp / "bulk")
    print(f"sync of every article {bulk_s:.0f} s", flush=True)
    t, c = time.perf_counter(), time.process_time()
    report = search.reindex(store, index_dir)
    reindex_s, reindex_cpu = time.perf_counter() - t, time.process_time() - c
    print(f"reindex {reindex_s:.0f} s", flush=True)
    gen = Path(report.path)
    size = {n: sum(p.stat().st_size for p in (gen / n).iterdir()) / 2**20 for n in search.NAMES}
    text_mb = sum(len(r["text"].encode()) for r in rows) / 2**20

    # Term search: the fixed queries and every term's name and a label with a typo.
    with store.read() as session:
        names = session.scalars(select(Term.name)).all()
        labels = session.scalars(select(Label.text).where(Label.kind != "hidden")).all()
    queries = TERM_QUERIES + random.sample(names, min(150, len(names)))
    typos = []
    for name in random.sample(names, min(100, len(names))):
        i = random.randrange(len(name))
        typos.append(name[:i] + name[i + 1 :])
    queries += typos
    for q in queries[:20]:  # warm the searcher and caches
        search.search_terms(store, index_dir, q)
    term_ms = [
        m for q in queries for m in timed(lambda q=q: search.search_terms(store, index_dir, q))
    ]
    prefixes = [lb[: random.randint(2, 8)] for lb in random.sample(labels, min(300, len(labels)))]
    suggest_ms = [
        m for p in prefixes for m in timed(lambda p=p: search.suggest(store, index_dir, p))
    ]

    # Article search, and the same queries over FTS5.
    for q, kw in ARTICLE_QUERIES:
        search.search_articles(store, index_dir, q, **kw)
    article_ms: list[float] = []
    per_query: list[tuple[str, float, int]] = []

    def cold_article_search(q: str, kw: dict) -> None:
        # Measure every run without the matches that search keeps for the next page.
        search._searchers.caches.pop("article-queries", None)
        search.search_articles(store, index_dir, q, **kw)

    for q, kw in ARTICLE_QUERIES:
        ms = timed(lambda q=q, kw=kw: cold_article_search(q, kw), 5)
        article_ms += ms
        found = search.search_articles(store, index_dir, q, **kw)
        total = f"{found.total}" if found.total_exact else f"about {found.total}"
        per_query.append((q + (f" {kw}" if kw else ""), max(ms), total))
    fts = fts5_baseline(tmp / "fts.db", rows)
    fts_ms: list[float] = []
    for q, kw in ARTICLE_QUERIES:
        fts_ms += timed(lambda q=q, kw=kw: fts(q, kw), 5)

    # Incremental sync of 100 changed articles.
    with store.write() as session:
        ids = session.scalars(select(Article.id).order_by(Article.id).limit(100)).all()
        for a in session.scalars(select(Article).where(Article.id.in_(ids))):
            a.text = a.text + " Edited for the benchmark."
            record_change(session, "article", a.id, "upsert")
    t, c = time.perf_counter(), time.process_time()
    sync = search.sync_indexes(store, index_dir)
    sync_s, sync_cpu = time.perf_counter() - t, time.process_time() - c
    search.close_searchers()
    rss = memory(tmp / "g.db", index_dir)

    table = [
        ("glossary", glossary_note, ""),
        ("articles", f"{len(rows)} ({text_mb:.0f} MB of text); {articles_note}", ""),
        ("load into store", f"{load_s:.0f} s", ""),
        ("sync of every article into an index of the glossary", f"{bulk_s:.1f} [{bulk_cpu:.1f}] s "
         f"({bulk_n} articles, {bulk_n / bulk_cpu:.0f} articles per CPU second)", ""),
        ("full reindex", f"{reindex_s:.1f} [{reindex_cpu:.1f}] s ({report.terms} terms, "
         f"{report.articles} articles)", ""),
        ("index size", f"terms {size['terms']:.1f} MB, articles {size['articles']:.1f} MB", ""),
        ("term search p50 / p99", f"{both(term_ms, 50)} / {both(term_ms, 99)} ms "
         f"({len(term_ms)} queries)", "<= 3 / 15 ms"),
        ("suggest p50 / p99", f"{both(suggest_ms, 50)} / {both(suggest_ms, 99)} ms "
         f"({len(suggest_ms)} prefixes)", "p99 <= 5 ms"),
        ("article search p50 / p99 / max",
         f"{both(article_ms, 50)} / {both(article_ms, 99)} / {both(article_ms, 100)} ms",
         "<= 10 / 50 / 200 ms"),
        ("FTS5 same queries p50 / p99 / max",
         f"{both(fts_ms, 50)} / {both(fts_ms, 99)} / {both(fts_ms, 100)} ms", "baseline"),
        ("whoosh / FTS5 (p50, p99)", f"{pct(article_ms, 50) / pct(fts_ms, 50):.1f}x, "
         f"{pct(article_ms, 99) / pct(fts_ms, 99):.1f}x", ""),
        ("sync of 100 changed articles", f"{sync_s:.2f} [{sync_cpu:.2f}] s "
         f"({sync.articles} articles)", "<= 2 s"),
        ("resident memory: start / after article searches / after term searches",
         f"{rss['before']:.0f} / {rss['articles']:.0f} / {rss['terms']:.0f} MB", "<= 300 MB"),
    ]  # fmt: skip
    print("\n| measure | result | target |\n|---|---|---|")
    for row in table:
        print(f"| {row[0]} | {row[1]} | {row[2]} |")
    print("\n| article query | max ms | hits |\n|---|---|---|")
    for q, ms, n in sorted(per_query, key=lambda r: -r[1])[:10]:
        print(f"| `{q}` | {ms:.1f} | {n} |")
    store.dispose()


if __name__ == "__main__":
    main()
