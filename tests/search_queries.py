"""A small glossary and articles written for the search tests, the loader that puts them in a
store, and the search-quality set: queries people type with the term they expect on top."""

from __future__ import annotations

import datetime as dt
import re

from glossary.models import Article, Definition, Label, Mention, Term
from glossary.search_schema import fold
from glossary.store import Store, record_change

# slug, name, type, parent, labels [(text, kind, extra)], definition
GLOSSARY: list[tuple[str, str, str, str | None, list[tuple], str]] = [
    ("workers-party-of-korea", "Workers' Party of Korea", "organization", None,
     [("조선로동당", "hangul", {}), ("Chosŏn Rodongdang", "romanization", {"romanization": "mr"}),
      ("WPK", "abbreviation", {"case_sensitive": True}),
      ("KWP", "abbreviation", {"case_sensitive": True}),
      ("Korean Workers' Party", "alias", {})],
     "The ruling party of the country, which the constitution names as the leading force of "
     "state and society."),
    ("central-committee-of-the-workers-party-of-korea",
     "Central Committee of the Workers' Party of Korea", "organization", "workers-party-of-korea",
     [("조선로동당 중앙위원회", "hangul", {}), ("WPK Central Committee", "alias", {})],
     "The body that runs the party between congresses; its plenary meetings set economic and "
     "political tasks."),
    ("organization-and-guidance-department", "Organization and Guidance Department",
     "organization", "central-committee-of-the-workers-party-of-korea",
     [("조직지도부", "hangul", {}), ("OGD", "abbreviation", {"case_sensitive": True})],
     "The party department that oversees appointments and discipline of officials."),
    ("propaganda-and-agitation-department", "Propaganda and Agitation Department",
     "organization", "central-committee-of-the-workers-party-of-korea",
     [("선전선동부", "hangul", {}), ("PAD", "abbreviation", {"case_sensitive": True})],
     "The party department in charge of ideological messaging, media and slogans."),
    ("ministry-of-social-security", "Ministry of Social Security", "organization", "cabinet",
     [("사회안전성", "hangul", {}),
      ("Sahoe Anjŏnsŏng", "romanization", {"romanization": "mr"}),
      ("Ministry of People's Security", "former", {"valid_from": "2000", "valid_to": "2020-05-31"}),
      ("Ministry of Public Security", "former", {"valid_to": "2000"}),
      ("MSS", "abbreviation", {"case_sensitive": True, "ambiguous": True})],
     "The national police ministry, which keeps public order, registers residents and runs "
     "prison camps for ordinary offenders."),
    ("ministry-of-state-security", "Ministry of State Security", "organization", None,
     [("국가보위성", "hangul", {}), ("State Security Department", "former", {"valid_to": "2016"}),
      ("Bowibu", "alias", {}),
      ("MSS", "abbreviation", {"case_sensitive": True, "ambiguous": True})],
     "The secret police, which hunts spies and political offenders and runs political prison "
     "camps."),
    ("korean-peoples-army", "Korean People's Army", "organization", None,
     [("조선인민군", "hangul", {}), ("KPA", "abbreviation", {"case_sensitive": True})],
     "The armed forces of the country, with ground, naval, air and strategic rocket branches."),
    ("general-staff-of-the-korean-peoples-army", "General Staff of the Korean People's Army",
     "organization", "korean-peoples-army", [("조선인민군 총참모부", "hangul", {})],
     "The military command that plans and directs operations of the armed forces."),
    ("state-affairs-commission", "State Affairs Commission", "organization", None,
     [("국무위원회", "hangul", {}), ("SAC", "abbreviation", {"case_sensitive": True})],
     "The highest organ of state power for policy since 2016, chaired by the leader."),
    ("national-defence-commission", "National Defence Commission", "organization", None,
     [("국방위원회", "hangul", {}), ("National Defense Commission", "alias", {}),
      ("NDC", "abbreviation", {"case_sensitive": True})],
     "The military-first era's top state body, replaced by the State Affairs Commission in "
     "2016."),
    ("supreme-peoples-assembly", "Supreme People's Assembly", "organization", None,
     [("최고인민회의", "hangul", {}), ("SPA", "abbreviation", {"case_sensitive": True})],
     "The unicameral legislature, which meets briefly to approve budgets and laws."),
    ("cabinet", "Cabinet", "organization", None, [("내각", "hangul", {})],
     "The administrative executive that manages the economy through its ministries."),
    ("reconnaissance-general-bureau", "Reconnaissance General Bureau", "organization", None,
     [("정찰총국", "hangul", {}), ("RGB", "abbreviation", {"case_sensitive": True})],
     "The military intelligence agency behind covert operations and cyber units."),
    ("korean-central-news-agency", "Korean Central News Agency", "organization", None,
     [("조선중앙통신", "hangul", {}), ("KCNA", "abbreviation", {"case_sensitive": True})],
     "The state news agency, the main channel for official statements to foreign readers."),
    ("rodong-sinmun", "Rodong Sinmun", "organization", "workers-party-of-korea",
     [("로동신문", "hangul", {}), ("Nodong Sinmun", "romanization", {"romanization": "rr"}),
      ("Rodong Shinmun", "hidden", {})],
     "The daily newspaper of the party central committee, read aloud in workplaces."),
    ("socialist-patriotic-youth-league", "Socialist Patriotic Youth League", "organization",
     "workers-party-of-korea",
     [("사회주의애국청년동맹", "hangul", {}),
      ("Kimilsungist-Kimjongilist Youth League", "former", {"valid_to": "2021"}),
      ("Kim Il Sung Socialist Youth League", "former", {"valid_to": "2016"})],
     "The mass organization for young people between fourteen and thirty."),
    ("ministry-of-foreign-affairs", "Ministry of Foreign Affairs", "organization", "cabinet",
     [("외무성", "hangul", {}), ("MFA", "abbreviation", {"case_sensitive": True})],
     "The ministry that conducts diplomacy and issues statements on foreign relations."),
    ("korea-asia-pacific-peace-committee", "Korea Asia-Pacific Peace Committee", "organization",
     None, [("조선아시아태평양평화위원회", "hangul", {}),
            ("KAPPC", "abbreviation", {"case_sensitive": True})],
     "A front body used for contacts with South Korean businesses and visitors."),
    ("ministry-of-national-defence", "Ministry of National Defence", "organization", None,
     [("국방성", "hangul", {}),
      ("Ministry of the People's Armed Forces", "former", {"valid_to": "2020"}),
      ("Ministry of National Defense", "alias", {})],
     "The ministry that handles administration and logistics of the armed forces."),
    ("pyongyang", "Pyongyang", "place", None,
     [("평양", "hangul", {}), ("P'yŏngyang", "romanization", {"romanization": "mr"}),
      ("Pyeongyang", "romanization", {"romanization": "rr"})],
     "The capital and largest city, on the Taedong River."),
    ("north-phyongan-province", "North Phyongan Province", "place", None,
     [("평안북도", "hangul", {}), ("P'yŏngan-pukto", "romanization", {"romanization": "mr"}),
      ("North Pyongan", "alias", {})],
     "The northwestern province bordering China along the Yalu River."),
    ("sinuiju", "Sinuiju", "place", "north-phyongan-province",
     [("신의주", "hangul", {}), ("Sinŭiju", "romanization", {"romanization": "mr"})],
     "The border city on the Yalu facing Dandong, the busiest crossing for trade with China."),
    ("kaesong", "Kaesong", "place", None,
     [("개성", "hangul", {}), ("Kaesŏng", "romanization", {"romanization": "mr"}),
      ("Gaeseong", "romanization", {"romanization": "rr"})],
     "A city near the southern border and the old capital of the Koryo dynasty."),
    ("kaesong-industrial-complex", "Kaesong Industrial Complex", "place", "kaesong",
     [("개성공업지구", "hangul", {}), ("Kaesong Industrial Region", "alias", {}),
      ("KIC", "abbreviation", {"case_sensitive": True})],
     "An inter-Korean factory zone where southern firms employed northern workers until 2016."),
    ("rason", "Rason", "place", None,
     [("라선", "hangul", {}), ("Rajin-Sŏnbong", "former", {"valid_to": "2000"})],
     "A special economic zone in the far northeast with ports on the East Sea."),
    ("yongbyon-nuclear-scientific-research-center", "Yongbyon Nuclear Scientific Research Center",
     "place", None,
     [("영변핵과학연구중심", "hangul", {}), ("Yongbyon nuclear complex", "alias", {})],
     "The main nuclear site, with a reactor, reprocessing and enrichment plants."),
    ("punggye-ri-nuclear-test-site", "Punggye-ri Nuclear Test Site", "place", None,
     [("풍계리 핵시험장", "hangul", {}), ("Punggye-ri", "alias", {})],
     "The underground test site in the northeast where all six nuclear tests took place."),
    ("sohae-satellite-launching-station", "Sohae Satellite Launching Station", "place", None,
     [("서해위성발사장", "hangul", {}), ("Tongchang-ri", "alias", {})],
     "The west coast rocket launch site near the Chinese border."),
    ("mount-paektu", "Mount Paektu", "place", "ryanggang-province",
     [("백두산", "hangul", {}), ("Paektusan", "romanization", {"romanization": "mr"}),
      ("Baekdu", "romanization", {"romanization": "rr"})],
     "The volcanic mountain on the Chinese border, central to the ruling family's legend."),
    ("north-hamgyong-province", "North Hamgyong Province", "place", None,
     [("함경북도", "hangul", {}), ("Hamgyŏng-pukto", "romanization", {"romanization": "mr"})],
     "The northeastern province along the Tumen River and the East Sea."),
    ("chongjin", "Chongjin", "place", "north-hamgyong-province",
     [("청진", "hangul", {}), ("Ch'ŏngjin", "romanization", {"romanization": "mr"})],
     "A port and steel city, capital of its northeastern province."),
    ("wonsan", "Wonsan", "place", None,
     [("원산", "hangul", {}), ("Wŏnsan", "romanization", {"romanization": "mr"})],
     "An east coast port city with a beach resort zone built in the 2010s."),
    ("ryanggang-province", "Ryanggang Province", "place", None,
     [("량강도", "hangul", {}), ("Yanggang Province", "alias", {})],
     "The mountainous province on the upper Yalu, home of the city of Hyesan."),
    ("byungjin-line", "Byungjin line", "policy", None,
     [("병진로선", "hangul", {}), ("Pyongjin line", "alias", {}),
      ("parallel development line", "alias", {})],
     "The 2013 line of building nuclear forces and the economy at the same time."),
    ("songun", "Songun", "policy", None,
     [("선군정치", "hangul", {}), ("military-first politics", "alias", {}),
      ("military-first policy", "alias", {})],
     "The doctrine of the 1990s and 2000s that gave the army priority in resources."),
    ("juche", "Juche", "policy", None,
     [("주체사상", "hangul", {}), ("Juche idea", "alias", {}),
      ("Chuch'e", "romanization", {"romanization": "mr"})],
     "The official ideology of self-reliance attributed to the founding leader."),
    ("chollima-movement", "Chollima Movement", "policy", None,
     [("천리마운동", "hangul", {}), ("Ch'ŏllima", "romanization", {"romanization": "mr"})],
     "A mass campaign of the late 1950s for faster production, named after a winged horse."),
    ("80-day-campaign", "80-Day Campaign", "policy", None,
     [("80일전투", "hangul", {}), ("80-day battle", "alias", {})],
     "A mobilization drive in which workers are pushed to meet targets within eighty days."),
    ("five-year-strategy-for-national-economic-development",
     "Five-Year Strategy for National Economic Development", "policy", None,
     [("국가경제발전 5개년전략", "hangul", {})],
     "The economic plan for 2016 to 2020 announced at the party congress of 2016."),
    ("law-on-rejecting-reactionary-ideology-and-culture",
     "Law on Rejecting Reactionary Ideology and Culture", "policy", None,
     [("반동사상문화배격법", "hangul", {}),
      ("anti-reactionary thought law", "alias", {})],
     "The 2020 law punishing the viewing and sharing of foreign films, music and books."),
    ("socialist-enterprise-responsibility-management-system",
     "Socialist Enterprise Responsibility Management System", "policy", None,
     [("사회주의기업책임관리제", "hangul", {}),
      ("SERMS", "abbreviation", {"case_sensitive": True})],
     "Reforms giving factory managers more say over output, prices and wages."),
    ("8th-congress-of-the-workers-party-of-korea", "8th Congress of the Workers' Party of Korea",
     "event", "workers-party-of-korea",
     [("조선로동당 제8차대회", "hangul", {}), ("Eighth Party Congress", "alias", {})],
     "The party congress of January 2021 that adopted a new five-year plan."),
    ("arduous-march", "Arduous March", "event", None,
     [("고난의 행군", "hangul", {}), ("North Korean famine", "alias", {})],
     "The famine of the mid-1990s and the official name for that time of hardship."),
    ("day-of-the-sun", "Day of the Sun", "event", None,
     [("태양절", "hangul", {}), ("Kim Il Sung's birthday", "alias", {})],
     "The April 15 holiday marking the founding leader's birth."),
    ("victory-day", "Day of Victory in the Great Fatherland Liberation War", "event", None,
     [("조국해방전쟁승리기념일", "hangul", {}), ("Victory Day", "alias", {})],
     "The July 27 holiday marking the armistice that ended the fighting in 1953."),
]  # fmt: skip

