"""The JSON API under /api/: thin views that load arguments through a schema, make one domain
call and dump the answer; plus the conventions every response follows (errors, pagination, ETag,
caching, CORS, tokens, content types)."""

from __future__ import annotations

import functools
import http
import json
import logging
from collections.abc import Callable
from datetime import date
from urllib.parse import urlencode

from flask import Flask, Request, Response, current_app, g, request, url_for
from flask_smorest import Api, Blueprint
from flask_smorest.utils import prepare_response
from marshmallow import Schema
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge, UnsupportedMediaType
from werkzeug.exceptions import NotFound as HTTPNotFound

from glossary import apischemas as s
from glossary import articles, auth, catalog, editing, export, lookup
from glossary.annotate import annotate
from glossary.errors import problem
from glossary.gazetteer import get_matcher
from glossary.ingest import ArticleRecord, ReadError, read_document
from glossary.schemas import replace_lone_surrogates
from glossary.store import close_session, get_session, get_store

log = logging.getLogger(__name__)


class ArgumentParser(FlaskParser):
    """webargs' parser, with JSON nested too deeply to decode answered 400 like any bad JSON, and
    lone surrogates (which no store can encode) replaced like the app's own JSON does; each
    argument schema is made once, not on every request (marshmallow copies every field then)."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._schemas: dict[type[Schema], Schema] = {}

    def _get_schema(self, argmap: object, req: Request) -> Schema:
        if isinstance(argmap, type) and issubclass(argmap, Schema):
            schema = self._schemas.get(argmap)
            if schema is None:
                schema = self._schemas[argmap] = argmap()
            return schema
        return super()._get_schema(argmap, req)

    def _raw_load_json(self, req: Request) -> object:
        try:
            return replace_lone_surrogates(super()._raw_load_json(req))
        except RecursionError as exc:
            raise BadRequest("The JSON body is nested too deeply.") from exc


class ApiBlueprint(Blueprint):
    """flask-smorest's blueprint with our argument parser."""

    ARGUMENTS_PARSER = ArgumentParser()


bp = ApiBlueprint("api", __name__, url_prefix="/api", description="The glossary as JSON.")

JSON = "application/json"
PROBLEM = "application/problem+json"
READ_POSTS = ("/api/lookup", "/api/annotate", "/reconcile")
CORS_PREFIXES = ("/api/", "/reconcile")
EXPOSED = "ETag, Link, Location, Retry-After"


API_DESCRIPTION = """\
The organizations, places, policies and events named in reporting on North Korea.

* Reads are open (CORS `*`), cacheable (`Cache-Control`, `ETag`, 304 on `If-None-Match`) and
  paginated with `page`/`per_page`, `Link` headers and `next`/`prev` URLs in the body.
* Writes need `Authorization: Bearer <token>` (`python -m glossary token create NAME --role ROLE`).
  Editors create and edit terms, labels, definitions and relations, add articles and work the
  candidate queue; admins can also delete terms and articles and merge terms. A missing or
  unknown token gets 401, too small a role 403. Send a term's `ETag` as `If-Match` to refuse a
  stale edit (412).
* Every error, here and under `/reconcile`, is `application/problem+json`: `type`, `title`,
  `status`, `detail`, and `errors` (field messages by location) for 422.
"""


class GlossaryApi(Api):
    """flask-smorest with our error body: problem+json, built by errors.py for every error."""

    ERROR_SCHEMA = s.ProblemSchema

    def _register_error_handlers(self) -> None:
        """errors.py already answers every HTTPException in the one shape."""

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict = {"description": status.phrase}
            if status >= 400:
                response["schema"] = s.ProblemSchema
            prepare_response(response, self.spec, PROBLEM)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error", "schema": s.ProblemSchema}
        prepare_response(response, self.spec, PROBLEM)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)


# --- conventions ------------------------------------------------------------------------------


def errors(*codes: int) -> Callable:
    """Document the error answers a view can give (all in the one problem shape)."""

    def decorator(func: Callable) -> Callable:
        for code in codes:
            func = bp.alt_response(code, response=http.HTTPStatus(code).name)(func)
        return func

    return decorator


