"""Reply lines several commands share: unknown country names, words not read, questions
about codes that are also words, and what an add did. Plain functions of their input."""

from __future__ import annotations

from collections.abc import Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot import formatting
from bot.args import AmbiguousCode, Cut
from bot.formatting import callback, esc
from monitors import subscriptions
from monitors.errors import UnknownCountry

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
        f"{cut.given - cut.kept} more were not: {listed(cut.dropped, most=MAX_LISTED)}. "
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


def listed(items: Sequence[str], most: int = 10) -> str:
    shown = ", ".join(esc(formatting.clip(item, 60)) for item in items[:most])
    return shown + (f" … and {len(items) - most} more" if len(items) > most else "")


def added_lines(result: subscriptions.AddResult, limit: int) -> list[str]:
    lines = []
    if result.added:
        lines.append("Now watching: " + listed(result.added, most=limit) + ".")
    if result.existing:
        lines.append("Already watched: " + listed(result.existing) + ".")
    if result.over_limit:
        lines.append(
            f"Not added (limit of {limit} watch items reached): "
            + listed(result.over_limit)
            + ". Remove some with /watchlist."
        )
    return lines


NOT_SUBSCRIBED = "This chat is not subscribed yet: /start to receive alerts."
