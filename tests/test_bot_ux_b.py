"""Issue 11, items 6, 9 and 10: buttons, groups and admin tools, as a user meets them.

Pure helpers first (tables), then the real bot process against the tg-emulator: a fresh
database whose feed list covers the Caucasus, a group with registered administrators, an
``@channel`` watchlist target the emulator resolves, and a local feed server for /addfeed.
"""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import admin, broadcast, buttons
from bot.delivery import oldest_first
from bot.formatting import tg_len
from bot.watchfile import FOLLOWS_COMMENT, export_document, followed_in_export
from monitors.coverage import rank_countries, region_countries
from monitors.db import open_database
from monitors.domain import StoryForAlert, StoryView
from monitors.models import Story, StoryCountry
from monitors.outbox import ClaimedAlert
from monitors.store import FeedHealth
from monitors.subscriptions import ChatSettings, Rule
from monitors.watch import enqueue_alerts
from tests.feedserver import FeedServer
from tests.test_bot_e2e import add_story, rss
from tests.test_bot_watchlists import store_story
from tests.tg import (
    ADMIN,
    BotMessage,
    BotProcess,
    Emulator,
    TgUser,
    db_rows,
    running_bot,
    settled,
    wait_until,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

# --- pure -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        pytest.param(buttons.callback("w", "AZ"), "watch", id="watch"),
        pytest.param(buttons.callback("uw", "AZ"), "unwatch", id="unwatch"),
        pytest.param(buttons.callback("mute", "AZ-CN"), "mute", id="mute"),
        pytest.param(buttons.callback("why", 2**63 - 1), "why", id="why, the largest story id"),
        pytest.param(buttons.callback("set", "scope", "all"), "setting", id="setting"),
        pytest.param(buttons.callback("use", "central-asia"), "follow", id="follow"),
        pytest.param(buttons.callback("pg", "AZ,CN,GE", 20, 400, 21), "page", id="page"),
        pytest.param(buttons.callback("fd", 3), "feeds", id="feeds page"),
        pytest.param("more:GE:5:-157766400000000:12", "more", id="more before 1970"),
    ],
)
def test_callback_data_matches_its_pattern(data: str, pattern: str) -> None:
    assert re.fullmatch(buttons.PATTERNS[pattern], data)
    others = [name for name, p in buttons.PATTERNS.items() if re.fullmatch(p, data)]
    assert others == [pattern]


@pytest.mark.parametrize(
    ("participants", "matched", "expected"),
    [
        pytest.param(
            ("CN", "AZ"),
            ("country:AZ",),
            ["🔕 Unwatch 🇦🇿 Azerbaijan", "🔇 Mute 🇦🇿🇨🇳 for a week"],
            id="watched country and its pair",
        ),
        pytest.param(("AZ",), ("keyword:bayraktar",), [], id="one country, a keyword: none"),
        pytest.param(
            ("GE", "AZ", "TR"), ("list:caucasus",), ["🔇 Mute 🇦🇿🇬🇪 for a week"], id="list match"
        ),
    ],
)
def test_alert_markup(
    participants: tuple[str, ...], matched: tuple[str, ...], expected: list[str]
) -> None:
    markup = buttons.alert_markup(participants, matched)
    labels = [b.text for row in markup.inline_keyboard for b in row] if markup else []
    assert labels == expected
    with_story = buttons.alert_markup(participants, matched, story_id=12)
    assert with_story is not None
    last = with_story.inline_keyboard[-1][-1]
    assert (last.text, last.callback_data) == ("❓ Why", "why:12")


def test_settings_markup_ticks_the_current_choices() -> None:
    chat = ChatSettings(1, "private", None, True, "digest", "08:00", "UTC", None, None, "all", None)
    markup = buttons.settings_markup(chat)
    assert markup is not None
    ticked = [b.text for row in markup.inline_keyboard for b in row if b.text.startswith("✓")]
    assert ticked == ["✓ Daily digest", "✓ No quiet hours", "✓ All stories"]


@pytest.mark.parametrize(
    ("page", "offset", "older", "expected"),
    [
        pytest.param(1, 0, 5, ["Older ▶"], id="first page"),
        pytest.param(2, 5, 10, ["◀ Newer", "Older ▶"], id="middle"),
        pytest.param(3, 10, None, ["◀ Newer"], id="last page"),
        pytest.param(1, 0, None, [], id="only page"),
    ],
)
def test_latest_markup(page: int, offset: int, older: int | None, expected: list[str]) -> None:
    markup = buttons.latest_markup("GE", 5, offset, page, older)
    assert ([b.text for b in markup.inline_keyboard[0]] if markup else []) == expected


