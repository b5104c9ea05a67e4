"""One poll of one feed, top to bottom.

    fetch (conditional GET)           no database session is open during network I/O
      -> unchanged?  304 or the same body hash: record and stop (``FeedRecords``: one
                                      transaction for the rows of all feeds that end here
                                      meanwhile, failures included)
      -> parse (in the CPU pool)      a document that is not a feed is a feed error
      -> drop entries already stored  one short read
      -> classify + sign new entries  pure, in the CPU pool
      -> store                        ONE transaction: articles, stories (clustered), the
                                      outbox rows for every chat the stories alert, and the
                                      feed's new validators and schedule; a few statements
                                      per feed, not per article (``store_classified``)
The CPU pool is ``PollContext.executor`` (the runner gives it a process pool, so parsing runs
on every core and off the event loop; None means a worker thread). On SQLite, write
transactions take ``PollContext.write_lock`` first: SQLite has one writer at a time, and
queueing writers here (holding no connection) beats them spinning in its busy handler.
Any ``FeedError`` is recorded on the feed's row and the feed is retried with backoff;
nothing else about the feed changes, so no entry is lost (the next successful fetch sees it).

Leases: a poll's one write (stored entries, or the recorded failure) runs in
``feed_transaction``, which first renews the feed's lease for ``PollContext.lease_owner``:
a worker whose lease was taken over (after it ran out) gets ``LeaseLost`` and its transaction rolls
back, so a result is never stored twice. A poll that records only its feed's row (304,
unchanged, failure) shares one transaction with the others in flight (``FeedRecords``),
fenced the same way. While that transaction runs the feed is listed in
``PollContext.committing``: a stop lets it finish and abandons everything else in flight.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping
from concurrent.futures import Executor
from contextlib import asynccontextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import grouping, metrics, outbox, store
from monitors.backoff import next_poll_delay
from monitors.detect import cluster
from monitors.detect.classify import classify
from monitors.detect.sources import source_state
from monitors.domain import Classification, NormalisedEntry, ParsedFeed, StoryForAlert
from monitors.errors import FeedError, FeedHTTPError, LeaseLost
from monitors.fetch import Fetcher
from monitors.parse import parse_feed
from monitors.store import FeedSnapshot
from monitors.watch import enqueue_alerts_many
from monitors.watchlists import Watchlist, matching_lists

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ClassifiedEntry:
    """An entry with its verdict and its event signature; the signature is None when the
    pool did not compute it because the entry's page was already stored in a story (it
    joins that story by URL; ``signed`` computes it should the store need it after all)."""

    entry: NormalisedEntry
    verdict: Classification
    signature: cluster.EventSignature | None

    def signed(self) -> cluster.EventSignature:
        """The signature, computed now if the pool skipped it."""
        if self.signature is not None:
            return self.signature
        return sign(self.entry, self.verdict)


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
    executor: Executor | None = None  # parse + classify run here (None: a worker thread)
    write_lock: asyncio.Lock | None = None  # serialises write transactions (SQLite)
    # The named watchlists in force now (the registry may reload them between polls).
    watchlists: Callable[[], Mapping[str, Watchlist]] = dict
    # The lease the claiming worker holds on each polled feed (None: no fencing, e.g. tests
    # polling a feed they never claimed).
    lease_owner: str | None = None
    lease: timedelta = timedelta(minutes=5)
    # Feeds whose final write transaction is under way (a stop waits for these).
    committing: set[int] = field(default_factory=set)
    # The group commit of polls that store only their feed's row (304, unchanged, failed).
    records: FeedRecords = field(default_factory=lambda: FeedRecords())


async def poll_feed(feed: FeedSnapshot, ctx: PollContext) -> FeedOutcome:
    """Fetch, parse, classify and store one feed; never raises a ``FeedError``."""
    try:
        result = await ctx.fetcher.fetch(feed.url, etag=feed.etag, last_modified=feed.last_modified)
        if result.status == 304 or result.body is None:
            return await _record_unchanged(feed, ctx, "not_modified")
        if result.body_sha256 == feed.body_sha256:
            return await _record_unchanged(feed, ctx, "unchanged")
        fetched_at = ctx.clock()
        parsed = await _off_loop(
            ctx,
            parse_feed_job,
            result.body,
            result.final_url or feed.url,
            fetched_at,
            result.content_type,
        )
    except FeedError as exc:
        return await _record_failure(feed, ctx, exc)

    fresh, placed_urls = await _new_entries(feed, parsed, ctx)
    started = metrics.now()
    classified = (
        await _off_loop(ctx, classify_entries, fresh, feed.country, placed_urls, feed.url)
        if fresh
        else []
    )
    metrics.observe_per_article("classify", started, len(classified))
    outcome = FeedOutcome(feed_id=feed.id, url=feed.url, status="ok")
    async with feed_transaction(ctx, feed) as session:
        await store_classified(
            session, feed.id, classified, fetched_at, outcome, lists=ctx.watchlists()
        )
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


async def _off_loop(ctx: PollContext, function: Callable[..., T], *args: object) -> T:
    """``function(*args)`` in the CPU pool (or a worker thread), awaited without blocking."""
    return await asyncio.get_running_loop().run_in_executor(ctx.executor, function, *args)


@asynccontextmanager
async def write_transaction(ctx: PollContext) -> AsyncIterator[AsyncSession]:
    """One write transaction, queued behind ``ctx.write_lock`` when there is one."""
    async with ctx.write_lock or nullcontext(), ctx.sessions.begin() as session:
        yield session


@asynccontextmanager
async def feed_transaction(ctx: PollContext, feed: FeedSnapshot) -> AsyncIterator[AsyncSession]:
    """The write transaction of one feed's poll, fenced by its lease (see the docstring)."""
    async with ctx.write_lock or nullcontext():
        ctx.committing.add(feed.id)
        try:
            async with ctx.sessions.begin() as session:
                if ctx.lease_owner is not None:
                    held = await store.renew_leases(
                        session, [feed.id], owner=ctx.lease_owner, now=ctx.clock(), lease=ctx.lease
                    )
                    if not held:
                        raise LeaseLost(f"{feed.url}: lease lost; this poll's result is dropped")
                yield session
        finally:
            ctx.committing.discard(feed.id)


