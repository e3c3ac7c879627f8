"""The HTML pages through Flask's test client: what each page shows, its JSON twin, its errors,
the security headers on every response, and escaping of hostile text everywhere."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import insert, select, update

from glossary import search
from glossary.models import Article, Definition, Label, Relation, Term
from glossary.store import get_store

PAYLOAD = "<script>alert(1)</script><img src=x onerror=alert(2)>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"


def html(response) -> str:  # noqa: ANN001
    """The response body as text, after checking it is an HTML page."""
    assert response.mimetype == "text/html", response.status
    return response.get_data(as_text=True)


def text_of(page: str) -> str:
    """Visible-ish text: tags removed and whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


@pytest.fixture
def editor_login(app, runner):  # noqa: ANN001, ANN201
    """A function that logs a test client in as an editor."""
    result = runner.invoke(args=["token", "create", "views-test"])
    token = re.search(r"glos_[\w-]+", result.output).group(0)

    def login(client) -> None:  # noqa: ANN001
        client.get("/editor/login")
        with client.session_transaction() as session:
            csrf = session["csrf_token"]
        response = client.post("/editor/login", data={"token": token, "csrf_token": csrf})
        assert response.status_code == 302

    return login


def article_id(app, external_id: str) -> int:  # noqa: ANN001
    """The id of a test article by its source id."""
    with get_store(app).write() as session:
        return session.scalar(select(Article.id).where(Article.external_id == external_id))


# --- search ------------------------------------------------------------------------------------


def test_search_page_has_one_focused_box(client) -> None:  # noqa: ANN001
    page = html(client.get("/"))
    assert re.search(r'<input id="q" name="q" type="search" value="" autofocus', page)
    assert 'data-suggest="navigate"' in page
    assert "14 terms" in text_of(page)
    assert '<script src="/static/site.js" defer></script>' in page
    assert "<script>" not in page  # no inline script anywhere


def test_search_results_show_type_label_snippet_and_counts(client) -> None:  # noqa: ANN001
    response = client.get("/?q=People's Security")
    page = html(response)
    text = text_of(page)
    assert "Ministry of Social Security" in text
    assert 'class="badge badge-organization"' in page
    assert "Matched <q>Ministry of People&#39;s Security</q> (former name until 2020)" in page
    assert "Mentioned 2 times" in text or "Mentioned 1 time" in text
    assert re.search(r'value="People(&#39;|\')s Security"', page)  # the query stays in the box


def test_search_highlights_the_definition(client) -> None:  # noqa: ANN001
    page = html(client.get("/?q=police ministry"))
    assert '<p class="snippet">' in page
    assert "<mark>" in page.split('<p class="snippet">', 1)[1].split("</p>", 1)[0]


def test_search_facets_filter_by_type(client) -> None:  # noqa: ANN001
    page = html(client.get("/?q=Pyongyang"))
    assert 'href="/?q=Pyongyang&amp;type=place"' in page
    narrowed = html(client.get("/?q=Workers Party&type=event"))
    assert "Eighth Congress of the Workers" in narrowed
    assert "badge-organization" not in narrowed.split('<ol class="hits">', 1)[1]


def test_search_paginates_and_keeps_the_query(client) -> None:  # noqa: ANN001
    first = html(client.get("/?q=Korea&per_page=1"))
    assert "Page 1 of" in first
    assert re.search(r'<a rel="next" href="/\?q=Korea&amp;per_page=1&amp;page=2">', first)
    second = html(client.get("/?q=Korea&per_page=1&page=2"))
    assert '<a rel="prev"' in second and "Page 2 of" in second


def test_search_with_no_match_offers_did_you_mean(client, monkeypatch) -> None:  # noqa: ANN001
    empty = search.TermResults([], 0, {}, 1, 20, did_you_mean="Cabinet")
    monkeypatch.setattr(search, "search_terms", lambda *a, **k: empty)
    page = html(client.get("/?q=Cabbinet"))
    assert "No term matches “Cabbinet”" in page
    assert 'Did you mean <a href="/?q=Cabinet">Cabinet</a>?' in page


def test_search_never_fails_on_odd_input(client) -> None:  # noqa: ANN001
    for q in ['"', "(", "AND OR NOT", "*", "title:x", "\u0000", "a" * 500]:
        assert client.get("/", query_string={"q": q}).status_code == 200


