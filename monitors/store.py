"""Queries and commands over feeds, articles and stories.

Every function takes a session and never commits: the caller frames the transaction
(SQLAlchemy's "when do I construct a Session"). Values handed back are frozen dataclasses,
never ORM objects, so nothing outlives its session by accident.

Chats, watch rules and the alert outbox live in ``monitors.subscriptions``,
``monitors.watch`` and ``monitors.outbox``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import weakref
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    delete,
    event,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session, SessionTransaction

from monitors import grouping
from monitors.db import (
    bind_processor,
    driver_insert_returning,
    driver_rows,
    driver_write,
    insert_ignoring_duplicates,
    result_processor,
)
from monitors.domain import Classification, NormalisedEntry, Outlet, StoryView
from monitors.grouping import Filing, KnownStory
from monitors.models import Alert, Article, Feed, Meta, Story, StoryCountry, StoryKey

SEEDED_KEY = "default_feeds_seeded_at"
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class FeedSnapshot:
    """What one poll of a feed needs to know, read in one short transaction."""

    id: int
    url: str
    title: str | None
    etag: str | None
    last_modified: str | None
    body_sha256: str | None
    consecutive_errors: int
    country: str | None = None  # the state the feed speaks for (classifier source country)


@dataclass(frozen=True, slots=True)
class FeedHealth:
    id: int
    url: str
    title: str | None
    enabled: bool
    last_status: str | None
    last_error: str | None
    consecutive_errors: int
    last_polled_at: datetime | None
    last_ok_at: datetime | None
    next_poll_at: datetime | None
    country: str | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    feeds_total: int
    feeds_ok: int
    feeds_failing: int
    last_poll_at: datetime | None
    stories_total: int
    cooperation_stories: int
    articles_total: int


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """An article just inserted, and the story it joined or started."""

    article_id: int
    story_id: int
    new_story: bool
    join_reason: str | None


def _lock_key(name: str) -> int:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


async def advisory_lock(session: AsyncSession, *names: str) -> None:
    """Serialise transactions that touch the same ``names`` (PostgreSQL; SQLite has one writer).

    Held until the transaction ends. Keys are taken in sorted order so two transactions
    asking for overlapping sets cannot deadlock.
    """
    if session.bind is None or session.bind.dialect.name != "postgresql" or not names:
        return
    keys = sorted({_lock_key(name) for name in names})
    # One statement for the whole set; the ordered subquery keeps the sorted locking order.
    await session.execute(
        text(
            "SELECT count(pg_advisory_xact_lock(k)) FROM "
            "(SELECT k FROM unnest(CAST(:keys AS bigint[])) AS k ORDER BY k) AS ordered"
        ),
        {"keys": keys},
    )


# --- feeds ---------------------------------------------------------------------------------


async def seed_feeds_once(
    session: AsyncSession,
    feeds: Iterable[tuple[str, str | None, bool] | tuple[str, str | None, bool, str | None]],
    now: datetime,
) -> int:
    """Insert the default feeds the first time a database is used; later calls do nothing.

    A marker row remembers the seeding, so feeds an operator removed stay removed.
    """
    await advisory_lock(session, "seed-default-feeds")  # workers starting at once seed once
    if await session.get(Meta, SEEDED_KEY) is not None:
        return 0
    added = 0
    for url, title, enabled, *country in feeds:
        added += await add_feed(
            session, url, title=title, enabled=enabled, country=next(iter(country), None), now=now
        )
    session.add(Meta(key=SEEDED_KEY, value=now.isoformat()))
    return added


async def add_feed(
    session: AsyncSession,
    url: str,
    *,
    title: str | None = None,
    enabled: bool = True,
    country: str | None = None,
    now: datetime,
) -> bool:
    """Add a feed, due at once; False when the URL is already there.  ``country`` is the state
    a ministry's or armed force's own feed speaks for (ISO alpha-2)."""
    existing = await session.scalar(select(Feed.id).where(Feed.url == url))
    if existing is not None:
        return False
    session.add(
        Feed(
            url=url,
            title=title,
            enabled=enabled,
            country=country,
            created_at=now,
            next_poll_at=now,
        )
    )
    await session.flush()
    return True


async def fill_feed_countries(session: AsyncSession, countries: dict[str, str]) -> int:
    """Give listed feeds that have no source country yet the one ``countries`` names."""
    filled = 0
    for url, code in countries.items():
        result = await session.execute(
            update(Feed).where(Feed.url == url, Feed.country.is_(None)).values(country=code)
        )
        filled += result.rowcount  # type: ignore[attr-defined]
    return filled


async def remove_feed(session: AsyncSession, url: str) -> bool:
    result = await session.execute(delete(Feed).where(Feed.url == url))
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def list_feeds(session: AsyncSession) -> list[FeedHealth]:
    rows = await session.scalars(select(Feed).order_by(Feed.url))
    return [
        FeedHealth(
            id=f.id,
            url=f.url,
            title=f.title,
            enabled=f.enabled,
            last_status=f.last_status,
            last_error=f.last_error,
            consecutive_errors=f.consecutive_errors,
            last_polled_at=f.last_polled_at,
            last_ok_at=f.last_ok_at,
            next_poll_at=f.next_poll_at,
            country=f.country,
        )
        for f in rows
    ]


async def claim_due_feeds(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    owner: str,
    lease: timedelta,
    not_polled_since: datetime | None = None,
    due_by: datetime | None = None,
    exclude: Collection[int] = (),
) -> list[FeedSnapshot]:
    """Lease up to ``limit`` due feeds to ``owner``.

    A feed is due when enabled, its ``next_poll_at`` has passed (``due_by``, default ``now``)
    and no live lease is held on it. With ``not_polled_since`` (a manual "poll everything
    now"), every enabled feed not polled since that moment is due instead, whatever its
    schedule. ``exclude`` (the feeds a cycle already took) are never claimed. On PostgreSQL the
    rows are locked with ``SKIP LOCKED`` so concurrent workers claim disjoint sets; SQLite
    serialises writers anyway. A crashed worker's lease simply expires.
    """
    if not_polled_since is None:
        due = or_(Feed.next_poll_at.is_(None), Feed.next_poll_at <= (due_by or now))
    else:
        due = or_(Feed.last_polled_at.is_(None), Feed.last_polled_at < not_polled_since)
    query = (
        select(Feed)
        .where(
            Feed.enabled.is_(True),
            due,
            or_(Feed.lease_until.is_(None), Feed.lease_until < now),
            Feed.id.not_in(exclude) if exclude else true(),
        )
        .order_by(Feed.next_poll_at.asc().nulls_first(), Feed.id)
        .limit(limit)
    )
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    feeds = list(await session.scalars(query))
    for feed in feeds:
        feed.lease_owner = owner
        feed.lease_until = now + lease
    await session.flush()
    return [
        FeedSnapshot(
            id=f.id,
            url=f.url,
            title=f.title,
            etag=f.etag,
            last_modified=f.last_modified,
            body_sha256=f.body_sha256,
            consecutive_errors=f.consecutive_errors,
            country=f.country,
        )
        for f in feeds
    ]


POLL_UPDATE = {"synchronize_session": False}
"""Execution options of the poll's own updates of ``feed`` rows: the poll's sessions load no
``Feed`` objects, so the ORM has none to bring up to date (its default, "auto", first works
out which loaded objects the WHERE clause matches: a cost per statement, per feed, per cycle)."""


async def renew_leases(
    session: AsyncSession,
    feed_ids: Collection[int],
    *,
    owner: str,
    now: datetime,
    lease: timedelta,
    skip_locked: bool = False,
) -> set[int]:
    """Extend the leases ``owner`` still holds on ``feed_ids`` to ``now + lease``.

    ``skip_locked`` (PostgreSQL; the periodic renewal): feeds whose row another transaction
    holds (this worker's own poll committing, which renews it) are skipped, not waited for,
    so that one slow commit never delays the renewal of every other lease.

    Returns the ids renewed. Fencing: once a lease has expired another worker may claim the
    feed, and a claim (or that worker's finished poll) rewrites ``lease_owner``; so a feed
    whose owner is no longer ``owner`` is not renewed and is no longer this worker's to store.
    A lease that expired but that nobody took over is still this worker's (no one else has
    fetched the feed since) and is renewed. Owner ids are unique per process, and a process
    claims a feed once per cycle. On PostgreSQL the UPDATE also row-locks the feeds until the
    caller's transaction ends, so no other worker can claim one of them meanwhile.
    """
    if not feed_ids:
        return set()
    held = select(Feed.id).where(Feed.id.in_(feed_ids), Feed.lease_owner == owner)
    if skip_locked and session.bind is not None and session.bind.dialect.name == "postgresql":
        held = held.with_for_update(skip_locked=True)
    renewed = await session.scalars(
        update(Feed)
        .where(Feed.id.in_(held.scalar_subquery()))
        .values(lease_until=now + lease)
        .returning(Feed.id)
        .execution_options(**POLL_UPDATE)
    )
    return set(renewed)


async def lease_holders(
    session: AsyncSession, feed_ids: Collection[int], *, owner: str
) -> set[int]:
    """Which of ``feed_ids`` are leased to ``owner`` now (a plain read: never waits on locks)."""
    if not feed_ids:
        return set()
    return set(
        await session.scalars(
            select(Feed.id).where(Feed.id.in_(feed_ids), Feed.lease_owner == owner)
        )
    )


async def release_leases(session: AsyncSession, feed_ids: Collection[int], *, owner: str) -> None:
    """Give up ``owner``'s leases on ``feed_ids`` (polls abandoned on a stop): at once due."""
    if feed_ids:
        await session.execute(
            update(Feed)
            .where(Feed.id.in_(feed_ids), Feed.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
            .execution_options(**POLL_UPDATE)
        )


async def record_poll_success(
    session: AsyncSession,
    feed_id: int,
    *,
    now: datetime,
    status: str,
    next_poll_at: datetime,
    etag: str | None = None,
    last_modified: str | None = None,
    body_sha256: str | None = None,
    title: str | None = None,
) -> None:
    """A poll worked (fetched and parsed, 304, or unchanged body): reset the error count."""
    values: dict[str, Any] = {
        "last_status": status,
        "last_error": None,
        "consecutive_errors": 0,
        "last_polled_at": now,
        "last_ok_at": now,
        "next_poll_at": next_poll_at,
        "lease_owner": None,
        "lease_until": None,
    }
    if status == "ok":
        values.update(etag=etag, last_modified=last_modified, body_sha256=body_sha256)
    if title:
        values["title"] = func.coalesce(Feed.title, title[:300])
    await session.execute(
        update(Feed).where(Feed.id == feed_id).values(**values).execution_options(**POLL_UPDATE)
    )


async def record_poll_failure(
    session: AsyncSession,
    feed_id: int,
    *,
    now: datetime,
    kind: str,
    error: str,
    next_poll_at: datetime,
) -> None:
    """A poll failed: keep the reason on the row and count it; the feed stays enabled."""
    await session.execute(
        update(Feed)
        .where(Feed.id == feed_id)
        .values(
            last_status=kind,
            last_error=error[:2000],
            consecutive_errors=Feed.consecutive_errors + 1,
            last_polled_at=now,
            next_poll_at=next_poll_at,
            lease_owner=None,
            lease_until=None,
        )
        .execution_options(**POLL_UPDATE)
    )


# --- articles and stories ------------------------------------------------------------------


_IN_SHAPES = (8, 32, 128, 500)


def padded(values: Sequence[T]) -> list[T]:
    """``values`` (at most 500) repeated at the end up to 8, 32, 128 or 500 items, for an
    ``IN (...)`` list: each list length is a distinct statement that the driver keeps prepared
    per connection (SQLite: up to 128 of them, ~0.1-1 MB each); a few lengths bound that."""
    items = list(values)
    if not items:
        return items
    size = next(n for n in _IN_SHAPES if n >= len(items))
    return items + [items[-1]] * (size - len(items))


async def existing_entry_keys(session: AsyncSession, feed_id: int, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = padded(keys[start : start + 500])
        rows = await session.scalars(
            select(Article.entry_key).where(
                Article.feed_id == feed_id, Article.entry_key.in_(chunk)
            )
        )
        found.update(rows)
    return found


async def existing_feed_urls(session: AsyncSession, feed_id: int, urls: Sequence[str]) -> set[str]:
    """Which of ``urls`` this feed has already stored (whatever their entry keys)."""
    found: set[str] = set()
    for start in range(0, len(urls), 500):
        chunk = padded(urls[start : start + 500])
        rows = await session.scalars(
            select(Article.url).where(Article.feed_id == feed_id, Article.url.in_(chunk))
        )
        found.update(url for url in rows if url)
    return found


async def stored_for_feed(
    session: AsyncSession, feed_id: int, keys: Sequence[str], urls: Sequence[str]
) -> tuple[set[str], set[str], set[str]]:
    """(which of ``keys`` this feed has stored, which of ``urls`` it has stored, which of
    ``urls`` any feed has stored in a story): one statement per 500 keys and URLs."""
    known: set[str] = set()
    own: set[str] = set()
    placed: set[str] = set()
    for start in range(0, max(len(keys), len(urls), 1), 500):
        key_chunk = padded(keys[start : start + 500]) or [""]
        url_chunk = padded(urls[start : start + 500]) or [""]
        by_key = select(literal(0), Article.entry_key, Article.feed_id, Article.story_id).where(
            Article.feed_id == feed_id, Article.entry_key.in_(key_chunk)
        )
        by_url = select(literal(1), Article.url, Article.feed_id, Article.story_id).where(
            Article.url.in_(url_chunk)
        )
        rows: Any = await session.execute(union_all(by_key, by_url))
        for is_url, value, feed, story_id in rows:
            if value is None:
                continue
            if not is_url:
                known.add(value)
                continue
            if feed == feed_id:
                own.add(value)
            if story_id is not None:
                placed.add(value)
    return known, own, placed


async def known_urls(session: AsyncSession, urls: Sequence[str]) -> dict[str, int]:
    """Story ids of already stored articles with these canonical URLs (any feed): one
    statement of one shape for any number of URLs, on the driver (a poll's first read of
    every feed's batch)."""
    if not urls:
        return {}
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = await driver_rows(
        session,
        _PG_URL_STORIES if postgres else _SQLITE_URL_STORIES,
        (list(urls),) if postgres else (json.dumps(list(urls)),),
    )
    found: dict[str, int] = {}
    for url, story_id in rows:
        found.setdefault(url, story_id)
    return found


_PG_URL_STORIES = (
    "SELECT url, story_id FROM article WHERE url = ANY($1::text[]) AND story_id IS NOT NULL"
)
_SQLITE_URL_STORIES = (
    "SELECT url, story_id FROM article "
    "WHERE url IN (SELECT value FROM json_each(?)) AND story_id IS NOT NULL"
)


async def insert_article(
    session: AsyncSession,
    feed_id: int,
    entry: NormalisedEntry,
    verdict: Classification,
    *,
    fetched_at: datetime,
) -> int | None:
    """Insert one article; None when (feed, entry key) is already stored (a racing worker)."""
    statement = (
        insert_ignoring_duplicates(session, Article, ["feed_id", "entry_key"])
        .values(_article_row(feed_id, entry, verdict, fetched_at))
        .returning(Article.id)
    )
    return (await session.execute(statement)).scalar_one_or_none()


def _article_row(
    feed_id: int, entry: NormalisedEntry, verdict: Classification, fetched_at: datetime
) -> dict[str, Any]:
    return {
        "feed_id": feed_id,
        "entry_key": entry.entry_key,
        "url": entry.url,
        "title": entry.title[:400],
        "summary": entry.summary,
        "published_at": entry.published_at,
        "fetched_at": fetched_at,
        "language": entry.language,
        "score": verdict.score,
        "is_defence_cooperation": verdict.defence_cooperation,
        "cooperation_type": verdict.cooperation_type,
        "participants": ",".join(verdict.participants),
        "evidence": list(verdict.evidence),
    }


async def insert_articles(
    session: AsyncSession,
    feed_id: int,
    items: Sequence[tuple[NormalisedEntry, Classification]],
    *,
    fetched_at: datetime,
) -> dict[str, int]:
    """Insert a feed's articles, a few multi-row statements; {entry key: id} of those
    inserted (a (feed, entry key) already stored, e.g. by a racing worker, is skipped)."""
    if not items:
        return {}
    table = cast(Table, Article.__table__)
    rows = [_article_row(feed_id, entry, verdict, fetched_at) for entry, verdict in items]
    # on the driver: two thousand rows of a dozen values a poll
    returned = await driver_insert_returning(
        session, table, rows, ("id", "entry_key"), skip_conflicts_on=("feed_id", "entry_key")
    )
    return {key: article_id for article_id, key in returned}


@dataclass(frozen=True, slots=True)
class StoryDefinition:
    """What a story is: its defining report (``monitors.detect.cluster`` files it by ``keys``)."""

    article_id: int
    entry: NormalisedEntry
    verdict: Classification
    signature: dict[str, Any]
    keys: frozenset[str]
    filed_at: datetime


async def create_story(session: AsyncSession, definition: StoryDefinition, *, now: datetime) -> int:
    """A new story defined by one report."""
    story = Story(first_seen_at=now, last_seen_at=now, article_count=0)
    story.signature = definition.signature
    session.add(story)
    await _define(session, story, definition)
    session.add_all(
        StoryKey(story_id=story.id, key=key, filed_at=definition.filed_at)
        for key in sorted(definition.keys)
    )
    await session.flush()
    return story.id


async def _define(session: AsyncSession, story: Story, definition: StoryDefinition) -> None:
    """Title, countries, cooperation flag, type and evidence: all from the one defining
    report, never a union of the members. What the story is matched against (its signature
    and index keys) stays its first report's: redefining never moves the story's window or
    widens what can join it."""
    for name, value in _story_values(definition).items():
        setattr(story, name, value)
    await session.flush()
    await session.execute(delete(StoryCountry).where(StoryCountry.story_id == story.id))
    session.add_all(StoryCountry(**row) for row in _country_rows(story.id, definition))
    await session.flush()


def _story_values(definition: StoryDefinition) -> dict[str, Any]:
    """The story columns its defining report decides (see ``_define``)."""
    entry, verdict = definition.entry, definition.verdict
    return {
        "title": entry.title[:400] or entry.summary[:120],
        "url": entry.url,
        "summary": entry.summary[:2000],
        "published_at": entry.published_at,
        "score": verdict.score,
        "is_defence_cooperation": verdict.defence_cooperation,
        "cooperation_type": verdict.cooperation_type,
        "evidence": list(verdict.evidence),
        "defining_article_id": definition.article_id,
    }


def _country_rows(story_id: int, definition: StoryDefinition) -> list[dict[str, Any]]:
    """The story's ``story_country`` rows: participants, and the states only mentioned."""
    return [
        {"story_id": story_id, "code": code, "role": role, "published_at": published,
         "is_defence_cooperation": cooperation}
        for _, code, role, published, cooperation in _country_tuples(
            story_id, definition, _same
        )
    ]  # fmt: skip


async def join_story(
    session: AsyncSession, story_id: int, definition: StoryDefinition, *, now: datetime
) -> bool:
    """A report joins its story; True when the story became a cooperation story now.

    A story becomes a cooperation story only through a member that is one: the first
    cooperation report to join a story that had none becomes its defining report. Any other
    report leaves the story as it is.
    """
    story = await session.get_one(Story, story_id)
    story.last_seen_at = max(story.last_seen_at, now)
    if definition.verdict.defence_cooperation and not story.is_defence_cooperation:
        await _define(session, story, definition)
        return True
    return False


async def set_story_signature(
    session: AsyncSession, story_id: int, signature: dict[str, Any]
) -> None:
    """What the story is matched against: its defining report and its confirmed reports
    (``monitors.detect.cluster.confirmed``); its index keys and window stay the defining
    report's."""
    await session.execute(update(Story).where(Story.id == story_id).values(signature=signature))


async def attach_article(
    session: AsyncSession, article_id: int, story_id: int, reason: str | None
) -> None:
    await session.execute(
        update(Article)
        .where(Article.id == article_id)
        .values(story_id=story_id, join_reason=reason)
    )
    await session.execute(
        update(Story).where(Story.id == story_id).values(article_count=Story.article_count + 1)
    )


# --- a feed's batch (monitors.grouping places it; these read and write it in bulk) ------------


async def candidate_filings(
    session: AsyncSession, keys: Mapping[str, datetime | None], *, limit: int
) -> list[Filing]:
    """The newest ``limit`` filings under each of ``keys`` no earlier than its horizon
    (None: any time), as ``Filing`` rows (``stories rebuild``; a poll's batch reads them as
    ``candidate_runs``)."""
    runs, _ = await candidate_runs(session, keys, limit=limit)
    return [
        Filing(story_id, key, filed_at)
        for key, numbers in runs.items()
        for filed_at, story_id in map(grouping.filing_parts, numbers)
    ]


async def candidate_runs(
    session: AsyncSession, keys: Mapping[str, datetime | None], *, limit: int
) -> tuple[dict[str, list[int]], dict[int, int]]:
    """The newest ``limit`` filings under each of ``keys`` no earlier than its horizon
    (None: any time), as ``grouping.Candidates.by_key`` holds them (each key's
    ``grouping.filing_number``s, ascending), and the revision of each story filed there
    (``story_key.revision``, its story's: what ``known_stories`` checks its kept stories by).
    One index range scan per key, answered from the index alone (``ix_story_key_candidates
    (key, filed_at, story_id, revision)``, migrations 0008 and 0010).

    Read on the driver connection (``db.driver_rows``): at a million stored stories every key
    has ``limit`` filings, thousands of rows per feed, and SQLAlchemy's row processing cost
    more than the query; no object per row either. PostgreSQL: one statement for any number
    of keys (``unnest`` and a ``LATERAL`` subquery per key). SQLite: one statement per 128
    keys, of one of three fixed shapes (8, 32 or 128 keys, padded with a key that is never
    filed): each prepared statement of this kind holds ~1 MB in SQLite's per-connection
    statement cache, so a shape per key count grew a poll by 200 MB.
    """
    dialect = session.get_bind().dialect
    to_db, convert = bind_processor(_FILED_AT, dialect), result_processor(_FILED_AT, dialect)
    # a story's filing time comes once per key it is filed under, and the same keys' newest
    # filings feed after feed: each distinct value goes through SQLAlchemy's processors (and
    # becomes a ``grouping.filing_time``) once
    converted = _FILING_TIMES.setdefault(dialect.name, {})
    if len(converted) >= _FILING_TIMES_KEPT:
        converted.clear()
    known_time = converted.get
    items = sorted(keys.items())
    if dialect.name == "postgresql":
        rows = await driver_rows(
            session,
            _PG_FILINGS.format(limit=int(limit)),
            ([key for key, _ in items], [to_db(since or _ANY_TIME) for _, since in items]),
        )
    else:
        rows = []
        for start in range(0, len(items), _FILING_SHAPES[-1]):
            chunk = items[start : start + _FILING_SHAPES[-1]]
            size = next(n for n in _FILING_SHAPES if n >= len(chunk))
            chunk += [(_NEVER_FILED, None)] * (size - len(chunk))
            params: dict[str, object] = {}
            for n, (key, since) in enumerate(chunk):
                params[f"k{n}"], params[f"s{n}"] = key, to_db(since or _ANY_TIME)
            rows.extend(await driver_rows(session, _sqlite_filings(size, limit), params))
    runs: dict[str, list[int]] = {}
    revisions: dict[int, int] = {}
    for story_id, key, filed, revision in rows:
        time_part = known_time(filed)
        if time_part is None:
            time_part = converted[filed] = grouping.filing_time(convert(filed))
        numbers = runs.get(key)
        if numbers is None:
            numbers = runs[key] = []
        numbers.append(time_part | story_id)
        revisions[story_id] = revision
    for numbers in runs.values():
        numbers.reverse()  # each key's rows come newest first: now (almost) sorted
        numbers.sort()
    return runs, revisions


_FILING_TIMES: dict[str, dict[Any, int]] = {}
"""Filing times as the driver gives them -> as ``grouping.filing_time``s of the values
SQLAlchemy makes of them, per dialect (a pure conversion, so a kept value is never stale)."""
_FILING_TIMES_KEPT = 32768

_FILING_SHAPES = (8, 32, 128)
_NEVER_FILED = ""
_ANY_TIME = datetime(1, 1, 2, tzinfo=UTC)
_PG_FILINGS = (
    "SELECT f.story_id, f.key, f.filed_at, f.revision FROM unnest($1::text[], "
    "$2::timestamptz[]) AS q(key, since) CROSS JOIN LATERAL (SELECT story_id, key, filed_at, "
    "revision FROM story_key WHERE key = q.key AND filed_at >= q.since "
    "ORDER BY filed_at DESC, story_id DESC LIMIT {limit}) AS f"
)


@functools.cache
def _sqlite_filings(size: int, limit: int) -> str:
    return " UNION ALL ".join(
        f"SELECT * FROM (SELECT story_id, key, filed_at, revision FROM story_key "
        f"WHERE key = :k{n} AND filed_at >= :s{n} ORDER BY filed_at DESC, story_id DESC "
        f"LIMIT {limit:d})"
        for n in range(size)
    )


_FILED_AT = StoryKey.__table__.c.filed_at.type


async def known_stories(
    session: AsyncSession, story_ids: Collection[int], *, revisions: Mapping[int, int] | None = None
) -> dict[int, KnownStory]:
    """Signature and cooperation flag of stored stories (what grouping a batch needs), read
    on the driver connection like ``candidate_filings``. The signature comes as its stored
    JSON text: decoded later, only if ranked.

    The stories are kept between batches (``KeptStories``): a kept story is handed out if its
    revision is still the one it was read at, as given in ``revisions`` (read by the caller in
    this transaction: ``candidate_runs``) or else read here (``ix_story_revision``, migration
    0010); the others' text is read (one statement of one shape for any number of ids: an
    array on PostgreSQL, a JSON array on SQLite). The objects handed out are
    shared with later batches: a caller that changes one (``KnownStory.replace``, its
    ``cooperation``) changes a copy (``pipeline._Plan``)."""
    if not story_ids:
        return {}
    kept = _kept_stories(session)
    pending, handed_out = _pending_stories(session, kept)
    found: dict[int, KnownStory] = {}
    held: dict[int, tuple[int, KnownStory]] = {}
    missing: list[int] = []
    given = revisions or {}
    kept_entry, pending_entry, now_used = kept.get, pending.get, kept.touch
    for story_id in story_ids:  # ~1,000 a batch: one pass, few calls
        entry = (pending_entry(story_id) if pending else None) or kept_entry(story_id)
        if entry is None:
            missing.append(story_id)
            continue
        revision = given.get(story_id)
        if revision is None:
            held[story_id] = entry
        elif revision == entry[0]:
            found[story_id] = entry[1]
            now_used(story_id)
        else:
            missing.append(story_id)
    postgres = session.get_bind().dialect.name == "postgresql"
    if held:
        ids = sorted(held)
        rows = await driver_rows(
            session,
            _PG_REVISIONS if postgres else _SQLITE_REVISIONS,
            (ids,) if postgres else (json.dumps(ids),),
        )
        for story_id, revision in rows:
            held_revision, known = held[story_id]
            if revision == held_revision:
                found[story_id] = known
                kept.touch(story_id)
            else:
                missing.append(story_id)
        # a held id the database no longer has (purged, rebuilt) is not a candidate
    if missing:
        ids = sorted(missing)
        rows = await driver_rows(
            session,
            _PG_KNOWN if postgres else _SQLITE_KNOWN,
            (ids,) if postgres else (json.dumps(ids),),
        )
        for story_id, revision, signature, cooperation in rows:
            known = found[story_id] = KnownStory(bool(cooperation), raw=signature)
            if len(pending) < kept.capacity:
                pending[story_id] = (revision, known)
    handed_out.append(list(found.values()))  # the caller may put its own copies in `found`
    return found


_PG_REVISIONS = "SELECT id, revision FROM story WHERE id = ANY($1::bigint[])"
_SQLITE_REVISIONS = (
    "SELECT id, revision FROM story INDEXED BY ix_story_revision "
    "WHERE id IN (SELECT value FROM json_each(?))"
)
_PG_KNOWN = (
    "SELECT id, revision, signature::text, is_defence_cooperation FROM story "
    "WHERE id = ANY($1::bigint[])"
)
_SQLITE_KNOWN = (
    "SELECT id, revision, signature, is_defence_cooperation FROM story "
    "WHERE id IN (SELECT value FROM json_each(?))"
)


KNOWN_STORIES_KEPT = 8192
"""Stories ``known_stories`` keeps per database and process, least recently handed out
dropped first: the stories that are candidates feed after feed (66 feeds of 2,000 reports in
all, stored on a million stories, ask for 88,000, 15,000 of them distinct; 8,192 kept, 22,000
are read). An entry holds a ``KnownStory``: the signature's text (about 1 KB for a real story)
and its screen (about 1 KB) once ranked, so about 20 MB when full; its decoded signature
(~10 KB) only while a transaction that handed it out runs (``forget_signature``)."""


class KeptStories:
    """The ``KnownStory`` of stories read from one database, by id, with the revision they
    were read at (``story.revision``: the database gives every write of a story's signature
    or cooperation flag a new one, never the same twice; migration 0010).

    Sound because (id, revision) names one content for good: a kept story is handed out only
    after its current revision was read in the asking transaction and found equal. Entries
    come only from committed data: what a transaction reads is kept once it commits (the
    ``after_commit`` hook below) and dropped if it rolls back, since on SQLite the revisions of
    a rolled-back write are given again later (PostgreSQL's sequence never repeats)."""

    def __init__(self, capacity: int = KNOWN_STORIES_KEPT) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[int, tuple[int, KnownStory]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, story_id: int) -> tuple[int, KnownStory] | None:
        return self._entries.get(story_id)

    def touch(self, story_id: int) -> None:
        """Handed out again: dropped last (an entry the asking transaction read is not kept
        yet)."""
        if story_id in self._entries:
            self._entries.move_to_end(story_id)

    def keep(self, entries: Mapping[int, tuple[int, KnownStory]]) -> None:
        """Entries read by a committed transaction; a kept newer revision stays (revisions of
        one story grow with its committed writes; a later reader may have kept it first)."""
        for story_id, entry in entries.items():
            have = self._entries.get(story_id)
            if have is None or have[0] <= entry[0]:
                self._entries[story_id] = entry
                self._entries.move_to_end(story_id)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()


_KEPT: weakref.WeakKeyDictionary[Any, KeptStories] = weakref.WeakKeyDictionary()
_PENDING = "defwatch.kept_stories"  # Session.info key: (kept, entries read in the transaction)


def kept_stories(engine: Any) -> KeptStories:
    """The stories kept for one database (a sync ``Engine``; one per engine, so two databases
    in one process, e.g. tests, never share entries)."""
    kept = _KEPT.get(engine)
    if kept is None:
        kept = _KEPT[engine] = KeptStories()
    return kept


def _kept_stories(session: AsyncSession) -> KeptStories:
    bind: Any = session.get_bind()
    return kept_stories(getattr(bind, "engine", bind))


@dataclass(slots=True)
class _Pending:
    """What one transaction read: kept once it commits (``entries``); the stories it handed
    out forget their decoded signatures when it ends, committed or not (``handed_out``)."""

    kept: KeptStories
    entries: dict[int, tuple[int, KnownStory]]
    handed_out: list[Iterable[KnownStory]]


def _pending_stories(
    session: AsyncSession, kept: KeptStories
) -> tuple[dict[int, tuple[int, KnownStory]], list[Iterable[KnownStory]]]:
    info = session.sync_session.info
    pending = info.get(_PENDING)
    if pending is None or pending.kept is not kept:
        pending = info[_PENDING] = _Pending(kept, {}, [])
    return pending.entries, pending.handed_out


@event.listens_for(Session, "after_commit")
def _keep_committed(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint released: the transaction goes on
        return
    pending = session.info.get(_PENDING)
    if pending is not None and pending.entries:
        pending.kept.keep(pending.entries)
        pending.entries = {}


@event.listens_for(Session, "after_soft_rollback")
def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    # any rollback, a savepoint's too: what was read may have been this transaction's writes
    pending = session.info.get(_PENDING)
    if pending is not None:
        pending.entries = {}


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is not None:
        return
    pending = session.info.pop(_PENDING, None)  # not committed: nothing is kept
    if pending is not None:
        for stories in pending.handed_out:
            for known in stories:
                known.forget_signature()


@dataclass(frozen=True, slots=True)
class NewStory:
    """A story a batch starts: filed by its first report, defined by ``defined_by`` (the
    same report, or a later cooperation report of the batch), with ``articles`` members."""

    first: StoryDefinition
    defined_by: StoryDefinition
    articles: int
    signature: dict[str, Any]  # the first report's, with the reports confirmed since


async def insert_stories(
    session: AsyncSession, stories: Sequence[NewStory], *, now: datetime
) -> list[int]:
    """Insert new stories with their country and key rows; their ids, in order."""
    if not stories:
        return []
    table = cast(Table, Story.__table__)
    rows = [
        {
            **_story_values(story.defined_by),
            "first_seen_at": now,
            "last_seen_at": now,
            "article_count": story.articles,
            "signature": story.signature,
        }
        for story in stories
    ]
    if session.get_bind().dialect.name != "postgresql":
        # SQLite: the stories' revisions taken from the counter here, in one statement, so
        # that no trigger rewrites each new row (PostgreSQL: the column's default)
        ((last,),) = await driver_rows(session, _RESERVE_REVISIONS, (len(rows),))
        for revision, row in enumerate(rows, last - len(rows) + 1):
            row["revision"] = revision
    # on the driver (the counter's update above, or the batch's article inserts, began the
    # transaction)
    returned = await driver_insert_returning(
        session, table, rows, ("id", "defining_article_id", "revision")
    )
    by_definer = {definer: (story_id, revision) for story_id, definer, revision in returned}
    made = [by_definer[story.defined_by.article_id] for story in stories]
    ids = [story_id for story_id, _ in made]
    # their country and key rows on the driver: thousands per poll, each through SQLAlchemy's
    # parameter processing cost more than writing it
    dialect = session.get_bind().dialect
    to_db = bind_processor(_FILED_AT, dialect)
    countries = [
        row
        for story_id, story in zip(ids, stories, strict=True)
        for row in _country_tuples(story_id, story.defined_by, to_db)
    ]
    keys = [
        (story_id, key, filed_at, revision)
        for (story_id, revision), story in zip(made, stories, strict=True)
        for filed_at in (to_db(story.first.filed_at),)
        for key in sorted(story.first.keys)
    ]  # their story's revision (the database checks it: migration 0010)
    postgres = dialect.name == "postgresql"
    await driver_write(session, _PG_COUNTRY_ROWS if postgres else _SQLITE_COUNTRY_ROWS, countries)
    await driver_write(session, _PG_KEY_ROWS if postgres else _SQLITE_KEY_ROWS, keys)
    return ids


def _country_tuples(
    story_id: int, definition: StoryDefinition, to_db: Callable[[datetime], Any]
) -> list[tuple[Any, ...]]:
    """``_country_rows`` as driver rows (``_SQLITE_COUNTRY_ROWS``' column order), the time
    through ``to_db``."""
    verdict = definition.verdict
    roles = {code: "mentioned" for code in verdict.mentioned}
    roles.update({code: "participant" for code in verdict.participants})
    published = to_db(definition.entry.published_at)
    cooperation = verdict.defence_cooperation
    return [(story_id, code, role, published, cooperation) for code, role in sorted(roles.items())]


def _same(value: Any) -> Any:
    return value


_SQLITE_COUNTRY_ROWS = (
    "INSERT INTO story_country (story_id, code, role, published_at, is_defence_cooperation) "
    "VALUES (?, ?, ?, ?, ?)"
)
_PG_COUNTRY_ROWS = (
    "INSERT INTO story_country (story_id, code, role, published_at, is_defence_cooperation) "
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::timestamptz[], "
    "$5::boolean[])"
)
_SQLITE_KEY_ROWS = "INSERT INTO story_key (story_id, key, filed_at, revision) VALUES (?, ?, ?, ?)"
_PG_KEY_ROWS = (
    "INSERT INTO story_key (story_id, key, filed_at, revision) "
    "SELECT * FROM unnest($1::bigint[], $2::text[], $3::timestamptz[], $4::bigint[])"
)


_RESERVE_REVISIONS = "UPDATE story_revision_counter SET n = n + ? RETURNING n"
"""(SQLite) Reserve revisions for new stories. On the driver: ``watch`` takes a raw write
through SQLAlchemy for a possible change of what chats watch (it would read its index again
after every such transaction); it never sees the driver's statements."""


async def _insert_rows(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    """Many rows, one cached statement: SQLAlchemy sends them as multi-row VALUES batches
    ("insertmanyvalues"). A ``.values(rows)`` statement would be compiled and cached anew
    for every row count, which grew the process by ~200 MB in a poll."""
    if rows:
        await session.execute(insert(model.__table__), rows)


async def grow_stories(
    session: AsyncSession,
    joined: Mapping[int, int],
    redefined: Mapping[int, StoryDefinition],
    *,
    now: datetime,
) -> None:
    """Stored stories that reports of a batch joined (``joined``: story id -> how many):
    count them and move ``last_seen_at`` on; ``redefined`` ones get their new defining
    report's title, countries and flags (``join_story``'s rule, decided by the caller)."""
    if joined:
        table = cast(Table, Story.__table__)
        await session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                article_count=table.c.article_count + bindparam("b_count"),
                last_seen_at=case(
                    (table.c.last_seen_at < bindparam("b_now", type_=table.c.last_seen_at.type),
                     bindparam("b_now", type_=table.c.last_seen_at.type)),
                    else_=table.c.last_seen_at,
                ),
            ),
            [{"b_id": sid, "b_count": n, "b_now": now} for sid, n in sorted(joined.items())],
        )  # fmt: skip
    if redefined:
        table = cast(Table, Story.__table__)
        values: dict[str, Any] = {name: bindparam(f"b_{name}") for name in _STORY_DEFINED}
        await session.execute(
            update(table).where(table.c.id == bindparam("b_id")).values(values),
            [
                {"b_id": sid, **{f"b_{k}": v for k, v in _story_values(d).items()}}
                for sid, d in sorted(redefined.items())
            ],
        )
        await session.execute(delete(StoryCountry).where(StoryCountry.story_id.in_(redefined)))
        rows = [row for sid, d in sorted(redefined.items()) for row in _country_rows(sid, d)]
        await _insert_rows(session, StoryCountry, rows)


_STORY_DEFINED = (
    "title", "url", "summary", "published_at", "score", "is_defence_cooperation",
    "cooperation_type", "evidence", "defining_article_id",
)  # fmt: skip


async def attach_articles(
    session: AsyncSession, placed: Sequence[tuple[int, int, str | None]]
) -> None:
    """(article id, story id, why it joined) for each article of a batch: one executemany.
    Story counts are the caller's (``insert_stories``, ``grow_stories``)."""
    if not placed:
        return
    postgres = session.get_bind().dialect.name == "postgresql"
    # on the driver (the batch's inserts began the transaction): 2,000 rows a poll
    await driver_write(
        session,
        _PG_ATTACH if postgres else _SQLITE_ATTACH,
        [(story, reason, article) for article, story, reason in placed],
    )


_SQLITE_ATTACH = "UPDATE article SET story_id = ?, join_reason = ? WHERE id = ?"
_PG_ATTACH = (
    "UPDATE article SET story_id = v.story_id, join_reason = v.reason "
    "FROM unnest($1::bigint[], $2::text[], $3::bigint[]) AS v(story_id, reason, id) "
    "WHERE article.id = v.id"
)


async def story_views(session: AsyncSession, story_ids: Sequence[int]) -> list[StoryView]:
    """Stories with their countries and outlets, in the order of ``story_ids``."""
    if not story_ids:
        return []
    stories = {s.id: s for s in await session.scalars(select(Story).where(Story.id.in_(story_ids)))}
    countries: dict[int, list[tuple[str, str]]] = {}
    for story_id, code, role in await session.execute(
        select(StoryCountry.story_id, StoryCountry.code, StoryCountry.role)
        .where(StoryCountry.story_id.in_(story_ids))
        .order_by(StoryCountry.code)
    ):
        countries.setdefault(story_id, []).append((code, role))
    outlets: dict[int | None, list[Outlet]] = {}
    for article_story_id, feed_title, feed_url, url, published in await session.execute(
        select(Article.story_id, Feed.title, Feed.url, Article.url, Article.published_at)
        .join(Feed, Feed.id == Article.feed_id)
        .where(Article.story_id.in_(story_ids))
        .order_by(Article.published_at, Article.id)
    ):
        outlets.setdefault(article_story_id, []).append(
            Outlet(feed_title=feed_title or _host(feed_url), url=url, published_at=published)
        )
    views = []
    for story_id in story_ids:
        story = stories.get(story_id)
        if story is None:
            continue
        roles = countries.get(story_id, [])
        views.append(
            StoryView(
                id=story.id,
                title=story.title,
                url=story.url,
                summary=story.summary,
                published_at=story.published_at,
                participants=tuple(c for c, r in roles if r == "participant"),
                mentioned=tuple(c for c, r in roles if r == "mentioned"),
                is_defence_cooperation=story.is_defence_cooperation,
                cooperation_type=story.cooperation_type,
                score=story.score,
                evidence=tuple(story.evidence or ()),
                outlets=tuple(outlets.get(story_id, ())),
            )
        )
    return views


def _host(url: str) -> str:
    from urllib.parse import urlsplit

    return urlsplit(url).hostname or url


async def latest_stories(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    limit: int,
    before: tuple[datetime, int] | None = None,
    cooperation_only: bool = False,
    since: datetime | None = None,
) -> list[StoryView]:
    """Newest stories in which any of ``codes`` takes part, newest first.

    ``before`` is the (published_at, id) of the last story already shown, for paging back.
    One range scan of ``ix_story_country_latest`` per call.
    """
    query = select(StoryCountry.story_id, StoryCountry.published_at).where(
        StoryCountry.code.in_(codes), StoryCountry.role == "participant"
    )
    if cooperation_only:
        query = query.where(StoryCountry.is_defence_cooperation.is_(True))
    if since is not None:
        query = query.where(StoryCountry.published_at >= since)
    if before is not None:
        published, story_id = before
        query = query.where(
            or_(
                StoryCountry.published_at < published,
                and_(StoryCountry.published_at == published, StoryCountry.story_id < story_id),
            )
        )
    query = query.order_by(StoryCountry.published_at.desc(), StoryCountry.story_id.desc())
    # Several watched codes may share a story: over-fetch, then keep the first of each.
    rows = await session.execute(query.limit(limit * max(1, len(codes))))
    ordered: list[int] = []
    for story_id, _ in rows:
        if story_id not in ordered:
            ordered.append(story_id)
        if len(ordered) == limit:
            break
    return await story_views(session, ordered)


async def recent_stories(
    session: AsyncSession, *, since: datetime, cooperation_only: bool = True, limit: int = 200
) -> list[StoryView]:
    query = select(Story.id).where(Story.published_at >= since)
    if cooperation_only:
        query = query.where(Story.is_defence_cooperation.is_(True))
    ids = list(await session.scalars(query.order_by(Story.published_at.desc()).limit(limit)))
    return await story_views(session, ids)


async def top_countries(session: AsyncSession, limit: int = 6) -> list[tuple[str, int]]:
    """Countries taking part in the most cooperation stories (for /start's buttons)."""
    rows = await session.execute(
        select(StoryCountry.code, func.count())
        .where(StoryCountry.role == "participant", StoryCountry.is_defence_cooperation.is_(True))
        .group_by(StoryCountry.code)
        .order_by(func.count().desc(), StoryCountry.code)
        .limit(limit)
    )
    return [(code, count) for code, count in rows]


async def stats(session: AsyncSession) -> Stats:
    feeds_total = await session.scalar(select(func.count()).select_from(Feed)) or 0
    feeds_failing = (
        await session.scalar(select(func.count()).where(Feed.consecutive_errors > 0)) or 0
    )
    feeds_ok = await session.scalar(select(func.count()).where(Feed.last_ok_at.is_not(None))) or 0
    return Stats(
        feeds_total=feeds_total,
        feeds_ok=feeds_ok,
        feeds_failing=feeds_failing,
        last_poll_at=await session.scalar(select(func.max(Feed.last_polled_at))),
        stories_total=await session.scalar(select(func.count()).select_from(Story)) or 0,
        cooperation_stories=await session.scalar(
            select(func.count()).where(Story.is_defence_cooperation.is_(True))
        )
        or 0,
        articles_total=await session.scalar(select(func.count()).select_from(Article)) or 0,
    )


async def last_poll_at(session: AsyncSession) -> datetime | None:
    return await session.scalar(select(func.max(Feed.last_polled_at)))


async def purge_old_articles(session: AsyncSession, *, older_than: datetime) -> int:
    """Delete old non-cooperation articles whose story never alerted anyone, then empty stories.

    Article rows of stories that alerted are kept so digests and ``latest`` stay whole; the
    entry key of a purged article may be seen again only if a feed still carries an item older
    than the retention, which is then stored afresh (and cannot alert twice: alerts are unique
    per story and chat, and a purged story had none).
    """
    alerted = select(Alert.story_id)
    doomed = select(Article.id).where(
        Article.fetched_at < older_than,
        Article.is_defence_cooperation.is_(False),
        or_(Article.story_id.is_(None), Article.story_id.not_in(alerted)),
    )
    result = await session.execute(delete(Article).where(Article.id.in_(doomed)))
    has_article = exists().where(Article.story_id == Story.id)
    await session.execute(
        delete(Story).where(
            Story.is_defence_cooperation.is_(False), Story.last_seen_at < older_than, ~has_article
        )
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


__all__ = [
    "FeedHealth",
    "FeedSnapshot",
    "KeptStories",
    "NewStory",
    "Stats",
    "StoredArticle",
    "StoryDefinition",
    "add_feed",
    "advisory_lock",
    "attach_article",
    "attach_articles",
    "candidate_filings",
    "candidate_runs",
    "claim_due_feeds",
    "create_story",
    "existing_entry_keys",
    "existing_feed_urls",
    "fill_feed_countries",
    "grow_stories",
    "insert_article",
    "insert_articles",
    "insert_stories",
    "join_story",
    "kept_stories",
    "known_stories",
    "known_urls",
    "last_poll_at",
    "latest_stories",
    "lease_holders",
    "list_feeds",
    "purge_old_articles",
    "recent_stories",
    "record_poll_failure",
    "record_poll_success",
    "release_leases",
    "remove_feed",
    "renew_leases",
    "seed_feeds_once",
    "stats",
    "stored_for_feed",
    "story_views",
    "top_countries",
]
