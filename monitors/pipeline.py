"""One poll of one feed, top to bottom.

    fetch (conditional GET)           no database session is open during network I/O
      -> unchanged?  304 or the same body hash: record and stop
      -> parse (in a worker thread)   a document that is not a feed is a feed error
      -> drop entries already stored  one short read
      -> classify + sign new entries  pure, in a worker thread
      -> store                        ONE transaction: articles, stories (clustered), the
                                      outbox rows for every chat the stories alert, and the
                                      feed's new validators and schedule
Any ``FeedError`` is recorded on the feed's row and the feed is retried with backoff;
nothing else about the feed changes, so no entry is lost (the next successful fetch sees it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import cluster, store
from monitors.backoff import next_poll_delay
from monitors.classify import classify
from monitors.domain import Classification, NormalisedEntry, ParsedFeed, StoryForAlert
from monitors.errors import FeedError, FeedHTTPError
from monitors.fetch import Fetcher
from monitors.parse import parse_feed
from monitors.store import FeedSnapshot
from monitors.watch import enqueue_alerts

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ClassifiedEntry:
    entry: NormalisedEntry
    verdict: Classification
    signature: cluster.EventSignature


@dataclass(slots=True)
class FeedOutcome:
    """What one feed's poll did; ``status`` is ok | not_modified | unchanged | <error kind>."""

    feed_id: int
    url: str
    status: str
    new_articles: int = 0
    new_story_ids: list[int] = field(default_factory=list)
    cooperation_story_ids: list[int] = field(default_factory=list)
    alerts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class PollContext:
    """Everything a poll needs, shared by all feeds of a cycle."""

    sessions: async_sessionmaker[AsyncSession]
    fetcher: Fetcher
    interval: float
    max_backoff: float
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


async def poll_feed(feed: FeedSnapshot, ctx: PollContext) -> FeedOutcome:
    """Fetch, parse, classify and store one feed; never raises a ``FeedError``."""
    try:
        result = await ctx.fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        if result.status == 304 or result.body is None:
            return await _record_unchanged(feed, ctx, "not_modified")
        if result.body_sha256 == feed.body_sha256:
            return await _record_unchanged(feed, ctx, "unchanged")
        fetched_at = ctx.clock()
        parsed = await asyncio.to_thread(
            parse_feed,
            result.body,
            url=result.final_url or feed.url,
            fetched_at=fetched_at,
            content_type=result.content_type,
        )
    except FeedError as exc:
        return await _record_failure(feed, ctx, exc)

    fresh = await _new_entries(feed, parsed, ctx)
    classified = await asyncio.to_thread(classify_entries, fresh)
    outcome = FeedOutcome(feed_id=feed.id, url=feed.url, status="ok")
    async with ctx.sessions.begin() as session:
        for item in classified:
            await _store_entry(session, feed, item, fetched_at, outcome)
        await store.record_poll_success(
            session,
            feed.id,
            now=fetched_at,
            status="ok",
            next_poll_at=fetched_at + timedelta(seconds=next_poll_delay(0, interval=ctx.interval)),
            etag=result.etag,
            last_modified=result.last_modified,
            body_sha256=result.body_sha256,
            title=parsed.title,
        )
    return outcome


def classify_entries(entries: list[NormalisedEntry]) -> list[ClassifiedEntry]:
    """Classify and sign entries (pure; run off the event loop)."""
    items = []
    for entry in entries:
        verdict = classify(entry.title, entry.summary, entry.language)
        signature = cluster.signature(
            entry.title,
            entry.summary,
            published_at=entry.published_at,
            language=entry.language,
            countries=verdict.participants,
            cooperation_type=verdict.cooperation_type,
        )
        items.append(ClassifiedEntry(entry, verdict, signature))
    return items


async def _new_entries(
    feed: FeedSnapshot, parsed: ParsedFeed, ctx: PollContext
) -> list[NormalisedEntry]:
    keys = [entry.entry_key for entry in parsed.entries]
    async with ctx.sessions() as session:
        known = await store.existing_entry_keys(session, feed.id, keys)
    seen: set[str] = set()
    fresh = []
    for entry in parsed.entries:
        if entry.entry_key in known or entry.entry_key in seen:
            continue
        seen.add(entry.entry_key)
        fresh.append(entry)
    return fresh


