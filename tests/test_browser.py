"""The web pages in a real browser: Playwright drives Debian's Chromium against a live server on a
loopback port (search, autocomplete, term and article pages, hover cards, the editor queue),
checks that no page logs an error or opens a dialog, saves screenshots and runs axe-core."""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select, update
from werkzeug.serving import make_server

from glossary import create_app
from glossary.gazetteer import forget_matchers
from glossary.models import Article, Definition, Label, Term
from glossary.store import get_store, record_change
from tests.conftest import DATA, ROOT, app_config

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
AXE = ROOT / "tests" / "browser" / "node_modules" / "axe-core" / "axe.min.js"
# Screenshots go to bench/screenshots/ when GLOSSARY_SCREENSHOTS=1 (so a plain test run leaves the
# checkout clean), else to a temporary folder.
SHOTS = ROOT / "bench" / "screenshots" if os.environ.get("GLOSSARY_SCREENSHOTS") else None
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PAYLOAD = "<script>alert('x')</script><img src=x onerror=alert('y')>"
TITLE = f"Hostile title {PAYLOAD}"

if CHROMIUM is None:
    pytest.skip(
        "no Chromium on PATH: install Debian's package (apt-get install -y chromium)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")

HOSTILE_TERM = {
    "slug": "hostile-test-term",
    "name": f"Hostile {PAYLOAD} Bureau",
    "type": "organization",
    "labels": [{"text": f"Hostile Label {PAYLOAD}", "kind": "alias"}],
    "definitions": [{"text": f"A definition with {PAYLOAD} inside.", "source": PAYLOAD}],
}
HOSTILE_ARTICLE = f"""---
title: Title {PAYLOAD}
date: 2022-02-02
source: Test Desk
id: test-hostile
---
The Cabinet met in Pyongyang. {PAYLOAD} The Ministry of Social Security reported again.
Officials of the State Price Bureau were there. The State Price Bureau later issued a notice.
"""


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A live server on a free loopback port over a store with the test glossary, the test
    articles, hostile payloads and an admin token."""
    tmp = tmp_path_factory.mktemp("live")
    (tmp / "hostile.jsonl").write_text(json.dumps(HOSTILE_TERM) + "\n", encoding="utf-8")
    articles = tmp / "articles"
    shutil.copytree(DATA / "articles", articles)
    (articles / "hostile.md").write_text(HOSTILE_ARTICLE, encoding="utf-8")
    app = create_app(app_config(tmp, f"sqlite:///{tmp / 'glossary.db'}"))
    runner = app.test_cli_runner()
    for args in (
        ["init"],
        ["import", str(DATA / "glossary.jsonl"), str(tmp / "hostile.jsonl")],
        ["ingest", str(articles)],
        ["token", "create", "browser-test", "--role", "admin"],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 0, result.output
    token = re.search(r"glos_[\w-]+", result.output).group(0)
    # The readers strip tags from titles, and the store strips markup from names, labels and
    # definitions: put raw payloads back as a hostile or older store might hold them.
    with get_store(app).write() as session:
        session.execute(
            update(Article).where(Article.external_id == "test-hostile").values(title=TITLE)
        )
        term_id = session.scalar(select(Term.id).where(Term.slug == HOSTILE_TERM["slug"]))
        session.execute(update(Term).where(Term.id == term_id).values(name=HOSTILE_TERM["name"]))
        session.execute(
            update(Label)
            .where(Label.term_id == term_id, Label.kind == "preferred")
            .values(text=HOSTILE_TERM["name"])
        )
        session.execute(
            update(Label)
            .where(Label.term_id == term_id, Label.kind == "alias")
            .values(text=HOSTILE_TERM["labels"][0]["text"])
        )
        session.execute(
            update(Definition)
            .where(Definition.term_id == term_id)
            .values(text=HOSTILE_TERM["definitions"][0]["text"], source=PAYLOAD)
        )
        record_change(session, "term", term_id, "upsert")
    assert runner.invoke(args=["sync"]).exit_code == 0
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "token": token, "app": app}
    server.shutdown()
    thread.join(5)
    app.extensions["glossary.store"].dispose()
    forget_matchers()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's Chromium, headless."""
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield chromium
        chromium.close()


