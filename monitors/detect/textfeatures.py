# ruff: noqa: RUF001, RUF002, RUF003  (multilingual word lists are non-ASCII on purpose)
"""Language-light feature extraction for telling one news event from another.

Everything here is a pure function of the text. The features are the ones that separate
look-alike reports: the round of an exercise series, the day-month dates and weekdays an
article mentions, money amounts, codes and measured numbers (``CVN-76``, ``7.8``), proper names
reduced to a transliterated phonetic key so that spellings across scripts meet (``Hasanov`` =
``Həsənov`` = ``Гасанов``), and content stems / word-pair shingles for within-language
similarity.

The month, weekday, ordinal, stop-word, scale-word, currency and name-spelling tables are the
only hand-written language knowledge; they live in ``config/textfeatures.toml`` and cover the
languages of the feeds we watch (en, ru, uk, bg, az, tr, pl, fr, de, es, ar, hy, zh, ja).
Names of states and peoples, which are compared as states and not as names, come from CLDR
(babel) in the locales of ``[words] state_name_locales`` of that file.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
import unicodedata
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from anyascii import anyascii

from config import data_path
from monitors.detect.data import read_toml
from monitors.detect.letters import LETTER_WORD
from monitors.errors import ConfigError

_WORDS_PATH = data_path("textfeatures.toml")
_WORDS = read_toml(_WORDS_PATH, "word lists")


def _table(*keys: str) -> Any:
    """``_WORDS[keys[0]][keys[1]]...``; a missing key is a ConfigError naming file and key."""
    value: Any = _WORDS
    for i, key in enumerate(keys):
        if not isinstance(value, dict) or key not in value:
            raise ConfigError(f"{_WORDS_PATH}: missing key {'.'.join(keys[: i + 1])!r}")
        value = value[key]
    return value


# ---------------------------------------------------------------------------------------------
# Month names. Slavic, Turkic and Polish month names inflect, so those match by stem (prefix);
# the rest must match the whole word.

_MONTH_EXACT: dict[str, int] = {}
_MONTH_STEMS: list[tuple[str, int]] = []


def _add_months(words: str, *, stems: bool = False) -> None:
    for number, group in enumerate(words.split(), start=1):
        for word in group.split("|"):
            if stems:
                _MONTH_STEMS.append((word, number))
            else:
                _MONTH_EXACT[word] = number


for _words in _table("months", "exact").values():
    _add_months(_words)
for _words in _table("months", "stems").values():
    _add_months(_words, stems=True)


def _index_stems(stems: Iterable[tuple[str, int]]) -> tuple[dict[str, int], tuple[int, ...]]:
    """(each stem's number, the stem lengths longest first) of (stem, number) pairs.

    A word then finds its stems by looking up its own few prefixes of a stem's length
    instead of testing every stem of every language: that scan was most of a signature's
    cost. The first pair of a stem written twice keeps it, as the first match did."""
    index: dict[str, int] = {}
    for stem, number in stems:
        index.setdefault(stem, number)
    return index, tuple(sorted({len(stem) for stem in index}, reverse=True))


_MONTH_STEM_INDEX, _MONTH_STEM_LENGTHS = _index_stems(_MONTH_STEMS)


@functools.lru_cache(maxsize=1 << 16)
def month_number(word: str) -> int | None:
    """The month a word names (1-12), or None. ``"Sept."``, ``"сентября"``, ``"Sentyabrın"``.

    Cached per word: a signature asks it of nearly every word of the text."""
    w = word.lower().rstrip(".")
    if w in _MONTH_EXACT:
        return _MONTH_EXACT[w]
    # the longest stem the word starts with; a stem must carry at most a case ending, or
    # "март" would match "марш"
    for length in _MONTH_STEM_LENGTHS:
        if length <= len(w) <= length + 4:
            number = _MONTH_STEM_INDEX.get(w[:length])
            if number is not None:
                return number
    return None


# ---------------------------------------------------------------------------------------------
# Tokenising

# words carry the combining marks written on their letters (Devanagari, Urdu diacritics)
_TOKEN = re.compile(rf"\d+(?:[.,]\d+)?|{LETTER_WORD}(?:['’]{LETTER_WORD})?", re.UNICODE)
_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def clean(text: str) -> str:
    """NFKC-normalised text (full-width digits and letters become ASCII)."""
    return unicodedata.normalize("NFKC", text or "")


class Token(NamedTuple):
    """One word or number of a text and where it is (a tuple: cheap to make by the thousand)."""

    text: str
    start: int
    end: int


def tokens(text: str) -> list[Token]:
    """The words and numbers of ``text`` with their offsets (a fresh list each call)."""
    return [Token(w, *span) for w, span in zip(_word_texts(text), _spans(text), strict=True)]


def words(text: str) -> list[str]:
    """The texts of ``tokens(text)``, without their offsets."""
    return list(_word_texts(text))


# One signature tokenises its title, lead and text several times (dates, weekdays, counts,
# stems, shingles): the last few texts' words are kept. The tuples are shared: read only.
@functools.lru_cache(maxsize=16)
def _word_texts(text: str) -> tuple[str, ...]:
    return tuple(_TOKEN.findall(text))


# The offsets of the words of ``_word_texts``, item by item. Kept apart, and made only for
# the texts that need them (a month or a number to look around): making offsets for every
# word of every text cost more than finding the words.
@functools.lru_cache(maxsize=16)
def _spans(text: str) -> tuple[tuple[int, int], ...]:
    return tuple([m.span() for m in _TOKEN.finditer(text)])


# ---------------------------------------------------------------------------------------------
# Dates mentioned in the text: "March 5", "5 марта", "Sentyabrın 29-da", "8月23日", "2023-02-06".

# Every pattern that reads a year needs "19dd" or "20dd" somewhere in the text, and most texts
# have none: one cheap search spares the costly ones (``_NAME_YEAR`` of rounds above all).
_YEARISH = re.compile(r"(?:19|20)\d\d")
_YEAR_RE = re.compile(r"(?<![\d.,$])(19[5-9]\d|20[0-4]\d)(?![\d])")
_CJK_DATE = re.compile(r"(?:(\d{4})\s*年\s*)?(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_ISO_DATE = re.compile(r"(?<!\d)(20\d\d|19\d\d)-(\d\d)-(\d\d)(?!\d)")
_DOTTED_DATE = re.compile(r"(?<![\d.])(\d{1,2})\.(\d{1,2})\.(20\d\d|19\d\d)(?!\d)")


@dataclass(frozen=True, slots=True)
class DayMention:
    month: int
    day: int
    year: int | None


def years(text: str) -> set[int]:
    if not _YEARISH.search(text):
        return set()
    return {int(y) for y in _YEAR_RE.findall(text)}


def day_mentions(text: str) -> list[DayMention]:
    """Day-month dates, with the year when the text gives it next to them."""
    found: list[DayMention] = []
    if "月" in text:
        for y, m, d in _CJK_DATE.findall(text):
            found.append(DayMention(int(m), int(d), int(y) if y else None))
    if _YEARISH.search(text):
        for y, m, d in _ISO_DATE.findall(text):
            found.append(DayMention(int(m), int(d), int(y)))
        for d, m, y in _DOTTED_DATE.findall(text):
            found.append(DayMention(int(m), int(d), int(y)))
    words = _word_texts(text)
    months = list(map(month_number, words))
    # only the few words that name a month, found without a Python step per word
    for i in itertools.compress(range(len(words)), months):
        word, month = words[i], months[i]
        if word[0].isdigit() or month is None:
            continue
        days = _days_near(text, words, i)
        if not days:
            continue
        year = _year_near(words, i)
        found.extend(DayMention(month, day, year) for day in days)
    return [m for m in found if 1 <= m.month <= 12 and 1 <= m.day <= 31]


def _as_day(word: str) -> int | None:
    # isdecimal, not isdigit: "²" and "①" are digits that int() refuses
    if word.isdecimal() and len(word) <= 2 and 1 <= int(word) <= 31:
        return int(word)
    return None


def _days_near(text: str, words: tuple[str, ...], i: int) -> list[int]:
    """Day numbers written next to the month at ``words[i]`` ("5 March", "March 5 to 9")."""
    days = []
    if i > 0 and (day := _as_day(words[i - 1])) is not None:
        days.append(day)
        # "15-19 марта": a range written before the month
        spans = _spans(text) if i > 1 else ()
        dash = i > 1 and text[spans[i - 2][1] : spans[i - 1][0]].strip() in {"-", "–", "—"}
        if dash and (first := _as_day(words[i - 2])) is not None and first < day:
            days.append(first)
    if i + 1 < len(words) and (day := _as_day(words[i + 1])) is not None:
        days.append(day)
        # "March 9 to 13", "from March 5 to 9"
        joined = i + 3 < len(words) and words[i + 2].lower() in {"to", "and", "до", "по"}
        if joined and (last := _as_day(words[i + 3])) is not None and last > day:
            days.append(last)
    return days


def _year_near(words: tuple[str, ...], i: int) -> int | None:
    for j in range(i + 1, min(i + 4, len(words))):
        text = words[j]
        if len(text) == 4 and text.isdecimal() and 1950 <= int(text) <= 2049:
            return int(text)
    return None


_WEEKDAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_WEEKDAYS: dict[str, int] = {
    form: day for day, name in enumerate(_WEEKDAY_NAMES) for form in _table("weekdays", name)
}
_CJK_WEEKDAY = re.compile(r"(?:星期|周|週)([一二三四五六日天])")


def weekdays(text: str) -> set[int]:
    """Weekdays the text names (0 = Monday): "arrived Thursday", "во вторник", "周五"."""
    found = {_WEEKDAYS[w] for w in map(str.lower, _word_texts(text)) if w in _WEEKDAYS}
    for ch in _CJK_WEEKDAY.findall(text):
        found.add(6 if ch in "日天" else "一二三四五六".index(ch))
    return found


# ---------------------------------------------------------------------------------------------
# Rounds of a series: "TurAz Qartalı-2019", «Морской пояс безопасности — 2024», "Shaheen-IX",
# "第八次", "eighth". A year written as part of a name (quoted, hyphenated or after a
# capitalised word) marks the round; a year after "in" or a month does not.

_QUOTED = re.compile(r"[\"“”«»„‘’'「」『』]([^\"“”«»„「」『』]{2,60}?)[\"“”«»„’'「」『』]")
_QUOTED_ROUND = re.compile(r"(?<![\d.,$])((?:19|20)\d\d)\W*$")
_NAME_YEAR = re.compile(r"([^\W\d_][\w'’]*)\s*(?:[-–—‐]\s*)?((?:19|20)\d\d)(?![\d])", re.UNICODE)
# "Shaheen-IX", "شاهین -IX", "雄鹰IV": a numeral hyphenated to or written straight after a name;
# "Shaheen IX" with a space only from IV up, or "World War II" would be a round.
_ROMAN = re.compile(
    r"([^\W\d_]*?)(?:\s?[-–‐]\s?|(?<=[^\x00-\x7f])|\s(?=X{0,3}(?:IX|IV|VI{0,3})\b|X))"
    r"(?=[IVX])(X{0,3}(?:IX|IV|V?I{0,3}))(?![A-Za-z])"
)
# A round needs a numeral of value 2 or more: its last two letters, or a lone V or X, not
# followed by a Latin letter. Most texts have none, and the pattern above is costly.
_ROMAN_HINT = re.compile(r"(?:[IVX]{2}|[VX])(?![A-Za-z])")
_CJK_ORDINAL = re.compile(r"第\s*([0-9一二三四五六七八九十]+)\s*[次届屆回]")
_CN_DIGITS = {c: n for n, c in enumerate("零一二三四五六七八九", start=0)}
_ORDINAL_WORDS: dict[str, int] = {
    form: int(number) for number, forms in _table("ordinals").items() for form in forms
}
_NOT_SERIES = frozenset(_table("words", "not_series"))


def _roman_value(numeral: str) -> int:
    values = {"I": 1, "V": 5, "X": 10}
    total = 0
    for i, ch in enumerate(numeral):
        v = values[ch]
        total += -v if i + 1 < len(numeral) and values[numeral[i + 1]] > v else v
    return total


def _cjk_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if text.startswith("十"):
        return 10 + _CN_DIGITS.get(text[1], 0)
    if "十" in text:
        tens, _, units = text.partition("十")
        return _CN_DIGITS.get(tens, 0) * 10 + (_CN_DIGITS.get(units, 0) if units else 0)
    return _CN_DIGITS.get(text, 0)


@dataclass(frozen=True, slots=True)
class Round:
    """One round of a series: ``series`` is the name key of the word before the round
    ("" when unknown), ``value`` a year ("2022") or an ordinal ("#9")."""

    series: str
    value: str

    def __str__(self) -> str:
        return f"{self.series}:{self.value}"

    @classmethod
    def parse(cls, text: str) -> Round:
        series, _, value = text.partition(":")
        return cls(series, value)


def _series_key(words: str) -> str:
    found = re.findall(r"[^\W\d_]+", words)
    return name_key(found[-1]) if found else ""


def rounds(text: str) -> set[Round]:
    """Rounds of named series: "Qartalı-2022", «Морской пояс безопасности — 2024»,
    "Shaheen-IX", "第八次", "восьмые"."""
    found: set[Round] = set()
    yearish = _YEARISH.search(text) is not None
    for quoted in _QUOTED.findall(text) if yearish else ():
        # «Морской пояс безопасности — 2024»: the year closes the quoted name
        if m := _QUOTED_ROUND.search(quoted):
            found.add(Round(_series_key(quoted[: m.start()]), m.group(1)))
    for word, year in _NAME_YEAR.findall(text) if yearish else ():
        if word.lower() in _NOT_SERIES or month_number(word) is not None:
            continue
        if is_country_word(word):
            continue  # "Ukraine 2022" is a year of a country, not a round
        # lowercase words name a series only inside quotes (above): "в конце февраля 2026"
        if word[0].isupper():
            found.add(Round(name_key(word), year))
    for m in _ROMAN.finditer(text) if _ROMAN_HINT.search(text) else ():
        word, numeral = m.group(1), m.group(2)
        between = text[m.end(1) : m.start(2)]
        # hyphenated ("Shaheen-X") or written on in another script ("雄鹰IV"); with a space only
        # after a name and from two letters ("Shaheen IX"): "With X" names a platform
        attached = bool(between.strip()) or (not between and not word.isascii())
        spaced = len(numeral) >= 2 and bool(word) and _is_name_word(word)
        if numeral and (attached or spaced) and 2 <= (value := _roman_value(numeral)) <= 99:
            found.add(Round(name_key(word) if word else "", f"#{value}"))
    for n in _CJK_ORDINAL.findall(text) if "第" in text else ():
        if 2 <= (value := _cjk_number(n)) <= 99:
            found.add(Round("", f"#{value}"))
    lowered = text.lower()
    # a word spells an ordinal only if the text holds one of the stems (substring tests
    # are cheaper than a pattern of alternatives)
    hinted = any(stem in lowered for stem in _ORDINAL_WORDS)
    for word in _word_texts(lowered) if hinted else ():
        found.update(Round("", f"#{number}") for number in _ordinals(word))
    return found


_ORDINAL_INDEX, _ORDINAL_LENGTHS = _index_stems(_ORDINAL_WORDS.items())
_ORDINAL_ORDER = {stem: i for i, stem in enumerate(_ORDINAL_INDEX)}


@functools.lru_cache(maxsize=1 << 16)
def _ordinals(word: str) -> tuple[int, ...]:
    """The ordinals a lower-case word spells ("eighth", "восьмые"), by stem; cached per word.

    In the order of the table, as the stems a word could start with are looked up longest
    first."""
    stems = [
        word[:length]
        for length in _ORDINAL_LENGTHS
        if length <= len(word) <= length + 3 and word[:length] in _ORDINAL_INDEX
    ]
    return tuple(_ORDINAL_INDEX[stem] for stem in sorted(stems, key=_ORDINAL_ORDER.__getitem__))


def round_years(text: str) -> set[int]:
    """Years used as the round of a named series ("Qartalı-2022" → 2022)."""
    return {int(r.value) for r in rounds(text) if not r.value.startswith("#")}


# ---------------------------------------------------------------------------------------------
# Money amounts and other telling numbers

_SCALE: dict[str, float] = {word: float(n) for word, n in _table("amounts", "scale").items()}
# characters that give a pattern its structure: a currency form starting with one would not
# match the symbol ("$" is the end of the text, "|" an empty form that makes every number money)
_PATTERN_SPECIAL = frozenset(".^$*+?{}[]|()")


def _currency_pattern(forms: Iterable[str]) -> str:
    """One pattern for the currency forms of ``[amounts] currencies`` (tried in order).

    A form is a regular expression; one that is empty, starts with a character special in a
    pattern (write ``\\$`` for the dollar sign) or does not compile is a ConfigError."""
    checked = []
    for form in forms:
        if not isinstance(form, str) or not form or form[0] in _PATTERN_SPECIAL:
            raise ConfigError(
                f"{_WORDS_PATH}: [amounts] currencies: {form!r} must be a non-empty pattern "
                "not starting with a special character (escape it: '\\$')"
            )
        try:
            re.compile(form)
        except re.error as exc:
            raise ConfigError(f"{_WORDS_PATH}: [amounts] currencies: {form!r}: {exc}") from exc
        checked.append(form)
    if not checked:
        raise ConfigError(f"{_WORDS_PATH}: [amounts] currencies is empty")
    return f"(?:{'|'.join(checked)})"


_CURRENCY = _currency_pattern(_table("amounts", "currencies"))
_AMOUNT = re.compile(
    rf"(?:{_CURRENCY}\s?(\d[\d,]*(?:\.\d+)?)\s*[-]?\s*([A-Za-zа-я.]+)?)"
    rf"|(?:(\d[\d,]*(?:\.\d+)?)\s*[-]?\s*([A-Za-zа-я.]+)\s+{_CURRENCY})",
    re.IGNORECASE,
)
_CODE = re.compile(r"\b([A-Z]{1,5})[-\s]?(\d{1,4}[A-Z]?)\b")
_DECIMAL = re.compile(r"(?<![\d.,])(\d{1,3})[.,](\d)(?![\d])")
# amounts and codes all hold a digit; most titles and many summaries have none
_DIGIT = re.compile(r"\d")


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def amounts(text: str) -> set[float]:
    """Money amounts in units (currency ignored): "$375 million" → 375e6, "USD 374.9 mn"."""
    found: set[float] = set()
    if not _DIGIT.search(text):
        return found
    for m in _AMOUNT.finditer(text):
        digits, scale_word = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        value = _number(digits or "")
        if value is None:
            continue
        scale = _SCALE.get((scale_word or "").lower().rstrip("."))
        if scale is None and m.group(3):
            continue  # "375 dollars" with no scale word is too small to be a deal; skip
        value *= scale or 1.0
        if value >= 1e5:
            found.add(round(value, -3))
    return found


_COUNT = re.compile(r"(?<![\w.,$€£₹/:#-])\d[\d,]*(?![\d.,:/%-]?\d)(?!\s*%)(?![\w-])")
_NUMBER_WORDS: dict[str, int] = {
    word: int(n) for word, n in _table("amounts", "number_words").items()
}


def counts(text: str) -> set[int]:
    """Counts the text gives ("kills 11 people", "8,000 troops", "three strikes"): whole
    numbers from 3 up that are not years, days of a month, money, percentages, times or parts
    of a designation ("F-16", "#10")."""
    found: set[int] = set()
    words = _word_texts(text)
    spans: tuple[tuple[int, int], ...] = ()
    for i, word in enumerate(words):
        if (value := _NUMBER_WORDS.get(word.lower())) is not None:
            found.add(value)
            continue
        # the pattern opens with a decimal digit (\d is isdecimal): other words cannot match,
        # and only a number needs the offsets
        if "." in word or not word[0].isdecimal():
            continue
        spans = spans or _spans(text)
        if not _COUNT.match(text, spans[i][0]):
            continue
        value = int(word.replace(",", ""))
        near = [words[j] for j in (i - 1, i + 1) if 0 <= j < len(words)]
        scale = i + 1 < len(words) and words[i + 1].lower() in _SCALE
        dated = any(month_number(w) for w in near if not w[0].isdigit())
        if value >= 3 and not 1900 <= value <= 2100 and not scale and not dated:
            found.add(value)
    return found


def codes(text: str) -> set[str]:
    """Hull numbers, designations and measured decimals: "CVN-76" → "CVN76", "7,8" → "7.8"."""
    if not _DIGIT.search(text):
        return set()
    found = {
        f"{a}{b}"
        for a, b in _CODE.findall(text)
        if not (len(a) == 1 and b.isdigit() and len(b) == 4)
    }
    found |= {f"{a}.{b}" for a, b in _DECIMAL.findall(text)}
    return found


# ---------------------------------------------------------------------------------------------
# Names: capitalised words (in any cased script), transliterated and reduced to a key.

# capitalised words that name no one: generic words, and a wire story's credit ("Reuters")
_GENERIC_CAPITALISED = frozenset(_table("words", "generic_capitalised")) | frozenset(
    _table("words", "wire_services")
)
_INSTRUMENTS = frozenset(_table("words", "instruments"))
_SURNAME_ENDINGS = tuple(_table("names", "surname_endings"))
_PHONETIC = [(src, dst) for src, dst in _table("names", "phonetic")]


_POSSESSIVE = re.compile(r"['’]s$")
_NOT_ASCII_LETTER = re.compile(r"[^a-z]")
_DOUBLED = re.compile(r"(.)\1+")
_NO_VOWELS = str.maketrans("", "", "aeiouy")


@functools.lru_cache(maxsize=1 << 16)
def name_key(word: str) -> str:
    """A light phonetic key of one name word, equal across scripts and spellings.

    Transliterate to ASCII, drop Slavic/Turkic surname endings, fold the letters that
    Russian, Turkic and English spellings swap (Г/H/G, KH/X, Q/K, Z/S, W/V), drop vowels after
    the first letter, collapse doubled letters, keep at most five consonants.
    """
    s = _NOT_ASCII_LETTER.sub("", _POSSESSIVE.sub("", anyascii(word).lower()))
    for ending in _SURNAME_ENDINGS:
        if s.endswith(ending) and len(s) - len(ending) >= 4:
            s = s[: -len(ending)]
            break
    for src, dst in _PHONETIC:
        s = s.replace(src, dst)
    if not s:
        return ""
    head, tail = s[0], s[1:].translate(_NO_VOWELS)
    key = _DOUBLED.sub(r"\1", ("a" if head in "aeiouy" else head) + tail)
    return key[:5]


@functools.lru_cache(maxsize=1 << 16)
def name_token(word: str) -> str:
    """``name_key`` plus, for a word in Latin script ending in a vowel, that vowel:
    "Manalo" → "mnl.o", "Manila" → "mnl.a". Other scripts inflect the ending (Кишиды,
    Кишидой), so their words keep the bare key and meet either spelling."""
    key = name_key(word)
    ascii_word = _ascii_word(word)
    if key and ascii_word and _is_latin(word) and ascii_word[-1] in "aeiouy":
        return f"{key}.{'i' if ascii_word[-1] == 'y' else ascii_word[-1]}"
    return key


def _is_latin(word: str) -> bool:
    if word.isascii():
        return True  # (the only ASCII letters are Latin ones: no name to look up per letter)
    return all(not c.isalpha() or unicodedata.name(c, "").startswith("LATIN") for c in word)


def name_skeleton(token: str) -> str:
    """The key of a name token without its final vowel."""
    return token.partition(".")[0]


def shared_names(a: Iterable[str], b: Iterable[str]) -> set[str]:
    """Name tokens of ``a`` that ``b`` also has: equal keys, and equal final vowels where
    both sides know one ("Kishida" = "Кишида" = "Kishida"; "Manalo" ≠ "Manila")."""
    vowels: dict[str, set[str]] = {}
    for token in b:
        key, _, vowel = token.partition(".")
        vowels.setdefault(key, set()).add(vowel)
    shared = set()
    for token in a:
        key, _, vowel = token.partition(".")
        theirs = vowels.get(key)
        if theirs is not None and (not vowel or "" in theirs or vowel in theirs):
            shared.add(key)
    return shared


def _is_title_case(title: str) -> bool:
    words = [w for w in re.findall(r"[^\W\d_]+", title) if len(w) > 3]
    caps = sum(1 for w in words if w[0].isupper())
    return len(words) >= 4 and caps / len(words) > 0.6


def name_keys(title: str, summary: str) -> set[str]:
    """Keys of the proper names in a text: capitalised words that are not generic titles or
    names of states and their peoples (states are compared separately).

    A word opening a sentence is capitalised anyway ("Sailors from the carrier…"); it counts
    only when the text also capitalises it elsewhere ("Sunak underlines… Rishi Sunak said").
    Runs of capitalised words also give a key for the whole run, so "Da Nang" and "Đà Nẵng"
    meet even though "Da" and "Nang" are too short on their own. A Title-Case headline
    capitalises every word, so only the summary counts then.
    """
    parts = [summary] if _is_title_case(title) else [title, summary]
    # "Indo-Pacific", "Asia-Pacific": one name, not two
    # (not through the cache of ``_word_texts``: sentences would push out the whole texts)
    sentences = [
        _TOKEN.findall(sentence)
        for part in parts
        for sentence in _SENTENCE_SPLIT.split(_NAME_HYPHEN.sub("", part))
    ]
    inner = {w for words in sentences for w in words[1:] if w[:1].isupper()}
    found: set[str] = set()
    for words in sentences:
        run: list[str] = []
        for i, word in enumerate(words):
            if _is_name_word(word) and (i > 0 or word in inner):
                run.append(word)
                if (token := _own_name_token(word)) is not None:
                    found.add(token)
                continue
            if run:  # (an empty run adds nothing)
                _add_run(found, run)
                run = []
        _add_run(found, run)
    return found


@functools.lru_cache(maxsize=1 << 16)
def _own_name_token(word: str) -> str | None:
    """The token a name word gives on its own: None if too short or a state's word."""
    if _long_enough(name_key(word), word) and not is_country_word(word):
        return name_token(word)
    return None


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?:;])\s+|\s[-–—]\s|\n")
_NAME_HYPHEN = re.compile(r"(?<=[^\W\d_])[-‐](?=[^\W\d_]*[A-ZА-ЯЁ])")