REGIONS = {"caucasus": ("AZ", "AM", "GE"), "central-asia": ("KZ", "UZ"), "russia": ("RU",)}


@pytest.mark.parametrize(
    ("region", "codes"),
    [
        pytest.param("caucasus", ["AZ", "AM", "GE"], id="one region"),
        pytest.param("caucasus-central-asia", ["AZ", "AM", "GE", "KZ", "UZ"], id="dashed parts"),
        pytest.param("russia-eurasia", ["RU"], id="unknown part skipped"),
        pytest.param("global", [], id="no country"),
    ],
)
def test_region_countries(region: str, codes: list[str]) -> None:
    assert region_countries(region, REGIONS) == codes


def test_rank_countries_by_feed_count() -> None:
    regions = ["russia", "russia", "central-asia", "global", "caucasus-central-asia"]
    assert rank_countries(regions, REGIONS, 3) == ["KZ", "UZ", "RU"]


def alert(alert_id: int, story_id: int) -> ClaimedAlert:
    return ClaimedAlert(alert_id, 1, story_id, 0, ())


def view(story_id: int, minutes: int) -> StoryView:
    when = NOW + timedelta(minutes=minutes)
    return StoryView(story_id, "t", None, "", when, (), (), True, None, 0.0, (), ())


def test_oldest_first() -> None:
    claimed = [alert(1, 30), alert(2, 20), alert(3, 10), alert(4, 99)]
    stories = {30: view(30, 3), 20: view(20, 2), 10: view(10, 1)}
    assert [a.id for a in oldest_first(claimed, stories)] == [3, 2, 1, 4]


def feed(n: int, *, enabled: bool = True, polled: bool = True, errors: int = 0) -> FeedHealth:
    at = NOW if polled else None
    return FeedHealth(
        n, f"https://f{n}.example/rss", None, enabled, None, "HTTP 500", errors, at, at, None
    )


@pytest.mark.parametrize(
    ("health", "icon"),
    [
        pytest.param(feed(1), "✅", id="polled ok"),
        pytest.param(feed(2, errors=3), "⚠️", id="failing"),
        pytest.param(feed(3, polled=False), "🕓", id="never polled"),
        pytest.param(feed(4, enabled=False, polled=False), "⏸", id="disabled, never polled"),
    ],
)
def test_feed_line_icons(health: FeedHealth, icon: str) -> None:
    assert admin.feed_line(health).startswith(icon)


def test_feed_pages_keep_every_feed() -> None:
    rows = [feed(n) for n in range(91)]
    pages = admin.feed_pages(rows, budget=1000)
    assert len(pages) > 1 and sum(len(p) for p in pages) == 91
    assert all(sum(len(line) + 1 for line in page) <= 1000 for page in pages)


@pytest.mark.parametrize(
    ("size", "parts", "refused"),
    [
        pytest.param(4093, 1, False, id="fits one message"),
        pytest.param(4094, 2, False, id="one over: two parts"),
        pytest.param(40_000, 10, False, id="ten parts"),
        pytest.param(41_000, 0, True, id="over ten parts: refused"),
    ],
)
def test_broadcast_parts(size: int, parts: int, refused: bool) -> None:
    sent = broadcast.broadcast_parts("x" * size)
    assert len(sent) == parts
    assert all(tg_len(html.unescape(part)) <= 4096 for part in sent)
    assert (broadcast.broadcast_problem("x" * size) is not None) is refused


PARA = "word " * 500  # 2,500 characters


@pytest.mark.parametrize(
    ("text", "room", "expected"),
    [
        pytest.param("a b", 10, ["a b"], id="fits"),
        pytest.param(f"{PARA}\n\n{PARA}", 4000, [PARA.strip(), PARA.strip()], id="paragraphs"),
        pytest.param(
            "one line\n" + "x" * 20 + "\ntwo", 25, ["one line", "x" * 20 + "\ntwo"], id="a line"
        ),
        pytest.param("aa bb cc dd", 6, ["aa bb", "cc dd"], id="words"),
        pytest.param("abcdefgh", 3, ["abc", "def", "gh"], id="one long word: anywhere"),
        pytest.param("🚀🚀🚀", 3, ["🚀", "🚀", "🚀"], id="never inside a surrogate pair"),
        pytest.param("x\n\n" + "y" * 9, 10, ["x", "y" * 9], id="a short first paragraph"),
        pytest.param("x\ny yy", 5, ["x\ny", "yy"], id="half full at a space before a line"),
        pytest.param("Tom & Jerry <b>x</b>", 12, ["Tom & Jerry", "<b>x</b>"], id="escaped after"),
    ],
)
def test_split_text(text: str, room: int, expected: list[str]) -> None:
    assert broadcast.split_text(text, room) == expected


