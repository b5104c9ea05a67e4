"""Telegram commands for the analyst views: /partners, /trend, /network (issue 16).

Each command answers with a PNG (sendPhoto) drawn by ``monitors.views`` and an HTML caption;
the picture is rendered off the event loop and cached until new stories arrive. Argument
parsing and captions are pure and at the top. ``register`` adds the handlers and, when
``atom.enabled`` is set, starts the loopback Atom endpoint once the bot is running.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from telegram import BotCommand, Update
from telegram.ext import Application, CommandHandler, ContextTypes

from bot.args import UsageError, resolve_countries
from bot.formatting import clip, esc, link, tg_len
from bot.replies import unknown_lines
from bot.state import reply, state
from monitors.errors import PeriodError
from monitors.views.analysis import TOO_FEW, Network, Partners, Trend, parse_period
from monitors.views.atom_server import AtomServer
from monitors.views.queries import MAX_VIEW_STORIES
from monitors.views.service import ViewService
from monitors.watchlists import Watchlist

log = logging.getLogger(__name__)

MAX_DAYS = 730
MAX_NETWORK_COUNTRIES = 12
CAPTION_LIMIT = 1024 - 60  # Telegram's 1024, less room for the cut note
TOP_PARTNERS = 3
COMMANDS: list[tuple[str, str]] = [
    ("partners", "a country's defence partners as a picture: /partners azerbaijan 90d"),
    ("trend", "stories per week by partner: /trend azerbaijan 12w"),
    ("network", "who cooperates with whom: /network caucasus or /network az ge am"),
]


# --- pure: arguments and captions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ViewRequest:
    codes: tuple[str, ...]
    period: int  # days, or weeks for /trend
    label: str | None = None  # the watchlist's name for /network caucasus


def parse_view_args(
    args: Sequence[str],
    resolve: Callable[[str], str],
    *,
    command: str,
    default: str,
    unit: str,
    lists: Mapping[str, Watchlist] | None = None,
) -> ViewRequest:
    """'azerbaijan 90d' -> (AZ,), 90; for /network also a watchlist name or several countries.

    ``UsageError`` messages are HTML, ready to send."""
    words = list(args)
    period = default
    if words and words[-1][:1].isdigit():
        period = words.pop()
    usage = f"Usage: /{command} azerbaijan {default}"
    try:
        amount = parse_period(period, unit=unit, maximum_days=MAX_DAYS)
    except PeriodError as exc:
        raise UsageError(esc(f"{exc}. {usage}")) from None
    if lists is not None and len(words) == 1 and words[0].lower() in lists:
        watchlist = lists[words[0].lower()]
        if not watchlist.countries:
            raise UsageError(f"The watchlist {esc(watchlist.name)} names no countries.")
        if len(watchlist.countries) > MAX_NETWORK_COUNTRIES:
            raise UsageError(
                f"The watchlist {esc(watchlist.name)} names {len(watchlist.countries)} countries;"
                f" a network shows at most {MAX_NETWORK_COUNTRIES}. Name them instead."
            )
        return ViewRequest(tuple(sorted(watchlist.countries)), amount, watchlist.name)
    found = resolve_countries(words, resolve)
    if found.unknown:
        raise UsageError("\n".join(unknown_lines(found.unknown)))
    if not found.codes:
        raise UsageError(usage)
    if lists is None and len(found.codes) > 1:
        raise UsageError(f"One country at a time, please. {usage}")
    if len(found.codes) > MAX_NETWORK_COUNTRIES:
        raise UsageError(f"At most {MAX_NETWORK_COUNTRIES} countries in one network.")
    return ViewRequest(found.codes, amount)


def _few(stories: int) -> str:
    if stories == 0:
        return "\nNo stories in this period: try a longer one."
    return f"\nOnly {stories}: too few to show a pattern." if stories < TOO_FEW else ""


def partners_caption(data: Partners, name: Callable[[str], str], days: int) -> str:
    """Title, then the three latest stories per top partner as links (within 1024 chars)."""
    head = (
        f"<b>{esc(name(data.country))} ({data.country}): defence partners, last {days} days</b>\n"
        f"{data.stories} stories with a partner." + _few(data.stories)
    )
    for width in (70, 45, 25):
        blocks = [head]
        for row in data.rows[:TOP_PARTNERS]:
            items = [
                f"• {link(clip(ref.title, width), ref.url)} · {ref.published_at:%d %b}"
                for ref in row.latest
            ]
            blocks.append(f"\n<b>{row.code} {esc(name(row.code))}</b> ({row.stories})")
            blocks.extend(items)
        caption = "\n".join(blocks)
        if tg_len(_rendered(caption)) <= CAPTION_LIMIT:
            return caption
    return head


def _rendered(caption: str) -> str:
    """What Telegram counts against the caption limit: the text without tags or entities."""
    return html.unescape(re.sub(r"<[^>]+>", "", caption))


def trend_caption(data: Trend, name: Callable[[str], str]) -> str:
    top = ", ".join(f"{code} {sum(counts)}" for code, counts in data.series)
    return (
        f"<b>{esc(name(data.country))} ({data.country}): stories per week, "
        f"{len(data.weeks)} weeks</b>\n{data.stories} stories with a partner"
        + (f"; contacts: {esc(top)}" if top else "")
        + "."
        + _few(data.stories)
    )


def network_caption(data: Network, days: int, label: str | None) -> str:
    focus = esc(label) if label else ", ".join(data.focus)
    ties = ", ".join(f"{e.a}-{e.b} {e.stories}" for e in data.edges[:5])
    return (
        f"<b>Cooperation among and around {focus}, last {days} days</b>\n"
        f"{data.stories} stories" + (f"; strongest ties: {ties}" if ties else "") + "."
        + (f"\n{data.cut} more partners not drawn." if data.cut else "")
        + _few(data.stories)
    )  # fmt: skip


def cut_note(cut: bool) -> str:
    return f"\nCounted from the newest {MAX_VIEW_STORIES} stories only." if cut else ""


# --- handlers -------------------------------------------------------------------------------------


def service(context: ContextTypes.DEFAULT_TYPE) -> ViewService:
    """The bot's one ViewService (its cache lives as long as the process); pictures are drawn
    in the monitor's process pool, so drawing never holds up the bot."""
    views: ViewService | None = context.bot_data.get("views")
    if views is None:
        st = state(context)
        executor = context.bot_data["monitor"].context.executor
        views = ViewService(st.sessions, st.gazetteer.name, executor=executor)
        context.bot_data["views"] = views
    return views