def _long_enough(key: str, word: str) -> bool:
    # two consonants only identify a longer word ("Konya", "Hatay"), not "Ali"
    return len(key) >= 3 or (len(key) == 2 and len(word) >= 5)


@functools.lru_cache(maxsize=1 << 16)
def _is_name_word(word: str) -> bool:
    if not word[0].isalpha() or not word[0].isupper():
        return False
    if word.lower() in _GENERIC_CAPITALISED or month_number(word) is not None:
        return False
    # all capitals: an acronym (agencies, "CVN" of a hull number, kept in ``codes``) or a
    # shouted dateline ("ISTANBUL:"); neither names the occasion
    return not (word.isupper() and len(word) > 1)


def _add_run(found: set[str], run: list[str]) -> None:
    if len(run) >= 2 and run[-1].lower() in _INSTRUMENTS:
        # "Reciprocal Access Agreement", "Status of Forces Agreement": a kind of document
        # that each pair of states signs in turn, not the name of one occasion or person
        found.difference_update(name_token(w) for w in run)
        return
    if 2 <= len(run) <= 3 and not any(is_country_word(w) for w in run):
        key = name_key("".join(run))
        if len(key) >= 3:
            found.add(name_token("".join(run)))


_country_words: tuple[frozenset[str], frozenset[str]] | None = None
COUNTRY_WORDS_PATH = data_path("country_words.json")
"""The table of ``build_country_words`` for the shipped locales, written by
``scripts/country_words.py`` so that a process does not load thirteen CLDR locales to build
it. Used only while the Babel version, the locales and the generic words it records are the
current ones; otherwise the table is built from CLDR, so the words are the same either way."""


