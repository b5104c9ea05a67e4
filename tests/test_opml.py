"""monitors.opml: parsing, nesting, round trip, the shipped directory, clear errors."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from config import data_path
from monitors.errors import ConfigError
from monitors.opml import OpmlFeed, export_opml, parse_opml

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
DIRECTORY_OPML = SHARED / "corpora" / "feed-directory.opml"

NESTED = b"""<?xml version="1.0" encoding="utf-8"?>
<opml version="2.0">
  <head><title>My feeds</title></head>
  <body>
    <outline text="Top-level feed" xmlUrl="https://a.example/rss"/>
    <outline text="Defence">
      <outline text="Turkey">
        <outline type="rss" text="SavunmaSanayiST" xmlUrl="https://b.example/feed/"/>
      </outline>
      <outline type="rss" title="Naval News" text="ignored" xmlUrl="https://c.example/feed/"/>
      <outline type="rss" text="Tagged" category="wires" xmlUrl="https://d.example/feed"/>
    </outline>
    <outline text="Empty folder"/>
    <outline text="Duplicate" xmlUrl="https://a.example/rss"/>
    <outline xmlUrl="https://e.example/untitled.xml"/>
  </body>
</opml>"""


def test_nested_outlines() -> None:
    assert parse_opml(NESTED) == [
        OpmlFeed("https://a.example/rss", "Top-level feed", None),
        OpmlFeed("https://b.example/feed/", "SavunmaSanayiST", "Defence/Turkey"),
        OpmlFeed("https://c.example/feed/", "Naval News", "Defence"),
        OpmlFeed("https://d.example/feed", "Tagged", "wires"),
        OpmlFeed("https://e.example/untitled.xml", "https://e.example/untitled.xml", None),
    ]


def test_round_trip() -> None:
    feeds = [
        OpmlFeed("https://a.example/rss", "A & B <news>", "defence"),
        OpmlFeed("https://b.example/rss?x=1&y=2", "Ünïcödé \u2013 新闻", "defence"),
        OpmlFeed("https://c.example/rss", "No category", None),
        OpmlFeed("https://d.example/rss", "Nested", "regional/caucasus"),
        OpmlFeed("https://e.example/rss", "Back to defence", "defence"),
    ]
    document = export_opml(feeds, title="test list")
    assert document.startswith(b"<?xml")
    assert b'<opml version="2.0">' in document
    assert b"<title>test list</title>" in document
    assert parse_opml(document) == feeds


_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Cn")), min_size=1, max_size=30
).filter(lambda s: s.strip() == s and s.strip())


@given(
    st.lists(
        st.tuples(_text, st.none() | _text),
        max_size=8,
    )
)
def test_round_trip_property(rows: list[tuple[str, str | None]]) -> None:
    feeds = [
        OpmlFeed(f"https://feeds.example/{i}", title, category)
        for i, (title, category) in enumerate(rows)
    ]
    assert parse_opml(export_opml(feeds)) == feeds


@pytest.mark.skipif(not DIRECTORY_OPML.exists(), reason="shared corpora not available")
def test_shipped_feed_directory_parses() -> None:
    feeds = parse_opml(DIRECTORY_OPML.read_bytes(), source=str(DIRECTORY_OPML))
    assert len(feeds) >= 150
    assert all(feed.url.startswith(("http://", "https://")) for feed in feeds)
    assert {feed.category for feed in feeds} >= {"defence", "regional", "world"}
    assert any("defensenews.com" in feed.url for feed in feeds)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "not well-formed", id="empty"),
        pytest.param(b"<opml><body><outline></body></opml>", "not well-formed", id="broken xml"),
        pytest.param(b"<rss version='2.0'/>", "expected <opml>", id="wrong root"),
        pytest.param(b"<opml version='2.0'><head/></opml>", "no <body>", id="no body"),
        pytest.param(
            b"<opml><body><outline text='x' xmlUrl='file:///etc/passwd'/></body></opml>",
            "not http",
            id="file url",
        ),
        pytest.param(
            b"<opml><body><outline text='x' xmlUrl=''/></body></opml>", "not http", id="empty url"
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE opml [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
            b"<opml><body><outline text='&b;' xmlUrl='https://x.example/'/></body></opml>",
            "forbidden",
            id="entity declarations",
        ),
        pytest.param(
            b'<?xml version="1.0"?><!DOCTYPE opml SYSTEM "file:///etc/passwd"><opml><body/></opml>',
            "forbidden",
            id="external dtd",
        ),
    ],
)
def test_malformed_opml_raises_config_error(data: bytes, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_opml(data, source="feeds.opml")
    assert str(caught.value).startswith("feeds.opml:")


def test_empty_body_is_an_empty_list() -> None:
    assert parse_opml(b"<opml version='2.0'><body/></opml>") == []


def test_shipped_feeds_toml_is_valid_and_exports_to_opml() -> None:
    """config/feeds.toml: valid TOML, sane fields, no duplicates, round trips through OPML."""
    feeds = tomllib.loads(data_path("feeds.toml").read_text(encoding="utf-8"))["feed"]
    urls = [feed["url"] for feed in feeds]
    assert len(urls) == len(set(urls)), "duplicate feed URLs"
    for feed in feeds:
        assert set(feed) <= {
            "url",
            "title",
            "language",
            "country",
            "topic",
            "region",
            "enabled",
            "note",
        }
        assert re.fullmatch(r"[A-Z]{2}", feed.get("country", "US"))
        assert feed["url"].startswith(("http://", "https://"))
        assert feed["title"] and feed["region"]
        assert re.fullmatch(r"[a-z]{2}", feed["language"])
        assert feed["topic"] in {"defence", "regional", "world"}
        if not feed.get("enabled", True):
            assert feed.get("note"), f"disabled feed without a note: {feed['url']}"
    enabled = [feed for feed in feeds if feed.get("enabled", True)]
    assert 40 <= len(enabled) <= 70
    assert any(feed.get("country") == "US" for feed in enabled), "ministry feeds name their state"
    as_opml = [OpmlFeed(f["url"], f["title"], f["topic"], f.get("country")) for f in feeds]
    assert parse_opml(export_opml(as_opml)) == as_opml


@pytest.mark.parametrize(
    ("attribute", "expected"),
    [("US", "US"), ("gb", "GB"), ("", None)],
    ids=["upper-case", "lower-case-normalised", "empty-means-none"],
)
def test_country_attribute_names_the_state_a_feed_speaks_for(
    attribute: str, expected: str | None
) -> None:
    data = (
        '<opml version="2.0"><body><outline text="Navy" xmlUrl="https://navy.example/rss" '
        f'country="{attribute}"/></body></opml>'
    ).encode()
    assert parse_opml(data)[0].country == expected


def test_bad_country_attribute_is_refused_with_the_outline_named() -> None:
    data = b'<opml><body><outline text="Navy" xmlUrl="https://n.example/rss" country="USA"/></body></opml>'
    with pytest.raises(ConfigError, match=r"Navy.*USA"):
        parse_opml(data)
