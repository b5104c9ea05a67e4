"""Read and write OPML 2.0 feed lists (import from / export to feed readers).

Rules:

* Parsing uses ``defusedxml`` with DTDs forbidden: no entity expansion, no external entities.
* Every ``<outline>`` with an ``xmlUrl`` is a feed, however deeply nested; outlines without one
  are folders. A feed's ``category`` is its own ``category`` attribute when present, else the
  path of its folders' titles joined by ``/`` (``"Defence/Turkey"``), else None.
* A feed's ``country`` attribute (ISO 3166-1 alpha-2, e.g. ``country="US"``) names the state a
  ministry's or armed force's own feed speaks for; anything but two letters is refused.
* Feed URLs must be http(s); the first occurrence of a URL wins, later duplicates are dropped.
* Anything unreadable raises :class:`ConfigError` naming the source and the problem.
* ``export_opml`` writes consecutive feeds of one category into one folder outline, so
  ``parse_opml(export_opml(feeds)) == feeds`` (order and categories survive the round trip).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import groupby
from urllib.parse import urlsplit

import defusedxml
import defusedxml.ElementTree as SafeET

from monitors.errors import ConfigError

_WEB_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    """One feed of an OPML list."""

    url: str
    title: str
    category: str | None = None
    country: str | None = None  # ISO alpha-2 of the state the feed speaks for


def _label(outline: ET.Element) -> str:
    return (outline.get("title") or outline.get("text") or "").strip()


def _walk(parent: ET.Element, folders: tuple[str, ...]) -> Iterator[tuple[ET.Element, str | None]]:
    for outline in parent.findall("outline"):
        if outline.get("xmlUrl") is not None:
            category = (outline.get("category") or "").strip() or "/".join(folders) or None
            yield outline, category
        else:
            label = _label(outline)
            yield from _walk(outline, (*folders, label) if label else folders)


def _feed_from(outline: ET.Element, category: str | None, source: str) -> OpmlFeed:
    url = (outline.get("xmlUrl") or "").strip()
    if urlsplit(url).scheme.lower() not in _WEB_SCHEMES or not urlsplit(url).netloc:
        raise ConfigError(f"{source}: outline {_label(outline)!r} has xmlUrl {url!r}, not http(s)")
    country = (outline.get("country") or "").strip().upper() or None
    if country is not None and not (len(country) == 2 and country.isascii() and country.isalpha()):
        raise ConfigError(
            f"{source}: outline {_label(outline)!r} has country {country!r}, not an ISO code"
        )
    return OpmlFeed(url=url, title=_label(outline) or url, category=category, country=country)


def _root(data: bytes, source: str) -> ET.Element:
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except defusedxml.DefusedXmlException as exc:
        raise ConfigError(f"{source}: forbidden XML construct ({exc})") from exc
    except ET.ParseError as exc:
        raise ConfigError(f"{source}: not well-formed XML ({exc})") from exc
    if root.tag != "opml":
        raise ConfigError(f"{source}: root element is <{root.tag}>, expected <opml>")
    return root


def parse_opml(data: bytes, *, source: str = "OPML document") -> list[OpmlFeed]:
    """The feeds listed in an OPML document, in document order (see module rules)."""
    body = _root(data, source).find("body")
    if body is None:
        raise ConfigError(f"{source}: no <body> element")
    feeds: list[OpmlFeed] = []
    seen: set[str] = set()
    for outline, category in _walk(body, ()):
        feed = _feed_from(outline, category, source)
        if feed.url not in seen:
            seen.add(feed.url)
            feeds.append(feed)
    return feeds


def _feed_outline(parent: ET.Element, feed: OpmlFeed) -> None:
    attributes = {"type": "rss", "text": feed.title, "title": feed.title, "xmlUrl": feed.url}
    if feed.country:
        attributes["country"] = feed.country
    ET.SubElement(parent, "outline", attributes)


def export_opml(feeds: Iterable[OpmlFeed], title: str = "defwatch feeds") -> bytes:
    """An OPML 2.0 document (UTF-8 bytes) listing ``feeds``, folders per category run."""
    root = ET.Element("opml", {"version": "2.0"})
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    for category, run in groupby(feeds, key=lambda feed: feed.category):
        parent = body
        if category:
            parent = ET.SubElement(body, "outline", {"text": category, "title": category})
        for feed in run:
            _feed_outline(parent, feed)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