@functools.lru_cache(maxsize=1 << 16)
def _ascii_word(word: str) -> str:
    return _NOT_ASCII_LETTER.sub("", _POSSESSIVE.sub("", anyascii(word).lower()))


def country_words_inputs() -> dict[str, Any]:
    """What the country-word table is built from: Babel's version, locales, generic words."""
    import babel

    return {
        "babel": babel.__version__,
        "locales": list(_table("words", "state_name_locales")),
        "generic": sorted(_table("words", "country_name_generic")),
    }


def build_country_words(
    locales: Iterable[str], generic: Iterable[str]
) -> tuple[frozenset[str], frozenset[str]]:
    """(five-letter prefixes of long state/people words, four-letter state words), from CLDR."""
    from babel import Locale

    words: set[str] = set()
    for code in locales:
        locale = Locale.parse(code)
        # languages only by two-letter code: the big ones double as demonyms ("Turkish"),
        # the hundreds of rare ones would collide with ordinary names
        languages = [n for c, n in locale.languages.items() if len(c) == 2]
        for name in [*locale.territories.values(), *languages]:
            words.update(_ascii_word(w) for w in re.findall(r"[^\W\d_]{4,}", name))
    words -= set(generic)
    return (
        frozenset(w[:5] for w in words if len(w) >= 5),
        frozenset(w for w in words if len(w) == 4),
    )


