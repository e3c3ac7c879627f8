"""Terms in the store: load and dump them in the glossary file format, import whole glossaries
(idempotent by slug) and export them."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from glossary.models import Definition, Label, Relation, Term
from glossary.schemas import term_file_schema
from glossary.store import record_change
from glossary.text import fold

DATA_DIR = Path(__file__).resolve().parent / "data"
TERM_LOAD = (
    selectinload(Term.labels),
    selectinload(Term.definitions),
    selectinload(Term.parent),
    selectinload(Term.merged_into),
)


@dataclass
class ImportReport:
    """What an import did, and the problems it found (each names its file line or slug)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    changed_labels: dict[int, set[str]] = field(default_factory=dict)


def term_to_file_dict(term: Term, relations: list[Relation]) -> dict:
    """The term in the glossary file format."""
    labels = []
    for label in term.labels:
        if label.kind == "preferred":
            continue
        item = {"text": label.text, "kind": label.kind}
        for key in ("language", "romanization", "valid_from", "valid_to"):
            if getattr(label, key):
                item[key] = getattr(label, key)
        if label.case_sensitive:
            item["case_sensitive"] = True
        if label.ambiguous:
            item["ambiguous"] = True
        labels.append(item)
    definitions = []
    for d in term.definitions:
        item = {"text": d.text}
        for key in ("source", "author", "as_of"):
            if getattr(d, key) is not None:
                item[key] = getattr(d, key)
        definitions.append(item)
    out = {"slug": term.slug, "name": term.name, "type": term.type}
    if term.status != "published":
        out["status"] = term.status
    if term.parent is not None:
        out["parent"] = term.parent.slug
    if term.merged_into is not None:
        out["merged_into"] = term.merged_into.slug
    for key in ("wikidata", "latitude", "longitude"):
        if getattr(term, key) is not None:
            out[key] = getattr(term, key)
    out["labels"] = labels
    out["definitions"] = definitions
    out["relations"] = [
        {"kind": r.kind, "target": r.target.slug, **({"date": r.date} if r.date else {})}
        for r in relations
    ]
    return out


def export_terms(session: Session, *, status: str | None = None) -> Iterator[dict]:
    """Every term in the file format, ordered by slug."""
    query = select(Term).options(*TERM_LOAD).order_by(Term.slug)
    if status:
        query = query.where(Term.status == status)
    relations: dict[int, list[Relation]] = {}
    for rel in session.scalars(
        select(Relation).options(selectinload(Relation.target)).order_by(Relation.id)
    ):
        relations.setdefault(rel.term_id, []).append(rel)
    for term in session.scalars(query):
        yield term_to_file_dict(term, relations.get(term.id, []))


def read_term_lines(lines: Iterable[str], origin: str) -> tuple[list[dict], list[str]]:
    """Validate JSON Lines of terms; returns the loaded terms and one message per bad line."""
    terms, errors = [], []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            terms.append(term_file_schema.load(json.loads(line)))
        except (ValueError, RecursionError) as exc:
            errors.append(f"{origin}:{number}: not JSON: {exc}")
        except ValidationError as exc:
            errors.append(f"{origin}:{number}: {json.dumps(exc.messages, ensure_ascii=False)}")
    return terms, errors


def starter_files() -> list[Path]:
    """The starter glossary's files, in load order."""
    return sorted((DATA_DIR / "terms").glob("*.jsonl"))


def _label_rows(item: dict) -> list[dict]:
    rows = [{"text": item["name"].strip(), "kind": "preferred", "language": "en"}]
    seen = {(item["name"].strip(), "preferred")}
    for label in item["labels"]:
        key = (label["text"].strip(), label["kind"])
        if key not in seen:
            seen.add(key)
            rows.append({**label, "text": key[0]})
    return rows


def _same_labels(term: Term, rows: list[dict]) -> bool:
    keys = ("text", "kind", "language", "romanization", "valid_from", "valid_to")
    have = sorted(
        tuple(getattr(lb, k) for k in keys) + (lb.case_sensitive, lb.ambiguous)
        for lb in term.labels
    )
    want = sorted(
        tuple(r.get(k) for k in keys) + (bool(r.get("case_sensitive")), bool(r.get("ambiguous")))
        for r in rows
    )
    return have == want


def apply_labels(term: Term, rows: list[dict]) -> set[str]:
    """Make the term's labels exactly `rows` (keeping rows that stay, so no unique key is
    briefly held twice); returns the label texts added or removed."""
    before = {lb.text for lb in term.labels}
    existing = {(lb.text, lb.kind): lb for lb in term.labels}
    labels = []
    for r in rows:
        text = r["text"].strip()
        label = existing.pop((text, r["kind"]), None) or Label(text=text, kind=r["kind"])
        label.language = r.get("language")
        label.romanization = r.get("romanization")
        label.valid_from = r.get("valid_from")
        label.valid_to = r.get("valid_to")
        label.case_sensitive = bool(r.get("case_sensitive"))
        label.ambiguous = bool(r.get("ambiguous"))
        label.folded = fold(label.text)[:500]
        labels.append(label)
    term.labels = labels
    return before ^ {lb.text for lb in labels}


