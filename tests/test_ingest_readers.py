"""Tests for the ingest readers: every format, and hostile or broken input of each kind."""

import gzip
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glossary.ingest import (
    ArticleRecord,
    ReadError,
    count_hint,
    parse_date,
    read_document,
    read_paths,
)

DATA = Path(__file__).parent / "data" / "ingest"


def read(*paths: str | Path, **options: int) -> list[ArticleRecord | ReadError]:
    return list(read_paths(list(paths), **options))


def records(items: list[ArticleRecord | ReadError]) -> list[ArticleRecord]:
    return [item for item in items if isinstance(item, ArticleRecord)]


def errors(items: list[ArticleRecord | ReadError]) -> list[ReadError]:
    return [item for item in items if isinstance(item, ReadError)]


def only_error(items: list[ArticleRecord | ReadError]) -> ReadError:
    assert len(items) == 1 and isinstance(items[0], ReadError), items
    return items[0]


# --- formats ----------------------------------------------------------------------------------


def test_plain_text_is_cleaned() -> None:
    [record] = read(DATA / "note.txt")
    assert record.text == (
        "The Ministry of Social Security held a meeting in Pyongyang.\n"
        "Officials discussed the new market rules."
    )
    assert record.title is None and record.url is None
    assert record.origin == str(DATA / "note.txt")


def test_markdown_front_matter_fills_fields() -> None:
    [record] = read(DATA / "front.md")
    assert record.title == "Committee meets in Sinuiju"
    assert record.url == "https://example.org/news/sinuiju-committee"
    assert record.external_id == "ex-0042"
    assert record.source == "Example Daily"
    assert record.published == "2012-03-04"
    assert record.language == "en"
    assert not record.text.startswith("---")
    assert "title:" not in record.text
    assert record.text.startswith("A heading inside the body\n\nThe provincial")


def test_markdown_heading_becomes_title() -> None:
    [record] = read(DATA / "heading.md")
    assert record.title == "Farm output rises in South Hwanghae"
    assert record.text.startswith("Cooperative farms")


def test_markdown_markup_becomes_plain_text() -> None:
    source = (
        "# Title\n\nThe **State Affairs Commission** (*SAC*) met [in Pyongyang](https://x.org/a)."
        "\n\n> A quoted line with `code`.\n\nKeep snake_case and 2 * 3 = 6 as they are."
    )
    [record] = read_document(source.encode(), "marked.md")
    assert record.title == "Title"
    assert record.text == (
        "The State Affairs Commission (SAC) met in Pyongyang.\n\n"
        "A quoted line with code.\n\nKeep snake_case and 2 * 3 = 6 as they are."
    )


def test_html_article_is_plain_text_with_metadata() -> None:
    [record] = read(DATA / "page.html")
    assert record.title == "Railway bureau opens new line"
    assert record.url == "https://example.org/2011/12/railway-line"
    assert record.published == "2011-12-01"
    assert record.language == "en"
    assert record.text.startswith("The railway bureau of the Ministry of Railways")
    assert "\n\nWorkers of the bureau" in record.text
    for hostile in ("alert", "tracking", "steal", "<", "evil.example", "javascript"):
        assert hostile not in record.text


def test_json_object() -> None:
    [record] = read(DATA / "one.json")
    assert record == ArticleRecord(
        text="The youth league held a rally in Hamhung on Sunday.",
        title="Youth league rally",
        url="https://example.org/rally",
        external_id="7",
        source="Example Wire",
        published="2011-12-01",
        language="en",
        origin=str(DATA / "one.json"),
    )


def test_json_text_as_a_list_of_paragraphs() -> None:
    [record] = read_document(b'{"text": ["First paragraph.", "Second one.", 3]}', "p.json")
    assert record.text == "First paragraph.\n\nSecond one."


def test_json_list_yields_good_items_and_names_the_bad_one() -> None:
    items = read(DATA / "many.json")
    assert [r.external_id for r in records(items)] == ["a-1", "a-3"]
    assert records(items)[0].published == "2011-12-01"
    assert records(items)[1].url is None  # javascript: URL dropped
    [error] = errors(items)
    assert error.origin == str(DATA / "many.json")
    assert error.message.startswith("item 2: no article text")


def test_jsonl_corpus_lines_and_a_broken_line() -> None:
    path = DATA / "articles.jsonl"
    items = read(path)
    assert [r.external_id for r in records(items)] == ["t-1", "t-2", "t-5"]
    first = records(items)[0]
    assert first.url is None  # index_url is shared by a day's stories: never the record's url
    assert first.source == "Test Agency" and first.published == "2011-12-01"
    assert first.origin == f"{path}:1"
    assert records(items)[1].title is None
    assert [(e.origin, e.message.split(":")[0]) for e in errors(items)] == [
        (f"{path}:4", "invalid JSON"),
        (f"{path}:5", "no article text (expected a non-empty 'text', 'body' or 'content')"),
        (f"{path}:6", "expected a JSON object, got a list"),
    ]


