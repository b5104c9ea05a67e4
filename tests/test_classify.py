"""Classifier: verdicts, participants, types and evidence (table-driven, per language)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from monitors.detect.classify import Classifier, Lexicon, classify
from monitors.detect.countries import default_gazetteer
from monitors.domain import COOPERATION_TYPES
from monitors.errors import ConfigError

POSITIVES = [
    pytest.param(
        "en",
        "Kazakhstan and Kyrgyzstan begin joint military exercise near Bishkek",
        "",
        {"KZ", "KG"},
        "exercise",
        id="en joint exercise",
    ),
    pytest.param(
        "en",
        "",
        "The State Department approved a possible sale of 40 howitzers to Poland, "
        "the Defense Security Cooperation Agency said.",
        {"US", "PL"},
        "arms_transfer",
        id="en arms sale approval",
    ),
    pytest.param(
        "en",
        "Vietnam and India sign defence cooperation agreement",
        "The defence ministers of Vietnam and India signed a memorandum in Hanoi.",
        {"VN", "IN"},
        "agreement",
        id="en signed agreement",
    ),
    pytest.param(
        "en",
        "Egyptian defence minister meets Saudi counterpart to discuss military cooperation",
        "",
        {"EG", "SA"},
        "meeting_visit",
        id="en ministers meeting",
    ),
    pytest.param(
        "en",
        "Japan donates patrol boats and radars to the Philippine Navy",
        "The military equipment was handed over in Manila under a security assistance programme.",
        {"JP", "PH"},
        "aid",
        id="en donation",
    ),
    pytest.param(
        "en",
        "Turkish and Indonesian firms agree co-production of armoured vehicles",
        "Under the deal the Indonesian defense industry will assemble the tanks with "
        "technology transfer from Türkiye.",
        {"TR", "ID"},
        "industry",
        id="en co-production",
    ),
    pytest.param(
        "en",
        "Chinese Navy ships arrive in Colombo for goodwill visit",
        "Two warships of the People's Liberation Army Navy docked at the port of Colombo, "
        "Sri Lanka, the navy said.",
        {"CN", "LK"},
        "other",
        id="en port call",
    ),
    pytest.param(
        "en",
        "",
        "Georgian cadets began a military training course at a Polish military academy, "
        "the Georgian Defence Ministry said.",
        {"GE", "PL"},
        "training",
        id="en training exchange",
    ),
    pytest.param(
        "en",
        "",
        "Troops from Uzbekistan and Tajikistan began a week-long joint counter-terrorism drill.",
        {"UZ", "TJ"},
        "exercise",
        id="en joint drill with words between",
    ),
    pytest.param(
        "en",
        "",
        "Turkey, Azerbaijan, Pakistan and Georgia take part in a multinational air exercise.",
        {"TR", "AZ", "PK", "GE"},
        "exercise",
        id="en multinational exercise keeps every state",
    ),
    pytest.param(
        "en",
        "Russia delivers S-400 components to India",
        "",
        {"RU", "IN"},
        "arms_transfer",
        id="en delivery to a state",
    ),
    pytest.param(
        "ru",
        "Россия и Беларусь начали совместные военные учения",
        "Военнослужащие двух стран отрабатывают совместные действия.",
        {"RU", "BY"},
        "exercise",
        id="ru joint exercise",
    ),
    pytest.param(
        "ru",
        "Министры обороны Армении и Ирана подписали меморандум о военном сотрудничестве",
        "",
        {"AM", "IR"},
        "agreement",
        id="ru signed memorandum",
    ),
    pytest.param(
        "az",
        "Azərbaycan və Qazaxıstan müdafiə nazirləri görüşüb",
        "Görüşdə hərbi əməkdaşlıq məsələləri müzakirə olunub.",
        {"AZ", "KZ"},
        "meeting_visit",
        id="az ministers meeting",
    ),
    pytest.param(
        "az",
        "Azərbaycan və Qazaxıstan hərbi əməkdaşlığı müzakirə edib",
        "",
        {"AZ", "KZ"},
        "meeting_visit",
        id="az suffixed cooperation (q becomes ğ)",
    ),
    pytest.param(
        "tr",
        "Türkiye ile Pakistan ortak tatbikat başlattı",
        "İki ülkenin deniz kuvvetleri askeri iş birliği kapsamında ortak tatbikat yapıyor.",
        {"TR", "PK"},
        "exercise",
        id="tr joint exercise",
    ),
    pytest.param(
        "fr",
        "La France et l'Inde lancent un exercice militaire conjoint",
        "Les forces armées des deux pays participent à cet exercice conjoint.",
        {"FR", "IN"},
        "exercise",
        id="fr joint exercise",
    ),
    pytest.param(
        "zh",
        "中俄海军举行联合演习",
        "两国海军舰艇参加此次联合演习。",
        {"CN", "RU"},
        "exercise",
        id="zh joint exercise",
    ),
    pytest.param(
        "es",
        "La fragata española Victoria hace escala en Uruguay",
        "La fragata de la Armada llegó al puerto de Montevideo para una visita de cuatro días.",
        {"ES", "UY"},
        "other",
        id="es port call, lower-case demonym",
    ),
]


@pytest.mark.parametrize(("language", "title", "summary", "countries", "kind"), POSITIVES)
def test_positives(language: str, title: str, summary: str, countries: set[str], kind: str) -> None:
    result = classify(title, summary, language)
    assert result.defence_cooperation, result.evidence
    assert set(result.participants) == countries, result.evidence
    assert result.cooperation_type == kind, result.evidence
    assert 0.5 <= result.score <= 1.0


NEGATIVES = [
    pytest.param(
        "en",
        "Azerbaijan and China sign trade and investment agreements",
        "",
        id="en same countries trade",
    ),
    pytest.param(
        "en",
        "Russian strikes hit Ukrainian power plants overnight",
        "Russia launched missiles and drones at Ukraine's energy grid, killing three.",
        id="en war strikes",
    ),
    pytest.param(
        "en",
        "Russia and Ukraine swap prisoners of war in deal mediated by the UAE",
        "",
        id="en prisoner exchange",
    ),
    pytest.param(
        "en",
        "India successfully test-fires Agni missile off Odisha coast",
        "",
        id="en missile test one country",
    ),
    pytest.param(
        "en",
        "Azerbaijani army starts large-scale exercises",
        "Troops and military equipment moved to the exercise areas, the Defence Ministry said.",
        id="en domestic exercise",
    ),
    pytest.param(
        "en",
        "Turkey and Azerbaijan interior ministers sign police cooperation deal",
        "The agreement covers drug trafficking and migrant smuggling.",
        id="en police cooperation",
    ),
    pytest.param("en", "Japan approves record defence budget", "", id="en defence budget"),
    pytest.param(
        "en",
        "Georgia announces preliminary results of parliamentary elections",
        "",
        id="en election",
    ),
    pytest.param("en", "Soldiers seize power in coup in Niger", "", id="en coup"),
    pytest.param("en", "US imposes sanctions on Iranian oil network", "", id="en sanctions"),
    pytest.param(
        "en", "Customs seize smuggled weapons bound for Libya", "", id="en arms smuggling"
    ),
    pytest.param(
        "en",
        "China holds drills around Taiwan",
        "Warships and jets encircled the island.",
        id="en drills around taiwan",
    ),
    pytest.param(
        "ru",
        "Россия и Китай увеличили товарооборот",
        "Торговля между странами выросла.",
        id="ru trade",
    ),
    pytest.param(
        "az", "Azərbaycan və Türkiyə arasında təbii qaz sazişi imzalanıb", "", id="az gas agreement"
    ),
    pytest.param("tr", "Türkiye ile Azerbaycan arasında ticaret hacmi arttı", "", id="tr trade"),
    pytest.param(
        "fr", "La France expulse deux diplomates azerbaïdjanais", "", id="fr diplomatic expulsion"
    ),
    pytest.param("zh", "中国国防预算增长7%", "", id="zh defence budget"),
    pytest.param(
        "en",
        "Turkish defence minister says troops will stay in Syria",
        "He vowed to continue operations against militants.",
        id="en minister on operations abroad",
    ),
    pytest.param(
        "en",
        "Ukraine receives no new weapons as US aid stalls",
        "",
        id="en stalled aid",
    ),
]


@pytest.mark.parametrize(("language", "title", "summary"), NEGATIVES)
def test_negatives(language: str, title: str, summary: str) -> None:
    result = classify(title, summary, language)
    assert not result.defence_cooperation, result.evidence
    assert result.cooperation_type is None
    assert result.score < 0.5


def test_participants_and_mentioned() -> None:
    result = classify(
        "Azerbaijan's defence minister briefed the Chinese delegation on the border with Armenia",
        "The sides discussed military cooperation.",
        "en",
    )
    assert result.defence_cooperation
    assert set(result.participants) == {"AZ", "CN"}
    assert result.mentioned == ("AM",)


# Urdu and Hindi put the relation after the state ([context_after] of config/lexicon.toml).
POSTPOSITIONS = [
    pytest.param(
        "ur",
        "امریکی عسکری امداد کی بندش: انڈیا سے جنگ اور جوہری پروگرام",
        "امریکہ اور پاکستان کے تعلقات میں کشیدگی ہے۔",
        ("US", "PK"),
        ("IN",),
        id="ur war with india is background",
    ),
    pytest.param(
        "ur",
        "امریکہ اور پاکستان کے تعلقات",
        "",
        ("US", "PK"),
        (),
        id="ur pair of participants",
    ),
    pytest.param(
        "hi",
        "भारत और अमेरिका का सैन्य अभ्यास, पाकिस्तान के खिलाफ़ कड़ा रुख",
        "",
        ("IN", "US"),
        ("PK",),
        id="hi against pakistan is background",
    ),
    pytest.param(
        "hi",
        "चीन जैसे देशों से भारत की बातचीत",
        "",
        ("IN",),
        ("CN",),
        id="hi countries such as china",
    ),
]


@pytest.mark.parametrize(
    ("language", "title", "summary", "participants", "mentioned"), POSTPOSITIONS
)
def test_postpositions_make_a_state_background(
    language: str,
    title: str,
    summary: str,
    participants: tuple[str, ...],
    mentioned: tuple[str, ...],
) -> None:
    result = classify(title, summary, language)
    assert result.participants == participants
    assert result.mentioned == mentioned


def test_postpositions_do_not_apply_to_english() -> None:
    # "Pakistan کے خلاف" cues are Urdu/Hindi: an English text is read by its own cues only
    result = classify("India and Pakistan جیسے", "", "en")
    assert set(result.participants) == {"IN", "PK"}


def test_dateline_is_not_a_participant() -> None:
    result = classify(
        "", "MOSCOW, May 3 (Reuters) - India and France held joint naval drills.", "en"
    )
    assert set(result.participants) == {"IN", "FR"}
    assert "RU" in result.mentioned


def test_evidence_is_readable_and_deterministic() -> None:
    first = classify("Azerbaijan and China hold joint exercise", "", "en")
    second = classify("Azerbaijan and China hold joint exercise", "", "en")
    assert first == second
    assert "countries:AZ,CN" in first.evidence
    assert any(e.startswith("term:joint exercise(+0.45,exercise") for e in first.evidence)
    single = classify("Azerbaijan holds joint exercise of its army and navy", "", "en")
    assert "rule:single country -> not cooperation" in single.evidence
    assert not single.defence_cooperation


def test_empty_and_country_less_text() -> None:
    assert not classify("", "").defence_cooperation
    result = classify("New smartphones launch in September", "")
    assert result.participants == () and not result.defence_cooperation


def test_types_are_known() -> None:
    for param in POSITIVES:
        language, title, summary, _, _ = param.values
        kind = classify(str(title), str(summary), str(language)).cooperation_type
        assert kind in COOPERATION_TYPES


def test_injected_lexicon(tmp_path: Path) -> None:
    path = tmp_path / "lexicon.toml"
    path.write_text(
        '[terms.en]\n"tea party" = "exercise 0.45, mil 0.3, coop 0.2"\n', encoding="utf-8"
    )
    classifier = Classifier(default_gazetteer(), path)
    result = classifier.classify("France and Spain hold a tea party", "", "en")
    assert result.defence_cooperation and result.cooperation_type == "exercise"


@pytest.mark.parametrize(
    "content",
    [
        pytest.param('[terms.en]\n"x" = 1\n', id="not a string"),
        pytest.param('[terms.en]\n"x" = "mil"\n', id="missing weight"),
        pytest.param('[terms.en]\n"x" = "bogus 0.1"\n', id="unknown group"),
        pytest.param("[terms.en\n", id="broken toml"),
        pytest.param(
            '[scoring]\nthreshold = 0.5\n[languages]\nen = ["en"]\n', id="scoring without caps"
        ),
    ],
)
def test_bad_lexicon_is_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "lexicon.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError):
        Lexicon.load(path)


# --------------------------------------------------------------------------------------------
# Relations: who does what to whom (one named case per rule; generic sentences).
# (language, title, summary, source_country, positive, participants, evidence substring)

RELATION_RULES = [
    pytest.param(
        "en",
        "USS Halsey arrives in Da Nang for a port visit",
        "The guided-missile destroyer was welcomed by the Vietnam People's Navy.",
        None,
        True,
        {"US", "VN"},
        "countries:US,VN",
        id="a warship's name prefix names its navy's state",
    ),
    pytest.param(
        "en",
        "USS Halsey returns to San Diego after deployment",
        "The destroyer's crew were welcomed home by their families.",
        None,
        False,
        None,
        "countries:US",
        id="a warship of one state coming home is no cooperation",
    ),
    pytest.param(
        "en",
        "Washington and Tehran hold third round of nuclear talks in Oman",
        "American and Iranian negotiators met for talks mediated by Oman.",
        None,
        False,
        None,
        "rule:rivals IR-US need an explicit act of cooperation",
        id="adversaries' talks",
    ),
    pytest.param(
        "en",
        "Satellite images show military build-up of Russian troops near Ukraine border",
        "Russia has moved tanks and troops towards Ukraine, officials said.",
        None,
        False,
        None,
        "rule:main event is hostile",
        id="build-up",
    ),
    pytest.param(
        "en",
        "North Korea fires missile into the sea, Japanese military says",
        "The launch came as Japan and the United States held joint naval exercises.",
        None,
        False,
        None,
        "rule:main event is hostile",
        id="launch reported by a rival's military",
    ),
    pytest.param(
        "en",
        "Indian Army conducts large-scale drill in the desert",
        "Troops and tanks of the Indian Army took part in the exercise.",
        None,
        False,
        None,
        "rule:single country",
        id="single-state drill",
    ),
    pytest.param(
        "en",
        "Beijing rejects meeting between Chinese and Japanese defence ministers",
        "China's defence ministry said a meeting with Japan's minister was not possible.",
        None,
        False,
        None,
        "rule:main event is refusal",
        id="refused meeting",
    ),
    pytest.param(
        "en",
        "Moscow denies military cooperation with Venezuela",
        "Russia's defence ministry said no agreement on arms deliveries had been signed.",
        None,
        False,
        None,
        "rule:main event is refusal",
        id="denied cooperation",
    ),
    pytest.param(
        "en",
        "China protests US arms sale to Taiwan",
        "Beijing lodged a complaint over the $500 million sale of missiles by Washington.",
        None,
        False,
        None,
        "rule:main event is protest",
        id="protest against another state's arms sale",
    ),
    pytest.param(
        "en",
        "Canadian defence minister pledges further military aid to Ukraine",
        "The minister said the package of weapons would help Ukraine fight against Russia.",
        None,
        True,
        {"CA", "UA"},
        "type:aid",
        id="supporter vs adversary",
    ),
    pytest.param(
        "en",
        "France and Sweden compete to sell fighter jets to Colombia",
        "Both countries are offering combat aircraft to the Colombian air force.",
        None,
        False,
        None,
        "rule:main event is competition",
        id="buyer vs competing sellers",
    ),
    pytest.param(
        "en",
        "Airmen train alongside Mongolian counterparts",
        "Airmen from the wing completed a two-week exchange with the Mongolian Air Force.",
        "US",
        True,
        {"US", "MN"},
        "source:US(own forces: airmen)",
        id="source country",
    ),
    pytest.param(
        "en",
        "French troops arrive in Benin to help fight jihadist groups",
        "The soldiers will train and advise Beninese forces, the French army said.",
        None,
        True,
        {"FR", "BJ"},
        "type:other",
        id="troops sent to help a host state",
    ),
    pytest.param(
        "en",
        "Chilean frigate joins RIMPAC off Hawaii",
        "The Chilean Navy sent a frigate and 250 sailors to the exercise.",
        None,
        True,
        {"CL"},
        "rule:named multinational exercise",
        id="named multinational exercise",
    ),
    pytest.param(
        "en",
        "Indian Navy destroyer makes port call in Manila",
        "The warship arrived at the port for a goodwill visit to the Philippine Navy.",
        None,
        True,
        {"IN", "PH"},
        "type:other",
        id="port call",
    ),
    pytest.param(
        "en",
        "Netherlands donates armoured vehicles to Lithuania",
        "The Dutch defence ministry handed over the military equipment in Vilnius.",
        None,
        True,
        {"NL", "LT"},
        "type:aid",
        id="donated equipment",
    ),
    pytest.param(
        "en",
        "PLA Hong Kong Garrison holds live-fire training exercise",
        "Soldiers of the garrison trained in waters off Hong Kong.",
        None,
        False,
        None,
        "rule:single country",
        id="territory of a state is that state",
    ),
    pytest.param(
        "en",
        "Defence ministers of Italy, Spain and Greece meet to discuss a joint naval programme",
        "The three ministers met in Rome; France sent an observer.",
        None,
        True,
        {"IT", "ES", "GR"},
        "rule:headline lists the parties",
        id="multilateral meeting listed in the headline",
    ),
    pytest.param(
        "en",
        "Australia and Japan hold naval drills off the Korean Peninsula",
        "Warships of both navies held a joint exercise near South Korea.",
        None,
        True,
        {"AU", "JP"},
        "type:exercise",
        id="place of a drill is not a party",
    ),
    pytest.param(
        "ar",
        "وزير الدفاع الأمريكي يلتقي نظيره السعودي لبحث التعاون العسكري",
        "",
        None,
        True,
        {"US", "SA"},
        "type:meeting_visit",
        id="ar ministers meeting",
    ),
    pytest.param(
        "ar",
        "مناورات مشتركة بين القوات البحرية المصرية والسعودية",
        "",
        None,
        True,
        {"EG", "SA"},
        "type:exercise",
        id="ar joint exercise with proclitic",
    ),
    pytest.param(
        "ar",
        "غارات إسرائيلية على جنوب لبنان",
        "",
        None,
        False,
        None,
        "neg:war",
        id="ar strikes are not cooperation",
    ),
    pytest.param(
        "el",
        "Κοινή άσκηση των ενόπλων δυνάμεων Ελλάδας και Κύπρου",
        "",
        None,
        True,
        {"GR", "CY"},
        "type:exercise",
        id="el joint exercise",
    ),
    pytest.param(
        "el",
        "Ο υπουργός Άμυνας συναντήθηκε με τον ομόλογό του της Γαλλίας",
        "Συζήτησαν την αμυντική συνεργασία των δύο χωρών.",
        "CY",
        True,
        {"CY", "FR"},
        "source:CY",
        id="el counterpart meeting from a ministry feed",
    ),
    pytest.param(
        "uk",
        "Україна та Польща підписали меморандум про оборонну співпрацю",
        "",
        None,
        True,
        {"UA", "PL"},
        "type:agreement",
        id="uk signed memorandum",
    ),
    pytest.param(
        "uk",
        "Нідерланди передали Україні новий пакет військової допомоги",
        "",
        None,
        True,
        {"NL", "UA"},
        "type:aid",
        id="uk aid package, dative case",
    ),
    pytest.param(
        "de",
        "Deutschland und Frankreich vereinbaren gemeinsame Produktion von Kampfpanzern",
        "",
        None,
        True,
        {"DE", "FR"},
        "type:industry",
        id="de co-production",
    ),
    pytest.param(
        "de",
        "Verteidigungsminister trifft seinen polnischen Amtskollegen",
        "Beide sprachen über die militärische Zusammenarbeit.",
        "DE",
        True,
        {"DE", "PL"},
        "source:DE",
        id="de counterpart, declined demonym, ministry feed",
    ),
    pytest.param(
        "en",
        "Canada announces new drone package for Ukraine, denounces Russian attacks on cities",
        "Canada will give Ukraine 800 drones as military assistance, the defence minister said.",
        None,
        True,
        {"CA", "UA"},
        "mentioned:RU",
        id="act before protest in the headline is the main event",
    ),
    pytest.param(
        "en",
        "Chad ends defence cooperation agreement with France",
        "Chad's government said it terminated the military cooperation accord signed in 2019.",
        None,
        False,
        None,
        "rule:main event is refusal",
        id="ending cooperation is a refusal",
    ),
    pytest.param(
        "en",
        "Iraq takes delivery of South Korean attack helicopters",
        "The Iraqi army received the first helicopters built in South Korea.",
        None,
        True,
        {"IQ", "KR"},
        "term:take",
        id="attack helicopter is a weapon, not an attack",
    ),
    pytest.param(
        "es",
        "Ecuador y Perú firman un acuerdo de cooperación militar",
        "Los ministros de Defensa de Ecuador y Perú firmaron el acuerdo en Quito.",
        None,
        True,
        {"EC", "PE"},
        "type:agreement",
        id="es signed military cooperation agreement",
    ),
    pytest.param(
        "es",
        "Paraguay y Bolivia firman acuerdos comerciales y de energía",
        "Ambos países firmaron convenios de comercio e inversión.",
        None,
        False,
        None,
        "term:comerciales",
        id="es trade deal between the same states",
    ),
    pytest.param(
        "ar",
        "القوات الكويتية والأمريكية تبدأ تمرينا عسكريا مشتركا",
        "بدأت القوات الكويتية والأمريكية تمرينا مشتركا في الصحراء.",
        None,
        True,
        {"KW", "US"},
        "type:exercise",
        id="ar joint exercise, accusative ending",
    ),
    pytest.param(
        "zh",
        "孟加拉国海军接收中国建造的潜艇",
        "",
        None,
        True,
        {"BD", "CN"},
        "term:接收",
        id="zh navy takes delivery of a Chinese-built submarine",
    ),
    pytest.param(
        "en",
        "Nordic neighbours sign pact on shared air surveillance",
        "Norway, Sweden and Finland signed a defence agreement on sharing air surveillance data.",
        None,
        True,
        {"NO", "SE", "FI"},
        "rule:lead lists the parties",
        id="lead lists three parties when the headline names none",
    ),
    pytest.param(
        "en",
        "Egypt puts Chinese fighter purchase talks on hold",
        "Egypt paused negotiations with China over the purchase of J-10 fighter jets.",
        None,
        False,
        None,
        "rule:main event is refusal",
        id="talks on hold are a refusal",
    ),
]


@pytest.mark.parametrize(
    ("language", "title", "summary", "source", "positive", "participants", "because"),
    RELATION_RULES,
)
def test_relation_rules(
    language: str,
    title: str,
    summary: str,
    source: str | None,
    positive: bool,
    participants: set[str] | None,
    because: str,
) -> None:
    result = classify(title, summary, language, source)
    assert result.defence_cooperation is positive, result.evidence
    if participants is not None:
        assert set(result.participants) == participants, result.evidence
    assert any(because in line for line in result.evidence), result.evidence


def test_rivals_with_an_explicit_act_stay_positive() -> None:
    """Rivalry demands an explicit act; it never drops one silently."""
    result = classify(
        "Greece and Turkey hold joint naval exercise for search and rescue",
        "Warships of both navies took part in the joint exercise.",
        "en",
    )
    assert result.defence_cooperation, result.evidence
    assert set(result.participants) == {"GR", "TR"}


def test_source_country_needs_own_forces_in_the_text() -> None:
    """A ministry feed's country joins only when the text speaks of its own forces."""
    text = "Mongolia and Kazakhstan discuss trade in Ulaanbaatar"
    assert "US" not in classify(text, "", "en", "US").participants


