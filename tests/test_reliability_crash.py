"""Crashes: SIGKILL an ingest, a reindex and a gunicorn worker in the middle of their work, at
random points, then restart and check the store and the indexes: no duplicate or partial article,
every committed mention present, indexes equal to a fresh rebuild, the old index serving meanwhile;
and an index deleted or corrupted while the service runs or before it starts is rebuilt."""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from glossary.search import index_status, reindex, search_articles, search_terms, sync_indexes
from glossary.store import Store
from tests.conftest import DATA, ROOT, cli_env, reach_every_worker, run_cli

pytestmark = pytest.mark.slow
PLACES = ["Pyongyang", "Sinuiju", "Hyesan", "Kaesong", "Rason", "Wonsan", "Chongjin"]
BODIES = ["the Cabinet", "the Ministry of Social Security", "the Ministry of State Security"]
QUERIES = ["Pyongyang", "Cabinet", "Ministry of Social Security", "Hyesan", "factory output",
           "Kaesong", "security", "Sinuiju market", "Test Works", "Chongjin officials"]  # fmt: skip
INGEST_TRIALS = 12  # ingests killed before they finished
# An ingest can finish before the moment picked to kill it (a chunk is one or two transactions):
# trials go on, each with a chunk of its own, until INGEST_TRIALS were killed.
MAX_INGEST_TRIALS = 2 * INGEST_TRIALS
REINDEX_TRIALS = 5
WORKER_KILLS = 8


# --- helpers shared with the concurrency tests ------------------------------------------------


def generated_articles(first: int, n: int, seed: int = 7) -> list[dict]:
    """Articles made up for the tests, each naming known terms and a new factory name."""
    rng = random.Random(seed + first)
    items = []
    for i in range(first, first + n):
        sentences = [
            f"Officials of {rng.choice(BODIES)} met in {rng.choice(PLACES)} on day {i}.",
            f"The Test Works Number {i % 41} Factory reported output in {rng.choice(PLACES)}.",
            f"Traders said prices rose in {rng.choice(PLACES)} after the meeting ({i}).",
        ] * rng.randint(2, 8)
        items.append(
            {
                "id": f"gen-{i}",
                "title": f"Generated story {i}",
                "date": f"2015-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "text": " ".join(sentences),
            }
        )
    return items


def write_jsonl(path: Path, items: list[dict]) -> Path:
    path.write_text("".join(json.dumps(i) + "\n" for i in items), encoding="utf-8")
    return path


