"""Build glossary/data/terms/places-gazetteer.jsonl from the shared gazetteer files."""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import math
import re
import sys
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
OUTPUT = REPO / "glossary" / "data" / "terms" / "places-gazetteer.jsonl"
OSM_SOURCE = "OpenStreetMap; Open Admin Data"
GEONAMES_SOURCE = "GeoNames"

DPRK = "democratic-peoples-republic-of-korea"

# Provinces: names, Korean forms and definitions written for this project.
# Open Admin Data ids link them to the county records; facts from Wikipedia articles.
PROVINCES: list[dict] = [
    {
        "oa": "KP06",
        "slug": "north-pyongan-province",
        "name": "North Pyongan Province",
        "headless": "North Pyongan",
        "dprk": "North Phyongan",
        "hangul": "평안북도",
        "hanja": "平安北道",
        "mr": "P'yŏngan-pukto",
        "rr": "Pyeonganbuk-do",
        "definition": (
            "A province in the north-west of North Korea, on the Yellow Sea, bordering China "
            "along the lower Yalu (Amnok) River. Its capital is Sinuiju."
        ),
        "source": "Wikipedia: North Pyongan Province",
    },
    {
        "oa": "KP07",
        "slug": "south-pyongan-province",
        "name": "South Pyongan Province",
        "headless": "South Pyongan",
        "dprk": "South Phyongan",
        "hangul": "평안남도",
        "hanja": "平安南道",
        "mr": "P'yŏngan-namdo",
        "rr": "Pyeongannam-do",
        "definition": (
            "A province in western North Korea surrounding Pyongyang, between North Pyongan and "
            "North Hwanghae provinces. Its capital is Pyongsong."
        ),
        "source": "Wikipedia: South Pyongan Province",
    },
    {
        "oa": "KP02",
        "slug": "north-hamgyong-province",
        "name": "North Hamgyong Province",
        "headless": "North Hamgyong",
        "dprk": None,
        "hangul": "함경북도",
        "hanja": "咸鏡北道",
        "mr": "Hamgyŏng-pukto",
        "rr": "Hamgyeongbuk-do",
        "definition": (
            "The north-easternmost province of North Korea, on the East Sea (Sea of Japan), "
            "bordering China along the Tumen River. Its capital is Chongjin."
        ),
        "source": "Wikipedia: North Hamgyong Province",
    },
    {
        "oa": "KP03",
        "slug": "south-hamgyong-province",
        "name": "South Hamgyong Province",
        "headless": "South Hamgyong",
        "dprk": None,
        "hangul": "함경남도",
        "hanja": "咸鏡南道",
        "mr": "Hamgyŏng-namdo",
        "rr": "Hamgyeongnam-do",
        "definition": (
            "A province on the east coast of North Korea, between Kangwon Province to the south "
            "and North Hamgyong and Ryanggang provinces to the north. Its capital is Hamhung."
        ),
        "source": "Wikipedia: South Hamgyong Province",
    },
    {
        "oa": "KP08",
        "slug": "north-hwanghae-province",
        "name": "North Hwanghae Province",
        "headless": "North Hwanghae",
        "dprk": None,
        "hangul": "황해북도",
        "hanja": "黃海北道",
        "mr": "Hwanghae-pukto",
        "rr": "Hwanghaebuk-do",
        "definition": (
            "A province in southern North Korea, south-east of Pyongyang, bordering South "
            "Hwanghae and Kangwon provinces. Its capital is Sariwon."
        ),
        "source": "Wikipedia: North Hwanghae Province",
    },
    {
        "oa": "KP09",
        "slug": "south-hwanghae-province",
        "name": "South Hwanghae Province",
        "headless": "South Hwanghae",
        "dprk": None,
        "hangul": "황해남도",
        "hanja": "黃海南道",
        "mr": "Hwanghae-namdo",
        "rr": "Hwanghaenam-do",
        "definition": (
            "The south-westernmost province of North Korea, on the Yellow Sea, facing South "
            "Korea's north-western islands. Its capital is Haeju."
        ),
        "source": "Wikipedia: South Hwanghae Province",
    },
    {
        "oa": "KP04",
        "slug": "kangwon-province",
        "name": "Kangwon Province",
        "headless": "Kangwon",
        "dprk": None,
        "hangul": "강원도",
        "hanja": "江原道",
        "mr": "Kangwŏn-do",
        "rr": "Gangwon-do",
        "definition": (
            "A province in south-eastern North Korea, on the East Sea (Sea of Japan), bordering "
            "South Korea across the Demilitarized Zone. Its capital is Wonsan."
        ),
        "source": "Wikipedia: Kangwon Province (North Korea)",
    },
    {
        "oa": "KP05",
        "slug": "chagang-province",
        "name": "Chagang Province",
        "headless": "Chagang",
        "dprk": "Jagang",
        "hangul": "자강도",
        "hanja": "慈江道",
        "mr": "Chagang-do",
        "rr": "Jagang-do",
        "definition": (
            "A mountainous inland province in northern North Korea, bordering China along the "
            "Yalu (Amnok) River. Its capital is Kanggye."
        ),
        "source": "Wikipedia: Chagang Province",
    },
    {
        "oa": "KP01",
        "slug": "ryanggang-province",
        "name": "Ryanggang Province",
        "headless": "Ryanggang",
        "hidden": ["Yangkang", "Yangkang Province"],
        "dprk": "Yanggang",
        "hangul": "량강도",
        "hanja": "兩江道",
        "mr": "Ryanggang-do",
        "rr": "Yanggang-do",
        "definition": (
            "A province in northern North Korea, bordering China along the upper Yalu (Amnok) "
            "and Tumen rivers and including Mount Paektu. Its capital is Hyesan."
        ),
        "source": "Wikipedia: Ryanggang Province",
    },
]

