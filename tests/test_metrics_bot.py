"""The bot process's /metrics, scraped over HTTP while it polls a local feed and delivers an
alert through the Telegram emulator (with one injected 429)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest

from tests.feedserver import FeedServer
from tests.metricsutil import Samples, delta, parse_samples, value
from tests.tg import Emulator, free_port, running_bot, wait_until

TOKEN = "464646:DEFWATCH-METRICS"
CHAT = 4601
STORY = (
    "az-cn-1",
    "Azerbaijan and China discuss military collaboration",
    "Azerbaijan's defence minister received a delegation of the Chinese People's Liberation "
    "Army. The sides discussed military cooperation, joint exercises and military education.",
)
QUIET = ("jazz-1", "Baku hosts jazz festival", "Musicians perform.")


def rss(*items: tuple[str, str, str]) -> str:
    when = format_datetime(datetime.now(UTC) - timedelta(minutes=30))
    entries = "".join(
        f"<item><title>{title}</title><link>https://wire.example/{guid}</link>"
        f"<guid>{guid}</guid><pubDate>{when}</pubDate><description>{summary}</description></item>"
        for guid, title, summary in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>{entries}</channel></rss>'


@pytest.fixture
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def scrape(base: str) -> Samples:
    response = httpx.get(f"{base}/metrics", timeout=10.0)
    assert response.status_code == 200
    return parse_samples(response.text)


def status(base: str, path: str) -> int:
    try:
        return httpx.get(f"{base}{path}", timeout=5.0).status_code
    except httpx.HTTPError:
        return 0


@pytest.mark.emulator
def test_bot_metrics_count_a_poll_and_a_delivery(
    tg_emulator: Emulator, feeds: FeedServer, tmp_path: Path
) -> None:
    feed_url = feeds.add("/wire.xml", rss(QUIET))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {"DEFWATCH_METRICS_LISTEN": f"127.0.0.1:{port}"}
    feed_list = f'[[feed]]\nurl = "{feed_url}"\n'
    with running_bot(tg_emulator, tmp_path, TOKEN, env=env, feeds=feed_list):
        wait_until(lambda: status(base, "/readyz") == 200, 30, "readiness (first poll cycle)")
        assert status(base, "/healthz") == 200
        user = tg_emulator.user(TOKEN, CHAT)
        user.ask("/start")
        assert "Now watching" in user.ask("/watch azerbaijan").text
        tg_emulator.add_fault(
            method="sendMessage", chat_id=CHAT, error_code=429, retry_after=1, times=1
        )
        before = scrape(base)
        assert value(before, "defwatch_feed_fetches_total", outcome="ok") >= 1

        feeds.add("/wire.xml", rss(STORY, QUIET))
        [alert] = user.wait_messages(1, timeout=30)
        assert STORY[1] in alert.text

        def delivered() -> bool:
            return (
                delta(
                    before,
                    scrape(base),
                    "defwatch_deliveries_total",
                    kind="message",
                    outcome="sent",
                )
                >= 1
            )

        wait_until(delivered, 10, "the delivery to be counted")
        after = scrape(base)

    assert delta(before, after, "defwatch_poll_cycles_total") >= 1
    assert delta(before, after, "defwatch_feed_fetches_total", outcome="ok") >= 1
    assert delta(before, after, "defwatch_articles_stored_total") == 1
    assert delta(before, after, "defwatch_stories_stored_total") == 1
    assert delta(before, after, "defwatch_cooperation_stories_total") == 1
    assert delta(before, after, "defwatch_alerts_enqueued_total") == 1
    assert delta(before, after, "defwatch_deliveries_total", kind="message", outcome="sent") == 1
    assert delta(before, after, "defwatch_deliveries_total", kind="message", outcome="retry") == 1
    assert delta(before, after, "defwatch_telegram_rate_limited_total") == 1
    assert delta(before, after, "defwatch_telegram_retry_after_seconds_total") == 1
    assert value(after, "defwatch_outbox_alerts", status="pending") == 0
    assert value(after, "defwatch_outbox_oldest_pending_age_seconds") == 0
    assert value(after, "process_resident_memory_bytes") > 1_000_000
    assert status(base, "/healthz") == 0, "the listener closes with the bot"