class Watch:
    """Console errors, page errors and dialogs seen by a page (a dialog means a payload ran)."""

    def __init__(self, page: object) -> None:
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on("dialog", self._dialog)

    def _console(self, msg: object) -> None:
        if msg.type == "error":
            self.errors.append(f"console: {msg.text} at {msg.location}")

    def _dialog(self, dialog: object) -> None:
        self.dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()


@pytest.fixture
def page(browser: object, live: dict) -> Iterator[object]:
    """A fresh page at a phone-to-laptop width; fails the test on any console error or dialog."""
    context = browser.new_context(base_url=live["url"], viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    watch = Watch(page)
    yield page
    context.close()
    assert watch.dialogs == [], "a JavaScript dialog opened: an injected payload ran"
    assert watch.errors == [], "the browser reported errors"


def shot(page: object, name: str, *, full: bool = True) -> None:
    """Save a screenshot (under bench/screenshots/ when asked for)."""
    folder = SHOTS or Path(tempfile.gettempdir()) / "glossary-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=full)


def login(page: object, token: str) -> None:
    """Log in through the editor login form."""
    page.goto("/editor/login")
    page.fill("#token", token)
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(r"/editor/"))


def open_search(page: object) -> None:
    """Open the search page and wait for the box to take focus: the browser applies `autofocus`
    after the page loads, and keys typed before that are lost."""
    page.goto("/")
    page.wait_for_function("document.activeElement && document.activeElement.id === 'q'")


def test_misspelled_name_suggestion_term_article_hover_card(page: object) -> None:
    """Type a misspelled name, pick a suggestion by keyboard, follow a citing article, hover."""
    open_search(page)  # the box has focus
    page.keyboard.type("Minstry of Socail", delay=30)
    option = page.locator("#q-suggestions li[role=option]").first
    option.wait_for()
    assert "Ministry of Social Security" in page.locator("#q-suggestions").inner_text()
    assert page.get_attribute("#q", "aria-expanded") == "true"
    shot(page, "search-autocomplete", full=False)
    page.keyboard.press("ArrowDown")
    assert page.get_attribute("#q", "aria-activedescendant") == "q-suggestions-0"
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/terms/ministry-of-social-security$"))
    assert page.locator("h1").inner_text() == "Ministry of Social Security"
    assert "Formerly Ministry of People's Security until 2020" in page.inner_text(".term-head")
    assert page.locator("svg[role=img] title").first.text_content().startswith("Mentions of")
    shot(page, "term")

    page.locator("ol.citing h3 a").first.click()
    page.wait_for_url(re.compile(r"/articles/\d+$"))
    mention = page.locator("a.mention[href='/terms/ministry-of-social-security']").first
    card = mention.locator("xpath=following-sibling::span[@role='tooltip']")
    assert not card.is_visible()
    mention.hover()
    card.wait_for(state="visible")
    assert "police ministry" in card.inner_text()
    shot(page, "article-hover-card", full=False)
    page.keyboard.press("Escape")
    card.wait_for(state="hidden")
    page.mouse.move(0, 0)

    # Keyboard focus shows the card too.
    other = page.locator("a.mention").first
    other.focus()
    other.locator("xpath=following-sibling::span[@role='tooltip']").wait_for(state="visible")


def test_stale_suggestions_are_dropped(page: object, live: dict) -> None:
    """A slow answer to an older prefix never replaces the answer to the newest one."""
    delayed: list[object] = []

    def slow_first(route: object) -> None:
        if "q=Py" in route.request.url and "q=Pyongs" not in route.request.url:
            delayed.append(route)  # hold the first answer back
        else:
            route.continue_()

    page.route("**/api/suggest?*", slow_first)
    open_search(page)
    page.keyboard.type("Py")
    page.wait_for_timeout(400)
    page.keyboard.type("ongs")
    page.locator("#q-suggestions li[role=option]").first.wait_for()
    for route in delayed:
        route.continue_()
    page.wait_for_timeout(300)
    names = page.locator("#q-suggestions li").all_inner_texts()
    assert names and all("Pyongsong" in n for n in names)


