"""The alert outbox as the delivery side sees it: store functions that never commit.

Life of an alert row::

    pending --claim--> sending (leased until claimed_until) --> sent
       ^                   |  lease expired (process died)      \\-> pending (retry later)
       |                   +--------------------------------------> failed | dropped
    held (digest mode / quiet hours) --claim_held--> sending --> sent (as one digest)
    sending --> skipped (no longer wanted when its turn came: ``mark_skipped``)

Story edits (issue 8): when a later report joins a story, ``request_story_edits`` turns its
``sent`` alerts into ``sent_stale`` (still sent: never re-sent, never dropped); the delivery
side leases them (``editing``) and edits the message to add the new outlets, then marks them
``sent`` again with ``edited_count + 1`` and ``next_attempt_at`` = now + ``EDIT_INTERVAL`` as
"not before". At most ``MAX_EDITS`` edits per alert; digests are never edited (they are
marked with ``edited_count = MAX_EDITS``).

    sent --request_story_edits--> sent_stale --claim_edits--> editing --> sent (edited_count+1)

A claim is a lease, not a lock: if the process dies mid-send, the row becomes claimable again
when ``claimed_until`` passes. That is the one at-least-once window: a message Telegram
accepted whose ``sent`` mark was never committed is sent again after the lease. On PostgreSQL
claims use ``FOR UPDATE SKIP LOCKED`` so several workers never claim the same row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from monitors.models import Alert, Chat, WatchRule

MAX_ERROR_CHARS = 500
MAX_EDITS = 3
EDIT_INTERVAL = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class ClaimedAlert:
    """One alert leased for delivery."""

    id: int
    chat_id: int
    story_id: int
    attempts: int
    matched: tuple[str, ...]


def _due(now: datetime) -> ColumnElement[bool]:
    """Pending and due, or left 'sending' by a worker whose lease has run out."""
    return or_(
        and_(Alert.status == "pending", Alert.next_attempt_at <= now),
        and_(Alert.status == "sending", Alert.claimed_until < now),
    )


async def _lease(
    session: AsyncSession, query: Any, *, status: str, now: datetime, lease: timedelta
) -> list[Any]:
    """The rows of ``query`` (``Alert.id`` first), locked (PostgreSQL: ``SKIP LOCKED``, so
    concurrent consumers take disjoint rows) and leased under ``status`` until ``now + lease``."""
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True, of=Alert)
    rows = list((await session.execute(query)).all())
    if rows:
        await session.execute(
            update(Alert)
            .where(Alert.id.in_([row[0] for row in rows]))
            .values(status=status, claimed_until=now + lease)
        )
    return rows


async def _claim(
    session: AsyncSession,
    where: ColumnElement[bool],
    now: datetime,
    lease: timedelta,
    limit: int,
) -> list[ClaimedAlert]:
    query = (
        select(Alert.id, Alert.chat_id, Alert.story_id, Alert.attempts, Alert.matched)
        .join(Chat, Chat.id == Alert.chat_id)
        .where(where, Chat.active.is_(True))
        .order_by(Alert.next_attempt_at, Alert.id)
        .limit(limit)
    )
    rows = await _lease(session, query, status="sending", now=now, lease=lease)
    return [
        ClaimedAlert(alert_id, chat_id, story_id, attempts, tuple(matched or ()))
        for alert_id, chat_id, story_id, attempts, matched in rows
    ]


async def claim_due(
    session: AsyncSession, *, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedAlert]:
    """Lease up to ``limit`` due alerts of active chats, oldest first."""
    return await _claim(session, _due(now), now, lease, limit)


async def mark_sent(
    session: AsyncSession, alert_ids: Sequence[int], *, message_id: int | None, now: datetime
) -> None:
    await session.execute(
        update(Alert)
        .where(Alert.id.in_(alert_ids))
        .values(
            status="sent",
            sent_at=now,
            message_id=message_id,
            claimed_until=None,
            attempts=Alert.attempts + 1,
            last_error=None,
        )
    )


async def schedule_retry(
    session: AsyncSession,
    alert_ids: Sequence[int],
    *,
    at: datetime,
    error: str,
    status: str = "pending",
) -> None:
    """Put alerts back (``pending``, or ``held`` for a digest) to be tried again at ``at``."""
    await session.execute(
        update(Alert)
        .where(Alert.id.in_(alert_ids))
        .values(
            status=status,
            next_attempt_at=at,
            claimed_until=None,
            attempts=Alert.attempts + 1,
            last_error=error[:MAX_ERROR_CHARS],
        )
    )


async def mark_failed(session: AsyncSession, alert_ids: Sequence[int], *, error: str) -> None:
    """Give up on alerts; the rows stay, with the error, for the operator to read."""
    await session.execute(
        update(Alert)
        .where(Alert.id.in_(alert_ids))
        .values(
            status="failed",
            claimed_until=None,
            attempts=Alert.attempts + 1,
            last_error=error[:MAX_ERROR_CHARS],
        )
    )


async def mark_skipped(session: AsyncSession, alert_ids: Sequence[int], *, reason: str) -> None:
    """Not sent, on purpose: the chat muted, stopped or unwatched it while it was queued."""
    await session.execute(
        update(Alert)
        .where(Alert.id.in_(alert_ids))
        .values(status="skipped", claimed_until=None, last_error=reason[:MAX_ERROR_CHARS])
    )


async def deactivate_chat(session: AsyncSession, chat_id: int, *, reason: str) -> int:
    """The chat is gone (blocked, kicked, deleted): stop it; its undelivered alerts -> dropped."""
    await session.execute(update(Chat).where(Chat.id == chat_id).values(active=False))
    result = await session.execute(
        update(Alert)
        .where(Alert.chat_id == chat_id, Alert.status.in_(("pending", "held", "sending")))
        .values(status="dropped", claimed_until=None, last_error=reason[:MAX_ERROR_CHARS])
    )
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


async def migrate_chat(session: AsyncSession, old_id: int, new_id: int) -> None:
    """A group became a supergroup: move the chat, its rules and its alerts to the new id.

    If the new id already exists (the supergroup used the bot too), the old chat's rules are
    merged into it and duplicate alerts are dropped.
    """
    old = await session.get(Chat, old_id)
    if old is None:
        return
    new = await session.get(Chat, new_id)
    if new is None:
        new = Chat(
            id=new_id,
            type="supergroup",
            title=old.title,
            active=old.active,
            delivery_mode=old.delivery_mode,
            digest_time=old.digest_time,
            timezone=old.timezone,
            quiet_start=old.quiet_start,
            quiet_end=old.quiet_end,
            scope=old.scope,
            language=old.language,
            subscribed_at=old.subscribed_at,
            last_digest_at=old.last_digest_at,
        )
        session.add(new)
        await session.flush()
    have_rules = set(
        (
            await session.execute(
                select(WatchRule.kind, WatchRule.value).where(WatchRule.chat_id == new_id)
            )
        ).all()
    )
    for rule in await session.scalars(select(WatchRule).where(WatchRule.chat_id == old_id)):
        if (rule.kind, rule.value) in have_rules:
            await session.delete(rule)
        else:
            rule.chat_id = new_id
    have_alerts = set(await session.scalars(select(Alert.story_id).where(Alert.chat_id == new_id)))
    for alert in await session.scalars(select(Alert).where(Alert.chat_id == old_id)):
        if alert.story_id in have_alerts:
            await session.delete(alert)
        else:
            alert.chat_id = new_id
    await session.flush()
    await session.delete(old)
    await session.flush()


async def release_now(session: AsyncSession, alert_ids: Sequence[int], *, now: datetime) -> None:
    """Make claimed alerts due again at once, without counting an attempt (the chat migrated,
    or a stop puts back what it had not sent yet)."""
    await session.execute(
        update(Alert)
        .where(Alert.id.in_(alert_ids))
        .values(status="pending", next_attempt_at=now, claimed_until=None)
    )


async def chats_with_held(session: AsyncSession) -> list[int]:
    """Active chats that have held alerts waiting for a digest."""
    return list(
        await session.scalars(
            select(Alert.chat_id)
            .join(Chat, Chat.id == Alert.chat_id)
            .where(Alert.status == "held", Chat.active.is_(True))
            .distinct()
        )
    )


async def claim_held(
    session: AsyncSession, chat_id: int, *, now: datetime, lease: timedelta, limit: int = 200
) -> list[ClaimedAlert]:
    """Lease one chat's held alerts (due ones only) to send them as a digest."""
    where = and_(Alert.chat_id == chat_id, Alert.status == "held", Alert.next_attempt_at <= now)
    return await _claim(session, where, now, lease, limit)


