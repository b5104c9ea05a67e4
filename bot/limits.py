"""Per-chat request limit: a token bucket, pure (the caller passes the clock).

A chat holds up to ``burst`` tokens and regains ``per_minute`` tokens a minute; each command
or button press takes one. So a user exploring the bot may send ``burst`` commands at once,
and a flood is held to ``per_minute`` a minute. A refused request is told once per streak:
``take`` says whether the refusal is the first since the last accepted request, so a flood
gets one warning, not one reply per message.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: bool
    wait_seconds: int = 0  # until the next token, when refused
    first_refusal: bool = False


@dataclass(slots=True)
class TokenBucket:
    burst: int
    per_minute: int
    tokens: float = -1.0  # full on first use
    updated: float = 0.0
    warned: bool = False

    def take(self, now: float) -> Verdict:
        rate = self.per_minute / 60.0
        if self.tokens < 0:
            self.tokens, self.updated = float(self.burst), now
        self.tokens = min(float(self.burst), self.tokens + max(0.0, now - self.updated) * rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            self.warned = False
            return Verdict(True)
        first, self.warned = not self.warned, True
        return Verdict(False, max(1, math.ceil((1.0 - self.tokens) / rate)), first)
