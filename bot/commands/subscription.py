"""/start and /stop: subscribing a chat (its watchlist is kept across a /stop)."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import formatting
from bot.formatting import callback
from bot.gates import may_change, whose_update
from bot.state import chat_of, reply, reply_whether, state
from monitors import store, subscriptions
from monitors.coverage import covered_countries


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Subscribe the chat, explain the bot, offer the most covered countries; a chat coming
    back after /stop is told its watchlist was kept."""
    if not await may_change(update, context):
        return
    st = state(context)
    chat_id, kind, title = chat_of(update)
    async with st.sessions.begin() as session:
        rules = await subscriptions.list_rules(session, chat_id)
        resumed = await subscriptions.subscribe(
            session, chat_id, type=kind, title=title, now=st.clock()
        )
        top = [code for code, _ in await store.top_countries(session, 6)]
    # A fresh database has no stories yet: offer what the feed list covers best.
    codes = top or list(covered_countries(st.settings.feeds_file))
    row = [
        InlineKeyboardButton(formatting.country_button_label(c), callback_data=callback("w", c))
        for c in codes
    ]
    markup = InlineKeyboardMarkup([row[i : i + 3] for i in range(0, len(row), 3)])
    text = formatting.intro([(c, 0) for c in codes])
    if resumed and rules:
        text = f"{kept_line(update, rules)}\n\n{text}"
    await reply(update, text, reply_markup=markup if row else None)


def kept_line(update: Update, rules: Sequence[subscriptions.Rule]) -> str:
    """'Welcome back: your watchlist was kept (2 countries, 1 keyword). /watchlist shows it.'"""
    names = {"country": "country", "keyword": "keyword", "exclude": "exclusion", "list": "list"}
    counts = [
        f"{n} {'countries' if word == 'country' else word + 's'}" if n != 1 else f"1 {word}"
        for kind, word in names.items()
        if (n := sum(1 for r in rules if r.kind == kind))
    ]
    return (
        f"Welcome back: {whose_update(update)} watchlist was kept ({', '.join(counts)}). "
        "/watchlist shows it."
    )


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Unsubscribe the chat; the watchlist is kept for a later /start."""
    if not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        was = await subscriptions.unsubscribe(session, chat_of(update)[0])
    await reply_whether(
        update,
        was,
        f"Unsubscribed. {whose_update(update, capital=True)} watchlist is kept: /start to resume.",
        "This chat was not subscribed. /start to subscribe.",
    )
