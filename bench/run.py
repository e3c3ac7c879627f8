"""The benchmark suite: ingest, index, search, suggest, lookup, annotate and HTTP throughput of the
glossary service next to its peers (Datasette, SQLite FTS5, spaCy), growth past the real corpus,
and PostgreSQL against SQLite; writes bench/README.md and bench/results.json.

    python bench/run.py            # the whole suite (make bench)
    python bench/run.py --quick    # a smaller run for day-to-day use (make bench-quick)
    python bench/run.py --only http   # one section on the store the last run left (no README)
    python bench/run.py --quick --only growth --growth-levels 5000,10000 --growth-minutes 10

Each section has a share of the run's 29 minutes (Mode.shares); growth gets what the others
leave and stops before a size it cannot reach in time, saying how long it would have needed.
The figures so far are saved after every section (bench/work/checkpoint-MODE.json).
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import datetime as dt
import io
import json
import os
import platform
import pstats
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# bench/ itself must not shadow the standard library (bench/stats.py and friends).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select  # noqa: E402

from bench import corpus, growth, peers, report  # noqa: E402
from bench import loadtest as bhttp  # noqa: E402
from bench.stats import Summary, summarize, time_calls  # noqa: E402
from glossary import articles, catalog, terms  # noqa: E402
from glossary.annotate import annotate  # noqa: E402
from glossary.articles import ingest_records  # noqa: E402
from glossary.gazetteer import forget_matchers, get_matcher  # noqa: E402
from glossary.ingest import read_paths  # noqa: E402
from glossary.lookup import lookup_names  # noqa: E402
from glossary.models import Mention, Term  # noqa: E402
from glossary.search import reindex, search_articles, search_terms, suggest, sync_indexes  # noqa: E402
from glossary.store import Store  # noqa: E402

BENCH = ROOT / "bench"
# Where README.md and results.json go: the checkout's bench/, also when running from a snapshot.
OUTPUT = Path(os.environ.get("BENCH_OUTPUT", BENCH))
RESULTS = OUTPUT / "results.json"
README = OUTPUT / "README.md"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PG_DB = "glossary_bench"
SECTIONS = ("ingest", "latency", "annotate", "http", "postgres", "helpers", "growth")


@dataclass(frozen=True)
class Mode:
    """How big and how long each part of a run is."""

    name: str
    real_limit: int | None  # real articles ingested (None: all 20,220)
    budget_s: float  # seconds per in-process latency measure
    annotate_texts: int
    http_seconds: float
    http_workers: tuple[int, ...]
    pg_sample: int
    growth_levels: tuple[int, ...]
    growth_batch: int
    total_budget_s: float  # the whole run; growth gets what is left
    helpers: bool
    # Each section's share of the budget (seconds), sized by its own parameters above and by the
    # targets (20k articles ingested at 170/s is 2 minutes); growth gets whatever the others leave.
    shares: tuple[tuple[str, float], ...] = ()
    growth_minutes: float | None = None  # a fixed budget for growth instead
    growth_procs: int = 2  # parallel index writers for the fill (the machine's cores)
    # Batches of growth_batch through the real ingest path at each size: one batch's cost moved
    # by half between runs (whether its sync merged segments), so the median of three is taken.
    growth_rounds: int = 3


FULL = Mode("full", None, 6.0, 1500, 5.0, (2, 4), 300, (50_000, 100_000, 200_000), 300,
            29 * 60, True, (("ingest", 300), ("latency", 90), ("annotate", 30), ("http", 210),
                            ("postgres", 150), ("helpers", 90)))  # fmt: skip
QUICK = Mode("quick", 400, 1.5, 200, 2.0, (2,), 0, (1_200,), 50, 170, False,
             (("ingest", 60), ("latency", 25), ("annotate", 10), ("http", 45)))  # fmt: skip
# Seconds kept back from growth for writing the outputs.
RESERVE_S = 10
# The filler's first step, which measures its rate; generated ids of the fill start here.
GROWTH_CALIBRATE = 5000
GROWTH_IDS = 10_000_000
GROWTH_GUESS = 100.0  # articles/s, until the first fill measures it


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def du(path: Path) -> int:
    """Bytes under a path."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def sqlite_bytes(db: Path) -> int:
    """A SQLite database's size with its WAL."""
    return sum(p.stat().st_size for p in db.parent.glob(db.name + "*") if p.is_file())


def profile_top(fn: Callable[[], object], limit: int = 12) -> str:
    """cProfile of one call: the heaviest functions by own time and by cumulative time."""
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats("glossary", limit)
    lines = [ln for ln in out.getvalue().splitlines() if ln.strip()]
    keep = [ln for ln in lines if "function calls" in ln or ln.lstrip()[:1].isdigit()
            or "ncalls" in ln or "Ordered by" in ln]  # fmt: skip
    return "\n".join(keep)


