"""Readers that turn .txt/.md/.html/.json/.jsonl files and RSS/Atom feeds into article records."""

from __future__ import annotations

import codecs
import email.utils
import gzip
import io
import json
import os
import re
import time
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

DEFAULT_MAX_BYTES = 256 * 2**20
MAX_TITLE = 500
MAX_FIELD = 500

FORMAT_BY_SUFFIX = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".html": "html",
    ".htm": "html",
    ".xhtml": "html",
    ".json": "json",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".xml": "feed",
    ".rss": "feed",
    ".atom": "feed",
}
FORMAT_BY_TYPE = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "text/html": "html",
    "application/xhtml+xml": "html",
    "application/json": "json",
    "application/x-ndjson": "jsonl",
    "application/ndjson": "jsonl",
    "application/jsonl": "jsonl",
    "application/x-jsonlines": "jsonl",
    "application/rss+xml": "feed",
    "application/atom+xml": "feed",
    "application/xml": "feed",
    "text/xml": "feed",
}
GZIP_MAGIC = b"\x1f\x8b"
BINARY_MAGIC = (b"%PDF", b"PK\x03\x04", b"\x89PNG", b"GIF8", b"\xff\xd8\xff", b"\x7fELF")
_CONTROL_BYTES = frozenset([*range(0, 9), *range(14, 27), *range(28, 32), 127])
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+$", re.MULTILINE)
_MANY_NEWLINES = re.compile(r"\n{3,}")
_SPACES = re.compile(r"\s+")
_TAG = re.compile(r"<(?:[a-zA-Z!/?][^>]*)?>")
_HTML_LANG = re.compile(r"<html\b[^>]*?\blang\s*=\s*[\"']?([A-Za-z]{2,3}(?:-[A-Za-z0-9]+)*)", re.I)
_ISO_DATE = re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?:$|[T\s_])")
_COMPACT_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})$")
_KOREAN_DATE = re.compile(r"(\d{4})\s*년\s*(\d{1,2})\s*월\s*(\d{1,2})\s*일")
_YEAR = re.compile(r"(?<!\d)\d{4}(?!\d)")
_MD_HEADING = re.compile(r"#\s+(.+?)\s*#*\s*$")
_MARKDOWN = [  # inline markup to plain text; conservative so that prose is never damaged
    (re.compile(r"!?\[([^\]\n]*)\]\([^)\s]*(?:\s+\"[^\"\n]*\")?\)"), r"\1"),
    (re.compile(r"^#{1,6}[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$", re.M), r"\1"),
    (re.compile(r"(\*\*|__)(?=\S)([^\n]+?)(?<=\S)\1"), r"\2"),
    (re.compile(r"(?<![\w*])\*(?=[^\s*])([^\n*]+?)(?<=\S)\*(?![\w*])"), r"\1"),
    (re.compile(r"`([^`\n]+)`"), r"\1"),
    (re.compile(r"^[ \t]*(?:```|~~~).*$", re.M), ""),
    (re.compile(r"^[ \t]{0,3}>[ \t]?", re.M), ""),
]

TEXT_KEYS = ("text", "body", "content", "content_text")
HTML_KEYS = ("content_html", "html")
TITLE_KEYS = ("title", "headline")
URL_KEYS = ("url", "link")
ID_KEYS = ("id", "guid", "external_id")
SOURCE_KEYS = ("source", "publication")
DATE_KEYS = ("date", "published", "date_published", "pubDate")
LANGUAGE_KEYS = ("language", "lang")


@dataclass(frozen=True)
class ArticleRecord:
    """One article read from a file, cleaned and ready for the store."""

    text: str
    title: str | None = None
    url: str | None = None
    external_id: str | None = None
    source: str | None = None
    published: str | None = None
    language: str | None = None
    origin: str = ""


@dataclass(frozen=True)
class ReadError:
    """A file, line or item that could not be read, with a one-line message for a human."""

    origin: str
    message: str


Item = ArticleRecord | ReadError


# --- cleaning ---------------------------------------------------------------------------------


def clean_text(value: str) -> str:
    """Return plain text without NULs or control characters, with \\n line ends and no trailing
    spaces."""
    value = value.replace("\r\n", "\n").replace("\r", "\n").replace("\ufeff", "")
    value = _CONTROL_CHARS.sub("", value)
    value = _TRAILING_SPACE.sub("", value)
    return _MANY_NEWLINES.sub("\n\n", value).strip("\n").rstrip()


