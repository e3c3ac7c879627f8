"""The gazetteer matcher: boundaries, possessives, case, Hangul, ambiguity, nesting, speed."""

from __future__ import annotations

import dataclasses
import gc
import os
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glossary import matcher as matcher_module
from glossary.matcher import LabelEntry, Matcher, Span, entries_from_terms
from glossary.terms import load_term_files, starter_files

TERMS = [
    {"slug": "dprk", "name": "Democratic People's Republic of Korea", "type": "place",
     "labels": [{"text": "DPRK", "kind": "abbreviation", "case_sensitive": True},
                {"text": "North Korea", "kind": "alias"}]},
    {"slug": "rok", "name": "Republic of Korea", "type": "place", "parent": None,
     "labels": [{"text": "south Korea", "kind": "alias"}]},
    {"slug": "ministry-of-social-security", "name": "Ministry of Social Security",
     "type": "organization", "parent": "cabinet",
     "labels": [{"text": "사회안전성", "kind": "hangul"},
                {"text": "Ministry of People's Security", "kind": "former",
                 "valid_to": "2020-05-31"},
                {"text": "MSS", "kind": "abbreviation", "case_sensitive": True,
                 "valid_from": "2020-06-01"},
                {"text": "MPS", "kind": "abbreviation", "case_sensitive": True,
                 "valid_to": "2020-05-31"}]},
    {"slug": "ministry-of-state-security", "name": "Ministry of State Security",
     "type": "organization",
     "labels": [{"text": "MSS", "kind": "abbreviation", "case_sensitive": True},
                {"text": "State Security Department", "kind": "former", "valid_to": "2016"}]},
    {"slug": "cabinet", "name": "Cabinet", "type": "organization", "labels": []},
    {"slug": "workers-party-of-korea", "name": "Workers' Party of Korea", "type": "organization",
     "labels": [{"text": "WPK", "kind": "abbreviation", "case_sensitive": True}]},
    {"slug": "central-committee", "name": "Central Committee of the Workers' Party of Korea",
     "type": "organization", "parent": "workers-party-of-korea", "labels": []},
    {"slug": "political-bureau",
     "name": "Political Bureau of the Central Committee of the Workers' Party of Korea",
     "type": "organization", "parent": "central-committee", "labels": []},
    {"slug": "south-hamgyong-province", "name": "South Hamgyong Province", "type": "place",
     "parent": "dprk", "labels": []},
    {"slug": "ryanggang-province", "name": "Ryanggang Province", "type": "place",
     "parent": "dprk", "labels": []},
    {"slug": "kangwon-province", "name": "Kangwon Province", "type": "place", "parent": "dprk",
     "labels": []},
    {"slug": "south-pyongan-province", "name": "South Pyongan Province", "type": "place",
     "parent": "dprk", "labels": []},
    {"slug": "pyongsong", "name": "Pyongsong", "type": "place",
     "parent": "south-pyongan-province",
     "labels": [{"text": "평성", "kind": "hangul"},
                {"text": "P'yŏngsŏng", "kind": "romanization"}]},
    {"slug": "unsan-county", "name": "Unsan County", "type": "place",
     "parent": "north-pyongan-province", "labels": []},
    {"slug": "yomju-county", "name": "Yomju County", "type": "place",
     "parent": "north-pyongan-province", "labels": []},
    {"slug": "pyongyang", "name": "Pyongyang", "type": "place", "parent": "dprk", "labels": []},
    {"slug": "juche", "name": "Juche", "type": "policy", "labels": []},
]  # fmt: skip


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(entries_from_terms(TERMS))


def found(spans: list[Span]) -> list[tuple[str, str | None]]:
    return [(s.surface, s.slug) for s in spans]


def test_spans_are_slices_of_the_text(matcher: Matcher) -> None:
    text = "The DPRK and south Korea met in Pyongyang."
    spans = matcher.match(text)
    assert found(spans) == [("DPRK", "dprk"), ("south Korea", "rok"), ("Pyongyang", "pyongyang")]
    assert all(text[s.start : s.end] == s.surface for s in spans)


def test_word_boundaries(matcher: Matcher) -> None:
    assert matcher.match("Pyongyangite Jucheism DPRKs") == []


