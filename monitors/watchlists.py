"""Named watchlists defined in a TOML file that operators keep in version control.

File shape (see ``config/watchlists.example.toml``)::

    [watchlist.caucasus]
    description = "South Caucasus defence ties"
    countries = ["Azerbaijan", "Armenia", "GE"]     # names, demonyms or ISO codes
    keywords = ["Bayraktar", "S-400"]               # whole words/phrases, any case or accent
    exclude = ["parade"]                            # a story containing one is never sent
    scope = "cooperation"                           # or "all"
    targets = [-1001234567890, "@caucasus_defence"] # chats/channels that get every match

Rules:
- A story matches a watchlist when one of its countries takes part in the story, or one of its
  keywords occurs in the title or summary; an excluded keyword vetoes; scope ``cooperation``
  (the default) needs a defence-cooperation story. The same rule as a chat's own watchlist
  (``monitors.matching.matches``).
- Validation names the file, the watchlist and the key: an unknown country, an empty
  watchlist (no country and no keyword), a duplicate name, a malformed target or an unknown
  key is an error. ``defwatch watchlists check`` runs it without starting anything.
- ``WatchlistRegistry`` re-reads the file when asked (on SIGHUP, or when its modification time
  changes); a broken edit keeps the last good version and says why in the log.
"""

from __future__ import annotations

import logging
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitors.domain import StoryForAlert
from monitors.errors import ConfigError, UnknownCountry
from monitors.matching import ChatWatch, found_phrases, matches
from monitors.subscriptions import normalise_keyword

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_USERNAME = re.compile(r"^@[A-Za-z][A-Za-z0-9_]{4,31}$")
_KEYS = {"description", "countries", "keywords", "exclude", "scope", "targets"}
_MAX_ITEMS = 500


@dataclass(frozen=True, slots=True)
class Watchlist:
    name: str
    description: str
    countries: frozenset[str]
    keywords: frozenset[str]
    excludes: frozenset[str]
    scope: str
    chat_targets: tuple[int, ...]
    channel_targets: tuple[str, ...]  # "@username", resolved to chat ids by the bot

    def as_watch(self) -> ChatWatch:
        return ChatWatch(0, self.scope, self.countries, self.keywords, self.excludes)


Resolver = Any  # anything with .resolve(name) -> ISO code (monitors.detect.countries.Gazetteer)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where} must be a list of strings")
    if len(value) > _MAX_ITEMS:
        raise ConfigError(f"{where} has more than {_MAX_ITEMS} items")
    return value


def _countries(values: list[str], where: str, resolver: Resolver) -> frozenset[str]:
    codes = set()
    for value in values:
        try:
            codes.add(resolver.resolve(value))
        except UnknownCountry as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return frozenset(codes)


def _phrases(values: list[str], where: str) -> frozenset[str]:
    phrases = set()
    for value in values:
        phrase = normalise_keyword(value)
        if not phrase:
            raise ConfigError(f"{where}: {value!r} has no letters or digits")
        phrases.add(phrase)
    return frozenset(phrases)


def _targets(value: Any, where: str) -> tuple[tuple[int, ...], tuple[str, ...]]:
    if not isinstance(value, list):
        raise ConfigError(f"{where} must be a list of chat ids or @channel names")
    chats: list[int] = []
    channels: list[str] = []
    for item in value:
        if isinstance(item, int) and not isinstance(item, bool) and item != 0:
            chats.append(item)
        elif isinstance(item, str) and _USERNAME.match(item):
            channels.append(item.lower())
        else:
            raise ConfigError(
                f"{where}: {item!r} is not a chat id (a non-zero integer) or a public "
                "channel name like @caucasus_defence"
            )
    return tuple(chats), tuple(channels)


def parse_watchlist(name: str, table: Any, *, where: str, resolver: Resolver) -> Watchlist:
    """One ``[watchlist.NAME]`` table, validated; ``where`` prefixes every error."""
    where = f"{where}: watchlist {name!r}"
    if not _NAME.match(name):
        raise ConfigError(f"{where}: names are 1-32 lower-case letters, digits, '-' or '_'")
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table")
    unknown = sorted(set(table) - _KEYS)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})"
        )
    countries = _countries(
        _strings(table.get("countries", []), f"{where}.countries"), f"{where}.countries", resolver
    )
    keywords = _phrases(
        _strings(table.get("keywords", []), f"{where}.keywords"), f"{where}.keywords"
    )
    excludes = _phrases(_strings(table.get("exclude", []), f"{where}.exclude"), f"{where}.exclude")
    if not countries and not keywords:
        raise ConfigError(f"{where} is empty: give it countries or keywords")
    scope = table.get("scope", "cooperation")
    if scope not in ("cooperation", "all"):
        raise ConfigError(f'{where}.scope must be "cooperation" or "all" (got {scope!r})')
    description = table.get("description", "")
    if not isinstance(description, str):
        raise ConfigError(f"{where}.description must be a string")
    chats, channels = _targets(table.get("targets", []), f"{where}.targets")
    return Watchlist(name, description, countries, keywords, excludes, scope, chats, channels)


