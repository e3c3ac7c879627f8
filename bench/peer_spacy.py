"""The spaCy peer for annotate: PhraseMatcher (LOWER) on a blank English pipeline, run in its own
virtual environment by bench/run.py; prints one JSON line with its figures."""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    """Build the matcher over the labels, then match every text and time each one."""
    import spacy
    from spacy.matcher import PhraseMatcher

    data = json.loads(open(sys.argv[1], encoding="utf-8").read())
    nlp = spacy.blank("en")
    t0 = time.perf_counter()
    matcher = PhraseMatcher(nlp.vocab, attr="LOWER")
    patterns = list(nlp.tokenizer.pipe(data["labels"]))
    matcher.add("TERM", patterns)
    build = time.perf_counter() - t0
    texts = data["texts"]
    for text in texts[:20]:
        matcher(nlp.make_doc(text))
    samples = []
    found = 0
    for text in texts:
        t = time.perf_counter_ns()
        found += len(matcher(nlp.make_doc(text)))
        samples.append((time.perf_counter_ns() - t) / 1e6)
    total = sum(samples) / 1000
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    print(
        json.dumps(
            {
                "version": spacy.__version__,
                "build_s": build,
                "samples_ms": samples,
                "seconds": total,
                "mb_per_s": nbytes / 1e6 / total,
                "matches": found,
                "patterns": len(patterns),
            }
        )
    )


if __name__ == "__main__":
    main()
