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
from bot.i18n import ENGLISH, N_, Joined, Said, Tr, say, tr_of
from bot.replies import unknown_lines
from bot.state import reply, state
from monitors.errors import PeriodError, UnknownCountry
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
    ("partners", N_("a country's defence partners as a picture: /partners azerbaijan 90d")),
    ("trend", N_("stories per week by partner: /trend azerbaijan 12w")),
    ("network", N_("who cooperates with whom: /network caucasus or /network az ge am")),
]


# --- pure: arguments and captions ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ViewRequest:
    codes: tuple[str, ...]
    period: int  # days, or weeks for /trend
    label: str | None = None  # the watchlist's name for /network caucasus


def period_problem(exc: PeriodError) -> Said:
    """What is wrong with a period, in words the catalogue translates."""
    if exc.maximum_days is not None:
        return Said("The period must be between 1 day and {days} days.", days=exc.maximum_days)
    return Said("{shown} is not a period; use e.g. 90d or 12w.", shown=esc(repr(exc.text)))


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
    usage = Said("Usage: /{command} azerbaijan {default}", command=command, default=default)
    try:
        amount = parse_period(period, unit=unit, maximum_days=MAX_DAYS)
    except PeriodError as exc:
        raise UsageError(Joined(period_problem(exc), usage)) from None
    if lists is not None and len(words) == 1 and words[0].lower() in lists:
        watchlist = lists[words[0].lower()]
        if not watchlist.countries:
            raise UsageError(
                Said("The watchlist {name} names no countries.", name=esc(watchlist.name))
            )
        if len(watchlist.countries) > MAX_NETWORK_COUNTRIES:
            raise UsageError(
                Said(
                    "The watchlist {name} names {count} countries; a network shows at most "
                    "{most}. Name them instead.",
                    name=esc(watchlist.name),
                    count=len(watchlist.countries),
                    most=MAX_NETWORK_COUNTRIES,
                )
            )
        return ViewRequest(tuple(sorted(watchlist.countries)), amount, watchlist.name)
    found = resolve_countries(words, resolve)
    if found.unknown:
        raise UnknownNames(found.unknown)
    if not found.codes:
        raise UsageError(usage)
    if lists is None and len(found.codes) > 1:
        raise UsageError(Joined(Said("One country at a time, please."), usage))
    if len(found.codes) > MAX_NETWORK_COUNTRIES:
        raise UsageError(
            Said("At most {most} countries in one network.", most=MAX_NETWORK_COUNTRIES)
        )
    return ViewRequest(found.codes, amount)


class UnknownNames(UsageError):
    """Country names the view did not know (said in the chat's language by the handler)."""

    def __init__(self, unknown: Sequence[UnknownCountry]) -> None:
        super().__init__("\n".join(unknown_lines(unknown)))
        self.unknown = unknown


def _few(stories: int, t: Tr = ENGLISH) -> str:
    if stories == 0:
        return "\n" + t._("No stories in this period: try a longer one.")
    if stories < TOO_FEW:
        return "\n" + t._("Only {count}: too few to show a pattern.", count=stories)
    return ""


