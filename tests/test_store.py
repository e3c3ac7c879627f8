"""The store: migrations from nothing to head, `init` run twice, the change log."""

from __future__ import annotations

import threading
import time

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

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


def _add_logged_term(session: Session, slug: str) -> int:
    """Add a place term with its change-log row in the caller's transaction; its id."""
    term = Term(slug=slug, name=slug.upper(), type="place")
    session.add(term)
    session.flush()
    record_change(session, "term", term.id, "upsert")
    return term.id


def test_change_log_is_written_with_the_change_or_not_at_all(database_url):
    store = Store(database_url)
    store.migrate()
    with store.write() as session:
        _add_logged_term(session, "a")
    try:
        with store.write() as session:
            _add_logged_term(session, "b")
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    with store.read() as session:
        assert len(session.scalars(select(Change)).all()) == 1
        assert last_change(session) == session.scalar(select(Change.seq))
        assert session.scalar(select(Term).where(Term.slug == "b")) is None
    store.dispose()


def test_writers_that_lock_rows_and_the_change_log_in_opposite_order_both_commit(database_url):
    """One writer changes a row and logs the change afterwards; another logs first and changes
    the same row afterwards (an ingest recounting a candidate while an editor decides it). On
    PostgreSQL each waited for a lock the other held until the server killed one as a deadlock
    (a 500 to its user); every write transaction now takes the change lock when it begins."""
    store = Store(database_url)
    store.migrate()
    with store.write() as session:
        term_id = _add_logged_term(session, "a")
    row_locked = threading.Event()
    errors: list[BaseException] = []

    def rename_then_log() -> None:
        try:
            with store.write() as session:
                session.get(Term, term_id).name = "First"
                session.flush()
                row_locked.set()
                time.sleep(0.5)  # the other writer starts meanwhile
                record_change(session, "term", term_id, "upsert")
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
            row_locked.set()

    def log_then_rename() -> None:
        row_locked.wait(10)
        try:
            with store.write() as session:
                record_change(session, "term", term_id, "upsert")
                session.get(Term, term_id).name = "Second"
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (rename_then_log, log_then_rename)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    with store.read() as session:
        assert session.get(Term, term_id).name == "Second"
        assert len(session.scalars(select(Change)).all()) == 3
    store.dispose()
