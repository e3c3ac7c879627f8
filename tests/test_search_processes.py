"""Search across processes: gunicorn with 3 workers serving one store while terms are created,
renamed and given labels through the API and articles come in through the API and the command
line, with searches running all along. Every acknowledged change is searched for (and new names
looked up) at once, again and again until each of the 3 workers has answered, and every answer
must find it; no 5xx, and no lock error in the log."""

from __future__ import annotations

import random
import shlex
import threading
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from glossary import create_app
from glossary.gazetteer import forget_matchers
from glossary.lookup import forget_tables
from tests.conftest import DATA, app_config, reach_every_worker, run_cli
from tests.test_reliability_concurrency import LOCK_WORDS
from tests.test_reliability_crash import Server, write_jsonl

pytestmark = pytest.mark.slow
WORKERS = 3
DURATION = 20.0
# gunicorn's workers race to accept each connection, and on a busy machine one of them can win
# scores of times running: searches for a change go on until every worker has answered.
REACH_SECONDS = 20.0
CLI_SECONDS = 4.0  # about what one `python -m glossary ingest` takes here
SEARCH_PATHS = [
    "/api/search?q=Pyongyang",
    "/api/search?q=ministry+security",
    "/api/search?q=Probe+Bureau",
    "/api/suggest?q=Py",
    "/api/suggest?q=Probe",
    "/api/articles/search?q=factory+output",
    "/api/articles/search?q=Cabinet",
    "/api/lookup?name=Cabinet",
]
# The access log names the worker (%(p)s is "<pid>") that answered each probed request.
ACCESS_FORMAT = "%(p)s %({x-probe}i)s %(s)s"


class Probes:
    """Which worker answered each request sent with an X-Probe header, from the access log."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.seen: dict[str, int] = {}
        self.lock = threading.Lock()

    def worker(self, probe: str, timeout: float = 10.0) -> int:
        """The process id that answered the request with this probe."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if probe not in self.seen:
                    self._read()
                if probe in self.seen:
                    return self.seen.pop(probe)
            if time.monotonic() > deadline:
                raise AssertionError(f"probe {probe} never reached the access log")
            time.sleep(0.005)  # gunicorn logs the request just after sending the answer

    def _read(self) -> None:
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].decode(errors="replace").splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[1] != "-":
                self.seen[parts[1]] = int(parts[0].strip("<>"))


class Run:
    """What the clients saw, shared by the threads."""

    def __init__(self, server: Server, probes: Probes, workers: set[int]) -> None:
        self.server, self.probes, self.workers = server, probes, workers
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.errors: list[str] = []
        self.verified: Counter[str] = Counter()
        self.searches = 0
        self.tries: list[int] = []  # searches each verified change took to reach every worker

    def saw(self, kind: str, status: int, detail: object = None, ok: tuple = (200, 201)) -> None:
        with self.lock:
            self.statuses[f"{kind} {status}"] += 1
            if status >= 500 or (kind != "read" and status not in ok):
                self.errors.append(f"{kind}: {status} {str(detail)[:300]}")

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)

    def findable_everywhere(self, what: str, path: str, found: Callable[[object], bool]) -> None:
        """Search at once and again until every worker has answered; each answer must find it."""
        answered: Counter[int] = Counter()
        deadline = time.monotonic() + REACH_SECONDS
        while time.monotonic() < deadline:
            probe = uuid.uuid4().hex
            status, _h, body = self.server.request("GET", path, headers={"X-Probe": probe})
            pid = self.probes.worker(probe)
            with self.lock:
                self.searches += 1
            self.saw("read", status, body)
            if pid not in self.workers:
                return self.fail(f"{what}: answered by {pid}, not one of {sorted(self.workers)}")
            if status != 200 or not found(body):
                return self.fail(f"{what}: worker {pid} answered {status} without it, after "
                                 f"{dict(answered)} had found it: {str(body)[:300]}")  # fmt: skip
            answered[pid] += 1
            if set(answered) == self.workers:
                with self.lock:
                    self.verified[what] += 1
                    self.tries.append(sum(answered.values()))
                return None
        return self.fail(f"{what}: only workers {dict(answered)} answered in {REACH_SECONDS} s")


def _words(seed: int):  # noqa: ANN202
    """Made-up words, each used once, so a search for one finds only what carries it."""
    rng, used = random.Random(seed), set()
    while True:
        word = "".join(rng.choice("bdfgklmnprstvz") + rng.choice("aeiou") for _ in range(4))
        if word not in used:
            used.add(word)
            yield word.capitalize()


def _q(path: str, q: str, **extra: object) -> str:
    return f"{path}?{urllib.parse.urlencode({'q': q, **extra})}"


def _has_term(slug: str) -> Callable[[object], bool]:
    return lambda body: slug in [h["slug"] for h in body["items"]]


def _looked_up(slug: str) -> Callable[[object], bool]:
    return lambda body: (body["term"] or {}).get("slug") == slug


def _lookup(name: str) -> str:
    return f"/api/lookup?{urllib.parse.urlencode({'name': name})}"


def _has_articles(titles: set[str]) -> Callable[[object], bool]:
    return lambda body: titles <= {h["title"] for h in body["items"]}


def _prepared(tmp_path: Path, database_url: str) -> str:
    """The test glossary in a new store, made in this process (the command line's own start-up
    would cost seconds a run); an editor token for it."""
    app = create_app(app_config(tmp_path, database_url))
    runner = app.test_cli_runner()
    try:
        for args in (["init"], ["import", str(DATA / "glossary.jsonl")],
                     ["token", "create", "probe-editor", "--role", "editor"]):  # fmt: skip
            result = runner.invoke(args=args)
            assert result.exit_code == 0, result.output
        return result.stdout.strip().splitlines()[0]
    finally:
        app.extensions["glossary.store"].dispose()
        forget_matchers()
        forget_tables()


