"""monitors.parse: normalisation helpers, feed formats, salvage, not-a-feed, hostile XML."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitors.domain import ParsedFeed
from monitors.errors import NotAFeed
from monitors.parse import (
    MAX_ENTRIES,
    MAX_KEY_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    canonical_url,
    cut_after_entries,
    entry_key,
    normalise_language,
    parse_feed,
    plain_text,
    published_at,
    strip_doctype,
    truncate,
)
from tests.feedserver import FeedServer

DATA = Path(__file__).parent / "data"
FETCHED_AT = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
FEED_URL = "https://news.example.org/rss/world.xml"


def parse(body: bytes | str, content_type: str | None = None) -> ParsedFeed:
    raw = body.encode("utf-8") if isinstance(body, str) else body
    return parse_feed(raw, url=FEED_URL, fetched_at=FETCHED_AT, content_type=content_type)


def rss(items: str, extra_channel: str = "", prolog: str = "") -> str:
    return (
        f'<?xml version="1.0" encoding="utf-8"?>{prolog}<rss version="2.0"><channel>'
        f"<title>Test</title><link>https://news.example.org/</link>{extra_channel}"
        f"{items}</channel></rss>"
    )


# --- plain_text ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param("plain words", "plain words", id="plain text unchanged"),
        pytest.param("<p>Hello <b>world</b></p>", "Hello world", id="tags stripped"),
        pytest.param("<p>one</p><p>two</p>", "one two", id="block tags separate words"),
        pytest.param("a<br>b", "a b", id="br separates words"),
        pytest.param("Tom &amp; Jerry &eacute;t&eacute;", "Tom & Jerry été", id="entities decoded"),
        pytest.param("&#1040;&#x0411;", "АБ", id="numeric character references"),
        pytest.param("x<script>alert('<b>')</script>y", "x y", id="script contents dropped"),
        pytest.param("<style>p{color:red}</style>text", "text", id="style contents dropped"),
        pytest.param("  lots \n\t of\u00a0 space  ", "lots of space", id="whitespace folded"),
        pytest.param("bell\x07char", "bell char", id="control chars removed"),
        pytest.param("<img src=x onerror=alert(1)>", "", id="only a tag"),
        pytest.param("", "", id="empty"),
        pytest.param("<p>unclosed <b>bold", "unclosed bold", id="unclosed tags"),
        pytest.param("a &lt;b&gt; c", "a <b> c", id="escaped markup stays text"),
    ],
)
def test_plain_text(html: str, expected: str) -> None:
    assert plain_text(html) == expected


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        pytest.param("short", 10, "short", id="under the limit"),
        pytest.param("exactly10!", 10, "exactly10!", id="at the limit"),
        pytest.param(
            "alpha beta gamma delta", 18, "alpha beta gamma…", id="cut on a near word boundary"
        ),
        pytest.param("one two three four", 12, "one two thr…", id="no near boundary: cut mid-word"),
        pytest.param("abcdefghijklmnop", 5, "abcd…", id="cut inside a long word"),
    ],
)
def test_truncate(text: str, limit: int, expected: str) -> None:
    assert truncate(text, limit) == expected
    assert len(truncate(text, limit)) <= limit


# --- canonical_url ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        pytest.param(
            "https://ex.org/a?utm_source=rss&utm_medium=feed&id=7",
            None,
            "https://ex.org/a?id=7",
            id="utm params removed",
        ),
        pytest.param(
            "https://ex.org/a?fbclid=1&gclid=2&mc_cid=3&mc_eid=4&ref=rss&ocid=5&cmpid=6",
            None,
            "https://ex.org/a",
            id="click ids and campaign params removed",
        ),
        pytest.param(
            "https://ex.org/a?b=2&a=1&UTM_Campaign=x&c=%20z",
            None,
            "https://ex.org/a?b=2&a=1&c=%20z",
            id="other params kept in order and spelling",
        ),
        pytest.param(
            "HTTPS://News.Example.ORG/Path/",
            None,
            "https://news.example.org/Path/",
            id="scheme and host lowercased, path case kept",
        ),
        pytest.param("https://ex.org/a#comments", None, "https://ex.org/a", id="fragment dropped"),
        pytest.param("http://ex.org:80/a", None, "http://ex.org/a", id="default http port removed"),
        pytest.param(
            "https://ex.org:443/a", None, "https://ex.org/a", id="default https port removed"
        ),
        pytest.param("https://ex.org:8443/a", None, "https://ex.org:8443/a", id="other port kept"),
        pytest.param("https://ex.org", None, "https://ex.org/", id="empty path becomes slash"),
        pytest.param(
            "/story/1",
            "https://ex.org/rss/feed.xml",
            "https://ex.org/story/1",
            id="relative link made absolute",
        ),
        pytest.param(
            "story/1",
            "https://ex.org/rss/feed.xml",
            "https://ex.org/rss/story/1",
            id="path-relative link",
        ),
        pytest.param(
            "//cdn.ex.org/x", "https://ex.org/", "https://cdn.ex.org/x", id="scheme-relative link"
        ),
        pytest.param(
            "  https://ex.org/a  ", None, "https://ex.org/a", id="surrounding space trimmed"
        ),
        pytest.param("https://ex.org/a?", None, "https://ex.org/a", id="empty query dropped"),
        pytest.param("http://[::1]:8080/a", None, "http://[::1]:8080/a", id="ipv6 literal"),
    ],
)
def test_canonical_url(url: str, base: str | None, expected: str) -> None:
    assert canonical_url(url, base) == expected


def test_canonical_url_is_idempotent() -> None:
    once = canonical_url("HTTP://Ex.org:80/a?utm_x=1&k=v#f")
    assert canonical_url(once) == once


# --- entry_key -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("guid", "link", "title", "summary", "expected"),
    [
        pytest.param("urn:story:1", "https://ex.org/a", "T", "S", "urn:story:1", id="guid wins"),
        pytest.param("  urn:story:1 ", None, "T", "S", "urn:story:1", id="guid trimmed"),
        pytest.param(
            None,
            "https://EX.org/a?utm_source=x",
            "T",
            "S",
            "https://ex.org/a",
            id="canonical link without guid",
        ),
        pytest.param(
            "   ", "https://ex.org/a", "T", "S", "https://ex.org/a", id="blank guid ignored"
        ),
    ],
)
def test_entry_key(
    guid: str | None, link: str | None, title: str, summary: str, expected: str
) -> None:
    assert entry_key(guid, link, title, summary) == expected


def test_entry_key_hashes_content_without_guid_or_link() -> None:
    key = entry_key(None, None, "Title", "Summary")
    assert key.startswith("sha256:") and len(key) == 7 + 64
    assert key == entry_key(None, "", "Title", "Summary")
    assert key != entry_key(None, None, "Title", "Other summary")


def test_entry_key_is_bounded() -> None:
    key = entry_key("g" * 5000, None, "", "")
    assert len(key) <= MAX_KEY_CHARS
    assert key == entry_key("g" * 5000, None, "", "")
    assert key != entry_key("g" * 4999 + "h", None, "", "")


def test_entry_keys_are_stable_across_parses() -> None:
    body = (DATA / "azerbaijan-china.rss.xml").read_bytes()
    first = parse_feed(body, url=FEED_URL, fetched_at=FETCHED_AT)
    later = parse_feed(body, url=FEED_URL, fetched_at=FETCHED_AT + timedelta(hours=3))
    assert [e.entry_key for e in first.entries] == [e.entry_key for e in later.entries]


# --- dates and languages ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        pytest.param("en-US", "en", id="region dropped"),
        pytest.param("EN_gb", "en", id="underscore and case"),
        pytest.param("az-Latn-AZ", "az", id="script subtag"),
        pytest.param("fil", "fil", id="three letters"),
        pytest.param(" tr ", "tr", id="spaces"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="none"),
        pytest.param("english", None, id="not a subtag"),
        pytest.param("x1", None, id="digits"),
    ],
)
def test_normalise_language(tag: str | None, expected: str | None) -> None:
    assert normalise_language(tag) == expected


@pytest.mark.parametrize(
    ("pub_date", "expected"),
    [
        pytest.param(
            "Tue, 24 Nov 2026 09:15:00 +0400",
            datetime(2026, 11, 24, 5, 15, tzinfo=UTC),
            id="offset converted to UTC",
        ),
        pytest.param(
            "Tue, 24 Nov 2026 09:15:00 EST",
            datetime(2026, 11, 24, 14, 15, tzinfo=UTC),
            id="named zone",
        ),
        pytest.param(
            "2026-11-24T23:30:00-08:00",
            datetime(2026, 11, 25, 7, 30, tzinfo=UTC),
            id="ISO 8601 crossing midnight",
        ),
        pytest.param(
            "Fri, 27 Nov 2026 11:00:00 GMT",
            datetime(2026, 11, 27, 11, 0, tzinfo=UTC),
            id="less than a day ahead is kept",
        ),
        pytest.param(
            "Mon, 30 Nov 2026 09:00:00 GMT",
            FETCHED_AT,
            id="days in the future clamped to fetch time",
        ),
        pytest.param("not a date", FETCHED_AT, id="garbage falls back to fetch time"),
        pytest.param(None, FETCHED_AT, id="missing falls back to fetch time"),
    ],
)
def test_published_at_in_feed(pub_date: str | None, expected: datetime) -> None:
    date = f"<pubDate>{pub_date}</pubDate>" if pub_date else ""
    parsed = parse(rss(f"<item><title>x</title>{date}</item>"))
    when = parsed.entries[0].published_at
    assert when == expected
    assert when.tzinfo is UTC or when.utcoffset() == timedelta(0)


def test_published_at_prefers_published_then_updated() -> None:
    struct = time.strptime("2026-01-02 03:04:05", "%Y-%m-%d %H:%M:%S")
    assert published_at({"updated_parsed": struct}, fetched_at=FETCHED_AT) == datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=UTC
    )
    assert published_at({"published_parsed": (1, 2)}, fetched_at=FETCHED_AT) == FETCHED_AT


# --- formats ---------------------------------------------------------------------------------


def test_rss_sample_with_the_azerbaijan_china_story() -> None:
    parsed = parse_feed(
        (DATA / "azerbaijan-china.rss.xml").read_bytes(),
        url="https://news.example.org/rss",
        fetched_at=FETCHED_AT,
        content_type="application/rss+xml; charset=utf-8",
    )
    assert parsed.title == "Caucasus Defence Desk"
    assert parsed.language == "en"
    assert parsed.problem is None
    story, weather, undated = parsed.entries
    assert story.title == "Azerbaijan and China sign military-technical cooperation agreement"
    assert story.entry_key == "news-example-2026-0427"
    assert story.url == "https://news.example.org/world/az-cn-defence?id=42"
    assert story.summary.startswith("Baku \u2013 The defence ministers of Azerbaijan and China")
    assert "track()" not in story.summary and "<" not in story.summary
    assert story.published_at == datetime(2026, 11, 24, 5, 15, tzinfo=UTC)
    assert story.language == "en"
    assert weather.url == "https://news.example.org/weather/ganja"
    assert weather.entry_key == "https://news.example.org/weather/ganja"
    assert undated.url is None
    assert undated.entry_key.startswith("sha256:")
    assert undated.published_at == FETCHED_AT


def test_atom_sample() -> None:
    parsed = parse((DATA / "sample.atom.xml").read_bytes())
    assert parsed.title == "Savunma Haberleri"
    assert parsed.language == "tr"
    turkish, english = parsed.entries
    assert turkish.title == "Türkiye & Pakistan: ortak tatbikat"
    assert turkish.summary == "Ortak tatbikat ba\u015flad\u0131."
    assert turkish.url == "https://savunma.example.com/haber/1"
    assert turkish.published_at == datetime(2026, 11, 20, 15, 30, 2, tzinfo=UTC)
    assert turkish.language == "tr"
    assert english.language == "en"
    assert english.summary == "The exercise began."
    assert english.published_at == datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def test_rdf_sample() -> None:
    parsed = parse((DATA / "sample.rdf.xml").read_bytes())
    assert parsed.title == "RDF Wire"
    assert parsed.language == "de"
    (entry,) = parsed.entries
    assert entry.title == "Bundeswehr kauft Hubschrauber"
    assert entry.url == "https://rdf.example.net/a"
    assert entry.published_at == datetime(2026, 11, 19, 7, 0, tzinfo=UTC)


def test_charset_from_content_type_is_used() -> None:
    body = (
        rss("<item><title>Минобороны России</title></item>")
        .replace(' encoding="utf-8"', "")
        .encode("windows-1251")
    )
    parsed = parse(body, content_type="text/xml; charset=windows-1251")
    assert parsed.entries[0].title == "Минобороны России"


def test_text_html_label_does_not_break_a_good_feed() -> None:
    parsed = parse(rss("<item><title>Ünïcode</title></item>"), content_type="text/html")
    assert parsed.entries[0].title == "Ünïcode"
    assert parsed.problem is None


def test_relative_and_unsafe_links() -> None:
    parsed = parse(
        rss(
            "<item><title>a</title><link>/world/1</link></item>"
            "<item><title>b</title><link>javascript:alert(1)</link></item>"
            "<item><title>c</title><link>mailto:desk@example.org</link></item>"
        )
    )
    assert [e.url for e in parsed.entries] == ["https://news.example.org/world/1", None, None]


def test_plain_text_title_keeps_angle_brackets() -> None:
    body = (
        '<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        '<entry><title type="text">Why a &lt; b matters</title><id>x</id></entry></feed>'
    )
    assert parse(body).entries[0].title == "Why a < b matters"


def test_summary_falls_back_to_content() -> None:
    body = rss(
        "<item><title>t</title><content:encoded><![CDATA[<p>Full <i>text</i></p>]]>"
        "</content:encoded></item>"
    ).replace("<rss ", '<rss xmlns:content="http://purl.org/rss/1.0/modules/content/" ')
    assert parse(body).entries[0].summary == "Full text"


def test_empty_entries_are_skipped_and_duplicates_merged() -> None:
    parsed = parse(
        rss(
            "<item></item>"
            '<item><guid isPermaLink="false">k</guid><title>first</title></item>'
            '<item><guid isPermaLink="false">k</guid><title>second copy</title></item>'
        )
    )
    assert [(e.entry_key, e.title) for e in parsed.entries] == [("k", "first")]


def test_valid_feed_without_entries() -> None:
    parsed = parse(rss(""))
    assert parsed.entries == ()
    assert parsed.title == "Test"


# --- limits ----------------------------------------------------------------------------------


def test_entry_count_is_capped() -> None:
    items = "".join(f"<item><guid>g{i}</guid><title>t{i}</title></item>" for i in range(600))
    parsed = parse(rss(items))
    assert len(parsed.entries) == MAX_ENTRIES
    assert parsed.problem is not None and "more than 500 entries" in parsed.problem
    assert parsed.entries[0].title == "t0" and parsed.entries[-1].title == "t499"


def test_huge_entry_count_is_cheap() -> None:
    items = "".join(f"<item><guid>g{i}</guid><title>t</title></item>" for i in range(50_000))
    started = time.monotonic()
    parsed = parse(rss(items))
    assert time.monotonic() - started < 3
    assert len(parsed.entries) == MAX_ENTRIES


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(b"<rss><item/><item>a</item></rss>", None, id="under the limit"),
        pytest.param(b"<f><entry>1</entry><entry>2</entry><entry>3</entry></f>",
                     b"<f><entry>1</entry><entry>2</entry>", id="atom entries"),
        pytest.param(b"<r><rss:item>1</rss:item><rss:item>2</rss:item><rss:item/></r>",
                     b"<r><rss:item>1</rss:item><rss:item>2</rss:item>", id="prefixed items"),
        pytest.param(b"<r><items/><itemx/><item>1</item><item>2</item></r>", None,
                     id="similar tag names do not count"),
    ],
)  # fmt: skip
def test_cut_after_entries(body: bytes, expected: bytes | None) -> None:
    assert cut_after_entries(body, limit=2) == expected


def test_long_title_summary_and_guid_are_bounded() -> None:
    parsed = parse(
        rss(
            f"<item><guid>{'g' * 3000}</guid><title>{'word ' * 1000}</title>"
            f"<description>{'<p>para</p> ' * 20_000}</description></item>"
        )
    )
    (entry,) = parsed.entries
    assert len(entry.title) <= MAX_TITLE_CHARS
    assert len(entry.summary) <= MAX_SUMMARY_CHARS
    assert len(entry.entry_key) <= MAX_KEY_CHARS


# --- ill-formed and not-a-feed ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            rss("<item><title>Tom & Jerry</title><link>https://ex.org/1</link></item>"),
            id="unescaped ampersand",
        ),
        pytest.param(
            rss("<item><title>Unclosed<b> title</title><link>https://ex.org/1</link></item>"),
            id="mismatched tag",
        ),
        pytest.param(
            rss("<item><title>Truncated document</title><link>https://ex.org/1</link></item>")[
                :-20
            ],
            id="truncated document",
        ),
        pytest.param(
            "\n\n"
            + rss("<item><title>Late declaration</title><link>https://ex.org/1</link></item>"),
            id="blank lines before the xml declaration",
        ),
        pytest.param(
            rss("<item><title>Undefined &nbsp; entity</title><link>https://ex.org/1</link></item>"),
            id="undefined html entity",
        ),
    ],
)
def test_ill_formed_feed_is_salvaged(body: str) -> None:
    parsed = parse(body)
    assert parsed.problem, "the bozo reason must be recorded"
    assert len(parsed.entries) == 1
    assert parsed.entries[0].url == "https://ex.org/1"
    assert parsed.entries[0].title


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"", "empty body", id="empty body"),
        pytest.param(b"  \r\n\t ", "empty body", id="only whitespace"),
        pytest.param(
            b"<!DOCTYPE html><html><head><title>Welcome to nginx!</title></head>"
            b"<body><h1>It works</h1></body></html>",
            re.escape("HTML page (title 'Welcome to nginx!')"),
            id="html page",
        ),
        pytest.param(
            b"<html><head><title>This domain is parked</title></head><body>Buy it</body></html>",
            "This domain is parked",
            id="parked domain",
        ),
        pytest.param(
            b'<html><body><script>window.location="/feed?x=1";</script></body></html>',
            "redirect",
            id="javascript redirect",
        ),
        pytest.param(
            b'<html><head><meta http-equiv="refresh" content="0; url=/rss"></head></html>',
            "redirect",
            id="meta refresh",
        ),
        pytest.param(b'{"items": []}', "no RSS, Atom or RDF", id="json"),
        pytest.param(b"Service temporarily unavailable", "no RSS", id="plain text"),
        pytest.param(b"\x89PNG\r\n\x1a\n\x00\x00", "no RSS", id="binary"),
    ],
)
def test_not_a_feed(body: bytes, message: str) -> None:
    with pytest.raises(NotAFeed, match=message) as caught:
        parse(body)
    assert FEED_URL in str(caught.value)


# --- hostile XML -----------------------------------------------------------------------------

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE rss [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<rss version="2.0"><channel><title>&lol9;</title>
<item><title>Laughs &lol9;</title><description>&lol9;</description>
<link>https://ex.org/lol</link></item></channel></rss>"""