def consumes(*mimetypes: str) -> Callable:
    """Answer 415 unless the request body has one of these content types."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            if request.mimetype not in mimetypes:
                raise UnsupportedMediaType(f"Send the body as {' or '.join(mimetypes)}.")
            return func(*args, **kwargs)

        return wrapper

    return decorator


def requires(role: str) -> Callable:
    """Answer 401 without a valid bearer token and 403 when its role is below `role`."""

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            principal = None
            if scheme.lower() == "bearer" and token.strip():
                principal = auth.verify_token(get_session(), token.strip())
            if principal is None:
                response = problem(401, "Send a valid API token: Authorization: Bearer <token>.")
                response.headers["WWW-Authenticate"] = 'Bearer realm="glossary"'
                return response
            if not principal.can(role):
                return problem(403, f"This needs the {role} role; the token is {principal.role}.")
            g.principal = principal
            return func(*args, **kwargs)

        return errors(401, 403)(bp.doc(security=[{"bearer": []}])(wrapper))

    return decorator


def actor() -> str:
    """Who is writing, for the change log."""
    principal = g.get("principal")
    return f"token:{principal.name}" if principal else "api"


def _page_url(page: int) -> str:
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "page"]
    args.append(("page", str(page)))
    return f"{request.base_url}?{urlencode(args)}"


def paginated(page: catalog.Page, **extra: object) -> tuple[dict, dict]:
    """The body (items, counts, next/prev URLs) and the Link header of one page."""
    next_url = _page_url(page.page + 1) if page.page < page.pages else None
    prev_url = _page_url(min(page.page - 1, page.pages)) if page.page > 1 else None
    links = [f'<{_page_url(1)}>; rel="first"', f'<{_page_url(page.pages)}>; rel="last"']
    if next_url:
        links.append(f'<{next_url}>; rel="next"')
    if prev_url:
        links.append(f'<{prev_url}>; rel="prev"')
    body = {
        "items": page.items,
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
        "pages": page.pages,
        "next": next_url,
        "prev": prev_url,
        **extra,
    }
    return body, {"Link": ", ".join(links)}


def documented(schema: Schema, body: dict, headers: dict | None = None) -> Response:
    """Send a body whose values are already what its response schema would dump them as, in
    the schema's field order: the schema still documents the answer, but the hot read endpoints
    skip dumping it again."""
    response = current_app.json.response({name: body[name] for name in schema.dump_fields})
    if headers:
        response.headers.extend(headers)
    return response


def _sync() -> None:
    """Bring the search indexes up to date with the write just committed, and start a fresh
    read session so the answer sees the write."""
    from glossary.search import sync_indexes

    close_session()

    try:
        sync_indexes(get_store(), current_app.config["INDEX_DIR"])
    except Exception:  # the write is committed; the indexes catch up on the next sync
        log.exception("search index sync failed after a write")


def _term_answer(session, slug: str, status: int = 200, made_id: int | None = None):
    detail = catalog.term_detail(session, slug)
    body = {"term": detail}
    if made_id is not None:
        body["id"] = made_id
    headers = {"ETag": catalog.term_etag(detail), "Location": url_for("api.term", slug=slug)}
    return body, status, headers


def _write_term(call: Callable, *, status: int = 200):
    """Run one edit in one transaction, answer with the term as it now is, then sync.

    `call(store, session)` returns the term's slug, or the id of the label, definition or
    relation it made (then the URL's slug names the term)."""
    slug = (request.view_args or {}).get("slug")
    store = get_store()
    with store.write() as session:
        result = call(store, session)
        made = result if isinstance(result, int) else None
        answer = _term_answer(session, result if isinstance(result, str) else slug, status, made)
    _sync()
    return answer


# --- reads ------------------------------------------------------------------------------------


SearchPage = s.page_of(
    s.SearchHit, "SearchPage", facets=s.fields.Dict(), did_you_mean=s._opt(s.fields.String())
)
search_page = SearchPage()
suggest_response = s.SuggestResponse()


@bp.get("/search")
@bp.arguments(s.SearchArgs, location="query")
@bp.response(200, SearchPage)
def search(args: dict):
    """Search terms by name, label, Hangul or definition; exact label hits first."""
    from glossary.search import search_terms

    found = search_terms(
        get_store(),
        current_app.config["INDEX_DIR"],
        args["q"],
        type=args["type"],
        page=args["page"],
        per_page=args["per_page"],
    )
    # TermHit's fields are SearchHit's, in its order, with the values it dumps.
    items = [hit.__dict__ for hit in found.hits]
    page = catalog.Page(items, found.total, found.page, found.per_page)
    body, headers = paginated(page, facets=found.facets, did_you_mean=found.did_you_mean)
    return documented(search_page, body, headers)


@bp.get("/suggest")
@bp.arguments(s.SuggestArgs, location="query")
@bp.response(200, s.SuggestResponse)
def suggest(args: dict):
    """Autocomplete: terms whose labels start with what was typed."""
    from glossary.search import suggest as suggest_terms

    found = suggest_terms(
        get_store(),
        current_app.config["INDEX_DIR"],
        args["q"],
        limit=args["limit"],
        type=args["type"],
    )
    # Suggestion's fields are SuggestionOut's, in its order.
    return documented(suggest_response, {"items": [item.__dict__ for item in found]})


@bp.get("/terms")
@bp.arguments(s.TermListArgs, location="query")
@bp.response(200, s.page_of(s.TermListItem, "TermPage"))
def terms(args: dict):
    """Terms in name order, by type, parent, first letter and status."""
    return paginated(catalog.list_terms(get_session(), **args))


@bp.get("/terms/<slug>")
@bp.response(200, s.TermDetail)
@bp.alt_response(301, description="The slug was merged: Location names the term now.", success=True)
@errors(404)
def term(slug: str):
    """One term: labels by kind, definitions, hierarchy, relations, mention counts."""
    detail = catalog.term_detail(get_session(), slug)
    if isinstance(detail, catalog.Redirect):
        return _moved("api.term", detail.slug)
    return documented(
        s.term_detail_schema, _dumped_term(detail), {"ETag": catalog.term_etag(detail)}
    )


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dumped_term(detail: dict) -> dict:
    """A term_detail as TermDetail dumps it: its dates as ISO strings (every other value, and
    every key order, is already the schema's)."""
    mentions = detail["mentions"]
    return {
        **detail,
        "created_at": _iso(detail["created_at"]),
        "updated_at": _iso(detail["updated_at"]),
        "definitions": [{**d, "created_at": _iso(d["created_at"])} for d in detail["definitions"]],
        "mentions": {
            **mentions,
            "first_seen": _iso(mentions["first_seen"]),
            "last_seen": _iso(mentions["last_seen"]),
        },
    }


def _moved(endpoint: str, slug: str, **args: object) -> Response:
    location = url_for(endpoint, slug=slug, **args)
    if request.query_string:
        location += "?" + request.query_string.decode("latin-1")
    response = Response(status=301)
    response.headers["Location"] = location
    return response


@bp.get("/terms/<slug>/articles")
@bp.arguments(s.PageArgs, location="query")
@bp.response(200, s.page_of(s.CitingArticle, "CitingArticlePage"))
@bp.alt_response(301, description="The slug was merged: Location names the term now.", success=True)
@errors(404)
def term_articles(args: dict, slug: str):
    """Articles citing the term, newest first, with the sentence around each mention."""
    page = catalog.citing_articles(get_session(), slug, args["page"], args["per_page"])
    if isinstance(page, catalog.Redirect):
        return _moved("api.term_articles", page.slug)
    return paginated(page)


@bp.get("/articles")
@bp.arguments(s.ArticleListArgs, location="query")
@bp.response(200, s.page_of(s.ArticleListItem, "ArticlePage"))
def article_list(args: dict):
    """Articles newest first, by source or cited term."""
    return paginated(catalog.list_articles(get_session(), **args))


@bp.get("/articles/<int(min=1, max=2147483647):article_id>")
@bp.response(200, s.ArticleDetail)
@errors(404)
def article(article_id: int):
    """One article: its text and every mention with offsets."""
    return catalog.article_detail(get_session(), article_id)


@bp.get("/articles/search")
@bp.arguments(s.ArticleSearchArgs, location="query")
@bp.response(
    200,
    s.page_of(
        s.ArticleSearchHit,
        "ArticleSearchPage",
        facets=s.fields.Dict(
            metadata={
                "description": "source, year and terms counts; approximate: counted on "
                "an even sample of the matches and scaled up"
            }
        ),
        partial=s.fields.Boolean(
            metadata={
                "description": "the time bound cut the query short: these are the "
                "matches found within it"
            }
        ),
        total_exact=s.fields.Boolean(
            metadata={
                "description": "false when total is an estimate (a quoted phrase with "
                "more candidates than are checked one by one)"
            }
        ),
    ),
)
def article_search(args: dict):
    """Full-text search over articles, filtered by cited terms, source and dates."""
    from glossary.search import search_articles

    found = search_articles(
        get_store(),
        current_app.config["INDEX_DIR"],
        args["q"],
        terms=args["terms"],
        term_type=args["term_type"],
        source=args["source"],
        date_from=args["date_from"].isoformat() if args["date_from"] else None,
        date_to=args["date_to"].isoformat() if args["date_to"] else None,
        sort=args["sort"],
        page=args["page"],
        per_page=args["per_page"],
    )
    page = catalog.Page([h.__dict__ for h in found.hits], found.total, found.page, found.per_page)
    return paginated(
        page, facets=found.facets, partial=found.partial, total_exact=found.total_exact
    )


@bp.get("/candidates")
@bp.arguments(s.CandidateArgs, location="query")
@bp.response(200, s.page_of(s.CandidateOut, "CandidatePage"))
def candidates(args: dict):
    """The queue of names the glossary lacks, most frequent first, with example sentences."""
    return paginated(catalog.list_candidates(get_session(), **args))


@bp.get("/candidates/<int(min=1, max=2147483647):candidate_id>")
@bp.response(200, s.CandidateOut)
@errors(404)
def candidate(candidate_id: int):
    """One candidate with up to ten sentences it appeared in."""
    return catalog.candidate_detail(get_session(), candidate_id)


@bp.get("/changes")
@bp.arguments(s.ChangesArgs, location="query")
@bp.response(200, s.ChangeFeed)
def changes(args: dict):
    """The change log after `since`, oldest first: what mirrors and caches follow."""
    feed = catalog.changes_since(get_session(), args["since"], args["limit"])
    headers = {}
    feed["next_url"] = None
    if feed["more"]:
        feed["next_url"] = (
            f"{request.base_url}?{urlencode({'since': feed['next'], 'limit': args['limit']})}"
        )
        headers["Link"] = f'<{feed["next_url"]}>; rel="next"'
    return feed, headers


# --- lookup and annotate ----------------------------------------------------------------------


lookup_result = s.LookupResult()
lookup_response = s.LookupResponse()


def _lookup_term(term: lookup.TermInfo) -> dict:
    return {
        "slug": term.slug,
        "name": term.name,
        "type": term.type,
        "definition": term.definition,
        "wikidata": term.wikidata,
    }


def _lookup_result(answer: lookup.Answer) -> dict:
    """One answer as LookupResult dumps it (so the views can send it as it is)."""

    def hit(h: lookup.Hit) -> dict:
        return {
            "term": _lookup_term(h.term),
            "score": h.score,
            "match": h.match,
            "label": h.label,
            "label_kind": h.label_kind,
            "ambiguous": h.ambiguous,
        }

    best = answer.best
    return {
        "name": answer.name,
        "term": _lookup_term(best.term) if best else None,
        "score": best.score if best else 0,
        "match": best.match if best else None,
        "label": best.label if best else None,
        "label_kind": best.label_kind if best else None,
        "ambiguous": answer.ambiguous,
        "alternatives": [hit(h) for h in answer.alternatives],
    }


def lookup_results(names: list[str], types: list[str], limit: int) -> list[dict]:
    """Look names up and shape the answers (shared by the API and the command line)."""
    answers = lookup.lookup_names(get_store(), names, types=types or None, limit=limit)
    return [_lookup_result(a) for a in answers]


@bp.get("/lookup")
@bp.arguments(s.LookupArgs, location="query")
@bp.response(200, s.LookupResult)
def lookup_one(args: dict):
    """The best term for one name, how it matched, and the other terms it could be."""
    return documented(lookup_result, lookup_results([args["name"]], args["type"], args["limit"])[0])


@bp.post("/lookup")
@consumes(JSON)
@bp.arguments(s.LookupBody)
@bp.response(200, s.LookupResponse)
@errors(400, 413, 415)
def lookup_many(body: dict):
    """The best term for each of up to 1,000 names."""
    results = lookup_results(body["names"], body["type"], body["limit"])
    return documented(lookup_response, {"results": results})


@bp.post("/annotate")
@consumes(JSON)
@bp.arguments(s.AnnotateBody)
@bp.response(200, s.AnnotateResponse)
@errors(400, 404, 413, 415)
def annotate_text(body: dict):
    """Mentions of glossary terms in a text (or a stored article), with code-point offsets."""
    session = get_session()
    date = body["date"]
    if body["article"] is not None:
        detail = catalog.article_detail(session, body["article"])
        text = detail["text"]
        date = date or (detail["published"].isoformat() if detail["published"] else None)
    else:
        text = body["text"]
        if len(text) > current_app.config["MAX_ANNOTATE_CHARS"]:
            raise RequestEntityTooLarge(
                f"The text is over {current_app.config['MAX_ANNOTATE_CHARS']:,} characters."
            )
    types = set(body["types"]) if body["types"] else None
    spans = annotate(
        text,
        get_matcher(get_store()),
        date=date,
        nested=body["nested"],
        candidates=body["candidates"],
        types=types,
    )
    include = set(body["include"]) | set(request.args.getlist("include"))
    definitions = {}
    if "definitions" in include:
        ids = sorted({sp.term_id for sp in spans if sp.term_id is not None})
        definitions = catalog.short_definitions(session, ids)
    out = []
    for sp in spans:
        item = {
            "start": sp.start,
            "end": sp.end,
            "surface": sp.surface,
            "term": sp.slug,
            "type": sp.type,
            "candidate": sp.candidate,
            "ambiguous": sp.ambiguous,
            "alternatives": list(sp.alternatives),
            "nested": sp.nested,
        }
        if "definitions" in include:
            item["definition"] = definitions.get(sp.term_id)
        out.append(item)
    return {"article": body["article"], "length": len(text), "spans": out}


# --- export -----------------------------------------------------------------------------------

_EXPORT_DOC = {
    "200": {
        "description": "The glossary in the asked format.",
        "content": {
            mime: {"schema": {} if mime.endswith("json") else {"type": "string"}}
            for mime in sorted(set(export.MIMETYPES.values()))
        },
    }
}


@bp.get("/export")
@bp.arguments(s.ExportArgs, location="query")
@bp.doc(responses=_EXPORT_DOC)
def export_glossary(args: dict):
    """The whole glossary as JSON Lines, CSV, or SKOS (Turtle or JSON-LD)."""
    base = current_app.config.get("BASE_URL") or request.url_root
    body, mimetype, filename = export.render(
        get_session(), args["format"], status=args["status"], base=base
    )
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- writes: terms ----------------------------------------------------------------------------


@bp.post("/terms")
@requires("editor")
@consumes(JSON)
@bp.arguments(s.TermCreate)
@bp.response(201, s.TermWritten)
@errors(400, 409, 413, 415)
def create_term(body: dict):
    """Create a term with its labels, definitions and relations."""
    return _write_term(
        lambda store, session: editing.create_term(store, session, body, actor=actor()), status=201
    )


def _if_match() -> str | None:
    return request.headers.get("If-Match")


_IF_MATCH = {
    "parameters": [
        {
            "in": "header",
            "name": "If-Match",
            "required": False,
            "schema": {"type": "string"},
            "description": "The term's ETag as read; a stale one gets 412.",
        }
    ]
}


@bp.patch("/terms/<slug>")
@requires("editor")
@consumes(JSON)
@bp.arguments(s.TermUpdate)
@bp.response(200, s.TermWritten)
@bp.doc(**_IF_MATCH)
@errors(400, 404, 409, 412, 413, 415)
def update_term(body: dict, slug: str):
    """Change a term's name, type, parent, Wikidata id or coordinates."""
    return _write_term(
        lambda store, session: editing.update_term(
            store, session, slug, body, if_match=_if_match(), actor=actor()
        )
    )


@bp.delete("/terms/<slug>")
@requires("admin")
@bp.response(204)
@bp.doc(**_IF_MATCH)
@errors(404, 412)
def delete_term(slug: str):
    """Delete a term with its labels, definitions, relations and mentions (admin)."""
    store = get_store()
    with store.write() as session:
        editing.delete_term(store, session, slug, if_match=_if_match(), actor=actor())
    _sync()
    return "", 204


@bp.post("/terms/<slug>/merge")
@requires("admin")
@consumes(JSON)
@bp.arguments(s.MergeBody)
@bp.response(200, s.TermWritten)
@errors(400, 404, 409, 413, 415)
def merge_term(body: dict, slug: str):
    """Merge this term into another: labels, mentions and children move; the slug redirects."""
    return _write_term(
        lambda store, session: editing.merge_terms(
            store, session, slug, body["into"], actor=actor()
        )
    )


@bp.post("/terms/<slug>/labels")
@requires("editor")
@consumes(JSON)
@bp.arguments(s.LabelCreate)
@bp.response(201, s.TermWritten)
@bp.doc(**_IF_MATCH)
@errors(400, 404, 409, 412, 413, 415)
def add_label(body: dict, slug: str):
    """Add a label (alias, abbreviation, former name, Hangul, romanization, hidden)."""
    return _write_term(
        lambda store, session: editing.add_label(
            store, session, slug, body, if_match=_if_match(), actor=actor()
        ),
        status=201,
    )


@bp.patch("/terms/<slug>/labels/<int(min=1, max=2147483647):label_id>")
@requires("editor")
@consumes(JSON)
@bp.arguments(s.LabelUpdate)
@bp.response(200, s.TermWritten)
@bp.doc(**_IF_MATCH)
@errors(400, 404, 409, 412, 413, 415)
def update_label(body: dict, slug: str, label_id: int):
    """Change a label."""
    return _write_term(
        lambda store, session: editing.update_label(
            store, session, slug, label_id, body, if_match=_if_match(), actor=actor()
        )
    )


@bp.delete("/terms/<slug>/labels/<int(min=1, max=2147483647):label_id>")
@requires("editor")
@bp.response(200, s.TermWritten)
@bp.doc(**_IF_MATCH)
@errors(404, 409, 412)
def delete_label(slug: str, label_id: int):
    """Remove a label (not the preferred one)."""
    return _write_term(
        lambda store, session: editing.delete_label(
            store, session, slug, label_id, if_match=_if_match(), actor=actor()
        )
    )


@bp.post("/terms/<slug>/definitions")
@requires("editor")
@consumes(JSON)
@bp.arguments(s.DefinitionCreate)
@bp.response(201, s.TermWritten)
@bp.doc(**_IF_MATCH)
@errors(400, 404, 412, 413, 415)
def add_definition(body: dict, slug: str):
    """Add a definition (the first one, or one sent with primary=true, is primary)."""
    return _write_term(
        lambda store, session: editing.add_definition(
            session, slug, body, if_match=_if_match(), actor=actor()
        ),
        status=201,
    )


@bp.patch("/terms/<slug>/definitions/<int(min=1, max=2147483647):definition_id>")
@requires("editor")
@consumes(JSON)
@bp.arguments(s.DefinitionUpdate)
@bp.response(200, s.TermWritten)
@bp.doc(**_IF_MATCH)
@errors(400, 404, 412, 413, 415)
def update_definition(body: dict, slug: str, definition_id: int):
    """Change a definition or make it primary."""
    return _write_term(
        lambda store, session: editing.update_definition(
            session, slug, definition_id, body, if_match=_if_match(), actor=actor()
        )
    )


@bp.delete("/terms/<slug>/definitions/<int(min=1, max=2147483647):definition_id>")
@requires("editor")
@bp.response(200, s.TermWritten)
@bp.doc(**_IF_MATCH)
@errors(404, 412)
def delete_definition(slug: str, definition_id: int):
    """Remove a definition."""
    return _write_term(
        lambda store, session: editing.delete_definition(
            session, slug, definition_id, if_match=_if_match(), actor=actor()
        )
    )


@bp.post("/terms/<slug>/relations")
@requires("editor")
@consumes(JSON)
@bp.arguments(s.RelationCreate)
@bp.response(201, s.TermWritten)
@bp.doc(**_IF_MATCH)
@errors(400, 404, 409, 412, 413, 415)
def add_relation(body: dict, slug: str):
    """Relate the term to another: related, successor or predecessor."""
    return _write_term(
        lambda store, session: editing.add_relation(
            session, slug, body, if_match=_if_match(), actor=actor()
        ),
        status=201,
    )


@bp.delete("/terms/<slug>/relations/<int(min=1, max=2147483647):relation_id>")
@requires("editor")
@bp.response(200, s.TermWritten)
@bp.doc(**_IF_MATCH)
@errors(404, 412)
def delete_relation(slug: str, relation_id: int):
    """Remove a relation."""
    return _write_term(
        lambda store, session: editing.delete_relation(
            session, slug, relation_id, if_match=_if_match(), actor=actor()
        )
    )


# --- writes: articles and candidates ----------------------------------------------------------

_ARTICLE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            JSON: {"schema": "ArticleCreate"},
            "multipart/form-data": {"schema": "ArticleUpload"},
        },
    }
}


