"""Inline keyboards where a tap beats typing: pure builders (the callbacks are in bot.callbacks).

Callback data, each checked against Telegram's 64 bytes by ``formatting.callback`` and matched
by the patterns below before any handler reads it (anything else is an expired button):

=====================  ==========================================================
``w:XX``               watch a country (/start's buttons, "Did you mean …?" answers)
``uw:XX``              stop watching a country (an alert's button)
``mute:XX-YY``         mute a country pair for a week (an alert's button)
``why:STORY``          show why an alert was sent: its evidence (an alert's button)
``set:FIELD:CHOICE``   one of the /settings buttons (``SETTING_CHOICES``)
``use:NAME``           follow a named watchlist (/lists)
``drop:NAME``          stop following a named watchlist (/lists)
``pg:KEY:N:OFFSET:P``  page P of /latest (KEY = country codes or ``w`` for the watchlist)
``fd:P``               page P of /feeds
=====================  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.formatting import callback, country_button_label
from bot.i18n import ENGLISH, N_, Tr
from monitors.detect.countries import flag
from monitors.errors import UnknownCountry
from monitors.subscriptions import ChatSettings

PATTERNS = {
    "watch": r"^w:[A-Z]{2}$",
    "unwatch": r"^uw:[A-Z]{2}$",
    "mute": r"^mute:[A-Z]{2}-[A-Z]{2}$",
    "why": r"^why:\d{1,19}$",
    "setting": r"^set:[a-z]{1,12}:[a-z]{1,12}$",
    "follow": r"^(use|drop):[a-z0-9][a-z0-9_-]{0,31}$",
    "page": r"^pg:(w|[A-Z]{2}(,[A-Z]{2}){0,7}):\d{1,2}:\d{1,4}:\d{1,4}$",
    "feeds": r"^fd:\d{1,4}$",
    # Older /latest messages carry "More" buttons: a cursor of microseconds since the epoch
    # (negative before 1970) and a story id.
    "more": r"^more:[^:]{1,40}:\d{1,3}:-?\d{1,18}:\d{1,18}$",
}

MAX_SUGGESTION_BUTTONS = 6
MAX_UNWATCH_BUTTONS = 2
MUTE_DAYS = 7
NIGHT = ("22:00", "07:00")  # the quiet hours one tap sets; /settings quiet HH:MM-HH:MM for others

# (field, choice) -> (button label, the settings it sets)
SETTING_CHOICES: dict[tuple[str, str], tuple[str, dict[str, str | None]]] = {
    ("mode", "instant"): (N_("Instant alerts"), {"delivery_mode": "instant"}),
    ("mode", "digest"): (N_("Daily digest"), {"delivery_mode": "digest"}),
    ("quiet", "night"): (
        N_("Quiet {start} to {end}"),
        {"quiet_start": NIGHT[0], "quiet_end": NIGHT[1]},
    ),
    ("quiet", "off"): (N_("No quiet hours"), {"quiet_start": None, "quiet_end": None}),
    ("scope", "cooperation"): (N_("Cooperation only"), {"scope": "cooperation"}),
    ("scope", "all"): (N_("All stories"), {"scope": "all"}),
}


def keyboard(rows: Iterable[Sequence[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    kept = [list(row) for row in rows if row]
    return InlineKeyboardMarkup(kept) if kept else None


def suggestion_codes(unknown: Sequence[UnknownCountry], resolve: Callable[[str], str]) -> list[str]:
    """The countries suggested for unknown names ('azerbaijn', 'korea'), in order, once each."""
    codes: list[str] = []
    for problem in unknown:
        for name in problem.suggestions:
            try:
                code = resolve(name)
            except UnknownCountry:
                continue
            if code not in codes:
                codes.append(code)
    return codes[:MAX_SUGGESTION_BUTTONS]


def suggestions_markup(
    unknown: Sequence[UnknownCountry], resolve: Callable[[str], str], t: Tr = ENGLISH
) -> InlineKeyboardMarkup | None:
    """One "Watch …" button per suggested country: accepting a suggestion is one tap."""
    return keyboard(
        [
            InlineKeyboardButton(
                t._("Watch {country}", country=country_button_label(code, t)),
                callback_data=callback("w", code),
            )
        ]
        for code in suggestion_codes(unknown, resolve)
    )


def choice_selected(chat: ChatSettings, field: str, choice: str) -> bool:
    values = SETTING_CHOICES[(field, choice)][1]
    return all(getattr(chat, name) == value for name, value in values.items())


def choice_label(field: str, choice: str, t: Tr = ENGLISH) -> str:
    """A /settings button's text in ``t``'s language."""
    return t._(SETTING_CHOICES[(field, choice)][0], start=NIGHT[0], end=NIGHT[1])


def settings_markup(chat: ChatSettings, t: Tr = ENGLISH) -> InlineKeyboardMarkup | None:
    """/settings as buttons: delivery mode, quiet hours, scope; the current choice ticked."""
    rows: dict[str, list[InlineKeyboardButton]] = {}
    for field, choice in SETTING_CHOICES:
        tick = "✓ " if choice_selected(chat, field, choice) else ""
        label = choice_label(field, choice, t)
        rows.setdefault(field, []).append(
            InlineKeyboardButton(tick + label, callback_data=callback("set", field, choice))
        )
    return keyboard(rows.values())


def lists_markup(
    names: Iterable[str], followed: Iterable[str], t: Tr = ENGLISH
) -> InlineKeyboardMarkup | None:
    """/lists: a Follow (or Stop following) button per named watchlist."""
    following = set(followed)
    return keyboard(
        [
            InlineKeyboardButton(
                t._("✖ Stop following {name}", name=name), callback_data=callback("drop", name)
            )
            if name in following
            else InlineKeyboardButton(
                t._("🔔 Follow {name}", name=name), callback_data=callback("use", name)
            )
        ]
        for name in names
    )


def mute_pair_of(participants: Sequence[str]) -> tuple[str, str] | None:
    """The pair an alert's mute button silences: its first two participants, sorted."""
    codes = list(dict.fromkeys(participants))[:2]
    if len(codes) < 2:
        return None
    first, second = sorted(codes)
    return first, second


