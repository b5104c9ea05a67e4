"""Chats and watch rules: normalisation as a table, store functions against a database."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import subscriptions
from monitors.subscriptions import normalise_keyword
from tests import dbfixtures

# the database fixtures, on SQLite and (when configured) PostgreSQL
database_url, sessions = dbfixtures.database_url, dbfixtures.sessions

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        pytest.param("Bayraktar", "bayraktar", id="casefold"),
        pytest.param("  S-400 ", "s 400", id="punctuation splits words"),
        pytest.param("Azərbaycan", "azerbaycan", id="schwa folds to e"),
        pytest.param("Азербайджан", "азербаиджан", id="cyrillic kept, not transliterated"),
        pytest.param("صاروخ", "صاروخ", id="arabic kept"),
        pytest.param("מִלְחָמָה", "מלחמה", id="hebrew kept, vowel marks folded"),
        pytest.param("🚀🛡", "", id="emoji are not words"),
        pytest.param("Łódź", "lodz", id="stroke letters fold"),
        pytest.param("Défense  Coopération", "defense cooperation", id="accents and whitespace"),
        pytest.param("STRASSE straße", "strasse strasse", id="casefold ß"),
        pytest.param("(a+)+$", "a", id="regex syntax is just text"),
        pytest.param("!!!", "", id="nothing left"),
    ],
)
def test_normalise_keyword(raw: str, normalised: str) -> None:
    assert normalise_keyword(raw) == normalised


def test_letter_folds_are_all_non_ascii() -> None:
    # fold_words only lower-cases ASCII text: a fold of an ASCII letter would be skipped
    assert not [letter for letter in subscriptions._letter_folds() if chr(letter).isascii()]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("Azerbaijan, China: S-400 talks (2026) in Baku_City", id="punctuation"),
        pytest.param("IRAN'S Navy\tand\nTURKEY", id="capitals and whitespace"),
        pytest.param("a_b 3rd 1,000 x--y ~!@#", id="underscore digits symbols"),
        pytest.param("", id="empty"),
    ],
)
def test_ascii_text_folds_as_the_full_rule_would(text: str) -> None:
    # the ASCII shortcut of fold_words gives the words of the general rule (NFKD, marks, folds)
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    full = subscriptions._WORD.findall(plain.translate(subscriptions._letter_folds()).casefold())
    assert subscriptions.fold_words(text) == full


async def test_subscribe_stop_keeps_watchlist(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        assert await subscriptions.subscribe(s, 42, type="private", title=None, now=NOW)
        assert not await subscriptions.subscribe(s, 42, type="private", title=None, now=NOW)
        await subscriptions.add_rules(s, 42, "country", [("AZ", "Azerbaijan")], limit=5)
        assert await subscriptions.unsubscribe(s, 42)
        assert not await subscriptions.unsubscribe(s, 42)
    async with sessions.begin() as s:
        assert [r.value for r in await subscriptions.list_rules(s, 42)] == ["AZ"]
        assert await subscriptions.subscribe(s, 42, type="private", title=None, now=NOW)
        chat = await subscriptions.get_chat(s, 42)
        assert chat is not None and chat.active


async def test_rule_limit_and_duplicates(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        await subscriptions.subscribe(s, 1, type="private", title=None, now=NOW)
        first = await subscriptions.add_rules(
            s, 1, "country", [("AZ", "Azerbaijan"), ("CN", "China")], limit=3
        )
        assert first.added == ("Azerbaijan", "China")
        second = await subscriptions.add_rules(
            s, 1, "keyword", [("s 400", "S-400"), ("parade", "parade")], limit=3
        )
        assert second.added == ("S-400",) and second.over_limit == ("parade",)
        third = await subscriptions.add_rules(s, 1, "country", [("AZ", "Azerbaijan")], limit=3)
        assert third.existing == ("Azerbaijan",)
        assert await subscriptions.remove_rules(s, 1, "country", ["CN", "FR"]) == ["China"]
        rules = await subscriptions.list_rules(s, 1)
        removed = await subscriptions.remove_rule_by_id(s, 1, rules[0].id)
        assert removed is not None
        assert (
            await subscriptions.remove_rule_by_id(s, 2, rules[1].id) is None
        )  # another chat's rule
        assert await subscriptions.count_rules(s, 1) == 1


async def test_settings_update(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions.begin() as s:
        await subscriptions.subscribe(s, 1, type="group", title="G", now=NOW)
        new = await subscriptions.update_settings(
            s, 1, delivery_mode="digest", digest_time="07:30", timezone="Asia/Baku"
        )
        assert (new.delivery_mode, new.digest_time, new.timezone) == (
            "digest",
            "07:30",
            "Asia/Baku",
        )
        with pytest.raises(ValueError):
            await subscriptions.update_settings(s, 1, active="no")
        assert [c.id for c in await subscriptions.digest_chats(s)] == [1]


async def test_follow_lists_count_toward_the_limit(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions.begin() as s:
        await subscriptions.subscribe(s, 42, type="private", title=None, now=NOW)
        await subscriptions.add_rules(s, 42, "country", [("AZ", "Azerbaijan")], limit=2)
        assert (await subscriptions.follow_list(s, 42, "caucasus", limit=2)).added == ("caucasus",)
        assert (await subscriptions.follow_list(s, 42, "asia", limit=2)).over_limit == ("asia",)
        assert await subscriptions.followed_lists(s, 42) == ["caucasus"]
        assert await subscriptions.unfollow_list(s, 42, "caucasus")
        assert not await subscriptions.unfollow_list(s, 42, "caucasus")


async def test_sync_targets_matches_the_file_exactly(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from sqlalchemy import select

    from monitors.models import Chat, WatchRule

    async def targets(s: AsyncSession) -> set[tuple[int, str]]:
        rows = await s.execute(
            select(WatchRule.chat_id, WatchRule.value).where(WatchRule.kind == "target")
        )
        return set(rows.all())

    async with sessions.begin() as s:
        assert await subscriptions.sync_targets(s, {"a": [-1001], "b": [-1001, -5]}, NOW) == (3, 0)
        assert await targets(s) == {(-1001, "a"), (-1001, "b"), (-5, "b")}
        channel, group = await s.get(Chat, -1001), await s.get(Chat, -5)
        assert channel is not None and channel.type == "channel" and channel.active
        assert group is not None and group.type == "group"
        # targets are not the chat's own rules: not listed, not counted
        assert await subscriptions.list_rules(s, -1001) == []
        assert await subscriptions.count_rules(s, -1001) == 0
    async with sessions.begin() as s:
        assert await subscriptions.sync_targets(s, {"a": [-1001]}, NOW) == (0, 2)
        assert await targets(s) == {(-1001, "a")}
        assert await subscriptions.sync_targets(s, {}, NOW) == (0, 1)
        assert await targets(s) == set()
