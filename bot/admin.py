"""The operators' commands (``telegram.admin_ids``): /feeds, /addfeed, /removefeed, and
/status, whose feed line uses the same feed states (/broadcast: ``bot.broadcast``).

* /feeds lists every feed, page by page (◀ Previous / Next ▶ buttons), each with its state:
  ✅ polled and well, ⚠️ failing (with the last error), 🕓 not polled yet, ⏸ disabled.
* /addfeed checks a URL once before storing it: at most ``MAX_FEED_URL_CHARS`` characters,
  ``monitors.netguard`` (scheme, credentials, private addresses after DNS; it also normalises
  the URL, and the normalised URL is what is stored), then one fetch and parse. A refusal
  says why; nothing is stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from telegram import InlineKeyboardMarkup, Update
from telegram.ext import ContextTypes

from bot import buttons, formatting
from bot.args import UsageError, resolve_countries
from bot.formatting import esc
from bot.gates import is_operator
from bot.i18n import ENGLISH, N_, Tr, tr_of
from bot.replies import unknown_lines
from bot.state import chat_of, edit, reply, reply_whether, state
from monitors import netguard, outbox, store, subscriptions
from monitors.errors import FeedError
from monitors.parse import parse_feed
from monitors.store import FeedHealth

log = logging.getLogger(__name__)

MAX_FEED_URL_CHARS = 2048  # the feed table's column
ADDFEED_USAGE = (
    "Usage: /addfeed https://example.com/feed.xml [COUNTRY] (COUNTRY: the state a ministry's "
    "or armed force's own feed speaks for, e.g. /addfeed https://www.army.mil/rss US)"
)
CHECK_SECONDS = 20.0  # /addfeed's one fetch: the bot answers nothing else meanwhile
FEEDS_PAGE_CHARS = 3500


async def admin_only(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    if is_operator(update, context):
        return True
    await reply(update, tr_of(context)._("That command is for the bot's operators."))
    return False


# --- /feeds and /status -----------------------------------------------------------------------


def feed_state(feed: FeedHealth) -> str:
    """'ok', 'failing', 'new' (never polled) or 'disabled'."""
    if not feed.enabled:
        return "disabled"
    if feed.consecutive_errors:
        return "failing"
    return "new" if feed.last_polled_at is None else "ok"


ICONS = {"ok": "✅", "failing": "⚠️", "new": "🕓", "disabled": "⏸"}


def feed_line(feed: FeedHealth) -> str:
    kind = feed_state(feed)
    line = f"{ICONS[kind]} {esc(formatting.clip(feed.url, 120))}"
    if kind == "failing":
        line += f" — {esc(formatting.clip(feed.last_error or 'failing', 80))}"
    elif kind == "new":
        line += " — not polled yet"
    elif kind == "disabled":
        line += " — disabled, not polled"
    return line


FEED_STATES = {
    "ok": N_("{count} ok"),
    "failing": N_("{count} failing"),
    "new": N_("{count} not polled yet"),
    "disabled": N_("{count} disabled"),
}


def feed_counts(feeds: Sequence[FeedHealth], t: Tr = ENGLISH) -> str:
    """'91 feeds: 80 ok, 3 failing, 8 disabled' (states with no feed left out)."""
    counts = Counter(feed_state(f) for f in feeds)
    parts = [t._(said, count=counts[k]) for k, said in FEED_STATES.items() if counts[k]]
    total = t._n("{count} feed", "{count} feeds", len(feeds))
    return total + (f": {', '.join(parts)}" if parts else "")


def status_feeds_line(feeds: Sequence[FeedHealth], t: Tr = ENGLISH) -> str:
    """/status's feed line, saying what disabled means when there are disabled feeds."""
    line = t._("Feeds: {counts}", counts=feed_counts(feeds, t))
    if any(feed_state(f) == "disabled" for f in feeds):
        line += " " + t._(
            "(disabled feeds are switched off in the feed list, e.g. unreliable or paywalled, "
            "and are never polled; operators see them with /feeds)"
        )
    return line


def feed_pages(feeds: Sequence[FeedHealth], budget: int = FEEDS_PAGE_CHARS) -> list[list[str]]:
    """The feed lines cut into pages of at most ``budget`` characters (always one page)."""
    pages: list[list[str]] = [[]]
    size = 0
    for line in (feed_line(f) for f in feeds):
        if pages[-1] and size + len(line) + 1 > budget:
            pages.append([])
            size = 0
        pages[-1].append(line)
        size += len(line) + 1
    return pages


