# ruff: noqa: RUF001, RUF002, RUF003 - multilingual examples are intended
"""Country gazetteer: find the states a news text names, and resolve what users type.

Sources
    CLDR territory names from Babel for every locale in ``countries.toml [settings] locales``,
    plus the hand-curated additions in ``config/countries.toml``: aliases and official forms,
    demonyms/adjectives, capitals used as metonyms ("Baku", "Beijing"), armed forces and
    ministries ("PLA", "Pentagon"), upper-case codes ("US", "DPRK") and Chinese bilateral
    abbreviations ("中巴" = China + Pakistan).  ``[native.LANG.XX]`` tables hold the same
    kinds of addition for one language (Urdu, Hindi) where CLDR has only the state's formal
    name: "امریکہ", "अमेरिका", the peoples' adjectives and their plural ("امریکیوں").
    ``[settings] everyday_words`` are words that spell a state or its people but mostly mean
    something else ("شام" evening / Syria, "चीनी" sugar / Chinese): never found in text.
    Devanagari names match with or without their nuktas ("इज़राइल" = "इजराइल").

Matching rules (``Gazetteer.find``)
    1. Text is *folded* character by character (lower case, accents stripped, ё→е, ı→i) so
       offsets into the folded text are offsets into the original.
    2. Latin and Cyrillic text is split into word tokens; at each token the longest known
       phrase starting there wins ("Papua New Guinea" over "Guinea", "South China Sea" - a
       blocker - over "China").  Lookups are dictionary hits on token tuples, never a loop over
       countries.
    3. Inflection: Cyrillic tokens are also looked up by stem (endings from
       ``[inflection] cyrillic_endings`` stripped from text and names alike, so "Азербайджаном"
       meets "Азербайджан"); capitalised Latin tokens of Azerbaijani/Turkish text are tried
       without a case suffix ("Azərbaycanın", "Türkiyədən").  Demonyms never match by suffix
       stripping ("Indiana" is not "Indian").  An Arabic word that starts no known phrase is
       tried without a leading proclitic (``[inflection] arabic_proclitics``: "والصين" ->
       "الصين", "للهند" -> "الهند", "بروسيا" -> "روسيا").  Arabic demonyms are generated
       from their nisba stem (``[arabic_demonyms]``: "أمريكي" -> "الأمريكية", ...), German
       ones from their adjective stem (``[german_demonyms]``: "polnisch" -> "polnischen").
       Armenian words are stemmed like Cyrillic ones (``armenian_endings``) and match in lower
       case.  In text of a language with ``[inflection] latin_endings`` (Polish; a text of
       unknown language using its ``latin_hints`` letters), a capitalised word is also tried
       as an inflected CLDR name of that language ("Białorusi" -> "Białoruś").
    4. Case: a surface written capitalised in the gazetteer must be capitalised in the text
       ("turkey" the bird and "china" the porcelain do not match); ``codes`` must be written
       in capitals ("us" is a pronoun) inside text that is not all capitals.
    5. Guards (``[[guards]]``) drop a match when its neighbourhood shows another sense:
       "Atlanta, Georgia", "Georgia governor", "Michael Jordan", "Chad Smith", "Thanksgiving
       turkey", "Washington Post".  ``person_name`` drops "Firstname Surface" and
       "Surface Surname" uses outside Title-Case headlines.
    6. Chinese (and other CJK) surfaces are matched as substrings, longest first, through a
       first-character index; Japanese names of one or two katakana ("タイ", "マリ") are left
       out, being parts of loanwords ("タイプ", "マリン").

Resolution rules (``Gazetteer.resolve``)
    A user-typed name, demonym, capital or ISO code is folded and looked up exactly (also in a
    transliterated ASCII form); codes that are also English words ("in", "it", "no") count
    only in capitals.  Nothing is guessed: an unknown or ambiguous name raises
    ``UnknownCountry`` with up to three close English names as suggestions.
"""

from __future__ import annotations

import difflib
import functools
import itertools
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from anyascii import anyascii

from config import data_path
from monitors.detect.data import read_toml
from monitors.detect.letters import ALNUM_WORD
from monitors.errors import ConfigError, UnknownCountry

__all__ = [
    "CountryMention",
    "Gazetteer",
    "default_gazetteer",
    "flag",
    "fold",
    "has_cjk",
    "word_tokens",
]

# Kinds of surface a mention can come from.
NAME, DEMONYM, CAPITAL, FORCE, CODE, OFFICIAL = (
    "name",
    "demonym",
    "capital",
    "force",
    "code",
    "official",
)
_BLOCKER = "blocker"
_MAX_NGRAM = 6
_CACHE_LIMIT = 100_000  # memoised per-word results; cleared when full, so memory stays bounded


