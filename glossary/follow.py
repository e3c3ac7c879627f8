"""Keep this node's search indexes in step with the shared change log: at start-up (rebuild a
missing or corrupt index) and, when configured, from a background thread that polls the log."""

from __future__ import annotations

import logging
import os
import threading

from flask import Flask

from glossary.store import Store, get_store

log = logging.getLogger(__name__)
_started: dict[int, threading.Thread] = {}
_guard = threading.Lock()


_repairing: dict[int, threading.Thread] = {}


def follow(store: Store, index_dir: str, interval: float, stop: threading.Event) -> None:
    """Apply new changes every `interval` seconds until `stop` is set; an index found missing or
    unreadable meanwhile is rebuilt from the store."""
    from glossary.search import sync_indexes

    while not stop.is_set():
        try:
            if sync_indexes(store, index_dir).status == "missing":
                repair_indexes(store, index_dir, wait=True)
        except Exception:  # a follower that dies silently would let the index drift
            log.exception("following the change log failed; checking the index")
            repair_indexes(store, index_dir, wait=True)
        stop.wait(interval)


def repair_indexes(store: Store, index_dir: str, *, wait: bool = False) -> None:
    """Rebuild this node's indexes if they are missing or unreadable, in a background thread
    (one per process at a time; across processes the rebuild lock lets one build and the others
    find it done). Requests keep being answered meanwhile, from the database where they must."""
    from glossary.search import damage_seen

    with _guard:
        pid = os.getpid()
        running = _repairing.get(pid)
        if running is None or not running.is_alive():
            damage_seen.clear()
            running = threading.Thread(target=_repair, args=(store, index_dir),
                                       name="glossary-repair", daemon=True)  # fmt: skip
            _repairing[pid] = running
            running.start()
    if wait:
        running.join()


def _repair(store: Store, index_dir: str) -> None:
    from glossary.search import ensure_indexes

    try:
        if ensure_indexes(store, index_dir) == "rebuilt":
            log.warning("search index %s rebuilt from the store while serving", index_dir)
    except Exception:
        log.exception("could not rebuild the search indexes; the next damaged request retries")


def start_follower(app: Flask) -> threading.Thread | None:
    """Start this process's follower thread once (after any fork), if FOLLOW_INTERVAL is set."""
    interval = float(app.config.get("FOLLOW_INTERVAL") or 0)
    if interval <= 0:
        return None
    with _guard:
        pid = os.getpid()
        if pid in _started and _started[pid].is_alive():
            return _started[pid]
        stop = threading.Event()
        thread = threading.Thread(
            target=follow,
            args=(get_store(app), app.config["INDEX_DIR"], interval, stop),
            name="glossary-follower",
            daemon=True,
        )
        thread.stop = stop  # type: ignore[attr-defined]
        thread.start()
        _started[pid] = thread
        log.info("following the change log every %.2f s into %s", interval, app.config["INDEX_DIR"])
        return thread


def prepare_indexes(app: Flask) -> str:
    """Open this node's indexes, rebuilding them from the store when missing or corrupt."""
    from glossary.search import ensure_indexes

    return ensure_indexes(get_store(app), app.config["INDEX_DIR"])


def init_app(app: Flask) -> None:
    """Prepare the indexes and start the follower on each worker's first request."""
    ready: dict[int, bool] = {}

    from glossary.search import damage_seen

    @app.before_request
    def _first_request_in_this_process() -> None:
        pid = os.getpid()
        if ready.get(pid):
            if damage_seen.is_set():  # a request found the index gone or unreadable
                repair_indexes(get_store(app), app.config["INDEX_DIR"])
            return
        with _guard:
            if ready.get(pid):
                return
            ready[pid] = True
        # A rebuild can take minutes on a large store: requests keep being answered meanwhile,
        # and /healthz says the index is rebuilding.
        threading.Thread(target=_prepare, args=(app,), name="glossary-prepare", daemon=True).start()


def _prepare(app: Flask) -> None:
    try:
        prepare_indexes(app)
    except Exception:
        log.exception("could not prepare the search indexes")
    start_follower(app)