def parse_feed_job(
    body: bytes, url: str, fetched_at: datetime, content_type: str | None
) -> ParsedFeed:
    """``parse_feed`` with positional arguments (what an executor can pickle and call)."""
    return parse_feed(body, url=url, fetched_at=fetched_at, content_type=content_type)


def warm_up_worker(parent_pid: int | None = None) -> None:
    """Pool worker start: build the classifier's tables once; exit when ``parent_pid`` dies.

    A worker is a child of the fork server, not of the monitor, so nothing else would tell it
    that the monitor was killed (SIGKILL): a daemon thread checks once a second.
    """
    if parent_pid is not None:
        threading.Thread(target=_exit_with, args=(parent_pid,), daemon=True).start()
    classify("warm-up", "", "en")


def _exit_with(parent_pid: int) -> None:
    while True:
        time.sleep(1.0)
        try:
            os.kill(parent_pid, 0)
        except ProcessLookupError:
            os._exit(0)
        except PermissionError:  # alive, owned by someone else (pid reused: also gone)
            os._exit(0)


def classify_entries(
    entries: list[NormalisedEntry],
    source_country: str | None = None,
    stored_urls: Collection[str] = (),
    feed_url: str | None = None,
) -> list[ClassifiedEntry]:
    """Classify and sign entries (pure; run off the event loop); ``source_country`` is the
    state the feed speaks for, if any, else that of the official site the feed (``feed_url``)
    or the entry is on (``detect.sources``; here, in the pool, so that the main process never
    loads the gazetteer). An entry whose URL is in ``stored_urls`` (a page
    already in a story) is not signed: it joins that story by URL (grouping rule 1)."""
    items = []
    for entry in entries:
        source = source_state(source_country, (feed_url, entry.url))
        verdict = classify(entry.title, entry.summary, entry.language, source)
        signature = None if entry.url and entry.url in stored_urls else sign(entry, verdict)
        items.append(ClassifiedEntry(entry, verdict, signature))
    return items


def sign(entry: NormalisedEntry, verdict: Classification) -> cluster.EventSignature:
    """The event signature of a classified entry."""
    return cluster.signature(
        entry.title,
        entry.summary,
        published_at=entry.published_at,
        language=entry.language,
        countries=verdict.participants,
        cooperation_type=verdict.cooperation_type,
    )


