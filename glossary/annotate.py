"""Annotation: known-term mentions and discovered candidates in one sorted list of spans."""

from __future__ import annotations

import json
import re
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import replace
from typing import TextIO

from glossary.discover import candidate_key, discover, title_ranges
from glossary.matcher import Matcher, Span
from glossary.text import fold

_JOIN_OF = re.compile(r"\s+of\s+(?:the\s+)?$")
_ORDINAL_PREFIX = re.compile(r"(?:\d+(?:st|nd|rd|th)|[A-Z][a-z]+(?:st|nd|rd|th)|\d{4})\s+")
# the Juche calendar ("Juche 100 (2011)", "the new century of Juche") is a date, not the idea
_JUCHE_DATE = re.compile(r"\s+\d{1,3}\b")
_JUCHE_CENTURY = re.compile(r"century\s+of\s+$", re.IGNORECASE)
_DEFINES = re.compile(r"\s?\(([A-Z][A-Za-z&.]{1,9})\)")
_CURRENCY = re.compile(r"\s+(?:dollars?|yuan|yen|rubles?|roubles?|euros?)\b", re.I)
_MODEL_NUMBER = re.compile(r"[-\u2010\u2011\u2013]\d")
_HEAD_END = re.compile(r"\s+(?:of|for|in)\s|,\s")


def _merge_known(text: str, cand: Span, inside: list[Span]) -> Span | None:
    """A candidate that is just a country plus a known body is that body, written longer.

    "DPRK National Defence Commission", "Ministry of National Defence of the DPRK".
    """
    if len(inside) == 1 and inside[0].type == "event" and inside[0].end == cand.end:
        if _ORDINAL_PREFIX.fullmatch(text[cand.start : inside[0].start]):
            return replace(inside[0], start=cand.start, surface=cand.surface, nested=False)
    if len(inside) != 2:
        return None
    a, b = sorted(inside, key=lambda s: s.start)
    if a.start != cand.start or b.end != cand.end:
        return None
    gap = text[a.end : b.start]
    if a.type == "place" and b.type == "organization" and gap == " ":
        body = b
    elif a.type == "organization" and b.type == "place" and _JOIN_OF.fullmatch(gap):
        body = a
    else:
        return None
    return replace(body, start=cand.start, end=cand.end, surface=cand.surface, nested=False)


def _select(spans: list[Span]) -> tuple[list[Span], list[Span]]:
    """Leftmost-longest top-level spans (known terms win ties) and the rest."""
    order = sorted(spans, key=lambda s: (s.start, -s.end, s.candidate))
    top: list[Span] = []
    rest: list[Span] = []
    last = -1
    for s in order:
        if s.start >= last:
            top.append(s)
            last = s.end
        else:
            rest.append(s)
    return top, rest


def annotate(
    text: str,
    matcher: Matcher,
    *,
    date: str | None = None,
    nested: bool = False,
    candidates: bool = True,
    types: set[str] | None = None,
) -> list[Span]:
    """Known-term mentions and (optionally) discovered candidates in text, sorted by start."""
    if not nested and not candidates:
        return _top_known(text, matcher, date, types)
    known = _defined_acronyms(text, matcher.match(text, date=date, nested=True))
    known_top = [k for k in known if not k.nested]
    spans = [replace(k, nested=False) if k.nested else k for k in known]
    if candidates:
        spans.extend(_resolve_acronyms(discover(text, known_top), known_top))
    spans = _mentions_only(text, spans)
    titles = title_ranges(text)
    if titles:
        spans = [s for s in spans if not any(a <= s.start and s.end <= b for a, b in titles)]
    # spans the matcher reported as nested stay nested: they never compete at top level
    inner_known = {(k.start, k.end, k.slug) for k in known if k.nested}
    top, _ = _select([s for s in spans if (s.start, s.end, s.slug) not in inner_known])
    spans.sort(key=lambda s: s.start)
    starts = [s.start for s in spans]
    out: list[Span] = []
    for outer in top:
        lo, hi = bisect_left(starts, outer.start), bisect_left(starts, outer.end)
        inner = [
            r
            for r in spans[lo:hi]
            if r.end <= outer.end
            and r is not outer
            and (r.end - r.start) < (outer.end - outer.start)
        ]
        if outer.candidate and inner:
            merged = _merge_known(
                text, outer, [r for r in inner if not r.candidate and not _within_any(r, inner)]
            )
            if merged is not None:
                outer = merged
        out.append(outer)
        if nested and inner:
            out.extend(_nest(outer, inner, matcher))
    if types is not None:
        out = [s for s in out if s.type in types]
    return sorted(out, key=lambda s: (s.start, -s.end))