@pytest.fixture
def served(tmp_path, database_url):
    """gunicorn (3 workers, access log naming the worker of each request) on the test glossary."""
    editor = {"Authorization": f"Bearer {_prepared(tmp_path, database_url)}"}
    access = tmp_path / "access.log"
    args = f"--access-logfile {access} --access-logformat {shlex.quote(ACCESS_FORMAT)}"
    server = Server(tmp_path, database_url, workers=WORKERS, GUNICORN_CMD_ARGS=args)
    server.start()
    yield server, Probes(access), editor
    server.stop()


def test_every_acknowledged_change_is_found_by_every_worker(served, tmp_path, database_url):
    server, probes, auth = served
    workers = reach_every_worker(lambda: server.get("/healthz")["worker"], WORKERS)
    assert len(workers) == WORKERS and workers == set(server.worker_pids()), workers
    run = Run(server, probes, workers)
    stop = threading.Event()

    def term_editor() -> None:
        words = _words(1)
        while not stop.is_set():
            name = f"Probe Bureau {next(words)}"
            status, _h, body = server.request(
                "POST", "/api/terms", {"name": name, "type": "organization"}, auth
            )
            run.saw("term create", status, body)
            if status != 201:
                continue
            slug = body["term"]["slug"]
            run.findable_everywhere("term created", _q("/api/search", name), _has_term(slug))
            run.findable_everywhere("term looked up", _lookup(name), _looked_up(slug))
            alias = f"{next(words)} Liaison Office"
            status, headers, body = server.request(
                "POST", f"/api/terms/{slug}/labels", {"text": alias, "kind": "alias"}, auth
            )
            run.saw("label add", status, body)
            if status != 201:
                continue
            run.findable_everywhere("label added", _q("/api/search", alias), _has_term(slug))
            run.findable_everywhere("label looked up", _lookup(alias), _looked_up(slug))
            renamed = f"{next(words)} Probe Works"
            status, _h, body = server.request(
                "PATCH", f"/api/terms/{slug}", {"name": renamed},
                {**auth, "If-Match": headers["ETag"]},
            )  # fmt: skip
            run.saw("term rename", status, body)
            if status == 200:
                run.findable_everywhere("term renamed", _q("/api/search", renamed),
                                        _has_term(slug))  # fmt: skip

    def article_poster() -> None:
        words = _words(2)
        n = 0
        while not stop.is_set():
            word, title = next(words), f"Posted story {n}"
            text = (f"Officials of the Cabinet met in Pyongyang on the {word} plan. "
                    f"The Test Works reported output after the {word} meeting.")  # fmt: skip
            body = {"external_id": f"posted-{n}", "title": title, "published": "2021-03-04",
                    "text": text}  # fmt: skip
            status, _h, answer = server.request("POST", "/api/articles", body, auth)
            run.saw("article post", status, answer)
            if status in (200, 201):
                path = _q("/api/articles/search", word)
                run.findable_everywhere("article posted", path, _has_articles({title}))
            n += 1

    def cli_ingester() -> None:
        words = _words(3)
        n = 0
        while time.monotonic() < ends - CLI_SECONDS:  # a run takes seconds: none near the end
            word = next(words)
            text = f"Traders in Hyesan spoke of the {word} market. Prices rose."
            items = [{"id": f"cli-{n}-{i}", "title": f"Ingested story {n}-{i}",
                      "date": "2020-05-06", "text": text} for i in range(2)]  # fmt: skip
            batch = write_jsonl(tmp_path / f"cli-{n}.jsonl", items)
            done = run_cli(tmp_path, "ingest", str(batch), database_url=database_url)
            run.saw("cli ingest", 201 if done.returncode == 0 else 500, done.stderr[-1000:])
            if done.returncode == 0:
                path = _q("/api/articles/search", word)
                titles = {i["title"] for i in items}
                run.findable_everywhere("cli ingested", path, _has_articles(titles))
            n += 1

    def searcher(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            status, _h, body = server.request("GET", rng.choice(SEARCH_PATHS))
            run.saw("read", status, body)

    threads = [threading.Thread(target=f) for f in (term_editor, article_poster, cli_ingester)]
    threads += [threading.Thread(target=searcher, args=(i,)) for i in range(2)]
    started = time.monotonic()
    ends = started + DURATION
    for thread in threads:
        thread.start()
    time.sleep(DURATION)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started
    tries = sorted(run.tries) or [0]
    print(f"search across processes: {elapsed:.0f} s, {run.searches} probe searches, "
          f"verified {dict(run.verified)}, searches to reach every worker: median "
          f"{tries[len(tries) // 2]}, max {tries[-1]}")  # fmt: skip
    print(dict(sorted(run.statuses.items())))
    assert not run.errors, (run.errors[:10], server.first_traceback())
    assert elapsed >= DURATION
    log = server.log_text()
    for word in LOCK_WORDS:
        assert word not in log, log[log.find(word) - 2000 : log.find(word) + 500]
    for what in ("term created", "term looked up", "label added", "label looked up",
                 "term renamed", "article posted", "cli ingested"):  # fmt: skip
        assert run.verified[what] >= 1, (what, run.verified)
    assert sum(run.verified.values()) >= 10, run.verified