async def _new_entries(
    feed: FeedSnapshot, parsed: ParsedFeed, ctx: PollContext
) -> tuple[list[NormalisedEntry], set[str]]:
    """Entries not stored yet for this feed, by entry key and by canonical URL, and the URLs
    among theirs that some feed already stored in a story (those need no signature).

    The URL check keeps a feed that mints a new guid for the same page on every fetch from
    storing that page again and again.
    """
    keys = [entry.entry_key for entry in parsed.entries]
    urls = [entry.url for entry in parsed.entries if entry.url]
    async with ctx.sessions() as session:
        known, known_urls, placed_urls = await store.stored_for_feed(session, feed.id, keys, urls)
    seen: set[str] = set()
    fresh = []
    for entry in parsed.entries:
        if entry.entry_key in known or entry.entry_key in seen:
            continue
        if entry.url and (entry.url in known_urls or entry.url in seen):
            continue
        seen.add(entry.entry_key)
        if entry.url:
            seen.add(entry.url)
        fresh.append(entry)
    return fresh, placed_urls


@metrics.timed_per_article("grouping", items="classified")
async def store_classified(
    session: AsyncSession,
    feed_id: int,
    classified: list[ClassifiedEntry],
    fetched_at: datetime,
    outcome: FeedOutcome,
    *,
    lists: Mapping[str, Watchlist] | None = None,
) -> None:
    """Store a feed's new entries in the caller's transaction, each in its story.

    A few statements per feed, not per article: the articles in one multi-row insert, the
    candidate stories of all of them in one read, the placing in memory
    (``monitors.grouping``, deciding by ``cluster.best_match``), then the new stories, the
    grown ones, the articles' story ids, the edit requests and the alerts in bulk.
    """
    # Writers on PostgreSQL run in parallel: two feeds carrying the same page or the same
    # event must not both start a story for it. Their transactions take these locks first.
    await store.advisory_lock(session, *_story_lock_names(classified))
    # Stories of already stored pages, for all entries at once; kept up to date below as
    # this feed's own articles join stories.
    urls = [item.entry.url for item in classified if item.entry.url]
    url_story = await store.known_urls(session, urls)
    ids = await store.insert_articles(
        session, feed_id, [(item.entry, item.verdict) for item in classified], fetched_at=fetched_at
    )
    batch = [
        (ids.pop(item.entry.entry_key), item) for item in classified if item.entry.entry_key in ids
    ]  # an entry key already stored (a racing worker) or repeated in the batch: skipped
    if not batch:
        return
    outcome.new_articles += len(batch)
    # Reports whose page is stored already, or earlier in the batch, join its story by URL
    # (rule 1): they are neither signed nor looked up unless a redefinition needs it.
    pages = set(url_story)
    signatures: list[cluster.EventSignature | None] = []
    for _, item in batch:
        url = item.entry.url
        by_url = bool(url) and url in pages
        signatures.append(None if by_url else _with_source(item.signed(), feed_id))
        if url:
            pages.add(url)
    lookups = [cluster.lookup_keys(sig) if sig is not None else None for sig in signatures]
    found = await _candidates(session, [lookup for lookup in lookups if lookup], url_story)
    plan = _Plan(found, url_story, str(feed_id))
    for (article_id, item), signature, lookup in zip(batch, signatures, lookups, strict=True):
        plan.place(article_id, item, signature, lookup)
    await _write_plan(session, plan, fetched_at, outcome, lists or {})


def _with_source(signature: cluster.EventSignature, feed_id: int | str) -> cluster.EventSignature:
    return dataclasses.replace(signature, source=str(feed_id))


async def _candidates(
    session: AsyncSession, lookups: list[dict[str, datetime | None]], url_story: dict[str, int]
) -> grouping.Candidates:
    """One read of the filings under every key of the batch (with the revision of each story
    filed there), one of those stories' facts (mostly kept from earlier batches)."""
    runs, revisions = await store.candidate_runs(
        session, grouping.merged_horizons(lookups), limit=cluster.CANDIDATE_LIMIT
    )
    known = await store.known_stories(
        session, revisions.keys() | url_story.values(), revisions=revisions
    )
    return grouping.Candidates(by_key=runs, stories=known)