def test_leftmost_longest_keeps_a_shorter_valid_match(matcher: Matcher) -> None:
    # the longest label ("Ministry of Social Security") fails the boundary; "Cabinet" must survive
    text = "Cabinet Ministry of Social Securityx"
    assert found(matcher.match(text)) == [("Cabinet", "cabinet")]


def test_overlapping_labels_take_the_longest(matcher: Matcher) -> None:
    text = "Republic of Korea and Democratic People's Republic of Korea"
    assert found(matcher.match(text)) == [
        ("Republic of Korea", "rok"),
        ("Democratic People's Republic of Korea", "dprk"),
    ]


@pytest.mark.parametrize(
    "text",
    [
        "the Ministry of Social Security’s investigation bureau",
        "the Ministry of Social Security's investigation bureau",
    ],
)
def test_possessives(matcher: Matcher, text: str) -> None:
    (span,) = matcher.match(text)
    assert span.surface == "Ministry of Social Security"


def test_case_sensitive_abbreviations(matcher: Matcher) -> None:
    assert matcher.match("there is no mss here, nor dprk") == []
    assert found(matcher.match("DPRK")) == [("DPRK", "dprk")]


def test_capitalized_one_word_names_need_a_capital(matcher: Matcher) -> None:
    assert matcher.match("a cabinet of pyongyang") == []
    assert found(matcher.match("Pyongyang")) == [("Pyongyang", "pyongyang")]
    assert found(matcher.match("the juche idea")) == [("juche", "juche")]  # a policy word


def test_hangul_labels_with_particles(matcher: Matcher) -> None:
    text = "사회안전성은 평성에서 단속했다. 평성시민"
    assert found(matcher.match(text)) == [
        ("사회안전성", "ministry-of-social-security"),
        ("평성", "pyongsong"),
    ]


def test_romanization_and_dprk_spellings(matcher: Matcher) -> None:
    text = "P’yŏngsŏng, South Hamgyong, North Korea and South Phyongan Province"
    assert [s.slug for s in matcher.match(text)] == [
        "pyongsong",
        "south-hamgyong-province",
        "dprk",
        "south-pyongan-province",
    ]


def test_ambiguous_label_resolved_by_date(matcher: Matcher) -> None:
    (early,) = matcher.match("MSS agents", date="2018-03-01")
    assert early.slug == "ministry-of-state-security" and not early.ambiguous
    (late,) = matcher.match("MSS agents", date="2023-03-01")
    assert late.ambiguous
    assert set(late.alternatives) == {"ministry-of-social-security", "ministry-of-state-security"}


def test_ambiguous_label_resolved_by_cooccurring_term(matcher: Matcher) -> None:
    text = "The Ministry of State Security said the MSS would act."
    mss = [s for s in matcher.match(text, date="2023-01-01") if s.surface == "MSS"][0]
    assert mss.slug == "ministry-of-state-security" and not mss.ambiguous


def test_ambiguous_label_without_context(matcher: Matcher) -> None:
    (span,) = matcher.match("MSS agents")
    assert span.ambiguous and len(span.alternatives) == 2 and span.confidence == 0.5


def test_abbreviated_embedded_names(matcher: Matcher) -> None:
    text = "a member of the Political Bureau of the C.C., the WPK"
    spans = matcher.match(text, nested=True)
    assert found(spans) == [
        ("Political Bureau of the C.C., the WPK", "political-bureau"),
        ("C.C., the WPK", "central-committee"),
        ("WPK", "workers-party-of-korea"),
    ]
    assert [s.nested for s in spans] == [False, True, True]
    assert found(matcher.match(text)) == [
        ("Political Bureau of the C.C., the WPK", "political-bureau")
    ]


def test_nested_skips_korea_and_same_term(matcher: Matcher) -> None:
    spans = matcher.match("Democratic People's Republic of Korea", nested=True)
    assert found(spans) == [("Democratic People's Republic of Korea", "dprk")]


def test_coordination_with_plural_head(matcher: Matcher) -> None:
    text = "South Hamgyong, Kangwon and Ryanggang provinces; Unsan and Yomju counties. Unsan is"
    assert found(matcher.match(text)) == [
        ("South Hamgyong", "south-hamgyong-province"),
        ("Kangwon", "kangwon-province"),
        ("Ryanggang", "ryanggang-province"),
        ("Unsan", "unsan-county"),
        ("Yomju", "yomju-county"),
    ]