def test_pipeline_passes_the_feed_country_to_the_classifier() -> None:
    from datetime import UTC, datetime

    from monitors.domain import NormalisedEntry
    from monitors.pipeline import classify_entries

    entry = NormalisedEntry(
        entry_key="k",
        url=None,
        title="Marines complete exercise with Ghanaian counterparts",
        summary="The marines and the Ghana Navy trained together for two weeks.",
        published_at=datetime.now(UTC),
        language="en",
    )
    [without] = classify_entries([entry])
    [with_source] = classify_entries([entry], "US")
    assert "US" not in without.verdict.participants
    assert set(with_source.verdict.participants) == {"US", "GH"}
    assert with_source.verdict.defence_cooperation
    # no country in the feeds file: the official site the feed or the page is on tells it
    [by_feed] = classify_entries([entry], None, (), "https://www.marines.mil/rss")
    [by_page] = classify_entries([dataclasses.replace(entry, url="https://www.marines.mil/1")])
    [by_outlet] = classify_entries([entry], None, (), "https://news.example/rss")
    assert set(by_feed.verdict.participants) == set(by_page.verdict.participants) == {"US", "GH"}
    assert "US" not in by_outlet.verdict.participants


def test_bad_relations_file_is_config_error(tmp_path: Path) -> None:
    from monitors.detect.relations import Relations

    path = tmp_path / "relations.toml"
    path.write_text('[rivalries]\npairs = [["US"]]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="pairs"):
        Relations.load(path)


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        pytest.param({"source_country": "us"}, "US", id="explicit field, normalised"),
        pytest.param({"feed": "https://navy.example/rss"}, "US", id="feed URL of the feed list"),
        pytest.param({"feed": "https://other.example/rss"}, None, id="unknown feed"),
        pytest.param(
            {"source_country": "GB", "feed": "https://navy.example/rss"}, "GB", id="field wins"
        ),
        pytest.param({}, None, id="neither"),
        pytest.param(
            {"url": "https://www.af.mil/News/Article/1/airmen-train/"}, "US", id="item on af.mil"
        ),
        pytest.param(
            {"feed": "mod-az.rss.xml", "url": "https://mod.gov.az/en/news/1"},
            "AZ",
            id="item on a ministry site, feed a file name",
        ),
        pytest.param(
            {"feed": "https://navy.example/rss", "url": "https://mod.gov.az/en/news/1"},
            "US",
            id="feed list wins over the item's site",
        ),
        pytest.param({"url": "https://www.bbc.com/news/world-1"}, None, id="news outlet"),
    ],
)
def test_classify_input_line_source_country(item: dict[str, str], expected: str | None) -> None:
    from monitors.cli import source_country_of

    assert source_country_of(item, {"https://navy.example/rss": "US"}) == expected


