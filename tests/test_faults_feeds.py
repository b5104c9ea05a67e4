"""Hostile and broken feeds, through the real pipeline (``Monitor.poll_cycle``, real HTTP).

Every test polls the faulty feed together with a healthy one in the same cycle and checks:
the fault is recorded on the feed's row as a clear error, the feed stays enabled and is
rescheduled, the cycle returns normally, and the healthy feed's articles are stored.
Limits are small (``FetchLimits``) so the whole file runs in seconds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import socket
import ssl
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from sqlalchemy import func, select

from monitors import store
from monitors.db import open_database
from monitors.fetch import Fetcher, FetchLimits
from monitors.models import Alert, Article, Chat, Feed, Story, WatchRule
from monitors.runner import Monitor, PollReport
from monitors.settings import load_settings
from tests.feedserver import FeedServer

KiB = 1024
# Short enough for the timeout tests to be quick, long enough that the healthy feed beside each
# fault never times out on a loaded machine (it did at 0.5 / 1.0 / 1.5 s).
LIMITS = FetchLimits(
    connect_timeout=1.0,
    read_timeout=2.0,
    total_timeout=3.0,
    max_body_bytes=256 * KiB,
    max_redirects=4,
    max_connections=10,
    max_per_host=4,
)
INTERVAL = 60.0
MAX_BACKOFF = 600.0


def rss(items: list[dict[str, str]], *, encoding: str | None = "utf-8", title: str = "T") -> str:
    body = "".join(
        "<item>"
        + "".join(f"<{k}>{v}</{k}>" for k, v in item.items())
        + "<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>"
        for item in items
    )
    prolog = f'<?xml version="1.0" encoding="{encoding}"?>' if encoding else ""
    return f'{prolog}<rss version="2.0"><channel><title>{title}</title>{body}</channel></rss>'


HEALTHY = rss(
    [
        {"title": "Kenya and Ethiopia hold joint military exercise", "link": "https://h.example/1"},
        {"title": "Markets close higher in Nairobi", "link": "https://h.example/2"},
    ],
    title="Healthy",
)


class Harness:
    """A Monitor over a temp SQLite file, plus small helpers to look at the database."""

    def __init__(self, monitor: Monitor, server: FeedServer) -> None:
        self.monitor = monitor
        self.server = server
        self.healthy_url = server.add("/healthy.xml", HEALTHY)

    async def add_feeds(self, *urls: str) -> None:
        async with self.monitor.sessions.begin() as session:
            for url in (*urls, self.healthy_url):
                await store.add_feed(session, url, now=datetime.now(UTC))

    async def poll(self) -> PollReport:
        return await self.monitor.poll_cycle(every_feed=True)

    async def feed(self, url: str) -> Feed:
        async with self.monitor.sessions() as session:
            return (await session.scalars(select(Feed).where(Feed.url == url))).one()

    async def count(self, model: Any, *where: Any) -> int:
        async with self.monitor.sessions() as session:
            query = select(func.count()).select_from(model)
            for condition in where:
                query = query.where(condition)
            return int(await session.scalar(query) or 0)

    async def articles_of(self, url: str) -> list[Article]:
        async with self.monitor.sessions() as session:
            feed_id = select(Feed.id).where(Feed.url == url).scalar_subquery()
            return list(await session.scalars(select(Article).where(Article.feed_id == feed_id)))

    async def assert_fault_recorded(self, url: str, kind: str, *, text: str = "") -> Feed:
        """The feed failed with ``kind``, stays enabled, is rescheduled; healthy feed stored."""
        row = await self.feed(url)
        assert row.last_status == kind, (row.last_status, row.last_error)
        assert text.lower() in (row.last_error or "").lower(), row.last_error
        assert row.enabled and row.consecutive_errors >= 1
        assert row.lease_owner is None and row.lease_until is None
        assert row.next_poll_at is not None and row.last_polled_at is not None
        assert row.next_poll_at >= row.last_polled_at + timedelta(seconds=INTERVAL - 1)
        assert await self.count(Article) >= 0
        healthy = await self.feed(self.healthy_url)
        assert healthy.last_status in ("ok", "not_modified", "unchanged"), healthy.last_error
        assert len(await self.articles_of(self.healthy_url)) == 2
        return row


@contextlib.asynccontextmanager
async def harness_for(
    tmp_path: Path, server: FeedServer, limits: FetchLimits = LIMITS, migrated: Path | None = None
) -> AsyncIterator[Harness]:
    if migrated is not None:  # start from the session's migrated copy: no migrations to run
        shutil.copyfile(migrated, tmp_path / "faults.db")
    settings = dataclasses.replace(
        load_settings({}),
        database_url=f"sqlite:///{tmp_path / 'faults.db'}",
        poll_interval=INTERVAL,
        max_backoff=MAX_BACKOFF,
    )
    engine, sessions = await open_database(settings.database_url)
    try:
        async with Fetcher(limits) as fetcher:
            yield Harness(Monitor(settings, engine, sessions, fetcher), server)
    finally:
        await engine.dispose()


@pytest.fixture
async def harness(
    tmp_path: Path, feed_server: FeedServer, migrated_sqlite: Path
) -> AsyncIterator[Harness]:
    async with harness_for(tmp_path, feed_server, migrated=migrated_sqlite) as h:
        yield h


async def poll_one_fault(harness: Harness, url: str, kind: str, text: str = "") -> Feed:
    await harness.add_feeds(url)
    started = time.monotonic()
    report = await harness.poll()
    assert time.monotonic() - started < 10
    assert len(report.outcomes) == 2
    assert report.statuses[kind] == 1, report.statuses
    return await harness.assert_fault_recorded(url, kind, text=text)


# --- transport faults ------------------------------------------------------------------------


@pytest.fixture
def blackhole() -> Iterator[str]:
    """A port whose accept queue is full: SYNs are dropped, so connecting times out."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    port = listener.getsockname()[1]
    try:
        for _ in range(8):  # fill the (tiny) queue; later SYNs get no answer
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/feed.xml"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_connect_timeout(harness: Harness, blackhole: str) -> None:
    await poll_one_fault(harness, blackhole, "timeout", "ConnectTimeout")