def _same_definitions(term: Term, items: list[dict]) -> bool:
    have = [(d.text, d.source, d.author, d.as_of) for d in term.definitions]
    want = [(d["text"], d.get("source"), d.get("author"), d.get("as_of")) for d in items]
    return have == want


def import_terms(session: Session, items: list[dict], *, actor: str | None = None) -> ImportReport:
    """Create or update terms by slug, then link parents and relations; unchanged terms stay as
    they are, so importing the same file twice changes nothing."""
    report = ImportReport()
    slugs = [item["slug"] for item in items]
    existing = {
        t.slug: t
        for t in session.scalars(select(Term).options(*TERM_LOAD).where(Term.slug.in_(slugs)))
    }
    touched: dict[str, Term] = {}
    dirty: set[str] = set()
    for item in items:
        term = existing.get(item["slug"])
        created = term is None
        if created:
            term = Term(slug=item["slug"], name=item["name"], type=item["type"])
            term.labels, term.definitions = [], []
            session.add(term)
            existing[item["slug"]] = term
        changed = created
        for key in ("name", "type", "status", "wikidata", "latitude", "longitude"):
            if getattr(term, key) != item.get(key):
                setattr(term, key, item.get(key))
                changed = True
        rows = _label_rows(item)
        if created or not _same_labels(term, rows):
            diff = apply_labels(term, rows)
            changed = True
            if diff and not created:
                report.changed_labels.setdefault(id(term), set()).update(diff)
        if created or not _same_definitions(term, item["definitions"]):
            term.definitions = [
                Definition(
                    text=d["text"],
                    source=d.get("source"),
                    author=d.get("author"),
                    as_of=d.get("as_of"),
                    is_primary=(n == 0),
                )
                for n, d in enumerate(item["definitions"])
            ]
            changed = True
        touched[item["slug"]] = term
        if created:
            report.created += 1
        elif changed:
            report.updated += 1
        else:
            report.unchanged += 1
        if changed:
            dirty.add(item["slug"])
    session.flush()
    dirty |= _link(session, items, touched, report)
    for slug in sorted(dirty):
        term = touched[slug]
        record_change(session, "term", term.id, "upsert", summary=term.slug, actor=actor)
    report.changed_labels = {
        t.id: report.changed_labels[id(t)]
        for t in touched.values()
        if id(t) in report.changed_labels
    }
    return report


def _link(
    session: Session, items: list[dict], touched: dict[str, Term], report: ImportReport
) -> set[str]:
    """Resolve parent, merged-into and relation slugs, within the import or from the store;
    returns the slugs whose links changed."""
    dirty = set()
    wanted = {s for it in items for s in (it.get("parent"), it.get("merged_into")) if s}
    wanted |= {r["target"] for it in items for r in it["relations"]}
    known = dict(touched)
    missing = wanted - known.keys()
    if missing:
        known.update(
            (t.slug, t) for t in session.scalars(select(Term).where(Term.slug.in_(missing)))
        )
    current: dict[int, list[Relation]] = {}
    ids = [t.id for t in touched.values()]
    for rel in session.scalars(select(Relation).where(Relation.term_id.in_(ids))):
        current.setdefault(rel.term_id, []).append(rel)
    for item in items:
        term = touched[item["slug"]]
        for key in ("parent", "merged_into"):
            slug = item.get(key)
            target = known.get(slug) if slug else None
            if slug and target is None:
                report.errors.append(f"{item['slug']}: {key} {slug!r} is not a term")
            if getattr(term, f"{key}_id") != (target.id if target else None):
                setattr(term, f"{key}_id", target.id if target else None)
                dirty.add(term.slug)
        want = set()
        for rel in item["relations"]:
            target = known.get(rel["target"])
            if target is None:
                report.errors.append(f"{item['slug']}: related {rel['target']!r} is not a term")
                continue
            want.add((rel["kind"], target.id, rel.get("date")))
        have = {(r.kind, r.target_id, r.date): r for r in current.get(term.id, [])}
        if set(have) != want:
            for key, rel in have.items():
                if key not in want:
                    session.delete(rel)
            for kind, target_id, date in want - set(have):
                session.add(Relation(term_id=term.id, kind=kind, target_id=target_id, date=date))
            dirty.add(term.slug)
    session.flush()
    return dirty


def load_term_files(paths: Iterable[Path]) -> tuple[list[dict], list[str]]:
    """Read and validate glossary files; a slug repeated across files is an error."""
    terms, errors, seen = [], [], {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            loaded, bad = read_term_lines(fh, str(path))
        errors.extend(bad)
        for item in loaded:
            if item["slug"] in seen:
                errors.append(
                    f"{path}: slug {item['slug']!r} already defined in {seen[item['slug']]}"
                )
                continue
            seen[item["slug"]] = path.name
            terms.append(item)
    return terms, errors
