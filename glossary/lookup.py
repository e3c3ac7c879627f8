"""Name lookup: the best term for each name, in tiers from exact to fuzzy, from an in-memory table
of every published label (built once per process, rebuilt when a term changes)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from sqlalchemy import select
from sqlalchemy.orm import Session

from glossary.models import Definition, Label, Term
from glossary.store import Store
from glossary.text import fold, label_variants

# Tiers in order of preference, each with the score of a unique hit.
TIERS = ("exact", "exact_alias", "case_insensitive", "normalized", "variant", "fuzzy")
TIER_SCORES = {
    "exact": 100,
    "exact_alias": 95,
    "case_insensitive": 90,
    "normalized": 85,
    "variant": 80,
    "fuzzy": 75,
}
AMBIGUITY_PENALTY = 10
KIND_RANK = {"preferred": 0, "alias": 1, "abbreviation": 2, "former": 3, "romanization": 4}
FUZZY_MIN_LENGTH = 5
FUZZY_MIN_SIMILARITY = 0.8
_FUZZY_CANDIDATES = 40
_GRAM_POSTINGS = 200
_FUZZY_VERIFY = 5
_MAX_NAME = 500

_lock = threading.Lock()
_cache: dict[str, tuple[int, LookupTable]] = {}


@dataclass(frozen=True)
class TermInfo:
    """What a lookup answer says about a term."""

    id: int
    slug: str
    name: str
    type: str
    definition: str | None
    wikidata: str | None


@dataclass(frozen=True)
class Entry:
    """One label of one term."""

    term: int  # index into LookupTable.terms
    text: str
    kind: str
    case_sensitive: bool
    ambiguous: bool


@dataclass(frozen=True)
class Hit:
    """One term that a name matched, how, through which label, and with what score."""

    term: TermInfo
    score: int
    match: str
    label: str
    label_kind: str
    ambiguous: bool = False


@dataclass(frozen=True)
class Answer:
    """The lookup of one name: the best hit (if any), whether it is ambiguous, and the others."""

    name: str
    best: Hit | None
    ambiguous: bool
    alternatives: list[Hit] = field(default_factory=list)


class LookupTable:
    """Exact dictionaries per tier over every label, plus an edit-distance and trigram index."""

    def __init__(self, terms: list[TermInfo], entries: list[Entry]) -> None:
        self.terms = terms
        self.entries = entries
        self.exact: dict[str, list[int]] = {}
        self.casefolded: dict[str, list[int]] = {}
        self.normalized: dict[str, list[int]] = {}
        self.variants: dict[str, list[int]] = {}
        self.compact: dict[str, list[int]] = {}
        self._deletes: dict[str, list[int]] = {}
        self._grams: dict[str, list[int]] = {}
        self._keys: list[tuple[str, int]] = []
        self._gramsets: list[frozenset[str]] = []
        for idx, e in enumerate(entries):
            self.exact.setdefault(e.text, []).append(idx)
            if e.case_sensitive:
                continue
            self.casefolded.setdefault(e.text.casefold(), []).append(idx)
            key = fold(e.text)
            if not key:
                continue
            self.normalized.setdefault(key, []).append(idx)
            for variant in label_variants(e.text, terms[e.term].type, e.kind):
                vkey = fold(variant)
                if vkey != key:
                    self.variants.setdefault(vkey, []).append(idx)
                # Syllables written together or apart: Pyong-yang, Pyong yang, Pyongyang.
                self.compact.setdefault(vkey.replace(" ", ""), []).append(idx)
            if len(key) >= FUZZY_MIN_LENGTH and e.kind not in ("hangul", "hanja"):
                self._index_fuzzy(key, idx)

    def _index_fuzzy(self, key: str, idx: int) -> None:
        kid = len(self._keys)
        self._keys.append((key, idx))
        for d in (key, *_deletes(key)):
            self._deletes.setdefault(d, []).append(kid)
        grams = _trigrams(key)
        self._gramsets.append(grams)
        for g in grams:
            self._grams.setdefault(g, []).append(kid)

    def find(self, name: str, *, types: Iterable[str] | None = None, limit: int = 5) -> list[Hit]:
        """Terms matching the name, best first: each term once, at its best tier."""
        name = " ".join(name.split())[:_MAX_NAME]
        if not name:
            return []
        allowed = set(types) if types else None
        found: dict[int, tuple[int, int, str]] = {}  # term -> (tier, kind rank, entry)

        def take(tier: int, ids: Iterable[int] | None) -> None:
            for idx in ids or ():
                e = self.entries[idx]
                if allowed is not None and self.terms[e.term].type not in allowed:
                    continue
                rank = (tier, KIND_RANK.get(e.kind, 9))
                have = found.get(e.term)
                if have is None or rank < have[:2]:
                    found[e.term] = (*rank, idx)

        for idx in self.exact.get(name, ()):
            take(0 if self.entries[idx].kind == "preferred" else 1, (idx,))
        take(2, self.casefolded.get(name.casefold()))
        key = fold(name)
        take(3, self.normalized.get(key))
        take(4, self.variants.get(key))
        take(4, self.compact.get(key.replace(" ", "")))
        if key.startswith("the "):
            take(4, self.normalized.get(key[4:]))
        fuzzy: dict[int, float] = {}
        if not found and len(key) >= FUZZY_MIN_LENGTH:
            for idx, similarity in self._fuzzy(key):
                take(5, (idx,))
                term = self.entries[idx].term
                if term in found:
                    fuzzy[term] = max(fuzzy.get(term, 0.0), similarity)
        best_tier = min((t for t, _r, _i in found.values()), default=None)
        at_best = sum(1 for t, _r, _i in found.values() if t == best_tier)
        hits = []
        for term, (tier, _rank, idx) in found.items():
            e = self.entries[idx]
            score = TIER_SCORES[TIERS[tier]]
            if tier == 5:
                score = round(40 + 35 * (fuzzy[term] - 0.5) / 0.5)
            ambiguous = e.ambiguous or (tier == best_tier and at_best > 1)
            if ambiguous:
                score -= AMBIGUITY_PENALTY
            hits.append(
                Hit(
                    self.terms[term],
                    max(1, min(100, score)),
                    TIERS[tier],
                    e.text,
                    e.kind,
                    ambiguous,
                )
            )
        hits.sort(key=lambda h: (-h.score, TIERS.index(h.match), h.term.name, h.term.slug))
        return hits[:limit]

    def _fuzzy(self, key: str) -> list[tuple[int, float]]:
        """Labels within an edit or two of the key, else labels sharing most of its trigrams."""
        kids: set[int] = set()
        for d in (key, *_deletes(key)):
            kids.update(self._deletes.get(d, ()))
        scored = []
        for kid in kids:
            label_key, idx = self._keys[kid]
            # Shared deletion neighbours are at most two edits apart.
            edits = 1 if _within_one_edit(key, label_key) else 2
            similarity = 1 - edits / max(len(key), len(label_key))
            if similarity >= FUZZY_MIN_SIMILARITY:
                scored.append((idx, similarity))
        if not scored:
            scored = self._trigram_similar(key)
        scored.sort(key=lambda s: -s[1])
        return scored[:_FUZZY_CANDIDATES]

    def _trigram_similar(self, key: str) -> list[tuple[int, float]]:
        grams = _trigrams(key)
        need = -(-len(grams) * 6 // 10)
        # A label sharing `need` grams shares one of any len - need + 1 of them: take the rarest.
        rarest = sorted(grams, key=lambda g: len(self._grams.get(g, ())))
        kids: set[int] = set()
        for g in rarest[: len(grams) - need + 1]:
            kids.update(self._grams.get(g, ())[:_GRAM_POSTINGS])
        ranked = []
        for kid in kids:
            shared = len(grams & self._gramsets[kid])
            dice = 2 * shared / (len(grams) + len(self._gramsets[kid]))
            if shared >= need and dice >= 0.6:
                ranked.append((dice, kid))
        ranked.sort(reverse=True)
        scored = []
        for _dice, kid in ranked[:_FUZZY_VERIFY]:
            label_key, idx = self._keys[kid]
            similarity = SequenceMatcher(None, key, label_key, autojunk=False).ratio()
            if similarity >= FUZZY_MIN_SIMILARITY:
                scored.append((idx, similarity))
        return scored

    def answer(self, name: str, *, types: Iterable[str] | None = None, limit: int = 5) -> Answer:
        """The best term for a name, flagged ambiguous when another term matches as well."""
        hits = self.find(name, types=types, limit=limit)
        best = hits[0] if hits else None
        return Answer(name, best, bool(best and best.ambiguous), hits[1:])


def _deletes(key: str) -> set[str]:
    return {key[:i] + key[i + 1 :] for i in range(len(key))}


def _trigrams(key: str) -> frozenset[str]:
    padded = f" {key} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def _within_one_edit(a: str, b: str) -> bool:
    """Whether one insertion, deletion or substitution turns a into b."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def build_table(session: Session) -> LookupTable:
    """A lookup table over every label of every published term."""
    rows = session.execute(
        select(
            Term.id,
            Term.slug,
            Term.name,
            Term.type,
            Term.wikidata,
            Label.text,
            Label.kind,
            Label.case_sensitive,
            Label.ambiguous,
        )
        .join(Label, Label.term_id == Term.id)
        .where(Term.status == "published")
        .order_by(Term.id, Label.id)
    ).all()
    definitions: dict[int, str] = {}
    for term_id, text in session.execute(
        select(Definition.term_id, Definition.text)
        .join(Term, Term.id == Definition.term_id)
        .where(Term.status == "published")
        .order_by(Definition.term_id, Definition.is_primary.desc(), Definition.id)
    ):
        definitions.setdefault(term_id, text)
    terms: list[TermInfo] = []
    index: dict[int, int] = {}
    entries: list[Entry] = []
    for r in rows:
        if r.id not in index:
            index[r.id] = len(terms)
            info = TermInfo(r.id, r.slug, r.name, r.type, definitions.get(r.id), r.wikidata)
            terms.append(info)
        entries.append(Entry(index[r.id], r.text, r.kind, r.case_sensitive, r.ambiguous))
    return LookupTable(terms, entries)