@pytest.mark.slow  # waits for the total timeout (3 s)
async def test_one_byte_per_second(harness: Harness) -> None:
    url = harness.server.add("/drip.xml", HEALTHY, chunk_delay=1.0, chunk_size=1)
    await poll_one_fault(harness, url, "timeout", "no complete response")


async def test_endless_body(harness: Harness) -> None:
    url = harness.server.add("/endless.xml", endless=True)
    await poll_one_fault(harness, url, "too_large", "exceeds")


async def test_one_gigabyte_body(harness: Harness) -> None:
    url = harness.server.add("/huge.xml", size=1 << 30)
    await poll_one_fault(harness, url, "too_large", "exceeds")


async def test_gzip_bomb(harness: Harness) -> None:
    url = harness.server.add("/bomb.xml", size=1 << 30, gzip=True)
    await poll_one_fault(harness, url, "too_large", "decoded")


async def test_redirect_loop(harness: Harness) -> None:
    harness.server.add("/b.xml", redirect_to="/a.xml")
    url = harness.server.add("/a.xml", redirect_to="/b.xml")
    await poll_one_fault(harness, url, "redirects", "redirects")
    assert harness.server.hits("/a.xml") + harness.server.hits("/b.xml") <= LIMITS.max_redirects + 1


@pytest.mark.parametrize("retry_after", [3600, "http-date"])
async def test_429_retry_after_sets_next_poll(harness: Harness, retry_after: int | str) -> None:
    if retry_after == "http-date":
        when = datetime.now(UTC) + timedelta(seconds=3600)
        retry_after = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    url = harness.server.add("/limited.xml", status=429, retry_after=retry_after)
    row = await poll_one_fault(harness, url, "http", "429")
    waited = (row.next_poll_at - row.last_polled_at).total_seconds()
    # Retry-After is a floor, clamped to max_backoff (600 s here): the server asked for an hour.
    assert MAX_BACKOFF - 1 <= waited <= MAX_BACKOFF + 1


