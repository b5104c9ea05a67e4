"""parse_feed (and fetch + parse) over real-world and feedparser test corpora.

The corpora live in ``../shared/corpora`` beside the repository (read-only reference data,
see ``real-feeds/SOURCES.md``); the whole module is skipped when they are absent.
"""

from __future__ import annotations

import functools
import gzip
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitors.domain import ParsedFeed
from monitors.errors import NotAFeed
from monitors.fetch import Fetcher, FetchLimits
from monitors.parse import MAX_KEY_CHARS, MAX_SUMMARY_CHARS, MAX_TITLE_CHARS, parse_feed
from tests.feedserver import FeedServer, content_type_for

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL_FEEDS = SHARED / "corpora" / "real-feeds"
FEEDPARSER_TESTS = SHARED / "corpora" / "feedparser-tests"
FETCHED_AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

pytestmark = pytest.mark.skipif(
    not REAL_FEEDS.is_dir(), reason=f"shared corpora not found at {SHARED} (read-only reference)"
)


def _real_feed_files() -> list[Path]:
    """Every document of the corpus (SOURCES.md, the corpus's own notes, excluded)."""
    if not REAL_FEEDS.is_dir():
        return []
    return sorted(p for p in REAL_FEEDS.iterdir() if p.is_file() and p.suffix != ".md")


def _body(path: Path) -> bytes:
    raw = path.read_bytes()
    return gzip.decompress(raw) if path.suffix == ".gz" else raw


@functools.cache
def _parsed(path: Path) -> ParsedFeed:
    """A corpus document parsed once per session (read only: ParsedFeed is frozen)."""
    return parse_feed(
        _body(path), url="https://example.org/feed", fetched_at=FETCHED_AT,
        content_type=content_type_for(path),
    )  # fmt: skip


def _check_invariants(parsed: ParsedFeed) -> None:
    keys = [entry.entry_key for entry in parsed.entries]
    assert len(keys) == len(set(keys)), "entry keys must be unique within a document"
    for entry in parsed.entries:
        assert len(entry.title) <= MAX_TITLE_CHARS
        assert len(entry.summary) <= MAX_SUMMARY_CHARS
        assert 0 < len(entry.entry_key) <= MAX_KEY_CHARS
        assert entry.published_at.utcoffset() == timedelta(0)
        assert entry.published_at <= FETCHED_AT + timedelta(days=1)
        assert entry.url is None or entry.url.startswith(("http://", "https://"))
        assert entry.language is None or re.fullmatch(r"[a-z]{2,3}", entry.language)


@pytest.mark.parametrize("path", _real_feed_files(), ids=lambda p: p.name)
def test_real_feed_parses_or_is_not_a_feed(path: Path) -> None:
    body = _body(path)
    if path.name.startswith("notafeed-"):
        with pytest.raises(NotAFeed, match="HTML page"):
            parse_feed(body, url="https://example.org/feed", fetched_at=FETCHED_AT)
        return
    _check_invariants(_parsed(path))


@pytest.mark.parametrize(
    "path",
    [p for p in _real_feed_files() if p.suffix == ".gz"] + [REAL_FEEDS / "SOURCES.md"],
    ids=lambda p: p.name,
)
def test_undecoded_gzip_and_notes_are_not_feeds(path: Path) -> None:
    """Raw gzip bytes (a server that forgot Content-Encoding) and Markdown are NotAFeed."""
    with pytest.raises(NotAFeed):
        parse_feed(path.read_bytes(), url="https://example.org/feed", fetched_at=FETCHED_AT)


