"""The suite's output: results.json (kept per mode, compared with the previous run) and
bench/README.md (a hand-written intro kept above the marker, generated tables below it)."""

from __future__ import annotations

import json
import math
from pathlib import Path

MARKER = "<!-- Everything below is written by bench/run.py: edit the intro above only. -->"
# A measure regressed when it is this much worse than in the kept results and the difference
# is more than noise in absolute terms.
REGRESSION_RATIO = 1.25
REGRESSION_MIN_MS = 0.5


def load_previous(path: Path) -> dict:
    """The kept results.json (both modes), or an empty one."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def save_results(path: Path, previous: dict, mode: str, run: dict) -> None:
    """Write results.json with this run under its mode, keeping the other mode's results."""
    data = {k: v for k, v in previous.items() if k in ("full", "quick")}
    data[mode] = run
    path.write_text(json.dumps(data, indent=1, default=str) + "\n")


def _key_figures(row: dict) -> dict[str, tuple[float, str]]:
    """The figures a regression is judged on: name -> (value, "lower"|"higher" is better)."""
    out = {}
    if row.get("better") == "higher" and _num(row.get("value")):
        out["value"] = (row["value"], "higher")
    if row.get("better") != "higher" or row.get("unit") == "ms":
        for k in ("median", "p99"):
            if _num(row.get(k)) and row.get("unit", "ms") == "ms":
                out[k] = (row[k], "lower")
    return out


def regressions(previous_rows: dict, rows: dict) -> list[dict]:
    """Each key figure that got worse than the kept run by more than the threshold."""
    out = []
    for rid, row in rows.items():
        old = previous_rows.get(rid)
        if not old:
            continue
        for k, (new, better) in _key_figures(row).items():
            was = old.get(k)
            if not _num(was) or was == 0:
                continue
            worse = (
                new > was * REGRESSION_RATIO if better == "lower" else new * REGRESSION_RATIO < was
            )
            if better == "lower" and abs(new - was) < REGRESSION_MIN_MS:
                worse = False
            out.append({"id": rid, "label": row.get("label", rid), "figure": k, "was": was,
                        "now": new, "change": (new - was) / was, "regressed": worse})  # fmt: skip
    return out


def _num(v: object) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def fmt(v: object, digits: int = 2) -> str:
    """A number for a table: thousands separators, few decimals; '-' for none."""
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, float):
        if abs(v) >= 100:
            return f"{v:,.0f}"
        if abs(v) >= 10:
            return f"{v:,.1f}"
        return f"{v:,.{digits}f}"
    return str(v)


def table(headers: list[str], lines: list[list[object]]) -> str:
    """A Markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    for line in lines:
        out.append("| " + " | ".join(fmt(c) for c in line) + " |")
    return "\n".join(out)


def write_readme(path: Path, body: str) -> None:
    """Replace everything below the marker with body, keeping the intro above it."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        text = ""
    intro = text.split(MARKER)[0].rstrip() if MARKER in text else text.rstrip()
    if not intro:
        intro = "# Benchmarks"
    path.write_text(f"{intro}\n\n{MARKER}\n\n{body.strip()}\n", encoding="utf-8")