# Special cities: first-level units (or the hub term for a city) written by hand.
SPECIAL_CITIES: list[dict] = [
    {
        "slug": "pyongyang",
        "name": "Pyongyang",
        "oa_province": "KP10",
        "oa_county": "KP1001",
        "osm": None,
        "geonames": 1871859,
        "hangul": ["평양", "평양시", "평양직할시"],
        "hanja": "平壤",
        "mr": "P'yŏngyang",
        "rr": None,
        "dprk": None,
        "aliases": ["Pyongyang City", "City of Pyongyang", "Pyongyang Municipality"],
        "wikidata": "Q18808",
        "definition": (
            "The capital and largest city of North Korea, on the Taedong River in the west of "
            "the country. It is a directly governed city with the rank of a province."
        ),
        "source": "Wikipedia: Pyongyang",
    },
    {
        "slug": "rason",
        "name": "Rason",
        "oa_province": None,
        "oa_county": "KP0201",
        "osm": "relation/6648083",
        "geonames": None,
        "hangul": [],
        "hanja": None,
        "mr": None,
        "rr": "Raseon",
        "dprk": None,
        "aliases": ["Rason City", "Rason Special City", "Rajin-Sonbong"],
        "wikidata": None,
        "definition": (
            "A special city in the far north-east of North Korea, on the East Sea (Sea of Japan) "
            "coast where the Tumen River meets the borders with China and Russia. It was formed "
            "from Rajin and Sonbong and hosts the Rason Economic and Trade Zone."
        ),
        "source": "Wikipedia: Rason",
    },
    {
        "slug": "nampo",
        "name": "Nampo",
        "oa_province": "KP11",
        "oa_county": "KP1102",
        "osm": "relation/10879003",
        "geonames": 1873757,
        "hangul": ["남포", "남포시"],
        "hanja": None,
        "mr": "Namp'o",
        "rr": None,
        "dprk": "Nampho",
        "aliases": ["Nampo City", "Chinnampo"],
        "wikidata": None,
        "definition": (
            "A port city in western North Korea at the mouth of the Taedong River on the Yellow "
            "Sea, south-west of Pyongyang, for which it serves as the main seaport. It is "
            "administered as a special city."
        ),
        "source": "Wikipedia: Nampo",
    },
    {
        "slug": "kaesong",
        "name": "Kaesong",
        "oa_province": None,
        "oa_county": "KP0803",
        "osm": "relation/5455268",
        "geonames": 1876373,
        "hangul": ["개성", "개성시"],
        "hanja": None,
        "mr": "Kaesŏng",
        "rr": "Gaeseong",
        "dprk": None,
        "aliases": ["Kaesong City", "Kaesong Special City"],
        "wikidata": None,
        "definition": (
            "A city in southern North Korea just north of the Demilitarized Zone, the capital of "
            "the Koryo dynasty and site of the former inter-Korean Kaesong Industrial Region. "
            "OpenStreetMap maps it as a first-level special city, while Open Admin Data lists it "
            "under North Hwanghae Province."
        ),
        "source": "Wikipedia: Kaesong; OpenStreetMap; Open Admin Data",
    },
]

# Open Admin Data province names -> our slugs.
OA_PROVINCE_SLUG = {
    "KP01": "ryanggang-province",
    "KP02": "north-hamgyong-province",
    "KP03": "south-hamgyong-province",
    "KP04": "kangwon-province",
    "KP05": "chagang-province",
    "KP06": "north-pyongan-province",
    "KP07": "south-pyongan-province",
    "KP08": "north-hwanghae-province",
    "KP09": "south-hwanghae-province",
    "KP10": "pyongyang",
    "KP11": "nampo",
}

# GeoNames first-level codes for North Korea -> our slugs.
GEONAMES_ADMIN1 = {
    "01": "chagang-province",
    "03": "south-hamgyong-province",
    "06": "south-hwanghae-province",
    "07": "north-hwanghae-province",
    "09": "kangwon-province",
    "11": "north-pyongan-province",
    "12": "pyongyang",
    "13": "ryanggang-province",
    "14": "nampo",
    "15": "south-pyongan-province",
    "17": "north-hamgyong-province",
    "18": "rason",
    "19": "kaesong",
}

# OSM records whose Open Admin Data twin cannot be told apart by romanized name alone:
# two counties romanize as "Unsan" (운산 in North Pyongan, 은산 in South Pyongan).
MATCH_OVERRIDES = {
    "relation/5453133": "KP0617",  # 운산군, Unsan County, North Pyongan
    "relation/5454295": "KP0720",  # 은산군, Ŭnsan County, South Pyongan
    "relation/5456494": "KP0815",  # 신계군, Singye (Open Admin: Sinkye)
}