def parse_watchlists(text: str, *, source: str, resolver: Resolver) -> dict[str, Watchlist]:
    """Every watchlist of a TOML document; ``source`` names it in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"watchlist"})
    if unknown:
        raise ConfigError(
            f"{source}: unknown top-level key {unknown[0]!r} (expected [watchlist.NAME])"
        )
    tables = data.get("watchlist", {})
    if not isinstance(tables, dict):
        raise ConfigError(f"{source}: 'watchlist' must be a table of [watchlist.NAME] tables")
    lists: dict[str, Watchlist] = {}
    for name, table in tables.items():
        folded = name.lower()
        if folded in lists:
            raise ConfigError(f"{source}: watchlist {name!r} is defined twice")
        lists[folded] = parse_watchlist(folded, table, where=source, resolver=resolver)
    return lists


def load_watchlists(path: Path, *, resolver: Resolver) -> dict[str, Watchlist]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return parse_watchlists(text, source=str(path), resolver=resolver)


def matching_lists(
    story: StoryForAlert, lists: Mapping[str, Watchlist]
) -> dict[str, tuple[str, ...]]:
    """The watchlists ``story`` matches, each with the terms that matched."""
    if not lists:
        return {}
    phrases = frozenset().union(*(w.keywords | w.excludes for w in lists.values()))
    found = found_phrases(story, phrases)
    return {
        name: terms
        for name, watchlist in lists.items()
        if (terms := matches(story, watchlist.as_watch(), found))
    }


def export_watchlist(
    name: str,
    countries: Iterable[str],
    keywords: Iterable[str],
    excludes: Iterable[str],
    scope: str,
) -> str:
    """A chat's own watchlist as a TOML document that ``parse_watchlists`` accepts."""

    def array(values: Iterable[str]) -> str:
        return "[" + ", ".join(_toml_string(v) for v in sorted(values)) + "]"

    return (
        f"[watchlist.{name}]\n"
        f"countries = {array(countries)}\n"
        f"keywords = {array(keywords)}\n"
        f"exclude = {array(excludes)}\n"
        f"scope = {_toml_string(scope)}\n"
    )


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(ch if ch >= " " and ch != "\x7f" else f"\\u{ord(ch):04x}" for ch in escaped)
    return f'"{escaped}"'


class WatchlistRegistry:
    """The current named watchlists of one file, reloaded on demand, last good kept on error."""

    def __init__(self, path: Path | None, *, resolver: Resolver) -> None:
        self.path = path
        self.resolver = resolver
        self.lists: dict[str, Watchlist] = {}
        self.last_error: str | None = None
        self._mtime: float | None = None

    def load(self) -> dict[str, Watchlist]:
        """First load: errors propagate (a broken file must stop the start, loudly)."""
        if self.path is not None:
            self.lists = load_watchlists(self.path, resolver=self.resolver)
            self._mtime = self._current_mtime()
        return self.lists

    def _current_mtime(self) -> float | None:
        try:
            return self.path.stat().st_mtime_ns / 1e9 if self.path else None
        except OSError:
            return None

    def reload(self) -> bool:
        """Re-read the file; True when the lists changed. A broken edit keeps the old lists."""
        if self.path is None:
            return False
        self._mtime = self._current_mtime()
        try:
            fresh = load_watchlists(self.path, resolver=self.resolver)
        except ConfigError as exc:
            self.last_error = str(exc)
            log.error("watchlists not reloaded, keeping the last good version: %s", exc)
            return False
        self.last_error = None
        changed = fresh != self.lists
        self.lists = fresh
        if changed:
            log.info(
                "watchlists reloaded from %s: %s", self.path, ", ".join(sorted(fresh)) or "none"
            )
        return changed

    def reload_if_changed(self) -> bool:
        """Reload when the file's modification time moved (polled by a scheduler job)."""
        if self.path is None or self._current_mtime() == self._mtime:
            return False
        return self.reload()
