"""The term's citing articles, first and last seen, and co-mentioned terms: the same answers
whichever way the store is asked (a walk of the date index for often-cited terms, a sort of the
term's own articles for rare ones), through the API and the term page."""

from __future__ import annotations

import random
import re
from datetime import date, timedelta

import pytest

from glossary import auth, catalog
from glossary.store import get_store

NAMES = ["Pyongyang", "Cabinet", "Juche", "Pyongsong Market", "Ministry of Social Security"]


@pytest.fixture
def cited_app(app):
    """The test glossary with 60 more articles: Pyongyang in most, the Cabinet in a few, some
    undated, several on the same day."""
    with app.app_context(), get_store().write() as session:
        _t, token = auth.create_token(session, "ed", "editor")
    client = app.test_client()
    rng = random.Random(7)
    for n in range(60):
        names = ["Pyongyang"] if n % 5 else ["Pyongyang", "Cabinet"]
        names += rng.sample(NAMES[2:], rng.randint(0, 2))
        body = {"title": f"Report {n}", "text": f"Report {n}. " + " ".join(
            f"Officials from {name} met on day {n}." for name in names
        )}  # fmt: skip
        if n % 7:
            body["published"] = (date(2019, 1, 1) + timedelta(days=rng.randint(0, 40))).isoformat()
        headers = {"Authorization": f"Bearer {token}"}
        assert client.post("/api/articles", json=body, headers=headers).status_code == 201
    return app


def answers(client, slug: str) -> dict:  # noqa: ANN001
    pages = [client.get(f"/api/terms/{slug}/articles?per_page=7&page={p}").get_json()
             for p in (1, 2, 5)]  # fmt: skip
    detail = client.get(f"/api/terms/{slug}").get_json()
    page = client.get(f"/terms/{slug}").get_data(as_text=True)
    alongside = page.partition('id="co-h"')[2].split("</section>", 1)[0]
    return {
        "pages": [[a["id"] for a in p["items"]] for p in pages],
        "totals": [p["total"] for p in pages],
        "mentions": detail["mentions"],
        "alongside": alongside,
    }


@pytest.mark.parametrize("slug", ["pyongyang", "cabinet", "juche"])
def test_citing_articles_same_by_walk_and_by_sort(cited_app, monkeypatch, slug: str) -> None:
    client = cited_app.test_client()
    monkeypatch.setattr(catalog, "CITING_WALK", 10**9)  # always walk the date index
    walked = answers(client, slug)
    monkeypatch.setattr(catalog, "CITING_WALK", 0)  # always sort the term's own articles
    sorted_ = answers(client, slug)
    assert walked == sorted_
    assert walked["pages"][0], "the first page lists articles"
    assert len(set(sum(walked["pages"], []))) == len(sum(walked["pages"], []))


def test_citing_articles_newest_first_undated_last(cited_app) -> None:
    client = cited_app.test_client()
    body = client.get("/api/terms/pyongyang/articles?per_page=100").get_json()
    dates = [a["published"] for a in body["items"]]
    dated = [d for d in dates if d]
    assert dates == dated + [None] * (len(dates) - len(dated)), "undated articles come last"
    assert dated == sorted(dated, reverse=True)
    assert body["total"] == len(body["items"])
    detail = client.get("/api/terms/pyongyang").get_json()["mentions"]
    assert detail["articles"] == body["total"]
    assert (detail["first_seen"], detail["last_seen"]) == (min(dated), max(dated))


def test_co_mentioned_counts_only_the_recent_window(cited_app, monkeypatch) -> None:
    client = cited_app.test_client()
    page = client.get("/terms/cabinet").get_data(as_text=True)
    assert "Often mentioned alongside" in page and "most recent articles" not in page
    monkeypatch.setattr(catalog, "CO_MENTION_ARTICLES", 3)
    page = client.get("/terms/pyongyang").get_data(as_text=True)
    alongside = page.split('id="co-h"', 1)[1].split("</section>", 1)[0]
    assert "In its 3 most recent articles." in alongside
    counts = [int(n) for n in re.findall(r"(\d+) articles?</span>", alongside)]
    assert counts and max(counts) <= 3
