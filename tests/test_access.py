"""Access control walked over the app's URL map, so a new route cannot be forgotten: every write
refuses without a token or session and with too small a role, and changes nothing when refused;
tokens are stored hashed; every form carries a CSRF token; cookies and security headers."""

from __future__ import annotations

import http.client
import re

import pytest
from sqlalchemy import select
from werkzeug.routing import Rule

from glossary import auth
from glossary.models import Candidate, Token
from glossary.security import HEADERS
from glossary.store import get_store, last_change

SAFE = {"GET", "HEAD", "OPTIONS"}
# Unsafe methods that anyone may send: reads carried in a POST body, and logging in and out.
OPEN_WRITES = {
    ("POST", "api.lookup_many"),
    ("POST", "api.annotate_text"),
    ("POST", "reconcile.service"),
    ("POST", "editor.login"),
    ("POST", "editor.logout"),
}
# Writes an editor token may not make.
ADMIN_ONLY_API = {"api.delete_term", "api.merge_term", "api.delete_article"}
ADMIN_ONLY_PAGES = {("POST", "editor.merge")}
SAMPLE_ARGS = {
    "slug": "cabinet",
    "kind": "organization",
    "action": "reject",
    "filename": "style.css",
}


def rules(app) -> list[Rule]:  # noqa: ANN001
    return sorted(app.url_map.iter_rules(), key=lambda r: r.rule)


def url_for_rule(rule: Rule, ids: dict[str, int]) -> str:
    """A URL for the rule with plausible values (existing ids where the test has them)."""
    values = {}
    for name in rule.arguments:
        values[name] = ids.get(name, 1) if name.endswith("_id") else SAMPLE_ARGS.get(name, "x")
    return rule.build(values, append_unknown=False)[1]


def unsafe_routes(app) -> list[tuple[str, Rule]]:  # noqa: ANN001
    return [(m, r) for r in rules(app) for m in sorted(r.methods - SAFE)]


@pytest.fixture
def ids(app) -> dict[str, int]:  # noqa: ANN001
    """Ids of real rows the URLs can name."""
    from glossary.models import Article, Definition, Label, Relation

    with get_store(app).read() as session:
        return {
            "article_id": session.scalar(select(Article.id).limit(1)) or 1,
            "candidate_id": session.scalar(select(Candidate.id).limit(1)) or 1,
            "label_id": session.scalar(select(Label.id).limit(1)) or 1,
            "definition_id": session.scalar(select(Definition.id).limit(1)) or 1,
            "relation_id": session.scalar(select(Relation.id).limit(1)) or 1,
        }


@pytest.fixture
def tokens(app) -> dict[str, str]:  # noqa: ANN001
    """Plain API tokens by role, and one revoked."""
    with app.app_context(), get_store().write() as session:
        _t, editor = auth.create_token(session, "access-editor", "editor")
        _t, admin = auth.create_token(session, "access-admin", "admin")
        revoked_row, revoked = auth.create_token(session, "access-revoked", "admin")
        session.flush()
        auth.revoke_token(session, revoked_row.id)
    return {"editor": editor, "admin": admin, "revoked": revoked}


def newest_change(app) -> int:  # noqa: ANN001
    with get_store(app).read() as session:
        return last_change(session)


def csrf_of(client) -> str:  # noqa: ANN001
    client.get("/editor/login")
    with client.session_transaction() as session:
        return session["csrf_token"]


def login(client, token: str) -> None:  # noqa: ANN001
    response = client.post("/editor/login", data={"csrf_token": csrf_of(client), "token": token})
    assert response.status_code == 302, response.get_data(as_text=True)


def refused_by_login(response) -> bool:  # noqa: ANN001
    """The editor pages' refusal: 401 with the login form."""
    return response.status_code == 401 and 'name="token"' in response.get_data(as_text=True)


def test_the_url_map_has_only_known_open_writes(app) -> None:  # noqa: ANN001
    """Every unsafe route is either a known open one, an /api/ write or an editor page."""
    unknown = [
        f"{m} {r.rule}"
        for m, r in unsafe_routes(app)
        if (m, r.endpoint) not in OPEN_WRITES and not r.rule.startswith(("/api/", "/editor/"))
    ]
    assert not unknown, f"writes outside /api/ and /editor/ need an access rule here: {unknown}"
    assert len([1 for m, r in unsafe_routes(app) if r.rule.startswith("/api/")]) >= 17


