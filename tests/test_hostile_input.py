"""Hostile input through HTTP and the command line: oversized bodies, deeply nested JSON, invalid
UTF-8, NUL bytes, 10 MB lines, gzip bombs, scripts in HTML, path traversal, SQL metacharacters and
queries built to be slow. Nothing may answer 5xx, hang, or store markup or half a request."""

from __future__ import annotations

import gzip
import io
import json
import re
import time

import nh3
import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from glossary import auth
from glossary.models import Article, Change, Definition, Label, Term
from glossary.store import get_store

SQL_META = [
    "'",
    '"',
    "';--",
    "' OR '1'='1",
    '" OR 1=1 --',
    "%",
    "_",
    "%_%",
    "\\",
    "\\'",
    "; DROP TABLE term; --",
    "1); DELETE FROM article; --",
    "' UNION SELECT digest FROM token --",
    "$1",
    ":name",
    "?",
    "pg_sleep(5)",
    "*/ /*",
]
SCRIPT_HTML = (
    "<html><head><title>Hostile <script>alert('title')</script>page</title>"
    "<script>alert('head')</script></head><body>"
    "<article><h1 onclick=\"alert('h1')\">Cabinet meets in Pyongyang</h1>"
    "<p>The Cabinet met in Pyongyang on Monday to review the plan for the year.</p>"
    "<p>Officials <a href=\"javascript:alert('link')\">said</a> the Ministry of Social Security "
    "would report.</p>"
    '<iframe src="https://evil.example/frame"></iframe>'
    '<img src="x" onerror="alert(\'img\')">'
    "<script>document.write('injected')</script>"
    '<svg onload="alert(\'svg\')"><script>alert("svg")</script></svg>'
    "<p>More text about the Cabinet and its work in Pyongyang this week.</p>"
    "</article></body></html>"
)
SCRIPT_MARKERS = ("<script", "alert(", "javascript:", "onerror", "onload", "onclick", "<iframe")


@pytest.fixture
def headers(app) -> dict[str, str]:  # noqa: ANN001
    """An admin's Authorization header."""
    with app.app_context(), get_store().write() as session:
        _t, plain = auth.create_token(session, "hostile", "admin")
    return {"Authorization": f"Bearer {plain}"}


def counts(app) -> tuple[int, ...]:  # noqa: ANN001
    with get_store(app).read() as session:
        return tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Term, Label, Definition, Article, Change)
        )


def multipart(name: str, data: bytes) -> tuple[bytes, str]:
    """A multipart body with one file, in memory (the test client would spool a large one to an
    unclosed temporary file)."""
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(data), name)})
    return body, f"multipart/form-data; boundary={boundary}"


def send_file(client, headers: dict, name: str, data: bytes):  # noqa: ANN001, ANN201
    """POST one file to /api/articles as a form upload."""
    body, content_type = multipart(name, data)
    return client.post("/api/articles", data=body, content_type=content_type, headers=headers)


def assert_handled(response, *allowed: int) -> None:  # noqa: ANN001
    """Answered, not a server error, and within the allowed statuses when given."""
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    if allowed:
        assert response.status_code in allowed, (
            response.status_code,
            response.get_data(as_text=True)[:300],
        )


# --- sizes ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/articles", "/api/annotate", "/api/lookup", "/api/terms", "/reconcile"]
)
def test_bodies_over_the_limit_get_413(app, client, headers, path) -> None:  # noqa: ANN001
    before = counts(app)
    body = b'{"text": "' + b"x" * app.config["MAX_CONTENT_LENGTH"] + b'"}'
    response = client.post(path, data=body, content_type="application/json", headers=headers)
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    body, content_type = multipart("a.txt", b"y" * (app.config["MAX_CONTENT_LENGTH"] + 10))
    response = client.post("/api/articles", data=body, content_type=content_type, headers=headers)
    assert response.status_code == 413
    assert counts(app) == before


def test_html_forms_over_the_limit_get_413(client) -> None:  # noqa: ANN001
    response = client.post("/editor/login", data={"token": "x" * (5 * 2**20)})
    assert response.status_code == 413
    assert response.mimetype == "text/html"


