"""Delivery: the error-mapping table, and the outbox consumer against a recording bot."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import make_url, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)

from bot.delivery import Deliverer
from bot.digests import send_held
from bot.outcomes import DeliveryOutcome, backoff, outcome_for
from monitors import subscriptions
from monitors.db import async_url, open_database
from monitors.models import Alert, Article, Chat, Feed, Story, StoryCountry, WatchRule
from tests import dbfixtures

# the database fixtures, on SQLite and (when configured) PostgreSQL
database_url, sessions = dbfixtures.database_url, dbfixtures.sessions

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _ptb_timedelta(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # RetryAfter without PTB's deprecation warning


def retry_after(seconds: int) -> RetryAfter:
    return RetryAfter(timedelta(seconds=seconds))


CASES = [
    pytest.param(
        lambda: retry_after(7), DeliveryOutcome("retry", retry_after=7.0), id="RetryAfter waits"
    ),
    pytest.param(lambda: TimedOut(), DeliveryOutcome("retry"), id="TimedOut backs off"),
    pytest.param(
        lambda: NetworkError("connection reset"),
        DeliveryOutcome("retry"),
        id="NetworkError backs off",
    ),
    pytest.param(
        lambda: Forbidden("Forbidden: bot was blocked by the user"),
        DeliveryOutcome("deactivate"),
        id="blocked deactivates",
    ),
    pytest.param(
        lambda: Forbidden("Forbidden: bot was kicked from the group chat"),
        DeliveryOutcome("deactivate"),
        id="kicked deactivates",
    ),
    pytest.param(
        lambda: ChatMigrated(-100123),
        DeliveryOutcome("migrate", new_chat_id=-100123),
        id="ChatMigrated moves",
    ),
    pytest.param(
        lambda: BadRequest("Can't parse entities: unsupported start tag"),
        DeliveryOutcome("fail"),
        id="BadRequest fails",
    ),
    pytest.param(
        lambda: BadRequest("Chat not found"), DeliveryOutcome("fail"), id="chat not found fails"
    ),
    pytest.param(
        lambda: BadRequest("Message is not modified: specified new message content"),
        DeliveryOutcome("ignore"),
        id="not modified is ignored",
    ),
    pytest.param(
        lambda: BadRequest("Message to edit not found"),
        DeliveryOutcome("ignore"),
        id="edit target gone is ignored",
    ),
    pytest.param(
        lambda: InvalidToken("Not Found"), DeliveryOutcome("retry"), id="InvalidToken keeps alert"
    ),
    pytest.param(
        lambda: Conflict("terminated by other getUpdates"),
        DeliveryOutcome("retry"),
        id="Conflict retries",
    ),
    pytest.param(
        lambda: RuntimeError("bug"), DeliveryOutcome("retry"), id="unexpected error retries"
    ),
]


@pytest.mark.parametrize(("make", "expected"), CASES)
def test_outcome_for(make: Any, expected: DeliveryOutcome) -> None:
    got = outcome_for(make())
    assert (got.action, got.retry_after, got.new_chat_id) == (
        expected.action,
        expected.retry_after,
        expected.new_chat_id,
    )


@pytest.mark.parametrize(
    ("attempts", "seconds"),
    [
        pytest.param(0, 5.0, id="first"),
        pytest.param(3, 40.0, id="doubling"),
        pytest.param(30, 3600.0, id="capped at an hour"),
    ],
)
def test_backoff(attempts: int, seconds: float) -> None:
    assert backoff(attempts) == seconds


@dataclass
class Sent:
    message_id: int


class RecordingBot:
    """Stands in for telegram.Bot: records sends, raises scripted errors per chat."""

    def __init__(self, errors: dict[int, list[Exception]] | None = None) -> None:
        self.errors = errors or {}
        self.sent: list[tuple[int, str]] = []

    async def send_message(self, chat_id: int, text: str, **_: Any) -> Sent:
        queue = self.errors.get(chat_id)
        if queue:
            raise queue.pop(0)
        self.sent.append((chat_id, text))
        return Sent(len(self.sent))


async def seed(
    sessions: async_sessionmaker[AsyncSession], chat_ids: list[int], stories: int = 1
) -> None:
    async with sessions.begin() as s:
        for story_id in range(2, stories + 1):
            s.add(
                Story(
                    id=story_id,
                    title=f"Story {story_id}",
                    summary="",
                    published_at=NOW,
                    first_seen_at=NOW,
                    last_seen_at=NOW,
                    is_defence_cooperation=True,
                )
            )
        s.add(
            Story(
                id=1,
                title="Azerbaijan & China <talk>",
                url="https://x.example/1",
                summary="s",
                published_at=NOW,
                first_seen_at=NOW,
                last_seen_at=NOW,
                is_defence_cooperation=True,
            )
        )
        s.add(
            StoryCountry(
                story_id=1,
                code="AZ",
                role="participant",
                published_at=NOW,
                is_defence_cooperation=True,
            )
        )
        for chat_id in chat_ids:
            await subscriptions.subscribe(s, chat_id, type="private", title=None, now=NOW)
            s.add(WatchRule(chat_id=chat_id, kind="country", value="AZ", display="Azerbaijan"))
            s.add_all(
                Alert(
                    chat_id=chat_id,
                    story_id=story_id,
                    status="pending",
                    next_attempt_at=NOW,
                    matched=["country:AZ"],
                    created_at=NOW,
                )
                for story_id in range(1, stories + 1)
            )


async def statuses(sessions: async_sessionmaker[AsyncSession]) -> dict[int, str]:
    async with sessions() as s:
        return dict((await s.execute(select(Alert.chat_id, Alert.status))).all())


@pytest.mark.slow  # waits out a flood-control retry (about 3 s)
async def test_deliver_maps_each_outcome(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.delivery")
    await seed(sessions, [1, 2, 3, 4, 5])
    bot = RecordingBot(
        {
            2: [retry_after(3)],
            3: [Forbidden("Forbidden: bot was blocked by the user")],
            4: [BadRequest("Can't parse entities")],
            5: [ChatMigrated(-1005)],
        }
    )
    deliverer = Deliverer(bot, sessions, clock=lambda: NOW)  # type: ignore[arg-type]
    report = await deliverer.deliver_due()
    assert await statuses(sessions) == {
        1: "sent",
        2: "pending",
        3: "dropped",
        4: "failed",
        -1005: "sent",  # migrated, then sent at once under the new id
    }
    assert report.deactivated == 1 and report.migrated == 1 and report.retry_after_seen == 1
    async with sessions() as s:
        assert (await s.get(Chat, 3)).active is False  # type: ignore[union-attr]
        assert await s.get(Chat, 5) is None and await s.get(Chat, -1005) is not None
        retry = await s.scalar(select(Alert).where(Alert.chat_id == 2))
        assert retry is not None and retry.next_attempt_at == NOW + timedelta(seconds=3)
    assert [chat for chat, _ in bot.sent] == [1, -1005]
    # each log line about a chat carries it as context (``--log-format json`` shows it)
    about_chats = [r for r in caplog.records if "chat " in r.getMessage()]
    assert {getattr(r, "chat", None) for r in about_chats} == {3, 4, 5}
    await deliverer.deliver_due()  # chat 2 waits for retry_after
    assert len(bot.sent) == 2
    later = Deliverer(bot, sessions, clock=lambda: NOW + timedelta(seconds=4))  # type: ignore[arg-type]
    await later.deliver_due()
    assert (await statuses(sessions))[2] == "sent"
    assert [c for c, _ in bot.sent].count(2) == 1
    assert "&lt;talk&gt;" in bot.sent[0][1]


@pytest.mark.parametrize("queued", ["pending", "held"], ids=["instant", "digest"])
async def test_queued_alerts_no_longer_wanted_are_skipped(
    sessions: async_sessionmaker[AsyncSession], queued: str
) -> None:
    """Chat 1 mutes AZ-CN, chat 2 unwatches AZ, chat 3 changes nothing; then delivery runs."""
    await seed(sessions, [1, 2, 3])
    async with sessions.begin() as s:
        s.add(StoryCountry(story_id=1, code="CN", role="participant", published_at=NOW))
        await s.execute(update(Alert).values(status=queued))
        await subscriptions.mute_pair(s, 1, ("CN", "AZ"), until=NOW + timedelta(days=7))
        await subscriptions.remove_rules(s, 2, "country", ["AZ"])
    bot = RecordingBot()
    deliverer = Deliverer(bot, sessions, clock=lambda: NOW)  # type: ignore[arg-type]
    if queued == "held":
        assert [await send_held(deliverer, chat, "Digest") for chat in (1, 2, 3)] == [0, 0, 1]
    else:
        assert (await deliverer.deliver_due()).skipped == 2
    assert await statuses(sessions) == {1: "skipped", 2: "skipped", 3: "sent"}
    assert [chat for chat, _ in bot.sent] == [3]
    async with sessions() as s:
        reasons = dict((await s.execute(select(Alert.chat_id, Alert.last_error))).all())
    assert reasons[1].startswith("muted AZ-CN until")
    assert reasons[2] == "no longer watched: country:AZ"


async def test_expired_lease_is_reclaimed(sessions: async_sessionmaker[AsyncSession]) -> None:
    from monitors import outbox

    await seed(sessions, [1])
    async with sessions.begin() as s:
        assert len(await outbox.claim_due(s, now=NOW, lease=timedelta(seconds=30), limit=10)) == 1
    async with sessions.begin() as s:  # another worker, while the lease holds: nothing
        assert (
            await outbox.claim_due(
                s, now=NOW + timedelta(seconds=10), lease=timedelta(seconds=30), limit=10
            )
            == []
        )
    async with sessions.begin() as s:  # the first worker died: the lease runs out
        assert (
            len(
                await outbox.claim_due(
                    s, now=NOW + timedelta(seconds=31), lease=timedelta(seconds=30), limit=10
                )
            )
            == 1
        )


async def test_a_chat_that_is_gone_stops_its_queue(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, [1, 2], stories=3)
    bot = RecordingBot({1: [Forbidden("Forbidden: user is deactivated")], 2: [ChatMigrated(-9)]})
    await Deliverer(bot, sessions, clock=lambda: NOW).deliver_due()  # type: ignore[arg-type]
    async with sessions() as s:
        rows = (await s.execute(select(Alert.chat_id, Alert.status))).all()
    assert sorted(rows) == [(-9, "sent")] * 3 + [(1, "dropped")] * 3
    assert [chat for chat, _ in bot.sent] == [-9, -9, -9]  # in order, to the new id only


# --- story edits: "also reported by" (issue 8) ------------------------------------------------


class EditingBot(RecordingBot):
    """Also records edits; ``edit_errors`` are raised by the next edits, in order."""

    def __init__(self, edit_errors: list[Exception] | None = None) -> None:
        super().__init__()
        self.edit_errors = edit_errors or []
        self.edits: list[tuple[int, int, str]] = []

    async def edit_message_text(
        self, text: str, *, chat_id: int, message_id: int, **_: Any
    ) -> Sent:
        if self.edit_errors:
            raise self.edit_errors.pop(0)
        self.edits.append((chat_id, message_id, text))
        return Sent(message_id)


async def report(sessions: async_sessionmaker[AsyncSession], outlet: str) -> None:
    """Another outlet's article joins story 1."""
    async with sessions.begin() as s:
        feed = Feed(url=f"https://{outlet}.example/rss", title=outlet, created_at=NOW)
        s.add(feed)
        await s.flush()
        s.add(
            Article(
                feed_id=feed.id,
                entry_key=outlet,
                url=f"https://{outlet}.example/1",
                title="t",
                published_at=NOW,
                fetched_at=NOW,
                story_id=1,
            )
        )