def _story_lock_names(classified: list[ClassifiedEntry]) -> set[str]:
    names = {f"url:{item.entry.url}" for item in classified if item.entry.url}
    names.update(f"event:{','.join(sorted(item.verdict.participants))}" for item in classified)
    return names


@dataclass
class _Plan:
    """Where each article of a batch goes, decided in memory (``monitors.grouping``'s rules);
    story ids of stories started here are provisional until ``_write_plan`` inserts them."""

    candidates: grouping.Candidates
    url_story: dict[str, int]
    source: str  # the feed, as a signature names it
    placed: list[tuple[int, int, str | None]] = field(default_factory=list)
    new: dict[int, list[Any]] = field(default_factory=dict)  # id -> [first, defined by, count]
    joined: dict[int, int] = field(default_factory=dict)  # stored story -> articles joined
    redefined: dict[int, store.StoryDefinition] = field(default_factory=dict)
    alerts: list[tuple[int, ClassifiedEntry]] = field(default_factory=list)
    confirmed: dict[int, cluster.EventSignature] = field(default_factory=dict)  # new signatures
    owned: set[int] = field(default_factory=set)  # stories whose KnownStory is this batch's copy

    def _own(self, story_id: int) -> grouping.KnownStory:
        """The batch's own ``KnownStory`` of a story, to change: ``store.known_stories`` hands
        out objects kept for later batches, and this batch's transaction may yet roll back, so
        the first change of one is made on a copy (the batch's stories, ``Candidates.file``,
        are its own already)."""
        known = self.candidates.stories.get(story_id)
        if known is None:
            known = grouping.KnownStory(False)
        elif story_id not in self.owned and not grouping.is_new(story_id):
            known = copy.copy(known)
        self.candidates.stories[story_id] = known
        self.owned.add(story_id)
        return known

    def place(
        self,
        article_id: int,
        item: ClassifiedEntry,
        signature: cluster.EventSignature | None,
        lookup: Mapping[str, datetime | None] | None,
    ) -> None:
        """Place one report; ``signature`` and ``lookup`` may be None only for a report whose
        URL is in ``url_story`` (it joins by URL and is signed only if it redefines)."""
        url = item.entry.url
        reason: str | None
        if url and url in self.url_story:  # one page from two feeds: one story
            story_id, reason = self.url_story[url], "same canonical URL"
        else:
            # the candidates were read for the batch's lookups: a report ranked here has one
            assert signature is not None and lookup is not None, "unsigned report ranked"
            ranked = self.candidates.ranked(
                lookup, limit=cluster.CANDIDATE_LIMIT, article=signature
            )
            match = cluster.best_match(signature, ranked)
            story_id, reason = (match.key, match.reason) if match else (0, None)
            if match is not None:  # a strong report joins what the story is matched against
                story = dict(ranked)[match.key]
                if (confirmed := cluster.confirmed(story, signature, match)) is not story:
                    self._own(match.key).replace(confirmed)
                    self.confirmed[match.key] = confirmed
        if story_id == 0:  # no story reports it yet: it starts one
            assert signature is not None  # only a ranked report starts a story
            definition = _definition(article_id, item, signature)
            story_id = self.candidates.file(
                signature,
                cooperation=item.verdict.defence_cooperation,
                keys=definition.keys,
                filed_at=definition.filed_at,
            )
            self.new[story_id] = [definition, definition, 0]
            self.alerts.append((story_id, item))
        else:
            self._join(story_id, item, article_id, signature)
        if grouping.is_new(story_id):
            self.new[story_id][2] += 1
        else:
            self.joined[story_id] = self.joined.get(story_id, 0) + 1
        self.placed.append((article_id, story_id, reason))
        if url:
            self.url_story.setdefault(url, story_id)

    def _join(
        self,
        story_id: int,
        item: ClassifiedEntry,
        article_id: int,
        signature: cluster.EventSignature | None,
    ) -> None:
        """``store.join_story``'s rule: a cooperation report redefines a story that is none."""
        known = self.candidates.stories.get(story_id)
        if not item.verdict.defence_cooperation or (known is not None and known.cooperation):
            return
        self._own(story_id).cooperation = True
        if signature is None:
            signature = _with_source(item.signed(), self.source)
        definition = _definition(article_id, item, signature)
        if grouping.is_new(story_id):
            self.new[story_id][1] = definition
        else:
            self.redefined[story_id] = definition
        self.alerts.append((story_id, item))