# English names where OpenStreetMap's name:en is wrong or not in the usual English form.
NAME_OVERRIDES = {
    "relation/5456274": "Sohung County",  # 서흥군 is Sŏhŭng; OSM has "Sonhung"
    "relation/2636972": "Chung District",  # 중구역; OSM has "Central District"
    "relation/8426158": "Kilju County",  # 길주군; OSM has "Kilchu-kun"
    "relation/8429865": "Kim Hyong Jik County",
    "relation/8429866": "Kim Jong Suk County",
    "relation/8429868": "Kim Hyong Gwon County",
    "relation/5469325": "Ongjin County",  # 옹진군; OSM has "Onjin"
    "relation/5469475": "Unryul County",  # 은률군; OSM has "Unnyun"
    "relation/8412736": "Sinpo",  # 신포시; official_name Sinpo
    "relation/8420622": "Hoeryong",  # 회령시; OSM has "Hoiryŏng"
    "relation/5455422": "Yontan County",  # 연탄군 is Yŏnt'an; OSM has "Yotan"
}

# Parents the matched Open Admin Data record lacks or gives in an older state.
PARENT_OVERRIDES = {
    "relation/3859517": "pyongyang",  # Kangnam County returned to Pyongyang in 2011
    "relation/3860518": "north-hwanghae-province",  # Sungho: moved to North Hwanghae in 2010
}

# GeoNames records left out: duplicates of another record or neighbourhoods of a city term.
GEONAMES_SKIP = {
    2042704: "duplicate of Songwon (2040480) with stray alternates",
    13446724: "Unggi duplicates Sonbong (2040674)",
    2043835: "Hyesan-dong is a neighbourhood of Hyesan",
    12084881: "Ungsang duplicates Ungsang-nodongjagu (2039557)",
    2042498: "Ranam is a district of Chongjin",
    2042500: "Namyang-nodongjagu duplicates Namyang (2042503) at the same coordinates",
    2045220: "Changam-ch'on carries the population and former name (Songjin) of Kimchaek",
}

# Provincial capitals (Wikipedia articles of the provinces).
CAPITALS = {
    "sinuiju": "north-pyongan-province",
    "pyongsong": "south-pyongan-province",
    "chongjin": "north-hamgyong-province",
    "hamhung": "south-hamgyong-province",
    "sariwon": "north-hwanghae-province",
    "haeju": "south-hwanghae-province",
    "wonsan": "kangwon-province",
    "kanggye": "chagang-province",
    "hyesan": "ryanggang-province",
}

# Labels the sources lack: KCNA's usage for Nampo's Kangso and Chollima, Samjiyon's old rank.
EXTRA_LABELS = {
    "kangso-county": [{"text": "Kangso District", "kind": "alias", "language": "en"}],
    "chollima-county": [{"text": "Chollima District", "kind": "alias", "language": "en"}],
    "samjiyon": [
        {"text": "Samjiyon County", "kind": "former", "language": "en", "valid_to": "2019"},
        {"text": "삼지연군", "kind": "former", "language": "ko", "valid_to": "2019"},
    ],
}

# GeoNames records given a hand-written name and definition.
GEONAMES_OVERRIDES = {
    2042503: {
        "name": "Namyang",
        "definition": (
            "A North Korean border town in Onsong County, North Hamgyong Province, on the Tumen "
            "River opposite Tumen in China, to which it is linked by road and rail bridges."
        ),
        "source": "Wikipedia: Namyang",
    },
    1874533: {
        "name": "Mangyongdae",
        "definition": (
            "A locality on the Taedong River in western Pyongyang, the birthplace of Kim Il Sung "
            "and site of his childhood home; it gives its name to Mangyongdae District."
        ),
        "source": "Wikipedia: Mangyongdae",
    },
}

PARENT_DISAGREEMENTS: list[str] = []

SUFFIXES = (
    " county",
    " city",
    " district",
    " dist.",
    "-gun",
    "-kun",
    "-si",
    "-guyok",
    "-guyŏk",
)
GEONAMES_SUFFIX = re.compile(r"-(ŭp|up|eup|si)$")
ADMIN_SUFFIX = re.compile(
    r"[- ](ŭp|up|eup|si|ni|ri|li|dong|tong|gu|guyok|guyŏk|nodongjagu|rodongjagu|lodongjagu|"
    r"ku|kun|gun|do|dō|dŏ|yu|yū|yŭ|jin|chin|men|hu)$",
    re.IGNORECASE,
)
MACRONS = set("āēīōūĀĒĪŌŪâêîôûäëïöüÄËÏÖÜáéíóúàèìòùçčšžśłńñøåæœ")
FOREIGN_CLUSTERS = ("sh", "ts", "zh", "kh", "dz", "dsch", "tsch", "x", "q", "v", "f", "z")


@dataclass
class Place:
    """A place term being assembled."""

    slug: str
    name: str
    definition: str
    source: str
    parent: str | None = None
    wikidata: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    labels: list[dict] = field(default_factory=list)
    related: list[Place] = field(default_factory=list)
    kind: str = "county"

    def add_label(self, text: str | None, kind: str, language: str, **extra: object) -> None:
        """Add a label unless the same text is already the name or a label."""
        if not text:
            return
        text = text.strip()
        if text == self.name or any(lab["text"] == text for lab in self.labels):
            return
        label: dict = {"text": text, "kind": kind, "language": language}
        label.update({k: v for k, v in extra.items() if v is not None})
        self.labels.append(label)

    def to_json(self) -> dict:
        """Return the term in the starter glossary's JSON Lines shape."""
        return {
            "slug": self.slug,
            "name": self.name,
            "type": "place",
            "parent": self.parent,
            "wikidata": self.wikidata,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "labels": self.labels,
            "definitions": [{"text": self.definition, "source": self.source}],
            "relations": [
                {"kind": "related", "target": slug}
                for slug in sorted({other.slug for other in self.related})
            ],
        }


