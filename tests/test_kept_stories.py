"""The stories ``store.known_stories`` keeps between batches are never handed out stale.

Two engines on one database stand for two workers (each process keeps its own stories):
whatever one writes to a story (its signature grows, its cooperation flag changes, it is
deleted and its id reused, a statement outside the application), the other's next read gives
the stored content. What a transaction read is kept only once it commits; a batch changes
copies, never the kept objects.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Text, cast, delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from monitors import grouping, pipeline, regroup, store
from monitors.db import open_database
from monitors.detect import cluster
from monitors.models import Story, StoryKey
from tests.test_store import COOPERATION, NOW, OTHER_NEWS, add_feed, definition, entry


@dataclass
class Worker:
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def kept(self) -> store.KeptStories:
        return store.kept_stories(self.engine.sync_engine)

    async def known(self, *ids: int, via: str = "story rows") -> dict[int, grouping.KnownStory]:
        """``known_stories`` of ``ids``, checked by the story rows' revisions, or by those the
        candidates' read gives (as a poll's batch does; every story here is filed under c:AZ)."""
        async with self.sessions.begin() as session:
            if via == "story rows":
                return await store.known_stories(session, set(ids))
            _, revisions = await store.candidate_runs(session, {"c:AZ": None}, limit=50)
            assert set(ids) <= set(revisions)
            return await store.known_stories(session, set(ids), revisions=revisions)


@pytest.fixture
async def workers(database_url: str, migrated_sqlite: Path) -> AsyncIterator[tuple[Worker, Worker]]:
    if database_url.startswith("sqlite:///"):
        shutil.copyfile(migrated_sqlite, database_url.removeprefix("sqlite:///"))
    opened = [Worker(*await open_database(database_url)) for _ in range(2)]
    try:
        yield opened[0], opened[1]
    finally:
        for worker in opened:
            await worker.engine.dispose()


async def new_story(worker: Worker, name: str, verdict=OTHER_NEWS) -> int:
    feed_id = await add_feed(worker.sessions, f"https://{name}.example/rss")
    async with worker.sessions.begin() as session:
        item = entry(name, name)
        article = await store.insert_article(session, feed_id, item, verdict, fetched_at=NOW)
        assert article is not None
        return await store.create_story(session, definition(article, item, verdict), now=NOW)


async def stored(worker: Worker, story_id: int) -> tuple[str, bool]:
    """The story's signature text and flag as the database has them (not through the cache)."""
    async with worker.sessions() as session:
        row = (
            await session.execute(
                select(cast(Story.signature, Text), Story.is_defence_cooperation).where(
                    Story.id == story_id
                )
            )
        ).one()
    return row[0], bool(row[1])


# --- what another worker does to a story the reader keeps ------------------------------------


async def grow_signature(session: AsyncSession, story_id: int) -> int:
    await store.set_story_signature(session, story_id, {"title": "grown", "members": [{}]})
    return story_id


async def redefine_as_cooperation(session: AsyncSession, story_id: int) -> int:
    item = entry("coop-report", "Cooperation report")
    feed_id = (await session.execute(text("SELECT min(id) FROM feed"))).scalar_one()
    article = await store.insert_article(session, feed_id, item, COOPERATION, fetched_at=NOW)
    assert article is not None
    assert await store.join_story(session, story_id, definition(article, item), now=NOW)
    return story_id


async def flag_by_hand(session: AsyncSession, story_id: int) -> int:
    """A statement outside the application's code (an operator's fix): the database bumps."""
    await session.execute(
        update(Story).where(Story.id == story_id).values(is_defence_cooperation=True)
    )
    return story_id


async def same_length_signature(session: AsyncSession, story_id: int) -> int:
    """A different signature of the very same length: no length or count could tell."""
    await store.set_story_signature(session, story_id, {"title": "zzzzz"})
    return story_id


async def delete_and_recreate(session: AsyncSession, story_id: int) -> int:
    """Purged, then a new story: on SQLite it gets the freed id (the newest row's) again."""
    await session.execute(delete(Story).where(Story.id == story_id))
    feed_id = (await session.execute(text("SELECT min(id) FROM feed"))).scalar_one()
    item = entry("successor", "Successor")
    article = await store.insert_article(session, feed_id, item, COOPERATION, fetched_at=NOW)
    assert article is not None
    return await store.create_story(session, definition(article, item), now=NOW)


CHANGES: dict[str, Callable[[AsyncSession, int], Awaitable[int]]] = {
    "signature grew": grow_signature,
    "redefined as cooperation": redefine_as_cooperation,
    "flag set by a plain statement": flag_by_hand,
    "signature of the same length": same_length_signature,
    "deleted, id reused": delete_and_recreate,
}


