"""Handler unit tests on the in-process Bot API fake (tests/fakebot.py): no emulator, no node.

Each test drives the real application (handlers, defaults, post_init) with one update and
checks what the bot sent. End-to-end behaviour over HTTP stays in the emulator tests.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakebot import OfflineBot, offline_bot

CHAT = 4242


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[OfflineBot]:
    async with offline_bot(tmp_path) as offline:
        yield offline
    assert not offline.errors, offline.errors


async def test_startup_publishes_the_command_list(bot: OfflineBot) -> None:
    """One list for everyone (English) and one per language of the bot, same commands."""
    calls = [c for c in bot.api.calls if c.method == "setMyCommands"]
    languages = [c.params.get("language_code") for c in calls]
    assert languages == ["ru", "az", "tr", None]  # everyone's last: post_init's final step
    names = [[command["command"] for command in c.params["commands"]] for c in calls]
    assert {"start", "help", "watch", "settings", "language"} <= set(names[-1])
    assert all(n == names[-1] for n in names)
    russian = {c["command"]: c["description"] for c in calls[0].params["commands"]}
    assert russian["help"] == "все команды с примерами"


async def test_help_lists_commands_without_the_operator_part(bot: OfflineBot) -> None:
    [reply] = await bot.command(CHAT, "/help")
    assert reply.method == "sendMessage" and reply.chat_id == CHAT
    assert "/watch" in reply.text and "/settings" in reply.text
    assert "/addfeed" not in reply.text  # not an operator: no admin help
    assert reply.params["parse_mode"] == "HTML"  # the application's defaults are in force


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("/watch azerbaijn", "Did you mean Azerbaijan?", id="typo suggests the name"),
        pytest.param("/watch", "Usage: /watch azerbaijan china", id="no argument: usage"),
    ],
)
async def test_watch_explains_what_it_could_not_use(
    bot: OfflineBot, text: str, expected: str
) -> None:
    [reply] = await bot.command(CHAT, text)
    assert expected in reply.text


async def test_watch_typo_offers_a_one_tap_button(bot: OfflineBot) -> None:
    [reply] = await bot.command(CHAT, "/watch azerbaijn")
    keyboard = reply.params["reply_markup"]["inline_keyboard"]
    assert [b["text"] for row in keyboard for b in row] == ["Watch 🇦🇿 Azerbaijan"]


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("/settings digest 25:00", id="hour out of range"),
        pytest.param("/settings tz ../../etc/passwd", id="not a time zone"),
        pytest.param("/settings volume loud", id="unknown setting"),
    ],
)
async def test_settings_usage_error_is_said_and_changes_nothing(bot: OfflineBot, text: str) -> None:
    before = (await bot.command(CHAT, "/settings"))[0].text
    [reply] = await bot.command(CHAT, text)
    assert not reply.text.startswith("Saved"), reply.text
    after = (await bot.command(CHAT, "/settings"))[0].text
    assert after == before


async def test_plain_text_points_at_help(bot: OfflineBot) -> None:
    [reply] = await bot.command(CHAT, "hello there")
    assert "/help" in reply.text