async def mark_digest_sent(
    session: AsyncSession,
    chat_id: int,
    alert_ids: Sequence[int],
    *,
    message_id: int | None,
    now: datetime,
) -> None:
    await mark_sent(session, alert_ids, message_id=message_id, now=now)
    # One message covers several stories: never edit it as if it were one alert.
    await session.execute(
        update(Alert).where(Alert.id.in_(alert_ids)).values(edited_count=MAX_EDITS)
    )
    await session.execute(update(Chat).where(Chat.id == chat_id).values(last_digest_at=now))


async def pending_count(session: AsyncSession, chat_id: int) -> int:
    """Alerts this chat has not yet received (pending, held or being sent)."""
    return (
        await session.scalar(
            select(func.count()).where(
                Alert.chat_id == chat_id, Alert.status.in_(("pending", "held", "sending"))
            )
        )
        or 0
    )


# --- story edits ("also reported by", issue 8) --------------------------------------------------


@dataclass(frozen=True, slots=True)
class ClaimedEdit:
    """One sent alert leased for an edit of its message."""

    id: int
    chat_id: int
    story_id: int
    message_id: int
    edited_count: int
    matched: tuple[str, ...]


async def request_story_edits(session: AsyncSession, story_id: int, *, now: datetime) -> int:
    """A later report joined ``story_id``: its sent alerts need their message edited; how many.

    Called by the pipeline in the transaction that adds the article. Alerts not yet sent need
    nothing (they are formatted with the current outlets when sent); alerts edited
    ``MAX_EDITS`` times already are left alone. ``now`` is accepted for symmetry; the
    "not before" time of the next edit is kept in ``next_attempt_at`` by ``mark_edited``.
    """
    return await request_edits(session, [story_id], now=now)