@pytest.mark.parametrize(
    ("chats", "parts", "failures", "expected"),
    [
        pytest.param(3, 1, {}, ["Broadcast sent to 3 of 3 chats."], id="one message"),
        pytest.param(
            4,
            2,
            {"Forbidden: bot was blocked by the user": 1},
            [
                "Broadcast sent to 3 of 4 chats (2 parts each).",
                "Not sent to 1: Forbidden: bot was blocked by the user",
            ],
            id="in parts, one blocked",
        ),
    ],
)
def test_broadcast_report(chats: int, parts: int, failures: dict, expected: list[str]) -> None:
    assert broadcast.broadcast_report(chats, parts, Counter(failures)).splitlines() == expected


def test_export_names_followed_lists_and_import_reads_them() -> None:
    text = export_document(7, [Rule(1, "country", "AZ", "Azerbaijan")], "all", ["caucasus", "x"])
    assert FOLLOWS_COMMENT + "caucasus, x" in text
    assert followed_in_export(text) == ["caucasus", "x"]
    assert followed_in_export('[watchlist.a]\ncountries = ["AZ"]\n') == []


# --- end to end -------------------------------------------------------------------------------

TOKEN = "474747:DEFWATCH-UXB"
GROUP = -5_005_111
BROKEN_GROUP = -5_005_222
GROUP_OWNER, GROUP_ADMIN, MEMBER = 71_001, 72_002, 73_003
CHANNEL = -1_009_001_777
CHANNEL_NAME = "uxb_defence_wire"
DISABLED_FEEDS = 12
ENABLED_FEEDS = 48
LISTS = f"""
[watchlist.caucasus]
description = "South Caucasus"
countries = ["Azerbaijan", "Armenia", "Georgia"]

[watchlist.wire]
description = "Kazakhstan to the channel"
countries = ["Kazakhstan"]
targets = ["@{CHANNEL_NAME}"]
"""


def feed_list(count: int, disabled: int) -> str:
    """A feed list covering the Caucasus: long URLs (so /feeds needs pages), some disabled.
    Port 9 (discard) refuses at once, so polls fail fast and nothing is fetched."""
    path = "x" * 90
    return "".join(
        f'[[feed]]\nurl = "http://127.0.0.1:9/{n:03d}/{path}"\nregion = "caucasus"\n'
        f"enabled = {'false' if n < disabled else 'true'}\n\n"
        for n in range(count)
    )


@pytest.fixture(scope="module")
def lists_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("uxb-lists") / "watchlists.toml"
    path.write_text(LISTS)
    return path


@pytest.fixture(scope="module")
def bot(
    tg_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory, lists_file: Path
) -> Iterator[BotProcess]:
    folder = tmp_path_factory.mktemp("uxb")
    tg_emulator.register_chats(
        {
            "id": GROUP,
            "type": "supergroup",
            "title": "Defence desk",
            "admins": [{"id": GROUP_OWNER, "status": "creator"}, GROUP_ADMIN],
            "bot_is_admin": True,
        },
        {
            "id": CHANNEL,
            "type": "channel",
            "title": "UXB wire",
            "username": CHANNEL_NAME,
            "bot_is_admin": True,
        },
    )
    with running_bot(
        tg_emulator,
        folder,
        TOKEN,
        env={"DEFWATCH_WATCHLISTS": str(lists_file)},
        feeds=feed_list(DISABLED_FEEDS + ENABLED_FEEDS, DISABLED_FEEDS),
    ) as process:
        yield process


@pytest.fixture(scope="module")
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def db_of(bot: BotProcess) -> Path | None:
    return bot.db


def edited(u: TgUser) -> BotMessage:
    return u.wait_messages(1, predicate=lambda m: m.edited)[0]


def answers(emu: Emulator, chat_id: int) -> list[str]:
    """The toasts the bot answered button presses with in one chat (newest last)."""
    calls = emu.calls(method="answerCallbackQuery", token=TOKEN)
    return [str(c["params"].get("text", "")) for c in calls if c["status"] == 200]


def rules(bot: BotProcess, chat_id: int) -> list[tuple[str, str]]:
    query = "select kind, value from watch_rule where chat_id = ? and kind != 'target'"
    return sorted(db_rows(db_of(bot), query, chat_id))