def test_search_rejects_bad_arguments_with_an_html_page(client) -> None:  # noqa: ANN001
    response = client.get("/?q=x&page=0")
    assert response.status_code == 400
    assert "Unusable query arguments: page" in html(response)


# --- term page ---------------------------------------------------------------------------------


def test_term_page_shows_names_definitions_hierarchy_and_relations(client) -> None:  # noqa: ANN001
    page = html(client.get("/terms/ministry-of-social-security"))
    text = text_of(page).replace("&#39;", "'")
    assert '<h1 id="term-h">Ministry of Social Security</h1>' in page
    assert 'lang="ko">사회안전성<' in page
    assert "Formerly Ministry of People's Security until 2020." in text
    assert "Former names Ministry of People's Security until 2020-05-31" in text
    assert "MSS from 2020-06-01 case-sensitive ambiguous" in text
    assert "Test entry: the police ministry. Source: test fixture, as of 2024" in text
    assert '<nav class="breadcrumb" aria-label="Belongs to">' in page
    assert '<a href="/terms/cabinet">Cabinet</a>' in page
    assert "See also Ministry of State Security" in text
    assert "Often mentioned alongside" in text


def test_term_page_shows_romanization_systems_and_children(client) -> None:  # noqa: ANN001
    page = text_of(html(client.get("/terms/pyongyang")))
    assert "Romanizations P'yŏngyang McCune-Reischauer" in page.replace("&#39;", "'")
    cabinet = text_of(html(client.get("/terms/cabinet")))
    assert "Includes 1 Ministry of Social Security" in cabinet


def test_term_page_chart_is_inline_svg_with_text(client) -> None:  # noqa: ANN001
    page = html(client.get("/terms/pyongyang"))
    assert '<svg viewBox="0 0 640 180" role="img" aria-labelledby="chart-title chart-desc"' in page
    assert '<title id="chart-title">Mentions of Pyongyang per month</title>' in page
    desc = re.search(r'<desc id="chart-desc">([^<]+)</desc>', page).group(1)
    assert desc.startswith("3 mentions from 2015-07 to 2019-04")
    assert '<th scope="col">Month</th>' in page  # the data as a table too


def test_term_page_lists_citing_articles_newest_first(client) -> None:  # noqa: ANN001
    page = html(client.get("/terms/ministry-of-social-security"))
    citing = page.split('<ol class="citing">', 1)[1]
    titles = re.findall(r'<h3><a href="/articles/\d+">([^<]+)</a></h3>', citing)
    assert titles == ["Inspectors visit Pyongsong Market", "A short history of a renamed ministry"]
    assert "<mark>Ministry of Social Security</mark>&#39;s officers" in citing
    assert "In 2015 the <mark>Ministry of People&#39;s Security</mark> ran" in citing


def test_term_page_paginates_citing_articles(client) -> None:  # noqa: ANN001
    page = html(client.get("/terms/pyongyang?per_page=1"))
    assert len(re.findall(r'<h3><a href="/articles/', page)) == 1
    assert 'href="/terms/pyongyang?per_page=1&amp;page=2"' in page


def test_term_page_links_its_json_twin_and_export(client) -> None:  # noqa: ANN001
    response = client.get("/terms/cabinet")
    page = html(response)
    assert '<link rel="alternate" type="application/json" href="/api/terms/cabinet">' in page
    assert (
        response.headers["Link"] == '</api/terms/cabinet>; rel="alternate"; type="application/json"'
    )
    assert '<a href="/api/export"' in page
    assert client.get("/api/terms/cabinet").status_code == 200


def test_merged_term_redirects(app, client) -> None:  # noqa: ANN001
    with get_store(app).write() as session:
        old = session.scalar(select(Term).where(Term.slug == "ministry-of-state-security"))
        new = session.scalar(select(Term.id).where(Term.slug == "ministry-of-social-security"))
        old.status, old.merged_into_id = "merged", new
    response = client.get("/terms/ministry-of-state-security")
    assert response.status_code == 301
    assert response.headers["Location"].endswith("/terms/ministry-of-social-security")


# --- article page ------------------------------------------------------------------------------


