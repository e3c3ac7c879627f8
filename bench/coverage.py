"""Glossary coverage of the hand-annotated dev set: of the distinct canonical names in the gold
mentions, how many resolve by lookup (the canonical name or any surface form the text uses) to a
term with a definition. Reads ../shared/eval (not part of the tests).

    python bench/coverage.py [--gold ../shared/eval/dev/gold.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT)]
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from glossary import create_app  # noqa: E402
from glossary.lookup import lookup_names  # noqa: E402
from glossary.store import get_store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--gold", default=str(ROOT.parent / "shared/eval/dev/gold.jsonl"))
    args = parser.parse_args()
    surfaces: dict[tuple[str, str], set[str]] = defaultdict(set)
    for line in Path(args.gold).read_text(encoding="utf-8").splitlines():
        for m in json.loads(line)["mentions"]:
            surfaces[(m["canonical"], m["type"])].add(m["surface"])
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({
            "DATABASE_URL": f"sqlite:///{tmp}/g.db", "INDEX_DIR": f"{tmp}/index",
            "SECRET_KEY": "bench", "LOAD_SAMPLES": False, "PREPARE_INDEXES": False,
        })  # fmt: skip
        assert app.test_cli_runner().invoke(args=["init"]).exit_code == 0
        store = get_store(app)
        missing = []
        for (canonical, kind), forms in sorted(surfaces.items()):
            names = [canonical, *sorted(forms)]
            answers = lookup_names(store, names)
            hits = [a.best for a in answers if a.best and a.best.match != "fuzzy"]
            if not any(h.term.definition for h in hits):
                missing.append((canonical, kind, sorted(forms)))
        store.dispose()
    total = len(surfaces)
    print(f"{total - len(missing)} of {total} canonical names resolve "
          f"({(total - len(missing)) / total:.1%}); not resolved:")  # fmt: skip
    for canonical, kind, forms in missing:
        print(f"  {kind:<12} {canonical}  (text: {', '.join(forms)})")


if __name__ == "__main__":
    main()
