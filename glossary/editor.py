"""Editor pages: log in with an API token into a session cookie, the candidates queue, term
create/edit, merge and recent changes; every form carries a CSRF token."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import TypeVar

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup
from marshmallow import ValidationError
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.wrappers import Response

from glossary import apischemas, catalog, editing
from glossary.auth import Principal, verify_token
from glossary.models import LABEL_KINDS, RELATION_KINDS, ROMANIZATIONS, TERM_TYPES, Token
from glossary.schemas import SLUG
from glossary.search import sync_indexes
from glossary.security import check_csrf
from glossary.store import Store, get_session, get_store, last_change
from glossary.views import api_url, load_args, set_json_twin

bp = Blueprint("editor", __name__, url_prefix="/editor")
log = logging.getLogger(__name__)
T = TypeVar("T")
# The JSON API's schemas, shared so a form and its API twin accept the same data.
candidate_args = apischemas.CandidateArgs()
changes_args = apischemas.ChangesArgs()
candidate_accept = apischemas.CandidateAccept()
candidate_merge = apischemas.CandidateMerge()
merge_body = apischemas.MergeBody()
term_create = apischemas.TermCreate()
term_update = apischemas.TermUpdate()
label_create = apischemas.LabelCreate()
definition_create = apischemas.DefinitionCreate()
relation_create = apischemas.RelationCreate()
SESSION_KEY = "editor"
BLANK_LABELS = 3
ACCEPT_FIELDS = ("name", "type", "definition")
BLANK_DEFINITIONS = 1
BLANK_RELATIONS = 2


def load_editor() -> None:
    """Put the logged-in editor (or None) on `g`, dropping sessions of revoked tokens."""
    g.editor = None
    data = session.get(SESSION_KEY)
    if not data:
        return
    token = get_session().get(Token, data.get("token_id"))
    if token is None or token.revoked_at is not None:
        session.pop(SESSION_KEY, None)
        return
    g.editor = Principal(token.id, token.name, token.role)


def editor_required(view: Callable[..., T]) -> Callable[..., T | Response]:
    """Send visitors who are not logged in to the login page."""

    @wraps(view)
    def wrapped(*args: object, **kwargs: object) -> T | Response:
        if g.get("editor") is None:
            # 401 with the login form: a person can log in right here, a script sees a refusal.
            target = request.full_path.rstrip("?") if request.method == "GET" else None
            return login_page(None, target, 401)
        return view(*args, **kwargs)

    return wrapped


def _safe_next(target: str | None) -> str:
    """A local path to go to after logging in (never another site)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return url_for("editor.queue")


@bp.before_request
def _check_csrf() -> None:
    check_csrf()


@bp.route("/login", methods=["GET", "POST"])
def login() -> str | Response:
    """Log in with an API token; the token itself is never stored in the cookie."""
    error = None
    if request.method == "POST":
        principal = verify_token(get_session(), request.form.get("token", "").strip())
        if principal is not None:
            session.clear()  # a fresh session (and CSRF token) for the new identity
            session[SESSION_KEY] = {"token_id": principal.token_id}
            flash(f"Logged in as {principal.name}.", "ok")
            return redirect(_safe_next(request.form.get("next")))
        error = "That token is not valid, or it was revoked."
    return login_page(error, request.values.get("next"), 401 if error else 200)


def login_page(error: str | None, target: str | None, status: int) -> tuple[str, int]:
    """The login form (with the page to open after logging in)."""
    return render_template("editor/login.html", error=error, next=target), status


@bp.post("/logout")
def logout() -> Response:
    """Forget the editor's session."""
    session.clear()
    flash("Logged out.", "ok")
    return redirect(url_for("views.index"))


@bp.get("/")
@editor_required
def queue() -> str:
    """Candidate terms, most frequent first, each with its contexts and draft definition."""
    args = load_args(candidate_args)
    set_json_twin(api_url("candidates", **request.args.to_dict()))
    page = catalog.list_candidates(
        get_session(),
        status=args.get("status"),
        type=args.get("type"),
        page=args["page"],
        per_page=args["per_page"],
    )
    return render_template(
        "editor/queue.html", candidates=page, status=args.get("status"), types=TERM_TYPES
    )


