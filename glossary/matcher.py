"""The compiled gazetteer: one Aho-Corasick automaton over every label, text in, mentions out."""

from __future__ import annotations

import gc
import re
import threading
from bisect import bisect_left, bisect_right
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate
from operator import itemgetter

import ahocorasick

from glossary.text import (
    APOSTROPHES,
    OffsetMap,
    fold,
    fold_compact,
    fold_keep_case,
    label_variants,
)


@dataclass(frozen=True)
class LabelEntry:
    """One label of one published term, as the matcher needs it."""

    term_id: int
    slug: str
    type: str
    text: str
    kind: str
    case_sensitive: bool = False
    valid_from: str | None = None
    valid_to: str | None = None
    parent: str | None = None  # the term's parent slug: decides which places nest headless


@dataclass(frozen=True)
class Span:
    """A mention in a text: a known term (slug set) or a discovered candidate."""

    start: int
    end: int
    surface: str
    type: str
    slug: str | None = None
    term_id: int | None = None
    label: str | None = None
    candidate: bool = False
    ambiguous: bool = False
    alternatives: tuple[str, ...] = ()
    nested: bool = False
    confidence: float = 1.0
    definition: str | None = None


# A hit is a plain tuple (entry, head, case_key, capital), cheap to build by the ten thousand:
# entry indexes Matcher.entries; head is set for a headless county/city form, valid only before
# a plural head; case_key is the case-kept fold of a case-sensitive variant; capital marks one
# capitalized word ("Soul") that the text must capitalize too.
_Hit = tuple[int, str | None, str | None, bool]
ENTRY, HEAD, CASE_KEY, CAPITAL = range(4)


# A raw match is a plain tuple (start, end, hits): original offsets and the hits that passed.
_Raw = tuple[int, int, tuple[_Hit, ...]]

# What a key's hits need checked in the text: nothing, a capital, the case, or more (_hits_ok).
_SIMPLE, _CAPITAL_ONLY, _CASE_ONLY, _GENERAL = range(4)


def _check(hits: list[_Hit]) -> int:
    if len(hits) > 1:
        return _GENERAL
    _, head, case_key, capital = hits[0]
    if head:
        return _GENERAL
    if case_key is None:
        return _CAPITAL_ONLY if capital else _SIMPLE
    return _GENERAL if capital else _CASE_ONLY


@lru_cache(maxsize=200_000)
def _entry_keys(
    text: str, type_: str, kind: str, case_sensitive: bool
) -> tuple[
    tuple[tuple[str, str | None, str | None, bool], ...],
    tuple[str, ...],
    tuple[str, ...],
    tuple[str, ...],
]:
    """Automaton keys of one label: (key, head, case key, capital) rows, its plain keys, the
    multi-word ones (names that may be embedded in other labels) and the keys long enough to
    embed one."""
    rows: dict[tuple[str, str | None], tuple[str, str | None, str | None, bool]] = {}
    for variant in sorted(label_variants(text, type_, kind)):
        key = fold(variant)
        if len(key) < 2 or not any(c.isalnum() for c in key):
            continue
        if kind != "preferred" and _PERSON.fullmatch(variant):
            continue  # "Kim Jong Suk" (for Kim Jong Suk County) would match the person
        case_key = fold_keep_case(variant) if case_sensitive else None
        # a proper name written as one capitalized word must be capitalized in the text too
        # ("Sŏul" is not "soul"); policy words such as inminban are written in lowercase
        cap = (
            " " not in key
            and variant[:1].isupper()
            and kind != "abbreviation"
            and type_ in ("place", "organization")
        )
        rows.setdefault((key, None), (key, None, case_key, cap))
        words = variant.rsplit(" ", 1)
        if type_ == "place" and len(words) == 2 and words[1] in _COORD_HEADS:
            head = _COORD_HEADS[words[1]]
            rows.setdefault((fold(words[0]), head), (fold(words[0]), head, None, True))
    plain = [k for k, h in rows if h is None]
    # the label as written first: embedded respellings are capped per term, and those of the
    # label itself matter more than those of a generated variant ("meething")
    own = fold(" ".join(text.split()))
    if own in plain:
        plain.remove(own)
        plain.insert(0, own)
    long = tuple(k for k in plain if " " in k and len(k) >= 8)
    # keys that may hold an embedded name: names are long keys, so longer than 8 characters
    spaced = tuple(k for k in plain if " " in k and len(k) > 8)
    return tuple(rows.values()), tuple(plain), long, spaced