@pytest.mark.parametrize(
    ("name", "minimum", "sample"),
    [
        pytest.param("bbc-news-world.rss.xml", 30, None, id="BBC world RSS"),
        pytest.param("dw-english-all.rdf.xml", 100, None, id="DW RDF"),
        pytest.param("tpm-all-news.atom.xml", 20, None, id="TPM Atom"),
        pytest.param("kc0011-forum.gb18030.rss.xml", 20, r"[\u4e00-\u9fff]", id="GB18030"),
        pytest.param(
            "oren-ru-news.windows-1251.rss.xml",
            10,
            r"[\u0430-\u044f\u0410-\u042f]",
            id="windows-1251",
        ),
        pytest.param(
            "oren-ru-news.windows-1251.rss.xml.gz",
            10,
            r"[\u0430-\u044f\u0410-\u042f]",
            id="gzip copy",
        ),
        pytest.param("golem-de.iso-8859-1.rss.xml", 40, r"[äöüß]", id="ISO-8859-1"),
        pytest.param(
            "liberal-gr.iso-8859-7.rss.xml", 1, r"[\u03b1-\u03c9\u0391-\u03a9]", id="ISO-8859-7"
        ),
        pytest.param("londonist-large.rss.xml", 40, None, id="2.6 MB feed"),
        pytest.param("guardian-world.rss.xml", 50, None, id="bozo feed salvaged"),
    ],
)
def test_real_feed_yields_titled_entries(name: str, minimum: int, sample: str | None) -> None:
    parsed = _parsed(REAL_FEEDS / name)
    assert len(parsed.entries) >= minimum
    assert all(entry.title for entry in parsed.entries)
    text = " ".join(entry.title + " " + entry.summary for entry in parsed.entries)
    assert "Ã" not in text and "\ufffd" not in text, "mojibake: wrong charset"
    if sample:
        assert re.search(sample, text)


def test_bbc_entries_look_right() -> None:
    parsed = parse_feed(
        (REAL_FEEDS / "bbc-news-world.rss.xml").read_bytes(),
        url="https://feeds.bbci.co.uk/news/world/rss.xml",
        fetched_at=FETCHED_AT,
    )
    assert parsed.language == "en"
    first = parsed.entries[0]
    assert first.url and first.url.startswith("https://www.bbc.co")
    assert "#" not in first.url
    assert first.published_at < FETCHED_AT


@pytest.mark.slow
async def test_fetch_every_real_feed_over_http(feed_server: FeedServer) -> None:
    """The whole corpus through the real fetcher: bodies arrive intact, gzip ones decoded.

    Parsing every body again would double the runtime; the gzip-served and not-a-feed files
    are parsed here, all others are parsed by ``test_real_feed_parses_or_is_not_a_feed``.
    """
    urls = feed_server.serve_folder(REAL_FEEDS)
    async with Fetcher(FetchLimits(total_timeout=10)) as fetcher:
        for path in _real_feed_files():
            result = await fetcher.fetch(urls[path.name])
            assert result.status == 200
            assert result.body == _body(path), path.name
            if path.name.startswith("notafeed-"):
                with pytest.raises(NotAFeed):
                    parse_feed(result.body, url=result.final_url, fetched_at=FETCHED_AT)
            elif path.suffix == ".gz":
                parsed = parse_feed(
                    result.body,
                    url=result.final_url,
                    fetched_at=FETCHED_AT,
                    content_type=result.content_type,
                )
                _check_invariants(parsed)
                assert parsed.entries, path.name


@pytest.mark.slow
@pytest.mark.parametrize("folder", ["illformed", "wellformed", "encoding", "entities"])
def test_feedparser_corpus_never_crashes(folder: str) -> None:
    files = sorted(p for p in (FEEDPARSER_TESTS / folder).rglob("*") if p.is_file())
    if not files:
        pytest.skip(f"{FEEDPARSER_TESTS / folder} is empty or missing")
    crashes = []
    parsed_count = 0
    for path in files:
        try:
            parsed = parse_feed(
                path.read_bytes(), url="https://example.org/feed", fetched_at=FETCHED_AT
            )
        except NotAFeed:
            continue
        except Exception as exc:  # collected so that one run reports every crash
            crashes.append(f"{path.relative_to(FEEDPARSER_TESTS)}: {type(exc).__name__}: {exc}")
            continue
        _check_invariants(parsed)
        parsed_count += 1
    assert not crashes, "\n".join(crashes)
    assert parsed_count >= len(files) * 0.9, "most of feedparser's test feeds are feeds"
