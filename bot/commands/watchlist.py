"""A chat's own watchlist: /watch, /unwatch, /keywords, /watchlist and its remove buttons,
and the country buttons of /start."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import buttons, formatting
from bot.args import (
    Resolved,
    keyword_items,
    resolve_countries,
    split_terms,
)
from bot.commands.general import button_country, on_unknown_button
from bot.formatting import callback, esc
from bot.gates import given_and_allowed, may_change, watchlist_of
from bot.i18n import ENGLISH, Tr, say, tr_of
from bot.replies import (
    EXCLUDING,
    NOT_SUBSCRIBED,
    WATCHING,
    added_lines,
    cut_lines,
    question_lines,
    unknown_lines,
)
from bot.state import add_to_watchlist, chat_of, edit, ensure_chat, reply, state
from monitors import subscriptions
from monitors.subscriptions import normalise_keyword

PHRASE_KINDS: tuple[subscriptions.RuleKind, ...] = ("keyword", "exclude")


async def countries_to_change(
    update: Update, context: ContextTypes.DEFAULT_TYPE, usage: str
) -> Resolved | None:
    """The countries /watch or /unwatch names; None once refused (no words, or not allowed)."""
    if not await given_and_allowed(update, context, context.args, usage):
        return None
    return resolve_countries(context.args or [], state(context).resolve)


async def watch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Watch countries by name, demonym or code; a code that is also a word is asked about."""
    t = tr_of(context)
    found = await countries_to_change(update, context, t._("Usage: /watch azerbaijan china"))
    if found is None:
        return
    st = state(context)
    lines = unknown_lines(found.unresolved, t) + cut_lines(found.cut, "/watch", t)
    asked = question_lines(found.questions, "watch it", t)  # answered by the "Watch …" buttons
    if found.codes:
        result, active = await add_to_watchlist(update, st, countries_adder(found.codes, t))
        lines[:0] = added_lines(result, st.settings.max_watch_items, t)
        if not active:
            lines.append(t._(NOT_SUBSCRIBED))
    markup = buttons.suggestions_markup(found.unknown, st.resolve, t)
    await reply(update, "\n".join(lines + asked), reply_markup=markup)


def countries_adder(
    codes: Sequence[str], t: Tr = ENGLISH
) -> Callable[[AsyncSession, int, int], Awaitable[subscriptions.AddResult]]:
    """What ``add_to_watchlist`` runs to add these countries (named in ``t``'s language)."""
    items = [(c, formatting.country_name(c, t)) for c in codes]

    def add(session: AsyncSession, chat_id: int, limit: int) -> Awaitable[subscriptions.AddResult]:
        return subscriptions.add_rules(session, chat_id, "country", items, limit=limit)

    return add


async def unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop watching countries."""
    t = tr_of(context)
    found = await countries_to_change(update, context, t._("Usage: /unwatch china"))
    if found is None:
        return
    lines = unknown_lines(found.unknown, t) + cut_lines(found.cut, "/unwatch", t)
    if found.codes:
        async with state(context).sessions.begin() as session:
            removed = await subscriptions.remove_rules(
                session, chat_of(update)[0], "country", list(found.codes)
            )
        lines.insert(
            0,
            t._("No longer watching: {items}.", items=", ".join(esc(r) for r in removed))
            if removed
            else t._("None of those were on the watchlist."),
        )
    await reply(update, "\n".join(lines))


async def keywords(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/keywords add|remove|exclude phrase, phrase…"""
    t = tr_of(context)
    args = context.args or []
    action = args[0].lower() if args else ""
    terms = split_terms(args[1:])
    usage = t._(
        "Usage: /keywords add Bayraktar, S-400 | /keywords remove S-400 | /keywords exclude parade"
    )
    given = action in ("add", "remove", "exclude") and terms
    if not await given_and_allowed(update, context, given, usage):
        return
    items, refused = keyword_items(terms)
    if action == "remove":  # removing needs no checks: anything stored is found by its value
        items, refused = [(normalise_keyword(term), term) for term in terms], []
    st = state(context)
    async with st.sessions.begin() as session:
        chat_id = await ensure_chat(session, update, st)
        limit = st.settings.max_watch_items
        done = await change_keywords(session, chat_id, action, items, limit, t)
    await reply(update, "\n".join(done + [esc(say(line, t)) for line in refused]) or usage)


