"""Pure helpers for reading command arguments as users type them.

``UsageError`` is the one error a parser raises: its message is the reply. A parser never
drops part of its input without saying so: what it had to leave out comes back with the
result, as a note for the reply (``Cut``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.i18n import Said, SaidN
from monitors import subscriptions


class UsageError(ValueError):
    """The command's arguments are wrong; the message says how to use it (a ``Said``, so the
    handler can say it in the chat's language: ``bot.i18n.say``)."""


@dataclass(frozen=True, slots=True)
class Cut:
    """What a command read of a longer input: ``kept`` of ``given`` items, ``dropped`` named."""

    kept: int
    given: int
    dropped: tuple[str, ...] = ()

    @property
    def happened(self) -> bool:
        return self.given > self.kept


def take(items: Sequence[str], most: int) -> tuple[list[str], Cut]:
    """The first ``most`` items and a note of the rest."""
    return list(items[:most]), Cut(min(len(items), most), len(items), tuple(items[most:]))


MAX_KEYWORD_CHARS = subscriptions.MAX_PHRASE_CHARS
MAX_REFUSALS_NAMED = 5


def keyword_problem(text: str) -> Said | None:
    """Why a keyword as typed cannot be kept or could never match (None when fine)."""
    if len(text) > MAX_KEYWORD_CHARS:
        return Said(
            "a keyword has at most {limit} characters; this one has {count}",
            limit=MAX_KEYWORD_CHARS,
            count=len(text),
        )
    words = subscriptions.fold_words(text)
    if len(" ".join(words)) > 2 * MAX_KEYWORD_CHARS:  # ligatures unfold: 'ﬃ' is 'ffi'
        return Said("a keyword has at most {limit} characters once folded", limit=MAX_KEYWORD_CHARS)
    if not words:
        return Said("it has no letters or digits, so it could never match a story")
    if len(words) > subscriptions.MAX_PHRASE_WORDS:
        return Said(
            "a keyword needs 1 to {most} words, not {count}",
            most=subscriptions.MAX_PHRASE_WORDS,
            count=len(words),
        )
    return None


def keyword_items(terms: Sequence[str]) -> tuple[list[tuple[str, str]], list[Said]]:
    """(folded value, as typed) for each acceptable keyword, and a plain-text line per refusal
    (the first few named, the rest counted): nothing is cut or changed silently."""
    items: list[tuple[str, str]] = []
    refused: list[Said] = []
    for term in terms:
        problem = keyword_problem(term)
        if problem is None:
            items.append((subscriptions.normalise_keyword(term), term))
        else:
            refused.append(
                Said("Not added “{term}”: {problem}.", term=clip(term, 60), problem=problem)
            )
    if len(refused) > MAX_REFUSALS_NAMED:
        more = len(refused) - MAX_REFUSALS_NAMED
        refused = [
            *refused[:MAX_REFUSALS_NAMED],
            SaidN(
                "… and {count} more keyword not added.",
                "… and {count} more keywords not added.",
                more,
            ),
        ]
    return items, refused


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
