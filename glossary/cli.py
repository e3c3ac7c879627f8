"""The command line: `python -m glossary COMMAND` (also `flask --app glossary COMMAND`)."""

from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from glossary import articles, auth, terms
from glossary.config import ROOT
from glossary.gazetteer import get_matcher
from glossary.ingest import count_hint, read_paths
from glossary.models import ROLES, TERM_TYPES, Article, Term, Token
from glossary.store import get_store

SAMPLES = Path(__file__).resolve().parent / "data" / "samples"


def _sync_quietly(app: Flask, started: float | None = None) -> None:
    """Bring the search indexes up to date, saying what was done and how long it took (since
    `started`, a perf_counter time, when the indexing began earlier)."""
    from glossary.search import ensure_indexes, sync_indexes

    started = time.perf_counter() if started is None else started
    store = get_store(app)
    rebuilt = ensure_indexes(store, app.config["INDEX_DIR"]) == "rebuilt"
    report = sync_indexes(store, app.config["INDEX_DIR"])
    if report.status == "ok":
        details = ["rebuilt"] if rebuilt else []
        if report.terms or report.articles:
            details.append(
                f"{report.terms:,} term and {report.articles:,} article documents written"
            )
        details.append(f"{time.perf_counter() - started:.1f} s")
        said = f"up to date with change {report.seq:,} ({', '.join(details)})"
    elif report.status == "busy":
        said = "another process is writing them; they catch up at its next sync"
    else:
        said = "missing; `python -m glossary reindex` builds them"
    click.echo(f"search indexes: {said}", err=True)


def _import(items: list[dict], actor: str) -> terms.ImportReport:
    store = get_store()
    with store.write() as session:
        report = terms.import_terms(session, items, actor=actor)
        if report.errors:
            raise click.ClickException("; ".join(report.errors[:20]))
        if report.changed_labels:
            texts = {t for diff in report.changed_labels.values() for t in diff}
            articles.rematch_labels(store, session, texts, report.changed_labels)
    return report


@click.command("init")
@click.option("--no-starter", is_flag=True, help="Do not load the starter glossary.")
@click.option("--no-samples", is_flag=True, help="Do not load the sample articles.")
@with_appcontext
def init_command(no_starter: bool, no_samples: bool) -> None:
    """Create or migrate the database; load the starter glossary and samples into an empty one."""
    app = current_app._get_current_object()
    store = get_store()
    store.migrate()
    click.echo(f"database ready: {_safe_url(store.url)}")
    with store.read() as session:
        has_terms = session.scalar(select(func.count(Term.id))) > 0
        has_articles = session.scalar(select(func.count(Article.id))) > 0
    if not has_terms and not no_starter and app.config["LOAD_STARTER"]:
        items, errors = terms.load_term_files(terms.starter_files())
        if errors:
            raise click.ClickException("starter glossary is invalid: " + "; ".join(errors[:10]))
        report = _import(items, "starter glossary")
        click.echo(f"starter glossary: {report.created:,} terms loaded")
    if not has_articles and not no_samples and app.config["LOAD_SAMPLES"] and SAMPLES.is_dir():
        report = articles.ingest_records(
            store, read_paths([SAMPLES]), lambda: get_matcher(store), actor="samples"
        )
        click.echo(f"sample articles: {report.summary()}")
    _sync_quietly(app)


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


# From this many articles on, ingest indexes them in a second process while it stores them (the
# indexes follow the change log, as on a node of several), instead of all at the end.
FOLLOW_FROM = 2000


