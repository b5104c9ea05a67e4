"""Reading stories: /latest (one ``latest_page`` for the command and its buttons) and
/digest (the last 24 hours that ``monitors.matching.matches`` the chat's watchlist)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import buttons, formatting
from bot.args import (
    DEFAULT_LATEST,
    MAX_LATEST,
    Cut,
    UsageError,
    decode_before,
    encode_before,
    parse_latest_args,
    resolve_countries,
    take,
)
from bot.commands.general import button_country
from bot.formatting import callback, esc
from bot.gates import watchlist_of
from bot.i18n import ENGLISH, Tr, say, tr_of
from bot.replies import (
    cut_lines,
    question_lines,
    question_markup,
    unknown_lines,
)
from bot.state import BotState, chat_of, chat_zone, edit, reply, state
from monitors import store, subscriptions
from monitors.matching import ChatWatch, matches

MAX_LATEST_COUNTRIES = 8


LATEST_CODE_DATA = re.compile(r"lt:[A-Z]{2}")


async def latest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Newest stories for a country, or for the watchlist when none is given."""
    st = state(context)
    t = tr_of(context)
    try:
        name, count = parse_latest_args(context.args or [])
    except UsageError as exc:
        await reply(update, esc(say(exc, t)))
        return
    chat_id = chat_of(update)[0]
    asked = await (
        named_codes(update, st, name, t) if name else watched_codes(update, st, chat_id, t)
    )
    if asked is None:
        return
    codes, key, note = asked
    text, markup = await latest_page(st, chat_id, codes, key, count, note=note, t=t)
    await reply(update, text, reply_markup=markup)


async def named_codes(
    update: Update, st: BotState, name: str, t: Tr = ENGLISH
) -> tuple[Sequence[str], str, str] | None:
    """/latest NAME: (codes, the buttons' key, a note of what was left out); None once the
    reply asked about a code that is also a word or named the unknown names."""
    found = resolve_countries(name.split(), st.resolve)
    if found.questions and not found.unresolved and not found.codes:
        asked = question_lines(found.questions, "see its stories", t)
        markup = question_markup(found.questions, "lt", t)
        await reply(update, "\n".join(asked), reply_markup=markup)
        return None
    if found.unknown or not found.codes:
        unknown = "\n".join(unknown_lines(found.unknown, t))
        await reply(update, unknown or t._("Usage: /latest azerbaijan"))
        return None
    # The "More" button carries the codes in its 64-byte callback data: at most 8.
    codes, cut = take(found.codes, MAX_LATEST_COUNTRIES)
    note = latest_cut_note(cut, t) + "\n".join(cut_lines(found.cut, "/latest", t))
    return codes, ",".join(codes), note


async def watched_codes(
    update: Update, st: BotState, chat_id: int, t: Tr = ENGLISH
) -> tuple[Sequence[str], str, str] | None:
    """/latest alone: the watchlist's countries; None once the reply said there are none."""
    async with st.sessions() as session:
        codes = list(await subscriptions.watched_countries(session, chat_id))
    if not codes:
        await reply(
            update,
            t._(
                "{watchlist} has no countries. Try /latest azerbaijan or /watch azerbaijan.",
                watchlist=watchlist_of(update, t, capital=True),
            ),
        )
        return None
    return codes, "w", ""  # "w": "More" re-reads the watchlist, however long it is


def latest_cut_note(cut: Cut, t: Tr = ENGLISH) -> str:
    if not cut.happened:
        return ""
    return t._(
        "Showing {kept} of the {given} countries (at most {most} in one /latest); "
        "not shown: {left_out}.",
        kept=cut.kept,
        given=cut.given,
        most=MAX_LATEST_COUNTRIES,
        left_out=", ".join(formatting.country_label(c, t) for c in cut.dropped),
    )


