"""/broadcast: an operator's message to every subscribed chat.

The text is sent as typed (line breaks kept, escaped: no markup). A text longer
than one Telegram message is cut into parts (``split_text``) at paragraph breaks, else line
breaks, else spaces, each part numbered "📣 (2/3)"; the cut is made in the text as typed,
before escaping, so it never falls inside a tag or an entity. At most ``MAX_BROADCAST_PARTS``
parts: a longer text is refused up front. The reply says how many chats got every part
("sent to N of M chats (K parts each)") and why the others did not; each failure is logged.
Flood control is waited out once per part (at most ``MAX_RETRY_WAIT`` seconds).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Sequence

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot import formatting
from bot.admin import admin_only
from bot.formatting import esc
from bot.outcomes import outcome_for
from bot.state import reply, state
from monitors import outbox, subscriptions

log = logging.getLogger(__name__)

BROADCAST_PREFIX = "📣 "
MAX_BROADCAST_PARTS = 10
MAX_RETRY_WAIT = 30.0


# --- /broadcast -------------------------------------------------------------------------------


def _cut_at(text: str, room: int) -> int:
    """How many characters of ``text`` fit ``room`` Telegram characters (UTF-16 units), never
    ending between the two halves of a surrogate pair."""
    size = 0
    for index, char in enumerate(text):
        size += 2 if ord(char) > 0xFFFF else 1
        if size > room:
            return index
    return len(text)


def split_text(text: str, room: int) -> list[str]:
    """``text`` in parts of at most ``room`` Telegram characters. The cut is the last
    paragraph break that keeps the part at least half full, else such a line break, else such
    a space; failing those, the last line break, else the last space, else anywhere. The white
    space at a cut is dropped; nothing else is."""
    parts: list[str] = []
    rest = text.strip()
    while formatting.tg_len(rest) > room:
        fits = _cut_at(rest, room)
        half = fits // 2
        for separator, least in (("\n\n", half), ("\n", half), (" ", half), ("\n", 1), (" ", 1)):
            cut = rest.rfind(separator, 0, fits + 1)
            if cut >= least:
                break
        else:
            cut = fits
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        parts.append(rest)
    return parts


def part_prefix(number: int, total: int) -> str:
    return BROADCAST_PREFIX if total == 1 else f"{BROADCAST_PREFIX}({number}/{total}) "


def broadcast_parts(text: str) -> list[str]:
    """The messages a broadcast is sent as (HTML, escaped); [] when it needs too many."""
    widest = formatting.tg_len(part_prefix(MAX_BROADCAST_PARTS, MAX_BROADCAST_PARTS))
    if formatting.tg_len(BROADCAST_PREFIX + text.strip()) <= formatting.MAX_MESSAGE:
        return [BROADCAST_PREFIX + esc(text.strip())]
    parts = split_text(text, formatting.MAX_MESSAGE - widest)
    if len(parts) > MAX_BROADCAST_PARTS:
        return []
    return [part_prefix(n, len(parts)) + esc(part) for n, part in enumerate(parts, 1)]


def broadcast_problem(text: str) -> str | None:
    """Why a broadcast text cannot be sent (None when it can)."""
    if broadcast_parts(text):
        return None
    size = formatting.tg_len(text.strip())
    return (
        f"the text is {size:,} characters; a broadcast is at most {MAX_BROADCAST_PARTS} "
        f"messages (about {MAX_BROADCAST_PARTS * 4000:,} characters). Shorten it"
    )


def command_text(update: Update) -> str:
    """What follows the command in the message, line breaks kept ("/broadcast@bot a\n\nb")."""
    message = update.effective_message
    words = ((message.text if message is not None else None) or "").split(None, 1)
    return words[1].strip() if len(words) > 1 else ""


class PartsNotSent(Exception):
    """A chat got ``sent`` of a broadcast's parts, then ``error`` stopped it."""

    def __init__(self, sent: int, error: TelegramError) -> None:
        super().__init__(f"after {sent} parts: {error}")
        self.sent, self.error = sent, error


async def send_parts(context: ContextTypes.DEFAULT_TYPE, chat_id: int, parts: list[str]) -> None:
    """Send every part to one chat, in order; flood control is waited out once per part
    (PartsNotSent says how far it got otherwise)."""
    for number, part in enumerate(parts):
        try:
            try:
                await context.bot.send_message(chat_id, part)
            except TelegramError as exc:
                wait = outcome_for(exc).retry_after
                if wait is None or wait > MAX_RETRY_WAIT:
                    raise
                await asyncio.sleep(wait)
                await context.bot.send_message(chat_id, part)
        except TelegramError as exc:
            raise PartsNotSent(number, exc) from exc


async def send_to_all(
    context: ContextTypes.DEFAULT_TYPE, chat_ids: Sequence[int], parts: list[str]
) -> Counter[str]:
    """Send the parts to each chat; why sends failed, counted and logged (blocked chats are
    deactivated)."""
    failures: Counter[str] = Counter()
    for chat_id in chat_ids:
        try:
            await send_parts(context, chat_id, parts)
        except PartsNotSent as failed:
            outcome = outcome_for(failed.error)
            why = outcome.reason or type(failed.error).__name__
            failures[why] += 1
            log.warning(
                "broadcast to chat %s failed after %d of %d parts: %s",
                chat_id,
                failed.sent,
                len(parts),
                why,
                extra={"chat": chat_id},
            )
            if outcome.action == "deactivate":
                async with state(context).sessions.begin() as session:
                    await outbox.deactivate_chat(session, chat_id, reason=str(failed.error))
    return failures


def broadcast_report(chats: int, parts: int, failures: Counter[str]) -> str:
    """'Broadcast sent to N of M chats (K parts each).', then a line per reason of failure."""
    each = f" ({parts} parts each)" if parts > 1 else ""
    lines = [f"Broadcast sent to {chats - sum(failures.values())} of {chats} chats{each}."]
    lines += [f"Not sent to {n}: {esc(formatting.clip(why, 120))}" for why, n in failures.items()]
    return "\n".join(lines)


async def broadcast(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admin: send a text to every subscribed chat, in parts if long; say how many got it and
    why others did not."""
    if not await admin_only(update, context):
        return
    text = command_text(update)
    if not text:
        await reply(update, "Usage: /broadcast text (line breaks are kept)")
        return
    parts = broadcast_parts(text)
    if not parts:
        problem = broadcast_problem(text) or ""
        log.warning("broadcast refused: %s", problem)
        await reply(update, f"Refused: {esc(problem)}. Nothing was sent.")
        return
    async with state(context).sessions() as session:
        chat_ids = await subscriptions.active_chat_ids(session)
    failures = await send_to_all(context, chat_ids, parts)
    await reply(update, broadcast_report(len(chat_ids), len(parts), failures))
