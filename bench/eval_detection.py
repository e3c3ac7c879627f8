"""Evaluate term detection on the hand-annotated dev articles with the shared score.py."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# run as a script, bench/ would come first on the path and its modules could shadow the stdlib
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from glossary.annotate import annotate_jsonl  # noqa: E402
from glossary.matcher import Matcher, entries_from_terms  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"


def load_terms(folder: Path) -> list[dict]:
    """Every term of every terms/*.jsonl file, in file-name order."""
    terms = []
    for path in sorted(folder.glob("*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            terms.extend(json.loads(line) for line in fh if line.strip())
    return terms


def main() -> None:
    """Build the matcher, annotate the dev articles and print score.py's figures."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--eval-dir", type=Path, default=EVAL)
    ap.add_argument("--terms", type=Path, default=ROOT / "glossary" / "data" / "terms")
    ap.add_argument("--keep", type=Path, help="also write the predictions here")
    ap.add_argument("--json", action="store_true", help="pass --json to score.py")
    a = ap.parse_args()
    terms = load_terms(a.terms)
    t0 = time.perf_counter()
    matcher = Matcher(entries_from_terms(terms))
    build = time.perf_counter() - t0
    print(
        f"{len(terms)} terms, {matcher.label_count} labels, {matcher.key_count} keys, "
        f"built in {build:.2f} s"
    )
    articles = a.eval_dir / "dev" / "articles.jsonl"
    gold = a.eval_dir / "dev" / "gold.jsonl"
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False, encoding="utf-8") as out:
        with articles.open(encoding="utf-8") as fh:
            t0 = time.perf_counter()
            n = annotate_jsonl(fh, out, matcher, nested=True)
            print(f"annotated {n} articles in {time.perf_counter() - t0:.2f} s -> {out.name}")
    if a.keep:
        a.keep.write_text(Path(out.name).read_text(encoding="utf-8"), encoding="utf-8")
    for extra in ([], ["--no-nested"]):
        cmd = [sys.executable, str(a.eval_dir / "score.py"), str(gold), out.name, *extra]
        if a.json:
            cmd.append("--json")
        print("\n$ " + " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True)


if __name__ == "__main__":
    main()
