"""Feed leases (renewed while a poll runs, fenced at commit, released on a stop) and the one
job table every way of running schedules (``monitors.jobs``).

SQLite and PostgreSQL (``sessions`` / ``database_url`` fixtures), real HTTP feeds on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import store
from monitors.db import open_database
from monitors.domain import Classification, NormalisedEntry
from monitors.jobs import PURGE_EVERY, jobs_for, poll_tick
from monitors.models import Article, Feed
from monitors.settings import load_settings
from tests.feedserver import FeedServer
from tests.test_faults_process import ROOT, add_feeds, make_rss, monitor_for, sqlite_query
from tests.tg import BotProcess, Emulator, wait_until

NOW = datetime.now(UTC)
LEASE = timedelta(seconds=30)
_numbers = itertools.count()


async def _feed(
    sessions: async_sessionmaker[AsyncSession], owner: str | None, until: datetime
) -> int:
    async with sessions.begin() as session:
        await store.add_feed(session, f"https://lease.example/{next(_numbers)}", now=NOW)
        feed_id = await session.scalar(select(Feed.id).order_by(Feed.id.desc()).limit(1))
        assert feed_id is not None
        await session.execute(
            update(Feed).where(Feed.id == feed_id).values(lease_owner=owner, lease_until=until)
        )
        return feed_id


@pytest.mark.parametrize(
    ("owner", "until", "renewed"),
    [
        pytest.param("me", NOW + LEASE, True, id="own-live-lease"),
        pytest.param("me", NOW - timedelta(seconds=1), True, id="ran-out-not-taken-over"),
        pytest.param("other", NOW + LEASE, False, id="taken-over"),
        pytest.param(None, NOW - LEASE, False, id="released"),
    ],
)
async def test_renew_only_a_lease_nobody_took_over(
    sessions: async_sessionmaker[AsyncSession], owner: str | None, until: datetime, renewed: bool
) -> None:
    feed_id = await _feed(sessions, owner, until)
    async with sessions.begin() as session:
        got = await store.renew_leases(session, [feed_id], owner="me", now=NOW, lease=LEASE)
    assert got == ({feed_id} if renewed else set())
    async with sessions() as session:
        row = (await session.execute(select(Feed.lease_owner, Feed.lease_until))).one()
    assert row.lease_owner == owner
    expected = NOW + LEASE if renewed else until
    assert row.lease_until is not None
    assert abs((row.lease_until.replace(tzinfo=UTC) - expected).total_seconds()) < 1


async def test_release_gives_up_only_own_leases(sessions: async_sessionmaker[AsyncSession]) -> None:
    mine = await _feed(sessions, "me", NOW + LEASE)
    theirs = await _feed(sessions, "other", NOW + LEASE)
    async with sessions.begin() as session:
        await store.release_leases(session, [mine, theirs], owner="me")
    async with sessions() as session:
        owners = {i: o for i, o in (await session.execute(select(Feed.id, Feed.lease_owner))).all()}
    assert owners == {mine: None, theirs: "other"}


async def test_claim_skips_feeds_the_cycle_took_and_feeds_due_after_it_began(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    ids = [await _feed(sessions, None, NOW - LEASE) for _ in range(3)]
    async with sessions.begin() as session:
        await session.execute(
            update(Feed).where(Feed.id == ids[2]).values(next_poll_at=NOW + timedelta(seconds=5))
        )
        claimed = await store.claim_due_feeds(
            session,
            now=NOW + timedelta(seconds=10),
            due_by=NOW,
            exclude={ids[0]},
            limit=10,
            owner="me",
            lease=LEASE,
        )
    assert [f.id for f in claimed] == [ids[1]]


# --- a poll slower than its lease ------------------------------------------------------------


@pytest.mark.slow  # a poll held past several lease renewals (~4 s)
async def test_slow_poll_keeps_its_lease_and_no_other_worker_fetches_it(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Lease 1 s, the feed answers in 3.5 s: the holder renews it; a second worker polling all
    along never fetches the feed meanwhile."""
    url = feed_server.add(
        "/slow.xml", make_rss(1, [("Slow item", "https://l.example/1")]), delay=3.5
    )
    database_url = f"sqlite:///{tmp_path / 'lease.db'}"
    async with (
        monitor_for(database_url, lease_seconds=1.0) as first,
        monitor_for(database_url, lease_seconds=1.0) as second,
    ):
        await add_feeds(first, [url])
        cycle = asyncio.create_task(first.poll_cycle())
        while not feed_server.hits("/slow.xml"):
            await asyncio.sleep(0.02)
        others = []
        while not cycle.done():
            others.append(await second.poll_cycle())
            await asyncio.sleep(0.2)
        report = await cycle
    assert report.statuses == {"ok": 1}
    assert all(not other.outcomes for other in others)
    assert feed_server.hits("/slow.xml") == 1 and feed_server.max_concurrent("/slow.xml") == 1
    assert sqlite_query(tmp_path / "lease.db", "SELECT count(*) FROM article") == [(1,)]


