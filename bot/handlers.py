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

from bot import buttons, formatting, timezones
from bot.args import Cut, UsageError, keyword_items, take
from bot.delivery import Deliverer, outcome_for
from bot.formatting import callback, esc
from bot.gates import is_operator, may_change, whose_update
from bot.limits import TokenBucket
from config import data_path
from monitors import store, subscriptions
from monitors.coverage import covered_countries
from monitors.detect.countries import Gazetteer, default_gazetteer, fold
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
    ("start", "subscribe and see what I do"),
    ("watch", "watch countries: /watch azerbaijan china"),
    ("unwatch", "stop watching countries: /unwatch china"),
    ("keywords", "/keywords add|remove|exclude Bayraktar, S-400"),
    ("watchlist", "what this chat watches (tap to remove)"),
    ("lists", "named watchlists you can follow"),
    ("use", "follow a named watchlist: /use caucasus"),
    ("drop", "stop following a named watchlist: /drop caucasus"),
    ("export", "this chat's watchlist as a TOML file"),
    ("import", "reply to a watchlist.toml with /import to add it"),
    ("latest", "newest stories: /latest azerbaijan 10"),
    ("digest", "last 24 h matching your watchlist"),
    ("why", "reply to an alert: the evidence behind it"),
    ("settings", "delivery mode, quiet hours, scope"),
    ("status", "feeds polled, stories stored, your pending alerts"),
    ("stop", "unsubscribe (watchlist kept)"),
    ("help", "all commands with examples"),
]

HELP = """<b>defwatch</b> alerts you to defence-cooperation stories between states.

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
/status — feeds polled, last poll, stories stored, alerts waiting for this chat
/partners azerbaijan 90d — a picture of a country's defence partners
/trend azerbaijan 12w — stories per week, stacked by partner
/network caucasus — the cooperation graph of a named list or of countries
In groups only administrators change the watchlist and settings."""

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
            f"{formatting.clip(words[-1], 20)!r} is not a count; use 1 to {MAX_LATEST}, "
            "e.g. /latest azerbaijan 10"
        )
    return " ".join(words), count


def parse_hhmm(text: str) -> str:
    """'7:05' -> '07:05'; UsageError unless a valid 24-hour time."""
    hours, sep, minutes = text.strip().partition(":")
    shown = formatting.clip(text, 40)
    digits = f"{hours}{minutes}"
    if not sep or not (digits.isascii() and hours.isdigit() and minutes.isdigit()):
        raise UsageError(f"{shown!r} is not a time; use HH:MM, e.g. 08:00")
    if len(minutes) != 2 or len(hours) > 2:
        raise UsageError(f"{shown!r} is not a time; use HH:MM, e.g. 08:00")
    if not (0 <= int(hours) < 24 and 0 <= int(minutes) < 60):
        raise UsageError(f"{shown!r} is not a time of day")
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
        "Usage: /settings instant | digest HH:MM [zone] | quiet HH:MM-HH:MM | quiet off | "
        "scope all|cooperation | tz zone (Asia/Baku, baku or UTC+4)"
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


