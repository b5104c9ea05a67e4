"""The text features of ``monitors.detect.textfeatures``, one table per feature.

They pin what each extractor finds today, so that a faster implementation (prefilters,
caches, stem indexes) is held to the same answers: a change here is a change of behaviour."""

from __future__ import annotations

import pytest

from monitors.detect import textfeatures as tf
from monitors.errors import ConfigError


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        pytest.param("Sept.", 9, id="en abbreviation with dot"),
        pytest.param("May", 5, id="en exact"),
        pytest.param("décembre", 12, id="fr exact"),
        pytest.param("Februar", 2, id="de exact"),
        pytest.param("сентября", 9, id="ru stem with case ending"),
        pytest.param("мая", 5, id="ru may"),
        pytest.param("март", 3, id="ru bare stem"),
        pytest.param("марш", None, id="ru march is not a month"),
        pytest.param("Sentyabrın", 9, id="az stem"),
        pytest.param("ağustos", 8, id="tr stem"),
        pytest.param("listopada", 11, id="pl stem"),
        pytest.param("pazdziernika", None, id="pl ending longer than four letters"),
        pytest.param("Maybe", 5, id="az may stem plus two letters"),
        pytest.param("ma", None, id="shorter than any stem"),
        pytest.param("1", None, id="digit"),
        pytest.param("", None, id="empty"),
    ],
)
def test_month_number(word: str, expected: int | None) -> None:
    assert tf.month_number(word) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("March 5", [(3, 5, None)], id="en month day"),
        pytest.param("5 марта", [(3, 5, None)], id="ru day month"),
        pytest.param("Sentyabrın 29-da", [(9, 29, None)], id="az with suffix"),
        pytest.param("8月23日", [(8, 23, None)], id="cjk"),
        pytest.param("12 月 3 日", [(12, 3, None)], id="cjk spaced"),
        pytest.param("2023年8月23日", [(8, 23, 2023)], id="cjk with year"),
        pytest.param("2023-02-06", [(2, 6, 2023)], id="iso"),
        pytest.param("06.02.2023", [(2, 6, 2023)], id="dotted"),
        pytest.param("15-19 марта", [(3, 19, None), (3, 15, None)], id="range before month"),
        pytest.param("March 9 to 13", [(3, 9, None), (3, 13, None)], id="range after month"),
        pytest.param("5 and 7 March", [(3, 7, None)], id="only the day next to the month"),
        pytest.param("March 5, 2024", [(3, 5, 2024)], id="year after"),
        pytest.param("March 32", [], id="no such day"),
        pytest.param("May 2024", [], id="month and year only"),
        pytest.param("no dates here", [], id="none"),
        pytest.param("March ²", [], id="superscript digit is no day"),
        pytest.param("① March", [], id="circled digit is no day"),
        pytest.param("March 5 ²²²²", [(3, 5, None)], id="superscript digits are no year"),
    ],
)
def test_day_mentions(text: str, expected: list[tuple[int, int, int | None]]) -> None:
    assert [(m.month, m.day, m.year) for m in tf.day_mentions(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("in 2024 and 1949", {2024}, id="range 1950-2049"),
        pytest.param("2050 2049", {2049}, id="upper bound"),
        pytest.param("$2024", set(), id="money"),
        pytest.param("1.2024", set(), id="decimal"),
    ],
)
def test_years(text: str, expected: set[int]) -> None:
    assert tf.years(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("arrived Thursday", {3}, id="en"),
        pytest.param("во вторник", {1}, id="ru"),
        pytest.param("в среду", {2}, id="ru accusative"),
        pytest.param("周五", {4}, id="zh zhou"),
        pytest.param("星期日 and 週三", {6, 2}, id="zh xingqi and traditional"),
        pytest.param("nothing", set(), id="none"),
    ],
)
def test_weekdays(text: str, expected: set[int]) -> None:
    assert tf.weekdays(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("TurAz Qartalı-2019 exercises", {"krtl:2019"}, id="name-year"),
        pytest.param("«Морской пояс безопасности — 2024»", {"bspsn:2024"}, id="quoted dash year"),
        pytest.param("'Sea Breeze 2021'", {"brs:2021"}, id="quoted year"),
        pytest.param("the Shaheen-IX exercise", {"shn:#9"}, id="roman hyphenated"),
        pytest.param("Shaheen-X", {"shn:#10"}, id="roman X hyphenated"),
        pytest.param("Shaheen IX drills", {"shn:#9"}, id="roman spaced after a name"),
        pytest.param("雄鹰IV", {"hnhnh:#4"}, id="roman after another script"),
        pytest.param("World War II", set(), id="roman II spaced is no round"),
        pytest.param("with X", set(), id="a platform named X"),
        pytest.param("第八次", {":#8"}, id="cjk ordinal"),
        pytest.param("第 12 届", {":#12"}, id="cjk ordinal digits"),
        pytest.param("第十二次", {":#12"}, id="cjk ordinal twelve"),
        pytest.param("第二十次", {":#20"}, id="cjk ordinal twenty"),
        pytest.param("the eighth round", {":#8"}, id="en ordinal word"),
        pytest.param("восьмые учения", {":#8"}, id="ru ordinal word"),
        pytest.param("first and second", set(), id="first and second are no rounds"),
        pytest.param("in 2024", set(), id="year after in"),
        pytest.param("Ukraine 2022", set(), id="year of a country"),
        pytest.param("March 2024", set(), id="year after a month"),
        pytest.param("в конце февраля 2026", set(), id="lowercase word"),
    ],
)
def test_rounds(text: str, expected: set[str]) -> None:
    assert {str(r) for r in tf.rounds(text)} == expected


