"""Every failure under /api/ and /reconcile answers in one shape: application/problem+json with
type, title, status and detail (and field errors for 422); HTML pages keep HTML errors."""

from __future__ import annotations

import json

import pytest

from glossary import auth, catalog
from glossary.store import get_store

BIG = json.dumps({"names": ["x" * 400] * 12000})
DEEP = "[" * 100_000 + "]" * 100_000

# (method, url, request kwargs, token role or None, status)
CASES = [
    # routing
    ("GET", "/api/nothing-here", {}, None, 404),
    ("GET", "/api", {}, None, 404),
    ("GET", "/reconcile/nothing-here", {}, None, 404),
    ("PUT", "/api/terms", {}, None, 405),
    ("DELETE", "/api/search", {}, None, 405),
    ("POST", "/api/terms/cabinet/articles", {}, None, 405),
    ("PUT", "/reconcile", {}, None, 405),
    # bad parameters
    ("GET", "/api/terms?per_page=0", {}, None, 422),
    ("GET", "/api/search?type=person", {}, None, 422),
    ("GET", "/api/suggest", {}, None, 422),
    ("GET", "/api/changes?since=x", {}, None, 422),
    ("GET", "/api/lookup", {}, None, 422),
    ("GET", "/api/export?format=pdf", {}, None, 422),
    ("GET", "/api/articles/search?date_to=someday", {}, None, 422),
    ("POST", "/api/lookup", {"json": {"names": []}}, None, 422),
    ("POST", "/api/annotate", {"json": {}}, None, 422),
    ("GET", "/reconcile?queries=%7B", {}, None, 400),
    ("GET", "/reconcile?queries=%7B%22a%22%3A%7B%22limit%22%3A-1%7D%7D", {}, None, 422),
    ("GET", "/reconcile/preview", {}, None, 422),
    # unknown ids
    ("GET", "/api/terms/no-such-term", {}, None, 404),
    ("GET", "/api/terms/no-such-term/articles", {}, None, 404),
    ("GET", "/api/articles/424242", {}, None, 404),
    ("GET", "/api/candidates/424242", {}, None, 404),
    ("POST", "/api/annotate", {"json": {"article": 424242}}, None, 404),
    ("GET", "/reconcile/preview?id=no-such-term", {}, None, 404),
    ("PATCH", "/api/terms/no-such-term", {"json": {"name": "x"}}, "editor", 404),
    ("DELETE", "/api/terms/cabinet/labels/424242", {}, "editor", 404),
    ("DELETE", "/api/articles/424242", {}, "admin", 404),
    ("POST", "/api/candidates/424242/reject", {}, "editor", 404),
    # tokens
    ("POST", "/api/terms", {"json": {"name": "x", "type": "place"}}, None, 401),
    ("DELETE", "/api/terms/cabinet", {}, None, 401),
    ("DELETE", "/api/terms/cabinet", {}, "editor", 403),
    ("POST", "/api/terms/juche/merge", {"json": {"into": "cabinet"}}, "editor", 403),
    ("DELETE", "/api/articles/1", {}, "editor", 403),
    # conflicts and preconditions
    ("POST", "/api/terms", {"json": {"name": "Cabinet", "type": "organization"}}, "editor", 409),
    ("PATCH", "/api/terms/cabinet", {"json": {"name": "x"}, "headers": {"If-Match": '"old"'}},
     "editor", 412),
    # bodies
    ("POST", "/api/terms", {"data": "{", "content_type": "application/json"}, "editor", 400),
    ("POST", "/api/terms", {"data": "x", "content_type": "text/plain"}, "editor", 415),
    ("POST", "/api/lookup", {"data": DEEP, "content_type": "application/json"}, None, 400),
    ("POST", "/reconcile", {"data": {"queries": DEEP}}, None, 400),
    ("POST", "/reconcile", {"data": {"extend": DEEP}}, None, 400),
    ("POST", "/api/lookup", {"data": "x", "content_type": "application/xml"}, None, 415),
    ("POST", "/api/lookup", {"data": BIG, "content_type": "application/json"}, None, 413),
    ("POST", "/api/terms", {"json": {"name": "x", "type": "place", "x": 1}}, "editor", 422),
]  # fmt: skip


@pytest.fixture
def headers(app) -> dict[str, dict]:
    with app.app_context(), get_store().write() as session:
        _t, editor = auth.create_token(session, "ed", "editor")
        _t, admin = auth.create_token(session, "ad", "admin")
    return {
        "editor": {"Authorization": f"Bearer {editor}"},
        "admin": {"Authorization": f"Bearer {admin}"},
    }


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) - {"errors"} == {"type", "title", "status", "detail"}
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if status == 422 and "errors" in body:
        assert isinstance(body["errors"], dict) and body["errors"]
    assert "Traceback" not in response.get_data(as_text=True)
    return body


@pytest.mark.parametrize(
    ("method", "url", "kwargs", "role", "status"),
    CASES,
    ids=[f"{c[4]}-{c[0]}-{c[1][:40]}" for c in CASES],
)
def test_failures_have_one_shape(client, headers, method, url, kwargs, role, status):
    kwargs = dict(kwargs)
    extra = kwargs.pop("headers", {})
    if role:
        extra = {**extra, **headers[role]}
    response = client.open(url, method=method, headers=extra, **kwargs)
    assert_problem(response, status)
    assert response.headers["Cache-Control"] == "no-store"


def test_405_keeps_allow(client):
    response = client.put("/api/terms")
    assert_problem(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_401_asks_for_a_bearer_token(client):
    response = client.delete("/api/terms/cabinet")
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="glossary"'


def test_422_names_the_fields(client):
    body = assert_problem(client.get("/api/terms?per_page=0&type=x"), 422)
    assert set(body["errors"]["query"]) == {"per_page", "type"}


def test_unexpected_errors_are_500_problems(app, client, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(catalog, "list_terms", broken)
    response = client.get("/api/terms")
    body = assert_problem(response, 500)
    assert "secret internals" not in json.dumps(body)


def test_html_pages_keep_html_errors(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