def alert_markup(
    participants: Sequence[str],
    matched: Sequence[str],
    t: Tr = ENGLISH,
    *,
    story_id: int | None = None,
) -> InlineKeyboardMarkup | None:
    """An alert's buttons: unwatch the watched countries it matched; mute its pair a week;
    why it was sent (its evidence, as ``/why`` in reply to it shows)."""
    watched = [term.partition(":")[2] for term in matched if term.startswith("country:")]
    rows = [
        [
            InlineKeyboardButton(
                t._("🔕 Unwatch {country}", country=country_button_label(code, t)),
                callback_data=callback("uw", code),
            )
        ]
        for code in watched[:MAX_UNWATCH_BUTTONS]
    ]
    last = []
    pair = mute_pair_of(participants)
    if pair is not None:
        flags = flag(pair[0]) + flag(pair[1])
        label = t._("🔇 Mute {flags} for a week", flags=flags)
        last.append(InlineKeyboardButton(label, callback_data=callback("mute", "-".join(pair))))
    if story_id is not None:
        last.append(InlineKeyboardButton(t._("❓ Why"), callback_data=callback("why", story_id)))
    return keyboard([*rows, last])


def latest_markup(
    key: str, count: int, offset: int, page: int, older_offset: int | None, t: Tr = ENGLISH
) -> InlineKeyboardMarkup | None:
    """/latest's Newer and Older buttons (no Newer on page 1, no Older on the last page)."""
    row = []
    if page > 1:
        newer = 0 if page == 2 else max(0, offset - count)
        row.append(
            InlineKeyboardButton(
                t._("◀ Newer"), callback_data=callback("pg", key, count, newer, page - 1)
            )
        )
    if older_offset is not None:
        row.append(
            InlineKeyboardButton(
                t._("Older ▶"), callback_data=callback("pg", key, count, older_offset, page + 1)
            )
        )
    return keyboard([row])


def pages_markup(
    prefix: str, page: int, pages: int, t: Tr = ENGLISH
) -> InlineKeyboardMarkup | None:
    """◀ Previous / Next ▶ buttons for a paged listing (pages numbered from 1)."""
    row = []
    if page > 1:
        row.append(
            InlineKeyboardButton(t._("◀ Previous"), callback_data=callback(prefix, page - 1))
        )
    if page < pages:
        row.append(InlineKeyboardButton(t._("Next ▶"), callback_data=callback(prefix, page + 1)))
    return keyboard([row])
