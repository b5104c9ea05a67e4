"""Commands and button callbacks, each short; argument parsing is pure and at the top.

Every callback query is answered. Commands that change a group's watchlist or settings are
for the group's administrators and the bot's operators (``bot.gates``). Keyboards are built in
``bot.buttons``, most button callbacks live in ``bot.callbacks``, the operators' commands and
/status in ``bot.admin``. Registration happens in ``bot.app``.
"""

from __future__ import annotations

import contextlib
import difflib
import functools
import logging
import re
import time
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import buttons, formatting, language, timezones
from bot.args import Cut, UsageError, keyword_items, take
from bot.delivery import Deliverer, outcome_for
from bot.formatting import callback, esc
from bot.gates import is_operator, may_change, watchlist_of
from bot.i18n import ENGLISH, N_, N_n, Said, Tr, say, tr_of
from bot.limits import TokenBucket
from config import data_path
from monitors import store, subscriptions
from monitors.countries import Gazetteer, default_gazetteer, fold
from monitors.coverage import covered_countries
from monitors.domain import StoryView
from monitors.errors import ConfigError, UnknownCountry
from monitors.settings import Settings
from monitors.subscriptions import normalise_keyword
from monitors.watch import ChatWatch, decide, phrases_in, story_words
from monitors.watchlists import Watchlist, WatchlistRegistry, export_watchlist, parse_watchlists

log = logging.getLogger(__name__)

DEFAULT_LATEST = 5
MAX_LATEST = 20
MAX_COUNTRY_WORDS = 4
MAX_LATEST_COUNTRIES = 8
MAX_ZONE_WORDS = 3  # "america new york"
PHRASE_KINDS: tuple[subscriptions.RuleKind, ...] = ("keyword", "exclude")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_IMPORT_BYTES = 64 * 1024
EXPORT_FILENAME = "watchlist.toml"

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


# --- pure argument parsing --------------------------------------------------------------------


def split_terms(args: Sequence[str]) -> list[str]:
    """Comma-separated phrases ('Bayraktar, S-400'); without commas, the whole text is one."""
    return [t.strip() for t in " ".join(args).split(",") if t.strip()]


def parse_latest_args(args: Sequence[str]) -> tuple[str, int]:
    """('country text' or '' for the watchlist, count clamped to 1..20)."""
    words = list(args)
    count = DEFAULT_LATEST
    if words and words[-1].isascii() and words[-1].isdigit():
        count = max(1, min(MAX_LATEST, int(words.pop())))
    elif words and words[-1].isnumeric():  # '²', '٣': digits to Unicode, but int() refuses them
        raise UsageError(
            Said(
                "{shown} is not a count; use 1 to {most}, e.g. /latest azerbaijan 10",
                shown=repr(formatting.clip(words[-1], 20)),
                most=MAX_LATEST,
            )
        )
    return " ".join(words), count


def parse_hhmm(text: str) -> str:
    """'7:05' -> '07:05'; UsageError unless a valid 24-hour time."""
    hours, sep, minutes = text.strip().partition(":")
    shown = formatting.clip(text, 40)
    digits = f"{hours}{minutes}"
    not_a_time = Said("{shown} is not a time; use HH:MM, e.g. 08:00", shown=repr(shown))
    if not sep or not (digits.isascii() and hours.isdigit() and minutes.isdigit()):
        raise UsageError(not_a_time)
    if len(minutes) != 2 or len(hours) > 2:
        raise UsageError(not_a_time)
    if not (0 <= int(hours) < 24 and 0 <= int(minutes) < 60):
        raise UsageError(Said("{shown} is not a time of day", shown=repr(shown)))
    return f"{int(hours):02d}:{minutes}"


def parse_timezone(text: str) -> str:
    """An IANA zone from a name, city, country, alias or UTC offset (``bot.timezones``)."""
    return timezones.parse_zone(text, country=_country_code)


def _country_code(name: str) -> str | None:
    try:
        return default_gazetteer().resolve(name)
    except UnknownCountry:
        return None