def _article_record() -> ArticleRecord:
    """The one article in the request: a JSON body or an uploaded file, read like any ingest."""
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.mimetype == JSON:
        payload = request.get_json(silent=True)
        if not isinstance(payload, dict):
            raise editing.Invalid("The body is not a JSON object.", {"_schema": ["Not an object."]})
        try:
            data = s.ArticleCreate().load(payload)
        except s.ValidationError as exc:
            raise editing.Invalid("The article is not valid.", exc.messages) from exc
        raw = json.dumps(
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in data.items() if v},
            ensure_ascii=False,
        ).encode()
        items = list(read_document(raw, "request.json", content_type=JSON, max_bytes=limit))
    else:
        upload = request.files.get("file")
        if upload is None:
            raise editing.Invalid(
                "Upload the article as the form field 'file'.", {"file": ["Missing."]}
            )
        # A compressed upload may expand no further than a plain body could be.
        items = list(
            read_document(
                upload.read(limit + 1),
                upload.filename or "upload",
                content_type=upload.mimetype,
                max_bytes=limit,
            )
        )
    records = [i for i in items if isinstance(i, ArticleRecord)]
    problems = [f"{i.origin}: {i.message}" for i in items if isinstance(i, ReadError)]
    if len(records) != 1 or problems:
        detail = "; ".join(problems) or f"Send one article; this holds {len(records)}."
        raise editing.Invalid(detail, {"file" if request.files else "text": [detail]})
    return records[0]


