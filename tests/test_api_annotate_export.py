"""POST /api/annotate (spans with code-point offsets) and GET /api/export (JSON Lines, CSV, SKOS
in Turtle and JSON-LD), each against the command line that does the same."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rdflib import SKOS, Graph, Literal, URIRef

SPAN_KEYS = {
    "start",
    "end",
    "surface",
    "term",
    "type",
    "candidate",
    "ambiguous",
    "alternatives",
    "nested",
}


def test_annotate_text(client):
    text = "The WPK met in Pyongyang."
    response = client.post("/api/annotate", json={"text": text})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"article", "length", "spans"}
    assert body["length"] == len(text)
    spans = body["spans"]
    assert set(spans[0]) == SPAN_KEYS
    assert [(s["term"], text[s["start"] : s["end"]]) for s in spans] == [
        ("workers-party-of-korea", "WPK"),
        ("pyongyang", "Pyongyang"),
    ]
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_offsets_are_code_points(client):
    text = "😀🇰🇵 평양에서 and Pyongyang 𝐀."
    spans = client.post("/api/annotate", json={"text": text}).get_json()["spans"]
    assert [text[s["start"] : s["end"]] for s in spans] == ["평양", "Pyongyang"]
    assert spans[1]["start"] == text.index("Pyongyang")


def test_definitions_on_request(client):
    text = "The Cabinet met."
    plain = client.post("/api/annotate", json={"text": text}).get_json()["spans"][0]
    assert "definition" not in plain
    by_query = client.post("/api/annotate?include=definitions", json={"text": text}).get_json()
    assert by_query["spans"][0]["definition"] == "Test entry: the administrative government."
    by_body = client.post("/api/annotate", json={"text": text, "include": ["definitions"]})
    assert by_body.get_json()["spans"][0]["definition"].startswith("Test entry")


def test_options(client):
    text = (
        "Inspectors visited Pyongsong Market in South Pyongan Province. "
        "The National Price Review Office took part, sent by the Central Committee of the WPK."
    )
    default = client.post("/api/annotate", json={"text": text}).get_json()["spans"]
    assert not any(s["candidate"] or s["nested"] for s in default)
    nested = client.post("/api/annotate", json={"text": text, "nested": True}).get_json()["spans"]
    assert any(s["nested"] and s["term"] == "workers-party-of-korea" for s in nested)
    # A city's name inside a market's name is not a mention of its own (a head-less place).
    assert not any(s["nested"] and s["term"] == "pyongsong" for s in nested)
    found = client.post("/api/annotate", json={"text": text, "candidates": True}).get_json()
    candidates = [s for s in found["spans"] if s["candidate"]]
    assert [s["surface"] for s in candidates] == ["National Price Review Office"]
    assert candidates[0]["term"] is None
    places = client.post("/api/annotate", json={"text": text, "types": ["place"]}).get_json()
    assert {s["type"] for s in places["spans"]} == {"place"}


def test_date_picks_the_name_valid_then(client):
    text = "Officers of the MSS patrolled."
    undated = client.post("/api/annotate", json={"text": text}).get_json()["spans"][0]
    assert undated["ambiguous"] is True
    assert set(undated["alternatives"]) == {
        "ministry-of-social-security",
        "ministry-of-state-security",
    }
    # Before June 2020 "MSS" could only be the Ministry of State Security.
    dated = client.post("/api/annotate", json={"text": text, "date": "2015"}).get_json()
    assert dated["spans"][0]["ambiguous"] is False
    assert dated["spans"][0]["term"] == "ministry-of-state-security"


def test_annotate_an_article(client):
    article = client.get("/api/articles").get_json()["items"][0]
    response = client.post("/api/annotate", json={"article": article["id"]})
    body = response.get_json()
    assert body["article"] == article["id"]
    text = client.get(f"/api/articles/{article['id']}").get_json()["text"]
    assert body["length"] == len(text)
    assert all(text[s["start"] : s["end"]] == s["surface"] for s in body["spans"])


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"text": "x", "article": 1}, 422),
        ({"text": 5}, 422),
        ({"text": "x", "types": ["person"]}, 422),
        ({"text": "x", "include": ["everything"]}, 422),
        ({"text": "x", "date": "yesterday"}, 422),
        ({"article": 999999}, 404),
    ],
)
def test_annotate_errors(client, body: dict, status: int):
    response = client.post("/api/annotate", json=body)
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"


def test_annotate_limits(app, client):
    too_long = "a" * (app.config["MAX_ANNOTATE_CHARS"] + 1)
    response = client.post("/api/annotate", json={"text": too_long})
    assert response.status_code == 413
    assert response.mimetype == "application/problem+json"
    response = client.post("/api/annotate", data="text=x", content_type="text/plain")
    assert response.status_code == 415


# --- export -----------------------------------------------------------------------------------


def test_export_jsonl_is_the_import_format(client, runner):
    response = client.get("/api/export?format=jsonl")
    assert response.status_code == 200
    assert response.mimetype == "application/x-ndjson"
    assert response.headers["Content-Disposition"] == 'attachment; filename="glossary.jsonl"'
    lines = [json.loads(line) for line in response.get_data(as_text=True).splitlines()]
    assert len(lines) == 14
    assert set(lines[0]) >= {"slug", "name", "type", "labels", "definitions", "relations"}
    cli = runner.invoke(args=["export", "--format", "jsonl"])
    assert cli.output == response.get_data(as_text=True)


def test_export_csv(client, runner):
    response = client.get("/api/export?format=csv")
    assert response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert len(rows) == 14
    mss = next(r for r in rows if r["slug"] == "ministry-of-social-security")
    assert mss["hangul"] == "사회안전성"
    assert mss["former_names"] == "Ministry of People's Security"
    assert mss["abbreviations"] == "MSS"
    assert mss["parent"] == "cabinet"
    assert mss["related"] == "ministry-of-state-security"
    cli = runner.invoke(args=["export", "--format", "csv"])
    assert cli.output.replace("\r\n", "\n") == response.get_data(as_text=True).replace("\r\n", "\n")


def _concept(slug: str) -> URIRef:
    return URIRef(f"http://localhost/terms/{slug}")


# rdflib's own JSON-LD parser (used here to read the export back) warns about itself.
@pytest.mark.filterwarnings("ignore:ConjunctiveGraph is deprecated:DeprecationWarning")
@pytest.mark.parametrize(
    ("fmt", "mimetype", "parse_as"),
    [("skos", "text/turtle", "turtle"), ("turtle", "text/turtle", "turtle"),
     ("jsonld", "application/ld+json", "json-ld")],
)  # fmt: skip
def test_export_skos(client, fmt: str, mimetype: str, parse_as: str):
    response = client.get(f"/api/export?format={fmt}")
    assert response.mimetype == mimetype
    g = Graph().parse(data=response.get_data(as_text=True), format=parse_as)
    mss = _concept("ministry-of-social-security")
    assert (mss, SKOS.prefLabel, Literal("Ministry of Social Security", lang="en")) in g
    assert (mss, SKOS.prefLabel, Literal("사회안전성", lang="ko")) in g
    assert (mss, SKOS.altLabel, Literal("MSS", lang="en")) in g
    assert (mss, SKOS.broader, _concept("cabinet")) in g
    assert (_concept("cabinet"), SKOS.narrower, mss) in g
    assert (mss, SKOS.related, _concept("ministry-of-state-security")) in g
    assert (mss, SKOS.definition, Literal("Test entry: the police ministry.", lang="en")) in g
    pyongyang = _concept("pyongyang")
    assert (pyongyang, SKOS.altLabel, Literal("P'yŏngyang", lang="en")) in g or (
        pyongyang,
        SKOS.altLabel,
        Literal("P'yŏngyang", lang="ko-Latn"),
    ) in g


def test_export_cli_skos(runner, tmp_path):
    out = tmp_path / "glossary.ttl"
    result = runner.invoke(
        args=["export", "--format", "skos", "--base", "https://glossary.example/", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    g = Graph().parse(out, format="turtle")
    concept = URIRef("https://glossary.example/terms/juche")
    assert (concept, SKOS.prefLabel, Literal("Juche", lang="en")) in g


def test_export_errors(client):
    response = client.get("/api/export?format=xml")
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"


def test_export_has_an_etag(client):
    first = client.get("/api/export?format=csv")
    again = client.get("/api/export?format=csv", headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304