async def test_a_worker_that_lost_its_lease_stores_nothing(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The lease is taken over while the fetch is in flight (this worker stalled past it):
    the result is dropped, the new holder's lease stands."""
    url = feed_server.add(
        "/lost.xml", make_rss(2, [("Lost item", "https://l.example/2")]), delay=1.0
    )
    db = tmp_path / "lost.db"
    async with monitor_for(f"sqlite:///{db}", lease_seconds=60.0) as monitor:
        await add_feeds(monitor, [url])
        cycle = asyncio.create_task(monitor.poll_cycle())
        while not feed_server.hits("/lost.xml"):
            await asyncio.sleep(0.02)
        taken_until = datetime.now(UTC) + timedelta(minutes=5)
        async with monitor.sessions.begin() as session:
            await session.execute(update(Feed).values(lease_owner="other", lease_until=taken_until))
        report = await cycle
        async with monitor.sessions() as session:
            owner = await session.scalar(select(Feed.lease_owner))
            articles = await session.scalar(select(Article.id).limit(1))
    assert report.statuses == {"lease_lost": 1}
    assert owner == "other" and articles is None


# --- one job table -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("telegram", "watchlists", "names"),
    [
        pytest.param(False, False, ["poll", "purge"], id="console"),
        pytest.param(True, False, ["poll", "purge", "deliver"], id="bot"),
        pytest.param(True, True, ["poll", "purge", "deliver", "watchlists"], id="bot-with-lists"),
    ],
)
def test_job_table_per_mode(
    tmp_path: Path, telegram: bool, watchlists: bool, names: list[str]
) -> None:
    settings = dataclasses.replace(
        load_settings({}),
        poll_interval=600.0,
        watchlists_file=tmp_path / "lists.toml" if watchlists else None,
    )
    jobs = jobs_for(settings, telegram=telegram)
    assert [job.name for job in jobs] == names
    assert jobs[0].every == poll_tick(600.0) == 30.0
    assert jobs[1].every == PURGE_EVERY and jobs[1].first < 60  # soon after every start


@pytest.mark.parametrize(("interval", "tick"), [(1.0, 1.0), (8.0, 2.0), (900.0, 30.0)])
def test_poll_tick(interval: float, tick: float) -> None:
    assert poll_tick(interval) == tick


def test_bot_schedules_the_whole_table() -> None:
    from bot.app import build_application, schedule_jobs

    settings = dataclasses.replace(load_settings({}), bot_token="1:TEST", watchlists_file=None)
    application = build_application(settings)
    schedule_jobs(application)
    assert application.job_queue is not None
    scheduled = sorted(job.name or "" for job in application.job_queue.jobs())
    assert scheduled == sorted(job.name for job in jobs_for(settings, telegram=True))


# --- retention in every way of running -------------------------------------------------------

OLD_TITLE = "Harbour cranes repainted"


async def _old_article(database_url: str, *, days: int) -> None:
    engine, sessions = await open_database(database_url)
    try:
        async with sessions.begin() as session:
            when = datetime.now(UTC) - timedelta(days=days)
            await store.add_feed(session, "https://old.example/rss", now=when)
            feed_id = await session.scalar(select(Feed.id))
            assert feed_id is not None
            entry = NormalisedEntry(
                entry_key="old-1",
                url="https://old.example/1",
                title=OLD_TITLE,
                summary=f"{OLD_TITLE}.",
                published_at=when,
                language="en",
            )
            verdict = Classification(False, 0.0, (), (), None, ())
            await store.insert_article(session, feed_id, entry, verdict, fetched_at=when)
            await session.execute(update(Feed).values(enabled=False))  # never polled here
    finally:
        await engine.dispose()


def _prepare_old_database(tmp_path: Path, env: dict[str, str]) -> Path:
    """A database (migrated by ``feeds list``) holding one article 40 days old."""
    db = tmp_path / "retention.db"
    migrated = subprocess.run(
        [sys.executable, "-m", "bot.cli", "feeds", "list"], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert migrated.returncode == 0, migrated.stderr
    asyncio.run(_old_article(f"sqlite:///{db}", days=40))
    assert sqlite_query(db, "SELECT count(*) FROM article") == [(1,)]
    return db


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    (tmp_path / "feeds.toml").write_text("# none\n")
    (tmp_path / "defwatch.toml").write_text(
        f'[poll]\nfeeds_file = "{tmp_path / "feeds.toml"}"\n[storage]\nretention_days = 30\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEFWATCH_", "TELEGRAM_"))}
    env.update(
        DEFWATCH_CONFIG=str(tmp_path / "defwatch.toml"),
        DEFWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'retention.db'}",
        **extra,
    )
    return env


@pytest.mark.emulator
def test_the_bot_applies_retention(tmp_path: Path, tg_emulator: Emulator) -> None:
    token = "828282:DEFWATCH-RETENTION"
    env = _env(tmp_path, TELEGRAM_BOT_TOKEN=token, TELEGRAM_API_BASE_URL=tg_emulator.bot_api_base)
    db = _prepare_old_database(tmp_path, env)
    process = BotProcess(tg_emulator, token, env, tmp_path / "bot.log").start(timeout=60)
    try:
        wait_until(
            lambda: sqlite_query(db, "SELECT count(*) FROM article") == [(0,)],
            90,
            "the bot's purge job to remove the 40-day-old article",
        )
    finally:
        process.stop()
    assert "retention: removed 1 old articles" in process.log()


@pytest.mark.slow  # the console in a subprocess until its first purge
def test_the_console_applies_retention(tmp_path: Path) -> None:
    from tests.test_faults_process import Worker, workers

    env = _env(tmp_path)
    db = _prepare_old_database(tmp_path, env)
    with workers() as running:
        worker = Worker(env, tmp_path / "console.log", command="run")
        running.append(worker)
        wait_until(
            lambda: sqlite_query(db, "SELECT count(*) FROM article") == [(0,)],
            90,
            "the console's purge job to remove the 40-day-old article",
        )
        assert worker.stop() == 0
    assert "retention: removed 1 old articles" in worker.output()
