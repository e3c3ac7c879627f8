"""Peers measured in the same run: a SQLite/FTS5 copy of the glossary served by Datasette, raw
SQLite FTS5 for article search, and spaCy's PhraseMatcher for annotation (each in its own venv)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from sqlalchemy import select

from bench.corpus import WORK
from glossary.models import Article, Definition, Label, Mention, Term
from glossary.store import Store

DATASETTE_VENV = WORK / ".venv-datasette"
SPACY_VENV = WORK / ".venv-spacy"
DATASETTE_PIN = "datasette==0.65.5"
SPACY_PIN = "spacy==3.8.18"
_FTS_WORD = re.compile(r"\w+", re.UNICODE)


def ensure_venv(venv: Path, pin: str, log: Path) -> Path | None:
    """A virtual environment with one package from PyPI (made once, reused); its python."""
    python = venv / "bin" / "python"
    stamp = venv / f".installed-{pin}"
    if stamp.exists():
        return python
    with log.open("a") as out:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, stdout=out,
                           stderr=out)  # fmt: skip
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", pin], stdout=out,
                              stderr=out)  # fmt: skip
    if done.returncode != 0:
        return None
    stamp.touch()
    return python


# --- the peer database -------------------------------------------------------------------------


def build_peer_db(store: Store, path: Path) -> dict:
    """Copy terms, labels, articles and citations from the store into SQLite with FTS5."""
    if path.exists():
        path.unlink()
    t0 = time.perf_counter()
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;
        CREATE TABLE terms (id INTEGER PRIMARY KEY, slug TEXT UNIQUE, name TEXT, type TEXT,
                            labels TEXT, definition TEXT);
        CREATE TABLE labels (id INTEGER PRIMARY KEY, term_id INTEGER, slug TEXT,
                             text TEXT COLLATE NOCASE, kind TEXT);
        CREATE INDEX labels_text ON labels(text);
        CREATE TABLE articles (id INTEGER PRIMARY KEY, title TEXT, published TEXT, source TEXT,
                               text TEXT);
        CREATE TABLE citing (term_slug TEXT, article_id INTEGER, title TEXT, published TEXT,
                             mentions INTEGER);
        """
    )
    with store.read() as s:
        defs: dict[int, str] = {}
        for tid, text in s.execute(
            select(Definition.term_id, Definition.text).order_by(
                Definition.term_id, Definition.is_primary.desc(), Definition.id
            )
        ):
            defs.setdefault(tid, text)
        labels: dict[int, list[str]] = {}
        rows = s.execute(
            select(Label.id, Label.term_id, Term.slug, Label.text, Label.kind)
            .join(Term, Term.id == Label.term_id)
            .where(Term.status == "published")
        ).all()
        db.executemany("INSERT INTO labels VALUES (?,?,?,?,?)", [tuple(r) for r in rows])
        for r in rows:
            labels.setdefault(r.term_id, []).append(r.text)
        terms = s.execute(
            select(Term.id, Term.slug, Term.name, Term.type).where(Term.status == "published")
        ).all()
        db.executemany(
            "INSERT INTO terms VALUES (?,?,?,?,?,?)",
            [(t.id, t.slug, t.name, t.type, " | ".join(labels.get(t.id, [])), defs.get(t.id))
             for t in terms],
        )  # fmt: skip
        slugs = {t.id: t.slug for t in terms}
        batch = []
        for a in s.execute(
            select(Article.id, Article.title, Article.published, Article.source, Article.text)
        ).yield_per(2000):
            batch.append((a.id, a.title, a.published and a.published.isoformat(), a.source,
                          a.text))  # fmt: skip
            if len(batch) >= 2000:
                db.executemany("INSERT INTO articles VALUES (?,?,?,?,?)", batch)
                batch = []
        db.executemany("INSERT INTO articles VALUES (?,?,?,?,?)", batch)
        counts: dict[tuple[int, int], int] = {}
        for tid, aid in s.execute(
            select(Mention.term_id, Mention.article_id).where(Mention.term_id.is_not(None))
        ).yield_per(10000):
            counts[(tid, aid)] = counts.get((tid, aid), 0) + 1
    db.executemany(
        "INSERT INTO citing SELECT ?, id, title, published, ? FROM articles WHERE id = ?",
        [(slugs[t], n, a) for (t, a), n in counts.items() if t in slugs],
    )
    db.executescript(
        """
        CREATE INDEX citing_term ON citing(term_slug, published DESC);
        CREATE VIRTUAL TABLE terms_fts USING fts5(name, labels, definition,
            content="terms", content_rowid="id");
        INSERT INTO terms_fts(terms_fts) VALUES ('rebuild');
        CREATE VIRTUAL TABLE articles_fts USING fts5(title, text,
            content="articles", content_rowid="id");
        INSERT INTO articles_fts(articles_fts) VALUES ('rebuild');
        INSERT INTO articles_fts(articles_fts) VALUES ('optimize');
        ANALYZE;
        """
    )
    db.commit()
    db.close()
    return {"seconds": time.perf_counter() - t0, "bytes": path.stat().st_size}