def _definition(
    article_id: int, item: ClassifiedEntry, signature: cluster.EventSignature
) -> store.StoryDefinition:
    return store.StoryDefinition(
        article_id=article_id,
        entry=item.entry,
        verdict=item.verdict,
        signature=signature.to_json(),
        keys=cluster.index_keys(signature),
        filed_at=cluster.filed_at(signature),
    )


def _signature(plan: _Plan, story_id: int, first: store.StoryDefinition) -> dict[str, Any]:
    """A new story's signature: its first report's, with the reports confirmed since."""
    confirmed = plan.confirmed.get(story_id)
    return first.signature if confirmed is None else confirmed.to_json()


async def _write_plan(
    session: AsyncSession,
    plan: _Plan,
    now: datetime,
    outcome: FeedOutcome,
    lists: Mapping[str, Watchlist],
) -> None:
    """The plan's rows, in bulk: stories, articles' story ids, edit requests, alerts."""
    new = [
        store.NewStory(first, defined_by, count, _signature(plan, story_id, first))
        for story_id, (first, defined_by, count) in plan.new.items()
    ]
    real = dict(zip(plan.new, await store.insert_stories(session, new, now=now), strict=True))
    await store.grow_stories(session, plan.joined, plan.redefined, now=now)
    for story_id, signature in plan.confirmed.items():
        if not grouping.is_new(story_id):
            await store.set_story_signature(session, story_id, signature.to_json())
    await store.attach_articles(
        session, [(article, real.get(story, story), why) for article, story, why in plan.placed]
    )
    # sent alerts of a stored story that grew get "also reported by" (the outbox limits edits)
    await outbox.request_edits(session, sorted(plan.joined), now=now)
    outcome.new_story_ids.extend(real.values())
    alerts = []
    for provisional, item in plan.alerts:
        story_id = real.get(provisional, provisional)
        if item.verdict.defence_cooperation and story_id not in outcome.cooperation_story_ids:
            outcome.cooperation_story_ids.append(story_id)
        story = _story_for_alert(story_id, item)
        alerts.append((story, matching_lists(story, lists)))
    outcome.alerts += await enqueue_alerts_many(session, alerts, now=now)


async def place_in_story(
    session: AsyncSession,
    article_id: int,
    feed_id: int,
    item: ClassifiedEntry,
    now: datetime,
    url_story: dict[str, int],
) -> tuple[int, str | None, bool, bool]:
    """Join the article to the story it reports, or start one (the clustering stage).

    Returns (story id, why it joined, whether the story is new, whether the story is now
    defined by this article: a new story, or one this cooperation report made a cooperation
    story; only then are chats looked for, and a chat already alerted about the story is
    protected by the outbox's uniqueness, so later reports never alert twice).
    One article at a time (``stories rebuild``); the poll and ``defwatch cluster`` place a
    batch with ``store_classified``. Both rank candidates by ``monitors.grouping`` and
    decide by ``cluster.best_match``.
    """
    signature = _with_source(item.signed(), feed_id)
    definition = _definition(article_id, item, signature)
    if item.entry.url and item.entry.url in url_story:  # one page from two feeds: one story
        story_id = url_story[item.entry.url]
        became = await store.join_story(session, story_id, definition, now=now)
        return story_id, "same canonical URL", False, became
    lookup = cluster.lookup_keys(signature)
    filings = await store.candidate_filings(session, lookup, limit=cluster.CANDIDATE_LIMIT)
    known = await store.known_stories(session, {filing.story_id for filing in filings})
    ranked = grouping.Candidates.of(filings, known).ranked(
        lookup, limit=cluster.CANDIDATE_LIMIT, article=signature
    )
    stories = dict(ranked)
    match = cluster.best_match(signature, ranked)
    if match is not None:
        became = await store.join_story(session, match.key, definition, now=now)
        story = stories[match.key]
        if (confirmed := cluster.confirmed(story, signature, match)) is not story:
            await store.set_story_signature(session, match.key, confirmed.to_json())
        return match.key, match.reason, False, became
    story_id = await store.create_story(session, definition, now=now)
    return story_id, None, True, True


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

    async def write(session: AsyncSession) -> None:
        await store.record_poll_success(
            session, feed.id, now=now, status=status, next_poll_at=now + timedelta(seconds=delay)
        )

    await ctx.records.record(ctx, feed, write)
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
    # Debug only: monitors.logs.FeedFailureLog logs failures once per change of state.
    log.debug("feed %s failed (%s): %s; retry in %.0fs", feed.url, exc.kind, message, delay)

    async def write(session: AsyncSession) -> None:
        await store.record_poll_failure(
            session,
            feed.id,
            now=now,
            kind=exc.kind,
            error=message,
            next_poll_at=now + timedelta(seconds=delay),
        )

    await ctx.records.record(ctx, feed, write)
    return FeedOutcome(feed_id=feed.id, url=feed.url, status=exc.kind, error=message)