def get_table(store: Store) -> LookupTable:
    """The lookup table for the store's current glossary, shared by every thread."""
    seq = store.term_seq()
    cached = _cache.get(store.url)
    if cached and cached[0] == seq:
        return cached[1]
    with _lock:
        cached = _cache.get(store.url)
        if cached and cached[0] == seq:
            return cached[1]
        # Read after seq was: the table is at least as new as seq says (a later change only
        # makes the next call build it again).
        with store.read() as session:
            table = build_table(session)
        _cache[store.url] = (seq, table)
        return table


def lookup_names(
    store: Store, names: list[str], *, types: Iterable[str] | None = None, limit: int = 5
) -> list[Answer]:
    """The answer for each name, in order; repeated names are looked up once."""
    table = get_table(store)
    types = tuple(types) if types else None
    memo: dict[str, Answer] = {}
    out = []
    for name in names:
        if name not in memo:
            memo[name] = table.answer(name, types=types, limit=limit)
        out.append(memo[name])
    return out


def match_counts(answers: list[Answer]) -> Counter[str]:
    """How many names matched at each tier ("none" for no match)."""
    return Counter(a.best.match if a.best else "none" for a in answers)


def forget_tables() -> None:
    """Drop every cached table (tests that recreate a database at the same URL)."""
    with _lock:
        _cache.clear()
