"""Configuration: defaults that work on a fresh clone, then GLOSSARY_* environment variables, then
the mapping given to create_app()."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def defaults(instance_path: str) -> dict:
    """The settings a fresh clone runs with."""
    return {
        "DATABASE_URL": f"sqlite:///{Path(instance_path) / 'glossary.db'}",
        "INDEX_DIR": str(ROOT / "index"),
        # Load the starter glossary and sample articles when the store has no terms.
        "LOAD_STARTER": True,
        "LOAD_SAMPLES": True,
        # Request bodies: annotate takes up to 1 MB of text, which JSON escaping can grow.
        "MAX_CONTENT_LENGTH": 4 * 2**20,
        "MAX_ANNOTATE_CHARS": 2**20,
        "MAX_LOOKUP_NAMES": 1000,
        "INDEX_LOCK_TIMEOUT": 30.0,
        # Check (and if need be rebuild) the indexes on each worker's first request.
        "PREPARE_INDEXES": True,
        # Keep each index in step with the change log from a background thread (several nodes).
        "FOLLOW_INTERVAL": 0.0,
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "JSON_SORT_KEYS": False,
    }


def secret_key(instance_path: str) -> str:
    """A per-install random key kept in the instance folder, so no secret lives in the repo."""
    path = Path(instance_path) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        tmp = path.with_name(f".secret_key.{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(key)
        try:
            os.link(tmp, path)  # atomic, and the first process to get there wins
        except FileExistsError:
            key = path.read_text().strip()
        finally:
            tmp.unlink()
        return key