def _shipped_table(path: Path, inputs: dict[str, Any]) -> dict[str, Any] | None:
    """The table ``scripts/country_words.py`` wrote to ``path``, if it was built from
    ``inputs`` (else None: the caller builds it from CLDR)."""
    try:
        shipped = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(shipped, dict) or shipped.get("inputs") != inputs:
        return None
    return shipped


def _shipped_country_words() -> tuple[frozenset[str], frozenset[str]] | None:
    """The table of ``COUNTRY_WORDS_PATH`` if it was built from the current inputs."""
    shipped = _shipped_table(COUNTRY_WORDS_PATH, country_words_inputs())
    if shipped is None:
        return None
    return frozenset(shipped["prefixes"]), frozenset(shipped["short"])


def _country_word_table() -> tuple[frozenset[str], frozenset[str]]:
    """``build_country_words`` of the configured locales, once per process."""
    global _country_words
    if _country_words is None:
        _country_words = _shipped_country_words()
        if _country_words is None:
            inputs = country_words_inputs()
            _country_words = build_country_words(inputs["locales"], inputs["generic"])
    return _country_words


@functools.lru_cache(maxsize=1 << 16)
def is_country_word(word: str) -> bool:
    """True for a state or people's name in any of our locales, also inflected or as an
    adjective: "Philippine", "Türkiye", "Azərbaycan", "Китая", "Iranian"."""
    a = _ascii_word(word)
    if len(a) < 4:
        return False
    prefixes, short = _country_word_table()
    return a[:5] in prefixes or (a[:4] in short and len(a) <= 9)