async def test_429_retry_after_below_cap_is_honoured(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    async with harness_for(tmp_path, feed_server) as harness:
        url = feed_server.add("/limited.xml", status=429, retry_after=300)
        row = await poll_one_fault(harness, url, "http", "429")
        waited = (row.next_poll_at - row.last_polled_at).total_seconds()
        assert 299 <= waited <= MAX_BACKOFF + 1
        # A regular poll (not "every feed") leaves it alone until then.
        before = feed_server.hits("/limited.xml")
        await harness.monitor.poll_cycle()
        assert feed_server.hits("/limited.xml") == before


async def test_5xx_storm_backs_off_capped_then_recovers(harness: Harness) -> None:
    url = harness.server.add("/storm.xml", status=503)
    await harness.add_feeds(url)
    delays = []
    for n in range(1, 9):
        harness.server.add("/storm.xml", status=500 if n % 2 else 503)
        report = await harness.poll()
        assert report.statuses["http"] == 1
        row = await harness.feed(url)
        assert row.enabled and row.consecutive_errors == n
        delay = (row.next_poll_at - row.last_polled_at).total_seconds()
        ceiling = min(MAX_BACKOFF, INTERVAL * 2**n)
        assert INTERVAL - 1 <= delay <= ceiling + 1, (n, delay)
        delays.append(delay)
    assert max(delays) <= MAX_BACKOFF + 1  # capped
    assert max(delays[3:]) > INTERVAL * 1.05  # it does grow beyond the interval (P(fail) ~ 0)

    harness.server.add("/storm.xml", rss([{"title": "Back online", "link": "https://s/1"}]))
    report = await harness.poll()
    assert {o.url: o.status for o in report.outcomes}[url] == "ok"
    row = await harness.feed(url)
    assert (row.last_status, row.consecutive_errors, row.last_error) == ("ok", 0, None)
    assert [a.title for a in await harness.articles_of(url)] == ["Back online"]
    delay = (row.next_poll_at - row.last_polled_at).total_seconds()
    assert delay <= INTERVAL * 1.1 + 1  # back to the normal schedule


# --- TLS -------------------------------------------------------------------------------------


class _TLSHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    timeout = 5

    def do_GET(self) -> None:
        body = HEALTHY.replace("h.example", "tls.example").encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/rss+xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _QuietTLSServer(ThreadingHTTPServer):
    daemon_threads = False
    block_on_close = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client refusing our certificate aborts the handshake: expected


@contextlib.contextmanager
def tls_server(cert: trustme.LeafCert) -> Iterator[str]:
    httpd = _QuietTLSServer(("127.0.0.1", 0), _TLSHandler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"https://127.0.0.1:{httpd.server_address[1]}/feed.xml"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


async def test_tls_untrusted_ca_is_a_clear_feed_error(harness: Harness, ca: trustme.CA) -> None:
    with tls_server(ca.issue_cert("127.0.0.1")) as url:
        row = await poll_one_fault(harness, url, "tls", "certificate")
    assert "verify failed" in row.last_error or "unable to get local issuer" in row.last_error


async def test_tls_wrong_host_is_a_clear_feed_error(
    tmp_path: Path, feed_server: FeedServer, ca: trustme.CA
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    limits = dataclasses.replace(LIMITS, ca_bundle=str(bundle))  # the CA is trusted...
    async with harness_for(tmp_path, feed_server, limits) as harness:
        with tls_server(ca.issue_cert("feeds.example")) as url:  # ...but not for this host
            row = await poll_one_fault(harness, url, "tls", "certificate")
    assert "mismatch" in (row.last_error or "").lower()


async def test_tls_trusted_ca_is_accepted(
    tmp_path: Path, feed_server: FeedServer, ca: trustme.CA
) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    limits = dataclasses.replace(LIMITS, ca_bundle=str(bundle))
    async with harness_for(tmp_path, feed_server, limits) as harness:
        with tls_server(ca.issue_cert("127.0.0.1")) as url:
            await harness.add_feeds(url)
            report = await harness.poll()
        assert report.statuses["ok"] == 2, [o.error for o in report.outcomes]
        assert len(await harness.articles_of(url)) == 2


def test_ca_bundle_setting_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFWATCH_CA_BUNDLE", "/etc/defwatch/ca.pem")
    assert FetchLimits().ca_bundle == "/etc/defwatch/ca.pem"
    monkeypatch.delenv("DEFWATCH_CA_BUNDLE")
    assert FetchLimits().ca_bundle is None


# --- documents -------------------------------------------------------------------------------

CYRILLIC = "Азербайджан и Китай проводят военные учения"


@pytest.mark.parametrize(
    ("body", "content_type", "expected_title"),
    [
        pytest.param(
            rss([{"title": CYRILLIC, "link": "https://e/1"}], encoding="windows-1251").encode(
                "cp1251"
            ),
            "application/rss+xml",
            CYRILLIC,
            id="cp1251 declared in the prolog only",
        ),
        pytest.param(
            rss([{"title": CYRILLIC, "link": "https://e/1"}], encoding=None).encode("utf-8"),
            "application/rss+xml",
            CYRILLIC,
            id="no declaration anywhere (utf-8 assumed)",
        ),
        pytest.param(
            rss([{"title": CYRILLIC, "link": "https://e/1"}], encoding="utf-8").encode("utf-8"),
            "application/rss+xml; charset=x-no-such-charset",
            CYRILLIC,
            id="unknown charset in the header",
        ),
        pytest.param(
            rss([{"title": CYRILLIC, "link": "https://e/1"}], encoding="utf-16").encode("utf-16"),
            "text/xml",
            CYRILLIC,
            id="utf-16 with BOM",
        ),
        pytest.param(
            rss([{"title": "Caf\u00e9 talks", "link": "https://e/1"}], encoding=None).encode(
                "latin-1"
            ),
            "application/rss+xml; charset=utf-8",
            None,
            id="latin-1 body labelled utf-8",
        ),
        pytest.param(
            rss([{"title": "Broken \udcff bytes", "link": "https://e/1"}], encoding="utf-8").encode(
                "utf-8", "surrogateescape"
            ),
            "application/rss+xml",
            None,
            id="invalid utf-8 sequence",
        ),
    ],
)
async def test_wrong_or_missing_encodings_are_salvaged(
    harness: Harness, body: bytes, content_type: str, expected_title: str | None
) -> None:
    url = harness.server.add("/enc.xml", body, content_type=content_type)
    await harness.add_feeds(url)
    report = await harness.poll()
    assert report.statuses["ok"] == 2, [o.error for o in report.outcomes]
    [article] = await harness.articles_of(url)
    assert article.url == "https://e/1"
    if expected_title is not None:
        assert article.title == expected_title
    else:
        assert article.title  # something readable was kept; nothing crashed


def billion_laughs(levels: int = 10) -> str:
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10}">' for i in range(1, levels)
    ]
    return (
        '<?xml version="1.0"?><!DOCTYPE rss [' + "".join(entities) + "]>"
        '<rss version="2.0"><channel><title>Laughs</title>'
        f"<item><title>Boom &lol{levels - 1};</title><link>https://e/lol</link></item>"
        "</channel></rss>"
    )


async def test_billion_laughs_is_not_expanded(harness: Harness) -> None:
    url = harness.server.add("/lol.xml", billion_laughs())
    await harness.add_feeds(url)
    started = time.monotonic()
    report = await harness.poll()
    assert time.monotonic() - started < 5
    assert sorted(report.statuses) == ["ok"] or report.statuses.get("not_a_feed") == 1
    for article in await harness.articles_of(url):
        assert len(article.title) < 100 and "lollol" not in article.title


async def test_external_entities_read_no_file_and_no_url(harness: Harness, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("CANARY-7f3a secret file contents", encoding="utf-8")
    canary_url = harness.server.add(
        "/canary.dtd", '<!ENTITY leak "CANARY-NET">', content_type="text/plain"
    )
    body = (
        '<?xml version="1.0"?>'
        "<!DOCTYPE rss ["
        f'<!ENTITY file SYSTEM "file://{secret}">'
        f'<!ENTITY net SYSTEM "{canary_url}">'
        f'<!ENTITY % remote SYSTEM "{canary_url}"> %remote;'
        "]>"
        '<rss version="2.0"><channel><title>XXE</title>'
        "<item><title>File &file; net &net; leak &leak;</title><link>https://e/xxe</link>"
        "<description>&file;</description></item></channel></rss>"
    )
    url = harness.server.add("/xxe.xml", body)
    await harness.add_feeds(url)
    report = await harness.poll()
    assert len(report.outcomes) == 2
    assert harness.server.hits("/canary.dtd") == 0  # no network read
    async with harness.monitor.sessions() as session:
        texts = [
            " ".join(filter(None, (a.title, a.summary)))
            for a in await session.scalars(select(Article))
        ]
        feed_errors = [f.last_error or "" for f in await session.scalars(select(Feed))]
    assert not any("CANARY" in text for text in texts + feed_errors)  # no file read
    healthy = await harness.feed(harness.healthy_url)
    assert healthy.last_status == "ok"


@pytest.mark.parametrize(
    ("body", "headers", "text"),
    [
        pytest.param(
            "<!DOCTYPE html><html><head><title>Parked domain</title></head><body>Buy</body></html>",
            {"Content-Type": "text/html"},
            "HTML page",
            id="parked html page",
        ),
        pytest.param(
            '<html><head><meta http-equiv="refresh" content="0;url=/x"></head></html>',
            {"Content-Type": "application/rss+xml"},
            "redirect",
            id="meta refresh labelled as rss",
        ),
        pytest.param("", {}, "empty", id="empty body"),
        pytest.param('{"items": []}', {"Content-Type": "application/json"}, "no RSS", id="json"),
    ],
)
async def test_non_feed_documents(
    harness: Harness, body: str, headers: dict[str, str], text: str
) -> None:
    url = harness.server.add("/page", body, headers=headers)
    await poll_one_fault(harness, url, "not_a_feed", text)


# --- identity churn --------------------------------------------------------------------------

CHURN_ITEMS = [
    ("Azerbaijan and China sign defence cooperation agreement", "https://news.example/az-cn"),
    ("Turkey and Pakistan hold joint naval exercise", "https://news.example/tr-pk"),
    ("Brazil and Argentina agree to co-produce armoured vehicles", "https://news.example/br-ar"),
]


def churn_feed(fetch_no: int, *, churn_links: bool) -> str:
    items = []
    for n, (title, link) in enumerate(CHURN_ITEMS):
        if churn_links:  # a per-fetch session parameter that is not a known tracking param
            link = f"{link}?session={fetch_no}-{n}"
        items.append(
            {"guid": f"urn:uuid:{fetch_no}-{n}-{time.monotonic_ns()}", "title": title, "link": link}
        )
    return rss(items)


async def _subscribe_chat(harness: Harness, chat_id: int, countries: list[str]) -> None:
    async with harness.monitor.sessions.begin() as session:
        session.add(Chat(id=chat_id, active=True, subscribed_at=datetime.now(UTC)))
        await session.flush()
        for code in countries:
            session.add(WatchRule(chat_id=chat_id, kind="country", value=code, display=code))


@pytest.mark.parametrize("churn_links", [False, True], ids=["guid churn", "guid and link churn"])
async def test_guid_churn_creates_no_new_story_and_no_new_alert(
    harness: Harness, churn_links: bool
) -> None:
    await _subscribe_chat(harness, 1001, ["AZ", "TR", "BR"])
    url = harness.server.add("/churn.xml", churn_feed(0, churn_links=churn_links))
    await harness.add_feeds(url)
    await harness.poll()
    stories, alerts = await harness.count(Story), await harness.count(Alert)
    assert alerts == 3  # one per cooperation story (+ the healthy feed's KE-ET one is unwatched)
    for fetch_no in range(1, 4):
        harness.server.add("/churn.xml", churn_feed(fetch_no, churn_links=churn_links))
        report = await harness.poll()
        assert report.statuses["ok"] >= 1
        assert report.new_story_ids == [], f"fetch {fetch_no} created stories"
        assert await harness.count(Story) == stories
        assert await harness.count(Alert) == alerts  # no re-alert
    articles = await harness.articles_of(url)
    by_title: dict[str, set[int | None]] = {}
    for article in articles:
        by_title.setdefault(article.title, set()).add(article.story_id)
    assert all(len(ids) == 1 and None not in ids for ids in by_title.values()), by_title
    # A page already stored for this feed is not stored again under a new guid; when the
    # link churns too, each fetch stores new rows, but they all join the existing story.
    assert len(articles) == len(CHURN_ITEMS) * (4 if churn_links else 1)
