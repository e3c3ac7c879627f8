"""Name lookup: the tiers from exact to fuzzy, ambiguity, the HTTP endpoints, the command line,
and the speed of a batch of 1,000 names."""

from __future__ import annotations

import json
import random
import time

import pytest
from sqlalchemy import create_engine, event
from sqlalchemy.orm import Session

from glossary import create_app, store
from glossary.lookup import Entry, LookupTable, TermInfo, get_table
from glossary.models import Change
from glossary.store import Store, get_store, last_change, record_change
from tests.conftest import app_config


@pytest.mark.parametrize(
    ("name", "slug", "match", "score"),
    [
        ("Pyongyang", "pyongyang", "exact", 100),
        ("P'yŏngyang", "pyongyang", "exact_alias", 95),
        ("평양", "pyongyang", "exact_alias", 95),
        ("WPK", "workers-party-of-korea", "exact_alias", 95),
        ("pyongyang", "pyongyang", "case_insensitive", 90),
        ("Workers Party of Korea", "workers-party-of-korea", "normalized", 85),
        ("Ministry of Peoples Security", "ministry-of-social-security", "normalized", 85),
        ("Pyong-yang", "pyongyang", "variant", 80),
        ("Phyongyang City", "pyongyang", "variant", 80),
        ("the Cabinet", "cabinet", "variant", 80),
        ("Ministry of Social Securty", "ministry-of-social-security", "fuzzy", None),
        ("Cabinett", "cabinet", "fuzzy", None),
    ],
)
def test_tiers(app, name: str, slug: str, match: str, score: int | None):
    with app.app_context():
        answer = get_table(get_store()).answer(name)
    assert (answer.best.term.slug, answer.best.match) == (slug, match)
    if score is None:
        assert 40 <= answer.best.score < 80
    else:
        assert answer.best.score == score
    assert answer.ambiguous is False


def test_case_sensitive_labels_need_their_case(app):
    with app.app_context():
        table = get_table(get_store())
    assert table.answer("mss").best is None
    assert table.answer("wpk").best is None


def test_ambiguous_names_are_reported(app):
    with app.app_context():
        answer = get_table(get_store()).answer("MSS")
    assert answer.ambiguous is True
    slugs = {answer.best.term.slug} | {h.term.slug for h in answer.alternatives}
    assert slugs == {"ministry-of-social-security", "ministry-of-state-security"}
    assert answer.best.score == 85  # exact, less the ambiguity penalty


def test_type_filter(app):
    with app.app_context():
        table = get_table(get_store())
    assert table.answer("Pyongyang", types=["organization"]).best is None
    assert table.answer("Pyongyang", types=["place"]).best.term.slug == "pyongyang"


def test_no_match(app):
    with app.app_context():
        table = get_table(get_store())
    for name in ("", "   ", "zzzz", "a completely unrelated phrase"):
        assert table.answer(name).best is None