@bp.post("/articles")
@requires("editor")
@consumes(JSON, "multipart/form-data")
@bp.doc(**_ARTICLE_BODY)
@bp.response(201, s.ArticleStored)
@bp.alt_response(
    200, schema=s.ArticleStored, description="Already stored: updated or unchanged.", success=True
)
@errors(400, 413, 415, 422)
def create_article(**_kwargs):
    """Ingest one article (JSON fields, or a .txt/.md/.html/.json file upload)."""
    record = _article_record()
    store = get_store()
    matcher = get_matcher(store)
    with store.write() as session:
        status, stored = articles.store_article(session, record, matcher, actor=actor())
        session.flush()
        article_id = stored.id
    _sync()
    detail = catalog.article_detail(get_session(), article_id)
    headers = {"Location": url_for("api.article", article_id=article_id)}
    return {"status": status, "article": detail}, (201 if status == "new" else 200), headers


@bp.delete("/articles/<int(min=1, max=2147483647):article_id>")
@requires("admin")
@bp.response(204)
@errors(404)
def delete_article(article_id: int):
    """Delete an article and its mentions (admin)."""
    with get_store().write() as session:
        if not articles.delete_article(session, article_id, actor=actor()):
            raise HTTPNotFound(f"No article {article_id}.")
    _sync()
    return "", 204