# id, source, date, title, text: written for these tests.
ARTICLES: list[tuple[str, str, str, str]] = [
    ("KCNA", "2021-01-10", "Party congress closes in Pyongyang",
     "The 8th Congress of the Workers' Party of Korea closed in Pyongyang after eight days. "
     "Delegates approved a Five-Year Strategy for National Economic Development and elected a "
     "new Central Committee of the Workers' Party of Korea. Rodong Sinmun printed the report."),
    ("KCNA", "2020-06-02", "Police ministry gets a new name",
     "The Ministry of People's Security is now called the Ministry of Social Security, state "
     "media said. The Supreme People's Assembly was not convened for the change."),
    ("Daily NK", "2022-03-15", "Border arrests in Sinuiju",
     "Agents of the Ministry of State Security arrested traders in Sinuiju who shared South "
     "Korean films, citing the Law on Rejecting Reactionary Ideology and Culture."),
    ("Daily NK", "2019-08-20", "Markets in Chongjin",
     "Prices of rice in Chongjin markets rose in August. Traders said the Ministry of People's "
     "Security tightened inspections of market stalls."),
    ("38 North", "2018-05-24", "Punggye-ri tunnels closed",
     "Foreign reporters watched explosions at the Punggye-ri Nuclear Test Site. The Korean "
     "People's Army guarded the road from Kilju."),
    ("38 North", "2013-04-02", "Yongbyon reactor to restart",
     "The General Department of Atomic Energy said the reactor at the Yongbyon Nuclear "
     "Scientific Research Center would restart under the Byungjin line."),
    ("KCNA", "2016-06-30", "New state body created",
     "The Supreme People's Assembly created the State Affairs Commission in place of the "
     "National Defence Commission. The session was held in Pyongyang."),
    ("Yonhap", "2016-02-11", "Kaesong Industrial Complex shut",
     "Seoul suspended operations at the Kaesong Industrial Complex after a rocket launch from "
     "the Sohae Satellite Launching Station. The Korea Asia-Pacific Peace Committee protested."),
    ("KCNA", "2012-04-15", "Day of the Sun marked",
     "Crowds in Pyongyang marked the Day of the Sun. The Korean People's Army held a parade and "
     "the Workers' Party of Korea praised the Juche idea."),
    ("Daily NK", "2023-09-05", "Youth league drive in Ryanggang",
     "The Socialist Patriotic Youth League sent students to farms in Ryanggang Province during an "
     "80-Day Campaign, according to sources near Hyesan and Mount Paektu."),
]  # fmt: skip

