"""Backup and restore of the store: SQLite through its online backup API (a consistent copy while
the service keeps writing), PostgreSQL through pg_dump and pg_restore."""

from __future__ import annotations

import os
import sqlite3
import uuid
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from glossary.store import Store

SQLITE_MAGIC = b"SQLite format 3\x00"
# The tables a file must hold to be restored as a glossary.
REQUIRED_TABLES = frozenset(
    {"alembic_version", "term", "label", "definition", "article", "mention", "change", "token"}
)
PAGES_PER_STEP = 1024


class BackupError(Exception):
    """A backup or restore that cannot be done, with what to do instead."""


@dataclass(frozen=True)
class BackupReport:
    """What a backup or restore copied."""

    path: str
    bytes: int
    terms: int
    articles: int
    changes: int


def postgres_advice(url: str) -> str:
    """How to back up and restore a PostgreSQL store with its own tools."""
    shown = make_url(url).set(drivername="postgresql")
    target = shown.render_as_string(hide_password=True)
    return (
        "The store is PostgreSQL: back it up with its own tools, for example\n"
        f"  pg_dump --format=custom --file=glossary.dump '{target}'\n"
        "and restore into an empty database with\n"
        f"  pg_restore --clean --if-exists --no-owner --dbname='{target}' glossary.dump\n"
        "then run `python -m glossary reindex` on every node."
    )


def sqlite_path(store: Store) -> Path:
    """The file of a SQLite store; BackupError (with pg_dump advice) for any other database."""
    if not store.is_sqlite:
        raise BackupError(postgres_advice(store.url))
    database = make_url(store.url).database
    if not database or database == ":memory:":
        raise BackupError("An in-memory SQLite store has no file to back up.")
    return Path(database)


def _counts(conn: sqlite3.Connection) -> tuple[int, int, int]:
    (terms,) = conn.execute("SELECT COUNT(*) FROM term").fetchone()
    (articles,) = conn.execute("SELECT COUNT(*) FROM article").fetchone()
    (changes,) = conn.execute("SELECT COUNT(*) FROM change").fetchone()
    return terms, articles, changes


def backup(store: Store, dest: str | Path) -> BackupReport:
    """Copy the store into `dest` (a new single-file SQLite database) while it keeps serving."""
    source = sqlite_path(store)
    if not source.is_file():
        raise BackupError(f"{source}: no database to back up")
    dest = Path(dest)
    if dest.is_dir():
        raise BackupError(f"{dest} is a directory; name a file")
    if dest.resolve() == source.resolve():
        raise BackupError("The backup file cannot be the live database")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)
    try:
        out = sqlite3.connect(tmp)
        try:
            src.backup(out, pages=PAGES_PER_STEP)
            # The copy carries the live file's WAL mode; a backup is one self-contained file.
            out.execute("PRAGMA journal_mode=DELETE")
            terms, articles, changes = _counts(out)
        finally:
            out.close()
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    os.replace(tmp, dest)
    return BackupReport(str(dest), dest.stat().st_size, terms, articles, changes)


def check_backup(path: str | Path) -> tuple[int, int, int]:
    """Counts of terms, articles and changes in a backup file; BackupError if it is not one."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise BackupError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if head != SQLITE_MAGIC:
        raise BackupError(f"{path}: not a SQLite database (made by `python -m glossary backup`?)")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (verdict,) = conn.execute("PRAGMA integrity_check(1)").fetchone()
        if verdict != "ok":
            raise BackupError(f"{path}: the database is damaged: {verdict}")
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        missing = REQUIRED_TABLES - tables
        if missing:
            raise BackupError(f"{path}: not a glossary backup (no {', '.join(sorted(missing))})")
        return _counts(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path}: not a usable SQLite database: {exc}") from exc
    finally:
        conn.close()


def restore(store: Store, src: str | Path) -> BackupReport:
    """Replace the store's contents with a backup file, in one step other connections see whole.

    The caller migrates the schema and rebuilds the search indexes afterwards: the restored change
    log may be older than what the indexes have applied."""
    target = sqlite_path(store)
    src = Path(src)
    if target.exists() and src.resolve() == target.resolve():
        raise BackupError("The backup file is the live database")
    terms, articles, changes = check_backup(src)
    store.dispose()
    target.parent.mkdir(parents=True, exist_ok=True)
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    try:
        live = sqlite3.connect(target, timeout=60)
        try:
            source.backup(live)
        finally:
            live.close()
    finally:
        source.close()
    return BackupReport(str(src), src.stat().st_size, terms, articles, changes)
