"""The database: engines and sessions (SQLite by default, any SQLAlchemy URL), migrations, and the
change log that every write records in its own transaction."""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask, abort, current_app, g, request
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from glossary.models import Change

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Any constant will do: every writer on PostgreSQL takes this transaction lock before logging a
# change, so change-log sequence numbers commit in order and a follower never skips one. Store.write
# takes it when the transaction begins, before any row lock: a writer that locked rows first and
# then waited for it could deadlock with one holding it and waiting for those rows.
CHANGE_LOCK_KEY = 0x676C6F73
# How far behind Store.term_seq may be for changes committed by another node (PostgreSQL): each
# process reads the change log again at most this long after it last did, unless told sooner.
TERM_SEQ_MAX_AGE = 1.0
# The node's change marker starts again (as a new file) past this size.
MARKER_MAX_BYTES = 2**20
# Engine -> this node's change marker file, for the stores that need one (not SQLite).
_markers: weakref.WeakKeyDictionary[Engine, Path] = weakref.WeakKeyDictionary()


class Store:
    """One database: a read engine, and write transactions that take the write lock when they
    begin (SQLite: BEGIN IMMEDIATE; PostgreSQL: the change lock), so writers never deadlock."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.engine = _make_engine(url, immediate=False)
        self.write_engine = _make_engine(url, immediate=True) if self.is_sqlite else self.engine
        self._read = sessionmaker(self.engine, expire_on_commit=False)
        self._write = sessionmaker(self.write_engine, expire_on_commit=False)
        self._migrated = threading.Lock()
        # What term_seq last read, and the node's change stamp and the time it read it at.
        self._seq_lock = threading.Lock()
        self._seq: tuple[int, object, float] | None = None
        self._probe: tuple[int, sqlite3.Connection] | None = None
        self.marker = None if self.is_sqlite else _marker_path(url)
        if self.marker is not None:
            _markers[self.engine] = self.marker

    def read(self) -> Session:
        """A session for reading."""
        return self._read()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back on any error."""
        with self._write() as session, session.begin():
            if self.write_engine.dialect.name == "postgresql":
                _take_change_lock(session)
            yield session

    def migrate(self) -> None:
        """Bring the schema to the newest migration (safe to run any number of times)."""
        with self._migrated, self.write_engine.begin() as conn:
            cfg = _alembic_config()
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def schema_problem(self) -> str | None:
        """None when the database is at the newest migration, else what to do about it (a
        database nobody ran `init` on, or one an older release left); SQLAlchemyError when it
        cannot be reached."""
        with self.engine.connect() as conn:  # SQLAlchemyError: the database is unreachable
            current = MigrationContext.configure(conn).get_current_revision()
        head = _head_revision()
        if current == head:
            return None
        if current is None:
            return "the database has no glossary tables yet: run `python -m glossary init`"
        return (
            f"the database is at migration {current} and this release needs {head}: "
            "run `python -m glossary init` to migrate it"
        )

    def term_seq(self) -> int:
        """The change-log sequence of the newest term change, cheaply: exact for every change
        committed by any process of this node, at most TERM_SEQ_MAX_AGE seconds behind for
        changes committed by another node (PostgreSQL)."""
        with self._seq_lock:
            stamp, now = self._change_stamp(), time.monotonic()
            held = self._seq
            if held is not None and stamp is not None and held[1] == stamp:
                if self.is_sqlite or now - held[2] < TERM_SEQ_MAX_AGE:
                    return held[0]
            with self.read() as session:
                seq = last_change(session, "term")
            self._seq = (seq, stamp, now)
            return seq

    def _change_stamp(self) -> object:
        """Something that differs after any change committed on this node since the last call
        (None: no such thing, read the log every time). On SQLite, PRAGMA data_version on a
        connection kept for it moves whenever another connection commits, from any process;
        elsewhere, the node's marker file grows by a byte with every committed change."""
        if self.marker is not None:
            try:
                st = os.stat(self.marker)
            except FileNotFoundError:
                return (0, 0)
            return (st.st_ino, st.st_size)
        path = self.engine.url.database
        if not path or path == ":memory:":
            return None
        try:
            if self._probe is None or self._probe[0] != os.getpid():  # never across a fork
                conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
                self._probe = (os.getpid(), conn)
            return self._probe[1].execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:
            self._probe = None  # open a new one next time; read the log this time
            return None

    def dispose(self) -> None:
        """Close every pooled connection (after a fork, and at the end of tests)."""
        self.engine.dispose()
        if self.write_engine is not self.engine:
            self.write_engine.dispose()
        with self._seq_lock:
            if self._probe is not None and self._probe[0] == os.getpid():
                self._probe[1].close()
            self._probe, self._seq = None, None


