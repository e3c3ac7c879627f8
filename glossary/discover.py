"""Discovery of names the glossary lacks: candidate terms with a type guess and a definition."""

from __future__ import annotations

import bisect
import re
from dataclasses import replace
from functools import lru_cache

from glossary.matcher import Span
from glossary.text import fold, looks_korean

ORG_HEADS = frozenset(
    "ministry committee bureau department commission association union academy army navy party "
    "factory complex farm mine station university school troupe band company corporation "
    "institute college cooperative co-op society federation confederation league council agency "
    "group squad team brigade regiment division corps command mill plant works enterprise shop "
    "workshop center centre hospital bank court procuratorate assembly cabinet government "
    "parliament senate staff secretariat presidium headquarters guard force forces police service "
    "kindergarten library ensemble orchestra choir club organization organisation alliance front "
    "office administration authority directorate unit fleet institution foundation studio "
    "newspaper sinmun broadcasting network agency embassy consulate mission delegation board "
    "restaurant store ltd inc".split()
)
PLACE_HEADS = frozenset(
    "province county city district market mountain mountains mount mt. river island islet islands "
    "street square bridge village town municipality port harbour harbor airport dam reservoir lake "
    "stream sea bay strait gulf peninsula plain valley pass peak falls waterfall beach coast zone "
    "region park hall hotel tower palace theatre theater stadium arena monument statue camp rink "
    "resort spring springs garden gardens zoo pavilion gate arch castle fortress temple tomb "
    "mausoleum cemetery road avenue plaza house museum gallery cave".split()
)
EVENT_HEADS = frozenset(
    "congress meeting session conference anniversary festival fair exhibition expo games summit "
    "forum olympics championship championships cup tournament war day rally ceremony symposium "
    "seminar plenum election elections drill drills exercise exercises talks contest competition "
    "olympiad marathon incident uprising battle operation celebration carnival".split()
)
POLICY_HEADS = frozenset(
    "law decree plan campaign movement line system policy programme program declaration "
    "agreement treaty idea ideas strategy doctrine act constitution charter resolution "
    "initiative partnership accord principle principles theory regulation regulations code pact "
    "convention".split()
)
_WEAK = {"line": 0.35, "order": 0.35, "day": 0.45, "group": 0.5, "unit": 0.45, "service": 0.45,
         "house": 0.5, "office": 0.5, "station": 0.6, "front": 0.5, "force": 0.45, "act": 0.4,
         "convention": 0.45, "operation": 0.45, "exercise": 0.45, "system": 0.5, "center": 0.55,
         "centre": 0.55, "board": 0.5, "store": 0.4, "road": 0.45, "gate": 0.45, "mission": 0.45,
         "network": 0.45, "meeting": 0.5, "session": 0.5, "initiative": 0.45, "idea": 0.6,
         "partnership": 0.5, "code": 0.4, "cup": 0.45, "war": 0.6, "ltd": 0.6,
         "inc": 0.6}  # fmt: skip
_HEAD_TYPE: dict[str, str] = {}
for _words, _type in (
    (PLACE_HEADS, "place"),
    (POLICY_HEADS, "policy"),
    (EVENT_HEADS, "event"),
    (ORG_HEADS, "organization"),
):
    for _w in _words:
        _HEAD_TYPE[_w] = _type
_START_HEADS = {"mount": "place", "mt.": "place", "lake": "place", "cape": "place"}
_CONNECTORS = frozenset("of the for and on in & de du des la le y".split())
_STOP_START = frozenset(
    "the a an this that these those its his her their our my your some any every each all no one "
    "secretary president premier chairman chairwoman vice minister director premier "
    "marshal leader comrade deputy mr mrs ms dr".split()
)
_SUBUNIT_HEADS = "bureau|department|committee|team|commission|division|section|squad|unit"
_SUBUNIT = re.compile(
    rf"(?:['\u2019]s)?((?:\s+[a-z][a-z\-]+){{0,4}}?\s+(?:{_SUBUNIT_HEADS}))\b"
    rf"((?:\s+[a-z][a-z\-]+){{0,2}}?\s+(?:{_SUBUNIT_HEADS}))?\b"
)
_LOWER_AFTER_PLACE = re.compile(r"((?:\s+[a-z][a-z\-]+){0,3}?\s+(?:zone|dam|reservoir|incident))\b")
_ROLE_AFTER = re.compile(
    r"\s+(?:chief|chiefs|director|directors|head|heads|officer|officers|official|officials|"
    r"member|members|agent|agents|secretary|chairman|staff|cadre|cadres|employee|employees)\b"
)
_CC_THE = re.compile(r", (?:the )?(?=[A-Z])")
_NUMBERED = re.compile(r"\s+No\.\s?\d+\b")
# Several patterns below put their look-behind after the first character, which is the same
# test but lets the regex engine skip ahead to the characters that can start a match.
_CAPS_WORD = re.compile(r"[A-Z](?<![\w.][A-Z])[A-Z]{2,5}(?![\w.])")  # not after a word or "."
_ROMAN = re.compile(r"[IVXLC]+")
_FUNCTION_WORDS = frozenset(
    "the a an of and to in on for with by as is was are were that which its their his her has "
    "have had will would also from at this these those said told other new some such it be been "
    "or but not into than then there here who whom what when where how all any each".split()
)
_ORDINAL_WORDS = (
    "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|eleventh|twelfth|"
    "thirteenth|fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth"
)
_ORDINAL = rf"(?:\d+(?:st|nd|rd|th)|{_ORDINAL_WORDS})"
_TOKEN = re.compile(
    r"(?:[A-Z]\.){2,}|(?:No|Mt|St|Nos)\.(?=\s?\d|\s[A-Z])|\d+(?:st|nd|rd|th)\b"
    r"|[^\W_]\w*(?:[-'\u2019](?=[^\W_])\w*)*(?:(?<=s)['\u2019](?!\w))?"
)
_POSSESSIVE = re.compile(r"^(.+?)['\u2019]s$")
_SENT_END = re.compile(
    r"(?<=[.!?])[\"'\u201d\u2019)]*\s+(?=[\"'\u201c\u2018(]?[A-Z0-9])|\n+|,\s{2,}"
)
_ABBREV_END = re.compile(r"(?:\b[A-Z]|\b(?:No|Mt|St|Dr|Mr|Mrs|Ms|Jan|Feb|Aug|Sept?|Oct|Nov|Dec|"
                         r"Gen|Lt|Col|Co|Corp|Inc|Ltd|vs|etc|approx))\.$")  # fmt: skip