def strip_marks(text: str) -> str:
    """Remove diacritics and apostrophes (P'yŏngsŏng -> Pyongsong)."""
    decomposed = unicodedata.normalize("NFKD", text)
    plain = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return re.sub(r"['’‘`ʼ]", "", plain)


def slugify(text: str) -> str:
    """Make a lowercase ASCII slug from an English name."""
    plain = strip_marks(text).lower()
    return re.sub(r"[^a-z0-9]+", "-", plain).strip("-")


def norm(text: str) -> str:
    """Fold a name the way the matcher does: no marks, case, spaces or hyphens."""
    return re.sub(r"[\s\-]+", "", strip_marks(text).lower())


def fold(text: str) -> str:
    """Fold romanization differences (DPRK, McCune-Reischauer, suffixes) for matching."""
    text = strip_marks(text).lower().strip()
    for suffix in SUFFIXES:
        if text.endswith(suffix):
            text = text[: -len(suffix)]
    text = re.sub(r"[\s\-.]+", "", text)
    text = text.replace("eo", "o").replace("eu", "u")
    text = text.replace("ph", "p").replace("th", "t").replace("kh", "k")
    text = text.replace("ng", "N").replace("j", "ch").replace("b", "p").replace("d", "t")
    text = text.replace("g", "k").replace("l", "r").replace("ui", "i").replace("oi", "oe")
    text = re.sub(r"^r", "", text)
    return text.replace("rr", "nn").replace("nr", "nn").replace("rn", "nn")


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371 * 2 * math.asin(math.sqrt(a))


def english_name(row: dict) -> str:
    """The usual English (McCune-Reischauer without marks) name of an OSM region."""
    if row["@id"] in NAME_OVERRIDES:
        return NAME_OVERRIDES[row["@id"]]
    name = strip_marks(row["name:en"]).replace("COunty", "County")
    hangul = row["name:ko"]
    base = re.sub(r"-(gun|kun|si)$", "", name)
    base = re.sub(r" (County|District)$", "", base)
    base = re.sub(r"^J", "Ch", base).replace("ph", "p").replace("th", "t").replace("Ph", "P")
    if hangul.endswith("구역"):
        return f"{base} District"
    if hangul.endswith("지구") or (hangul.endswith("구") and not hangul.endswith("구역")):
        return f"{base} District"
    if hangul.endswith("군"):
        return f"{base} County"
    return base


def division_kind(row: dict) -> str:
    """Classify an OSM region by its Hangul suffix."""
    hangul = row["name:ko"]
    if row["admin_level"] == "7":
        return "district"
    if hangul.endswith("군"):
        return "county"
    if hangul.endswith("지구"):
        return "jigu"
    if hangul.endswith("구"):
        return "gu"
    return "city"


def province_name(slug: str | None) -> str:
    """Readable name of a parent slug for generated definitions."""
    for province in PROVINCES:
        if province["slug"] == slug:
            return province["name"]
    for city in SPECIAL_CITIES:
        if city["slug"] == slug:
            return city["name"]
    return "North Korea"


def keep_latin_alternate(alt: str, references: list[str]) -> bool:
    """Keep a GeoNames Latin alternate only when it looks like a romanization of the name."""
    if len(alt) < 4 or not alt[0].isupper() or alt.isupper():
        return False
    if any(ch in MACRONS for ch in alt) or re.search(r"\d", alt):
        return False
    if not all(ord(ch) < 0x250 or ch in "’‘ʼ" for ch in alt):
        return False
    lowered = strip_marks(alt).lower()
    if any(cluster in lowered for cluster in FOREIGN_CLUSTERS):
        return False
    if " " in alt or ADMIN_SUFFIX.search(alt):
        return False
    if alt.count("-") > 1 or lowered.startswith("hp"):
        return False
    folded = fold(alt)
    return any(
        vowels(alt) == vowels(ref)
        and difflib.SequenceMatcher(None, folded, fold(ref)).ratio() >= 0.85
        for ref in references
    )


def vowels(text: str) -> list[str]:
    """The vowel skeleton of a romanized name, with RR and MR vowels folded together."""
    text = strip_marks(text).lower()
    text = re.sub(r"-(ŭp|up|eup|si|gun|kun)$", "", text)
    text = text.replace("eo", "o").replace("eu", "u").replace("wo", "o").replace("oi", "oe")
    return re.findall(r"[aeiouy]+", text)


INITIALS = "k kk n t tt r m p pp s ss - ch tch ch k t p h".split()
MEDIALS = "a ae ya yae o e yo ye o wa wae oe yo u wo we wi yu u ui i".split()
FINALS = ["", "k", "k", "k", "n", "n", "n", "t", "l", "k", "m", "l", "l", "l", "p", "l", "m"]
FINALS += ["p", "p", "t", "t", "ng", "t", "t", "k", "t", "p", "t"]

# Hangul alternates in GeoNames that are wrong (흥람 for Hŭngnam, 흥남).
HANGUL_SKIP = {"흥람"}