def test_rss_feed() -> None:
    items = read(DATA / "feed.rss")
    first, second = records(items)
    assert first.external_id == "urn:example:101"
    assert first.url == "https://example.org/markets"
    assert first.title == "Market rules changed"
    assert first.published == "2011-12-01"  # the date as the publisher wrote it
    assert first.source == "Example Korea Desk"
    assert (
        first.text
        == "New rules for general markets were announced.\n\nTraders in Chongjin reacted."
    )
    assert second.url is None and second.published is None
    assert only_error(errors(items)).message == "entry 3: no content or summary"


def test_atom_feed() -> None:
    [record] = read(DATA / "feed.atom")
    assert record.external_id == "tag:example.org,2012:entry-1"
    assert record.url == "https://example.org/academy"
    assert record.title == "Academy of Sciences report"
    assert record.published == "2012-01-04"
    assert record.language == "en"
    assert record.text.endswith("It names two sites.")


def test_gzip_jsonl_streams_like_the_plain_file(tmp_path: Path) -> None:
    packed = tmp_path / "articles.jsonl.gz"
    packed.write_bytes(gzip.compress((DATA / "articles.jsonl").read_bytes()))
    items = read(packed)
    assert [r.external_id for r in records(items)] == ["t-1", "t-2", "t-5"]
    assert records(items)[2].origin == f"{packed}:7"
    assert errors(items)[0].origin == f"{packed}:4"


def test_gzip_detected_by_magic_bytes(tmp_path: Path) -> None:
    disguised = tmp_path / "story.txt"
    disguised.write_bytes(gzip.compress(b"A story about Kaesong.\n"))
    [record] = read(disguised)
    assert record.text == "A story about Kaesong."


def test_directory_is_recursed_sorted_without_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / ".hidden").mkdir()
    shutil.copy(DATA / "note.txt", tmp_path / "b" / "note.txt")
    shutil.copy(DATA / "heading.md", tmp_path / "a.md")
    (tmp_path / ".secret.txt").write_text("hidden text")
    (tmp_path / ".hidden" / "x.txt").write_text("hidden text")
    items = read(tmp_path)
    assert [item.origin for item in items] == [
        str(tmp_path / "a.md"),
        str(tmp_path / "b" / "note.txt"),
    ]


def test_read_document_uses_content_type_and_sniffing() -> None:
    body = b'{"text": "Sent by a tool.", "id": "x-1"}'
    [record] = read_document(body, "upload", content_type="application/json")
    assert record.external_id == "x-1" and record.origin == "upload"
    feed = (DATA / "feed.atom").read_bytes()
    [sniffed] = read_document(feed, "upload")
    assert sniffed.external_id == "tag:example.org,2012:entry-1"
    lines = (DATA / "articles.jsonl").read_bytes()
    assert len(records(list(read_document(lines, "lines")))) == 3


def test_count_hint(tmp_path: Path) -> None:
    packed = tmp_path / "articles.jsonl.gz"
    packed.write_bytes(gzip.compress((DATA / "articles.jsonl").read_bytes()))
    assert count_hint(DATA / "articles.jsonl") == 7
    assert count_hint(packed) == 7
    assert count_hint(DATA / "feed.rss") == 3
    assert count_hint(DATA / "note.txt") == 1
    assert count_hint(tmp_path) == 7
    assert count_hint(tmp_path / "missing.jsonl") is None


# --- bad and hostile input --------------------------------------------------------------------


def test_html_without_article_text() -> None:
    error = only_error(read(DATA / "no-article.html"))
    assert error.origin == str(DATA / "no-article.html")
    assert error.message == "HTML page has no article text"


def test_file_that_claims_to_be_a_feed_and_is_not() -> None:
    error = only_error(read(DATA / "not-a-feed.rss"))
    assert error.origin.endswith("not-a-feed.rss")
    assert error.message.startswith("not an RSS or Atom feed")