def _decided(candidate_id: int, slug: str | None):
    session = get_session()
    return {"candidate": catalog.candidate_detail(session, candidate_id), "term": slug}


@bp.post("/candidates/<int(min=1, max=2147483647):candidate_id>/accept")
@requires("editor")
@consumes(JSON)
@bp.arguments(s.CandidateAccept)
@bp.response(200, s.CandidateDecision)
@errors(400, 404, 409, 413, 415)
def accept_candidate(body: dict, candidate_id: int):
    """Accept a candidate as a new term; its past mentions now cite the term."""
    store = get_store()
    with store.write() as session:
        slug = editing.accept_candidate(store, session, candidate_id, body, actor=actor())
    _sync()
    return _decided(candidate_id, slug)


@bp.post("/candidates/<int(min=1, max=2147483647):candidate_id>/merge")
@requires("editor")
@consumes(JSON)
@bp.arguments(s.CandidateMerge)
@bp.response(200, s.CandidateDecision)
@errors(400, 404, 409, 413, 415)
def merge_candidate(body: dict, candidate_id: int):
    """Add a candidate's name to an existing term as a label."""
    store = get_store()
    with store.write() as session:
        slug = editing.merge_candidate(store, session, candidate_id, body, actor=actor())
    _sync()
    return _decided(candidate_id, slug)


