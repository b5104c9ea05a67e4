"""Prometheus metrics of this process: what the poller and the bot did, and how long it took.

The rest of the code calls the few ``record_*`` / ``observe_*`` functions below at the points
where things happen; ``monitors.health`` serves ``REGISTRY`` on ``/metrics``.

Rules:
- Counters count what THIS process did since it started; with several ``defwatch poll``
  workers, Prometheus sums them (``sum(rate(...))``).
- Gauges about shared state (feeds by health, the outbox) are read from the database when
  the endpoint is scraped (``refresh_database_gauges``), so every worker reports the same.
- Names follow Prometheus conventions: ``defwatch_`` prefix, ``_total`` for counters,
  base units (``_seconds``, ``_bytes``). No label carries a URL, a chat id or any other
  unbounded value: labels come from small fixed sets (fetch outcome kinds, alert statuses,
  delivery outcomes), so the number of series stays bounded.
- The process's memory comes from the standard process collector
  (``process_resident_memory_bytes``).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections import Counter as CounterMap
from collections.abc import Awaitable, Callable, Iterable, Sized
from datetime import datetime
from typing import ParamSpec, Protocol, TypeVar

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
)
from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from monitors.models import Alert, Feed

P = ParamSpec("P")
T = TypeVar("T")

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

FEED_STATES = ("ok", "failing", "never_polled", "disabled")
# Alerts still to be delivered or edited (sent, failed and dropped rows are history).
OUTBOX_STATES = ("pending", "sending", "held", "sent_stale", "editing")
_PER_ARTICLE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

POLL_CYCLES = Counter(
    "defwatch_poll_cycles",
    "Poll cycles finished (a cycle polls every due feed once)",
    [],
    registry=REGISTRY,
)
POLL_CYCLE_SECONDS = Histogram(
    "defwatch_poll_cycle_duration_seconds",
    "Wall time of a poll cycle",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800),
    registry=REGISTRY,
)
LAST_CYCLE = Gauge(
    "defwatch_last_poll_cycle_end_timestamp_seconds",
    "Unix time the last poll cycle of this process finished",
    registry=REGISTRY,
)
POLL_INTERVAL = Gauge(
    "defwatch_poll_interval_seconds", "Configured poll interval per feed", registry=REGISTRY
)
FETCHES = Counter(
    "defwatch_feed_fetches",
    "Feed polls by outcome (ok, not_modified, unchanged, or the error kind)",
    ["outcome"],
    registry=REGISTRY,
)
ARTICLES = Counter("defwatch_articles_stored", "New articles stored", registry=REGISTRY)
STORIES = Counter("defwatch_stories_stored", "New stories started", registry=REGISTRY)
COOPERATION = Counter(
    "defwatch_cooperation_stories",
    "Stories found to be about defence cooperation (new, or made so by a joining report)",
    registry=REGISTRY,
)
ALERTS = Counter("defwatch_alerts_enqueued", "Alerts written to the outbox", registry=REGISTRY)
STAGE_SECONDS = {
    "classify": Histogram(
        "defwatch_classify_seconds",
        "Classification and signing time per article (a batch's wall time shared evenly)",
        buckets=_PER_ARTICLE_BUCKETS,
        registry=REGISTRY,
    ),
    "grouping": Histogram(
        "defwatch_grouping_seconds",
        "Grouping into stories and storing, per article (a batch's wall time shared evenly)",
        buckets=_PER_ARTICLE_BUCKETS,
        registry=REGISTRY,
    ),
}
DELIVERIES = Counter(
    "defwatch_deliveries",
    "Telegram send and edit attempts by outcome (sent, retry, deactivate, migrate, fail, ignore)",
    ["kind", "outcome"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "defwatch_telegram_rate_limited",
    "Telegram answers 429 (flood control)",
    registry=REGISTRY,
)
RATE_LIMIT_WAIT = Counter(
    "defwatch_telegram_retry_after_seconds",
    "Total wait Telegram's 429 answers imposed (their retry_after)",
    registry=REGISTRY,
)
DATABASE_UP = Gauge(
    "defwatch_database_up", "1 when the database answered the last scrape", registry=REGISTRY
)
FEEDS = Gauge("defwatch_feeds", "Feeds by health state", ["state"], registry=REGISTRY)
OUTBOX = Gauge(
    "defwatch_outbox_alerts",
    "Alerts waiting in the outbox by status",
    ["status"],
    registry=REGISTRY,
)
OUTBOX_OLDEST = Gauge(
    "defwatch_outbox_oldest_pending_age_seconds",
    "Age of the oldest alert not yet sent (pending or sending); 0 when none",
    registry=REGISTRY,
)


class CycleReport(Protocol):
    """What ``record_cycle`` reads of a poll cycle's report (``monitors.runner.PollReport``)."""

    started: float

    @property
    def statuses(self) -> CounterMap[str]: ...
    @property
    def new_articles(self) -> int: ...
    @property
    def new_story_ids(self) -> list[int]: ...
    @property
    def cooperation_story_ids(self) -> list[int]: ...
    @property
    def alerts(self) -> int: ...


