"""Metrics and health endpoints of a running monitor, scraped over real HTTP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from monitors import store, subscriptions
from monitors.db import async_url
from monitors.errors import ConfigError
from monitors.health import bound_port, serving
from monitors.runner import Monitor
from monitors.settings import Settings, load_settings, parse_listen
from tests.dbfixtures import postgres_server_url
from tests.feedserver import FeedServer
from tests.metricsutil import Samples, delta, parse_samples, value
from tests.tg import free_port, wait_until

COOPERATION_TITLE = "Azerbaijan and China discuss military collaboration"
COOPERATION_SUMMARY = (
    "Azerbaijan's defence minister received a delegation of the Chinese People's Liberation "
    "Army. The sides discussed military cooperation, joint exercises and military education."
)


def rss(*items: tuple[str, str, str]) -> str:
    when = format_datetime(datetime.now(UTC) - timedelta(hours=1))
    entries = "".join(
        f"<item><title>{title}</title><link>https://wire.example/{guid}</link>"
        f"<guid>{guid}</guid><pubDate>{when}</pubDate><description>{summary}</description></item>"
        for guid, title, summary in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{entries}</channel></rss>'


def monitor_settings(tmp_path: Path, database_url: str, *, interval: float = 60.0) -> Settings:
    (tmp_path / "feeds.toml").write_text("# no default feeds in tests\n")
    config = tmp_path / "defwatch.toml"
    config.write_text(
        f'[poll]\ninterval_seconds = {interval}\nfeeds_file = "feeds.toml"\n'
        '[metrics]\nlisten = "127.0.0.1:0"\n'
    )
    return load_settings({"DEFWATCH_CONFIG": str(config), "DEFWATCH_DATABASE_URL": database_url})


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[tuple[Monitor, str]]:
    """A monitor with its operator listener; yields (monitor, base URL)."""
    async with Monitor.open(settings) as monitor, serving(settings, monitor) as server:
        assert server is not None
        yield monitor, f"http://127.0.0.1:{bound_port(server)}"


async def scrape(base: str) -> Samples:
    async with httpx.AsyncClient(timeout=10.0) as client:
        response = await client.get(f"{base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return parse_samples(response.text)


async def get(base: str, path: str) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10.0) as client:
        return await client.get(f"{base}{path}")


async def eventually(check: object, timeout: float, what: str) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await check():  # type: ignore[operator]
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_a_poll_moves_the_counters_by_what_it_found(
    tmp_path: Path, sqlite_url: str, feed_server: FeedServer
) -> None:
    good = feed_server.add(
        "/good.xml",
        rss(
            ("coop-1", COOPERATION_TITLE, COOPERATION_SUMMARY),
            ("jazz-1", "Baku hosts jazz festival", "Musicians perform."),
        ),
        etag='"v1"',
    )
    broken = feed_server.add("/broken.xml", "oops", status=500)
    settings = monitor_settings(tmp_path, sqlite_url)
    async with running(settings) as (monitor, base):
        async with monitor.sessions.begin() as session:
            now = datetime.now(UTC)
            for url in (good, broken):
                await store.add_feed(session, url, now=now)
            await subscriptions.subscribe(session, 77, type="private", title=None, now=now)
            await subscriptions.add_rules(session, 77, "country", [("AZ", "AZ")], limit=50)
        before = await scrape(base)
        assert value(before, "defwatch_feeds", state="never_polled") == 2

        report = await monitor.poll_cycle()
        first = await scrape(base)
        assert report.statuses == {"ok": 1, "http": 1}
        assert delta(before, first, "defwatch_poll_cycles_total") == 1
        assert delta(before, first, "defwatch_poll_cycle_duration_seconds_count") == 1
        assert delta(before, first, "defwatch_feed_fetches_total", outcome="ok") == 1
        assert delta(before, first, "defwatch_feed_fetches_total", outcome="http") == 1
        assert delta(before, first, "defwatch_articles_stored_total") == 2
        assert delta(before, first, "defwatch_stories_stored_total") == 2
        assert delta(before, first, "defwatch_cooperation_stories_total") == 1
        assert delta(before, first, "defwatch_alerts_enqueued_total") == 1
        assert delta(before, first, "defwatch_classify_seconds_count") == 2
        assert delta(before, first, "defwatch_grouping_seconds_count") == 2
        assert delta(before, first, "defwatch_grouping_seconds_sum") > 0
        assert value(first, "defwatch_feeds", state="ok") == 1
        assert value(first, "defwatch_feeds", state="failing") == 1
        assert value(first, "defwatch_feeds", state="never_polled") == 0
        assert value(first, "defwatch_outbox_alerts", status="pending") == 1
        assert value(first, "defwatch_outbox_oldest_pending_age_seconds") >= 0
        assert value(first, "defwatch_database_up") == 1
        assert value(first, "defwatch_poll_interval_seconds") == 60
        assert value(first, "process_resident_memory_bytes") > 1_000_000

        # The same feeds again: the good one answers 304, the broken one fails again.
        await monitor.poll_cycle(every_feed=True)
        second = await scrape(base)
        assert delta(first, second, "defwatch_poll_cycles_total") == 1
        assert delta(first, second, "defwatch_feed_fetches_total", outcome="not_modified") == 1
        assert delta(first, second, "defwatch_feed_fetches_total", outcome="http") == 1
        assert delta(first, second, "defwatch_articles_stored_total") == 0
        assert delta(first, second, "defwatch_alerts_enqueued_total") == 0

    # No label carries a URL or a chat id.
    for name, labels in second:
        for label, label_value in labels:
            assert "://" not in label_value and label_value != "77", (name, label)


async def test_health_follows_the_poll_loop_and_readiness_the_first_cycle(
    tmp_path: Path, sqlite_url: str
) -> None:
    settings = monitor_settings(tmp_path, sqlite_url, interval=1.0)
    async with running(settings) as (monitor, base):
        assert (await get(base, "/readyz")).status_code == 503
        await monitor.poll_cycle()
        ready = await get(base, "/readyz")
        healthy = await get(base, "/healthz")
        assert (ready.status_code, healthy.status_code) == (200, 200)
        assert healthy.json() == {"status": "ok"}

        async def poll_loop() -> None:
            while True:
                await monitor.poll_cycle()
                await asyncio.sleep(0.2)

        # The test hook: holding the cycle lock wedges the poll loop as a hung cycle would.
        await monitor.cycle_lock.acquire()
        loop = asyncio.create_task(poll_loop())
        try:

            async def unhealthy() -> bool:
                return (await get(base, "/healthz")).status_code == 503

            await eventually(unhealthy, 15, "/healthz to report the wedged loop")
            reply = await get(base, "/healthz")
            assert reply.json()["status"] == "unhealthy"
            assert "no poll cycle finished" in reply.json()["reason"]
            monitor.cycle_lock.release()

            async def healthy_again() -> bool:
                return (await get(base, "/healthz")).status_code == 200

            await eventually(healthy_again, 15, "/healthz to recover")
        finally:
            if monitor.cycle_lock.locked():
                monitor.cycle_lock.release()
            loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        assert (await get(base, "/nope")).status_code == 404
        async with httpx.AsyncClient(timeout=10.0) as client:
            assert (await client.post(f"{base}/metrics")).status_code == 405
            head = await client.head(f"{base}/healthz")
            assert head.status_code == 200 and head.content == b""


@pytest.mark.postgres
async def test_healthz_turns_503_while_the_database_refuses_connections(
    tmp_path: Path, postgres_url: str
) -> None:
    server = postgres_server_url()
    assert server is not None
    name = make_url(postgres_url).database
    admin = create_async_engine(async_url(server), isolation_level="AUTOCOMMIT")

    async def admin_run(statement: str) -> None:
        async with admin.connect() as connection:
            await connection.execute(text(statement))

    settings = monitor_settings(tmp_path, postgres_url)
    try:
        async with running(settings) as (monitor, base):
            await monitor.poll_cycle()
            assert (await get(base, "/healthz")).status_code == 200
            # Only this test's own database goes away; the server keeps running.
            await admin_run(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            await admin_run(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                f"WHERE datname = '{name}' AND pid <> pg_backend_pid()"
            )
            down = await get(base, "/healthz")
            assert down.status_code == 503
            assert down.json()["reason"].startswith("database:")
            assert value(await scrape(base), "defwatch_database_up") == 0

            await admin_run(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

            async def recovered() -> bool:
                return (await get(base, "/healthz")).status_code == 200

            await eventually(recovered, 15, "/healthz after the database is back")
            assert value(await scrape(base), "defwatch_database_up") == 1
    finally:
        await admin_run(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.dispose()


async def test_no_listener_unless_configured_and_only_on_the_named_host(
    tmp_path: Path, sqlite_url: str
) -> None:
    assert load_settings({}).metrics_listen is None
    settings = monitor_settings(tmp_path, sqlite_url)
    async with Monitor.open(settings) as monitor:
        off = load_settings({"DEFWATCH_DATABASE_URL": sqlite_url})
        async with serving(off, monitor) as nothing:
            assert nothing is None
        async with serving(settings, monitor) as server:
            assert server is not None
            for sock in server.sockets:
                assert ipaddress.ip_address(sock.getsockname()[0]).is_loopback


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("127.0.0.1:9464", ("127.0.0.1", 9464), id="ipv4 loopback"),
        pytest.param("[::1]:9464", ("::1", 9464), id="ipv6 loopback"),
        pytest.param("0.0.0.0:9464", ("0.0.0.0", 9464), id="every interface, named"),
        pytest.param("", None, id="empty is off"),
    ],
)
def test_listen_address(raw: str, expected: tuple[str, int] | None) -> None:
    assert parse_listen(raw, "metrics.listen") == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(":9464", id="no host"),
        pytest.param("9464", id="port only"),
        pytest.param("127.0.0.1:http", id="port not a number"),
        pytest.param("127.0.0.1:70000", id="port out of range"),
    ],
)
def test_bad_listen_address_is_refused_with_the_key(raw: str) -> None:
    with pytest.raises(ConfigError, match="DEFWATCH_METRICS_LISTEN"):
        load_settings({"DEFWATCH_METRICS_LISTEN": raw})


def test_environment_beats_the_file(tmp_path: Path) -> None:
    config = tmp_path / "defwatch.toml"
    config.write_text('[metrics]\nlisten = "127.0.0.1:9464"\n')
    env = {"DEFWATCH_CONFIG": str(config)}
    assert load_settings(env).metrics_listen == ("127.0.0.1", 9464)
    assert load_settings({**env, "DEFWATCH_METRICS_LISTEN": "127.0.0.1:9465"}).metrics_listen == (
        "127.0.0.1",
        9465,
    )
    assert load_settings({**env, "DEFWATCH_METRICS_LISTEN": ""}).metrics_listen is None


REPO = Path(__file__).resolve().parents[1]


def worker_env(tmp_path: Path, listen: str) -> dict[str, str]:
    (tmp_path / "feeds.toml").write_text("# no default feeds in tests\n")
    config = tmp_path / "defwatch.toml"
    config.write_text('[poll]\ninterval_seconds = 4\nfeeds_file = "feeds.toml"\n')
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEFWATCH_CONFIG": str(config),
        "DEFWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'defwatch.db'}",
        "DEFWATCH_METRICS_LISTEN": listen,
    }


@pytest.mark.slow  # a poll worker subprocess
def test_a_poll_worker_serves_metrics_until_it_stops(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "monitors.cli", "poll"],
        cwd=REPO,
        env=worker_env(tmp_path, f"127.0.0.1:{port}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def ready() -> bool:
            assert worker.poll() is None, "the worker exited"
            try:
                return httpx.get(f"{base}/readyz", timeout=2.0).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, 60, "the worker's first cycle")
        samples = parse_samples(httpx.get(f"{base}/metrics", timeout=5.0).text)
        assert value(samples, "defwatch_poll_cycles_total") >= 1
        assert httpx.get(f"{base}/healthz", timeout=5.0).status_code == 200
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert f"metrics and health checks on http://127.0.0.1:{port}" in stderr


@pytest.mark.slow  # the CLI in a subprocess
def test_a_taken_port_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "monitors.cli", "poll"],
            cwd=REPO,
            env=worker_env(tmp_path, f"127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "DEFWATCH_METRICS_LISTEN" in done.stderr
