"""Matcher speed: throughput over real articles (matching alone and annotate at the API's
defaults), rebuild time (same labels, and after one label change) and memory at >= 20,000
labels."""

from __future__ import annotations

import argparse
import dataclasses
import gc
import gzip
import json
import re
import statistics
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# run as a script, bench/ would come first on the path and its modules could shadow the stdlib
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.eval_detection import load_terms  # noqa: E402
from glossary.annotate import annotate  # noqa: E402
from glossary.matcher import LabelEntry, Matcher, entries_from_terms  # noqa: E402
from glossary.text import fold, fold_with_offsets  # noqa: E402

CORPUS = ROOT.parent / "shared" / "corpus"
_NAME = re.compile(
    r"\b(?!(?:The|A|An|In|On|At|He|It|This|These|Kim|Leader|President)\b)"
    r"[A-Z][a-z]+(?: (?:of |the |for )?[A-Z][a-z]+){1,3}\b"
)


def read_articles(limit_bytes: int) -> list[str]:
    """Article texts from the shared corpus, up to about limit_bytes of UTF-8."""
    texts: list[str] = []
    size = 0
    for path in sorted(CORPUS.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            for line in fh:
                text = json.loads(line)["text"]
                texts.append(text)
                size += len(text.encode("utf-8"))
                if size >= limit_bytes:
                    return texts
    return texts


def padded_entries(target: int, texts: list[str]) -> tuple[list[LabelEntry], int]:
    """The starter glossary's entries, padded with frequent corpus name n-grams to target."""
    entries = entries_from_terms(load_terms(ROOT / "glossary" / "data" / "terms"))
    real = len(entries)
    have = {fold(e.text) for e in entries}
    counts: Counter[str] = Counter()
    for text in read_articles(40_000_000):
        counts.update(_NAME.findall(text))
    next_id = max((e.term_id for e in entries), default=0) + 1
    for name, _ in counts.most_common():
        if len(entries) >= target:
            break
        if fold(name) in have:
            continue
        have.add(fold(name))
        entries.append(LabelEntry(next_id, f"synthetic-{next_id}", "organization", name, "alias"))
        next_id += 1
    return entries, real


CPU: list[float] = []  # process times of the last timed() call


def timed(fn, runs: int) -> list[float]:  # noqa: ANN001
    """Wall times of several runs of fn(); their CPU times are left in CPU."""
    out = []
    CPU.clear()
    for _ in range(runs):
        gc.collect()
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        out.append(time.perf_counter() - t0)
        CPU.append(time.process_time() - c0)
    return out


def _cpu() -> str:
    return f"cpu median {statistics.median(CPU):.3f} s, best {min(CPU):.3f} s"


def main() -> None:
    """Print throughput, rebuild time and memory of the matcher against a re baseline."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb", type=float, default=8.0, help="MB of article text to match")
    ap.add_argument("--labels", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-kb", type=int, default=200, help="text for the re baseline")
    a = ap.parse_args()
    texts = read_articles(int(a.mb * 1_000_000))
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    entries, real = padded_entries(a.labels, texts)
    print(
        f"{len(texts)} articles, {nbytes / 1e6:.1f} MB; {len(entries)} label entries "
        f"({real} from the starter glossary, {len(entries) - real} synthetic)"
    )

    # memory first, in a process that has built no matcher yet (the allocator keeps freed pages):
    # the RSS growth of the first build (automaton, key caches, the respellings kept for the
    # next build), then what tracemalloc sees of a second build (Python objects; the
    # automaton's C nodes use malloc)
    gc.collect()
    rss0 = _rss()
    t0, c0 = time.perf_counter(), time.process_time()
    matcher = Matcher(entries)
    cold, cold_cpu = time.perf_counter() - t0, time.process_time() - c0
    rss1 = _rss()
    tracemalloc.start()
    traced = Matcher(entries)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced
    stats = matcher._automaton.get_stats()  # the automaton's own count of its C memory
    print(
        f"memory: {matcher.key_count} automaton keys, {stats['nodes_count']} nodes, "
        f"{stats['total_size'] / 1e6:.1f} MB in the automaton; RSS growth of the first build "
        f"{(rss1 - rss0) / 1e6:.1f} MB (with the label-variant caches); tracemalloc of a "
        f"rebuild {current / 1e6:.1f} MB held, {peak / 1e6:.1f} MB peak"
    )
    build = timed(lambda: Matcher(entries), a.runs)
    runs = ", ".join(f"{t:.3f}" for t in build)
    print(
        f"build: first (cold caches) {cold:.3f} s wall, {cold_cpu:.3f} s cpu; rebuild, same "
        f"labels: median {statistics.median(build):.3f} s wall (runs {runs}); {_cpu()}"
    )
    # what a label edit costs: each run changes a different label of the starter glossary to
    # a text never seen before (its variants are not cached), as the editing API would
    step = max(1, real // (a.runs + 1))
    edits = iter(range(step, real, step))

    def rebuild_after_edit() -> None:
        i = next(edits)
        edited = list(entries)
        edited[i] = dataclasses.replace(entries[i], text=f"{entries[i].text} Bureau No. {i}")
        Matcher(edited)

    after_edit = timed(rebuild_after_edit, a.runs)
    print(
        f"build: rebuild after one label change: median {statistics.median(after_edit):.3f} s "
        f"wall; {_cpu()}"
    )

    def run_matcher() -> int:
        return sum(len(matcher.match(t)) for t in texts)

    def run_annotate() -> int:  # POST /api/annotate's defaults: known terms, top level
        return sum(len(annotate(t, matcher, nested=False, candidates=False)) for t in texts)

    def run_fold() -> None:
        for t in texts:
            fold_with_offsets(t)

    mb = nbytes / 1e6
    for name, fn in (("matcher", run_matcher), ("annotate (API defaults)", run_annotate)):
        mentions = fn()
        times = timed(fn, a.runs)
        med = statistics.median(times)
        print(
            f"{name}: {mentions} mentions; wall median {med:.2f} s = {mb / med:.2f} MB/s "
            f"(runs {', '.join(f'{t:.2f}' for t in times)}); CPU median "
            f"{mb / statistics.median(CPU):.2f} MB/s, best {mb / min(CPU):.2f} MB/s"
        )
    timed(run_fold, a.runs)
    print(f"fold_with_offsets alone: {mb / statistics.median(CPU):.1f} MB/s CPU")

    # baseline: one stdlib re alternation of the same keys over the same folded text
    keys = sorted({fold(e.text) for e in entries if len(fold(e.text)) >= 2}, key=len, reverse=True)
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, keys)) + r")(?!\w)")
    sample: list[str] = []
    size = 0
    for t in texts:
        sample.append(t)
        size += len(t.encode("utf-8"))
        if size >= a.baseline_kb * 1000:
            break

    def run_re() -> int:
        return sum(len(pattern.findall(fold_with_offsets(t)[0])) for t in sample)

    timed(run_re, max(1, a.runs // 2))
    r_med = statistics.median(CPU)

    def run_matcher_sample() -> int:
        return sum(len(matcher.match(t)) for t in sample)

    def run_annotate_sample() -> int:
        return sum(len(annotate(t, matcher, nested=False, candidates=False)) for t in sample)

    timed(run_matcher_sample, a.runs)
    ms_med = statistics.median(CPU)
    timed(run_annotate_sample, a.runs)
    as_med = statistics.median(CPU)
    print(
        f"baseline re alternation ({len(keys)} keys, {size / 1e3:.0f} kB sample), CPU medians: "
        f"re {size / 1e6 / r_med:.3f} MB/s; on the same sample matcher "
        f"{size / 1e6 / ms_med:.2f} MB/s (ratio {r_med / ms_med:.0f}x), annotate "
        f"{size / 1e6 / as_med:.2f} MB/s (ratio {r_med / as_med:.0f}x)"
    )
    with open("/proc/loadavg") as fh:
        print(f"load average (1, 5, 15 min) at the end: {' '.join(fh.read().split()[:3])}")


def _rss() -> int:
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * 4096
    except OSError:
        return 0


if __name__ == "__main__":
    main()