@bp.post("/candidates/<int(min=1, max=2147483647):candidate_id>/reject")
@requires("editor")
@bp.response(200, s.CandidateDecision)
@errors(404, 409)
def reject_candidate(candidate_id: int):
    """Reject a candidate: it is never proposed again."""
    with get_store().write() as session:
        editing.reject_candidate(session, candidate_id, actor=actor())
    _sync()
    return _decided(candidate_id, None)


# --- errors from the domain -------------------------------------------------------------------


@bp.errorhandler(catalog.NotFound)
def _not_found(exc: catalog.NotFound) -> Response:
    return problem(404, str(exc))


@bp.errorhandler(editing.EditError)
def _edit_error(exc: editing.EditError) -> Response:
    # Field errors by location, as for arguments the schemas reject: {"json": {"parent": [...]}}.
    location = "json" if request.is_json else ("files" if request.files else "form")
    return problem(exc.status, exc.detail, errors={location: exc.errors} if exc.errors else None)


# --- headers on every answer ------------------------------------------------------------------


def _is_api(path: str) -> bool:
    return path == "/api" or path.startswith(CORS_PREFIXES)


def _cors_readable() -> bool:
    return request.method in ("GET", "HEAD") or (
        request.method == "POST" and request.path.startswith(READ_POSTS)
    )


