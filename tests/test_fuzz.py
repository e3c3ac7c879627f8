"""Fuzzing: hypothesis over the ingest readers (random bytes, malformed JSON, HTML and feeds), the
matcher and annotation, the lookup table and the query parser and searches; and a stateful
schemathesis run (chained requests from the OpenAPI links) against a live gunicorn. Nothing may
raise an unhandled exception or answer 5xx."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import FlakyStrategyDefinition

from glossary.annotate import annotate
from glossary.gazetteer import get_matcher
from glossary.ingest import ArticleRecord, ReadError, read_document
from glossary.lookup import lookup_names
from glossary.search import (
    clean_query,
    parse_article_query,
    search_articles,
    search_terms,
    suggest,
)
from glossary.store import get_store
from glossary.text import fold, fold_with_offsets
from tests.conftest import DATA, run_cli

EXAMPLES = 300
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
NAMES = ["a.txt", "a.md", "a.html", "a.json", "a.jsonl", "a.xml", "feed.rss", "a.atom", "x.bin",
         "a.txt.gz", "a.jsonl.gz", "", "noext"]  # fmt: skip
WORDS = ["Pyongyang", "Cabinet", "Ministry", "of", "Social", "Security", "MSS", "the", "'s",
         "North", "Korea", "Phyongan", "Province", "Factory", "Committee", "평양", "사회안전성",
         "-", "—", "’", "\u0301", "Kim Jong-un", "Jong Un", "(", ")", '"', "\n", "  ", ".", ",",
         "Test Works Number 3 Factory", "Hyesan", "P'yŏngyang", "Juche 109", "Ulchi"]  # fmt: skip
SYNTAX = ["*", "?", "~", "^", '"', "-", "+", "(", ")", "[", "]", "{", "}", ":", "\\", "/",
          "AND", "OR", "NOT", "TO", "a*", "*a", "%", "_", "'", "\x00", "\ufffd", " "]  # fmt: skip

prose = st.lists(st.sampled_from(WORDS) | st.text(max_size=12), max_size=60).map(" ".join)
queries = st.lists(st.sampled_from(SYNTAX + WORDS) | st.text(max_size=8), max_size=40).map(
    lambda parts: "".join(parts)
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30) | prose,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "text",
                    "title",
                    "id",
                    "url",
                    "date",
                    "source",
                    "body",
                    "content",
                    "items",
                    "language",
                    "published",
                    "x",
                ]
            )
            | st.text(max_size=6),
            children,
            max_size=6,
        )
    ),  # fmt: skip
    max_leaves=30,
)
TAGS = ["p", "div", "script", "style", "article", "iframe", "a", "img", "svg", "title", "h1",
        "meta", "body", "html", "head", "![CDATA[", "!--"]  # fmt: skip
tags = st.sampled_from(TAGS)


@st.composite
def html_documents(draw) -> bytes:  # noqa: ANN001
    parts = []
    for _ in range(draw(st.integers(0, 25))):
        tag = draw(tags)
        attrs = draw(st.sampled_from(["", ' onclick="x()"', ' href="javascript:y()"',
                                      ' src="data:,z"', ' class="a', " lang=ko"]))  # fmt: skip
        parts.append(f"<{tag}{attrs}>{draw(prose)}")
        if draw(st.booleans()):
            parts.append(f"</{tag}>")
    return "".join(parts).encode("utf-8", "surrogatepass")


@st.composite
def feeds(draw) -> bytes:  # noqa: ANN001
    kind = draw(st.sampled_from(["rss", "atom"]))
    items = []
    for _ in range(draw(st.integers(0, 5))):
        fields = {k: draw(prose) for k in draw(st.sets(st.sampled_from(
            ["title", "link", "guid", "pubDate", "description", "summary", "id", "updated",
             "content"])))}  # fmt: skip
        inner = "".join(f"<{k}>{v}</{k}>" for k, v in fields.items())
        items.append(f"<item>{inner}</item>" if kind == "rss" else f"<entry>{inner}</entry>")
    body = "".join(items)
    if draw(st.booleans()):
        body = body[: draw(st.integers(0, max(0, len(body))))]  # truncated mid-tag
    if kind == "rss":
        doc = f'<?xml version="1.0"?><rss version="2.0"><channel>{body}</channel></rss>'
    else:
        doc = f'<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom">{body}</feed>'
    return doc.encode("utf-8", "surrogatepass")


def read_all(data: bytes, name: str) -> list:
    items = list(read_document(data, name))
    for item in items:
        assert isinstance(item, ArticleRecord | ReadError)
        if isinstance(item, ArticleRecord):
            assert item.text and "\x00" not in item.text
            assert item.title is None or "<" not in item.title or ">" not in item.title
    return items


# --- readers ------------------------------------------------------------------------------------


@FUZZ
@given(data=st.binary(max_size=4000), name=st.sampled_from(NAMES), pack=st.booleans())
def test_reader_random_bytes(data: bytes, name: str, pack: bool) -> None:
    read_all(gzip.compress(data) if pack else data, name)


@FUZZ
@given(value=json_values, name=st.sampled_from(["a.json", "a.jsonl", ""]), cut=st.integers(0, 50))
def test_reader_malformed_json(value: object, name: str, cut: int) -> None:
    raw = json.dumps(value, allow_nan=True).encode()
    read_all(raw, name)
    read_all(raw[: max(0, len(raw) - cut)], name)  # truncated
    read_all(raw + b"\n" + raw[:cut] + b"\n{", "a.jsonl")


@FUZZ
@given(doc=html_documents(), name=st.sampled_from(["a.html", "noext", "a.htm"]))
def test_reader_malformed_html(doc: bytes, name: str) -> None:
    for item in read_all(doc, name):
        if isinstance(item, ArticleRecord):
            assert "javascript:" not in (item.url or "")


@FUZZ
@given(doc=feeds(), name=st.sampled_from(["feed.rss", "feed.xml", "feed.atom", "noext"]))
def test_reader_malformed_feeds(doc: bytes, name: str) -> None:
    read_all(doc, name)


# --- text, matcher, annotation, lookup, queries -------------------------------------------------


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """A store with the test glossary and articles, and its indexes, through the real CLI."""
    from glossary import create_app
    from tests.conftest import app_config

    tmp = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{tmp / 'glossary.db'}"
    for args in (("init",), ("import", str(DATA / "glossary.jsonl")),
                 ("ingest", str(DATA / "articles"))):  # fmt: skip
        result = run_cli(tmp, *args, database_url=url)
        assert result.returncode == 0, result.stderr
    app = create_app(app_config(tmp, url))
    with app.app_context():
        yield app, get_store(app), Path(app.config["INDEX_DIR"])
    get_store(app).dispose()


@FUZZ
@given(text=prose | st.text(max_size=300))
def test_fold_keeps_offsets_in_range(text: str) -> None:
    folded, offsets = fold_with_offsets(text)
    assert len(offsets) >= len(folded)
    assert all(0 <= o <= len(text) for o in offsets)
    assert fold(folded) == fold(fold(text))


@FUZZ
@given(text=prose | st.text(max_size=400), date=st.none() | st.sampled_from(["2012-01-01", "x"]))
def test_matcher_and_annotate_never_raise(loaded, text: str, date: str | None) -> None:
    app, store, _index = loaded
    matcher = get_matcher(store)
    for span in matcher.match(text, date=date, nested=True):
        assert 0 <= span.start < span.end <= len(text)
        assert text[span.start : span.end] == span.surface
    for span in annotate(text, matcher, date=date, nested=True, candidates=True):
        assert 0 <= span.start < span.end <= len(text)


@FUZZ
@given(names=st.lists(queries | prose, min_size=1, max_size=8))
def test_lookup_never_raises(loaded, names: list[str]) -> None:
    _app, store, _index = loaded
    answers = lookup_names(store, names, limit=5)
    assert len(answers) == len(names)


@FUZZ
@given(q=queries | st.text(max_size=200))
def test_query_parser_and_searches_never_raise(loaded, q: str) -> None:
    _app, store, index_dir = loaded
    assert len(clean_query(q)) <= 1000
    parse_article_query(q)
    search_terms(store, index_dir, q)
    suggest(store, index_dir, q)
    search_articles(store, index_dir, q)
    search_articles(store, index_dir, q, sort="date", terms=[q[:30]], date_from="2011")


@FUZZ
@given(q=queries | st.text(max_size=120), page=st.integers(-5, 10**6))
def test_search_endpoints_never_5xx(loaded, q: str, page: int) -> None:
    app, _store, _index = loaded
    client = app.test_client()
    for path in ("/api/search", "/api/articles/search", "/", "/api/lookup"):
        args = {"q": q, "name": q, "page": page}
        response = client.get(path, query_string=args)
        assert response.status_code < 500, (path, q, response.get_data(as_text=True)[:300])


# --- schemathesis, stateful -------------------------------------------------------------------

STATEFUL_RUNS = 40
STATEFUL_SCENARIOS = 10
STATEFUL_STEPS = 12
MIN_STATEFUL_CALLS = 1200


@pytest.mark.slow
def test_stateful_api_workflows(tmp_path, database_url):
    """Chains of calls that follow the API's links (create, read, edit, delete), against gunicorn:
    every answer documented and conforming, never a 5xx."""
    import schemathesis
    from schemathesis.generation.modes import GenerationMode

    from tests.test_reliability_crash import (
        Server,
        generated_articles,
        prepared_store,
        write_jsonl,
    )

    prepared_store(tmp_path, database_url)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", generated_articles(0, 40))
    assert run_cli(tmp_path, "ingest", str(corpus), database_url=database_url).returncode == 0
    made = run_cli(tmp_path, "token", "create", "stateful", "--role", "admin",
                   database_url=database_url)  # fmt: skip
    headers = {"Authorization": f"Bearer {made.stdout.strip().splitlines()[0]}"}
    server = Server(tmp_path, database_url, workers=2)
    server.start()
    calls: dict[str, int] = {}
    try:
        schema = schemathesis.openapi.from_url(f"{server.base}/api/openapi.json")
        # valid requests only, as the per-operation run (tests/test_schemathesis.py) does
        schema.config.generation.update(modes=[GenerationMode.POSITIVE])
        excluded = [schemathesis.checks.positive_data_acceptance]

        class Workflow(schema.as_state_machine()):
            def get_call_kwargs(self, case):  # noqa: ANN001, ANN202
                return {"headers": headers, "timeout": 60}

            def after_call(self, response, case):  # noqa: ANN001, ANN202
                key = f"{case.operation.label} {response.status_code}"
                calls[key] = calls.get(key, 0) + 1
                assert response.status_code < 500, (case.operation.label, response.text[:500])

            def validate_response(self, response, case, additional_checks=None, **kwargs):  # noqa: ANN001, ANN202
                case.validate_response(
                    response, excluded_checks=excluded, transport_kwargs=kwargs or None
                )

        # Many short runs: the server's state changes under hypothesis, and a long run may
        # replay a prefix whose rules are no longer enabled (FlakyStrategyDefinition), which
        # says nothing about the API.
        runs = flaky = 0
        while sum(calls.values()) < MIN_STATEFUL_CALLS and runs < STATEFUL_RUNS:
            runs += 1
            try:
                Workflow.run(
                    settings=settings(
                        max_examples=STATEFUL_SCENARIOS,
                        stateful_step_count=STATEFUL_STEPS,
                        deadline=None,
                        database=None,
                        phases=[Phase.generate],
                        suppress_health_check=list(HealthCheck),
                    )
                )
            except FlakyStrategyDefinition:
                flaky += 1
    finally:
        server.stop()
    total = sum(calls.values())
    operations = {k.rsplit(" ", 1)[0] for k in calls}
    print(f"schemathesis stateful: {runs} runs ({flaky} stopped as flaky), {total} calls over "
          f"{len(operations)} operations; "
          f"statuses {sorted({k.rsplit(' ', 1)[1] for k in calls})}")  # fmt: skip
    assert "Traceback" not in server.log_text()
    assert total >= MIN_STATEFUL_CALLS, total
    assert flaky < runs / 2, (flaky, runs)