@pytest.mark.parametrize("via", ["story rows", "filings"])
@pytest.mark.parametrize("change", CHANGES, ids=list(CHANGES))
async def test_a_story_another_worker_wrote_is_read_again(
    workers: tuple[Worker, Worker], change: str, via: str
) -> None:
    reader, writer = workers
    untouched = await new_story(reader, "untouched")
    story_id = await new_story(reader, "plain")  # the newest: its id is the one SQLite reuses
    first = await reader.known(story_id, untouched, via=via)
    assert reader.kept.get(story_id) is not None  # kept once the read committed
    assert first[story_id].raw == (await stored(reader, story_id))[0]

    async with writer.sessions.begin() as session:
        now_id = await CHANGES[change](session, story_id)

    again = await reader.known(now_id, untouched, via=via)
    raw, cooperation = await stored(reader, now_id)
    assert (again[now_id].raw, again[now_id].cooperation) == (raw, cooperation)
    assert (first[story_id].raw, first[story_id].cooperation) != (raw, cooperation)
    assert again[untouched] is first[untouched]  # the unchanged story: the kept object


async def test_a_rolled_back_read_is_not_kept(workers: tuple[Worker, Worker]) -> None:
    """A batch that wrote a story, read it and rolled back (a lost lease): on SQLite the
    revision its write took is given to the next write, here another worker's."""
    reader, writer = workers
    story_id = await new_story(reader, "plain")
    with pytest.raises(RuntimeError):
        async with reader.sessions.begin() as session:
            await store.set_story_signature(session, story_id, {"title": "rolled back"})
            seen = await store.known_stories(session, {story_id})
            assert json.loads(seen[story_id].raw or "") == {"title": "rolled back"}
            raise RuntimeError("lease lost")
    assert reader.kept.get(story_id) is None
    async with writer.sessions.begin() as session:
        await store.set_story_signature(session, story_id, {"title": "committed"})
    for via in ("story rows", "filings"):
        known = await reader.known(story_id, via=via)
        assert json.loads(known[story_id].raw or "") == {"title": "committed"}


async def test_a_read_only_session_keeps_nothing(workers: tuple[Worker, Worker]) -> None:
    reader, _ = workers
    story_id = await new_story(reader, "plain")
    async with reader.sessions() as session:
        assert story_id in await store.known_stories(session, {story_id})
    assert reader.kept.get(story_id) is None


async def test_a_savepoint_rolled_back_drops_what_the_transaction_read(
    workers: tuple[Worker, Worker],
) -> None:
    reader, _ = workers
    story_id = await new_story(reader, "plain")
    async with reader.sessions.begin() as session:
        savepoint = await session.begin_nested()
        await store.set_story_signature(session, story_id, {"title": "undone"})
        await store.known_stories(session, {story_id})
        await savepoint.rollback()
    assert reader.kept.get(story_id) is None
    known = await reader.known(story_id)
    assert json.loads(known[story_id].raw or "") == {"title": "plain"}


async def test_a_deleted_story_is_no_candidate(workers: tuple[Worker, Worker]) -> None:
    reader, writer = workers
    story_id = await new_story(reader, "plain")
    await reader.known(story_id)
    async with writer.sessions.begin() as session:
        await session.execute(delete(Story).where(Story.id == story_id))
    assert await reader.known(story_id) == {}


# --- the batch changes copies ---------------------------------------------------------------


def talks() -> cluster.EventSignature:
    return cluster.signature(
        "Talks", "Talks.", published_at=NOW, language="en", countries=("AZ", "CN")
    )


def test_a_batch_changes_copies_of_the_kept_stories() -> None:
    signature = talks()
    shared = grouping.KnownStory(False, raw=json.dumps(signature.to_json()))
    before = copy.copy(shared)
    plan = pipeline._Plan(grouping.Candidates(stories={7: shared}), {}, "1")
    plan._own(7).replace(signature)
    item = pipeline.ClassifiedEntry(entry("c", "Cooperation"), COOPERATION, signature)
    plan._join(7, item, 99, signature)
    assert plan.candidates.stories[7] is not shared
    assert plan.candidates.stories[7].cooperation and plan.candidates.stories[7].decoded
    assert (shared.cooperation, shared.raw, shared.decoded) == (
        before.cooperation,
        before.raw,
        before.decoded,
    )


async def test_kept_stories_forget_their_decoded_signatures_between_transactions(
    workers: tuple[Worker, Worker],
) -> None:
    """A kept story holds its text (and screen) between batches, not its decoded signature:
    bounded memory; the next batch decodes it again (through the decoding cache)."""
    reader, _ = workers
    story_id = await new_story(reader, "plain")
    async with reader.sessions.begin() as session:
        await store.set_story_signature(session, story_id, talks().to_json())
    async with reader.sessions.begin() as session:
        known = (await store.known_stories(session, {story_id}))[story_id]
        decoded = known.signature()
        assert decoded == talks() and known.decoded is decoded
    assert known.decoded is None
    assert (reader.kept.get(story_id) or (0, None))[1] is known
    assert known.signature() == decoded