def test_every_api_write_refuses_without_a_valid_token(app, client, ids, tokens) -> None:  # noqa: ANN001
    before = newest_change(app)
    checked = 0
    for method, rule in unsafe_routes(app):
        if (method, rule.endpoint) in OPEN_WRITES or not rule.rule.startswith("/api/"):
            continue
        url = url_for_rule(rule, ids)
        for header in (
            None,
            "Bearer",
            "Bearer glos_not-a-token",
            f"Basic {tokens['admin']}",
            f"Bearer {tokens['revoked']}",
            f"Bearer {tokens['admin']}x",
        ):
            headers = {"Authorization": header} if header else {}
            response = client.open(url, method=method, headers=headers, json={"name": "x"})
            assert response.status_code == 401, (method, url, header, response.status_code)
            assert response.mimetype == "application/problem+json"
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            checked += 1
    assert checked >= 17 * 6
    assert newest_change(app) == before, "a refused request changed the store"


def test_api_writes_check_the_role(app, client, ids, tokens) -> None:  # noqa: ANN001
    """An editor token gets 403 exactly on the admin-only writes, and nothing changes then."""
    forbidden = set()
    for method, rule in unsafe_routes(app):
        if (method, rule.endpoint) in OPEN_WRITES or not rule.rule.startswith("/api/"):
            continue
        before = newest_change(app)
        response = client.open(
            url_for_rule(rule, ids),
            method=method,
            headers={"Authorization": f"Bearer {tokens['editor']}"},
            json={},
        )
        assert response.status_code != 401, (method, rule.rule)
        if response.status_code == 403:
            forbidden.add(rule.endpoint)
            assert newest_change(app) == before
            assert "admin" in response.get_json()["detail"]
    assert forbidden == ADMIN_ONLY_API


def test_every_editor_page_refuses_without_a_session(app, client, ids) -> None:  # noqa: ANN001
    before = newest_change(app)
    token = csrf_of(client)  # a CSRF token, but no login
    checked = 0
    for rule in rules(app):
        if not rule.rule.startswith("/editor/"):
            continue
        url = url_for_rule(rule, ids)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, rule.endpoint) in OPEN_WRITES or rule.endpoint == "editor.login":
                continue
            data = {"csrf_token": token, "source": "juche", "target": "cabinet", "name": "X"}
            response = client.open(url, method=method, data=data)
            assert refused_by_login(response), (method, url, response.status_code)
            checked += 1
    assert checked >= 9
    assert newest_change(app) == before


def test_editor_pages_answer_401_without_a_session(app, client, ids) -> None:  # noqa: ANN001
    for rule in rules(app):
        if rule.rule.startswith("/editor/") and rule.endpoint not in ("editor.login",):
            if "GET" in rule.methods:
                assert client.get(url_for_rule(rule, ids)).status_code == 401, rule.rule


def test_editor_pages_refuse_too_small_a_role_with_403(app, client, tokens) -> None:  # noqa: ANN001
    login(client, tokens["editor"])
    before = newest_change(app)
    for method, endpoint in ADMIN_ONLY_PAGES:
        rule = next(r for r in rules(app) if r.endpoint == endpoint)
        response = client.open(
            url_for_rule(rule, {}),
            method=method,
            data={"csrf_token": csrf_of(client), "source": "juche", "target": "cabinet"},
        )
        assert response.status_code == 403, (endpoint, response.status_code)
    assert newest_change(app) == before


def test_an_editor_role_cannot_merge_through_the_pages(app, client, tokens) -> None:  # noqa: ANN001
    login(client, tokens["editor"])
    before = newest_change(app)
    response = client.post(
        "/editor/merge",
        data={"csrf_token": csrf_of(client), "source": "juche", "target": "cabinet"},
    )
    assert response.status_code == 403
    assert "admin" in response.get_data(as_text=True)
    assert newest_change(app) == before


def test_every_editor_form_needs_the_csrf_token(app, client, ids, tokens) -> None:  # noqa: ANN001
    login(client, tokens["admin"])
    before = newest_change(app)
    for method, rule in unsafe_routes(app):
        if not rule.rule.startswith("/editor/"):
            continue
        for forged in (None, "forged", ""):
            data = {"source": "juche", "target": "cabinet", "name": "X", "token": "glos_x"}
            if forged is not None:
                data["csrf_token"] = forged
            response = client.open(url_for_rule(rule, ids), method=method, data=data)
            assert response.status_code == 400, (method, rule.rule, forged)
    assert newest_change(app) == before
    assert client.get("/editor/").status_code == 200, "still logged in: logout needed CSRF too"