def add_burst(db: Path, stories: list[tuple[int, str, tuple[str, ...], datetime]]) -> None:
    """Stories stored and alerted in ONE transaction, in the given order (a feed lists its
    newest first), as one poll would."""

    async def run() -> None:
        engine, sessions = await open_database(f"sqlite:///{db}")
        try:
            async with sessions.begin() as session:
                for story_id, title, codes, when in stories:
                    session.add(
                        Story(
                            id=story_id,
                            title=title,
                            url=f"https://x.example/{story_id}",
                            summary="Defence ministers met.",
                            published_at=when,
                            first_seen_at=when,
                            last_seen_at=when,
                            is_defence_cooperation=True,
                            cooperation_type="meeting_visit",
                        )
                    )
                    for code in codes:
                        session.add(
                            StoryCountry(
                                story_id=story_id,
                                code=code,
                                role="participant",
                                published_at=when,
                                is_defence_cooperation=True,
                            )
                        )
                    await session.flush()
                    story = StoryForAlert(
                        story_id, title, "Defence ministers met.", codes, (), True, None, when
                    )
                    await enqueue_alerts(session, story, now=datetime.now(UTC))
        finally:
            await engine.dispose()

    asyncio.run(run())


# Item 10: first, while the database has no story: the welcome comes from the feed list.
@pytest.mark.emulator
def test_welcome_on_a_fresh_database_offers_the_feed_lists_countries(
    tg_emulator: Emulator, bot: BotProcess
) -> None:
    assert db_rows(db_of(bot), "select count(*) from story") == [(0,)]
    u = tg_emulator.user(TOKEN, 80_001)
    intro = u.ask("/start")
    labels = [b["text"] for b in intro.buttons]
    assert labels == ["🇦🇿 Azerbaijan", "🇦🇲 Armenia", "🇬🇪 Georgia"]
    assert "tap to watch" in intro.text
    u.press(intro, text="Armenia")
    wait_until(lambda: rules(bot, 80_001) == [("country", "AM")], 10, "Armenia watched")


# --- item 6: buttons --------------------------------------------------------------------------


@pytest.mark.emulator
def test_did_you_mean_and_korea_are_one_tap(tg_emulator: Emulator, bot: BotProcess) -> None:
    u = tg_emulator.user(TOKEN, 80_101)
    u.ask("/start")
    typo = u.ask("/watch azerbaijn")
    assert "Did you mean Azerbaijan?" in typo.text
    u.press(typo, text="Watch 🇦🇿 Azerbaijan")
    wait_until(lambda: rules(bot, 80_101) == [("country", "AZ")], 10, "Azerbaijan watched")
    wait_until(
        lambda: any("Now watching: Azerbaijan" in a for a in answers(tg_emulator, 80_101)),
        10,
        "the toast",
    )

    korea = u.ask("/watch korea")
    assert [b["text"] for b in korea.buttons] == ["Watch 🇰🇵 North Korea", "Watch 🇰🇷 South Korea"]
    u.press(korea, text="South Korea")
    wait_until(
        lambda: rules(bot, 80_101) == [("country", "AZ"), ("country", "KR")], 10, "South Korea"
    )


@pytest.mark.emulator
def test_settings_as_buttons(tg_emulator: Emulator, bot: BotProcess) -> None:
    u = tg_emulator.user(TOKEN, 80_201)
    u.ask("/start")
    shown = u.ask("/settings")
    assert "✓ Instant alerts" in [b["text"] for b in shown.buttons]
    u.press(shown, text="Daily digest")
    digest = edited(u)
    assert "one daily digest at 08:00" in digest.text and "Saved." in digest.text
    assert "✓ Daily digest" in [b["text"] for b in digest.buttons]
    u.press(digest, text="All stories")
    scoped = edited(u)
    assert "Scope: all stories" in scoped.text
    u.press(scoped, text="Quiet 22:00 to 07:00")
    assert "Quiet hours: 22:00 to 07:00" in edited(u).text
    row = "select delivery_mode, scope, quiet_start, quiet_end from chat where id = 80201"
    assert db_rows(db_of(bot), row) == [("digest", "all", "22:00", "07:00")]


@pytest.mark.emulator
def test_lists_follow_buttons(tg_emulator: Emulator, bot: BotProcess) -> None:
    u = tg_emulator.user(TOKEN, 80_301)
    u.ask("/start")
    shown = u.ask("/lists")
    assert [b["text"] for b in shown.buttons] == ["🔔 Follow caucasus", "🔔 Follow wire"]
    u.press(shown, text="Follow caucasus")
    following = edited(u)
    assert "✅ caucasus" in following.text
    assert "✖ Stop following caucasus" in [b["text"] for b in following.buttons]
    assert rules(bot, 80_301) == [("list", "caucasus")]
    u.press(following, text="Stop following caucasus")
    assert "✅" not in edited(u).text
    assert rules(bot, 80_301) == []