def _marker_path(url: str) -> Path:
    """This node's change marker for a database: a file in the temporary directory named after
    the URL, so every process on the node that uses the database finds the same one."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:20]
    return Path(tempfile.gettempdir()) / "glossary-changes" / digest


def _bump_marker(path: Path) -> None:
    """Tell this node's other processes that a change was committed (one byte appended)."""
    try:
        path.parent.mkdir(exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            size = os.fstat(fd).st_size
            os.write(fd, b".")
        finally:
            os.close(fd)
        if size >= MARKER_MAX_BYTES:  # a new file (a new inode) is a change too
            fresh = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}")
            fresh.write_bytes(b".")
            os.replace(fresh, path)
    except OSError as exc:  # readers here then see the change within TERM_SEQ_MAX_AGE
        log.warning("could not mark a committed change in %s: %s", path, exc)


def _make_engine(url: str, *, immediate: bool) -> Engine:
    if not url.startswith("sqlite"):
        return create_engine(url, pool_pre_ping=True)
    path = url.split("///", 1)[-1]
    if path and path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:  # noqa: ANN001
        # pysqlite's own transaction handling is off; SQLAlchemy emits BEGIN below.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=60000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn) -> None:  # noqa: ANN001
        # A writer that starts DEFERRED and upgrades later can fail at once with "database is
        # locked"; taking the write lock at BEGIN makes it wait for busy_timeout instead.
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def record_change(
    session: Session,
    entity: str,
    entity_id: int,
    op: str,
    *,
    summary: str | None = None,
    actor: str | None = None,
) -> None:
    """Append one row to the change log inside the caller's transaction."""
    if session.get_bind().dialect.name == "postgresql":
        _take_change_lock(session)
    session.info["changed"] = True
    session.add(Change(entity=entity, entity_id=entity_id, op=op, summary=summary, actor=actor))


def _take_change_lock(session: Session) -> None:
    """Take the change lock for the rest of this PostgreSQL transaction (once)."""
    if not session.info.get("change_lock"):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHANGE_LOCK_KEY})
        session.info["change_lock"] = True


@event.listens_for(Session, "after_commit")
def _mark_committed_change(session: Session) -> None:
    if session.in_nested_transaction() or not session.info.get("changed"):
        return
    bind = session.get_bind()
    marker = _markers.get(getattr(bind, "engine", bind))
    if marker is not None:
        _bump_marker(marker)


@event.listens_for(Session, "after_transaction_end")
def _forget_change_lock(session: Session, transaction) -> None:  # noqa: ANN001
    if transaction.parent is None:
        session.info.pop("change_lock", None)
        session.info.pop("changed", None)


def last_change(session: Session, entity: str | None = None) -> int:
    """The newest change-log sequence number (0 for an empty log)."""
    query = select(func.max(Change.seq))
    if entity:
        query = query.where(Change.entity == entity)
    return session.scalar(query) or 0


def _alembic_config() -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


@functools.cache
def _head_revision() -> str | None:
    return ScriptDirectory.from_config(_alembic_config()).get_current_head()


def get_store(app: Flask | None = None) -> Store:
    """The application's store."""
    return (app or current_app).extensions["glossary.store"]


def get_session() -> Session:
    """The read session of the current request, closed when the request ends."""
    if "db" not in g:
        g.db = get_store().read()
    return g.db


def close_session(_exc: BaseException | None = None) -> None:
    """Close the request's read session."""
    session = g.pop("db", None)
    if session is not None:
        session.close()


def init_app(app: Flask) -> None:
    """Attach the store to the app and close sessions after each request."""
    app.extensions["glossary.store"] = Store(app.config["DATABASE_URL"])
    app.teardown_appcontext(close_session)
    app.before_request(_refuse_until_initialized)


SCHEMA_RECHECK = 2.0  # seconds between checks while the database is not initialized


def schema_problem(app: Flask | None = None) -> str | None:
    """What keeps the service from using its database (None: nothing, or a database that
    cannot be reached, which requests report as before), checked at most every SCHEMA_RECHECK
    seconds until the database is ready, then never again."""
    app = app or current_app
    state = app.extensions.setdefault("glossary.schema", {"ok": False, "checked": None})
    if state["ok"]:
        return None
    now = time.monotonic()
    if state["checked"] is None or now - state["checked"] >= SCHEMA_RECHECK:
        try:
            problem = get_store(app).schema_problem()
        except SQLAlchemyError:  # unreachable: the request's own query reports it
            return None
        if problem and problem != state.get("problem"):
            log.error("not serving from the database: %s", problem)
        state.update(ok=problem is None, checked=now, problem=problem)
    return state["problem"]


def _refuse_until_initialized() -> None:
    """Answer 503 with what to do, instead of a 500 for every query, while the database is not
    initialized (the health check answers, and says so)."""
    if request.endpoint in ("views.healthz", "static"):
        return
    problem = schema_problem()
    if problem:
        abort(503, description=problem)
