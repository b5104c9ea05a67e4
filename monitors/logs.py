"""Logging set-up, the JSON line format, and feed failures logged once per change of state.

Rules:
- ``configure(verbose, fmt)``: ``human`` (the default) is one readable line per record;
  ``json`` is one JSON object per line with ``time``, ``level``, ``logger``, ``message``,
  the context fields a record carries (``feed``, ``chat``, ``alert``, ``story``, passed as
  ``extra=``) and ``exception`` when there is one, for log shippers.
- Libraries that log request URLs (httpx, httpcore: Bot API URLs embed the token) or one line
  per job run (apscheduler) are held at WARNING.
- ``FeedFailureLog``: a feed that keeps failing is logged when its state changes (it starts
  failing, fails differently, or recovers) and then reminded at most once per
  ``reminder_seconds`` (an hour), not on every retry; the URL appears once per line (the
  error text, which often starts with it, loses that prefix).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Protocol

CONTEXT_FIELDS = ("feed", "chat", "alert", "story")
LOG_FORMATS = ("human", "json")
HUMAN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# httpx and httpcore log request lines, and Bot API URLs embed the token.
QUIET_LIBRARIES = ("httpx", "httpcore", "apscheduler", "alembic")

log = logging.getLogger("monitors.feeds")


class JsonFormatter(logging.Formatter):
    """One JSON object per record (see the module docstring)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(verbose: bool = False, fmt: str = "human") -> None:
    """Log to stderr at INFO (DEBUG when ``verbose``) in the ``human`` or ``json`` format."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(HUMAN_FORMAT))
    # Like basicConfig: a root logger that already has handlers (an embedding program, the
    # test runner's capture) is left as it is.
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, handlers=[handler])
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


class FeedResult(Protocol):
    """What ``FeedFailureLog`` reads of a poll outcome (``monitors.pipeline.FeedOutcome``)."""

    url: str
    status: str
    error: str | None


class FeedFailureLog:
    """Logs feed failures once per change of state, with a reminder at most every hour."""

    def __init__(
        self, *, reminder_seconds: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.reminder_seconds = reminder_seconds
        self.clock = clock
        self._failing: dict[str, tuple[str, float]] = {}  # feed URL -> (kind, last logged)

    def observe(self, outcomes: Iterable[FeedResult]) -> None:
        for outcome in outcomes:
            if outcome.error is None:
                self._succeeded(outcome)
            else:
                self._failed(outcome)

    def _succeeded(self, outcome: FeedResult) -> None:
        previous = self._failing.pop(outcome.url, None)
        if previous is not None:
            log.info(
                "feed %s recovered (was failing: %s)",
                outcome.url,
                previous[0],
                extra={"feed": outcome.url},
            )

    def _failed(self, outcome: FeedResult) -> None:
        now = self.clock()
        previous = self._failing.get(outcome.url)
        if previous is not None and previous[0] == outcome.status:
            if now - previous[1] < self.reminder_seconds:
                return
            message = "feed %s still failing (%s): %s"
        else:
            message = "feed %s failing (%s): %s"
        self._failing[outcome.url] = (outcome.status, now)
        error = (outcome.error or "").removeprefix(f"{outcome.url}: ")  # the URL once per line
        log.warning(message, outcome.url, outcome.status, error, extra={"feed": outcome.url})


feed_failures = FeedFailureLog()