async def request_edits(session: AsyncSession, story_ids: Sequence[int], *, now: datetime) -> int:
    """``request_story_edits`` for several stories in one statement (a poll's batch)."""
    del now
    if not story_ids:
        return 0
    result = await session.execute(
        update(Alert)
        .where(
            Alert.story_id.in_(story_ids),
            Alert.status == "sent",
            Alert.message_id.is_not(None),
            Alert.edited_count < MAX_EDITS,
        )
        .values(status="sent_stale")
    )
    return max(result.rowcount or 0, 0)  # type: ignore[attr-defined]


def _edit_due(now: datetime) -> ColumnElement[bool]:
    return or_(
        and_(Alert.status == "sent_stale", Alert.next_attempt_at <= now),
        and_(Alert.status == "editing", Alert.claimed_until < now),
    )


async def claim_edits(
    session: AsyncSession, *, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedEdit]:
    """Lease up to ``limit`` alerts whose message is due for an edit (active chats only)."""
    query = (
        select(
            Alert.id,
            Alert.chat_id,
            Alert.story_id,
            Alert.message_id,
            Alert.edited_count,
            Alert.matched,
        )
        .join(Chat, Chat.id == Alert.chat_id)
        .where(_edit_due(now), Chat.active.is_(True))
        .order_by(Alert.next_attempt_at, Alert.id)
        .limit(limit)
    )
    rows = await _lease(session, query, status="editing", now=now, lease=lease)
    return [
        ClaimedEdit(alert_id, chat_id, story_id, message_id, edited, tuple(matched or ()))
        for alert_id, chat_id, story_id, message_id, edited, matched in rows
    ]


async def mark_edited(session: AsyncSession, alert_id: int, *, now: datetime) -> None:
    """The message was edited (or needed no edit): sent again; next edit not before + 60 s."""
    await session.execute(
        update(Alert)
        .where(Alert.id == alert_id)
        .values(
            status="sent",
            edited_count=Alert.edited_count + 1,
            next_attempt_at=now + EDIT_INTERVAL,
            claimed_until=None,
            last_error=None,
        )
    )


async def edit_not_needed(session: AsyncSession, alert_id: int) -> None:
    """Nothing to add (still one outlet): back to sent without spending an edit."""
    await session.execute(
        update(Alert).where(Alert.id == alert_id).values(status="sent", claimed_until=None)
    )


async def retry_edit(session: AsyncSession, alert_id: int, *, at: datetime, error: str) -> None:
    """Try the edit again at ``at`` (network error, flood control)."""
    await session.execute(
        update(Alert)
        .where(Alert.id == alert_id)
        .values(
            status="sent_stale",
            next_attempt_at=at,
            claimed_until=None,
            last_error=error[:MAX_ERROR_CHARS],
        )
    )


async def give_up_edit(session: AsyncSession, alert_id: int, *, error: str) -> None:
    """The edit cannot be made: the alert stays sent, with no further edits."""
    await session.execute(
        update(Alert)
        .where(Alert.id == alert_id)
        .values(
            status="sent",
            edited_count=MAX_EDITS,
            claimed_until=None,
            last_error=error[:MAX_ERROR_CHARS],
        )
    )


async def was_alerted(session: AsyncSession, chat_id: int, story_id: int) -> bool:
    """Whether the chat was sent an alert (or a digest) with this story."""
    found = await session.scalar(
        select(Alert.id).where(
            Alert.chat_id == chat_id,
            Alert.story_id == story_id,
            Alert.status.in_(("sent", "sent_stale", "editing")),
        )
    )
    return found is not None


async def stories_of_message(session: AsyncSession, chat_id: int, message_id: int) -> list[int]:
    """The stories a sent message carried (one for an alert, several for a digest), oldest
    alert first; [] for any other message."""
    rows = await session.execute(
        select(Alert.story_id)
        .where(Alert.chat_id == chat_id, Alert.message_id == message_id, Alert.status == "sent")
        .order_by(Alert.id)
    )
    return [int(story_id) for (story_id,) in rows.all()]
