"""An ingest killed with SIGKILL part way loses nothing it committed, and a second run stores every
article exactly once."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import DATA, ROOT, cli_env, run_cli

PLACES = ["Pyongyang", "Sinuiju", "Hyesan", "Kaesong", "Rason", "Wonsan"]
BODIES = ["the Cabinet", "the Ministry of Social Security", "the Central Committee of the WPK"]


def generated_corpus(path, n: int) -> None:
    """Articles made up for the test: varied sentences naming known terms and new names."""
    rng = random.Random(7)
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            sentences = [
                f"Officials of {rng.choice(BODIES)} met in {rng.choice(PLACES)} on day {i}.",
                f"The Test Works Number {i % 37} Factory reported output in {rng.choice(PLACES)}.",
            ] * rng.randint(2, 6)
            item = {
                "id": f"gen-{i}",
                "title": f"Generated story {i}",
                "date": f"2012-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "text": " ".join(sentences),
            }
            fh.write(json.dumps(item) + "\n")


def scalar_rows(url: str, sql: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(sql))]
    finally:
        engine.dispose()


def article_rows(url: str) -> list[tuple]:
    return scalar_rows(url, "SELECT identity, text FROM article")


@pytest.mark.slow
def test_killed_ingest_loses_nothing_and_rerun_stores_each_once(tmp_path, database_url):
    db = database_url
    assert run_cli(tmp_path, "init", database_url=db).returncode == 0
    assert (
        run_cli(tmp_path, "import", str(DATA / "glossary.jsonl"), database_url=db).returncode == 0
    )
    corpus = tmp_path / "corpus.jsonl"
    generated_corpus(corpus, 600)
    rng = random.Random(11)
    for _trial in range(3):
        err = (tmp_path / "ingest.err").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "glossary", "ingest", "--no-sync", str(corpus)],
            env=cli_env(tmp_path, db),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        before = len(article_rows(db))
        target = before + rng.randint(5, 60)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if len(article_rows(db)) >= target:
                break
            time.sleep(0.02)
        assert proc.poll() is None, (tmp_path / "ingest.err").read_text()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        err.close()
        rows = article_rows(db)
        assert len(rows) == len({r[0] for r in rows}), "an article was stored twice"
        assert all(text for _, text in rows), "an article was stored half-written"
    assert scalar_rows(db, "SELECT COUNT(*) FROM mention")[0][0] > 0
    final = run_cli(tmp_path, "ingest", str(corpus), database_url=db)
    assert final.returncode == 0, final.stdout + final.stderr[-3000:]
    assert "0 failed" in final.stdout
    rows = article_rows(db)
    assert len(rows) == 600
    assert {r[0] for r in rows} == {f"id:gen-{i}" for i in range(600)}
    orphans = scalar_rows(
        db,
        "SELECT COUNT(*) FROM article a WHERE NOT EXISTS "
        "(SELECT 1 FROM mention m WHERE m.article_id = a.id)",
    )[0][0]
    assert orphans == 0, "every article names known terms, so each has mentions"
