"""/start and /stop: subscribing a chat (its watchlist is kept across a /stop)."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import formatting, language
from bot.formatting import callback
from bot.gates import may_change, watchlist_of
from bot.i18n import ENGLISH, N_n, Tr, tr_of
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
        t = await language.remember(session, update, context, chat_id)
        top = [code for code, _ in await store.top_countries(session, 6)]
    # A fresh database has no stories yet: offer what the feed list covers best.
    codes = top or list(covered_countries(st.settings.feeds_file))
    row = [
        InlineKeyboardButton(formatting.country_button_label(c, t), callback_data=callback("w", c))
        for c in codes
    ]
    markup = InlineKeyboardMarkup([row[i : i + 3] for i in range(0, len(row), 3)])
    text = formatting.intro([(c, 0) for c in codes], t)
    if resumed and rules:
        text = f"{kept_line(update, rules, t)}\n\n{text}"
    await reply(update, text, reply_markup=markup if row else None)


def kept_line(update: Update, rules: Sequence[subscriptions.Rule], t: Tr = ENGLISH) -> str:
    """'Welcome back: your watchlist was kept (2 countries, 1 keyword). /watchlist shows it.'"""
    counted = {
        "country": N_n("{count} country", "{count} countries"),
        "keyword": N_n("{count} keyword", "{count} keywords"),
        "exclude": N_n("{count} exclusion", "{count} exclusions"),
        "list": N_n("{count} list", "{count} lists"),
    }
    counts = [
        t._n(one, many, n)
        for kind, (one, many) in counted.items()
        if (n := sum(1 for r in rules if r.kind == kind))
    ]
    return t._(
        "Welcome back: {watchlist} was kept ({counts}). /watchlist shows it.",
        watchlist=watchlist_of(update, t),
        counts=", ".join(counts),
    )


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Unsubscribe the chat; the watchlist is kept for a later /start."""
    if not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        was = await subscriptions.unsubscribe(session, chat_of(update)[0])
    t = tr_of(context)
    await reply_whether(
        update,
        was,
        t._(
            "Unsubscribed. {watchlist} is kept: /start to resume.",
            watchlist=watchlist_of(update, t, capital=True),
        ),
        t._("This chat was not subscribed. /start to subscribe."),
    )
