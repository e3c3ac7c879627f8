"""The whoosh side of search: text analysis, the schemas of the terms and articles indexes, and the
documents built from the store (imported only by glossary.search)."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import sys
import zlib
from array import array
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from whoosh.analysis import Filter, RegexTokenizer, StemFilter, StopFilter
from whoosh.codec.whoosh3 import W3Codec, W3FieldWriter, W3PerDocReader
from whoosh.columns import FixedBytesColumn, VarBytesColumn
from whoosh.fields import COLUMN, ID, KEYWORD, NUMERIC, STORED, TEXT, FieldType, Schema
from whoosh.formats import Existence
from whoosh.lang.porter import stem

from glossary import text as _text
from glossary.text import fold, label_variants

# The index holds what fold() and label_variants() made of every label: a new glossary.text
# makes an index built with the old one stale, so its source is part of the schema version.
FOLD_IMPL = hashlib.sha256(Path(_text.__file__).read_bytes()).hexdigest()[:10]

# Bump when analysis or fields change: an index built by another version is rebuilt at start-up.
SCHEMA_VERSION = f"14/{FOLD_IMPL}"

_APOS = "'\u2018\u2019\u02bc\u02bb`\u00b4"
WORD_PATTERN = rf"[^\W_]+(?:[{_APOS}][^\W_]+)*"
_WORD = re.compile(WORD_PATTERN)
_NONWORD = re.compile(r"[\W_]+")
_HANGUL_RUN = re.compile(r"[\uac00-\ud7a3]+")
ARTICLE_STOP = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were "
    "with".split()
)
_ROM_RULES = (
    ("tch", "ch"), ("chh", "ch"), ("sh", "s"), ("ph", "p"), ("th", "t"), ("kh", "k"),
    ("j", "ch"), ("yeo", "yo"), ("eo", "o"), ("eu", "u"), ("g", "k"), ("b", "p"), ("d", "t"),
    ("kk", "k"), ("pp", "p"), ("tt", "t"), ("ss", "s"),
    # Older and South Korean spellings write ŏ as u: Chosun, Hamkyung.
    ("u", "o"),
)  # fmt: skip
KIND_ORDER = {
    "preferred": 0,
    "alias": 1,
    "abbreviation": 2,
    "former": 3,
    "romanization": 4,
    "hangul": 5,
    "hanja": 6,
    "hidden": 7,
}


@lru_cache(maxsize=200_000)
def norm_token(raw: str) -> str:
    """One word as every index and query sees it: possessive dropped, folded, letters only."""
    t = raw
    if len(t) > 2 and t[-2] in _APOS and t[-1] in "sS":
        t = t[:-2]
    t = t.lower() if t.isascii() else fold(t)
    return _NONWORD.sub("", t)


def words(text: str) -> list[str]:
    """The normalized words of a text, in order."""
    return [n for m in _WORD.finditer(text) if (n := norm_token(m.group()))]


def compact(text: str) -> str:
    """A label's key with spaces, hyphens and punctuation gone (Kim Jong-un = Kim Jong Un)."""
    return "".join(words(text))


@lru_cache(maxsize=100_000)
def romkey(word: str) -> str:
    """A coarse key equal for the DPRK, McCune-Reischauer and Revised spellings of a word."""
    if not (word.isascii() and word.isalpha()):
        return word
    for a, b in _ROM_RULES:
        word = word.replace(a, b)
    return word


def hangul_grams(text: str) -> list[str]:
    """Bigrams of each run of Hangul syllables (the syllable itself for a one-syllable run)."""
    out = []
    for run in _HANGUL_RUN.findall(text):
        if len(run) == 1:
            out.append(run)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def has_hangul(text: str) -> bool:
    """True when the text contains Hangul syllables."""
    return _HANGUL_RUN.search(text) is not None


class NormFilter(Filter):
    """Applies norm_token to each token and drops the ones left empty."""

    def __call__(self, tokens: Iterable) -> Iterable:  # noqa: D102
        for t in tokens:
            text = norm_token(t.text)
            if text:
                t.text = text
                yield t


def name_analyzer() -> object:
    """Words of names and labels: no stop words, no stemming."""
    return RegexTokenizer(WORD_PATTERN) | NormFilter()


def prose_analyzer() -> object:
    """Words of definitions and articles: a few stop words dropped, English stems."""
    return (
        RegexTokenizer(WORD_PATTERN)
        | NormFilter()
        | StopFilter(stoplist=ARTICLE_STOP, minsize=1, renumber=True)
        | StemFilter()
    )


class _FieldWriter(W3FieldWriter):
    def add_postings(self, schema: Schema, lengths: object, items: Iterable) -> None:
        # A block's shortest and longest document only tighten whoosh's bounds for skipping
        # blocks; looking a document's length up for every posting was a fifth of a commit.
        super().add_postings(schema, None, items)


