"""The JSON API's writes through HTTP: tokens and roles, If-Match, terms, labels, definitions,
relations, merges, articles and the candidate queue; each write re-matches and re-indexes."""

from __future__ import annotations

import io
import json

import pytest

from glossary import auth
from glossary.store import get_store


@pytest.fixture
def indexed(app, runner):
    result = runner.invoke(args=["reindex"])
    assert result.exit_code == 0, result.output
    return app


@pytest.fixture
def tokens(app) -> dict[str, dict]:
    """Authorization headers for an editor and an admin."""
    with app.app_context(), get_store().write() as session:
        _t, editor = auth.create_token(session, "ed", "editor")
        _t, admin = auth.create_token(session, "ad", "admin")
    return {
        "editor": {"Authorization": f"Bearer {editor}"},
        "admin": {"Authorization": f"Bearer {admin}"},
    }


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert set(body) - {"errors"} == {"type", "title", "status", "detail"}
    return body


def mentions_of(client, slug: str) -> int:
    return client.get(f"/api/terms/{slug}").get_json()["mentions"]["count"]


NEW_TERM = {
    "name": "National Price Review Office",
    "type": "organization",
    "parent": "cabinet",
    "labels": [{"text": "국가가격심의국", "kind": "hangul", "language": "ko"}],
    "definitions": [{"text": "Test entry: sets prices.", "source": "test"}],
    "relations": [{"kind": "related", "target": "ministry-of-social-security"}],
}


# --- tokens -----------------------------------------------------------------------------------


def test_writes_need_a_token(client):
    body = assert_problem(client.post("/api/terms", json=NEW_TERM), 401)
    assert "token" in body["detail"]
    response = client.post("/api/terms", json=NEW_TERM)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    ["Bearer glos_wrong", "Bearer ", "Basic dXNlcjpwYXNz", "glos_x", "Bearer " + "x" * 500],
)
def test_bad_tokens_are_refused(client, header: str):
    assert_problem(client.post("/api/terms", json=NEW_TERM, headers={"Authorization": header}), 401)


def test_revoked_token_is_refused(app, client, tokens):
    with app.app_context(), get_store().write() as session:
        auth.revoke_token(session, 1)
    assert_problem(client.post("/api/terms", json=NEW_TERM, headers=tokens["editor"]), 401)


def test_tokens_are_stored_hashed(app, tokens):
    from glossary.models import Token

    plain = tokens["editor"]["Authorization"].split()[1]
    with app.app_context(), get_store().read() as session:
        digests = [t.digest for t in session.query(Token)]
    assert plain not in digests and auth.digest(plain) in digests


# --- terms ------------------------------------------------------------------------------------


def test_create_term(indexed, client, tokens):
    response = client.post("/api/terms", json=NEW_TERM, headers=tokens["editor"])
    assert response.status_code == 201
    assert response.headers["Location"] == "/api/terms/national-price-review-office"
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert set(body) == {"term"}
    term = body["term"]
    assert term["slug"] == "national-price-review-office"
    assert term["parent"]["slug"] == "cabinet"
    assert term["labels"]["hangul"][0]["text"] == "국가가격심의국"
    assert term["related"][0]["slug"] == "ministry-of-social-security"
    assert response.headers["ETag"] == client.get(response.headers["Location"]).headers["ETag"]
    # The market article names it: re-matched in the same write, and the index is in step.
    assert term["mentions"]["count"] == 1
    hits = client.get("/api/search?q=price review office").get_json()["items"]
    assert hits[0]["slug"] == "national-price-review-office"
    changes = client.get("/api/changes?since=0&limit=1000").get_json()["items"]
    made = [c for c in changes if c["summary"] == "national-price-review-office"]
    assert [(c["entity"], c["op"], c["actor"]) for c in made] == [("term", "create", "token:ed")]