def test_article_page_links_every_mention_with_a_card(app, client) -> None:  # noqa: ANN001
    aid = article_id(app, "test-market")
    page = html(client.get(f"/articles/{aid}"))
    assert '<h1 id="article-h">Inspectors visit Pyongsong Market</h1>' in page
    assert "Test Desk" in page and '<time datetime="2021-03-05">5 March 2021</time>' in page
    link = re.search(
        r'<a class="mention mention-organization" href="/terms/ministry-of-social-security" '
        r'aria-describedby="(card-\d+-\d+)">Ministry of Social Security</a>'
        r'<span class="card" role="tooltip" id="\1"><strong>Ministry of Social Security</strong>',
        page,
    )
    assert link, "mention link with its card"
    assert "Test entry: the police ministry." in page
    side = text_of(page.split('<aside class="article-side"', 1)[1])
    assert side.index("organization") < side.index("place") < side.index("policy")
    assert "Restructuring of the socialist commercial system" in side


def test_article_page_marks_candidates_only_for_editors(app, client, editor_login) -> None:  # noqa: ANN001
    aid = article_id(app, "test-market")
    assert 'class="candidate"' not in html(client.get(f"/articles/{aid}"))
    editor_login(client)
    page = html(client.get(f"/articles/{aid}"))
    assert re.search(
        r'<mark class="candidate" title="Candidate: National Price Review Office">', page
    )


def test_article_page_links_only_web_urls(app, client) -> None:  # noqa: ANN001
    aid = article_id(app, "test-market")
    with get_store(app).write() as session:
        session.execute(
            update(Article).where(Article.id == aid).values(url="https://example.org/a?x=1&y=2")
        )
    page = html(client.get(f"/articles/{aid}"))
    assert '<a href="https://example.org/a?x=1&amp;y=2" rel="external nofollow noopener">' in page
    with get_store(app).write() as session:
        session.execute(update(Article).where(Article.id == aid).values(url="javascript:alert(1)"))
    assert "javascript:" not in html(client.get(f"/articles/{aid}"))


def test_article_page_json_twin(app, client) -> None:  # noqa: ANN001
    aid = article_id(app, "test-history")
    response = client.get(f"/articles/{aid}")
    assert f'href="/api/articles/{aid}"' in html(response)
    assert f"</api/articles/{aid}>" in response.headers["Link"]


# --- browse ------------------------------------------------------------------------------------


def test_browse_counts_types_and_letters(client) -> None:  # noqa: ANN001
    page = text_of(html(client.get("/browse")))
    assert "Organizations 5" in page and "Places 5" in page and "Policies 2" in page
    assert "Events 2" in page
    places = html(client.get("/browse?type=place&letter=p"))
    listed = re.findall(r'<li><a href="/terms/([a-z-]+)">', places)
    assert listed == ["pyongsong", "pyongsong-market", "pyongyang"]
    assert "Places by province" in places
    assert 'href="/browse?type=place&amp;parent=south-pyongan-province"' in places


def test_browse_by_province(client) -> None:  # noqa: ANN001
    page = html(client.get("/browse?type=place&parent=south-pyongan-province"))
    assert "Browse places in South Pyongan Province" in page
    assert re.findall(r'<li><a href="/terms/([a-z-]+)">', page) == ["pyongsong"]
    assert client.get("/browse?parent=no-such-province").status_code == 404
    assert client.get("/browse?letter=ab").status_code == 400


# --- errors, headers, cookies --------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/terms/no-such-term", "/articles/99999", "/nowhere"])
def test_not_found_is_an_html_page_in_the_site_style(client, path: str) -> None:  # noqa: ANN001
    response = client.get(path)
    assert response.status_code == 404
    page = html(response)
    assert "<h1>404 · Not Found</h1>" in page
    assert 'href="/static/site.css"' in page


def test_server_error_is_an_html_page(app) -> None:  # noqa: ANN001
    def boom() -> str:
        raise RuntimeError("boom")

    app.add_url_rule("/boom", view_func=boom)
    response = app.test_client().get("/boom")
    assert response.status_code == 500
    page = html(response)
    assert "500 · Internal Server Error" in page and "RuntimeError" not in page
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "/?q=x",
        "/terms/cabinet",
        "/browse",
        "/nowhere",
        "/static/site.css",
        "/api/terms",
        "/healthz",
        "/editor/login",
    ],
)
def test_security_headers_on_every_response(client, path: str) -> None:  # noqa: ANN001
    with client.get(path) as response:
        headers = response.headers
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "strict-origin-when-cross-origin"


