"""Process and database faults: kill -9 mid-poll, a busy SQLite writer, dropped PostgreSQL
connections. Real subprocesses (``python -m bot.cli poll``), real HTTP, real databases.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import create_async_engine

from monitors import store
from monitors.db import async_url, open_database, sqlite_busy_timeout_ms
from monitors.errors import ConfigError
from monitors.fetch import Fetcher, FetchLimits
from monitors.models import Article, Feed, Story
from monitors.runner import Monitor, PollReport
from monitors.settings import BUSY_TIMEOUT_ENV, load_settings
from tests import dbfixtures
from tests.feedserver import FeedServer

pytestmark = pytest.mark.slow  # worker subprocesses, kills, held locks and dropped connections

postgres_url = dbfixtures.postgres_url  # fixture

ROOT = Path(__file__).resolve().parents[1]


# --- shared helpers (also used by test_scale_out.py) -----------------------------------------


def make_rss(feed_no: int, items: list[tuple[str, str]]) -> str:
    """A small RSS document; ``items`` are (title, link)."""
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link>"
        f"<description>{title}. Report {feed_no}.</description>"
        "<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>"
        for title, link in items
    )
    channel = f"<channel><title>Feed {feed_no}</title>{body}</channel>"
    return f'<?xml version="1.0"?><rss version="2.0">{channel}</rss>'


def write_config(
    tmp_path: Path,
    feed_urls: list[str],
    *,
    lease_seconds: float,
    max_per_host: int = 8,
    total_timeout: float = 20.0,
) -> Path:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text("".join(f'[[feed]]\nurl = "{url}"\n' for url in feed_urls), encoding="utf-8")
    config = tmp_path / "defwatch.toml"
    config.write_text(
        "[poll]\n"
        f'feeds_file = "{feeds}"\n'
        f"lease_seconds = {lease_seconds}\n"
        f"max_per_host = {max_per_host}\n"
        "max_connections = 40\n"
        "connect_timeout = 5.0\n"
        f"read_timeout = {total_timeout}\n"
        f"total_timeout = {total_timeout}\n"
        "max_backoff_seconds = 30\n",
        encoding="utf-8",
    )
    return config


def worker_env(config: Path, database_url: str, *, interval: float, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEFWATCH_", "TELEGRAM_"))}
    env.update(
        DEFWATCH_CONFIG=str(config),
        DEFWATCH_DATABASE_URL=database_url,
        DEFWATCH_POLL_INTERVAL=str(interval),
        PYTHONWARNINGS="error::DeprecationWarning",
        PYTHONPATH=os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH")))),
        **extra,
    )
    return env


class Worker:
    """One ``defwatch poll`` (or ``command``) subprocess with its output in a file; reaped."""

    def __init__(self, env: dict[str, str], log: Path, *args: str, command: str = "poll") -> None:
        self.log_path = log
        self._log: IO[bytes] = log.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", command, *args],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

        self.orphans: set[int] = set()

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind runs in the worker.

        Its helper processes (parse pool, fork server, resource tracker) should then exit by
        themselves; any still alive after a few seconds are recorded in ``orphans`` (see
        ``test_kill_9_leaves_no_orphan_processes``) and killed, by pid, so no test leaks them.
        """
        if self.alive():
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)
        # Its helpers are found by their stdout, inherited from the worker: our log file (a
        # snapshot of the process tree before the kill could miss a helper starting up).
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.helpers():
            time.sleep(0.1)
        self.orphans = self.helpers()
        for pid in self.orphans:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def helpers(self) -> set[int]:
        """Live processes other than the worker writing to this worker's log."""
        target = str(self.log_path.resolve())
        found = set()
        for fd in Path("/proc").glob("[0-9]*/fd/1"):
            with contextlib.suppress(OSError):
                pid = int(fd.parent.parent.name)
                if pid != self.pid and os.readlink(fd) == target and _alive(pid):
                    found.add(pid)
        return found

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """SIGTERM (a graceful stop; or ``sig``), escalating to SIGKILL."""
        if self.alive():
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=30)
        deadline = time.monotonic() + 10  # a graceful stop shuts the parse pool down
        while time.monotonic() < deadline and self.helpers():
            time.sleep(0.1)
        for pid in self.helpers():  # never leak a process, whatever the worker did
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._log.close()
        return int(self.process.returncode)

    def output(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(encoding="utf-8", errors="replace")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@contextlib.contextmanager
def workers() -> Iterator[list[Worker]]:
    started: list[Worker] = []
    try:
        yield started
    finally:
        for worker in started:
            worker.stop()


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def healthy_feeds(db: Path) -> int:
    """Feeds whose latest poll worked (ok, or unchanged / not modified since)."""
    rows = sqlite_query(
        db, "SELECT count(*) FROM feed WHERE last_ok_at IS NOT NULL AND consecutive_errors = 0"
    )
    return int(rows[0][0]) if rows else 0


def sqlite_query(path: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    connection = sqlite3.connect(path, timeout=30)
    try:
        return connection.execute(sql, params).fetchall()
    except sqlite3.OperationalError:  # the schema is not there yet (worker still migrating)
        return []
    finally:
        connection.close()


# --- kill -9 during a poll -------------------------------------------------------------------

ITEMS_PER_FEED = 3


SHARED = ("Azerbaijan and Georgia sign defence cooperation agreement", "https://k.example/shared")


def kill_items(n: int) -> list[tuple[str, str]]:
    own = [
        (f"Item {k} of feed {n} about harbour works", f"https://k.example/{n}/{k}")
        for k in range(ITEMS_PER_FEED)
    ]
    return [*own, SHARED]


def kill_feeds(server: FeedServer, count: int, *, slow: set[int]) -> list[str]:
    return [
        server.add(f"/f{n}.xml", make_rss(n, kill_items(n)), delay=60 if n in slow else 0.0)
        for n in range(count)
    ]


def assert_complete_and_unique(db: Path, feed_count: int) -> None:
    articles = sqlite_query(db, "SELECT feed_id, entry_key, url, story_id FROM article")
    assert len(articles) == feed_count * (ITEMS_PER_FEED + 1), len(articles)  # nothing lost
    assert len({(f, k) for f, k, _, _ in articles}) == len(articles)  # no duplicates
    assert all(story is not None for *_, story in articles)
    stories_per_url: dict[str, set[int]] = {}
    for _, _, url, story in articles:
        stories_per_url.setdefault(url, set()).add(story)
    split = {url: ids for url, ids in stories_per_url.items() if len(ids) > 1}
    assert not split, f"one link stored as several stories: {split}"
    feeds = sqlite_query(db, "SELECT last_status, lease_owner FROM feed")
    assert len(feeds) == feed_count
    assert all(status in ("ok", "unchanged", "not_modified") for status, _ in feeds), feeds
    assert all(owner is None or ":" in owner for _, owner in feeds)


def test_kill_9_during_poll_then_restart(tmp_path: Path, feed_server: FeedServer) -> None:
    slow = {2, 5, 7}
    urls = kill_feeds(feed_server, 8, slow=slow)
    db = tmp_path / "defwatch.db"
    config = write_config(tmp_path, urls, lease_seconds=4)
    env = worker_env(config, f"sqlite:///{db}", interval=2)
    with workers() as running:
        first = Worker(env, tmp_path / "w1.log")
        running.append(first)
        fast = len(urls) - len(slow)

        def fast_feeds_stored_and_slow_in_flight() -> bool:
            in_flight = all(feed_server.hits(f"/f{n}.xml") >= 1 for n in slow)
            return in_flight and healthy_feeds(db) == fast

        wait_until(
            fast_feeds_stored_and_slow_in_flight, 60, "the first poll to reach the slow feeds"
        )
        first.kill()  # mid-poll: three fetches in flight, their feeds leased to the dead worker
        leased = sqlite_query(
            db, "SELECT id, lease_owner, lease_until FROM feed WHERE lease_owner IS NOT NULL"
        )
        assert len(leased) == len(slow)
        assert all(f":{first.pid}:" in owner for _, owner, _ in leased)
        lease_until = max(datetime.fromisoformat(until) for *_, until in leased)

        for n in slow:  # the slow servers heal
            feed_server.add(f"/f{n}.xml", make_rss(n, kill_items(n)))
        second = Worker(env, tmp_path / "w2.log")
        running.append(second)
        wait_until(
            lambda: healthy_feeds(db) == len(urls),
            60,
            "the restarted worker to take over the expired leases",
        )
        # (Checked before SIGTERM: stopping mid-cycle logs the cancelled job; see the report.)
        assert "Traceback" not in second.output(), second.output()
        assert second.alive()

    taken_over = sqlite_query(
        db,
        f"SELECT last_polled_at FROM feed WHERE id IN ({','.join(str(i) for i, *_ in leased)})",
    )
    # The dead worker's leases were respected until they expired, then taken over.
    assert all(datetime.fromisoformat(t) >= lease_until for (t,) in taken_over), (
        taken_over,
        lease_until,
    )
    assert_complete_and_unique(db, len(urls))


def test_kill_9_leaves_no_orphan_processes(tmp_path: Path, feed_server: FeedServer) -> None:
    urls = kill_feeds(feed_server, 4, slow={3})
    db = tmp_path / "defwatch.db"
    env = worker_env(write_config(tmp_path, urls, lease_seconds=4), f"sqlite:///{db}", interval=2)
    with workers() as running:
        worker = Worker(env, tmp_path / "orphans.log")
        running.append(worker)
        wait_until(lambda: healthy_feeds(db) == 3, 60, "the fast feeds to be parsed and stored")
        assert worker.helpers(), "expected helper processes (the parse pool)"
        worker.kill()
    assert worker.orphans == set(), f"orphaned helper processes: {sorted(worker.orphans)}"


def test_repeated_random_kills_lose_and_duplicate_nothing(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """Chaos: kill -9 at random moments (during fetches, parses or commits), five times."""
    count = 30
    urls = []
    for n in range(count):
        items = [
            (f"Story {k} from desk {n} on port logistics", f"https://r.example/{n}/{k}")
            for k in range(ITEMS_PER_FEED)
        ]
        items.append(
            (
                "Azerbaijan and Georgia sign defence cooperation agreement",
                "https://r.example/shared",
            )
        )
        urls.append(feed_server.add(f"/r{n}.xml", make_rss(n, items), delay=0.05 * (n % 7)))
    db = tmp_path / "defwatch.db"
    env = worker_env(
        write_config(tmp_path, urls, lease_seconds=1, max_per_host=4), f"sqlite:///{db}", interval=1
    )
    rng = random.Random(5)
    with workers() as running:
        for round_no in range(5):
            worker = Worker(env, tmp_path / f"chaos{round_no}.log")
            running.append(worker)
            wait_until(lambda: bool(sqlite_query(db, "SELECT 1 FROM feed LIMIT 1")), 60, "startup")
            time.sleep(rng.uniform(0.2, 1.5))
            worker.kill()
        final = Worker(env, tmp_path / "final.log")
        running.append(final)
        wait_until(lambda: healthy_feeds(db) == count, 90, "every feed polled after the kills")
        assert "Traceback" not in final.output(), final.output()
    articles = sqlite_query(
        db, "SELECT count(*), count(DISTINCT feed_id || ' ' || entry_key) FROM article"
    )
    assert articles == [(count * (ITEMS_PER_FEED + 1), count * (ITEMS_PER_FEED + 1))]
    assert sqlite_query(db, "PRAGMA integrity_check") == [("ok",)]


# --- SQLite busy with another writer ---------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("", 30_000), ("0.2", 200), ("5", 5_000), ("0", 0), ("abc", None), ("-1", None)],
)
def test_sqlite_busy_timeout_setting(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: int | None
) -> None:
    monkeypatch.setenv(BUSY_TIMEOUT_ENV, value)
    if expected is None:
        with pytest.raises(ConfigError, match=BUSY_TIMEOUT_ENV):
            sqlite_busy_timeout_ms()
    else:
        assert sqlite_busy_timeout_ms() == expected


@contextlib.contextmanager
def writer_holding_lock(db: Path, seconds: float) -> Iterator[threading.Event]:
    """Another connection holds SQLite's write lock for ``seconds`` (a real second writer)."""
    locked = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(db, timeout=30, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('busy', 'x')")
            locked.set()
            time.sleep(seconds)  # the fault itself: a long write transaction
            connection.execute("COMMIT")
        finally:
            connection.close()

    thread = threading.Thread(target=hold, name="sqlite-writer")
    thread.start()
    try:
        assert locked.wait(30)
        yield locked
    finally:
        thread.join()


@contextlib.asynccontextmanager
async def monitor_for(database_url: str, **overrides: Any) -> AsyncIterator[Monitor]:
    settings = dataclasses.replace(
        load_settings({}), **{"database_url": database_url, "poll_interval": 60.0, **overrides}
    )
    engine, sessions = await open_database(database_url)
    try:
        limits = FetchLimits(connect_timeout=2, read_timeout=5, total_timeout=8, max_per_host=8)
        async with Fetcher(limits) as fetcher:
            yield Monitor(settings, engine, sessions, fetcher)
    finally:
        await engine.dispose()


async def add_feeds(monitor: Monitor, urls: list[str]) -> None:
    async with monitor.sessions.begin() as session:
        for url in urls:
            await store.add_feed(session, url, now=datetime.now(UTC))


async def count(monitor: Monitor, model: Any) -> int:
    async with monitor.sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_sqlite_busy_writer_makes_the_poll_wait(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    db = tmp_path / "busy.db"
    urls = [
        feed_server.add(
            f"/b{n}.xml",
            make_rss(n, [(f"Busy item {n}-{k}", f"https://b.example/{n}/{k}") for k in range(3)]),
        )
        for n in range(4)
    ]
    async with monitor_for(f"sqlite:///{db}") as monitor:
        await add_feeds(monitor, urls)
        with writer_holding_lock(db, 2.0):
            started = time.monotonic()
            report = await monitor.poll_cycle()
            waited = time.monotonic() - started
        assert waited >= 1.0  # it waited for the other writer (busy_timeout) ...
        assert report.statuses == {"ok": 4}  # ... and then did all its work
        assert await count(monitor, Article) == 12


def test_sqlite_locked_past_busy_timeout_worker_keeps_running(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    """The lock outlasts the busy timeout: cycles fail ("database is locked"), the worker
    keeps running, and once the lock is gone everything is stored."""
    urls = [
        feed_server.add(
            f"/l{n}.xml",
            make_rss(n, [(f"Locked item {n}-{k}", f"https://l.example/{n}/{k}") for k in range(3)]),
        )
        for n in range(4)
    ]
    db = tmp_path / "locked.db"
    env = worker_env(
        write_config(tmp_path, urls, lease_seconds=1),
        f"sqlite:///{db}",
        interval=1,
        DEFWATCH_SQLITE_BUSY_TIMEOUT="0.2",
    )
    # Create the schema first (a --once run), then lock the database and start the worker.
    once = subprocess.run(
        [sys.executable, "-m", "bot.cli", "feeds", "list"], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert once.returncode == 0, once.stderr
    with workers() as running:
        with writer_holding_lock(db, 4.0):
            worker = Worker(env, tmp_path / "locked.log")
            running.append(worker)
            wait_until(lambda: "locked" in worker.output(), 30, "a cycle to hit the lock")
            assert worker.alive(), worker.output()
        wait_until(
            lambda: sqlite_query(db, "SELECT count(*) FROM article") == [(12,)],
            60,
            "the worker to store everything once the lock is gone",
        )
        assert worker.alive()
        worker.stop()


# --- PostgreSQL connections dropped mid-poll -------------------------------------------------


async def terminate_other_backends(database_url: str) -> int:
    admin = create_async_engine(async_url(database_url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as connection:
            rows = await connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
            return len(rows.all())
    finally:
        await admin.dispose()


@pytest.mark.postgres
async def test_postgres_connections_dropped_while_fetching(
    postgres_url: str, feed_server: FeedServer
) -> None:
    """Connections die while the cycle is fetching (no session open): pre-ping replaces them."""
    urls = [
        feed_server.add(
            f"/p{n}.xml",
            make_rss(n, [(f"PG item {n}-{k}", f"https://p.example/{n}/{k}") for k in range(3)]),
            delay=1.0,
        )
        for n in range(6)
    ]
    async with monitor_for(postgres_url) as monitor:
        await add_feeds(monitor, urls)
        cycle = asyncio.create_task(monitor.poll_cycle())
        deadline = time.monotonic() + 30
        while feed_server.max_concurrent() < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        killed = await terminate_other_backends(postgres_url)
        assert killed >= 1  # the pool's idle connections
        report = await asyncio.wait_for(cycle, 60)
        assert report.statuses == {"ok": 6}
        assert await count(monitor, Article) == 18
        # And the next cycle works on fresh connections, without a restart.
        await terminate_other_backends(postgres_url)
        feed_server.add("/p0.xml", make_rss(0, [("PG item new", "https://p.example/new")]))
        report = await monitor.poll_cycle(every_feed=True)
        assert report.statuses["ok"] >= 1
        assert await count(monitor, Article) == 19


async def _drop_connection_inside_transaction(
    postgres_url: str, feed_server: FeedServer, monitor: Monitor
) -> PollReport | DBAPIError:
    """Run a cycle whose write transactions are killed mid-statement; what the cycle gave."""
    urls = [
        feed_server.add(
            f"/t{n}.xml",
            make_rss(n, [(f"Txn item {n}-{k}", f"https://t.example/{n}/{k}") for k in range(3)]),
        )
        for n in range(3)
    ]
    await add_feeds(monitor, urls)
    admin = create_async_engine(async_url(postgres_url), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as locker:
            await locker.execute(text("BEGIN"))
            await locker.execute(text("LOCK TABLE article IN EXCLUSIVE MODE"))
            cycle = asyncio.create_task(monitor.poll_cycle())
            # Wait until the poll's INSERT is blocked on our lock, inside its transaction.
            blocked = text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            deadline = time.monotonic() + 30
            async with admin.connect() as watcher:
                while (await watcher.scalar(blocked)) < 1 and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert await watcher.scalar(blocked) >= 1
                await watcher.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                        "AND pid <> pg_backend_pid()"
                    )
                )
            await locker.execute(text("COMMIT"))
    finally:
        await admin.dispose()
    try:
        return await asyncio.wait_for(cycle, 60)
    except DBAPIError as exc:  # today's behaviour: the cycle raises (see the report)
        return exc


@pytest.mark.postgres
async def test_postgres_connection_dropped_inside_a_transaction(
    postgres_url: str, feed_server: FeedServer
) -> None:
    """A connection dies while it writes (blocked on a table lock, then terminated).

    The worker is not restarted: the feed's lease expires, the next cycle stores everything,
    nothing is half-stored (the transaction rolled back as a whole).
    """
    async with monitor_for(postgres_url, lease_seconds=1.0) as monitor:
        outcome = await _drop_connection_inside_transaction(postgres_url, feed_server, monitor)
        deadline = time.monotonic() + 30
        while await count(monitor, Article) < 9 and time.monotonic() < deadline:
            await asyncio.sleep(1.1)
            await monitor.poll_cycle()
        assert await count(monitor, Article) == 9, outcome
        async with monitor.sessions() as session:
            rows = (await session.execute(select(Feed.last_status, Feed.lease_owner))).all()
            orphans = await session.scalar(
                select(func.count()).select_from(Article).where(Article.story_id.is_(None))
            )
            stories = await session.scalar(select(func.count()).select_from(Story))
        assert all(status == "ok" and owner is None for status, owner in rows), rows
        assert orphans == 0 and 1 <= stories <= 9


@pytest.mark.postgres
async def test_postgres_cycle_hitting_a_dropped_connection_fails_soft(
    postgres_url: str, feed_server: FeedServer
) -> None:
    async with monitor_for(postgres_url, lease_seconds=1.0) as monitor:
        outcome = await _drop_connection_inside_transaction(postgres_url, feed_server, monitor)
    assert isinstance(outcome, PollReport), f"poll_cycle raised: {outcome!r}"[:300]