@bp.post("/candidates/<int:candidate_id>/<any(accept, merge, reject):action>")
@editor_required
def decide(candidate_id: int, action: str) -> Response:
    """Accept a candidate as a new term, merge it into a term as a label, or reject it."""
    form = request.form
    try:
        if action == "accept":
            body = candidate_accept.load(
                {k: v.strip() for k, v in form.items() if k in ACCEPT_FIELDS and v.strip()}
            )
            slug = write(
                lambda st, s: editing.accept_candidate(st, s, candidate_id, body, actor=actor())
            )
            message = "Accepted as a new term:"
        elif action == "merge":
            target = form.get("target", "").strip() or form.get("target_name", "").strip()
            body = candidate_merge.load({"term": target})
            slug = write(
                lambda st, s: editing.merge_candidate(st, s, candidate_id, body, actor=actor())
            )
            message = "Merged into"
        else:
            write(lambda st, s: editing.reject_candidate(s, candidate_id, actor=actor()))
            flash("Rejected; it will not be proposed again.", "ok")
            return redirect(url_for("editor.queue"))
    except catalog.NotFound as exc:
        abort(404, str(exc))
    except (ValidationError, editing.EditError) as exc:
        flash(f"Not done: {describe(exc)}", "error")
        return redirect(url_for("editor.queue", _anchor=f"candidate-{candidate_id}"))
    flash(
        Markup('{} <a href="{}">{}</a>.').format(message, url_for("views.term", slug=slug), slug),
        "ok",
    )
    return redirect(url_for("editor.queue"))


@bp.route("/terms/new", methods=["GET", "POST"])
@editor_required
def new_term() -> str | Response:
    """Create a term with labels, definitions, relations and a parent."""
    values, errors = blank_form(), {}
    if request.method == "POST":
        values = parse_form(request.form)
        try:
            body = term_create.load(create_body(values))
            slug = write(lambda st, s: editing.create_term(st, s, body, actor=actor()))
        except (ValidationError, editing.EditError) as exc:
            errors = errors_of(exc)
        else:
            flash(f"Created {body['name']}.", "ok")
            return redirect(url_for("views.term", slug=slug))
    return _render_form(None, values, errors)


@bp.route("/terms/<slug>/edit", methods=["GET", "POST"])
@editor_required
def edit_term(slug: str) -> str | Response:
    """Edit a term's name, type, parent, labels, definitions and relations in one transaction."""
    try:
        current = catalog.term_detail(get_session(), slug)
    except catalog.NotFound:
        abort(404, f"There is no term “{slug}” in the glossary.")
    if isinstance(current, catalog.Redirect):
        return redirect(url_for("editor.edit_term", slug=current.slug))
    set_json_twin(api_url(f"terms/{slug}"))
    values, errors = form_from_detail(current, catalog.term_etag(current)), {}
    if request.method == "POST":
        values = parse_form(request.form)
        try:
            plan = plan_update(values)
            write(lambda st, s: apply_update(st, s, slug, plan, actor()))
        except (ValidationError, editing.EditError) as exc:
            errors = errors_of(exc)
        except catalog.NotFound as exc:
            errors = {"_": [str(exc)]}
        else:
            flash(f"Saved {values['name']}.", "ok")
            return redirect(url_for("views.term", slug=slug))
    return _render_form(current, values, errors)


def _render_form(current: dict | None, values: dict, errors: dict) -> tuple[str, int]:
    return render_template(
        "editor/term_form.html",
        current=current,
        values=values,
        errors=errors,
        types=TERM_TYPES,
        label_kinds=[k for k in LABEL_KINDS if k != "preferred"],
        romanizations=ROMANIZATIONS,
        relation_kinds=RELATION_KINDS,
    ), (422 if errors else 200)


@bp.route("/merge", methods=["GET", "POST"])
@editor_required
def merge() -> str | Response:
    """Merge a duplicate term into another (admins, as in the API): labels move, the slug
    redirects."""
    source = request.values.get("source", "").strip()
    target = request.values.get("target", "").strip()
    error = None
    if request.method == "POST":
        try:
            if not g.editor.can("admin"):
                abort(403, "Merging terms needs an admin token, as in the API.")
            SLUG(source)
            body = merge_body.load({"into": target})
            slug = write(
                lambda st, s: editing.merge_terms(st, s, source, body["into"], actor=actor())
            )
        except (ValidationError, editing.EditError) as exc:
            error = describe(exc)
        except catalog.NotFound as exc:
            error = str(exc)
        else:
            flash(f"Merged {source} into {slug}.", "ok")
            return redirect(url_for("views.term", slug=slug))
    return render_template("editor/merge.html", source=source, target=target, error=error), (
        422 if error else 200
    )