class _CycleClock:
    """When the last poll cycle of this process finished (monotonic), for ``/healthz``."""

    last_finished: float | None = None


cycle_clock = _CycleClock()


def record_cycle(report: CycleReport) -> None:
    """A poll cycle finished: count it and what it found."""
    finished = time.monotonic()
    POLL_CYCLES.inc()
    POLL_CYCLE_SECONDS.observe(max(0.0, finished - report.started))
    LAST_CYCLE.set_to_current_time()
    for outcome, count in report.statuses.items():
        FETCHES.labels(outcome=outcome).inc(count)
    ARTICLES.inc(report.new_articles)
    STORIES.inc(len(report.new_story_ids))
    COOPERATION.inc(len(report.cooperation_story_ids))
    ALERTS.inc(report.alerts)
    cycle_clock.last_finished = finished


def now() -> float:
    """A start time for ``observe_per_article``."""
    return time.perf_counter()


def observe_per_article(stage: str, started: float, articles: int) -> None:
    """A batch of ``articles`` went through ``stage`` since ``started``: its share each."""
    if articles <= 0:
        return
    share = (time.perf_counter() - started) / articles
    histogram = STAGE_SECONDS[stage]
    for _ in range(articles):
        histogram.observe(share)


def timed_per_article(
    stage: str, items: str
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]:
    """Decorate an async function: its time, shared by the items of its argument ``items``."""

    def decorate(function: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
        signature = inspect.signature(function)

        @functools.wraps(function)
        async def timed(*args: P.args, **kwargs: P.kwargs) -> T:
            batch = signature.bind_partial(*args, **kwargs).arguments.get(items)
            started = now()
            result = await function(*args, **kwargs)
            observe_per_article(stage, started, len(batch) if isinstance(batch, Sized) else 0)
            return result

        return timed

    return decorate


def record_deliveries(kind: str, outcomes: Iterable[str]) -> None:
    """Send (``kind="message"``), edit (``"edit"``) or digest (``"digest"``) attempts and what
    came of them."""
    for outcome, count in CounterMap(outcomes).items():
        DELIVERIES.labels(kind=kind, outcome=outcome).inc(count)


def record_rate_limited(retry_after: float | None) -> None:
    """Telegram answered 429 and asked us to wait ``retry_after`` seconds."""
    RATE_LIMITED.inc()
    RATE_LIMIT_WAIT.inc(max(0.0, retry_after or 0.0))


async def refresh_database_gauges(session: AsyncSession, now: datetime) -> None:
    """Feeds by health and the outbox, read in the caller's session."""
    state = case(
        (Feed.enabled.is_(False), "disabled"),
        (Feed.last_status.is_(None), "never_polled"),
        (Feed.consecutive_errors > 0, "failing"),
        else_="ok",
    )
    feeds_by_state = await session.execute(select(state, func.count()).group_by(state))
    feeds = {str(name): int(count) for name, count in feeds_by_state}
    alerts_by_status = await session.execute(
        select(Alert.status, func.count())
        .where(Alert.status.in_(OUTBOX_STATES))
        .group_by(Alert.status)
    )
    outbox = {str(name): int(count) for name, count in alerts_by_status}
    oldest = await session.scalar(
        select(func.min(Alert.created_at)).where(Alert.status.in_(("pending", "sending")))
    )
    for name in FEED_STATES:
        FEEDS.labels(state=name).set(feeds.get(name, 0))
    for name in OUTBOX_STATES:
        OUTBOX.labels(status=name).set(outbox.get(name, 0))
    OUTBOX_OLDEST.set(max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0)