# query, expected slug of the top result, optional type filter.
QUERIES: list[tuple[str, str, str | None]] = [
    ("Workers' Party of Korea", "workers-party-of-korea", None),
    ("workers party", "workers-party-of-korea", None),
    ("WPK", "workers-party-of-korea", None),
    ("kwp", "workers-party-of-korea", None),
    ("Korean Workers Party", "workers-party-of-korea", None),
    ("조선로동당", "workers-party-of-korea", None),
    ("Chosun Rodongdang", "workers-party-of-korea", None),
    ("Wrokers Party of Korea", "workers-party-of-korea", None),
    ("Ministry of People's Security", "ministry-of-social-security", None),
    ("ministry of peoples security", "ministry-of-social-security", None),
    ("Ministry of Public Security", "ministry-of-social-security", None),
    ("Ministry of Socal Security", "ministry-of-social-security", None),
    ("사회안전성", "ministry-of-social-security", None),
    ("Sahoe Anjonsong", "ministry-of-social-security", None),
    ("State Security Department", "ministry-of-state-security", None),
    ("Bowibu", "ministry-of-state-security", None),
    ("국가보위성", "ministry-of-state-security", None),
    ("KPA", "korean-peoples-army", None),
    ("Korean Peoples Army", "korean-peoples-army", None),
    ("조선인민군", "korean-peoples-army", None),
    ("인민군", "korean-peoples-army", None),
    ("SPA", "supreme-peoples-assembly", None),
    ("Supreme People's Asembly", "supreme-peoples-assembly", None),
    ("National Defense Commission", "national-defence-commission", None),
    ("State Affairs Comission", "state-affairs-commission", None),
    ("RGB", "reconnaissance-general-bureau", None),
    ("Reconaissance Bureau", "reconnaissance-general-bureau", None),
    ("Reconn", "reconnaissance-general-bureau", None),
    ("KCNA", "korean-central-news-agency", None),
    ("Korean Central News", "korean-central-news-agency", None),
    ("Nodong Sinmun", "rodong-sinmun", None),
    ("Rodong Shinmun", "rodong-sinmun", None),
    ("로동신문", "rodong-sinmun", None),
    ("Kim Il Sung Socialist Youth League", "socialist-patriotic-youth-league", None),
    ("KAPPC", "korea-asia-pacific-peace-committee", None),
    ("Ministry of the People's Armed Forces", "ministry-of-national-defence", None),
    ("Ministry of National Defense", "ministry-of-national-defence", None),
    ("Organization and Guid", "organization-and-guidance-department", None),
    ("Propaganda", "propaganda-and-agitation-department", None),
    ("Pyongyang", "pyongyang", None),
    ("Phyongyang", "pyongyang", None),
    ("P'yŏngyang", "pyongyang", None),
    ("Pyeongyang", "pyongyang", None),
    ("평양", "pyongyang", None),
    ("Pyongyng", "pyongyang", None),
    ("North Pyongan", "north-phyongan-province", None),
    ("North Phyongan", "north-phyongan-province", None),
    ("평안북도", "north-phyongan-province", None),
    ("Pyongan-pukto", "north-phyongan-province", None),
    ("Sinuiju", "sinuiju", None),
    ("Sinŭiju", "sinuiju", None),
    ("Shinuiju", "sinuiju", None),
    ("Kaesong", "kaesong", None),
    ("Gaeseong", "kaesong", None),
    ("Kaeseong", "kaesong", None),
    ("Kaesong Industrial Complex", "kaesong-industrial-complex", None),
    ("Kaesong Indus", "kaesong-industrial-complex", None),
    ("Rajin-Sonbong", "rason", None),
    ("Rajin Sonbong", "rason", None),
    ("Yongbyon", "yongbyon-nuclear-scientific-research-center", None),
    ("Nyongbyon", "yongbyon-nuclear-scientific-research-center", None),
    ("Punggye-ri", "punggye-ri-nuclear-test-site", None),
    ("Punggyeri", "punggye-ri-nuclear-test-site", None),
    ("Punggye ri", "punggye-ri-nuclear-test-site", None),
    ("Tongchang-ri", "sohae-satellite-launching-station", None),
    ("Sohae", "sohae-satellite-launching-station", None),
    ("Mount Paektu", "mount-paektu", None),
    ("Mt. Paektu", "mount-paektu", None),
    ("Paektusan", "mount-paektu", None),
    ("Baekdu", "mount-paektu", None),
    ("Chongjin", "chongjin", None),
    ("Ch'ŏngjin", "chongjin", None),
    ("Cheongjin", "chongjin", None),
    ("Ryanggang", "ryanggang-province", None),
    ("Yanggang Province", "ryanggang-province", None),
    ("Wonsan", "wonsan", None),
    ("Wŏnsan", "wonsan", None),
    ("Byungjin", "byungjin-line", None),
    ("Pyongjin line", "byungjin-line", None),
    ("병진로선", "byungjin-line", None),
    ("military-first politics", "songun", None),
    ("military first", "songun", None),
    ("Juche", "juche", None),
    ("Chuch'e", "juche", None),
    ("주체사상", "juche", None),
    ("Chollima", "chollima-movement", None),
    ("Ch'ŏllima Movement", "chollima-movement", None),
    ("80-day campaign", "80-day-campaign", None),
    ("80 day campaign", "80-day-campaign", None),
    ("five-year strategy", "five-year-strategy-for-national-economic-development", None),
    ("anti-reactionary thought law", "law-on-rejecting-reactionary-ideology-and-culture", None),
    ("reactionary ideology", "law-on-rejecting-reactionary-ideology-and-culture", None),
    ("SERMS", "socialist-enterprise-responsibility-management-system", None),
    ("8th Party Congress", "8th-congress-of-the-workers-party-of-korea", None),
    ("Eighth Party Congress", "8th-congress-of-the-workers-party-of-korea", None),
    ("Arduous March", "arduous-march", None),
    ("famine", "arduous-march", None),
    ("Day of the Sun", "day-of-the-sun", None),
    ("태양절", "day-of-the-sun", None),
    ("Victory Day", "victory-day", None),
    ("Workers Party", "8th-congress-of-the-workers-party-of-korea", "event"),
    ("Kaesong", "kaesong", "place"),
    ("Paektu", "mount-paektu", "place"),
    ("People's Army", "korean-peoples-army", "organization"),
    ("secret police", "ministry-of-state-security", None),
]


