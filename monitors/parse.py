"""Turn the bytes of one feed document into a :class:`ParsedFeed`. Pure and synchronous.

Rules:

* feedparser only ever sees bytes (wrapped in ``BytesIO``), so it never fetches a URL or
  opens a file. Before it does, the DOCTYPE (with any internal subset) is removed from the
  prolog: no entity declarations means no external entities (file / network reads) and no
  entity expansion bombs ("billion laughs"). feedparser also disables external general
  entities and drops unsafe ENTITY declarations itself; this is a second wall.
* Ill-formed feeds are salvaged: whatever entries feedparser recovered are kept, and the
  bozo reason goes into ``ParsedFeed.problem``.
* A document that is not a feed at all (empty body, HTML page, parked domain, JavaScript
  redirect) raises :class:`NotAFeed` with a message that says what it looked like.
* Hostile feeds cannot bloat storage or burn CPU: at most :data:`MAX_ENTRIES` entries (the
  document is cut before feedparser sees more, see :func:`cut_after_entries`), titles capped at
  :data:`MAX_TITLE_CHARS` and summaries at :data:`MAX_SUMMARY_CHARS`, entry keys bounded.
* Only the charset of ``content_type`` is used (see :func:`_content_type_for_parser`).
* Every entry is normalised: plain text, canonical http(s) URL (tracking params dropped),
  aware UTC ``published_at`` (fetch time when absent; clamped when more than a day in the
  future), lowercased primary language subtag, and a stable ``entry_key``.
"""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import feedparser

from monitors.domain import NormalisedEntry, ParsedFeed
from monitors.errors import NotAFeed

MAX_ENTRIES = 500
MAX_TITLE_CHARS = 300
MAX_SUMMARY_CHARS = 2000
MAX_KEY_CHARS = 500
MAX_PROBLEM_CHARS = 300
# plain_text is linear, but there is no point stripping a megabyte of content:encoded HTML
# to keep 2000 characters of it.
_MAX_HTML_INPUT_CHARS = 200_000
FUTURE_TOLERANCE = timedelta(days=1)

# Query parameters that only track the reader; removing them makes one story one URL.
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "twclid", "igshid",
        "mc_cid", "mc_eid", "ref", "ref_src", "ref_url", "ocid", "cmpid", "cmp", "icid",
        "_ga", "_gl", "mkt_tok", "smid", "smtyp", "sr_share", "ito", "at_medium",
        "at_campaign", "taid", "wt.mc_id", "ns_mchannel", "ns_source", "ns_campaign",
        "ns_linkname", "ns_fee", "xtor", "rss", "rssfeed", "feed_id", "__twitter_impression",
    }
)  # fmt: skip
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_")
DEFAULT_PORTS = {"http": 80, "https": 443}
WEB_SCHEMES = frozenset({"http", "https"})

_WHITESPACE = re.compile(r"\s+")
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LANGUAGE = re.compile(r"[a-z]{2,3}")
# Start tags of entries (any namespace prefix); used only to cut oversized documents.
_ENTRY_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s>/]", re.IGNORECASE)
_HTML_ROOT = re.compile(rb"<(?:!doctype\s+html|html[\s>]|head[\s>]|body[\s>])", re.IGNORECASE)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_REDIRECT_HINT = re.compile(
    rb"window\.location|location\.(?:href|replace)|http-equiv\s*=\s*[\"']?refresh", re.IGNORECASE
)
_CHARSET = re.compile(r"charset\s*=\s*([\"']?[A-Za-z0-9._:-]+)", re.IGNORECASE)
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


# --- plain text ------------------------------------------------------------------------------


