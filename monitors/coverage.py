"""Which countries the feed list covers best: /start's buttons before any story is stored.

Rule: every enabled feed of the feed list (``config/feeds.toml``) counts once for each country
of its ``region`` in ``config/regions.toml``; a region with dashes counts for each known part
("caucasus-central-asia" -> caucasus, central-asia; the longest known run of parts wins).
Countries are ranked by that count, ties in the table's order.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

from config import data_path
from monitors.errors import ConfigError
from monitors.feedlist import load_feed_list

Regions = Mapping[str, tuple[str, ...]]


def region_countries(region: str, table: Regions) -> list[str]:
    """The countries of one feed region, reading dashed names as their longest known parts."""
    parts = region.lower().split("-")
    codes: list[str] = []
    start = 0
    while start < len(parts):
        for end in range(len(parts), start, -1):
            known = table.get("-".join(parts[start:end]))
            if known is not None:
                codes += [c for c in known if c not in codes]
                break
        start = end
    return codes


def rank_countries(regions: Iterable[str], table: Regions, limit: int) -> list[str]:
    """The ``limit`` countries most feeds report on, ties in the table's order."""
    order = {code: i for i, code in enumerate(c for codes in table.values() for c in codes)}
    counts = Counter(code for region in regions for code in region_countries(region, table))
    ranked = sorted(counts, key=lambda code: (-counts[code], order.get(code, len(order))))
    return ranked[:limit]


def load_regions(path: Path | None = None) -> dict[str, tuple[str, ...]]:
    with (path or data_path("regions.toml")).open("rb") as handle:
        table = tomllib.load(handle).get("regions", {})
    return {name.lower(): tuple(codes) for name, codes in table.items()}


def feed_regions(feeds_file: Path) -> list[str]:
    """The ``region`` of every enabled feed in a feed list (an invalid file: none; the
    runner refuses to start on it and names the file and key)."""
    try:
        feeds = load_feed_list(feeds_file)
    except ConfigError:
        return []
    return [feed.region for feed in feeds if feed.enabled and feed.region]


@cache
def covered_countries(feeds_file: Path, limit: int = 6) -> tuple[str, ...]:
    """The best covered countries of a feed list (read once per process)."""
    return tuple(rank_countries(feed_regions(feeds_file), load_regions(), limit))