_WORK_WORDS = re.compile(
    r"\b(?:drama|film|movie|song|songs|opera|play|novel|book|poem|oratorio|symphony|article|"
    r"editorial|documentary|musical|painting|sculpture|titled|entitled|ballet|dance|suite|"
    r"photo|exhibit|poster|story|lecture|speech|work|treatise|essay|cantata|album|concert)\W{0,3}$",
    re.IGNORECASE,
)
_QUOTED = re.compile(  # an opening quote not after a word, 3-120 characters, a closing quote
    r"[\"\u201c\u2018'](?<!\w[\"\u201c\u2018'])([^\"\u201c\u201d\u2018\u2019'\n]{3,120})"
    r"[\"\u201d\u2019'](?!\w)"
)
_POLICY_ENDS = frozenset(
    "policy policies system line plan programme program law campaign movement strategy doctrine "
    "reform reforms initiative principle".split()
)
_POLICY_START = re.compile(
    r"(?:restructuring|reform|rectification|reorganization|modernization|normalization|"
    r"nationalization|localization|collectivization|denuclearization)\s+of\b",
    re.IGNORECASE,
)
_CLAUSE_WORDS = frozenset(
    "i we you he she they it would will should could must is are was were be been has have had "
    "not".split()
)
_DATELINE = re.compile(
    r"(?:^|\n)\s*([A-Z][A-Za-z'\-]+(?: [A-Z][A-Za-z'\-]+){0,2}),\s+(?:January|February|March|"
    r"April|May|June|July|August|September|October|November|December|Jan\.|Feb\.|Aug\.|Sept?\.|"
    r"Oct\.|Nov\.|Dec\.)\s+\d{1,2}\s+\((?:KCNA|Yonhap|AFP|Reuters|AP)\)"
)
_ACRONYM = re.compile(r"\s?\(([A-Z][A-Za-z&]{1,9}|(?:[A-Z]\.){2,})\)")
_PLURAL_HEAD = re.compile(
    r"\s+(?:and\s+other\s+)?(provinces|counties|cities|districts|islands|islets|rivers)\b"
)
# the conjuncts right before a plural head, matched backwards from it (the search ends there)
_CONJUNCTS = re.compile(
    r"(?:[A-Z][\w'\u2019\-]*(?: [A-Z][\w'\u2019\-]*)?(?:\s*,\s*|\s*,?\s+and\s+))*"
    r"[A-Z][\w'\u2019\-]*(?: [A-Z][\w'\u2019\-]*)?$"
)
_CONJUNCT = re.compile(r"[A-Z][\w'\u2019\-]*(?: [A-Z][\w'\u2019\-]*)?")
_BODY_END = re.compile(r"(?:committee|department|bureau|commission)$")
_NAME_WORD = re.compile(r"[A-Za-z][\w'\u2019]*")
_NOT_DEFINING = re.compile(r"(?:a|an|the)\s+(?:same|other|latter|former)\b")
_FILLER = re.compile(rf"\s*(?:(?:the|The|{_ORDINAL}|\d+)\s*)+")
_PLURAL_TYPE = {"provinces": "Province", "counties": "County", "cities": "City",
                "districts": "District", "islands": "Island", "islets": "Island",
                "rivers": "River", "ri": "-ri", "dongs": "-dong"}  # fmt: skip
_NAME_LOWER_HEAD = re.compile(  # a capitalized word (not inside a word), then the head
    r"([A-Z](?<!\w[A-Z])[a-z]+(?:[-\s][A-Z]?[a-z]+)?)\s+(dam|market|reservoir|bridge|port|county|"
    r"city|district|province|river|island|islet|pass|stream|street|station|mine|farm)\b"
)
# lowercase head words; a hit inside a longer word ("subunit") is dropped by _lower_heads
_LOWER_HEAD_WORD = re.compile(
    r"(?:bureau|department|committee|team|commission|division|section|squad|unit|zone|dam|"
    r"reservoir|incident)\b"
)
_ANNIVERSARY = re.compile(
    rf"\b(?:{_ORDINAL}\s+(?:birth\s+|founding\s+)?anniversary|centenary|centennial)\s+of\s+",
    re.IGNORECASE,
)
_SESSION = re.compile(
    rf"\b(?:{_ORDINAL}\s+(?:enlarged\s+)?(?:plenary\s+meeting|session|congress|conference|"
    rf"plenum|meeting)|(?:{_ORDINAL}\s+)?(?:enlarged\s+)?plenary\s+meetings?|enlarged\s+meeting)"
    r"\s+of\s+(?:the\s+)?",
    re.IGNORECASE,
)
# The keys are matched case-blind; an ASCII text is lowercased once and searched case-sensitively,
# which finds the same offsets faster.
_SESSION_KEY = r"(?:session|meetings?|congress|conference|plenum)\s+of\s"
_ANNIVERSARY_KEY = r"(?:anniversary|centenary|centennial)\s+of\s"
_KEYS = {key: (re.compile(key), re.compile(key, re.I)) for key in (_SESSION_KEY, _ANNIVERSARY_KEY)}
_CC = re.compile(r"\bC\.C\., (?:the )?")
_DATELINE_AGENCIES = ("(KCNA)", "(Yonhap)", "(AFP)", "(Reuters)", "(AP)")
_PLURAL_HEADS = ("provinces", "counties", "cities", "districts", "islands", "islets", "rivers")
_NUMBERED_CAMPAIGN = re.compile(
    r"\b(?:\d+|[a-z]+)-day\s+(?:campaign|battle|speed\s+campaign|struggle|drive)\b", re.IGNORECASE
)
_WINDOW_STOP = re.compile(
    r"[.;:!?()\"\u201c\u201d]|,|\b(?:and|which|that|who|was|is|were|are|be|been|will|would|has|"
    r"have|had|with|by|as|for|to|when|while|where|under|through)\b"
)