@dataclass(frozen=True, slots=True)
class CountryMention:
    """One place in a text that names a state."""

    code: str
    surface: str
    start: int
    end: int
    kind: str


@dataclass(frozen=True, slots=True)
class _Entry:
    """What a gazetteer phrase stands for."""

    codes: tuple[str, ...]  # empty for blockers
    kind: str
    needs_capital: bool  # first letter must be upper case in the text
    all_caps: bool  # every letter must be upper case in the text (codes)
    guard_key: str | None = None  # folded surface of a [[guards]] entry


@dataclass(frozen=True, slots=True)
class _Guard:
    before: tuple[str, ...]
    after: tuple[str, ...]
    near: tuple[str, ...]
    person_name: bool


# --------------------------------------------------------------------------------------------
# Folding and tokens


def _fold_char(char: str) -> str:
    """One character folded to one character, so folded offsets equal original offsets."""
    if "\u0400" <= char <= "\u04ff":  # Cyrillic: keep й, fold ё to е
        low = char.lower()
        return "е" if low == "ё" else low
    if char in "ıİ":
        return "i"
    if char in "’‘ʼ`´":
        return "'"
    low = char.lower()
    base = "".join(c for c in unicodedata.normalize("NFKD", low) if not unicodedata.combining(c))
    if len(base) == 1:
        return base
    return low if len(low) == 1 else char


_FOLD_TABLE: dict[int, str] = {
    cp: folded for cp in range(0x2E80) if (folded := _fold_char(chr(cp))) != chr(cp)
}


def fold(text: str) -> str:
    """Lower-case, accent-free copy of ``text`` with exactly the same length."""
    return text.translate(_FOLD_TABLE)


# Dotted abbreviations ("U.S.", "U.A.E.") are one token; otherwise runs of letters/digits
# with the combining marks written on them (Devanagari vowel signs: "भारत" is one word).
_TOKEN_RE = re.compile(rf"(?=[^\W\d_]\.[^\W\d_]\.)(?:[^\W\d_]\.){{2,}}|{ALNUM_WORD}")
_CJK_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_TURKIC_HINT_RE = re.compile(r"[əƏıİşŞğĞ]")
_WS_RE = re.compile(r"\s+")
_POSSESSIVE_RE = re.compile(r"^(?:'s?)?[\s,.-]*")


def word_tokens(folded: str) -> list[tuple[str, int, int]]:
    """Word tokens of folded text as (word, start, end); shared with the topic lexicon."""
    tokens = []
    position = 0
    for word in _TOKEN_RE.findall(folded):  # findall + str.find beats Match objects here
        position = folded.find(word, position)
        end = position + len(word)
        tokens.append((word, position, end))
        position = end
    return tokens


_tokens = word_tokens


def _key(surface: str) -> tuple[str, ...]:
    return tuple(tok for tok, _, _ in _tokens(fold(surface)))


_ARABIC_RE = re.compile(r"[\u0600-\u06ff]")


def _is_arabic(token: str) -> bool:
    return "\u0600" <= token[0] <= "\u06ff"


def _is_cyrillic(token: str) -> bool:
    return "\u0400" <= token[0] <= "\u04ff"


def _is_armenian(token: str) -> bool:
    return "\u0531" <= token[0] <= "\u058f"


def _is_stemmed(token: str) -> bool:
    """Scripts whose words are looked up by stem (``[inflection] cyrillic/armenian_endings``)."""
    return _is_cyrillic(token) or _is_armenian(token)


_LATIN_MIN_STEM = 4


def _latin_stems(word: str, endings: tuple[str, ...]) -> tuple[str, ...]:
    """``word`` and ``word`` without each ending it carries, keeping ``_LATIN_MIN_STEM``
    letters: "bialorusi" -> ("bialorusi", "bialorus")."""
    stems = (e for e in endings if word.endswith(e) and len(word) - len(e) >= _LATIN_MIN_STEM)
    return (word, *(word[: -len(e)] for e in stems))


def has_cjk(text: str) -> bool:
    """True when ``text`` contains Chinese/Japanese characters (matched as substrings)."""
    return _CJK_RE.search(text) is not None


_has_cjk = has_cjk


def flag(code: str) -> str:
    """Flag emoji of an ISO 3166-1 alpha-2 code (regional indicator symbols)."""
    code = code.upper()
    if len(code) != 2 or not code.isascii() or not code.isalpha():
        return ""
    return "".join(chr(0x1F1E6 + ord(letter) - ord("A")) for letter in code)


# --------------------------------------------------------------------------------------------
# The gazetteer