@pytest.mark.slow
def test_a_ten_megabyte_line_is_refused_over_http_and_ingested_from_a_file(
    app, client, headers, tmp_path
) -> None:  # noqa: ANN001
    # 10 MB without a newline: ordinary words, and the Cabinet named once in the middle
    words = "reporters said the plan was reviewed again " * 116_000
    line = (words + "The Cabinet met. " + words).encode()
    response = client.post(
        "/api/annotate", data=json.dumps({"text": line.decode()}), headers=headers,
        content_type="application/json",
    )  # fmt: skip
    assert response.status_code == 413
    path = tmp_path / "one-line.txt"
    path.write_bytes(b"---\ntitle: One line\n---\n" + line)
    started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started < 60
    with get_store(app).read() as session:
        stored = session.scalar(select(Article).where(Article.title == "One line"))
        assert stored is not None and len(stored.text) == len(line) - 1


def test_annotate_at_its_limit_answers_in_bounded_time(app, client) -> None:  # noqa: ANN001
    text = ("The Cabinet met in Pyongyang. " * 40_000)[: app.config["MAX_ANNOTATE_CHARS"]]
    started = time.monotonic()
    response = client.post("/api/annotate", json={"text": text})
    assert response.status_code == 200
    assert time.monotonic() - started < 30
    over = client.post("/api/annotate", json={"text": text + "x" * 10})
    assert_handled(over, 413, 422)


