"""One error builder for the whole app: `application/problem+json` under /api/ and /reconcile,
an HTML page elsewhere."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, render_template, request
from flask.wrappers import Request
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError, PreconditionFailed
from werkzeug.utils import cached_property

log = logging.getLogger(__name__)
JSON_PREFIXES = ("/api/", "/reconcile", "/healthz")


def wants_json() -> bool:
    """Whether the current request is answered in JSON."""
    path = request.path
    return path == "/api" or path.startswith(JSON_PREFIXES)


def problem(
    status: int, detail: str | None = None, *, errors: dict | None = None, title: str | None = None
) -> Response:
    """The one JSON error body: type, title, status, detail, and field errors for 422."""
    exc = HTTPException()
    exc.code = status
    body = {
        "type": "about:blank",
        "title": title or _title(status),
        "status": status,
        "detail": detail or _title(status),
    }
    if errors:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    response.mimetype = "application/problem+json"
    return response


def _title(status: int) -> str:
    from werkzeug.http import HTTP_STATUS_CODES

    return HTTP_STATUS_CODES.get(status, "Error")


def handle_http(exc: HTTPException) -> Response | tuple:
    """Render any HTTP error in the request's format, keeping headers such as Allow."""
    status = exc.code or 500
    errors = None
    data = getattr(exc, "data", None)  # flask-smorest / webargs validation messages
    if isinstance(data, dict) and data.get("messages"):
        errors = data["messages"]
    if wants_json():
        response = problem(status, exc.description, errors=errors)
    else:
        response = Response(
            render_template(
                "error.html", status=status, title=_title(status), detail=exc.description
            ),
            status=status,
            mimetype="text/html",
        )
    for name, value in exc.get_headers():
        if name.lower() not in ("content-type", "content-length"):
            response.headers[name] = value
    return response


def handle_unexpected(exc: Exception) -> Response | tuple:
    """Log an unexpected error and answer 500 without a traceback."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http(InternalServerError())


class GlossaryRequest(Request):
    """Flask's request, whose JSON too deeply nested to decode is a 400 like any bad JSON, and
    whose query arguments never carry NUL characters (no store can keep one; a search for
    "a\\0b" is a search for "ab")."""

    @cached_property
    def args(self) -> ImmutableMultiDict:
        args = super().args
        if not any("\x00" in k or "\x00" in v for k, v in args.items(multi=True)):
            return args
        return ImmutableMultiDict(
            (k.replace("\x00", ""), v.replace("\x00", "")) for k, v in args.items(multi=True)
        )

    def get_json(self, force: bool = False, silent: bool = False, cache: bool = True) -> object:
        """The body as JSON; a RecursionError while decoding answers 400 (or None if silent)."""
        try:
            return super().get_json(force=force, silent=silent, cache=cache)
        except RecursionError as exc:
            if silent:
                return None
            return self.on_json_loading_failed(ValueError(f"JSON nested too deeply: {exc}"))


def refuse_nul_characters() -> None:
    """A NUL in the path or a form is refused here, once, for every route (no store can keep one
    in a text column, and no name or slug holds one)."""
    fields = [request.path]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields += request.form.values()
    if any("\x00" in value for value in fields):
        raise BadRequest("NUL characters are not allowed in paths or form fields.")


def handle_concurrent_edit(exc: StaleDataError) -> Response | tuple:
    """Two writers raced on one term and this one lost: the same answer as a stale If-Match."""
    log.info("concurrent edit lost on %s %s: %s", request.method, request.path, exc)
    return handle_http(
        PreconditionFailed("The term changed while this edit was applied; read it again.")
    )


def init_app(app: Flask) -> None:
    """Register the error handlers."""
    app.request_class = GlossaryRequest
    app.before_request(refuse_nul_characters)
    app.register_error_handler(HTTPException, handle_http)
    app.register_error_handler(StaleDataError, handle_concurrent_edit)
    app.register_error_handler(Exception, handle_unexpected)