# Native-script state words (Urdu, Hindi): their ASCII transliterations would collide with
# Latin words ("स्पेन" Spain -> "spen", as in "spending"), so they are compared as written.
NATIVE_STATE_WORDS_PATH = data_path("native_state_words.json")
"""The words of ``build_native_state_words``, written by ``scripts/country_words.py``; used
while the Babel version and the inputs it records are the current ones."""
_NATIVE_SUFFIX = 3  # letters an inflected or derived word may add: "پاکستانی", "امریکیوں"


def native_state_words_inputs() -> dict[str, Any]:
    """What the native-script table is built from: Babel's version, ``[words]
    native_state_locales`` and the one-word names and adjectives of ``countries.toml``
    ``[native]`` (the same locales' everyday forms, "امریکہ", "अमेरिकी")."""
    import babel

    locales = list(_table("words", "native_state_locales"))
    gazetteer = read_toml("countries.toml", "country gazetteer")
    native = gazetteer.get("native", {})
    everyday = sorted(w.lower() for w in gazetteer.get("settings", {}).get("everyday_words", []))
    curated = {
        word.lower()
        for language in locales
        for fields in native.get(language, {}).values()
        for key in ("aliases", "demonyms")
        for word in fields.get(key, [])
        if len(re.findall(LETTER_WORD, word)) == 1
    }
    return {
        "babel": babel.__version__,
        "locales": locales,
        "curated": sorted(curated),
        "everyday": everyday,
    }


