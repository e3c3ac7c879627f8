"""Backup and restore: export then import into an empty store gives the same glossary; a SQLite
backup taken while articles are being written restores to exactly what it held, with indexes
rebuilt; bad backup files are refused; PostgreSQL stores get pg_dump advice."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import func, select

from glossary import create_app
from glossary.backup import BackupError, backup, postgres_advice, restore, sqlite_path
from glossary.ingest import ArticleRecord
from glossary.models import Article, Term
from glossary.search import index_status, search_terms
from glossary.store import Store
from tests.conftest import POSTGRES, app_config

FORMATS = ("jsonl", "csv", "turtle", "jsonld")
sqlite_only = pytest.mark.skipif(
    bool(POSTGRES), reason="the online backup API is SQLite's; PostgreSQL uses pg_dump"
)


def exported(app, fmt: str = "jsonl") -> str:
    result = app.test_cli_runner().invoke(args=["export", "--format", fmt])
    assert result.exit_code == 0, result.output
    return result.output


def store_of(app) -> Store:
    return app.extensions["glossary.store"]


@pytest.fixture
def other_app(tmp_path):
    """A second, empty app on a SQLite store of its own."""
    target = tmp_path / "other"
    app = create_app(app_config(target, f"sqlite:///{target / 'glossary.db'}"))
    result = app.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 0, result.output
    yield app
    store_of(app).dispose()


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_then_import_into_an_empty_store_is_identical(app, other_app, tmp_path, fmt):
    dump = tmp_path / "glossary.jsonl"
    dump.write_text(exported(app), encoding="utf-8")
    result = other_app.test_cli_runner().invoke(args=["import", str(dump)])
    assert result.exit_code == 0, result.output
    assert exported(other_app, fmt) == exported(app, fmt)
    # and once more: importing the copy's own export changes nothing
    again = other_app.test_cli_runner().invoke(args=["import", str(dump)])
    assert "0 new, 0 updated" in again.output, again.output
    assert exported(other_app, fmt) == exported(app, fmt)


@sqlite_only
def test_backup_while_writing_then_restore_gives_the_backed_up_store(app, tmp_path):
    store = store_of(app)
    runner = app.test_cli_runner()
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:
        from glossary import articles
        from glossary.gazetteer import get_matcher

        n = 0
        while not stop.is_set() and n < 400:
            record = ArticleRecord(
                text=f"The Ministry of Social Security met in Pyongyang, story {n}.",
                title=f"Backup story {n}", external_id=f"bk-{n}", published="2020-01-01",
            )  # fmt: skip
            with app.app_context(), store.write() as session:
                articles.store_article(session, record, get_matcher(store), actor="test")
            written.append(n)
            n += 1

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        while len(written) < 20:
            stop.wait(0.01)
        result = runner.invoke(args=["backup", str(tmp_path / "copy.db")])
    finally:
        stop.set()
        writer.join()
    assert result.exit_code == 0, result.output
    assert "backed up" in result.output
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert copy.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        held = copy.execute("SELECT COUNT(*) FROM article WHERE identity LIKE 'id:bk-%'")
        (n_backed,) = held.fetchone()
        # a consistent snapshot: every article in it has its mentions and change-log row
        (bare,) = copy.execute(
            "SELECT COUNT(*) FROM article a WHERE NOT EXISTS "
            "(SELECT 1 FROM mention m WHERE m.article_id = a.id)"
        ).fetchone()
        (unlogged,) = copy.execute(
            "SELECT COUNT(*) FROM article a WHERE NOT EXISTS (SELECT 1 FROM change c "
            "WHERE c.entity = 'article' AND c.entity_id = a.id)"
        ).fetchone()
    finally:
        copy.close()
    assert 20 <= n_backed <= len(written)
    assert bare == 0 and unlogged == 0
    before = {fmt: exported(app, fmt) for fmt in FORMATS}

    # change the store after the backup: a new term, and a term deleted
    extra = tmp_path / "extra.jsonl"
    extra.write_text(
        '{"slug": "after-backup-bureau", "name": "After Backup Bureau", "type": "organization"}\n'
    )
    assert runner.invoke(args=["import", str(extra)]).exit_code == 0
    assert exported(app) != before["jsonl"]

    result = runner.invoke(args=["restore", str(tmp_path / "copy.db")], input="n\n")
    assert result.exit_code != 0 and "Aborted" in result.output  # asks before replacing data
    result = runner.invoke(args=["restore", "--yes", str(tmp_path / "copy.db")])
    assert result.exit_code == 0, result.output
    assert "restored" in result.output and "reindexed" in result.output
    for fmt in FORMATS:
        assert exported(app, fmt) == before[fmt]
    index_dir = app.config["INDEX_DIR"]
    status = index_status(index_dir)
    assert status["status"] == "ok"
    with store.read() as session:
        n_articles = session.scalar(select(func.count(Article.id)))
        n_terms = session.scalar(select(func.count(Term.id)).where(Term.status == "published"))
    assert status["articles"]["docs"] == n_articles
    assert status["terms"]["docs"] == n_terms
    assert not [h for h in search_terms(store, index_dir, "After Backup Bureau").hits
                if h.slug == "after-backup-bureau"]  # fmt: skip
    assert search_terms(store, index_dir, "Pyongyang").hits[0].slug == "pyongyang"
    # and the store keeps working: a write after the restore is logged and indexed
    assert runner.invoke(args=["import", str(extra)]).exit_code == 0
    hits = search_terms(store, index_dir, "After Backup Bureau").hits
    assert hits and hits[0].slug == "after-backup-bureau"


@sqlite_only
@pytest.mark.parametrize(
    "content, why",
    [
        (b"", "not a SQLite database"),
        (b"not a database at all\n" * 20, "not a SQLite database"),
        (None, "not a glossary backup"),
        (b"SQLite format 3\x00" + b"\xff" * 5000, "SQLite database"),
    ],
)
def test_restore_refuses_what_is_not_a_backup_and_keeps_the_store(app, tmp_path, content, why):
    bad = tmp_path / "bad.db"
    if content is None:
        other = sqlite3.connect(bad)
        other.execute("CREATE TABLE something (x)")
        other.commit()
        other.close()
    else:
        bad.write_bytes(content)
    before = exported(app)
    result = app.test_cli_runner().invoke(args=["restore", "--yes", str(bad)])
    assert result.exit_code == 1, result.output
    assert why in result.output
    assert exported(app) == before


@sqlite_only
def test_backup_refuses_the_live_file_and_directories(app, tmp_path):
    store = store_of(app)
    with pytest.raises(BackupError, match="live database"):
        backup(store, sqlite_path(store))
    with pytest.raises(BackupError, match="directory"):
        backup(store, tmp_path)
    with pytest.raises(BackupError, match="live database"):
        restore(store, sqlite_path(store))


def test_postgresql_stores_get_pg_dump_advice(tmp_path):
    store = Store("postgresql+psycopg://glossary:secret@db.example/glossary")
    with pytest.raises(BackupError) as caught:
        backup(store, tmp_path / "x.db")
    message = str(caught.value)
    assert "pg_dump --format=custom" in message and "pg_restore" in message
    assert "secret" not in message and "postgresql://glossary:***@db.example/glossary" in message
    with pytest.raises(BackupError, match="pg_restore"):
        restore(store, tmp_path / "x.db")
    store.dispose()
    assert "reindex" in postgres_advice(store.url)


@pytest.mark.skipif(not POSTGRES, reason="runs only against PostgreSQL")
def test_backup_command_on_postgresql_explains_pg_dump(empty_app, tmp_path):
    result = empty_app.test_cli_runner().invoke(args=["backup", str(tmp_path / "x.db")])
    assert result.exit_code == 1
    assert "pg_dump" in result.output
    assert not (tmp_path / "x.db").exists()
