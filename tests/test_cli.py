"""The command line as a user runs it: import/export, ingest with its summary and errors, tokens."""

from __future__ import annotations

import gzip
import json
import re

from sqlalchemy import func, select

from glossary import cli
from glossary.models import Article, Mention, Term, Token
from glossary.search import index_status
from glossary.store import get_store
from tests.conftest import DATA, run_cli


def count(app, model) -> int:
    with get_store(app).read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_import_is_idempotent_and_export_round_trips(empty_app, tmp_path):
    runner = empty_app.test_cli_runner()
    first = runner.invoke(args=["import", str(DATA / "glossary.jsonl")])
    assert first.exit_code == 0, first.output
    assert "14 new" in first.output
    second = runner.invoke(args=["import", str(DATA / "glossary.jsonl")])
    assert "0 new, 0 updated, 14 unchanged" in second.output
    out = tmp_path / "export.jsonl"
    assert runner.invoke(args=["export", "-o", str(out)]).exit_code == 0
    exported = {json.loads(line)["slug"]: json.loads(line) for line in out.read_text().splitlines()}
    original = {
        json.loads(line)["slug"]: json.loads(line)
        for line in (DATA / "glossary.jsonl").read_text().splitlines()
    }
    assert exported.keys() == original.keys()
    mss = exported["ministry-of-social-security"]
    assert mss["parent"] == "cabinet"
    assert {
        "text": "Ministry of People's Security",
        "kind": "former",
        "valid_to": "2020-05-31",
    } in mss["labels"]
    assert mss["relations"] == [{"kind": "related", "target": "ministry-of-state-security"}]
    # Importing the export into the same store changes nothing.
    third = runner.invoke(args=["import", str(out)])
    assert "14 unchanged" in third.output


def test_import_rejects_invalid_lines_and_imports_nothing(empty_app, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        '{"slug": "ok-term", "name": "OK", "type": "place"}\n'
        '{"slug": "Bad Slug", "name": "x", "type": "planet"}\n'
        "not json\n"
    )
    result = empty_app.test_cli_runner().invoke(args=["import", str(bad)])
    assert result.exit_code != 0
    assert "bad.jsonl:2" in result.output and "bad.jsonl:3" in result.output
    assert count(empty_app, Term) == 0


def test_import_reports_unknown_parent(empty_app, tmp_path):
    bad = tmp_path / "orphan.jsonl"
    bad.write_text('{"slug": "orphan", "name": "Orphan", "type": "place", "parent": "nowhere"}\n')
    result = empty_app.test_cli_runner().invoke(args=["import", str(bad)])
    assert result.exit_code != 0
    assert "nowhere" in result.output
    assert count(empty_app, Term) == 0


def test_ingest_prints_summary_and_second_run_adds_nothing(app):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["ingest", str(DATA / "articles")])
    assert result.exit_code == 0, result.output
    assert "ingested 3 articles (0 new, 0 updated, 0 failed)" in result.output
    assert count(app, Article) == 3


def test_ingest_stores_mentions_of_known_terms(app):
    with get_store(app).read() as session:
        article = session.scalar(select(Article).where(Article.external_id == "test-market"))
        cited = {
            m.term.slug
            for m in session.scalars(select(Mention).where(Mention.article_id == article.id))
            if m.term is not None
        }
    assert {"pyongsong-market", "ministry-of-social-security", "cabinet"} <= cited
    assert "restructuring-of-the-socialist-commercial-system" in cited


def test_ingest_gzip_jsonl_corpus_lines(empty_app, tmp_path):
    lines = [
        {
            "id": f"story-{n}",
            "source": "Test Wire",
            "url": None,
            "index_url": "http://example.org/day.html",
            "title": f"Story {n}",
            "date": f"2012-01-0{n + 1}",
            "text": f"Story number {n} from Pyongyang.",
        }
        for n in range(5)
    ]
    path = tmp_path / "corpus.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(x) + "\n" for x in lines)
    runner = empty_app.test_cli_runner()
    result = runner.invoke(args=["ingest", str(path)])
    assert "ingested 5 articles (5 new, 0 updated, 0 failed)" in result.output
    # The shared index_url is not an identity: five stories stay five articles.
    assert count(empty_app, Article) == 5
    again = runner.invoke(args=["ingest", str(path)])
    assert "(0 new, 0 updated, 0 failed)" in again.output
    assert count(empty_app, Article) == 5