def clean_line(value: Any, limit: int = MAX_FIELD) -> str | None:
    """Return a one-line field (title, source, id) without tags, or None when empty."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        return None
    value = _TAG.sub("", value) if "<" in value else value
    value = _SPACES.sub(" ", _CONTROL_CHARS.sub("", value)).strip()
    return value[:limit].rstrip() or None


def clean_url(value: Any) -> str | None:
    """Return the value if it is an absolute http or https URL, else None."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if len(value) > 2048 or _SPACES.search(value) or _CONTROL_CHARS.search(value):
        return None
    if re.match(r"https?://[^/?#\s]+", value, re.IGNORECASE):
        return value
    return None


def parse_date(value: Any) -> str | None:
    """Return an ISO "YYYY-MM-DD" date from a date, struct_time or string in many formats."""
    try:
        return _parse_date(value)
    except Exception:  # dates are best effort; a bad one is just unknown
        return None


def _parse_date(value: Any) -> str | None:
    if isinstance(value, datetime):
        return _iso(value.year, value.month, value.day)
    if isinstance(value, date):
        return _iso(value.year, value.month, value.day)
    if isinstance(value, time.struct_time):
        return _iso(value.tm_year, value.tm_mon, value.tm_mday)
    if not isinstance(value, str):
        return None
    text = value.strip()[:100]
    if match := _ISO_DATE.match(text):
        return _iso(*(int(part) for part in match.groups()))
    if match := _COMPACT_DATE.match(text) or _KOREAN_DATE.search(text):
        return _iso(*(int(part) for part in match.groups()))
    if not _YEAR.search(text):
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is not None:
        return _iso(parsed.year, parsed.month, parsed.day)
    from dateutil import parser as date_parser

    first = date_parser.parse(text, default=datetime(2000, 1, 1), ignoretz=True)
    second = date_parser.parse(text, default=datetime(2001, 2, 2), ignoretz=True)
    if (first.month, first.day) != (second.month, second.day):
        return None  # the string lacks a month or a day
    return _iso(first.year, first.month, first.day)


def _iso(year: int, month: int, day: int) -> str | None:
    if not 1000 <= year <= 9999:
        return None
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def html_to_text(markup: str) -> str:
    """Return the plain text of an HTML fragment, paragraphs separated by blank lines."""
    import lxml.html
    from lxml import etree

    markup = _CONTROL_CHARS.sub("", markup)
    if not markup.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.LxmlError, ValueError):
        return clean_text(_TAG.sub(" ", markup))
    for element in list(root.iter()):
        if element is root:
            continue
        if not isinstance(element.tag, str) or element.tag in _DROPPED_TAGS:
            element.drop_tree()
    for element in root.iter():
        if element.text:
            element.text = _SPACES.sub(" ", element.text)
        if element.tail:
            element.tail = _SPACES.sub(" ", element.tail)
    for element in root.iter():
        if element.tag == "br":
            element.tail = "\n" + (element.tail or "")
        elif element.tag in _BLOCK_TAGS:
            element.text = "\n\n" + (element.text or "")
            element.tail = "\n\n" + (element.tail or "")
    lines = (line.strip() for line in root.text_content().split("\n"))
    return clean_text("\n".join(lines))


_DROPPED_TAGS = frozenset(
    ["script", "style", "noscript", "iframe", "object", "embed", "template", "head", "svg", "form"]
)
_BLOCK_TAGS = frozenset(
    "p div li ul ol h1 h2 h3 h4 h5 h6 blockquote pre tr table section article header footer "
    "aside figure figcaption dl dt dd hr".split()
)


def _make_record(text: str | None, origin: str, **fields: Any) -> Item:
    text = clean_text(text) if isinstance(text, str) else ""
    if not text:
        return ReadError(origin, "no article text")
    language = clean_line(fields.get("language"), 35)
    return ArticleRecord(
        text=text,
        title=clean_line(fields.get("title"), MAX_TITLE),
        url=clean_url(fields.get("url")),
        external_id=clean_line(fields.get("external_id")),
        source=clean_line(fields.get("source")),
        published=parse_date(fields.get("published")),
        language=language.lower() if language else None,
        origin=origin,
    )


# --- bytes to text ----------------------------------------------------------------------------