@pytest.mark.emulator
def test_alert_buttons_unwatch_and_mute_a_pair(tg_emulator: Emulator, bot: BotProcess) -> None:
    chat = 80_401
    u = tg_emulator.user(TOKEN, chat)
    for command in ("/start", "/watch moldova"):
        u.ask(command)
    now = datetime.now(UTC)
    add_story(db_of(bot), 40_001, "Moldova and Romania hold joint drills", ("MD", "RO"), now)
    [first] = u.wait_messages(1, timeout=20)
    labels = [b["text"] for b in first.buttons]
    assert labels == ["🔕 Unwatch 🇲🇩 Moldova", "🔇 Mute 🇲🇩🇷🇴 for a week", "❓ Why"]

    u.press(first, text="Mute")
    wait_until(
        lambda: (
            db_rows(db_of(bot), "select pair from chat_mute where chat_id = ?", chat)
            == [("MD-RO",)]
        ),
        10,
        "the mute stored",
    )
    (until,) = db_rows(db_of(bot), "select until from chat_mute where chat_id = ?", chat)[0]
    days = (datetime.fromisoformat(until).replace(tzinfo=UTC) - now) / timedelta(days=1)
    assert 6.9 < days < 7.1
    add_story(db_of(bot), 40_002, "Romania and Moldova sign a second plan", ("RO", "MD"), now)
    add_story(db_of(bot), 40_003, "Moldova and Ukraine patrol the border", ("MD", "UA"), now)
    [other] = u.wait_messages(1, timeout=20)
    assert "Moldova and Ukraine" in other.text  # the muted pair's story never came
    assert db_rows(db_of(bot), "select count(*) from alert where story_id = 40002") == [(0,)]

    u.press(other, text="Unwatch")
    wait_until(lambda: rules(bot, chat) == [], 10, "Moldova unwatched")
    # the callback is answered after the change is committed: wait for the answer too
    wait_until(
        lambda: any("No longer watching Moldova" in a for a in answers(tg_emulator, chat)),
        10,
        "the unwatch answer",
    )


@pytest.mark.emulator
@pytest.mark.parametrize(
    ("chat", "button", "reason"),
    [
        pytest.param(80_411, "Mute", "muted LY-MT until", id="pair muted"),
        pytest.param(80_412, "Unwatch", "no longer watched: country:MT", id="country unwatched"),
    ],
)
def test_a_queued_alert_is_not_sent_once_muted(
    tg_emulator: Emulator, bot: BotProcess, chat: int, button: str, reason: str
) -> None:
    """The second alert waits in the outbox (flood control); the chat mutes or unwatches
    meanwhile; when its turn comes it is skipped, not sent."""
    db = db_of(bot)
    u = tg_emulator.user(TOKEN, chat)
    for command in ("/start", "/watch malta"):
        u.ask(command)
    now = datetime.now(UTC)
    first_id, queued_id, other_id = chat * 10 + 1, chat * 10 + 2, chat * 10 + 3
    add_story(db, first_id, "Malta and Libya hold joint drills", ("MT", "LY"), now)
    [first] = u.wait_messages(1, timeout=20)
    tg_emulator.add_fault(
        method="sendMessage", chat_id=chat, token=TOKEN, error_code=429, retry_after=4, times=1
    )
    add_story(db, queued_id, "Malta and Libya sign a second plan", ("MT", "LY"), now)
    status = "select status, attempts, last_error from alert where story_id = ?"
    wait_until(lambda: db_rows(db, status, queued_id)[0][:2] == ("pending", 1), 20, "a retry")
    u.press(first, text=button)
    wait_until(lambda: db_rows(db, status, queued_id)[0][0] == "skipped", 20, "the skip")
    assert reason in db_rows(db, status, queued_id)[0][2]
    assert f"to chat {chat} skipped: {reason}" in bot.log()
    add_story(db, other_id, "Malta and Italy patrol together", ("MT", "IT"), now)
    if button == "Mute":  # still watching Malta: a story of another pair comes
        [other] = u.wait_messages(1, timeout=20, predicate=lambda m: not m.edited)
        assert "Malta and Italy" in other.text
    sent = [m.text for m in tg_emulator.messages(TOKEN, chat) if "second plan" in m.text]
    assert sent == []  # the queued alert never reached the chat