def test_kept_stories_are_bounded_least_recently_used_first() -> None:
    kept = store.KeptStories(capacity=2)
    kept.keep({1: (1, grouping.KnownStory(False)), 2: (1, grouping.KnownStory(False))})
    kept.touch(1)
    kept.keep({3: (1, grouping.KnownStory(False))})
    assert (kept.get(1) is not None, kept.get(2), kept.get(3) is not None) == (True, None, True)


def test_a_newer_kept_revision_stays() -> None:
    kept = store.KeptStories()
    newer = grouping.KnownStory(True)
    kept.keep({1: (5, newer)})
    kept.keep({1: (4, grouping.KnownStory(False))})  # a reader that committed later
    assert kept.get(1) == (5, newer)


async def test_key_rows_carry_their_storys_revision(workers: tuple[Worker, Worker]) -> None:
    """``story_key.revision`` equals its story's after every kind of write (the triggers)."""
    reader, writer = workers
    await store_reports(reader, REPORTS)  # a poll's batches (store.insert_stories)
    ids = [await new_story(reader, name) for name in ("a", "b", "c")]  # one by one (ORM)
    async with writer.sessions.begin() as session:
        await grow_signature(session, ids[0])
        await redefine_as_cooperation(session, ids[1])
        await delete_and_recreate(session, ids[2])
        await session.execute(  # a stray revision given by hand: the database replaces it
            update(Story).where(Story.id == ids[0]).values(title="edited", revision=10**9)
        )
        await session.execute(update(StoryKey).values(revision=12345))
    async with reader.sessions() as session:
        rows = list(
            await session.execute(
                text(
                    "SELECT s.id, s.revision, k.revision FROM story s "
                    "LEFT JOIN story_key k ON k.story_id = s.id"
                )
            )
        )
    assert len({story_id for story_id, _, _ in rows}) >= 7
    assert all(key == story for _, story, key in rows)
    revisions = {story_id: revision for story_id, revision, _ in rows}
    assert len(set(revisions.values())) == len(revisions)  # every story a revision of its own


# --- stories rebuilt or purged by another worker ----------------------------------------------

REPORTS = [  # (entry key, title, hours before NOW)
    ("az-1", "Azerbaijan and China sign a defence cooperation agreement in Baku", 30),
    ("az-2", "China and Azerbaijan sign defence cooperation pact, ministries say", 29),
    ("vn-1", "Vietnam and India hold joint naval exercise in the South China Sea", 20),
    ("tr-1", "Turkey and Pakistan agree on drone production partnership", 10),
    ("mk-1", "Stock markets fall sharply in Istanbul trading", 5),  # the newest: purged
]
LATE = ("late-1", "Greece and Egypt sign a maritime defence cooperation agreement", 1)


async def store_reports(
    worker: Worker, reports: list[tuple[str, str, int]], feed: str = "reports"
) -> dict[int, grouping.KnownStory]:
    """Store the reports as a poll does (one batch each), then read every story twice (the
    second read is from what the first kept)."""
    feed_id = await add_feed(worker.sessions, f"https://{feed}.example/rss")
    items = [
        entry(key, title, url=f"https://{feed}.example/{key}", hours=hours)
        for key, title, hours in reports
    ]
    for item in pipeline.classify_entries(items):
        async with worker.sessions.begin() as session:
            outcome = pipeline.FeedOutcome(feed_id=feed_id, url="", status="ok")
            await pipeline.store_classified(session, feed_id, [item], NOW, outcome)
    return await current_stories(worker)


async def current_stories(worker: Worker) -> dict[int, grouping.KnownStory]:
    async with worker.sessions() as session:
        ids = set(await session.scalars(select(Story.id)))
    await worker.known(*ids)
    return await worker.known(*ids)


async def purge_everything(session: AsyncSession) -> None:
    await store.purge_old_articles(session, older_than=NOW + timedelta(days=365))


async def rebuild(session: AsyncSession) -> None:
    await regroup.rebuild(session)


@pytest.mark.parametrize("rewrite", [rebuild, purge_everything], ids=["rebuild", "purge"])
async def test_stories_rebuilt_or_purged_elsewhere_are_read_as_stored(
    workers: tuple[Worker, Worker], rewrite: Callable[[AsyncSession], Awaitable[None]]
) -> None:
    reader, writer = workers
    before = await store_reports(reader, REPORTS)
    assert before and all(reader.kept.get(story_id) for story_id in before)
    async with writer.sessions.begin() as session:
        await rewrite(session)
    await store_reports(writer, [LATE], feed="late")  # on SQLite: a purged story's id again
    after = await current_stories(reader)
    assert {story_id: await stored(reader, story_id) for story_id in after} == {
        story_id: (known.raw, known.cooperation) for story_id, known in after.items()
    }
    assert await reader.known(*set(before) - set(after)) == {}
