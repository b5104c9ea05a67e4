"""The bot as a user meets it (issue 11, items 1-5, 7, 8): end to end through the emulator.

Each test sends what a user typed and asserts the reply a user now gets.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command

from bot.args import (
    Cut,
    UsageError,
    keyword_items,
    keyword_problem,
    make_resolver,
    parse_timezone,
    resolve_countries,
)
from bot.formatting import format_digest, story_item
from bot.limits import TokenBucket
from bot.parties import heading_states
from bot.timezones import zone_label
from monitors.detect.countries import default_gazetteer
from monitors.domain import StoryView
from tests.feedserver import FeedServer
from tests.test_bot_e2e import add_story, rss
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

TOKEN = "474747:DEFWATCH-UXA"


# --- pure parsing and formatting ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "zone"),
    [
        pytest.param("Asia/Baku", "Asia/Baku", id="IANA name"),
        pytest.param("asia/baku", "Asia/Baku", id="IANA name in lower case"),
        pytest.param("Europe/Baku", "Asia/Baku", id="the old example: the city decides"),
        pytest.param("baku", "Asia/Baku", id="city"),
        pytest.param("new york", "America/New_York", id="city of two words"),
        pytest.param("Azerbaijan", "Asia/Baku", id="country with one zone"),
        pytest.param("msk", "Europe/Moscow", id="alias from config"),
        pytest.param("+4", "Etc/GMT-4", id="offset"),
        pytest.param("UTC+4", "Etc/GMT-4", id="UTC offset"),
        pytest.param("GMT-5", "Etc/GMT+5", id="GMT offset, sign inverted in Etc names"),
        pytest.param("+04:00", "Etc/GMT-4", id="offset with zero minutes"),
        pytest.param("utc", "UTC", id="UTC"),
    ],
)
def test_parse_zone(typed: str, zone: str) -> None:
    assert parse_timezone(typed) == zone


@pytest.mark.parametrize(
    ("typed", "said"),
    [
        pytest.param("Bakuu", "Did you mean Asia/Baku?", id="misspelt city: nearest zone"),
        pytest.param("+5:30", "Zones at that offset now:", id="offset with minutes: places"),
        pytest.param("+15", "offsets run from -12 to +14", id="offset out of range"),
        pytest.param("Mars/Olympus", "is not a time zone", id="nothing close"),
        pytest.param("x" * 500, "is not a time zone", id="overlong"),
    ],
)
def test_parse_zone_refuses_with_a_hint(typed: str, said: str) -> None:
    with pytest.raises(UsageError, match=re.escape(said)):
        parse_timezone(typed)


@pytest.mark.parametrize(
    ("zone", "label"),
    [("Etc/GMT-4", "UTC+4"), ("Etc/GMT+5", "UTC-5"), ("Asia/Baku", "Asia/Baku")],
)
def test_zone_label(zone: str, label: str) -> None:
    assert zone_label(zone) == label


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    bucket = TokenBucket(burst=10, per_minute=6)
    assert all(bucket.take(0.0).allowed for _ in range(10))
    refused = bucket.take(0.5)
    assert not refused.allowed and refused.first_refusal and refused.wait_seconds == 10
    assert not bucket.take(1.0).first_refusal  # one warning per streak
    assert bucket.take(10.5).allowed  # a token back after 10 s at 6 a minute
    assert not bucket.take(10.6).allowed
    assert TokenBucket(burst=3, per_minute=60).take(1e9).allowed  # full on first use


@pytest.mark.parametrize(
    ("args", "codes", "asked", "unknown"),
    [
        pytest.param(["hu"], ("HU",), (), (), id="lower-case code"),
        pytest.param(["IT"], ("IT",), (), (), id="capital code that is also a word"),
        pytest.param(["it"], (), ("IT",), (), id="code that is also a word: asked"),
        pytest.param(["in", "georgia"], ("GE",), ("IN",), (), id="asked beside a name"),
        pytest.param(["zz"], (), (), ("zz",), id="not a code"),
    ],
)
def test_lower_case_codes_resolved_or_asked(
    args: list[str], codes: tuple[str, ...], asked: tuple[str, ...], unknown: tuple[str, ...]
) -> None:
    found = resolve_countries(args, make_resolver(default_gazetteer()))
    assert found.codes == codes
    assert tuple(q.code for q in found.questions) == asked
    assert tuple(u.name for u in found.unresolved) == unknown


def test_words_past_the_limit_are_noted() -> None:
    found = resolve_countries(["georgia"] * 45, make_resolver(default_gazetteer()))
    assert found.cut == Cut(40, 45, ("georgia",) * 5)


@pytest.mark.parametrize(
    ("typed", "problem"),
    [
        pytest.param("Bayraktar", None, id="plain"),
        pytest.param("صاروخ", None, id="arabic"),
        pytest.param("x" * 101, "at most 100 characters; this one has 101", id="too long"),
        pytest.param("🚀🛡", "could never match", id="emoji only"),
        pytest.param("?!", "could never match", id="punctuation only"),
        pytest.param("a b c d e f g", "1 to 6 words, not 7", id="too many words"),
    ],
)
def test_keyword_problem(typed: str, problem: str | None) -> None:
    said = keyword_problem(typed)
    assert said is None if problem is None else problem in (said or "")


def test_many_refused_keywords_are_counted() -> None:
    items, refused = keyword_items(["ok", *(["🚀"] * 9)])
    assert items == [("ok", "ok")]
    assert len(refused) == 6 and refused[-1] == "… and 4 more keywords not added."


def view(title: str, participants: tuple[str, ...], mentioned: tuple[str, ...]) -> StoryView:
    when = datetime(2026, 1, 1, tzinfo=UTC)
    return StoryView(
        1, title, None, "", when, participants, mentioned, True, "meeting_visit", 0.9, (), ()
    )


@pytest.mark.parametrize(
    ("title", "participants", "mentioned", "heading"),
    [
        pytest.param(
            "Azerbaijan, Georgia and Turkey defence ministers meet in Tbilisi",
            ("AZ", "GE"),
            ("TR",),
            ("AZ", "GE", "TR"),
            id="a list of three",
        ),
        pytest.param(
            "Азербайджан, Грузия и Турция провели встречу",
            ("AZ", "GE"),
            ("TR",),
            ("AZ", "GE", "TR"),
            id="a list in Russian",
        ),
        pytest.param(
            "Russia and China hold drills near Japan",
            ("RU", "CN"),
            ("JP",),
            ("RU", "CN"),
            id="a state named elsewhere stays mentioned",
        ),
        pytest.param(
            "Turkey delivers drones to Azerbaijan, Georgia watches",
            ("TR", "AZ"),
            ("GE",),
            ("TR", "AZ"),
            id="a comma alone is not a list",
        ),
    ],
)
def test_heading_states(
    title: str, participants: tuple[str, ...], mentioned: tuple[str, ...], heading: tuple[str, ...]
) -> None:
    assert heading_states(view(title, participants, mentioned)) == heading


def test_digest_groups_a_trilateral_story_under_all_three() -> None:
    story = view("Azerbaijan, Georgia and Turkey ministers meet", ("AZ", "GE"), ("TR",))
    digest = format_digest("Last 24 hours", [story])
    assert "🇦🇿 Azerbaijan – 🇬🇪 Georgia – 🇹🇷" in digest
    assert story_item(story, ("AZ",)).startswith("• 🇦🇿🇬🇪🇹🇷 <b>")


# --- 8. stored keywords folded again (migration 0003) -----------------------------------------


async def test_migration_refolds_stored_keywords(tmp_path: Path) -> None:
    from sqlalchemy import text

    from monitors.db import _alembic_config, create_engine, migrate

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(lambda c: command.upgrade(_alembic_config(c), "0002"))
            await connection.execute(
                text(
                    "insert into chat (id, type, active, delivery_mode, digest_time, timezone,"
                    " scope, subscribed_at) values (7, 'private', 1, 'instant', '08:00', 'UTC',"
                    " 'cooperation', '2026-01-01 00:00:00')"
                )
            )
            old = [  # (kind, value as ASCII folding stored it, display as typed)
                ("keyword", "rocket shield", "🚀🛡"),
                ("keyword", "swrwkh", "صاروخ"),
                ("keyword", "iskander", "Искандер"),
                ("keyword", "azerbaydzhan", "Азербайджан"),
                ("keyword", "azerbaidzhan", "Азербаиджан"),  # now the same phrase: kept once
                ("keyword", "bayraktar", "Bayraktar"),
                ("exclude", "parad", "Парад"),
            ]
            for kind, value, display in old:
                await connection.execute(
                    text(
                        "insert into watch_rule (chat_id, kind, value, display)"
                        " values (7, :kind, :value, :display)"
                    ),
                    {"kind": kind, "value": value, "display": display},
                )
        await migrate(engine)
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    text("select kind, value, display from watch_rule order by id")
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("keyword", "صاروخ", "صاروخ"),
        ("keyword", "искандер", "Искандер"),
        ("keyword", "азербаиджан", "Азербайджан"),
        ("keyword", "bayraktar", "Bayraktar"),
        ("exclude", "парад", "Парад"),
    ]


# --- end to end -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ux_bot(tg_emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BotProcess]:
    with running_bot(tg_emulator, tmp_path_factory.mktemp("uxa"), TOKEN) as process:
        yield process


def user(emu: Emulator, chat_id: int, *commands: str) -> TgUser:
    person = emu.user(TOKEN, chat_id)
    for typed in commands:
        person.ask(typed)
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
    print(f"{saved.text}\n---\n{unsure.text}")


# --- 7. a burst is fine, a flood is held ------------------------------------------------------


@pytest.mark.emulator
def test_burst_allowed_flood_held(tg_emulator: Emulator, tmp_path: Path) -> None:
    token = "484848:DEFWATCH-BURST"
    with running_bot(tg_emulator, tmp_path, token, per_minute=6, burst=10):
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
        print(f"flood of 20: {len(answered)} answered, one warning: {refused[0]}")
        time.sleep(10.5)  # one token back at 6 a minute
        assert "Stories stored" in person.ask("/status").text


# --- 3. every cut is said ---------------------------------------------------------------------

MANY_COUNTRIES = [
    "albania", "algeria", "angola", "argentina", "armenia", "australia", "austria", "azerbaijan",
    "bahrain", "bangladesh", "belarus", "belgium", "bolivia", "botswana", "brazil", "bulgaria",
    "cambodia", "cameroon", "canada", "chad", "chile", "china", "colombia", "croatia", "cuba",
    "cyprus", "denmark", "ecuador", "egypt", "eritrea", "estonia", "ethiopia", "finland",
    "france", "gabon", "georgia", "germany", "ghana", "greece", "guatemala", "guinea", "haiti",
    "honduras", "hungary", "iceland", "india", "indonesia", "iran", "iraq", "ireland", "israel",
    "italy", "jamaica", "japan", "jordan", "kazakhstan", "kenya", "kuwait", "laos", "latvia",
]  # fmt: skip


@pytest.mark.emulator
def test_every_cut_is_said(tg_emulator: Emulator, ux_bot: BotProcess) -> None:
    person = user(tg_emulator, 13_001, "/start")
    watched = person.ask("/watch " + " ".join(MANY_COUNTRIES)).text
    assert "Only the first 40 words of one /watch are read; 20 more were not:" in watched
    assert "not: guinea, haiti, honduras, hungary, iceland … and 15 more. Send them in another" in (
        watched
    )
    assert "limit of 20 watch items reached" in watched
    print(f"/watch with 60 names:\n{watched}")

    ten = "georgia turkey armenia iran russia china india japan france italy"
    latest = person.ask(f"/latest {ten}").text
    assert "Showing 8 of the 10 countries (at most 8 in one /latest)" in latest
    assert "not shown: 🇫🇷 France, 🇮🇹 Italy" in latest
    print(f"/latest with 10 countries ends:\n{latest[-200:]}")

    other = user(tg_emulator, 13_002, "/start")
    huge = "x" * 5000
    refused = other.ask(f"/keywords add {huge}").text
    assert "Now watching" not in refused
    assert "a keyword has at most 100 characters; this one has 5000" in refused
    print(f"/keywords add x*5000:\n{refused}")
    rules = "select count(*) from watch_rule where chat_id = 13002"
    assert db_rows(ux_bot.db, rules) == [(0,)]


# --- 4. lower-case codes ----------------------------------------------------------------------


@pytest.mark.emulator
def test_lower_case_codes(tg_emulator: Emulator, ux_bot: BotProcess) -> None:
    person = user(tg_emulator, 14_001, "/start")
    assert "Now watching: Hungary." in person.ask("/watch hu").text
    asked = person.ask("/watch it")
    assert "“it” is also a word: did you mean 🇮🇹 Italy? Tap to watch it." in asked.text
    print(f"/watch it:\n{asked.text}\nbuttons: {asked.buttons}")
    person.press(asked, text="Italy")
    wait_until(
        lambda: ("IT",) in db_rows(ux_bot.db, "select value from watch_rule where chat_id = 14001"),
        10,
        "the button to watch Italy",
    )
    add_story(
        ux_bot.db,
        14_100,
        "India and France sign submarine deal",
        ("IN", "FR"),
        datetime.now(UTC) - timedelta(hours=2),
    )
    question = person.ask("/latest in")
    assert "did you mean 🇮🇳 India?" in question.text
    person.press(question, text="India")
    [page] = person.wait_messages(1, predicate=lambda m: m.edited)
    assert "India and France sign submarine deal" in page.text


# --- 8. keywords kept as typed ----------------------------------------------------------------


@pytest.mark.emulator
def test_keywords_kept_as_typed(tg_emulator: Emulator, ux_bot: BotProcess) -> None:
    person = user(tg_emulator, 18_001, "/start")
    refused = person.ask("/keywords add 🚀🛡").text
    assert "Not added “🚀🛡”: it has no letters or digits, so it could never match a story." in (
        refused
    )
    assert "Now watching: صاروخ, מִלְחָמָה." in person.ask("/keywords add صاروخ, מִלְחָמָה").text
    print(f"/keywords add 🚀🛡:\n{refused}")
    rules = "select value, display from watch_rule where chat_id = 18001 order by id"
    assert db_rows(ux_bot.db, rules) == [("صاروخ", "صاروخ"), ("מלחמה", "מִלְחָמָה")]
    # (watch rules are read through the watch-version row: this process sees the edit at once)
    now = datetime.now(UTC)
    add_story(
        ux_bot.db, 18_100, "Rocket shield drills", ("US", "PL"), now, summary="Rocket shield."
    )
    add_story(ux_bot.db, 18_101, "صاروخ جديد للجيش", ("EG", "SA"), now, summary="تعاون عسكري")
    [alert] = person.wait_messages(1, timeout=20)
    assert "صاروخ جديد" in alert.text
    # both stories are stored with their alerts; once the outbox is empty, the count is final
    settled(ux_bot.db, person.chat_id)
    assert tg_emulator.sent(TOKEN, person.chat_id, "Rocket shield") == 0, (
        "a keyword matched a story it does not occur in"
    )


# --- 2 and 5: a story through the real pipeline: why in words, every listed state's flag ------

TRILATERAL = "Azerbaijan, Georgia and Turkey defence ministers meet in Tbilisi"
TRILATERAL_SUMMARY = (
    "The defence ministers of Azerbaijan, Georgia and Turkey met in Tbilisi and discussed "
    "trilateral military cooperation and joint exercises."
)


@pytest.fixture(scope="module")
def trilateral_alert(
    tg_emulator: Emulator, ux_bot: BotProcess
) -> Iterator[tuple[TgUser, BotMessage]]:
    person = user(tg_emulator, 12_001, "/start", "/watch azerbaijan")
    with FeedServer() as feeds:
        story = ("tri-1", TRILATERAL, TRILATERAL_SUMMARY, datetime.now(UTC) - timedelta(hours=1))
        url = feeds.add("/tri.xml", rss(story))
        assert "Feed added" in tg_emulator.user(TOKEN, ADMIN).ask(f"/addfeed {url}").text
        [alert] = person.wait_messages(1, timeout=30)
        sent = "select message_id from alert where chat_id = 12001 and status = 'sent'"
        # The row is marked sent once Telegram accepted the message, a moment after it arrived.
        wait_until(lambda: db_rows(ux_bot.db, sent), 10, "the alert marked sent")
        yield person, alert


@pytest.mark.emulator
def test_alert_says_why_in_words(trilateral_alert: tuple[TgUser, BotMessage]) -> None:
    person, alert = trilateral_alert
    [why_line] = [line for line in alert.text.splitlines() if line.startswith("Why:")]
    assert why_line.startswith("Why: defence ministers met; military cooperation discussed")
    reasons = why_line.removeprefix("Why: ").split("; ")
    assert len(reasons) <= 3 and len(set(reasons)) == len(reasons)
    for internal in ("term:", "countries:", "(+0.", "meeting_visit", "score:"):
        assert internal not in alert.text
    evidence = person.ask("/why", reply_to=alert).text
    print(f"{why_line}\n/why as a reply:\n{evidence[:600]}")
    assert TRILATERAL in evidence and "term:" in evidence and "score" in evidence
    assert "not one of my alerts" in person.ask("/why", reply_to=evidence_message(person)).text
    assert "Reply /why to an alert" in person.ask("/why").text


@pytest.mark.emulator
def test_why_button_shows_the_evidence(trilateral_alert: tuple[TgUser, BotMessage]) -> None:
    person, alert = trilateral_alert
    button = alert.button("Why")
    assert len(str(button["callback_data"]).encode()) <= 64
    person.press(alert, text="Why")
    [answer] = person.wait_messages(1, predicate=lambda m: not m.edited)
    print(f"Why button:\n{answer.text[:600]}")
    assert TRILATERAL in answer.text and "score" in answer.text  # the story, its score
    assert "defence ministers met" in answer.text  # the reasons in words
    assert "term:" in answer.text  # and the raw evidence
    replied = answer.params.get("reply_parameters") or {}
    if isinstance(replied, str):
        replied = json.loads(replied)
    assert replied.get("message_id") == alert.message_id  # a reply to that alert
    assert answer.text == person.ask("/why", reply_to=alert).text  # what /why shows


def evidence_message(person: TgUser) -> BotMessage:
    """A message of the bot that is not an alert (the answer to /help)."""
    return person.ask("/help")


@pytest.mark.emulator
def test_three_countries_three_flags(trilateral_alert: tuple[TgUser, BotMessage]) -> None:
    person, alert = trilateral_alert
    flags = ("🇦🇿", "🇬🇪", "🇹🇷")
    heading = alert.text.splitlines()[1]  # the line under the title
    assert all(f in heading for f in flags), heading
    latest = person.ask("/latest azerbaijan").text
    [item] = [line for line in latest.splitlines() if TRILATERAL in line]
    assert item.startswith("• 🇦🇿🇬🇪🇹🇷 "), item
    digest = person.ask("/digest").text.splitlines()
    at = next(i for i, line in enumerate(digest) if TRILATERAL in line)
    assert all(f in digest[at - 1] for f in flags), digest  # the group's heading
    print(f"alert:\n{alert.text}\n/latest item: {item}\n/digest heading: {digest[at - 1]}")