async def change_keywords(
    session: AsyncSession,
    chat_id: int,
    action: str,
    items: list[tuple[str, str]],
    limit: int,
    t: Tr = ENGLISH,
) -> list[str]:
    """Add, exclude or remove the phrases ``items`` (folded, as typed); the reply's lines."""
    if action == "remove":
        removed: list[str] = []
        for phrase_kind in PHRASE_KINDS:
            removed += await subscriptions.remove_rules(
                session, chat_id, phrase_kind, [v for v, _ in items]
            )
        if removed:
            return [t._("Removed: {items}.", items=", ".join(esc(r) for r in removed))]
        return [t._("None of those were on the watchlist.")]
    if not items:
        return []
    kind: subscriptions.RuleKind = "keyword" if action == "add" else "exclude"
    result = await subscriptions.add_rules(session, chat_id, kind, items, limit=limit)
    return added_lines(result, limit, t, EXCLUDING if kind == "exclude" else WATCHING)


async def watchlist_markup(
    session: AsyncSession, chat_id: int, owner: str = "", t: Tr = ENGLISH
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The chat's rules (countries named in ``t``'s language) with a remove button each."""
    rules = await subscriptions.list_rules(session, chat_id)
    shown = [
        (r.kind, formatting.country_name(r.value, t) if r.kind == "country" else r.display)
        for r in rules
    ]
    text = formatting.watchlist_text(shown, owner, t)
    buttons = [
        [
            InlineKeyboardButton(
                formatting.rule_button_label(r.kind, r.value, r.display, t),
                callback_data=callback("rm", r.id),
            )
        ]
        for r in rules
    ]
    return text, InlineKeyboardMarkup(buttons) if buttons else None


async def watchlist(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the watchlist with a button per item to remove it."""
    st = state(context)
    t = tr_of(context)
    async with st.sessions() as session:
        text, markup = await watchlist_markup(
            session, chat_of(update)[0], watchlist_of(update, t, capital=True), t
        )
    await reply(update, text, reply_markup=markup)


# Callback data as our own buttons write it; anything else (forged, stale) is "expired".
REMOVE_DATA = re.compile(r"rm:\d{1,19}")
WATCH_DATA = re.compile(r"w:[A-Z]{2}")
LATEST_CODE_DATA = re.compile(r"lt:[A-Z]{2}")
MAX_ROW_ID = 2**63 - 1


async def on_remove(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A watchlist button: remove that item and redraw the list."""
    query = update.callback_query
    assert query is not None
    if not REMOVE_DATA.fullmatch(query.data or ""):
        await on_unknown_button(update, context)
        return
    if not await may_change(update, context):
        return
    st = state(context)
    chat_id = chat_of(update)[0]
    rule_id = int((query.data or "").split(":")[1])
    async with st.sessions.begin() as session:
        # Only this chat's rules can go; an id from another chat (forged data) finds nothing.
        removed = (
            await subscriptions.remove_rule_by_id(session, chat_id, rule_id)
            if rule_id <= MAX_ROW_ID
            else None
        )
        t = tr_of(context)
        owner = watchlist_of(update, t, capital=True)
        text, markup = await watchlist_markup(session, chat_id, owner, t)
    await query.answer(
        t._("Removed {item}", item=removed.display) if removed else t._("Already removed")
    )
    await edit(query, text, markup)


async def on_watch_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A /start button: watch that country."""
    query = update.callback_query
    assert query is not None
    code = await button_country(update, context, WATCH_DATA)
    if code is None or not await may_change(update, context):
        return
    st = state(context)
    t = tr_of(context)
    result, _ = await add_to_watchlist(update, st, countries_adder([code], t))
    await query.answer(" ".join(added_lines(result, st.settings.max_watch_items, t))[:190])