def build_native_state_words(
    locales: Iterable[str], curated: Iterable[str], everyday: Iterable[str] = ()
) -> frozenset[str]:
    """One-word CLDR state names of ``locales`` as written, plus the curated words, less the
    gazetteer's ``everyday_words`` ("شام" is the evening before it is Syria)."""
    from babel import Locale

    words = set(curated)
    for code in locales:
        for name in Locale.parse(code).territories.values():
            found = re.findall(LETTER_WORD, name)
            if len(found) == 1 and len(found[0]) >= 3:
                words.add(found[0].lower())
    return frozenset(words - set(everyday))


@functools.cache
def _native_state_words() -> frozenset[str]:
    inputs = native_state_words_inputs()
    shipped = _shipped_table(NATIVE_STATE_WORDS_PATH, inputs)
    if shipped is not None:
        return frozenset(shipped["words"])
    return build_native_state_words(inputs["locales"], inputs["curated"], inputs["everyday"])


@functools.lru_cache(maxsize=1 << 16)
def is_native_state_word(word: str) -> bool:
    """True for a state's name or people's adjective as Urdu or Hindi write it, also with a
    few letters added: "پاکستان", "پاکستانیوں", "भारत", "अमेरिकी"."""
    if word.isascii():
        return False
    w = word.lower()
    table = _native_state_words()
    return any(w[:end] in table for end in range(max(3, len(w) - _NATIVE_SUFFIX), len(w) + 1))