def test_label_count_and_empty_matcher() -> None:
    assert Matcher([]).match("anything") == []
    m = Matcher([LabelEntry(1, "x", "place", "Xanadu", "preferred")])
    assert m.label_count == 1
    assert found(m.match("in Xanadu.")) == [("Xanadu", "x")]


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("DPRK MSS’'s-İıß평성은 \n\u0301aoŏ")), max_size=60))
def test_offsets_always_map_back(matcher: Matcher, text: str) -> None:
    for s in matcher.match(text, nested=True):
        assert text[s.start : s.end] == s.surface
        assert 0 <= s.start < s.end <= len(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=80), st.sampled_from(["Pyongyang", "DPRK", "평성", "MSS", "P'yŏngsŏng"]))
def test_inserted_label_is_found_in_any_text(matcher: Matcher, noise: str, label: str) -> None:
    text = f"{noise} {label} {noise}"
    start = len(noise) + 1
    spans = matcher.match(text)
    # a longer label may take it in ("CITY Pyongyang CITY" has "Pyongyang CITY"), never drop it
    assert any(s.start <= start and start + len(label) <= s.end for s in spans), (text, spans)


def test_rebuild_is_fast_and_reads_are_thread_safe() -> None:
    entries = [
        LabelEntry(i, f"t{i}", "organization", f"Label{i} Kx{i % 97} Works", "preferred")
        for i in range(20_000)
    ]
    Matcher(entries)  # warm the variant cache, as a long-running process has
    t0 = time.process_time()
    m = Matcher(entries)
    assert time.process_time() - t0 < 2.0  # the target is 0.5 s; leave room for busy machines
    text = "Label5 Kx5 Works and Label19999 Kx17 Works. " * 50
    expected = found(m.match(text))
    results: list[list[tuple[str, str | None]]] = []

    def work() -> None:
        for _ in range(5):
            results.append(found(m.match(text)))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 20 and all(r == expected for r in results)
    assert len(expected) == 100


def test_person_shaped_labels_do_not_match_people() -> None:
    terms = [{"slug": "kim-jong-suk-county", "name": "Kim Jong Suk County", "type": "place",
              "labels": [{"text": "Kim Jong Suk", "kind": "hidden"},
                         {"text": "Kimjongsuk County", "kind": "alias"}]}]  # fmt: skip
    m = Matcher(entries_from_terms(terms))
    assert found(m.match("the bust of Kim Jong Suk in Kimjongsuk County")) == [
        ("Kimjongsuk County", "kim-jong-suk-county")
    ]


def test_dates_may_be_date_objects() -> None:
    import datetime

    entries = [
        LabelEntry(1, "a", "organization", "MSS", "abbreviation", True, valid_to="2016"),
        LabelEntry(2, "b", "organization", "MSS", "abbreviation", True, valid_from="2020-06-01"),
    ]
    m = Matcher(entries)
    (span,) = m.match("MSS", date=datetime.date(2015, 3, 1))  # type: ignore[arg-type]
    assert span.slug == "a" and not span.ambiguous


@pytest.mark.parametrize(
    "text", ["Ryongbuk-dong", "Ryongbuk dong", "RYONGBUK-DONG", "Ryongbuk–dong", "Ryongbuk\ndong"]
)
def test_hyphen_and_space_between_syllables_are_equivalent(text: str) -> None:
    m = Matcher([LabelEntry(1, "ryongbuk-dong", "place", "Ryongbuk-dong", "preferred")])
    (span,) = m.match(f"in {text}, Pyongyang")
    assert span.surface == text and span.slug == "ryongbuk-dong"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_offsets_map_back_for_arbitrary_unicode(matcher: Matcher, text: str) -> None:
    for s in matcher.match(text + " Pyongyang " + text, nested=True):
        assert s.surface == (text + " Pyongyang " + text)[s.start : s.end]


def _replace(entries: list[LabelEntry], slug: str, kind: str, text: str) -> list[LabelEntry]:
    i = next(i for i, e in enumerate(entries) if e.slug == slug and e.kind == kind)
    return [*entries[:i], dataclasses.replace(entries[i], text=text), *entries[i + 1 :]]


