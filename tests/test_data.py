"""The starter glossary's data checked as the import checks it, and more: unique and stable slugs,
references that resolve, a definition with a source on every term, one term per label."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import func, select

from glossary.models import Term
from glossary.store import get_store
from glossary.terms import load_term_files, starter_files
from glossary.text import fold

SLUGS = Path(__file__).resolve().parent / "data" / "starter_slugs.txt"


@pytest.fixture(scope="module")
def starter() -> list[dict]:
    terms, errors = load_term_files(starter_files())
    assert errors == []
    return terms


def test_every_file_passes_the_import_schema(starter):
    assert len(starter) >= 1000
    counts = defaultdict(int)
    for term in starter:
        counts[term["type"]] += 1
    assert set(counts) == {"organization", "place", "policy", "event"}
    assert min(counts.values()) >= 100


def test_slugs_are_unique_and_none_ever_disappears(starter):
    slugs = [t["slug"] for t in starter]
    assert len(slugs) == len(set(slugs))
    published = set(SLUGS.read_text().split())
    missing = published - set(slugs)
    assert not missing, f"slugs are stable: these were published and are gone: {sorted(missing)}"


def test_parents_and_relations_resolve(starter):
    slugs = {t["slug"] for t in starter}
    for term in starter:
        assert term["parent"] is None or term["parent"] in slugs, term["slug"]
        for relation in term["relations"]:
            assert relation["target"] in slugs, (term["slug"], relation["target"])


def test_every_term_has_a_definition_with_a_source(starter):
    for term in starter:
        assert term["definitions"], term["slug"]
        for definition in term["definitions"]:
            assert definition["text"].strip() and definition["source"], term["slug"]


def test_each_label_belongs_to_one_term_unless_marked_ambiguous(starter):
    owners: dict[str, set[str]] = defaultdict(set)
    ambiguous: set[str] = set()
    for term in starter:
        texts = [(term["name"], False)] + [(lb["text"], lb["ambiguous"]) for lb in term["labels"]]
        for text, marked in texts:
            key = text if len(text) <= 5 and text.isupper() else fold(text)
            owners[key].add(term["slug"])
            if marked:
                ambiguous.add(key)
    shared = {k: v for k, v in owners.items() if len(v) > 1 and k not in ambiguous}
    assert not shared, json.dumps({k: sorted(v) for k, v in list(shared.items())[:20]})


def test_make_run_loads_the_starter_glossary_into_an_empty_store(tmp_path, database_url):
    from glossary import create_app
    from tests.conftest import app_config

    config = app_config(tmp_path, database_url) | {"LOAD_STARTER": True, "LOAD_SAMPLES": True}
    app = create_app(config)
    result = app.test_cli_runner().invoke(args=["init"])
    assert result.exit_code == 0, result.output
    assert "terms loaded" in result.output and "sample articles" in result.output
    with get_store(app).read() as session:
        assert session.scalar(select(func.count(Term.id)).where(Term.status == "published")) >= 1000
    health = app.test_client().get("/healthz").get_json()
    assert health["terms"] >= 1000 and health["articles"] >= 10
    app.extensions["glossary.store"].dispose()