_ORDINAL_TOKEN = re.compile(r"\d+(st|nd|rd|th)$|\d{4}$")


class _Tok:
    """A word of the text with its offsets (a slotted class: thousands are made per article)."""

    __slots__ = ("start", "end", "text", "low", "cap")

    def __init__(
        self, start: int, end: int, text: str, cap: bool | None = None, low: str | None = None
    ) -> None:
        self.start, self.end, self.text = start, end, text
        self.low = text.lower() if low is None else low
        self.cap = _is_cap(text) if cap is None else cap


def _is_cap(word: str) -> bool:
    """A capitalized word, or an ordinal or a year (which may start a name)."""
    c = word[0]
    return c.isupper() or (c.isdigit() and _ORDINAL_TOKEN.match(word) is not None)


_LEADING_THE = re.compile(r"^(?:the|The|THE)\s+")
_TRAILING_POSSESSIVE = re.compile(r"['\u2019]s?$")


@lru_cache(maxsize=65536)
def candidate_key(name: str) -> str:
    """Identity of a candidate name: folded, without a leading "the" or a trailing possessive."""
    name = name.strip()
    name = _LEADING_THE.sub("", name)
    name = _TRAILING_POSSESSIVE.sub("", name)
    return fold(name)


def _real_end(text: str, m: re.Match[str]) -> bool:
    """A sentence-end match that is not the period of an abbreviation (U.S., Mt., No.)."""
    return not (
        m.group().startswith((" ", "\t"))
        and _ABBREV_END.search(text[max(0, m.start() - 6) : m.start()]) is not None
    )


def _sentence_start(text: str, lo: int, start: int) -> int | None:
    found = None
    for m in _SENT_END.finditer(text, lo, start):
        if _real_end(text, m):
            found = m.end()
    return found


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """The sentence (start, end offsets) containing text[start:end]."""
    lo = max(0, start - 2000)  # sentences are short: look back a bounded way first
    s = _sentence_start(text, lo, start)
    if s is None and lo:
        s = _sentence_start(text, 0, start)
    s = s or 0
    e = len(text)
    for m in _SENT_END.finditer(text, end):
        if _real_end(text, m):
            e = m.start()
            break
    while e > s and text[e - 1].isspace():
        e -= 1
    return s, e