def _spans(text: str, label: str, case_sensitive: bool) -> list[tuple[int, int]]:
    flags = 0 if case_sensitive else re.IGNORECASE
    return [
        (m.start(), m.end()) for m in re.finditer(rf"(?<!\w){re.escape(label)}(?!\w)", text, flags)
    ]


def add_term(session: object, entry: tuple, ids: dict[str, int]) -> Term:
    """Insert one glossary entry with its labels, definition and change-log row."""
    slug, name, ttype, parent, labels, definition = entry
    term = Term(slug=slug, name=name, type=ttype, parent_id=ids.get(parent or ""))
    term.labels = [Label(text=name, kind="preferred", language="en", folded=fold(name))] + [
        Label(text=text, kind=kind, folded=fold(text), **extra) for text, kind, extra in labels
    ]
    term.definitions = [Definition(text=definition, is_primary=True)]
    session.add(term)
    session.flush()
    ids[slug] = term.id
    record_change(session, "term", term.id, "upsert")
    return term


def cite(session: object, article: Article, terms: list[Term]) -> None:
    """Store the mentions of the given terms' labels in the article (a naive matcher)."""
    for term in terms:
        for label in term.labels:
            if label.kind in ("hangul", "hidden"):
                continue
            for start, end in _spans(article.text, label.text, label.case_sensitive):
                session.add(
                    Mention(
                        article_id=article.id,
                        term_id=term.id,
                        start=start,
                        end=end,
                        surface=article.text[start:end],
                    )
                )


def add_article(session: object, n: int, entry: tuple, terms: list[Term]) -> Article:
    """Insert one article with its mentions and change-log row."""
    source, date, title, text = entry
    article = Article(
        identity=f"id:test-{n}",
        title=title,
        source=source,
        published=dt.date.fromisoformat(date),
        text=text,
        content_hash=f"{n:064d}",
    )
    session.add(article)
    session.flush()
    cite(session, article, terms)
    record_change(session, "article", article.id, "upsert")
    return article


def load(store: Store) -> dict[str, int]:
    """Put the test glossary and articles in the store; returns term ids by slug."""
    ids: dict[str, int] = {}
    with store.write() as session:
        # Parents first: a child names a parent defined anywhere in the list.
        pending = list(GLOSSARY)
        terms: list[Term] = []
        while pending:
            entry = pending.pop(0)
            if entry[3] and entry[3] not in ids and any(e[0] == entry[3] for e in pending):
                pending.append(entry)
                continue
            terms.append(add_term(session, entry, ids))
        for n, entry in enumerate(ARTICLES):
            add_article(session, n, entry, terms)
    return ids