async def feeds_view(
    context: ContextTypes.DEFAULT_TYPE, page: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    async with state(context).sessions() as session:
        rows = await store.list_feeds(session)
    pages = feed_pages(rows)
    page = max(1, min(page, len(pages)))
    header = f"<b>{feed_counts(rows)}</b>"
    if len(pages) > 1:
        header += f" — page {page} of {len(pages)}"
    text = "\n".join([header, *pages[page - 1]])
    return text, buttons.pages_markup("fd", page, len(pages))


async def status(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Feeds by state, last poll, stories stored, this chat's pending alerts."""
    st = state(context)
    chat_id = chat_of(update)[0]
    async with st.sessions() as session:
        stats = await store.stats(session)
        all_feeds = await store.list_feeds(session)
        pending = await outbox.pending_count(session, chat_id)
        chat = await subscriptions.get_chat(session, chat_id)
    t = tr_of(context)
    zone = chat.timezone if chat else "UTC"
    polled = t.when(stats.last_poll_at, zone) if stats.last_poll_at else t._("never")
    lines = [
        status_feeds_line(all_feeds, t),
        t._("Last poll: {when}", when=esc(polled)),
        t._(
            "Stories stored: {total} ({cooperation} defence cooperation)",
            total=stats.stories_total,
            cooperation=stats.cooperation_stories,
        ),
        t._("Alerts waiting for this chat: {count}", count=pending),
        t._("This chat: subscribed") if chat and chat.active else t._("This chat: not subscribed"),
    ]
    await reply(update, "\n".join(lines))


async def feeds(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admin: every feed with its state, page by page."""
    if not await admin_only(update, context):
        return
    text, markup = await feeds_view(context, 1)
    await reply(update, text, reply_markup=markup)


async def on_feeds_page(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/feeds' ◀ Previous / Next ▶ buttons."""
    query = update.callback_query
    assert query is not None
    if not is_operator(update, context):
        await query.answer("That is for the bot's operators.", show_alert=True)
        return
    await query.answer()
    text, markup = await feeds_view(context, int((query.data or "fd:1").split(":")[1]))
    await edit(query, text, markup)


# --- /addfeed, /removefeed --------------------------------------------------------------------


async def checked_feed(context: ContextTypes.DEFAULT_TYPE, url: str) -> tuple[str, str | None]:
    """(the normalised URL, the feed's title) after one fetch and parse; FeedError says why not."""
    if len(url) > MAX_FEED_URL_CHARS:
        raise FeedError(f"the URL is {len(url):,} characters long; at most {MAX_FEED_URL_CHARS}")
    st = state(context)
    normalised = await netguard.acheck_feed_url(url, allow_private=st.settings.allow_private_feeds)
    fetcher = context.bot_data["monitor"].fetcher
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            result = await fetcher.fetch(normalised)
    except TimeoutError:
        raise FeedError(f"{normalised}: no answer within {CHECK_SECONDS:g} s") from None
    parsed = parse_feed(
        result.body or b"",
        url=result.final_url,
        fetched_at=datetime.now(UTC),
        content_type=result.content_type,
    )
    return normalised, parsed.title


def feed_country(words: Sequence[str], resolve: Callable[[str], str]) -> str | None:
    """The one country named after /addfeed's URL, the state a ministry's or armed force's own
    feed speaks for (None when none is named); UsageError with the reply otherwise."""
    if not words:
        return None
    found = resolve_countries(words, resolve)
    if found.unknown or len(found.codes) != 1:
        lines = unknown_lines(found.unknown) or ["Name one country after the URL."]
        raise UsageError("\n".join([*lines, ADDFEED_USAGE, "Nothing was added."]))
    return found.codes[0]


async def addfeed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admin: add a feed after checking it once (netguard, one fetch and parse)."""
    if not await admin_only(update, context):
        return
    args = list(context.args or [])
    if not args:
        await reply(update, ADDFEED_USAGE)
        return
    st = state(context)
    try:
        country = feed_country(args[1:], st.resolve)
    except UsageError as exc:
        await reply(update, str(exc))
        return
    try:
        url, title = await checked_feed(context, (context.args or [""])[0])
    except FeedError as exc:  # UnsafeFeedURL, HTTP errors, timeouts, NotAFeed
        await reply(update, f"Refused: {esc(formatting.clip(str(exc), 400))}. Nothing was added.")
        return
    async with st.sessions.begin() as session:
        added = await store.add_feed(session, url, title=title, country=country, now=st.clock())
    name = f"“{esc(formatting.clip(title, 80))}”, " if title else ""
    speaks_for = f" (speaks for {country})" if country else ""
    await reply_whether(
        update,
        added,
        f"Feed added: {name}{esc(url)}{speaks_for}; it will be polled shortly.",
        f"That feed is already there ({esc(url)}).",
    )


async def removefeed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Admin: remove a feed URL (as typed, or as /addfeed normalised it)."""
    if not await admin_only(update, context):
        return
    if len(context.args or []) != 1:
        await reply(update, "Usage: /removefeed https://example.com/feed.xml")
        return
    url = (context.args or [""])[0]
    candidates = [url]
    with contextlib.suppress(netguard.UnsafeFeedURL):  # allow_private: normalise, no DNS
        candidates.append(netguard.check_feed_url(url, allow_private=True))
    async with state(context).sessions.begin() as session:
        removed = False
        for candidate in dict.fromkeys(candidates):
            removed = await store.remove_feed(session, candidate) or removed
    await reply_whether(update, removed, "Feed removed.", "No such feed.")
