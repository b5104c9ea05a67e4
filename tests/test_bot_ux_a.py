"""The bot as a user meets it (issue 11, items 1-5, 7, 8): end to end through the emulator.

Each test sends what a user typed and asserts the reply a user now gets.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.test_bot_e2e import add_story, bot_env, db_rows
from tests.tg import BotProcess, Emulator, TgUser

TOKEN = "474747:DEFWATCH-UXA"


@pytest.fixture(scope="module")
def ux_bot(tg_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    folder = tmp_path_factory.mktemp("uxa")
    process = BotProcess(
        tg_emulator, TOKEN, bot_env(tg_emulator, folder, TOKEN), folder / "bot.log"
    ).start()
    process.db = folder / "defwatch.db"  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        process.stop()
        print(f"--- bot log ---\n{process.log()[-3000:]}")


def user(emu: Emulator, chat_id: int, *commands: str) -> TgUser:
    person = emu.user(TOKEN, chat_id)
    for command in commands:
        person.ask(command)
    return person


# --- 1. time zones as people write them -------------------------------------------------------


@pytest.mark.emulator
def test_time_zones_as_people_write_them(tg_emulator: Emulator, ux_bot: BotProcess) -> None:
    person = user(tg_emulator, 11_001, "/start")
    assert "Europe/Baku" not in person.ask("/help").text
    saved = person.ask("/settings digest 08:00 Europe/Baku")
    assert "Saved." in saved.text and "Time zone: Asia/Baku" in saved.text
    assert "Europe/Baku" not in saved.text  # the example in the reply works too
    for typed, shown in [
        ("baku", "Asia/Baku"),
        ("+4", "UTC+4"),
        ("UTC+4", "UTC+4"),
        ("GMT-5", "UTC-5"),
        ("new york", "America/New_York"),
        ("azerbaijan", "Asia/Baku"),
    ]:
        assert f"Time zone: {shown}" in person.ask(f"/settings tz {typed}").text, typed
    unsure = person.ask("/settings tz Bakuu")
    assert "is not a time zone" in unsure.text and "Did you mean Asia/Baku?" in unsure.text


# --- 7. a burst is fine, a flood is held ------------------------------------------------------


@pytest.mark.emulator
def test_burst_allowed_flood_held(tg_emulator: Emulator, tmp_path: Path) -> None:
    token = "484848:DEFWATCH-BURST"
    env = bot_env(tg_emulator, tmp_path, token, per_minute=6, burst=10)
    process = BotProcess(tg_emulator, token, env, tmp_path / "bot.log").start()
    try:
        person = tg_emulator.user(token, 11_701)
        for _ in range(20):  # a flood: twenty commands at once
            person.send("/status")
        time.sleep(3.0)
        replies = [m.text for m in person.poll()]
        answered = [t for t in replies if "Stories stored" in t]
        refused = [t for t in replies if "Too many requests" in t]
        assert 10 <= len(answered) <= 11, replies  # the burst, and no more
        assert len(refused) == 1, replies  # one warning for the whole flood
        assert "at most 6 a minute (after a burst of 10). Try again in" in refused[0]
        time.sleep(10.5)  # one token back at 6 a minute
        assert "Stories stored" in person.ask("/status").text
    finally:
        process.stop()
