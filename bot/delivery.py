"""The outbox consumer: leases due alerts, sends them, records what happened.

Telegram errors are mapped to outcomes in exactly one place, ``bot.outcomes.outcome_for``.
Sends are paced by PTB's ``AIORateLimiter`` (configured with ``max_retries=0`` so a
``RetryAfter`` reaches us); each result is committed right after its send, so a crash
can repeat at most the messages that were in flight (see ``monitors.outbox``).

A chat receives a burst of alerts oldest story first. Each alert carries buttons to unwatch
the countries it matched, to mute its country pair for a week, and to show why it was sent
(``bot.buttons``).

Mutes count at delivery time too: just before each send (and before a digest), the alert is
checked against the chat's current watch (``monitors.watch.WatchIndex.withdrawn``). An alert
queued before its chat stopped, muted the story's pair or unwatched what it matched is not
sent; it is marked ``skipped`` with the reason.

A send that Telegram accepted is recorded (``sent``) right after it. When the database
refuses that write (an outage, a restart, a full connection pool), the record is held in
memory and written before anything else is claimed: the alert is not claimed, and so not
sent, a second time while the database is away (``record_sends``). Only a process that
stops before the database comes back loses what it held (it says so in the log); those
alerts are sent again after their claims expire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import Bot

from bot import formatting
from bot.buttons import alert_markup
from bot.i18n import Tr, spoken, tr
from bot.outcomes import Action, DeliveryOutcome, DeliveryReport, backoff, outcome_for
from monitors import metrics, outbox, store, subscriptions, watch
from monitors.domain import StoryView

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # network failures before an alert is given up as failed
BATCH = 30
CONCURRENCY = 8


Sessions = async_sessionmaker[AsyncSession]
Clock = Callable[[], datetime]
# What a send did, to be written in a transaction (``Deliverer.record_sends``).
Record = Callable[[AsyncSession], Awaitable[None]]

# The database is away (refused, dropped, restarting, pool exhausted), not wrong: retry later.
DATABASE_AWAY = (DBAPIError, PoolTimeout, OSError)


def utcnow() -> datetime:
    return datetime.now(UTC)


def oldest_first(
    alerts: Sequence[outbox.ClaimedAlert], stories: dict[int, StoryView]
) -> list[outbox.ClaimedAlert]:
    """A burst of alerts in the order the stories happened (a feed lists its newest first)."""
    never = datetime.max.replace(tzinfo=UTC)  # a story gone meanwhile: last, it is not sent

    def when(alert: outbox.ClaimedAlert) -> tuple[datetime, int]:
        story = stories.get(alert.story_id)
        return (story.published_at if story is not None else never, alert.id)

    return sorted(alerts, key=when)


async def give_up(
    session: AsyncSession,
    alert_ids: Sequence[int],
    chat_id: int,
    outcome: DeliveryOutcome,
    report: DeliveryReport,
    *,
    for_good: bool,
) -> None:
    """Mark the alerts failed and log why: after the last network retry (``for_good``, a
    warning) or on an error no retry can fix (an error)."""
    await outbox.mark_failed(session, alert_ids, error=outcome.reason)
    report.failed += len(alert_ids)
    log.log(
        logging.WARNING if for_good else logging.ERROR,
        "alerts %s to chat %s failed%s: %s",
        list(alert_ids),
        chat_id,
        " for good" if for_good else "",
        outcome.reason,
        extra={"chat": chat_id},
    )


class Deliverer:
    """Drains the outbox through one bot; one instance per application."""

    def __init__(
        self,
        bot: Bot,
        sessions: Sessions,
        *,
        lease: float = 60.0,
        clock: Clock = utcnow,
        batch: int = BATCH,
        concurrency: int = CONCURRENCY,
    ):
        self.bot = bot
        self.sessions = sessions
        self.lease = timedelta(seconds=lease)
        self.clock = clock
        self.batch = batch
        self.concurrency = concurrency
        self._paused_until = 0.0  # monotonic; set by RetryAfter so the batch stops hammering
        self._write_lock = asyncio.Lock()
        self._unrecorded: list[Record] = []  # sends Telegram accepted, not yet written

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[AsyncSession]:
        """One short write transaction at a time.

        Concurrent SQLite writers wait in its busy handler, which sleeps up to 100 ms at a time;
        that would widen the window in which a sent message is not yet marked as sent.
        """
        async with self._write_lock, self.sessions.begin() as session:
            yield session

    async def deliver_due(self, keep_going: Callable[[], bool] = lambda: True) -> DeliveryReport:
        """Send due alerts, batch by batch, until none is due or ``keep_going()`` is False."""
        report = DeliveryReport()
        while keep_going():
            if not await self.flush_unrecorded():  # claim nothing until earlier sends are written
                break
            async with self.sessions.begin() as session:
                claimed = await outbox.claim_due(
                    session, now=self.clock(), lease=self.lease, limit=self.batch
                )
                stories = {
                    s.id: s
                    for s in await store.story_views(session, sorted({a.story_id for a in claimed}))
                }
                locales = await subscriptions.chat_locales(session, {a.chat_id for a in claimed})
            if not claimed:
                break
            # One task per chat, its alerts in order: Telegram allows about one message per
            # second per chat, and a chat that is gone or moved stops its own queue.
            by_chat: dict[int, list[outbox.ClaimedAlert]] = {}
            for alert in oldest_first(claimed, stories):
                by_chat.setdefault(alert.chat_id, []).append(alert)
            gate = asyncio.Semaphore(self.concurrency)
            await asyncio.gather(
                *(
                    self._deliver_chat(
                        gate, alerts, stories, report, keep_going, locales.get(alerts[0].chat_id)
                    )
                    for alerts in by_chat.values()
                )
            )
        return report

    async def _deliver_chat(
        self,
        gate: asyncio.Semaphore,
        alerts: list[outbox.ClaimedAlert],
        stories: dict[int, StoryView],
        report: DeliveryReport,
        keep_going: Callable[[], bool] = lambda: True,
        locale: tuple[str | None, str] | None = None,
    ) -> None:
        speech = spoken(locale)
        async with gate:
            for index, alert in enumerate(alerts):
                if not keep_going():  # stopping: sends under way finish, the rest goes back
                    async with self._writing() as session:
                        rest = [a.id for a in alerts[index:]]
                        await outbox.release_now(session, rest, now=self.clock())
                    return
                action = await self._deliver_one(alert, stories.get(alert.story_id), report, speech)
                if action == "migrate":  # the rest moved with the chat: send them at once
                    async with self._writing() as session:
                        rest = [a.id for a in alerts[index + 1 :]]
                        await outbox.release_now(session, rest, now=self.clock())
                if action in ("migrate", "deactivate", "unrecorded"):
                    return

    async def _wait_if_paused(self) -> None:
        delay = self._paused_until - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    async def _deliver_one(
        self,
        alert: outbox.ClaimedAlert,
        story: StoryView | None,
        report: DeliveryReport,
        speech: tuple[Tr, str] = (tr(None), "UTC"),
    ) -> Action:
        if story is None:  # deleted by retention while queued
            async with self._writing() as session:
                await outbox.mark_failed(session, [alert.id], error="story no longer stored")
            return "fail"
        await self._wait_if_paused()
        if not await self.still_wanted([alert], {story.id: story}, report):
            return "skipped"
        try:
            t, zone = speech
            message = await self.bot.send_message(
                alert.chat_id,
                formatting.format_alert(story, alert.matched, t=t, zone=zone),
                reply_markup=alert_markup(story.participants, alert.matched, t, story_id=story.id),
            )
        except Exception as exc:  # every failure is classified by outcome_for
            outcome = await self.record_failure(
                [alert.id], alert.chat_id, alert.attempts, exc, report
            )
            return outcome.action
        sent_at, message_id = self.clock(), message.message_id
        recorded = await self.record_sends(
            lambda session: outbox.mark_sent(
                session, [alert.id], message_id=message_id, now=sent_at
            )
        )
        report.sent += 1
        report.outcomes.append("sent")
        # The database is away: this chat's other claimed alerts wait for their claims to
        # expire (unsent, so nothing repeats) instead of piling up more unwritten sends.
        return "sent" if recorded else "unrecorded"

    async def record_sends(self, record: Record) -> bool:
        """Write what an accepted send did; False when the database refused (then it is held
        in memory and written by the next ``flush_unrecorded``)."""
        self._unrecorded.append(record)
        return await self.flush_unrecorded()

    async def flush_unrecorded(self) -> bool:
        """Write the held records of accepted sends, oldest first, in one transaction; True
        when none is left."""
        async with self._write_lock:
            records = list(self._unrecorded)
            if not records:
                return True
            try:
                async with self.sessions.begin() as session:
                    for record in records:
                        await record(session)
            except DATABASE_AWAY as exc:
                log.warning(
                    "the database refused to record %d sent messages (%s); holding them, and "
                    "claiming no alert until they are written",
                    len(records),
                    type(exc).__name__,
                )
                return False
            del self._unrecorded[: len(records)]
        if len(records) > 1:
            log.info("recorded %d sent messages held while the database was away", len(records))
        return True

    @property
    def unrecorded(self) -> int:
        """How many accepted sends are waiting to be written."""
        return len(self._unrecorded)

    async def _skip(
        self, alerts: Sequence[outbox.ClaimedAlert], reason: str, report: DeliveryReport
    ) -> None:
        async with self._writing() as session:
            await outbox.mark_skipped(session, [a.id for a in alerts], reason=reason)
        report.skipped += len(alerts)
        report.outcomes += ["skipped"] * len(alerts)
        log.info(
            "alerts %s to chat %s skipped: %s",
            [a.id for a in alerts],
            alerts[0].chat_id,
            reason,
            extra={"chat": alerts[0].chat_id},
        )

    async def edit_stale(self) -> DeliveryReport:
        """Edit sent alerts whose story gained outlets: "Also reported by …" (issue 8).

        Never a new message. "Not modified" and "not found" count as done; flood control and
        network errors retry later; a chat that is gone is deactivated; other errors give up.
        """
        report = DeliveryReport()
        async with self.sessions.begin() as session:
            claimed = await outbox.claim_edits(
                session, now=self.clock(), lease=self.lease, limit=self.batch
            )
            views = await store.story_views(session, sorted({c.story_id for c in claimed}))
            locales = await subscriptions.chat_locales(session, {c.chat_id for c in claimed})
        stories = {s.id: s for s in views}
        for alert in claimed:
            speech = spoken(locales.get(alert.chat_id))
            await self._edit_one(alert, stories.get(alert.story_id), report, speech)
        return report

    async def _edit_one(
        self,
        alert: outbox.ClaimedEdit,
        story: StoryView | None,
        report: DeliveryReport,
        speech: tuple[Tr, str] = (tr(None), "UTC"),
    ) -> None:
        if story is None:
            async with self._writing() as session:
                await outbox.give_up_edit(session, alert.id, error="story no longer stored")
            return
        if not formatting.also_reported_line(story):  # one outlet: the message is current
            async with self._writing() as session:
                await outbox.edit_not_needed(session, alert.id)
            return
        await self._wait_if_paused()
        try:
            t, zone = speech
            await self.bot.edit_message_text(
                formatting.format_alert(story, alert.matched, also_reported=True, t=t, zone=zone),
                chat_id=alert.chat_id,
                message_id=alert.message_id,
                reply_markup=alert_markup(story.participants, alert.matched, t, story_id=story.id),
            )
            outcome = DeliveryOutcome("sent")
        except Exception as exc:  # classified by outcome_for, like sends
            outcome = outcome_for(exc)
        report.outcomes.append(outcome.action)
        await self._record_edit(alert, outcome, report)

    async def _record_edit(
        self, alert: outbox.ClaimedEdit, outcome: DeliveryOutcome, report: DeliveryReport
    ) -> None:
        now = self.clock()
        async with self._writing() as session:
            if outcome.action in ("sent", "ignore"):
                await outbox.mark_edited(session, alert.id, now=now)
                report.sent += 1
            elif outcome.action == "retry":
                if outcome.retry_after is not None:
                    self._paused_until = max(
                        self._paused_until, time.monotonic() + outcome.retry_after
                    )
                    report.retry_after_seen += 1
                    metrics.record_rate_limited(outcome.retry_after)
                delay = outcome.retry_after if outcome.retry_after is not None else backoff(0)
                await outbox.retry_edit(
                    session, alert.id, at=now + timedelta(seconds=delay), error=outcome.reason
                )
                report.retried += 1
            elif outcome.action == "deactivate":
                await outbox.deactivate_chat(session, alert.chat_id, reason=outcome.reason)
                report.deactivated += 1
            else:  # fail, or migrate (the old message id means nothing in the new chat)
                await outbox.give_up_edit(session, alert.id, error=outcome.reason)
                report.failed += 1
                log.warning(
                    "edit of alert %s in chat %s given up: %s",
                    alert.id,
                    alert.chat_id,
                    outcome.reason,
                    extra={"chat": alert.chat_id, "alert": alert.id},
                )

    async def record_failure(
        self,
        alert_ids: Sequence[int],
        chat_id: int,
        attempts: int,
        exc: Exception,
        report: DeliveryReport,
        *,
        retry_status: str = "pending",
    ) -> DeliveryOutcome:
        """Apply ``outcome_for(exc)`` to the given alerts of one chat."""
        outcome = outcome_for(exc)
        report.outcomes.append(outcome.action)
        now = self.clock()
        async with self._writing() as session:
            if outcome.action == "retry":
                if outcome.retry_after is not None:
                    report.retry_after_seen += 1
                    metrics.record_rate_limited(outcome.retry_after)
                    self._paused_until = max(
                        self._paused_until, time.monotonic() + outcome.retry_after
                    )
                    delay = outcome.retry_after
                elif attempts + 1 >= MAX_ATTEMPTS:
                    await give_up(session, alert_ids, chat_id, outcome, report, for_good=True)
                    return outcome
                else:
                    delay = backoff(attempts)
                await outbox.schedule_retry(
                    session,
                    alert_ids,
                    at=now + timedelta(seconds=delay),
                    error=outcome.reason,
                    status=retry_status,
                )
                report.retried += len(alert_ids)
            elif outcome.action == "deactivate":
                dropped = await outbox.deactivate_chat(session, chat_id, reason=outcome.reason)
                report.deactivated += 1
                log.info(
                    "chat %s deactivated (%s); %d alerts dropped",
                    chat_id,
                    outcome.reason,
                    dropped,
                    extra={"chat": chat_id},
                )
            elif outcome.action == "migrate" and outcome.new_chat_id is not None:
                await outbox.migrate_chat(session, chat_id, outcome.new_chat_id)
                await outbox.release_now(session, alert_ids, now=now)
                report.migrated += 1
                log.info(
                    "chat %s migrated to %s", chat_id, outcome.new_chat_id, extra={"chat": chat_id}
                )
            else:  # fail (BadRequest) or an edit error on a send: keep the row, log it
                await give_up(session, alert_ids, chat_id, outcome, report, for_good=False)
        return outcome

    async def still_wanted(
        self,
        claimed: Sequence[outbox.ClaimedAlert],
        stories: dict[int, StoryView],
        report: DeliveryReport,
    ) -> list[outbox.ClaimedAlert]:
        """The claimed alerts still wanted; the others are marked skipped, with the reason."""
        async with self.sessions() as session:
            index = await watch.current_index(session)
        kept = []
        now = self.clock()
        for alert in claimed:
            story = stories.get(alert.story_id)
            participants = story.participants if story is not None else ()
            reason = index.withdrawn(alert.chat_id, participants, alert.matched, now)
            if reason is None:
                kept.append(alert)
            else:
                await self._skip([alert], reason, report)
        return kept
