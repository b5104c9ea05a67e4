"""Country gazetteer: traps, languages, resolution (table-driven)."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitors.detect.countries import CountryMention, Gazetteer, default_gazetteer, flag, fold
from monitors.errors import ConfigError, UnknownCountry


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return default_gazetteer()


def codes_in(gazetteer: Gazetteer, text: str, language: str | None = None) -> set[str]:
    return {mention.code for mention in gazetteer.find(text, language)}


TRAPS = [
    pytest.param("Atlanta, Georgia governor signs bill", set(), id="georgia the us state"),
    pytest.param("Georgia's governor vetoed the budget", set(), id="georgia governor possessive"),
    pytest.param("Voters in the state of Georgia went to the polls", set(), id="state of georgia"),
    pytest.param(
        "Georgia and Azerbaijan discussed border security", {"GE", "AZ"}, id="georgia the country"
    ),
    pytest.param(
        "The U.S.-Georgia Strategic Partnership Commission met",
        {"US", "GE"},
        id="us-georgia commission",
    ),
    pytest.param(
        "Georgia's State Security Service detained two", {"GE"}, id="georgia state security"
    ),
    pytest.param("The Georgia senate passed the bill", set(), id="georgia senate"),
    pytest.param("Michael Jordan returns to the court", set(), id="jordan the person"),
    pytest.param("Jordan Bardella leads the polls in France", {"FR"}, id="jordan as first name"),
    pytest.param(
        "King Abdullah of Jordan met Egypt's president", {"JO", "EG"}, id="jordan the country"
    ),
    pytest.param("Chad Smith played the drums", set(), id="chad the first name"),
    pytest.param(
        "Troops from Chad and Niger patrol the border", {"TD", "NE"}, id="chad the country"
    ),
    pytest.param(
        "We roasted a turkey for Thanksgiving dinner", set(), id="turkey the bird lowercase"
    ),
    pytest.param(
        "Best Roast Turkey Recipe For Thanksgiving", set(), id="turkey the bird title case"
    ),
    pytest.param("Turkey and Pakistan launched a corvette", {"TR", "PK"}, id="turkey the country"),
    pytest.param("Niger's junta met Nigerian envoys", {"NE", "NG"}, id="niger vs nigeria"),
    pytest.param("Oil spills in the Niger Delta", {"NG"}, id="niger delta is nigeria"),
    pytest.param("Guinea-Bissau soldiers seized the capital", {"GW"}, id="guinea-bissau longest"),
    pytest.param(
        "Equatorial Guinea and Papua New Guinea", {"GQ", "PG"}, id="equatorial guinea and png"
    ),
    pytest.param("A coup in Guinea toppled the president", {"GN"}, id="guinea alone"),
    pytest.param(
        "中巴两国军队举行联合演习", {"CN", "PK"}, id="zh two countries' armies are not the roc army"
    ),
    pytest.param("guinea pig breeders gathered", set(), id="guinea pig lowercase"),
    pytest.param(
        "Fighting in the Democratic Republic of the Congo", {"CD"}, id="dr congo long form"
    ),
    pytest.param("Republic of the Congo and DRC leaders met", {"CG", "CD"}, id="congo vs dr congo"),
    pytest.param(
        "North Korea fired a missile as South Korea watched",
        {"KP", "KR"},
        id="north vs south korea",
    ),
    pytest.param("The DPRK and the ROK", {"KP", "KR"}, id="korea codes"),
    pytest.param(
        "The Washington Post reported on George Washington", set(), id="washington not the capital"
    ),
    pytest.param("Seattle, Washington saw heavy rain", set(), id="washington the state"),
    pytest.param("Washington state governor signs order", set(), id="washington state governor"),
    pytest.param(
        "Washington and Moscow traded accusations", {"US", "RU"}, id="washington capital metonym"
    ),
    pytest.param("Patrols in the South China Sea", set(), id="south china sea is not china"),
    pytest.param("Ships crossed the Indian Ocean", set(), id="indian ocean is not india"),
    pytest.param("fine china and porcelain", set(), id="china the porcelain"),
    pytest.param("let us go", set(), id="us the pronoun"),
    pytest.param("The US and UK signed", {"US", "GB"}, id="upper-case codes"),
    pytest.param("Beijing and Baku agreed", {"CN", "AZ"}, id="capitals as metonyms"),
    pytest.param(
        "The PLA, the IDF, the Bundeswehr and the Pentagon", {"CN", "IL", "DE", "US"}, id="forces"
    ),
    pytest.param("Sino-Pakistani ties and Azeri troops", {"CN", "PK", "AZ"}, id="demonyms"),
    pytest.param("Indiana Jones and the Temple", set(), id="indiana is not indian"),
    pytest.param("according to Agence France-Presse", set(), id="news agency is not france"),
    pytest.param(
        "Island nations met in Fiji", {"FJ"}, id="german island is not iceland in english"
    ),
]


@pytest.mark.parametrize(("text", "expected"), TRAPS)
def test_traps(gazetteer: Gazetteer, text: str, expected: set[str]) -> None:
    assert codes_in(gazetteer, text, "en") == expected


LANGUAGES = [
    pytest.param(
        "ru",
        "Министр обороны Азербайджана встретился с делегацией Китая",
        {"AZ", "CN"},
        id="ru genitive",
    ),
    pytest.param(
        "ru",
        "переговоры с Азербайджаном и Турцией в Москве",
        {"AZ", "TR", "RU"},
        id="ru instrumental",
    ),
    pytest.param("ru", "учения Южной Кореи и США", {"KR", "US"}, id="ru multiword inflected"),
    pytest.param("ru", "поставки в Нигерию и Нигер", {"NG", "NE"}, id="ru niger vs nigeria"),
    pytest.param("ru", "российские и казахстанские военные", {"RU", "KZ"}, id="ru adjectives"),
    pytest.param("ru", "груз прибыл в порт", set(), id="ru cargo is not georgia"),
    pytest.param(
        "az", "Azərbaycanın və Türkiyənin müdafiə nazirləri", {"AZ", "TR"}, id="az genitive"
    ),
    pytest.param(
        "az", "Çindən gələn nümayəndə heyəti Bakıda", {"CN", "AZ"}, id="az ablative and capital"
    ),
    pytest.param("az", "Pakistanla birgə təlim", {"PK"}, id="az comitative"),
    pytest.param(
        "tr",
        "Türkiye'nin ve Azerbaycan'ın ortak tatbikatı",
        {"TR", "AZ"},
        id="tr apostrophe suffix",
    ),
    pytest.param("tr", "Ankara ile Bakü arasında", {"TR", "AZ"}, id="tr capitals"),
    pytest.param("fr", "L'Arménie et la France ont signé un accord", {"AM", "FR"}, id="fr elision"),
    pytest.param("fr", "deux diplomates azerbaïdjanais expulsés", {"AZ"}, id="fr demonym"),
    pytest.param("fr", "Les États-Unis et la Chine", {"US", "CN"}, id="fr hyphenated name"),
    pytest.param("zh", "中巴海上联合演习开幕", {"CN", "PK"}, id="zh bilateral abbreviation"),
    pytest.param("zh", "中国海军舰艇抵达巴基斯坦卡拉奇港", {"CN", "PK"}, id="zh substring names"),
    pytest.param("zh", "南海局势与华盛顿", {"US"}, id="zh south china sea blocked"),
    pytest.param("zh", "中國與俄羅斯舉行聯合軍演", {"CN", "RU"}, id="zh traditional"),
    pytest.param("pl", "manewry na zachodzie Białorusi", {"BY"}, id="pl genitive"),
    pytest.param("pl", "ćwiczenia Chin i Stanów Zjednoczonych", {"CN", "US"}, id="pl multiword"),
    pytest.param(None, "wizyta w Chinach i Białorusi", {"CN", "BY"}, id="pl letters unnamed"),
    pytest.param("pl", "chińskie porcelana i indyk", set(), id="pl lower case is no name"),
    pytest.param(
        "hy", "Թուրքիայի և ադրբեջանական զինված ուժերի", {"TR", "AZ"}, id="hy genitive adjective"
    ),
    pytest.param("ja", "アメリカ海軍の空母がベトナムに入港", {"US", "VN"}, id="ja katakana"),
    pytest.param("ja", "新しいタイプのサブマリン", set(), id="ja loanwords hide no short names"),
    pytest.param(
        "en", "The carrier left Norfolk for an indie gig", set(), id="en norfolk is no state"
    ),
    pytest.param("bg", "беларуски войски край Брест", {"BY"}, id="bg adjective"),
    pytest.param("en", "Poland and Belarusian troops", {"PL", "BY"}, id="en untouched by pl stems"),
]


@pytest.mark.parametrize(("language", "text", "expected"), LANGUAGES)
def test_languages(
    gazetteer: Gazetteer, language: str | None, text: str, expected: set[str]
) -> None:
    assert codes_in(gazetteer, text, language) == expected


def test_mention_offsets_point_into_original(gazetteer: Gazetteer) -> None:
    text = "Le ministre ÉTATS-UNIS, puis Azərbaycanın"
    for mention in gazetteer.find(text):
        assert isinstance(mention, CountryMention)
        assert text[mention.start : mention.end] == mention.surface
        assert mention.kind in {"name", "demonym", "capital", "force", "code", "official"}


def test_fold_keeps_length() -> None:
    for text in ("İstanbul’da Ёлка ß Ǆ", "Azərbaycanın Türkiye'nin", "中國 café"):
        assert len(fold(text)) == len(text)


RESOLVE = [
    pytest.param("Azərbaycan", "AZ", id="azerbaijani native"),
    pytest.param("Азербайджан", "AZ", id="russian"),
    pytest.param("azerbaijani", "AZ", id="demonym lowercase"),
    pytest.param("AZ", "AZ", id="iso code"),
    pytest.param("az", "AZ", id="iso code lowercase"),
    pytest.param("Türkiye", "TR", id="turkiye"),
    pytest.param("turkey", "TR", id="turkey lowercase"),
    pytest.param("TURKIYE", "TR", id="accentless upper"),
    pytest.param("  united   states ", "US", id="spaces"),
    pytest.param("Côte d'Ivoire", "CI", id="apostrophe and accent"),
    pytest.param("Chine", "CN", id="french"),
    pytest.param("中国", "CN", id="chinese"),
    pytest.param("Guinea-Bissau", "GW", id="guinea-bissau"),
    pytest.param("Beijing", "CN", id="capital"),
    pytest.param("IN", "IN", id="upper-case code that is also a word"),
    pytest.param("us", "US", id="us lower case"),
    pytest.param("DRC", "CD", id="drc"),
]


@pytest.mark.parametrize(("name", "code"), RESOLVE)
def test_resolve(gazetteer: Gazetteer, name: str, code: str) -> None:
    assert gazetteer.resolve(name) == code


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        pytest.param("Azrebaijan", "Azerbaijan", id="typo suggests"),
        pytest.param("Congo", "DR Congo", id="ambiguous congo"),
        pytest.param("Korea", "South Korea", id="ambiguous korea"),
        pytest.param("Gemany", "Germany", id="missing letter"),
    ],
)
def test_resolve_unknown_suggests(gazetteer: Gazetteer, name: str, suggestion: str) -> None:
    with pytest.raises(UnknownCountry) as info:
        gazetteer.resolve(name)
    assert suggestion in info.value.suggestions
    assert len(info.value.suggestions) <= 3


@pytest.mark.parametrize("junk", ["xyzzy", "", "the", "south", "ZZ", "Atlantis", "in", "it", "no"])
def test_resolve_junk_raises(gazetteer: Gazetteer, junk: str) -> None:
    with pytest.raises(UnknownCountry):
        gazetteer.resolve(junk)


def test_names_flags_codes(gazetteer: Gazetteer) -> None:
    assert gazetteer.name("AZ") == "Azerbaijan"
    assert gazetteer.name("az", "ru") == "Азербайджан"
    assert gazetteer.name("CD") == "DR Congo"
    assert flag("AZ") == "\U0001f1e6\U0001f1ff"
    assert flag("xx1") == ""
    codes = gazetteer.codes()
    assert {"AZ", "CN", "US", "XK", "TW"} <= codes
    assert "EU" not in codes and "001" not in codes


def test_load_custom_file(tmp_path: Path) -> None:
    path = tmp_path / "countries.toml"
    path.write_text(
        '[settings]\nlocales = ["en"]\n[countries.AZ]\ncapitals = ["Baku"]\n', encoding="utf-8"
    )
    gazetteer = Gazetteer.load(path)
    assert codes_in(gazetteer, "Baku hosted talks") == {"AZ"}


def test_bad_file_is_config_error(tmp_path: Path) -> None:
    path = tmp_path / "countries.toml"
    path.write_text("[countries.Azerbaijan]\naliases = []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"countries\.Azerbaijan"):
        Gazetteer.load(path)
    with pytest.raises(ConfigError):
        Gazetteer.load(tmp_path / "missing.toml")


@pytest.mark.parametrize(
    ("language", "text", "codes"),
    [
        pytest.param("ar", "مناورات بين مصر والسعودية", ["EG", "SA"], id="ar proclitic wa-"),
        pytest.param("ar", "صفقة للهند", ["IN"], id="ar proclitic li- with elided article"),
        pytest.param("ar", "الوفد الروسي في الرياض", ["RU", "SA"], id="ar nisba demonym, capital"),
        pytest.param("el", "Άσκηση Ελλάδας και Κύπρου", ["GR", "CY"], id="el genitive names"),
        pytest.param("uk", "Нідерланди передали Україні", ["NL", "UA"], id="uk dative ending"),
        pytest.param("de", "trifft seinen polnischen Kollegen", ["PL"], id="de declined demonym"),
    ],
)
def test_newly_covered_languages(language: str, text: str, codes: list[str]) -> None:
    assert [m.code for m in default_gazetteer().find(text, language)] == codes


# Urdu and Hindi: CLDR's formal names plus [native.ur]/[native.hi] of config/countries.toml.
SOUTH_ASIAN = [
    pytest.param("ur", "امریکہ اور پاکستان کے تعلقات", ["US", "PK"], id="ur everyday names"),
    pytest.param("ur", "امریکی وزیرِ خارجہ کی پاکستان آمد", ["US", "PK"], id="ur adjective"),
    pytest.param("ur", "امریکیوں اور پاکستانیوں نے", ["US", "PK"], id="ur oblique plural"),
    pytest.param(
        "ur", "انڈیا، ہندوستان اور بھارت", ["IN", "IN", "IN"], id="ur three names of india"
    ),
    pytest.param("ur", "چین، روس اور ایران", ["CN", "RU", "IR"], id="ur cldr names"),
    pytest.param("ur", "اسرائیلی اور سعودی حکام", ["IL", "SA"], id="ur israeli and saudi"),
    pytest.param(
        "ur", "ترکی، افغانستان اور بنگلہ دیش", ["TR", "AF", "BD"], id="ur turkey afghanistan bd"
    ),
    pytest.param("ur", "برطانیہ، فرانس اور جاپان", ["GB", "FR", "JP"], id="ur gb fr jp"),
    pytest.param("ur", "یوکرین، قطر اور متحدہ عرب امارات", ["UA", "QA", "AE"], id="ur ua qa ae"),
    pytest.param("ur", "چینی فوج کے دستے", ["CN"], id="ur chinese army phrase"),
    pytest.param("ur", "جنوبی کوریا اور شمالی کوریا", ["KR", "KP"], id="ur two koreas"),
    pytest.param("hi", "भारत और पाकिस्तान के बीच", ["IN", "PK"], id="hi names with vowel signs"),
    pytest.param("hi", "अमेरिका और अमेरिकी सेना", ["US", "US"], id="hi america and american"),
    pytest.param("hi", "अमेरिकियों और पाकिस्तानियों ने", ["US", "PK"], id="hi oblique plural"),
    pytest.param("hi", "चीन, रूस और ईरान", ["CN", "RU", "IR"], id="hi cldr names"),
    pytest.param("hi", "इज़राइल और इजराइल", ["IL", "IL"], id="hi with and without nukta"),
    pytest.param("hi", "फ़्रांस, फ्रांस और \u0958तर", ["FR", "FR", "QA"], id="hi precomposed nukta"),
    pytest.param("hi", "सऊदी अरब और तुर्की", ["SA", "TR"], id="hi saudi arabia turkey"),
    pytest.param("hi", "ब्रिटेन, जापान और यूक्रेन", ["GB", "JP", "UA"], id="hi gb jp ua"),
    pytest.param("hi", "यूएई और क़तर", ["AE", "QA"], id="hi uae qatar"),
    pytest.param("hi", "अफ़ग़ानिस्तान और बांग्लादेश", ["AF", "BD"], id="hi afghanistan bangladesh"),
    pytest.param("hi", "चीनी सेना ने अभ्यास किया", ["CN"], id="hi chinese army phrase"),
]


@pytest.mark.parametrize(("language", "text", "codes"), SOUTH_ASIAN)
def test_urdu_and_hindi_names(language: str, text: str, codes: list[str]) -> None:
    assert [m.code for m in default_gazetteer().find(text, language)] == codes


SOUTH_ASIAN_TRAPS = [
    pytest.param("ur", "شام کو ملاقات ہوئی", id="ur sham is evening not syria"),
    pytest.param("ur", "مالی امداد معطل", id="ur mali is financial not mali"),
    pytest.param("ur", "چینی کی قیمت بڑھ گئی", id="ur chini is sugar not chinese"),
    pytest.param("ur", "وہ گھر چلی گئی", id="ur chali is went not chile"),
    pytest.param("ur", "وہ اس پر مصر ہیں", id="ur musir is insistent not egypt"),
    pytest.param("ur", "عوام بے چین ہیں", id="ur be chain is restless not china"),
    pytest.param("ur", "سارک کانفرنس", id="ur saarc is not sark"),
    pytest.param("hi", "चीनी की कीमत बढ़ी", id="hi chini is sugar not chinese"),
    pytest.param("hi", "माली ने पौधे लगाए", id="hi mali is gardener not mali"),
    pytest.param("hi", "नई जर्सी पहनी", id="hi jersey is a shirt"),
    pytest.param("hi", "दक्षिण चीन सागर में तनाव", id="hi south china sea blocked"),
]


@pytest.mark.parametrize(("language", "text"), SOUTH_ASIAN_TRAPS)
def test_urdu_and_hindi_traps(language: str, text: str) -> None:
    assert default_gazetteer().find(text, language) == []


def test_everyday_words_are_never_found_but_resolve() -> None:
    # config/countries.toml [settings] everyday_words: each is read as a word, not a state,
    # whatever the language; a user typing one to /watch still gets the state
    from monitors.detect.data import read_toml

    words = read_toml("countries.toml", "gazetteer")["settings"]["everyday_words"]
    assert words
    gazetteer = default_gazetteer()
    for word in words:
        assert gazetteer.find(word) == [], word
    assert gazetteer.resolve("شام") == "SY"
    assert gazetteer.resolve("माली") == "ML"


@pytest.mark.parametrize(
    ("content", "named"),
    [
        pytest.param(
            '[native.ur.Pakistan]\naliases = ["پاکستان"]\n', r"native\.ur\.Pakistan", id="bad code"
        ),
        pytest.param(
            '[native.ur.PK]\naliases = "پاکستان"\n', r"native\.ur\.PK\.aliases", id="not a list"
        ),
        pytest.param('native = ["ur"]\n', r"native", id="not a table"),
    ],
)
def test_bad_native_table_is_config_error(tmp_path: Path, content: str, named: str) -> None:
    path = tmp_path / "countries.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=named):
        Gazetteer.load(path)