async def _request(
    update: Update, context: ContextTypes.DEFAULT_TYPE, command: str, default: str, unit: str
) -> ViewRequest | None:
    st = state(context)
    lists = (st.watchlists.lists if st.watchlists else {}) if command == "network" else None
    try:
        return parse_view_args(
            context.args or [], st.resolve, command=command, default=default, unit=unit, lists=lists
        )
    except UsageError as exc:
        await reply(update, str(exc))
        return None


async def partners(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/partners azerbaijan [90d]: bars per partner by cooperation type, latest stories below."""
    request = await _request(update, context, "partners", "90d", "d")
    if request is None or update.effective_message is None:
        return
    picture = await service(context).partners(request.codes[0], request.period)
    caption = partners_caption(picture.data, state(context).gazetteer.name, request.period)
    caption += cut_note(picture.cut)
    await update.effective_message.reply_photo(picture.png or b"", caption=caption)


async def trend(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/trend azerbaijan [12w]: stories per week, stacked by partner."""
    request = await _request(update, context, "trend", "12w", "w")
    if request is None or update.effective_message is None:
        return
    picture = await service(context).trend(request.codes[0], request.period)
    caption = trend_caption(picture.data, state(context).gazetteer.name) + cut_note(picture.cut)
    await update.effective_message.reply_photo(picture.png or b"", caption=caption)


async def network(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/network caucasus | /network azerbaijan georgia armenia [90d]: the cooperation graph."""
    request = await _request(update, context, "network", "90d", "d")
    if request is None or update.effective_message is None:
        return
    picture = await service(context).network(request.codes, request.period, label=request.label)
    caption = network_caption(picture.data, request.period, request.label) + cut_note(picture.cut)
    await update.effective_message.reply_photo(picture.png or b"", caption=caption)


async def start_atom_endpoint(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Serve the Atom feeds from this process; closed with the bot's other resources."""
    st = state(context)
    settings = st.settings
    server = AtomServer(
        st.sessions,
        resolve=st.resolve,
        name=st.gazetteer.name,
        lists=lambda: st.watchlists.lists if st.watchlists else {},
        host=settings.atom_host,
        port=settings.atom_port,
        entries=settings.atom_entries,
    )
    try:
        await server.start()
    except OSError as exc:
        log.error(
            "Atom endpoint not started on %s:%d: %s", settings.atom_host, settings.atom_port, exc
        )
        return
    context.bot_data["stack"].push_async_callback(server.close)


def bot_commands() -> list[BotCommand]:
    return [BotCommand(name, description) for name, description in COMMANDS]


def register(application: Application) -> None:
    """The view commands; the Atom endpoint too when the settings enable it."""
    for name, callback in (("partners", partners), ("trend", trend), ("network", network)):
        application.add_handler(CommandHandler(name, callback))
    if application.bot_data["settings"].atom_enabled and application.job_queue is not None:
        application.job_queue.run_once(
            start_atom_endpoint, 0, name="atom", job_kwargs={"misfire_grace_time": None}
        )