def parse_settings_args(args: Sequence[str]) -> dict[str, str | None]:
    """The settings a /settings command changes; UsageError with help when malformed."""
    if not args:
        return {}
    what, rest = args[0].lower(), list(args[1:])
    if what == "instant" and not rest:
        return {"delivery_mode": "instant"}
    if what == "digest" and len(rest) <= 1 + MAX_ZONE_WORDS:
        change: dict[str, str | None] = {"delivery_mode": "digest"}
        if rest:
            change["digest_time"] = parse_hhmm(rest[0])
        if len(rest) >= 2:
            change["timezone"] = parse_timezone(" ".join(rest[1:]))
        return change
    if what == "quiet" and rest:
        if rest == ["off"]:
            return {"quiet_start": None, "quiet_end": None}
        span = "-".join(rest).replace("--", "-")
        start, sep, end = span.partition("-")
        if sep:
            return {"quiet_start": parse_hhmm(start), "quiet_end": parse_hhmm(end)}
    if what == "scope" and rest and rest[0].lower() in ("all", "cooperation"):
        return {"scope": rest[0].lower()}
    if what in ("tz", "timezone") and 1 <= len(rest) <= MAX_ZONE_WORDS:
        return {"timezone": parse_timezone(" ".join(rest))}
    raise UsageError(
        Said(
            "Usage: /settings instant | digest HH:MM [zone] | quiet HH:MM-HH:MM | quiet off | "
            "scope all|cooperation | tz zone (Asia/Baku, baku or UTC+4)"
        )
    )


@dataclass(frozen=True, slots=True)
class Resolved:
    codes: tuple[str, ...]
    unknown: tuple[UnknownCountry, ...]
    cut: Cut = field(default_factory=lambda: Cut(0, 0))  # words past MAX_COUNTRY_ARGS

    @property
    def questions(self) -> tuple[AmbiguousCode, ...]:
        """Lower-case codes that are also words ('it'): asked about with a button."""
        return tuple(u for u in self.unknown if isinstance(u, AmbiguousCode))

    @property
    def unresolved(self) -> tuple[UnknownCountry, ...]:
        return tuple(u for u in self.unknown if not isinstance(u, AmbiguousCode))


MAX_COUNTRY_ARGS = 40


def resolve_countries(args: Sequence[str], resolve: Callable[[str], str]) -> Resolved:
    """Country names in ``args`` (comma-separated, or words read greedily: 'south korea');
    at most MAX_COUNTRY_ARGS words are read (resolving thousands blocks), the rest is noted."""
    codes: list[str] = []
    unknown: list[UnknownCountry] = []
    args, cut = take(list(args), MAX_COUNTRY_ARGS)
    groups = [t.split() for t in split_terms(args)] if "," in " ".join(args) else [list(args)]
    for words in groups:
        start = 0
        while start < len(words):
            for end in range(min(len(words), start + MAX_COUNTRY_WORDS), start, -1):
                try:
                    code = resolve_one(" ".join(words[start:end]), resolve)
                except UnknownCountry as exc:
                    if end == start + 1:
                        unknown.append(exc)
                    continue
                if code not in codes:
                    codes.append(code)
                break
            start = end
    return Resolved(tuple(codes), tuple(unknown), cut)


def resolve_one(name: str, resolve: Callable[[str], str]) -> str:
    """A code for ``name``; a suggestion that is the same name in other case is taken as it."""
    try:
        return resolve(name)
    except AmbiguousCode:
        raise
    except UnknownCountry as exc:
        same = [s for s in exc.suggestions if fold(s) == fold(name)]
        if len(same) == 1:
            return resolve(same[0])
        raise


class AmbiguousCode(UnknownCountry):
    """A lower-case code that is also a word ('it', 'in'): the user is asked, not guessed for."""

    def __init__(self, name: str, code: str, country: str) -> None:
        super().__init__(name, [country])
        self.code = code


@functools.cache
def code_words() -> frozenset[str]:
    """Codes that are also everyday words (config/codewords.toml)."""
    table = tomllib.loads(data_path("codewords.toml").read_text(encoding="utf-8"))
    return frozenset(w.lower() for w in table.get("words", []))


def make_resolver(gazetteer: Gazetteer) -> Callable[[str], str]:
    """``gazetteer.resolve``, falling back to exact English names (the gazetteer refuses some
    ambiguous words such as 'china'; a user typing the name alone means the country) and to
    ISO codes in any case ('hu'), except codes that are also words ('it': AmbiguousCode)."""
    by_name = {fold(gazetteer.name(code)): code for code in gazetteer.codes()}
    codes = gazetteer.codes()

    def resolve(name: str) -> str:
        try:
            return gazetteer.resolve(name)
        except UnknownCountry:
            code = by_name.get(fold(name))
            if code is not None:
                return code
            typed = name.strip()
            if len(typed) == 2 and typed.isascii() and typed.upper() in codes:
                if typed.lower() not in code_words():
                    return typed.upper()
                code = typed.upper()
                raise AmbiguousCode(typed, code, gazetteer.name(code)) from None
            raise

    return resolve