@bp.get("/changes")
@editor_required
def changes() -> str:
    """Recent changes from the change log, newest first, a page of `limit` at a time."""
    args = load_args(changes_args)
    session = get_session()
    newest = last_change(session)
    limit = min(args["limit"], 200)
    since = args["since"] if "since" in request.args else max(0, newest - limit)
    feed = catalog.changes_since(session, since, limit)
    set_json_twin(api_url("changes", since=since, limit=limit))
    return render_template(
        "editor/changes.html",
        items=list(reversed(feed["items"])),
        older=max(0, since - limit) if since > 0 else None,
        newer=feed["next"] if feed["more"] else None,
        limit=limit,
    )


def actor() -> str:
    """Who is editing, for the change log (named as the API names token holders)."""
    return f"token:{g.editor.name}"


def write(edit: Callable[[Store, Session], T]) -> T:
    """Run one edit in a write transaction, then bring the search indexes up to date."""
    store = get_store()
    with store.write() as session_:
        result = edit(store, session_)
    try:
        sync_indexes(store, current_app.config["INDEX_DIR"])
    except Exception:  # the edit is committed; the follower or next sync catches up
        log.exception("index sync after an edit failed")
    return result


def describe(exc: Exception) -> str:
    """A one-line account of why an edit was refused."""
    if isinstance(exc, ValidationError):
        return flatten(exc.messages)
    if isinstance(exc, editing.EditError) and exc.errors:
        return f"{exc.detail} ({flatten(exc.errors)})"
    return str(exc)


# --- the term form: numbered fields in, a plan of domain calls out -----------------------------

LABEL_FIELDS = ("text", "kind", "language", "romanization", "valid_from", "valid_to")
DEFINITION_FIELDS = ("text", "source", "author", "as_of")
RELATION_FIELDS = ("kind", "target", "date")


def blank_form() -> dict:
    """The values of an empty term form."""
    return {
        "name": "",
        "type": "organization",
        "parent": "",
        "etag": "",
        "labels": [{} for _ in range(BLANK_LABELS)],
        "definitions": [{} for _ in range(BLANK_DEFINITIONS)],
        "relations": [{} for _ in range(BLANK_RELATIONS)],
    }


def form_from_detail(term: dict, etag: str) -> dict:
    """The term form's values for a term from catalog.term_detail, with empty rows to fill in."""
    values = blank_form()
    values.update(
        name=term["name"],
        type=term["type"],
        parent=(term.get("parent") or {}).get("slug", ""),
        etag=etag,
    )
    values["labels"] = [
        {k: lb.get(k) or "" for k in ("id", *LABEL_FIELDS)}
        | {"case_sensitive": lb["case_sensitive"]}
        for kind, group in term["labels"].items()
        if kind != "preferred"
        for lb in group
    ] + values["labels"]
    values["definitions"] = [
        {k: d.get(k) or "" for k in ("id", *DEFINITION_FIELDS)} for d in term["definitions"]
    ] + values["definitions"]
    values["relations"] = [
        {"id": r.get("id") or "", "kind": kind, "target": r["slug"], "date": r.get("date") or ""}
        for key, kind in (
            ("related", "related"),
            ("successors", "successor"),
            ("predecessors", "predecessor"),
        )
        for r in term.get(key, [])
    ] + values["relations"]
    return values


def parse_form(form: MultiDict) -> dict:
    """The submitted term form as values (every row kept, so the form can be shown again)."""

    def rows(prefix: str, keys: tuple[str, ...], flags: tuple[str, ...]) -> list[dict]:
        out, i = [], 0
        while f"{prefix}-{i}-{keys[0]}" in form or f"{prefix}-{i}-{keys[1]}" in form:
            row = {k: form.get(f"{prefix}-{i}-{k}", "").strip() for k in ("id", *keys)}
            row.update({f: bool(form.get(f"{prefix}-{i}-{f}")) for f in flags})
            out.append(row)
            i += 1
        return out

    return {
        "name": form.get("name", "").strip(),
        "type": form.get("type", "").strip(),
        "parent": form.get("parent", "").strip(),
        "etag": form.get("etag", ""),
        "labels": rows("label", LABEL_FIELDS, ("case_sensitive", "remove")),
        "definitions": rows("definition", DEFINITION_FIELDS, ("remove",)),
        "relations": rows("relation", ("target", "kind", "date"), ("remove",)),
    }


def _clean(row: dict, keys: tuple[str, ...]) -> dict:
    return {k: row[k] for k in keys if row.get(k) not in ("", None)}


def _filled(rows: list[dict], required: str) -> list[tuple[int, dict]]:
    return [(i, r) for i, r in enumerate(rows) if r.get(required)]