def test_feed_content_is_never_taken_for_a_file_name(tmp_path: Path) -> None:
    secret = tmp_path / "secret.xml"
    shutil.copy(DATA / "feed.rss", secret)
    error = only_error(list(read_document(str(secret).encode(), "upload.rss")))
    assert error.message.startswith("not an RSS or Atom feed")


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.txt", b"", "file is empty"),
        ("blank.jsonl", b"\n \n", "file is empty"),
        ("picture.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "binary file"),
        ("noise.json", bytes(range(32)) * 20, "binary file"),
        ("report.pdf", b"%PDF-1.4 text", "unsupported file type '.pdf'"),
        ("list.json", b"[]", "JSON list is empty"),
        ("number.json", b"42", "expected a JSON object or list, got a number"),
        ("broken.json", b'{"text": ', "invalid JSON"),
        ("deep.json", b"[" * 200_000 + b"]" * 200_000, "JSON is nested too deeply"),
    ],
)
def test_bad_files_give_one_clear_error(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    error = only_error(read(path))
    assert error.origin == str(path)
    assert error.message.startswith(message)


def test_missing_path_is_reported_and_the_rest_still_read(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.jsonl"
    items = read(missing, DATA / "note.txt")
    assert items[0] == ReadError(str(missing), "no such file or directory")
    assert isinstance(items[1], ArticleRecord)


def test_deeply_nested_jsonl_line_among_good_ones(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    deep = b'{"text": ' + b"[" * 200_000 + b"]" * 200_000 + b"}"
    path.write_bytes(b'{"text": "first"}\n' + deep + b'\n{"text": "last"}\n')
    items = read(path)
    assert [r.text for r in records(items)] == ["first", "last"]
    assert errors(items) == [ReadError(f"{path}:2", "JSON is nested too deeply")]


def test_invalid_utf8_is_recovered_silently(tmp_path: Path) -> None:
    mostly_utf8 = tmp_path / "mostly.txt"
    mostly_utf8.write_bytes("Pyongyang \u2013 Sinŭiju ".encode() * 50 + b"\xff broken")
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Caf\u00e9 in Pyongyang, r\u00e9sum\u00e9 of the day.".encode("latin-1"))
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_bytes(b'{"text": "Hamhung \xff\xfe plant"}\n')
    first, second, third = read(mostly_utf8, latin1, jsonl)
    assert isinstance(first, ArticleRecord) and "Sinŭiju" in first.text
    assert isinstance(second, ArticleRecord) and second.text.startswith("Caf\u00e9")
    assert isinstance(third, ArticleRecord) and third.text.startswith("Hamhung")


def test_utf16_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "wide.txt"
    path.write_bytes("\ufeffChongjin port reopened.".encode("utf-16-le"))
    [record] = read(path)
    assert record.text == "Chongjin port reopened."


def test_nul_bytes_and_crlf_are_cleaned(tmp_path: Path) -> None:
    path = tmp_path / "nul.txt"
    path.write_bytes(
        b"Line one with a NUL\x00 inside.  \r\nLine two.\r\n\r\n\r\n\r\nLine three.\x00"
    )
    [record] = read(path)
    assert record.text == "Line one with a NUL inside.\nLine two.\n\nLine three."
    jsonl = tmp_path / "nul.jsonl"
    jsonl.write_bytes(
        b'{"text": "escaped \\u0000 nul and \\ud800 surrogate", "title": "t\\u0000"}\n'
    )
    [line] = read(jsonl)
    assert line.text == "escaped  nul and  surrogate" and line.title == "t"


def test_ten_megabyte_line(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    path.write_text('{"text": "' + "word " * 2_000_000 + '"}\n{"text": "small"}\n')
    items = read(path)
    assert [len(r.text) for r in records(items)] == [len("word " * 2_000_000) - 1, 5]


@pytest.mark.parametrize("name", ["bomb.jsonl.gz", "bomb.txt.gz", "bomb.html.gz"])
def test_gzip_bomb_is_capped(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(gzip.compress(b"a" * (8 * 2**20), compresslevel=1))
    error = only_error(read(path, max_bytes=2**20))
    assert error.origin == str(path)
    assert error.message == "file expands past 1 MB"


def test_gzip_bomb_of_many_lines_keeps_the_lines_before_the_cap(tmp_path: Path) -> None:
    path = tmp_path / "lines.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "x"}\n' * 200_000))
    items = read(path, max_bytes=2**20)
    assert len(records(items)) > 1000
    assert items[-1] == ReadError(str(path), "file expands past 1 MB")


def test_corrupt_gzip(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "x"}\n' * 1000)[:60])
    items = read(path)
    assert items[-1].origin == str(path) and isinstance(items[-1], ReadError)
    assert items[-1].message.startswith("corrupt or truncated gzip data")


def test_upload_larger_than_the_cap() -> None:
    error = only_error(list(read_document(b"x" * 2048, "big.txt", max_bytes=1024)))
    assert error == ReadError("big.txt", "file is larger than 1 KB")


def test_hostile_fields_are_cleaned() -> None:
    body = (
        b'{"text": "Body.", "title": "<script>x()</script><b>Bold</b> ' + b"long " * 200 + b'", '
        b'"url": "javascript:alert(1)", "source": "<img src=x onerror=y()>Wire", "id": true}'
    )
    [record] = read_document(body, "hostile.json")
    assert record.title is not None and "<" not in record.title and len(record.title) <= 500
    assert record.title.startswith("x()Bold long")
    [plain] = read_document(b'{"text": "t", "title": "Exports < imports > 2010"}', "lt.json")
    assert plain.title == "Exports < imports > 2010"
    assert record.url is None and record.source == "Wire" and record.external_id is None


@pytest.mark.parametrize(
    ("url", "kept"),
    [
        ("https://example.org/a?b=1", True),
        ("HTTP://EXAMPLE.ORG", True),
        ("javascript:alert(1)", False),
        ("data:text/html,hi", False),
        ("ftp://example.org/file", False),
        ("/relative/path", False),
        ("https://exa mple.org", False),
    ],
)
def test_only_http_urls_are_kept(url: str, kept: bool) -> None:
    [record] = read_document(f'{{"text": "t", "url": "{url}"}}'.encode(), "u.json")
    assert (record.url == url) is kept


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2011-12-01", "2011-12-01"),
        ("2011-12-01T23:30:00+09:00", "2011-12-01"),
        ("Thu, 01 Dec 2011 23:30:00 -0500", "2011-12-01"),
        ("December 1, 2011", "2011-12-01"),
        ("1 Dec 2011", "2011-12-01"),
        ("2011.12.01", "2011-12-01"),
        ("2011/12/1", "2011-12-01"),
        ("20111201", "2011-12-01"),
        ("2011년 12월 1일", "2011-12-01"),
        ("2011-02-30", None),
        ("2011", None),
        ("December 2011", None),
        ("yesterday", None),
        ("", None),
        (None, None),
        (20111201, None),
    ],
)
def test_parse_date(value: object, expected: str | None) -> None:
    assert parse_date(value) == expected


SUFFIXES = [
    ".txt", ".md", ".html", ".htm", ".json", ".jsonl", ".xml", ".rss", ".atom", ".gz",
    ".jsonl.gz", "", ".bin",
]  # fmt: skip


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600), suffix=st.sampled_from(SUFFIXES), pack=st.booleans())
def test_random_bytes_never_raise(data: bytes, suffix: str, pack: bool) -> None:
    name = "random" + suffix
    payload = gzip.compress(data) if pack else data
    for item in read_document(payload, name):
        assert isinstance(item, ArticleRecord | ReadError)
        assert item.origin.startswith(name)
        if isinstance(item, ArticleRecord):
            assert item.text and "\x00" not in item.text and "\r" not in item.text
        else:
            assert item.message and "\n" not in item.message


@settings(max_examples=100, deadline=None)
@given(
    text=st.text(max_size=300),
    wrapper=st.sampled_from(
        [
            '{{"text": {0}, "title": {0}, "date": {0}, "url": {0}}}',
            "<rss version='2.0'><channel><item><description>{1}</description></item>"
            "</channel></rss>",
            "<html><body><article><p>{1}</p></article></body></html>",
            "---\ntitle: {1}\n---\n{1}",
        ]
    ),
    suffix=st.sampled_from([".json", ".jsonl", ".rss", ".html", ".md", ".txt"]),
)
def test_random_text_in_plausible_shells_never_raises(text: str, wrapper: str, suffix: str) -> None:
    import json

    payload = wrapper.format(json.dumps(text), text).encode("utf-8", "surrogatepass")
    for item in read_document(payload, "shell" + suffix):
        assert isinstance(item, ArticleRecord | ReadError)


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_text("Text nobody may read.")
    real_open = Path.open

    def refuse(self: Path, *args: object, **kwargs: object) -> object:
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refuse)
    items = read(locked, DATA / "note.txt")
    assert items[0] == ReadError(str(locked), "cannot open file: Permission denied")
    assert isinstance(items[1], ArticleRecord)


def test_special_file_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    assert read(fifo) == [ReadError(str(fifo), "not a regular file")]


def test_plain_file_over_the_cap_is_not_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.html"
    path.write_bytes(b"<p>" + b"x" * 4096 + b"</p>")
    assert read(path, max_bytes=1024) == [ReadError(str(path), "file is larger than 1 KB")]


@pytest.mark.parametrize(
    "front",
    ["title: [a, b]\ndate: 2011-13-45\nid: 12", 'title: "unclosed', "- just\n- a list"],
)
def test_odd_front_matter_never_loses_the_body(front: str) -> None:
    [record] = read_document(f"---\n{front}\n---\nBody here.".encode(), "odd.md")
    assert record.text.endswith("Body here.")
    assert record.published is None