class Suite:
    """One run: the store it builds, the rows it measures, the notes and profiles it keeps."""

    def __init__(self, mode: Mode, only: str | None) -> None:
        self.mode = mode
        self.only = only
        self.work = corpus.WORK / mode.name
        self.started = time.monotonic()
        self.rows: dict[str, dict] = {}
        self.notes: dict[str, list[str]] = {s: [] for s in ("setup", *SECTIONS)}
        self.blocks: dict[str, list[str]] = {s: [] for s in ("setup", *SECTIONS)}
        self.seconds: dict[str, float] = {}
        self.profiles: dict[str, str] = {}
        self.growth_budget: float | None = None
        self.growth_fills: list[dict] = []
        self.log = corpus.WORK / "logs" / mode.name
        shutil.rmtree(self.log, ignore_errors=True)
        self.log.mkdir(parents=True, exist_ok=True)
        self.db = self.work / "glossary.db"
        self.index = self.work / "index"
        self.url = f"sqlite:///{self.db}"
        self.store: Store | None = None
        self.records: list[dict] = []
        self.queries: corpus.Queries | None = None
        self.peer_db = self.work / "peer.db"

    # --- bookkeeping ---------------------------------------------------------------------------

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def say(self, message: str) -> None:
        print(f"[{self.elapsed():7.1f} s] {message}", flush=True)

    def row(self, rid: str, section: str, label: str, **fields: object) -> dict:
        """Record one measured row."""
        row = {"section": section, "label": label, **fields}
        self.rows[rid] = row
        return row

    def latency_row(self, rid: str, section: str, label: str, s: Summary, **fields: object) -> dict:
        """A row from a latency summary (milliseconds)."""
        return self.row(rid, section, label, unit="ms", better="lower", **s.as_dict(), **fields)

    # --- the store -----------------------------------------------------------------------------

    def fresh_store(self, url: str, index_dir: Path) -> tuple[Store, float, float]:
        """A new store with the starter glossary and empty indexes: (store, import s, index s)."""
        store = Store(url)
        store.migrate()
        t0 = time.perf_counter()
        items, errors = terms.load_term_files(terms.starter_files())
        if errors:
            raise RuntimeError(f"starter glossary invalid: {errors[:3]}")
        with store.write() as s:
            terms.import_terms(s, items, actor="bench")
        t1 = time.perf_counter()
        reindex(store, index_dir)
        return store, t1 - t0, time.perf_counter() - t1

    def open_existing(self) -> bool:
        """Reuse the store the last run of this mode left (for --only)."""
        if not (self.work / "READY").exists():
            return False
        self.store = Store(self.url)
        self.records = corpus.read_corpus(self.mode.real_limit)
        self.queries = corpus.build_queries(self.records)
        self.say(f"reusing the store in {self.work}")
        return True

    # --- sections ------------------------------------------------------------------------------

    def section_ingest(self) -> None:
        """Real articles end to end (store, match, discover, index); reindex; sizes."""
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)
        self.records = corpus.read_corpus(self.mode.real_limit)
        if not self.records:
            raise RuntimeError(f"no corpus in {corpus.CORPUS}")
        self.queries = corpus.build_queries(self.records)
        if self.mode.real_limit is None:
            paths = [str(p) for p in corpus.corpus_files()]
        else:
            paths = [str(corpus.write_jsonl_gz(self.work / "real.jsonl.gz", self.records))]
        store, import_s, empty_index_s = self.fresh_store(self.url, self.index)
        self.store = store
        n_terms = self._count(Term)
        self.row("setup.import", "ingest", "import the starter glossary", unit="s",
                 value=import_s, better="lower", n=n_terms)  # fmt: skip
        self.row("setup.empty_reindex", "ingest", "index the glossary alone (terms index)",
                 unit="s", value=empty_index_s, better="lower", n=n_terms)  # fmt: skip
        self.say(f"{n_terms} terms imported in {import_s:.1f} s; ingesting {len(self.records):,} "
                 "real articles")  # fmt: skip
        stamps: list[float] = []

        def on_item(status: str, origin: str) -> None:
            stamps.append(time.perf_counter())
            if len(stamps) % 2000 == 0:
                self.say(f"  {len(stamps):,} articles")

        t0 = time.perf_counter()
        rep = ingest_records(store, read_paths(paths), lambda: get_matcher(store),
                             on_item=on_item, actor="bench")  # fmt: skip
        t1 = time.perf_counter()
        sync = sync_indexes(store, self.index, lock_timeout=600)
        t2 = time.perf_counter()
        n = rep.total
        # The ingest reports its articles a transaction at a time: cost per article over each
        # run of as many articles as it writes per transaction.
        window = max(1, getattr(articles, "BATCH_ARTICLES", 1))
        marks = [t0, *stamps]
        per = summarize([(marks[j + window] - marks[j]) * 1000 / window
                         for j in range(0, len(stamps) - window + 1, window)])  # fmt: skip
        store_s, index_s = t1 - t0, t2 - t1
        e2e = n / (store_s + index_s)
        self.row("ingest.e2e", "ingest", "ingest end to end (store, match, discover, index)",
                 unit="articles/s", value=e2e, better="higher", n=n,
                 seconds=store_s + index_s, target=">= 170 articles/s", ok=e2e >= 170)  # fmt: skip
        self.row("ingest.store", "ingest", "  of which store + match + discover", unit="articles/s",
                 value=n / store_s, better="higher", n=n, seconds=store_s,
                 **{k: v for k, v in per.as_dict().items() if k != "n"})  # fmt: skip
        self.row("ingest.index", "ingest", "  of which index (sync of the change log)",
                 unit="articles/s", value=n / index_s, better="higher", n=sync.articles,
                 seconds=index_s)  # fmt: skip
        self.notes["ingest"].append(
            f"{rep.summary()}; failed {rep.failed}. Store time per article (ms) over each run of "
            f"{window} articles in the store row's median/p99/max columns."
        )
        # cost per article as the real corpus grows: rate per tenth of the run
        parts = min(10, len(stamps) // window)
        if parts >= 2:
            tenth = len(stamps) // parts
            lines = []
            for i in range(parts):
                a, b = marks[i * tenth], marks[(i + 1) * tenth]
                lines.append([f"{i * tenth:,}-{(i + 1) * tenth:,}", (b - a) / tenth * 1000,
                              tenth / (b - a)])  # fmt: skip
            self.blocks["ingest"].append(
                "Store + match + discover cost as the store fills with the real corpus:\n\n"
                + report.table(["articles already in", "ms per article", "articles/s"], lines)
            )
        t3 = time.perf_counter()
        rx = reindex(store, self.index)
        self.row("index.reindex", "ingest", "full reindex (terms + articles, built aside)",
                 unit="s", value=time.perf_counter() - t3, better="lower",
                 n=rx.terms + rx.articles)  # fmt: skip
        self.sizes("ingest", "")
        if self.mode.name == "full":
            self.profile_ingest()
        self.say("building the peer database (SQLite + FTS5)")
        info = peers.build_peer_db(store, self.peer_db)
        self.row("peer.build", "ingest", "peer: copy into SQLite + FTS5 (Datasette's database)",
                 unit="s", value=info["seconds"], better="lower", bytes=info["bytes"])  # fmt: skip
        (self.work / "READY").write_text("ok")

    def profile_ingest(self) -> None:
        """cProfile of the store path over 100 generated articles (what bounds ingest)."""
        store = self.store
        assert store is not None
        gen = corpus.Generator(self.records, seed=7)
        sample = corpus.write_jsonl_gz(self.work / "profile.jsonl.gz", list(gen.articles(100,
                                       start=9_000_000)))  # fmt: skip
        self.profiles["ingest (100 generated articles, store + match + discover)"] = profile_top(
            lambda: ingest_records(store, read_paths([str(sample)]), lambda: get_matcher(store))
        )
        sync_indexes(store, self.index, lock_timeout=600)

    def sizes(self, section: str, suffix: str) -> None:
        """Database and index sizes as rows."""
        assert self.store is not None
        n = self._articles()
        db_bytes = sqlite_bytes(self.db)
        ix_bytes = du(self.index)
        self.row(f"size.db{suffix}", section, f"database size{suffix}", unit="MB",
                 value=db_bytes / 1e6, better="lower", n=n,
                 per_article_kb=db_bytes / 1e3 / max(n, 1))  # fmt: skip
        self.row(f"size.index{suffix}", section, f"search index size{suffix}", unit="MB",
                 value=ix_bytes / 1e6, better="lower", n=n,
                 per_article_kb=ix_bytes / 1e3 / max(n, 1))  # fmt: skip

    def _count(self, model: type) -> int:
        assert self.store is not None
        with self.store.read() as s:
            return s.scalar(select(func.count()).select_from(model)) or 0

    def _articles(self) -> int:
        assert self.store is not None
        return growth.article_count(self.store)

    def section_latency(self) -> None:
        """In-process latency of term search, suggest, lookup, term page and article search."""
        store, q, idx, b = self.store, self.queries, self.index, self.mode.budget_s
        assert store is not None and q is not None

        def ts(text: str) -> object:
            return search_terms(store, idx, text)

        s = time_calls(ts, q.term_queries(), budget_s=b)
        self.latency_row("lat.search", "latency", "term search (names, aliases, misspellings, "
                         "corpus words)", s, target="p50 <= 3, p99 <= 15",
                         ok=s.median <= 3 and s.p99 <= 15)  # fmt: skip
        for kind in ("names", "aliases", "misspellings", "words"):
            sk = time_calls(ts, getattr(q, kind), budget_s=b / 3)
            self.latency_row(f"lat.search.{kind}", "latency", f"  term search: {kind}", sk)
        s = time_calls(lambda p: suggest(store, idx, p), q.prefixes, budget_s=b)
        self.latency_row("lat.suggest", "latency", "suggest (2-8 typed characters)", s,
                         target="p99 <= 5", ok=s.p99 <= 5)  # fmt: skip
        singles = q.names + q.aliases + q.misspellings
        s = time_calls(lambda n: lookup_names(store, [n]), singles, budget_s=b)
        self.latency_row("lat.lookup", "latency", "lookup, one name", s)
        s = time_calls(lambda _: lookup_names(store, q.batch), [0], budget_s=b, min_calls=10,
                       warmup=2)  # fmt: skip
        self.latency_row("lat.lookup_batch", "latency", "lookup, batch of 1,000 names", s,
                         target="<= 100 (median)", ok=s.median <= 100)  # fmt: skip
        slugs = self._slugs()

        def term_page(slug: str) -> object:
            with store.read() as session:
                catalog.term_detail(session, slug)
                return catalog.citing_articles(session, slug, 1, 20)

        s = time_calls(term_page, slugs, budget_s=b)
        self.latency_row("lat.term_page", "latency", "term page + first 20 citing articles", s)
        s = time_calls(lambda t: search_articles(store, idx, t), q.article_queries, budget_s=b)
        fts = peers.FtsSearch(self.peer_db)
        p = time_calls(fts, q.article_queries, budget_s=b)
        self.latency_row("lat.article_search", "latency", "article search", s,
                         target="p99 <= 50, max <= 200", ok=s.p99 <= 50 and s.max <= 200,
                         peer="SQLite FTS5 (in process)", peer_median=p.median,
                         peer_p99=p.p99, peer_max=p.max, ratio=p.median / s.median)  # fmt: skip
        if not (self.rows["lat.search"]["ok"]):
            self.profiles["term search (200 mixed queries)"] = profile_top(
                lambda: [ts(t) for t in q.term_queries()[:200]]
            )
        if not self.rows["lat.article_search"]["ok"]:
            self.profiles["article search (100 queries)"] = profile_top(
                lambda: [search_articles(store, idx, t) for t in q.article_queries[:100]]
            )
        if not self.rows["lat.lookup_batch"]["ok"]:
            self.profiles["lookup batch of 1,000"] = profile_top(
                lambda: lookup_names(store, q.batch)
            )

    def _slugs(self) -> list[str]:
        """Term slugs to open: the 50 most cited and up to 150 others."""
        assert self.store is not None
        with self.store.read() as s:
            top = (
                s.execute(
                    select(Term.slug)
                    .join(Mention, Mention.term_id == Term.id)
                    .group_by(Term.slug)
                    .order_by(func.count(Mention.id).desc())
                    .limit(50)
                )
                .scalars()
                .all()
            )
            rest = (
                s.execute(
                    select(Term.slug).where(Term.status == "published").order_by(Term.id).limit(150)
                )
                .scalars()
                .all()
            )
        return list(dict.fromkeys([*top, *rest]))

    def _texts(self) -> list[str]:
        step = max(1, len(self.records) // self.mode.annotate_texts)
        return [r["text"] for r in self.records[::step]][: self.mode.annotate_texts]

    def section_annotate(self) -> None:
        """Annotate throughput (MB/s) against spaCy's PhraseMatcher over the same texts."""
        store = self.store
        assert store is not None
        matcher = get_matcher(store)
        texts = self._texts()
        nbytes = sum(len(t.encode("utf-8")) for t in texts)
        samples: dict[str, list[float]] = {"api": [], "ingest": []}
        for t in texts[:20]:
            annotate(t, matcher, candidates=False)
        api = {"nested": False, "candidates": False}  # POST /api/annotate's defaults
        for key, kwargs in (("api", api), ("ingest", {"nested": True, "candidates": True})):
            for t in texts:
                t0 = time.perf_counter_ns()
                annotate(t, matcher, **kwargs)
                samples[key].append((time.perf_counter_ns() - t0) / 1e6)
        spacy = None
        python = peers.ensure_venv(peers.SPACY_VENV, peers.SPACY_PIN, self.log / "venv.log")
        if python is None:
            self.notes["annotate"].append("spaCy could not be installed: peer not measured.")
        else:
            labels = [e.text for e in matcher.entries] if hasattr(matcher, "entries") else []
            if not labels:
                with store.read() as s:
                    from glossary.gazetteer import label_entries

                    labels = [e.text for e in label_entries(s)]
            spacy = peers.spacy_annotate(python, sorted(set(labels)), texts, self.work)
        for key, label in (
            ("api", "annotate, API defaults (known terms, top level)"),
            ("ingest", "annotate as ingest runs it (nested + candidates)"),
        ):
            s = summarize(samples[key])
            rate = nbytes / 1e6 / (sum(samples[key]) / 1000)
            extra: dict = {}
            if spacy is not None:
                extra = {
                    "peer": f"spaCy {spacy['version']} PhraseMatcher (LOWER, blank en)",
                    "peer_value": spacy["mb_per_s"],
                    "ratio": rate / spacy["mb_per_s"],
                }
                ps = summarize(spacy["samples_ms"])
                extra.update(peer_median=ps.median, peer_p99=ps.p99, peer_max=ps.max)
            self.row(f"annotate.{key}", "annotate", label, unit="MB/s", value=rate,
                     better="higher", **s.as_dict(), bytes=nbytes,
                     target=">= 5 MB/s" if key == "api" else None,
                     ok=rate >= 5 if key == "api" else None, **extra)  # fmt: skip
        if spacy is not None:
            self.notes["annotate"].append(
                f"{len(texts):,} real articles, {nbytes / 1e6:.2f} MB; spaCy matched "
                f"{spacy['matches']:,} spans with {spacy['patterns']:,} patterns (built in "
                f"{spacy['build_s']:.1f} s). Ratio > 1: the glossary is faster. spaCy does plain "
                "token-sequence matching: no folding, boundaries, dates or nesting."
            )
        if not self.rows["annotate.api"]["ok"]:
            self.profiles["annotate (API defaults)"] = profile_top(
                lambda: [annotate(t, matcher, **api) for t in texts]
            )

    def section_http(self) -> None:
        """Requests/s and latency through gunicorn (2 and 4 workers) and Datasette, with wrk."""
        if bhttp.wrk_path() is None:
            self.notes["http"].append(
                "wrk is not installed (apt-get install -y wrk): not measured."
            )
            return
        q, slugs = self.queries, self._slugs()
        assert q is not None and self.store is not None
        texts = self._texts()
        doc = next((t for t in texts if 4000 <= len(t) <= 8000), texts[0])
        qp = bhttp.quote_path
        ours = {
            "search": [qp("/api/search", {"q": t}) for t in q.term_queries()],
            "suggest": [qp("/api/suggest", {"q": p}) for p in q.prefixes],
            "lookup": [qp("/api/lookup", {"name": n}) for n in q.names + q.aliases],
            "term": [f"/api/terms/{s}" for s in slugs],
            "citing": [f"/api/terms/{s}/articles" for s in slugs],
            "article_search": [qp("/api/articles/search", {"q": t}) for t in q.article_queries],
        }
        posts = {
            "lookup_batch": ("/api/lookup", json.dumps({"names": q.batch}).encode()),
            "annotate": ("/api/annotate", json.dumps({"text": doc}).encode()),
        }
        ds = "/" + self.peer_db.stem
        theirs = {
            "search": [qp(f"{ds}/terms.json", {"_search": t, "_shape": "array", "_size": 20})
                       for t in q.term_queries()],
            "suggest": [qp(f"{ds}/labels.json", {"text__startswith": p, "_shape": "array",
                                                  "_size": 10}) for p in q.prefixes],
            "lookup": [qp(f"{ds}/labels.json", {"text": n, "_shape": "array"})
                       for n in q.names + q.aliases],
            "term": [qp(f"{ds}/terms.json", {"slug": s, "_shape": "array"}) for s in slugs],
            "citing": [qp(f"{ds}/citing.json", {"term_slug": s, "_sort_desc": "published",
                                                 "_shape": "array", "_size": 20}) for s in slugs],
            "article_search": [qp(f"{ds}/articles.json", {"_search": t, "_shape": "array",
                               "_size": 20, "_col": ["title", "published"]})
                               for t in q.article_queries],
        }  # fmt: skip
        labels = {
            "search": "term search", "suggest": "suggest", "lookup": "lookup, one name (GET)",
            "lookup_batch": "lookup, 1,000 names (POST)", "term": "term page (JSON)",
            "citing": "citing articles, page 1", "article_search": "article search",
            "annotate": f"annotate one article ({len(doc):,} chars, POST)",
        }  # fmt: skip
        secs = self.mode.http_seconds
        env = {"GLOSSARY_DATABASE_URL": self.url, "GLOSSARY_INDEX_DIR": str(self.index),
               "GLOSSARY_SECRET_KEY": "bench", "GLOSSARY_LOAD_STARTER": "false",
               "GLOSSARY_LOAD_SAMPLES": "false"}  # fmt: skip
        wdir = self.work / "wrk"
        results: dict[str, dict] = {}

        def warm(base: str, paths: list[str], name: str, **kw: object) -> None:
            # Each worker builds its lookup table, matcher and searchers on first use: load
            # until the endpoint answers steadily (at most 5 rounds of 2 s).
            for _ in range(5):
                r = bhttp.run_wrk(base, paths, wdir, name, seconds=max(1, secs // 2), **kw)
                if r["requests"] >= 20 and r["p99"] < 1000 and not r["errors"]:
                    return

        for workers in self.mode.http_workers:
            self.say(f"gunicorn with {workers} workers")
            server = bhttp.Gunicorn(workers, free_port(), env, self.log / "gunicorn.log")
            try:
                for name, paths in ours.items():
                    warm(server.base, paths, name)
                    results[f"{name}.{workers}"] = bhttp.run_wrk(
                        server.base, paths, wdir, name, seconds=secs, connections=8
                    )
                for name, (path, body) in posts.items():
                    warm(server.base, [path], name, body=body, connections=4)
                    results[f"{name}.{workers}"] = bhttp.run_wrk(
                        server.base, [path], wdir, name, seconds=secs, connections=4, body=body
                    )
                rss = server.worker_rss_mb()
                private = server.worker_private_mb()
            finally:
                server.stop()
            worst = max(rss) if rss else float("nan")
            label = f"resident memory per worker, {workers} workers (after the load)"
            self.row(f"http.rss.{workers}", "http", label, unit="MB", value=worst, better="lower",
                     per_worker=[round(r, 1) for r in rss], target="<= 300 MB",
                     private=[round(r, 1) for r in private],
                     ok=worst <= 300)  # fmt: skip
        python = peers.ensure_venv(peers.DATASETTE_VENV, peers.DATASETTE_PIN, self.log / "venv.log")
        if python is None:
            self.notes["http"].append("Datasette could not be installed: peer not measured.")
        else:
            self.say("Datasette")
            server = peers.Datasette(python, self.peer_db, free_port(), self.log / "datasette.log")
            try:
                for name, paths in theirs.items():
                    warm(server.base, paths, f"ds-{name}")
                    results[f"{name}.datasette"] = bhttp.run_wrk(server.base, paths, wdir,
                                                                 f"ds-{name}", seconds=secs,
                                                                 connections=8)  # fmt: skip
                ds_rss = server.rss_mb()
            finally:
                server.stop()
            self.row("http.rss.datasette", "http", "resident memory, Datasette (one process)",
                     unit="MB", value=ds_rss, better="lower")  # fmt: skip
        targets = {"search": 500, "lookup": 1000}
        for name, label in labels.items():
            for workers in self.mode.http_workers:
                r = results.get(f"{name}.{workers}")
                if r is None:
                    continue
                peer = results.get(f"{name}.datasette")
                goal = targets.get(name) if workers == 2 else None
                extra: dict = {}
                if peer is not None:
                    extra = {"peer": "Datasette", "peer_value": peer["rps"],
                             "peer_median": peer["median"], "peer_p99": peer["p99"],
                             "peer_max": peer["max"], "ratio": r["rps"] / max(peer["rps"], 1e-9),
                             "peer_errors": peer["errors"] + peer["non2xx"]}  # fmt: skip
                self.row(f"http.{name}.{workers}", "http", f"{label}, {workers} workers",
                         unit="req/s", value=r["rps"], better="higher", median=r["median"],
                         p99=r["p99"], max=r["max"], n=r["requests"],
                         errors=r["errors"] + r["non2xx"],
                         target=f">= {goal} req/s" if goal else None,
                         ok=r["rps"] >= goal if goal else None, **extra)  # fmt: skip
        self.notes["http"].append(
            f"wrk on loopback: 1 thread, 8 connections (4 for POSTs), {secs:.0f} s per endpoint "
            f"after a warm-up ({max(1, secs // 2):.0f} s rounds until p99 < 1 s: each worker "
            "builds its lookup table, matcher and searchers on first use), paths cycled "
            "through the query lists. "
            "wrk shares the 2 cores with the server. Datasette runs as one process (its own "
            "defaults plus num_sql_threads=3) on a SQLite copy of the same terms, labels, "
            "articles and citations, with FTS5 on terms (name, labels, definition) and articles "
            "(title, text); suggest is a `LIKE` prefix on an indexed NOCASE label column, lookup "
            "an exact NOCASE label match. It has no lookup batch or annotate. Ratio > 1: the "
            "glossary serves more requests per second."
        )

    def section_postgres(self) -> None:
        """The same sample ingested and searched on PostgreSQL and on SQLite."""
        if not self.mode.pg_sample:
            self.notes["postgres"].append("Not run in quick mode.")
            return
        try:
            admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
                conn.exec_driver_sql(f"CREATE DATABASE {PG_DB}")
        except Exception as exc:  # noqa: BLE001 -- no server: say so in the table
            self.notes["postgres"].append(f"PostgreSQL not reachable ({exc}); not measured.")
            return
        n = self.mode.pg_sample
        gen = corpus.Generator(self.records, seed=11)
        sample = self.records[:: max(1, len(self.records) // n)][:n]
        path = corpus.write_jsonl_gz(self.work / "pg-sample.jsonl.gz", sample)
        q = self.queries
        assert q is not None
        pg_url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{PG_DB}"
        figures: dict[str, dict] = {}
        try:
            for name, url, idx in (
                ("SQLite", f"sqlite:///{self.work / 'pg-compare.db'}", self.work / "pgc-sqlite"),
                ("PostgreSQL", pg_url, self.work / "pgc-postgres"),
            ):
                self.say(f"{name}: ingesting {len(sample)} articles")
                store, import_s, _ = self.fresh_store(url, idx)
                t0 = time.perf_counter()
                rep = ingest_records(store, read_paths([str(path)]), lambda s=store: get_matcher(s))
                t1 = time.perf_counter()
                sync_indexes(store, idx, lock_timeout=600)
                t2 = time.perf_counter()
                f = {"import_s": import_s, "store_rate": rep.total / (t1 - t0),
                     "e2e_rate": rep.total / (t2 - t0)}  # fmt: skip
                t3 = time.perf_counter()
                reindex(store, idx)
                f["reindex_s"] = time.perf_counter() - t3
                b = self.mode.budget_s / 2
                f["search"] = time_calls(lambda t, s=store, i=idx: search_terms(s, i, t),
                                         q.term_queries(), budget_s=b)  # fmt: skip
                f["articles"] = time_calls(lambda t, s=store, i=idx: search_articles(s, i, t),
                                           q.article_queries, budget_s=b)  # fmt: skip
                slugs = self._slugs()

                def page(slug: str, s: Store = store) -> object:
                    with s.read() as session:
                        catalog.term_detail(session, slug)
                        return catalog.citing_articles(session, slug, 1, 20)

                f["term_page"] = time_calls(page, slugs, budget_s=b)
                f["lookup_batch"] = time_calls(lambda _, s=store: lookup_names(s, q.batch), [0],
                                               budget_s=b, min_calls=5, warmup=1)  # fmt: skip
                # a growth sample on top: the same generated articles on both
                extra = corpus.write_jsonl_gz(
                    self.work / "pg-gen.jsonl.gz", list(gen.articles(n // 2, start=8_000_000))
                )
                gen = corpus.Generator(self.records, seed=11)
                t4 = time.perf_counter()
                rep2 = ingest_records(
                    store, read_paths([str(extra)]), lambda s=store: get_matcher(s)
                )
                sync_indexes(store, idx, lock_timeout=600)
                f["second_rate"] = rep2.total / (time.perf_counter() - t4)
                figures[name] = f
                store.dispose()
                forget_matchers()
        finally:
            with admin.connect() as conn:
                conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {PG_DB} WITH (FORCE)")
            admin.dispose()
        lite, pg = figures.get("SQLite"), figures.get("PostgreSQL")
        if not lite or not pg:
            return
        for key, label in (
            ("import_s", "import the starter glossary (s)"),
            ("reindex_s", "full reindex (s)"),
        ):
            self.row(f"pg.{key}", "postgres", label, unit="s", value=pg[key], better="lower",
                     peer="SQLite", peer_value=lite[key], ratio=lite[key] / pg[key])  # fmt: skip
        for key, label in (
            ("e2e_rate", f"ingest {len(sample)} real articles end to end"),
            ("store_rate", "  of which store + match + discover"),
            ("second_rate", f"ingest {n // 2} more (generated) end to end"),
        ):
            self.row(f"pg.{key}", "postgres", label, unit="articles/s", value=pg[key],
                     better="higher", peer="SQLite", peer_value=lite[key],
                     ratio=pg[key] / lite[key])  # fmt: skip
        for key, label in (
            ("search", "term search"),
            ("articles", "article search"),
            ("term_page", "term page + citing articles"),
            ("lookup_batch", "lookup batch of 1,000 (table built once)"),
        ):
            s, p = pg[key], lite[key]
            self.latency_row(f"pg.{key}", "postgres", label, s, peer="SQLite",
                             peer_median=p.median, peer_p99=p.p99, peer_max=p.max,
                             ratio=p.median / s.median)  # fmt: skip
        self.notes["postgres"].append(
            f"PostgreSQL {self._pg_version()} at 127.0.0.1:5432 (database {PG_DB}, created and "
            "dropped by the run) against a fresh SQLite file, each with the starter glossary, "
            f"{len(sample)} real articles (every {max(1, len(self.records) // n)}th) and then "
            f"{n // 2} generated ones. Value columns are PostgreSQL; ratio > 1 means PostgreSQL "
            "is faster. Search itself runs on whoosh either way; the store serves definitions, "
            "snippets' texts, term pages and the lookup table."
        )

    def _pg_version(self) -> str:
        try:
            eng = create_engine(PG_ADMIN)
            with eng.connect() as conn:
                v = conn.exec_driver_sql("SHOW server_version").scalar()
            eng.dispose()
            return str(v).split()[0]
        except Exception:  # noqa: BLE001
            return "?"

    def section_helpers(self) -> None:
        """The other benchmark scripts' figures (matcher speed, detection quality, search)."""
        if not self.mode.helpers:
            self.notes["helpers"].append("Not run in quick mode.")
            return
        runs = [
            ("bench_matcher.py", ["--mb", "4", "--runs", "3"], 600),
            ("eval_detection.py", [], 600),
            ("bench_search.py", ["--limit", "2000"], 600),
        ]
        for script, args, timeout in runs:
            path = BENCH / script
            if not path.exists():
                self.notes["helpers"].append(f"`bench/{script}`: not there yet, not measured.")
                continue
            self.say(f"running bench/{script}")
            t0 = time.perf_counter()
            try:
                done = subprocess.run([sys.executable, str(path), *args], capture_output=True,
                                      text=True, timeout=timeout, cwd=ROOT)  # fmt: skip
                out = (done.stdout + ("\n" + done.stderr if done.returncode else "")).strip()
                status = f"exit {done.returncode}"
            except subprocess.TimeoutExpired:
                out, status = "", f"stopped after {timeout} s"
            took = time.perf_counter() - t0
            lines = out.splitlines()
            if len(lines) > 60:
                lines = lines[:25] + ["..."] + lines[-30:]
            self.blocks["helpers"].append(
                f"`python bench/{script} {' '.join(args)}` ({status}, {took:.0f} s):\n\n```\n"
                + "\n".join(lines)
                + "\n```"
            )

    def growth_deadline(self) -> float:
        """When growth must be done: its own budget, or what the run's budget leaves."""
        if self.mode.growth_minutes:
            return time.monotonic() + self.mode.growth_minutes * 60
        return self.started + self.mode.total_budget_s - RESERVE_S

    def section_growth(self) -> None:
        """Ingest cost per article and search latency at the real size and at generated sizes."""
        store = self.store
        assert store is not None
        gen = corpus.Generator(self.records)
        end = self.growth_deadline()
        self.growth_budget = end - time.monotonic()
        self.say(f"growth: {self.growth_budget / 60:.1f} min of the budget left")
        first = self._articles()
        levels = [first, *(n for n in self.mode.growth_levels if n > first)]
        lines: list[list] = []
        rate: float | None = None  # fill rate (articles/s), measured by the first fill
        cpu_ms = 0.0
        # what measuring one size costs, until measured
        measure_s = self.mode.growth_batch * self.mode.growth_rounds * 0.05 + self.mode.budget_s + 5
        # the index catches up (an interrupted fill leaves articles to it) and the matcher and
        # searchers are built before the first size is timed, as in a server
        sync_indexes(store, self.index, lock_timeout=600)
        get_matcher(store)
        search_terms(store, self.index, "korea")
        search_articles(store, self.index, "korea")
        try:
            for i, level in enumerate(levels):
                if i == 0 and end - time.monotonic() < measure_s:
                    self._growth_not_reached(levels, GROWTH_GUESS, end - time.monotonic(), lines)
                    return
                while (need := level - self._articles()) > 0:
                    # Fill a first step to measure the rate, then the rest if it fits.
                    step = need if rate is not None else min(need, GROWTH_CALIBRATE)
                    left = end - time.monotonic() - measure_s
                    if (need if rate else step) / (rate or GROWTH_GUESS) > left:
                        self._growth_not_reached(levels[i:], rate or GROWTH_GUESS, left, lines)
                        return
                    have = self._articles()
                    self.say(f"growth: filling {step:,} generated articles ({have:,} -> "
                             f"{have + step:,})")  # fmt: skip
                    fill = growth.bulk_fill(store, self.index,
                                            gen.articles(step, start=GROWTH_IDS + have),
                                            procs=self.mode.growth_procs)  # fmt: skip
                    rate, cpu_ms = fill.rate, fill.cpu_s / max(fill.articles, 1) * 1000
                    self.growth_fills.append({"from": have, **dataclasses.asdict(fill)})
                    self.notes["growth"].append(f"fill {have:,} -> {have + step:,}: "
                                                f"{fill.summary()}")  # fmt: skip
                t0 = time.monotonic()
                self._growth_measure(i, level, gen, lines)
                measure_s = (time.monotonic() - t0) * 1.5  # larger sizes take longer
                self.checkpoint()
        finally:
            self._growth_outputs(lines, rate, cpu_ms)

    def _growth_measure(self, i: int, level: int, gen: corpus.Generator, lines: list) -> None:
        """One size: a batch through the real ingest path and the index sync, then search."""
        store, q = self.store, self.queries
        assert store is not None and q is not None
        before = growth.segment_count(self.index)
        rounds: list[tuple[float, float, float]] = []  # ms/article: total, store, index
        for r in range(self.mode.growth_rounds):
            n_now = self._articles()
            # ids after the store's size: a later run on the same store ingests new articles
            batch = list(gen.articles(self.mode.growth_batch, start=5_000_000 + n_now))
            path = corpus.write_jsonl_gz(self.work / f"growth-{i}-{r}.jsonl.gz", batch)
            t0 = time.perf_counter()
            rep = ingest_records(store, read_paths([str(path)]), lambda: get_matcher(store))
            t1 = time.perf_counter()
            sync_indexes(store, self.index, lock_timeout=600)
            t2 = time.perf_counter()
            if rep.new != rep.total or not rep.total:
                self.notes["growth"].append(f"at {n_now:,}: only {rep.new} of the batch were new")
            per = 1000 / max(rep.total, 1)
            rounds.append(((t2 - t0) * per, (t1 - t0) * per, (t2 - t1) * per))
        n_now = self._articles()
        cost, store_ms, index_ms = sorted(rounds)[len(rounds) // 2]  # the median batch
        self.notes["growth"].append(
            f"at {n_now:,}: batches of {self.mode.growth_batch} cost "
            + ", ".join(f"{t:.2f} ({st:.2f} store + {ix:.2f} index)" for t, st, ix in rounds)
            + " ms/article; the median batch is the table's"
        )
        b = self.mode.budget_s / 2
        s_search = time_calls(lambda t: search_terms(store, self.index, t), q.term_queries(),
                              budget_s=b)  # fmt: skip
        s_art = time_calls(lambda t: search_articles(store, self.index, t), q.article_queries,
                           budget_s=b)  # fmt: skip
        base = next((r for r in self.rows.values() if r["section"] == "growth"
                     and "cost_ratio" in r), None)  # fmt: skip
        fig = {
            "cost": cost,
            "store": store_ms,
            "index": index_ms,
            "search_p99": s_search.p99,
            "article_p99": s_art.p99,
        }
        ref = {"cost": base["value"], "search_p99": base["search_p99"],
               "article_p99": base["article_p99"]} if base else fig  # fmt: skip
        db_mb, ix_mb = sqlite_bytes(self.db) / 1e6, du(self.index) / 1e6
        segments = growth.segment_count(self.index)
        if segments <= before:
            self.notes["growth"].append(
                f"At {n_now:,} the batch's sync merged article-index segments ({before} before "
                f"it, {segments} after: whoosh's merge policy), which is most of its index cost."
            )
        lines.append([f"{n_now:,}", cost, fig["store"], fig["index"], s_search.p99,
                      s_art.median, s_art.p99, f"{db_mb:,.0f} / {ix_mb:,.0f}",
                      segments])  # fmt: skip
        self.row(f"growth.{level}", "growth", f"{n_now:,} articles", unit="ms/article",
                 value=cost, better="lower", articles=n_now, level=level, store_ms=fig["store"],
                 index_ms=fig["index"], search_p99=s_search.p99,
                 article_median=s_art.median, article_p99=s_art.p99, db_mb=db_mb,
                 index_mb=ix_mb, segments=segments, cost_ratio=cost / ref["cost"],
                 search_ratio=s_search.p99 / ref["search_p99"],
                 article_ratio=s_art.p99 / ref["article_p99"])  # fmt: skip

    def _growth_not_reached(self, levels: list[int], rate: float, left: float, lines: list) -> None:
        have = self._articles()
        for level in levels:
            more = level - have
            why = (f"not reached: filling {more:,} more articles would take about "
                   f"{more / rate / 60:.1f} min at {rate:.0f} articles/s, "
                   f"{max(left, 0) / 60:.1f} min of the budget left")  # fmt: skip
            if more <= 0:
                why = f"not measured: {max(left, 0) / 60:.1f} min of the budget left"
            lines.append([f"{level:,}", why, "", "", "", "", "", "", ""])
            self.row(f"growth.{level}", "growth", f"{level:,} articles", unit="ms/article",
                     better="lower", level=level, skipped=why)  # fmt: skip
        self.say(f"growth: stopped at {have:,} articles ({lines[-1][1]})")

    def _growth_outputs(self, lines: list, rate: float | None, cpu_ms: float) -> None:
        """The growth table, the growth targets and the fill's extrapolation to the top size."""
        self.blocks["growth"].append(report.table(
            ["articles in the store", "ingest ms/article (end to end)", "  store", "  index",
             "term search p99 ms", "article search median ms", "article search p99 ms",
             "db / index MB", "index segments"], lines))  # fmt: skip
        measured = [r for r in self.rows.values() if r["section"] == "growth" and "cost_ratio" in r]
        top = max(self.mode.growth_levels, default=0)
        if top:
            since = f"{measured[0]['articles']:,} articles" if measured else "the first size"
            last = measured[-1] if len(measured) > 1 else None
            reached = last is not None and last.get("level") == top
            for rid, what, key, target, limit in (
                ("growth.flat", "ingest cost per article", "cost_ratio", "flat (<= 1.25x)", 1.25),
                ("growth.search", "term search p99", "search_ratio", "<= 2x", 2.0),
                ("growth.article_search", "article search p99", "article_ratio", "<= 2x", 2.0),
            ):
                value = last[key] if last else None
                row = self.row(rid, "growth", f"{what}, {top:,} vs {since}", unit="x",
                               value=value, better="lower", target=target,
                               ok=value <= limit if reached else None)  # fmt: skip
                if not reached:
                    at = f"; {value:.2f}x at {last['articles']:,}" if last else ""
                    row["met_text"] = f"not reached{at}"
        if rate:
            have = self._articles()
            more = max((top or have) - have, 0)
            self.notes["growth"].append(
                f"Fill rate: {rate:.0f} articles/s ({cpu_ms:.1f} ms CPU per article, "
                f"{self.mode.growth_procs} index writers)"
                + (f"; the {more:,} articles from {have:,} to {top:,} would take about "
                   f"{more / rate / 60:.1f} min at that rate, and at least "
                   f"{more * cpu_ms / 1000 / (os.cpu_count() or 1) / 60:.1f} min with every "
                   "core free for it." if more else ".")
            )  # fmt: skip
        self.notes["growth"].append(
            "Generated articles recombine the real corpus's sentences, titles and dates (dates "
            "shifted by whole years). Between sizes the store grows through the real ingest "
            "path (`ingest_records`: identities, known-term mentions, discovered candidates, "
            "change log, in the ingest's own batched transactions); only the index is written "
            "another way than by the sync: the same documents (rows read and built as sync does) "
            f"added by {self.mode.growth_procs} parallel whoosh writers in one commit per fill, "
            "their segments left unmerged; then every term's mention count is rewritten and the "
            "index state moved past the fill's change-log rows, as a reindex does. At each size "
            f"{self.mode.growth_rounds} batches of {self.mode.growth_batch} further generated "
            "articles go through the real ingest path and the index sync, one after another; "
            "the median batch's cost is the one in the table; term and article search are timed "
            "after the last."
        )

    # --- the whole run -------------------------------------------------------------------------

    def run(self) -> None:
        """Run the sections (all of them, or --only one); a section that fails is noted and the
        others go on; after each one the figures so far are saved (see checkpoint)."""
        wanted = SECTIONS if self.only is None else (self.only,)
        if self.only not in (None, "ingest") and not self.open_existing():
            wanted = ("ingest", *wanted)
        shares = dict(self.mode.shares)
        for name in wanted:
            share = shares.get(name)
            self.say(f"section {name}" + (f" (share {share / 60:.1f} min)" if share else ""))
            t0 = time.monotonic()
            try:
                getattr(self, f"section_{name}")()
            except Exception:  # one broken section must not lose the others
                trace = traceback.format_exc()
                print(trace, file=sys.stderr)
                self.notes[name].append("**Failed:** `" + trace.strip().splitlines()[-1] + "`")
                if name == "ingest":
                    break
            finally:  # also when interrupted: what was measured until then is kept
                self.seconds[name] = time.monotonic() - t0
                self.checkpoint()

    def checkpoint(self) -> Path:
        """Save the figures so far to bench/work/checkpoint-MODE.json: a run killed later still
        leaves every finished section's results."""
        path = corpus.WORK / f"checkpoint-{self.mode.name}.json"
        data = {"meta": {"mode": self.mode.name, "seconds": round(self.elapsed(), 1),
                         "sections": self.seconds, "growth_fills": self.growth_fills},
                "rows": self.rows, "notes": self.notes, "blocks": self.blocks,
                "profiles": self.profiles}  # fmt: skip
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, indent=1, default=str))
        os.replace(tmp, path)
        return path

    def meta(self, command: str) -> dict:
        """The machine and the run."""
        cpu = "?"
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
        if "BENCH_OUTPUT" in os.environ:
            commit = ROOT.name  # the snapshot's directory is named after its commit
        else:
            commit = (
                subprocess.run(
                    ["git", "rev-parse", "--short", "HEAD"],
                    capture_output=True,
                    text=True,
                    cwd=ROOT,
                ).stdout.strip()
                + " + working tree"
            )
        import whoosh

        return {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "mode": self.mode.name,
            "command": command,
            "commit": commit,
            "cpu": cpu,
            "cores": os.cpu_count(),
            "memory_gib": round(mem, 1),
            "os": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
            "whoosh": ".".join(map(str, whoosh.__version__)),
            "load_end": os.getloadavg(),
            "seconds": round(self.elapsed(), 1),
            "sections": {k: round(v, 1) for k, v in self.seconds.items()},
            "budget_s": self.mode.total_budget_s if not self.mode.growth_minutes else None,
            "shares": dict(self.mode.shares),
            "growth_budget_s": self.growth_budget,
            "growth_fills": self.growth_fills,
        }


# --- the README --------------------------------------------------------------------------------

LAT_HEAD = ["measure", "n", "median ms", "p99 ms", "max ms", "target", "met", "peer",
            "peer median ms", "peer p99 ms", "ratio (peer median / ours)"]  # fmt: skip


def _lat_lines(rows: list[dict]) -> list[list]:
    return [[r["label"], r.get("n"), r.get("median"), r.get("p99"), r.get("max"),
             r.get("target") or "", r.get("ok") if r.get("ok") is not None else "",
             r.get("peer") or "", r.get("peer_median"), r.get("peer_p99"), r.get("ratio")]
            for r in rows]  # fmt: skip


def render(data: dict) -> str:
    """The generated part of bench/README.md, from one run's saved data; a part that cannot be
    drawn says so in its place instead of losing the others."""
    view = _View(data)
    out: list[str] = []
    for title, part in (
        (None, _head),
        ("Targets", _targets),
        ("Time budget", _budget),
        ("Ingest, index and size", _ingest),
        ("In-process latency (20 results per search, one call per sample)", _latency),
        ("Annotate", _annotate),
        ("HTTP through gunicorn (wrk on loopback)", _http),
        ("Growth: 20k real articles to generated 50k, 100k, 200k", _growth),
        ("PostgreSQL against SQLite (same run, same data)", _postgres),
        ("The other benchmark scripts", _helpers),
        ("Regressions against the kept results.json", _regressions),
        ("Profiles of missed targets (cProfile)", _profiles),
    ):
        try:
            lines = part(view)
        except Exception as exc:  # noqa: BLE001 -- one broken table must not lose the rest
            lines = [f"(could not be drawn: `{type(exc).__name__}: {exc}`)"]
        if title and lines:
            out += ["", f"### {title}", ""]
        out += lines
    return "\n".join(out)


class _View:
    """A saved run read for the README: its meta, rows by section, notes, blocks, profiles."""

    def __init__(self, data: dict) -> None:
        self.data = data
        self.meta = data["meta"]
        order = ("ingest", "latency", "annotate", "http", "postgres", "helpers", "growth")
        self.rows = dict(sorted(data["rows"].items(), key=lambda kv: order.index(kv[1]["section"])))
        self.by = {s: [r for r in self.rows.values() if r["section"] == s] for s in SECTIONS}
        self.notes = {s: data.get("notes", {}).get(s, []) for s in ("setup", *SECTIONS)}
        self.blocks = {s: data.get("blocks", {}).get(s, []) for s in ("setup", *SECTIONS)}
        self.profiles = data.get("profiles", {})

    def text(self, section: str, blocks_first: bool = False) -> list[str]:
        """A section's notes and blocks, each as a paragraph."""
        parts = self.notes[section]
        parts = [*self.blocks[section], *parts] if blocks_first else [*parts, *self.blocks[section]]
        return [line for p in parts for line in ("", p)]


def _head(v: _View) -> list[str]:
    meta, load_start = v.meta, v.meta["load_start"]
    out = [f"## Results of `{meta['command']}` ({meta['mode']} run, {meta['date']})", ""]
    out.append(
        f"Machine: {meta['cpu']}, {meta['cores']} cores, {meta['memory_gib']} GiB, "
        f"{meta['os']}; Python {meta['python']}, SQLite {meta['sqlite']}, whoosh "
        f"{meta['whoosh']}. Commit {meta['commit']}. The run took {meta['seconds'] / 60:.1f} min "
        f"(sections: {', '.join(f'{k} {v:.0f} s' for k, v in meta['sections'].items())}). "
        f"Load average at start {load_start[0]:.1f}, at end {meta['load_end'][0]:.1f} "
        "(other work on the machine shares its 2 cores)."
    )
    for name, info in meta.get("reruns", {}).items():
        out += [
            "",
            f"The {name} section is from a later `{info['command']}` ({info['date']}, "
            f"{info['seconds'] / 60:.1f} min, load average at end {info['load_end']:.1f}) on "
            "the store this run left; everything else is from the run above.",
        ]
    return out


def _targets(v: _View) -> list[str]:
    tl = [[r["label"], r.get("target"), _main(r), r.get("met_text") or r["ok"]]
          for r in v.rows.values() if r.get("ok") is not None or r.get("met_text")]  # fmt: skip
    return [report.table(["measure", "target", "measured", "met"], tl)]


def _budget(v: _View) -> list[str]:
    """Each section's time against its share of the run's budget; growth gets the rest."""
    meta = v.meta
    shares, took = meta.get("shares") or {}, meta.get("sections") or {}
    if not shares or not meta.get("budget_s"):
        return []
    lines = []
    for name, seconds in took.items():
        if name == "growth":
            left = meta.get("growth_budget_s")
            share = "the rest"
            if left is not None:
                share += f": {_minutes(left)}" if left > 0 else ": none (the others overran)"
            grown = [r for r in v.by["growth"] if "cost_ratio" in r]
            top = max((r.get("level", 0) for r in v.by["growth"]), default=0)
            how = f"measured up to {grown[-1]['articles']:,} of {top:,} articles" if grown else ""
        else:
            share = _minutes(shares[name]) if name in shares else "-"
            over = seconds - shares.get(name, 0)
            how = f"over by {_minutes(over)}" if name in shares and over >= 1 else ""
        lines.append([name, share, _minutes(seconds), how])
    lines.append(["the whole run", _minutes(meta["budget_s"]), _minutes(meta["seconds"]), ""])
    return [report.table(["section", "share of the budget", "took", ""], lines)]


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def _ingest(v: _View) -> list[str]:
    t = report.table
    il = [[r["label"], r.get("n"), r.get("value"), r.get("unit"), r.get("seconds"),
           r.get("median"), r.get("p99"), r.get("max"), r.get("target") or "",
           r.get("ok") if r.get("ok") is not None else ""]
          for r in v.by["ingest"] if "per_article_kb" not in r]  # fmt: skip
    out = [t(["measure", "n", "value", "unit", "seconds", "median ms/article", "p99 ms",
              "max ms", "target", "met"], il)]  # fmt: skip
    sl = [[r["label"], r["n"], r["value"], r["per_article_kb"]]
          for r in v.by["ingest"] if "per_article_kb" in r]  # fmt: skip
    if sl:
        out += ["", t(["size", "articles", "MB", "kB per article"], sl)]
    return out + v.text("ingest")


def _latency(v: _View) -> list[str]:
    return [report.table(LAT_HEAD, _lat_lines(v.by["latency"]))] + v.text("latency")


def _annotate(v: _View) -> list[str]:
    al = [[r["label"], r.get("n"), r.get("value"), r.get("median"), r.get("p99"), r.get("max"),
           r.get("target") or "", r.get("ok") if r.get("ok") is not None else "",
           r.get("peer") or "", r.get("peer_value"), r.get("peer_median"), r.get("peer_p99"),
           r.get("ratio")] for r in v.by["annotate"]]  # fmt: skip
    return [report.table(["measure", "articles", "MB/s", "median ms/article", "p99 ms", "max ms",
                          "target", "met", "peer", "peer MB/s", "peer median ms", "peer p99 ms",
                          "ratio (ours / peer MB/s)"], al)] + v.text("annotate")  # fmt: skip


def _http(v: _View) -> list[str]:
    t = report.table
    hl = [[r["label"], r.get("value"), r.get("median"), r.get("p99"), r.get("max"),
           r.get("errors"), r.get("target") or "", r.get("ok") if r.get("ok") is not None else "",
           r.get("peer_value"), r.get("peer_median"), r.get("peer_p99"), r.get("ratio")]
          for r in v.by["http"] if r.get("unit") == "req/s"]  # fmt: skip
    out = [t(["endpoint", "req/s", "median ms", "p99 ms", "max ms", "errors", "target", "met",
              "Datasette req/s", "Datasette median ms", "Datasette p99 ms",
              "ratio (ours / Datasette req/s)"], hl)]  # fmt: skip
    ml = [[r["label"], r.get("value"), ", ".join(map(str, r.get("per_worker", []))),
           ", ".join(map(str, r.get("private", []))) or "-",
           r.get("target") or "", r.get("ok") if r.get("ok") is not None else ""]
          for r in v.by["http"] if r.get("unit") == "MB"]  # fmt: skip
    if ml:
        out += ["", t(["memory", "max RSS MB", "RSS per worker MB", "private (anonymous) MB",
                       "target", "met"], ml)]  # fmt: skip
    return out + v.text("http")


def _growth(v: _View) -> list[str]:
    out = v.text("growth", blocks_first=True)
    gl = [[r["label"], r.get("value"), r.get("target"), r.get("met_text") or r.get("ok")]
          for r in v.by["growth"] if r.get("unit") == "x"]  # fmt: skip
    if gl:
        out += ["", report.table(["measure", "ratio", "target", "met"], gl)]
    return out


def _postgres(v: _View) -> list[str]:
    pl = []
    for r in v.by["postgres"]:
        if r.get("unit") == "ms":
            pl.append([r["label"], "ms (median / p99)", f"{r['median']:.2f} / {r['p99']:.2f}",
                       f"{r['peer_median']:.2f} / {r['peer_p99']:.2f}",
                       r.get("ratio")])  # fmt: skip
        else:
            pl.append([r["label"], r["unit"], r["value"], r["peer_value"], r.get("ratio")])
    out = []
    if pl:
        out.append(report.table(["measure", "unit", "PostgreSQL", "SQLite",
                                 "ratio (PostgreSQL faster > 1)"], pl))  # fmt: skip
    return out + v.text("postgres")


def _helpers(v: _View) -> list[str]:
    return v.text("helpers", blocks_first=True)


def _regressions(v: _View) -> list[str]:
    meta, data = v.meta, v.data
    regs, prev_meta = data.get("regressions", []), data.get("baseline")
    if not prev_meta:
        return [f"No kept {meta['mode']} results to compare with: this run is the baseline."]
    worse = [x for x in regs if x["regressed"]]
    out = [
        f"Compared with the {meta['mode']} run of {prev_meta.get('date', '?')} (commit "
        f"{prev_meta.get('commit', '?')}): {len(worse)} of {len(regs)} figures regressed "
        f"(worse by more than {int((report.REGRESSION_RATIO - 1) * 100)}%)."
    ]
    shown = worse or sorted(regs, key=lambda x: -abs(x["change"]))[:8]
    if shown:
        lines = [[x["label"], x["figure"], x["was"], x["now"], f"{x['change'] * 100:+.0f}%",
                  x["regressed"]] for x in shown]  # fmt: skip
        out += ["", report.table(["measure", "figure", "was", "now", "change", "regressed"],
                                 lines)]  # fmt: skip
    return out


def _profiles(v: _View) -> list[str]:
    out = []
    for name, text in v.profiles.items():
        out += [f"<details><summary>{name}</summary>", "", "```", text, "```", "", "</details>",
                ""]  # fmt: skip
    return out


def _main(r: dict) -> str:
    if r.get("unit") == "ms" and "median" in r:
        return f"median {r['median']:.2f} ms, p99 {r['p99']:.2f} ms, max {r['max']:.1f} ms"
    v = r.get("value")
    return "-" if v is None else f"{report.fmt(v)} {r.get('unit', '')}"


def snapshot() -> Path:
    """The committed code (HEAD) exported under bench/work/snap/, so that a long run and its
    gunicorn workers measure one version while others edit the checkout."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True, cwd=ROOT, check=True).stdout.strip()  # fmt: skip
    snap = corpus.WORK / "snap"
    dest = snap / commit
    if not (dest / "bench" / "run.py").exists():
        shutil.rmtree(dest, ignore_errors=True)
        dest.mkdir(parents=True)
        # keep the three newest snapshots (a --only --merge run goes on the one it completes)
        old = sorted((p for p in snap.iterdir() if p.is_dir() and p.name != "shared"),
                     key=lambda p: p.stat().st_mtime)  # fmt: skip
        for stale in old[:-3]:
            shutil.rmtree(stale, ignore_errors=True)
        archive = subprocess.run(["git", "archive", "HEAD"], capture_output=True, cwd=ROOT,
                                 check=True).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    shared = snap / "shared"  # the scripts that read ../shared find it next to the snapshot
    if not shared.exists():
        shared.symlink_to(corpus.CORPUS.parent)
    return dest


def _sizes(text: str) -> tuple[int, ...]:
    """Sizes written as 5000,10000 (or 50_000,...), smallest first."""
    return tuple(sorted(int(x.replace("_", "")) for x in text.split(",") if x.strip()))


def main() -> None:
    """Parse the arguments, run the suite, write results.json and README.md."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the small day-to-day run (< 3 min)")
    ap.add_argument("--only", choices=SECTIONS, help="one section; writes neither README nor "
                    "results.json")  # fmt: skip
    ap.add_argument("--live", action="store_true", help="measure the working tree as it is "
                    "(default: a snapshot of HEAD)")  # fmt: skip
    ap.add_argument("--growth-minutes", type=float, help="let growth run this long (default: "
                    "what is left of the run's budget)")  # fmt: skip
    ap.add_argument("--growth-levels", type=_sizes, help="grow to these sizes instead, e.g. "
                    "5000,10000 (to try the filler at small sizes)")  # fmt: skip
    ap.add_argument("--growth-procs", type=int, help="parallel index writers for the growth "
                    "fill (default 2)")  # fmt: skip
    ap.add_argument(
        "--merge",
        action="store_true",
        help="with --only: put the section into "
        "README.md and results.json in place of the kept run's (same commit only)",
    )
    a = ap.parse_args()
    if not a.live and "BENCH_OUTPUT" not in os.environ:
        dest = snapshot()
        env = {**os.environ, "BENCH_OUTPUT": str(BENCH), "BENCH_WORK": str(corpus.WORK),
               "BENCH_CORPUS": str(corpus.CORPUS), "PYTHONPATH": str(dest)}  # fmt: skip
        print(f"measuring the committed code: snapshot of HEAD in {dest}", flush=True)
        argv = [sys.executable, str(dest / "bench" / "run.py"), *sys.argv[1:]]
        raise SystemExit(subprocess.run(argv, env=env).returncode)
    mode = QUICK if a.quick else FULL
    if a.growth_minutes:
        mode = dataclasses.replace(mode, total_budget_s=1e9, growth_minutes=a.growth_minutes)
    if a.growth_levels:
        mode = dataclasses.replace(mode, growth_levels=a.growth_levels)
    if a.growth_procs:
        mode = dataclasses.replace(mode, growth_procs=a.growth_procs)
    command = "make bench-quick" if a.quick else "make bench"
    if a.only:
        command = "python bench/run.py " + " ".join(x for x in sys.argv[1:] if x != "--merge")
    load_start = os.getloadavg()
    suite = Suite(mode, a.only)
    try:
        suite.run()
    except KeyboardInterrupt:
        suite.say(f"interrupted: the figures so far are in {suite.checkpoint()}; README.md and "
                  "results.json left as they were")  # fmt: skip
        raise SystemExit(130) from None
    meta = suite.meta(command)
    meta["load_start"] = load_start
    run = {"meta": meta, "rows": suite.rows, "notes": suite.notes, "blocks": suite.blocks,
           "profiles": suite.profiles}  # fmt: skip
    previous = report.load_previous(RESULTS)
    if a.only:
        out = corpus.WORK / f"only-{a.only}-{mode.name}.json"
        out.write_text(json.dumps(run, indent=1, default=str))
        suite.say(f"wrote {out}")
        kept = previous.get(mode.name)
        if not a.merge or not kept or kept["meta"].get("commit") != meta["commit"]:
            suite.say("README.md and results.json left as they were (--merge: same commit only)")
            return
        run = merge(kept, run, a.only)
    else:
        baseline = previous.get(mode.name)
        run["baseline"] = baseline["meta"] if baseline else None
        run["regressions"] = report.regressions(baseline["rows"] if baseline else {}, suite.rows)
    # The committed README shows the full run; a quick run's tables go to bench/work.
    readme = README if mode.name == "full" else corpus.WORK / "README-quick.md"
    if mode.name != "full":
        readme.write_text(README.read_text(encoding="utf-8") if README.exists() else "")
    report.write_readme(readme, render(json.loads(json.dumps(run, default=str))))
    report.save_results(RESULTS, previous, mode.name, run)
    suite.say(f"wrote {readme} and {RESULTS}")


def merge(kept: dict, new: dict, section: str) -> dict:
    """The kept run with one section replaced by a later --only run's."""
    out = json.loads(json.dumps(kept, default=str))
    out["rows"] = {k: v for k, v in out["rows"].items() if v["section"] != section}
    out["rows"].update({k: v for k, v in new["rows"].items() if v["section"] == section})
    for key in ("notes", "blocks"):
        out.setdefault(key, {})[section] = new[key].get(section, [])
    out["profiles"] = {**out.get("profiles", {}), **new.get("profiles", {})}
    m = new["meta"]
    out["meta"].setdefault("reruns", {})[section] = {
        "command": m["command"], "date": m["date"], "seconds": m["seconds"],
        "load_end": m["load_end"][0],
    }  # fmt: skip
    return out


if __name__ == "__main__":
    main()
