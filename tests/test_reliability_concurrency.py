"""Concurrency against gunicorn with 4 workers: readers and writers (term edits, label changes,
ingests, candidate decisions) for 30 s with no 5xx and no lock error, and a final state equal to
what the acknowledged writes imply; two editors changing one term: one wins, the other gets 412."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter

import pytest

from tests.conftest import run_cli
from tests.test_reliability_crash import (
    Server,
    assert_indexes_match_a_fresh_rebuild,
    generated_articles,
    prepared_store,
    rows,
    write_jsonl,
)

pytestmark = pytest.mark.slow
DURATION = 30.0
READERS = 4
READ_PATHS = [
    "/api/search?q=Pyongyang",
    "/api/search?q=ministry+security",
    "/api/suggest?q=Py",
    "/api/terms/cabinet",
    "/api/terms?type=place",
    "/api/articles/search?q=factory+output",
    "/api/lookup?name=Cabinet",
    "/api/candidates?status=pending",
    "/",
    "/?q=Hyesan",
    "/terms/pyongyang",
    "/browse",
    "/healthz",
]
LOCK_WORDS = ("database is locked", "LockError", "deadlock", "Traceback", "could not serialize")


class Tally:
    """What the clients saw, shared by the threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.statuses: Counter[str] = Counter()
        self.errors: list[str] = []

    def saw(self, kind: str, status: int, detail: object = None) -> None:
        with self.lock:
            self.statuses[f"{kind} {status}"] += 1
            if status >= 500 or (status >= 400 and kind != "read"):
                self.errors.append(f"{kind}: {status} {str(detail)[:300]}")


def token_for(tmp, db, role: str = "editor") -> str:  # noqa: ANN001
    made = run_cli(tmp, "token", "create", f"load-{role}", "--role", role, database_url=db)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[0]


@pytest.fixture
def served(request, tmp_path, database_url):
    """gunicorn (4 workers) on a store with the test glossary and 200 generated articles (or as
    many as the test's indirect parameter says)."""
    db = database_url
    prepared_store(tmp_path, db)
    articles = getattr(request, "param", 200)
    if articles:
        corpus = write_jsonl(tmp_path / "corpus.jsonl", generated_articles(0, articles))
        done = run_cli(tmp_path, "ingest", str(corpus), database_url=db)
        assert done.returncode == 0, done.stderr[-2000:]
    editor = {"Authorization": f"Bearer {token_for(tmp_path, db)}"}
    server = Server(tmp_path, db, workers=4)
    server.start()
    yield server, db, editor
    server.stop()


