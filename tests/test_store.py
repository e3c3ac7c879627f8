"""The store: migrations from nothing to head, `init` run twice, the change log."""

from __future__ import annotations

from sqlalchemy import inspect, select

from glossary.models import Change, Term
from glossary.store import Store, last_change, record_change
from tests.conftest import run_cli

TABLES = {
    "term",
    "label",
    "definition",
    "relation",
    "article",
    "mention",
    "candidate",
    "change",
    "token",
    "alembic_version",
}


def test_migrate_empty_database_to_head(database_url):
    store = Store(database_url)
    store.migrate()
    assert TABLES <= set(inspect(store.engine).get_table_names())
    with store.read() as session:
        assert session.execute(select(Term)).first() is None
    store.dispose()


def test_migrate_is_safe_twice(database_url):
    store = Store(database_url)
    store.migrate()
    with store.write() as session:
        session.add(Term(slug="kept", name="Kept", type="place"))
    store.migrate()
    with store.read() as session:
        assert session.scalar(select(Term.slug)) == "kept"
    store.dispose()


def test_init_twice_from_the_command_line(tmp_path, database_url):
    first = run_cli(tmp_path, "init", database_url=database_url)
    assert first.returncode == 0, first.stderr
    assert "database ready" in first.stdout
    second = run_cli(tmp_path, "init", database_url=database_url)
    assert second.returncode == 0, second.stderr


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path):
    """SQLite only: the embedded default must be safe for several worker processes."""
    store = Store(f"sqlite:///{tmp_path / 'wal.db'}")
    store.migrate()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    store.dispose()


def test_change_log_is_written_with_the_change_or_not_at_all(database_url):
    store = Store(database_url)
    store.migrate()
    with store.write() as session:
        term = Term(slug="a", name="A", type="place")
        session.add(term)
        session.flush()
        record_change(session, "term", term.id, "upsert")
    try:
        with store.write() as session:
            term = Term(slug="b", name="B", type="place")
            session.add(term)
            session.flush()
            record_change(session, "term", term.id, "upsert")
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    with store.read() as session:
        assert len(session.scalars(select(Change)).all()) == 1
        assert last_change(session) == session.scalar(select(Change.seq))
        assert session.scalar(select(Term).where(Term.slug == "b")) is None
    store.dispose()
