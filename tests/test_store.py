"""Storage on SQLite and PostgreSQL: migrations, feeds, leases, articles, stories, latest."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import store
from monitors.db import INSERT_PAGE, driver_insert_returning, driver_write, json_text, open_database
from monitors.domain import Classification, NormalisedEntry
from monitors.models import Meta, Story

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def entry(key: str, title: str, *, url: str | None = None, hours: int = 0) -> NormalisedEntry:
    return NormalisedEntry(
        entry_key=key,
        url=url,
        title=title,
        summary=f"{title}.",
        published_at=NOW - timedelta(hours=hours),
        language="en",
    )


COOPERATION = Classification(True, 0.9, ("AZ", "CN"), ("AM",), "meeting_visit", ("term:x",))
OTHER_NEWS = Classification(False, 0.1, ("AZ", "CN", "US"), (), None, ())


def definition(
    article_id: int,
    item: NormalisedEntry,
    verdict: Classification = COOPERATION,
    keys: frozenset[str] = frozenset({"c:AZ"}),
) -> store.StoryDefinition:
    return store.StoryDefinition(
        article_id=article_id,
        entry=item,
        verdict=verdict,
        signature={"title": item.title},
        keys=keys,
        filed_at=item.published_at,
    )


async def add_feed(sessions: async_sessionmaker[AsyncSession], url: str) -> int:
    async with sessions.begin() as session:
        await store.add_feed(session, url, title="Outlet", now=NOW)
        return next(f.id for f in await store.list_feeds(session) if f.url == url)


async def test_migrations_are_idempotent(database_url: str) -> None:
    for _ in range(2):
        engine, _ = await open_database(database_url)
        await engine.dispose()


async def test_seed_feeds_only_once(sessions: async_sessionmaker[AsyncSession]) -> None:
    feeds = [("https://a.example/rss", "A", True), ("https://b.example/rss", "B", False)]
    async with sessions.begin() as session:
        assert await store.seed_feeds_once(session, feeds, NOW) == 2
    async with sessions.begin() as session:
        await store.remove_feed(session, "https://a.example/rss")
        assert await store.seed_feeds_once(session, feeds, NOW) == 0
        assert [f.url for f in await store.list_feeds(session)] == ["https://b.example/rss"]


async def test_claim_leases_feeds_to_one_owner(sessions: async_sessionmaker[AsyncSession]) -> None:
    for n in range(3):
        await add_feed(sessions, f"https://f{n}.example/rss")
    lease = timedelta(minutes=5)
    async with sessions.begin() as session:
        first = await store.claim_due_feeds(session, now=NOW, limit=2, owner="w1", lease=lease)
    async with sessions.begin() as session:
        second = await store.claim_due_feeds(session, now=NOW, limit=5, owner="w2", lease=lease)
    assert len(first) == 2 and len(second) == 1
    assert not {f.id for f in first} & {f.id for f in second}
    async with sessions.begin() as session:  # leases expire: a crashed worker's feeds return
        later = await store.claim_due_feeds(
            session, now=NOW + lease + timedelta(seconds=1), limit=5, owner="w3", lease=lease
        )
    assert len(later) == 3


async def test_failure_is_recorded_and_success_resets(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    feed_id = await add_feed(sessions, "https://x.example/rss")
    async with sessions.begin() as session:
        for _ in range(2):
            await store.record_poll_failure(
                session, feed_id, now=NOW, kind="http", error="HTTP 500", next_poll_at=NOW
            )
    async with sessions() as session:
        [health] = await store.list_feeds(session)
    assert (health.consecutive_errors, health.last_status, health.last_error) == (
        2,
        "http",
        "HTTP 500",
    )
    async with sessions.begin() as session:
        await store.record_poll_success(
            session, feed_id, now=NOW, status="ok", next_poll_at=NOW, etag='"v1"', body_sha256="ab"
        )
        [health] = await store.list_feeds(session)
    assert (health.consecutive_errors, health.last_error, health.last_ok_at) == (0, None, NOW)


async def test_article_stored_once_per_feed_and_key(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    feed_id = await add_feed(sessions, "https://x.example/rss")
    item = entry("guid-1", "Azerbaijan and China discuss military collaboration")
    async with sessions.begin() as session:
        first = await store.insert_article(session, feed_id, item, COOPERATION, fetched_at=NOW)
        again = await store.insert_article(session, feed_id, item, COOPERATION, fetched_at=NOW)
        known = await store.existing_entry_keys(session, feed_id, ["guid-1", "guid-2"])
    assert first is not None and again is None
    assert known == {"guid-1"}


async def test_stored_for_feed_reads_keys_own_urls_and_placed_urls_at_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    mine = await add_feed(sessions, "https://x.example/rss")
    other = await add_feed(sessions, "https://y.example/rss")
    async with sessions.begin() as session:
        for feed_id, key, url in [(mine, "a", "https://p/1"), (other, "b", "https://p/2")]:
            item = entry(key, f"Story {key}", url=url)
            article = await store.insert_article(
                session, feed_id, item, COOPERATION, fetched_at=NOW
            )
            assert article is not None
            if key == "b":  # only the other feed's page is in a story
                story = await store.create_story(session, definition(article, item), now=NOW)
                await store.attach_article(session, article, story, None)
    async with sessions() as session:
        found = await store.stored_for_feed(
            session, mine, ["a", "b", "c"], ["https://p/1", "https://p/2", "https://p/3"]
        )
        none = await store.stored_for_feed(session, mine, [], [])
    # (this feed's keys, this feed's URLs, URLs any feed has in a story)
    assert found == ({"a"}, {"https://p/1"}, {"https://p/2"})
    assert none == (set(), set(), set())


async def test_latest_pages_newest_first(sessions: async_sessionmaker[AsyncSession]) -> None:
    feed_id = await add_feed(sessions, "https://x.example/rss")
    async with sessions.begin() as session:
        for n in range(5):
            item = entry(f"g{n}", f"Story {n}", url=f"https://x.example/{n}", hours=n)
            article = await store.insert_article(
                session, feed_id, item, COOPERATION, fetched_at=NOW
            )
            assert article is not None
            story = await store.create_story(session, definition(article, item), now=NOW)
            await store.attach_article(session, article, story, None)
    async with sessions() as session:
        page = await store.latest_stories(session, ["AZ"], limit=2, cooperation_only=True)
        assert [v.title for v in page] == ["Story 0", "Story 1"]
        last = page[-1]
        nxt = await store.latest_stories(
            session, ["AZ"], limit=2, before=(last.published_at, last.id)
        )
        assert [v.title for v in nxt] == ["Story 2", "Story 3"]
        assert await store.latest_stories(session, ["AM"], limit=5) == []  # mentioned only
        assert nxt[0].participants == ("AZ", "CN") and nxt[0].mentioned == ("AM",)
        assert nxt[0].outlets[0].feed_title == "Outlet"
        stats = await store.stats(session)
    assert (stats.stories_total, stats.articles_total, stats.cooperation_stories) == (5, 5, 5)


async def test_feed_country_is_seeded_and_claimed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The state a ministry's feed speaks for reaches the poll (and so the classifier)."""
    feeds = [("https://navy.example/rss", "Navy", True, "US"), ("https://w.example/rss", "W", True)]
    async with sessions.begin() as session:
        assert await store.seed_feeds_once(session, feeds, NOW) == 2
    async with sessions.begin() as session:
        claimed = await store.claim_due_feeds(
            session, now=NOW, limit=5, owner="w1", lease=timedelta(minutes=5)
        )
    assert {f.url: f.country for f in claimed} == {
        "https://navy.example/rss": "US",
        "https://w.example/rss": None,
    }


