"""The JSON API's reads through HTTP: exact keys, pagination, ETag and 304, caching, CORS,
redirects of merged slugs, and the errors of each."""

from __future__ import annotations

import pytest

from glossary.models import Term
from glossary.store import get_store

TERM_KEYS = {
    "id",
    "slug",
    "name",
    "type",
    "status",
    "wikidata",
    "latitude",
    "longitude",
    "created_at",
    "updated_at",
    "definition",
    "labels",
    "definitions",
    "parent",
    "ancestors",
    "children",
    "related",
    "predecessors",
    "successors",
    "merged_from",
    "mentions",
}
PAGE_KEYS = {"items", "page", "per_page", "total", "pages", "next", "prev"}
LABEL_KEYS = {
    "id",
    "text",
    "kind",
    "language",
    "romanization",
    "valid_from",
    "valid_to",
    "case_sensitive",
    "ambiguous",
}


@pytest.fixture
def indexed(app, runner):
    """The app with both search indexes built."""
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    return app


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) - {"errors"} == {"type", "title", "status", "detail"}
    assert body["status"] == status
    return body


def test_term_detail(client):
    response = client.get("/api/terms/ministry-of-social-security")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == TERM_KEYS
    assert body["parent"] == {"slug": "cabinet", "name": "Cabinet", "type": "organization"}
    assert body["ancestors"] == [body["parent"]]
    assert set(body["labels"]) == {"preferred", "abbreviation", "former", "hangul"}
    former = body["labels"]["former"][0]
    assert set(former) == LABEL_KEYS
    assert (former["text"], former["valid_to"]) == ("Ministry of People's Security", "2020-05-31")
    assert body["labels"]["hangul"][0]["language"] == "ko"
    assert set(body["definitions"][0]) == {
        "id",
        "text",
        "source",
        "author",
        "as_of",
        "primary",
        "created_at",
    }
    assert body["definitions"][0]["source"] == "test fixture"
    assert [r["slug"] for r in body["related"]] == ["ministry-of-state-security"]
    assert set(body["related"][0]) == {"slug", "name", "type", "date", "relation_id"}
    assert set(body["mentions"]) == {"count", "articles", "first_seen", "last_seen"}
    assert body["mentions"]["count"] >= 2
    assert body["mentions"]["first_seen"] == "2015-07-01"
    assert body["mentions"]["last_seen"] == "2021-03-05"


def test_related_is_read_from_both_ends(client):
    body = client.get("/api/terms/ministry-of-state-security").get_json()
    assert [r["slug"] for r in body["related"]] == ["ministry-of-social-security"]


def test_children(client):
    body = client.get("/api/terms/cabinet").get_json()
    assert [c["slug"] for c in body["children"]] == ["ministry-of-social-security"]