def without_native_state_words(text: str) -> str:
    """``text`` with its native-script state words blanked out (headline words are compared
    without states: they are counted as states)."""
    if text.isascii():
        return text
    return _TOKEN.sub(lambda m: " " if is_native_state_word(m.group()) else m.group(), text)


# ---------------------------------------------------------------------------------------------
# Content tokens and shingles, for similarity within one language (or across scripts for names)

_STOPWORDS = frozenset(_table("words", "stopwords"))
_ELISIONS = frozenset(_table("words", "elisions"))
_STEM = 6


@functools.lru_cache(maxsize=1 << 16)
def _unelided(word: str) -> str:
    """A lower-case word without a French or Italian article elided onto it: "l'armée" ->
    "armée", "dell'esercito" -> "esercito" (``[words] elisions``). Articles elide only before
    a vowel or an h, so "c't" (a magazine) keeps its letters."""
    for apostrophe in "'’":
        head, found, rest = word.partition(apostrophe)
        if found and rest and head in _ELISIONS and _ascii_word(rest[0])[:1] in _ELIDES_BEFORE:
            return rest
    return word


_ELIDES_BEFORE = frozenset("aeiouyh")


def content_tokens(text: str) -> set[str]:
    """Lower-cased transliterated word stems (first six letters) without stop words.

    CJK text has no spaces, so it contributes character bigrams instead.
    """
    # (a cache of each word's items measured slower: most words of a run of fresh articles
    # are new to it, and the work per word is small next to a cache miss)
    found: set[str] = set()
    for token in _word_texts(text):
        word = _unelided(token.lower())
        if _CJK.search(word):
            chars = [c for c in word if _CJK.match(c)]
            found |= {"".join(p) for p in itertools.pairwise(chars)}
            continue
        if len(word) < 3 or word in _STOPWORDS or word.isdigit():
            continue
        found.add(_stem(word))
    return found


