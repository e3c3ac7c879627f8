"""annotate() and annotate_jsonl(): known terms and candidates together, in the eval format."""

from __future__ import annotations

import io
import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glossary.annotate import annotate, annotate_jsonl
from glossary.matcher import Matcher, entries_from_terms

TERMS = [
    {"slug": "dprk", "name": "Democratic People's Republic of Korea", "type": "place",
     "labels": [{"text": "DPRK", "kind": "abbreviation", "case_sensitive": True}]},
    {"slug": "pyongyang", "name": "Pyongyang", "type": "place", "parent": "dprk", "labels": []},
    {"slug": "sinuiju", "name": "Sinuiju", "type": "place", "parent": "north-pyongan-province",
     "labels": []},
    {"slug": "north-pyongan-province", "name": "North Pyongan Province", "type": "place",
     "parent": "dprk", "labels": []},
    {"slug": "national-defence-commission", "name": "National Defence Commission",
     "type": "organization", "labels": []},
    {"slug": "ministry-of-social-security", "name": "Ministry of Social Security",
     "type": "organization", "labels": []},
    {"slug": "juche", "name": "Juche", "type": "policy", "labels": []},
    {"slug": "kcna", "name": "Korean Central News Agency", "type": "organization",
     "labels": [{"text": "KCNA", "kind": "abbreviation", "case_sensitive": True}]},
]  # fmt: skip
MATCHER = Matcher(entries_from_terms(TERMS))
TEXT = (
    "Pyongyang, June 3 (KCNA) -- Workers of the Pyongyang Textile Mill and the Sinuiju "
    "Cosmetics Factory in North Phyongan Province studied the Juche idea. The DPRK National "
    "Defence Commission praised the Ministry of Social Security’s investigation bureau."
)


def test_known_terms_and_candidates_sorted() -> None:
    spans = annotate(TEXT, MATCHER)
    assert [(s.surface, s.type, s.candidate) for s in spans] == [
        ("Pyongyang", "place", False),
        ("KCNA", "organization", False),
        ("Pyongyang Textile Mill", "organization", True),
        ("Sinuiju Cosmetics Factory", "organization", True),
        ("North Phyongan Province", "place", False),
        ("Juche", "policy", False),
        ("DPRK National Defence Commission", "organization", False),
        ("Ministry of Social Security’s investigation bureau", "organization", True),
    ]
    assert all(TEXT[s.start : s.end] == s.surface for s in spans)
    assert [s.start for s in spans] == sorted(s.start for s in spans)


def test_nested_mentions_follow_the_guidelines() -> None:
    nested = [(s.surface, s.slug) for s in annotate(TEXT, MATCHER, nested=True) if s.nested]
    # a special city nests without its head; a head-less county-level city does not
    assert ("Pyongyang", "pyongyang") in nested
    assert not any(surface == "Sinuiju" for surface, _ in nested)
    assert ("DPRK", "dprk") in nested
    assert ("Ministry of Social Security", "ministry-of-social-security") in nested


def test_country_plus_known_body_is_that_body() -> None:
    span = [s for s in annotate(TEXT, MATCHER) if "Defence" in s.surface][0]
    assert span.slug == "national-defence-commission" and not span.candidate


@pytest.mark.parametrize(
    ("kwargs", "surfaces"),
    [
        (
            {"candidates": False},
            [
                "Pyongyang",
                "KCNA",
                "Pyongyang",
                "Sinuiju",
                "North Phyongan Province",
                "Juche",
                "DPRK",
                "National Defence Commission",
                "Ministry of Social Security",
            ],
        ),
        ({"types": {"policy"}}, ["Juche"]),
    ],
)
def test_options(kwargs: dict, surfaces: list[str]) -> None:
    assert [s.surface for s in annotate(TEXT, MATCHER, **kwargs)] == surfaces


def test_known_acronym_definition_maps_to_the_term() -> None:
    text = "The Ministry of Social Security (MOSS) said MOSS officers came."
    spans = [s for s in annotate(text, MATCHER) if s.surface == "MOSS"]
    assert len(spans) == 2
    assert all(s.slug == "ministry-of-social-security" and not s.candidate for s in spans)


def test_annotate_jsonl_writes_the_prediction_format() -> None:
    lines = [
        json.dumps({"id": "a1", "text": TEXT, "date": "2012-06-03"}),
        "",
        json.dumps({"id": "a2", "text": "Nothing here."}),
    ]
    out = io.StringIO()
    assert annotate_jsonl(lines, out, MATCHER) == 2
    rows = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in rows] == ["a1", "a2"]
    assert rows[1]["mentions"] == []
    first = rows[0]["mentions"][0]
    assert first == {"start": 0, "end": 9, "type": "place", "term": "pyongyang",
                     "candidate": False}  # fmt: skip
    assert {m["term"] for m in rows[0]["mentions"] if m["candidate"]} >= {"pyongyang textile mill"}
    assert any(m["start"] == 43 and m["end"] == 52 for m in rows[0]["mentions"])  # nested


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list('DPRK Mill Pyongyang’s (AB) "-.,\nİı평성 Factory')),
        max_size=150,
    ),
    st.booleans(),
)
def test_annotate_spans_are_slices(text: str, nested: bool) -> None:
    for s in annotate(text, MATCHER, nested=nested):
        assert text[s.start : s.end] == s.surface


def test_model_numbers_are_not_places() -> None:
    text = "A Hwasong-17 was fired near Pyongyang."
    m = Matcher(entries_from_terms([*TERMS, {"slug": "hwasong", "name": "Hwasong", "type": "place",
                                             "labels": []}]))  # fmt: skip
    assert [s.surface for s in annotate(text, m)] == ["Pyongyang"]


@pytest.mark.parametrize(
    "text",
    [
        " and ".join(["Kim Il Sung University"] * 2000),
        "Pyongyang, " * 5000,
        '"a policy" ' * 3000,
        "Pyongyang Textile Mill. " * 3000,
        "x" * 200_000,
    ],
)
def test_long_hostile_texts_stay_fast(text: str) -> None:
    t0 = time.process_time()
    annotate(text, MATCHER, nested=True)
    assert time.process_time() - t0 < 10


def test_currencies_and_job_titles_are_not_mentions() -> None:
    text = "A Ministry of Social Security bureau chief paid in U.S. dollars; the DPRK won."
    m = Matcher(entries_from_terms([*TERMS, {"slug": "us", "name": "United States", "type": "place",
                                             "labels": [{"text": "U.S.", "kind": "abbreviation",
                                                         "case_sensitive": True}]}]))  # fmt: skip
    assert [s.surface for s in annotate(text, m)] == ["Ministry of Social Security", "DPRK"]


WORDS = [
    "Pyongyang", "DPRK", "Juche", "Juche 100", "the century of Juche", "KCNA", "(KCNA)",
    "National Defence Commission", "Ministry of Social Security’s", "Sinuiju", "mill",
    "Hwasong-17", "U.S. dollars", "North Phyongan Province", "dprk", ", ", " ", "\n",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(WORDS), max_size=25),
    st.sampled_from([None, {"place"}, {"organization", "policy"}]),
)
def test_api_defaults_are_the_top_level_of_nested_known_terms(
    words: list[str], types: set[str] | None
) -> None:
    # the API's defaults (no nesting, no candidates) take a shorter path to the same spans
    text = " ".join(words)
    full = annotate(text, MATCHER, nested=True, candidates=False, types=types)
    top = [s for s in full if not s.nested]
    assert annotate(text, MATCHER, types=types, candidates=False) == top
