"""Button callbacks of bot.buttons' keyboards: settings, named lists, and an alert's buttons.

Every callback answers its query (a toast saying what happened). Changes go through
``bot.gates.may_change`` like the commands they replace; ``bot.app`` registers each with its
pattern from ``bot.buttons.PATTERNS``, so a handler only sees data of its own shape.
"""

from __future__ import annotations

from datetime import timedelta

from telegram import Update
from telegram.ext import ContextTypes

from bot import buttons, formatting
from bot.commands.named import lists_view
from bot.commands.settings import settings_text
from bot.gates import may_change
from bot.state import chat_of, edit, ensure_chat, named_lists, state
from monitors import subscriptions


def query_data(update: Update) -> list[str]:
    assert update.callback_query is not None
    return (update.callback_query.data or "").split(":")


async def on_setting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /settings button: apply that choice and redraw the settings message."""
    query = update.callback_query
    assert query is not None
    _, field, choice = query_data(update)
    chosen = buttons.SETTING_CHOICES.get((field, choice))
    if chosen is None:
        await query.answer("This button has expired.")
        return
    if not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        chat = await subscriptions.update_settings(session, chat_id, **chosen[1])
    st.reschedule_digest(chat)
    await query.answer(f"Saved: {chosen[0]}")
    await edit(query, "Saved.\n" + settings_text(chat), buttons.settings_markup(chat))


def followed_text(result: subscriptions.AddResult, name: str, limit: int) -> str:
    """The answer to a Follow button."""
    if result.added:
        return f"Now following {name}"
    if result.existing:
        return f"Already following {name}"
    return f"Not followed: the limit of {limit} items is reached"


async def on_follow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /lists button: follow (or stop following) that named watchlist, redraw the list."""
    query = update.callback_query
    assert query is not None
    action, name = query_data(update)
    st = state(context)
    if action == "use" and name not in named_lists(st):
        await query.answer(f"There is no named watchlist “{name}” any more.")
        return
    if not await may_change(update, context):
        return
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        if action == "use":
            limit = st.settings.max_watch_items
            result = await subscriptions.follow_list(session, chat_id, name, limit=limit)
            done = followed_text(result, name, limit)
        else:
            dropped = await subscriptions.unfollow_list(session, chat_id, name)
            done = f"No longer following {name}" if dropped else f"Not following {name}"
        followed = await subscriptions.followed_lists(session, chat_id)
    await query.answer(done)
    text, markup = lists_view(st, followed)
    await edit(query, text, markup)


async def on_unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An alert's "Unwatch <country>" button."""
    query = update.callback_query
    assert query is not None
    code = query_data(update)[1]
    if not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        removed = await subscriptions.remove_rules(session, chat_of(update)[0], "country", [code])
    name = formatting.country_name(code)
    await query.answer(
        f"No longer watching {name}. /watch {name.lower()} to undo."
        if removed
        else f"{name} was not on the watchlist."
    )


async def on_mute(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An alert's "Mute this pair for a week" button."""
    query = update.callback_query
    assert query is not None
    first, _, second = query_data(update)[1].partition("-")
    if not await may_change(update, context):
        return
    st = state(context)
    until = st.clock() + timedelta(days=buttons.MUTE_DAYS)
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        await subscriptions.mute_pair(session, chat_id, (first, second), until=until)
    pair = f"{formatting.country_name(first)} and {formatting.country_name(second)}"
    await query.answer(f"Muted {pair} stories until {until:%d %b %H:%M} UTC.")