def encode_before(story: StoryView) -> str:
    """A story's paging position: microseconds since the epoch, then its id."""
    micros = (story.published_at - EPOCH) // timedelta(microseconds=1)
    return f"{micros}:{story.id}"


def decode_before(micros: str, story_id: str) -> tuple[datetime, int]:
    return EPOCH + timedelta(microseconds=int(micros)), int(story_id)


def suggest_names(name: str, known: Sequence[str]) -> list[str]:
    """Close spellings of a named watchlist ('cacasus' -> ['caucasus'])."""
    return difflib.get_close_matches(name.lower(), list(known), n=3, cutoff=0.6)


def export_name(chat_id: int) -> str:
    """A valid watchlist name for a chat's export: 'chat-1001234'."""
    return f"chat{chat_id}" if chat_id < 0 else f"chat-{chat_id}"


FOLLOWS_COMMENT = "# this chat also follows the named lists: "


def export_document(
    chat_id: int, rules: Sequence[subscriptions.Rule], scope: str, followed: Sequence[str]
) -> str:
    """The chat's own rules and scope as TOML (``parse_watchlists`` accepts it)."""

    def displays(kind: str) -> list[str]:
        return [r.display if kind != "country" else r.value for r in rules if r.kind == kind]

    header = "# defwatch watchlist exported from a chat; /import it or add it to the file\n"
    if followed:
        header += f"{FOLLOWS_COMMENT}{', '.join(followed)}\n"
    body = export_watchlist(
        export_name(chat_id), displays("country"), displays("keyword"), displays("exclude"), scope
    )
    return header + body


def followed_in_export(text: str) -> list[str]:
    """The named lists an exported document says its chat followed (its header comment)."""
    for line in text.splitlines():
        if line.startswith(FOLLOWS_COMMENT):
            names = (n.strip().lower() for n in line.removeprefix(FOLLOWS_COMMENT).split(","))
            return [n for n in names if n]
        if not line.startswith("#"):
            break
    return []


def imported_displays(text: str, name: str, key: str) -> dict[str, str]:
    """{folded phrase: as written} for one key of an imported (already validated) document."""
    table = tomllib.loads(text).get("watchlist", {})
    tables = {k.lower(): v for k, v in table.items()}
    return {normalise_keyword(v): v for v in tables.get(name, {}).get(key, [])}


