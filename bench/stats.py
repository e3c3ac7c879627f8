"""Timing helpers for the benchmark suite: run calls under a time budget, summarise samples."""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    """Latency samples of one measure, in milliseconds."""

    n: int
    median: float
    p99: float
    max: float
    mean: float

    def as_dict(self) -> dict:
        """Plain numbers for results.json."""
        return {
            "n": self.n,
            "median": round(self.median, 4),
            "p99": round(self.p99, 4),
            "max": round(self.max, 4),
            "mean": round(self.mean, 4),
        }


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by nearest rank over already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(samples_ms: Sequence[float]) -> Summary:
    """Median, p99, max and mean of samples in milliseconds."""
    values = sorted(samples_ms)
    if not values:
        return Summary(0, math.nan, math.nan, math.nan, math.nan)
    return Summary(
        len(values),
        statistics.median(values),
        percentile(values, 99),
        values[-1],
        statistics.fmean(values),
    )


def time_calls(
    fn: Callable[[object], object],
    args: Sequence[object],
    *,
    budget_s: float,
    min_calls: int = 50,
    max_calls: int = 20_000,
    warmup: int = 20,
) -> Summary:
    """Call fn(arg) for each arg, cycling, until the budget is spent (at least min_calls)."""
    if not args:
        return summarize([])
    for arg in args[:warmup]:
        fn(arg)
    gc.collect()
    samples: list[float] = []
    deadline = time.perf_counter() + budget_s
    i = 0
    while i < max_calls and (i < min_calls or time.perf_counter() < deadline):
        arg = args[i % len(args)]
        t0 = time.perf_counter_ns()
        fn(arg)
        samples.append((time.perf_counter_ns() - t0) / 1e6)
        i += 1
    return summarize(samples)