def _add(entries: list[LabelEntry], slug: str, kind: str, text: str) -> list[LabelEntry]:
    i = max(i for i, e in enumerate(entries) if e.slug == slug)
    added = dataclasses.replace(entries[i], text=text, kind=kind, case_sensitive=False)
    return [*entries[: i + 1], added, *entries[i + 1 :]]


# label changes, given the entries and the Central Committee's slug
EDITS = {
    "rename a name embedded in others": lambda es, cc: _replace(
        es, "workers-party-of-korea", "preferred", "Korean Workers' Party"
    ),
    "a new short form": lambda es, cc: _add(es, "workers-party-of-korea", "abbreviation", "KWP"),
    "a new long name": lambda es, cc: _add(
        es, cc, "alias", "Organizational Guidance Department of the WPK"
    ),
    "a term removed": lambda es, cc: [e for e in es if e.slug != cc],
    "an unrelated label": lambda es, cc: _replace(es, "pyongyang", "preferred", "Pyongyang City"),
}


def _keys(m: Matcher) -> list:
    return sorted(m._automaton.items())  # every key with its length, checks and hits


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
@pytest.mark.parametrize("few_keys", [0, 10**6], ids=["finder", "word spans"])
def test_rebuild_after_a_label_change_equals_a_fresh_build(monkeypatch, edit, few_keys) -> None:
    # a rebuild takes the respellings of unchanged terms from the build before it
    monkeypatch.setattr(matcher_module, "_FEW_KEYS", few_keys)
    entries = entries_from_terms(TERMS)
    monkeypatch.setattr(matcher_module, "_embed_memo", None)
    Matcher(entries)
    changed = edit(entries, "central-committee")
    rebuilt = Matcher(changed)
    monkeypatch.setattr(matcher_module, "_embed_memo", None)
    assert _keys(rebuilt) == _keys(Matcher(changed))


@pytest.fixture(scope="module")
def starter_entries() -> list[LabelEntry]:
    terms, errors = load_term_files(starter_files())
    assert errors == []
    return entries_from_terms(terms)


def test_starter_glossary_rebuilds_equal_fresh_builds(monkeypatch, starter_entries) -> None:
    monkeypatch.setattr(matcher_module, "_embed_memo", None)
    first = Matcher(starter_entries)
    # the two ways of finding embedded names agree
    monkeypatch.setattr(matcher_module, "_FEW_KEYS", 10**7)
    monkeypatch.setattr(matcher_module, "_embed_memo", None)
    assert _keys(Matcher(starter_entries)) == _keys(first)
    monkeypatch.undo()
    entries = starter_entries
    for edit in EDITS.values():
        entries = edit(entries, "central-committee-of-the-workers-party-of-korea")
        rebuilt = Matcher(entries)
        memo = matcher_module._embed_memo
        monkeypatch.setattr(matcher_module, "_embed_memo", None)
        assert _keys(rebuilt) == _keys(Matcher(entries))
        monkeypatch.setattr(matcher_module, "_embed_memo", memo)


def test_keys_do_not_depend_on_the_hash_seed() -> None:
    # respellings are capped per term: the cap must keep the same ones in every worker
    script = (
        "import hashlib, json\n"
        "from glossary.matcher import Matcher, entries_from_terms\n"
        "from glossary.terms import starter_files\n"
        "lines = [s for p in starter_files() for s in p.read_text().splitlines() if s]\n"
        "terms = [json.loads(s) for s in lines]\n"
        "m = Matcher(entries_from_terms(terms))\n"
        "print(hashlib.sha1(repr(sorted(m._automaton.keys())).encode()).hexdigest())\n"
    )
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", script],
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "2")
    ]
    digests = [run.communicate(timeout=120)[0] for run in runs]
    assert all(run.returncode == 0 for run in runs)
    assert digests[0] and digests[0] == digests[1]


@pytest.mark.parametrize("enabled", [True, False])
def test_a_build_leaves_the_garbage_collector_as_it_was(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        Matcher(entries_from_terms(TERMS))
        assert gc.isenabled() is enabled
    finally:
        (gc.enable if was else gc.disable)()