def decode_bytes(data: bytes) -> str:
    """Decode bytes as UTF-8 (or UTF-16 with a BOM), falling back to a detected charset."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", "replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", "replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lenient = data.decode("utf-8", "replace")
    non_ascii = sum(1 for byte in data[:1_000_000] if byte > 127)
    if lenient.count("\ufffd") * 10 <= non_ascii:
        return lenient  # mostly valid UTF-8 with a few broken bytes
    try:
        from charset_normalizer import from_bytes

        guess = from_bytes(data[:65536]).best()
        if guess is not None and guess.encoding:
            return data.decode(guess.encoding, "replace")
    except Exception:  # detection is optional; fall back to replacement
        pass
    return lenient


def looks_binary(head: bytes) -> bool:
    """Tell whether the first bytes of a file look like a binary (non-text) file."""
    if head.startswith(BINARY_MAGIC):
        return True
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or not head:
        return False
    controls = sum(1 for byte in head if byte in _CONTROL_BYTES)
    return controls * 10 > len(head)


def detect_format(name: str, content_type: str | None = None) -> str | None:
    """Return the format for a file name or content type: text, markdown, html, json, jsonl,
    feed, "sniff" when the name has no suffix, or None when the suffix is unknown."""
    suffix = Path(name).suffix.lower()
    if suffix in FORMAT_BY_SUFFIX:
        return FORMAT_BY_SUFFIX[suffix]
    if content_type:
        media = content_type.split(";")[0].strip().lower()
        if media in FORMAT_BY_TYPE:
            return FORMAT_BY_TYPE[media]
    if not suffix or not re.fullmatch(r"\.[a-z0-9]{1,12}", suffix):
        return "sniff"
    return None


def sniff_format(head: bytes) -> str:
    """Guess a format from the first bytes of a document."""
    start = decode_bytes(head[:4096]).lstrip("\ufeff \t\r\n").lower()
    if start.startswith("<?xml"):
        return "html" if "<html" in start[:2048] else "feed"
    if start.startswith(("<rss", "<feed", "<rdf")):
        return "feed"
    if start.startswith("<"):
        return "html"
    if start.startswith(("{", "[")):
        return "json"
    return "text"


# --- public entry points ----------------------------------------------------------------------


def read_paths(
    paths: Iterable[str | Path], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[ArticleRecord | ReadError]:
    """Yield article records and read errors from files and directories, one file at a time."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for file_path in _walk(path):
                yield from _guarded(_read_file(file_path, max_bytes), _origin(file_path))
        elif path.exists():
            yield from _guarded(_read_file(path, max_bytes), str(path))
        else:
            yield ReadError(str(path), "no such file or directory")