def _tokens(text: str) -> list[_Tok]:
    return [_Tok(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]


_KOREAN_PLACE_SUFFIX = re.compile(r"-(?:ri|dong|gu|ku|up|rodongjagu)$")
_RI_DONG = re.compile(r"-(?:ri|dong)$")
_NUMBER_SUFFIX = re.compile(r"No\.?\d+")


def _head_of(word: str) -> str | None:
    low = word.lower()
    if low in _HEAD_TYPE:
        return _HEAD_TYPE[low]
    if _KOREAN_PLACE_SUFFIX.search(low):
        return "place"
    return None


def _is_suffix_number(word: str) -> bool:
    return word in ("No.", "Nos.") or word.isdigit() or _NUMBER_SUFFIX.fullmatch(word) is not None


_JOINING_POSSESSORS = frozenset("people women children men youth farmers workers soldiers".split())


def _possessive_joins(tok: _Tok) -> bool:
    """People's, Workers', Women's: possessives that belong inside a name."""
    m = _POSSESSIVE.match(tok.text)
    base = m.group(1) if m else tok.text.rstrip("'\u2019")
    return tok.text.endswith(("'", "\u2019")) or base.lower() in _JOINING_POSSESSORS


def _ends_apart(tok: _Tok) -> bool:
    """A possessive that ends a name rather than joining the next word to it ("China's")."""
    text = tok.text
    if not text.endswith(("s", "'", "\u2019")):
        return False  # neither "'s" nor a bare apostrophe: not a possessive
    return bool(_POSSESSIVE.match(text) or text.endswith(("'", "\u2019"))) and not (
        _possessive_joins(tok)
    )


_NOT_NAMES = frozenset(
    "USD KPW CNY RMB JPY EUR KRW GBP GDP GNP CEO TV DVD PDF USB SMS GPS LED LCD ICBM SLBM IRBM "
    "MRBM SRBM MLRS THAAD ATACMS HIV AIDS SARS MERS PCR UTC GMT KST EST CCTV DNA IT AI VIP NGO "
    "FAQ PM AM OK NB AKA ETA HQ WMD CNC CAD LNG LPG SUV PC SNS SIM PIN APP URL".split()
)
_DATE_WORDS = frozenset(
    "january february march april may june july august september october november december "
    "jan jan. feb feb. mar mar. apr apr. jun jul aug aug. sep sep. sept sept. oct oct. nov nov. "
    "dec dec. monday tuesday wednesday thursday friday saturday sunday".split()
)


_DATE_FOLLOWS = re.compile(r"\.|\s+\d")


# What _TOKEN would find between two runs, skipped in one step: gaps, and the words that start
# with a lowercase ASCII letter (the same words _TOKEN makes of them).
_SKIP = re.compile(r"(?:[\W_]+|[a-z]\w*(?:[-'\u2019](?=[^\W_])\w*)*(?:(?<=s)['\u2019](?!\w))?)*")


def _chunks(text: str, pos: int = 0, endpos: int | None = None) -> list[list[_Tok]]:
    """Runs of capitalized words, joined by connectors, in one line of text (text[pos:endpos],
    offsets into text). Only the words of a run and the word after it are looked at one by one."""
    endpos = len(text) if endpos is None else endpos
    out: list[list[_Tok]] = []
    while (pos := _SKIP.match(text, pos, endpos).end()) < endpos:
        cur: list[_Tok] = []
        pending: list[_Tok] = []
        prev_end = pos
        apart = False  # the run ends with a possessive that ends a name ("China's")
        for m in _TOKEN.finditer(text, pos, endpos):
            start, end = m.span()
            word = m.group()
            c = word[0]
            cap = c.isupper() or (c.isdigit() and _ORDINAL_TOKEN.match(word) is not None)
            if cur:
                gap = text[prev_end:start]
                low = word.lower()
                if (
                    (gap and gap != " ")
                    or apart
                    or (
                        low in _DATE_WORDS
                        and (len(low) > 4 or _DATE_FOLLOWS.match(text[end : min(end + 3, endpos)]))
                    )
                ):
                    out.append(cur)
                    cur, pending = [], []
                elif cap or (not pending and _is_suffix_number(word)):
                    tok = _Tok(start, end, word, cap, low)
                    if pending:
                        cur.extend(pending)
                        pending = []
                    cur.append(tok)
                    apart = _ends_apart(tok)
                    prev_end = end
                    continue
                elif low in _CONNECTORS and len(pending) < 2 and gap == " ":
                    pending.append(_Tok(start, end, word, cap, low))
                    prev_end = end
                    continue
                else:
                    out.append(cur)
                    pos = end
                    break
            if not cap:
                pos = end
                break
            tok = _Tok(start, end, word, cap)
            cur = [tok]
            apart = _ends_apart(tok)
            prev_end = end
        else:
            if cur:
                out.append(cur)
            break
    return out


def _segments(chunk: list[_Tok]) -> list[tuple[int, int]]:
    """Index ranges of the capitalized segments of a chunk, split at connectors."""
    segs: list[tuple[int, int]] = []
    start = None
    for i, tok in enumerate(chunk):
        if tok.low in _CONNECTORS and not tok.cap:
            if start is not None:
                segs.append((start, i))
                start = None
        elif start is None:
            start = i
    if start is not None:
        segs.append((start, len(chunk)))
    return segs


_NOT_HEADS = frozenset("order prize medal award title cup trophy".split())
_HOUSE_BODY = re.compile(
    r"House of (?:Representatives|Commons|Lords|Councillors|Councilors|Delegates|Peers|Assembly)|"
    r"Publishing House"
)
_OF_PLACES = frozenset("house palace hall sea museum park".split())


def _unpossessed(word: str) -> str:
    """The word without a possessive "'s"."""
    m = _POSSESSIVE.match(word)
    return m.group(1) if m else word


def _seg_head(
    chunk: list[_Tok], seg: tuple[int, int], single: bool = False
) -> tuple[str, str, int] | None:
    """(type, head word, index) of a segment: its last word, or a leading Mount/Lake."""
    s, e = seg
    j = e - 1
    while j > s and _is_suffix_number(chunk[j].text):
        j -= 1
    word = chunk[j].text
    m = _POSSESSIVE.match(word)
    if m:
        word = m.group(1)
    if chunk[j].cap and not word.isupper():
        t = _head_of(word)
        if t and (j > s or single or _RI_DONG.search(word.lower())):
            return t, word.lower(), j
    first = chunk[s].low
    if first in _START_HEADS and e - s >= 2:
        return _START_HEADS[first], first, s
    return None


def _confidence(head: str, ntok: int, has_korean: bool) -> float:
    c = _WEAK.get(head, 0.75)
    if ntok >= 3:
        c += 0.05
    if has_korean:
        c += 0.1
    return round(min(c, 0.95), 2)


_TITLE_WORDS = frozenset(
    "minister chairman chairwoman vice president secretary ambassador director premier "
    "spokesman spokeswoman spokesperson envoy representative".split()
)
_HONORIFICS = _TITLE_WORDS | {
    "leader", "general", "marshal", "generalissimo", "comrade", "martyr", "hero", "mother"
}  # fmt: skip
_PEOPLE_NOUNS = frozenset(
    "residents youth koreans compatriots nationals students women workers citizens traders "
    "merchants scientists people chinese japanese overseas".split()
)


def _cuts(chunk: list[_Tok]) -> list[list[_Tok]]:
    """Split a chunk where a second name starts ("X University and Y Academy", "X in Y")."""
    pieces: list[list[_Tok]] = []
    segs = _segments(chunk)
    first = 0  # index into chunk where the current piece starts
    has_head = has_of = False  # about the current piece so far
    for k, seg in enumerate(segs):
        if k and segs[k - 1][1] >= first:
            prev = segs[k - 1]
            conn = [t.low for t in chunk[prev[1] : seg[0]]]
            before = chunk[prev[1] - 1].low
            cut = False
            if "in" in conn and has_head and before not in _PEOPLE_NOUNS:
                cut = True
            if "and" in conn and (
                "the" in conn
                or any(t.low in _TITLE_WORDS for t in chunk[seg[0] : seg[1]])
                or _seg_head(chunk, seg, True)
                or not has_of
            ):
                cut = True  # "... Issue Wu Dawei and Russian Vice Foreign Minister ..."
            if cut:
                pieces.append(chunk[first : prev[1]])
                first, has_head, has_of = seg[0], False, False
            elif any(c in ("of", "for") for c in conn):
                has_of = True
        has_head = has_head or _seg_head(chunk, seg, True) is not None
    pieces.append(chunk[first:])
    return [p for p in pieces if p]


def _chunk_candidates(text: str, chunk: list[_Tok]) -> list[Span]:
    """Names with head words in a chunk (Sinuiju University of Light Industry)."""
    if len(chunk) == 1 and "-" not in chunk[0].text:
        return []  # one word names something only as a Korean "-ri" or "-dong" place
    if not any(tok.low in _START_HEADS or _head_of(_unpossessed(tok.text)) for tok in chunk):
        return []  # no word that could head a name (what _seg_head looks for)
    out: list[Span] = []
    for piece in _cuts(chunk):
        out.extend(_piece_candidates(text, piece))
    return out


_GIVEN_NAME = re.compile(
    r"(?:kk|kh|k|g|n|tt|th|t|d|r|l|m|pp|ph|p|b|ss|s|tch|ch|j|h|y|w)?"
    r"(?:yae|yeo|ae|ya|yo|yu|ye|wa|wo|wi|oe|ui|eo|eu|a|o|u|i|e)(?:ng|k|n|t|l|m|p|r)?"
)
_KOREAN_SURNAMES = frozenset(
    "kim ri pak park choe choi jang kang o ryu han jo hong yun ju jon chon song so sin an paek "
    "mun thae ho rim ko hyon kwon ham nam no yang cha ma".split()
)


def _trim_tail(chunk: list[_Tok], segs: list[tuple[int, int]], last: int) -> int:
    """Drop a person's name written right after the name proper.

    "Chongwadae Secretariat Kim Thae Hyo" -> "Chongwadae Secretariat".
    """
    seg = next((sg for sg in segs if sg[0] <= last < sg[1]), None)
    if seg is None:
        return last
    for size in (3, 2):
        first = last - size + 1
        if first <= seg[0]:
            continue  # "Works of Kim Jong Il": the name is the whole complement, keep it
        name = chunk[first : last + 1]
        if chunk[first - 1].low in _HONORIFICS:
            continue  # "Centenary of the Birth of President Kim Il Sung": the name is the point
        if name[0].low in _KOREAN_SURNAMES and all(
            len(t.text) <= 5
            and t.text[0].isupper()
            and not _head_of(t.text)
            and _GIVEN_NAME.fullmatch(t.low) is not None
            for t in name[1:]
        ):
            return first - 1
    return last


def _piece_candidates(text: str, chunk: list[_Tok]) -> list[Span]:
    out: list[Span] = []
    segs = _segments(chunk)
    if not segs:
        return out
    chunk = chunk[: _trim_tail(chunk, segs, len(chunk) - 1) + 1]
    segs = _segments(chunk)
    for k, seg in enumerate(segs):
        start = seg[0]
        while start < seg[1] and chunk[start].low in _STOP_START:
            start += 1
        if start >= seg[1]:
            continue
        head = _seg_head(chunk, (start, seg[1]), k < len(segs) - 1)
        if head is None:
            if chunk[seg[1] - 1].low in _NOT_HEADS:
                break  # "Order of Kim Il Sung", "Kim Il Sung Youth Honor Prize": awards
            continue
        htype, hword, _ = head
        last = segs[-1][1] - 1
        if k < len(segs) - 1 and htype == "place" and hword not in _OF_PLACES:
            last = seg[1] - 1  # "X Square of Y" is rare; keep place names short
        end_tok = chunk[last]
        if hword == "movement" and k < len(segs) - 1:
            htype = "organization"  # "Movement for Peace and Socialism": a body, not a campaign
        if hword == "house" and _HOUSE_BODY.search(text, chunk[start].start, chunk[last].end):
            htype = "organization"  # "House of Representatives", "Publishing House"
        first = chunk[start]
        ntok = sum(1 for t in chunk if first.start <= t.start < end_tok.end)
        if ntok < 2 and not _RI_DONG.search(first.low):
            continue
        end = end_tok.end
        m = _POSSESSIVE.match(end_tok.text)
        if m and not _possessive_joins(end_tok):
            end = end_tok.start + len(m.group(1))
        korean = any(looks_korean(t.text) for t in chunk if first.start <= t.start < end)
        out.append(
            Span(
                start=first.start,
                end=end,
                surface=text[first.start : end],
                type=htype,
                candidate=True,
                confidence=_confidence(hword, ntok, korean),
            )
        )
        break
    return out


def _cand(text: str, start: int, end: int, type_: str, conf: float, **kw: object) -> Span:
    return Span(start, end, text[start:end], type_, candidate=True, confidence=conf, **kw)  # type: ignore[arg-type]


def _chunk_end(text: str, pos: int) -> int | None:
    """End of the capitalized name that starts at pos, if one does."""
    window = text[pos : pos + 300]
    first = _TOKEN.match(window)
    if first is None or not _is_cap(first.group()):
        return None
    chunks = _chunks(window)
    if not chunks:
        return None
    end = chunks[0][-1].end
    m = _POSSESSIVE.match(chunks[0][-1].text)
    if m and not _possessive_joins(chunks[0][-1]):
        end = chunks[0][-1].start + len(m.group(1))
    return pos + end


def _near_keyword(
    pattern: re.Pattern[str], key: str, text: str, low: str | None
) -> list[re.Match[str]]:
    """Matches of a costly pattern, tried only in a window before each cheap keyword hit (low:
    the text lowercased when it is ASCII, else None)."""
    out: dict[int, re.Match[str]] = {}
    exact, blind = _KEYS[key]
    for kw in exact.finditer(low) if low is not None else blind.finditer(text):
        for m in pattern.finditer(text, max(0, kw.start() - 60), min(len(text), kw.end() + 6)):
            if m.end() >= kw.end() - 1:
                out.setdefault(m.start(), m)
    return list(out.values())


def _lower_heads(text: str) -> list[int]:
    """Offsets of the lowercase head words that start a word."""
    return [
        p
        for m in _LOWER_HEAD_WORD.finditer(text)
        if (p := m.start()) == 0 or not (text[p - 1].isalnum() or text[p - 1] == "_")
    ]


def _pattern_candidates(text: str, known: list[Span]) -> list[Span]:
    """Names found by KCNA and Daily NK conventions rather than by head words."""
    out: list[Span] = []
    low = text.lower() if text.isascii() else None
    # events: "sixth session of the 12th Supreme People's Assembly", "47th anniversary of ..."
    for m in _near_keyword(_SESSION, _SESSION_KEY, text, low):
        end = _chunk_end(text, m.end())
        if end:
            out.append(_cand(text, m.start(), end, "event", 0.7))
    for m in _near_keyword(_ANNIVERSARY, _ANNIVERSARY_KEY, text, low):
        window_end = min(len(text), m.end() + 160)
        stop = _WINDOW_STOP.search(text, m.end(), window_end)
        limit = stop.start() if stop else window_end
        last_cap = None
        for t in _tokens(text[m.end() : limit]):
            if t.low in _DATE_WORDS:
                break  # "... Union on June 6": the date is not part of the name
            if t.cap:
                last_cap = m.end() + t.end
        if last_cap:
            end = last_cap
            pm = _TRAILING_POSSESSIVE.search(text[m.start() : end])
            if pm and not text[m.start() : end].endswith(("People's", "Workers'")):
                end = m.start() + pm.start()
            out.append(_cand(text, m.start(), end, "event", 0.6))
    # "80-day campaign", "200-day battle": named mobilization campaigns
    for m in _NUMBERED_CAMPAIGN.finditer(text) if low is None or "-day" in low else ():
        out.append(_cand(text, m.start(), m.end(), "policy", 0.6))
    # "C.C., the French Revolutionary Communist League"
    for m in _CC.finditer(text) if "C.C.," in text else ():
        end = _chunk_end(text, m.end())
        if end:
            out.append(_cand(text, m.start(), end, "organization", 0.75))
    # numbered units of known bodies: "Huichon Power Station No. 1"
    for k in known:
        nm = _NUMBERED.match(text, k.end)
        if nm and k.type in ("organization", "place"):
            out.append(_cand(text, k.start, nm.end(), k.type, 0.7))
    # acronyms not defined in the text and not in the glossary: "ASEAN", "YTN"
    covered = {(k.start, k.end) for k in known}
    shouted: dict[int, bool] = {}
    for m in _CAPS_WORD.finditer(text):
        word = m.group()
        if (m.start(), m.end()) in covered or word in _NOT_NAMES or _ROMAN.fullmatch(word):
            continue
        line_start = text.rfind("\n", 0, m.start()) + 1
        if line_start not in shouted:
            line_end = text.find("\n", m.end())
            line = text[line_start : line_end if line_end >= 0 else len(text)]
            shouted[line_start] = sum(map(str.isupper, line)) > 0.6 * sum(map(str.isalpha, line))
        if not shouted[line_start] and not word.startswith("COVID"):
            out.append(_cand(text, m.start(), m.end(), "organization", 0.4))
    # datelines: "Hamhung, May 3 (KCNA) --"
    agencies = any(agency in text for agency in _DATELINE_AGENCIES)
    for m in _DATELINE.finditer(text) if agencies else ():
        out.append(_cand(text, m.start(1), m.end(1), "place", 0.9))
    # coordinations with a plural head: "Unsan, Yomju and Sonchon counties"
    plurals = any(head in text for head in _PLURAL_HEADS)
    for h in _PLURAL_HEAD.finditer(text) if plurals else ():
        m = _CONJUNCTS.search(text, max(0, h.start() - 200), h.start())
        if not m or not (" and other" in h.group() or "," in m.group() or " and " in m.group()):
            continue  # a coordination has two names, or is "X and other islands"
        for part in _CONJUNCT.finditer(m.group()):
            start, words = m.start() + part.start(), part.group().split()
            if words[0].lower() in _STOP_START or words[0].lower() in _FUNCTION_WORDS:
                start += len(words[0]) + 1
                if len(words) == 1:
                    continue
            out.append(_cand(text, start, m.start() + part.end(), "place", 0.7))
    # known body or place + lowercase functional sub-unit: "Cabinet's commercial bureau"
    heads = _lower_heads(text)
    for k in known:
        if k.type not in ("organization", "place") or k.nested:
            continue
        i = bisect.bisect_right(heads, k.end)
        if i == len(heads) or heads[i] > k.end + 80:
            continue  # no lowercase head word close enough to extend this name
        sub = _SUBUNIT.match(text, k.end)
        if (
            sub
            and k.type == "place"
            and not (text[k.end : k.end + 1] in "'\u2019" or _BODY_END.search(sub.group(0)))
        ):
            sub = None
        if sub and _ROLE_AFTER.match(text, sub.end()):
            sub = None  # "MSS bureau chief" is a job title
        if sub and not any(
            w in _FUNCTION_WORDS for w in (sub.group(1) + (sub.group(2) or "")).split()
        ):
            out.append(_cand(text, k.start, sub.end(), "organization", 0.6))
        if k.type == "place":
            low = _LOWER_AFTER_PLACE.match(text, k.end)
            if low and not any(w in _FUNCTION_WORDS - {"and"} for w in low.group(1).split()):
                t = "event" if low.group(1).endswith("incident") else "place"
                out.append(_cand(text, k.start, low.end(), t, 0.55))
    # capitalized Korean name + lowercase place head: "Ryongrim dam", "Pyongsong market"
    for m in _NAME_LOWER_HEAD.finditer(text):
        first = m.group(1).split()[0].lower()
        if first in _STOP_START or first in _FUNCTION_WORDS:
            continue
        if looks_korean(m.group(1).split()[-1]):
            t = "organization" if m.group(2) in ("mine", "farm") else "place"
            out.append(_cand(text, m.start(), m.end(), t, 0.55))
    return out


def _acronym_candidates(text: str, spans: list[Span]) -> list[Span]:
    """Acronyms defined in the text, "French Revolutionary Communist League (FRCL)"."""
    out: list[Span] = []
    by_end: dict[int, list[Span]] = {}
    for s in spans:
        by_end.setdefault(s.end, []).append(s)
    for m in _ACRONYM.finditer(text) if "(" in text else ():
        acro = m.group(1)
        name = next((n for n in by_end.get(m.start(), ()) if _initials_fit(acro, n.surface)), None)
        if name is None:
            continue
        for occ in re.finditer(rf"(?<![\w.]){re.escape(acro)}(?![\w])", text):
            out.append(
                _cand(
                    text,
                    occ.start(),
                    occ.end(),
                    name.type,
                    0.8,
                    label=name.surface,
                    definition=f"Abbreviation of {name.surface}.",
                )
            )
    return out


def _initials_fit(acro: str, name: str) -> bool:
    """Whether an acronym reads as the initials of a name (FRCL, WPK, MSS)."""
    words = _NAME_WORD.findall(name)
    initials = "".join(w[0] for w in words if w[0].isupper())
    allowed = {w[0].upper() for w in words} | {"&"}
    letters = acro.replace(".", "").upper()
    return bool(letters) and letters[0] == initials[:1] and set(letters) <= allowed


def _quoted_policies(text: str) -> list[Span]:
    """Quoted policy phrases ("restructuring of the socialist commercial system")."""
    out: list[Span] = []
    phrases: set[str] = set()
    for m in _QUOTED.finditer(text):
        phrase = m.group(1).strip(" ,.;:!?")
        words = phrase.lower().split()
        if not 2 <= len(words) <= 8 or not phrase[0].islower() or _CLAUSE_WORDS & set(words):
            continue
        if _WORK_WORDS.search(text[max(0, m.start() - 40) : m.start()]):
            continue
        if words[-1] in _POLICY_ENDS or _POLICY_START.match(phrase):
            phrases.add(phrase)
    for phrase in phrases:
        pattern = r"\s+".join(re.escape(w) for w in phrase.split())
        for occ in re.finditer(rf"(?<!\w){pattern}(?!\w)", text, re.IGNORECASE):
            out.append(_cand(text, occ.start(), occ.end(), "policy", 0.6))
    return out


def title_ranges(text: str) -> list[tuple[int, int]]:
    """Quoted titles of works (a drama, a film, a song): nothing inside them is annotated."""
    out = []
    for m in _QUOTED.finditer(text):
        inner = m.group(1)
        if inner[:1].isupper() and _WORK_WORDS.search(text[max(0, m.start() - 40) : m.start()]):
            out.append((m.start(), m.end()))
    return out


_TITLE_BEFORE = re.compile(r"\b(?:vice-)?minister\s+of\s+(?:the\s+)?$", re.IGNORECASE)
_APPOSITIVE = re.compile(r",\s+((?:a|an|the)\s+[^,;.()]{3,160}?)(?:[,;.]|$)")
_WHICH = re.compile(r",\s+(which\s+[^,;.()]{3,200})(?:[,;.]|$)")
_IS = re.compile(r"\s+(?:is|was|are|were)\s+(?:a|an|the)\s+[^.;]{3,200}")


def draft_definition(text: str, span: Span) -> str | None:
    """A defining clause for a candidate from its sentence, if the text has one."""
    s, e = sentence_bounds(text, span.start, span.end)
    after = text[span.end : e]
    m = _APPOSITIVE.match(after)
    if m and not _NOT_DEFINING.match(m.group(1)):
        return f"{span.surface}, {m.group(1).strip()}."
    m = _WHICH.match(after)
    if m:
        return f"{span.surface}, {m.group(1).strip()}."
    m = _IS.match(after)
    if m:
        return text[span.start : e].strip().rstrip(".") + "."
    return None


_NATIONALITY = re.compile(
    r"(?:(?:North|South|East|West|Northeast|Southeast)\s+)?"
    r"[A-Z][a-z]+(?:an|ese|ish|i|ic|ch)\s+"
)


def _text_before(c: Span, k: Span) -> str:
    """The part of a candidate's surface before a known span inside it."""
    return c.surface[: k.start - c.start]


def _overlaps_badly(c: Span, known: list[Span], starts: list[int]) -> bool:
    """A candidate may contain known spans (extension) but not equal or cross them.

    A known name with only an ordinal or "the" added ("12th Supreme People's Assembly") is
    not a new name either.
    """
    i = bisect.bisect_left(starts, c.end)
    rest = c.surface
    inside = []
    for k in known[max(0, i - 40) : i]:
        if k.end <= c.start or k.start >= c.end:
            continue
        if (k.start, k.end) == (c.start, c.end):
            return True
        if c.start <= k.start and k.end <= c.end:
            rest = rest.replace(k.surface, " ")
            inside.append(k)
            continue
        return True
    if inside and all(k.type == "event" for k in inside):
        return False  # "3rd World Festival of Youth and Students": the ordinal names the event
    if inside and inside[-1].end == c.end and _NATIONALITY.fullmatch(_text_before(c, inside[0])):
        return True  # "South Korean Ministry of Unification": an adjective, not a longer name
    return rest != c.surface and _FILLER.fullmatch(rest) is not None


def discover(text: str, known: list[Span]) -> list[Span]:
    """Candidate spans (names the glossary lacks) with a type guess, confidence and definition."""
    known = sorted((k for k in known if not k.nested), key=lambda k: (k.start, k.end))
    starts = [k.start for k in known]
    found: list[Span] = []
    for line_start, line_end in _lines(text):
        for chunk in _chunks(text, line_start, line_end):
            found.extend(_chunk_candidates(text, chunk))
    found = [_extend_cc(text, c) for c in found]
    found.extend(_pattern_candidates(text, known))
    found.extend(_quoted_policies(text))
    found.extend(_acronym_candidates(text, found + known))
    titles = title_ranges(text)
    result: dict[tuple[int, int], Span] = {}
    for c in found:
        c = _trim(text, c)
        if c is None or _overlaps_badly(c, known, starts):
            continue
        if _TITLE_BEFORE.search(text, max(0, c.start - 30), c.start):
            continue  # "minister of the People's Armed Forces" is a job title
        if any(a <= c.start and c.end <= b for a, b in titles):
            continue
        old = result.get((c.start, c.end))
        if old is None or c.confidence > old.confidence:
            result[(c.start, c.end)] = c
    spans = sorted(result.values(), key=lambda s: (s.start, -s.end))
    return _with_definitions(text, _propagate(text, spans, known, starts))


def _extend_cc(text: str, c: Span) -> Span:
    """KCNA writes "the Political Bureau of the C.C., the WPK": the body runs past the comma."""
    if not c.surface.endswith("C.C."):
        return c
    m = _CC_THE.match(text, c.end)
    end = _chunk_end(text, m.end()) if m else None
    return replace(c, end=end, surface=text[c.start : end]) if end else c


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) offsets of the text's non-empty lines."""
    out = []
    pos = 0
    for part in text.split("\n"):
        if part:
            out.append((pos, pos + len(part)))
        pos += len(part) + 1
    return out


