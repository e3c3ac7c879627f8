"""Benchmark data: the real KCNA corpus, slices of it, generated larger corpora (recombined
sentences and dates) and the query sets (names, aliases, misspellings, corpus words)."""

from __future__ import annotations

import gzip
import json
import os
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# A run from a snapshot of the code (see bench/run.py) keeps its data in the checkout's bench/work.
CORPUS = Path(os.environ.get("BENCH_CORPUS", ROOT.parent / "shared" / "corpus"))
WORK = Path(os.environ.get("BENCH_WORK", ROOT / "bench" / "work"))
TERMS_DIR = ROOT / "glossary" / "data" / "terms"
SEED = 20_220

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"'])")
_WORD = re.compile(r"[A-Za-z][a-z]{3,}")
STOP = frozenset(
    "that this with from have were which their they been will said also into than them there "
    "these those when where what more such other over under about after before while being "
    "would could should upon very most some only just like made make through during".split()
)


def corpus_files() -> list[Path]:
    """The real corpus files, oldest first (empty when ../shared is absent)."""
    return sorted(CORPUS.glob("kcna-*.jsonl.gz"))


def read_corpus(limit: int | None = None) -> list[dict]:
    """The real articles as dicts, in file order, up to limit."""
    out: list[dict] = []
    for path in corpus_files():
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                out.append(json.loads(line))
                if limit is not None and len(out) >= limit:
                    return out
    return out


def write_jsonl_gz(path: Path, records: list[dict]) -> Path:
    """Write records as gzipped JSON Lines (what `glossary ingest` reads)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    return path


class Generator:
    """Articles made by recombining the real corpus's sentences, titles and dates."""

    def __init__(self, records: list[dict], seed: int = SEED) -> None:
        self.rng = random.Random(seed)
        self.sentences: list[str] = []
        self.titles = [r["title"] for r in records if r.get("title")]
        self.dates = [r["date"] for r in records if r.get("date")]
        lengths = []
        for r in records:
            paragraphs = [p for p in r["text"].split("\n\n") if p.strip()]
            lengths.append(len(paragraphs))
            for p in paragraphs:
                self.sentences.extend(s.strip() for s in _SENTENCE.split(p) if len(s) > 20)
        self.lengths = lengths or [5]

    def articles(self, count: int, start: int = 0) -> Iterator[dict]:
        """count generated articles with ids gen-<start>...; dates shifted by whole years."""
        rng = self.rng
        for n in range(start, start + count):
            paragraphs = []
            for _ in range(max(2, rng.choice(self.lengths))):
                k = rng.choice((1, 1, 2, 2, 3))
                paragraphs.append(" ".join(rng.choice(self.sentences) for _ in range(k)))
            date = rng.choice(self.dates)
            year = int(date[:4]) + rng.randrange(-10, 3)
            day = date[8:10] if date[5:7] != "02" else min(date[8:10], "28")
            yield {
                "id": f"gen-{n:07d}",
                "source": "KCNA (generated)",
                "url": None,
                "title": rng.choice(self.titles),
                "date": f"{year:04d}-{date[5:7]}-{day}",
                "text": "\n\n".join(paragraphs),
            }


# --- query sets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Queries:
    """Every query list the suite asks, built once from the glossary files and the corpus."""

    names: list[str]  # preferred names
    aliases: list[str]  # aliases, abbreviations, romanizations, Hangul, former names
    misspellings: list[str]  # a letter dropped, doubled or swapped in a name
    words: list[str]  # single words sampled from the corpus
    prefixes: list[str]  # 2-8 first characters of labels, as someone typing
    article_queries: list[str]  # words, word pairs and quoted phrases from the corpus
    batch: list[str]  # 1,000 names for one lookup: names, aliases, misspellings and unknowns

    def term_queries(self) -> list[str]:
        """The mixed list for term search: names, aliases, misspellings, words."""
        out: list[str] = []
        for group in zip(self.names, self.aliases, self.misspellings, self.words, strict=False):
            out.extend(group)
        return out


def load_terms() -> list[dict]:
    """The starter glossary's term dicts."""
    terms = []
    for path in sorted(TERMS_DIR.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            terms.extend(json.loads(line) for line in fh if line.strip())
    return terms


def _misspell(rng: random.Random, name: str) -> str:
    letters = [i for i, c in enumerate(name) if c.isalpha()]
    if len(letters) < 6:
        return name
    i = rng.choice(letters[1:-1])
    how = rng.randrange(3)
    if how == 0:
        return name[:i] + name[i + 1 :]
    if how == 1:
        return name[:i] + name[i] + name[i:]
    return name[: i - 1] + name[i] + name[i - 1] + name[i + 1 :]


def build_queries(records: list[dict], *, size: int = 400, seed: int = SEED) -> Queries:
    """Seeded query lists from the glossary files and the given articles."""
    rng = random.Random(seed)
    terms = load_terms()
    names = [t["name"] for t in terms if t.get("status", "published") == "published"]
    aliases = [
        lb["text"]
        for t in terms
        for lb in t.get("labels", [])
        if isinstance(lb, dict) and lb.get("kind") not in (None, "preferred", "hidden")
    ]
    rng.shuffle(names)
    rng.shuffle(aliases)
    misspellings = [_misspell(rng, n) for n in names if len(n) >= 8][:size]
    counts: dict[str, int] = {}
    texts = [r["text"] for r in rng.sample(records, min(len(records), 2000))]
    for text in texts:
        for w in _WORD.findall(text):
            lw = w.lower()
            if lw not in STOP:
                counts[lw] = counts.get(lw, 0) + 1
    vocab = [w for w, c in counts.items() if c >= 3]
    words = rng.sample(vocab, min(size, len(vocab)))
    labels = names + aliases
    prefixes = []
    for label in rng.sample(labels, min(size, len(labels))):
        prefixes.append(label[: rng.randint(2, 8)])
    article_queries = []
    for i in range(size):
        text = rng.choice(texts)
        found = [w for w in _WORD.findall(text) if w.lower() not in STOP]
        if not found:
            continue
        j = rng.randrange(len(found))
        if i % 4 == 3 and j + 1 < len(found):
            article_queries.append(f'"{found[j]} {found[j + 1]}"')
        elif i % 2:
            article_queries.append(f"{found[j]} {rng.choice(found)}")
        else:
            article_queries.append(found[j])
    pool = names + aliases[: len(names)] + misspellings
    batch = [rng.choice(pool) for _ in range(950)] + [f"Unknown Body {i}" for i in range(50)]
    rng.shuffle(batch)
    return Queries(
        names=names[:size],
        aliases=aliases[:size],
        misspellings=misspellings,
        words=words,
        prefixes=prefixes,
        article_queries=article_queries,
        batch=batch,
    )