def _top_known(text: str, matcher: Matcher, date: str | None, types: set[str] | None) -> list[Span]:
    """annotate() without nesting or candidates (the API's defaults): the matcher's top-level
    spans, filtered the same way; nested mentions would only be computed to be dropped."""
    spans = _mentions_only(text, _defined_acronyms(text, matcher.match(text, date=date)))
    titles = title_ranges(text) if spans else ()
    if titles:
        spans = [s for s in spans if not any(a <= s.start and s.end <= b for a, b in titles)]
    if types is not None:
        spans = [s for s in spans if s.type in types]
    return spans  # top-level spans do not overlap: in start order already


def _defined_acronyms(text: str, known: list[Span]) -> list[Span]:
    """An ambiguous acronym the text defines ("Ministry of State Security (MSS)") is resolved."""
    if "(" not in text:
        return known
    defined: dict[str, Span] = {}
    for k in known:
        if "(" not in text[k.end : k.end + 2]:
            continue  # what _DEFINES needs first, checked without the regex
        m = _DEFINES.match(text, k.end)
        if m and not k.ambiguous and not k.nested and k.slug:
            defined.setdefault(m.group(1), k)
    if not defined:
        return known
    out = []
    for k in known:
        d = defined.get(k.surface)
        if k.ambiguous and d is not None and d.slug in k.alternatives:
            k = replace(
                k, slug=d.slug, term_id=d.term_id, type=d.type, ambiguous=False, alternatives=()
            )
        out.append(k)
    return out


def _mentions_only(text: str, spans: list[Span]) -> list[Span]:
    """The spans that are mentions: not a name followed by a model number (a weapon or a
    satellite, "Hwasong-17"), not a currency ("U.S. dollars", "Chinese yuan"), not the Juche
    calendar ("Juche 100 (2011)", "the new century of Juche")."""
    out = []
    for s in spans:
        surface, end = s.surface, s.end
        if " " not in surface and _MODEL_NUMBER.match(text, end):
            continue
        if s.type == "place" and _CURRENCY.match(text, end):
            continue
        if len(surface) == 5 and surface.lower() == "juche":
            before = max(0, s.start - 20)
            if _JUCHE_DATE.match(text, end) or _JUCHE_CENTURY.search(text, before, s.start):
                continue
        out.append(s)
    return out


def _within_any(s: Span, others: list[Span]) -> bool:
    return any(
        o is not s
        and o.start <= s.start
        and s.end <= o.end
        and (o.end - o.start) > (s.end - s.start)
        for o in others
    )


def _nest(outer: Span, inner: list[Span], matcher: Matcher) -> list[Span]:
    """Nested mentions inside outer, all levels, leftmost-longest at each level."""
    out: list[Span] = []
    level, _ = _select(inner)
    cut = _HEAD_END.search(outer.surface)
    head_end = outer.start + cut.start() if cut else outer.end
    for s in level:
        if s.end == head_end and s.type == outer.type and s.start > outer.start - 1:
            continue  # "Central Committee" in "Central Committee of the FRCL": the head, not a name
        if s.candidate:
            ok = s.type != "place" or bool(
                re.search(r"\b(?:Province|County|City|District|Island)$", s.surface, re.I)
            )
        else:
            ok = matcher.nestable(s, outer)
        if not ok:
            continue
        out.append(replace(s, nested=True))
        deeper = [
            r
            for r in inner
            if s.start <= r.start and r.end <= s.end and (r.end - r.start) < (s.end - s.start)
        ]
        out.extend(_nest(s, deeper, matcher))
    return out


def _resolve_acronyms(cands: list[Span], known: list[Span]) -> list[Span]:
    """Acronyms defined for a known term become mentions of that term."""
    by_key = {fold(k.surface): k for k in known}
    out = []
    for c in cands:
        full = by_key.get(fold(c.label)) if c.label else None
        if full is not None:
            c = replace(
                c,
                candidate=False,
                slug=full.slug,
                term_id=full.term_id,
                type=full.type,
                label=c.surface,
                definition=None,
            )
        out.append(c)
    return out


def annotate_jsonl(
    lines: Iterable[str], out: TextIO, matcher: Matcher, *, nested: bool = True
) -> int:
    """Annotate {"id","text","date"?} JSON lines into prediction lines; return the count written."""
    count = 0
    for line in lines:
        if not line.strip():
            continue
        item = json.loads(line)
        spans = annotate(item["text"], matcher, date=item.get("date"), nested=nested)
        mentions = [
            {
                "start": s.start,
                "end": s.end,
                "type": s.type,
                "term": s.slug if s.slug else candidate_key(s.surface),
                "candidate": s.candidate,
            }
            for s in spans
        ]
        out.write(json.dumps({"id": item["id"], "mentions": mentions}, ensure_ascii=False) + "\n")
        count += 1
    return count
