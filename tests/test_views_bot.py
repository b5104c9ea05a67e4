"""Analyst views in Telegram (issue 16): argument parsing and captions (pure), then the real bot
process against the tg-emulator: /partners sends a photo, and the Atom endpoint it serves.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.args import UsageError, make_resolver
from bot.formatting import tg_len
from bot.views import parse_view_args, partners_caption
from monitors.db import open_database
from monitors.detect.countries import default_gazetteer
from monitors.domain import StoryView
from monitors.views import analysis, charts
from monitors.watchlists import parse_watchlists
from tests.hostile import check_telegram_html, hostile_args, long_args
from tests.tg import BotProcess, Emulator, free_port, running_bot, wait_until
from tests.viewdata import seed_stories

TOKEN = "160016:VIEWS"
GAZETTEER = default_gazetteer()
RESOLVE = make_resolver(GAZETTEER)
LISTS = parse_watchlists(
    '[watchlist.caucasus]\ncountries = ["Azerbaijan", "Georgia", "Armenia"]\n'
    '[watchlist.words]\nkeywords = ["Bayraktar"]\n',
    source="test",
    resolver=GAZETTEER,
)


@pytest.mark.parametrize(
    ("command", "args", "codes", "period", "label"),
    [
        pytest.param("partners", ["azerbaijan"], ("AZ",), 90, None, id="default period"),
        pytest.param("partners", ["south", "korea", "30d"], ("KR",), 30, None, id="two words"),
        pytest.param("trend", ["AZ", "8w"], ("AZ",), 8, None, id="weeks"),
        pytest.param("network", ["caucasus"], ("AM", "AZ", "GE"), 90, "caucasus", id="watchlist"),
        pytest.param("network", ["az", "ge", "180d"], ("AZ", "GE"), 180, None, id="countries"),
    ],
)
def test_parse_view_args(
    command: str, args: list[str], codes: tuple[str, ...], period: int, label: str | None
) -> None:
    unit = "w" if command == "trend" else "d"
    default = "12w" if command == "trend" else "90d"
    lists = LISTS if command == "network" else None
    request = parse_view_args(
        args, RESOLVE, command=command, default=default, unit=unit, lists=lists
    )
    assert (request.codes, request.period, request.label) == (codes, period, label)


@pytest.mark.parametrize(
    ("args", "lists", "message"),
    [
        pytest.param([], None, "Usage: /partners", id="no country"),
        pytest.param(["azerbaijn"], None, "Did you mean", id="misspelt"),
        pytest.param(["az", "cn"], None, "One country at a time", id="two countries"),
        pytest.param(["az", "9000d"], None, "between 1 day and", id="period too long"),
        pytest.param(["words"], LISTS, "names no countries", id="keyword-only watchlist"),
        pytest.param(
            [
                "azerbaijan",
                "georgia",
                "armenia",
                "turkey",
                "china",
                "russia",
                "iran",
                "israel",
                "pakistan",
                "india",
                "france",
                "germany",
                "japan",
            ],
            LISTS,
            "At most 12",
            id="13 states",
        ),
    ],
)
def test_parse_view_args_refuses(args: list[str], lists: object, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_view_args(
            args,
            RESOLVE,
            command="partners",
            default="90d",
            unit="d",
            lists=lists,  # type: ignore[arg-type]
        )


def test_partners_caption_fits_and_links_the_latest_stories() -> None:
    now = datetime.now(UTC)
    stories = [
        StoryView(
            id=i,
            title="A very long title about a defence deal " * 5 + str(i),
            url=f"https://news.example/{i}?a=1&b=2",
            summary="",
            published_at=now - timedelta(days=i),
            participants=("AZ", code),
            mentioned=(),
            is_defence_cooperation=True,
            cooperation_type="exercise",
            score=1.0,
            evidence=(),
            outlets=(),
        )
        for i, code in enumerate(["TR"] * 5 + ["CN"] * 4 + ["GE"] * 4 + ["IL"] * 2)
    ]
    data = analysis.partners(stories, "AZ", since=now - timedelta(days=90), until=now)
    caption = partners_caption(data, GAZETTEER.name, 90)
    assert caption.count("<a href=") == 9  # three partners, three stories each
    assert "https://news.example/0?a=1&amp;b=2" in caption
    assert "<b>IL" not in caption
    import html
    import re

    assert tg_len(html.unescape(re.sub(r"<[^>]+>", "", caption))) <= 1024


# --- end to end --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def views_bot(
    tg_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[BotProcess, int]]:
    folder = tmp_path_factory.mktemp("views-bot")
    db = folder / "defwatch.db"

    async def seed() -> None:
        engine, sessions = await open_database(f"sqlite:///{db}")
        try:
            await seed_stories(sessions, datetime.now(UTC))
        finally:
            await engine.dispose()

    asyncio.run(seed())
    port = free_port()
    config = folder / "views.toml"  # instead of running_bot's defwatch.toml (which has no atom)
    config.write_text(
        '[poll]\ninterval_seconds = 60\nfeeds_file = "feeds.toml"\n\n'
        f'[atom]\nenabled = true\nhost = "127.0.0.1"\nport = {port}\n'
    )
    env = {"DEFWATCH_CONFIG": str(config)}  # the database is running_bot's: folder/defwatch.db
    with running_bot(tg_emulator, folder, TOKEN, env=env, timeout=60) as process:
        yield process, port


@pytest.mark.emulator
def test_partners_sends_a_photo_with_linked_stories(
    tg_emulator: Emulator, views_bot: tuple[BotProcess, int]
) -> None:
    user = tg_emulator.user(TOKEN, 16001)
    user.send("/partners azerbaijan")
    [reply] = user.wait_messages(1, timeout=60)
    assert reply.params.get("photo") is not None, reply
    [photo] = reply.sent["photo"]
    assert (photo["width"], photo["height"]) == charts.SIZES["partners"]
    png = tg_emulator.file(photo["file_id"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == charts.SIZES["partners"]
    caption = str(reply.params.get("caption"))
    assert "Azerbaijan (AZ): defence partners, last 90 days" in caption
    assert '<a href="https://wire.example/news/0">Story 0: AZ-TR exercise</a>' in caption
    assert reply.params.get("parse_mode") == "HTML"


@pytest.mark.emulator
def test_views_refuse_bad_input_in_words(
    tg_emulator: Emulator, views_bot: tuple[BotProcess, int]
) -> None:
    user = tg_emulator.user(TOKEN, 16002)
    assert "Did you mean" in user.ask("/trend azerbaijn", timeout=30).text
    assert "between 1 day and" in user.ask("/network az 5000d", timeout=30).text


@pytest.mark.emulator
def test_bot_process_serves_atom_on_loopback(views_bot: tuple[BotProcess, int]) -> None:
    process, port = views_bot

    def fetch() -> httpx.Response | None:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/atom/azerbaijan.xml", timeout=5)
        except httpx.HTTPError:
            return None

    answer = wait_until(fetch, 30, "the Atom endpoint")
    assert answer.status_code == 200
    parsed = feedparser.parse(answer.content)
    assert not parsed.bozo and parsed.entries
    stamps = [e.published_parsed for e in parsed.entries]
    assert stamps == sorted(stamps, reverse=True)
    assert f"127.0.0.1:{port}" in process.log()


def test_atom_endpoint_is_off_by_default(tmp_path: Path) -> None:
    from monitors.settings import load_settings

    settings = load_settings({})
    assert (settings.atom_enabled, settings.atom_host) == (False, "127.0.0.1")


# --- hostile input (pure): only UsageError, always valid Telegram HTML -----------------------------


@settings(max_examples=200, deadline=None, derandomize=True)
@given(
    st.sampled_from(["partners", "trend", "network"]),
    st.one_of(hostile_args, long_args),
)
def test_view_arguments_refuse_hostile_input_in_html(command: str, args: list[str]) -> None:
    unit = "w" if command == "trend" else "d"
    try:
        request = parse_view_args(
            args, RESOLVE, command=command, default="90d", unit=unit,
            lists=LISTS if command == "network" else None,
        )  # fmt: skip
    except UsageError as exc:
        check_telegram_html(str(exc))  # the handler sends it as it is
        assert tg_len(str(exc)) < 4096
        return
    assert request.codes and 1 <= request.period <= 730
