"""monitors.netguard: which feed URLs a user may add (no real DNS: the resolver is injected)."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from monitors import fetch
from monitors.errors import FeedError
from monitors.fetch import Fetcher, FetchLimits
from monitors.netguard import UnsafeFeedURL, acheck_feed_url, check_feed_url
from tests.feedserver import FeedServer

PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"

# What the fake DNS knows; anything else fails like an unknown name.
DNS: dict[str, list[str]] = {
    "news.example": [PUBLIC_V4],
    "dual.example": [PUBLIC_V4, PUBLIC_V6],
    "v6only.example": [PUBLIC_V6],
    "intranet.example": ["10.1.2.3"],
    "rebind.example": [PUBLIC_V4, "127.0.0.1"],  # one bad address among good ones
    "mixed6.example": [PUBLIC_V6, "fe80::1"],
    "metadata.example": ["169.254.169.254"],
    "metadata6.example": ["fd00:ec2::254"],
    "mapped.example": ["::ffff:127.0.0.1"],
    "mapped-meta.example": ["::ffff:169.254.169.254"],
    "nat64.example": ["64:ff9b::a00:1"],
    "cgnat.example": ["100.64.0.7"],
    "ula.example": ["fd12:3456::1"],
    "multicast.example": ["224.0.0.251"],
    "zero.example": ["0.0.0.0"],
    "reserved.example": ["240.0.0.1"],
    "empty.example": [],
    "garbage.example": ["not-an-address"],
    "xn--bcher-kva.example": [PUBLIC_V4],  # bücher.example
}


def fake_resolver(host: str, port: int) -> Iterable[str]:
    calls.append((host, port))
    if host not in DNS:
        raise OSError(-2, "Name or service not known")
    return DNS[host]


calls: list[tuple[str, int]] = []


@pytest.fixture(autouse=True)
def _reset_calls() -> None:
    calls.clear()


def check(url: str, *, allow_private: bool = False) -> str:
    return check_feed_url(url, allow_private=allow_private, resolver=fake_resolver)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://news.example/rss", "https://news.example/rss", id="plain https"),
        pytest.param("HTTP://News.Example:80/rss?x=1#top", "http://news.example/rss?x=1",
                     id="scheme host case default port fragment"),
        pytest.param("https://news.example:8443/rss", "https://news.example:8443/rss",
                     id="explicit port kept"),
        pytest.param("https://news.example", "https://news.example/", id="empty path"),
        pytest.param("https://news.example./feed", "https://news.example/feed", id="trailing dot"),
        pytest.param("https://dual.example/feed", "https://dual.example/feed", id="dual stack"),
        pytest.param("https://v6only.example/feed", "https://v6only.example/feed", id="ipv6 only"),
        pytest.param(f"http://{PUBLIC_V4}/feed", f"http://{PUBLIC_V4}/feed", id="public ipv4"),
        pytest.param(f"http://[{PUBLIC_V6}]/feed", f"http://[{PUBLIC_V6}]/feed", id="public ipv6"),
        pytest.param("https://bücher.example/feed", "https://xn--bcher-kva.example/feed",
                     id="international domain name"),
        pytest.param("  https://news.example/rss  ", "https://news.example/rss", id="whitespace"),
    ],
)  # fmt: skip
def test_public_urls_are_accepted_and_normalised(url: str, expected: str) -> None:
    assert check(url) == expected


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        pytest.param("ftp://news.example/feed", "only http", id="ftp scheme"),
        pytest.param("file:///etc/passwd", "only http", id="file scheme"),
        pytest.param("gopher://news.example/", "only http", id="gopher scheme"),
        pytest.param("javascript:alert(1)", "only http", id="javascript scheme"),
        pytest.param("news.example/rss", "only http", id="no scheme"),
        pytest.param("https:///rss", "no host", id="no host"),
        pytest.param("https://user:secret@news.example/rss", "passwords", id="credentials"),
        pytest.param("https://user@news.example/rss", "passwords", id="user name only"),
        pytest.param("https://news.example:99999/rss", "not a valid URL", id="port out of range"),
        pytest.param("https://news example/rss", "spaces", id="space in host"),
        pytest.param("https://news.example/\x00", "control", id="control character"),
        pytest.param("http://localhost/feed", "local host name", id="localhost"),
        pytest.param("http://api.localhost/feed", "local host name", id="dot localhost"),
        pytest.param("http://printer.local/feed", "local host name", id="mdns local"),
        pytest.param("http://metadata.google.internal/", "local host name", id="gcp internal name"),
        pytest.param("http://127.0.0.1:8080/feed", "loopback", id="loopback ipv4"),
        pytest.param("http://127.8.9.10/feed", "loopback", id="loopback ipv4 range"),
        pytest.param("http://[::1]/feed", "loopback", id="loopback ipv6"),
        pytest.param("http://10.0.0.5/feed", "private", id="rfc1918 10"),
        pytest.param("http://172.16.0.1/feed", "private", id="rfc1918 172"),
        pytest.param("http://192.168.1.1/feed", "private", id="rfc1918 192"),
        pytest.param("http://169.254.169.254/latest/meta-data/", "metadata", id="metadata address"),
        pytest.param("http://[fd00:ec2::254]/", "metadata", id="metadata ipv6"),
        pytest.param("http://100.100.100.200/", "metadata", id="alibaba metadata"),
        pytest.param("http://169.254.1.1/", "link-local", id="link-local ipv4"),
        pytest.param("http://[fe80::1]/", "link-local", id="link-local ipv6"),
        pytest.param("http://[fe80::1%25eth0]/", "link-local", id="link-local with zone"),
        pytest.param("http://0.0.0.0/", "unspecified", id="unspecified ipv4"),
        pytest.param("http://[::]/", "unspecified", id="unspecified ipv6"),
        pytest.param("http://224.0.0.1/", "multicast", id="multicast ipv4"),
        pytest.param("http://[ff02::1]/", "multicast", id="multicast ipv6"),
        pytest.param("http://240.0.0.1/", "reserved", id="reserved ipv4"),
        pytest.param("http://100.64.1.1/", "carrier-grade", id="cgnat"),
        pytest.param("http://[::ffff:127.0.0.1]/", "loopback", id="ipv4-mapped loopback"),
        pytest.param("http://[::ffff:a9fe:a9fe]/", "metadata", id="ipv4-mapped metadata hex"),
        pytest.param("http://[64:ff9b::7f00:1]/", "loopback", id="nat64 loopback"),
        pytest.param("http://[2002:7f00:1::]/", "loopback", id="6to4 loopback"),
        pytest.param("http://2130706433/", "loopback", id="decimal ipv4"),
        pytest.param("http://0177.0.0.1/", "loopback", id="octal ipv4"),
        pytest.param("http://0x7f.0.0.1/", "loopback", id="hex ipv4"),
        pytest.param("http://127.1/", "loopback", id="short ipv4"),
        pytest.param("http://2852039166/", "metadata", id="decimal metadata"),
        pytest.param("http://0xA9FEA9FE/", "metadata", id="hex metadata"),
        pytest.param("http://intranet.example/", "10.1.2.3", id="name resolving private"),
        pytest.param("http://rebind.example/", "127.0.0.1", id="one bad address among good"),
        pytest.param("http://mixed6.example/", "link-local", id="one bad ipv6 among good"),
        pytest.param("http://metadata.example/", "metadata", id="name resolving to metadata"),
        pytest.param("http://metadata6.example/", "metadata", id="name resolving to metadata v6"),
        pytest.param("http://mapped.example/", "loopback", id="name resolving to mapped loopback"),
        pytest.param("http://mapped-meta.example/", "metadata", id="name resolving to mapped meta"),
        pytest.param("http://nat64.example/", "private", id="name resolving to nat64 private"),
        pytest.param("http://cgnat.example/", "carrier-grade", id="name resolving to cgnat"),
        pytest.param("http://ula.example/", "private", id="name resolving to ula"),
        pytest.param("http://multicast.example/", "multicast", id="name resolving to multicast"),
        pytest.param("http://zero.example/", "unspecified", id="name resolving to zero"),
        pytest.param("http://reserved.example/", "reserved", id="name resolving to reserved"),
        pytest.param("http://nowhere.example/", "cannot resolve", id="unknown name"),
        pytest.param("http://empty.example/", "no addresses", id="no addresses"),
        pytest.param("http://garbage.example/", "resolved to", id="resolver garbage"),
    ],
)  # fmt: skip
def test_unsafe_urls_are_refused_with_a_reason(url: str, reason: str) -> None:
    with pytest.raises(UnsafeFeedURL) as caught:
        check(url)
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("http://127.0.0.1:8080/feed", "http://127.0.0.1:8080/feed", id="loopback"),
        pytest.param("http://localhost:8080/feed", "http://localhost:8080/feed", id="localhost"),
        pytest.param("http://10.0.0.5/feed", "http://10.0.0.5/feed", id="private"),
        pytest.param("http://0177.0.0.1/feed", "http://127.0.0.1/feed", id="octal spelled dotted"),
        pytest.param("http://intranet.example/", "http://intranet.example/", id="private name"),
        pytest.param("http://nowhere.example/", "http://nowhere.example/", id="not resolved"),
    ],
)  # fmt: skip
def test_allow_private_skips_address_checks_and_dns(url: str, expected: str) -> None:
    assert check(url, allow_private=True) == expected
    assert calls == []  # nothing resolved


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("ftp://127.0.0.1/feed", id="scheme"),
        pytest.param("http://user:pw@127.0.0.1/feed", id="credentials"),
    ],
)
def test_allow_private_still_refuses_schemes_and_credentials(url: str) -> None:
    with pytest.raises(UnsafeFeedURL):
        check(url, allow_private=True)


def test_resolver_gets_host_and_effective_port() -> None:
    check("https://news.example/rss")
    check("http://news.example:8080/rss")
    assert calls == [("news.example", 443), ("news.example", 8080)]


def test_literal_addresses_are_not_resolved() -> None:
    check(f"http://{PUBLIC_V4}/")
    with pytest.raises(UnsafeFeedURL):
        check("http://2130706433/")
    assert calls == []


def test_error_is_a_feed_error_and_a_value_error() -> None:
    with pytest.raises(FeedError):
        check("ftp://x/")
    with pytest.raises(ValueError):
        check("ftp://x/")
    assert UnsafeFeedURL.kind == "unsafe_url"


def test_credentials_are_not_echoed_in_the_message() -> None:
    # Messages reach logs and chats: the password the user typed must not.
    with pytest.raises(UnsafeFeedURL) as caught:
        check("https://u:hunter2@news.example/")
    assert "passwords" in str(caught.value)
    assert "hunter2" not in str(caught.value)


async def test_async_variant_resolves_in_a_thread() -> None:
    assert (
        await acheck_feed_url(
            "https://news.example/rss", allow_private=False, resolver=fake_resolver
        )
        == "https://news.example/rss"
    )
    with pytest.raises(UnsafeFeedURL):
        await acheck_feed_url(
            "http://metadata.example/", allow_private=False, resolver=fake_resolver
        )


def test_system_resolver_on_loopback_literal_name() -> None:
    # "localhost" is refused by name before any lookup; a numeric host needs no DNS either.
    with pytest.raises(UnsafeFeedURL, match="loopback"):
        check_feed_url("http://127.0.0.1/", allow_private=False)


# --- the fetcher's connect-time guard (FetchLimits.block_private_addresses) ----------------


async def test_fetcher_guard_refuses_private_address_before_connecting(
    feed_server: FeedServer,
) -> None:
    url = feed_server.add("/feed.xml", "<rss version='2.0'><channel/></rss>")
    async with Fetcher(FetchLimits(block_private_addresses=True)) as fetcher:
        with pytest.raises(UnsafeFeedURL, match="loopback"):
            await fetcher.fetch(url)
    assert feed_server.hits("/feed.xml") == 0  # nothing was sent


async def test_fetcher_guard_checks_every_redirect_hop(
    feed_server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Pretend the test server is public; anything else (the redirect target) is checked.
    start = feed_server.add("/start", redirect_to="http://169.254.169.254/latest/meta-data/")
    seen: list[str] = []

    async def guard(url: str, *, allow_private: bool) -> str:
        seen.append(url)
        if url == start:
            return url
        return check_feed_url(url, allow_private=allow_private, resolver=fake_resolver)

    monkeypatch.setattr(fetch, "acheck_feed_url", guard)
    async with Fetcher(FetchLimits(block_private_addresses=True, connect_timeout=1)) as fetcher:
        with pytest.raises(UnsafeFeedURL, match="metadata"):
            await fetcher.fetch(start)
    assert seen == [start, "http://169.254.169.254/latest/meta-data/"]
    assert feed_server.hits("/start") == 1


async def test_fetcher_without_guard_fetches_loopback(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed.xml", "<rss version='2.0'><channel/></rss>")
    async with Fetcher(FetchLimits()) as fetcher:
        assert (await fetcher.fetch(url)).status == 200