def test_healthz_is_unchanged(client) -> None:  # noqa: ANN001
    body = client.get("/healthz").get_json()
    assert set(body) == {"status", "database", "index", "terms", "articles", "worker"}


def test_session_cookie_flags(client) -> None:  # noqa: ANN001
    client.get("/editor/login")
    cookie = client.get_cookie("session")
    assert cookie.http_only and cookie.same_site == "Lax" and not cookie.secure
    secure = client.application.test_client()
    secure.get("/editor/login", base_url="https://localhost")
    assert secure.get_cookie("session", domain="localhost").secure


# --- escaping ----------------------------------------------------------------------------------


@pytest.fixture
def hostile(app):  # noqa: ANN001, ANN201
    """A term and an article whose every text field carries a script payload. The store strips
    markup from names, labels and definitions on the way in, so the payloads are written with
    SQL statements (as an older version or another tool might have left them): pages must
    still show them as text."""
    with get_store(app).write() as session:
        term = session.scalar(select(Term).where(Term.slug == "cabinet"))
        session.execute(update(Term).where(Term.id == term.id).values(name=f"Cabinet {PAYLOAD}"))
        session.execute(
            insert(Label).values(term_id=term.id, text=f"Alias {PAYLOAD}", kind="alias", folded="x")
        )
        session.execute(
            insert(Definition).values(
                term_id=term.id, text=f"Defined {PAYLOAD}", source=f"javascript:{PAYLOAD}"
            )
        )
        session.execute(
            update(Article)
            .where(Article.external_id == "test-market")
            .values(title=f"Title {PAYLOAD}", text=f"Text {PAYLOAD} " + "x" * 10, source=PAYLOAD)
        )
    return article_id(app, "test-market")


def test_payloads_render_as_text(client, hostile: int) -> None:  # noqa: ANN001
    for path in ("/terms/cabinet", f"/articles/{hostile}", "/browse", "/?q=" + PAYLOAD):
        page = html(client.get(path))
        assert "<script>alert" not in page, path
        assert "<img src=x" not in page, path
        assert ESCAPED in page, path
    assert 'href="javascript:' not in html(client.get("/terms/cabinet"))


def test_search_snippets_keep_only_their_highlights(client, monkeypatch) -> None:  # noqa: ANN001
    hit = search.TermHit(
        slug="cabinet",
        name=PAYLOAD,
        type="organization",
        score=1.0,
        matched_label=PAYLOAD,
        label_kind="alias",
        label_note=PAYLOAD,
        snippet_html=f"a <mark>b</mark> {PAYLOAD}",
        mention_count=1,
        hangul=PAYLOAD,
    )
    found = search.TermResults([hit], 1, {"organization": 1}, 1, 20)
    monkeypatch.setattr(search, "search_terms", lambda *a, **k: found)
    page = html(client.get("/?q=b"))
    assert "<mark>b</mark>" in page
    assert "<script>alert" not in page and "<img src=x" not in page


@pytest.mark.parametrize(
    "path", ["/", "/?q=Pyongyang&type=place", "/terms/cabinet", "/browse?type=place&letter=p"]
)
def test_every_page_links_a_working_json_twin(client, path: str) -> None:  # noqa: ANN001
    response = client.get(path)
    url = re.fullmatch(
        r'<([^>]+)>; rel="alternate"; type="application/json"', response.headers["Link"]
    )
    assert url, response.headers.get("Link")
    assert f'<link rel="alternate" type="application/json" href="{url.group(1)}">'.replace(
        "&", "&amp;"
    ) in html(response)
    twin = client.get(url.group(1))
    assert twin.status_code == 200 and twin.is_json


def test_term_page_shows_predecessors_and_successors(app, client) -> None:  # noqa: ANN001
    with get_store(app).write() as session:
        ids = dict(session.execute(select(Term.slug, Term.id)).all())
        session.add(
            Relation(
                term_id=ids["ministry-of-social-security"],
                kind="predecessor",
                target_id=ids["ministry-of-state-security"],
                date="2020",
            )
        )
    newer = text_of(html(client.get("/terms/ministry-of-social-security")))
    assert "Predecessors Ministry of State Security 2020" in newer
    older = text_of(html(client.get("/terms/ministry-of-state-security")))
    assert "Successors Ministry of Social Security 2020" in older
