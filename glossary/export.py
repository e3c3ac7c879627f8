"""The glossary in other formats: JSON Lines (the import format), CSV for spreadsheets, and SKOS
(Turtle or JSON-LD) for thesaurus tools; rdflib lives behind this module."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable

from rdflib import RDF, SKOS, Graph, Literal, Namespace, URIRef
from rdflib.namespace import DCTERMS, OWL
from sqlalchemy.orm import Session

from glossary.terms import export_terms

MIMETYPES = {
    "jsonl": "application/x-ndjson",
    "csv": "text/csv",
    "turtle": "text/turtle",
    "jsonld": "application/ld+json",
}
FORMAT_ALIASES = {"skos": "turtle", "ttl": "turtle", "json-ld": "jsonld"}
EXTENSIONS = {"jsonl": "jsonl", "csv": "csv", "turtle": "ttl", "jsonld": "jsonld"}
CSV_COLUMNS = (
    "slug",
    "name",
    "type",
    "status",
    "parent",
    "merged_into",
    "wikidata",
    "latitude",
    "longitude",
    "hangul",
    "aliases",
    "abbreviations",
    "former_names",
    "romanizations",
    "definition",
    "definition_source",
    "related",
)
WIKIDATA = Namespace("http://www.wikidata.org/entity/")
DEFAULT_BASE = "http://localhost:8000/"
PLURALS = {
    "organization": "organizations",
    "place": "places",
    "policy": "policies",
    "event": "events",
}
JSONLD_CONTEXT = {"skos": str(SKOS), "dct": str(DCTERMS), "owl": str(OWL), "wd": str(WIKIDATA)}
# Labels without a language: what each kind is written in.
LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*$")
KIND_LANGUAGE = {"hangul": "ko", "hanja": "ko-Hani", "romanization": "ko-Latn"}


def render(
    session: Session, fmt: str, *, status: str | None = None, base: str = DEFAULT_BASE
) -> tuple[str, str, str]:
    """The glossary in `fmt`: (body, mimetype, file name)."""
    fmt = FORMAT_ALIASES.get(fmt, fmt)
    if fmt not in MIMETYPES:
        raise ValueError(f"unknown format {fmt!r}")
    items = list(export_terms(session, status=status))
    if fmt == "jsonl":
        body = "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)
    elif fmt == "csv":
        body = to_csv(items)
    else:
        graph = skos_graph(items, base)
        if fmt == "turtle":
            body = graph.serialize(format="turtle")
        else:
            body = graph.serialize(format="json-ld", context=JSONLD_CONTEXT, auto_compact=True)
    return body, MIMETYPES[fmt], f"glossary.{EXTENSIONS[fmt]}"


def _joined(values: Iterable[str]) -> str:
    return "; ".join(values)


def to_csv(items: list[dict]) -> str:
    """One row per term; several labels of a kind joined by "; "."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    for item in items:
        labels = item["labels"]

        def of(*kinds: str, labels: list[dict] = labels) -> str:
            return _joined(lb["text"] for lb in labels if lb["kind"] in kinds)

        first = item["definitions"][0] if item["definitions"] else {}
        writer.writerow(
            {
                "slug": item["slug"],
                "name": item["name"],
                "type": item["type"],
                "status": item.get("status", "published"),
                "parent": item.get("parent") or "",
                "merged_into": item.get("merged_into") or "",
                "wikidata": item.get("wikidata") or "",
                "latitude": item.get("latitude", ""),
                "longitude": item.get("longitude", ""),
                "hangul": of("hangul"),
                "aliases": of("alias"),
                "abbreviations": of("abbreviation"),
                "former_names": of("former"),
                "romanizations": of("romanization"),
                "definition": first.get("text", ""),
                "definition_source": first.get("source", ""),
                "related": _joined(
                    r["target"] for r in item["relations"] if r["kind"] == "related"
                ),
            }
        )
    return out.getvalue()


def skos_graph(items: list[dict], base: str = DEFAULT_BASE) -> Graph:
    """A SKOS concept scheme: one concept per published term, labels with language tags,
    definitions, broader/narrower, related, replaces/isReplacedBy, Wikidata exact matches."""
    base = base.rstrip("/") + "/"
    g = Graph()
    g.bind("skos", SKOS)
    g.bind("dct", DCTERMS)
    g.bind("wd", WIKIDATA)
    scheme = URIRef(base + "terms")
    g.add((scheme, RDF.type, SKOS.ConceptScheme))
    g.add((scheme, DCTERMS.title, Literal("North Korea glossary", lang="en")))
    published = {i["slug"] for i in items if i.get("status", "published") == "published"}

    def concept(slug: str) -> URIRef:
        return URIRef(f"{base}terms/{slug}")

    collections: dict[str, URIRef] = {}
    for item in items:
        if item["slug"] not in published:
            continue
        c = concept(item["slug"])
        g.add((c, RDF.type, SKOS.Concept))
        g.add((c, SKOS.inScheme, scheme))
        g.add((c, SKOS.notation, Literal(item["slug"])))
        g.add((c, SKOS.prefLabel, Literal(item["name"], lang="en")))
        korean_pref = False
        for lb in item["labels"]:
            lang = lb.get("language") or KIND_LANGUAGE.get(lb["kind"], "en")
            if not LANGUAGE_TAG.match(lang):
                lang = KIND_LANGUAGE.get(lb["kind"], "en")
            text = Literal(lb["text"], lang=lang)
            if lb["kind"] == "hidden":
                g.add((c, SKOS.hiddenLabel, text))
            elif lb["kind"] == "hangul" and not korean_pref:
                g.add((c, SKOS.prefLabel, text))
                korean_pref = True
            else:
                g.add((c, SKOS.altLabel, text))
        for d in item["definitions"]:
            g.add((c, SKOS.definition, Literal(d["text"], lang="en")))
            if d.get("source"):
                g.add((c, DCTERMS.source, Literal(d["source"])))
        parent = item.get("parent")
        if parent in published:
            g.add((c, SKOS.broader, concept(parent)))
            g.add((concept(parent), SKOS.narrower, c))
        else:
            g.add((c, SKOS.topConceptOf, scheme))
            g.add((scheme, SKOS.hasTopConcept, c))
        for rel in item["relations"]:
            if rel["target"] not in published:
                continue
            target = concept(rel["target"])
            if rel["kind"] == "related":
                g.add((c, SKOS.related, target))
                g.add((target, SKOS.related, c))
            elif rel["kind"] == "successor":
                g.add((c, DCTERMS.isReplacedBy, target))
                g.add((target, DCTERMS.replaces, c))
            else:
                g.add((c, DCTERMS.replaces, target))
                g.add((target, DCTERMS.isReplacedBy, c))
        if item.get("wikidata"):
            g.add((c, SKOS.exactMatch, WIKIDATA[item["wikidata"]]))
        kind = item["type"]
        if kind not in collections:
            collections[kind] = URIRef(f"{base}terms?type={kind}")
            g.add((collections[kind], RDF.type, SKOS.Collection))
            g.add((collections[kind], SKOS.prefLabel, Literal(PLURALS[kind], lang="en")))
        g.add((collections[kind], SKOS.member, c))
    for item in items:
        if item.get("status") == "merged" and item.get("merged_into") in published:
            old = concept(item["slug"])
            g.add((old, OWL.deprecated, Literal(True)))
            g.add((old, DCTERMS.isReplacedBy, concept(item["merged_into"])))
    return g
