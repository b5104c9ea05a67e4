"""Stopping ``defwatch run`` / ``defwatch poll`` mid-cycle, and what one cycle polls.

Real subprocesses against real HTTP feeds (``tests/feedserver.py``) and a real SQLite file;
the bot mode runs ``defwatch run`` with a token against the Telegram emulator (``tests/tg.py``).
The cycle in flight when the signal arrives has feeds failing fast (HTTP 500, retried after
2-4 s), feeds slow to answer (30 s) and, in bot mode, alerts being delivered. A stop must:

* end the process (and its parse pool) within ``STOP_BUDGET`` seconds, exit status 0;
* leave no lease held (the slow feeds are free for the next start at once);
* lose nothing and send nothing twice: after a restart with the slow feeds healed, every
  article is stored once and every chat got exactly one message per watched story.

In-process tests check the same with ``Monitor.stop()`` and that one cycle polls each due feed
at most once, however fast the failing feeds' retries come due.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import signal
import subprocess
import sys
import time
import warnings
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitors.models import Chat, WatchRule
from tests.feedserver import FeedServer
from tests.test_faults_process import (
    ROOT,
    Worker,
    add_feeds,
    healthy_feeds,
    make_rss,
    monitor_for,
    sqlite_query,
    wait_until,
    worker_env,
    workers,
    write_config,
)
from tests.tg import Emulator

STOP_BUDGET = 5.0
FAILING = 20
SLOW = 3
EVENTS = [
    "Azerbaijan and Georgia sign defence cooperation agreement",
    "Kazakhstan and Uzbekistan hold joint military exercise",
    "Poland and Lithuania sign air defence pact",
    "Greece and Egypt agree on naval cooperation",
]
WATCHED = ["AZ", "KZ", "PL", "GR"]  # one country of each event
CHATS = range(700_000, 700_040)
TOKEN = "818181:DEFWATCH-STOP"


def good_items(n: int) -> list[tuple[str, str]]:
    own = [(f"Harbour works report {n}-{k}", f"https://stop.example/{n}/{k}") for k in range(2)]
    return [*own, (EVENTS[n], f"https://stop.example/event/{n}")]


def serve(server: FeedServer, *, slow_delay: float) -> list[str]:
    """Good feeds (an event each), failing-fast feeds, and slow feeds (the same items)."""
    urls = [server.add(f"/good{n}.xml", make_rss(n, good_items(n))) for n in range(len(EVENTS))]
    urls += [server.add(f"/fail{n}.xml", "down", status=500) for n in range(FAILING)]
    urls += [
        server.add(f"/slow{n}.xml", make_rss(100 + n, good_items(n)), delay=slow_delay)
        for n in range(SLOW)
    ]
    return urls


async def _subscribe(database_url: str) -> None:
    from monitors.db import open_database

    engine, sessions = await open_database(database_url)
    try:
        async with sessions.begin() as session:
            now = datetime.now(UTC)
            for chat_id in CHATS:
                session.add(Chat(id=chat_id, active=True, subscribed_at=now))
            await session.flush()
            for chat_id in CHATS:
                code = WATCHED[chat_id % len(WATCHED)]
                session.add(WatchRule(chat_id=chat_id, kind="country", value=code, display=code))
    finally:
        await engine.dispose()


def timed_stop(worker: Worker, sig: int) -> tuple[float, float]:
    """Send ``sig``; seconds until the process exited and until its helpers were gone."""
    started = time.monotonic()
    worker.process.send_signal(sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.process.wait(timeout=60)
    exited = time.monotonic() - started
    while worker.helpers() and time.monotonic() - started < 60:
        time.sleep(0.05)
    return exited, time.monotonic() - started


def unexpected_errors(log: str) -> list[str]:
    """ERROR lines and cancellations, but for PTB's report of each emulated 429 (RetryAfter,
    which reaches ``bot.delivery`` on purpose: ``max_retries=0``)."""
    return [
        line
        for line in log.splitlines()
        if ("ERROR" in line and "AIORateLimiter: Rate limit hit" not in line)
        or "CancelledError" in line
    ]


def delivered(emulator: Emulator) -> Counter[tuple[int, str]]:
    """(chat, event) -> how many messages the bot sent about it."""
    sent: Counter[tuple[int, str]] = Counter()
    for message in emulator.messages(TOKEN):
        for event in EVENTS:
            if event in message.text:
                sent[(message.chat_id, event)] += 1
    return sent


def expected_deliveries() -> set[tuple[int, str]]:
    return {(chat, EVENTS[chat % len(EVENTS)]) for chat in CHATS}


MODES = [
    pytest.param("poll", signal.SIGTERM, False, id="poll-SIGTERM"),
    pytest.param("run", signal.SIGINT, False, id="run-console-SIGINT"),
    pytest.param("run", signal.SIGTERM, True, id="run-bot-SIGTERM", marks=pytest.mark.emulator),
]


@pytest.mark.slow  # a poller subprocess stopped mid-cycle: ~6 s a case
@pytest.mark.timeout(240)
@pytest.mark.parametrize(("command", "sig", "bot"), MODES)
def test_stop_mid_cycle_is_quick_and_loses_nothing(
    tmp_path: Path,
    feed_server: FeedServer,
    request: pytest.FixtureRequest,
    command: str,
    sig: int,
    bot: bool,
) -> None:
    emulator: Emulator | None = request.getfixturevalue("tg_emulator") if bot else None
    urls = serve(feed_server, slow_delay=30)
    db = tmp_path / "defwatch.db"
    database_url = f"sqlite:///{db}"
    env = worker_env(write_config(tmp_path, urls, lease_seconds=60), database_url, interval=2)
    if emulator is not None:
        env.update(TELEGRAM_BOT_TOKEN=TOKEN, TELEGRAM_API_BASE_URL=emulator.bot_api_base)
        seeded = subprocess.run(
            [sys.executable, "-m", "bot.cli", "feeds", "list"], env=env, cwd=ROOT,
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert seeded.returncode == 0, seeded.stderr
        asyncio.run(_subscribe(database_url))
        emulator.set_rate_limit(global_per_sec=15, retry_after=1, token=TOKEN)
    try:
        with workers() as running:
            first = Worker(env, tmp_path / "first.log", command=command)
            running.append(first)

            def mid_cycle() -> bool:
                assert first.alive(), first.output()[-3000:]
                slow_in_flight = all(feed_server.hits(f"/slow{n}.xml") for n in range(SLOW))
                retried = sum(feed_server.hits(f"/fail{n}.xml") for n in range(FAILING))
                started_sending = emulator is None or bool(delivered(emulator))
                good = healthy_feeds(db) == len(EVENTS)
                return slow_in_flight and retried >= FAILING and good and started_sending

            wait_until(mid_cycle, 90, "a cycle with slow feeds in flight")
            time.sleep(1.0)  # the failing feeds' short retries come due meanwhile
            exited, helpers_gone = timed_stop(first, sig)
            print(f"\nSTOP {command}{' (bot)' if bot else ''} {signal.Signals(sig).name}: "
                  f"exited in {exited:.2f}s, helpers gone in {helpers_gone:.2f}s")  # fmt: skip
            assert first.stop() == 0, first.output()[-3000:]
            assert exited <= STOP_BUDGET and helpers_gone <= STOP_BUDGET, first.output()[-3000:]
            assert not unexpected_errors(first.output()), first.output()[-3000:]
            held = sqlite_query(db, "SELECT url FROM feed WHERE lease_owner IS NOT NULL")
            assert held == [], f"leases left behind: {held}"

            # Restart with the slow feeds healed: everything arrives, once.
            for n in range(SLOW):
                feed_server.add(f"/slow{n}.xml", make_rss(100 + n, good_items(n)))
            second = Worker(env, tmp_path / "second.log", command=command)
            running.append(second)
            wait_until(
                lambda: healthy_feeds(db) == len(EVENTS) + SLOW, 90, "the restart to poll all"
            )
            if emulator is not None:
                wait_until(
                    lambda: set(delivered(emulator)) >= expected_deliveries(),
                    90,
                    "every alert delivered after the restart",
                )
                time.sleep(1.0)  # a duplicate would arrive now
            assert not unexpected_errors(second.output()), second.output()[-3000:]
    finally:
        if emulator is not None:
            emulator.set_rate_limit()
    articles = sqlite_query(db, "SELECT feed_id, entry_key FROM article")
    assert len(articles) == (len(EVENTS) + SLOW) * 3  # nothing lost
    assert len(set(articles)) == len(articles)  # nothing twice
    if emulator is not None:
        sent = delivered(emulator)
        assert set(sent) == expected_deliveries()
        assert max(sent.values()) == 1, [k for k, v in sent.items() if v > 1]


# --- in process ------------------------------------------------------------------------------


async def test_one_cycle_polls_each_due_feed_at_most_once(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Failing feeds come due again (0.2-0.4 s) long before the slow feed answers (2 s)."""
    failing = [feed_server.add(f"/once{n}.xml", "down", status=503) for n in range(5)]
    slow = feed_server.add("/once-slow.xml", make_rss(1, good_items(0)), delay=2.0)
    async with monitor_for(f"sqlite:///{tmp_path / 'once.db'}", poll_interval=0.2) as monitor:
        await add_feeds(monitor, [*failing, slow])
        report = await monitor.poll_cycle()
    assert len(report.outcomes) == 6  # (statuses vary on a loaded machine: 503 or a timeout)
    assert Counter(o.feed_id for o in report.outcomes).most_common(1)[0][1] == 1
    assert [feed_server.hits(f"/once{n}.xml") for n in range(5)] == [1] * 5