def test_every_form_on_every_page_carries_the_csrf_token(app, client, ids, tokens) -> None:  # noqa: ANN001
    login(client, tokens["admin"])
    forms_seen = 0
    for rule in rules(app):
        if "GET" not in rule.methods or rule.endpoint == "static":
            continue
        response = client.get(url_for_rule(rule, ids))
        if response.mimetype != "text/html":
            continue
        page = response.get_data(as_text=True)
        for form in re.findall(r"<form\b([^>]*)>(.*?)</form>", page, re.S | re.I):
            attributes, body = form
            if re.search(r'method="?post', attributes, re.I):
                assert 'name="csrf_token"' in body, (rule.rule, attributes)
                forms_seen += 1
    assert forms_seen >= 5


def test_tokens_are_stored_only_as_digests(app, tokens) -> None:  # noqa: ANN001
    with get_store(app).read() as session:
        rows = session.scalars(select(Token)).all()
    stored = {getattr(row, column.key) for row in rows for column in Token.__table__.columns}
    for plain in tokens.values():
        assert plain not in stored
        assert not any(isinstance(v, str) and plain[5:20] in v for v in stored)
        assert auth.digest(plain) in {row.digest for row in rows}
    assert all(re.fullmatch(r"[0-9a-f]{64}", row.digest) for row in rows)


def test_session_cookie_flags_over_http_and_https(app, tokens) -> None:  # noqa: ANN001
    for base, secure in (("http://localhost", False), ("https://localhost", True)):
        client = app.test_client()
        client.get("/editor/login", base_url=base)
        with client.session_transaction(base_url=base) as session:
            token = session["csrf_token"]
        response = client.post(
            "/editor/login",
            data={"csrf_token": token, "token": tokens["editor"]},
            base_url=base,
        )
        cookie = response.headers["Set-Cookie"]
        assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
        assert ("Secure" in cookie) is secure, (base, cookie)
        assert tokens["editor"] not in cookie


def test_security_headers_on_every_route_and_error(app, client, ids, tokens) -> None:  # noqa: ANN001
    requests = [("GET", url_for_rule(r, ids)) for r in rules(app) if "GET" in r.methods]
    requests += [(m, url_for_rule(r, ids)) for m, r in unsafe_routes(app)]
    requests += [
        ("GET", "/no/such/page"),
        ("GET", "/api/no/such"),
        ("GET", "/terms/no-such-term"),
        ("PUT", "/api/terms"),
        ("GET", "/api/search?per_page=100000"),
        ("OPTIONS", "/api/search"),
    ]
    statuses = set()
    for method, url in requests:
        response = client.open(url, method=method)
        statuses.add(response.status_code)
        for name, value in HEADERS.items():
            assert response.headers.get(name) == value, (method, url, name)
    big = client.post("/api/annotate", data=b"x" * (app.config["MAX_CONTENT_LENGTH"] + 1),
                      content_type="application/json")  # fmt: skip
    assert big.status_code == 413
    assert all(big.headers.get(n) == v for n, v in HEADERS.items())
    assert {200, 401, 404, 405}.issubset(statuses)


@pytest.mark.slow
def test_cookie_is_secure_behind_a_tls_proxy_through_gunicorn(tmp_path, database_url) -> None:  # noqa: ANN001
    """gunicorn trusts X-Forwarded-Proto from loopback, so a login through a TLS-terminating
    proxy on this machine gets a Secure cookie, and a plain one does not."""
    import urllib.parse

    from tests.test_reliability_crash import Server, prepared_store, run_cli

    prepared_store(tmp_path, database_url)
    made = run_cli(tmp_path, "token", "create", "proxy", database_url=database_url)
    token = made.stdout.strip().splitlines()[0]
    server = Server(tmp_path, database_url, workers=1)
    server.start()
    try:
        for proto, secure in (("https", True), (None, False)):
            extra = {"X-Forwarded-Proto": proto} if proto else {}
            status, headers, page = server.request("GET", "/editor/login", headers=extra)
            session = headers["Set-Cookie"].split(";", 1)[0]
            assert ("Secure" in headers["Set-Cookie"]) is secure
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
            body = urllib.parse.urlencode({"csrf_token": csrf, "token": token}).encode()
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            conn.request("POST", "/editor/login", body=body, headers={
                **extra, "Cookie": session,
                "Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
            response = conn.getresponse()
            cookie = response.getheader("Set-Cookie") or ""
            conn.close()
            assert response.status == 302, response.status
            assert "HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
            assert ("Secure" in cookie) is secure, (proto, cookie)
            for name, value in HEADERS.items():
                assert response.getheader(name) == value
    finally:
        server.stop()