def too_large(source: str) -> Said:
    return Said("{source} is larger than {size} KB", source=source, size=MAX_IMPORT_BYTES // 1024)


def parse_import(data: bytes, source: str, resolver: object) -> tuple[Watchlist, str]:
    """The one watchlist of an uploaded document and its text; UsageError naming the problem."""
    if len(data) > MAX_IMPORT_BYTES:
        raise UsageError(too_large(source))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(Said("{source} is not UTF-8 text", source=source)) from None
    try:
        lists = parse_watchlists(text, source=source, resolver=resolver)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if len(lists) != 1:
        raise UsageError(
            Said(
                "{source} must contain exactly one [watchlist.NAME], not {count}",
                source=source,
                count=len(lists),
            )
        )
    return next(iter(lists.values())), text


# --- shared state -----------------------------------------------------------------------------


@dataclass
class BotState:
    """What handlers and jobs share; kept in ``application.bot_data['state']``."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    gazetteer: Gazetteer
    deliverer: Deliverer
    resolve: Callable[[str], str]
    reschedule_digest: Callable[[subscriptions.ChatSettings], None] = lambda chat: None
    watchlists: WatchlistRegistry | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    buckets: dict[int, TokenBucket] = field(default_factory=dict)
    admins_cache: dict[int, tuple[float, frozenset[int]]] = field(default_factory=dict)


def state(context: ContextTypes.DEFAULT_TYPE) -> BotState:
    return context.bot_data["state"]


async def chat_zone(st: BotState, chat_id: int) -> str:
    """The chat's time zone (UTC for a chat not stored)."""
    async with st.sessions() as session:
        chat = await subscriptions.get_chat(session, chat_id)
    return chat.timezone if chat else "UTC"


def chat_of(update: Update) -> tuple[int, str, str | None]:
    chat = update.effective_chat
    assert chat is not None
    return chat.id, chat.type, chat.title


async def reply(update: Update, text: str, **kwargs: Any) -> None:
    message = update.effective_message
    if message is not None:
        await message.reply_text(text, **kwargs)


# --- gates (group -1) -------------------------------------------------------------------------


async def rate_gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Per-chat token bucket (``bot.limits``) on commands and button presses; a refusal is
    said once per streak (every refused press is answered, as Telegram expects)."""
    chat = update.effective_chat
    if chat is None or (update.message is None and update.callback_query is None):
        return
    st = state(context)
    bucket = st.buckets.get(chat.id)
    if bucket is None:
        bucket = st.buckets[chat.id] = TokenBucket(
            st.settings.requests_burst, st.settings.requests_per_minute
        )
    verdict = bucket.take(time.monotonic())
    if verdict.allowed:
        return
    text = tr_of(context)._(
        "Too many requests: at most {per_minute} a minute (after a burst of {burst}). "
        "Try again in {seconds} s.",
        per_minute=st.settings.requests_per_minute,
        burst=st.settings.requests_burst,
        seconds=verdict.wait_seconds,
    )
    if update.callback_query is not None:
        await update.callback_query.answer(text, show_alert=True)
    elif verdict.first_refusal and update.message is not None and is_command(update.message.text):
        await reply(update, text)
    raise ApplicationHandlerStop


def is_command(text: str | None) -> bool:
    return bool(text and text.startswith("/"))


# --- subscription -----------------------------------------------------------------------------


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
    await reply(
        update,
        t._(
            "Unsubscribed. {watchlist} is kept: /start to resume.",
            watchlist=watchlist_of(update, t, capital=True),
        )
        if was
        else t._("This chat was not subscribed. /start to subscribe."),
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List every command with an example."""
    text = tr_of(context)._(HELP)
    await reply(update, text + ("\n\n" + ADMIN_HELP if is_operator(update, context) else ""))


async def unknown_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point at /help for anything not understood."""
    await reply(update, tr_of(context)._("I did not understand that. /help lists what I can do."))


# --- watchlist --------------------------------------------------------------------------------


MAX_LISTED = 5  # unknown names / refused items named in one reply; the rest are counted
NOT_SUBSCRIBED = N_("This chat is not subscribed yet: /start to receive alerts.")


def unknown_lines(unknown: Sequence[UnknownCountry], t: Tr = ENGLISH) -> list[str]:
    lines = [
        t._("Unknown country “{name}”.", name=esc(formatting.clip(e.name, 60)))
        + (
            " " + t._("Did you mean {suggestions}?", suggestions=suggested(e.suggestions, t))
            if e.suggestions
            else ""
        )
        for e in unknown[:MAX_LISTED]
    ]
    if len(unknown) > MAX_LISTED:
        more = len(unknown) - MAX_LISTED
        lines.append(
            t._n("… and {count} more unknown name.", "… and {count} more unknown names.", more)
        )
    return lines


def suggested(names: Sequence[str], t: Tr) -> str:
    """The gazetteer's (English) suggestions, each in ``t``'s language."""
    gazetteer = default_gazetteer()
    shown = []
    for name in names:
        try:
            shown.append(formatting.country_name(gazetteer.resolve(name), t))
        except UnknownCountry:
            shown.append(name)
    return ", ".join(esc(s) for s in shown)


def cut_lines(cut: Cut, command: str, t: Tr = ENGLISH) -> list[str]:
    """The words a command did not read, said (never dropped silently)."""
    if not cut.happened:
        return []
    return [
        t._(
            "Only the first {kept} words of one {command} are read; {more} more were not: "
            "{dropped}. Send them in another {command}.",
            kept=cut.kept,
            command=command,
            more=cut.given - cut.kept,
            dropped=_listed(cut.dropped, most=MAX_LISTED, t=t),
        )
    ]


# What a "did you mean" button under a question does (question_lines' ``action``).
QUESTIONS = {
    "watch it": N_("“{name}” is also a word: did you mean {country}? Tap to watch it."),
    "see its stories": N_(
        "“{name}” is also a word: did you mean {country}? Tap to see its stories."
    ),
}


def question_lines(questions: Sequence[AmbiguousCode], action: str, t: Tr = ENGLISH) -> list[str]:
    """'“it” is also a word: did you mean 🇮🇹 Italy? Tap to watch it.' per question."""
    return [
        t._(QUESTIONS[action], name=esc(q.name), country=formatting.country_label(q.code, t))
        for q in questions[:MAX_LISTED]
    ]


def question_markup(
    questions: Sequence[AmbiguousCode], data: str, t: Tr = ENGLISH
) -> InlineKeyboardMarkup:
    """One button per asked-about country, with callback data ``data:CODE``."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    formatting.country_button_label(q.code, t),
                    callback_data=callback(data, q.code),
                )
            ]
            for q in questions[:MAX_LISTED]
        ]
    )


