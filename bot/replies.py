"""Reply lines several commands share: unknown country names, words not read, questions
about codes that are also words, and what an add did. Plain functions of their input."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import formatting
from bot.args import AmbiguousCode, Cut
from bot.formatting import callback, esc
from bot.i18n import ENGLISH, N_, Tr
from monitors import subscriptions
from monitors.detect.countries import default_gazetteer
from monitors.errors import UnknownCountry

MAX_LISTED = 5  # unknown names / refused items named in one reply; the rest are counted


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
    return t.alternatives([esc(s) for s in shown])


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
            dropped=listed(cut.dropped, most=MAX_LISTED, t=t),
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


def listed(items: Sequence[str], most: int = 10, t: Tr = ENGLISH) -> str:
    shown = ", ".join(esc(formatting.clip(item, 60)) for item in items[:most])
    more = len(items) - most
    return shown + (" " + t._("… and {count} more", count=more) if more > 0 else "")


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
        lines.append(t._(said[0], items=listed(result.added, most=limit, t=t)))
    if result.existing:
        lines.append(t._(said[1], items=listed(result.existing, t=t)))
    if result.over_limit:
        lines.append(
            t._(
                "Not added (limit of {limit} watch items reached): {items}. "
                "Remove some with /watchlist.",
                limit=limit,
                items=listed(result.over_limit, t=t),
            )
        )
    return lines


NOT_SUBSCRIBED = N_("This chat is not subscribed yet: /start to receive alerts.")
