"""The watch index: the pure matching rule as a table, then enqueue_alerts against a database."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import pipeline, subscriptions, watch
from monitors.db import open_database
from monitors.domain import StoryForAlert
from monitors.matching import ChatWatch, found_phrases, matches, phrases_in, story_words
from monitors.models import Alert, Story
from monitors.subscriptions import normalise_keyword
from monitors.watch import in_quiet_hours
from tests import dbfixtures
from tests.test_store import add_feed, entry

# the database fixtures, on SQLite and (when configured) PostgreSQL
database_url, sessions = dbfixtures.database_url, dbfixtures.sessions

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def story(
    title: str = "Azerbaijan and China discuss military collaboration",
    summary: str = "Zakir Hasanov received a PLA delegation; Bayraktar drones mentioned.",
    participants: tuple[str, ...] = ("AZ", "CN"),
    coop: bool = True,
    story_id: int = 1,
) -> StoryForAlert:
    return StoryForAlert(story_id, title, summary, participants, (), coop, "meeting_visit", NOW)


def watching(countries=(), keywords=(), excludes=(), scope="cooperation") -> ChatWatch:
    return ChatWatch(
        7,
        scope,
        frozenset(countries),
        frozenset(normalise_keyword(k) for k in keywords),
        frozenset(normalise_keyword(k) for k in excludes),
    )


def found_in(s: StoryForAlert, w: ChatWatch) -> set[str]:
    known = w.keywords | w.excludes
    return phrases_in(story_words(s), known, max((p.count(" ") + 1 for p in known), default=0))


@pytest.mark.parametrize(
    ("s", "w", "expected"),
    [
        pytest.param(
            story(), watching(countries=["AZ"]), ("country:AZ",), id="country among participants"
        ),
        pytest.param(
            story(participants=("CN", "RU")),
            watching(countries=["AZ"]),
            (),
            id="country not taking part -> no match",
        ),
        pytest.param(
            story(),
            watching(keywords=["bayraktar"]),
            ("keyword:bayraktar",),
            id="keyword in summary",
        ),
        pytest.param(
            story(),
            watching(keywords=["BAYRAKTAR"]),
            ("keyword:bayraktar",),
            id="keyword case-insensitive",
        ),
        pytest.param(
            story(summary="Bayraktarlar"),
            watching(keywords=["bayraktar"]),
            (),
            id="keyword is a whole word, not a prefix",
        ),
        pytest.param(
            story(summary="The S-400 deal"),
            watching(keywords=["s-400"]),
            ("keyword:s 400",),
            id="hyphenated phrase",
        ),
        pytest.param(
            story(summary="Azərbaycan ordusu"),
            watching(keywords=["azerbaycan"]),
            ("keyword:azerbaycan",),
            id="accent-insensitive keyword",
        ),
        pytest.param(
            story(summary="military  \n collaboration"),
            watching(keywords=["Military Collaboration"]),
            ("keyword:military collaboration",),
            id="phrase across folded whitespace",
        ),
        pytest.param(
            story(title="Talks on defence", summary="cooperation agreed"),
            watching(keywords=["defence cooperation"]),
            (),
            id="phrase does not span title and summary",
        ),
        pytest.param(
            story(),
            watching(countries=["AZ"], excludes=["bayraktar"]),
            (),
            id="exclude vetoes a country match",
        ),
        pytest.param(
            story(coop=False),
            watching(countries=["AZ"]),
            (),
            id="scope cooperation needs a cooperation story",
        ),
        pytest.param(
            story(coop=False),
            watching(countries=["AZ"], scope="all"),
            ("country:AZ",),
            id="scope all takes any story",
        ),
        pytest.param(
            story(),
            watching(countries=["AZ", "CN"], keywords=["bayraktar"]),
            ("country:AZ", "country:CN", "keyword:bayraktar"),
            id="all matched terms listed",
        ),
    ],
)
def test_matches(s: StoryForAlert, w: ChatWatch, expected: tuple[str, ...]) -> None:
    assert matches(s, w, found_in(s, w)) == expected
    assert matches(s, w) == expected  # alone, it finds the watch's own phrases


@pytest.mark.parametrize(
    ("hhmm", "start", "end", "quiet"),
    [
        pytest.param("23:30", "22:00", "07:00", True, id="inside wrapping range, evening"),
        pytest.param("06:59", "22:00", "07:00", True, id="inside wrapping range, morning"),
        pytest.param("07:00", "22:00", "07:00", False, id="end is exclusive"),
        pytest.param("13:00", "12:00", "14:00", True, id="inside same-day range"),
        pytest.param("13:00", None, None, False, id="no quiet hours"),
    ],
)
def test_quiet_hours(hhmm: str, start: str | None, end: str | None, quiet: bool) -> None:
    h, m = map(int, hhmm.split(":"))
    assert in_quiet_hours(NOW.replace(hour=h, minute=m), "UTC", start, end) is quiet


async def add_story(session: AsyncSession, s: StoryForAlert) -> None:
    session.add(
        Story(
            id=s.story_id,
            title=s.title,
            summary=s.summary,
            published_at=NOW,
            first_seen_at=NOW,
            last_seen_at=NOW,
            is_defence_cooperation=s.is_defence_cooperation,
        )
    )
    await session.flush()


async def chat(session: AsyncSession, chat_id: int, **rules: list[str]) -> None:
    await subscriptions.subscribe(session, chat_id, type="private", title=None, now=NOW)
    for kind, values in rules.items():
        items = [(v if kind == "country" else normalise_keyword(v), v) for v in values]
        await subscriptions.add_rules(session, chat_id, kind, items, limit=50)  # type: ignore[arg-type]


async def alerts(session: AsyncSession) -> dict[int, tuple[str, list]]:
    rows = await session.execute(select(Alert.chat_id, Alert.status, Alert.matched))
    return {c: (st, m) for c, st, m in rows}


async def test_enqueue_alerts_through_the_index(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"])
        await chat(session, 2, keyword=["Bayraktar"])
        await chat(session, 3, country=["AZ"], exclude=["drones"])
        await chat(session, 4, country=["FR"])
        await chat(session, 5, country=["CN"])
        await subscriptions.update_settings(session, 5, delivery_mode="digest")
        await chat(session, 6, country=["AZ"])
        await subscriptions.unsubscribe(session, 6)
        s = story()
        await add_story(session, s)
        assert await watch.enqueue_alerts(session, s, now=NOW) == 3
    async with sessions.begin() as session:
        got = await alerts(session)
    assert got == {
        1: ("pending", ["country:AZ"]),
        2: ("pending", ["keyword:bayraktar"]),
        5: ("held", ["country:CN"]),
    }


async def test_a_story_reaches_a_chat_at_most_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"], keyword=["bayraktar"])
        s = story()
        await add_story(session, s)
        assert await watch.enqueue_alerts(session, s, now=NOW) == 1
    async with sessions.begin() as session:
        assert await watch.enqueue_alerts(session, s, now=NOW) == 0  # a second outlet, same story
        assert await session.scalar(select(func.count()).select_from(Alert)) == 1


async def test_keyword_cache_sees_new_keywords(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        await chat(session, 1, keyword=["parade"])
        s = story(story_id=1)
        await add_story(session, s)
        assert await watch.enqueue_alerts(session, s, now=NOW) == 0
        await subscriptions.add_rules(
            session, 1, "keyword", [("zakir hasanov", "Zakir Hasanov")], limit=50
        )
        s2 = story(story_id=2)
        await add_story(session, s2)
        assert await watch.enqueue_alerts(session, s2, now=NOW) == 1


@pytest.mark.slow
async def test_fan_out_to_many_chats(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as session:
        for chat_id in range(1000, 1700):
            await subscriptions.subscribe(session, chat_id, type="private", title=None, now=NOW)
            await subscriptions.add_rules(session, chat_id, "country", [("AZ", "AZ")], limit=50)
        s = story()
        await add_story(session, s)
        assert await watch.enqueue_alerts(session, s, now=NOW) == 700


# --- named watchlists (issue 7) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("own", "lists", "expected"),
    [
        pytest.param({1: ("country:AZ",)}, {}, {1: ("country:AZ",)}, id="own rules only"),
        pytest.param(
            {}, {2: ("list:x", "country:AZ")}, {2: ("list:x", "country:AZ")}, id="list only"
        ),
        pytest.param(
            {1: ("country:AZ",)},
            {1: ("list:x", "country:AZ")},
            {1: ("country:AZ", "list:x")},
            id="both: one entry, terms once",
        ),
    ],
)
def test_merge_terms(own: dict, lists: dict, expected: dict) -> None:
    assert watch.merge_terms(own, lists) == expected


WEEK = NOW.replace(day=30)
ACTIVE = watch.ChatInfo(True, "cooperation", "instant", "UTC", None, None)
INDEX = watch.WatchIndex.build(
    "v",
    [(1, "country", "AZ"), (1, "keyword", "s 400"), (1, "list", "caucasus"), (2, "target", "x")],
    {1: ACTIVE, 2: ACTIVE, 3: watch.ChatInfo(False, "all", "instant", "UTC", None, None)},
    [(1, "CN-TR", WEEK), (1, "AZ-GE", NOW)],
)


@pytest.mark.parametrize(
    ("chat_id", "participants", "matched", "expected"),
    [
        pytest.param(1, ("AZ", "CN"), ("country:AZ",), None, id="still watched"),
        pytest.param(1, ("TR", "CN", "AZ"), ("country:AZ",), "muted CN-TR", id="pair muted"),
        pytest.param(1, ("AZ", "GE"), ("country:AZ",), None, id="mute over"),
        pytest.param(1, ("AM",), ("country:AM",), "no longer watched", id="unwatched"),
        pytest.param(1, ("AM",), ("country:AM", "keyword:s 400"), None, id="one term holds"),
        pytest.param(1, ("AM",), ("list:caucasus", "country:AM"), None, id="list followed"),
        pytest.param(1, ("AM",), ("list:other", "country:AM"), "no longer", id="list dropped"),
        pytest.param(2, ("KZ",), ("list:x", "country:KZ"), None, id="a list's target"),
        pytest.param(1, ("AM",), ("region:x",), None, id="unknown kind holds"),
        pytest.param(1, ("AM",), (), None, id="no terms"),
        pytest.param(3, ("AZ",), ("country:AZ",), "stopped", id="chat stopped"),
        pytest.param(4, ("AZ",), ("country:AZ",), "stopped", id="chat gone"),
    ],
)
def test_withdrawn_at_delivery(
    chat_id: int, participants: tuple[str, ...], matched: tuple[str, ...], expected: str | None
) -> None:
    reason = INDEX.withdrawn(chat_id, participants, matched, NOW)
    assert reason == expected if expected is None else expected in (reason or "")


async def test_list_followers_and_targets_get_one_alert(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"])
        await subscriptions.follow_list(session, 1, "caucasus", limit=50)  # own rule too
        await chat(session, 2)
        await subscriptions.follow_list(session, 2, "caucasus", limit=50)
        await chat(session, 3)
        await subscriptions.follow_list(session, 3, "asia", limit=50)  # not matched
        await chat(session, 4)
        await subscriptions.follow_list(session, 4, "caucasus", limit=50)
        await subscriptions.unsubscribe(session, 4)  # inactive
        await chat(session, 5, exclude=["drones"])  # its own exclude vetoes list matches too
        await subscriptions.follow_list(session, 5, "caucasus", limit=50)
        await subscriptions.sync_targets(session, {"caucasus": [-1009]}, NOW)
        s = story()
        await add_story(session, s)
        matched = {"caucasus": ("country:AZ",)}
        assert await watch.enqueue_alerts(session, s, now=NOW, list_matches=matched) == 3
        assert await watch.enqueue_alerts(session, s, now=NOW, list_matches=matched) == 0
    async with sessions.begin() as session:
        got = await alerts(session)
    assert got == {
        1: ("pending", ["country:AZ", "list:caucasus"]),
        2: ("pending", ["list:caucasus", "country:AZ"]),
        -1009: ("pending", ["list:caucasus", "country:AZ"]),
    }


# --- the in-memory index and its version row (issue 15) ----------------------------------------

LATER = NOW.replace(year=NOW.year + 1)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param("UPDATE chat SET active = false WHERE id = 1", {}, id="chat-deactivated"),
        pytest.param("DELETE FROM watch_rule WHERE chat_id = 1", {}, id="rule-deleted"),
        pytest.param(
            "INSERT INTO watch_rule (chat_id, kind, value, display)"
            " VALUES (1, 'exclude', 'drones', 'drones')",
            {},
            id="exclude-added",
        ),
        pytest.param(
            "UPDATE chat SET delivery_mode = 'digest' WHERE id = 1",
            {1: ("held", ["country:AZ"])},
            id="digest-mode",
        ),
        pytest.param("mute AZ-CN", {}, id="pair-muted"),
        pytest.param(
            "UPDATE chat SET last_digest_at = created WHERE id = 1",
            {1: ("pending", ["country:AZ"])},
            id="unrelated-column",
        ),
    ],
)
async def test_index_sees_a_change_made_by_any_writer(
    sessions: async_sessionmaker[AsyncSession], change: str, expected: dict
) -> None:
    s = story()
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"])
        await add_story(session, s)
    async with sessions() as session:  # the index is loaded and cached here
        assert await watch.enqueue_alerts(session, s, now=NOW) == 1
        await session.rollback()
    async with sessions.begin() as session:
        if change.startswith("mute"):
            await subscriptions.mute_pair(session, 1, ("AZ", "CN"), until=LATER)
        else:
            await session.execute(text(change.replace("created", "subscribed_at")))
    async with sessions.begin() as session:
        await watch.enqueue_alerts(session, s, now=NOW)
        assert await alerts(session) == expected


async def test_version_moves_only_for_what_the_index_holds(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"])
        before = await watch.watch_version(session)
    async with sessions.begin() as session:
        await session.execute(text("UPDATE chat SET last_digest_at = subscribed_at"))
    async with sessions.begin() as session:
        assert await watch.watch_version(session) == before
        await session.execute(text("UPDATE chat SET scope = 'all'"))
    async with sessions.begin() as session:
        assert await watch.watch_version(session) not in (before, None)


async def test_a_rolled_back_edit_leaves_no_stale_index(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    s = story()
    async with sessions.begin() as session:
        await chat(session, 1, keyword=["parade"])
        await add_story(session, s)
    async with sessions() as session:
        await subscriptions.add_rules(session, 1, "keyword", [("bayraktar", "Bayraktar")], limit=9)
        assert await watch.enqueue_alerts(session, s, now=NOW) == 1  # index with the new rule
        await session.rollback()
    async with sessions.begin() as session:
        assert await watch.enqueue_alerts(session, s, now=NOW) == 0


@pytest.mark.parametrize("how", ["orm", "raw-sql"])
async def test_an_edit_inside_the_transaction_is_seen_by_its_next_story(
    sessions: async_sessionmaker[AsyncSession], how: str
) -> None:
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"])
        first, second = story(story_id=1), story(story_id=2)
        await add_story(session, first)
        await add_story(session, second)
        assert await watch.enqueue_alerts(session, first, now=NOW) == 1
        if how == "orm":
            await subscriptions.unsubscribe(session, 1)
        else:
            await session.execute(text("UPDATE chat SET active = false"))
        assert await watch.enqueue_alerts(session, second, now=NOW) == 0


def test_no_watched_phrases_finds_none_without_folding(monkeypatch: pytest.MonkeyPatch) -> None:
    # a database without keyword rules (a fresh install, the benches) folds no story text
    def fold(_text: str) -> list[str]:
        raise AssertionError("folded")

    monkeypatch.setattr("monitors.matching.fold_words", fold)
    assert found_phrases(story(), frozenset()) == set()
    with pytest.raises(AssertionError, match="folded"):
        found_phrases(story(), frozenset({"bayraktar"}))


# --- the set-algebra path against the per-chat rule (issue 15, session 5) -----------------------
#
# ``WatchIndex.own_matches`` finds a story's chats with set operations; the rule is
# ``matching.matches`` per chat (``own_matches_per_chat``). Each case below is one index of chats
# with varied settings and the stories that exercise them; both paths must agree on every story.

STORIES = {
    "cooperation AZ-CN": story(),
    "not cooperation": story(coop=False),
    "no participants": story(participants=()),
    "duplicate participant": story(participants=("AZ", "AZ", "TR")),
    "no watched phrase": story(title="Talks", summary="nothing here", participants=("FR",)),
    "phrase in title only": story(title="Bayraktar deal", summary="signed", participants=()),
}

STOPPED = watch.ChatInfo(False, "cooperation", "instant", "UTC", None, None)
ALL_SCOPE = watch.ChatInfo(True, "all", "instant", "UTC", None, None)
ODD_SCOPE = watch.ChatInfo(True, "military", "instant", "UTC", None, None)  # not 'all'
DIGEST = watch.ChatInfo(True, "cooperation", "digest", "Asia/Baku", "22:00", "07:00")

Rule = tuple[int, str, str]


def _rules(chat_id: int, **kinds: tuple[str, ...]) -> list[Rule]:
    return [(chat_id, kind, value) for kind, values in kinds.items() for value in values]


@pytest.mark.parametrize(
    ("rules", "chats"),
    [
        pytest.param(_rules(1, country=("AZ",)), {1: ACTIVE}, id="plain country"),
        pytest.param(_rules(1, keyword=("bayraktar",)), {1: ACTIVE}, id="plain keyword"),
        pytest.param(
            _rules(1, country=("AZ", "CN", "TR"), keyword=("bayraktar", "pla delegation")),
            {1: ACTIVE},
            id="several terms, order",
        ),
        pytest.param(_rules(1, country=("AZ",)), {1: STOPPED}, id="inactive"),
        pytest.param(_rules(1, country=("AZ",)), {}, id="rules of an unknown chat"),
        pytest.param(_rules(1, country=("AZ",)), {1: ALL_SCOPE}, id="scope all"),
        pytest.param(_rules(1, country=("AZ",)), {1: ODD_SCOPE}, id="unknown scope"),
        pytest.param(_rules(1, country=("AZ",)), {1: DIGEST}, id="digest, quiet hours"),
        pytest.param(
            _rules(1, country=("AZ",), exclude=("bayraktar",)), {1: ACTIVE}, id="exclude found"
        ),
        pytest.param(
            _rules(1, keyword=("bayraktar",), exclude=("bayraktar",)),
            {1: ACTIVE},
            id="exclude equals keyword",
        ),
        pytest.param(
            _rules(1, country=("AZ",), exclude=("parade",)), {1: ACTIVE}, id="exclude not found"
        ),
        pytest.param(_rules(1, exclude=("bayraktar",)), {1: ACTIVE}, id="exclude only"),
        pytest.param(
            [*_rules(1, country=("AZ",)), *_rules(2, exclude=("bayraktar",))],
            {1: ACTIVE, 2: ACTIVE},
            id="another chat's exclude",
        ),
        pytest.param(
            _rules(1, list=("caucasus",), target=("caucasus",), country=("AZ",)),
            {1: ACTIVE},
            id="list rules ignored by own rules",
        ),
        pytest.param(
            [
                *_rules(1, country=("AZ",), keyword=("bayraktar",)),
                *_rules(2, country=("CN",), exclude=("drones",)),
                *_rules(3, keyword=("pla delegation",)),
                *_rules(4, country=("AZ", "TR")),
                *_rules(5, country=("AZ",), keyword=("zakir hasanov",)),
                *_rules(6, keyword=("bayraktar",)),
            ],
            {1: ACTIVE, 2: ALL_SCOPE, 3: STOPPED, 4: ODD_SCOPE, 5: DIGEST},
            id="mixed chats",
        ),
    ],
)
def test_set_algebra_gives_the_per_chat_answer(rules: list[Rule], chats: dict) -> None:
    index = watch.WatchIndex.build("v", rules, chats, [])
    for name, s in STORIES.items():
        found = found_phrases(s, index.phrases, index.max_words)
        assert index.own_matches(s, found) == index.own_matches_per_chat(s, found), name


def test_set_algebra_gives_the_per_chat_answer_on_random_indexes() -> None:
    """Seeded random indexes (varied activity, scope, rules, excludes): both paths agree."""
    rng = random.Random(15)
    codes, phrases = ["AZ", "CN", "TR", "GE", "AM"], ["bayraktar", "pla delegation", "drones"]
    infos = [ACTIVE, STOPPED, ALL_SCOPE, ODD_SCOPE, DIGEST]
    for _ in range(200):
        chats = {c: rng.choice(infos) for c in range(1, 16) if rng.random() < 0.9}
        rules = [
            (chat_id, kind, value)
            for chat_id in range(1, 16)
            for kind, pool, odds in (
                ("country", codes, 0.3),
                ("keyword", phrases, 0.3),
                ("exclude", phrases, 0.1),
            )
            for value in pool
            if rng.random() < odds
        ]
        index = watch.WatchIndex.build("v", rules, chats, [])
        for s in STORIES.values():
            found = found_phrases(s, index.phrases, index.max_words)
            assert index.own_matches(s, found) == index.own_matches_per_chat(s, found)


# --- incremental refresh: only the chats changed are read again (issue 15, session 5) ----------


def _same_index(a: watch.WatchIndex, b: watch.WatchIndex) -> None:
    """Equal watch content (the version and ``seen`` aside; a chat's mutes in any order)."""
    assert a.rules == b.rules
    assert a.chats == b.chats
    assert {c: set(m) for c, m in a.mutes.items()} == {c: set(m) for c, m in b.mutes.items()}
    assert (a.phrases, a.max_words) == (b.phrases, b.max_words)
    assert (a.eligible, a.eligible_any_story) == (b.eligible, b.eligible_any_story)


MUTE = (1, "AZ-CN", WEEK)
BEFORE_RULES = [
    *_rules(1, country=("AZ", "CN"), keyword=("bayraktar",)),
    *_rules(2, country=("AZ",), exclude=("drones",)),
    *_rules(3, keyword=("bayraktar", "pla delegation")),
]
BEFORE_CHATS = {1: ACTIVE, 2: ALL_SCOPE, 3: ACTIVE}


@pytest.mark.parametrize(
    ("rules", "chats", "mutes"),
    [
        pytest.param(BEFORE_RULES, BEFORE_CHATS, [MUTE], id="nothing changed"),
        pytest.param(
            [*BEFORE_RULES, (1, "country", "TR")], BEFORE_CHATS, [MUTE], id="a rule added"
        ),
        pytest.param(BEFORE_RULES[1:], BEFORE_CHATS, [MUTE], id="a rule removed"),
        pytest.param(
            [r for r in BEFORE_RULES if r[2] != "pla delegation"],
            BEFORE_CHATS,
            [MUTE],
            id="a phrase's last rule removed",
        ),
        pytest.param(
            [r for r in BEFORE_RULES if r[0] != 2],
            {1: ACTIVE, 3: ACTIVE},
            [MUTE],
            id="a chat deleted",
        ),
        pytest.param(
            [*BEFORE_RULES, (4, "keyword", "s 400 deal")],
            {**BEFORE_CHATS, 4: DIGEST},
            [MUTE],
            id="a chat added with a longer phrase",
        ),
        pytest.param(BEFORE_RULES, {**BEFORE_CHATS, 1: STOPPED}, [MUTE], id="a chat stopped"),
        pytest.param(BEFORE_RULES, {**BEFORE_CHATS, 3: ALL_SCOPE}, [MUTE], id="scope changed"),
        pytest.param(BEFORE_RULES, BEFORE_CHATS, [], id="a mute removed"),
        pytest.param(BEFORE_RULES, BEFORE_CHATS, [MUTE, (2, "AM-AZ", WEEK)], id="a mute added"),
        pytest.param([], {}, [], id="everything deleted"),
    ],
)
def test_patched_equals_a_full_build(
    rules: list[Rule], chats: dict[int, watch.ChatInfo], mutes: list
) -> None:
    before = watch.WatchIndex.build("v1", BEFORE_RULES, BEFORE_CHATS, [MUTE])
    before_rows = {(r, "rule") for r in BEFORE_RULES} | {(m, "mute") for m in [MUTE]}
    after_rows = {(r, "rule") for r in rules} | {(m, "mute") for m in mutes}
    changed = {row[0] for row, _ in before_rows ^ after_rows}
    changed |= {
        c for c in BEFORE_CHATS.keys() | chats.keys() if BEFORE_CHATS.get(c) != chats.get(c)
    }
    patched = before.patched(
        "v2",
        7,
        changed,
        [r for r in rules if r[0] in changed],
        {c: info for c, info in chats.items() if c in changed},
        [m for m in mutes if m[0] in changed],
    )
    _same_index(patched, watch.WatchIndex.build("v2", rules, chats, mutes))
    assert (patched.version, patched.seen) == ("v2", 7)
    untouched = [v for v, ids in before.rules["keyword"].items() if not changed & set(ids)]
    assert all(patched.rules["keyword"][v] is before.rules["keyword"][v] for v in untouched)


async def _fresh(session: AsyncSession) -> watch.WatchIndex:
    return await watch.load_index(session, await watch.watch_version(session))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param("UPDATE chat SET active = false WHERE id = 1", id="chat-deactivated"),
        pytest.param("UPDATE chat SET scope = 'all' WHERE id = 2", id="scope"),
        pytest.param("DELETE FROM watch_rule WHERE chat_id = 1", id="rules-deleted"),
        pytest.param("DELETE FROM chat WHERE id = 2", id="chat-deleted-cascade"),
        pytest.param(
            "INSERT INTO watch_rule (chat_id, kind, value, display)"
            " VALUES (1, 'exclude', 'drones', 'drones'), (2, 'keyword', 'pla', 'PLA')",
            id="rules-added-two-chats",
        ),
        pytest.param("UPDATE watch_rule SET value = 'TR' WHERE value = 'AZ'", id="rules-updated"),
        pytest.param("mute AZ-CN", id="pair-muted"),
        pytest.param("new chat", id="chat-subscribed"),
    ],
)
async def test_refresh_reads_only_the_changed_chats_and_equals_a_full_load(
    sessions: async_sessionmaker[AsyncSession], change: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"], keyword=["Bayraktar"])
        await chat(session, 2, country=["AZ", "CN"])
        await chat(session, 3, country=["CN"])
    async with sessions() as session:
        before = await watch.current_index(session)  # loaded and shared
        await session.rollback()
    async with sessions.begin() as session:
        if change == "mute AZ-CN":
            await subscriptions.mute_pair(session, 1, ("AZ", "CN"), until=LATER)
        elif change == "new chat":
            await chat(session, 4, keyword=["s-400"])
        else:
            await session.execute(text(change))

    async def no_full_load(*_args: object) -> watch.WatchIndex:
        raise AssertionError("a full reload")

    async with sessions() as session:
        with monkeypatch.context() as patch:
            patch.setattr(watch, "load_index", no_full_load)
            after = await watch.current_index(session)
        assert after.seen > before.seen and after.version != before.version
        _same_index(after, await _fresh(session))
        await session.rollback()
    async with sessions() as session:  # shared with the next transaction: no reload needed
        assert await watch.current_index(session) is after
        await session.rollback()


async def test_storing_a_feeds_reports_keeps_the_shared_index(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A poll's transaction writes stories, keys and the revision counter, none of them a watch
    table: the index it checked is shared, and the next feed's transaction reads no more than
    the version (a raw write would make every feed load the whole index again)."""
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"])
    feed_id = await add_feed(sessions, "https://outlet.example/rss")
    titles = ["Azerbaijan and China discuss military collaboration", "Azerbaijan hosts a regatta"]
    for n, title in enumerate(titles):
        if n:  # the first transaction loaded the index; the second must find it shared

            async def no_load(*_args: object) -> watch.WatchIndex:
                raise AssertionError("the index was read again")

            monkeypatch.setattr(watch, "load_index", no_load)
            monkeypatch.setattr(watch, "refresh_index", no_load)
        items = pipeline.classify_entries([entry(f"e{n}", title, url=f"https://o.example/{n}")])
        outcome = pipeline.FeedOutcome(feed_id=feed_id, url="", status="ok")
        async with sessions.begin() as session:
            await pipeline.store_classified(session, feed_id, items, NOW, outcome)
        assert outcome.new_story_ids, title  # each started a story (so the counter moved)
    async with sessions() as session:
        assert len((await session.execute(select(Alert.chat_id))).all()) == 1


async def test_an_unrelated_chat_update_logs_no_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"])
    async with sessions.begin() as session:
        seqs = (await session.execute(text("SELECT chat_id, seq FROM watch_change"))).all()
        await session.execute(text("UPDATE chat SET last_digest_at = subscribed_at"))
    async with sessions.begin() as session:
        assert (await session.execute(text("SELECT chat_id, seq FROM watch_change"))).all() == seqs


async def test_seq_grows_with_each_change_one_row_per_chat(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"])
        await chat(session, 2, country=["AZ"])
    async with sessions.begin() as session:
        first = dict((await session.execute(text("SELECT chat_id, seq FROM watch_change"))).all())
        await session.execute(text("UPDATE chat SET scope = 'all' WHERE id = 1"))
    async with sessions.begin() as session:
        then = dict((await session.execute(text("SELECT chat_id, seq FROM watch_change"))).all())
    assert set(first) == set(then) == {1, 2}
    assert then[2] == first[2] and then[1] > max(first.values())


async def test_seq_order_is_commit_order_on_postgresql(postgres_url: str) -> None:
    """A writer waiting for another's transaction takes its seq only after that commits, so a
    reader that saw seq N never finds a change below N committed later (migration 0009)."""
    engine, factory = await open_database(postgres_url)
    try:
        async with factory.begin() as session:
            for chat_id in (1, 2, 3):
                await chat(session, chat_id, country=["AZ"])
        first, second = factory(), factory()
        await first.execute(text("UPDATE chat SET scope = 'all' WHERE id = 1"))  # holds the lock
        waiting = asyncio.create_task(
            second.execute(text("UPDATE chat SET scope = 'all' WHERE id = 2"))
        )
        async with factory() as watcher:  # until second waits for first's lock
            while not await watcher.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    " AND datname = current_database()"
                )
            ):
                await asyncio.sleep(0.05)
        assert not waiting.done()
        await first.execute(text("UPDATE chat SET scope = 'all' WHERE id = 3"))
        await first.commit()
        await waiting
        await second.commit()
        await first.close()
        await second.close()
        async with factory() as session:
            seq = dict((await session.execute(text("SELECT chat_id, seq FROM watch_change"))).all())
        assert seq[1] < seq[3] < seq[2]
    finally:
        await engine.dispose()


@pytest.mark.parametrize(
    ("statement", "shared"),
    [
        pytest.param("SELECT 1", True, id="raw read: shared"),
        pytest.param("UPDATE chat SET scope = 'all' WHERE id = 2", False, id="raw write: private"),
        pytest.param("UPDATE story SET score = 1", False, id="raw write elsewhere: private"),
    ],
)
async def test_only_an_index_read_without_watch_writes_is_shared(
    sessions: async_sessionmaker[AsyncSession], statement: str, shared: bool
) -> None:
    s = story()
    async with sessions.begin() as session:
        await chat(session, 1, country=["AZ"])
        await chat(session, 2, country=["AZ"])
        await add_story(session, s)
    async with sessions() as session:
        await watch.current_index(session)
        await session.rollback()
    async with sessions.begin() as session:
        await subscriptions.unsubscribe(session, 1)  # the shared index is now behind
    async with sessions() as session:
        await session.execute(text(statement))
        index = await watch.current_index(session)
        assert sorted(index.matches(s, NOW)) == [2]
        await session.rollback()
    async with sessions() as session:
        assert (await watch.current_index(session) is index) == shared
        assert sorted((await watch.current_index(session)).matches(s, NOW)) == [2]
        await session.rollback()