@dataclass(slots=True)
class _PendingRecord:
    feed: FeedSnapshot
    write: Callable[[AsyncSession], Awaitable[None]]
    written: asyncio.Future[None]


class FeedRecords:
    """Group commit of the polls that store nothing but their feed's row (304, an unchanged
    body, a failure): a cycle of 1,000 unchanged feeds would otherwise run 1,000 write
    transactions, each queued behind SQLite's one writer and each renewing its lease.

    ``record`` returns once the feed's row is committed, as a transaction of its own would;
    the rows that arrive while a transaction is being written (or waits for the writer) go
    into the next one, so nothing waits for a timer and an idle monitor writes at once.
    Fencing is the same as ``feed_transaction``'s: the batch renews the leases of its feeds
    first, and a feed whose lease another worker took gets ``LeaseLost`` (its row untouched).
    A poll cancelled before its row is taken (a stop) is dropped from the batch; once taken,
    the feed is listed in ``PollContext.committing`` and its row is written.
    """

    def __init__(self) -> None:
        self._pending: dict[int, _PendingRecord] = {}
        self._writer: asyncio.Task[None] | None = None

    async def record(
        self,
        ctx: PollContext,
        feed: FeedSnapshot,
        write: Callable[[AsyncSession], Awaitable[None]],
    ) -> None:
        """Run ``write`` in a shared write transaction; raises what that transaction raised,
        or ``LeaseLost``."""
        pending = _PendingRecord(feed, write, asyncio.get_running_loop().create_future())
        pending.written.add_done_callback(_retrieve_exception)
        self._pending[feed.id] = pending
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(ctx))
        try:
            await asyncio.shield(pending.written)
        except asyncio.CancelledError:
            if self._pending.get(feed.id) is pending:
                del self._pending[feed.id]
            raise

    async def _write_all(self, ctx: PollContext) -> None:
        while self._pending:
            async with ctx.write_lock or nullcontext():
                batch, self._pending = self._pending, {}
                if batch:
                    await self._write_batch(ctx, batch)

    @staticmethod
    async def _write_batch(ctx: PollContext, batch: dict[int, _PendingRecord]) -> None:
        ctx.committing.update(batch)
        try:
            async with ctx.sessions.begin() as session:
                held: Collection[int] = batch.keys()
                if ctx.lease_owner is not None:
                    held = await store.renew_leases(
                        session,
                        batch.keys(),
                        owner=ctx.lease_owner,
                        now=ctx.clock(),
                        lease=ctx.lease,
                    )
                for feed_id in held:
                    await batch[feed_id].write(session)
        except Exception as exc:
            for pending in batch.values():
                pending.written.set_exception(exc)
            return
        except BaseException:  # cancelled (the loop is closing): no waiter may hang
            for pending in batch.values():
                pending.written.cancel()
            raise
        finally:
            ctx.committing.difference_update(batch)
        for feed_id, pending in batch.items():
            if feed_id in held:
                pending.written.set_result(None)
            else:
                pending.written.set_exception(
                    LeaseLost(f"{pending.feed.url}: lease lost; this poll's result is dropped")
                )


def _retrieve_exception(future: asyncio.Future[None]) -> None:
    # a poll cancelled after its row was taken no longer awaits the outcome: not an error
    if not future.cancelled():
        future.exception()
