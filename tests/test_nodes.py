"""Two web nodes on one PostgreSQL, each with its own index directory: a write through one is
found through the other's search within a second, and a node that was down catches up."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tests.conftest import DATA, ROOT, cli_env, run_cli

POSTGRES = os.environ.get(
    "GLOSSARY_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def postgres_or_skip() -> None:
    try:
        engine = create_engine(POSTGRES, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES}: {exc.__class__.__name__}")


@pytest.fixture
def pg_url():
    """A PostgreSQL database of this test's own, dropped after it."""
    postgres_or_skip()
    name = f"glossary_nodes_{os.getpid()}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Node:
    """One web node: gunicorn with its own index directory, following the shared change log."""

    def __init__(self, tmp: Path, name: str, db: str) -> None:
        self.dir = tmp / name
        self.dir.mkdir(exist_ok=True)
        self.db = db
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = cli_env(self.dir, self.db)
        env["GLOSSARY_FOLLOW_INTERVAL"] = "0.2"
        self.log = (self.dir / "node.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", "2", "--bind",
             f"127.0.0.1:{self.port}", "wsgi:app"],
            env=env, cwd=ROOT, stdout=self.log, stderr=self.log, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                status = self.get("/healthz")
                if status["index"].get("status") == "ok":
                    return
            except (OSError, urllib.error.URLError, KeyError):
                pass
            time.sleep(0.1)
        raise AssertionError(f"node did not come up: {(self.dir / 'node.log').read_text()}")

    def kill(self) -> None:
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def get(self, path: str) -> dict:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as r:
            return json.load(r)

    def post(self, path: str, body: dict, token: str) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    def finds(self, query: str, slug: str) -> bool:
        hits = self.get(f"/api/search?q={urllib.request.quote(query)}")
        return any(hit["slug"] == slug for hit in hits["items"])


def wait_until(check, seconds: float) -> float:
    """Seconds until check() holds; fails after `seconds`."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if check():
            return time.monotonic() - start
        time.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s")


def new_term(n: int) -> dict:
    return {
        "name": f"Test Node Bureau Number {n}",
        "type": "organization",
        "definitions": [{"text": f"A body made up for the two-node test ({n})."}],
    }


@pytest.mark.slow
def test_write_on_one_node_is_found_on_the_other(tmp_path, pg_url):
    assert run_cli(tmp_path, "init", database_url=pg_url).returncode == 0
    assert (
        run_cli(tmp_path, "import", str(DATA / "glossary.jsonl"), database_url=pg_url).returncode
        == 0
    )
    made = run_cli(tmp_path, "token", "create", "nodes", "--role", "admin", database_url=pg_url)
    token = made.stdout.strip().splitlines()[0]
    a, b = Node(tmp_path, "a", pg_url), Node(tmp_path, "b", pg_url)
    a.start()
    b.start()
    try:
        assert b.finds("Pyongsong Market", "pyongsong-market")
        written = a.post("/api/terms", new_term(1), token)
        slug = written["term"]["slug"]
        assert a.finds("Test Node Bureau Number 1", slug)  # the writer's own node at once
        lag = wait_until(lambda: b.finds("Test Node Bureau Number 1", slug), 1.0)
        assert lag <= 1.0

        b.kill()
        later = [a.post("/api/terms", new_term(n), token)["term"]["slug"] for n in (2, 3)]
        b.start()
        for n, slug in zip((2, 3), later, strict=True):
            wait_until(lambda n=n, slug=slug: b.finds(f"Test Node Bureau Number {n}", slug), 5.0)
        assert (b.dir / "index").exists() and (a.dir / "index").exists()
    finally:
        for node in (a, b):
            if node.proc and node.proc.poll() is None:
                node.kill()