async def test_stop_abandons_fetches_in_flight_and_releases_leases(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    slow = [
        feed_server.add(f"/held{n}.xml", make_rss(n, good_items(n)), delay=30) for n in range(3)
    ]
    fast = feed_server.add("/fast.xml", make_rss(9, good_items(1)))
    db = tmp_path / "stop.db"
    async with monitor_for(f"sqlite:///{db}") as monitor:
        await add_feeds(monitor, [*slow, fast])
        cycle = asyncio.create_task(monitor.poll_cycle())
        while not all(feed_server.hits(f"/held{n}.xml") for n in range(3)):
            await asyncio.sleep(0.05)
        while healthy_feeds(db) < 1:
            await asyncio.sleep(0.05)
        started = time.monotonic()
        monitor.stop()
        report = await asyncio.wait_for(cycle, STOP_BUDGET)
        took = time.monotonic() - started
        assert took < 1.0, took
        assert report.statuses == {"ok": 1}  # the fast feed; the slow ones were abandoned
        assert sqlite_query(db, "SELECT count(*) FROM feed WHERE lease_owner IS NOT NULL") == [(0,)]
        assert (await monitor.poll_cycle()).outcomes == []  # no claims once stopping
    assert sqlite_query(db, "SELECT count(*) FROM article") == [(3,)]


async def test_short_cycles_leave_no_task_or_connection_behind(tmp_path: Path) -> None:
    """A cycle with nothing due ends at once, cancelling its lease keeper while it may still be
    opening its connection. The keeper must be finished, and its connection closed, before the
    cycle returns: a leaked connection surfaces later as a ResourceWarning, and at exit
    asyncio.run waited forever on the orphaned task (`defwatch poll --once` hung)."""
    async with monitor_for(f"sqlite:///{tmp_path / 'short.db'}") as monitor:
        before = asyncio.all_tasks()
        for _ in range(40):
            assert (await monitor.poll_cycle()).outcomes == []
            await asyncio.sleep(random.random() * 0.002)  # vary where the keeper is cut
        assert asyncio.all_tasks() == before
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
