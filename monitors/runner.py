"""The monitor as a long-lived service: database, HTTP client, and poll cycles.

``Monitor`` is what ``defwatch run``, ``defwatch poll`` and the bot's jobs drive:

    async with Monitor.open(settings) as monitor:
        report = await monitor.poll_cycle()       # every due feed, once

A cycle claims due feeds in batches (a lease per feed, so several workers share the work),
polls them concurrently (the fetcher bounds concurrency globally and per host), claiming the
next batch as soon as half of the feeds in flight are done so that one slow feed never holds
up the rest, and returns what it found. A cycle polls each feed that was due when it began at
most once (a failing feed whose short retry comes due meanwhile waits for the next cycle). The
leases of the feeds in flight are renewed every third of ``lease_seconds``; a poll whose feed
another worker took over is cancelled, and its write is refused anyway (``feed_transaction``
in the pipeline). ``Monitor.stop`` (SIGTERM, SIGINT) ends the cycle in flight at once: no new
claims, polls in flight cancelled and their leases released, writes under way finished.
Parsing and classifying run in a process pool (one worker per core, started only when a feed
has something to parse), off the event loop.
Overlapping cycles in one process are serialised by a lock; the scheduler coalesces missed
runs.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import socket
import threading
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import CancelledError, Executor, Future, ProcessPoolExecutor
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from monitors import logs, metrics, store
from monitors.db import open_database, redacted
from monitors.errors import ConfigError, LeaseLost
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
        self._stopping = asyncio.Event()
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
            lease_owner=self.worker_id,
            lease=timedelta(seconds=settings.lease_seconds),
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

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Stop polling, for good: no feed is claimed any more, the fetches and parses in
        flight are abandoned (their leases released, so the next start polls them at once)
        and only the write transactions already under way finish. The cycle in flight then
        returns within moments; later cycles return empty."""
        if not self.stopping:
            log.info("stopping: no new polls; abandoning the ones in flight")
        self._stopping.set()

    async def poll_cycle(self, *, every_feed: bool = False) -> PollReport:
        """Poll every feed that is due now, in leased batches, each feed at most once.

        "Due now" means due when the cycle started: a feed whose short retry comes due during
        the cycle waits for the next one. ``every_feed`` polls each enabled feed once whatever
        its schedule (``poll --once``).
        """
        report = PollReport()
        if self.watchlists is not None:
            self.watchlists.reload_if_changed()
        async with self._cycle_lock:
            if not self.stopping:
                report.outcomes = await self._run_cycle(every_feed)
        metrics.record_cycle(report)
        logs.feed_failures.observe(report.outcomes)
        if report.outcomes:
            log.info("%s", report.summary())
        return report

    async def _run_cycle(self, every_feed: bool) -> list[FeedOutcome]:
        started = self.clock()
        claimed: set[int] = set()
        running: dict[asyncio.Task[FeedOutcome], store.FeedSnapshot] = {}
        lost: set[int] = set()
        outcomes: list[FeedOutcome] = []
        stop = asyncio.create_task(self._stopping.wait())
        keeper = asyncio.create_task(self._keep_leases(running, lost))
        try:
            while not self.stopping:
                batch = await self._claim_batch(
                    started, every_feed, CLAIM_BATCH - len(running), exclude=claimed
                )
                for feed in batch:
                    claimed.add(feed.id)
                    running[asyncio.create_task(self._poll_one(feed))] = feed
                if not running:
                    break
                # Refill when half the feeds in flight are done (or all, if none was due).
                while running and (not batch or len(running) > CLAIM_BATCH // 2):
                    waiting: set[asyncio.Future[Any]] = {*running, stop}
                    done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                    if self.stopping:
                        break
                    for task in [task for task in running if task in done]:
                        outcomes.append(self._outcome(task, running.pop(task), lost))
        finally:
            stop.cancel()
            keeper.cancel()
            # Awaited, not only cancelled: a renewal cancelled while it opens its connection
            # closes it here; left to the garbage collector, the connection leaks, and at exit
            # asyncio.run can wait forever on the orphaned task.
            await asyncio.gather(stop, keeper, return_exceptions=True)
            outcomes.extend(await self._abandon(running, lost))
        return outcomes

    def _outcome(
        self, task: asyncio.Task[FeedOutcome], feed: store.FeedSnapshot, lost: set[int]
    ) -> FeedOutcome:
        if task.cancelled() and feed.id in lost:
            return FeedOutcome(feed_id=feed.id, url=feed.url, status="lease_lost")
        return task.result()  # cancelled otherwise: only the cycle itself cancels polls

    async def _abandon(
        self, running: dict[asyncio.Task[FeedOutcome], store.FeedSnapshot], lost: set[int]
    ) -> list[FeedOutcome]:
        """End a cycle early: cancel the polls in flight except those committing (they
        finish), release the leases of the cancelled ones; the outcomes of those that ended."""
        if not running:
            return []
        for task, feed in running.items():
            if feed.id not in self.context.committing:
                task.cancel()
        await asyncio.wait(list(running))
        outcomes = [
            self._outcome(task, feed, lost)
            for task, feed in running.items()
            if not task.cancelled() or feed.id in lost
        ]
        abandoned = [feed.id for task, feed in running.items() if task.cancelled()]
        async with write_transaction(self.context) as session:
            await store.release_leases(session, abandoned, owner=self.worker_id)
        log.info("cycle ended early: %d polls abandoned, their leases released", len(abandoned))
        return outcomes

    async def _keep_leases(
        self, running: Mapping[asyncio.Task[FeedOutcome], store.FeedSnapshot], lost: set[int]
    ) -> None:
        """Renew the leases of the feeds in flight every third of a lease, so that a slow poll
        never loses its feed to another worker; a poll whose feed was taken over anyway (this
        process stalled past its lease) is cancelled, and its result would be refused at commit."""
        lease = timedelta(seconds=self.settings.lease_seconds)
        # A connection of its own: polls waiting on locks can exhaust the pool, and a renewal
        # that waits for a connection lets every lease in flight run out.
        async with self.engine.connect() as connection:
            sessions = async_sessionmaker(bind=connection, expire_on_commit=False)
            while True:
                await asyncio.sleep(self.settings.lease_seconds / 3)
                try:
                    held = await self._renew(sessions, running, lease)
                except Exception as exc:  # a dropped connection: the commit checks the lease
                    log.warning("lease renewal failed (%s: %s)", type(exc).__name__, exc)
                    continue
                for feed_id, task in held.items():
                    log.warning("feed %d: lease lost while polling; its result is dropped", feed_id)
                    lost.add(feed_id)
                    task.cancel()

    async def _renew(
        self,
        sessions: async_sessionmaker[AsyncSession],
        running: Mapping[asyncio.Task[FeedOutcome], store.FeedSnapshot],
        lease: timedelta,
    ) -> dict[int, asyncio.Task[FeedOutcome]]:
        """Renew the leases in flight; the polls whose feed another worker took over."""
        async with self.context.write_lock or nullcontext(), sessions.begin() as session:
            held = {
                feed.id: task
                for task, feed in running.items()
                if feed.id not in self.context.committing and not task.done()
            }
            renewed = await store.renew_leases(
                session, held, owner=self.worker_id, now=self.clock(), lease=lease, skip_locked=True
            )
            ours = renewed | await store.lease_holders(
                session, held.keys() - renewed, owner=self.worker_id
            )
        # Committing or done since: its own transaction renewed (or released) the lease.
        return {
            feed_id: task
            for feed_id, task in held.items()
            if feed_id not in ours and feed_id not in self.context.committing and not task.done()
        }

    async def _poll_one(self, feed: store.FeedSnapshot) -> FeedOutcome:
        """``poll_feed``, with anything unexpected (a dropped database connection, a bug)
        logged and reported instead of ending the cycle; the feed's lease then expires and
        the feed is polled again, so nothing is lost."""
        try:
            return await poll_feed(feed, self.context)
        except LeaseLost as exc:
            log.warning("%s", exc)
            return FeedOutcome(feed_id=feed.id, url=feed.url, status="lease_lost", error=str(exc))
        except Exception as exc:
            log.exception("feed %s: poll failed unexpectedly; retried after its lease", feed.url)
            return FeedOutcome(
                feed_id=feed.id,
                url=feed.url,
                status="internal_error",
                error=f"{exc.__class__.__name__}: {exc}"[:500],
            )

    async def _claim_batch(
        self, started: datetime, every_feed: bool, limit: int, *, exclude: set[int]
    ) -> list[store.FeedSnapshot]:
        async with write_transaction(self.context) as session:
            return await store.claim_due_feeds(
                session,
                not_polled_since=started if every_feed else None,
                due_by=started,
                exclude=exclude,
                now=self.clock(),
                limit=limit,
                owner=self.worker_id,
                lease=timedelta(seconds=self.settings.lease_seconds),
            )

    async def purge(self) -> int:
        """Apply ``storage.retention_days``; the number of articles removed."""
        older_than = self.clock() - timedelta(days=self.settings.retention_days)
        async with write_transaction(self.context) as session:
            return await store.purge_old_articles(session, older_than=older_than)

    async def purge_job(self) -> None:
        """The ``purge`` job of ``monitors.jobs`` (every way of running)."""
        if self.stopping:
            return
        removed = await self.purge()
        if removed:
            log.info("retention: removed %d old articles", removed)


def open_watchlists(settings: Settings) -> WatchlistRegistry | None:
    """The named watchlists of the settings, loaded (a broken file stops the start)."""
    if settings.watchlists_file is None:
        return None
    from monitors.detect.countries import default_gazetteer

    registry = WatchlistRegistry(settings.watchlists_file, resolver=default_gazetteer())
    try:
        registry.load()
    except ConfigError as exc:
        raise ConfigError(f"cannot start: the watchlists file is broken: {exc}") from None
    log.info("watchlists loaded from %s: %s", registry.path, ", ".join(registry.lists) or "none")
    return registry


class LazyProcessPool(Executor):
    """A ``ProcessPoolExecutor`` made on the first ``submit``: a cycle in which every feed
    answers 304 (or nothing is due) starts no fork server, no workers, no resource tracker.

    The pool is made in a thread of its own: its first worker waits for the fork server to
    import the pipeline (about half a second), and the event loop that called ``submit``
    goes on fetching meanwhile. Jobs submitted before the pool is up are handed to it in
    order once it is, and their outcomes reach the futures their callers hold; if it cannot
    be made, they fail with the reason and the next job tries again."""

    def __init__(self, make: Callable[[], Executor]) -> None:
        self._make = make
        self._pool: Executor | None = None
        self._lock = threading.Lock()
        self._starter: threading.Thread | None = None
        self._starting = False
        self._waiting: list[_Job[Any]] = []

    @property
    def started(self) -> bool:
        return self._starter is not None

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        with self._lock:
            if self._pool is not None:
                return self._pool.submit(fn, *args, **kwargs)
            job = _Job(fn, args, kwargs, Future())
            self._waiting.append(job)
            if not self._starting:
                self._starting = True
                self._starter = threading.Thread(target=self._start, name="pool-start")
                self._starter.start()
            return job.relayed

    def _start(self) -> None:
        pool: Executor | None = None
        try:
            pool = self._make()
            # the first job spawns the first worker, which waits for the fork server's
            # imports (not for the worker's warm-up: the next job spawns the second one)
            pool.submit(os.getpid)
        except BaseException as exc:
            if pool is not None:
                pool.shutdown(wait=False)
            failure: BaseException | None = exc
        else:
            failure = None
        with self._lock:  # handed over under the lock: no later job overtakes them
            waiting, self._waiting = self._waiting, []
            self._pool, self._starting = (None if failure else pool), False
            for job in waiting:
                job.hand_to(self._pool, failure)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._starter is not None:
            self._starter.join()  # the waiting jobs are in the pool (or failed) after this
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


@dataclass
class _Job(Generic[T]):
    """A job submitted while the pool was starting, and the future its caller holds."""

    fn: Callable[..., T]
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    relayed: Future[T]

    def hand_to(self, pool: Executor | None, failure: BaseException | None) -> None:
        if not self.relayed.set_running_or_notify_cancel():
            return  # its caller gave up on it before the pool was up
        if pool is None:
            self.relayed.set_exception(failure or RuntimeError("the process pool did not start"))
            return
        try:
            inner = pool.submit(self.fn, *self.args, **self.kwargs)
        except BaseException as exc:  # (the pool was shut down meanwhile)
            self.relayed.set_exception(exc)
            return
        inner.add_done_callback(self._copy)

    def _copy(self, done: Future[T]) -> None:
        if done.cancelled():  # (cancel_futures at shutdown)
            self.relayed.set_exception(CancelledError())
        elif (exc := done.exception()) is not None:
            self.relayed.set_exception(exc)
        else:
            self.relayed.set_result(done.result())


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