def rows(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def mention_set(url: str) -> set[tuple]:
    """Every mention as (article identity, start, end, term slug or candidate key)."""
    return set(
        rows(
            url,
            "SELECT a.identity, m.start, m.\"end\", COALESCE(t.slug, 'c:' || c.key) "
            "FROM mention m JOIN article a ON a.id = m.article_id "
            "LEFT JOIN term t ON t.id = m.term_id LEFT JOIN candidate c ON c.id = m.candidate_id",
        )
    )


def prepared_store(tmp: Path, url: str) -> None:
    """A store with the test glossary, through the real command line."""
    for args in (("init",), ("import", str(DATA / "glossary.jsonl"))):
        result = run_cli(tmp, *args, database_url=url)
        assert result.returncode == 0, result.stderr[-2000:]


def answers(store: Store, index_dir: Path) -> list:
    """What the indexes answer to a fixed set of queries: the terms found, every matching article
    id, and the dates in date order. Order among near-equal scores and equal dates is left out:
    BM25 statistics count deleted documents until segments merge, so an index kept up to date
    and a fresh rebuild may break ties differently."""
    out = []
    for q in QUERIES:
        terms = search_terms(store, index_dir, q, per_page=100)
        out.append((q, terms.total, sorted(h.slug for h in terms.hits)))
        ids, dates, page = set(), [], 1
        while True:
            found = search_articles(store, index_dir, q, per_page=100, page=page, sort="date")
            ids.update(h.id for h in found.hits)
            dates += [h.published for h in found.hits]
            if page * 100 >= found.total:
                break
            page += 1
        out.append((q, found.total, sorted(ids), dates))
    return out


def assert_indexes_match_a_fresh_rebuild(url: str, index_dir: Path, tmp: Path) -> dict:
    """The live indexes have the store's documents and answer as a fresh rebuild does."""
    store = Store(url)
    try:
        report = sync_indexes(store, index_dir)
        assert report.status == "ok", report
        status = index_status(index_dir)
        assert status["status"] == "ok", status
        n_articles = rows(url, "SELECT COUNT(*) FROM article")[0][0]
        n_terms = rows(url, "SELECT COUNT(*) FROM term WHERE status = 'published'")[0][0]
        assert status["articles"]["docs"] == n_articles
        assert status["terms"]["docs"] == n_terms
        fresh = tmp / f"fresh-{time.monotonic_ns()}"
        reindex(store, fresh)
        assert answers(store, index_dir) == answers(store, fresh)
        shutil.rmtree(fresh)
        return {"articles": n_articles, "terms": n_terms}
    finally:
        store.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parsed(raw: bytes) -> object:
    """A response body as JSON, or its text when it is not JSON (an HTML page)."""
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw[:2000].decode("utf-8", "replace")


class Server:
    """gunicorn serving one store from a temp dir on a free loopback port."""

    def __init__(self, tmp: Path, url: str, workers: int = 2, **env: str) -> None:
        self.tmp, self.url, self.workers = tmp, url, workers
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.env = {**cli_env(tmp, url), **env}
        self.proc: subprocess.Popen | None = None

    def start(self, wait_index: bool = True) -> None:
        self.log = (self.tmp / "gunicorn.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(self.workers), "--bind",
             f"127.0.0.1:{self.port}", "--timeout", "60", "--graceful-timeout", "5", "wsgi:app"],
            env=self.env, cwd=ROOT, stdout=self.log, stderr=self.log, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                health = self.get("/healthz")
                if not wait_index or health["index"].get("status") == "ok":
                    return
            except (OSError, KeyError, ValueError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"gunicorn did not come up: {self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return (self.tmp / "gunicorn.log").read_text(errors="replace")

    def first_traceback(self) -> str:
        """The log around its first traceback (what a failed test needs to say), or ""."""
        log = self.log_text()
        at = log.find("Traceback")
        return log[max(0, at - 300) : at + 4000] if at >= 0 else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def worker_pids(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.proc.pid)],
                             capture_output=True, text=True).stdout  # fmt: skip
        return [int(p) for p in out.split()]

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        headers: dict | None = None,
        timeout: float = 30,
    ) -> tuple[int, dict, object]:
        """(status, headers, JSON body or None); raises OSError when the connection breaks."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json",
                                              **(headers or {})})  # fmt: skip
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, dict(r.headers), _parsed(r.read())
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), _parsed(e.read())

    def get(self, path: str) -> dict:
        status, _h, body = self.request("GET", path)
        if status >= 500:
            raise AssertionError(f"{path}: {status} {body}")
        return body


# --- killed ingest ------------------------------------------------------------------------------


def test_ingest_killed_at_random_points(tmp_path, database_url):
    """INGEST_TRIALS kills, each at a random moment of an ingest (reading, storing or syncing)."""
    db = database_url
    prepared_store(tmp_path, db)
    chunks = [write_jsonl(tmp_path / f"chunk-{k}.jsonl", generated_articles(k * 60, 60))
              for k in range(MAX_INGEST_TRIALS)]  # fmt: skip
    everything = [item for k in range(MAX_INGEST_TRIALS) for item in generated_articles(k * 60, 60)]

    # the reference: the same corpus ingested without interruption into a store of its own
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref = f"sqlite:///{ref_dir / 'ref.db'}"
    prepared_store(ref_dir, ref)
    done = run_cli(ref_dir, "ingest", *map(str, chunks), database_url=ref, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    expected = mention_set(ref)
    expected_by_article: dict[str, set] = {}
    for m in expected:
        expected_by_article.setdefault(m[0], set()).add(m)

    rng = random.Random(2026)
    outcomes = []
    for trial in range(MAX_INGEST_TRIALS):
        if sum(1 for o in outcomes if o[2] != "finished") >= INGEST_TRIALS:
            break
        # each trial ingests its own chunk and the one before (partly stored by the last kill)
        paths = [str(p) for p in chunks[max(0, trial - 1) : trial + 1]]
        out = (tmp_path / f"ingest-{trial}.out").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "glossary", "ingest", *paths],
            env=cli_env(tmp_path, db), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        # kill while storing (after a random number of new articles) or while syncing
        before = rows(db, "SELECT COUNT(*) FROM article")[0][0]
        storing = rng.random() < 0.7
        target = before + rng.randint(1, 59)
        extra = rng.uniform(0.0, 0.3)
        started = time.monotonic()
        while proc.poll() is None and time.monotonic() - started < 120:
            if storing and rows(db, "SELECT COUNT(*) FROM article")[0][0] >= target:
                break
            if not storing and "ingested" in (tmp_path / f"ingest-{trial}.out").read_text():
                break
            time.sleep(0.01)
        time.sleep(extra)
        delay = time.monotonic() - started
        killed = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        out.close()
        said = (tmp_path / f"ingest-{trial}.out").read_text(errors="replace")
        phase = "finished" if not killed else "syncing" if "ingested" in said else "ingesting"
        stored = rows(db, "SELECT identity, text FROM article")
        identities = [r[0] for r in stored]
        assert len(identities) == len(set(identities)), "an article was stored twice"
        assert all(r[1] for r in stored), "an article was stored without its text"
        got = mention_set(db)
        for identity in identities:
            mine = {m for m in got if m[0] == identity}
            assert mine == expected_by_article.get(identity, set()), f"partial {identity}"
        outcomes.append((trial, round(delay, 2), phase, len(identities)))
    print("ingest kills (trial, seconds, phase, articles stored):", outcomes)
    assert sum(1 for o in outcomes if o[2] != "finished") >= 10, outcomes

    final = run_cli(tmp_path, "ingest", *map(str, chunks), database_url=db, timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]
    identities = sorted(r[0] for r in rows(db, "SELECT identity FROM article"))
    assert identities == sorted(f"id:{i['id']}" for i in everything)
    assert mention_set(db) == expected
    counts = assert_indexes_match_a_fresh_rebuild(db, tmp_path / "index", tmp_path)
    assert counts["articles"] == len(everything)


# --- killed reindex -----------------------------------------------------------------------------


def test_reindex_killed_keeps_the_old_index_serving(tmp_path, database_url):
    db = database_url
    prepared_store(tmp_path, db)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", generated_articles(0, 900))
    done = run_cli(tmp_path, "ingest", str(corpus), database_url=db, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    index_dir = tmp_path / "index"
    store = Store(db)
    before = answers(store, index_dir)
    live = (index_dir / "CURRENT").read_text()
    rng = random.Random(5)
    kills = []
    for trial in range(REINDEX_TRIALS):
        proc = subprocess.Popen(
            [sys.executable, "-m", "glossary", "reindex"],
            env=cli_env(tmp_path, db), cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # kill early (building the term index) or late (building the article index)
        marker = "gen-*/.building" if trial % 2 == 0 else "gen-*/articles"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p for p in index_dir.glob(marker) if (p.parent / ".building").exists()):
                break
            time.sleep(0.005)
        delay = rng.uniform(0.0, 0.2)
        time.sleep(delay)
        running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        phase = ("terms" if trial % 2 == 0 else "articles") if running else "finished"
        kills.append((trial, round(delay, 2), phase))
        if running:
            assert (index_dir / "CURRENT").read_text() == live, "a half-built index went live"
        else:
            live = (index_dir / "CURRENT").read_text()
        assert index_status(index_dir)["status"] == "ok"
        assert answers(store, index_dir) == before  # the old index keeps serving
    print("reindex kills (trial, seconds after the phase began, phase):", kills)
    assert sum(1 for k in kills if k[2] != "finished") >= 3, kills
    done = run_cli(tmp_path, "reindex", database_url=db, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (index_dir / "CURRENT").read_text() != live
    assert answers(store, index_dir) == before
    store.dispose()
    assert_indexes_match_a_fresh_rebuild(db, index_dir, tmp_path)


def test_killed_reindex_leftovers_are_cleaned_by_the_next(tmp_path, database_url):
    db = database_url
    prepared_store(tmp_path, db)
    index_dir = tmp_path / "index"
    stale = index_dir / "gen-20000101000000-deadbeef"
    stale.mkdir(parents=True)
    (stale / ".building").write_text("999999999")  # a pid that cannot be running
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    for _ in range(2):
        done = run_cli(tmp_path, "reindex", database_url=db)
        assert done.returncode == 0, done.stderr[-2000:]
    assert not stale.exists()


# --- killed worker ------------------------------------------------------------------------------


def test_worker_killed_in_the_middle_of_writes(tmp_path, database_url):
    """Writes go on while workers are SIGKILLed; gunicorn replaces them; every acknowledged write
    is there whole, an unacknowledged one is there whole or not at all."""
    db = database_url
    prepared_store(tmp_path, db)
    made = run_cli(tmp_path, "token", "create", "crash", "--role", "admin", database_url=db)
    token = made.stdout.strip().splitlines()[0]
    auth = {"Authorization": f"Bearer {token}"}
    server = Server(tmp_path, db, workers=2)
    server.start()
    rng = random.Random(3)
    acknowledged, broken = [], []
    articles = generated_articles(10_000, 400, seed=11)
    try:
        import threading

        stop = threading.Event()

        def killer() -> None:
            kills, deadline = 0, time.monotonic() + 90
            while kills < WORKER_KILLS and not stop.is_set():
                time.sleep(rng.uniform(0.3, 0.9))
                pids = server.worker_pids()
                if pids:
                    os.kill(rng.choice(pids), signal.SIGKILL)
                    kills += 1
            # Writes go on after the last kill until at least 10 were acknowledged, however
            # slow a busy machine makes them.
            while len(acknowledged) < 10 and time.monotonic() < deadline:
                time.sleep(0.1)
            stop.set()

        thread = threading.Thread(target=killer)
        thread.start()
        i = 0
        while not stop.is_set() and i < len(articles):
            body = {k: articles[i][k] for k in ("title", "text")} | {
                "external_id": articles[i]["id"], "published": articles[i]["date"]}  # fmt: skip
            try:
                status, _h, answer = server.request("POST", "/api/articles", body, auth)
            except (OSError, http.client.HTTPException) as exc:  # died with the worker
                broken.append((articles[i]["id"], type(exc).__name__))
            else:
                if status >= 500 and status != 502:
                    raise AssertionError(f"{status}: {answer}")
                if status in (200, 201):
                    acknowledged.append(articles[i]["id"])
                else:
                    broken.append((articles[i]["id"], status))
            i += 1
        thread.join()
        time.sleep(1.0)
        assert server.proc.poll() is None
        assert len(server.worker_pids()) == 2
        print(f"worker kills: {WORKER_KILLS}; writes acknowledged {len(acknowledged)}, "
              f"broken {len(broken)}: {broken}")  # fmt: skip
        assert len(acknowledged) >= 10
        stored = dict(rows(db, "SELECT identity, id FROM article"))
        for ext in acknowledged:
            assert f"id:{ext}" in stored, f"acknowledged {ext} is missing"
        identities = [r[0] for r in rows(db, "SELECT identity FROM article")]
        assert len(identities) == len(set(identities))
        bare = rows(db, "SELECT COUNT(*) FROM article a WHERE NOT EXISTS "
                        "(SELECT 1 FROM mention m WHERE m.article_id = a.id)")[0][0]  # fmt: skip
        assert bare == 0, "an article was stored without its mentions"
        # the service still answers, and its index catches up with the store
        assert server.get("/healthz")["status"] in ("ok", "degraded")
        status, _h, found = server.request("GET", f"/api/articles/search?q={articles[0]['id']}")
        assert status == 200
    finally:
        server.stop()
    assert "Traceback" not in server.log_text().replace("WORKER TIMEOUT", "")
    assert_indexes_match_a_fresh_rebuild(db, tmp_path / "index", tmp_path)


# --- lost index ---------------------------------------------------------------------------------


def wait_for(check, seconds: float, what: str) -> float:  # noqa: ANN001
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {what}")


def corrupt(index_dir: Path) -> None:
    """Replace every file of the live generation's term index with junk (new files: whoosh maps
    the old ones into memory, and truncating a mapped file kills the reader with SIGBUS)."""
    gen = index_dir / (index_dir / "CURRENT").read_text().strip()
    for path in (gen / "terms").iterdir():
        junk = path.with_name(path.name + ".junk")
        junk.write_bytes(b"\x00junk" * 10)
        os.replace(junk, path)


@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_index_lost_before_start_up_is_rebuilt_while_serving(tmp_path, database_url, damage):
    db = database_url
    prepared_store(tmp_path, db)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", generated_articles(0, 300))
    assert run_cli(tmp_path, "ingest", str(corpus), database_url=db).returncode == 0
    index_dir = tmp_path / "index"
    if damage == "deleted":
        shutil.rmtree(index_dir)
    else:
        corrupt(index_dir)
    server = Server(tmp_path, db, workers=2)
    server.start(wait_index=False)
    try:
        seen = set()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            health = server.get("/healthz")
            seen.add(health["index"]["status"])
            status, _h, _body = server.request("GET", "/api/search?q=Pyongyang")
            assert status == 200  # answers, perhaps empty, while rebuilding
            if health["index"]["status"] == "ok":
                break
            assert health["status"] == "degraded"
            time.sleep(0.02)
        assert health["index"]["status"] == "ok", seen
        assert health["index"]["articles"]["docs"] == 300
        print(f"index {damage} at start-up: statuses seen {sorted(seen)}")
        hits = server.get("/api/search?q=Pyongyang")["items"]
        assert hits and hits[0]["slug"] == "pyongyang"
    finally:
        server.stop()


@pytest.mark.parametrize("follow", ["0.2", "0"], ids=["follower", "no-follower"])
@pytest.mark.parametrize("damage", ["deleted", "corrupt"])
def test_index_lost_while_running_is_rebuilt(tmp_path, database_url, damage, follow):
    """Every worker has already served (so none rebuilds on its first request): the damage is
    found by a request or by the follower, and repaired while the service keeps answering."""
    db = database_url
    prepared_store(tmp_path, db)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", generated_articles(0, 300))
    assert run_cli(tmp_path, "ingest", str(corpus), database_url=db).returncode == 0
    index_dir = tmp_path / "index"
    server = Server(tmp_path, db, workers=2, GLOSSARY_FOLLOW_INTERVAL=follow)
    server.start()
    try:
        served = reach_every_worker(lambda: server.get("/healthz")["worker"], 2)
        assert len(served) == 2, "both workers should have served before the damage"
        assert server.get("/api/search?q=Pyongyang")["items"][0]["slug"] == "pyongyang"
        if damage == "deleted":
            shutil.rmtree(index_dir)
        else:
            corrupt(index_dir)
        statuses, answered = set(), Counter()

        def healthy_again() -> bool:
            status, _h, _b = server.request("GET", "/api/search?q=Pyongyang")
            answered[status] += 1
            health = server.get("/healthz")
            statuses.add(health["index"]["status"])
            return health["index"]["status"] == "ok"

        took = wait_for(healthy_again, 60, f"index {damage} while running is rebuilt")
        print(f"index {damage} while running: healthy again after {took:.1f} s; "
              f"health {sorted(statuses)}; searches meanwhile {dict(answered)}")  # fmt: skip
        assert statuses - {"ok"}, "healthz never said the index was damaged"
        assert server.get("/api/search?q=Pyongyang")["items"][0]["slug"] == "pyongyang"
        assert set(answered) == {200}, answered
    finally:
        server.stop()