def preflight() -> Response | None:
    """Answer CORS preflight requests for reads (GET, HEAD and the read-only POSTs)."""
    if request.method != "OPTIONS" or not _is_api(request.path):
        return None
    wanted = request.headers.get("Access-Control-Request-Method")
    if not wanted or request.url_rule is None:
        return None
    allowed = {"GET", "HEAD"} | ({"POST"} if request.path.startswith(READ_POSTS) else set())
    adapter = current_app.create_url_adapter(request)
    allowed &= set(adapter.allowed_methods() if adapter else ())
    response = Response(status=204)
    if wanted.upper() in allowed:
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Allow-Methods"] = ", ".join(sorted(allowed))
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, If-None-Match"
        response.headers["Access-Control-Max-Age"] = "86400"
    response.headers["Vary"] = "Origin"
    return response


def finish(response: Response) -> Response:
    """ETag and 304 on reads, Cache-Control, and CORS for reads, on every /api/ answer."""
    if not _is_api(request.path):
        return response
    if request.method in ("GET", "HEAD") and response.status_code == 200:
        if "ETag" not in response.headers:
            response.add_etag()
        response.make_conditional(request)
        if request.path.startswith(("/api/changes", "/api/candidates")):
            response.headers.setdefault("Cache-Control", "no-cache")
        else:
            response.headers.setdefault("Cache-Control", "public, max-age=60")
    elif response.status_code == 304:
        response.headers.setdefault("Cache-Control", "public, max-age=60")
    elif response.status_code >= 400 or request.method not in ("GET", "HEAD"):
        response.headers.setdefault("Cache-Control", "no-store")
    if _cors_readable() and request.method != "OPTIONS":
        response.headers["Access-Control-Allow-Origin"] = "*"
        response.headers["Access-Control-Expose-Headers"] = EXPOSED
    return response


def init_app(app: Flask) -> None:
    """Register the API and its OpenAPI document at /api/openapi.json."""
    app.config.setdefault("API_TITLE", "North Korea glossary")
    app.config.setdefault("API_VERSION", "1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("OPENAPI_URL_PREFIX", "/api")
    app.config.setdefault("OPENAPI_JSON_PATH", "openapi.json")
    app.config.setdefault("API_SPEC_OPTIONS", {"info": {"description": API_DESCRIPTION}})
    api = GlossaryApi(app)
    api.spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    api.register_blueprint(bp)
    app.before_request(preflight)
    app.after_request(finish)