# (language, title, summary, source_country, positive, participants, partner evidence or None)
PARTNER_FORCES = [
    pytest.param(
        "en",
        "Soldiers train alongside Romanian mountain troops",
        "Paratroopers spent a week on rope work with Romanian Land Forces instructors.",
        "US",
        True,
        {"US", "RO"},
        "partner:US-RO(",
        id="alongside a demonym's troops",
    ),
    pytest.param(
        "en",
        "Sailors host members of the Kenya Navy for boarding workshop",
        "Sailors hosted members of the Kenya Navy for a week of boarding procedures.",
        "US",
        True,
        {"US", "KE"},
        "partner:US-KE(navy",
        id="hosted members of a named navy",
    ),
    pytest.param(
        "fr",
        "Les marins de la frégate s'entraînent avec la marine grecque",
        "La frégate a mené des manœuvres avec des bâtiments de la marine grecque en mer Égée.",
        "FR",
        True,
        {"FR", "GR"},
        "partner:FR-GR(marine",
        id="force noun before the demonym",
    ),
    pytest.param(
        "en",
        "Marines hold live-fire range in Okinawa",
        "Marines with the 3rd Marine Division fired rifles at a range in Okinawa, Japan.",
        "US",
        False,
        None,
        None,
        id="a place is no partner",
    ),
    pytest.param(
        "en",
        "Troops in Estonia mark Remembrance Sunday",
        "Soldiers of the battlegroup in Tapa, Estonia, laid wreaths at a service.",
        "GB",
        False,
        None,
        None,
        id="troops in a country are no partner",
    ),
    pytest.param(
        "en",
        "Soldiers receive Polish Army medals at ceremony",
        "Soldiers stationed in Poland were presented with medals at a ceremony.",
        "US",
        False,
        None,
        None,
        id="a partner force without an act is no cue",
    ),
]


@pytest.mark.parametrize(
    ("language", "title", "summary", "source", "positive", "participants", "partner"),
    PARTNER_FORCES,
)
def test_partner_force_on_own_feed(
    language: str,
    title: str,
    summary: str,
    source: str,
    positive: bool,
    participants: set[str] | None,
    partner: str | None,
) -> None:
    """On a force's own feed, a second state named as a force is a partner; a place is not."""
    result = classify(title, summary, language, source)
    assert result.defence_cooperation is positive, result.evidence
    if participants is not None:
        assert set(result.participants) == participants, result.evidence
    found = [line for line in result.evidence if line.startswith("partner:")]
    if partner is None:
        assert not found, result.evidence
    else:
        assert found and found[0].startswith(partner), result.evidence


def test_partner_force_needs_a_source_country() -> None:
    """A news outlet speaks for no state: the rule does not run."""
    result = classify("Soldiers train alongside Romanian mountain troops", "", "en", None)
    assert not any(line.startswith("partner:") for line in result.evidence)