ONE_LINE_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;'
    '&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;'
    '&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;"><!ENTITY f "&e;&e;&e;&e;&e;'
    '&e;&e;&e;&e;&e;"><!ENTITY g "&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;"><!ENTITY h "&g;&g;&g;&g;&g;'
    '&g;&g;&g;&g;&g;">]><rss version="2.0"><channel><title>t</title><item><title>x &h;</title>'
    "<link>https://ex.org/lol</link></item></channel></rss>"
)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(BILLION_LAUGHS, id="billion laughs"),
        pytest.param(ONE_LINE_LAUGHS, id="billion laughs on one line"),
    ],
)
def test_entity_expansion_cannot_blow_up(body: str) -> None:
    started = time.monotonic()
    parsed = parse(body)
    assert time.monotonic() - started < 2
    assert "lolloll" not in repr(parsed) and "aaaaaaaaaaaaaaaaaaaa" not in repr(parsed)
    assert [e.url for e in parsed.entries] == ["https://ex.org/lol"]


def _xxe_documents(secret_uri: str) -> list[str]:
    items = (
        "<item><title>leak: &xxe;</title><description>&xxe;</description>"
        "<link>https://ex.org/x</link></item>"
    )
    return [
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY xxe SYSTEM "{secret_uri}">]>'
        f'<rss version="2.0"><channel><title>&xxe;</title>{items}</channel></rss>',
        f'<?xml version="1.0"?>\n<!DOCTYPE rss [\n  <!ENTITY xxe SYSTEM "{secret_uri}">\n]>\n'
        f'<rss version="2.0"><channel><title>&xxe;</title>{items}</channel></rss>',
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY % p SYSTEM "{secret_uri}"> %p;]>'
        f'<rss version="2.0"><channel><title>t</title>{items.replace("&xxe;", "x")}'
        "</channel></rss>",
        f'<?xml version="1.0"?><!DOCTYPE rss SYSTEM "{secret_uri}">'
        f'<rss version="2.0"><channel><title>t</title>{items.replace("&xxe;", "&secret;")}'
        "</channel></rss>",
    ]


