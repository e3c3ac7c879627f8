"""The reconciliation service against the W3C 0.2 JSON Schemas (vendored in
tests/reconciliation_schemas), and the specification's own examples through the same validator."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import pytest
from jsonschema import Draft7Validator
from referencing import Registry
from referencing.jsonschema import DRAFT7

HERE = Path(__file__).resolve().parent / "reconciliation_schemas"
SCHEMAS = HERE / "schemas"
EXAMPLES = HERE / "examples"


@cache
def registry() -> Registry:
    """Every vendored schema under its $id (and its $id without a trailing '#')."""
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        contents = json.loads(path.read_text(encoding="utf-8"))
        resource = DRAFT7.create_resource(contents)
        uri = contents["$id"]
        resources.append((uri, resource))
        if uri.endswith("#"):
            resources.append((uri.rstrip("#"), resource))
    return Registry().with_resources(resources)


@cache
def validator(name: str) -> Draft7Validator:
    """A draft-07 validator for one schema file, resolving $refs through the registry."""
    schema = json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))
    return Draft7Validator(schema, registry=registry())


def assert_valid(name: str, instance: object) -> None:
    errors = sorted(validator(name).iter_errors(instance), key=str)
    assert not errors, "\n".join(e.message for e in errors[:5])


def _examples() -> list[tuple[str, Path, bool]]:
    out = []
    for folder in sorted(EXAMPLES.iterdir()):
        if not (SCHEMAS / f"{folder.name}.json").exists():
            continue  # examples of sub-schemas (metadata, flyout) have no file of their own
        for label in ("valid", "invalid"):
            for path in sorted((folder / label).glob("*.json")):
                out.append((folder.name, path, label == "valid"))
    return out


EXAMPLE_CASES = _examples()


def test_all_labelled_examples_are_found():
    assert len(EXAMPLE_CASES) == 44


@pytest.mark.parametrize(
    ("schema", "path", "valid"),
    EXAMPLE_CASES,
    ids=[f"{s}/{p.parent.name}/{p.name}" for s, p, _v in EXAMPLE_CASES],
)
def test_specification_examples(schema: str, path: Path, valid: bool):
    instance = json.loads(path.read_text(encoding="utf-8"))
    errors = list(validator(schema).iter_errors(instance))
    assert (not errors) == valid, [e.message for e in errors]


# --- the service ------------------------------------------------------------------------------


@pytest.fixture
def indexed(app, runner):
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    return app


def test_manifest(client):
    response = client.get("/reconcile")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    body = response.get_json()
    assert_valid("manifest", body)
    assert body["versions"] == ["0.2"]
    assert [t["id"] for t in body["defaultTypes"]] == ["organization", "place", "policy", "event"]
    assert body["view"]["url"] == "http://localhost/terms/{{id}}"
    assert body["preview"]["url"] == "http://localhost/reconcile/preview?id={{id}}"
    assert set(body) == {
        "versions",
        "name",
        "identifierSpace",
        "schemaSpace",
        "documentation",
        "serviceVersion",
        "defaultTypes",
        "view",
        "preview",
        "suggest",
        "extend",
    }


QUERIES = {
    "q0": {"query": "Pyongyang"},
    "q1": {"query": "MSS", "type": "organization"},
    "q2": {"query": "Cabinett", "limit": 2},
    "q3": {"query": "Pyongyang", "type": "organization"},
    "q4": {"query": "Workers Party of Korea", "type": ["organization", "event"]},
    "q5": {"query": "Pyongyang", "properties": [{"pid": "hangul", "v": "평양"}]},
    "q6": {"query": "Pyongyang", "properties": [{"pid": "parent", "v": {"id": "cabinet"}}]},
    "q7": {"query": "nothing like it at all"},
}


def test_query_batch_by_post_form(client):
    assert_valid("reconciliation-query-batch", QUERIES)
    response = client.post("/reconcile", data={"queries": json.dumps(QUERIES)})
    assert response.status_code == 200
    body = response.get_json()
    assert_valid("reconciliation-result-batch", body)
    assert set(body) == set(QUERIES)
    top = body["q0"]["result"][0]
    assert set(top) == {"id", "name", "description", "score", "match", "type", "features"}
    assert (top["id"], top["score"], top["match"]) == ("pyongyang", 100, True)
    assert top["type"] == [{"id": "place", "name": "Place"}]
    # MSS names two ministries: both offered, neither a match.
    mss = body["q1"]["result"]
    assert {r["id"] for r in mss} == {"ministry-of-social-security", "ministry-of-state-security"}
    assert not any(r["match"] for r in mss)
    assert body["q2"]["result"][0]["id"] == "cabinet"
    assert body["q2"]["result"][0]["match"] is False  # fuzzy: a candidate, never a match
    assert body["q3"]["result"] == []  # the type filter leaves nothing
    assert body["q4"]["result"][0]["id"] == "workers-party-of-korea"
    assert body["q5"]["result"][0]["match"] is True
    assert {"id": "hangul", "value": True} in body["q5"]["result"][0]["features"]
    assert body["q6"]["result"][0]["match"] is False  # the parent disagrees
    assert body["q7"]["result"] == []
    for answer in body.values():
        assert all(0 <= r["score"] <= 100 for r in answer["result"])


def test_query_batch_by_get(client):
    response = client.get("/reconcile", query_string={"queries": json.dumps({"a": QUERIES["q0"]})})
    assert response.status_code == 200
    assert_valid("reconciliation-result-batch", response.get_json())


def test_single_query(client):
    response = client.get("/reconcile", query_string={"query": "Pyongyang"})
    assert response.get_json()["result"][0]["id"] == "pyongyang"


def test_limit_is_respected(client):
    queries = {"a": {"query": "MSS", "limit": 1}}
    body = client.post("/reconcile", data={"queries": json.dumps(queries)}).get_json()
    assert len(body["a"]["result"]) == 1


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"queries": "not json"}, 400),
        ({"queries": "[1, 2]"}, 422),
        ({"queries": json.dumps({"a": {"query": "x", "bogus": 1}})}, 422),
        ({"queries": json.dumps({"a": {"query": "x", "limit": 0}})}, 422),
        ({"queries": json.dumps({"a": {"query": 5}})}, 422),
        ({"extend": "{"}, 400),
        ({"extend": json.dumps({"ids": ["x"]})}, 422),
    ],
)
def test_bad_queries_get_the_error_shape(client, params: dict, status: int):
    response = client.post("/reconcile", data=params)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    assert set(response.get_json()) >= {"type", "title", "status", "detail"}


def test_extend(client):
    query = {
        "ids": ["pyongyang", "ministry-of-social-security", "no-such-term"],
        "properties": [
            {"id": "type"},
            {"id": "hangul"},
            {"id": "definition"},
            {"id": "parent"},
            {"id": "wikidata"},
            {"id": "mention_count"},
        ],
    }
    assert_valid("data-extension-query", query)
    response = client.post("/reconcile", data={"extend": json.dumps(query)})
    assert response.status_code == 200
    body = response.get_json()
    assert_valid("data-extension-response", body)
    assert [m["id"] for m in body["meta"]] == [p["id"] for p in query["properties"]]
    row = body["rows"]["pyongyang"]
    assert row["type"] == [{"id": "place", "name": "Place"}]
    assert row["hangul"] == [{"str": "평양"}]
    assert row["definition"] == [{"str": "Test entry: the capital city."}]
    assert row["parent"] == [
        {
            "id": "democratic-peoples-republic-of-korea",
            "name": "Democratic People's Republic of Korea",
        }
    ]
    assert row["wikidata"] == []
    assert row["mention_count"][0]["int"] >= 1
    assert all(v == [] for v in body["rows"]["no-such-term"].values())


def test_propose_properties(client):
    response = client.get("/reconcile/properties", query_string={"type": "place", "limit": 3})
    body = response.get_json()
    assert_valid("data-extension-property-proposal", body)
    assert [p["id"] for p in body["properties"]] == ["type", "hangul", "definition"]
    assert body["type"] == "place"


def test_suggest_entity(indexed, client):
    response = client.get("/reconcile/suggest/entity", query_string={"prefix": "pyong"})
    body = response.get_json()
    assert_valid("suggest-entities-response", body)
    assert "pyongyang" in [r["id"] for r in body["result"]]
    typed = client.get(
        "/reconcile/suggest/entity", query_string={"prefix": "pyong", "type": "organization"}
    ).get_json()
    assert typed["result"] == []


def test_suggest_type_and_property(client):
    types = client.get("/reconcile/suggest/type", query_string={"prefix": "pl"}).get_json()
    assert_valid("suggest-types-response", types)
    assert types["result"] == [{"id": "place", "name": "Place"}]
    props = client.get("/reconcile/suggest/property", query_string={"prefix": "han"}).get_json()
    assert_valid("suggest-properties-response", props)
    assert [p["id"] for p in props["result"]] == ["hangul"]


def test_preview_escapes_everything(app, client):
    from sqlalchemy import update

    from glossary.models import Definition, Term
    from glossary.store import get_store

    # The store strips markup on the way in; write the payload with SQL as an older store or
    # another tool might have left it.
    with app.app_context(), get_store().write() as session:
        term = session.query(Term).filter_by(slug="juche").one()
        session.execute(
            update(Definition)
            .where(Definition.id == term.definitions[0].id)
            .values(text="<script>alert(1)</script> & more")
        )
    response = client.get("/reconcile/preview", query_string={"id": "juche"})
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; more" in html
    assert "frame-ancestors *" in response.headers["Content-Security-Policy"]


def test_preview_unknown_id(client):
    response = client.get("/reconcile/preview", query_string={"id": "no-such-term"})
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"


def test_preflight_for_post_queries(client):
    response = client.options(
        "/reconcile",
        headers={"Origin": "http://127.0.0.1:3333", "Access-Control-Request-Method": "POST"},
    )
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