def read_document(
    data: bytes,
    name: str,
    *,
    content_type: str | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> Iterator[ArticleRecord | ReadError]:
    """Yield article records and read errors from one in-memory document (an upload)."""
    name = name or "upload"
    if len(data) > max_bytes:
        yield ReadError(name, f"file is larger than {_megabytes(max_bytes)}")
        return
    yield from _guarded(_read_stream(io.BytesIO(data), name, content_type, max_bytes), name)


def _guarded(items: Iterator[Item], origin: str) -> Iterator[Item]:
    try:
        yield from items
    except RecursionError:
        yield ReadError(origin, "document is nested too deeply")
    except Exception as error:  # a reader bug must not stop the other files
        yield ReadError(origin, f"cannot read file: {_describe(error)}")


def count_hint(path: Path) -> int | None:
    """Cheaply estimate how many records a path holds, for a progress bar (None if unknown)."""
    try:
        path = Path(path)
        if path.is_dir():
            found = (item for item in _walk(path) if isinstance(item, Path))
            return sum(count_hint(item) or 1 for item in found)
        with path.open("rb") as raw:
            compressed = raw.read(2) == GZIP_MAGIC
            raw.seek(0)
            name = _inner_name(path.name) if compressed else path.name
            fmt = detect_format(name)
            if fmt in ("text", "markdown", "html"):
                return 1
            if fmt not in ("jsonl", "feed"):
                return None
            stream: IO[bytes] = gzip.GzipFile(fileobj=raw) if compressed else raw
            return _count_markers(stream, fmt)
    except (OSError, EOFError, zlib.error):
        return None


def _count_markers(stream: IO[bytes], fmt: str) -> int:
    count, total, last = 0, 0, b"\n"
    while chunk := stream.read(1 << 20):
        total += len(chunk)
        if total > DEFAULT_MAX_BYTES:
            break
        if fmt == "jsonl":
            count += chunk.count(b"\n")
            last = chunk[-1:]
        else:
            count += chunk.count(b"<item") + chunk.count(b"<entry")
    return count + (1 if fmt == "jsonl" and last != b"\n" else 0)


# --- files and streams ------------------------------------------------------------------------


def _walk(root: Path) -> Iterator[Path | ReadError]:
    problems: list[OSError] = []
    for directory, subdirs, files in os.walk(root, onerror=problems.append):
        for problem in problems:
            yield ReadError(str(problem.filename), f"cannot list directory: {problem.strerror}")
        problems.clear()
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for file_name in sorted(files):
            if not file_name.startswith("."):
                yield Path(directory, file_name)
    for problem in problems:
        yield ReadError(str(problem.filename), f"cannot list directory: {problem.strerror}")


def _read_file(path: Path | ReadError, max_bytes: int) -> Iterator[Item]:
    if isinstance(path, ReadError):
        yield path
        return
    origin = str(path)
    try:
        if not path.is_file():
            yield ReadError(origin, "not a regular file")
            return
        raw = path.open("rb")
    except OSError as error:
        yield ReadError(origin, f"cannot open file: {error.strerror or error}")
        return
    with raw:
        yield from _read_stream(raw, origin, None, max_bytes)


def _read_stream(
    raw: IO[bytes], origin: str, content_type: str | None, max_bytes: int
) -> Iterator[Item]:
    try:
        head = raw.read(2)
        raw.seek(0)
    except OSError as error:
        yield ReadError(origin, f"cannot read file: {error.strerror or error}")
        return
    compressed = head == GZIP_MAGIC
    name = _inner_name(Path(origin).name) if compressed else Path(origin).name
    fmt = detect_format(name, None if compressed else content_type)
    if fmt is None:
        yield ReadError(origin, f"unsupported file type {Path(name).suffix!r}")
        return
    if not compressed and fmt != "jsonl" and _size(raw) > max_bytes:
        yield ReadError(origin, f"file is larger than {_megabytes(max_bytes)}")
        return
    stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
    try:
        if fmt == "jsonl":
            yield from _read_jsonl(stream, origin, max_bytes, compressed)
            return
        data = stream.read(max_bytes + 1)
        if len(data) > max_bytes:
            verb = "expands past" if compressed else "is larger than"
            yield ReadError(origin, f"file {verb} {_megabytes(max_bytes)}")
            return
    except (OSError, EOFError, zlib.error) as error:
        problem = "corrupt or truncated gzip data" if compressed else "cannot read file"
        yield ReadError(origin, f"{problem}: {_describe(error)}")
        return
    yield from _read_bytes(data, origin, fmt)


def _read_bytes(data: bytes, origin: str, fmt: str) -> Iterator[Item]:
    if not data.strip():
        yield ReadError(origin, "file is empty")
        return
    if looks_binary(data[:8192]):
        yield ReadError(origin, "binary file, not text (expected .txt, .md, .html, .json, ...)")
        return
    if fmt == "sniff":
        fmt = sniff_format(data)
    reader = _READERS[fmt]
    try:
        yield from reader(data, origin)
    except RecursionError:
        yield ReadError(origin, "document is nested too deeply")
    except Exception as error:  # hostile input must become a ReadError
        yield ReadError(origin, f"cannot read {fmt}: {_describe(error)}")


def _read_jsonl(stream: IO[bytes], origin: str, max_bytes: int, compressed: bool) -> Iterator[Item]:
    total, number, seen = 0, 0, False
    while True:
        limit = max_bytes + 1 - total if compressed else max_bytes + 1
        line = stream.readline(max(limit, 1))
        if not line:
            break
        number += 1
        total += len(line)
        if compressed and total > max_bytes:
            yield ReadError(origin, f"file expands past {_megabytes(max_bytes)}")
            return
        if not line.endswith(b"\n") and len(line) > max_bytes:
            yield ReadError(f"{origin}:{number}", f"line is longer than {_megabytes(max_bytes)}")
            while (rest := stream.readline(1 << 20)) and not rest.endswith(b"\n"):
                pass
            continue
        if number == 1 and looks_binary(line[:8192]):
            yield ReadError(origin, "binary file, not text (expected JSON Lines)")
            return
        if not line.strip():
            continue
        seen = True
        yield _jsonl_item(line, f"{origin}:{number}")
    if not seen:
        yield ReadError(origin, "file is empty")


def _jsonl_item(line: bytes, origin: str) -> Item:
    text = line.decode("utf-8", "replace").lstrip("\ufeff").strip()
    try:
        value = json.loads(text)
    except RecursionError:
        return ReadError(origin, "JSON is nested too deeply")
    except json.JSONDecodeError as error:
        return ReadError(origin, f"invalid JSON: {error.msg} at column {error.colno}")
    except ValueError as error:  # e.g. an integer with too many digits
        return ReadError(origin, f"invalid JSON: {_describe(error)}")
    if not isinstance(value, dict):
        return ReadError(origin, f"expected a JSON object, got {_json_kind(value)}")
    return _record_from_mapping(value, origin, "")


def _read_text(data: bytes, origin: str) -> Iterator[Item]:
    yield _record_from_text(decode_bytes(data), origin, markdown=False)


def _read_markdown(data: bytes, origin: str) -> Iterator[Item]:
    yield _record_from_text(decode_bytes(data), origin, markdown=True)


def _record_from_text(text: str, origin: str, *, markdown: bool) -> Item:
    text = clean_text(text)
    meta: Mapping[str, Any] = {}
    if text.startswith("---"):
        import frontmatter
        import yaml

        class _PlainYAMLHandler(frontmatter.YAMLHandler):
            """Front matter values stay strings: no timestamps or numbers that fail to build."""

            def load(self, fm: str, **kwargs: object) -> Any:
                return yaml.load(fm, Loader=yaml.BaseLoader)  # BaseLoader is safe

        try:
            post = frontmatter.loads(text, handler=_PlainYAMLHandler())
        except Exception:  # broken YAML
            post = None  # not front matter after all; keep the whole text
        if post is not None and isinstance(post.metadata, dict):
            meta, text = post.metadata, clean_text(post.content)
    title = _first(meta, TITLE_KEYS)
    first_line, _, rest = text.partition("\n")
    if markdown and (match := _MD_HEADING.match(first_line)):
        heading = match.group(1)
        if title is None:
            title = heading
        if heading == title and rest.strip():
            text = rest  # the heading is the title; keep it out of the body
    if markdown:
        text = markdown_to_text(text)
    return _make_record(text, origin, **_fields(meta, title))


def markdown_to_text(text: str) -> str:
    """Return Markdown as plain text: link, emphasis, code, heading and quote markup removed."""
    for pattern, replacement in _MARKDOWN:
        text = pattern.sub(replacement, text)
    return text


def _read_html(data: bytes, origin: str) -> Iterator[Item]:
    import trafilatura

    markup = _CONTROL_CHARS.sub("", decode_bytes(data))
    document = trafilatura.bare_extraction(
        markup, with_metadata=True, include_comments=False, include_tables=True
    )
    text = getattr(document, "text", None) if document is not None else None
    if not text or not text.strip():
        yield ReadError(origin, "HTML page has no article text")
        return
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    title = clean_line(document.title, MAX_TITLE)
    if len(lines) > 1 and title and lines[0] == title:
        lines = lines[1:]  # trafilatura repeats the headline as the first paragraph
    yield _make_record(
        "\n\n".join(lines),
        origin,
        title=title,
        url=document.url,
        source=document.sitename,
        published=document.date,
        language=document.language or _html_language(markup[:65536]),
    )


def _html_language(head: str) -> str | None:
    match = _HTML_LANG.search(head)
    return match.group(1) if match else None


def _read_json(data: bytes, origin: str) -> Iterator[Item]:
    text = decode_bytes(data)
    try:
        value = json.loads(text)
    except RecursionError:
        yield ReadError(origin, "JSON is nested too deeply")
        return
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # several objects, one per line: JSON Lines after all
            yield from _read_jsonl(io.BytesIO(data), origin, len(data) + 1, False)
        else:
            yield ReadError(origin, f"invalid JSON: {_describe(error)}")
        return
    if isinstance(value, dict) and _first(value, TEXT_KEYS + HTML_KEYS) is None:
        container = next(
            (value[key] for key in ("items", "articles") if isinstance(value.get(key), list)), None
        )
        value = container if container is not None else value
    if isinstance(value, dict):
        yield _record_from_mapping(value, origin, "")
    elif isinstance(value, list):
        if not value:
            yield ReadError(origin, "JSON list is empty")
        for index, item in enumerate(value, start=1):
            if isinstance(item, dict):
                yield _record_from_mapping(item, origin, f"item {index}: ")
            else:
                yield ReadError(
                    origin, f"item {index}: expected a JSON object, got {_json_kind(item)}"
                )
    else:
        yield ReadError(origin, f"expected a JSON object or list, got {_json_kind(value)}")


def _record_from_mapping(value: Mapping[str, Any], origin: str, where: str) -> Item:
    text = _first(value, TEXT_KEYS, allow=(str, list))
    if isinstance(text, list):  # paragraphs
        text = "\n\n".join(part for part in text if isinstance(part, str))
    if text is None and (markup := _first(value, HTML_KEYS)) is not None:
        text = html_to_text(markup)
    record = _make_record(text, origin, **_fields(value, _first(value, TITLE_KEYS)))
    if isinstance(record, ReadError):
        return ReadError(
            origin, f"{where}no article text (expected a non-empty 'text', 'body' or 'content')"
        )
    return record


def _fields(value: Mapping[str, Any], title: Any) -> dict[str, Any]:
    source = _first(value, SOURCE_KEYS, allow=(str, dict))
    if isinstance(source, dict):
        source = _first(source, ("name", "title"))
    return {
        "title": title,
        "url": _first(value, URL_KEYS),
        "external_id": _first(value, ID_KEYS, allow=(str, int)),
        "source": source,
        "published": _first(value, DATE_KEYS, allow=(str, date)),
        "language": _first(value, LANGUAGE_KEYS),
    }


def _first(value: Mapping[str, Any], keys: Iterable[str], allow: tuple[type, ...] = (str,)) -> Any:
    for key in keys:
        item = value.get(key)
        if isinstance(item, bool) or not isinstance(item, allow):
            continue
        if isinstance(item, str | dict) and not (item.strip() if isinstance(item, str) else item):
            continue
        return item
    return None


def _read_feed(data: bytes, origin: str) -> Iterator[Item]:
    import feedparser

    # A file object, never bytes: feedparser opens bytes that name an existing file.
    parsed = feedparser.parse(io.BytesIO(data), sanitize_html=True, resolve_relative_uris=False)
    if not parsed.get("version") or not parsed.entries:
        if not parsed.get("version"):
            problem = parsed.get("bozo_exception")
            detail = f" ({_describe(problem)})" if problem else ""
            yield ReadError(origin, f"not an RSS or Atom feed{detail}")
        else:
            yield ReadError(origin, "feed has no entries")
        return
    feed = parsed.get("feed", {})
    for index, entry in enumerate(parsed.entries, start=1):
        try:
            item = _record_from_entry(entry, feed, origin, index)
        except Exception as error:  # one odd entry must not hide the others
            item = ReadError(origin, f"entry {index}: {_describe(error)}")
        yield item


def _record_from_entry(entry: Any, feed: Any, origin: str, index: int) -> Item:
    text = ""
    for part in [*entry.get("content", []), entry.get("summary_detail")]:
        if part and part.get("value", "").strip():
            value = part["value"]
            text = value if part.get("type") == "text/plain" else html_to_text(value)
            if text:
                break
    source = (entry.get("source") or {}).get("title") or feed.get("title")
    record = _make_record(
        text,
        origin,
        title=entry.get("title"),
        url=entry.get("link"),
        external_id=entry.get("id"),
        source=source,
        published=_entry_date(entry),
        language=feed.get("language"),
    )
    if isinstance(record, ReadError):
        return ReadError(origin, f"entry {index}: no content or summary")
    return record


def _entry_date(entry: dict[str, Any]) -> str | None:
    # Plain dict lookups: FeedParserDict.get warns when it maps a missing key to another.
    for key in ("published", "updated", "published_parsed", "updated_parsed"):
        if found := parse_date(dict.get(entry, key)):
            return found
    return None


_READERS = {
    "text": _read_text,
    "markdown": _read_markdown,
    "html": _read_html,
    "json": _read_json,
    "feed": _read_feed,
}


def _origin(item: Path | ReadError) -> str:
    return item.origin if isinstance(item, ReadError) else str(item)


def _size(raw: IO[bytes]) -> int:
    try:
        size = raw.seek(0, io.SEEK_END)
        raw.seek(0)
        return size
    except OSError:
        return 0


def _inner_name(name: str) -> str:
    return name[:-3] if name.lower().endswith(".gz") else name


def _megabytes(size: int) -> str:
    if size >= 2**20:
        return f"{size / 2**20:.4g} MB"
    return f"{size / 2**10:.4g} KB" if size >= 2**10 else f"{size} bytes"


def _describe(error: BaseException) -> str:
    message = _SPACES.sub(" ", str(error)).strip()[:200]
    return message or type(error).__name__


def _json_kind(value: Any) -> str:
    kinds = {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}
    return "null" if value is None else kinds.get(type(value), "a number")