_PERSON = re.compile(
    r"(?:Kim|Ri|Pak|Choe|Jang|Kang|O|Ryu|Han|Jo|Hong|Yun|Ju|Jon|Chon|Song|Sin|An|Paek|Mun|Rim|Ko|"
    r"Hyon|Kwon|Ham|Nam|Yang|Cha|Lee|Park|Choi)(?: [A-Z][a-z]{1,4}){1,2}"
)
_BLANKED = re.compile(r"[^\w\s](?=\w)")
# the same for ASCII text (most articles once folded), as one character class: 2x faster
_BLANKED_ASCII = re.compile(r"[\x00-\x08\x0e-\x1b!-/:-@\[-^`{-\x7f](?=[0-9A-Za-z_])")


def _blank(folded: str) -> str:
    """Punctuation right before a letter becomes a space ("(kcna" -> " kcna"); length kept."""
    return (_BLANKED_ASCII if folded.isascii() else _BLANKED).sub(" ", folded)


@lru_cache(maxsize=300_000)
def _automaton_key(key: str) -> str:
    """The automaton's spelling of a key: a leading space, punctuation before letters blanked."""
    return " " + _blank(key)


_new = object.__new__
_set_attribute = object.__setattr__
_SPAN_DEFAULTS = {f: None for f in Span.__dataclass_fields__} | {
    "candidate": False, "ambiguous": False, "alternatives": (), "nested": False,
    "confidence": 1.0, "definition": None,
}  # fmt: skip


def _known_span(start: int, end: int, surface: str, e: LabelEntry, nested: bool) -> Span:
    """Span(...) for the hot path, filled in as a copy of a dict of defaults: a frozen
    dataclass's __init__ costs three times as much."""
    fields = _SPAN_DEFAULTS.copy()
    fields["start"] = start
    fields["end"] = end
    fields["surface"] = surface
    fields["type"] = e.type
    fields["slug"] = e.slug
    fields["term_id"] = e.term_id
    fields["label"] = e.text
    fields["nested"] = nested
    span = _new(Span)
    _set_attribute(span, "__dict__", fields)
    return span


def _rank(entry: LabelEntry) -> int:
    return _KIND_RANK.get(entry.kind, 9)


_START, _END, _HITS = itemgetter(0), itemgetter(1), itemgetter(2)
_MORE_THAN_ONE = (1).__lt__


def _sort_raws(raws: list[_Raw]) -> None:
    """Sort by start, longest first: two stable C-keyed sorts instead of a Python key."""
    raws.sort(key=_END, reverse=True)
    raws.sort(key=_START)


@lru_cache(maxsize=4096)
def _case_fold(surface: str) -> str:
    return fold_keep_case(surface)


HANGUL_PARTICLES = tuple(
    sorted(
        "은 는 이 가 을 를 의 에 에서 에게 께서 와 과 도 로 으로 만 까지 부터 보다 처럼 "
        "하고 이며 이다 였다 이었다 에서는 에서도 에는 으로는 으로서 로서 으로써 로써 "
        "이나 나 들 들은 들이".split(),
        key=len,
        reverse=True,
    )
)
_PLURALS = {
    "county": "counties",
    "city": "cities",
    "district": "districts",
    "island": "islands|islets",
    "islet": "islets|islands",
    "province": "provinces",
}
_COORD_HEADS = {"County": "county", "City": "city", "District": "district", "Island": "island"}
_CONJ = r"(?:\s*,\s*(?:and\s+|or\s+)?|\s+(?:and|or|&)\s+)"
_NAME = r"[A-Z][\w'\u2019\-]*(?:\s+[A-Z][\w'\u2019\-]*){0,3}"
_COORD = {
    head: re.compile(rf"(?:{_CONJ}{_NAME})*(?:\s+and\s+other)?\s+(?:{alts})\b", re.IGNORECASE)
    for head, alts in _PLURALS.items()
}
_HEADED = re.compile(
    r"\b(?:province|county|city|district|municipality|island|islet|ri|dong|gun|guyok|si|do|"
    r"mountain|mount|mt\.?|river|sea|peninsula|strait|region)\s*$",
    re.IGNORECASE,
)
_MACRO_REGION = re.compile(
    r"\b(?:Asia|Europe|Africa|Americas?|Pacific|Atlantic|Arctic|Antarctica?|Oceania|Middle East|"
    r"Ocean|Peninsula|Sea|Gulf|Region|Continent|Eurasia|Caribbean|Balkans|Caucasus)\b"
)
_KIND_RANK = {"preferred": 0, "alias": 1, "abbreviation": 2, "romanization": 3, "former": 4}
_UNSHOWN = frozenset({"hangul", "hanja", "hidden"})
_MAX_EMBED = 6
_EMBED_ROUNDS = 2  # "Political Bureau of the C.C., the WPK": a name in a name in a name