@click.command("ingest")
@click.argument("paths", nargs=-1, required=True)
@click.option("--no-sync", is_flag=True, help="Leave the search indexes for a later `sync`.")
@with_appcontext
def ingest_command(paths: tuple[str, ...], no_sync: bool) -> None:
    """Ingest articles from files, directories, gzip files, JSON Lines and RSS/Atom feeds."""
    app = current_app._get_current_object()
    store = get_store()
    hint = sum(count_hint(Path(p)) or 0 for p in paths)
    show_bar = sys.stderr.isatty() and hint > 0

    def on_item(status: str, origin: str) -> None:
        if bar is not None:
            bar.update(1)

    bar = None
    items = read_paths(paths)
    follower = _start_follower(app) if not no_sync and hint >= FOLLOW_FROM else None
    try:
        if show_bar:
            with click.progressbar(length=hint, label="ingesting", file=sys.stderr) as bar:
                report = articles.ingest_records(
                    store, items, lambda: get_matcher(store), on_item=on_item, actor="cli"
                )
        else:
            report = articles.ingest_records(
                store, items, lambda: get_matcher(store), on_item=on_item, actor="cli"
            )
        for message in report.errors:
            click.echo(f"error: {message}", err=True)
        click.echo(report.summary())
    finally:
        stored = time.perf_counter()
        if follower is not None:
            process, stop = follower
            stop.set()
            process.join(1.0)
            if process.is_alive():  # storing ran ahead of it: it is still indexing the rest
                click.echo("search indexes: catching up with the stored articles...", err=True)
                process.join()
    if not no_sync:
        _sync_quietly(app, stored)
    if report.failed:
        sys.exit(1)


def _start_follower(app: Flask) -> tuple:
    """A process that keeps the search indexes up with the change log until told to stop."""
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    stop = context.Event()
    args = (app.config["DATABASE_URL"], app.config["INDEX_DIR"], stop, os.getpid())
    process = context.Process(target=_follow_ingest, args=args, name="glossary-index", daemon=True)
    process.start()
    return process, stop


def _follow_ingest(url: str, index_dir: str, stop: object, parent: int) -> None:
    """In the follower process: sync the indexes again and again while the parent ingests."""
    _die_with_parent()
    from glossary.search import ensure_indexes, sync_indexes
    from glossary.store import Store

    store = Store(url)
    try:
        ensure_indexes(store, index_dir)
        while not stop.is_set() and os.getppid() == parent:
            if sync_indexes(store, index_dir).status == "missing":
                return  # the parent's own sync at the end rebuilds it
            stop.wait(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        store.dispose()


def _die_with_parent() -> None:
    """Ask Linux to end this process when its parent dies (a killed ingest leaves no follower);
    elsewhere the follower notices at its next round."""
    try:
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@click.command("import")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@with_appcontext
def import_command(files: tuple[str, ...]) -> None:
    """Import glossary terms from JSON Lines files (idempotent by slug)."""
    paths = [Path(f) for f in files]
    for path in paths:
        if not path.is_file():
            raise click.ClickException(f"{path}: no such file")
    try:
        items, errors = terms.load_term_files(paths)
    except (OSError, UnicodeDecodeError) as exc:
        raise click.ClickException(f"cannot read: {exc}") from exc
    if errors:
        for message in errors:
            click.echo(f"error: {message}", err=True)
        raise click.ClickException(f"{len(errors)} invalid lines; nothing imported")
    report = _import(items, "import")
    click.echo(
        f"imported {len(items):,} terms ({report.created:,} new, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged)"
    )
    _sync_quietly(current_app._get_current_object())


@click.command("export")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="File (default stdout).")
@click.option("--status", help="Only terms with this status.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "csv", "skos", "turtle", "jsonld"]),
    default="jsonl",
    show_default=True,
    help="JSON Lines (the import format), CSV, or SKOS as Turtle (skos, turtle) or JSON-LD.",
)
@click.option("--base", default=None, help="Base URL of concept URIs in SKOS (default BASE_URL).")
@with_appcontext
def export_command(output: str | None, status: str | None, fmt: str, base: str | None) -> None:
    """Export the glossary as JSON Lines, CSV or SKOS (the same as GET /api/export)."""
    from glossary.export import DEFAULT_BASE, render

    base = base or current_app.config.get("BASE_URL") or DEFAULT_BASE
    with get_store().read() as session:
        body, _mimetype, _name = render(session, fmt, status=status, base=base)
    if output:
        with open(output, "w", encoding="utf-8", newline="") as out:
            out.write(body)
    else:
        sys.stdout.write(body)