def parse_import(data: bytes, source: str, resolver: object) -> tuple[Watchlist, str]:
    """The one watchlist of an uploaded document and its text; UsageError naming the problem."""
    if len(data) > MAX_IMPORT_BYTES:
        raise UsageError(f"{source} is larger than {MAX_IMPORT_BYTES // 1024} KB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(f"{source} is not UTF-8 text") from None
    try:
        lists = parse_watchlists(text, source=source, resolver=resolver)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if len(lists) != 1:
        raise UsageError(f"{source} must contain exactly one [watchlist.NAME], not {len(lists)}")
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
    text = (
        f"Too many requests: at most {st.settings.requests_per_minute} a minute "
        f"(after a burst of {st.settings.requests_burst}). Try again in {verdict.wait_seconds} s."
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
        top = [code for code, _ in await store.top_countries(session, 6)]
    # A fresh database has no stories yet: offer what the feed list covers best.
    codes = top or list(covered_countries(st.settings.feeds_file))
    row = [
        InlineKeyboardButton(formatting.country_button_label(c), callback_data=callback("w", c))
        for c in codes
    ]
    markup = InlineKeyboardMarkup([row[i : i + 3] for i in range(0, len(row), 3)])
    text = formatting.intro([(c, 0) for c in codes])
    if resumed and rules:
        text = f"{kept_line(update, rules)}\n\n{text}"
    await reply(update, text, reply_markup=markup if row else None)


def kept_line(update: Update, rules: Sequence[subscriptions.Rule]) -> str:
    """'Welcome back: your watchlist was kept (2 countries, 1 keyword). /watchlist shows it.'"""
    names = {"country": "country", "keyword": "keyword", "exclude": "exclusion", "list": "list"}
    counts = [
        f"{n} {'countries' if word == 'country' else word + 's'}" if n != 1 else f"1 {word}"
        for kind, word in names.items()
        if (n := sum(1 for r in rules if r.kind == kind))
    ]
    return (
        f"Welcome back: {whose_update(update)} watchlist was kept ({', '.join(counts)}). "
        "/watchlist shows it."
    )


async def stop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Unsubscribe the chat; the watchlist is kept for a later /start."""
    if not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        was = await subscriptions.unsubscribe(session, chat_of(update)[0])
    await reply(
        update,
        f"Unsubscribed. {whose_update(update, capital=True)} watchlist is kept: /start to resume."
        if was
        else "This chat was not subscribed. /start to subscribe.",
    )


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List every command with an example."""
    await reply(update, HELP + ("\n\n" + ADMIN_HELP if is_operator(update, context) else ""))


async def unknown_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Point at /help for anything not understood."""
    await reply(update, "I did not understand that. /help lists what I can do.")


# --- watchlist --------------------------------------------------------------------------------


MAX_LISTED = 5  # unknown names / refused items named in one reply; the rest are counted


def unknown_lines(unknown: Sequence[UnknownCountry]) -> list[str]:
    lines = [
        f"Unknown country “{esc(formatting.clip(e.name, 60))}”."
        + (f" Did you mean {', '.join(esc(s) for s in e.suggestions)}?" if e.suggestions else "")
        for e in unknown[:MAX_LISTED]
    ]
    if len(unknown) > MAX_LISTED:
        lines.append(f"… and {len(unknown) - MAX_LISTED} more unknown names.")
    return lines


def cut_lines(cut: Cut, command: str) -> list[str]:
    """The words a command did not read, said (never dropped silently)."""
    if not cut.happened:
        return []
    return [
        f"Only the first {cut.kept} words of one {command} are read; "
        f"{cut.given - cut.kept} more were not: {_listed(cut.dropped, most=MAX_LISTED)}. "
        f"Send them in another {command}."
    ]


def question_lines(questions: Sequence[AmbiguousCode], action: str) -> list[str]:
    """'“it” is also a word: did you mean 🇮🇹 Italy? Tap to watch it.' per question."""
    return [
        f"“{esc(q.name)}” is also a word: did you mean {formatting.country_label(q.code)}? "
        f"Tap to {action}."
        for q in questions[:MAX_LISTED]
    ]


def question_markup(questions: Sequence[AmbiguousCode], data: str) -> InlineKeyboardMarkup:
    """One button per asked-about country, with callback data ``data:CODE``."""
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    formatting.country_button_label(q.code), callback_data=callback(data, q.code)
                )
            ]
            for q in questions[:MAX_LISTED]
        ]
    )


def _listed(items: Sequence[str], most: int = 10) -> str:
    shown = ", ".join(esc(formatting.clip(item, 60)) for item in items[:most])
    return shown + (f" … and {len(items) - most} more" if len(items) > most else "")


async def _ensure(session: AsyncSession, update: Update, st: BotState) -> int:
    chat_id, kind, title = chat_of(update)
    await subscriptions.ensure_chat(session, chat_id, type=kind, title=title, now=st.clock())
    return chat_id


async def watch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Watch countries by name, demonym or code; a code that is also a word is asked about."""
    if not context.args:
        await reply(update, "Usage: /watch azerbaijan china")
        return
    if not await may_change(update, context):
        return
    st = state(context)
    found = resolve_countries(context.args, st.resolve)
    lines = unknown_lines(found.unresolved) + cut_lines(found.cut, "/watch")
    asked = question_lines(found.questions, "watch it")  # answered by the "Watch …" buttons
    if found.codes:
        items = [(c, st.gazetteer.name(c)) for c in found.codes]
        async with st.sessions.begin() as session:
            chat_id = await _ensure(session, update, st)
            result = await subscriptions.add_rules(
                session, chat_id, "country", items, limit=st.settings.max_watch_items
            )
            active = (await subscriptions.get_chat(session, chat_id)).active  # type: ignore[union-attr]
        lines[:0] = added_lines(result, st.settings.max_watch_items)
        if not active:
            lines.append("This chat is not subscribed yet: /start to receive alerts.")
    markup = buttons.suggestions_markup(found.unknown, st.resolve)
    await reply(update, "\n".join(lines + asked), reply_markup=markup)


def added_lines(result: subscriptions.AddResult, limit: int) -> list[str]:
    lines = []
    if result.added:
        lines.append("Now watching: " + _listed(result.added, most=limit) + ".")
    if result.existing:
        lines.append("Already watched: " + _listed(result.existing) + ".")
    if result.over_limit:
        lines.append(
            f"Not added (limit of {limit} watch items reached): "
            + _listed(result.over_limit)
            + ". Remove some with /watchlist."
        )
    return lines


async def unwatch(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stop watching countries."""
    if not context.args:
        await reply(update, "Usage: /unwatch china")
        return
    if not await may_change(update, context):
        return
    st = state(context)
    found = resolve_countries(context.args, st.resolve)
    lines = unknown_lines(found.unknown) + cut_lines(found.cut, "/unwatch")
    if found.codes:
        async with st.sessions.begin() as session:
            removed = await subscriptions.remove_rules(
                session, chat_of(update)[0], "country", list(found.codes)
            )
        lines.insert(
            0,
            "No longer watching: " + ", ".join(esc(r) for r in removed) + "."
            if removed
            else "None of those were on the watchlist.",
        )
    await reply(update, "\n".join(lines))


async def keywords(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/keywords add|remove|exclude phrase, phrase…"""
    args = context.args or []
    action = args[0].lower() if args else ""
    terms = split_terms(args[1:])
    usage = (
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
    lines = [esc(line) for line in refused]
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
                ("Removed: " + ", ".join(esc(r) for r in removed) + ".")
                if removed
                else "None of those were on the watchlist.",
            )
        elif items:
            kind: subscriptions.RuleKind = "keyword" if action == "add" else "exclude"
            result = await subscriptions.add_rules(
                session, chat_id, kind, items, limit=st.settings.max_watch_items
            )
            lines[:0] = added_lines(result, st.settings.max_watch_items)
            if kind == "exclude" and result.added:
                lines[0] = lines[0].replace("Now watching", "Now excluding")
    await reply(update, "\n".join(lines) or usage)


async def watchlist_markup(
    session: AsyncSession, chat_id: int, owner: str = "Your"
) -> tuple[str, InlineKeyboardMarkup | None]:
    rules = await subscriptions.list_rules(session, chat_id)
    text = formatting.watchlist_text([(r.kind, r.display) for r in rules], owner)
    buttons = [
        [
            InlineKeyboardButton(
                formatting.rule_button_label(r.kind, r.value, r.display),
                callback_data=callback("rm", r.id),
            )
        ]
        for r in rules
    ]
    return text, InlineKeyboardMarkup(buttons) if buttons else None


async def watchlist(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the watchlist with a button per item to remove it."""
    st = state(context)
    async with st.sessions() as session:
        text, markup = await watchlist_markup(
            session, chat_of(update)[0], whose_update(update, capital=True)
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
        text, markup = await watchlist_markup(session, chat_id, whose_update(update, capital=True))
    await query.answer(f"Removed {removed.display}" if removed else "Already removed")
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
            [(code, st.gazetteer.name(code))],
            limit=st.settings.max_watch_items,
        )
    await query.answer(" ".join(added_lines(result, st.settings.max_watch_items))[:190])


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
    try:
        name, count = parse_latest_args(context.args or [])
    except UsageError as exc:
        await reply(update, esc(str(exc)))
        return
    chat_id = chat_of(update)[0]
    note = ""
    if name:
        found = resolve_countries(name.split(), st.resolve)
        if found.questions and not found.unresolved and not found.codes:
            asked = question_lines(found.questions, "see its stories")
            await reply(
                update, "\n".join(asked), reply_markup=question_markup(found.questions, "lt")
            )
            return
        if found.unknown or not found.codes:
            await reply(
                update, "\n".join(unknown_lines(found.unknown)) or "Usage: /latest azerbaijan"
            )
            return
        # The "More" button carries the codes in its 64-byte callback data: at most 8.
        codes, cut = take(found.codes, MAX_LATEST_COUNTRIES)
        note = latest_cut_note(cut) + "\n".join(cut_lines(found.cut, "/latest"))
        key = ",".join(codes)
    else:
        async with st.sessions() as session:
            codes = list(await subscriptions.watched_countries(session, chat_id))
        key = "w"  # "More" re-reads the watchlist, however long it is
        if not codes:
            await reply(
                update,
                f"{whose_update(update, capital=True)} watchlist has no countries. "
                "Try /latest azerbaijan or /watch azerbaijan.",
            )
            return
    text, markup = await latest_page(st, chat_id, codes, key, count, note=note)
    await reply(update, text, reply_markup=markup)


def latest_cut_note(cut: Cut) -> str:
    if not cut.happened:
        return ""
    left_out = ", ".join(formatting.country_label(c) for c in cut.dropped)
    return (
        f"Showing {cut.kept} of the {cut.given} countries (at most {MAX_LATEST_COUNTRIES} in one "
        f"/latest); not shown: {left_out}."
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
    text, markup = await latest_page(st, chat_of(update)[0], [code], code, DEFAULT_LATEST)
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
    names = ", ".join(formatting.country_label(c) for c in codes)
    if not stories:
        polled = formatting.when(last_poll) if last_poll else "not yet"
        more = "No older stories" if before or offset else "No stories stored yet"
        text = f"{more} for {names}. Feeds last polled: {esc(polled)}."
        return text + (f"\n\n{note}" if note else ""), None
    items, has_more = stories[:count], len(stories) > count
    numbered = f" — page {page}" if page > 1 or has_more else ""
    text, shown = formatting.story_list(
        f"<b>Latest for {names}</b>{numbered}", items, focus=codes, footer=note
    )
    further = has_more or shown < len(items)
    if before is not None:  # an older message's "More" button: keep paging by its cursor
        last = items[max(shown, 1) - 1]
        data = callback("more", key, count, encode_before(last))
        older = [[InlineKeyboardButton("Older ▶", callback_data=data)]] if further else []
        return text, InlineKeyboardMarkup(older) if older else None
    next_offset = offset + max(shown, 1)
    older_offset = next_offset if further and next_offset <= MAX_PAGE_OFFSET else None
    return text, buttons.latest_markup(key, count, offset, page, older_offset)


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
        st, chat_id, codes, key, max(1, min(count, MAX_LATEST)), **where
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
    if not (watch_.countries or watch_.keywords):
        await reply(
            update,
            f"{whose_update(update, capital=True)} watchlist is empty: "
            "/watch azerbaijan or /keywords add Bayraktar.",
        )
        return
    stories = [s for s in recent if matches_watch(s, watch_)]
    if not stories:
        await reply(
            update, f"Nothing in the last 24 hours matches {whose_update(update)} watchlist."
        )
        return
    await reply(update, formatting.format_digest("Last 24 hours", stories))


# --- settings ---------------------------------------------------------------------------------


def settings_text(chat: subscriptions.ChatSettings) -> str:
    mode = (
        "instant alerts"
        if chat.delivery_mode == "instant"
        else f"one daily digest at {chat.digest_time}"
    )
    quiet = (
        f"{chat.quiet_start} to {chat.quiet_end}" if chat.quiet_start and chat.quiet_end else "off"
    )
    scope = "defence cooperation only" if chat.scope == "cooperation" else "all stories"
    zone = timezones.zone_label(chat.timezone)
    return (
        f"<b>Settings</b>\nDelivery: {esc(mode)}\nTime zone: {esc(zone)}\n"
        f"Quiet hours: {esc(quiet)}\nScope: {scope}\n\n"
        "Change: /settings instant | digest 08:00 Asia/Baku | quiet 22:00-07:00 | "
        "quiet off | scope all | tz Asia/Baku"
    )


async def settings_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show or change delivery mode, digest time, time zone, quiet hours and scope."""
    try:
        change = parse_settings_args(context.args or [])
    except UsageError as exc:
        await reply(update, esc(str(exc)))
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
    text = ("Saved.\n" if change else "") + settings_text(chat)
    await reply(update, text, reply_markup=buttons.settings_markup(chat))


# --- admin: bot.admin -------------------------------------------------------------------------


# --- named watchlists (issue 7) -----------------------------------------------------------------


def named_lists(st: BotState) -> dict[str, Watchlist]:
    return st.watchlists.lists if st.watchlists is not None else {}


async def lists(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The named watchlists of the operator's file, and which ones this chat follows."""
    st = state(context)
    async with st.sessions() as session:
        followed = await subscriptions.followed_lists(session, chat_of(update)[0])
    text, markup = lists_view(st, followed)
    await reply(update, text, reply_markup=markup)


def lists_view(st: BotState, followed: Sequence[str]) -> tuple[str, InlineKeyboardMarkup | None]:
    """/lists: the named watchlists, with a Follow or Stop following button for each."""
    known = named_lists(st)
    rows = [
        (w.name, w.description, sorted(w.countries), sorted(w.keywords)) for w in known.values()
    ]
    return formatting.watchlists_text(rows, followed), buttons.lists_markup(known, followed)


async def use(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/use NAME: follow a named watchlist (its later edits in the file apply)."""
    st = state(context)
    known = named_lists(st)
    name = " ".join(context.args or []).strip().lower()
    if not name:
        await reply(update, "Usage: /use caucasus — /lists shows the names.")
        return
    if name not in known:
        close = suggest_names(name, sorted(known))
        hint = f" Did you mean {', '.join(esc(c) for c in close)}?" if close else " See /lists."
        await reply(update, f"No named watchlist “{esc(formatting.clip(name, 60))}”.{hint}")
        return
    if not await may_change(update, context):
        return
    async with st.sessions.begin() as session:
        chat_id = await _ensure(session, update, st)
        result = await subscriptions.follow_list(
            session, chat_id, name, limit=st.settings.max_watch_items
        )
        active = (await subscriptions.get_chat(session, chat_id)).active  # type: ignore[union-attr]
    lines = added_lines(result, st.settings.max_watch_items)
    lines = [line.replace("Now watching", "Now following") for line in lines]
    if not active:
        lines.append("This chat is not subscribed yet: /start to receive alerts.")
    await reply(update, "\n".join(lines))


async def drop(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/drop NAME: stop following a named watchlist."""
    name = " ".join(context.args or []).strip().lower()
    if not name:
        await reply(update, "Usage: /drop caucasus")
        return
    if not await may_change(update, context):
        return
    st = state(context)
    async with st.sessions.begin() as session:
        dropped = await subscriptions.unfollow_list(session, chat_of(update)[0], name)
    await reply(
        update,
        f"No longer following {esc(formatting.clip(name, 60))}."
        if dropped
        else f"This chat does not follow {esc(formatting.clip(name, 60))}.",
    )


async def export(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/export: this chat's own watchlist as a TOML document."""
    st = state(context)
    chat_id = chat_of(update)[0]
    async with st.sessions() as session:
        rules = await subscriptions.list_rules(session, chat_id)
        chat = await subscriptions.get_chat(session, chat_id)
        followed = await subscriptions.followed_lists(session, chat_id)
    if not any(r.kind in ("country", "keyword") for r in rules):
        await reply(
            update,
            f"{whose_update(update, capital=True)} watchlist is empty: nothing to export. "
            "/watch azerbaijan first.",
        )
        return
    text = export_document(chat_id, rules, chat.scope if chat else "cooperation", followed)
    message = update.effective_message
    assert message is not None
    await message.reply_document(
        document=text.encode("utf-8"),
        filename=EXPORT_FILENAME,
        caption="This chat's watchlist. Reply to this file with /import in another chat.",
    )


async def import_(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/import as a reply to a watchlist document: add its items here and take its scope."""
    message = update.effective_message
    original = message.reply_to_message if message is not None else None
    document = original.document if original is not None else None
    if document is None:
        await reply(update, f"Reply to a {EXPORT_FILENAME} document with /import.")
        return
    if not await may_change(update, context):
        return
    st = state(context)
    source = document.file_name or EXPORT_FILENAME
    try:
        if (document.file_size or 0) > MAX_IMPORT_BYTES:
            raise UsageError(f"{source} is larger than {MAX_IMPORT_BYTES // 1024} KB")
        data = bytes(await (await document.get_file()).download_as_bytearray())
        watchlist_, text = parse_import(data, source, ResolverAdapter(st.resolve))
    except UsageError as exc:
        await reply(update, f"Not imported: {esc(str(exc))}")
        return
    lines = await merge_import(update, st, watchlist_, text)
    await reply(update, "\n".join(lines))


@dataclass(frozen=True, slots=True)
class ResolverAdapter:
    """The bot's resolver where ``monitors.watchlists`` wants an object with ``.resolve``."""

    resolve: Callable[[str], str]


async def merge_import(update: Update, st: BotState, imported: Watchlist, text: str) -> list[str]:
    """Add the imported countries, keywords and excludes (within the limit); set the scope."""
    limit = st.settings.max_watch_items
    lines: list[str] = []
    async with st.sessions.begin() as session:
        chat_id = await _ensure(session, update, st)
        countries = [(c, st.gazetteer.name(c)) for c in sorted(imported.countries)]
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
                found = added_lines(result, limit)
                if kind == "exclude":
                    found = [line.replace("Now watching", "Now excluding") for line in found]
                lines += found
        lines += await follow_imported(session, st, chat_id, followed_in_export(text))
        await subscriptions.update_settings(session, chat_id, scope=imported.scope)
    scope = "defence cooperation only" if imported.scope == "cooperation" else "all stories"
    lines.append(f"Scope: {scope}.")
    if imported.chat_targets or imported.channel_targets:
        lines.append("Targets in the file were ignored: only the operator's file sets them.")
    return lines


async def follow_imported(
    session: AsyncSession, st: BotState, chat_id: int, names: Sequence[str]
) -> list[str]:
    """Follow the named lists an imported export followed, those this bot knows."""
    known = [n for n in names if n in named_lists(st)]
    lines = []
    for name in known:
        result = await subscriptions.follow_list(
            session, chat_id, name, limit=st.settings.max_watch_items
        )
        lines += [
            line.replace("Now watching", "Now following").replace(
                "Already watched", "Already following"
            )
            for line in added_lines(result, st.settings.max_watch_items)
        ]
    unknown = [n for n in names if n not in known]
    if unknown:
        lines.append("Named lists not available here, so not followed: " + _listed(unknown) + ".")
    return lines


async def on_unknown_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer buttons from old messages we no longer understand."""
    if update.callback_query is not None:
        await update.callback_query.answer("This button has expired.")


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the error; answer a pending button press so the user's spinner stops."""
    log.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.callback_query is not None:
        with contextlib.suppress(TelegramError):  # the query may be too old to answer
            await update.callback_query.answer("Something went wrong.")


def bot_commands() -> list[BotCommand]:
    return [BotCommand(name, description) for name, description in COMMANDS]
