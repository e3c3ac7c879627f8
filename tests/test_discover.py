"""Discovery of candidate terms: heads, conventions, acronyms, definitions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glossary.discover import candidate_key, discover, sentence_bounds
from glossary.matcher import Matcher, Span, entries_from_terms

TERMS = [
    {"slug": "pyongyang", "name": "Pyongyang", "type": "place", "parent": "dprk", "labels": []},
    {"slug": "dprk", "name": "Democratic People's Republic of Korea", "type": "place",
     "labels": [{"text": "DPRK", "kind": "abbreviation", "case_sensitive": True}]},
    {"slug": "cabinet", "name": "Cabinet", "type": "organization", "labels": []},
    {"slug": "ryanggang-province", "name": "Ryanggang Province", "type": "place",
     "parent": "dprk", "labels": []},
]  # fmt: skip
MATCHER = Matcher(entries_from_terms(TERMS))


def candidates(text: str) -> list[tuple[str, str]]:
    spans = discover(text, MATCHER.match(text))
    assert all(s.candidate and s.slug is None for s in spans)
    assert all(text[s.start : s.end] == s.surface for s in spans)
    return [(s.surface, s.type) for s in spans]


@pytest.mark.parametrize(
    ("text", "name", "type_"),
    [
        ("Workers of the Hyesan Silk Mill met.", "Hyesan Silk Mill", "organization"),
        ("The Ministry of Forestry issued it.", "Ministry of Forestry", "organization"),
        (
            "Students of Chongjin University of Mining gathered.",
            "Chongjin University of Mining",
            "organization",
        ),
        ("Traders at Sunam Market were fined.", "Sunam Market", "place"),
        ("They climbed Mount Kuwol last week.", "Mount Kuwol", "place"),
        ("He lives in Masan-dong now.", "Masan-dong", "place"),
        ("A crowd gathered on Ryomyong Street.", "Ryomyong Street", "place"),
        ("The 3rd Pyongyang Autumn Trade Fair opened.", "3rd Pyongyang Autumn Trade Fair", "event"),
        ("The Fifth Plenary Meeting ended.", "Fifth Plenary Meeting", "event"),
        (
            "It enforces the Law on Prosecution of Hooliganism.",
            "Law on Prosecution of Hooliganism",
            "policy",
        ),
        ("The Chollima Movement began in 1956.", "Chollima Movement", "policy"),
        ("The Korean Armistice Agreement was signed.", "Korean Armistice Agreement", "policy"),
    ],
)
def test_discovers_each_type(text: str, name: str, type_: str) -> None:
    assert (name, type_) in candidates(text)


def test_longer_name_extends_a_known_place() -> None:
    text = "The Pyongyang Textile Mill exceeded its plan."
    assert ("Pyongyang Textile Mill", "organization") in candidates(text)


def test_candidates_never_cross_or_repeat_known_spans() -> None:
    text = "Pyongyang hosted the event. The DPRK said so."
    assert candidates(text) == []


def test_defined_acronym_is_found_everywhere() -> None:
    text = (
        "The Korea Forestry Trading Company (KFTC) signed a deal. Later the KFTC said "
        "the deal was done."
    )
    found = candidates(text)
    assert ("Korea Forestry Trading Company", "organization") in found
    assert found.count(("KFTC", "organization")) == 2


def test_quoted_policy_phrase_and_its_plain_repetitions() -> None:
    text = (
        'Officials began the "restructuring of the state grain trade system" this year. '
        "The restructuring of the state grain trade system hurt traders."
    )
    found = candidates(text)
    assert found.count(("restructuring of the state grain trade system", "policy")) == 2


def test_quoted_work_titles_are_not_names() -> None:
    text = 'The drama "Story of Mount Kuwol Castle" was staged at the Moranbong Theatre.'
    assert candidates(text) == [("Moranbong Theatre", "place")]


def test_kcna_conventions() -> None:
    text = (
        "Hamhung, May 3 (KCNA) -- The C.C., the Korean Agrarian Party met. "
        "Members of the Central Committee of the Korean Agrarian Party spoke."
    )
    found = candidates(text)
    assert ("Hamhung", "place") in found
    assert ("C.C., the Korean Agrarian Party", "organization") in found
    assert ("Central Committee of the Korean Agrarian Party", "organization") in found


def test_coordination_with_plural_head() -> None:
    text = "Floods hit Unsan, Yomju and Sonchon counties."
    found = candidates(text)
    assert [n for n, t in found if t == "place"] == ["Unsan", "Yomju", "Sonchon"]


def test_functional_sub_units_of_known_bodies() -> None:
    text = "The Cabinet’s commercial bureau and Ryanggang province’s agricultural committee"
    found = candidates(text)
    assert ("Cabinet’s commercial bureau", "organization") in found
    assert ("Ryanggang province’s agricultural committee", "organization") in found


def test_anniversaries_and_sessions() -> None:
    text = (
        "They marked the 60th anniversary of the Korean Children's Union. "
        "He spoke at the fourth session of the 13th Provincial People's Assembly."
    )
    found = candidates(text)
    assert ("60th anniversary of the Korean Children's Union", "event") in found
    assert ("fourth session of the 13th Provincial People's Assembly", "event") in found


def test_job_titles_and_awards_are_not_names() -> None:
    text = "The minister of Land and Environment Protection received the Order of Freedom."
    assert candidates(text) == []


@pytest.mark.parametrize(
    ("text", "definition"),
    [
        (
            "The Sunchon Cement Complex, a major cement maker in the north, reopened.",
            "Sunchon Cement Complex, a major cement maker in the north.",
        ),
        (
            "The Kumsong Tractor Works, which makes tractors for farms, grew.",
            "Kumsong Tractor Works, which makes tractors for farms.",
        ),
        (
            "The Hwasong Sports Club is the largest club in the city.",
            "Hwasong Sports Club is the largest club in the city.",
        ),
    ],
)
def test_draft_definitions(text: str, definition: str) -> None:
    (span,) = discover(text, [])
    assert span.definition == definition
    assert 0 < span.confidence <= 1


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("the Ministry of Forestry’s", "ministry of forestry"),
        ("Sunam Market", "sunam market"),
        ("The Chollima Movement", "chollima movement"),
    ],
)
def test_candidate_key(name: str, key: str) -> None:
    assert candidate_key(name) == key


def test_sentence_bounds() -> None:
    text = "First one. The U.S. and Mt. Paektu are here. Last."
    start = text.index("Mt.")
    s, e = sentence_bounds(text, start, start + 3)
    assert text[s:e] == "The U.S. and Mt. Paektu are here."


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list('Aa Mill Of the ’s(KCNA)"-.,\nMarket Pyongyang')),
        max_size=120,
    )
)
def test_discover_spans_are_slices(text: str) -> None:
    for s in discover(text, MATCHER.match(text)):
        assert isinstance(s, Span) and text[s.start : s.end] == s.surface


def test_plenary_meetings_and_numbered_campaigns() -> None:
    text = (
        "An enlarged plenary meeting of the Cabinet discussed the 150-day campaign. "
        "The 2nd Plenary Meeting of the 8th Central Committee opened."
    )
    found = candidates(text)
    assert ("enlarged plenary meeting of the Cabinet", "event") in found
    assert ("150-day campaign", "policy") in found
    assert ("2nd Plenary Meeting of the 8th Central Committee", "event") in found


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("The Chongwadae Secretariat Kim Thae Hyo said so.", "Chongwadae Secretariat"),
        (
            "The Preparatory Committee for the Birthday of President Kim Il Sung met.",
            "Preparatory Committee for the Birthday of President Kim Il Sung",
        ),
        (
            "The Society for the Study of Works of Kim Jong Il met.",
            "Society for the Study of Works of Kim Jong Il",
        ),
    ],
)
def test_person_names_after_a_name(text: str, name: str) -> None:
    assert name in [n for n, _ in candidates(text)]


def test_bodies_of_a_cc_run_past_the_comma() -> None:
    text = "He is a member of the Political Bureau of the C.C., the Korean Agrarian Party."
    assert ("Political Bureau of the C.C., the Korean Agrarian Party", "organization") in (
        candidates(text)
    )
    assert ("General Staff of the Navy", "organization") in candidates(
        "The General Staff of the Navy met."
    )


@pytest.mark.parametrize(
    ("text", "found"),
    [
        # capitals after a dot or inside a word are not acronyms
        (
            "Delegates of ASEAN and the U.S.NATO office met YTN reporters.",
            [("ASEAN", "organization"), ("YTN", "organization")],
        ),
        # a quote right after a word opens nothing
        (
            'He said"restructuring of the market system" failed, and the "reform of the price '
            'system" too.',
            [("reform of the price system", "policy")],
        ),
        # a head word inside a longer word is no head
        (
            "The Cabinet's subunit met. The Cabinet's commercial bureau met.",
            [("Cabinet's commercial bureau", "organization")],
        ),
        # keywords are case-blind, in ASCII text and in text with other letters
        (
            "THE SIXTH SESSION OF THE SUPREME PEOPLE'S ASSEMBLY opened.",
            [("SIXTH SESSION OF THE SUPREME PEOPLE'S ASSEMBLY", "event")],
        ),
        (
            "The sixth session of the Supreme People's Assembly opened in Pyöngyang.",
            [
                ("sixth session of the Supreme People's Assembly", "event"),
                ("Supreme People's Assembly", "organization"),
            ],
        ),
        (
            "The 80-day campaign and the 200-Day Battle ended.",
            [("80-day campaign", "policy"), ("200-Day Battle", "policy")],
        ),
        # a name ends with its line
        (
            "They built the Huichon Power Station No.\n1 and Pyongyang Station No. 2 last year.",
            [("Pyongyang Station No. 2", "organization")],
        ),
        (
            "The Ryongrim dam and Pyongsong market reopened; Masan-dong and Kim-Sunit closed.",
            [("Pyongsong market", "place"), ("Masan-dong", "place")],
        ),
    ],
)
def test_exact_candidates_at_word_and_line_edges(text: str, found: list) -> None:
    assert candidates(text) == found