def test_create_term_errors(client, tokens):
    editor = tokens["editor"]
    body = assert_problem(
        client.post("/api/terms", json={**NEW_TERM, "slug": "cabinet"}, headers=editor), 409
    )
    assert "cabinet" in body["detail"]
    body = assert_problem(
        client.post("/api/terms", json={**NEW_TERM, "parent": "nope"}, headers=editor), 422
    )
    assert body["errors"] == {"json": {"parent": ["No term 'nope'."]}}
    body = assert_problem(
        client.post("/api/terms", json={**NEW_TERM, "colour": "red"}, headers=editor), 422
    )
    assert body["errors"]["json"] == {"colour": ["Unknown field."]}
    body = assert_problem(client.post("/api/terms", json={"name": "X"}, headers=editor), 422)
    assert body["errors"]["json"] == {"type": ["Missing data for required field."]}
    assert_problem(client.post("/api/terms", json={**NEW_TERM, "name": "   "}, headers=editor), 422)
    assert_problem(
        client.post(
            "/api/terms",
            json={**NEW_TERM, "relations": [{"kind": "related", "target": "nope"}]},
            headers=editor,
        ),
        422,
    )


def test_wrong_content_type(client, tokens):
    response = client.post(
        "/api/terms", data="name=x", content_type="text/plain", headers=tokens["editor"]
    )
    assert_problem(response, 415)


def test_invalid_json(client, tokens):
    response = client.post(
        "/api/terms", data="{not json", content_type="application/json", headers=tokens["editor"]
    )
    assert_problem(response, 400)


def test_oversized_body(client, tokens):
    body = json.dumps({"name": "x" * (5 * 2**20), "type": "place"})
    response = client.post(
        "/api/terms", data=body, content_type="application/json", headers=tokens["editor"]
    )
    assert_problem(response, 413)


def test_update_term_with_if_match(client, tokens):
    etag = client.get("/api/terms/juche").headers["ETag"]
    response = client.patch(
        "/api/terms/juche",
        json={"name": "Juche Idea", "wikidata": "Q211496"},
        headers={**tokens["editor"], "If-Match": etag},
    )
    assert response.status_code == 200
    term = response.get_json()["term"]
    assert (term["name"], term["wikidata"]) == ("Juche Idea", "Q211496")
    assert term["labels"]["preferred"][0]["text"] == "Juche Idea"
    assert response.headers["ETag"] != etag
    stale = client.patch(
        "/api/terms/juche", json={"name": "Juche"}, headers={**tokens["editor"], "If-Match": etag}
    )
    body = assert_problem(stale, 412)
    assert "changed" in body["detail"]
    fresh = client.patch(
        "/api/terms/juche",
        json={"name": "Juche"},
        headers={**tokens["editor"], "If-Match": response.headers["ETag"]},
    )
    assert fresh.status_code == 200


def test_new_mentions_change_the_etag_but_do_not_make_an_edit_stale(client, tokens):
    etag = client.get("/api/terms/juche").headers["ETag"]
    article = {"text": "A new test article on Juche.", "title": "Juche", "external_id": "etag-1"}
    assert client.post("/api/articles", json=article, headers=tokens["editor"]).status_code == 201
    after = client.get("/api/terms/juche").headers["ETag"]
    assert after != etag  # caches see the new mention count
    response = client.patch(
        "/api/terms/juche",
        json={"wikidata": "Q211496"},
        headers={**tokens["editor"], "If-Match": etag},
    )
    assert response.status_code == 200, response.get_data(as_text=True)


def test_update_term_errors(client, tokens):
    editor = tokens["editor"]
    assert_problem(client.patch("/api/terms/nope", json={"name": "x"}, headers=editor), 404)
    assert_problem(client.patch("/api/terms/juche", json={"name": " "}, headers=editor), 422)
    # An empty change changes nothing and logs nothing.
    seq = client.get("/api/changes?limit=1000").get_json()["next"]
    assert client.patch("/api/terms/juche", json={}, headers=editor).status_code == 200
    assert client.get("/api/changes?limit=1000").get_json()["next"] == seq
    assert_problem(client.patch("/api/terms/juche", json={"type": "person"}, headers=editor), 422)
    assert_problem(client.patch("/api/terms/juche", json={"wikidata": "P31"}, headers=editor), 422)
    # A parent under its own child would make a cycle.
    body = assert_problem(
        client.patch(
            "/api/terms/cabinet", json={"parent": "ministry-of-social-security"}, headers=editor
        ),
        422,
    )
    assert body["errors"] == {"json": {"parent": ["Makes a cycle."]}}


