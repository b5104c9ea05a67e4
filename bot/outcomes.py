"""What to do after a Telegram send or edit failed: ``outcome_for`` maps each error to an
action, in exactly one place (pure, tested as a table), and ``backoff`` spaces the retries.

Actions: ``retry`` (flood control with its wait, network errors with backoff), ``migrate``
(a group became a supergroup), ``deactivate`` (blocked, kicked), ``ignore`` (an edit that
changes nothing or whose message is gone), ``fail`` (any other bad request). Delivery itself
adds ``sent``, ``skipped`` (an alert no longer wanted when its turn came) and ``unrecorded``
(sent, but the database refused to record it yet: ``bot.delivery``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

IGNORABLE_EDIT_ERRORS = ("message is not modified", "message to edit not found")

Action = Literal[
    "sent", "retry", "deactivate", "migrate", "fail", "ignore", "skipped", "unrecorded"
]


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What to do with an alert after a send attempt."""

    action: Action
    retry_after: float | None = None  # seconds; None with "retry" means exponential backoff
    new_chat_id: int | None = None
    reason: str = ""


def _seconds(value: object) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)  # type: ignore[arg-type]


def outcome_for(exc: Exception) -> DeliveryOutcome:
    """Map an exception raised by a send or edit to what delivery should do next.

    Most specific first: ``BadRequest`` and ``TimedOut`` are subclasses of ``NetworkError``.
    """
    if isinstance(exc, RetryAfter):
        with warnings.catch_warnings():  # PTB < 23 warns that this becomes a timedelta
            warnings.simplefilter("ignore")
            seconds = _seconds(exc.retry_after)
        return DeliveryOutcome("retry", retry_after=seconds, reason=f"flood control: {seconds:g}s")
    if isinstance(exc, ChatMigrated):
        return DeliveryOutcome("migrate", new_chat_id=exc.new_chat_id, reason="chat migrated")
    if isinstance(exc, Forbidden):
        return DeliveryOutcome("deactivate", reason=exc.message)
    if isinstance(exc, BadRequest):
        if any(text in exc.message.lower() for text in IGNORABLE_EDIT_ERRORS):
            return DeliveryOutcome("ignore", reason=exc.message)
        return DeliveryOutcome("fail", reason=exc.message)
    if isinstance(exc, TimedOut | NetworkError):
        return DeliveryOutcome("retry", reason=f"{type(exc).__name__}: {exc}")
    if isinstance(exc, TelegramError):  # InvalidToken, Conflict, …: keep the alert, retry later
        return DeliveryOutcome("retry", reason=f"{type(exc).__name__}: {exc}")
    return DeliveryOutcome("retry", reason=f"unexpected {type(exc).__name__}: {exc}")


def backoff(attempts: int) -> float:
    """Seconds before retry number ``attempts + 1`` after a network error: 5 s doubling to 1 h."""
    return min(5.0 * 2 ** max(attempts, 0), 3600.0)


@dataclass
class DeliveryReport:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    deactivated: int = 0
    migrated: int = 0
    retry_after_seen: int = 0
    skipped: int = 0
    outcomes: list[Action] = field(default_factory=list)
