"""monitors.fetch against a real HTTP server on 127.0.0.1 (tests/feedserver.py)."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import socket
import threading
import time
import tracemalloc
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from monitors.errors import (
    FeedConnectError,
    FeedHTTPError,
    FeedTimeout,
    FeedTooLarge,
    FetchError,
    TooManyRedirects,
)
from monitors.fetch import Fetcher, FetchLimits, FetchResult, MiB, parse_retry_after
from tests.feedserver import FeedServer

RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
<item><title>one</title><link>https://example.org/1</link></item></channel></rss>"""

FAST = FetchLimits(connect_timeout=2, read_timeout=2, total_timeout=2.5, max_body_bytes=1 * MiB)


async def fetch(url: str, limits: FetchLimits = FAST, **kwargs: str | None) -> FetchResult:
    """One fetch with a fresh Fetcher."""
    async with Fetcher(limits) as fetcher:
        return await fetcher.fetch(url, **kwargs)


# --- success and conditional GET -------------------------------------------------------------


async def test_200_then_304_with_etag(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", RSS, etag='"v1"')
    async with Fetcher(FAST) as fetcher:
        first = await fetcher.fetch(url)
        second = await fetcher.fetch(url, etag=first.etag)
    assert (first.status, first.body, first.etag) == (200, RSS, '"v1"')
    assert first.body_sha256 == hashlib.sha256(RSS).hexdigest()
    assert first.content_type == "application/rss+xml; charset=utf-8"
    assert first.final_url == url
    assert (second.status, second.body, second.body_sha256) == (304, None, None)
    assert second.etag == '"v1"'
    assert feed_server.requests("/feed")[1]["If-None-Match"] == '"v1"'


async def test_304_with_last_modified(feed_server: FeedServer) -> None:
    stamp = "Wed, 25 Nov 2026 10:00:00 GMT"
    url = feed_server.add("/feed", RSS, last_modified=stamp)
    first = await fetch(url)
    second = await fetch(url, last_modified=first.last_modified)
    assert first.last_modified == stamp
    assert second.status == 304
    assert feed_server.requests("/feed")[1]["If-Modified-Since"] == stamp


async def test_request_headers_are_honest(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", RSS)
    await fetch(url)
    sent = feed_server.requests("/feed")[0]
    assert sent["User-Agent"].startswith("defwatch/")
    assert "+https://github.com/defwatch/defwatch" in sent["User-Agent"]
    assert "gzip" in sent["Accept-Encoding"]
    assert "If-None-Match" not in sent


async def test_gzip_body_is_decoded(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", RSS, gzip=True)
    result = await fetch(url)
    assert result.body == RSS
    assert result.body_sha256 == hashlib.sha256(RSS).hexdigest()


async def test_pre_compressed_gzip_file(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.xml.gz", gzip.compress(RSS), raw_gzip=True)
    assert (await fetch(url)).body == RSS


async def test_redirect_is_followed(feed_server: FeedServer) -> None:
    feed_server.add("/old", redirect_to="/middle", status=301)
    feed_server.add("/middle", redirect_to="/new")
    new = feed_server.add("/new", RSS)
    result = await fetch(feed_server.url("/old"))
    assert result.body == RSS
    assert result.final_url == new


# --- failures --------------------------------------------------------------------------------


async def test_redirect_loop_raises_too_many_redirects(feed_server: FeedServer) -> None:
    feed_server.add("/a", redirect_to="/b")
    feed_server.add("/b", redirect_to="/a")
    with pytest.raises(TooManyRedirects):
        await fetch(feed_server.url("/a"))
    assert feed_server.hits("/a") + feed_server.hits("/b") == FAST.max_redirects + 1


async def test_redirect_chain_longer_than_limit(feed_server: FeedServer) -> None:
    for hop in range(4):
        feed_server.add(f"/{hop}", redirect_to=f"/{hop + 1}")
    feed_server.add("/4", RSS)
    limits = FetchLimits(max_redirects=3, total_timeout=2)
    with pytest.raises(TooManyRedirects):
        await fetch(feed_server.url("/0"), limits)
    assert (await fetch(feed_server.url("/1"), limits)).body == RSS


@pytest.mark.parametrize(
    ("status", "retry_after"),
    [
        pytest.param(500, None, id="500 server error"),
        pytest.param(404, None, id="404 not found"),
        pytest.param(403, None, id="403 forbidden (bot blocking)"),
        pytest.param(410, None, id="410 gone"),
        pytest.param(300, None, id="3xx without Location"),
    ],
)
async def test_error_status_raises_http_error(
    feed_server: FeedServer, status: int, retry_after: float | None
) -> None:
    url = feed_server.add("/feed", b"nope", status=status)
    with pytest.raises(FeedHTTPError) as caught:
        await fetch(url)
    assert caught.value.status == status
    assert caught.value.retry_after is retry_after
    assert str(status) in str(caught.value)


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_seconds(feed_server: FeedServer, status: int) -> None:
    url = feed_server.add("/feed", status=status, retry_after=120)
    with pytest.raises(FeedHTTPError) as caught:
        await fetch(url)
    assert caught.value.status == status
    assert caught.value.retry_after == 120


async def test_retry_after_http_date(feed_server: FeedServer) -> None:
    when = datetime.now(UTC) + timedelta(minutes=10)
    url = feed_server.add("/feed", status=429, retry_after=format_datetime(when, usegmt=True))
    with pytest.raises(FeedHTTPError) as caught:
        await fetch(url)
    assert caught.value.retry_after is not None
    assert 590 <= caught.value.retry_after <= 600


NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param(None, None, id="absent"),
        pytest.param("", None, id="empty"),
        pytest.param("120", 120.0, id="delta seconds"),
        pytest.param(" 0 ", 0.0, id="zero with spaces"),
        pytest.param("Thu, 26 Nov 2026 12:05:00 GMT", 300.0, id="http date in 5 minutes"),
        pytest.param("Thu, 26 Nov 2026 11:00:00 GMT", 0.0, id="http date in the past is 0"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("-5", None, id="negative is garbage"),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == expected


async def test_oversized_body_is_cut_off_without_reading_it(feed_server: FeedServer) -> None:
    url = feed_server.add("/huge", size=50 * MiB)
    tracemalloc.start()
    try:
        with pytest.raises(FeedTooLarge):
            await fetch(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB


async def test_declared_content_length_over_cap_fails_early(feed_server: FeedServer) -> None:
    url = feed_server.add("/big", b"x" * (2 * MiB))
    with pytest.raises(FeedTooLarge, match="Content-Length"):
        await fetch(url)


async def test_gzip_bomb_is_cut_off_on_decoded_size(feed_server: FeedServer) -> None:
    url = feed_server.add("/bomb", size=500 * MiB, gzip=True)
    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(FeedTooLarge, match="decoded"):
            await fetch(url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MiB
    assert time.monotonic() - started < 3


async def test_body_exactly_at_cap_is_accepted(feed_server: FeedServer) -> None:
    limits = FetchLimits(max_body_bytes=1000, total_timeout=2)
    url = feed_server.add("/exact", size=1000, gzip=True)
    assert len((await fetch(url, limits)).body or b"") == 1000


@pytest.mark.parametrize(
    "route",
    [
        pytest.param({"body": b"x" * 200, "chunk_delay": 0.05}, id="slow drip, 1 byte per 50 ms"),
        pytest.param({"endless": True, "chunk_delay": 0.05, "chunk_size": 16}, id="endless drip"),
    ],
)
async def test_slow_drip_hits_total_timeout(feed_server: FeedServer, route: dict[str, Any]) -> None:
    url = feed_server.add("/drip", **route)
    limits = FetchLimits(read_timeout=1, total_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(FeedTimeout, match=r"0\.5 s"):
        await fetch(url, limits)
    assert time.monotonic() - started < 1.5


async def test_silent_server_hits_read_timeout(feed_server: FeedServer) -> None:
    url = feed_server.add("/silent", RSS, delay=2)
    limits = FetchLimits(read_timeout=0.3, total_timeout=5)
    started = time.monotonic()
    with pytest.raises(FeedTimeout):
        await fetch(url, limits)
    assert time.monotonic() - started < 1.5


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused() -> None:
    with pytest.raises(FeedConnectError):
        await fetch(f"http://127.0.0.1:{_closed_port()}/feed")


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://example.org/feed.xml", id="ftp"),
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("feed://example.org/rss", id="feed pseudo-scheme"),
        pytest.param("javascript:alert(1)", id="javascript"),
        pytest.param("example.org/rss", id="no scheme"),
    ],
)
async def test_non_http_scheme_refused(url: str) -> None:
    with pytest.raises(FetchError, match="only http and https"):
        await fetch(url)


async def test_redirect_to_file_scheme_refused(feed_server: FeedServer) -> None:
    url = feed_server.add("/evil", redirect_to="file:///etc/passwd")
    with pytest.raises(FetchError) as caught:
        await fetch(url)
    assert "root:" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("http://[not-an-ip/feed", id="broken ipv6 literal"),
        pytest.param("http://xn--/", id="bad punycode host"),
        pytest.param("http://127.0.0.1:99999/", id="port out of range"),
        pytest.param("http:///path-without-host", id="no host"),
    ],
)
async def test_invalid_url_is_translated(url: str) -> None:
    with pytest.raises(FetchError):
        await fetch(url)


async def test_non_ascii_validators_are_not_sent(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", RSS)
    result = await fetch(url, etag="\u00e9t\u00e4g", last_modified="mañana")
    assert result.status == 200
    assert "If-None-Match" not in feed_server.requests("/feed")[0]


async def test_fetcher_requires_context_manager() -> None:
    with pytest.raises(RuntimeError, match="async with"):
        await Fetcher(FAST).fetch("http://127.0.0.1/")


# --- concurrency -----------------------------------------------------------------------------


async def test_per_host_limit_is_respected(feed_server: FeedServer) -> None:
    url = feed_server.add("/slow", RSS, delay=0.2)
    limits = FetchLimits(max_per_host=2, max_connections=10, total_timeout=5)
    async with Fetcher(limits) as fetcher:
        results = await asyncio.gather(*(fetcher.fetch(url) for _ in range(6)))
    assert all(r.status == 200 for r in results)
    assert feed_server.hits("/slow") == 6
    assert feed_server.max_concurrent("/slow") == 2


async def test_global_limit_is_respected(feed_server: FeedServer) -> None:
    with FeedServer() as other:
        urls = [feed_server.add(f"/s{i}", RSS, delay=0.1) for i in range(3)]
        urls += [other.add(f"/s{i}", RSS, delay=0.1) for i in range(3)]
        limits = FetchLimits(max_per_host=3, max_connections=1, total_timeout=5)
        async with Fetcher(limits) as fetcher:
            await asyncio.gather(*(fetcher.fetch(u) for u in urls))
        # Two servers, same host name: one global slot means never two requests at once.
        assert feed_server.max_concurrent() + other.max_concurrent() <= 2
        assert feed_server.max_concurrent() == 1
        assert other.max_concurrent() == 1


# --- the test server itself ------------------------------------------------------------------


def test_feed_server_works_from_sync_code(feed_server: FeedServer) -> None:
    url = feed_server.add("/sync", "héllo", content_type="text/plain; charset=utf-8")
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.read().decode("utf-8") == "héllo"
    missing = feed_server.url("/missing")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(missing, timeout=5)
    caught.value.close()
    assert caught.value.code == 404
    assert (feed_server.hits("/sync"), feed_server.hits("/missing")) == (1, 1)


def test_feed_server_closes_promptly_with_stuck_clients() -> None:
    server = FeedServer().start()
    server.add("/endless", endless=True)
    server.add("/drip", b"x" * 100, chunk_delay=1)
    clients = []
    for path in ("/endless", "/drip"):
        client = socket.create_connection(("127.0.0.1", server.port))
        client.sendall(f"GET {path} HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        clients.append(client)
    assert server.wait_for_hits("/endless", 1) and server.wait_for_hits("/drip", 1)
    time.sleep(0.2)  # let the endless handler fill the socket buffers and block
    started = time.monotonic()
    server.close()
    assert time.monotonic() - started < 2
    assert not [t for t in threading.enumerate() if t.name.startswith("feedserver")]
    for client in clients:
        client.close()


def test_serve_folder_content_types(feed_server: FeedServer, tmp_path: Path) -> None:
    (tmp_path / "a.rss.xml").write_bytes(RSS)
    (tmp_path / "b.atom.xml.gz").write_bytes(gzip.compress(RSS))
    (tmp_path / "c.html").write_text("<html></html>")
    urls = feed_server.serve_folder(tmp_path, prefix="/corpus")
    assert urls["a.rss.xml"] == feed_server.url("/corpus/a.rss.xml")
    with urllib.request.urlopen(urls["b.atom.xml.gz"], timeout=5) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        assert response.headers["Content-Type"] == "application/atom+xml"
        assert gzip.decompress(response.read()) == RSS
    with urllib.request.urlopen(urls["c.html"], timeout=5) as response:
        assert response.headers["Content-Type"] == "text/html"


async def test_304_without_validators_keeps_the_sent_ones(feed_server: FeedServer) -> None:
    url = feed_server.add("/bare304", status=304, content_type=None)
    result = await fetch(url, etag='"abc"', last_modified="Wed, 25 Nov 2026 10:00:00 GMT")
    assert (result.status, result.body) == (304, None)
    assert result.etag == '"abc"'
    assert result.last_modified == "Wed, 25 Nov 2026 10:00:00 GMT"


async def test_explicit_headers_replace_defaults(feed_server: FeedServer) -> None:
    url = feed_server.add("/page", b"<html></html>", headers={"Content-Type": "text/html"})
    assert (await fetch(url)).content_type == "text/html"


async def test_served_folder_answers_conditional_gets(
    feed_server: FeedServer, tmp_path: Path
) -> None:
    (tmp_path / "a.rss.xml").write_bytes(RSS)
    url = feed_server.serve_folder(tmp_path)["a.rss.xml"]
    first = await fetch(url)
    assert first.etag
    assert (await fetch(url, etag=first.etag)).status == 304