@click.command("lookup")
@click.argument("names", nargs=-1, required=True)
@click.option(
    "--type", "types", multiple=True, type=click.Choice(TERM_TYPES), help="Only this type."
)
@click.option("--limit", type=click.IntRange(1, 20), default=5, show_default=True)
@with_appcontext
def lookup_command(names: tuple[str, ...], types: tuple[str, ...], limit: int) -> None:
    """The best term for each NAME, with score and how it matched (as POST /api/lookup)."""
    from glossary.api import lookup_results
    from glossary.apischemas import LookupResult

    results = LookupResult(many=True).dump(lookup_results(list(names), list(types), limit))
    click.echo(json.dumps(results, ensure_ascii=False, indent=1))


@click.command("annotate")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--jsonl", is_flag=True, help="FILE holds {id, text} lines; write predictions.")
@click.option("--date", help="The article's date (resolves names valid only in a period).")
@click.option("--no-nested", is_flag=True, help="Leave out mentions inside other mentions.")
@click.option("--no-candidates", is_flag=True, help="Known terms only.")
@with_appcontext
def annotate_command(file, jsonl: bool, date: str | None, no_nested: bool, no_candidates: bool):
    """Find the glossary's terms (and candidate new terms) in a text; prints JSON spans."""
    from glossary.annotate import annotate, annotate_jsonl

    matcher = get_matcher(get_store())
    if jsonl:
        annotate_jsonl(file, sys.stdout, matcher, nested=not no_nested)
        return
    text = file.read()
    spans = annotate(text, matcher, date=date, nested=not no_nested, candidates=not no_candidates)
    keys = ("start", "end", "surface", "type", "slug", "candidate", "ambiguous")
    out = [{("term" if k == "slug" else k): getattr(s, k) for k in keys} for s in spans]
    click.echo(json.dumps(out, ensure_ascii=False, indent=1))


@click.command("reindex")
@with_appcontext
def reindex_command() -> None:
    """Rebuild both search indexes from the store and swap them in."""
    from glossary.search import reindex

    report = reindex(get_store(), current_app.config["INDEX_DIR"])
    click.echo(f"reindexed: {report}")


@click.command("sync")
@click.option("--follow", is_flag=True, help="Keep following the change log until stopped.")
@click.option("--interval", type=click.FloatRange(0.05, 3600), default=0.5, show_default=True)
@with_appcontext
def sync_command(follow: bool, interval: float) -> None:
    """Apply the changes the search indexes have not seen yet (and, with --follow, keep on)."""
    app = current_app._get_current_object()
    _sync_quietly(app)
    if follow:
        import threading

        from glossary.follow import follow as follow_log

        click.echo(f"following the change log every {interval} s; Ctrl-C stops", err=True)
        stop = threading.Event()
        try:
            follow_log(get_store(), app.config["INDEX_DIR"], interval, stop)
        except KeyboardInterrupt:
            stop.set()


@click.group("token", cls=AppGroup)
def token_group() -> None:
    """Create, list and revoke API tokens."""


@token_group.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="editor", show_default=True)
def token_create(name: str, role: str) -> None:
    """Create a token; it is printed once and stored only as a digest."""
    with get_store().write() as session:
        token, plain = auth.create_token(session, name, role)
    click.echo(plain)
    click.echo(
        f"token {token.id} ({name}, {role}) created; keep it: it is not shown again", err=True
    )


@token_group.command("list")
def token_list() -> None:
    """List tokens (never their secrets)."""
    with get_store().read() as session:
        for t in session.scalars(select(Token).order_by(Token.id)):
            state = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            click.echo(f"{t.id}\t{t.name}\t{t.role}\t{state}\tcreated {t.created_at:%Y-%m-%d}")