def fts_query(q: str) -> str:
    """A user's string as an FTS5 query: each word (or quoted phrase) as a quoted string."""
    parts = []
    for m in re.finditer(r'"([^"]*)"|(\S+)', q):
        words = _FTS_WORD.findall(m.group(1) if m.group(1) is not None else m.group(2))
        if words:
            parts.append('"' + " ".join(words) + '"')
    return " ".join(parts)


class FtsSearch:
    """Article search straight on SQLite FTS5: bm25 ranking, 20 hits with a snippet."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.sql = (
            "SELECT a.id, a.title, a.published, snippet(articles_fts, 1, '<b>', '</b>', '...', 24)"
            " FROM articles_fts JOIN articles a ON a.id = articles_fts.rowid"
            " WHERE articles_fts MATCH ? ORDER BY rank LIMIT 20"
        )
        self.count = "SELECT count(*) FROM articles_fts WHERE articles_fts MATCH ?"

    def __call__(self, q: str) -> tuple[int, list]:
        """Total matches and the first page."""
        query = fts_query(q)
        if not query:
            return 0, []
        rows = self.db.execute(self.sql, (query,)).fetchall()
        total = self.db.execute(self.count, (query,)).fetchone()[0]
        return total, rows


# --- Datasette ---------------------------------------------------------------------------------


class Datasette:
    """A Datasette process serving the peer database on loopback."""

    def __init__(self, python: Path, db: Path, port: int, log: Path) -> None:
        self.port = port
        self.base = f"http://127.0.0.1:{port}"
        exe = python.parent / "datasette"
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [str(exe), "serve", str(db), "-h", "127.0.0.1", "-p", str(port), "-i", str(db),
             "--setting", "sql_time_limit_ms", "5000", "--setting", "num_sql_threads", "3",
             "--setting", "default_page_size", "20"],
            stdout=self.log, stderr=self.log, start_new_session=True,
        )  # fmt: skip
        self.db_name = db.stem
        wait_http(f"{self.base}/-/versions.json", 60)

    def url(self, path: str) -> str:
        """Absolute URL of a path."""
        return f"{self.base}{path}"

    def rss_mb(self) -> float:
        """Resident memory of the Datasette process."""
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        """Stop the process (it was started in its own session)."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def rss_mb(pid: int) -> float:
    """Resident set size of one process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def private_mb(pid: int) -> float:
    """Anonymous (private heap) memory of one process in MB, without file-backed pages such as
    the mmapped search index, which the page cache shares between workers."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Anonymous:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def wait_http(url: str, timeout: float) -> None:
    """Wait until url answers 200."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except Exception as exc:  # noqa: BLE001 -- not up yet
            last = exc
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer in {timeout:.0f} s: {last}")


# --- spaCy PhraseMatcher -----------------------------------------------------------------------


def spacy_annotate(python: Path, labels: list[str], texts: list[str], work: Path) -> dict:
    """Run bench/peer_spacy.py in the spaCy venv over the texts; its figures as a dict."""
    src = work / "spacy-input.json"
    src.write_text(json.dumps({"labels": labels, "texts": texts}), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [str(python), str(Path(__file__).with_name("peer_spacy.py")), str(src)],
        capture_output=True, text=True, timeout=900, env=env,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"spaCy peer failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])