@functools.lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    return anyascii(word)[:_STEM]


def shingles(text: str) -> set[str]:
    """Consecutive pairs of content stems: verbatim or near-verbatim copies share most."""
    stems = []
    for token in _word_texts(text):
        word = _unelided(token.lower())
        if len(word) >= 3 and word not in _STOPWORDS:
            stems.append(_stem(word))
    return {f"{a} {b}" for a, b in itertools.pairwise(stems)}


def stable_hash(text: str) -> int:
    """A process-independent hash (``hash()`` is salted per process)."""
    return zlib.crc32(text.encode("utf-8"))


def bottom_k(items: Iterable[str], k: int) -> frozenset[str]:
    """The k items with the smallest stable hash: a sketch that keeps Jaccard estimable."""
    return frozenset(sorted(set(items), key=stable_hash)[:k])


def sketch_containment(
    small: frozenset[str],
    sketch: frozenset[str],
    k: int,
    weights: Mapping[str, float] | None = None,
    prior: float = 0.0,
) -> float:
    """(Weighted) share of ``small``'s items found in ``sketch``, counting only the hash range
    the sketch covers (a capped sketch only holds the k smallest hashes of its set).
    ``prior`` adds that much weight of unshared items: a short text's share is shrunk."""
    if not small or not sketch:
        return 0.0
    if len(sketch) >= k:
        limit = _sketch_limit(sketch)
        small = frozenset(s for s in small if stable_hash(s) <= limit)
        if not small:
            return 0.0
    if weights is None:
        return len(small & sketch) / (len(small) + prior)
    total = sum(weights.get(s, 1.0) for s in small) + prior
    return sum(weights.get(s, 1.0) for s in small & sketch) / total if total else 0.0


@functools.lru_cache(maxsize=4096)
def _sketch_limit(sketch: frozenset[str]) -> int:
    return max(stable_hash(s) for s in sketch)