def test_reingest_changed_article_updates_it(empty_app, tmp_path):
    path = tmp_path / "one.json"
    path.write_text(json.dumps({"id": "x1", "title": "First", "text": "Old text."}))
    runner = empty_app.test_cli_runner()
    runner.invoke(args=["ingest", str(path)])
    path.write_text(json.dumps({"id": "x1", "title": "First", "text": "New text."}))
    result = runner.invoke(args=["ingest", str(path)])
    assert "(0 new, 1 updated, 0 failed)" in result.output
    with get_store(empty_app).read() as session:
        assert session.scalar(select(Article.text)) == "New text."


def test_ingest_bad_inputs_reports_each_and_keeps_the_good(empty_app, tmp_path):
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "good.txt").write_text("A good plain text article about Pyongyang.")
    (folder / "lines.jsonl").write_text(
        '{"id": "l1", "text": "First good line."}\n{"id": "l2", "text": \n'
        '{"id": "l3", "text": "Third good line."}\n'
    )
    (folder / "empty.html").write_text("<html><body><script>x()</script></body></html>")
    (folder / "fake.rss").write_text("this is not a feed at all")
    (folder / "blob.txt").write_bytes(bytes(range(256)) * 8)
    (folder / "nothing.md").write_text("")
    (folder / "sheet.xlsx").write_bytes(b"PK\x03\x04")
    result = empty_app.test_cli_runner().invoke(
        args=["ingest", str(folder), str(tmp_path / "missing.txt")]
    )
    assert result.exit_code == 1
    out = result.output
    for name in (
        "lines.jsonl:2",
        "empty.html",
        "fake.rss",
        "blob.txt",
        "nothing.md",
        "sheet.xlsx",
        "missing.txt",
    ):
        assert name in out, name
    assert "(3 new, 0 updated, 7 failed)" in out
    assert count(empty_app, Article) == 3


def write_jsonl(path, items: list[dict]):
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def test_ingest_same_id_twice_in_one_file_stores_the_second_as_an_update(empty_app, tmp_path):
    path = write_jsonl(
        tmp_path / "twice.jsonl",
        [
            {"id": "t1", "text": "Old text about Pyongyang."},
            {"id": "t2", "text": "Another story."},
            {"id": "t1", "text": "New text about Pyongyang."},
        ],
    )
    result = empty_app.test_cli_runner().invoke(args=["ingest", str(path)])
    assert "ingested 3 articles (2 new, 1 updated, 0 failed)" in result.output
    with get_store(empty_app).read() as session:
        texts = set(session.scalars(select(Article.text)))
    assert texts == {"New text about Pyongyang.", "Another story."}


def test_a_failing_article_is_reported_and_its_batch_is_stored(app, tmp_path, monkeypatch):
    from glossary import articles

    annotate, record_changes = articles.annotate, articles._record_changes

    def failing_annotate(text, *args, **kwargs):
        if "BOOM" in text:
            raise ValueError("cannot annotate")
        return annotate(text, *args, **kwargs)

    def failing_record_changes(session, changes):
        if any(change["summary"] == "Bad title" for change in changes):
            raise RuntimeError("cannot log")
        record_changes(session, changes)

    monkeypatch.setattr(articles, "annotate", failing_annotate)
    monkeypatch.setattr(articles, "_record_changes", failing_record_changes)
    items = [{"id": f"ok-{n}", "text": f"The Cabinet met in Pyongyang ({n})."} for n in range(6)]
    items[2] = {"id": "boom", "text": "BOOM in Pyongyang."}
    items[4] = {"id": "bad", "title": "Bad title", "text": "The Cabinet met again."}
    path = write_jsonl(tmp_path / "mixed.jsonl", items)
    result = app.test_cli_runner().invoke(args=["ingest", str(path)])
    assert result.exit_code == 1
    assert "ingested 4 articles (4 new, 0 updated, 2 failed)" in result.output
    assert "mixed.jsonl:3: could not store: cannot annotate" in result.output
    assert "mixed.jsonl:5: could not store: cannot log" in result.output
    with get_store(app).read() as session:
        stored = set(session.scalars(select(Article.identity)))
        cited = session.scalar(
            select(func.count(Mention.id)).join(Article).where(Article.identity == "id:ok-5")
        )
    assert {f"id:ok-{n}" for n in (0, 1, 3, 5)} <= stored
    assert not {"id:boom", "id:bad"} & stored
    assert cited == 2  # the Cabinet and Pyongyang


