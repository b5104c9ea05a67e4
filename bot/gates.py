"""Who may change a chat's watchlist and settings, and how replies name the chat.

Rules:

* a private chat belongs to its user: always allowed;
* in a group, a channel or a supergroup: its administrators (as ``getChatAdministrators``
  lists them, cached for five minutes), an anonymous administrator posting as the group, and
  the bot's operators (``telegram.admin_ids``) may change it; other members are told who can;
* when Telegram will not list the administrators (the bot was removed, the chat is gone, a
  network error), the reply says what went wrong and what to do: it never blames the user.
  A failed lookup is not cached, so the next command tries again.

Every command and button press first passes ``rate_gate`` (handler group -1): a per-chat
token bucket (``bot.limits``); a refusal is said once per streak.

Replies say "your watchlist" in a private chat and "this group's watchlist" (or "this
channel's") elsewhere: ``whose``.
"""

from __future__ import annotations

import html
import logging
import time
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.i18n import ENGLISH, N_, Tr, tr_of
from bot.limits import TokenBucket
from bot.state import reply, state

log = logging.getLogger(__name__)

ADMINS_CACHE_SECONDS = 300.0


def whose(chat_type: str | None, *, capital: bool = False) -> str:
    """'your' in a private chat, "this group's" / "this channel's" elsewhere."""
    if chat_type in (None, ChatType.PRIVATE):
        word = "your"
    elif chat_type == ChatType.CHANNEL:
        word = "this channel's"
    else:
        word = "this group's"
    return word[0].upper() + word[1:] if capital else word


def whose_update(update: Update, *, capital: bool = False) -> str:
    chat = update.effective_chat
    return whose(chat.type if chat is not None else None, capital=capital)


# The chat's watchlist named as a whole phrase, so each language says it its own way:
# (private, group, channel) x (in a sentence, at its start).
WATCHLIST_OF = {
    ("private", False): N_("your watchlist"),
    ("private", True): N_("Your watchlist"),
    ("group", False): N_("this group's watchlist"),
    ("group", True): N_("This group's watchlist"),
    ("channel", False): N_("this channel's watchlist"),
    ("channel", True): N_("This channel's watchlist"),
}


def watchlist_of(update: Update, t: Tr = ENGLISH, *, capital: bool = False) -> str:
    """'your watchlist', "this group's watchlist", … in ``t``'s language."""
    chat = update.effective_chat
    kind = chat.type if chat is not None else ChatType.PRIVATE
    owner = (
        "private"
        if kind == ChatType.PRIVATE
        else "channel"
        if kind == ChatType.CHANNEL
        else "group"
    )
    return t._(WATCHLIST_OF[(owner, capital)])


def is_operator(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """The user is one of the bot's operators (``telegram.admin_ids``)."""
    user = update.effective_user
    return user is not None and user.id in context.bot_data["state"].settings.admin_ids


async def group_admins(chat: Any, cache: dict[int, tuple[float, frozenset[int]]]) -> frozenset[int]:
    """The user ids of the chat's administrators (cached); TelegramError when not listable."""
    cached = cache.get(chat.id)
    if cached is not None and time.monotonic() - cached[0] <= ADMINS_CACHE_SECONDS:
        return cached[1]
    admins = frozenset(m.user.id for m in await chat.get_administrators())
    cache[chat.id] = (time.monotonic(), admins)
    return admins


def admin_check_failed(exc: TelegramError, t: Tr = ENGLISH) -> str:
    """The reply when the administrators cannot be listed: what happened and what to do."""
    return t._(
        "I could not check who administers this group: Telegram answered “{answer}”. "
        "Make sure I am still a member of the group (an administrator in a channel), "
        "then try again.",
        answer=html.escape(exc.message[:200]),
    )


NOT_AN_ADMIN = N_(
    "Only this group's administrators (or the bot's operators) can change this group's "
    "watchlist and settings."
)


async def may_change(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """May this user change this chat's watchlist and settings? Says why not otherwise."""
    chat, user = update.effective_chat, update.effective_user
    if chat is None or chat.type == ChatType.PRIVATE:
        return True
    message = update.effective_message
    if (
        message is not None
        and message.sender_chat is not None
        and message.sender_chat.id == chat.id
    ):
        return True  # an anonymous administrator
    if is_operator(update, context):
        return True
    try:
        admins = await group_admins(chat, context.bot_data["state"].admins_cache)
    except TelegramError as exc:
        log.warning("cannot list administrators of chat %s: %s", chat.id, exc)
        text = admin_check_failed(exc, tr_of(context))
    else:
        if user is not None and user.id in admins:
            return True
        text = tr_of(context)._(NOT_AN_ADMIN)
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=True)
    elif message is not None:
        await message.reply_text(text)
    return False


async def given_and_allowed(
    update: Update, context: ContextTypes.DEFAULT_TYPE, given: object, usage: str
) -> bool:
    """A changing command's two refusals: ``usage`` when it was given nothing to work on
    (``given`` empty), then ``may_change``; True when the command may go ahead."""
    if not given:
        await reply(update, usage)
        return False
    return await may_change(update, context)


async def rate_gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Per-chat token bucket (``bot.limits``) on commands and button presses; a refusal is
    said once per streak (every refused press is answered, as Telegram expects)."""
    chat = update.effective_chat
    if chat is None or (update.message is None and update.callback_query is None):
        return
    st = state(context)
    bucket = st.buckets.get(chat.id)
    if bucket is None:
        bucket = st.buckets[chat.id] = TokenBucket(
            st.settings.requests_burst, st.settings.requests_per_minute
        )
    verdict = bucket.take(time.monotonic())
    if verdict.allowed:
        return
    text = tr_of(context)._(
        "Too many requests: at most {per_minute} a minute (after a burst of {burst}). "
        "Try again in {seconds} s.",
        per_minute=st.settings.requests_per_minute,
        burst=st.settings.requests_burst,
        seconds=verdict.wait_seconds,
    )
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif verdict.first_refusal and update.message is not None and is_command(update.message.text):
        await reply(update, text)
    raise ApplicationHandlerStop


def is_command(text: str | None) -> bool:
    return bool(text and text.startswith("/"))