async def request_edits(sessions: async_sessionmaker[AsyncSession], at: datetime) -> int:
    from monitors import outbox

    async with sessions.begin() as s:
        return await outbox.request_story_edits(s, 1, now=at)


async def edited_counts(sessions: async_sessionmaker[AsyncSession]) -> dict[int, tuple[str, int]]:
    async with sessions() as s:
        rows = await s.execute(select(Alert.chat_id, Alert.status, Alert.edited_count))
        return {chat: (status, count) for chat, status, count in rows}


async def test_story_edits_at_most_three_and_once_a_minute(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, [1])
    bot = EditingBot()
    clock = [NOW]
    deliverer = Deliverer(bot, sessions, clock=lambda: clock[0])  # type: ignore[arg-type]
    await report(sessions, "Trend")
    await deliverer.deliver_due()
    assert await request_edits(sessions, NOW) == 1
    await deliverer.edit_stale()  # still one outlet: nothing to add, no edit spent
    assert bot.edits == [] and await edited_counts(sessions) == {1: ("sent", 0)}
    await report(sessions, "APA")
    assert await request_edits(sessions, NOW) == 1
    assert (await statuses(sessions))[1] == "sent_stale"  # still sent: never sent again
    assert (await deliverer.deliver_due()).sent == 0
    assert (await deliverer.edit_stale()).sent == 1
    assert bot.edits[0][:2] == (1, 1) and len(bot.sent) == 1
    assert "Also reported by: APA" in bot.edits[0][2]
    assert await edited_counts(sessions) == {1: ("sent", 1)}
    await request_edits(sessions, NOW)
    assert (await deliverer.edit_stale()).sent == 0  # not within 60 s of the last edit
    for minutes in (1, 2):
        clock[0] = NOW + timedelta(minutes=minutes, seconds=1)
        assert (await deliverer.edit_stale()).sent == 1
        await request_edits(sessions, clock[0])
    assert await edited_counts(sessions) == {1: ("sent", 3)}  # the third edit was the last
    clock[0] = NOW + timedelta(hours=1)
    assert (await deliverer.edit_stale()).sent == 0 and len(bot.edits) == 3


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda: BadRequest(
                "Message is not modified: specified new message content is the same"
            ),
            ("sent", 1),
            id="not modified counts as done",
        ),
        pytest.param(
            lambda: BadRequest("Message to edit not found"), ("sent", 1), id="deleted message"
        ),
        pytest.param(lambda: retry_after(5), ("sent_stale", 0), id="flood control: later"),
        pytest.param(
            lambda: BadRequest("Can't parse entities"), ("sent", 3), id="other error: give up"
        ),
    ],
)
async def test_story_edit_errors(
    sessions: async_sessionmaker[AsyncSession], make: Any, expected: tuple[str, int]
) -> None:
    await seed(sessions, [1])
    bot = EditingBot([make()])
    deliverer = Deliverer(bot, sessions, clock=lambda: NOW)  # type: ignore[arg-type]
    await deliverer.deliver_due()
    await report(sessions, "Trend")
    await report(sessions, "APA")
    await request_edits(sessions, NOW)
    await deliverer.edit_stale()
    assert (await edited_counts(sessions))[1] == expected
    assert len(bot.sent) == 1  # never a new message