def test_rename_rematches_articles(client, tokens):
    response = client.patch(
        "/api/terms/day-of-the-sun", json={"name": "Day of the Sunshine"}, headers=tokens["editor"]
    )
    # The old English name is no longer a label; the Hangul label still matches.
    assert response.get_json()["term"]["mentions"]["count"] == 1


def test_delete_term_needs_admin(client, tokens):
    assert_problem(client.delete("/api/terms/juche", headers=tokens["editor"]), 403)
    response = client.delete("/api/terms/juche", headers=tokens["admin"])
    assert response.status_code == 204
    assert_problem(client.get("/api/terms/juche"), 404)
    assert_problem(client.delete("/api/terms/juche", headers=tokens["admin"]), 404)
    history = client.get("/api/articles?term=juche").get_json()
    assert history["items"] == []


def test_delete_term_with_stale_etag(client, tokens):
    response = client.delete("/api/terms/juche", headers={**tokens["admin"], "If-Match": '"stale"'})
    assert_problem(response, 412)


# --- labels, definitions, relations -----------------------------------------------------------


def test_labels(client, tokens):
    editor = tokens["editor"]
    assert mentions_of(client, "cabinet") == 1
    response = client.post(
        "/api/terms/cabinet/labels",
        json={"text": "National Price Review Office", "kind": "alias"},
        headers=editor,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"term", "id"}
    label_id = body["id"]
    assert body["term"]["mentions"]["count"] == 2  # the market article, re-matched
    assert_problem(
        client.post(
            "/api/terms/cabinet/labels",
            json={"text": "National Price Review Office", "kind": "alias"},
            headers=editor,
        ),
        409,
    )
    changed = client.patch(
        f"/api/terms/cabinet/labels/{label_id}",
        json={"kind": "former", "valid_to": "2019"},
        headers=editor,
    ).get_json()["term"]
    assert changed["labels"]["former"][0]["valid_to"] == "2019"
    response = client.delete(f"/api/terms/cabinet/labels/{label_id}", headers=editor)
    assert response.status_code == 200
    assert response.get_json()["term"]["mentions"]["count"] == 1
    assert_problem(client.delete(f"/api/terms/cabinet/labels/{label_id}", headers=editor), 404)
    preferred = client.get("/api/terms/cabinet").get_json()["labels"]["preferred"][0]["id"]
    assert_problem(client.delete(f"/api/terms/cabinet/labels/{preferred}", headers=editor), 409)
    assert_problem(
        client.post(
            "/api/terms/cabinet/labels", json={"text": "x", "kind": "bogus"}, headers=editor
        ),
        422,
    )
    assert_problem(
        client.post(
            "/api/terms/cabinet/labels", json={"text": "x", "kind": "preferred"}, headers=editor
        ),
        422,
    )


def test_definitions(client, tokens):
    editor = tokens["editor"]
    response = client.post(
        "/api/terms/juche/definitions",
        json={"text": "Test entry: a second view.", "source": "a book", "primary": True},
        headers=editor,
    )
    assert response.status_code == 201
    body = response.get_json()
    new_id = body["id"]
    assert body["term"]["definition"] == "Test entry: a second view."
    assert [d["primary"] for d in body["term"]["definitions"]] == [False, True]
    first = body["term"]["definitions"][0]["id"]
    updated = client.patch(
        f"/api/terms/juche/definitions/{first}",
        json={"primary": True, "as_of": 2024},
        headers=editor,
    ).get_json()["term"]
    assert updated["definition"] == "Test entry: the official ideology."
    assert updated["definitions"][0]["as_of"] == 2024
    after = client.delete(f"/api/terms/juche/definitions/{first}", headers=editor).get_json()
    assert [d["id"] for d in after["term"]["definitions"]] == [new_id]
    assert after["term"]["definitions"][0]["primary"] is True
    assert_problem(client.delete(f"/api/terms/juche/definitions/{first}", headers=editor), 404)
    assert_problem(client.post("/api/terms/juche/definitions", json={}, headers=editor), 422)