def create_body(values: dict) -> dict:
    """The body of a new term (the API's create schema loads it)."""
    return {
        "name": values["name"],
        "type": values["type"],
        "parent": values["parent"] or None,
        "labels": [
            _clean(r, LABEL_FIELDS) | {"case_sensitive": r.get("case_sensitive", False)}
            for _, r in _filled(values["labels"], "text")
        ],
        "definitions": [
            _clean(r, DEFINITION_FIELDS) for _, r in _filled(values["definitions"], "text")
        ],
        "relations": [
            _clean(r, RELATION_FIELDS) for _, r in _filled(values["relations"], "target")
        ],
    }


def plan_update(values: dict) -> dict:
    """Validate an edited term form row by row into what apply_update() changes."""
    errors: dict = {}
    plan: dict = {"etag": values["etag"], "labels": [], "definitions": [], "relations": []}
    try:
        plan["term"] = term_update.load(
            {"name": values["name"], "type": values["type"], "parent": values["parent"] or None}
        )
    except ValidationError as exc:
        errors.update(exc.messages)
    for key, schema, fields_, required in (
        ("labels", label_create, LABEL_FIELDS, "text"),
        ("definitions", definition_create, DEFINITION_FIELDS, "text"),
        ("relations", relation_create, RELATION_FIELDS, "target"),
    ):
        for i, row in enumerate(values[key]):
            row_id = int(row["id"]) if str(row.get("id", "")).isdigit() else None
            if row.get("remove") or not row.get(required):
                if row_id is not None:
                    plan[key].append(("delete", row_id, None))
                continue
            data = _clean(row, fields_)
            if key == "labels":
                data["case_sensitive"] = row.get("case_sensitive", False)
            try:
                loaded = schema.load(data)
            except ValidationError as exc:
                errors[f"{key}.{i}"] = exc.messages
                continue
            plan[key].append(("update" if row_id else "add", row_id, loaded))
    if errors:
        raise ValidationError(errors)
    return plan


def apply_update(store: Store, session: Session, slug: str, plan: dict, who: str) -> None:
    """Make the planned edits to one term (only what changed), inside one write transaction."""
    editing.check_etag(session, slug, plan["etag"] or None)
    current = catalog.term_detail(session, slug)
    parent = (current.get("parent") or {}).get("slug")
    changed = {
        k: v for k, v in plan["term"].items() if v != (parent if k == "parent" else current.get(k))
    }
    if changed:
        editing.update_term(store, session, slug, changed, actor=who)
    labels = {lb["id"]: lb for group in current["labels"].values() for lb in group}
    for op, row_id, data in plan["labels"]:
        if op == "delete":
            editing.delete_label(store, session, slug, row_id, actor=who)
        elif op == "add":
            editing.add_label(store, session, slug, data, actor=who)
        elif row_id in labels:
            diff = {k: v for k, v in data.items() if labels[row_id].get(k) != v}
            if diff:
                editing.update_label(store, session, slug, row_id, diff, actor=who)
    definitions = {d["id"]: d for d in current["definitions"]}
    for op, row_id, data in plan["definitions"]:
        if op == "delete":
            editing.delete_definition(session, slug, row_id, actor=who)
        elif op == "add":
            editing.add_definition(session, slug, data, actor=who)
        elif row_id in definitions:
            diff = {k: v for k, v in data.items() if definitions[row_id].get(k) != v}
            if diff:
                editing.update_definition(session, slug, row_id, diff, actor=who)
    kinds = {"related": "related", "successors": "successor", "predecessors": "predecessor"}
    existing = {(kinds[k], r["slug"]) for k in kinds for r in current.get(k, [])}
    for op, row_id, data in plan["relations"]:
        if op == "add" and (data["kind"], data["target"]) in existing:
            continue  # shown on the form without an id: unchanged
        if op == "delete":
            editing.delete_relation(session, slug, row_id, actor=who)
        elif op == "add":
            editing.add_relation(session, slug, data, actor=who)


def errors_of(exc: Exception) -> dict:
    """Field errors of a refused edit, keyed by field ("_" for the form as a whole)."""
    if isinstance(exc, ValidationError):
        return exc.messages if isinstance(exc.messages, dict) else {"_": exc.messages}
    if isinstance(exc, editing.EditError):
        return {"_": [exc.detail], **(exc.errors or {})}
    return {"_": [str(exc)]}


def flatten(messages: object) -> str:
    """Nested marshmallow messages as one line of text."""
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {flatten(v)}" for k, v in messages.items())
    if isinstance(messages, list | tuple):
        return " ".join(flatten(m) for m in messages)
    return str(messages)


def init_app(app: Flask) -> None:
    """Register the editor pages and make the logged-in editor known to every request."""
    app.register_blueprint(bp)
    app.before_request(load_editor)

    @app.context_processor
    def _editor() -> dict:
        return {"editor": g.get("editor")}