def partners_caption(data: Partners, name: Callable[[str], str], days: int, t: Tr = ENGLISH) -> str:
    """Title, then the three latest stories per top partner as links (within 1024 chars)."""
    title = t._n(
        "{country} ({code}): defence partners, last {count} day",
        "{country} ({code}): defence partners, last {count} days",
        days,
        country=esc(name(data.country)),
        code=data.country,
    )
    head = (
        f"<b>{title}</b>\n"
        + t._n("{count} story with a partner.", "{count} stories with a partner.", data.stories)
        + _few(data.stories, t)
    )
    for width in (70, 45, 25):
        blocks = [head]
        for row in data.rows[:TOP_PARTNERS]:
            items = [
                f"• {link(clip(ref.title, width), ref.url)} · {esc(t.short_day(ref.published_at))}"
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


def trend_caption(data: Trend, name: Callable[[str], str], t: Tr = ENGLISH) -> str:
    top = ", ".join(f"{code} {sum(counts)}" for code, counts in data.series)
    title = t._n(
        "{country} ({code}): stories per week, {count} week",
        "{country} ({code}): stories per week, {count} weeks",
        len(data.weeks),
        country=esc(name(data.country)),
        code=data.country,
    )
    stories = t._n("{count} story with a partner", "{count} stories with a partner", data.stories)
    contacts = "; " + t._("contacts: {top}", top=esc(top)) if top else ""
    return f"<b>{title}</b>\n{stories}{contacts}." + _few(data.stories, t)


def network_caption(data: Network, days: int, label: str | None, t: Tr = ENGLISH) -> str:
    focus = esc(label) if label else ", ".join(data.focus)
    ties = ", ".join(f"{e.a}-{e.b} {e.stories}" for e in data.edges[:5])
    title = t._n(
        "Cooperation among and around {focus}, last {count} day",
        "Cooperation among and around {focus}, last {count} days",
        days,
        focus=focus,
    )
    stories = t._n("{count} story", "{count} stories", data.stories)
    strongest = "; " + t._("strongest ties: {ties}", ties=ties) if ties else ""
    cut = (
        "\n" + t._n("{count} more partner not drawn.", "{count} more partners not drawn.", data.cut)
        if data.cut
        else ""
    )
    return f"<b>{title}</b>\n{stories}{strongest}.{cut}" + _few(data.stories, t)


def cut_note(cut: bool, t: Tr = ENGLISH) -> str:
    if not cut:
        return ""
    return "\n" + t._("Counted from the newest {count} stories only.", count=MAX_VIEW_STORIES)


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
        t = tr_of(context)
        said = (
            "\n".join(unknown_lines(exc.unknown, t))
            if isinstance(exc, UnknownNames)
            else say(exc, t)
        )
        await reply(update, said)
        return None


async def partners(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/partners azerbaijan [90d]: bars per partner by cooperation type, latest stories below."""
    request = await _request(update, context, "partners", "90d", "d")
    if request is None or update.effective_message is None:
        return
    t = tr_of(context)
    picture = await service(context).partners(request.codes[0], request.period, say=t)
    caption = partners_caption(picture.data, t.country, request.period, t)
    caption += cut_note(picture.cut, t)
    await update.effective_message.reply_photo(picture.png or b"", caption=caption)


async def trend(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/trend azerbaijan [12w]: stories per week, stacked by partner."""
    request = await _request(update, context, "trend", "12w", "w")
    if request is None or update.effective_message is None:
        return
    t = tr_of(context)
    picture = await service(context).trend(request.codes[0], request.period, say=t)
    caption = trend_caption(picture.data, t.country, t) + cut_note(picture.cut, t)
    await update.effective_message.reply_photo(picture.png or b"", caption=caption)


async def network(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/network caucasus | /network azerbaijan georgia armenia [90d]: the cooperation graph."""
    request = await _request(update, context, "network", "90d", "d")
    if request is None or update.effective_message is None:
        return
    t = tr_of(context)
    picture = await service(context).network(
        request.codes, request.period, label=request.label, say=t
    )
    caption = network_caption(picture.data, request.period, request.label, t)
    caption += cut_note(picture.cut, t)
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


def bot_commands(t: Tr = ENGLISH) -> list[BotCommand]:
    return [BotCommand(name, t._(description)) for name, description in COMMANDS]


def register(application: Application) -> None:
    """The view commands; the Atom endpoint too when the settings enable it."""
    for name, callback in (("partners", partners), ("trend", trend), ("network", network)):
        application.add_handler(CommandHandler(name, callback))
    if application.bot_data["settings"].atom_enabled and application.job_queue is not None:
        application.job_queue.run_once(
            start_atom_endpoint, 0, name="atom", job_kwargs={"misfire_grace_time": None}
        )