@dataclass
class _Tables:
    """Lookup tables under construction (and then frozen inside the Gazetteer)."""

    exact: dict[tuple[str, ...], _Entry] = field(default_factory=dict)
    stems: dict[tuple[str, ...], list[tuple[str, _Entry]]] = field(default_factory=dict)
    cjk: dict[str, _Entry] = field(default_factory=dict)
    # language -> stemmed CLDR name of that locale -> entry (``[inflection] latin_endings``)
    latin: dict[str, dict[tuple[str, ...], _Entry]] = field(default_factory=dict)
    resolve: dict[str, str | None] = field(default_factory=dict)  # None = ambiguous
    curated: set[tuple[str, ...]] = field(default_factory=set)


class Gazetteer:
    """Country names, demonyms, capitals and forces in many languages; see the module doc."""

    def __init__(
        self,
        tables: _Tables,
        guards: dict[str, _Guard],
        display: dict[str, dict[str, str]],
        cyrillic_endings: tuple[str, ...],
        cyrillic_min_stem: int,
        turkic_suffixes: tuple[str, ...],
        turkic_min_stem: int,
        arabic_proclitics: tuple[str, ...] = (),
        word_codes: frozenset[str] = frozenset(),
        not_first_names: frozenset[str] = frozenset(),
        latin_endings: dict[str, tuple[str, ...]] | None = None,
        latin_hints: dict[str, re.Pattern[str]] | None = None,
    ) -> None:
        self._latin = tables.latin
        self._latin_endings = latin_endings or {}
        self._latin_hints = latin_hints or {}
        self._word_codes = word_codes
        self._not_first_names = not_first_names
        self._exact = tables.exact
        self._stems = tables.stems
        self._resolve = tables.resolve
        self._guards = guards
        self._display = display
        self._cyr_endings = cyrillic_endings
        self._cyr_min = cyrillic_min_stem
        self._turkic_suffixes = turkic_suffixes
        self._turkic_min = turkic_min_stem
        self._arabic_proclitics = arabic_proclitics
        self._arabic_cache: dict[str, str] = {}
        self._first_exact = frozenset(key[0] for key in self._exact)
        self._first_stem = frozenset(key[0] for key in self._stems)
        self._stem_cache: dict[str, tuple[str, ...]] = {}
        self._turkic_cache: dict[str, tuple[str, ...]] = {}
        self._cjk_by_first: dict[str, list[tuple[str, _Entry]]] = {}
        for surface in sorted(tables.cjk, key=len, reverse=True):
            self._cjk_by_first.setdefault(surface[0], []).append((surface, tables.cjk[surface]))
        self._codes = frozenset(
            code for entry in self._exact.values() for code in entry.codes
        ) | frozenset(display.get("en", {}))

    # ---- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | None = None) -> Gazetteer:
        """Gazetteer from ``path`` (default: the shipped countries.toml) plus CLDR names."""
        path = path or data_path("countries.toml")
        return _Builder(path, read_toml(path, "country gazetteer")).build()

    # ---- public queries --------------------------------------------------------------------

    def codes(self) -> frozenset[str]:
        """Every ISO code the gazetteer knows."""
        return self._codes

    def name(self, code: str, locale: str = "en") -> str:
        """Display name of ``code`` in ``locale`` (falls back to English, then the code)."""
        code = code.upper()
        for loc in (locale, locale.split("_")[0], "en"):
            names = self._display.get(loc)
            if names is None:
                names = _cldr_names(loc)
                self._display[loc] = names
            if code in names:
                return names[code]
        return code

    def resolve(self, name: str) -> str:
        """ISO2 code of a user-typed country name, demonym, capital or code; see module doc."""
        cleaned = _WS_RE.sub(" ", name).strip()
        if not cleaned:
            raise UnknownCountry(name, [])
        candidates = [" ".join(_key(cleaned)), " ".join(_key(anyascii(cleaned)))]
        if len(cleaned) == 2 and cleaned.isascii() and cleaned.upper() in self._codes:
            code = cleaned.upper()
            if cleaned.isupper() or cleaned.lower() not in self._word_codes:
                return code
            # "in", "it", "no" typed in lower case are more likely words than India, Italy...
            raise UnknownCountry(name, [self.name(code)])
        ambiguous = False
        for key in candidates:
            if key in self._resolve:
                found = self._resolve[key]
                if found is not None:
                    return found
                ambiguous = True
        raise UnknownCountry(name, self._suggest(cleaned, ambiguous))

    def find(self, text: str, language: str | None = None) -> list[CountryMention]:
        """Every state named in ``text``, in order of appearance (see module doc for rules)."""
        folded = fold(text)
        return self.find_folded(text, folded, word_tokens(folded), language)

    def find_folded(
        self,
        text: str,
        folded: str,
        tokens: list[tuple[str, int, int]],
        language: str | None = None,
    ) -> list[CountryMention]:
        """``find`` for callers that already folded and tokenised ``text`` (the classifier)."""
        if not text:
            return []
        mentions = list(self._find_words(text, folded, tokens, language))
        if _has_cjk(text):
            mentions.extend(self._find_cjk(text))
            mentions.sort(key=lambda m: (m.start, m.code))
        return mentions

    # ---- word matching ---------------------------------------------------------------------

    def _find_words(
        self,
        text: str,
        folded: str,
        tokens: list[tuple[str, int, int]],
        language: str | None,
    ) -> Iterator[CountryMention]:
        words = [tok for tok, _, _ in tokens]
        if self._arabic_proclitics and _ARABIC_RE.search(text):
            words = [self._arabic_word(word) if _is_arabic(word) else word for word in words]
        stems = [self._cyr_stems(tok) if _is_stemmed(tok) else () for tok in words]
        language = language.lower().replace("_", "-").split("-")[0] if language else None
        try_turkic = language in ("az", "tr") or (
            language is None and _TURKIC_HINT_RE.search(text) is not None
        )
        latin = self._latin_language(text, language)
        any_upper = any(ch.isupper() for ch in text)
        any_lower = any(ch.islower() for ch in text)
        first_exact, first_stem = self._first_exact, self._first_stem
        i = 0
        while i < len(tokens):
            # Cheap test first: most words start no phrase at all.
            if not (
                words[i] in first_exact
                or (stems[i] and not first_stem.isdisjoint(stems[i]))
                or ((try_turkic or latin) and text[tokens[i][1]].isupper())
            ):
                i += 1
                continue
            hit = self._match_at(words, stems, i, text, tokens, try_turkic, latin)
            if hit is None:
                i += 1
                continue
            length, entry = hit
            start, end = tokens[i][1], tokens[i + length - 1][2]
            i += length
            if not entry.codes or not self._case_ok(entry, text[start:end], any_upper, any_lower):
                continue
            if entry.guard_key and self._guarded(entry.guard_key, text, folded, start, end):
                continue
            for code in entry.codes:
                yield CountryMention(code, text[start:end], start, end, entry.kind)

    def _match_at(
        self,
        words: list[str],
        stems: list[tuple[str, ...]],
        i: int,
        text: str,
        tokens: list[tuple[str, int, int]],
        try_turkic: bool,
        latin: str | None = None,
    ) -> tuple[int, _Entry] | None:
        """Longest phrase starting at token ``i``: exact, then Cyrillic/Armenian stem, then
        Turkic suffix, then a stemmed name of the text's Latin-script language (Polish)."""
        in_exact = words[i] in self._first_exact
        in_stem = any(stem in self._first_stem for stem in stems[i])
        capital = text[tokens[i][1]].isupper()
        turkic = try_turkic and capital
        latin = latin if capital else None
        if not (in_exact or in_stem or turkic or latin):
            return None
        for n in range(min(_MAX_NGRAM, len(words) - i), 0, -1):
            if in_exact and (entry := self._exact.get(tuple(words[i : i + n]))):
                return n, entry
            if in_stem and (entry := self._stem_entry(words[i : i + n], stems[i : i + n])):
                return n, entry
            if turkic and (entry := self._turkic(words[i : i + n])):
                return n, entry
            if latin and (entry := self._latin_entry(latin, words[i : i + n])):
                return n, entry
        return None

    def _latin_language(self, text: str, language: str | None) -> str | None:
        """The language whose inflected names are looked for: the item's own language, or
        (unknown language) the one whose letters the text uses ("ł", "ś" for Polish)."""
        if language is not None:
            return language if language in self._latin else None
        return next((lang for lang, hint in self._latin_hints.items() if hint.search(text)), None)

    def _latin_entry(self, language: str, words: list[str]) -> _Entry | None:
        """A CLDR name of ``language`` inflected in the text: "Białorusi" -> "Białoruś"."""
        table = self._latin[language]
        options = [_latin_stems(word, self._latin_endings[language]) for word in words]
        for combo in itertools.product(*options):
            entry = table.get(combo)
            if entry is not None:
                return entry
        return None

    def _stem_entry(self, words: list[str], stems: list[tuple[str, ...]]) -> _Entry | None:
        """Entry whose stemmed name equals some stemming of ``words``; on a clash between
        names with the same stem ("Нигер"/"Нигерия"), the name sharing the longest prefix
        with the text wins."""
        if not all(stems):
            return None
        joined = " ".join(words)
        for combo in itertools.product(*stems):
            candidates = self._stems.get(combo)
            if candidates:
                return max(candidates, key=lambda c: _common_prefix(c[0], joined))[1]
        return None

    def _cyr_stems(self, token: str) -> tuple[str, ...]:
        """Every stem of a Cyrillic token (itself included), longest stem first."""
        cached = self._stem_cache.get(token)
        if cached is not None:
            return cached
        if len(self._stem_cache) > _CACHE_LIMIT:
            self._stem_cache.clear()
        stems = [token]
        for ending in self._cyr_endings:
            if token.endswith(ending) and len(token) - len(ending) >= self._cyr_min:
                stems.append(token[: -len(ending)])
        result = tuple(sorted(set(stems), key=len, reverse=True))
        self._stem_cache[token] = result
        return result

    def _arabic_word(self, word: str) -> str:
        """``word``, or the form without a leading proclitic that starts a known phrase."""
        cached = self._arabic_cache.get(word)
        if cached is not None:
            return cached
        if len(self._arabic_cache) > _CACHE_LIMIT:
            self._arabic_cache.clear()
        result = word
        if word not in self._first_exact:
            for proclitic in self._arabic_proclitics:
                if not word.startswith(proclitic) or len(word) - len(proclitic) < 3:
                    continue
                rest = word[len(proclitic) :]
                # "لل" + "هند" is "ل" + "الهند" with the article's alif elided.
                candidates = ("ال" + rest, rest) if proclitic.endswith("ل") else (rest,)
                found = next((c for c in candidates if c in self._first_exact), None)
                if found is not None:
                    result = found
                    break
        self._arabic_cache[word] = result
        return result

    def _turkic(self, phrase: list[str]) -> _Entry | None:
        """A proper name with an Azerbaijani/Turkish case suffix on its last word."""
        for stem in self._turkic_stems(phrase[-1]):
            entry = self._exact.get((*phrase[:-1], stem))
            if entry is not None and entry.kind != DEMONYM and entry.codes:
                return entry
        return None

    def _turkic_stems(self, word: str) -> tuple[str, ...]:
        """``word`` without each case suffix it may carry, longest suffix first (memoised)."""
        cached = self._turkic_cache.get(word)
        if cached is not None:
            return cached
        if len(self._turkic_cache) > _CACHE_LIMIT:
            self._turkic_cache.clear()
        stems = tuple(
            word[: -len(suffix)]
            for suffix in self._turkic_suffixes
            if word.endswith(suffix) and len(word) - len(suffix) >= self._turkic_min
        )
        self._turkic_cache[word] = stems
        return stems

    @staticmethod
    def _case_ok(entry: _Entry, surface: str, any_upper: bool, any_lower: bool) -> bool:
        if entry.all_caps:
            return any_lower and surface == surface.upper() and surface != surface.lower()
        if entry.needs_capital:
            return surface[0].isupper()
        return True

    def _guarded(self, key: str, text: str, folded: str, start: int, end: int) -> bool:
        """True when the context shows a non-country sense of an ambiguous surface."""
        guard = self._guards[key]
        before = _WS_RE.sub(" ", folded[max(0, start - 40) : start]).rstrip(" ,.-'")
        after = _POSSESSIVE_RE.sub("", _WS_RE.sub(" ", folded[end : end + 40]))
        if any(before.endswith(word) and _word_edge(before, word) for word in guard.before):
            return True
        if any(after.startswith(word) and _word_edge_after(after, word) for word in guard.after):
            return True
        if any(word in folded for word in guard.near):
            return True
        return guard.person_name and _looks_like_person(self, text, start, end)

    # ---- CJK matching ----------------------------------------------------------------------

    def _find_cjk(self, text: str) -> Iterator[CountryMention]:
        i = 0
        while i < len(text):
            for surface, entry in self._cjk_by_first.get(text[i], ()):
                if text.startswith(surface, i):
                    for code in entry.codes:
                        yield CountryMention(code, surface, i, i + len(surface), entry.kind)
                    i += len(surface)
                    break
            else:
                i += 1

    def _is_known_word(self, folded_word: str) -> bool:
        return folded_word in self._first_exact

    # ---- suggestions -----------------------------------------------------------------------

    def _suggest(self, name: str, ambiguous: bool) -> list[str]:
        english = self._display.get("en") or _cldr_names("en")
        by_folded = {fold(display): display for display in english.values()}
        key = " ".join(_key(anyascii(name)))
        if ambiguous:
            hits = [display for folded, display in by_folded.items() if key in folded]
            if hits:
                return sorted(hits)[:3]
        close = difflib.get_close_matches(key, list(by_folded), n=3, cutoff=0.6)
        return [by_folded[folded] for folded in close]


