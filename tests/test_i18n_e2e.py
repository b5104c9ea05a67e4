"""End to end in Russian and in Turkish: the real bot process against the tg-emulator, a real
SQLite file and a feed served on 127.0.0.1 (issue 17's acceptance).

A user whose Telegram is set to Russian (Turkish) gets the welcome in Russian (Turkish),
watches Azerbaijan by its Russian (Turkish) name, receives the AZ-CN alert with the headings,
reasons, country names and date in that language, then switches the chat to Azerbaijani with
/language and is answered in Azerbaijani.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from babel import dates

from tests.feedserver import FeedServer
from tests.test_bot_e2e import STORY_SUMMARY, STORY_TITLE, rss
from tests.tg import ADMIN, BotProcess, Emulator, running_bot, wait_until

TOKEN = "434343:DEFWATCH-I18N"


@dataclass(frozen=True)
class Flow:
    language: str
    chat_id: int
    welcome: str  # in the first line of /start's reply
    watch: str  # what the user types
    watching: str  # the reply's start
    country: str  # Azerbaijan in the language
    partner: str  # China in the language
    why: str  # the alert's "Why:" heading (HTML)
    kind: str  # the cooperation type's label
    title: str = STORY_TITLE  # a story of its own per flow: one event alerts a chat once
    summary: str = STORY_SUMMARY


FLOWS = [
    pytest.param(
        Flow(
            "ru",
            7101,
            "оборонном сотрудничестве",
            "/watch Азербайджан",
            "Теперь слежу за: Азербайджан.",
            "Азербайджан",
            "Китай",
            "<i>Почему:</i>",
            "встреча / визит",
        ),
        id="ru",
    ),
    pytest.param(
        Flow(
            "tr",
            7102,
            "savunma işbirliğini",
            "/watch Azerbaycan",
            "Artık izleniyor: Azerbaycan.",
            "Azerbaycan",
            "Çin",
            "<i>Neden:</i>",
            "ortak tatbikat",
            "Azerbaijan and China hold joint counter-terrorism exercise",
            "Special forces of Azerbaijan and the Chinese People's Liberation Army began a joint "
            "counter-terrorism exercise near Baku, the defence ministry said.",
        ),
        id="tr",
    ),
]


@pytest.fixture(scope="module")
def feeds() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def bot(tg_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    """A bot with a database of its own per flow: each flow's story is news to it."""
    with running_bot(tg_emulator, tmp_path_factory.mktemp("i18n-bot"), TOKEN) as process:
        yield process


@pytest.mark.emulator
@pytest.mark.parametrize("flow", FLOWS)
def test_a_user_is_spoken_to_in_their_language(
    tg_emulator: Emulator, bot: BotProcess, feeds: FeedServer, flow: Flow
) -> None:
    user = tg_emulator.user(TOKEN, flow.chat_id, language_code=flow.language)
    welcome = user.ask("/start")
    assert flow.welcome in welcome.text.splitlines()[0]
    assert "defence cooperation" not in welcome.text
    assert user.ask(flow.watch).text.startswith(flow.watching)

    now = datetime.now(UTC)
    path = f"/i18n-{flow.language}.xml"
    quiet = (f"jazz-{flow.language}", "Baku hosts jazz festival", "Musicians perform.", now)
    url = feeds.add(path, rss(quiet))
    admin = tg_emulator.user(TOKEN, ADMIN)
    assert "Feed added" in admin.ask(f"/addfeed {url}").text  # operators' commands: English
    wait_until(lambda: feeds.hits(path) >= 1, 20, "the first poll of the feed")
    feeds.add(path, rss((f"az-cn-{flow.language}", flow.title, flow.summary, now), quiet))
    [alert] = user.wait_messages(1, timeout=30)

    assert flow.title in alert.text  # the story as the outlet wrote it
    assert f"🇦🇿 {flow.country}" in alert.text and f"🇨🇳 {flow.partner}" in alert.text
    assert flow.why in alert.html and flow.kind in alert.text
    assert dates.format_date(now, "long", locale=flow.language) in alert.text
    assert "Why:" not in alert.text and "Matched" not in alert.text
    buttons = [b["text"] for b in alert.buttons]
    why_button = "❓ " + flow.why.removeprefix("<i>").removesuffix(":</i>")  # "❓ Почему"
    assert why_button in buttons
    assert all(flow.country in b or "🇦🇿🇨🇳" in b or b == why_button for b in buttons)

    menu = user.ask("/language")
    user.press(menu, text="Azərbaycanca")
    [chosen] = user.wait_messages(1, predicate=lambda m: m.edited)
    assert "Azərbaycanca" in chosen.text and "Bundan sonra" in chosen.text
    listing = user.ask("/watchlist")
    assert listing.text.startswith("İzləmə siyahınız") and "Azərbaycan" in listing.text