def test_suggestions_show_the_alias_and_the_preferred_name(page: object) -> None:
    """A former name suggests its term as "alias → preferred name"."""
    open_search(page)
    page.keyboard.type("People's Secu")
    option = page.locator("#q-suggestions li[role=option]").first
    option.wait_for()
    assert option.inner_text().startswith(
        "Ministry of People's Security \u2192 Ministry of Social Security"
    )
    page.keyboard.press("Escape")
    assert page.get_attribute("#q", "aria-expanded") == "false"


def test_editor_merges_a_candidate_through_autocomplete(page: object, live: dict) -> None:
    """In the queue, pick the term to merge into from suggestions, then merge."""
    login(page, live["token"])
    page.goto("/editor/")
    item = page.locator("li.candidate-item", has_text="State Price Bureau")
    box = item.locator("input[name=target_name]")
    box.click()
    page.keyboard.type("Cabin")
    item.locator("li[role=option]", has_text="Cabinet").wait_for()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Enter")  # picks the suggestion, does not submit
    assert box.input_value() == "Cabinet"
    assert item.locator("input[name=target]").input_value() == "cabinet"
    item.locator("button:has-text('Merge')").click()
    page.wait_for_url(re.compile(r"/editor/$"))
    assert "Merged into" in page.inner_text(".flashes")
    page.goto("/terms/cabinet")
    assert "State Price Bureau" in page.inner_text("dl.labels")


def test_results_page_through_and_keep_the_query(page: object) -> None:
    """Results show badges, the matched label and counts; Next keeps q in the URL."""
    page.goto("/?q=Korea&per_page=2")
    first = page.locator("ol.hits li h3 a").all_inner_texts()
    assert len(first) == 2
    assert page.locator("ol.hits .badge").count() == 2
    shot(page, "search-results")
    page.click("a[rel=next]")
    page.wait_for_url(re.compile(r"q=Korea.*page=2|page=2.*q=Korea"))
    second = page.locator("ol.hits li h3 a").all_inner_texts()
    assert second and not set(first) & set(second)
    assert page.input_value("#q") == "Korea"
    assert "Page 2 of" in page.inner_text("nav.pager")


def test_did_you_mean_and_facets(page: object) -> None:
    """A type facet narrows the results; a query with no match says so."""
    page.goto("/?q=Pyongyang")
    page.click(".facets a:has-text('place')")
    page.wait_for_url(re.compile(r"type=place"))
    assert all(b == "PLACE" for b in page.locator("ol.hits .badge").all_inner_texts())
    page.goto("/?q=zzzzqqq")
    assert "No term matches" in page.inner_text(".results-count")


def test_editor_accepts_a_candidate_that_then_appears_in_search(page: object, live: dict) -> None:
    """Log in with a token, accept a candidate from the queue, find it by search."""
    login(page, live["token"])
    page.goto("/editor/")
    item = page.locator("li.candidate-item", has_text="National Price Review Office")
    item.wait_for()
    shot(page, "editor-queue")
    item.locator("textarea[name=definition]").fill("Test entry: a price office.")
    item.locator("button:has-text('Accept')").click()
    page.wait_for_url(re.compile(r"/editor/$"))
    assert "Accepted as a new term" in page.inner_text(".flashes")
    page.goto("/?q=National+Price+Review+Office")
    hit = page.locator("ol.hits li h3 a").first
    assert hit.inner_text() == "National Price Review Office"
    hit.click()
    assert "a price office" in page.inner_text(".definition")
    page.goto("/editor/changes")
    assert "national-price-review-office" in page.inner_text("table.changes")
    shot(page, "editor-changes")
    page.goto("/editor/terms/national-price-review-office/edit")
    shot(page, "editor-term-form")
    page.click("header.site button:has-text('Log out')")
    page.wait_for_url(re.compile(r"/$"))
    assert page.request.get("/editor/").status == 401  # logged out (no console noise)


