"""When to poll a feed next, given how often it failed in a row. Pure.

Rules (``next_poll_delay``):

* Healthy feed (0 consecutive errors): the configured ``interval`` with ±10 % jitter, so feeds
  that were added together do not stay in lock-step and hit servers at the same instant.
* Failing feed (n >= 1 errors): exponential backoff with jitter. The ceiling is
  ``min(cap, interval * 2**n)``; the delay is drawn uniformly from ``[interval, ceiling]``.
  This is "full jitter" with a floor at the normal interval: a failing feed is never polled
  more often than a healthy one, and a fleet of failing feeds spreads out.
* ``retry_after`` (a server's Retry-After, in seconds) is a floor: we never come back sooner
  than the server asked, except that it is clamped to ``cap`` (a server asking for a month
  of silence gets a day, and the feed's error status tells the operator why).
* Nothing ever exceeds ``cap`` (default one day), and nothing is below zero.

``rng`` makes the jitter reproducible in tests; by default a private ``random.Random`` is used.
"""

from __future__ import annotations

import random

HEALTHY_JITTER = 0.10
DEFAULT_CAP = 86_400.0
# 2**60 times any sane interval is far above any cap; bounding the exponent avoids overflow.
_MAX_EXPONENT = 60

_default_rng = random.Random()


def backoff_ceiling(consecutive_errors: int, *, interval: float, cap: float = DEFAULT_CAP) -> float:
    """Upper bound of the delay after ``consecutive_errors`` failures (no jitter)."""
    if consecutive_errors <= 0:
        return min(cap, interval * (1 + HEALTHY_JITTER))
    return min(cap, interval * 2.0 ** min(consecutive_errors, _MAX_EXPONENT))


def next_poll_delay(
    consecutive_errors: int,
    *,
    interval: float,
    retry_after: float | None = None,
    cap: float = DEFAULT_CAP,
    rng: random.Random | None = None,
) -> float:
    """Seconds until the next poll of a feed (see the module docstring for the rules)."""
    if interval <= 0:
        raise ValueError(f"interval must be positive, got {interval!r}")
    if cap <= 0:
        raise ValueError(f"cap must be positive, got {cap!r}")
    if consecutive_errors < 0:
        raise ValueError(f"consecutive_errors must be >= 0, got {consecutive_errors!r}")
    rng = rng or _default_rng
    floor = min(interval, cap)
    if consecutive_errors == 0:
        delay = interval * rng.uniform(1 - HEALTHY_JITTER, 1 + HEALTHY_JITTER)
    else:
        delay = rng.uniform(floor, backoff_ceiling(consecutive_errors, interval=interval, cap=cap))
    if retry_after is not None and retry_after > 0:
        delay = max(delay, min(retry_after, cap))
    return min(delay, cap)