async def on_latest_code(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The button of "“it” is also a word: did you mean Italy?" under /latest."""
    query = update.callback_query
    assert query is not None
    code = await button_country(update, context, LATEST_CODE_DATA)
    if code is None:
        return
    await query.answer()
    text, markup = await latest_page(
        state(context), chat_of(update)[0], [code], code, DEFAULT_LATEST, t=tr_of(context)
    )
    await edit(query, text, markup)


MAX_PAGE_OFFSET = 400  # /latest pages back at most this many stories


async def latest_page(
    st: BotState,
    chat_id: int,
    codes: Sequence[str],
    key: str,
    count: int,
    *,
    offset: int = 0,
    page: int = 1,
    before: tuple[datetime, int] | None = None,
    note: str = "",
    t: Tr = ENGLISH,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """Page ``page`` of /latest: ``count`` stories after the newest ``offset`` (or before the
    ``before`` cursor of an older "More" button), with Newer and Older buttons."""
    async with st.sessions() as session:
        chat = await subscriptions.get_chat(session, chat_id)
        cooperation_only = chat is None or chat.scope == "cooperation"
        stories = await store.latest_stories(
            session,
            codes,
            limit=offset + count + 1,
            before=before,
            cooperation_only=cooperation_only,
        )
        stories = stories[offset:]
        last_poll = await store.last_poll_at(session) if not stories else None
    zone = chat.timezone if chat else "UTC"
    names = ", ".join(formatting.country_label(c, t) for c in codes)
    if not stories:
        polled = esc(t.when(last_poll, zone)) if last_poll else t._("not yet")
        text = (
            t._(
                "No older stories for {names}. Feeds last polled: {polled}.",
                names=names,
                polled=polled,
            )
            if before or offset
            else t._(
                "No stories stored yet for {names}. Feeds last polled: {polled}.",
                names=names,
                polled=polled,
            )
        )
        return text + (f"\n\n{note}" if note else ""), None
    items, has_more = stories[:count], len(stories) > count
    header = (
        t._("<b>Latest for {names}</b> — page {page}", names=names, page=page)
        if page > 1 or has_more
        else t._("<b>Latest for {names}</b>", names=names)
    )
    text, shown = formatting.story_list(header, items, focus=codes, footer=note, t=t, zone=zone)
    further = has_more or shown < len(items)
    if before is not None:  # an older message's "More" button: keep paging by its cursor
        last = items[max(shown, 1) - 1]
        data = callback("more", key, count, encode_before(last))
        older = [[InlineKeyboardButton(t._("Older ▶"), callback_data=data)]] if further else []
        return text, InlineKeyboardMarkup(older) if older else None
    next_offset = offset + max(shown, 1)
    older_offset = next_offset if further and next_offset <= MAX_PAGE_OFFSET else None
    return text, buttons.latest_markup(key, count, offset, page, older_offset, t)


async def on_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/latest's Newer and Older buttons: show that page by editing the message."""
    query = update.callback_query
    assert query is not None
    _, key, count, offset, page = (query.data or "").split(":")
    offset_, page_ = min(int(offset), MAX_PAGE_OFFSET), int(page)  # forged data stays bounded
    await show_page(update, context, key, int(count), offset=offset_, page=page_)


async def on_more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "More" button of older /latest messages: page further back by its cursor."""
    query = update.callback_query
    assert query is not None
    _, key, count, micros, story_id = (query.data or "").split(":")
    before = decode_before(micros, story_id)
    await show_page(update, context, key, int(count), before=before, page=2)


async def show_page(
    update: Update, context: ContextTypes.DEFAULT_TYPE, key: str, count: int, **where: Any
) -> None:
    query = update.callback_query
    assert query is not None
    st = state(context)
    chat_id = chat_of(update)[0]
    if key == "w":
        async with st.sessions() as session:
            codes: Sequence[str] = await subscriptions.watched_countries(session, chat_id)
    else:
        codes = key.split(",")
    await query.answer()
    text, markup = await latest_page(
        st, chat_id, codes, key, max(1, min(count, MAX_LATEST)), t=tr_of(context), **where
    )
    await edit(query, text, markup)


async def chat_watch(session: AsyncSession, chat_id: int) -> ChatWatch:
    chat = await subscriptions.get_chat(session, chat_id)
    rules = await subscriptions.list_rules(session, chat_id)
    by_kind = {
        k: frozenset(r.value for r in rules if r.kind == k)
        for k in ("country", "keyword", "exclude")
    }
    return ChatWatch(
        chat_id,
        chat.scope if chat else "cooperation",
        by_kind["country"],
        by_kind["keyword"],
        by_kind["exclude"],
    )


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The last 24 h of stories matching this chat's watchlist, grouped by country pair."""
    st = state(context)
    chat_id = chat_of(update)[0]
    async with st.sessions() as session:
        watch_ = await chat_watch(session, chat_id)
        recent = await store.recent_stories(
            session,
            since=st.clock() - timedelta(hours=24),
            cooperation_only=watch_.scope == "cooperation",
        )
    t = tr_of(context)
    if not (watch_.countries or watch_.keywords):
        await reply(
            update,
            t._(
                "{watchlist} is empty: /watch azerbaijan or /keywords add Bayraktar.",
                watchlist=watchlist_of(update, t, capital=True),
            ),
        )
        return
    stories = [s for s in recent if matches(s.for_alert(), watch_)]
    if not stories:
        said = t._(
            "Nothing in the last 24 hours matches {watchlist}.", watchlist=watchlist_of(update, t)
        )
        await reply(update, said)
        return
    zone = await chat_zone(st, chat_id)
    await reply(update, formatting.format_digest(t._("Last 24 hours"), stories, t=t, zone=zone))