@pytest.mark.emulator
def test_latest_pages_newer_and_older(tg_emulator: Emulator, bot: BotProcess) -> None:
    base = datetime.now(UTC) - timedelta(days=3)
    for i in range(12):
        add_story(
            db_of(bot),
            41_000 + i,
            f"Belarus story {i:02d}",
            ("BY", "RU"),
            base + timedelta(minutes=i),
        )
    u = tg_emulator.user(TOKEN, 80_501)
    u.ask("/start")
    first = u.ask("/latest belarus 5")
    assert "Belarus story 11" in first.text and "page 1" in first.text
    assert [b["text"] for b in first.buttons] == ["Older ▶"]
    u.press(first, text="Older")
    second = edited(u)
    assert "page 2" in second.text and "Belarus story 06" in second.text
    assert "Belarus story 11" not in second.text
    assert [b["text"] for b in second.buttons] == ["◀ Newer", "Older ▶"]
    u.press(second, text="Newer")
    back = edited(u)
    assert "page 1" in back.text and "Belarus story 11" in back.text
    assert "Belarus story 06" not in back.text


# --- item 9: groups ---------------------------------------------------------------------------


@pytest.mark.emulator
def test_group_admin_member_and_operator(tg_emulator: Emulator, bot: BotProcess) -> None:
    owner = tg_emulator.user(TOKEN, GROUP, user_id=GROUP_OWNER, chat_type="supergroup")
    helper = tg_emulator.user(TOKEN, GROUP, user_id=GROUP_ADMIN, chat_type="supergroup")
    member = tg_emulator.user(TOKEN, GROUP, user_id=MEMBER, chat_type="supergroup")
    operator = tg_emulator.user(TOKEN, GROUP, user_id=ADMIN, chat_type="supergroup")
    owner.ask("/start")
    assert "Now watching: Georgia" in helper.ask("/watch georgia").text
    refused = member.ask("/watch armenia")
    assert "Only this group's administrators (or the bot's operators)" in refused.text
    assert "Now watching: Armenia" in operator.ask("/watch armenia").text
    assert rules(bot, GROUP) == [("country", "AM"), ("country", "GE")]
    listing = member.ask("/watchlist")
    assert listing.text.startswith("This group's watchlist")
    assert "This group's watchlist is kept" in operator.ask("/stop").text
    back = operator.ask("/start")
    assert "Welcome back: this group's watchlist was kept (2 countries)" in back.text


@pytest.mark.emulator
def test_group_admin_check_that_fails_says_why(tg_emulator: Emulator, bot: BotProcess) -> None:
    tg_emulator.add_fault(
        method="getChatAdministrators",
        chat_id=BROKEN_GROUP,
        error_code=400,
        description="Bad Request: chat not found",
    )
    member = tg_emulator.user(TOKEN, BROKEN_GROUP, user_id=MEMBER, chat_type="supergroup")
    answer = member.ask("/watch georgia").text
    assert "I could not check who administers this group" in answer
    assert "chat not found" in answer.lower() and "try again" in answer
    assert "Only this group's administrators" not in answer
    assert rules(bot, BROKEN_GROUP) == []


@pytest.mark.emulator
def test_channel_named_by_username_receives_its_list(
    tg_emulator: Emulator, bot: BotProcess, lists_file: Path
) -> None:
    title = "Kazakhstan and Uzbekistan hold a joint staff exercise"
    store_story(db_of(bot), lists_file, 42_001, title, ("KZ", "UZ"))

    def delivered() -> list[BotMessage]:
        return [m for m in tg_emulator.messages(TOKEN, CHANNEL) if title in m.text]

    wait_until(delivered, 20, "the @channel's alert")
    settled(db_of(bot), CHANNEL)
    assert len(delivered()) == 1
    assert f"@{CHANNEL_NAME} skipped" not in bot.log()


# --- item 10: admin tools and the rest --------------------------------------------------------


@pytest.mark.emulator
def test_feeds_pages_and_status_explains_disabled(tg_emulator: Emulator, bot: BotProcess) -> None:
    operator = tg_emulator.user(TOKEN, ADMIN)
    first = operator.ask("/feeds")
    total = DISABLED_FEEDS + ENABLED_FEEDS
    assert f"{total} feeds" in first.text and f"{DISABLED_FEEDS} disabled" in first.text
    pages = [first]
    while any(b["text"] == "Next ▶" for b in pages[-1].buttons):
        operator.press(pages[-1], text="Next")
        pages.append(edited(operator))
    assert len(pages) >= 2 and f"page {len(pages)} of {len(pages)}" in pages[-1].text
    lines = [line for page in pages for line in page.text.splitlines() if "127.0.0.1:9/" in line]
    assert len(lines) == total
    disabled = [line for line in lines if "/00" in line or "/010/" in line or "/011/" in line]
    assert len(disabled) == DISABLED_FEEDS
    assert all(line.startswith("⏸") and "disabled" in line for line in disabled)
    status = operator.ask("/status").text
    assert f"{DISABLED_FEEDS} disabled" in status and "never polled" in status


