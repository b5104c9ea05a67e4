"""Pure helpers for reading command arguments as users type them.

``UsageError`` is the one error a parser raises: its message is the reply. A parser never
drops part of its input without saying so: what it had to leave out comes back with the
result, as a note for the reply (``Cut``).
"""

from __future__ import annotations

import difflib
import functools
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.i18n import Said, SaidN
from config import data_path
from monitors import subscriptions
from monitors.detect.countries import Gazetteer, default_gazetteer, fold
from monitors.domain import StoryView
from monitors.errors import UnknownCountry


class UsageError(ValueError):
    """The command's arguments are wrong; the message says how to use it (a ``Said``, so the
    handler can say it in the chat's language: ``bot.i18n.say``)."""


@dataclass(frozen=True, slots=True)
class Cut:
    """What a command read of a longer input: ``kept`` of ``given`` items, ``dropped`` named."""

    kept: int
    given: int
    dropped: tuple[str, ...] = ()

    @property
    def happened(self) -> bool:
        return self.given > self.kept


def take(items: Sequence[str], most: int) -> tuple[list[str], Cut]:
    """The first ``most`` items and a note of the rest."""
    return list(items[:most]), Cut(min(len(items), most), len(items), tuple(items[most:]))


MAX_KEYWORD_CHARS = subscriptions.MAX_PHRASE_CHARS
MAX_REFUSALS_NAMED = 5


def keyword_problem(text: str) -> Said | None:
    """Why a keyword as typed cannot be kept or could never match (None when fine)."""
    if len(text) > MAX_KEYWORD_CHARS:
        return Said(
            "a keyword has at most {limit} characters; this one has {count}",
            limit=MAX_KEYWORD_CHARS,
            count=len(text),
        )
    words = subscriptions.fold_words(text)
    if len(" ".join(words)) > 2 * MAX_KEYWORD_CHARS:  # ligatures unfold: 'ﬃ' is 'ffi'
        return Said("a keyword has at most {limit} characters once folded", limit=MAX_KEYWORD_CHARS)
    if not words:
        return Said("it has no letters or digits, so it could never match a story")
    if len(words) > subscriptions.MAX_PHRASE_WORDS:
        return Said(
            "a keyword needs 1 to {most} words, not {count}",
            most=subscriptions.MAX_PHRASE_WORDS,
            count=len(words),
        )
    return None


def keyword_items(terms: Sequence[str]) -> tuple[list[tuple[str, str]], list[Said]]:
    """(folded value, as typed) for each acceptable keyword, and a plain-text line per refusal
    (the first few named, the rest counted): nothing is cut or changed silently."""
    items: list[tuple[str, str]] = []
    refused: list[Said] = []
    for term in terms:
        problem = keyword_problem(term)
        if problem is None:
            items.append((subscriptions.normalise_keyword(term), term))
        else:
            refused.append(
                Said("Not added “{term}”: {problem}.", term=clip(term, 60), problem=problem)
            )
    if len(refused) > MAX_REFUSALS_NAMED:
        more = len(refused) - MAX_REFUSALS_NAMED
        refused = [
            *refused[:MAX_REFUSALS_NAMED],
            SaidN(
                "… and {count} more keyword not added.",
                "… and {count} more keywords not added.",
                more,
            ),
        ]
    return items, refused


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


DEFAULT_LATEST = 5
MAX_LATEST = 20
MAX_COUNTRY_WORDS = 4


MAX_ZONE_WORDS = 3  # "america new york"


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def split_terms(args: Sequence[str]) -> list[str]:
    """Comma-separated phrases ('Bayraktar, S-400'); without commas, the whole text is one."""
    return [t.strip() for t in " ".join(args).split(",") if t.strip()]


def parse_latest_args(args: Sequence[str]) -> tuple[str, int]:
    """('country text' or '' for the watchlist, count clamped to 1..20)."""
    words = list(args)
    count = DEFAULT_LATEST
    if words and words[-1].isascii() and words[-1].isdigit():
        count = max(1, min(MAX_LATEST, int(words.pop())))
    elif words and words[-1].isnumeric():  # '²', '٣': digits to Unicode, but int() refuses them
        raise UsageError(
            Said(
                "{shown} is not a count; use 1 to {most}, e.g. /latest azerbaijan 10",
                shown=repr(clip(words[-1], 20)),
                most=MAX_LATEST,
            )
        )
    return " ".join(words), count


def parse_hhmm(text: str) -> str:
    """'7:05' -> '07:05'; UsageError unless a valid 24-hour time."""
    hours, sep, minutes = text.strip().partition(":")
    shown = clip(text, 40)
    digits = f"{hours}{minutes}"
    not_a_time = Said("{shown} is not a time; use HH:MM, e.g. 08:00", shown=repr(shown))
    if not sep or not (digits.isascii() and hours.isdigit() and minutes.isdigit()):
        raise UsageError(not_a_time)
    if len(minutes) != 2 or len(hours) > 2:
        raise UsageError(not_a_time)
    if not (0 <= int(hours) < 24 and 0 <= int(minutes) < 60):
        raise UsageError(Said("{shown} is not a time of day", shown=repr(shown)))
    return f"{int(hours):02d}:{minutes}"


def parse_timezone(text: str) -> str:
    """An IANA zone from a name, city, country, alias or UTC offset (``bot.timezones``)."""
    from bot import timezones  # it raises this module's UsageError: imported once both exist

    return timezones.parse_zone(text, country=_country_code)


def _country_code(name: str) -> str | None:
    try:
        return default_gazetteer().resolve(name)
    except UnknownCountry:
        return None