def _is_hangul(ch: str) -> bool:
    return "\uac00" <= ch <= "\ud7a3"


def _date_bound(value: str | None, end: bool) -> str | None:
    if not value:
        return None
    value = str(value)[:10]
    if len(value) == 4:
        return value + ("-12-31" if end else "-01-01")
    if len(value) == 7:
        return value + ("-31" if end else "-01")
    return value


@lru_cache(maxsize=65536)
def _short_forms(forms: tuple[str, ...]) -> tuple[str, ...]:
    """A term's shortest keys (up to 3/4 of its longest), the forms embedded names take."""
    ordered = sorted(set(forms), key=lambda k: (len(k), k))
    cut = 0.75 * len(ordered[-1])
    return tuple(k for k in ordered if len(k) <= cut)[:_MAX_EMBED]


# One term's respellings in one round: its pending keys (the input) and the respelled keys in
# order (the output).
_Respelled = tuple[tuple[str, ...], tuple[str, ...]]


@dataclass
class _EmbedMemo:
    """The respellings of the last build, per round and term, and the names they came from."""

    names: dict[str, set[int]]
    short: dict[int, tuple[str, ...]]
    rounds: list[dict[int, _Respelled]]


# A rebuild follows a label change: most terms' keys, and the names and short forms found in
# them, are what the last build saw, so their respellings are taken from it (the lock: builds
# in two threads would otherwise swap the memo under each other).
_embed_memo: _EmbedMemo | None = None
_embed_lock = threading.Lock()
_MAX_DIRTY = 256  # more changed names than this: respell everything
_FEW_KEYS = 400  # fewer keys to respell than this: look their word spans up, build no finder


def _embed_variants(
    keys: dict[str, list[_Hit]],
    embeddable: dict[int, tuple[str, ...]],
    names: dict[str, set[int]],
    short: dict[int, tuple[str, ...]],
    first_entry: dict[int, int],
) -> None:
    """Spell names embedded in longer labels every way their own term is written.

    "Political Bureau of the Central Committee of the Workers' Party of Korea" also gets
    "Political Bureau of the C.C., the WPK", using the short forms of the embedded terms.
    Each added key is the term's first entry's; at most _MAX_EMBED * 24 per term and round,
    in label order (never set order, which changes with the hash seed).
    """
    global _embed_memo
    memo = _embed_memo
    dirty = _dirty_names(memo, names, short)
    pending = {tid: tkeys for tid, tkeys in embeddable.items() if tkeys}
    rounds: list[dict[int, _Respelled]] = []
    for round_ in range(_EMBED_ROUNDS):
        old = memo.rounds[round_] if memo is not None and dirty is not None else {}
        done: dict[int, _Respelled] = {}
        todo: list[tuple[int, tuple[str, ...]]] = []
        for tid, pkeys in pending.items():
            was = old.get(tid)
            if was is not None and was[0] == pkeys:
                done[tid] = was
            else:
                todo.append((tid, pkeys))
        if done and dirty:
            for tid in _touched(done, dirty):
                todo.append((tid, pending[tid]))
        for tid, found in _respell(todo, names, short).items():
            done[tid] = (pending[tid], found)
        rounds.append(done)
        following: dict[int, tuple[str, ...]] = {}
        for tid in pending:
            added: list[str] = []
            for key in done[tid][1]:
                if key in keys:
                    continue
                keys[key] = [(first_entry[tid], None, None, False)]
                added.append(key)
                if len(added) >= _MAX_EMBED * 24:
                    break
            if added:
                following[tid] = tuple(added)
        pending = following
    _embed_memo = _EmbedMemo(names, short, rounds)


