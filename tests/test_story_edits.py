"""One alert per event (issue 8), Telegram side: when a second outlet reports a story the chat
was already alerted about, the chat gets no new message; the sent alert is edited to add
"Also reported by …". End to end: the real bot process, the tg-emulator, three served feeds
(the third in Russian): three outlets, one event, exactly one alert.

The pipeline asks for the edit (``outbox.request_story_edits``) when an article joins an
existing story; the outbox limits edits to one a minute and three in all.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from tests.feedserver import FeedServer
from tests.tg import ADMIN, BotProcess, Emulator, db_rows, running_bot, wait_until

REPO = Path(__file__).resolve().parents[1]

TOKEN = "454545:DEFWATCH-EDITS"
TITLE = "Azerbaijan and Pakistan sign defence industry cooperation plan"
TITLE_RU = "Азербайджан и Пакистан подписали план сотрудничества в оборонной промышленности"
SUMMARY_RU = (
    "24 ноября министр оборонной промышленности Азербайджана Вугар Мустафаев и секретарь по "
    "оборонному производству Пакистана подписали в Баку план совместного производства "
    "военной техники."
)
SUMMARY = (
    "Azerbaijan's Minister of Defence Industry Vugar Mustafayev and Pakistan's defence "
    "production secretary signed a plan on joint production of military equipment in Baku "
    "on 24 November."
)


def rss(outlet: str, host: str, guid: str, title: str, summary: str, when: datetime) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{outlet}</title><link>https://{host}/</link><description>test</description>"
        f"<item><title>{title}</title><link>https://{host}/news/{guid}</link>"
        f'<guid isPermaLink="false">{guid}</guid><pubDate>{format_datetime(when)}</pubDate>'
        f"<description>{summary}</description></item></channel></rss>"
    )


def one_alert_settled(emu: Emulator, database: Path) -> bool:
    """One alert row, its message sent (edits only from now on), and no send in flight at the
    emulator: no new message for the event can arrive any more, so the inbox check is final.
    (The poll stores articles, stories and alert rows in one transaction.)"""
    rows = db_rows(database, "select status from alert")
    sent = len(rows) == 1 and rows[0][0] in ("sent", "sent_stale", "editing")
    return sent and not emu.in_flight("sendMessage")


@pytest.fixture
def bot(tg_emulator: Emulator, tmp_path: Path) -> Iterator[BotProcess]:
    with running_bot(tg_emulator, tmp_path, TOKEN) as process:
        yield process


@pytest.mark.emulator
def test_second_outlet_edits_the_alert_instead_of_a_new_message(
    tg_emulator: Emulator, bot: BotProcess, feed_server: FeedServer, tmp_path: Path
) -> None:
    database = tmp_path / "defwatch.db"  # bot_env puts the bot's SQLite file there
    user = tg_emulator.user(TOKEN, 3001)
    user.ask("/start")
    user.ask("/watch azerbaijan")
    admin = tg_emulator.user(TOKEN, ADMIN)
    now = datetime.now(UTC)

    first = feed_server.add(
        "/trend.xml", rss("Trend News", "trend.example", "t-1", TITLE, SUMMARY, now)
    )
    admin.ask(f"/addfeed {first}")
    [alert] = user.wait_messages(1, timeout=30)
    assert TITLE in alert.text and "Also reported by" not in alert.text

    near_same = SUMMARY.replace("on 24 November", "on 24 November, the ministry said")
    second = feed_server.add(
        "/apa.xml", rss("APA Defence", "apa.example", "a-77", TITLE, near_same, now)
    )
    admin.ask(f"/addfeed {second}")
    wait_until(lambda: feed_server.hits("/apa.xml") >= 1, 20, "the second outlet's first poll")
    [edited] = user.wait_messages(1, timeout=20, predicate=lambda m: m.edited)
    assert edited.message_id == alert.message_id
    assert "Also reported by: APA Defence" in edited.text and "Trend News" in edited.text
    wait_until(lambda: one_alert_settled(tg_emulator, database), 20, "one alert, sent")
    user.poll()
    assert [m for m in user.inbox if not m.edited] == [], "a second message for one event"

    russian = feed_server.add(
        "/report.xml", rss("Report.az", "report.example", "r-5", TITLE_RU, SUMMARY_RU, now)
    )
    admin.ask(f"/addfeed {russian}")
    wait_until(lambda: feed_server.hits("/report.xml") >= 1, 20, "the third outlet's first poll")
    wait_until(
        lambda: db_rows(database, "select count(*) from article")[0][0] == 3,
        20,
        "the third report stored",
    )
    assert db_rows(database, "select count(distinct story_id) from article") == [(1,)]
    wait_until(lambda: one_alert_settled(tg_emulator, database), 20, "one alert, sent")
    user.poll()
    assert [m for m in user.inbox if not m.edited] == [], "three outlets, more than one alert"
    assert db_rows(database, "select count(*) from alert") == [(1,)]
