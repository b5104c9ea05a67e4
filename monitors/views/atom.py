"""Stories as an Atom 1.0 feed per country or per named watchlist (RFC 4287).

Rules:
- A target is a named watchlist when the text names one (names win), else a country (name,
  demonym or ISO code).
- A country's feed: its newest defence-cooperation stories. A watchlist's feed: the newest
  stories of the last ``WATCHLIST_LOOKBACK_DAYS`` days that the watchlist matches (the same
  rule as its alerts). At most ``limit`` entries, newest first.
- Ids are stable ``tag:`` URIs (story id, country code or list name); ``updated`` is when
  defwatch last saw the story. Text is stripped of characters XML 1.0 forbids.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from xml.etree import ElementTree as ET

from sqlalchemy.ext.asyncio import AsyncSession

from monitors import store
from monitors.domain import StoryView
from monitors.views.arguments import DEFAULT_ENTRIES
from monitors.views.labels import TYPE_LABELS
from monitors.watchlists import Watchlist, matching_lists

ATOM_NS = "http://www.w3.org/2005/Atom"
TAG = "tag:defwatch.invalid,2024"
WATCHLIST_LOOKBACK_DAYS = 90
WATCHLIST_SCAN = 5000
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True)
class Target:
    kind: str  # "country" | "watchlist"
    key: str  # ISO code or watchlist name
    title: str
    watchlist: Watchlist | None = None


def resolve_target(
    text: str,
    resolve: Callable[[str], str],
    name: Callable[[str], str],
    lists: Mapping[str, Watchlist],
) -> Target:
    """A watchlist if ``text`` names one, else a country (``UnknownCountry`` if neither)."""
    wanted = text.strip().lower()
    if wanted in lists:
        watchlist = lists[wanted]
        return Target("watchlist", wanted, watchlist.description or wanted, watchlist)
    code = resolve(text.strip())
    return Target("country", code, f"{name(code)} ({code})")


async def target_stories(
    session: AsyncSession, target: Target, *, now: datetime, limit: int = DEFAULT_ENTRIES
) -> list[StoryView]:
    """The stories of ``target``'s feed, newest first (see the module rules)."""
    if target.watchlist is None:
        return await store.latest_stories(session, [target.key], limit=limit, cooperation_only=True)
    watchlist = target.watchlist
    recent = await store.recent_stories(
        session,
        since=now - timedelta(days=WATCHLIST_LOOKBACK_DAYS),
        cooperation_only=watchlist.scope == "cooperation",
        limit=WATCHLIST_SCAN,
    )
    lists = {watchlist.name: watchlist}
    matched = [view for view in recent if matching_lists(view.for_alert(), lists)]
    return matched[:limit]


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _add(parent: ET.Element, tag: str, text: str | None = None, **attributes: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{tag}", attributes)
    if text is not None:
        element.text = _clean(text)
    return element


def atom_document(
    target: Target,
    stories: Sequence[StoryView],
    *,
    now: datetime,
    name: Callable[[str], str],
    self_url: str | None = None,
) -> bytes:
    """The Atom XML of ``stories`` (sorted newest first here, whatever order they come in)."""
    ordered = sorted(stories, key=lambda s: (s.published_at, s.id), reverse=True)
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _add(feed, "id", f"{TAG}:{target.kind}/{target.key}")
    _add(feed, "title", f"defwatch: {target.title}")
    _add(feed, "subtitle", "Defence-cooperation stories collected by defwatch")
    _add(feed, "updated", (ordered[0].published_at if ordered else now).isoformat())
    author = _add(feed, "author")
    _add(author, "name", "defwatch")
    _add(feed, "generator", "defwatch")
    if self_url:
        _add(feed, "link", rel="self", href=self_url, type="application/atom+xml")
    for story in ordered:
        entry = _add(feed, "entry")
        _add(entry, "id", f"{TAG}:story/{story.id}")
        _add(entry, "title", story.title)
        _add(entry, "published", story.published_at.isoformat())
        _add(
            entry,
            "updated",
            max([story.published_at, *(o.published_at for o in story.outlets)]).isoformat(),
        )
        if story.url:
            _add(entry, "link", rel="alternate", href=_clean(story.url))
        for outlet in story.outlets:
            if outlet.url and outlet.url != story.url:
                _add(
                    entry,
                    "link",
                    rel="related",
                    href=_clean(outlet.url),
                    title=_clean(outlet.feed_title),
                )
        if story.cooperation_type:
            _add(
                entry,
                "category",
                term=story.cooperation_type,
                label=TYPE_LABELS.get(story.cooperation_type, story.cooperation_type),
            )
        for code in story.participants:
            _add(entry, "category", term=code, label=name(code), scheme="urn:iso:std:iso:3166")
        outlets = ", ".join(dict.fromkeys(o.feed_title for o in story.outlets))
        countries = " - ".join(story.participants) or "?"
        summary = f"{countries}: {story.summary}".strip()
        if outlets:
            summary += f"\n\nReported by: {outlets}"
        _add(entry, "summary", summary, type="text")
    return ET.tostring(feed, encoding="utf-8", xml_declaration=True) + b"\n"