class _TextExtractor(HTMLParser):
    """Collects text nodes; drops script/style contents; block tags become spaces."""

    _SKIP = frozenset({"script", "style", "noscript", "template", "iframe", "object"})
    # Tags that separate words; inline tags (b, i, a, span, ...) must not: "<b>began</b>."
    _BREAKS = frozenset(
        {
            "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt",
            "figcaption", "figure", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header",
            "hr", "img", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td",
            "th", "tr", "ul",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIP:
            self._skip_depth += 1
        if tag in self._BREAKS or tag in self._SKIP:
            self.parts.append(" ")  # "<p>a</p><p>b</p>" must read "a b", not "ab"

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIP and self._skip_depth:
            self._skip_depth -= 1
        if tag in self._BREAKS or tag in self._SKIP:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


def fold_whitespace(text: str) -> str:
    """Collapse runs of whitespace (incl. NBSP) to one space, drop control chars, strip."""
    return _WHITESPACE.sub(" ", _CONTROL_CHARS.sub(" ", text)).strip()


def plain_text(html: str) -> str:
    """Visible text of an HTML fragment: tags stripped, entities decoded, whitespace folded."""
    if "<" not in html and "&" not in html:
        return fold_whitespace(html)
    extractor = _TextExtractor()
    extractor.feed(html[:_MAX_HTML_INPUT_CHARS])
    extractor.close()
    return fold_whitespace("".join(extractor.parts))


def truncate(text: str, limit: int) -> str:
    """``text`` cut to at most ``limit`` characters, on a word boundary when one is near."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.8:
        cut = cut[:space]
    return cut.rstrip() + "…"


# --- URLs and keys ---------------------------------------------------------------------------


def _is_tracking_param(name: str) -> bool:
    name = name.lower()
    return name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)


def _clean_query(query: str) -> str:
    # Filter the raw pairs rather than re-encoding them, so kept values stay byte-identical.
    kept = [
        pair for pair in query.split("&") if pair and not _is_tracking_param(pair.split("=")[0])
    ]
    return "&".join(kept)


def canonical_url(url: str, base: str | None = None) -> str:
    """Absolute URL with lowercase scheme/host, no default port, no fragment, no tracking params.

    Other query parameters are kept in their original order and spelling.
    """
    url = url.strip()
    if base:
        url = urljoin(base, url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    try:
        port = parts.port
    except ValueError:  # a non-numeric port: keep what was written
        port = None
    netloc = host
    if ":" in host:  # IPv6 literal
        netloc = f"[{host}]"
    if port is not None and DEFAULT_PORTS.get(scheme) != port:
        netloc = f"{netloc}:{port}"
    if parts.username is not None:
        userinfo = parts.username + (f":{parts.password}" if parts.password is not None else "")
        netloc = f"{userinfo}@{netloc}"
    path = parts.path
    if not path and scheme in WEB_SCHEMES:
        path = "/"
    return urlunsplit((scheme, netloc, path, _clean_query(parts.query), ""))


def _sha256_key(text: str) -> str:
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def entry_key(guid: str | None, link: str | None, title: str, summary: str) -> str:
    """Stable identity of an entry: its guid, else its canonical link, else a content hash.

    Keys longer than :data:`MAX_KEY_CHARS` are replaced by their sha256 so that a hostile
    feed cannot store megabyte keys.
    """
    guid = (guid or "").strip()
    if guid:
        key = guid
    elif link and link.strip():
        key = canonical_url(link)
    else:
        key = _sha256_key(f"{title}\n{summary}")
    return key if len(key) <= MAX_KEY_CHARS else _sha256_key(key)


# --- dates and languages ---------------------------------------------------------------------


def published_at(entry: Mapping[str, Any], *, fetched_at: datetime) -> datetime:
    """Aware UTC time of an entry from feedparser's parsed structs (already UTC).

    Missing or unusable dates fall back to ``fetched_at``; dates more than a day in the future
    (bad clocks, scheduled posts) are clamped to ``fetched_at``.
    """
    fetched_at = fetched_at.astimezone(UTC)
    for field in ("published_parsed", "updated_parsed", "created_parsed"):
        # dict.get, not entry.get: FeedParserDict would alias a missing published_parsed to
        # updated_parsed with a DeprecationWarning; we choose the fallback order ourselves.
        struct = dict.get(entry, field) if isinstance(entry, dict) else entry.get(field)
        if not struct:
            continue
        try:
            year, month, day, hour, minute, second = struct[:6]
            when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
        except (TypeError, ValueError, OverflowError):
            continue
        return fetched_at if when > fetched_at + FUTURE_TOLERANCE else when
    return fetched_at


def normalise_language(tag: str | None) -> str | None:
    """``"en-US"`` -> ``"en"``; None for anything that is not a language subtag."""
    if not tag:
        return None
    primary = re.split(r"[-_]", tag.strip().lower(), maxsplit=1)[0]
    return primary if _LANGUAGE.fullmatch(primary) else None


def _entry_language(entry: Mapping[str, Any]) -> str | None:
    for field in ("title_detail", "summary_detail"):
        detail = entry.get(field) or {}
        language = normalise_language(detail.get("language"))
        if language:
            return language
    return normalise_language(entry.get("language"))


# --- entries ---------------------------------------------------------------------------------


def _text_of(detail: Mapping[str, Any] | None, value: str) -> str:
    # feedparser marks plain-text content as text/plain; running an HTML stripper over it
    # would eat "a <b" or "Vector<int>".
    content_type = (detail or {}).get("type", "text/html")
    if content_type in _HTML_TYPES or content_type.endswith("+xml"):
        return plain_text(value)
    return fold_whitespace(value)


def _summary_source(entry: Mapping[str, Any]) -> tuple[Mapping[str, Any] | None, str]:
    if entry.get("summary"):
        return entry.get("summary_detail"), entry["summary"]
    for content in entry.get("content") or ():
        if content.get("value"):
            return content, content["value"]
    return None, ""


def _web_link(entry: Mapping[str, Any], base: str) -> str | None:
    link = entry.get("link")
    if not link:
        return None
    try:
        url = canonical_url(link, base=base)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    return url if urlsplit(url).scheme in WEB_SCHEMES else None


def normalise_entry(
    entry: Mapping[str, Any], *, url: str, fetched_at: datetime, feed_language: str | None
) -> NormalisedEntry | None:
    """One feedparser entry as a :class:`NormalisedEntry`, or None when it carries nothing."""
    title = truncate(_text_of(entry.get("title_detail"), entry.get("title") or ""), MAX_TITLE_CHARS)
    summary_detail, summary_raw = _summary_source(entry)
    summary = truncate(_text_of(summary_detail, summary_raw), MAX_SUMMARY_CHARS)
    link = _web_link(entry, url)
    if not (title or summary or link):
        return None
    return NormalisedEntry(
        entry_key=entry_key(entry.get("id"), link, title, summary),
        url=link,
        title=title,
        summary=summary,
        published_at=published_at(entry, fetched_at=fetched_at),
        language=_entry_language(entry) or feed_language,
    )


# --- documents -------------------------------------------------------------------------------


def _doctype_end(body: bytes, start: int) -> int:
    """Index just past the DOCTYPE at ``start``; aware of quotes, comments, internal subset."""
    quote: int | None = None
    in_subset = False
    index = start + len(b"<!DOCTYPE")
    while index < len(body):
        char = body[index]
        if quote is not None:
            quote = None if char == quote else quote
        elif char in b"\"'":
            quote = char
        elif in_subset and body.startswith(b"<!--", index):
            end = body.find(b"-->", index)
            index = len(body) if end < 0 else end + 2  # + 1 below
        elif char == ord("["):
            in_subset = True
        elif char == ord("]"):
            in_subset = False
        elif char == ord(">") and not in_subset:
            return index + 1
        index += 1
    return len(body)  # unterminated: the rest is not a usable document anyway


def strip_doctype(body: bytes) -> bytes:
    """``body`` without the DOCTYPE declaration (and its internal subset) of its prolog.

    Scans the prolog (BOM, whitespace, ``<?...?>``, comments) up to the first element, so a
    ``<!DOCTYPE`` inside a comment or inside the content is left alone. UTF-16/32 documents
    are not scanned; for them feedparser's own DOCTYPE filter and expat's limits remain.
    """
    kept: list[bytes] = []
    copied_up_to = 0
    index = 3 if body.startswith(b"\xef\xbb\xbf") else 0
    while index < len(body):
        if body[index : index + 1].isspace():
            index += 1
        elif body.startswith(b"<?", index):
            end = body.find(b"?>", index)
            index = len(body) if end < 0 else end + 2
        elif body.startswith(b"<!--", index):
            end = body.find(b"-->", index)
            index = len(body) if end < 0 else end + 3
        elif body[index : index + 9].upper() == b"<!DOCTYPE":
            kept.append(body[copied_up_to:index])
            index = copied_up_to = _doctype_end(body, index)
        else:
            break
    if not kept:
        return body
    return b"".join(kept) + body[copied_up_to:]


def _describe_non_feed(body: bytes) -> str:
    sample = body[:65536]
    if _HTML_ROOT.search(sample):
        if _REDIRECT_HINT.search(sample):
            return "an HTML page with a JavaScript or meta-refresh redirect, not a feed"
        title = _HTML_TITLE.search(sample)
        if title:
            text = fold_whitespace(title.group(1).decode("utf-8", "replace"))[:80]
            return f"an HTML page (title {text!r}), not a feed"
        return "an HTML page, not a feed"
    return "no RSS, Atom or RDF document found"


def cut_after_entries(body: bytes, limit: int = MAX_ENTRIES) -> bytes | None:
    """``body`` cut just before its entry number ``limit + 1``, or None if it has no more.

    feedparser spends ~0.25 ms per entry, so a 10 MB document of tiny items would cost half a
    minute of CPU for entries we would drop anyway. The cut document is ill-formed at its end,
    which feedparser salvages. (Byte-level scan: UTF-16/32 documents are not cut.)
    """
    for count, match in enumerate(_ENTRY_START.finditer(body), start=1):
        if count > limit:
            return body[: match.start()]
    return None


def _problem(result: Mapping[str, Any], *, cut: bool, dropped: int) -> str | None:
    if cut:  # the bozo exception is then just the cut itself
        note = f"more than {MAX_ENTRIES} entries: the document was cut after entry {MAX_ENTRIES}"
        return truncate(note, MAX_PROBLEM_CHARS)
    notes = []
    if result.get("bozo"):
        exc = result.get("bozo_exception")
        notes.append(f"{type(exc).__name__}: {exc}" if exc else "ill-formed feed")
    if dropped:
        notes.append(f"{dropped} entries beyond the first {MAX_ENTRIES} dropped")
    return truncate(fold_whitespace("; ".join(notes)), MAX_PROBLEM_CHARS) if notes else None


def _content_type_for_parser(content_type: str | None) -> str:
    """``application/xml`` plus the server's charset, if it named one.

    Only the charset of the server's Content-Type is worth anything: many servers label feeds
    text/html or text/plain, and feedparser would apply the obsolete RFC 3023 rule (a text/*
    type without charset is us-ascii) or flag a non-XML type, although the document is fine.
    """
    match = _CHARSET.search(content_type or "")
    charset = match.group(1).strip("\"' ") if match else ""
    return f"application/xml; charset={charset}" if charset else "application/xml"


def _run_feedparser(body: bytes, *, url: str, content_type: str | None) -> Any:
    headers = {"content-location": url, "content-type": _content_type_for_parser(content_type)}
    try:
        # BytesIO, never a str: given a str, feedparser would treat it as a URL or file name.
        # We keep plain text only, so feedparser's HTML sanitizer and relative-URI rewriting
        # of content would be wasted work (seconds on a megabyte of markup).
        return feedparser.parse(
            io.BytesIO(strip_doctype(body)),
            response_headers=headers,
            sanitize_html=False,
            resolve_relative_uris=False,
        )
    except Exception as exc:
        # feedparser is third-party code on hostile input; a crash in it means we cannot read
        # this document, which is exactly what NotAFeed records (and backs off on).
        raise NotAFeed(f"{url}: the feed parser failed: {type(exc).__name__}: {exc}") from exc


def parse_feed(
    body: bytes, *, url: str, fetched_at: datetime, content_type: str | None = None
) -> ParsedFeed:
    """Parse and normalise one feed document; raise :class:`NotAFeed` if it is not a feed."""
    if not body.strip():
        raise NotAFeed(f"{url}: empty body, not a feed")
    cut_body = cut_after_entries(body)
    result = _run_feedparser(cut_body or body, url=url, content_type=content_type)
    raw_entries = result.get("entries") or []
    if not result.get("version") and not raw_entries:
        raise NotAFeed(f"{url}: {_describe_non_feed(body)}")
    feed = result.get("feed") or {}
    feed_language = normalise_language(feed.get("language")) or normalise_language(
        (feed.get("title_detail") or {}).get("language")
    )
    entries: list[NormalisedEntry] = []
    seen: set[str] = set()
    for raw in raw_entries[:MAX_ENTRIES]:
        entry = normalise_entry(raw, url=url, fetched_at=fetched_at, feed_language=feed_language)
        if entry is not None and entry.entry_key not in seen:
            seen.add(entry.entry_key)
            entries.append(entry)
    title = _text_of(feed.get("title_detail"), feed.get("title") or "")
    return ParsedFeed(
        title=truncate(title, MAX_TITLE_CHARS) or None,
        language=feed_language,
        entries=tuple(entries),
        problem=_problem(
            result, cut=cut_body is not None, dropped=max(0, len(raw_entries) - MAX_ENTRIES)
        ),
    )