def romanize_hangul(text: str) -> str:
    """A rough romanization of Hangul (no sound changes beyond ng+r), used only to compare."""
    out = []
    for ch in text:
        code = ord(ch) - 0xAC00
        if not 0 <= code < 11172:
            continue
        initial = INITIALS[code // 588].replace("-", "")
        if initial == "r" and out and out[-1].endswith(("ng", "m", "k", "p")):
            initial = "n"
        out.append(initial + MEDIALS[(code % 588) // 28] + FINALS[code % 28])
    return "".join(out)


DPRK_INITIALS = "k kk n t tt r m p pp s ss - j jj ch kh th ph h".split()
VOICED = {"k": "g", "t": "d", "p": "b"}


def dprk_romanization(text: str) -> str:
    """DPRK-style romanization of a Hangul place stem (Pothonggang, Phyongwon, Jaeryong).

    Only the common rules: aspirates written ph/th/kh, plain stops voiced between voiced
    sounds, initial ㄹ as r; used for hidden matching labels, not shown.
    """
    out: list[str] = []
    for ch in text:
        code = ord(ch) - 0xAC00
        if not 0 <= code < 11172:
            continue
        initial = DPRK_INITIALS[code // 588].replace("-", "")
        vowel = MEDIALS[(code % 588) // 28]
        final = FINALS[code % 28]
        if (
            out
            and initial in VOICED
            and out[-1][-1:] in ("a", "e", "i", "o", "u", "n", "m", "g", "l")
        ):
            initial = VOICED[initial]
        if out and initial == "r" and out[-1].endswith(("n", "l")):
            out[-1] = out[-1][:-1] + "l"
            initial = "l"
        elif out and initial == "r" and out[-1].endswith("k"):
            initial = "n"
        out.append(initial + vowel + final)
    word = "".join(out)
    return word[:1].upper() + word[1:]


def is_hangul(text: str) -> bool:
    """True when the text is Hangul syllables only."""
    return bool(text) and all(0xAC00 <= ord(ch) <= 0xD7A3 for ch in text)


def latin_kind(alt: str) -> tuple[str, str, str | None]:
    """Label kind, language and romanization system of a kept Latin alternate."""
    if re.search(r"[ŏŭŎŬ]", alt) or ("'" in alt or "’" in alt):
        return "romanization", "ko-Latn", "mr"
    lowered = alt.lower()
    if "-" in alt:
        return "hidden", "en", None
    if "eo" in lowered or "eu" in lowered or re.match(r"^(g|b|d|j)", lowered):
        return "alias", "ko-Latn", "rr"
    return "hidden", "en", None


def load(gazetteer: Path) -> tuple[list[dict], list[dict], list[dict], list[dict]]:
    """Read the four gazetteer files used here."""
    with open(gazetteer / "osm-nk-regions-names.csv", encoding="utf-8", newline="") as fh:
        osm = list(csv.DictReader(fh))
    provinces = json.loads((gazetteer / "openadmin-kp-provinces.json").read_text("utf-8"))
    counties = json.loads((gazetteer / "openadmin-kp-counties.json").read_text("utf-8"))
    cities = json.loads((gazetteer / "geonames-kp-cities500.json").read_text("utf-8"))
    return osm, provinces, counties, cities


def match_osm(osm: list[dict], counties: list[dict]) -> tuple[dict[str, dict], list[dict]]:
    """Match OSM regions to Open Admin Data counties by folded romanized name."""
    by_id = {c["id"]: c for c in counties}
    matches: dict[str, dict] = {}
    used: set[str] = set()
    for row in osm:
        if row["@id"] in MATCH_OVERRIDES:
            matches[row["@id"]] = by_id[MATCH_OVERRIDES[row["@id"]]]
            used.add(MATCH_OVERRIDES[row["@id"]])
    # Exact folded names first, then close names, each Open Admin record used once.
    for threshold in (1.0, 0.8):
        for row in osm:
            if row["@id"] in matches:
                continue
            names = {row["name:en"], english_name(row)}
            best, best_score = None, 0.0
            for county in counties:
                if county["id"] in used:
                    continue
                for name in names:
                    score = difflib.SequenceMatcher(
                        None, fold(name), fold(county["name"]["en"])
                    ).ratio()
                    if score > best_score:
                        best, best_score = county, score
            if best is not None and best_score >= threshold:
                matches[row["@id"]] = best
                used.add(best["id"])
    unmatched_oa = [c for c in counties if c["id"] not in used]
    return matches, unmatched_oa


def hub_terms(provinces_oa: list[dict], counties_oa: list[dict]) -> list[Place]:
    """Province and special-city terms from the hand-written tables above."""
    oa_prov = {p["id"]: p for p in provinces_oa}
    oa_county = {c["id"]: c for c in counties_oa}
    terms = []
    for prov in PROVINCES:
        geo = oa_prov[prov["oa"]]["geo"]
        place = Place(
            slug=prov["slug"],
            name=prov["name"],
            definition=prov["definition"],
            source=prov["source"],
            parent=DPRK,
            latitude=float(geo["lat"]),
            longitude=float(geo["lon"]),
            kind="province",
        )
        place.add_label(prov["headless"], "alias", "en")
        for variant in prov.get("hidden", []):
            place.add_label(variant, "hidden", "en")
        if prov["dprk"]:
            place.add_label(f"{prov['dprk']} Province", "alias", "en", romanization="dprk")
            place.add_label(prov["dprk"], "alias", "en", romanization="dprk")
        place.add_label(prov["hangul"], "hangul", "ko")
        place.add_label(prov["hanja"], "hanja", "ko-Hani")
        place.add_label(prov["mr"], "romanization", "ko-Latn", romanization="mr")
        place.add_label(prov["rr"], "alias", "ko-Latn", romanization="rr")
        terms.append(place)
    for city in SPECIAL_CITIES:
        geo = None
        if city["oa_province"]:
            geo = oa_prov[city["oa_province"]]["geo"]
        elif city["oa_county"]:
            geo = oa_county[city["oa_county"]]["geo"]
        place = Place(
            slug=city["slug"],
            name=city["name"],
            definition=city["definition"],
            source=city["source"],
            parent=DPRK,
            wikidata=city["wikidata"],
            latitude=float(geo["lat"]) if geo else None,
            longitude=float(geo["lon"]) if geo else None,
            kind="special",
        )
        for alias in city["aliases"]:
            place.add_label(alias, "alias", "en")
        if city["dprk"]:
            place.add_label(city["dprk"], "alias", "en", romanization="dprk")
            place.add_label(f"{city['dprk']} City", "alias", "en", romanization="dprk")
        for hangul in city["hangul"]:
            place.add_label(hangul, "hangul", "ko")
        place.add_label(city["hanja"], "hanja", "ko-Hani")
        place.add_label(city["mr"], "romanization", "ko-Latn", romanization="mr")
        place.add_label(city["rr"], "alias", "ko-Latn", romanization="rr")
        terms.append(place)
    return terms


def osm_terms(
    osm: list[dict], matches: dict[str, dict], hubs: dict[str, Place]
) -> tuple[list[Place], list[str]]:
    """County, city and district terms from OSM regions joined to Open Admin Data."""
    terms: list[Place] = []
    unmatched: list[str] = []
    special_by_osm = {c["osm"]: c["slug"] for c in SPECIAL_CITIES if c["osm"]}
    for row in sorted(osm, key=lambda r: r["@id"]):
        oa = matches.get(row["@id"])
        if row["@id"] in special_by_osm:
            place = hubs[special_by_osm[row["@id"]]]
            add_osm_labels(place, row, oa, city=True)
            if not place.wikidata and row["wikidata"]:
                place.wikidata = row["wikidata"]
            continue
        if oa is None and row["admin_level"] != "7":
            unmatched.append(f"{row['@id']} {row['name:ko']} {row['name:en']}")
        kind = division_kind(row)
        name = english_name(row)
        if kind == "district":
            parent = "pyongyang"
        elif row["@id"] in PARENT_OVERRIDES:
            parent = PARENT_OVERRIDES[row["@id"]]
        elif oa is not None:
            parent = OA_PROVINCE_SLUG[oa["parent"]["id"]]
        else:
            parent = None
        where = province_name(parent) if parent else "North Korea"
        definition = {
            "district": f"A district of {where}.",
            "county": f"A county of {where}.",
            "jigu": f"A district (chigu) of {where}.",
            "gu": f"A district (ku) of {where}.",
            "city": f"A city of {where}.",
        }[kind]
        place = Place(
            slug=slugify(name),
            name=name,
            definition=definition,
            source=OSM_SOURCE if oa is not None else "OpenStreetMap",
            parent=parent,
            wikidata=row["wikidata"] or None,
            kind=kind,
        )
        if oa is not None:
            place.latitude = float(oa["geo"]["lat"])
            place.longitude = float(oa["geo"]["lon"])
        add_osm_labels(place, row, oa, city=kind == "city")
        terms.append(place)
    return terms, unmatched


def add_osm_labels(place: Place, row: dict, oa: dict | None, city: bool) -> None:
    """Hangul, Hanja, McCune-Reischauer and DPRK labels from OSM and Open Admin Data."""
    place.add_label(row["name:ko"], "hangul", "ko")
    place.add_label(row["official_name"], "hangul", "ko")
    if row["alt_name:ko"]:
        place.add_label(row["alt_name:ko"], "former", "ko")
    place.add_label(row["name:ko_hanja"], "hanja", "ko-Hani")
    for key in ("name:pl", "name:ko-Latn", "official_name:ko-Latn", "name:en"):
        value = row[key]
        if value and re.search(r"[ŏŭŎŬ'’]", value):
            place.add_label(value.replace("’", "'"), "romanization", "ko-Latn", romanization="mr")
    osm_en = strip_marks(row["name:en"]).replace("COunty", "County")
    if norm(osm_en) != norm(place.name) and "-" not in osm_en:
        # OSM's English name differs: keep DPRK-style spellings and real translations,
        # drop the misspellings corrected in NAME_OVERRIDES.
        if re.search(r"Ph|Th|ph|th|^J", osm_en):
            place.add_label(osm_en, "alias", "en", romanization="dprk")
        elif osm_en == "Central District":
            place.add_label(osm_en, "alias", "en")
    if city:
        place.add_label(f"{place.name} City", "alias", "en")
    if oa is not None:
        oa_name = oa["name"]["en"].replace(" Dist.", "")
        base = re.sub(r" City$", "", oa_name)
        if place.kind == "county":
            dprk = f"{base} County"
        elif place.kind in ("district", "jigu", "gu"):
            dprk = f"{base} District"
        else:
            dprk = base
        if norm(dprk) != norm(place.name):
            place.add_label(dprk, "alias", "en", romanization="dprk")
            if city:
                place.add_label(f"{dprk} City", "alias", "en", romanization="dprk")
    add_generated_dprk(place, row["name:ko"], city)


def add_generated_dprk(place: Place, hangul: str, city: bool) -> None:
    """Add the DPRK-style spelling made from the Hangul name as a hidden matching label."""
    stem = re.sub(r"(군|시|구역|지구|구|특별시|특급시)$", "", hangul)
    spelled = dprk_romanization(stem)
    head = {"county": " County", "district": " District", "jigu": " District", "gu": " District"}
    forms = [spelled + head.get(place.kind, "")]
    if city:
        forms.append(f"{spelled} City")
    known = {norm(place.name)} | {norm(lab["text"]) for lab in place.labels}
    for form in forms:
        if norm(form) not in known:
            place.add_label(form, "hidden", "en", romanization="dprk")


def geonames_terms(
    cities: list[dict], places: list[Place], oa_by_slug: dict[str, dict]
) -> tuple[list[Place], int]:
    """Merge GeoNames places into city terms or make new town terms; return the new ones."""
    by_fold: dict[str, list[Place]] = {}
    for place in places:
        base = re.sub(r" (County|District)$", "", place.name)
        by_fold.setdefault(fold(base), []).append(place)
    new: list[Place] = []
    merged = 0
    for record in sorted(cities, key=lambda c: c["geonameid"]):
        if record["geonameid"] in GEONAMES_SKIP:
            continue
        base_name = GEONAMES_SUFFIX.sub("", record["name"])
        override = GEONAMES_OVERRIDES.get(record["geonameid"], {})
        english = override.get("name") or strip_marks(base_name)
        parent = GEONAMES_ADMIN1.get(record["admin1code"])
        target = None
        hub = next((c for c in SPECIAL_CITIES if c["geonames"] == record["geonameid"]), None)
        if hub is not None:
            target = next(p for p in places if p.slug == hub["slug"])
        county_twin = None
        stems = {fold(english), fold(ADMIN_SUFFIX.sub("", english))}
        candidates = [p for stem in sorted(stems) for p in by_fold.get(stem, [])]
        for candidate in candidates:
            near = candidate.latitude is None or (
                distance_km(
                    candidate.latitude, candidate.longitude, record["latitude"], record["longitude"]
                )
                < 30
            )
            if candidate.kind in ("city", "special") and target is None and near:
                target = candidate
            elif candidate.kind == "county":
                county_twin = candidate
        if target is not None:
            merged += 1
            add_geonames_labels(target, record, [target.name, english])
            if target.kind in ("city", "special"):
                target.latitude = record["latitude"]
                target.longitude = record["longitude"]
                target.source = f"{OSM_SOURCE}; {GEONAMES_SOURCE}"
            continue
        if county_twin is not None and county_twin.parent:
            if parent != county_twin.parent:
                PARENT_DISAGREEMENTS.append(
                    f"{english}: GeoNames {parent}, county {county_twin.parent}"
                )
            parent = county_twin.parent
        where = province_name(parent)
        place = Place(
            slug=slugify(english),
            name=english,
            definition=f"{settlement_kind(english)} in {where}.",
            source=GEONAMES_SOURCE,
            parent=parent,
            latitude=record["latitude"],
            longitude=record["longitude"],
            kind="town",
        )
        if override:
            place.definition, place.source = override["definition"], override["source"]
        add_geonames_labels(place, record, [english, strip_marks(base_name)])
        if county_twin is not None:
            place.related.append(county_twin)
            county_twin.related.append(place)
        new.append(place)
    return new, merged


def settlement_kind(name: str) -> str:
    """Describe a GeoNames place by the Korean suffix of its name."""
    lowered = name.lower()
    if re.search(r"-(ri|ni|li)$", lowered):
        return "A village (ri)"
    if re.search(r"-(dong|tong)$|\d-tong$", lowered):
        return "A neighbourhood (dong)"
    if re.search(r"-(no|ro|lo)dongjagu$", lowered):
        return "A workers' district (rodongjagu)"
    return "A town"


def add_geonames_labels(place: Place, record: dict, references: list[str]) -> None:
    """Add the filtered GeoNames alternates (romanizations and Hangul) to a term."""
    references = references + [ADMIN_SUFFIX.sub("", ref) for ref in references]
    seen = {norm(place.name)} | {norm(lab["text"]) for lab in place.labels}
    name = record["name"].replace("’", "'")
    alternates = [GEONAMES_SUFFIX.sub("", name)] + sorted(record["alternatenames"])
    for alt in alternates:
        alt = alt.replace("’", "'")
        if is_hangul(alt):
            if any(lab["text"] == alt for lab in place.labels):
                continue
            stem = re.sub(r"\d*(시|읍|리|동|로동자구|노동자구)$", "", alt)
            if alt in HANGUL_SKIP or not any(
                difflib.SequenceMatcher(None, fold(romanize_hangul(stem)), fold(ref)).ratio() >= 0.8
                for ref in references
            ):
                continue
            place.add_label(alt, "hangul", "ko")
            continue
        if not keep_latin_alternate(alt, references):
            continue
        kind, language, system = latin_kind(alt)
        key = norm(alt)
        if kind == "romanization":
            if any(lab["text"] == alt for lab in place.labels):
                continue
            if any(
                lab.get("romanization") == "mr" and norm(lab["text"]) == key for lab in place.labels
            ):
                continue
            place.add_label(alt, kind, language, romanization=system)
            seen.add(key)
            continue
        if key in seen:
            continue
        seen.add(key)
        place.add_label(alt, kind, language, romanization=system)


def resolve_slugs(places: list[Place]) -> None:
    """Append the province to colliding slugs (sinpo-county-south-hamgyong)."""
    counts: dict[str, int] = {}
    for place in places:
        counts[place.slug] = counts.get(place.slug, 0) + 1
    renamed: dict[int, str] = {}
    for place in places:
        if counts[place.slug] > 1 and place.kind not in ("province", "special"):
            region = province_name(place.parent).replace(" Province", "")
            renamed[id(place)] = f"{place.slug}-{slugify(region)}"
    old_to_new: dict[str, list[str]] = {}
    for place in places:
        if id(place) in renamed:
            old_to_new.setdefault(place.slug, []).append(renamed[id(place)])
            place.slug = renamed[id(place)]


def add_headless_labels(places: list[Place]) -> None:
    """Give each county its head-less name as a hidden label when no other term uses it."""
    names: dict[str, int] = {}
    for place in places:
        names[norm(place.name)] = names.get(norm(place.name), 0) + 1
        for label in place.labels:
            if label["kind"] != "hidden":
                names[norm(label["text"])] = names.get(norm(label["text"]), 0) + 1
    for place in places:
        if place.kind not in ("county", "district", "jigu", "gu"):
            continue
        if place.kind == "district":
            continue  # "Taesong" alone is too common; districts keep the head word.
        base = re.sub(r" (County|District)$", "", place.name)
        if names.get(norm(base), 0) == 0:
            place.add_label(base, "hidden", "en")


def mark_shared_labels(places: list[Place]) -> list[str]:
    """Mark label texts shared by several terms as ambiguous; return the shared texts."""
    owners: dict[str, set[str]] = {}
    for place in places:
        owners.setdefault(norm(place.name), set()).add(place.slug)
        for label in place.labels:
            owners.setdefault(norm(label["text"]), set()).add(place.slug)
    shared = sorted(k for k, v in owners.items() if len(v) > 1)
    shared_set = set(shared)
    for place in places:
        for label in place.labels:
            if norm(label["text"]) in shared_set:
                label["ambiguous"] = True
        if norm(place.name) in shared_set:
            # The preferred name is shared (two Unsan counties): add it as an explicit
            # ambiguous alias so the term still matches it.
            if not any(lab["text"] == place.name for lab in place.labels):
                place.labels.append(
                    {"text": place.name, "kind": "alias", "language": "en", "ambiguous": True}
                )
    return shared


def disambiguate_names(places: list[Place]) -> None:
    """Give terms that share a name a province qualifier in the name."""
    counts: dict[str, int] = {}
    for place in places:
        counts[place.name] = counts.get(place.name, 0) + 1
    for place in places:
        if counts[place.name] > 1 and place.kind not in ("province", "special"):
            region = province_name(place.parent).replace(" Province", "")
            old = place.name
            place.name = f"{old}, {region}"
            place.labels.insert(
                0, {"text": old, "kind": "alias", "language": "en", "ambiguous": True}
            )


def build(gazetteer: Path) -> tuple[list[dict], dict]:
    """Build all gazetteer place terms; return them with a report."""
    osm, provinces_oa, counties_oa, cities = load(gazetteer)
    region_rows = [r for r in osm if r["admin_level"] in ("4", "6", "7")]
    matches, unmatched_oa = match_osm(region_rows, counties_oa)
    hubs = {p.slug: p for p in hub_terms(provinces_oa, counties_oa)}
    places, unmatched_osm = osm_terms(region_rows, matches, hubs)
    all_places = list(hubs.values()) + places
    oa_by_slug: dict[str, dict] = {}
    towns, merged = geonames_terms(cities, all_places, oa_by_slug)
    all_places += towns
    disambiguate_names(all_places)
    for place in all_places:
        place.slug = (
            slugify(place.name) if place.kind not in ("province", "special") else place.slug
        )
    resolve_slugs(all_places)
    for place in all_places:
        for label in EXTRA_LABELS.get(place.slug, []):
            place.add_label(**label)
        if place.slug in CAPITALS:
            province = province_name(CAPITALS[place.slug])
            place.definition = f"A city of {province} and its capital."
            place.source += "; Wikipedia: " + province
    add_headless_labels(all_places)
    shared = mark_shared_labels(all_places)
    all_places.sort(key=lambda p: p.slug)
    report = {
        "terms": len(all_places),
        "by_kind": {},
        "osm_regions": len(region_rows),
        "osm_matched": len(matches),
        "osm_unmatched": unmatched_osm,
        "openadmin_unmatched": [
            f"{c['id']} {c['name']['en']} ({c['parent']['name']['en']})"
            for c in unmatched_oa
            if c["id"] not in {s["oa_county"] for s in SPECIAL_CITIES}
        ],
        "geonames_merged": merged,
        "geonames_new": len(towns),
        "geonames_skipped": len(GEONAMES_SKIP),
        "shared_labels": shared,
        "geonames_parent_fixed_from_county": PARENT_DISAGREEMENTS,
    }
    for place in all_places:
        report["by_kind"][place.kind] = report["by_kind"].get(place.kind, 0) + 1
    return [p.to_json() for p in all_places], report


def main(argv: list[str] | None = None) -> int:
    """Command line entry: build the file and print a short report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("gazetteer", nargs="?", default=str(REPO.parent / "shared" / "gazetteer"))
    parser.add_argument("--output", default=str(OUTPUT))
    args = parser.parse_args(argv)
    terms, report = build(Path(args.gazetteer))
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8") as fh:
        for term in terms:
            fh.write(json.dumps(term, ensure_ascii=False, sort_keys=False) + "\n")
    json.dump(report, sys.stderr, ensure_ascii=False, indent=1)
    sys.stderr.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