async def test_digest_messages_are_never_edited(sessions: async_sessionmaker[AsyncSession]) -> None:
    from monitors import outbox

    await seed(sessions, [1])
    async with sessions.begin() as s:
        await s.execute(update(Alert).values(status="held"))
    deliverer = Deliverer(EditingBot(), sessions, clock=lambda: NOW)  # type: ignore[arg-type]
    assert await send_held(deliverer, 1, "Digest") == 1
    async with sessions.begin() as s:
        assert await outbox.request_story_edits(s, 1, now=NOW) == 0


class DatabaseSwitch:
    """Takes one PostgreSQL database away (no new connections, current ones ended) and back;
    the server keeps running, as in a failover or a restart of the database."""

    def __init__(self, url: str) -> None:
        server = dbfixtures.postgres_server_url()
        assert server is not None
        self.name = make_url(url).database
        self.admin = create_async_engine(async_url(server), isolation_level="AUTOCOMMIT")

    async def _run(self, statement: str) -> None:
        async with self.admin.connect() as connection:
            await connection.execute(text(statement))

    async def away(self) -> None:
        await self._run(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS false')
        await self._run(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            f"WHERE datname = '{self.name}' AND pid <> pg_backend_pid()"
        )

    async def back(self) -> None:
        await self._run(f'ALTER DATABASE "{self.name}" ALLOW_CONNECTIONS true')


class CutAfterFirstSend(RecordingBot):
    """Telegram accepts the first message, and the database goes away right after."""

    def __init__(self, switch: DatabaseSwitch) -> None:
        super().__init__()
        self.switch = switch

    async def send_message(self, chat_id: int, text: str, **kwargs: Any) -> Sent:
        sent = await super().send_message(chat_id, text, **kwargs)
        if len(self.sent) == 1:
            await self.switch.away()
        return sent


@pytest.mark.postgres
@pytest.mark.parametrize("queued", ["pending", "held"], ids=["instant", "digest"])
async def test_a_send_the_database_could_not_record_is_not_repeated(
    postgres_url: str, queued: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Sent, then the database refuses the "sent" mark: the mark is held and written when the
    database is back, and nothing is claimed or sent again meanwhile, however long it takes."""
    engine, sessions = await open_database(postgres_url)
    switch = DatabaseSwitch(postgres_url)
    try:
        await seed(sessions, [1])
        async with sessions.begin() as s:
            await s.execute(update(Alert).values(status=queued))
        bot = CutAfterFirstSend(switch)
        now = [NOW]
        deliverer = Deliverer(bot, sessions, clock=lambda: now[0], lease=30)  # type: ignore[arg-type]

        async def deliver() -> None:
            if queued == "held":
                await send_held(deliverer, 1, "Digest")
            else:
                await deliverer.deliver_due()

        await deliver()
        assert len(bot.sent) == 1 and deliverer.unrecorded == 1
        assert "holding them" in caplog.text
        for minutes in (1, 5, 60):  # the claim expired long ago; still nothing is sent twice
            now[0] = NOW + timedelta(minutes=minutes)
            await deliver()
        assert len(bot.sent) == 1 and deliverer.unrecorded == 1

        await switch.back()
        for _ in range(3):  # the pool may first hand out a connection the outage ended
            await deliver()
            if not deliverer.unrecorded:
                break
        assert deliverer.unrecorded == 0 and len(bot.sent) == 1
        assert await statuses(sessions) == {1: "sent"}
    finally:
        await switch.back()
        await switch.admin.dispose()
        await engine.dispose()