async def test_existing_feeds_learn_their_listed_country(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A database seeded before feeds had countries gets them; a set country is kept."""
    async with sessions.begin() as session:
        await store.add_feed(session, "https://navy.example/rss", now=NOW)
        await store.add_feed(session, "https://army.example/rss", country="GB", now=NOW)
    listed = {"https://navy.example/rss": "US", "https://army.example/rss": "FR"}
    async with sessions.begin() as session:
        assert await store.fill_feed_countries(session, listed) == 1
        assert await store.fill_feed_countries(session, listed) == 0
        countries = {f.url: f.country for f in await store.list_feeds(session)}
    assert countries == {"https://navy.example/rss": "US", "https://army.example/rss": "GB"}


async def test_candidate_filings_are_each_keys_newest_within_its_horizon(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    feed_id = await add_feed(sessions, "https://f.example/rss")
    async with sessions.begin() as session:
        ids = {}
        for name, hours, keys in (
            ("recent", 1, {"c:AZ"}),
            ("older", 30, {"c:AZ"}),
            ("old", 24 * 20, {"c:AZ", "r:2022"}),
            ("elsewhere", 1, {"c:VN"}),
        ):
            item = entry(name, name, hours=hours)
            article = await store.insert_article(
                session, feed_id, item, COOPERATION, fetched_at=NOW
            )
            assert article is not None
            story = definition(article, item, keys=frozenset(keys))
            ids[name] = await store.create_story(session, story, now=NOW)
        week = NOW - timedelta(days=7)

        async def filed(keys, limit=10):
            found = await store.candidate_filings(session, keys, limit=limit)
            return sorted((f.key, f.story_id) for f in found)

        assert await filed({"c:AZ": week}) == sorted(
            [("c:AZ", ids["older"]), ("c:AZ", ids["recent"])]
        )
        assert await filed({"c:AZ": None}, limit=1) == [("c:AZ", ids["recent"])]
        assert await filed({"r:2022": None, "c:VN": week, "k:X": None}) == [
            ("c:VN", ids["elsewhere"]),
            ("r:2022", ids["old"]),
        ]
        # the filing time comes back as stored, an aware UTC datetime (read on the driver)
        (recent,) = await store.candidate_filings(session, {"c:AZ": None}, limit=1)
        assert recent.filed_at == NOW - timedelta(hours=1)
        assert recent.filed_at.utcoffset() == timedelta(0)


async def test_candidate_filings_break_ties_by_newest_story(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Stories filed at the same moment rank by id, newest first (the index's order)."""
    feed_id = await add_feed(sessions, "https://t.example/rss")
    async with sessions.begin() as session:
        ids = []
        for name in ("first", "second", "third"):
            item = entry(name, name, hours=5)
            article = await store.insert_article(
                session, feed_id, item, COOPERATION, fetched_at=NOW
            )
            assert article is not None
            ids.append(await store.create_story(session, definition(article, item), now=NOW))
        found = await store.candidate_filings(session, {"c:AZ": None}, limit=2)
    assert sorted(f.story_id for f in found) == sorted(ids)[1:]


async def test_known_stories_give_the_stored_signature_text(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Each asked story that exists, with its cooperation flag and its signature as the JSON
    text stored (the decoding cache's key); any number of ids in one statement."""
    feed_id = await add_feed(sessions, "https://k.example/rss")
    async with sessions.begin() as session:
        ids = {}
        for name, verdict in (("coop", COOPERATION), ("plain", OTHER_NEWS)):
            item = entry(name, name)
            article = await store.insert_article(session, feed_id, item, verdict, fetched_at=NOW)
            assert article is not None
            ids[name] = await store.create_story(
                session, definition(article, item, verdict), now=NOW
            )
        asked = {ids["coop"], ids["plain"], *range(10**6, 10**6 + 600)}  # most unknown
        known = await store.known_stories(session, asked)
        assert await store.known_stories(session, []) == {}
    assert set(known) == {ids["coop"], ids["plain"]}
    assert known[ids["coop"]].cooperation and not known[ids["plain"]].cooperation
    assert json.loads(known[ids["plain"]].raw or "") == {"title": "plain"}


async def test_a_story_is_its_defining_report(sessions: async_sessionmaker[AsyncSession]) -> None:
    """Title, countries and flag come from the defining report, never a union of members; a
    cooperation report that joins becomes the definition."""
    feed_id = await add_feed(sessions, "https://d.example/rss")
    async with sessions.begin() as session:
        first = entry("n1", "Markets fall", hours=2)
        a1 = await store.insert_article(session, feed_id, first, OTHER_NEWS, fetched_at=NOW)
        assert a1 is not None
        story = await store.create_story(session, definition(a1, first, OTHER_NEWS), now=NOW)
        plain = entry("n2", "Another plain report", hours=1)
        a2 = await store.insert_article(session, feed_id, plain, OTHER_NEWS, fetched_at=NOW)
        assert a2 is not None
        became = await store.join_story(session, story, definition(a2, plain, OTHER_NEWS), now=NOW)
        assert became is False
        views = await store.story_views(session, [story])
        assert views[0].title == "Markets fall" and not views[0].is_defence_cooperation
        coop = entry("n3", "Azerbaijan and China sign defence pact", hours=0)
        a3 = await store.insert_article(session, feed_id, coop, COOPERATION, fetched_at=NOW)
        assert a3 is not None
        became = await store.join_story(session, story, definition(a3, coop), now=NOW)
        assert became is True
        (view,) = await store.story_views(session, [story])
    assert view.title == "Azerbaijan and China sign defence pact"
    assert view.is_defence_cooperation and view.cooperation_type == "meeting_visit"
    assert view.participants == ("AZ", "CN")  # not the union with US of the other reports


async def _meta_values(session: AsyncSession) -> set[str]:
    return set(await session.scalars(select(Meta.value).where(Meta.key.like("driver-%"))))


async def test_driver_writes_only_inside_the_callers_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """``db.driver_write`` writes on the session's connection, in its transaction: its rows
    roll back with it. On PostgreSQL it refuses before the transaction has begun (asyncpg
    would commit the row alone); on SQLite the driver itself begins the transaction before a
    write, so a first write is inside it too."""
    async with sessions() as session:
        postgres = session.get_bind().dialect.name == "postgresql"
        sql = (
            "INSERT INTO meta (key, value) SELECT * FROM unnest($1::text[], $2::text[])"
            if postgres
            else "INSERT INTO meta (key, value) VALUES (?, ?)"
        )
        if postgres:
            with pytest.raises(RuntimeError, match="outside a transaction"):
                await driver_write(session, sql, [("driver-early", "early")])
        else:
            await driver_write(session, sql, [("driver-early", "early")])
            assert await _meta_values(session) == {"early"}
        await session.rollback()
    async with sessions() as session:
        await session.execute(insert(Meta).values(key="driver-first", value="first"))
        await driver_write(session, sql, [("driver-a", "a"), ("driver-b", "b")])
        assert await _meta_values(session) == {"first", "a", "b"}
        await session.rollback()
    async with sessions() as session:
        assert await _meta_values(session) == set()


def _story_row(n: int) -> dict[str, object]:
    return {
        "title": f"Story {n}",
        "url": None if n % 3 else f"https://example.org/{n}",
        "summary": "Çin və Azərbaycan",
        "published_at": NOW - timedelta(hours=n),
        "first_seen_at": NOW,
        "last_seen_at": NOW + timedelta(microseconds=n),
        "score": n / 4,
        "is_defence_cooperation": n % 2 == 0,
        "cooperation_type": "exercise" if n % 2 == 0 else None,
        "evidence": [f"word {n}"],
        "signature": {"title": f"story {n}", "size": n},
        "article_count": n,
        "defining_article_id": 1000 + n,
    }


async def test_driver_inserted_rows_read_back_as_sqlalchemy_wrote_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """``db.driver_insert_returning``: each value through its type (aware times, JSON, flags),
    every row returned once (more rows than one SQLite page), rolled back with the
    transaction; refused on PostgreSQL before the transaction has begun."""
    table = Story.__table__
    rows = [_story_row(n) for n in range(INSERT_PAGE + 9)]
    async with sessions() as session:
        if session.get_bind().dialect.name == "postgresql":
            with pytest.raises(RuntimeError, match="outside a transaction"):
                await driver_insert_returning(session, table, rows[:1], ("id",))
        await session.rollback()
    async with sessions() as session:
        if session.get_bind().dialect.name == "sqlite":
            rows = [{**row, "revision": n} for n, row in enumerate(rows, 1)]
        await session.execute(insert(Meta).values(key="driver-first", value="first"))
        returned = await driver_insert_returning(
            session, table, rows, ("defining_article_id", "id")
        )
        assert sorted(definer for definer, _ in returned) == [
            r["defining_article_id"] for r in rows
        ]
        ids = {definer: story_id for definer, story_id in returned}
        for row in rows:
            story = await session.get_one(Story, ids[row["defining_article_id"]])
            for name, value in row.items():
                if name != "revision":
                    assert getattr(story, name) == value, name
        await session.rollback()
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Story)) == 0


@pytest.mark.parametrize(
    "value",
    [
        {"title": "Azərbaycan və Çin", "names": ["Hərbi", "合作"], "size": 3},
        {"amounts": [1.5e9, 0.25], "counts": [11, 8000], "dated": True, "until": None},
        {"years": [2026], 7: "an integer key"},
        {"big": 1 << 70},
        [],
    ],
    ids=["letters", "numbers", "integer key", "beyond 64 bits", "empty list"],
)
def test_json_columns_store_the_value_json_would(value: object) -> None:
    assert json.loads(json_text(value)) == json.loads(json.dumps(value))


async def test_driver_insert_skips_rows_whose_key_is_stored(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """``skip_conflicts_on``: a row whose unique key is stored, or came earlier in the same
    call, is neither inserted nor returned; the others are."""
    async with sessions.begin() as session:
        await session.execute(insert(Meta).values(key="driver-stored", value="old"))
        returned = await driver_insert_returning(
            session,
            Meta.__table__,
            [
                {"key": "driver-stored", "value": "new"},
                {"key": "driver-fresh", "value": "fresh"},
                {"key": "driver-fresh", "value": "again"},
            ],
            ("key", "value"),
            skip_conflicts_on=("key",),
        )
        assert sorted(map(tuple, returned)) == [("driver-fresh", "fresh")]
        values = await _meta_values(session)
        await session.execute(delete(Meta).where(Meta.key.like("driver-%")))
    assert values == {"old", "fresh"}
