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
    url: str
    title: str | None
    enabled: bool
    country: str | None = None  # the state a ministry's or armed force's feed speaks for


def load_feed_list(path: Path) -> list[DefaultFeed]:
    """Read a feeds TOML file (``[[feed]]`` tables with ``url``, ``title``, ``enabled``)."""
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    feeds = []
    for index, item in enumerate(data.get("feed", [])):
        url = item.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError(f"{path}: feed[{index}].url must be an http(s) URL")
        country = item.get("country")
        if country is not None and not (
            isinstance(country, str) and len(country) == 2 and country.isalpha()
        ):
            raise ConfigError(f'{path}: feed[{index}].country must be an ISO code like "US"')
        feeds.append(
            DefaultFeed(
                url,
                item.get("title"),
                bool(item.get("enabled", True)),
                country.upper() if country else None,
            )
        )
    return feeds


async def seed_default_feeds(sessions: async_sessionmaker[AsyncSession], path: Path) -> int:
    feeds = load_feed_list(path)
    async with sessions.begin() as session:
        added = await store.seed_feeds_once(
            session, ((f.url, f.title, f.enabled, f.country) for f in feeds), datetime.now(UTC)
        )
        # Databases seeded before feeds had a country learn it for the listed feeds.
        await store.fill_feed_countries(session, {f.url: f.country for f in feeds if f.country})
        return added
