"""The default feeds file (``[poll] feeds_file``): read it, and seed its feeds once.

Kept apart from the runner so that ``defwatch feeds …`` needs neither the HTTP client nor the
classifier.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import store
from monitors.errors import ConfigError


@dataclass(frozen=True, slots=True)
class DefaultFeed:
    """One ``[[feed]]`` table of a feeds file (the keys are documented in config/feeds.toml)."""

    url: str
    title: str | None
    enabled: bool
    country: str | None = None  # the state a ministry's or armed force's feed speaks for
    language: str | None = None
    topic: str | None = None
    region: str | None = None
    note: str | None = None


# The keys a [[feed]] table may have, with their type; any other key is an error, as in the
# settings file (a misspelt "enabeld" must not silently enable a feed).
FEED_KEYS: dict[str, type] = {
    "url": str,
    "title": str,
    "enabled": bool,
    "country": str,
    "language": str,
    "topic": str,
    "region": str,
    "note": str,
}


def load_feed_list(path: Path) -> list[DefaultFeed]:
    """Read a feeds TOML file: ``[[feed]]`` tables of ``FEED_KEYS``; anything else is a
    ConfigError naming the file and the key."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    for key in data:
        if key != "feed":
            raise ConfigError(f"{path}: unknown key {key} (only [[feed]] tables)")
    return [_feed(path, index, item) for index, item in enumerate(data.get("feed", []))]


def _feed(path: Path, index: int, item: object) -> DefaultFeed:
    where = f"{path}: feed[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be a [[feed]] table")
    for key, value in item.items():
        expected = FEED_KEYS.get(key)
        if expected is None:
            raise ConfigError(f"{where}: unknown key {key}")
        if not isinstance(value, expected):
            raise ConfigError(f"{where}.{key} has the wrong type ({value!r})")
    url = item.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"{where}.url must be an http(s) URL")
    country = item.get("country")
    if country is not None and not (len(country) == 2 and country.isalpha()):
        raise ConfigError(f'{where}.country must be an ISO code like "US"')
    return DefaultFeed(
        url,
        item.get("title"),
        item.get("enabled", True),
        country.upper() if country else None,
        item.get("language"),
        item.get("topic"),
        item.get("region"),
        item.get("note"),
    )


async def seed_default_feeds(sessions: async_sessionmaker[AsyncSession], path: Path) -> int:
    feeds = load_feed_list(path)
    async with sessions.begin() as session:
        added = await store.seed_feeds_once(
            session, ((f.url, f.title, f.enabled, f.country) for f in feeds), datetime.now(UTC)
        )
        # Databases seeded before feeds had a country learn it for the listed feeds.
        await store.fill_feed_countries(session, {f.url: f.country for f in feeds if f.country})
        return added