class IndexCodec(W3Codec):
    """whoosh's codec, writing postings uncompressed (most lists are a few postings long, where
    zlib costs more than it saves) and without document lengths in their blocks."""

    def __init__(self, blocklimit: int = 128) -> None:
        super().__init__(blocklimit=blocklimit, compression=0)

    def field_writer(self, storage: object, segment: object) -> W3FieldWriter:  # noqa: D102
        return _FieldWriter(self, storage, segment)

    def per_document_reader(self, storage: object, segment: object) -> W3PerDocReader:  # noqa: D102
        return _PerDocReader(storage, segment)


class _PerDocReader(W3PerDocReader):
    """whoosh's reader of stored fields and columns, opening every column file of its segment
    when it is made. whoosh opens them on first use, but a writer in another process deletes the
    files of the segments it merges away, and a searcher made before that merge then finds its
    files gone (stored fields read as None); a file opened before the deletion stays readable."""

    def __init__(self, storage: object, segment: object) -> None:
        super().__init__(storage, segment)
        prefix, ext = segment.make_filename("."), W3Codec.COLUMN_EXT
        for name in segment.list_files(storage):
            if name.endswith(ext):
                field = name[len(prefix) : -len(ext)]
                self._colfiles[field] = self._get_column_file(field)
        if "_stored" not in self._colfiles:  # every segment has one: this one was merged away
            self.close()
            raise FileNotFoundError(f"segment {segment.segment_id()} has no files")

    def has_column(self, fieldname: str) -> bool:  # noqa: D102
        return fieldname in self._colfiles


def terms_schema() -> Schema:
    """One document per published term."""
    return Schema(
        tid=ID(stored=True, unique=True),
        slug=ID(stored=True),
        type=ID(stored=True, sortable=True),
        name=TEXT(analyzer=name_analyzer(), stored=True, phrase=False),
        labels=TEXT(analyzer=name_analyzer(), phrase=False),
        rom=KEYWORD(scorable=True),
        exact=KEYWORD(scorable=True),
        exactrom=KEYWORD(scorable=True),
        hangul=KEYWORD(scorable=True),
        # scorable: whoosh looks for a length column per posting written, and a field without
        # one costs a file-system call each time.
        wprefix=KEYWORD(scorable=True),
        lprefix=KEYWORD(scorable=True),
        defs=TEXT(analyzer=prose_analyzer(), phrase=False),
        parent=ID(stored=True),
        data=STORED(),
    )


def counts_schema() -> Schema:
    """One document per published term: how many mentions cite it. Counts change with every
    article, and rewriting these small documents costs a twentieth of rewriting term documents."""
    return Schema(
        tid=ID(stored=True, unique=True),
        mentions=NUMERIC(int, bits=32, stored=True, sortable=True, signed=False),
    )


# BM25 with the length normalization done at indexing: each article word is written once with
# its term weight tf * (K1 + 1) / (tf + K1 * (1 - B + B * length / AVERAGE)), so that a query
# multiplies it by the word's idf and never looks up a document's length or frequency. AVERAGE
# is about the length of a news article in analyzed words (KCNA's average is 110), fixed so
# that a weight never changes once written.
BM25_K1 = 1.2
BM25_B = 0.75
AVERAGE_WORDS = 120.0
AVERAGE_TITLE_WORDS = 8.0


class WeightedWords(FieldType):
    """An indexed field given as (word, weight) pairs, already analyzed: one posting per word
    with its weight, no frequencies or positions."""

    def __init__(self, stored: bool = False) -> None:
        super().__init__(format=Existence(), analyzer=None, scorable=True, stored=stored)

    def index(self, value: Iterable[tuple[str, float]], **kwargs: object) -> Iterable:
        """The postings of one document: (word bytes, frequency, weight, value)."""
        for word, weight in value:
            yield word.encode("utf-8"), 1, weight, b""


def bm25_weights(tokens: list[str], average: float = AVERAGE_WORDS) -> list[tuple[str, float]]:
    """Each distinct token with its BM25 term weight in a text of these tokens."""
    counts: dict[str, int] = {}
    for t in tokens:
        counts[t] = counts.get(t, 0) + 1
    norm = BM25_K1 * (1 - BM25_B + BM25_B * len(tokens) / average)
    k = BM25_K1 + 1
    return [(w, round(tf * k / (tf + norm), 4)) for w, tf in counts.items()]


