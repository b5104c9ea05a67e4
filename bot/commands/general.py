"""/help, the command menu, and what every update falls back to: text not understood,
expired buttons, errors."""

from __future__ import annotations

import contextlib
import logging
import re

from telegram import BotCommand, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from bot.gates import is_operator
from bot.i18n import ENGLISH, N_, Tr, tr_of
from bot.state import reply, state

log = logging.getLogger(__name__)

COMMANDS: list[tuple[str, str]] = [
    ("start", N_("subscribe and see what I do")),
    ("watch", N_("watch countries: /watch azerbaijan china")),
    ("unwatch", N_("stop watching countries: /unwatch china")),
    ("keywords", N_("/keywords add|remove|exclude Bayraktar, S-400")),
    ("watchlist", N_("what this chat watches (tap to remove)")),
    ("lists", N_("named watchlists you can follow")),
    ("use", N_("follow a named watchlist: /use caucasus")),
    ("drop", N_("stop following a named watchlist: /drop caucasus")),
    ("export", N_("this chat's watchlist as a TOML file")),
    ("import", N_("reply to a watchlist.toml with /import to add it")),
    ("latest", N_("newest stories: /latest azerbaijan 10")),
    ("digest", N_("last 24 h matching your watchlist")),
    ("why", N_("reply to an alert: the evidence behind it")),
    ("settings", N_("delivery mode, quiet hours, scope")),
    ("status", N_("feeds polled, stories stored, your pending alerts")),
    ("stop", N_("unsubscribe (watchlist kept)")),
    ("language", N_("the language I speak here: /language")),
    ("help", N_("all commands with examples")),
]

HELP = N_("""<b>defwatch</b> alerts you to defence-cooperation stories between states.

/start — subscribe; /stop — unsubscribe (your watchlist is kept)
/watch azerbaijan china — watch countries (names, demonyms, ISO codes, local names)
/unwatch china — stop watching a country
/keywords add Bayraktar, S-400 — alert on words or phrases (comma-separated)
/keywords remove S-400 — forget keywords
/keywords exclude parade — never alert on stories with this phrase
/watchlist — what this chat watches, with buttons to remove items
/lists — named watchlists; /use caucasus to follow one, /drop caucasus to stop
/export — this chat's watchlist as a file; reply to such a file with /import to add it here
/latest azerbaijan 10 — newest stories for a country (default 5, max 20)
/latest — newest stories for your watchlist
/digest — the last 24 hours matching your watchlist, grouped by country pair
/why — as a reply to an alert: the classifier's evidence behind its “Why”
/settings — show settings; /settings instant | /settings digest 08:00 Asia/Baku
/settings quiet 22:00-07:00 | /settings quiet off — hold alerts at night, then send one digest
/settings scope all | /settings scope cooperation — any story, or cooperation only (default)
/settings tz Asia/Baku — your time zone (also a city, baku, or an offset, UTC+4)
/language — the language I speak in this chat (buttons)
/status — feeds polled, last poll, stories stored, alerts waiting for this chat
/partners azerbaijan 90d — a picture of a country's defence partners
/trend azerbaijan 12w — stories per week, stacked by partner
/network caucasus — the cooperation graph of a named list or of countries
In groups only administrators change the watchlist and settings.""")

ADMIN_HELP = """Admin: /feeds, /addfeed URL [COUNTRY], /removefeed URL, /broadcast text"""


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List every command with an example."""
    text = tr_of(context)._(HELP)
    await reply(update, text + ("\n\n" + ADMIN_HELP if is_operator(update, context) else ""))


async def unknown_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point at /help for anything not understood."""
    await reply(update, tr_of(context)._("I did not understand that. /help lists what I can do."))


async def on_unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer buttons from old messages we no longer understand."""
    if update.callback_query is not None:
        await update.callback_query.answer(tr_of(context)._("This button has expired."))


async def button_country(
    update: Update, context: ContextTypes.DEFAULT_TYPE, data: re.Pattern[str]
) -> str | None:
    """The country code in a button's ``data`` ('w:AZ'); None, the button answered as
    expired, when the data is not ours (forged, stale) or the code is unknown."""
    query = update.callback_query
    assert query is not None
    code = (query.data or "").partition(":")[2]
    if not data.fullmatch(query.data or "") or code not in state(context).gazetteer.codes():
        await on_unknown_button(update, context)
        return None
    return code


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error; answer a pending button press so the user's spinner stops."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.callback_query is not None:
        with contextlib.suppress(TelegramError):  # the query may be too old to answer
            await update.callback_query.answer(tr_of(context)._("Something went wrong."))


def bot_commands(t: Tr = ENGLISH) -> list[BotCommand]:
    return [BotCommand(name, t._(description)) for name, description in COMMANDS]