def test_readers_and_writers_for_thirty_seconds(served, tmp_path):
    server, db, auth = served
    tally = Tally()
    stop = threading.Event()
    expected_names: dict[str, str] = {}
    expected_labels: dict[str, set[str]] = {}
    acknowledged_articles: list[str] = []
    decisions: dict[int, str] = {}

    def reader(seed: int) -> None:
        rng = random.Random(seed)
        while not stop.is_set():
            path = rng.choice(READ_PATHS)
            status, _h, body = server.request("GET", path)
            tally.saw("read", status, body)

    def term_editor() -> None:
        n = 0
        while not stop.is_set():
            name = f"Concurrency Test Bureau {n}"
            status, _h, body = server.request(
                "POST", "/api/terms", {"name": name, "type": "organization"}, auth
            )
            tally.saw("term create", status, body)
            if status != 201:
                continue
            slug = body["term"]["slug"]
            expected_names[slug] = name
            for version in range(3):
                status, headers, _b = server.request("GET", f"/api/terms/{slug}")
                renamed = f"{name} revision {version}"
                status, _h, body = server.request(
                    "PATCH", f"/api/terms/{slug}", {"name": renamed},
                    {**auth, "If-Match": headers["ETag"]},
                )  # fmt: skip
                tally.saw("term edit", status, body)
                if status == 200:
                    expected_names[slug] = renamed
            n += 1

    def label_editor() -> None:
        slug = "label-churn-test-office"
        status, _h, body = server.request(
            "POST", "/api/terms",
            {"name": "Label Churn Test Office", "type": "organization", "slug": slug}, auth,
        )  # fmt: skip
        tally.saw("term create", status, body)
        assert status == 201, body
        expected_labels[slug] = set()
        rng = random.Random(9)
        live: dict[str, int] = {}
        n = 0
        while not stop.is_set():
            if live and rng.random() < 0.4:
                text = rng.choice(sorted(live))
                status, _h, body = server.request(
                    "DELETE", f"/api/terms/{slug}/labels/{live[text]}", None, auth
                )
                tally.saw("label delete", status, body)
                if status == 200:
                    del live[text]
            else:
                text = f"Churn Alias {n}"
                status, _h, body = server.request(
                    "POST", f"/api/terms/{slug}/labels", {"text": text, "kind": "alias"}, auth
                )
                tally.saw("label add", status, body)
                if status == 201:
                    live[text] = body["id"]
                n += 1
            expected_labels[slug] = set(live)

    def ingester() -> None:
        for item in generated_articles(50_000, 10_000, seed=23):
            if stop.is_set():
                return
            body = {"external_id": item["id"], "title": item["title"], "text": item["text"],
                    "published": item["date"]}  # fmt: skip
            status, _h, answer = server.request("POST", "/api/articles", body, auth)
            tally.saw("ingest", status, answer)
            if status in (200, 201):
                acknowledged_articles.append(item["id"])

    def decider() -> None:
        rng = random.Random(4)
        while not stop.is_set():
            status, _h, page = server.request("GET", "/api/candidates?status=pending&per_page=20")
            tally.saw("read", status, page)
            pending = [c for c in (page or {}).get("items", []) if c["id"] not in decisions]
            if not pending:
                time.sleep(0.1)
                continue
            candidate = rng.choice(pending)
            action = "reject" if rng.random() < 0.6 else "accept"
            status, _h, body = server.request(
                "POST", f"/api/candidates/{candidate['id']}/{action}",
                {} if action == "accept" else None, auth,
            )  # fmt: skip
            tally.saw(f"candidate {action}", status, body)
            if status == 200:
                decisions[candidate["id"]] = "rejected" if action == "reject" else "accepted"

    threads = [threading.Thread(target=reader, args=(i,)) for i in range(READERS)]
    threads += [threading.Thread(target=f) for f in (term_editor, label_editor, ingester, decider)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    time.sleep(DURATION)
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started
    total = sum(tally.statuses.values())
    print(f"concurrency: {elapsed:.0f} s, {total} requests "
          f"({total / elapsed:.0f}/s): {dict(sorted(tally.statuses.items()))}")  # fmt: skip
    assert not tally.errors, (tally.errors[:10], server.first_traceback())
    assert elapsed >= DURATION
    log = server.log_text()
    for word in LOCK_WORDS:
        assert word not in log, log[log.find(word) - 2000 : log.find(word) + 500]
    writes = sum(v for k, v in tally.statuses.items() if not k.startswith("read"))
    assert writes >= 50 and acknowledged_articles and decisions

    # the final state is what the acknowledged writes imply
    names = dict(rows(db, "SELECT slug, name FROM term WHERE slug LIKE 'concurrency-test-%'"))
    assert names == expected_names
    for slug, labels in expected_labels.items():
        sql = ("SELECT l.text FROM label l JOIN term t ON t.id = l.term_id "
               f"WHERE t.slug = '{slug}' AND l.kind = 'alias'")  # fmt: skip
        stored = {r[0] for r in rows(db, sql)}
        assert stored == labels
    identities = {r[0] for r in rows(db, "SELECT identity FROM article")}
    assert {f"id:{a}" for a in acknowledged_articles} <= identities
    assert len(identities) == 200 + len(acknowledged_articles)  # the fixture's 200
    statuses = dict(rows(db, "SELECT id, status FROM candidate"))
    for candidate_id, decided in decisions.items():
        assert statuses[candidate_id] == decided, candidate_id
    server.stop()
    assert_indexes_match_a_fresh_rebuild(db, tmp_path / "index", tmp_path)


@pytest.mark.parametrize("served", [0], indirect=True)
def test_two_editors_change_the_same_term_one_gets_412(served):
    server, db, auth = served
    rounds, outcomes = 20, Counter()
    for n in range(rounds):
        _s, headers, before = server.request("GET", "/api/terms/cabinet")
        etag = headers["ETag"]
        barrier = threading.Barrier(2)
        results: list[tuple[int, str]] = []

        def edit(who: str, etag: str = etag, n: int = n, barrier=barrier, results=results):  # noqa: ANN001
            barrier.wait()
            status, _h, _b = server.request(
                "PATCH", "/api/terms/cabinet", {"name": f"Cabinet ({who} {n})"},
                {**auth, "If-Match": etag},
            )  # fmt: skip
            results.append((status, who))

        pair = [threading.Thread(target=edit, args=(who,)) for who in ("first", "second")]
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join()
        codes = sorted(status for status, _ in results)
        outcomes[str(codes)] += 1
        assert codes.count(200) == 1, results  # one wins, never both: no lost update
        assert codes == [200, 412], results
        winner = next(who for status, who in results if status == 200)
        _s, _h, after = server.request("GET", "/api/terms/cabinet")
        assert after["name"] == f"Cabinet ({winner} {n})"
    print(f"two editors, {rounds} rounds: {dict(outcomes)}")
    # and one after the other: the second, holding the old ETag, is refused
    _s, headers, _b = server.request("GET", "/api/terms/cabinet")
    first = server.request("PATCH", "/api/terms/cabinet", {"name": "Cabinet"},
                           {**auth, "If-Match": headers["ETag"]})  # fmt: skip
    second = server.request("PATCH", "/api/terms/cabinet", {"name": "Cabinet of Ministers"},
                            {**auth, "If-Match": headers["ETag"]})  # fmt: skip
    assert (first[0], second[0]) == (200, 412)
    assert second[2]["status"] == 412
    assert server.get("/api/terms/cabinet")["name"] == "Cabinet"