def test_relations(client, tokens):
    editor = tokens["editor"]
    response = client.post(
        "/api/terms/ministry-of-state-security/relations",
        json={"kind": "successor", "target": "ministry-of-social-security", "date": "2020"},
        headers=editor,
    )
    assert response.status_code == 201
    relation_id = response.get_json()["id"]
    successors = response.get_json()["term"]["successors"]
    assert [(r["slug"], r["date"]) for r in successors] == [("ministry-of-social-security", "2020")]
    other = client.get("/api/terms/ministry-of-social-security").get_json()
    assert [r["slug"] for r in other["predecessors"]] == ["ministry-of-state-security"]
    assert_problem(
        client.post(
            "/api/terms/ministry-of-state-security/relations",
            json={"kind": "successor", "target": "ministry-of-social-security"},
            headers=editor,
        ),
        409,
    )
    assert_problem(
        client.post(
            "/api/terms/juche/relations",
            json={"kind": "related", "target": "juche"},
            headers=editor,
        ),
        422,
    )
    # Removed from the other end.
    response = client.delete(
        f"/api/terms/ministry-of-social-security/relations/{relation_id}", headers=editor
    )
    assert response.get_json()["term"]["predecessors"] == []
    assert_problem(client.delete(f"/api/terms/juche/relations/{relation_id}", headers=editor), 404)


# --- merge ------------------------------------------------------------------------------------


def test_merge(client, tokens):
    source, target = "ministry-of-state-security", "ministry-of-social-security"
    assert_problem(
        client.post(f"/api/terms/{source}/merge", json={"into": target}, headers=tokens["editor"]),
        403,
    )
    before = mentions_of(client, source) + mentions_of(client, target)
    response = client.post(
        f"/api/terms/{source}/merge", json={"into": target}, headers=tokens["admin"]
    )
    assert response.status_code == 200
    term = response.get_json()["term"]
    assert term["slug"] == target
    assert source in term["merged_from"]
    aliases = [lb["text"] for lb in term["labels"]["alias"]]
    assert "Ministry of State Security" in aliases
    assert "State Security Department" in [lb["text"] for lb in term["labels"]["former"]]
    assert term["mentions"]["count"] >= before
    redirect = client.get(f"/api/terms/{source}")
    assert redirect.status_code == 301 and redirect.headers["Location"] == f"/api/terms/{target}"
    terms = client.get("/api/terms?status=merged").get_json()["items"]
    assert [t["slug"] for t in terms] == [source]
    assert_problem(
        client.post(f"/api/terms/{target}/merge", json={"into": target}, headers=tokens["admin"]),
        422,
    )
    assert_problem(
        client.post(f"/api/terms/{target}/merge", json={"into": "nope"}, headers=tokens["admin"]),
        422,
    )
    assert_problem(
        client.post(f"/api/terms/{source}/merge", json={"into": "juche"}, headers=tokens["admin"]),
        409,
    )


# --- articles ---------------------------------------------------------------------------------

ARTICLE = {
    "title": "A visit to Pyongsong",
    "text": "Officials of the Workers' Party of Korea toured Pyongsong Market on Monday.",
    "source": "Test Desk",
    "published": "2022-02-02",
    "external_id": "api-1",
}


def test_post_article_json(indexed, client, tokens):
    response = client.post("/api/articles", json=ARTICLE, headers=tokens["editor"])
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"status", "article"}
    assert body["status"] == "new"
    article = body["article"]
    assert response.headers["Location"] == f"/api/articles/{article['id']}"
    assert {m["term"] for m in article["mentions"]} >= {
        "workers-party-of-korea",
        "pyongsong-market",
    }
    again = client.post("/api/articles", json=ARTICLE, headers=tokens["editor"])
    assert (again.status_code, again.get_json()["status"]) == (200, "unchanged")
    changed = client.post(
        "/api/articles", json={**ARTICLE, "title": "Renamed"}, headers=tokens["editor"]
    )
    assert changed.get_json()["status"] == "updated"
    hits = client.get("/api/articles/search?q=toured").get_json()["items"]
    assert [h["id"] for h in hits] == [article["id"]]


