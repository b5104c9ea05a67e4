"""Classifier: verdicts, participants, types and evidence (table-driven, per language)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitors.classify import Classifier, Lexicon, classify
from monitors.countries import default_gazetteer
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
    ],
)
def test_bad_lexicon_is_config_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "lexicon.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError):
        Lexicon.load(path)