BROADCAST = "\n\n".join(
    f"Notice {n}: maintenance <b>&</b> upgrades.\n" + " ".join([f"Line {n} of the notice."] * 170)
    for n in range(1, 4)
)  # three paragraphs of ~4,100 characters each, with HTML metacharacters


@pytest.mark.emulator
def test_broadcast_over_one_message_goes_in_parts(tg_emulator: Emulator, bot: BotProcess) -> None:
    readers = [tg_emulator.user(TOKEN, chat) for chat in (80_551, 80_552)]
    blocked = tg_emulator.user(TOKEN, 80_553)
    for person in (*readers, blocked):
        person.ask("/start")
    tg_emulator.add_fault(preset="blocked", chat_id=80_553, token=TOKEN)
    tg_emulator.add_fault(  # flood control on a reader's second part: waited out
        method="sendMessage", chat_id=80_552, token=TOKEN, error_code=429, retry_after=1, skip=1,
        times=1,
    )  # fmt: skip
    active = db_rows(db_of(bot), "select count(*) from chat where active")[0][0]
    operator = tg_emulator.user(TOKEN, ADMIN)
    answer = operator.ask("/broadcast " + BROADCAST, timeout=90).text
    assert answer.splitlines() == [
        f"Broadcast sent to {active - 1} of {active} chats (3 parts each).",
        "Not sent to 1: Forbidden: bot was blocked by the user",
    ]
    for person in readers:
        parts = person.wait_messages(3, timeout=30)
        assert [p.text[:8] for p in parts] == [f"📣 ({n}/3) " for n in range(1, 4)]
        assert all(tg_len(p.text) <= 4096 for p in parts)
        assert "\n\n".join(p.text[8:] for p in parts) == BROADCAST  # cut at paragraphs
        assert all(not p.text.endswith(" ") and "&amp;" in p.html for p in parts)
    assert "broadcast to chat 80553 failed after 0 of 3 parts: Forbidden" in bot.log()
    assert db_rows(db_of(bot), "select active from chat where id = 80553") == [(0,)]
    tg_emulator.clear_faults()
    refused = operator.ask("/broadcast " + "x " * 21_000).text
    assert refused.startswith("Refused: the text is 41,999 characters; a broadcast is at most 10")


@pytest.mark.emulator
def test_addfeed_checks_once_and_stores_the_normalised_url(
    tg_emulator: Emulator, bot: BotProcess, feeds: FeedServer
) -> None:
    operator = tg_emulator.user(TOKEN, ADMIN)
    missing = operator.ask(f"/addfeed {feeds.url('/nothing-here.xml')}").text
    assert missing.startswith("Refused") and "HTTP 404" in missing
    long_url = feeds.url("/" + "a" * 5000)
    assert "5,0" in operator.ask(f"/addfeed {long_url}").text
    url = feeds.add("/uxb.xml", rss(("g1", "Story", "Summary", datetime.now(UTC))))
    added = operator.ask(f"/addfeed {url.replace('http://', 'HTTP://')}#top").text
    assert "Feed added: “Caucasus Defence Wire”" in added
    stored = db_rows(db_of(bot), "select url from feed where url like ?", "%/uxb.xml%")
    assert stored == [(url,)]
    urls = [u for (u,) in db_rows(db_of(bot), "select url from feed")]
    assert not any("nothing-here" in u or "aaaa" in u for u in urls)


@pytest.mark.emulator
def test_addfeed_with_the_state_the_feed_speaks_for(
    tg_emulator: Emulator, bot: BotProcess, feeds: FeedServer
) -> None:
    operator = tg_emulator.user(TOKEN, ADMIN)
    url = feeds.add("/army.xml", rss(("a1", "Airmen train abroad", "", datetime.now(UTC))))
    unknown = operator.ask(f"/addfeed {url} Atlantis").text
    assert "Unknown country" in unknown and "Nothing was added" in unknown
    added = operator.ask(f"/addfeed {url} united states").text
    assert "Feed added" in added and "speaks for US" in added
    assert db_rows(db_of(bot), "select country from feed where url = ?", url) == [("US",)]


