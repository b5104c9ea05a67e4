"""Button callbacks of bot.buttons' keyboards: settings, named lists, and an alert's buttons.

An alert's "❓ Why" button answers, as a reply to the alert, with what ``/why`` shows: the
reasons in words and the classifier's raw evidence (``bot.explain``). It shows only stories
this chat was alerted to; anyone in the chat may tap it (it changes nothing).

Every callback answers its query (a toast saying what happened). Changes go through
``bot.gates.may_change`` like the commands they replace; ``bot.app`` registers each with its
pattern from ``bot.buttons.PATTERNS``, so a handler only sees data of its own shape.
"""

from __future__ import annotations

from datetime import timedelta

from telegram import ReplyParameters, Update
from telegram.ext import ContextTypes

from bot import buttons, explain, formatting
from bot.commands.named import lists_view
from bot.commands.settings import settings_text
from bot.gates import may_change
from bot.i18n import ENGLISH, Tr, tr_of
from bot.state import chat_of, edit, ensure_chat, named_lists, state
from monitors import outbox, store, subscriptions


def query_data(update: Update) -> list[str]:
    assert update.callback_query is not None
    return (update.callback_query.data or "").split(":")


async def on_setting(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /settings button: apply that choice and redraw the settings message."""
    query = update.callback_query
    assert query is not None
    t = tr_of(context)
    _, field, choice = query_data(update)
    chosen = buttons.SETTING_CHOICES.get((field, choice))
    if chosen is None:
        await query.answer(t._("This button has expired."))
        return
    if not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        chat = await subscriptions.update_settings(session, chat_id, **chosen[1])
    st.reschedule_digest(chat)
    await query.answer(t._("Saved: {choice}", choice=buttons.choice_label(field, choice, t)))
    text = t._("Saved.") + "\n" + settings_text(chat, t)
    await edit(query, text, buttons.settings_markup(chat, t))


def followed_text(result: subscriptions.AddResult, name: str, limit: int, t: Tr = ENGLISH) -> str:
    """The answer to a Follow button."""
    if result.added:
        return t._("Now following {name}", name=name)
    if result.existing:
        return t._("Already following {name}", name=name)
    return t._("Not followed: the limit of {limit} items is reached", limit=limit)


async def on_follow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /lists button: follow (or stop following) that named watchlist, redraw the list."""
    query = update.callback_query
    assert query is not None
    t = tr_of(context)
    action, name = query_data(update)
    st = state(context)
    if action == "use" and name not in named_lists(st):
        await query.answer(t._("There is no named watchlist “{name}” any more.", name=name))
        return
    if not await may_change(update, context):
        return
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        if action == "use":
            limit = st.settings.max_watch_items
            result = await subscriptions.follow_list(session, chat_id, name, limit=limit)
            done = followed_text(result, name, limit, t)
        else:
            dropped = await subscriptions.unfollow_list(session, chat_id, name)
            done = (
                t._("No longer following {name}", name=name)
                if dropped
                else t._("Not following {name}", name=name)
            )
        followed = await subscriptions.followed_lists(session, chat_id)
    await query.answer(done)
    text, markup = lists_view(st, followed, t)
    await edit(query, text, markup)


async def on_unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An alert's "Unwatch <country>" button."""
    query = update.callback_query
    assert query is not None
    t = tr_of(context)
    code = query_data(update)[1]
    if not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        removed = await subscriptions.remove_rules(session, chat_of(update)[0], "country", [code])
    name = formatting.country_name(code, t)
    await query.answer(
        t._(
            "No longer watching {country}. /watch {typed} to undo.",
            country=name,
            typed=name.lower(),
        )
        if removed
        else t._("{country} was not on the watchlist.", country=name)
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
    t = tr_of(context)
    await query.answer(
        t._(
            "Muted {first} and {second} stories until {until}.",
            first=formatting.country_name(first, t),
            second=formatting.country_name(second, t),
            until=t.when(until),
        )
    )


async def on_why(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An alert's "Why" button: its evidence, as a reply to the alert."""
    query = update.callback_query
    assert query is not None
    story_id = int(query_data(update)[1])
    chat_id = chat_of(update)[0]
    t = tr_of(context)
    async with state(context).sessions() as session:
        alerted = await outbox.was_alerted(session, chat_id, story_id)
        stories = await store.story_views(session, [story_id]) if alerted else []
    if not stories:
        await query.answer(
            t._("Nothing to show: that story was not alerted here, or is no longer stored."),
            show_alert=True,
        )
        return
    await query.answer()
    message_id = query.message.message_id if query.message is not None else None
    await context.bot.send_message(
        chat_id,
        explain.evidence_text(stories, t),
        reply_parameters=ReplyParameters(message_id, allow_sending_without_reply=True)
        if message_id is not None
        else None,
    )
