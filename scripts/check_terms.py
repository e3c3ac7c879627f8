"""Check the starter glossary's terms files: format, unique slugs, parents and shared labels."""

from __future__ import annotations

import argparse
import json
import re
import sys
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TERMS = REPO / "glossary" / "data" / "terms"

TYPES = {"organization", "place", "policy", "event"}
LABEL_KINDS = {"alias", "abbreviation", "former", "hangul", "hanja", "romanization", "hidden"}
ROMANIZATIONS = {"dprk", "mr", "rr"}
RELATION_KINDS = {"related", "successor", "predecessor"}
TERM_KEYS = {
    "slug",
    "name",
    "type",
    "parent",
    "wikidata",
    "latitude",
    "longitude",
    "labels",
    "definitions",
    "relations",
}
LABEL_KEYS = {
    "text",
    "kind",
    "language",
    "romanization",
    "valid_from",
    "valid_to",
    "case_sensitive",
    "ambiguous",
}
SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
HUB_SLUGS = {
    "democratic-peoples-republic-of-korea",
    "republic-of-korea",
    "pyongyang",
    "rason",
    "nampo",
    "kaesong",
    "north-pyongan-province",
    "south-pyongan-province",
    "north-hamgyong-province",
    "south-hamgyong-province",
    "north-hwanghae-province",
    "south-hwanghae-province",
    "kangwon-province",
    "chagang-province",
    "ryanggang-province",
    "china",
    "russia",
    "japan",
    "united-states",
    "korean-peninsula",
    "pyongsong",
    "sinuiju",
    "hyesan",
}


def normalize(text: str) -> str:
    """Fold a label roughly as the matcher does (marks, case, apostrophes, spaces, hyphens)."""
    text = unicodedata.normalize("NFKC", text).replace("’", "'").replace("‘", "'")
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return re.sub(r"[\s\-'`ʼ.]+", "", plain)


def term_errors(term: dict) -> list[str]:
    """Format problems of one term."""
    errors = []
    missing = {"slug", "name", "type", "labels", "definitions"} - term.keys()
    if missing:
        errors.append(f"missing keys {sorted(missing)}")
    extra = term.keys() - TERM_KEYS
    if extra:
        errors.append(f"unknown keys {sorted(extra)}")
    if not SLUG.match(str(term.get("slug", ""))):
        errors.append("bad slug")
    if term.get("type") not in TYPES:
        errors.append(f"bad type {term.get('type')!r}")
    if not str(term.get("name", "")).strip():
        errors.append("empty name")
    wikidata = term.get("wikidata")
    if wikidata is not None and not re.match(r"^Q\d+$", wikidata):
        errors.append(f"bad wikidata {wikidata!r}")
    for key, bound in (("latitude", 90), ("longitude", 180)):
        value = term.get(key)
        if value is not None and not (isinstance(value, int | float) and -bound <= value <= bound):
            errors.append(f"bad {key}")
    for label in term.get("labels", []):
        if label.keys() - LABEL_KEYS or not str(label.get("text", "")).strip():
            errors.append(f"bad label {label}")
        if label.get("kind") not in LABEL_KINDS:
            errors.append(f"bad label kind {label}")
        if label.get("romanization") not in ROMANIZATIONS | {None}:
            errors.append(f"bad romanization {label}")
        for key in ("valid_from", "valid_to"):
            if key in label and not DATE.match(str(label[key])):
                errors.append(f"bad {key} {label}")
    texts = [label.get("text") for label in term.get("labels", [])]
    if term.get("name") in texts:
        errors.append("a label repeats the name")
    if len(texts) != len(set(texts)):
        errors.append("repeated label text")
    definitions = term.get("definitions", [])
    if not definitions:
        errors.append("no definition")
    for definition in definitions:
        if not str(definition.get("text", "")).strip() or not definition.get("source"):
            errors.append("definition without text or source")
    for relation in term.get("relations", []):
        if relation.get("kind") not in RELATION_KINDS or not relation.get("target"):
            errors.append(f"bad relation {relation}")
    return errors


def check(terms_dir: Path, own: set[str]) -> tuple[list[str], list[str]]:
    """Return (errors, warnings); errors concern only the files named in own."""
    errors: list[str] = []
    warnings: list[str] = []
    slugs: dict[str, str] = {}
    terms: list[tuple[str, dict]] = []
    for path in sorted(terms_dir.glob("*.jsonl")):
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            where = f"{path.name}:{number}"
            try:
                term = json.loads(line)
            except json.JSONDecodeError as exc:
                (errors if path.name in own else warnings).append(f"{where}: {exc}")
                continue
            for problem in term_errors(term):
                (errors if path.name in own else warnings).append(f"{where}: {problem}")
            slug = term.get("slug", "")
            if slug in slugs:
                errors.append(f"{where}: slug {slug} also in {slugs[slug]}")
            slugs[slug] = where
            terms.append((path.name, term))
    known = set(slugs) | HUB_SLUGS
    for name, term in terms:
        bucket = errors if name in own else warnings
        if term.get("parent") and term["parent"] not in known:
            bucket.append(f"{name}: {term['slug']} parent {term['parent']} not found")
        for relation in term.get("relations", []):
            if relation.get("target") not in known:
                bucket.append(f"{name}: {term['slug']} relation {relation.get('target')} not found")
    missing_hubs = HUB_SLUGS - set(slugs)
    if missing_hubs:
        warnings.append(f"hub slugs not defined yet: {sorted(missing_hubs)}")
    owners: dict[str, list[tuple[str, str, bool]]] = {}
    for name, term in terms:
        entries = [(term["name"], False)]
        entries += [(lab["text"], bool(lab.get("ambiguous"))) for lab in term.get("labels", [])]
        seen: set[str] = set()
        for text, ambiguous in entries:
            key = normalize(text)
            if key in seen:
                continue
            seen.add(key)
            owners.setdefault(key, []).append((name, term["slug"], ambiguous))
    for key, holders in sorted(owners.items()):
        slugs_here = {slug for _, slug, _ in holders}
        if len(slugs_here) < 2:
            continue
        flagged = {slug for _, slug, ambiguous in holders if ambiguous}
        if len(slugs_here - flagged) > 1:
            mine = any(name in own for name, _, _ in holders)
            (errors if mine else warnings).append(
                f"label {key!r} shared by {sorted(slugs_here)} without ambiguous"
            )
    return errors, warnings


def main(argv: list[str] | None = None) -> int:
    """Command line entry: print problems, exit 1 on errors in our own files."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--terms", default=str(TERMS))
    parser.add_argument(
        "--own",
        nargs="*",
        default=["places.jsonl", "places-gazetteer.jsonl"],
        help="files to fail on",
    )
    args = parser.parse_args(argv)
    errors, warnings = check(Path(args.terms), set(args.own))
    for warning in warnings:
        print(f"warning: {warning}")
    for error in errors:
        print(f"error: {error}")
    print(f"{len(errors)} errors, {len(warnings)} warnings")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