def parse_settings_args(args: Sequence[str]) -> dict[str, str | None]:
    """The settings a /settings command changes; UsageError with help when malformed."""
    if not args:
        return {}
    what, rest = args[0].lower(), list(args[1:])
    if what == "instant" and not rest:
        return {"delivery_mode": "instant"}
    if what == "digest" and len(rest) <= 1 + MAX_ZONE_WORDS:
        change: dict[str, str | None] = {"delivery_mode": "digest"}
        if rest:
            change["digest_time"] = parse_hhmm(rest[0])
        if len(rest) >= 2:
            change["timezone"] = parse_timezone(" ".join(rest[1:]))
        return change
    if what == "quiet" and rest:
        if rest == ["off"]:
            return {"quiet_start": None, "quiet_end": None}
        span = "-".join(rest).replace("--", "-")
        start, sep, end = span.partition("-")
        if sep:
            return {"quiet_start": parse_hhmm(start), "quiet_end": parse_hhmm(end)}
    if what == "scope" and rest and rest[0].lower() in ("all", "cooperation"):
        return {"scope": rest[0].lower()}
    if what in ("tz", "timezone") and 1 <= len(rest) <= MAX_ZONE_WORDS:
        return {"timezone": parse_timezone(" ".join(rest))}
    raise UsageError(
        Said(
            "Usage: /settings instant | digest HH:MM [zone] | quiet HH:MM-HH:MM | quiet off | "
            "scope all|cooperation | tz zone (Asia/Baku, baku or UTC+4)"
        )
    )


@dataclass(frozen=True, slots=True)
class Resolved:
    codes: tuple[str, ...]
    unknown: tuple[UnknownCountry, ...]
    cut: Cut = field(default_factory=lambda: Cut(0, 0))  # words past MAX_COUNTRY_ARGS

    @property
    def questions(self) -> tuple[AmbiguousCode, ...]:
        """Lower-case codes that are also words ('it'): asked about with a button."""
        return tuple(u for u in self.unknown if isinstance(u, AmbiguousCode))

    @property
    def unresolved(self) -> tuple[UnknownCountry, ...]:
        return tuple(u for u in self.unknown if not isinstance(u, AmbiguousCode))


MAX_COUNTRY_ARGS = 40


def resolve_countries(args: Sequence[str], resolve: Callable[[str], str]) -> Resolved:
    """Country names in ``args`` (comma-separated, or words read greedily: 'south korea');
    at most MAX_COUNTRY_ARGS words are read (resolving thousands blocks), the rest is noted."""
    codes: list[str] = []
    unknown: list[UnknownCountry] = []
    args, cut = take(list(args), MAX_COUNTRY_ARGS)
    groups = [t.split() for t in split_terms(args)] if "," in " ".join(args) else [list(args)]
    for words in groups:
        start = 0
        while start < len(words):
            for end in range(min(len(words), start + MAX_COUNTRY_WORDS), start, -1):
                try:
                    code = resolve_one(" ".join(words[start:end]), resolve)
                except UnknownCountry as exc:
                    if end == start + 1:
                        unknown.append(exc)
                    continue
                if code not in codes:
                    codes.append(code)
                break
            start = end
    return Resolved(tuple(codes), tuple(unknown), cut)


def resolve_one(name: str, resolve: Callable[[str], str]) -> str:
    """A code for ``name``; a suggestion that is the same name in other case is taken as it."""
    try:
        return resolve(name)
    except AmbiguousCode:
        raise
    except UnknownCountry as exc:
        same = [s for s in exc.suggestions if fold(s) == fold(name)]
        if len(same) == 1:
            return resolve(same[0])
        raise


class AmbiguousCode(UnknownCountry):
    """A lower-case code that is also a word ('it', 'in'): the user is asked, not guessed for."""

    def __init__(self, name: str, code: str, country: str) -> None:
        super().__init__(name, [country])
        self.code = code


@functools.cache
def code_words() -> frozenset[str]:
    """Codes that are also everyday words (config/codewords.toml)."""
    table = tomllib.loads(data_path("codewords.toml").read_text(encoding="utf-8"))
    return frozenset(w.lower() for w in table.get("words", []))


def make_resolver(gazetteer: Gazetteer) -> Callable[[str], str]:
    """``gazetteer.resolve``, falling back to exact English names (the gazetteer refuses some
    ambiguous words such as 'china'; a user typing the name alone means the country) and to
    ISO codes in any case ('hu'), except codes that are also words ('it': AmbiguousCode)."""
    by_name = {fold(gazetteer.name(code)): code for code in gazetteer.codes()}
    codes = gazetteer.codes()

    def resolve(name: str) -> str:
        try:
            return gazetteer.resolve(name)
        except UnknownCountry:
            code = by_name.get(fold(name))
            if code is not None:
                return code
            typed = name.strip()
            if len(typed) == 2 and typed.isascii() and typed.upper() in codes:
                if typed.lower() not in code_words():
                    return typed.upper()
                code = typed.upper()
                raise AmbiguousCode(typed, code, gazetteer.name(code)) from None
            raise

    return resolve


def encode_before(story: StoryView) -> str:
    """A story's paging position: microseconds since the epoch, then its id."""
    micros = (story.published_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}:{story.id}"


def decode_before(micros: str, story_id: str) -> tuple[datetime, int]:
    return EPOCH + timedelta(microseconds=int(micros)), int(story_id)


def suggest_names(name: str, known: Sequence[str]) -> list[str]:
    """Close spellings of a named watchlist ('cacasus' -> ['caucasus'])."""
    return difflib.get_close_matches(name.lower(), list(known), n=3, cutoff=0.6)
