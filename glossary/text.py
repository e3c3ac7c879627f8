"""Normalization and romanization folding shared by the matcher, search and lookup."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import lru_cache
from itertools import accumulate, product
from operator import add, sub

APOSTROPHES = "'\u2018\u2019\u201b\u02bc\u02bb\u02b9\u02bd\u0060\u00b4\u2032\uff07"
DOUBLE_QUOTES = '"\u201c\u201d\u201e\u201f\u00ab\u00bb\u2033\uff02'
DASHES = "-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2e3a\u2e3b"
_MARKER = "\uffff"  # stands for a character whose fold is not exactly one character
# a run of two or more spaces, hyphens and apostrophes, or one hyphen or apostrophe; written
# to start with one character class, which the regex engine scans for 2x faster than the
# plain alternation [ \-']{2,}|[\-']
_RUN = re.compile(r"[ \-'](?:[ \-']+|(?<=[\-']))")


def _is_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0xAC00 <= o <= 0xD7A3 or 0x3131 <= o <= 0x318E or 0x1100 <= o <= 0x11FF


@lru_cache(maxsize=65536)
def _fold_char(ch: str, lower: bool) -> str:
    """Fold one code point: quotes, dashes, spaces, compatibility forms, diacritics, case."""
    if ch in APOSTROPHES:
        return "'"
    if ch in DOUBLE_QUOTES:
        return '"'
    if ch in DASHES:
        return "-"
    if ch.isspace():
        return " "
    if _is_hangul(ch):
        return ch
    decomposed = unicodedata.normalize("NFKD", ch)
    if lower:
        decomposed = unicodedata.normalize("NFKD", decomposed.casefold())
    parts = []
    for c in decomposed:
        if unicodedata.combining(c):
            continue
        if c.isspace():
            c = " "
        elif c in DASHES:
            c = "-"
        elif c in APOSTROPHES:
            c = "'"
        parts.append(c)
    return "".join(parts)


class _Table(dict):
    """str.translate table filled lazily; multi-character folds become the marker."""

    def __init__(self, lower: bool) -> None:
        super().__init__()
        self.lower = lower

    def __missing__(self, code: int) -> str:
        ch = chr(code)
        out = _fold_char(ch, self.lower)
        value = out if len(out) == 1 and ch != _MARKER else _MARKER
        self[code] = value
        return value


_TABLES = {True: _Table(True), False: _Table(False)}


def _collapse(t: str, base: list[int] | None) -> tuple[str, list[int]]:
    """Drop apostrophes, turn runs of spaces and hyphens into one space; compose offsets."""
    out: list[str] = []
    omap: list[int] = []
    pos = 0
    for m in _RUN.finditer(t):
        s, e = m.start(), m.end()
        out.append(t[pos:s])
        omap.extend(range(pos, s) if base is None else base[pos:s])
        if m.group().strip("'"):
            out.append(" ")
            omap.append(s if base is None else base[s])
        pos = e
    out.append(t[pos:])
    omap.extend(range(pos, len(t)) if base is None else base[pos:])
    return "".join(out), omap


class OffsetMap:
    """Folded index -> original index, kept as shift points: from folded index starts[k] on,
    the original index is the folded one plus deltas[k]."""

    __slots__ = ("starts", "deltas")

    def __init__(self, starts: list[int], deltas: list[int]) -> None:
        self.starts, self.deltas = starts, deltas

    def __getitem__(self, i: int) -> int:
        return i + self.deltas[bisect_right(self.starts, i) - 1]

    @classmethod
    def from_list(cls, omap: list[int]) -> OffsetMap:
        """Shift points of a full offset list (an irregular fold: ligatures, case that changes
        length)."""
        starts: list[int] = []
        deltas: list[int] = []
        last = None
        for i, o in enumerate(omap):
            if o - i != last:
                last = o - i
                starts.append(i)
                deltas.append(last)
        return cls(starts or [0], deltas or [0])


class _Replacement(dict):
    """What a run of spaces, hyphens and apostrophes becomes: nothing if only apostrophes.
    Short runs (nearly all) are remembered."""

    def __missing__(self, run: str) -> str:
        value = " " if run.strip("'") else ""
        if len(run) <= 8 and len(self) < 4096:
            self[run] = value
        return value


_REPLACEMENT = _Replacement()
_RUN_SPLIT = re.compile(f"({_RUN.pattern})")


def _collapse_points(t: str) -> tuple[str, OffsetMap]:
    """_collapse for a same-length translation, offsets as shift points; no per-character or
    per-run Python: the runs are split out, replaced and measured by C-level calls."""
    parts = _RUN_SPLIT.split(t)
    if len(parts) == 1:
        return t, OffsetMap([0], [0])
    runs = parts[1::2]
    reps = list(map(_REPLACEMENT.__getitem__, runs))
    parts[1::2] = reps
    rep_lens = list(map(len, reps))
    # after run k the folded text has grown by segment k and its replacement, and lost the
    # run's length minus the replacement's
    starts = list(accumulate(map(add, map(len, parts[0:-1:2]), rep_lens), initial=0))
    deltas = list(accumulate(map(sub, map(len, runs), rep_lens), initial=0))
    return "".join(parts), OffsetMap(starts, deltas)


def fold_compact(text: str) -> tuple[str, OffsetMap]:
    """fold_with_offsets() with the offset map as shift points (fast for the matcher)."""
    t = text.translate(_TABLES[True])
    if _MARKER not in t:
        return _collapse_points(t)
    folded, omap = _fold_offsets(text, True)
    return folded, OffsetMap.from_list(omap)


def _fold_offsets(text: str, lower: bool) -> tuple[str, list[int]]:
    t = text.translate(_TABLES[lower])
    if _MARKER not in t:
        folded, omap = _collapse(t, None)
    else:
        chars: list[str] = []
        base: list[int] = []
        for i, ch in enumerate(text):
            out = _fold_char(ch, lower)
            chars.append(out)
            base.extend([i] * len(out))
        folded, omap = _collapse("".join(chars), base)
    omap.append(len(text))
    return folded, omap


def fold_with_offsets(text: str) -> tuple[str, list[int]]:
    """Fold text for matching and map each folded index (plus the end) to an original index."""
    return _fold_offsets(text, True)


def _fold_only(text: str, lower: bool) -> str:
    """_fold_offsets(text, lower)[0] without the offsets."""
    t = text.translate(_TABLES[lower])
    if _MARKER in t:
        return _fold_offsets(text, lower)[0]
    parts = _RUN_SPLIT.split(t)
    if len(parts) == 1:
        return t
    parts[1::2] = map(_REPLACEMENT.__getitem__, parts[1::2])
    return "".join(parts)


def fold_keep_case(text: str) -> str:
    """Fold like fold() but keep letter case (for case-sensitive labels)."""
    return _fold_only(text, False).strip()


def fold(text: str) -> str:
    """Return the comparison key of a text: the folded form, trimmed."""
    return _fold_only(text, True).strip()


def original_span(omap: list[int], start: int, end: int) -> tuple[int, int]:
    """Map a folded slice [start, end) back to original offsets."""
    if end <= start:
        return omap[start], omap[start]
    return omap[start], omap[end - 1] + 1


# --- spelling variants -------------------------------------------------------------------

_ONSETS = "kk|kh|k|g|n|tt|th|t|d|r|l|m|pp|ph|p|b|ss|s|tch|chh|ch|j|h|ng|f|w|y"
_VOWELS = "yae|yeo|ae|ya|yo|yu|ye|wa|wae|wo|we|wi|oe|ui|eo|eu|a|o|u|i|e"
_CODAS = "ng|k|n|t|l|m|p|r"
_SYLLABLE = rf"(?:{_ONSETS})?(?:{_VOWELS})(?:{_CODAS})?"
_KOREAN_WORD = re.compile(rf"(?:{_SYLLABLE}){{1,5}}")
_ENGLISH_WORDS = frozenset(
    "the of and for in on to a an at by with from new no mount mt city county province district "
    "island river street square bridge market park hall tower sea line state people peoples "
    "central north south east west great grand union party army man mine one".split()
)
_ORDINALS = {
    "first": "1st", "second": "2nd", "third": "3rd", "fourth": "4th", "fifth": "5th",
    "sixth": "6th", "seventh": "7th", "eighth": "8th", "ninth": "9th", "tenth": "10th",
    "eleventh": "11th", "twelfth": "12th", "thirteenth": "13th", "fourteenth": "14th",
    "fifteenth": "15th", "sixteenth": "16th", "seventeenth": "17th", "eighteenth": "18th",
    "nineteenth": "19th", "twentieth": "20th",
}  # fmt: skip
_ORDINAL_WORDS = {v: k for k, v in _ORDINALS.items()}
_HEADLESS_HEADS = ("Province", "Municipality", "Special City")
_MAX_VARIANTS = 48
_OF_PEOPLES = r" of [A-Z][a-z]+(?:'s|s')"
_OF_THE_PEOPLES = r" of the [A-Z][a-z]+(?:'s|s')"
_WPK_CC = "Central Committee of the Workers' Party of Korea"
_NAMED_AFTER = re.compile(
    r"(Kim(?: [A-Z][a-z]{1,5}){1,2})( (?:County|City|District|Street|Town)\b.*)"
)


@lru_cache(maxsize=65536)
def looks_korean(word: str) -> bool:
    """True when a word reads as romanized Korean syllables (Phyongan, Jagang, Sinuiju)."""
    w = fold(word).replace(" ", "")
    if not w.isalpha() or w in _ENGLISH_WORDS or len(w) < 3:
        return False
    return _KOREAN_WORD.fullmatch(w) is not None


_ASPIRATED = re.compile(rf"([PpTtKk])[{APOSTROPHES}]")
_UNASPIRATED = re.compile(r"(?<=[PpTtKk])h")
_P_ASPIRATED = re.compile(r"(?:^|(?<=[aeiouymnl]))([Pp])(?!h)")
_T_ASPIRATED = re.compile(r"(?:^|(?<=[aeiouymnl]))([Tt])(?!h)")
_APOSTROPHE_SET = frozenset(APOSTROPHES)
_BREVES = frozenset("ŏŭŎŬ")


@lru_cache(maxsize=65536)
def _word_alternatives(word: str) -> tuple[str, ...]:
    """DPRK, McCune-Reischauer and Revised romanizations of one romanized Korean word, sorted
    (labels share their words: Province, Committee, Pyongyang)."""
    alts = {word}
    if not _APOSTROPHE_SET.isdisjoint(word):
        # McCune-Reischauer aspiration marks are written as "h" by the DPRK: P'yŏngan -> Phyŏngan
        alts.add(_ASPIRATED.sub(r"\1h", word))
    plain = fold_keep_case(word)
    if not _BREVES.isdisjoint(word):
        rr = word.replace("ŭi", "ui").replace("ŏ", "eo").replace("ŭ", "eu")
        alts.add(rr.replace("Ŏ", "Eo").replace("Ŭ", "Eu"))
    if not looks_korean(plain):
        return tuple(sorted(alts))
    alts.add(plain)
    unasp = _UNASPIRATED.sub("", plain)
    alts.add(unasp)
    alts.add(_P_ASPIRATED.sub(r"\1h", unasp))
    alts.add(_T_ASPIRATED.sub(r"\1h", unasp))
    if plain[:2] in ("Ch", "ch"):
        alts.add(("J" if plain[0] == "C" else "j") + plain[2:])
    elif plain[:1] in ("J", "j"):
        alts.add(("Ch" if plain[0] == "J" else "ch") + plain[1:])
    if len(plain) >= 5 and plain[:2] in ("Ry", "Ri", "ry", "ri", "Ly", "Li"):
        alts.add(plain[1].upper() + plain[2:])
    elif len(plain) >= 4 and plain[:1] in ("Y", "I") and plain[1:2] in "aeiouy":
        alts.add("R" + plain[0].lower() + plain[1:])
    return tuple(sorted(alts))


def _spelling_variants(text: str) -> set[str]:
    words = re.split(r"(\s+|-)", text)
    options = [_word_alternatives(w) if i % 2 == 0 and w else (w,) for i, w in enumerate(words)]
    out: set[str] = set()
    for combo in product(*options):
        out.add("".join(combo))
        if len(out) >= _MAX_VARIANTS:
            break
    return out


def _ordinal_variants(text: str) -> set[str]:
    out = {text}

    def swap(m: re.Match[str]) -> str:
        w = m.group(0)
        low = w.lower()
        if low in _ORDINALS:
            return _ORDINALS[low]
        word = _ORDINAL_WORDS.get(low, w)
        return word.capitalize() if word != w else w

    swapped = re.sub(r"\b(?:[A-Za-z]+|\d+(?:st|nd|rd|th))\b", swap, text)
    out.add(swapped)
    return out


def _head_variants(text: str, term_type: str, kind: str) -> set[str]:
    """Forms with and without the head word, in the ways reporting writes place names."""
    out = {text}
    named = _NAMED_AFTER.match(text)
    if named and term_type in ("place", "organization"):
        # places named after a person are also written as one word: Kimjongsuk County
        joined = named.group(1).split()
        out.add(joined[0] + "".join(w.lower() for w in joined[1:]) + named.group(2))
    if term_type == "place":
        for head in _HEADLESS_HEADS:
            if text.endswith(" " + head) and len(text) > len(head) + 3:
                out.add(text[: -len(head) - 1])
        words = text.split()
        if (
            kind in ("preferred", "alias")
            and 1 <= len(words) <= 2
            and "-" not in text
            and all(looks_korean(w) for w in words)
        ):
            out.add(f"{text} City")
            out.add(f"City of {text}")
        if text.startswith("Mount "):
            out.update({"Mt. " + text[6:], "Mt " + text[6:]})
        if text.startswith("Mt. "):
            out.add("Mount " + text[4:])
    if term_type == "organization":
        if text in ("Central Committee", _WPK_CC):
            # in DPRK reporting a bare "Central Committee" or "C.C." is the WPK's
            out.update({"Central Committee", "C.C."})
        m = re.match(r"Central Committee of (the )?(.+)$", text)
        if m:
            rest = m.group(2)
            out.update(
                {f"C.C., the {rest}", f"C.C., {rest}", f"C.C. of the {rest}", f"{rest} C.C."}
            )
            out.add(f"{rest} Central Committee")
        # "Ministry of People's Armed Forces" is also written "Ministry of the People's ..."
        if re.search(_OF_THE_PEOPLES, text):
            out.add(re.sub(r" of the (?=[A-Z])", " of ", text, count=1))
        elif re.search(_OF_PEOPLES, text):
            out.add(re.sub(r" of (?=[A-Z])", " of the ", text, count=1))
    if term_type == "event":
        m = re.match(r"(\w+) Congress of the Workers' Party of Korea$", text)
        if m:
            out.update({f"{m.group(1)} Party Congress", f"{m.group(1)} WPK Congress"})
    if text.startswith(("The ", "the ")) and (" " in text[4:] or looks_korean(text[4:])):
        out.add(text[4:])
    return out


def label_variants(text: str, term_type: str, kind: str) -> set[str]:
    """Spelling variants of one label as reporting writes it (DPRK, MR, RR, heads, ordinals)."""
    return set(_label_variants(text, term_type, kind))


@lru_cache(maxsize=200_000)
def _label_variants(text: str, term_type: str, kind: str) -> frozenset[str]:
    text = " ".join(text.split())
    paren = re.fullmatch(r"(.*[^\s(])\s*\([^()]+\)", text)
    if paren and kind not in ("hangul", "hanja"):
        text = paren.group(1)  # "Workers' Party of Korea (WPK)": a disambiguator, not the name
    if not text:
        return frozenset()
    if kind in ("hangul", "hanja"):
        return frozenset({text})
    if kind == "abbreviation":
        out = {text}
        if text.endswith(".") and text.count(".") >= 2:
            out.add(text[:-1])
        return frozenset(out)
    out: set[str] = set()
    for form in _head_variants(text, term_type, kind):
        for spelled in _ordinal_variants(form):
            if term_type in ("place", "organization", "event", "policy"):
                out.update(_spelling_variants(spelled))
            else:
                out.add(spelled)
    return frozenset(out)