def _common_prefix(a: str, b: str) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _word_edge(before: str, word: str) -> bool:
    cut = len(before) - len(word)
    return cut == 0 or not before[cut - 1].isalnum()


def _word_edge_after(after: str, word: str) -> bool:
    return len(after) == len(word) or not after[len(word)].isalnum()


def _looks_like_person(gazetteer: Gazetteer, text: str, start: int, end: int) -> bool:
    """'Michael Jordan', 'Chad Smith': a capitalised non-country word glued to the surface."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start : line_end if line_end != -1 else len(text)]
    if _title_case(line):
        return False
    prev = re.search(r"([^\W\d_]+)\s$", text[max(line_start, start - 30) : start])
    nxt = re.match(r"\s([^\W\d_]+)", text[end : end + 30])
    for match in (prev, nxt):
        if match is None:
            continue
        word = match.group(1)
        if (
            word[0].isupper()
            and fold(word) not in gazetteer._not_first_names
            and not gazetteer._is_known_word(fold(word))
        ):
            return True
    return False


def _title_case(line: str) -> bool:
    """Headline Title Case ('Jordan Hosts Joint Drills'), where capitals say nothing."""
    words = [w for w in re.findall(r"[^\W\d_]{4,}", line)]
    if len(words) < 3:
        return False
    return sum(w[0].isupper() for w in words) >= 0.7 * len(words)


# --------------------------------------------------------------------------------------------
# Building


@functools.cache
def _cldr_names(locale: str) -> dict[str, str]:
    """CLDR territory names of ``locale`` keyed by alpha-2 code ({} for unknown locales)."""
    from babel import Locale, UnknownLocaleError

    try:
        territories = Locale.parse(locale).territories
    except (UnknownLocaleError, ValueError):
        return {}
    return {code: name for code, name in territories.items() if len(code) == 2 and code.isalpha()}


_CLDR_CLEAN_RE = re.compile(r"\s*[\(（][^\)）]*[\)）]")


def _cldr_variants(name: str) -> Iterator[str]:
    """'Myanmar (Burma)' -> 'Myanmar', 'Burma'; 'Bosnia & Herzegovina' -> '... and ...'."""
    if " - " in name:  # "Congo - Kinshasa": left to the curated file
        return
    base = _CLDR_CLEAN_RE.sub("", name).strip()
    yield base  # bracketed parts are qualifiers ("Hong Kong (China)"), so they are dropped
    if "&" in base:
        yield base.replace("&", "and")
    if base.startswith("St. "):
        yield "Saint " + base[4:]


class _Builder:
    """Turns countries.toml plus CLDR into lookup tables."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data
        self.tables = _Tables()
        settings = data.get("settings", {})
        self.exclude = frozenset(settings.get("exclude", ()))
        self.drop_cldr = frozenset(" ".join(_key(name)) for name in settings.get("drop_cldr", ()))
        self.everyday = frozenset(
            " ".join(_key(word)) for word in settings.get("everyday_words", ())
        )
        self.locales: list[str] = list(settings.get("locales", ["en"]))
        inflection = data.get("inflection", {})
        self.cyr_endings = tuple(
            sorted(
                (
                    fold(e)
                    for name in ("cyrillic_endings", "armenian_endings")
                    for e in inflection.get(name, ())
                ),
                key=len,
                reverse=True,
            )
        )
        self.cyr_min = int(inflection.get("cyrillic_min_stem", 4))
        self.turkic_suffixes = tuple(
            sorted((fold(s) for s in inflection.get("turkic_suffixes", ())), key=len, reverse=True)
        )
        self.turkic_min = int(inflection.get("turkic_min_stem", 3))
        self.arabic_proclitics = tuple(
            sorted(
                (fold(p) for p in inflection.get("arabic_proclitics", ())), key=len, reverse=True
            )
        )
        self.latin_endings = {
            lang: tuple(sorted((fold(e) for e in endings), key=len, reverse=True))
            for lang, endings in inflection.get("latin_endings", {}).items()
        }
        self.latin_hints = {
            lang: re.compile(f"[{re.escape(letters)}]")
            for lang, letters in inflection.get("latin_hints", {}).items()
        }
        self.guards = self._guards()

    def _require(self, value: Any, kind: type, key: str) -> Any:
        if not isinstance(value, kind):
            raise ConfigError(f"{self.path}: {key} must be a {kind.__name__}")
        return value

    def _guards(self) -> dict[str, _Guard]:
        guards: dict[str, _Guard] = {}
        for index, raw in enumerate(self._require(self.data.get("guards", []), list, "guards")):
            if "surface" not in raw:
                raise ConfigError(f"{self.path}: guards[{index}].surface is missing")
            guards[" ".join(_key(raw["surface"]))] = _Guard(
                before=tuple(fold(w) for w in raw.get("before", ())),
                after=tuple(fold(w) for w in raw.get("after", ())),
                near=tuple(fold(w) for w in raw.get("near", ())),
                person_name=bool(raw.get("person_name", False)),
            )
        return guards

    def stem_key(self, key: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(self._stem(tok) if _is_stemmed(tok) else tok for tok in key)

    def _stem(self, token: str) -> str:
        for ending in self.cyr_endings:
            if token.endswith(ending) and len(token) - len(ending) >= self.cyr_min:
                return token[: -len(ending)]
        return token

    def add(self, surface: str, codes: tuple[str, ...], kind: str, *, curated: bool) -> None:
        """Register one surface; curated entries override CLDR, CLDR clashes are dropped.
        A Devanagari surface is also registered without its nuktas ("इज़राइल" = "इजराइल")."""
        surface = surface.strip()
        if not surface:
            return
        if _DEVANAGARI_NUKTA_RE.search(surface):
            surface = unicodedata.normalize("NFD", surface)  # "ज़" as ज + nukta, as CLDR has it
            self._add_one(surface.replace(_NUKTA, ""), codes, kind, curated=curated)
        self._add_one(surface, codes, kind, curated=curated)

    def _add_one(self, surface: str, codes: tuple[str, ...], kind: str, *, curated: bool) -> None:
        if _has_cjk(surface):
            self._add_cjk(surface, codes, kind, curated=curated)
            return
        key = _key(surface)
        if not key:
            return
        if " ".join(key) in self.everyday and kind != _BLOCKER:
            # an everyday word ("شام" evening, "माली" gardener) is never read as the state in
            # text, but a user who types it to /watch the state still gets it
            if len(codes) == 1:
                self._add_resolvable(" ".join(key), codes[0], curated)
            return
        letters = [ch for ch in surface if ch.isalpha()]
        entry = _Entry(
            codes=codes,
            kind=kind,
            # Armenian adjectives and oblique forms are written in lower case ("ադրբեջանական").
            needs_capital=bool(letters) and letters[0].isupper() and not _is_armenian(key[0]),
            all_caps=kind == CODE,
            guard_key=" ".join(key) if " ".join(key) in self.guards else None,
        )
        self._put(self.tables.exact, key, entry, curated)
        if any(_is_stemmed(tok) for tok in key):
            self._put_stem(key, entry)
        if kind != _BLOCKER and len(codes) == 1:
            self._add_resolvable(" ".join(key), codes[0], curated)
            self._add_resolvable(" ".join(_key(anyascii(surface))), codes[0], curated)

    def _put(
        self,
        table: dict[tuple[str, ...], _Entry],
        key: tuple[str, ...],
        entry: _Entry,
        curated: bool,
    ) -> None:
        old = table.get(key)
        marker = (id(table), *key)
        if old is None or (curated and marker not in self.tables.curated):
            table[key] = entry
        # Otherwise the first source wins: curated entries, then locales in configured order.
        if curated:
            self.tables.curated.add(marker)  # type: ignore[arg-type]

    def _put_stem(self, key: tuple[str, ...], entry: _Entry) -> None:
        """Names stemmed alike are all kept; matching picks among them (see _stem_entry)."""
        joined = " ".join(key)
        bucket = self.tables.stems.setdefault(self.stem_key(key), [])
        if all(name != joined for name, _ in bucket):
            bucket.append((joined, entry))

    def _add_cjk(self, surface: str, codes: tuple[str, ...], kind: str, *, curated: bool) -> None:
        old = self.tables.cjk.get(surface)
        if old is None or curated:
            self.tables.cjk[surface] = _Entry(codes, kind, False, False)
        if len(codes) == 1:
            self._add_resolvable(surface, codes[0], curated)

    def _add_resolvable(self, key: str, code: str, curated: bool) -> None:
        if not key:
            return
        old = self.tables.resolve.get(key, "")
        if old == "" or (curated and key not in self._curated_resolve):
            self.tables.resolve[key] = code
        elif old != code and not (key in self._curated_resolve and not curated):
            self.tables.resolve[key] = None
        if curated:
            self._curated_resolve.add(key)

    _curated_resolve: set[str]

    def build(self) -> Gazetteer:
        self._curated_resolve = set()
        self._add_curated()
        self._add_cldr()
        display = {"en": dict(_cldr_names("en"))}
        display["en"].update(self.data.get("settings", {}).get("display_en", {}))
        for code in self.exclude:
            display["en"].pop(code, None)
        for ambiguous in self.data.get("settings", {}).get("ambiguous", []):
            self.tables.resolve[" ".join(_key(ambiguous))] = None
        return Gazetteer(
            self.tables,
            self.guards,
            display,
            self.cyr_endings,
            self.cyr_min,
            self.turkic_suffixes,
            self.turkic_min,
            self.arabic_proclitics,
            frozenset(self.data.get("settings", {}).get("word_codes", ())),
            frozenset(fold(w) for w in self.data.get("settings", {}).get("not_first_names", ())),
            self.latin_endings,
            self.latin_hints,
        )

    def _add_curated(self) -> None:
        countries = self._require(self.data.get("countries", {}), dict, "countries")
        kinds = {
            "aliases": NAME,
            "demonyms": DEMONYM,
            "capitals": CAPITAL,
            "forces": FORCE,
            "codes": CODE,
        }
        tables = [("countries", countries)] + [
            (f"native.{language}", table)
            for language, table in self._require(
                self.data.get("native", {}), dict, "native"
            ).items()
        ]
        for where, table in tables:
            for code, fields in self._require(table, dict, where).items():
                if len(code) != 2 or not code.isupper():
                    raise ConfigError(
                        f"{self.path}: {where}.{code}: key must be an ISO alpha-2 code"
                    )
                for field_name, kind in kinds.items():
                    for surface in self._require(
                        fields.get(field_name, []), list, f"{where}.{code}.{field_name}"
                    ):
                        for variant in _variants(surface, kind):
                            self.add(variant, (code,), kind, curated=True)
        for code, stems in self.data.get("arabic_demonyms", {}).items():
            for stem in self._require(stems, list, f"arabic_demonyms.{code}"):
                for form in _arabic_nisba_forms(stem):
                    self.add(form, (code,), DEMONYM, curated=True)
        for code, stems in self.data.get("german_demonyms", {}).items():
            for stem in self._require(stems, list, f"german_demonyms.{code}"):
                for ending in ("", "e", "en", "er", "es", "em"):
                    self.add(stem + ending, (code,), DEMONYM, curated=True)
        for surface, codes in self.data.get("compounds", {}).items():
            self.add(surface, tuple(codes), NAME, curated=True)
        for surface in self.data.get("blockers", {}).get("phrases", []):
            self.add(surface, (), _BLOCKER, curated=True)
            # Blockers stay out of resolve(): they are not country names.

    def _add_cldr(self) -> None:
        for locale in self.locales:
            for code, name in _cldr_names(locale).items():
                if code in self.exclude:
                    continue
                for variant in _cldr_variants(name):
                    if _SHORT_KATAKANA_RE.fullmatch(variant):
                        continue  # "タイ", "マリ" are also inside loanwords ("タイプ", "マリン")
                    # inflected lookup applies to text in that language only: an English
                    # word among its names ("Indie", "Norfolk") is dropped from the exact table
                    self._add_latin(locale, variant, code)
                    if " ".join(_key(variant)) not in self.drop_cldr:
                        self.add(variant, (code,), NAME, curated=False)
        for code in _cldr_names("en"):
            if code not in self.exclude:
                self._add_resolvable(code.lower(), code, curated=False)

    def _add_latin(self, locale: str, name: str, code: str) -> None:
        """File a CLDR name of a language with ``latin_endings`` under each of its stems;
        a stem two states share is dropped (nothing is guessed)."""
        endings = self.latin_endings.get(locale)
        key = _key(name)
        if endings is None or not key or not name[0].isupper():
            return
        table = self.tables.latin.setdefault(locale, {})
        entry = _Entry((code,), NAME, True, False)
        options = [_latin_stems(word, endings) for word in key]
        for combo in itertools.product(*options):
            old = table.get(combo)
            table[combo] = entry if old is None or old.codes == entry.codes else _NO_ENTRY


_NO_ENTRY = _Entry((), _BLOCKER, True, False)
_NUKTA = "\u093c"
# a nukta, or a letter with the nukta built in (U+0958-U+095F: क़ ख़ ग़ ज़ ड़ ढ़ फ़ य़)
_DEVANAGARI_NUKTA_RE = re.compile("[\u093c\u0958-\u095f]")
_SHORT_KATAKANA_RE = re.compile(r"[\u30a0-\u30ff]{1,2}")


def _arabic_nisba_forms(stem: str) -> Iterator[str]:
    """Masculine, feminine and plural forms, bare and with the article: "روسي" -> "الروسية"."""
    for ending in ("", "ة", "ون", "ين"):
        yield stem + ending
        yield "ال" + stem + ending


def _variants(surface: str, kind: str) -> Iterable[str]:
    """Plural/feminine forms of French-style lowercase demonyms ('chinois' -> 'chinoise');
    the oblique plural of Urdu and Hindi demonyms in -ی/-ी ("امریکی" -> "امریکیوں",
    "अमेरिकी" -> "अमेरिकियों": "to the Americans")."""
    yield surface
    if kind == DEMONYM and surface.endswith("\u06cc"):  # Urdu ی
        yield surface + "\u0648\u06ba"  # وں
        return
    if kind == DEMONYM and surface.endswith("\u0940"):  # Devanagari vowel sign ी
        yield surface[:-1] + "\u093f\u092f\u094b\u0902"  # ियों
        return
    if kind != DEMONYM or not surface.islower() or _is_cyrillic(surface):
        return
    if surface.endswith("ien") or surface.endswith("éen"):
        yield surface + "ne"
        yield surface + "nes"
        yield surface + "s"
    elif surface.endswith("e"):
        yield surface + "s"
    else:
        yield surface + "e"
        yield surface + "s"
        yield surface + "es"


@functools.cache
def default_gazetteer() -> Gazetteer:
    """The shipped gazetteer, loaded once per process."""
    return Gazetteer.load()