def test_term_etag_and_304(client):
    first = client.get("/api/terms/cabinet")
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "public, max-age=60"
    again = client.get("/api/terms/cabinet", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.get_data() == b""
    assert again.headers["ETag"] == etag


def test_every_read_has_an_etag(client):
    for url in ("/api/terms", "/api/articles", "/api/candidates", "/api/changes"):
        response = client.get(url)
        assert response.headers["ETag"], url
        assert (
            client.get(url, headers={"If-None-Match": response.headers["ETag"]}).status_code == 304
        )


def test_merged_slug_redirects(app, client):
    with app.app_context(), get_store().write() as session:
        old = session.query(Term).filter_by(slug="juche").one()
        new = session.query(Term).filter_by(slug="cabinet").one()
        old.status, old.merged_into_id = "merged", new.id
    response = client.get("/api/terms/juche")
    assert response.status_code == 301
    assert response.headers["Location"] == "/api/terms/cabinet"
    articles = client.get("/api/terms/juche/articles?page=1")
    assert articles.status_code == 301
    assert articles.headers["Location"] == "/api/terms/cabinet/articles?page=1"
    assert "juche" in client.get("/api/terms/cabinet").get_json()["merged_from"]


def test_unknown_term(client):
    body = assert_problem(client.get("/api/terms/no-such-term"), 404)
    assert "no-such-term" in body["detail"]
    assert_problem(client.get("/api/terms/no-such-term/articles"), 404)


def test_term_list(client):
    response = client.get("/api/terms?type=place&per_page=2")
    body = response.get_json()
    assert set(body) == PAGE_KEYS
    assert body["total"] == 5 and body["pages"] == 3 and len(body["items"]) == 2
    assert set(body["items"][0]) == {
        "slug",
        "name",
        "type",
        "status",
        "parent",
        "definition",
        "mention_count",
    }
    assert body["next"] == "http://localhost/api/terms?type=place&per_page=2&page=2"
    assert body["prev"] is None
    link = response.headers["Link"]
    assert '<http://localhost/api/terms?type=place&per_page=2&page=2>; rel="next"' in link
    assert 'rel="last"' in link and 'rel="first"' in link
    last = client.get(body["next"].replace("page=2", "page=3")).get_json()
    assert last["next"] is None and last["prev"].endswith("page=2")


@pytest.mark.parametrize(
    ("query", "slugs"),
    [
        ("parent=cabinet", ["ministry-of-social-security"]),
        ("letter=j", ["juche"]),
        ("type=event", ["day-of-the-sun", "eighth-congress-of-the-workers-party-of-korea"]),
        ("status=merged", []),
    ],
)
def test_term_list_filters(client, query: str, slugs: list[str]):
    body = client.get(f"/api/terms?{query}").get_json()
    assert [t["slug"] for t in body["items"]] == slugs


@pytest.mark.parametrize(
    "query",
    ["type=person", "per_page=0", "per_page=201", "page=0", "page=x", "letter=ab", "status=x"],
)
def test_term_list_bad_arguments(client, query: str):
    body = assert_problem(client.get(f"/api/terms?{query}"), 422)
    assert body["errors"]["query"]


def test_citing_articles(client):
    response = client.get("/api/terms/pyongyang/articles")
    body = response.get_json()
    assert set(body) == PAGE_KEYS
    dates = [a["published"] for a in body["items"]]
    assert dates == sorted(dates, reverse=True)
    article = body["items"][0]
    assert set(article) == {"id", "title", "url", "source", "published", "mentions"}
    mention = article["mentions"][0]
    assert set(mention) == {
        "start",
        "end",
        "surface",
        "sentence",
        "sentence_start",
        "offset",
        "length",
    }
    assert (
        mention["sentence"][mention["offset"] : mention["offset"] + mention["length"]]
        == (mention["surface"])
    )
    detail = client.get(f"/api/articles/{article['id']}").get_json()
    assert detail["text"][mention["start"] : mention["end"]] == mention["surface"]
    assert mention["sentence_start"] + mention["offset"] == mention["start"]


def test_citing_articles_pages(client):
    body = client.get("/api/terms/pyongyang/articles?per_page=1").get_json()
    assert body["total"] == 2 and len(body["items"]) == 1 and body["next"]


def test_article_list_and_detail(client):
    body = client.get("/api/articles").get_json()
    assert set(body) == PAGE_KEYS
    assert body["total"] == 3
    assert set(body["items"][0]) == {"id", "title", "url", "source", "published", "mention_count"}
    assert [a["published"] for a in body["items"]] == ["2021-03-05", "2019-04-15", "2015-07-01"]
    cited = client.get("/api/articles?term=cabinet").get_json()
    assert [a["title"] for a in cited["items"]] == ["Inspectors visit Pyongsong Market"]
    detail = client.get(f"/api/articles/{body['items'][0]['id']}").get_json()
    assert set(detail) == {
        "id",
        "title",
        "url",
        "source",
        "published",
        "external_id",
        "language",
        "ingested_at",
        "updated_at",
        "text",
        "mentions",
    }
    mention = detail["mentions"][0]
    assert set(mention) == {
        "start",
        "end",
        "surface",
        "term",
        "name",
        "type",
        "candidate",
        "ambiguous",
        "nested",
    }
    for m in detail["mentions"]:
        assert detail["text"][m["start"] : m["end"]] == m["surface"]


def test_unknown_article(client):
    assert_problem(client.get("/api/articles/999999"), 404)
    assert_problem(client.get("/api/articles/abc"), 404)


def test_search(indexed, client):
    response = client.get("/api/search?q=pyongyang")
    body = response.get_json()
    assert set(body) == PAGE_KEYS | {"facets", "did_you_mean"}
    assert body["items"][0]["slug"] == "pyongyang"
    assert set(body["items"][0]) == {
        "slug",
        "name",
        "type",
        "score",
        "matched_label",
        "label_kind",
        "label_note",
        "snippet_html",
        "mention_count",
        "hangul",
    }
    assert response.headers["Link"]
    typed = client.get("/api/search?q=pyongyang&type=organization").get_json()
    assert all(hit["type"] == "organization" for hit in typed["items"])


def test_search_bad_arguments(client):
    assert_problem(client.get("/api/search?q=x&type=bogus"), 422)
    assert_problem(client.get("/api/search?q=x&per_page=1000"), 422)


def test_suggest(indexed, client):
    body = client.get("/api/suggest?q=pyong").get_json()
    assert set(body) == {"items"}
    assert "pyongyang" in [s["slug"] for s in body["items"]]
    assert set(body["items"][0]) == {"slug", "name", "type", "label", "label_kind"}
    assert_problem(client.get("/api/suggest"), 422)
    assert_problem(client.get("/api/suggest?q=py&limit=51"), 422)


def test_article_search(indexed, client):
    body = client.get("/api/articles/search?q=market").get_json()
    assert set(body) == PAGE_KEYS | {"facets", "partial", "total_exact"}
    assert body["total_exact"] is True and body["facets"]["approximate"] is False
    assert body["items"][0]["title"] == "Inspectors visit Pyongsong Market"
    assert set(body["items"][0]) == {"id", "title", "source", "published", "score", "snippet_html"}
    filtered = client.get("/api/articles/search?q=&terms=cabinet").get_json()
    assert [a["title"] for a in filtered["items"]] == ["Inspectors visit Pyongsong Market"]
    assert_problem(client.get("/api/articles/search?date_from=yesterday"), 422)
    assert_problem(client.get("/api/articles/search?sort=random"), 422)


def test_article_search_says_when_its_total_is_estimated(
    indexed, client, runner, monkeypatch, tmp_path
):
    """A phrase with more candidates than are checked one by one has its total estimated."""
    from glossary import search

    folder = tmp_path / "customs"
    folder.mkdir()
    for n in (1, 2, 3):
        (folder / f"customs-{n}.md").write_text(
            f"---\ntitle: Customs report {n}\ndate: 2023-0{n}-01\n---\n"
            f"Trucks waited at the Sinuiju customs office for the {n}th day.\n",
            encoding="utf-8",
        )
    result = runner.invoke(args=["ingest", str(folder)])
    assert result.exit_code == 0, result.output
    phrase = '/api/articles/search?q="customs+office"'
    exact = client.get(phrase).get_json()
    assert (exact["total"], exact["total_exact"]) == (3, True)
    assert exact["facets"]["approximate"] is False
    monkeypatch.setattr(search, "PHRASE_CHECKS", 1)
    estimated = client.get(phrase + "+-zzz").get_json()  # another query: not the one kept
    assert estimated["total_exact"] is False and estimated["facets"]["approximate"] is True
    assert len(estimated["items"]) == 3  # the page itself is checked, not estimated


def test_candidates(client):
    response = client.get("/api/candidates")
    body = response.get_json()
    assert set(body) == PAGE_KEYS
    assert response.headers["Cache-Control"] == "no-cache"
    names = [c["name"] for c in body["items"]]
    assert "National Price Review Office" in names
    candidate = body["items"][names.index("National Price Review Office")]
    assert set(candidate) == {
        "id",
        "name",
        "type",
        "status",
        "confidence",
        "count",
        "first_seen",
        "last_seen",
        "draft_definition",
        "term",
        "contexts",
    }
    context = candidate["contexts"][0]
    assert "National Price Review Office" in context["sentence"]
    assert set(context) == {
        "article",
        "title",
        "start",
        "end",
        "surface",
        "sentence",
        "sentence_start",
        "offset",
        "length",
    }
    one = client.get(f"/api/candidates/{candidate['id']}").get_json()
    assert one["name"] == "National Price Review Office"
    assert_problem(client.get("/api/candidates/999999"), 404)
    assert_problem(client.get("/api/candidates?status=bogus"), 422)


def test_change_feed(client):
    first = client.get("/api/changes?limit=2")
    body = first.get_json()
    assert set(body) == {"items", "since", "next", "more", "next_url"}
    assert set(body["items"][0]) == {"seq", "entity", "id", "op", "summary", "actor", "at"}
    assert [c["seq"] for c in body["items"]] == [1, 2]
    assert body["more"] is True and body["next"] == 2
    assert first.headers["Link"] == f'<{body["next_url"]}>; rel="next"'
    rest = client.get(f"/api/changes?since={body['next']}&limit=1000").get_json()
    assert rest["items"][0]["seq"] == 3 and rest["more"] is False and rest["next_url"] is None
    done = client.get(f"/api/changes?since={rest['next']}").get_json()
    assert done["items"] == [] and done["next"] == rest["next"]
    assert_problem(client.get("/api/changes?since=-1"), 422)
    assert_problem(client.get("/api/changes?limit=5000"), 422)


def test_cors_on_reads(client):
    response = client.get("/api/terms/cabinet", headers={"Origin": "https://example.org"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]


def test_cors_preflight(client):
    headers = {"Origin": "https://example.org", "Access-Control-Request-Method": "GET"}
    response = client.options("/api/terms/cabinet", headers=headers)
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    post = client.options(
        "/api/lookup", headers={**headers, "Access-Control-Request-Method": "POST"}
    )
    assert post.headers["Access-Control-Allow-Origin"] == "*"
    assert "POST" in post.headers["Access-Control-Allow-Methods"]


def test_no_cors_for_writes(client):
    headers = {"Origin": "https://example.org", "Access-Control-Request-Method": "DELETE"}
    response = client.options("/api/terms/cabinet", headers=headers)
    assert "Access-Control-Allow-Origin" not in response.headers
    unauthorized = client.delete("/api/terms/cabinet", headers={"Origin": "https://example.org"})
    assert "Access-Control-Allow-Origin" not in unauthorized.headers


def test_openapi_document(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    for path in (
        "/api/search",
        "/api/suggest",
        "/api/terms",
        "/api/terms/{slug}",
        "/api/terms/{slug}/articles",
        "/api/articles",
        "/api/articles/{article_id}",
        "/api/articles/search",
        "/api/candidates",
        "/api/changes",
        "/api/lookup",
        "/api/annotate",
        "/api/export",
    ):
        assert path in paths, path
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    not_found = doc["components"]["responses"]["NOT_FOUND"]
    assert "application/problem+json" in not_found["content"]


def test_head_is_answered_like_get(client):
    response = client.head("/api/terms/cabinet")
    assert response.status_code == 200
    assert response.headers["ETag"]


# --- the hot reads send their answers without dumping them again ------------------------------


@pytest.mark.parametrize(
    ("path", "schema"),
    [
        ("/api/search?q=pyongyang", "search_page"),
        ("/api/search?q=ministry+security&per_page=2&page=2", "search_page"),
        ("/api/search?q=Pyongyang&type=organization", "search_page"),
        ("/api/search?q=pyongyng", "search_page"),  # a typo: did_you_mean
        ("/api/search?q=", "search_page"),
        ("/api/suggest?q=py", "suggest_response"),
        ("/api/suggest?q=ministry&limit=2&type=organization", "suggest_response"),
        ("/api/lookup?name=MSS", "lookup_result"),
        ("/api/lookup?name=Pyongyang&type=place&limit=1", "lookup_result"),
        ("/api/lookup?name=nothing+at+all", "lookup_result"),
    ],
)
def test_hot_reads_answer_what_their_schema_dumps(indexed, client, path: str, schema: str):
    """Search, suggest and lookup send bodies built in their response schema's shape; each is
    exactly what the schema dumps (same keys, same order, so the same bytes and ETag)."""
    from glossary import api

    response = client.get(path)
    assert response.status_code == 200
    dumped = getattr(api, schema).dump(response.get_json())
    assert response.get_data() == indexed.json.response(dumped).get_data()


def test_post_lookup_answers_what_its_schema_dumps(app, client):
    from glossary import api

    names = ["Pyongyang", "MSS", "Ministry of Peoples Security", "Cabinett", "nothing"]
    response = client.post("/api/lookup", json={"names": names})
    dumped = api.lookup_response.dump(response.get_json())
    assert response.get_data() == app.json.response(dumped).get_data()
    assert dumped["results"][1]["alternatives"]  # nested hits are compared too
