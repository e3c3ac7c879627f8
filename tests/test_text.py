"""Normalization: folding, offset maps and spelling variants."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from glossary.text import (
    fold,
    fold_compact,
    fold_keep_case,
    fold_with_offsets,
    label_variants,
    looks_korean,
    original_span,
)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("P'yŏngsŏng", "pyongsong"),
        ("P’yŏngsŏng", "pyongsong"),
        ("Kim Jong-un", "kim jong un"),
        ("Kim Jong Un", "kim jong un"),
        ("Kim  Jong \u2013 Un", "kim jong un"),
        ("Sinŭiju", "sinuiju"),
        ("Workers’ Party of Korea", "workers party of korea"),
        ("Workers' Party of Korea", "workers party of korea"),
        ("ＤＰＲＫ", "dprk"),
        ("ﬁeld", "field"),
        ("İstanbul", "istanbul"),
        ("Straße", "strasse"),
        ("“Juche”", '"juche"'),
        ("사회안전성", "사회안전성"),
        ("  padded\n", "padded"),
    ],
)
def test_fold(text: str, key: str) -> None:
    assert fold(text) == key


def test_fold_keep_case_keeps_case_only() -> None:
    assert fold_keep_case("MSS’s P'yŏngsŏng") == "MSSs Pyongsong"


@pytest.mark.parametrize(
    "text",
    ["İstanbul İzmir", "Ministry of Social Security’s bureau", "a\u0301b", "x\n\n y", "ﬁﬂ", ""],
)
def test_offsets_cover_every_folded_char(text: str) -> None:
    folded, omap = fold_with_offsets(text)
    assert len(omap) == len(folded) + 1
    assert omap[-1] == len(text)
    assert omap == sorted(omap)


def test_length_changing_case_fold_maps_back() -> None:
    text = "Visit İstanbul and Pyongyang"
    folded, omap = fold_with_offsets(text)
    i = folded.index("pyongyang")
    start, end = original_span(omap, i, i + len("pyongyang"))
    assert text[start:end] == "Pyongyang"


def test_curly_possessive_maps_back() -> None:
    text = "the Ministry of Social Security’s investigation bureau"
    folded, omap = fold_with_offsets(text)
    i = folded.index("ministry of social security")
    start, end = original_span(omap, i, i + len("ministry of social security"))
    assert text[start:end] == "Ministry of Social Security"


@given(st.text())
def test_offsets_map_back_for_any_text(text: str) -> None:
    folded, omap = fold_with_offsets(text)
    assert len(omap) == len(folded) + 1
    assert all(0 <= o <= len(text) for o in omap)
    assert omap == sorted(omap)
    for i in range(len(folded)):
        start, end = original_span(omap, i, i + 1)
        assert 0 <= start < end <= len(text)
        assert fold(text[start:end]) in ("", folded[i].strip()) or folded[i] in fold(
            text[start:end]
        )


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=40))
def test_fold_is_idempotent(text: str) -> None:
    assert fold(fold(text)) == fold(text)


@pytest.mark.parametrize(
    ("label", "type_", "kind", "expected"),
    [
        ("North Pyongan Province", "place", "preferred", {"North Phyongan", "North Pyongan"}),
        ("Chagang Province", "place", "preferred", {"Jagang Province", "Jagang"}),
        ("Ryanggang Province", "place", "preferred", {"Yanggang", "Ryanggang"}),
        ("Nampo", "place", "preferred", {"Nampho", "Nampo City", "City of Nampo"}),
        ("P'yŏngan", "place", "romanization", {"Phyŏngan"}),
        ("Mount Paektu", "place", "preferred", {"Mt. Paektu"}),
        (
            "Central Committee of the Workers' Party of Korea",
            "organization",
            "preferred",
            {"C.C., the Workers' Party of Korea", "Workers' Party of Korea Central Committee"},
        ),
        (
            "Eighth Congress of the Workers' Party of Korea",
            "event",
            "preferred",
            {"8th Congress of the Workers' Party of Korea", "Eighth Party Congress"},
        ),
        ("U.S.", "place", "abbreviation", {"U.S.", "U.S"}),
        (
            "Ministry of People's Armed Forces",
            "organization",
            "former",
            {"Ministry of the People's Armed Forces"},
        ),
        ("Pivot to Asia (United States policy)", "policy", "preferred", {"Pivot to Asia"}),
        ("Kim Jong Suk County", "place", "preferred", {"Kimjongsuk County"}),
    ],
)
def test_label_variants(label: str, type_: str, kind: str, expected: set[str]) -> None:
    assert expected <= label_variants(label, type_, kind)


def test_hangul_labels_have_no_variants() -> None:
    assert label_variants("사회안전성", "organization", "hangul") == {"사회안전성"}


def test_english_words_get_no_romanization_variants() -> None:
    variants = label_variants("Ministry of Culture", "organization", "preferred")
    assert not any("Minisry" in v or "Culthure" in v for v in variants)
    assert looks_korean("Phyongyang") and not looks_korean("Culture")


@given(st.text(max_size=200))
def test_compact_offsets_equal_the_full_map(text: str) -> None:
    folded, omap = fold_with_offsets(text)
    compact_folded, compact = fold_compact(text)
    assert compact_folded == folded
    assert [compact[i] for i in range(len(omap))] == omap


@given(st.text(max_size=200))
def test_fold_is_the_trimmed_offset_fold(text: str) -> None:
    # fold() skips the offsets but must give the same key
    assert fold(text) == fold_with_offsets(text)[0].strip()


@pytest.mark.parametrize("text", ["ﬁeld Straße", "İstanbul’s", "wait… P'yŏngyang", "Ⅱ-Ⅲ  x"])
def test_compact_offsets_of_irregular_folds(text: str) -> None:
    folded, omap = fold_with_offsets(text)
    compact_folded, compact = fold_compact(text)
    assert compact_folded == folded
    assert [compact[i] for i in range(len(omap))] == omap