def test_table_follows_the_change_log(app, client):
    with app.app_context():
        first = get_table(get_store())
        assert get_table(get_store()) is first
    from glossary import auth

    with app.app_context(), get_store().write() as session:
        _t, token = auth.create_token(session, "ed", "editor")
    response = client.post(
        "/api/terms/juche/labels",
        json={"text": "Chuch'e", "kind": "romanization", "romanization": "mr"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201
    with app.app_context():
        table = get_table(get_store())
        assert table is not first
        assert table.answer("Chuch'e").best.term.slug == "juche"


# --- knowing cheaply whether the glossary changed ------------------------------------------------


def _queries(target: Store) -> list[str]:
    """The statements the store's read engine runs from now on."""
    seen: list[str] = []
    event.listen(target.engine, "before_cursor_execute", lambda *a: seen.append(a[2]))
    return seen


def test_term_seq_sees_at_once_what_another_store_of_this_node_commits(empty_app, monkeypatch):
    """Two stores on one database stand for two workers of a node: a term change committed
    through one is seen by the other's very next call, with no time allowance."""
    monkeypatch.setattr(store, "TERM_SEQ_MAX_AGE", 3600.0)
    url = empty_app.config["DATABASE_URL"]
    reader, writer = Store(url), Store(url)
    try:
        assert reader.term_seq() == 0
        queries = _queries(reader)
        for _ in range(100):
            assert reader.term_seq() == 0
        assert queries == []  # nothing changed: the database is not asked
        for entity in ("term", "article", "term"):
            with writer.write() as session:
                record_change(session, entity, 1, "upsert")
            with writer.read() as session:
                assert reader.term_seq() == last_change(session, "term")
        assert reader.term_seq() == 3
    finally:
        reader.dispose()
        writer.dispose()


def test_term_seq_catches_up_with_other_nodes_within_its_bound(empty_app, monkeypatch):
    """A change this node was not told of (another node's, on PostgreSQL) is seen within
    TERM_SEQ_MAX_AGE; on SQLite every writer shares the node, so at once."""
    monkeypatch.setattr(store, "TERM_SEQ_MAX_AGE", 0.3)
    url = empty_app.config["DATABASE_URL"]
    reader = Store(url)
    elsewhere = create_engine(url)  # writes without telling this node
    try:
        assert reader.term_seq() == 0
        with Session(elsewhere) as session, session.begin():
            session.add(Change(entity="term", entity_id=1, op="upsert"))
        written = time.monotonic()
        while reader.term_seq() == 0:
            assert time.monotonic() - written < 0.3 + 0.5, "never saw the other node's change"
            time.sleep(0.01)
        if reader.is_sqlite:
            assert time.monotonic() - written < 0.3
        assert reader.term_seq() == 1
    finally:
        reader.dispose()
        elsewhere.dispose()


def test_lookup_in_one_app_sees_a_term_another_app_just_wrote(app, tmp_path, database_url):
    """Two apps on one store stand for two workers: a lookup right after the other's write
    finds the new term and label."""
    other = create_app(app_config(tmp_path, database_url))
    try:
        from glossary import auth

        with app.app_context(), get_store().write() as session:
            _t, token = auth.create_token(session, "ed", "editor")
        editor = {"Authorization": f"Bearer {token}"}
        reader, writer = other.test_client(), app.test_client()
        assert reader.get("/api/lookup?name=Kimchaek Steel Complex").get_json()["term"] is None
        term = {"name": "Kimchaek Steel Complex", "type": "organization"}
        made = writer.post("/api/terms", headers=editor, json=term)
        assert made.status_code == 201
        slug = made.get_json()["term"]["slug"]
        found = reader.get("/api/lookup?name=Kimchaek Steel Complex").get_json()
        assert found["term"]["slug"] == slug
        added = writer.post(f"/api/terms/{slug}/labels", headers=editor,
                            json={"text": "Kimchaek Iron Works", "kind": "former"})  # fmt: skip
        assert added.status_code == 201
        found = reader.get("/api/lookup?name=Kimchaek Iron Works").get_json()
        assert (found["term"]["slug"], found["label_kind"]) == (slug, "former")
    finally:
        other.extensions["glossary.store"].dispose()


LOOKUP_KEYS = {
    "name",
    "term",
    "score",
    "match",
    "label",
    "label_kind",
    "ambiguous",
    "alternatives",
}


def test_get_lookup(client):
    response = client.get("/api/lookup?name=Ministry of Peoples Security")
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == LOOKUP_KEYS
    assert set(body["term"]) == {"slug", "name", "type", "definition", "wikidata"}
    assert body["term"]["slug"] == "ministry-of-social-security"
    assert (body["match"], body["label"], body["label_kind"]) == (
        "normalized",
        "Ministry of People's Security",
        "former",
    )
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_post_lookup(client):
    names = ["Pyongyang", "MSS", "nothing", "Pyongyang"]
    response = client.post("/api/lookup", json={"names": names})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["name"] for r in results] == names
    assert results[0]["term"]["slug"] == "pyongyang"
    assert results[1]["ambiguous"] is True
    assert set(results[1]["alternatives"][0]) == {
        "term",
        "score",
        "match",
        "label",
        "label_kind",
        "ambiguous",
    }
    assert results[2] == {
        "name": "nothing",
        "term": None,
        "score": 0,
        "match": None,
        "label": None,
        "label_kind": None,
        "ambiguous": False,
        "alternatives": [],
    }
    typed = client.post("/api/lookup", json={"names": ["Pyongyang"], "type": ["event"]})
    assert typed.get_json()["results"][0]["term"] is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"names": []},
        {"names": "Pyongyang"},
        {"names": [""]},
        {"names": ["x"] * 1001},
        {"names": ["x"], "type": ["person"]},
        {"names": ["x"], "limit": 0},
        {"names": ["x"], "extra": 1},
    ],
)
def test_post_lookup_bad_bodies(client, body: dict):
    response = client.post("/api/lookup", json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["errors"]


def test_lookup_errors(client):
    assert client.get("/api/lookup").status_code == 422
    assert client.get("/api/lookup?name=x&type=person").status_code == 422
    response = client.post("/api/lookup", data="names=x", content_type="text/plain")
    assert response.status_code == 415


def test_cli_lookup_matches_the_api(client, runner):
    result = runner.invoke(args=["lookup", "Pyongyang", "MSS", "nothing"])
    assert result.exit_code == 0, result.output
    api = client.post("/api/lookup", json={"names": ["Pyongyang", "MSS", "nothing"]})
    assert json.loads(result.output) == api.get_json()["results"]
    assert runner.invoke(args=["lookup", "x", "--type", "person"]).exit_code != 0


# --- speed ------------------------------------------------------------------------------------

HEADS = ("Ministry", "Committee", "Bureau", "County", "Province", "Law", "Plan", "Congress")
SYLLABLES = "pyong yang song chon ju hae nam puk kang won ham hung sin ui ryang gang".split()


def _synthetic_table(terms: int = 1000, labels_per_term: int = 15) -> LookupTable:
    rng = random.Random(7)
    infos, entries = [], []
    for n in range(terms):
        base = " ".join(rng.choice(SYLLABLES).capitalize() for _ in range(rng.randint(1, 3)))
        name = f"{base} {rng.choice(HEADS)} {n}"
        infos.append(TermInfo(n, f"term-{n}", name, "organization", None, None))
        entries.append(Entry(n, name, "preferred", False, False))
        for k in range(labels_per_term - 1):
            entries.append(Entry(n, f"{base} {k} {rng.choice(HEADS)} {n}", "alias", False, False))
    return LookupTable(infos, entries)


def test_a_thousand_names_against_15000_labels():
    """Exact, case-folded, hyphenated and one-letter-short names are found among 15,000 labels;
    noise is not (its speed is measured in bench/, not timed here)."""
    table = _synthetic_table()
    assert len(table.entries) == 15_000
    rng = random.Random(11)
    names = []
    for _ in range(1000):
        text = rng.choice(table.entries).text
        roll = rng.random()
        if roll < 0.5:
            names.append(text)
        elif roll < 0.7:
            names.append(text.lower())
        elif roll < 0.8:
            names.append(text.replace(" ", "-"))
        elif roll < 0.9:
            i = rng.randrange(len(text))
            names.append(text[:i] + text[i + 1 :])
        else:
            names.append("".join(rng.choice("abcdefghijklmnop ") for _ in range(20)))
    answers = [table.answer(name) for name in names]
    assert sum(a.best is not None for a in answers) >= 850
