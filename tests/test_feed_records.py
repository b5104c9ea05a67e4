"""The group commit of polls that store only their feed's row (``pipeline.FeedRecords``).

A cycle in which most feeds answer 304 writes their rows in a few shared transactions instead
of one each; each poll still returns only once its row is committed, a feed another worker
took over is refused (``LeaseLost``) without holding back the others, a poll cancelled before
its row was taken writes nothing, and a failing transaction fails every poll it carried.
SQLite and PostgreSQL (``sessions`` fixture).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import store
from monitors.errors import LeaseLost
from monitors.fetch import Fetcher
from monitors.models import Feed
from monitors.pipeline import FeedRecords, PollContext

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


def context(sessions: async_sessionmaker[AsyncSession], owner: str | None) -> PollContext:
    return PollContext(
        sessions=sessions,
        fetcher=Fetcher(),
        interval=600,
        max_backoff=3600,
        clock=lambda: NOW,
        write_lock=asyncio.Lock(),
        lease_owner=owner,
        lease=LEASE,
    )


async def add_feeds(
    sessions: async_sessionmaker[AsyncSession], owners: list[str | None]
) -> list[store.FeedSnapshot]:
    async with sessions.begin() as session:
        for n in range(len(owners)):
            await store.add_feed(session, f"https://records.example/{n}.xml", now=NOW)
        feeds = await store.list_feeds(session)
        for feed, owner in zip(feeds, owners, strict=True):
            await session.execute(
                update(Feed)
                .where(Feed.id == feed.id)
                .values(lease_owner=owner, lease_until=NOW + LEASE if owner else None)
            )
    return [
        store.FeedSnapshot(
            id=f.id,
            url=f.url,
            title=None,
            etag=None,
            last_modified=None,
            body_sha256=None,
            consecutive_errors=0,
        )
        for f in feeds
    ]


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> dict[str, str | None]:
    async with sessions() as session:
        rows = await session.execute(select(Feed.url, Feed.last_status, Feed.lease_owner))
        return {url: f"{status}/{owner}" for url, status, owner in rows}


Write = Callable[[AsyncSession], Awaitable[None]]


def recorder(
    transactions: list[int], status: str = "not_modified"
) -> Callable[[store.FeedSnapshot], Write]:
    """A poll's write (the row of a 304), noting which transaction carried it."""

    def for_feed(feed: store.FeedSnapshot) -> Write:
        async def write(session: AsyncSession) -> None:
            transactions.append(id(session))
            await store.record_poll_success(
                session, feed.id, now=NOW, status=status, next_poll_at=NOW + LEASE
            )

        return write

    return for_feed


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_rows_arriving_while_the_writer_is_busy_share_one_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    feeds = await add_feeds(sessions, ["me"] * 12)
    ctx, records = context(sessions, "me"), FeedRecords()
    carried: list[int] = []
    write = recorder(carried)
    async with ctx.write_lock or asyncio.Lock():  # another feed's store holds the writer
        polls = [asyncio.create_task(records.record(ctx, f, write(f))) for f in feeds]
        await settle()
        assert not any(p.done() for p in polls), "a poll returned before its row was written"
    await asyncio.gather(*polls)
    assert len(carried) == 12 and len(set(carried)) == 1
    assert set((await statuses(sessions)).values()) == {"not_modified/None"}


async def test_an_idle_monitor_writes_a_row_at_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    (feed,) = await add_feeds(sessions, ["me"])
    ctx, records = context(sessions, "me"), FeedRecords()
    carried: list[int] = []
    await records.record(ctx, feed, recorder(carried)(feed))
    assert await statuses(sessions) == {feed.url: "not_modified/None"}
    assert ctx.committing == set()


async def test_a_feed_another_worker_took_over_is_refused_and_the_others_are_written(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mine, taken, also_mine = await add_feeds(sessions, ["me", "other", "me"])
    ctx, records = context(sessions, "me"), FeedRecords()
    carried: list[int] = []
    write = recorder(carried)
    async with ctx.write_lock or asyncio.Lock():
        polls = [
            asyncio.create_task(records.record(ctx, f, write(f))) for f in (mine, taken, also_mine)
        ]
        await settle()
    results = await asyncio.gather(*polls, return_exceptions=True)
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], LeaseLost)
    assert await statuses(sessions) == {
        mine.url: "not_modified/None",
        taken.url: "None/other",
        also_mine.url: "not_modified/None",
    }


async def test_a_poll_cancelled_before_its_row_is_taken_writes_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    kept, cancelled = await add_feeds(sessions, ["me", "me"])
    ctx, records = context(sessions, "me"), FeedRecords()
    carried: list[int] = []
    write = recorder(carried)
    async with ctx.write_lock or asyncio.Lock():
        polls = [asyncio.create_task(records.record(ctx, f, write(f))) for f in (kept, cancelled)]
        await settle()
        polls[1].cancel()
        await settle()
    await polls[0]
    with pytest.raises(asyncio.CancelledError):
        await polls[1]
    assert await statuses(sessions) == {kept.url: "not_modified/None", cancelled.url: "None/me"}


async def test_a_failing_transaction_fails_every_poll_it_carried_and_writes_none(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    feeds = await add_feeds(sessions, ["me", "me", "me"])
    ctx, records = context(sessions, "me"), FeedRecords()
    carried: list[int] = []
    write = recorder(carried)

    async def broken(session: AsyncSession) -> None:
        raise RuntimeError("the database went away")

    async with ctx.write_lock or asyncio.Lock():
        polls = [asyncio.create_task(records.record(ctx, f, write(f))) for f in feeds[:2]]
        polls.append(asyncio.create_task(records.record(ctx, feeds[2], broken)))
        await settle()
    results = await asyncio.gather(*polls, return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results), results
    assert set((await statuses(sessions)).values()) == {"None/me"}
    # the next row is written normally: the failure ended only its own batch
    await records.record(ctx, feeds[0], write(feeds[0]))
    assert (await statuses(sessions))[feeds[0].url] == "not_modified/None"
