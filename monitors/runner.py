"""The monitor as a long-lived service: database, HTTP client, and poll cycles.

``Monitor`` is what ``defwatch run``, ``defwatch poll`` and the bot's jobs drive:

    async with Monitor.open(settings) as monitor:
        report = await monitor.poll_cycle()       # every due feed, once

A cycle claims due feeds in batches (a lease per feed, so several workers share the work),
polls them concurrently (the fetcher bounds concurrency globally and per host), claiming the
next batch as soon as half of the feeds in flight are done so that one slow feed never holds
up the rest, and returns what it found. Parsing and classifying run in a process pool (one
worker per core, started only when a feed has something to parse), off the event loop.
Overlapping cycles in one process are serialised by a lock; the scheduler coalesces missed
runs.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import socket
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from monitors import logs, metrics, store
from monitors.db import open_database, redacted
from monitors.errors import ConfigError
from monitors.feedlist import seed_default_feeds
from monitors.fetch import Fetcher, FetchLimits
from monitors.pipeline import (
    FeedOutcome,
    PollContext,
    poll_feed,
    warm_up_worker,
    write_transaction,
)
from monitors.settings import Settings
from monitors.watchlists import Watchlist, WatchlistRegistry

log = logging.getLogger(__name__)

CLAIM_BATCH = 50
T = TypeVar("T")


@dataclass
class PollReport:
    """What a cycle did, by feed status, with the stories it stored."""

    outcomes: list[FeedOutcome] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    @property
    def statuses(self) -> Counter[str]:
        return Counter(outcome.status for outcome in self.outcomes)

    @property
    def new_articles(self) -> int:
        return sum(outcome.new_articles for outcome in self.outcomes)

    @property
    def new_story_ids(self) -> list[int]:
        return [sid for outcome in self.outcomes for sid in outcome.new_story_ids]

    @property
    def cooperation_story_ids(self) -> list[int]:
        return [sid for outcome in self.outcomes for sid in outcome.cooperation_story_ids]

    @property
    def alerts(self) -> int:
        return sum(outcome.alerts for outcome in self.outcomes)

    def summary(self) -> str:
        parts = ", ".join(f"{count} {status}" for status, count in sorted(self.statuses.items()))
        return (
            f"polled {len(self.outcomes)} feeds ({parts or 'none due'}); "
            f"{self.new_articles} new articles, {len(self.new_story_ids)} new stories, "
            f"{len(self.cooperation_story_ids)} cooperation, {self.alerts} alerts queued"
        )


class Monitor:
    """Owns the database engine and the shared HTTP client; runs poll cycles."""

    def __init__(
        self,
        settings: Settings,
        engine: AsyncEngine,
        sessions: async_sessionmaker[AsyncSession],
        fetcher: Fetcher,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        executor: Executor | None = None,
    ) -> None:
        self.settings = settings
        self.engine = engine
        self.sessions = sessions
        self.fetcher = fetcher
        self.clock = clock
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._cycle_lock = asyncio.Lock()
        # Named watchlists: set by ``open`` from the settings (the bot may replace it).
        self.watchlists: WatchlistRegistry | None = None
        self.context = PollContext(
            sessions=sessions,
            fetcher=fetcher,
            interval=settings.poll_interval,
            max_backoff=settings.max_backoff,
            clock=clock,
            executor=executor,
            # SQLite has one writer at a time: queue write transactions here, not in SQLite.
            write_lock=asyncio.Lock() if engine.dialect.name == "sqlite" else None,
            watchlists=self._current_watchlists,
        )

    @classmethod
    @asynccontextmanager
    async def open(cls, settings: Settings, *, seed: bool = True) -> AsyncIterator[Monitor]:
        """Open the database (migrating it), seed default feeds once, start the HTTP client."""
        log.info("database: %s", redacted(settings.database_url))
        engine, sessions = await open_database(settings.database_url)
        executor = cpu_pool()
        try:
            if seed:
                await seed_default_feeds(sessions, settings.feeds_file)
            watchlists = open_watchlists(settings)
            async with Fetcher(fetch_limits(settings)) as fetcher:
                monitor = cls(settings, engine, sessions, fetcher, executor=executor)
                monitor.watchlists = watchlists
                yield monitor
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
            await engine.dispose()

    def _current_watchlists(self) -> Mapping[str, Watchlist]:
        return self.watchlists.lists if self.watchlists is not None else {}

    @property
    def cycle_lock(self) -> asyncio.Lock:
        """Held while a cycle runs: take it to wait for the cycle in flight (shutdown)."""
        return self._cycle_lock

    async def poll_cycle(self, *, every_feed: bool = False) -> PollReport:
        """Poll every feed that is due now, in leased batches, until none is left.

        ``every_feed`` polls each enabled feed once whatever its schedule (``poll --once``).
        """
        report = PollReport()
        started = self.clock() if every_feed else None
        if self.watchlists is not None:
            self.watchlists.reload_if_changed()
        tasks: list[asyncio.Task[FeedOutcome]] = []
        running: set[asyncio.Task[FeedOutcome]] = set()
        async with self._cycle_lock:
            try:
                while True:
                    batch = await self._claim_batch(started, CLAIM_BATCH - len(running))
                    if not batch and not running:
                        break
                    for feed in batch:
                        task = asyncio.create_task(self._poll_one(feed))
                        tasks.append(task)
                        running.add(task)
                    # Refill when half the feeds in flight are done (or all, if none was due).
                    while running and (not batch or len(running) > CLAIM_BATCH // 2):
                        done, running = await asyncio.wait(
                            running, return_when=asyncio.FIRST_COMPLETED
                        )
                        for task in done:
                            task.result()  # only cancellation: _poll_one keeps errors
            finally:
                for task in running:
                    task.cancel()
            report.outcomes.extend(task.result() for task in tasks)
        metrics.record_cycle(report)
        logs.feed_failures.observe(report.outcomes)
        if report.outcomes:
            log.info("%s", report.summary())
        return report

    async def _poll_one(self, feed: store.FeedSnapshot) -> FeedOutcome:
        """``poll_feed``, with anything unexpected (a dropped database connection, a bug)
        logged and reported instead of ending the cycle; the feed's lease then expires and
        the feed is polled again, so nothing is lost."""
        try:
            return await poll_feed(feed, self.context)
        except Exception as exc:
            log.exception("feed %s: poll failed unexpectedly; retried after its lease", feed.url)
            return FeedOutcome(
                feed_id=feed.id,
                url=feed.url,
                status="internal_error",
                error=f"{exc.__class__.__name__}: {exc}"[:500],
            )

    async def _claim_batch(
        self, not_polled_since: datetime | None, limit: int
    ) -> list[store.FeedSnapshot]:
        async with write_transaction(self.context) as session:
            return await store.claim_due_feeds(
                session,
                not_polled_since=not_polled_since,
                now=self.clock(),
                limit=limit,
                owner=self.worker_id,
                lease=timedelta(seconds=self.settings.lease_seconds),
            )

    async def purge(self) -> int:
        older_than = self.clock() - timedelta(days=self.settings.retention_days)
        async with self.sessions.begin() as session:
            return await store.purge_old_articles(session, older_than=older_than)


def open_watchlists(settings: Settings) -> WatchlistRegistry | None:
    """The named watchlists of the settings, loaded (a broken file stops the start)."""
    if settings.watchlists_file is None:
        return None
    from monitors.countries import default_gazetteer

    registry = WatchlistRegistry(settings.watchlists_file, resolver=default_gazetteer())
    try:
        registry.load()
    except ConfigError as exc:
        raise ConfigError(f"cannot start: the watchlists file is broken: {exc}") from None
    log.info("watchlists loaded from %s: %s", registry.path, ", ".join(registry.lists) or "none")
    return registry


class LazyProcessPool(Executor):
    """A ``ProcessPoolExecutor`` made on the first ``submit``: a cycle in which every feed
    answers 304 (or nothing is due) starts no fork server, no workers, no resource tracker."""

    def __init__(self, make: Callable[[], ProcessPoolExecutor]) -> None:
        self._make = make
        self._pool: ProcessPoolExecutor | None = None

    @property
    def started(self) -> bool:
        return self._pool is not None

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        if self._pool is None:
            self._pool = self._make()
        return self._pool.submit(fn, *args, **kwargs)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def cpu_pool() -> LazyProcessPool:
    """One worker process per core for parse + classify, made when first needed.

    Workers come from a fork server that has already imported the pipeline (no fork of this
    process, its threads or its sockets), and each builds the classifier's tables once.
    """

    def make() -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["monitors.pipeline"])
        return ProcessPoolExecutor(
            max_workers=os.cpu_count() or 1,
            mp_context=context,
            initializer=warm_up_worker,
            initargs=(os.getpid(),),
        )

    return LazyProcessPool(make)


def fetch_limits(settings: Settings) -> FetchLimits:
    return FetchLimits(
        max_body_bytes=settings.max_body_bytes,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        total_timeout=settings.total_timeout,
        max_connections=settings.max_connections,
        max_per_host=settings.max_per_host,
    )