async def _store_entry(
    session: AsyncSession,
    feed: FeedSnapshot,
    item: ClassifiedEntry,
    fetched_at: datetime,
    outcome: FeedOutcome,
) -> None:
    article_id = await store.insert_article(
        session, feed.id, item.entry, item.verdict, fetched_at=fetched_at
    )
    if article_id is None:  # another worker stored it first
        return
    outcome.new_articles += 1
    story_id, reason, is_new, alertable = await _place_in_story(session, item, fetched_at)
    await store.attach_article(session, article_id, story_id, reason)
    if is_new:
        outcome.new_story_ids.append(story_id)
    if alertable:
        if item.verdict.defence_cooperation and story_id not in outcome.cooperation_story_ids:
            outcome.cooperation_story_ids.append(story_id)
        outcome.alerts += await enqueue_alerts(
            session, _story_for_alert(story_id, item), now=fetched_at
        )


async def _place_in_story(
    session: AsyncSession, item: ClassifiedEntry, now: datetime
) -> tuple[int, str | None, bool, bool]:
    """Join the article to the story it reports, or start one.

    Returns (story id, why it joined, whether the story is new, whether to look for chats).
    A story is offered to the watch index when it is new, or when a joining report made it
    a cooperation story; a chat already alerted about it is protected by the outbox's
    uniqueness, so later reports never alert twice.
    """
    entry, verdict, signature = item.entry, item.verdict, item.signature
    if entry.url:  # the same page from two feeds (a wire story syndicated) is one story
        same_url = await store.known_urls(session, [entry.url])
        if entry.url in same_url:
            story_id = same_url[entry.url]
            became = await _join(session, story_id, item, now)
            return story_id, "same canonical URL", False, became
    since = entry.published_at - cluster.candidate_window
    candidates = await store.candidate_stories(session, verdict.participants, since=since)
    match = cluster.best_match(
        signature, ((sid, cluster.EventSignature.from_json(sig)) for sid, sig in candidates if sig)
    )
    if match is not None:
        became = await _join(session, match.key, item, now)
        return match.key, match.reason, False, became
    story_id = await store.create_story(session, entry, verdict, signature.to_json(), now=now)
    return story_id, None, True, True


async def _join(session: AsyncSession, story_id: int, item: ClassifiedEntry, now: datetime) -> bool:
    stored = await store.story_signature(session, story_id)
    current = cluster.EventSignature.from_json(stored) if stored else None
    merged = cluster.merge(current, item.signature) if current else item.signature
    return await store.join_story(session, story_id, item.verdict, merged.to_json(), now=now)


def _story_for_alert(story_id: int, item: ClassifiedEntry) -> StoryForAlert:
    return StoryForAlert(
        story_id=story_id,
        title=item.entry.title,
        summary=item.entry.summary,
        participants=item.verdict.participants,
        mentioned=item.verdict.mentioned,
        is_defence_cooperation=item.verdict.defence_cooperation,
        cooperation_type=item.verdict.cooperation_type,
        published_at=item.entry.published_at,
    )


async def _record_unchanged(feed: FeedSnapshot, ctx: PollContext, status: str) -> FeedOutcome:
    now = ctx.clock()
    delay = next_poll_delay(0, interval=ctx.interval)
    async with ctx.sessions.begin() as session:
        await store.record_poll_success(
            session, feed.id, now=now, status=status, next_poll_at=now + timedelta(seconds=delay)
        )
    return FeedOutcome(feed_id=feed.id, url=feed.url, status=status)


async def _record_failure(feed: FeedSnapshot, ctx: PollContext, exc: FeedError) -> FeedOutcome:
    now = ctx.clock()
    retry_after = exc.retry_after if isinstance(exc, FeedHTTPError) else None
    delay = next_poll_delay(
        feed.consecutive_errors + 1,
        interval=ctx.interval,
        retry_after=retry_after,
        cap=ctx.max_backoff,
    )
    message = str(exc) or exc.__class__.__name__
    log.warning("feed %s failed (%s): %s; retry in %.0fs", feed.url, exc.kind, message, delay)
    async with ctx.sessions.begin() as session:
        await store.record_poll_failure(
            session,
            feed.id,
            now=now,
            kind=exc.kind,
            error=message,
            next_poll_at=now + timedelta(seconds=delay),
        )
    return FeedOutcome(feed_id=feed.id, url=feed.url, status=exc.kind, error=message)