def _dirty_names(
    memo: _EmbedMemo | None, names: dict[str, set[int]], short: dict[int, tuple[str, ...]]
) -> set[str] | None:
    """Names whose terms or short forms differ from the memo's (None: no usable memo)."""
    if memo is None:
        return None
    changed = {t for t in short.keys() | memo.short.keys() if short.get(t) != memo.short.get(t)}
    dirty = set(names.keys() ^ memo.names.keys())
    if names != memo.names:
        dirty.update(n for n in names.keys() & memo.names.keys() if names[n] != memo.names[n])
    if changed:
        for table in (names, memo.names):
            dirty.update(n for n, tids in table.items() if not changed.isdisjoint(tids))
    return None if len(dirty) > _MAX_DIRTY else dirty


def _touched(done: dict[int, _Respelled], dirty: set[str]) -> set[int]:
    """Terms with a key in which a changed name occurs (anywhere: on the safe side)."""
    tids = list(done)
    texts = ["\n".join(done[tid][0]) for tid in tids]
    joined = "\n".join(texts)
    starts = list(accumulate(map(len, texts), lambda a, b: a + b + 1, initial=0))
    out: set[int] = set()
    for name in dirty:
        at = joined.find(name)
        while at >= 0:
            out.add(tids[bisect_right(starts, at) - 1])
            at = joined.find(name, at + 1)
    return out


def _respell(
    todo: list[tuple[int, tuple[str, ...]]],
    names: dict[str, set[int]],
    short: dict[int, tuple[str, ...]],
) -> dict[int, tuple[str, ...]]:
    """Each term's keys with one embedded name respelled, in order, without repeats."""
    found: dict[int, dict[str, None]] = {tid: {} for tid, _ in todo}
    for tid, key, s, e, name in _embedded(todo, names):
        new = found[tid]
        for other in names[name]:
            if other == tid:
                continue
            for alt in short.get(other, ()):
                if alt != name:
                    new[key[:s] + alt + key[e:]] = None
    return {tid: tuple(new) for tid, new in found.items()}


def _embedded(
    todo: list[tuple[int, tuple[str, ...]]], names: dict[str, set[int]]
) -> Iterator[tuple[int, str, int, int, str]]:
    """(term, key, start, end, name) of every name standing as words inside a key but not
    the whole key, by key, then end, longest first (the order an Aho-Corasick pass gives)."""
    if sum(len(pkeys) for _, pkeys in todo) > _FEW_KEYS:
        yield from _embedded_by_finder(todo, names)
        return
    for tid, pkeys in todo:
        for key in pkeys:
            n = len(key)
            cuts = [i for i, c in enumerate(key) if not c.isalnum()]
            starts = [0, *(i + 1 for i in cuts)]
            for e in (*cuts, n):
                for s in starts:
                    if s >= e:
                        break
                    if (s or e != n) and key[s:e] in names:
                        yield tid, key, s, e, key[s:e]


def _embedded_by_finder(
    todo: list[tuple[int, tuple[str, ...]]], names: dict[str, set[int]]
) -> Iterator[tuple[int, str, int, int, str]]:
    """_embedded() for many keys: one Aho-Corasick pass over all of them joined."""
    finder = ahocorasick.Automaton()
    for name in names:
        finder.add_word(name, name)
    finder.make_automaton()
    pending = [(tid, key) for tid, pkeys in todo for key in pkeys]
    joined = "\n".join(key for _, key in pending)
    starts = list(accumulate((len(k) + 1 for _, k in pending), initial=0))
    for end, name in finder.iter(joined):
        i = bisect_right(starts, end) - 1
        tid, key = pending[i]
        s, e = end - len(name) + 1 - starts[i], end + 1 - starts[i]
        if s == 0 and e == len(key):
            continue  # the whole key is the name: nothing is embedded
        if s < 0 or (s > 0 and key[s - 1].isalnum()) or (e < len(key) and key[e].isalnum()):
            continue
        yield tid, key, s, e, name