def _listed(items: Sequence[str], most: int = 10, t: Tr = ENGLISH) -> str:
    shown = ", ".join(esc(formatting.clip(item, 60)) for item in items[:most])
    more = len(items) - most
    return shown + (" " + t._("… and {count} more", count=more) if more > 0 else "")


async def _ensure(session: AsyncSession, update: Update, st: BotState) -> int:
    chat_id, kind, title = chat_of(update)
    await subscriptions.ensure_chat(session, chat_id, type=kind, title=title, now=st.clock())
    return chat_id


async def watch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Watch countries by name, demonym or code; a code that is also a word is asked about."""
    t = tr_of(context)
    if not context.args:
        await reply(update, t._("Usage: /watch azerbaijan china"))
        return
    if not await may_change(update, context):
        return
    st = state(context)
    found = resolve_countries(context.args, st.resolve)
    lines = unknown_lines(found.unresolved, t) + cut_lines(found.cut, "/watch", t)
    asked = question_lines(found.questions, "watch it", t)  # answered by the "Watch …" buttons
    if found.codes:
        items = [(c, formatting.country_name(c, t)) for c in found.codes]
        async with st.sessions.begin() as session:
            chat_id = await _ensure(session, update, st)
            result = await subscriptions.add_rules(
                session, chat_id, "country", items, limit=st.settings.max_watch_items
            )
            active = (await subscriptions.get_chat(session, chat_id)).active  # type: ignore[union-attr]
        lines[:0] = added_lines(result, st.settings.max_watch_items, t)
        if not active:
            lines.append(t._(NOT_SUBSCRIBED))
    markup = buttons.suggestions_markup(found.unknown, st.resolve, t)
    await reply(update, "\n".join(lines + asked), reply_markup=markup)


# What an add says, by what was added: (added, already there).
WATCHING = (N_("Now watching: {items}."), N_("Already watched: {items}."))
EXCLUDING = (N_("Now excluding: {items}."), N_("Already watched: {items}."))
FOLLOWING = (N_("Now following: {items}."), N_("Already following: {items}."))


def added_lines(
    result: subscriptions.AddResult,
    limit: int,
    t: Tr = ENGLISH,
    said: tuple[str, str] = WATCHING,
) -> list[str]:
    lines = []
    if result.added:
        lines.append(t._(said[0], items=_listed(result.added, most=limit, t=t)))
    if result.existing:
        lines.append(t._(said[1], items=_listed(result.existing, t=t)))
    if result.over_limit:
        lines.append(
            t._(
                "Not added (limit of {limit} watch items reached): {items}. "
                "Remove some with /watchlist.",
                limit=limit,
                items=_listed(result.over_limit, t=t),
            )
        )
    return lines


async def unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop watching countries."""
    t = tr_of(context)
    if not context.args:
        await reply(update, t._("Usage: /unwatch china"))
        return
    if not await may_change(update, context):
        return
    st = state(context)
    found = resolve_countries(context.args, st.resolve)
    lines = unknown_lines(found.unknown, t) + cut_lines(found.cut, "/unwatch", t)
    if found.codes:
        async with st.sessions.begin() as session:
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
    if action not in ("add", "remove", "exclude") or not terms:
        await reply(update, usage)
        return
    if not await may_change(update, context):
        return
    items, refused = keyword_items(terms)
    if action == "remove":  # removing needs no checks: anything stored is found by its value
        items, refused = [(normalise_keyword(t), t) for t in terms], []
    lines = [esc(say(line, t)) for line in refused]
    st = state(context)
    async with st.sessions.begin() as session:
        chat_id = await _ensure(session, update, st)
        if action == "remove":
            removed: list[str] = []
            for phrase_kind in PHRASE_KINDS:
                removed += await subscriptions.remove_rules(
                    session, chat_id, phrase_kind, [v for v, _ in items]
                )
            lines.insert(
                0,
                t._("Removed: {items}.", items=", ".join(esc(r) for r in removed))
                if removed
                else t._("None of those were on the watchlist."),
            )
        elif items:
            kind: subscriptions.RuleKind = "keyword" if action == "add" else "exclude"
            result = await subscriptions.add_rules(
                session, chat_id, kind, items, limit=st.settings.max_watch_items
            )
            said = EXCLUDING if kind == "exclude" else WATCHING
            lines[:0] = added_lines(result, st.settings.max_watch_items, t, said)
    await reply(update, "\n".join(lines) or usage)


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
    st = state(context)
    code = (query.data or "").partition(":")[2]
    if not WATCH_DATA.fullmatch(query.data or "") or code not in st.gazetteer.codes():
        await on_unknown_button(update, context)
        return
    if not await may_change(update, context):
        return
    async with st.sessions.begin() as session:
        chat_id = await _ensure(session, update, st)
        result = await subscriptions.add_rules(
            session,
            chat_id,
            "country",
            [(code, formatting.country_name(code, tr_of(context)))],
            limit=st.settings.max_watch_items,
        )
    said = added_lines(result, st.settings.max_watch_items, tr_of(context))
    await query.answer(" ".join(said)[:190])