def gzip_bomb(expanded: int) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as fh:
        block = b"Pyongyang " * 100_000
        for _ in range(expanded // len(block)):
            fh.write(block)
    return out.getvalue()


def test_gzip_bomb_on_the_command_line_is_capped(app, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "bomb.txt.gz"
    path.write_bytes(gzip_bomb(300 * 2**20))  # expands past the 256 MB cap of a file
    before = counts(app)
    started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["ingest", str(path)])
    assert result.exit_code == 1
    assert "expands past 256 MB" in result.output
    assert time.monotonic() - started < 30
    assert counts(app) == before


def test_gzip_bomb_upload_is_capped_near_the_body_limit(app, client, headers, monkeypatch) -> None:  # noqa: ANN001
    from glossary import ingest

    seen: list[int] = []
    real = ingest._read_stream

    def spy(raw, origin, content_type, max_bytes):  # noqa: ANN001, ANN202
        seen.append(max_bytes)
        return real(raw, origin, content_type, max_bytes)

    monkeypatch.setattr(ingest, "_read_stream", spy)
    response = send_file(client, headers, "small.txt.gz", gzip.compress(b"x" * 1000))
    assert_handled(response)
    assert seen and seen[0] <= 4 * app.config["MAX_CONTENT_LENGTH"]


def test_a_gzip_bomb_upload_is_refused(app, client, headers) -> None:  # noqa: ANN001
    bomb = gzip_bomb(300 * 2**20)  # about 300 KB on the wire
    assert len(bomb) < app.config["MAX_CONTENT_LENGTH"]
    before = counts(app)
    started = time.monotonic()
    response = send_file(client, headers, "bomb.txt.gz", bomb)
    assert_handled(response, 413, 422)
    assert "expands past" in response.get_json()["detail"]
    assert time.monotonic() - started < 30
    assert counts(app) == before


# --- malformed bodies ---------------------------------------------------------------------------


def post_nested(client, headers, path: str, depth: int):  # noqa: ANN001, ANN201
    body = '{"text": ' + "[" * depth + "]" * depth + "}"
    method = "PATCH" if path == "/api/terms/cabinet" else "POST"
    return client.open(
        path, method=method, data=body, content_type="application/json", headers=headers
    )


@pytest.mark.parametrize("depth", [1_000, 100_000])
def test_deeply_nested_json_article_is_refused(app, client, headers, depth) -> None:  # noqa: ANN001
    before = counts(app)
    response = post_nested(client, headers, "/api/articles", depth)
    assert_handled(response, 400, 422)
    assert response.mimetype == "application/problem+json"
    assert counts(app) == before


@pytest.mark.parametrize("depth", [1_000, 100_000])
@pytest.mark.parametrize(
    "path", ["/api/annotate", "/api/lookup", "/api/terms", "/api/terms/cabinet"]
)
def test_deeply_nested_json_is_refused(app, client, headers, path, depth) -> None:  # noqa: ANN001
    before = counts(app)
    response = post_nested(client, headers, path, depth)
    assert_handled(response, 400, 422)
    assert response.mimetype == "application/problem+json"
    assert counts(app) == before


def test_deeply_nested_json_upload(app, client, headers) -> None:  # noqa: ANN001
    deep = "[" * 200_000 + "]" * 200_000
    response = send_file(client, headers, "deep.json", deep.encode())
    assert_handled(response, 422)
    assert "nested too deeply" in response.get_json()["detail"]


def test_deeply_nested_reconcile_queries(client) -> None:  # noqa: ANN001
    deep = "[" * 100_000 + "]" * 100_000
    response = client.post("/reconcile", data={"queries": '{"q0": ' + deep + "}"})
    assert_handled(response, 400, 413, 422)


def test_long_reconcile_queries_in_the_url(client) -> None:  # noqa: ANN001
    response = client.get("/reconcile", query_string={"queries": "[" * 500})
    assert_handled(response, 400, 413, 414, 422)


MALFORMED = [
        b'{"text": "\xff\xfe bad bytes"}',
        b'\xef\xbb\xbf{"text": "bom"}',
        b'{"names": ["\\ud800"]}',
        b'{"text": "nul \\u0000 inside"}',
        b"\x00\x00\x00",
        b"{'text': 'single quotes'}",
        b'{"text": NaN}',
        b'{"text": 1e999999}',
        b"",
]  # fmt: skip


def test_invalid_utf8_and_malformed_json(app, client, headers) -> None:  # noqa: ANN001
    for path in ("/api/annotate", "/api/lookup", "/api/articles", "/reconcile"):
        for body in MALFORMED:
            response = client.post(
                path, data=body, content_type="application/json", headers=headers
            )
            assert_handled(response)
            assert response.mimetype in ("application/problem+json", "application/json")


SURROGATES = [b'{"text": "\xed\xa0\x80 surrogate"}', b'{"text": "\\ud800 lone escape"}']


def test_surrogates_in_json(client, headers) -> None:  # noqa: ANN001
    for path in ("/api/annotate", "/api/lookup", "/reconcile"):
        for body in SURROGATES:
            response = client.post(
                path, data=body, content_type="application/json", headers=headers
            )
            assert_handled(response)


@pytest.mark.parametrize("body", SURROGATES)
def test_surrogates_in_an_article(client, headers, body) -> None:  # noqa: ANN001
    response = client.post(
        "/api/articles", data=body, content_type="application/json", headers=headers
    )
    assert_handled(response, 201, 400, 422)


BAD_URLS = [
    "/?q=%ff%fe",
    "/api/search?q=%ff%fe%00",
    "/api/suggest?q=%c0%80%00",
    "/api/lookup?name=%ed%a0%80",
    "/api/articles/search?q=%00%00",
    "/browse?letter=%ff",
    "/terms/%ff%fe",
    "/editor/terms/%00/edit",
    "/api/candidates?status=pending%00",
    "/browse?parent=%00",
    "/reconcile?queries=%ff",
    "/editor/login?next=%ff%00",
    "/api/search?q=a%00b&type=%00",
]


def test_invalid_utf8_and_nul_in_urls(client) -> None:  # noqa: ANN001
    failed = [url for url in BAD_URLS if client.get(url).status_code >= 500]
    assert not failed, failed


def test_nul_in_slugs(client) -> None:  # noqa: ANN001
    urls = ["/api/terms/%00", "/api/terms/cabinet%00", "/api/terms/x%00/articles", "/terms/a%00b"]
    failed = [url for url in urls if client.get(url).status_code >= 500]
    assert not failed, failed


def test_nul_bytes_in_written_fields(app, client, headers) -> None:  # noqa: ANN001
    body = {
        "name": "Nul\u0000 Bureau",
        "type": "organization",
        "labels": [{"text": "NB\u0000", "kind": "abbreviation"}],
        "definitions": [{"text": "A test body\u0000 with a NUL."}],
    }
    response = client.post("/api/terms", json=body, headers=headers)
    assert_handled(response, 201, 422)
    response = client.post(
        "/api/articles",
        json={"title": "Nul\u0000 title", "text": "The Cabinet\u0000 met in Pyongyang."},
        headers=headers,
    )
    assert_handled(response, 201)
    assert "\u0000" not in json.dumps(response.get_json())


def test_nul_bytes_and_bad_bytes_in_uploads(app, client, headers) -> None:  # noqa: ANN001
    for name, data in (
        ("nul.txt", b"The Cabinet\x00 met in Pyongyang.\x00"),
        ("bad.txt", b"The Cabinet \xff\xfe met in Pyongyang."),
        ("bad.html", b"<p>The Cabinet \xff met in \x00Pyongyang.</p>"),
        ("bad.json", b'{"text": "The Cabinet \xff met", "title": "\xc0\x80"}'),
        ("bin.txt", bytes(range(256)) * 40),
    ):
        response = send_file(client, headers, name, data)
        assert_handled(response, 200, 201, 422)
        if response.status_code < 300:
            assert "\x00" not in response.get_json()["article"]["text"]


# --- markup -----------------------------------------------------------------------------------


def assert_no_script(*values: str | None) -> None:
    for value in values:
        lowered = (value or "").lower()
        for marker in SCRIPT_MARKERS:
            assert marker not in lowered, (marker, value)


@pytest.mark.parametrize("how", ["upload", "cli"])
def test_html_with_scripts_is_stored_as_clean_text(app, client, headers, tmp_path, how) -> None:  # noqa: ANN001
    if how == "upload":
        response = send_file(client, headers, "hostile.html", SCRIPT_HTML.encode())
        assert response.status_code == 201, response.get_data(as_text=True)
        article_id = response.get_json()["article"]["id"]
    else:
        path = tmp_path / "hostile.html"
        path.write_text(SCRIPT_HTML)
        result = app.test_cli_runner().invoke(args=["ingest", str(path)])
        assert result.exit_code == 0, result.output
        with get_store(app).read() as session:
            article_id = session.scalar(select(func.max(Article.id)))
    with get_store(app).read() as session:
        article = session.get(Article, article_id)
        assert "Cabinet met in Pyongyang" in article.text
        assert_no_script(article.text, article.title, article.url, article.source)
    page = client.get(f"/articles/{article_id}").get_data(as_text=True)
    assert "alert(" not in page and "javascript:" not in page
    api = client.get(f"/api/articles/{article_id}").get_data(as_text=True)
    assert_no_script(api)


def test_markup_in_terms_is_never_live_html(app, client, headers) -> None:  # noqa: ANN001
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    body = {
        "name": "Scripted Bureau",
        "type": "organization",
        "labels": [{"text": f"SB {hostile}", "kind": "alias"}],
        "definitions": [
            {
                "text": f'A test body <a href="javascript:alert(3)">link</a> {hostile} '
                '<iframe src="https://evil.example"></iframe>',
                "source": "javascript:alert(4)",
            }
        ],
    }
    response = client.post("/api/terms", json=body, headers=headers)
    assert_handled(response, 201, 422)
    if response.status_code != 201:
        return
    slug = response.get_json()["term"]["slug"]
    client.application.test_cli_runner().invoke(args=["sync"])
    page = client.get(f"/terms/{slug}").get_data(as_text=True)
    for marker in ("<script>alert", "<img src=x", "<iframe", 'href="javascript:'):
        assert marker not in page, marker
    results = client.get("/api/search", query_string={"q": "Scripted Bureau test body"})
    for hit in results.get_json()["items"]:
        snippet = hit.get("snippet_html") or ""
        assert not re.search(r"<(?!/?mark>)", snippet), snippet
        assert nh3.clean(snippet, tags={"mark"}, attributes={}).count("<") == snippet.count("<")
    search_page = client.get("/", query_string={"q": "Scripted Bureau"}).get_data(as_text=True)
    assert "<script>alert" not in search_page and "<iframe" not in search_page


def test_markup_is_sanitized_before_it_is_stored(app, client, headers) -> None:  # noqa: ANN001
    body = {
        "name": "Stored Markup Bureau",
        "type": "organization",
        "definitions": [{"text": "A body <script>alert(1)</script> that <b>exists</b>."}],
    }
    response = client.post("/api/terms", json=body, headers=headers)
    assert response.status_code == 201
    with get_store(app).read() as session:
        texts = session.scalars(select(Definition.text)).all()
    assert_no_script(*texts)


# --- names and paths ----------------------------------------------------------------------------


UPLOAD_NAMES = (
    ["../../../../tmp/evil.txt", "..\\..\\evil.txt", "/etc/passwd", "a/../../b.md", "\x00.txt",
     "....//....//x.txt", "%2e%2e%2fx.txt", "con.txt", "x" * 5000 + ".txt"]
)  # fmt: skip


def test_path_traversal_in_upload_names_writes_nothing(app, client, headers, tmp_path) -> None:  # noqa: ANN001
    for name in UPLOAD_NAMES:
        response = send_file(client, headers, name, b"The Cabinet met in Pyongyang.")
        assert_handled(response, 201, 200, 422)
    assert not (tmp_path / "evil.txt").exists()
    assert not list(tmp_path.parent.glob("evil*"))


TRAVERSAL_URLS = [
        "/terms/../../etc/passwd",
        "/terms/..%2f..%2fetc%2fpasswd",
        "/api/terms/..%2fcabinet",
        "/static/../glossary/config.py",
        "/static/..%2fglossary%2fconfig.py",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static//etc/passwd",
        "/api/terms/%2e%2e",
        "/editor/terms/..%2f..%2fx/edit",
]  # fmt: skip


def test_path_traversal_in_urls(client) -> None:  # noqa: ANN001
    for url in TRAVERSAL_URLS:
        response = client.get(url)
        assert_handled(response)
        body = response.get_data()
        assert b"root:" not in body and b"SECRET" not in body and b"def defaults" not in body


def test_bad_slugs_are_refused_on_write(app, client, headers) -> None:  # noqa: ANN001
    before = counts(app)
    for slug in ("../x", "a/b", "..", "x%2fy", "CAPS", "a..b", "-a", "a_b", "x" * 201):
        body = {"name": "Slug Test Body", "type": "organization", "slug": slug}
        response = client.post("/api/terms", json=body, headers=headers)
        assert_handled(response, 422)
    assert counts(app) == before


# --- SQL metacharacters -------------------------------------------------------------------------


def test_sql_metacharacters_everywhere_are_only_data(app, client, headers) -> None:  # noqa: ANN001
    before = counts(app)
    for value in SQL_META:
        for url, args in (
            ("/", {"q": value}),
            ("/api/search", {"q": value}),
            ("/api/suggest", {"q": value + "ab"}),
            ("/api/lookup", {"name": value}),
            ("/api/articles/search", {"q": value}),
            ("/api/terms", {"type": "organization", "letter": value}),
            ("/api/candidates", {"status": value}),
            ("/browse", {"letter": value, "type": value}),
            ("/reconcile", {"queries": json.dumps({"q0": {"query": value}})}),
            (f"/terms/{value}", {}),
            (f"/api/terms/{value}", {}),
        ):
            assert_handled(client.get(url, query_string=args))
        assert_handled(client.post("/api/lookup", json={"names": [value, value * 3]}), 200)
        assert_handled(client.post("/api/annotate", json={"text": f"Cabinet {value}"}), 200)
        assert_handled(client.post("/editor/login", data={"token": value}))
    assert counts(app) == before

    # and written as data, they come back exactly
    name = "Bureau " + " ".join(SQL_META)
    body = {
        "name": name[:500],
        "type": "organization",
        "labels": [{"text": v + " label", "kind": "alias"} for v in SQL_META[:8]],
        "definitions": [{"text": "Defined as " + "".join(SQL_META)}],
    }
    response = client.post("/api/terms", json=body, headers=headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    slug = response.get_json()["term"]["slug"]
    term = client.get(f"/api/terms/{slug}").get_json()
    assert term["name"] == name[:500]
    assert {lb["text"] for kind in term["labels"].values() for lb in kind} >= {
        v + " label" for v in SQL_META[:8]
    }
    with get_store(app).read() as session:
        assert session.scalar(select(func.count(Term.id))) == before[0] + 1


# --- slow queries -------------------------------------------------------------------------------

SLOW_QUERIES = [
    " ".join(["a*"] * 250),
    "*" * 500,
    "?" * 500,
    " ".join(f"w{i}*" for i in range(120)),
    " ".join(f"word{i}" for i in range(100)),
    " ".join(f"pyongyang{i}~" for i in range(60)),
    '"' * 499,
    "(" * 250 + ")" * 250,
    " OR ".join(["cabinet"] * 100),
    " AND NOT ".join(["a"] * 60),
    "ministry " * 62,
    "-" * 500,
    "a" * 500,
    "p" + "a?" * 249,
    "[a TO z] " * 50,
    "미" * 500,
    "\u0301" * 500,
]


def test_queries_built_to_be_slow_are_bounded(client) -> None:  # noqa: ANN001
    slowest = 0.0
    for q in SLOW_QUERIES:
        for url, args in (
            ("/api/search", {"q": q}),
            ("/api/suggest", {"q": q[:200]}),
            ("/api/articles/search", {"q": q}),
            ("/api/lookup", {"name": q}),
            ("/", {"q": q}),
        ):
            started = time.monotonic()
            response = client.get(url, query_string=args)
            elapsed = time.monotonic() - started
            assert_handled(response, 200, 400, 422)
            assert elapsed < 2.0, (url, q[:40], elapsed)
            slowest = max(slowest, elapsed)
    print(f"slow queries: {len(SLOW_QUERIES)} x 5 endpoints, slowest {slowest:.2f} s")


def test_thousands_of_terms_in_one_query_are_bounded(app) -> None:  # noqa: ANN001
    from glossary.search import search_articles, search_terms, suggest

    store, index_dir = get_store(app), app.config["INDEX_DIR"]
    app.test_cli_runner().invoke(args=["reindex"])
    huge = [
        " ".join(f"term{i}" for i in range(5000)),
        " ".join(f"t{i}*" for i in range(5000)),
        "a* " * 5000,
        "x" * 100_000,
        " ".join(["pyongyang~"] * 3000),
    ]
    for q in huge:
        for call in (
            lambda q=q: search_terms(store, index_dir, q),
            lambda q=q: suggest(store, index_dir, q),
            lambda q=q: search_articles(store, index_dir, q),
        ):
            started = time.monotonic()
            call()
            assert time.monotonic() - started < 2.0, q[:40]
    hits = search_terms(store, index_dir, "Pyongyang").hits
    assert hits and hits[0].slug == "pyongyang"


def test_lookup_batches_of_hostile_names_are_bounded(client, app) -> None:  # noqa: ANN001
    names = [q[:200] for q in SLOW_QUERIES] * 50
    names = names[: app.config["MAX_LOOKUP_NAMES"]]
    started = time.monotonic()
    response = client.post("/api/lookup", json={"names": names})
    assert response.status_code == 200
    assert time.monotonic() - started < 10
    too_many = client.post("/api/lookup", json={"names": ["x"] * 5000})
    assert_handled(too_many, 413, 422)


@pytest.mark.parametrize("text", ["Lone \ud800 Bureau", "Bureau \udfff"])
def test_surrogates_in_written_fields(app, client, headers, text) -> None:  # noqa: ANN001
    before = counts(app)
    body = json.dumps({"name": text, "type": "organization"}).encode()
    response = client.post("/api/terms", data=body, content_type="application/json",
                           headers=headers)  # fmt: skip
    assert_handled(response, 201, 400, 422)
    if response.status_code != 201:
        assert counts(app) == before