def test_ingest_from_a_real_subprocess(tmp_path, database_url):
    assert run_cli(tmp_path, "init", database_url=database_url).returncode == 0
    path = tmp_path / "a.txt"
    path.write_text("---\ntitle: Hello\n---\nA text about the Cabinet.\n")
    result = run_cli(tmp_path, "ingest", str(path), database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert "ingested 1 articles (1 new, 0 updated, 0 failed)" in result.stdout
    assert re.search(r"search indexes: up to date with change [1-9][\d,]* \(", result.stderr)
    assert "SyncReport" not in result.stderr
    missing = run_cli(tmp_path, "ingest", str(tmp_path / "nope.jsonl"), database_url=database_url)
    assert missing.returncode == 1
    assert "nope.jsonl" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_large_ingest_indexes_while_it_stores(empty_app, tmp_path, monkeypatch):
    monkeypatch.setattr(cli, "FOLLOW_FROM", 1)  # a follower process even for a few articles
    path = tmp_path / "many.jsonl"
    lines = [json.dumps({"id": f"m{n}", "text": f"Story {n} from Pyongyang."}) for n in range(30)]
    path.write_text("\n".join(lines) + "\n")
    result = empty_app.test_cli_runner().invoke(args=["ingest", str(path)])
    assert result.exit_code == 0, result.output
    assert "ingested 30 articles (30 new, 0 updated, 0 failed)" in result.output
    status = index_status(empty_app.config["INDEX_DIR"])
    assert status["articles"]["docs"] == 30
    assert status["articles"]["seq"] == status["terms"]["seq"] > 0


def test_tokens_create_list_revoke(app):
    runner = app.test_cli_runner()
    created = runner.invoke(args=["token", "create", "alice", "--role", "admin"])
    assert created.exit_code == 0
    plain = created.stdout.strip().splitlines()[0]
    assert plain.startswith("glos_")
    with get_store(app).read() as session:
        token = session.scalar(select(Token))
        assert token.digest != plain and plain not in token.digest
    listed = runner.invoke(args=["token", "list"])
    assert "alice\tadmin\tactive" in listed.output
    assert plain not in listed.output
    assert runner.invoke(args=["token", "revoke", str(token.id)]).exit_code == 0
    assert "revoked" in runner.invoke(args=["token", "list"]).output
    again = runner.invoke(args=["token", "revoke", str(token.id)])
    assert again.exit_code != 0 and "no active token" in again.output


def test_reimport_with_changed_labels_updates_and_rematches(app, tmp_path):
    changed = tmp_path / "changed.jsonl"
    lines = (DATA / "glossary.jsonl").read_text().splitlines()
    items = [json.loads(line) for line in lines]
    for item in items:
        if item["slug"] == "cabinet":
            item["labels"].append({"text": "National Price Review Office", "kind": "alias"})
        if item["slug"] == "juche":
            item["labels"] = [lb for lb in item["labels"] if lb["text"] != "Juche idea"]
    changed.write_text("\n".join(json.dumps(i) for i in items) + "\n")
    result = app.test_cli_runner().invoke(args=["import", str(changed)])
    assert result.exit_code == 0, result.output
    assert "2 updated" in result.output
    with get_store(app).read() as session:
        article = session.scalar(select(Article).where(Article.external_id == "test-market"))
        surfaces = {
            m.surface
            for m in session.scalars(select(Mention).where(Mention.article_id == article.id))
            if m.term is not None and m.term.slug == "cabinet"
        }
    # The label added after ingest now finds its mention in the old article.
    assert "National Price Review Office" in surfaces


def test_a_database_nobody_initialized(tmp_path, database_url, monkeypatch):
    """Commands and pages on a database `init` never ran on say to run it (exit 1, 503, no
    traceback), and the service serves as soon as it has run."""
    from glossary import create_app, store
    from tests.conftest import app_config

    monkeypatch.setattr(store, "SCHEMA_RECHECK", 0.0)
    app = create_app(app_config(tmp_path, database_url))
    try:
        _serve_after_init(app)
    finally:
        app.extensions["glossary.store"].dispose()  # no connection left for the next test


def _serve_after_init(app) -> None:
    runner = app.test_cli_runner()
    for args in (
        ["ingest", str(DATA / "articles")],
        ["import", str(DATA / "glossary.jsonl")],
        ["lookup", "Pyongyang"],
        ["token", "list"],
        ["reindex"],
        ["sync"],
    ):
        result = runner.invoke(args=args)
        assert result.exit_code == 1, (args, result.output)
        assert "no glossary tables yet: run `python -m glossary init`" in result.output, args
        assert "Traceback" not in result.output
    client = app.test_client()
    health = client.get("/healthz")
    assert health.status_code == 503 and health.get_json()["database"] == "not initialized"
    api = client.get("/api/search?q=Pyongyang")
    assert api.status_code == 503 and "glossary init" in api.get_json()["detail"]
    assert client.get("/").status_code == 503
    assert runner.invoke(args=["init"]).exit_code == 0
    assert runner.invoke(args=["import", str(DATA / "glossary.jsonl")]).exit_code == 0
    assert client.get("/api/terms").status_code == 200
    assert client.get("/healthz").get_json()["terms"] == 14