async def edit(query: Any, text: str, markup: InlineKeyboardMarkup | None) -> None:
    """Edit a button's message; 'not modified' and 'not found' are expected, not errors."""
    try:
        await query.edit_message_text(text, reply_markup=markup)
    except BadRequest as exc:
        if outcome_for(exc).action != "ignore":
            raise


# --- reading ----------------------------------------------------------------------------------


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
    note = ""
    if name:
        found = resolve_countries(name.split(), st.resolve)
        if found.questions and not found.unresolved and not found.codes:
            asked = question_lines(found.questions, "see its stories", t)
            await reply(
                update, "\n".join(asked), reply_markup=question_markup(found.questions, "lt", t)
            )
            return
        if found.unknown or not found.codes:
            await reply(
                update,
                "\n".join(unknown_lines(found.unknown, t)) or t._("Usage: /latest azerbaijan"),
            )
            return
        # The "More" button carries the codes in its 64-byte callback data: at most 8.
        codes, cut = take(found.codes, MAX_LATEST_COUNTRIES)
        note = latest_cut_note(cut, t) + "\n".join(cut_lines(found.cut, "/latest", t))
        key = ",".join(codes)
    else:
        async with st.sessions() as session:
            codes = list(await subscriptions.watched_countries(session, chat_id))
        key = "w"  # "More" re-reads the watchlist, however long it is
        if not codes:
            await reply(
                update,
                t._(
                    "{watchlist} has no countries. Try /latest azerbaijan or /watch azerbaijan.",
                    watchlist=watchlist_of(update, t, capital=True),
                ),
            )
            return
    text, markup = await latest_page(st, chat_id, codes, key, count, note=note, t=t)
    await reply(update, text, reply_markup=markup)


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
    st = state(context)
    code = (query.data or "").partition(":")[2]
    if not LATEST_CODE_DATA.fullmatch(query.data or "") or code not in st.gazetteer.codes():
        await on_unknown_button(update, context)
        return
    await query.answer()
    text, markup = await latest_page(
        st, chat_of(update)[0], [code], code, DEFAULT_LATEST, t=tr_of(context)
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


def matches_watch(story: StoryView, watch_: ChatWatch) -> bool:
    as_alert = story.for_alert()
    phrases = watch_.keywords | watch_.excludes
    longest = max((p.count(" ") + 1 for p in phrases), default=0)
    return bool(decide(as_alert, watch_, phrases_in(story_words(as_alert), phrases, longest)))


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
    stories = [s for s in recent if matches_watch(s, watch_)]
    if not stories:
        await reply(
            update,
            t._(
                "Nothing in the last 24 hours matches {watchlist}.",
                watchlist=watchlist_of(update, t),
            ),
        )
        return
    zone = await chat_zone(st, chat_id)
    await reply(update, formatting.format_digest(t._("Last 24 hours"), stories, t=t, zone=zone))


# --- settings ---------------------------------------------------------------------------------


SCOPES = {"cooperation": N_("defence cooperation only"), "all": N_("all stories")}


def settings_text(chat: subscriptions.ChatSettings, t: Tr = ENGLISH) -> str:
    mode = (
        t._("instant alerts")
        if chat.delivery_mode == "instant"
        else t._("one daily digest at {time}", time=chat.digest_time)
    )
    quiet = (
        t._("{start} to {end}", start=chat.quiet_start, end=chat.quiet_end)
        if chat.quiet_start and chat.quiet_end
        else t._("off")
    )
    return t._(
        "<b>Settings</b>\nDelivery: {mode}\nTime zone: {zone}\nQuiet hours: {quiet}\n"
        "Scope: {scope}\n\n"
        "Change: /settings instant | digest 08:00 Asia/Baku | quiet 22:00-07:00 | "
        "quiet off | scope all | tz Asia/Baku",
        mode=esc(mode),
        zone=esc(timezones.zone_label(chat.timezone)),
        quiet=esc(quiet),
        scope=t._(SCOPES.get(chat.scope, SCOPES["all"])),
    )


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show or change delivery mode, digest time, time zone, quiet hours and scope."""
    t = tr_of(context)
    try:
        change = parse_settings_args(context.args or [])
    except UsageError as exc:
        await reply(update, esc(say(exc, t)))
        return
    if change and not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        chat_id = await _ensure(session, update, st)
        chat = (
            await subscriptions.update_settings(session, chat_id, **change)
            if change
            else await subscriptions.get_chat(session, chat_id)
        )
    assert chat is not None
    if change:
        st.reschedule_digest(chat)
    text = (t._("Saved.") + "\n" if change else "") + settings_text(chat, t)
    await reply(update, text, reply_markup=buttons.settings_markup(chat, t))


# --- admin: bot.admin -------------------------------------------------------------------------


# --- named watchlists (issue 7) -----------------------------------------------------------------


def named_lists(st: BotState) -> dict[str, Watchlist]:
    return st.watchlists.lists if st.watchlists is not None else {}


async def lists(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The named watchlists of the operator's file, and which ones this chat follows."""
    st = state(context)
    async with st.sessions() as session:
        followed = await subscriptions.followed_lists(session, chat_of(update)[0])
    text, markup = lists_view(st, followed, tr_of(context))
    await reply(update, text, reply_markup=markup)


def lists_view(
    st: BotState, followed: Sequence[str], t: Tr = ENGLISH
) -> tuple[str, InlineKeyboardMarkup | None]:
    """/lists: the named watchlists, with a Follow or Stop following button for each."""
    known = named_lists(st)
    rows = [
        (w.name, w.description, sorted(w.countries), sorted(w.keywords)) for w in known.values()
    ]
    return formatting.watchlists_text(rows, followed, t), buttons.lists_markup(known, followed, t)


async def use(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/use NAME: follow a named watchlist (its later edits in the file apply)."""
    st = state(context)
    t = tr_of(context)
    known = named_lists(st)
    name = " ".join(context.args or []).strip().lower()
    if not name:
        await reply(update, t._("Usage: /use caucasus — /lists shows the names."))
        return
    if name not in known:
        close = suggest_names(name, sorted(known))
        hint = (
            t._("Did you mean {suggestions}?", suggestions=", ".join(esc(c) for c in close))
            if close
            else t._("See /lists.")
        )
        missing = t._("No named watchlist “{name}”.", name=esc(formatting.clip(name, 60)))
        await reply(update, f"{missing} {hint}")
        return
    if not await may_change(update, context):
        return
    async with st.sessions.begin() as session:
        chat_id = await _ensure(session, update, st)
        result = await subscriptions.follow_list(
            session, chat_id, name, limit=st.settings.max_watch_items
        )
        active = (await subscriptions.get_chat(session, chat_id)).active  # type: ignore[union-attr]
    lines = added_lines(result, st.settings.max_watch_items, t, FOLLOWING)
    if not active:
        lines.append(t._(NOT_SUBSCRIBED))
    await reply(update, "\n".join(lines))


async def drop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/drop NAME: stop following a named watchlist."""
    t = tr_of(context)
    name = " ".join(context.args or []).strip().lower()
    if not name:
        await reply(update, t._("Usage: /drop caucasus"))
        return
    if not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        dropped = await subscriptions.unfollow_list(session, chat_of(update)[0], name)
    shown = esc(formatting.clip(name, 60))
    await reply(
        update,
        t._("No longer following {name}.", name=shown)
        if dropped
        else t._("This chat does not follow {name}.", name=shown),
    )


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export: this chat's own watchlist as a TOML document."""
    st = state(context)
    chat_id = chat_of(update)[0]
    async with st.sessions() as session:
        rules = await subscriptions.list_rules(session, chat_id)
        chat = await subscriptions.get_chat(session, chat_id)
        followed = await subscriptions.followed_lists(session, chat_id)
    t = tr_of(context)
    if not any(r.kind in ("country", "keyword") for r in rules):
        await reply(
            update,
            t._(
                "{watchlist} is empty: nothing to export. /watch azerbaijan first.",
                watchlist=watchlist_of(update, t, capital=True),
            ),
        )
        return
    text = export_document(chat_id, rules, chat.scope if chat else "cooperation", followed)
    message = update.effective_message
    assert message is not None
    await message.reply_document(
        document=text.encode("utf-8"),
        filename=EXPORT_FILENAME,
        caption=t._("This chat's watchlist. Reply to this file with /import in another chat."),
    )


async def import_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/import as a reply to a watchlist document: add its items here and take its scope."""
    message = update.effective_message
    original = message.reply_to_message if message is not None else None
    document = original.document if original is not None else None
    t = tr_of(context)
    if document is None:
        await reply(
            update, t._("Reply to a {filename} document with /import.", filename=EXPORT_FILENAME)
        )
        return
    if not await may_change(update, context):
        return
    st = state(context)
    source = document.file_name or EXPORT_FILENAME
    try:
        if (document.file_size or 0) > MAX_IMPORT_BYTES:
            raise UsageError(too_large(source))
        data = bytes(await (await document.get_file()).download_as_bytearray())
        watchlist_, text = parse_import(data, source, ResolverAdapter(st.resolve))
    except UsageError as exc:
        await reply(update, t._("Not imported: {problem}", problem=esc(say(exc, t))))
        return
    lines = await merge_import(update, st, watchlist_, text, t)
    await reply(update, "\n".join(lines))


@dataclass(frozen=True, slots=True)
class ResolverAdapter:
    """The bot's resolver where ``monitors.watchlists`` wants an object with ``.resolve``."""

    resolve: Callable[[str], str]


async def merge_import(
    update: Update, st: BotState, imported: Watchlist, text: str, t: Tr = ENGLISH
) -> list[str]:
    """Add the imported countries, keywords and excludes (within the limit); set the scope."""
    limit = st.settings.max_watch_items
    lines: list[str] = []
    async with st.sessions.begin() as session:
        chat_id = await _ensure(session, update, st)
        countries = [(c, formatting.country_name(c, t)) for c in sorted(imported.countries)]
        batches: list[tuple[subscriptions.RuleKind, list[tuple[str, str]]]] = [
            ("country", countries)
        ]
        for kind, key, values in (
            ("keyword", "keywords", imported.keywords),
            ("exclude", "exclude", imported.excludes),
        ):
            shown = imported_displays(text, imported.name, key)
            batches.append((kind, [(v, shown.get(v, v)[:100]) for v in sorted(values)]))  # type: ignore[arg-type]
        for kind, items in batches:
            if items:
                result = await subscriptions.add_rules(session, chat_id, kind, items, limit=limit)
                said = EXCLUDING if kind == "exclude" else WATCHING
                lines += added_lines(result, limit, t, said)
        lines += await follow_imported(session, st, chat_id, followed_in_export(text), t)
        await subscriptions.update_settings(session, chat_id, scope=imported.scope)
    lines.append(t._("Scope: {scope}.", scope=t._(SCOPES.get(imported.scope, SCOPES["all"]))))
    if imported.chat_targets or imported.channel_targets:
        lines.append(t._("Targets in the file were ignored: only the operator's file sets them."))
    return lines


async def follow_imported(
    session: AsyncSession, st: BotState, chat_id: int, names: Sequence[str], t: Tr = ENGLISH
) -> list[str]:
    """Follow the named lists an imported export followed, those this bot knows."""
    known = [n for n in names if n in named_lists(st)]
    lines = []
    for name in known:
        result = await subscriptions.follow_list(
            session, chat_id, name, limit=st.settings.max_watch_items
        )
        lines += added_lines(result, st.settings.max_watch_items, t, FOLLOWING)
    unknown = [n for n in names if n not in known]
    if unknown:
        lines.append(
            t._(
                "Named lists not available here, so not followed: {names}.",
                names=_listed(unknown, t=t),
            )
        )
    return lines


async def on_unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer buttons from old messages we no longer understand."""
    if update.callback_query is not None:
        await update.callback_query.answer(tr_of(context)._("This button has expired."))


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error; answer a pending button press so the user's spinner stops."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.callback_query is not None:
        with contextlib.suppress(TelegramError):  # the query may be too old to answer
            await update.callback_query.answer(tr_of(context)._("Something went wrong."))


def bot_commands(t: Tr = ENGLISH) -> list[BotCommand]:
    return [BotCommand(name, t._(description)) for name, description in COMMANDS]