@pytest.mark.emulator
def test_a_burst_arrives_oldest_first(tg_emulator: Emulator, bot: BotProcess) -> None:
    chat = 80_601
    u = tg_emulator.user(TOKEN, chat)
    for command in ("/start", "/watch serbia"):
        u.ask(command)
    now = datetime.now(UTC)
    add_burst(
        db_of(bot),
        [
            (43_003, "Serbia third: newest", ("RS", "HU"), now - timedelta(minutes=1)),
            (43_002, "Serbia second", ("RS", "HU"), now - timedelta(minutes=20)),
            (43_001, "Serbia first: oldest", ("RS", "HU"), now - timedelta(minutes=40)),
        ],
    )
    got = u.wait_messages(3, timeout=20)
    assert [m.text.split("\n")[0] for m in got] == [
        "🛡 Serbia first: oldest",
        "🛡 Serbia second",
        "🛡 Serbia third: newest",
    ]


@pytest.mark.emulator
def test_start_after_stop_mentions_the_kept_watchlist(
    tg_emulator: Emulator, bot: BotProcess
) -> None:
    u = tg_emulator.user(TOKEN, 80_701)
    for command in ("/start", "/watch armenia georgia", "/keywords add Bayraktar"):
        u.ask(command)
    assert "Your watchlist is kept" in u.ask("/stop").text
    back = u.ask("/start").text
    assert "Welcome back: your watchlist was kept (2 countries, 1 keyword)" in back


@pytest.mark.emulator
def test_import_restores_followed_lists(tg_emulator: Emulator, bot: BotProcess) -> None:
    first = tg_emulator.user(TOKEN, 80_801)
    for command in ("/start", "/watch azerbaijan", "/use caucasus"):
        first.ask(command)
    exported = first.ask("/export")
    second = tg_emulator.user(TOKEN, 80_802)
    second.ask("/start")
    imported = second.ask("/import", reply_to=exported).text
    assert "Now watching: Azerbaijan" in imported and "Now following: caucasus" in imported
    assert rules(bot, 80_802) == [("country", "AZ"), ("list", "caucasus")]


@pytest.mark.emulator
def test_more_button_with_a_timestamp_before_1970(tg_emulator: Emulator, bot: BotProcess) -> None:
    """Older /latest messages carry "More" buttons; a story before 1970 makes the cursor
    negative, and the button still pages."""
    # The higher id first: the bot's own poll may store a story between the two inserts, and
    # SQLite would give it max(id) + 1.
    add_story(
        db_of(bot),
        44_002,
        "Nauru archive story two",
        ("NR", "AU"),
        datetime(1966, 1, 1, tzinfo=UTC),
    )
    add_story(
        db_of(bot),
        44_001,
        "Nauru archive story one",
        ("NR", "AU"),
        datetime(1965, 1, 1, tzinfo=UTC),
    )
    chat = 80_901
    u = tg_emulator.user(TOKEN, chat)
    shown = u.ask("/latest nauru 1")
    assert "story two" in shown.text
    micros = (datetime(1966, 1, 1, tzinfo=UTC) - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(
        microseconds=1
    )
    tg_emulator.post(
        "/sendCallback",
        {
            "botToken": TOKEN,
            "date": int(time.time()),
            "from": {"id": chat, "is_bot": False, "first_name": "Tester"},
            "chat_instance": f"ci-{chat}",
            "data": f"more:NR:1:{micros}:44002",
            "message": {
                "message_id": shown.message_id,
                "date": int(time.time()),
                "chat": {"id": chat, "type": "private", "first_name": "Tester"},
                "text": shown.text,
            },
        },
    )
    page = edited(u)
    assert "story one" in page.text and "story two" not in page.text


# --- mutes in the store (monitors.subscriptions) ----------------------------------------------


async def test_mutes_silence_a_pair_until_they_end(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from monitors import subscriptions

    week = timedelta(days=7)
    async with sessions.begin() as session:
        for chat_id in (1, 2):
            await subscriptions.subscribe(session, chat_id, type="private", title=None, now=NOW)
        await subscriptions.mute_pair(session, 1, ("CN", "AZ"), until=NOW + week)
        await subscriptions.mute_pair(session, 1, ("AZ", "CN"), until=NOW + timedelta(days=1))
    async with sessions() as session:

        async def muted(codes: tuple[str, ...], at: datetime) -> set[int]:
            return await subscriptions.muted_chats(session, [1, 2], codes, at)

        assert await muted(("AZ", "CN"), NOW) == {1}
        assert await muted(("TR", "CN", "AZ"), NOW) == {1}  # the pair takes part
        assert await muted(("AZ", "TR"), NOW) == set()
        assert await muted(("AZ", "CN"), NOW + timedelta(days=6)) == {1}  # not shortened
        assert await muted(("AZ", "CN"), NOW + week) == set()  # over