def test_post_article_upload(client, tokens):
    text = "---\ntitle: Uploaded\ndate: 2023-01-01\n---\nThe Cabinet met in Pyongyang.\n"
    response = client.post(
        "/api/articles",
        data={"file": (io.BytesIO(text.encode()), "note.md", "text/markdown")},
        content_type="multipart/form-data",
        headers=tokens["editor"],
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    article = response.get_json()["article"]
    assert article["title"] == "Uploaded"
    assert {m["term"] for m in article["mentions"]} == {"cabinet", "pyongyang"}


def test_post_article_errors(client, tokens):
    editor = tokens["editor"]
    assert_problem(client.post("/api/articles", json={"title": "no text"}, headers=editor), 422)
    assert_problem(client.post("/api/articles", json=[1, 2], headers=editor), 422)
    two = b'{"text": "one"}\n{"text": "two"}\n'
    response = client.post(
        "/api/articles",
        data={"file": (io.BytesIO(two), "two.jsonl")},
        content_type="multipart/form-data",
        headers=editor,
    )
    body = assert_problem(response, 422)
    assert "one article" in body["detail"]
    response = client.post(
        "/api/articles", data={}, content_type="multipart/form-data", headers=editor
    )
    assert_problem(response, 422)
    assert_problem(
        client.post("/api/articles", data="x", content_type="text/plain", headers=editor), 415
    )
    assert_problem(client.post("/api/articles", json=ARTICLE), 401)


def test_delete_article(client, tokens):
    assert_problem(client.delete("/api/articles/1", headers=tokens["editor"]), 403)
    assert client.delete("/api/articles/1", headers=tokens["admin"]).status_code == 204
    assert_problem(client.get("/api/articles/1"), 404)
    assert_problem(client.delete("/api/articles/1", headers=tokens["admin"]), 404)


# --- candidates -------------------------------------------------------------------------------


def _candidate(client, name: str) -> dict:
    items = client.get("/api/candidates?per_page=100").get_json()["items"]
    return next(c for c in items if c["name"] == name)


def test_accept_candidate(client, tokens):
    candidate = _candidate(client, "National Price Review Office")
    response = client.post(
        f"/api/candidates/{candidate['id']}/accept",
        json={"type": "organization", "parent": "cabinet"},
        headers=tokens["editor"],
    )
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"candidate", "term"}
    assert body["term"] == "national-price-review-office"
    assert body["candidate"]["status"] == "accepted"
    assert body["candidate"]["term"] == "national-price-review-office"
    term = client.get("/api/terms/national-price-review-office").get_json()
    assert term["mentions"]["count"] == 1  # its past mention now cites the term
    assert term["parent"]["slug"] == "cabinet"
    assert term["definition"]  # the draft definition came along
    pending = client.get("/api/candidates").get_json()["items"]
    assert "National Price Review Office" not in [c["name"] for c in pending]
    assert_problem(
        client.post(f"/api/candidates/{candidate['id']}/accept", json={}, headers=tokens["editor"]),
        409,
    )


def test_merge_candidate(client, tokens):
    candidate = _candidate(client, "National Price Review Office")
    response = client.post(
        f"/api/candidates/{candidate['id']}/merge",
        json={"term": "cabinet", "kind": "alias"},
        headers=tokens["editor"],
    )
    assert response.status_code == 200
    assert response.get_json()["candidate"]["status"] == "merged"
    term = client.get("/api/terms/cabinet").get_json()
    assert "National Price Review Office" in [lb["text"] for lb in term["labels"]["alias"]]
    assert term["mentions"]["count"] == 2
    assert_problem(
        client.post(
            "/api/candidates/999999/merge", json={"term": "cabinet"}, headers=tokens["editor"]
        ),
        404,
    )


def test_reject_candidate(client, tokens):
    candidate = _candidate(client, "National Price Review Office")
    response = client.post(f"/api/candidates/{candidate['id']}/reject", headers=tokens["editor"])
    assert response.status_code == 200
    body = response.get_json()
    assert body["candidate"]["status"] == "rejected" and body["term"] is None
    assert body["candidate"]["contexts"] == []
    assert_problem(
        client.post(f"/api/candidates/{candidate['id']}/reject", headers=tokens["editor"]), 409
    )
    assert_problem(client.post(f"/api/candidates/{candidate['id']}/reject"), 401)