def test_round_years_keeps_years_only() -> None:
    assert tf.round_years("Qartalı-2022 and Shaheen-IX") == {2022}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("a $375 million deal", {375e6}, id="dollar sign"),
        pytest.param("USD 374.9 mn", {374.9e6}, id="USD mn"),
        pytest.param("US$2 billion", {2e9}, id="US dollar sign"),
        pytest.param("EUR 3 million", {3e6}, id="EUR"),
        pytest.param("GBP 40 million", {40e6}, id="GBP"),
        pytest.param("4 billion euro", {4e9}, id="euro after"),
        pytest.param("€2 bn", {2e9}, id="euro sign"),
        pytest.param("£1.5 billion", {1.5e9}, id="pound sign"),
        pytest.param("₹500 crore", {5e9}, id="rupee sign crore"),
        pytest.param("Rs. 300 crore", {3e9}, id="Rs dot"),
        pytest.param("INR 10 lakh", {1e6}, id="INR lakh"),
        pytest.param("RUB 5 млрд", {5e9}, id="RUB ru scale"),
        pytest.param("5 млрд ₽", {5e9}, id="ruble sign after"),
        pytest.param("10 million TL", {1e7}, id="lira after"),
        pytest.param("AZN 2 million", {2e6}, id="manat code"),
        pytest.param("3 million manat", {3e6}, id="manat word after"),
        pytest.param("2 млрд долларов", {2e9}, id="ru dollars inflected"),
        pytest.param("5 million dollars", {5e6}, id="dollars after"),
        pytest.param("7 млн евро", {7e6}, id="ru euro"),
        pytest.param("$150,000", {150e3}, id="thousands separator"),
        pytest.param("$50,000", set(), id="too small"),
        pytest.param("375 dollars", set(), id="no scale word after number"),
        pytest.param("two million euros", set(), id="number in words"),
        pytest.param("no digits", set(), id="none"),
    ],
)
def test_amounts(text: str, expected: set[float]) -> None:
    assert tf.amounts(text) == expected


def test_currencies_come_from_the_config_in_order() -> None:
    assert tf._currency_pattern(["US\\$", "\\$", "dollars?"]) == r"(?:US\$|\$|dollars?)"