_THE = re.compile(r"(?:the|The)\s+")
_DOTTED_END = re.compile(r"(?:[A-Z]\.){2,}$|No\.$")


def _trim(text: str, c: Span) -> Span | None:
    """Drop a leading "the" and surrounding spaces; keep text[start:end] == surface."""
    start, end = c.start, c.end
    m = _THE.match(text, start, end)
    if m:
        start = m.end()
    while end > start and text[end - 1] in " ,.;:" and not _DOTTED_END.search(text[start:end]):
        end -= 1
    if end - start < 2:
        return None
    surface = text[start:end]
    if (start, end, surface) == (c.start, c.end, c.surface):
        return c
    return replace(c, start=start, end=end, surface=surface)


def _propagate(text: str, spans: list[Span], known: list[Span], starts: list[int]) -> list[Span]:
    """Every other occurrence of a discovered multi-word name is a mention too."""
    have = {(s.start, s.end) for s in spans}
    out = list(spans)
    names = {s.surface: s for s in spans if " " in s.surface and s.confidence >= 0.5}
    for surface, s in names.items():
        pos = text.find(surface)
        while pos >= 0:
            end = pos + len(surface)
            if (
                (pos == 0 or not text[pos - 1].isalnum())
                and (end == len(text) or not text[end].isalnum())
                and (pos, end) not in have
            ):
                c = replace(s, start=pos, end=end, surface=surface)
                if not _overlaps_badly(c, known, starts):
                    out.append(c)
                    have.add((pos, end))
            pos = text.find(surface, pos + 1)
    return sorted(out, key=lambda s: (s.start, -s.end))


def _with_definitions(text: str, spans: list[Span]) -> list[Span]:
    defs: dict[str, str] = {}
    tries: dict[str, int] = {}
    for s in spans:
        key = candidate_key(s.surface)
        if key in defs or s.definition is not None or tries.get(key, 0) >= 3:
            continue  # a name is looked up in at most three of its sentences
        tries[key] = tries.get(key, 0) + 1
        d = draft_definition(text, s)
        if d:
            defs[key] = d
    if not defs:
        return spans
    out = []
    for s in spans:
        d = None if s.definition else defs.get(candidate_key(s.surface))
        out.append(s if d is None else replace(s, definition=d))
    return out
