"""Pure helpers for reading command arguments as users type them.

``UsageError`` is the one error a parser raises: its message is the reply. A parser never
drops part of its input without saying so: what it had to leave out comes back with the
result, as a note for the reply (``Cut``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class UsageError(ValueError):
    """The command's arguments are wrong; the message says how to use it."""


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
