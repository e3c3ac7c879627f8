"""Fixtures: an app on a fresh database with a small glossary and a few articles written for the
tests, its test client and CLI runner, and a way to run the real command line in a subprocess."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from glossary import create_app
from glossary.gazetteer import forget_matchers

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parent.parent
# Set to a PostgreSQL URL (a database the tests may connect to, such as
# postgresql+psycopg://postgres@127.0.0.1:5432/test) to run the suite on PostgreSQL: each test
# then gets a database of its own, dropped after it.
POSTGRES = os.environ.get("GLOSSARY_TEST_POSTGRES", "")
_numbers = itertools.count()


@pytest.fixture
def database_url(tmp_path: Path):
    """A fresh, empty database for one test: SQLite in tmp_path, or PostgreSQL when configured."""
    if not POSTGRES:
        yield f"sqlite:///{tmp_path / 'glossary.db'}"
        return
    name = f"glossary_test_{os.getpid()}_{next(_numbers)}"
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    yield make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    admin.dispose()


def app_config(tmp_path: Path, database_url: str) -> dict:
    """Settings for an app of its own in tmp_path."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "INDEX_DIR": str(tmp_path / "index"),
        "LOAD_STARTER": False,
        "LOAD_SAMPLES": False,
        "PREPARE_INDEXES": False,
    }


@pytest.fixture
def empty_app(tmp_path: Path, database_url: str):
    """An app whose database has the schema and nothing else."""
    app = create_app(app_config(tmp_path, database_url))
    result = app.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 0, result.output
    yield app
    app.extensions["glossary.store"].dispose()
    forget_matchers()


@pytest.fixture
def app(empty_app):
    """An app with the test glossary and the test articles loaded."""
    runner = empty_app.test_cli_runner()
    result = runner.invoke(args=["import", str(DATA / "glossary.jsonl")])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["ingest", str(DATA / "articles")])
    assert result.exit_code == 0, result.output
    return empty_app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def cli_env(tmp_path: Path, database_url: str | None = None) -> dict:
    """Environment for running `python -m glossary` against tmp_path's store."""
    env = dict(os.environ)
    env.update(
        GLOSSARY_DATABASE_URL=database_url or f"sqlite:///{tmp_path / 'glossary.db'}",
        GLOSSARY_INDEX_DIR=str(tmp_path / "index"),
        GLOSSARY_SECRET_KEY="test-secret",
        GLOSSARY_LOAD_STARTER="false",
        GLOSSARY_LOAD_SAMPLES="false",
        PYTHONPATH=str(ROOT),
    )
    return env


def run_cli(
    tmp_path: Path, *args: str, database_url: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    """Run the real command line in a subprocess, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "glossary", *args],
        env=cli_env(tmp_path, database_url),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def reach_every_worker(get_worker: Callable[[], int], workers: int, seconds: float = 30) -> set:
    """The worker ids that answered get_worker() (a request naming its worker), asked by several
    clients at once until all `workers` answered or time ran out. Requests one after another may
    all land on one gunicorn worker (the kernel hands each connection to whichever worker waits);
    while one is busy with a request, the next goes to another."""
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    with ThreadPoolExecutor(2 * workers) as pool:
        while len(seen) < workers and time.monotonic() < deadline:
            seen.update(pool.map(lambda _n: get_worker(), range(4 * workers)))
    return seen