def articles_schema() -> Schema:
    """One document per article; its text lives in the store, only its weighted words here."""
    return Schema(
        aid=ID(stored=True, unique=True),
        title=WeightedWords(stored=True),
        text=WeightedWords(),  # the title and the text
        # The words in order, for quoted phrases (see word_hashes). Phrases used to be a field of
        # adjacent word pairs, which was three quarters of the index and of its writing time:
        # nearly every pair is a term of its own.
        sequence=COLUMN(VarBytesColumn()),
        # A Bloom filter of the adjacent word pairs (see pair_signature): a quoted phrase's
        # words are checked in order only in the documents whose filter may hold its pairs.
        pairs=COLUMN(FixedBytesColumn(SIGNATURE_BITS // 8)),
        source=ID(stored=True, sortable=True),
        date=NUMERIC(int, bits=32, stored=True, sortable=True, signed=False),
        published=STORED(),
        terms=KEYWORD(scorable=True),
        ttypes=KEYWORD(scorable=True),
        tids=KEYWORD(stored=True, scorable=True),
        slugs=COLUMN(VarBytesColumn()),
    )


@dataclass(frozen=True)
class LabelRow:
    """One label of a term, as the index needs it."""

    text: str
    kind: str
    valid_from: str | None = None
    valid_to: str | None = None
    romanization: str | None = None


@dataclass(frozen=True)
class TermRow:
    """A published term with what its index document needs from the store."""

    id: int
    slug: str
    name: str
    type: str
    parent: str | None
    labels: tuple[LabelRow, ...]
    definitions: tuple[str, ...]


@dataclass(frozen=True)
class ArticleRow:
    """An article with the terms it cites (slug, type, id)."""

    id: int
    title: str
    text: str
    source: str | None
    published: dt.date | None
    cited: tuple[tuple[str, str, int], ...]


_ROM_NAMES = {
    "dprk": "DPRK spelling",
    "mr": "McCune-Reischauer",
    "rr": "Revised Romanization",
}


def label_note(label: LabelRow) -> str | None:
    """A short note on a label for people: "former name until 2020"."""
    if label.kind == "former":
        note = "former name"
        if label.valid_from:
            note += f" from {label.valid_from[:4]}"
        if label.valid_to:
            note += f" until {label.valid_to[:4]}"
        return note
    if label.kind == "romanization":
        return _ROM_NAMES.get(label.romanization or "", "romanization")
    return {
        "alias": "also called",
        "abbreviation": "abbreviation",
        "hangul": "Korean name",
        "hanja": "Chinese characters",
        "hidden": "spelling variant",
    }.get(label.kind)


# Prefixes of whole labels are indexed up to this length (suggest checks longer ones on the
# candidates): up to 30 characters, they were most of the terms index's words and of its writing.
LABEL_PREFIX = 12


def _edges(word: str, lo: int, hi: int) -> list[str]:
    return [word[:k] for k in range(lo, min(len(word), hi) + 1)]


def term_document(row: TermRow) -> dict:
    """The terms-index document of a term."""
    labels = [LabelRow(row.name, "preferred")] + [
        lb for lb in row.labels if not (lb.kind == "preferred" and lb.text == row.name)
    ]
    label_texts: list[str] = []
    exact: set[str] = set()
    exactrom: set[str] = set()
    rom: set[str] = set()
    grams: list[str] = []
    wprefix: set[str] = set()
    lprefix: set[str] = set()
    stored_labels = []
    for lb in labels:
        variants = {lb.text} | label_variants(lb.text, row.type, lb.kind)
        keys: set[str] = set()
        romkeys: set[str] = set()
        wordset: set[str] = set()
        for v in variants:
            ws = words(v)
            if not ws:
                continue
            key = "".join(ws)
            keys.add(key)
            wordset.update(ws)
            exact.add(key)
            romkeys.add("".join(romkey(w) for w in ws))
            rom.update(romkey(w) for w in ws)
            # Joined neighbours, so "Jongun" finds "Jong Un".
            label_texts.append(v + " " + " ".join(a + b for a, b in zip(ws, ws[1:], strict=False)))
        exactrom |= romkeys
        # Prefixes of the label as written and of its romanization key (which the DPRK, MR and
        # RR spellings share), not of every variant: each gram is a term to write at each sync.
        ws = words(lb.text)
        for form in (ws, [romkey(w) for w in ws]):
            lprefix.update(_edges("".join(form), 2, LABEL_PREFIX))
            for w in form:
                wprefix.update(_edges(w, 2, 20))
        grams.extend(hangul_grams(lb.text))
        stored_labels.append(
            [lb.text, lb.kind, label_note(lb), sorted(keys), sorted(wordset), sorted(romkeys)],
        )
    hangul = next((lb.text for lb in labels if lb.kind == "hangul"), None)
    return {
        "tid": str(row.id),
        "slug": row.slug,
        "type": row.type,
        "name": row.name,
        "labels": "\n".join(label_texts),
        "rom": " ".join(sorted(rom)),
        "exact": " ".join(sorted(exact)),
        "exactrom": " ".join(sorted(exactrom)),
        "hangul": " ".join(grams),
        "wprefix": " ".join(sorted(wprefix)),
        "lprefix": " ".join(sorted(lprefix)),
        "defs": "\n".join(row.definitions),
        "parent": row.parent or "",
        # The primary definition is kept for snippets: fetching it from the store cost about a
        # millisecond a query, a third of the time budget of a term search.
        "data": {
            "labels": stored_labels,
            "hangul": hangul,
            "definition": row.definitions[0] if row.definitions else None,
        },
    }


@lru_cache(maxsize=200_000)
def _prose_word(raw: str) -> str:
    word = norm_token(raw)
    return stem(word) if word and word not in ARTICLE_STOP else ""


def prose_words(text: str) -> list[str]:
    """The words of a text as the articles index sees them (stop words gone, stemmed): what
    prose_analyzer() makes of it, without a token object per word."""
    return [w for w in map(_prose_word, _WORD.findall(text)) if w]


@lru_cache(maxsize=200_000)
def _word_hash(word: str) -> int:
    return zlib.crc32(word.encode())


def word_hashes(tokens: list[str]) -> bytes:
    """Analyzed words in order, each as the CRC-32 of its UTF-8 (four bytes, little-endian): a
    phrase is in a text when its words' bytes are in the text's at a multiple of four. A word
    next to a phrase word has the CRC of the phrase's next word once in 4 billion, so about one
    article in 40 million matches a two-word phrase it does not contain."""
    out = array("I", map(_word_hash, tokens))
    if sys.byteorder == "big":
        out.byteswap()
    return out.tobytes()


# A field of every adjacent pair was three quarters of the index, and a field of pairs hashed
# into 2^16 keys still tripled the time to write it (a posting per pair). A Bloom filter of each
# article's pairs, 2 bits a pair in SIGNATURE_BITS, costs one column value per article instead.
# With the 110 analyzed words of an average article, one bit in ten is set, so a pair an article
# lacks passes its filter once in a hundred: a phrase whose words are common but rarely side by
# side is checked in a few hundred of the articles that have both words, not tens of thousands.
SIGNATURE_BITS = 2048


def pair_bits(sequence: bytes, nbits: int) -> np.ndarray:
    """The filter bits (0 <= bit < nbits, a power of two) of the adjacent pairs in
    word_hashes() bytes: two for each pair."""
    hashes = np.frombuffer(sequence, dtype="<u4").astype(np.uint64)
    if len(hashes) < 2:
        return np.zeros(0, dtype=np.int64)
    mixed = ((hashes[:-1] * 0x9E3779B1) ^ hashes[1:]) & 0xFFFFFFFF
    shift = nbits.bit_length() - 1
    return np.concatenate((mixed & (nbits - 1), (mixed >> shift) & (nbits - 1))).astype(np.int64)


def pair_signature(sequence: bytes, nbits: int | None = None) -> bytes:
    """The Bloom filter of the adjacent pairs in word_hashes() bytes: nbits // 8 bytes, bit i
    of the filter is bit i % 8 of byte i // 8."""
    nbits = nbits or SIGNATURE_BITS
    bits = np.zeros(nbits, dtype=bool)
    bits[pair_bits(sequence, nbits)] = True
    return np.packbits(bits, bitorder="little").tobytes()


def has_phrase(sequence: bytes, phrase: bytes) -> bool:
    """Whether the word_hashes of a phrase are in the word_hashes of a text."""
    i = sequence.find(phrase)
    while i >= 0:
        if not i % 4:
            return True
        i = sequence.find(phrase, i + 1)
    return False


def counts_document(term_id: int, mentions: int) -> dict:
    """The counts-index document of a term."""
    return {"tid": str(term_id), "mentions": mentions}


def article_document(row: ArticleRow) -> dict:
    """The articles-index document of an article."""
    date = row.published
    title = row.title or ""
    tokens = prose_words(f"{title}\n{row.text}")
    slugs = sorted({slug for slug, _, _ in row.cited})
    sequence = word_hashes(tokens)
    return {
        "aid": str(row.id),
        "title": bm25_weights(prose_words(title), AVERAGE_TITLE_WORDS),
        "_stored_title": title,
        "text": bm25_weights(tokens),
        "sequence": sequence,
        "pairs": pair_signature(sequence),
        "source": row.source or "",
        "date": int(date.strftime("%Y%m%d")) if date else 0,
        "published": date.isoformat() if date else None,
        "terms": " ".join(slugs),
        "ttypes": " ".join(sorted({t for _, t, _ in row.cited})),
        "tids": " ".join(sorted({str(i) for _, _, i in row.cited})),
        "slugs": " ".join(slugs).encode(),
    }
