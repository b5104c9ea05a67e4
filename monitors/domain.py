"""Plain frozen values passed between the stages of a poll.

Everything that outlives a database session, or crosses from one stage to the next, is one of
these: no ORM object leaves ``monitors.store``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

COOPERATION_TYPES = (
    "meeting_visit",
    "exercise",
    "arms_transfer",
    "agreement",
    "industry",
    "training",
    "aid",
    "other",
)


@dataclass(frozen=True, slots=True)
class NormalisedEntry:
    """One feed item, cleaned: plain text, canonical URL, UTC time, stable key."""

    entry_key: str
    url: str | None
    title: str
    summary: str
    published_at: datetime  # timezone-aware, UTC; the fetch time when the feed gives none
    language: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """What a feed document yielded; ``problem`` names a salvage (feedparser's bozo), if any."""

    title: str | None
    language: str | None
    entries: tuple[NormalisedEntry, ...]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class Classification:
    """The classifier's verdict on one text, with the evidence that produced it.

    ``participants`` are ISO 3166-1 alpha-2 codes of the states taking part in the cooperation
    (for a negative: the states the text is mainly about); ``mentioned`` are other states named.
    """

    defence_cooperation: bool
    score: float
    participants: tuple[str, ...] = ()
    mentioned: tuple[str, ...] = ()
    cooperation_type: str | None = None
    evidence: tuple[str, ...] = field(default_factory=tuple)

    @property
    def countries(self) -> tuple[str, ...]:
        return self.participants


@dataclass(frozen=True, slots=True)
class StoryForAlert:
    """What the watch index needs to decide which chats a newly stored story alerts."""

    story_id: int
    title: str
    summary: str
    participants: tuple[str, ...]
    mentioned: tuple[str, ...]
    is_defence_cooperation: bool
    cooperation_type: str | None
    published_at: datetime


@dataclass(frozen=True, slots=True)
class Outlet:
    """One report of a story: which feed carried it, where, and when."""

    feed_title: str
    url: str | None
    published_at: datetime


@dataclass(frozen=True, slots=True)
class StoryView:
    """A stored story as digests, alerts and ``latest`` show it."""

    id: int
    title: str
    url: str | None
    summary: str
    published_at: datetime
    participants: tuple[str, ...]
    mentioned: tuple[str, ...]
    is_defence_cooperation: bool
    cooperation_type: str | None
    score: float
    evidence: tuple[str, ...]
    outlets: tuple[Outlet, ...]

    def for_alert(self) -> StoryForAlert:
        """What matching needs of this story (the same fields the poll passes)."""
        return StoryForAlert(
            self.id,
            self.title,
            self.summary,
            self.participants,
            self.mentioned,
            self.is_defence_cooperation,
            self.cooperation_type,
            self.published_at,
        )