def test_payloads_render_as_text(page: object) -> None:
    """Script payloads in the query, labels, definitions, titles and article text never run."""
    page.goto("/?q=" + PAYLOAD)
    assert PAYLOAD in page.input_value("#q")
    page.goto("/?q=Hostile")
    assert "<script>" in page.inner_text("ol.hits")
    page.goto("/terms/hostile-test-term")
    assert "<script>" in page.inner_text("h1")
    open_search(page)
    page.keyboard.type("Hostile")
    page.locator("#q-suggestions li").first.wait_for()
    assert "<script>" in page.inner_text("#q-suggestions")
    page.goto("/articles/" + article_id(page, "Hostile title"))
    assert "<script>" in page.inner_text("h1")
    assert "onerror" in page.inner_text(".article-text")
    assert page.locator(".article-text script, .article-text img").count() == 0


def article_id(page: object, word: str) -> str:
    """The id of the first article whose title contains `word` (through the JSON API)."""
    body = page.request.get("/api/articles?per_page=100").json()
    return str(next(a["id"] for a in body["items"] if word.lower() in a["title"].lower()))


def test_pages_without_javascript(browser: object, live: dict) -> None:
    """With JavaScript off the search form, results and links still work."""
    context = browser.new_context(base_url=live["url"], java_script_enabled=False)
    page = context.new_page()
    page.goto("/")
    page.fill("#q", "Minstry of Social Security")
    page.click("form.search button")
    page.wait_for_url(re.compile(r"\?q="))
    page.locator("ol.hits li h3 a", has_text="Ministry of Social Security").first.click()
    page.wait_for_url(re.compile(r"/terms/"))
    assert page.locator("h1").inner_text() == "Ministry of Social Security"
    context.close()


def test_error_page_in_the_site_style(browser: object, live: dict) -> None:
    """A missing page answers 404 with the site's own page (its console error is expected)."""
    context = browser.new_context(base_url=live["url"])
    page = context.new_page()
    response = page.goto("/terms/no-such-term")
    assert response.status == 404
    assert "404" in page.inner_text("h1")
    assert page.locator("link[rel=stylesheet]").count() == 1
    shot(page, "error-404", full=False)
    context.close()


def test_screenshots_of_main_pages(page: object, live: dict) -> None:
    """Screenshots of the pages the other tests do not capture, at laptop and phone widths."""
    page.goto("/")
    shot(page, "home", full=False)
    page.goto("/browse?type=place")
    shot(page, "browse-places")
    page.goto("/articles/" + article_id(page, "Pyongsong Market"))
    shot(page, "article")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/terms/ministry-of-social-security")
    shot(page, "term-phone")
    page.goto("/?q=Pyongyang")
    shot(page, "search-phone")


MAIN_PAGES = [
    "/",
    "/?q=Pyongyang",
    "/?q=zzzzqqq",
    "/terms/ministry-of-social-security",
    "/terms/pyongyang",
    "/browse",
    "/browse?type=place",
    "/editor/login",
    "/terms/no-such-term",
]


@pytest.mark.skipif(not AXE.exists(), reason=f"axe-core not installed at {AXE}")
def test_axe_finds_no_serious_violations(browser: object, live: dict) -> None:
    """axe-core reports no serious or critical accessibility violation on the main pages."""
    # The CSP forbids inline scripts, so let the test inject axe.
    context = browser.new_context(base_url=live["url"], bypass_csp=True)
    page = context.new_page()
    found = {}
    market = None
    pages = list(MAIN_PAGES)
    for path in pages + ["ARTICLE", "EDITOR"]:
        if path == "ARTICLE":
            market = market or article_id(page, "Pyongsong Market")
            path = f"/articles/{market}"
        if path == "EDITOR":
            login(page, live["token"])
            for editor_path in ("/editor/", "/editor/changes", "/editor/terms/cabinet/edit"):
                found.update(_axe(page, editor_path))
            continue
        found.update(_axe(page, path))
    context.close()
    assert found == {}, json.dumps(found, indent=1)


def _axe(page: object, path: str) -> dict:
    page.goto(path)
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    bad = [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"][:5]]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    return {path: bad} if bad else {}