@pytest.mark.parametrize("variant", range(4), ids=["entity", "multiline", "parameter", "dtd"])
def test_external_file_entity_is_never_read(tmp_path: Path, variant: int) -> None:
    secret = "TOP-SECRET-7f3a9c"
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text(secret)
    (tmp_path / "secret.dtd").write_text(f'<!ENTITY secret "{secret}">')
    uri = secret_file.as_uri() if variant != 3 else (tmp_path / "secret.dtd").as_uri()
    try:
        parsed = parse(_xxe_documents(uri)[variant])
    except NotAFeed as exc:  # acceptable outcome, as long as nothing leaked
        assert secret not in str(exc)
        return
    assert secret not in repr(parsed)


@pytest.mark.parametrize("variant", range(4), ids=["entity", "multiline", "parameter", "dtd"])
def test_external_network_entity_is_never_fetched(feed_server: FeedServer, variant: int) -> None:
    uri = feed_server.add("/secret", "NETWORK-SECRET", content_type="text/plain")
    try:
        parsed = parse(_xxe_documents(uri)[variant])
        assert "NETWORK-SECRET" not in repr(parsed)
    except NotAFeed:
        pass
    assert feed_server.hits("/secret") == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            b'<?xml version="1.0"?>\n<!DOCTYPE rss [<!ENTITY a "b">]>\n<rss/>',
            b'<?xml version="1.0"?>\n\n<rss/>',
            id="internal subset removed",
        ),
        pytest.param(
            b'<!DOCTYPE rss PUBLIC "-//Netscape//DTD RSS 0.91//EN" "http://x/rss.dtd"><rss/>',
            b"<rss/>",
            id="public identifier removed",
        ),
        pytest.param(
            b'<!DOCTYPE r [<!ENTITY a "]> tricky >"><!-- ] -->]><rss/>',
            b"<rss/>",
            id="quoted brackets inside the subset",
        ),
        pytest.param(
            b"<!-- <!DOCTYPE in a comment> --><rss/>",
            b"<!-- <!DOCTYPE in a comment> --><rss/>",
            id="comment left alone",
        ),
        pytest.param(
            b"\xef\xbb\xbf<!doctype x><!DOCTYPE y><rss/>",
            b"\xef\xbb\xbf<rss/>",
            id="bom, lowercase and repeated doctype",
        ),
        pytest.param(
            b"<rss><title>&lt;!DOCTYPE</title><![CDATA[<!DOCTYPE x>]]></rss>",
            b"<rss><title>&lt;!DOCTYPE</title><![CDATA[<!DOCTYPE x>]]></rss>",
            id="doctype text in content left alone",
        ),
        pytest.param(b"<!DOCTYPE rss [ <!ENTITY", b"", id="unterminated doctype"),
    ],
)
def test_strip_doctype(body: bytes, expected: bytes) -> None:
    assert strip_doctype(body) == expected


def test_parse_never_opens_a_path_given_as_body(tmp_path: Path) -> None:
    # feedparser treats a *str* as a URL or file name; parse_feed only ever passes bytes.
    target = tmp_path / "feed.xml"
    target.write_text(rss("<item><title>from disk</title></item>"))
    with pytest.raises(NotAFeed):
        parse(str(target).encode())


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=600) | st.text(max_size=300).map(lambda t: rss(t).encode()),
    content_type=st.none() | st.sampled_from(["text/html", "application/xml; charset=bogus"]),
)
def test_any_input_gives_a_feed_or_not_a_feed(body: bytes, content_type: str | None) -> None:
    try:
        parsed = parse(body, content_type=content_type)
    except NotAFeed:
        return
    for entry in parsed.entries:
        assert entry.published_at.tzinfo is not None
        assert len(entry.entry_key) <= MAX_KEY_CHARS
