"""What every handler shares: ``BotState`` and the few helpers each command uses
(``state``, ``chat_of``, ``reply``, ``reply_whether``, ``edit``, ``ensure_chat``,
``add_to_watchlist``, ``named_lists``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import InlineKeyboardMarkup, Update
from telegram.error import BadRequest
from telegram.ext import ContextTypes

from bot.delivery import Deliverer
from bot.limits import TokenBucket
from bot.outcomes import outcome_for
from monitors import subscriptions
from monitors.detect.countries import Gazetteer
from monitors.settings import Settings
from monitors.watchlists import Watchlist, WatchlistRegistry


@dataclass
class BotState:
    """What handlers and jobs share; kept in ``application.bot_data['state']``."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    gazetteer: Gazetteer
    deliverer: Deliverer
    resolve: Callable[[str], str]
    reschedule_digest: Callable[[subscriptions.ChatSettings], None] = lambda chat: None
    watchlists: WatchlistRegistry | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    buckets: dict[int, TokenBucket] = field(default_factory=dict)
    admins_cache: dict[int, tuple[float, frozenset[int]]] = field(default_factory=dict)


def state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.bot_data["state"]


def chat_of(update: Update) -> tuple[int, str, str | None]:
    chat = update.effective_chat
    assert chat is not None
    return chat.id, chat.type, chat.title


async def reply(update: Update, text: str, **kwargs: Any) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, **kwargs)


async def reply_whether(update: Update, happened: object, done: str, not_done: str) -> None:
    """The reply to a change: ``done`` when it happened, else ``not_done`` (nothing to do)."""
    await reply(update, done if happened else not_done)


async def add_to_watchlist(
    update: Update,
    st: BotState,
    add: Callable[[AsyncSession, int, int], Awaitable[subscriptions.AddResult]],
) -> tuple[subscriptions.AddResult, bool]:
    """``add(session, chat id, limit)`` in one transaction (the chat recorded first if new),
    and whether the chat is subscribed."""
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        result = await add(session, chat_id, st.settings.max_watch_items)
        chat = await subscriptions.get_chat(session, chat_id)
    return result, chat is not None and chat.active


async def chat_zone(st: BotState, chat_id: int) -> str:
    """The chat's time zone (UTC for a chat not stored)."""
    async with st.sessions() as session:
        chat = await subscriptions.get_chat(session, chat_id)
    return chat.timezone if chat else "UTC"


async def ensure_chat(session: AsyncSession, update: Update, st: BotState) -> int:
    chat_id, kind, title = chat_of(update)
    await subscriptions.ensure_chat(session, chat_id, type=kind, title=title, now=st.clock())
    return chat_id


async def edit(query: Any, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit a button's message; 'not modified' and 'not found' are expected, not errors."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if outcome_for(exc).action != "ignore":
            raise


def named_lists(st: BotState) -> dict[str, Watchlist]:
    return st.watchlists.lists if st.watchlists is not None else {}
