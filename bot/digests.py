"""Held alerts sent as one digest message: a chat's quiet hours ("While you were away") and
its daily digest ("Your daily digest"). The alerts still wanted when the digest goes out
(``Deliverer.still_wanted``) are what it lists; the others are marked skipped."""

from __future__ import annotations

from telegram import Message

from bot import formatting
from bot.delivery import Deliverer
from bot.i18n import N_, spoken
from bot.outcomes import DeliveryReport
from monitors import metrics, outbox, store, subscriptions

# The titles of the digests of held alerts (bot.app says which).
HELD_TITLES = {"away": N_("While you were away"), "daily": N_("Your daily digest")}


async def send_held(deliverer: Deliverer, chat_id: int, title: str) -> int:
    """Send a chat's held alerts as one digest message; how many alerts it covered.
    ``title`` is English (``HELD_TITLES``), said in the chat's language."""
    now = deliverer.clock()
    if not await deliverer.flush_unrecorded():  # the database is away: claim nothing yet
        return 0
    async with deliverer.sessions.begin() as session:
        claimed = await outbox.claim_held(session, chat_id, now=now, lease=deliverer.lease)
        stories = await store.story_views(session, [a.story_id for a in claimed])
        t, zone = spoken((await subscriptions.chat_locales(session, [chat_id])).get(chat_id))
    report = DeliveryReport()
    claimed = await deliverer.still_wanted(claimed, {s.id: s for s in stories}, report)
    if not claimed:
        metrics.record_deliveries("digest", report.outcomes)
        return 0
    wanted = {a.story_id for a in claimed}
    stories = [s for s in stories if s.id in wanted]
    ids = [a.id for a in claimed]
    try:
        message: Message = await deliverer.bot.send_message(
            chat_id, formatting.format_digest(t._(title), stories, t=t, zone=zone)
        )
    except Exception as exc:  # classified like any alert, but kept as held
        await deliverer.record_failure(
            ids, chat_id, min(a.attempts for a in claimed), exc, report, retry_status="held"
        )
        metrics.record_deliveries("digest", report.outcomes)
        return 0
    sent_at, message_id = deliverer.clock(), message.message_id
    await deliverer.record_sends(
        lambda session: outbox.mark_digest_sent(
            session, chat_id, ids, message_id=message_id, now=sent_at
        )
    )
    metrics.record_deliveries("digest", ["sent"])
    return len(ids)