class Matcher:
    """Leftmost-longest gazetteer matching over folded text; immutable once built."""

    def __init__(self, entries: Iterable[LabelEntry]) -> None:
        self.entries: list[LabelEntry] = list(entries)
        self.label_count = len(self.entries)
        # A build allocates some 10^5 small containers that all stay alive: with the collector
        # on they set off full collections that walk the whole heap again and again (a third
        # of a rebuild at 20,000 labels). Nothing here makes cycles.
        collecting = gc.isenabled()
        gc.disable()
        try:
            self._build()
        finally:
            if collecting:
                gc.enable()

    def _build(self) -> None:
        keys: dict[str, list[_Hit]] = {}
        # a term's keys as the cached tuples of its labels, joined only when it has several
        by_term: dict[int, tuple[str, ...]] = {}
        embeddable: dict[int, tuple[str, ...]] = {}
        names: dict[str, set[int]] = {}
        get = keys.get
        entries = self.entries
        kinds = [e.kind for e in entries]
        tids = [e.term_id for e in entries]
        # every label's keys, from the cache (a rebuild recomputes only the changed labels')
        cached = map(
            _entry_keys,
            [e.text for e in entries],
            [e.type for e in entries],
            kinds,
            [e.case_sensitive for e in entries],
        )
        for idx, (rows, plain, long, spaced) in enumerate(cached):
            for key, head, case_key, cap in rows:
                found = get(key)
                if found is None:
                    keys[key] = [(idx, head, case_key, cap)]
                else:
                    found.append((idx, head, case_key, cap))
            kind = kinds[idx]
            if kind in _UNSHOWN:
                continue
            tid = tids[idx]
            term_keys = by_term.get(tid)
            if term_keys is None:
                by_term[tid] = plain
                embeddable[tid] = spaced
            else:
                by_term[tid] = term_keys + plain
                embeddable[tid] += spaced
            if long and (kind == "preferred" or kind == "alias"):
                for key in long:
                    term_ids = names.get(key)
                    if term_ids is None:
                        names[key] = {tid}
                    else:
                        term_ids.add(tid)
        # first entry per slug (its parent), per term (embedded respellings); the last
        # preferred label per slug, else its first label
        parents = {e.slug: e.parent for e in reversed(entries)}
        first_entry = dict(zip(reversed(tids), range(len(tids) - 1, -1, -1), strict=True))
        preferred = {e.slug: e.text for e in reversed(entries)}
        preferred.update((e.slug, e.text) for e in entries if e.kind == "preferred")
        self._parents, self._names = parents, preferred
        # only names that have a short form (WPK, KPA, "C.C., the WPK") are worth respelling
        short: dict[int, tuple[str, ...]] = {}
        for tid, forms in by_term.items():
            if len(forms) > 1:
                picked = _short_forms(forms)
                if picked:
                    short[tid] = picked
        names = {name: tids for name, tids in names.items() if not short.keys().isdisjoint(tids)}
        if names:
            with _embed_lock:
                _embed_variants(keys, embeddable, names, short, first_entry)
        # the automaton's value of a key: (its length, what to check, its hits)
        values: list[tuple[int, int, tuple[_Hit, ...]]] = []
        entries_ = self.entries
        for key, hits in keys.items():
            if len(hits) > 1:  # one hit per term and form: the best kind of label wins
                best: dict[tuple, _Hit] = {}
                for hit in hits:
                    form = (entries_[hit[0]].term_id, *hit[1:])
                    old = best.get(form)
                    if old is None or _rank(entries_[hit[0]]) < _rank(entries_[old[0]]):
                        best[form] = hit
                hits = list(best.values())
            values.append((len(key), _check(hits), tuple(hits)))
        self._automaton = ahocorasick.Automaton()
        # in dict order, so that of two keys spelled alike in the automaton the later wins
        deque(map(self._automaton.add_word, map(_automaton_key, keys), values), maxlen=0)
        if keys:
            self._automaton.make_automaton()
        self.key_count = len(keys)

    # --- matching --------------------------------------------------------------------------

    def _raw_matches(self, text: str) -> list[_Raw]:
        out: list[_Raw] = []
        if not self.key_count:
            return out
        folded, omap = fold_compact(text)
        # Blanking keeps lengths and turns only punctuation into spaces, so the blanked text
        # answers the boundary checks below like the folded one.
        folded = _blank(folded)
        n = len(folded)
        starts, deltas = omap.starts, omap.deltas
        # Keys are stored as " key" over " text" with punctuation before a letter blanked on
        # both sides, so every hit starts at a word start and in-word hits ("un" in "under")
        # never reach Python.
        for fe, (klen, check, hits) in self._automaton.iter(" " + folded):
            fs = fe - klen
            if fe < n and folded[fe].isalnum() and folded[fe - 1].isalnum():
                # a letter follows: only a possessive s or a Hangul particle may (most do not)
                if folded[fe] != "s" and not "\uac00" <= folded[fe - 1] <= "\ud7a3":
                    continue
                if not self._extends_ok(text, folded, omap, fe):
                    continue
            # omap[fs] and omap[fe - 1] + 1, inlined
            os_ = fs + deltas[bisect_right(starts, fs) - 1]
            oe = fe + deltas[bisect_right(starts, fe - 1) - 1]
            if check:  # the common checks of one hit inline, the rest in _hits_ok
                if check == _CAPITAL_ONLY:
                    if text[os_].islower():
                        continue
                elif check == _CASE_ONLY:
                    if _case_fold(text[os_:oe]) != hits[0][CASE_KEY]:
                        continue
                else:
                    hits = self._hits_ok(hits, text, os_, oe)
                    if not hits:
                        continue
            out.append((os_, oe, hits))
        return out

    @staticmethod
    def _extends_ok(text: str, folded: str, omap: OffsetMap, e: int) -> bool:
        """A match followed by a letter: a Hangul particle or an English possessive."""
        n = len(folded)
        if _is_hangul(folded[e - 1]):
            return any(
                folded.startswith(p, e) and (e + len(p) >= n or not folded[e + len(p)].isalnum())
                for p in HANGUL_PARTICLES
            )
        return (
            folded[e] == "s"
            and (e + 1 >= n or not folded[e + 1].isalnum())
            and any(c in APOSTROPHES for c in text[omap[e - 1] + 1 : omap[e]])
        )

    @staticmethod
    def _hits_ok(hits: tuple[_Hit, ...], text: str, start: int, end: int) -> tuple[_Hit, ...]:
        """The hits whose head, case and capital conditions the text meets."""
        lower = text[start].islower()
        surface = None
        kept = []
        for hit in hits:
            head = hit[HEAD]
            if head and not _COORD[head].match(text, end, min(len(text), end + 200)):
                continue
            if hit[CASE_KEY] is not None:
                if surface is None:
                    surface = _case_fold(text[start:end])
                if surface != hit[CASE_KEY]:
                    continue
            if hit[CAPITAL] and lower:
                continue
            kept.append(hit)
        return hits if len(kept) == len(hits) else tuple(kept)

    def _resolve(
        self, raw: _Raw, text: str, date: str | None, seen: set[int] | None, nested: bool
    ) -> Span:
        entries = self.entries
        if len(raw[2]) == 1:
            choices = [raw[2][0][ENTRY]]
        else:
            best: dict[int, int] = {}
            for hit in raw[2]:
                e = entries[hit[ENTRY]]
                cur = best.get(e.term_id)
                if cur is None or _KIND_RANK.get(e.kind, 9) < _KIND_RANK.get(entries[cur].kind, 9):
                    best[e.term_id] = hit[ENTRY]
            choices = sorted(best.values(), key=lambda i: entries[i].term_id)
            if len(choices) > 1 and date:
                dated = [i for i in choices if self._valid_on(entries[i], date)]
                choices = dated or choices
            if len(choices) > 1 and seen:
                together = [i for i in choices if entries[i].term_id in seen]
                choices = together or choices
        e = entries[choices[0]]
        many = len(choices) > 1
        return Span(
            raw[0],
            raw[1],
            text[raw[0] : raw[1]],
            e.type,
            e.slug,
            e.term_id,
            e.text,
            False,
            many,
            tuple(entries[i].slug for i in choices) if many else (),
            nested,
            round(1 / len(choices), 2),  # an ambiguous label is split between its readings
        )

    @staticmethod
    def _valid_on(e: LabelEntry, date: object) -> bool:
        day = str(date)[:10]  # an ISO string, a date or a datetime
        lo, hi = _date_bound(e.valid_from, False), _date_bound(e.valid_to, True)
        return (lo is None or day >= lo) and (hi is None or day <= hi)

    def _region(self, slug: str | None) -> bool:
        return bool(_MACRO_REGION.search(self._names.get(slug or "", "")))

    def first_level(self, slug: str | None) -> bool:
        """True for places that nest without a head word: countries, provinces, special cities."""
        if slug is None or self._region(slug):
            return False
        depth, cur, seen = 0, self._parents.get(slug), {slug}
        while cur and cur not in seen:
            seen.add(cur)
            if not self._region(cur):
                depth += 1
            cur = self._parents.get(cur)
        return depth <= 1

    def nestable(self, inner: Span, outer: Span) -> bool:
        """Whether a mention inside another one is annotated as nested (per the guidelines)."""
        if inner.slug is not None and inner.slug == outer.slug:
            return False
        if fold(inner.surface) == "korea":
            return False
        if inner.type == outer.type == "place" and inner.end == outer.end and not outer.candidate:
            return False  # "Republic of Korea" inside "Democratic People's Republic of Korea"
        if inner.type != "place" or _HEADED.search(inner.surface):
            return True
        return self.first_level(inner.slug)

    def match(self, text: str, *, date: str | None = None, nested: bool = False) -> list[Span]:
        """Known-term mentions in text, leftmost-longest, with nested mentions when asked."""
        raws = self._raw_matches(text)
        _sort_raws(raws)
        top: list[_Raw] = []
        last = -1
        for r in raws:
            if r[0] >= last:
                top.append(r)
                last = r[1]
        entries = self.entries
        # the terms named without ambiguity, for the ambiguous mentions _resolve() meets
        seen: set[int] | None = None
        if any(map(_MORE_THAN_ONE, map(len, map(_HITS, raws if nested else top)))):
            seen = set()
            for r in raws:
                hits = r[2]
                if len(hits) == 1:
                    seen.add(entries[hits[0][ENTRY]].term_id)
                    continue
                tids = {entries[h[ENTRY]].term_id for h in hits}
                if len(tids) == 1:
                    seen |= tids
        spans = [
            _known_span(r[0], r[1], text[r[0] : r[1]], entries[r[2][0][ENTRY]], False)
            if len(r[2]) == 1
            else self._resolve(r, text, date, seen, False)
            for r in top
        ]
        if nested:
            chosen = {(r[0], r[1]) for r in top}
            inner = [r for r in raws if (r[0], r[1]) not in chosen]
            if inner:
                starts = [r[0] for r in inner]
                for outer in list(spans):
                    lo, hi = (
                        bisect_left(starts, outer.start),
                        bisect_left(starts, outer.end),
                    )
                    if lo < hi:
                        spans.extend(self._nested_in(outer, inner[lo:hi], text, date, seen))
                spans.sort(key=lambda s: (s.start, -s.end))
        return spans

    def _nested_in(
        self, outer: Span, raws: list[_Raw], text: str, date: str | None, seen: set[int] | None
    ) -> list[Span]:
        inside = [
            r
            for r in raws
            if outer.start <= r[0]
            and r[1] <= outer.end
            and (r[1] - r[0]) < (outer.end - outer.start)
        ]
        out: list[Span] = []
        last = -1
        for r in inside:
            if r[0] < last:
                continue
            span = self._resolve(r, text, date, seen, True)
            if not self.nestable(span, outer):
                continue
            last = r[1]
            out.append(span)
            out.extend(self._nested_in(span, inside, text, date, seen))
        return out


def entries_from_terms(terms: Iterable[dict]) -> list[LabelEntry]:
    """Label entries from term dicts in the data-file format (term_id is the position)."""
    out: list[LabelEntry] = []
    for term_id, t in enumerate(terms):
        if t.get("status", "published") != "published":
            continue
        common = {"term_id": term_id, "slug": t["slug"], "type": t["type"]}
        out.append(LabelEntry(text=t["name"], kind="preferred", parent=t.get("parent"), **common))
        for lab in t.get("labels", ()):
            out.append(
                LabelEntry(
                    text=lab["text"],
                    kind=lab.get("kind", "alias"),
                    case_sensitive=bool(lab.get("case_sensitive", False)),
                    valid_from=_as_str(lab.get("valid_from")),
                    valid_to=_as_str(lab.get("valid_to")),
                    parent=t.get("parent"),
                    **common,
                )
            )
    return out


def _as_str(value: object) -> str | None:
    return None if value is None else str(value)