@pytest.mark.parametrize(
    ("forms", "message"),
    [
        pytest.param(["$"], "special character", id="unescaped dollar"),
        pytest.param(["USD", "|EUR"], "special character", id="leading alternation"),
        pytest.param(["?"], "special character", id="leading quantifier"),
        pytest.param([""], "special character", id="empty form"),
        pytest.param(["Rs\\"], "Rs", id="does not compile"),
        pytest.param([], "is empty", id="no forms"),
    ],
)
def test_bad_currency_forms_are_config_errors(forms: list[str], message: str) -> None:
    with pytest.raises(
        ConfigError, match=rf"textfeatures\.toml: \[amounts\] currencies.*{message}"
    ):
        tf._currency_pattern(forms)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("CVN-76", {"CVN76"}, id="hull number"),
        pytest.param("F-16 and Su 35", {"F16"}, id="designation, not mixed case"),
        pytest.param("B 52H", {"B52H"}, id="letter suffix"),
        pytest.param("MQ-9B", {"MQ9B"}, id="drone"),
        pytest.param("A 2024", set(), id="one letter and a year"),
        pytest.param("7,8 magnitude", {"7.8"}, id="decimal comma"),
        pytest.param("magnitude 7.8", {"7.8"}, id="decimal point"),
        pytest.param("12.5.2024", {"12.5"}, id="dotted date start"),
        pytest.param("no codes", set(), id="none"),
    ],
)
def test_codes(text: str, expected: set[str]) -> None:
    assert tf.codes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("US kills 11 people in three strikes", {11, 3}, id="digits and words"),
        pytest.param("8,000 troops", {8000}, id="thousands"),
        pytest.param("on 5 March", set(), id="day of month"),
        pytest.param("2 million", set(), id="scale word"),
        pytest.param("at 17:30", set(), id="time"),
        pytest.param("45%", set(), id="percentage"),
        pytest.param("F-16", set(), id="designation"),
        pytest.param("#10", set(), id="hash number"),
        pytest.param("1.5 units", set(), id="decimal"),
    ],
)
def test_counts(text: str, expected: set[int]) -> None:
    assert tf.counts(text) == expected


@pytest.mark.parametrize(
    ("title", "summary", "expected"),
    [
        pytest.param("", "Officials said Ilham Aliyev would attend.", {"al"}, id="surname ending"),
        pytest.param(
            "Kishida Meets Marcos In Manila Today",
            "Fumio Kishida met Ferdinand Marcos in Manila.",
            {"frdnd", "ksd.a", "mnl.a"},
            id="title case headline ignored",
        ),
        pytest.param(
            "", "The Reciprocal Access Agreement was signed by Japan.", set(), id="instrument"
        ),
        pytest.param("", "Talks on the Indo-Pacific region.", {"andpk"}, id="hyphenated name"),
        pytest.param(
            "", "Sunak underlines support. Rishi Sunak said.", {"snk"}, id="sentence opener"
        ),
    ],
)
def test_name_keys(title: str, summary: str, expected: set[str]) -> None:
    assert tf.name_keys(title, summary) == expected


@pytest.mark.parametrize(
    ("word", "key", "token", "country"),
    [
        pytest.param("Hasanov", "hsn", "hsn", False, id="latin surname"),
        pytest.param("Həsənov", "hsn", "hsn", False, id="azerbaijani spelling"),
        pytest.param("Гасанов", "hsn", "hsn", False, id="cyrillic spelling"),
        pytest.param("Manalo", "mnl", "mnl.o", False, id="final vowel o"),
        pytest.param("Manila", "mnl", "mnl.a", False, id="final vowel a"),
        pytest.param("Кишида", "ksd", "ksd", False, id="cyrillic keeps bare key"),
        pytest.param("Philippine", "flpn", "flpn.e", True, id="state adjective"),
        pytest.param("Türkiye", "trk", "trk.e", True, id="state own name"),
        pytest.param("Китая", "kt", "kt", True, id="state inflected cyrillic"),
        pytest.param("Iranian", "arn", "arn", True, id="people"),
        pytest.param("Konya", "kn", "kn.a", False, id="city"),
    ],
)
def test_name_words(word: str, key: str, token: str, country: bool) -> None:
    assert (tf.name_key(word), tf.name_token(word), tf.is_country_word(word)) == (
        key,
        token,
        country,
    )


@pytest.mark.parametrize(
    ("text", "stems", "pairs"),
    [
        pytest.param(
            "The navy said the carrier arrived in port",
            {"arrive", "carrie", "navy", "port"},
            {"arrive port", "carrie arrive", "navy carrie"},
            id="stop words dropped",
        ),
        pytest.param(
            "中巴空军联合训练",
            {"中巴", "军联", "合训", "巴空", "空军", "联合", "训练"},
            set(),
            id="cjk bigrams",
        ),
        pytest.param(
            "USS Roosevelt visited in 2024",
            {"uss", "roosev", "visite"},
            {"uss roosev", "roosev visite", "visite 2024"},
            id="numbers only in shingles",
        ),
    ],
)
def test_content_tokens_and_shingles(text: str, stems: set[str], pairs: set[str]) -> None:
    assert (tf.content_tokens(text), tf.shingles(text)) == (stems, pairs)