@token_group.command("revoke")
@click.argument("token_id", type=int)
def token_revoke(token_id: int) -> None:
    """Revoke a token by its number."""
    with get_store().write() as session:
        if not auth.revoke_token(session, token_id):
            raise click.ClickException(f"no active token {token_id}")
    click.echo(f"token {token_id} revoked")


@click.command("serve")
@click.option("--workers", type=int, default=None, help="Worker processes (default 2 x CPUs + 1).")
@click.option("--bind", default=None, help="Address (default 127.0.0.1:$PORT or :8000).")
@with_appcontext
def serve_command(workers: int | None, bind: str | None) -> None:
    """Serve the app with gunicorn."""
    workers = workers or (os.cpu_count() or 1) * 2 + 1
    bind = bind or f"127.0.0.1:{os.environ.get('PORT', '8000')}"
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--chdir",
        str(ROOT),
        "--workers",
        str(workers),
        "--bind",
        bind,
        "--access-logfile",
        "-",
        "--timeout",
        "120",
        "wsgi:app",
    ]
    click.echo(f"serving on http://{bind} with {workers} workers", err=True)
    os.execv(sys.executable, argv)


@click.command("backup")
@click.argument("file", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(file: str) -> None:
    """Copy the SQLite store into FILE while the service runs (PostgreSQL: use pg_dump)."""
    from glossary.backup import BackupError, backup

    try:
        report = backup(get_store(), file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(
        f"backed up {report.terms:,} terms, {report.articles:,} articles and {report.changes:,} "
        f"changes to {report.path} ({report.bytes:,} bytes)"
    )


@click.command("restore")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--yes", is_flag=True, help="Replace a store that holds data without asking.")
@with_appcontext
def restore_command(file: str, yes: bool) -> None:
    """Replace the SQLite store with a backup FILE, then rebuild the search indexes."""
    from glossary.backup import BackupError, check_backup, restore, sqlite_path
    from glossary.search import reindex

    store = get_store()
    try:
        sqlite_path(store)
        terms_in, articles_in, _ = check_backup(file)
        if not yes:
            store.migrate()
            with store.read() as session:
                held = session.scalar(select(func.count(Term.id))) + session.scalar(
                    select(func.count(Article.id))
                )
            if held:
                click.confirm(
                    f"Replace the {held:,} terms and articles in the store with the backup's "
                    f"{terms_in:,} terms and {articles_in:,} articles?",
                    abort=True,
                )
        report = restore(store, file)
    except BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    store.migrate()
    rebuilt = reindex(store, current_app.config["INDEX_DIR"])
    click.echo(
        f"restored {report.terms:,} terms, {report.articles:,} articles and {report.changes:,} "
        f"changes from {report.path}; reindexed: {rebuilt}"
    )


def _needs_schema(command: click.Command) -> click.Command:
    """The command, refusing with what to do when the database is not initialized or not
    migrated (instead of a traceback per article)."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _needs_schema(sub)
        return command
    callback = command.callback
    if getattr(callback, "needs_schema", False):  # already wrapped by another app
        return command

    @functools.wraps(callback)
    @with_appcontext
    def checked(*args: object, **kwargs: object) -> object:
        try:
            problem = get_store().schema_problem()
        except SQLAlchemyError as exc:
            raise click.ClickException(f"cannot reach the database: {exc.orig or exc}") from exc
        if problem:
            raise click.ClickException(problem)
        return callback(*args, **kwargs)

    checked.needs_schema = True
    command.callback = checked
    return command


def init_app(app: Flask) -> None:
    """Register the commands on the app's CLI (all but init, restore and serve need an
    initialized database)."""
    app.cli.add_command(init_command)
    app.cli.add_command(restore_command)
    app.cli.add_command(serve_command)
    for command in (
        ingest_command,
        import_command,
        export_command,
        lookup_command,
        annotate_command,
        reindex_command,
        sync_command,
        token_group,
        backup_command,
    ):
        app.cli.add_command(_needs_schema(command))
