"""Which chats a newly stored story alerts, found through indexes, never a scan of every chat.

Rule (evaluated per candidate chat, in this order):

1. scope ``cooperation`` (the default) needs ``story.is_defence_cooperation``; ``all`` doesn't;
2. any ``exclude`` phrase of the chat occurring in title + summary vetoes the story;
3. the story matches if a watched country is among ``story.participants`` or a watched
   ``keyword`` phrase occurs in title + summary as whole words (case/accent-insensitive).

Candidates come from two index lookups on ``watch_rule (kind, value)``: countries by the
story's participant codes, keywords by the phrases that occur in the text. Those phrases are
found without looping over chats: every word n-gram of the text (n up to the longest watched
phrase) is looked up in the set of distinct watched phrases, cached per process and refreshed
when a cheap signature query (count, max id, total length) or a local edit says it changed.
The decision itself is ``decide``, a pure function over plain data.

Named watchlists (``monitors.watchlists``): the caller passes the lists the story matched;
chats that follow one (rule ``list``) or are its file-defined targets (rule ``target``) are
found with one more lookup on the same index, and get the alert with ``list:NAME`` and the
list's terms, unless one of their own ``exclude`` phrases occurs. Still one alert per chat.

Mutes: a chat that muted a country pair (``chat_mute``, until a time) gets no alert for a
story in which both countries take part, however it matched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Insert, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from monitors import subscriptions
from monitors.domain import StoryForAlert
from monitors.models import Alert, Chat, WatchRule
from monitors.subscriptions import fold_words

_PHRASE_KINDS = ("keyword", "exclude")
_LIST_KINDS = ("list", "target")  # a chat follows a named watchlist / is one of its targets
_RECHECK_SECONDS = 5.0  # how stale another process's keyword edits may be seen
_CACHE_TTL = 300.0  # seconds; a backstop if a signature ever collides
_INSERT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ChatWatch:
    """What one candidate chat watches, as plain data for ``decide``."""

    chat_id: int
    scope: str
    countries: frozenset[str]
    keywords: frozenset[str]
    excludes: frozenset[str]


def phrases_in(words: Sequence[str], known: Set[str], max_words: int) -> set[str]:
    """The known phrases (space-joined folded words) that occur in ``words`` as n-grams."""
    found: set[str] = set()
    if not known:
        return found
    for start in range(len(words)):
        for n in range(1, min(max_words, len(words) - start) + 1):
            gram = " ".join(words[start : start + n])
            if gram in known:
                found.add(gram)
    return found


def story_words(story: StoryForAlert) -> list[str]:
    # A sentinel between title and summary keeps a phrase from spanning the two.
    return [*fold_words(story.title), "\x00", *fold_words(story.summary)]


def decide(story: StoryForAlert, watch: ChatWatch, found: Set[str]) -> tuple[str, ...]:
    """The terms by which ``story`` matches ``watch`` ('country:AZ', 'keyword:s 400'), or ()."""
    if watch.scope != "all" and not story.is_defence_cooperation:
        return ()
    if watch.excludes & found:
        return ()
    countries = sorted(watch.countries & set(story.participants))
    keywords = sorted(watch.keywords & found)
    return (*(f"country:{c}" for c in countries), *(f"keyword:{k}" for k in keywords))


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def in_quiet_hours(now: datetime, timezone: str, start: str | None, end: str | None) -> bool:
    """True when ``now`` falls in the chat's quiet hours (which may wrap past midnight)."""
    if not start or not end or start == end:
        return False
    try:
        local = now.astimezone(ZoneInfo(timezone))
    except (KeyError, ValueError):
        local = now
    minute = local.hour * 60 + local.minute
    first, last = _minutes(start), _minutes(end)
    if first < last:
        return first <= minute < last
    return minute >= first or minute < last


@dataclass
class _PhraseCache:
    signature: tuple[int, int, int, int] | None = None
    loaded_at: float = 0.0
    checked_at: float = 0.0
    phrases: frozenset[str] = frozenset()
    max_words: int = 0


# One cache per database (tests and tools may open several in one process).
_caches: dict[str, _PhraseCache] = {}


async def _known_phrases(session: AsyncSession) -> tuple[frozenset[str], int]:
    """Distinct watched keyword/exclude phrases, from the per-process cache when current."""
    _cache = _caches.setdefault(str(session.get_bind().engine.url), _PhraseCache())
    # The staleness check below reads every phrase rule; local edits bump the generation at
    # once, so other processes' edits need only be noticed within a few seconds.
    recent = time.monotonic() - _cache.checked_at < _RECHECK_SECONDS
    if recent and _cache.signature and _cache.signature[3] == subscriptions.keyword_generation:
        return _cache.phrases, _cache.max_words
    _cache.checked_at = time.monotonic()
    count, max_id, total = (
        await session.execute(
            select(
                func.count(WatchRule.id),
                func.coalesce(func.max(WatchRule.id), 0),
                func.coalesce(func.sum(func.length(WatchRule.value)), 0),
            ).where(WatchRule.kind.in_(_PHRASE_KINDS))
        )
    ).one()
    signature = (int(count), int(max_id), int(total), subscriptions.keyword_generation)
    fresh = time.monotonic() - _cache.loaded_at < _CACHE_TTL
    if signature != _cache.signature or not fresh:
        phrases = frozenset(
            await session.scalars(
                select(WatchRule.value).where(WatchRule.kind.in_(_PHRASE_KINDS)).distinct()
            )
        )
        _cache.signature, _cache.loaded_at = signature, time.monotonic()
        _cache.phrases = phrases
        _cache.max_words = max((p.count(" ") + 1 for p in phrases), default=0)
    return _cache.phrases, _cache.max_words


async def _candidates(
    session: AsyncSession, story: StoryForAlert, found: Set[str]
) -> dict[int, ChatWatch]:
    """Chats with a country or keyword rule hit by this story, with their relevant rules."""
    codes = sorted(set(story.participants))
    hits: list[tuple[int, str, str]] = []
    if codes:
        hits += (
            await session.execute(
                select(WatchRule.chat_id, WatchRule.kind, WatchRule.value).where(
                    WatchRule.kind == "country", WatchRule.value.in_(codes)
                )
            )
        ).all()
    if found:
        hits += (
            await session.execute(
                select(WatchRule.chat_id, WatchRule.kind, WatchRule.value).where(
                    WatchRule.kind.in_(_PHRASE_KINDS), WatchRule.value.in_(sorted(found))
                )
            )
        ).all()
    positive = {chat_id for chat_id, kind, _ in hits if kind != "exclude"}
    if not positive:
        return {}
    chats = (
        await session.execute(
            select(Chat.id, Chat.scope).where(Chat.id.in_(sorted(positive)), Chat.active.is_(True))
        )
    ).all()
    rules: dict[int, dict[str, set[str]]] = {
        chat_id: {"country": set(), "keyword": set(), "exclude": set()} for chat_id, _ in chats
    }
    for chat_id, kind, value in hits:
        if chat_id in rules:
            rules[chat_id][kind].add(value)
    return {
        chat_id: ChatWatch(
            chat_id,
            scope,
            frozenset(rules[chat_id]["country"]),
            frozenset(rules[chat_id]["keyword"]),
            frozenset(rules[chat_id]["exclude"]),
        )
        for chat_id, scope in chats
    }


async def _held_chats(session: AsyncSession, chat_ids: Iterable[int], now: datetime) -> set[int]:
    """Chats whose alerts wait: digest mode, or inside their quiet hours right now."""
    rows = (
        await session.execute(
            select(
                Chat.id, Chat.delivery_mode, Chat.timezone, Chat.quiet_start, Chat.quiet_end
            ).where(Chat.id.in_(sorted(chat_ids)))
        )
    ).all()
    return {
        chat_id
        for chat_id, mode, tz, quiet_start, quiet_end in rows
        if mode == "digest" or in_quiet_hours(now, tz, quiet_start, quiet_end)
    }


def _insert_ignoring_duplicates(session: AsyncSession) -> Insert:
    """INSERT … ON CONFLICT DO NOTHING on the (chat, story) constraint, per dialect."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return pg_insert(Alert).on_conflict_do_nothing(constraint="uq_alert_chat_story")
    if dialect == "sqlite":
        return sqlite_insert(Alert).on_conflict_do_nothing(index_elements=["chat_id", "story_id"])
    raise NotImplementedError(f"alerts need SQLite or PostgreSQL, not {dialect}")


async def _list_followers(
    session: AsyncSession, list_matches: Mapping[str, tuple[str, ...]]
) -> dict[int, tuple[str, ...]]:
    """Active chats following (or targeted by) a matched named watchlist, with their terms."""
    if not list_matches:
        return {}
    rows = (
        await session.execute(
            select(WatchRule.chat_id, WatchRule.value)
            .join(Chat, Chat.id == WatchRule.chat_id)
            .where(
                WatchRule.kind.in_(_LIST_KINDS),
                WatchRule.value.in_(sorted(list_matches)),
                Chat.active.is_(True),
            )
        )
    ).all()
    terms: dict[int, list[str]] = {}
    for chat_id, name in sorted(rows):
        found = terms.setdefault(chat_id, [])
        for term in (f"list:{name}", *list_matches[name]):
            if term not in found:
                found.append(term)
    return {chat_id: tuple(found) for chat_id, found in terms.items()}


async def _excluding(session: AsyncSession, chat_ids: Iterable[int], found: Set[str]) -> set[int]:
    """Those chats whose own ``exclude`` phrases occur in the story: they veto list matches too."""
    ids = sorted(chat_ids)
    if not ids or not found:
        return set()
    return set(
        await session.scalars(
            select(WatchRule.chat_id).where(
                WatchRule.kind == "exclude",
                WatchRule.value.in_(sorted(found)),
                WatchRule.chat_id.in_(ids),
            )
        )
    )


def merge_terms(
    own: Mapping[int, tuple[str, ...]], lists: Mapping[int, tuple[str, ...]]
) -> dict[int, tuple[str, ...]]:
    """One entry per chat: its own matched terms, then those of the lists it follows."""
    merged = dict(own)
    for chat_id, terms in lists.items():
        have = merged.get(chat_id, ())
        merged[chat_id] = (*have, *(t for t in terms if t not in have))
    return merged


async def enqueue_alerts(
    session: AsyncSession,
    story: StoryForAlert,
    *,
    now: datetime,
    list_matches: Mapping[str, tuple[str, ...]] | None = None,
) -> int:
    """Write one Alert per matching active chat in the caller's transaction; rows added.

    ``list_matches`` ({watchlist name: matched terms}, from ``monitors.watchlists``) adds the
    chats that follow those named lists or are their delivery targets.
    """
    phrases, max_words = await _known_phrases(session)
    found = phrases_in(story_words(story), phrases, max_words)
    candidates = await _candidates(session, story, found)
    own = {
        chat_id: terms
        for chat_id, watch in candidates.items()
        if (terms := decide(story, watch, found))
    }
    followers = await _list_followers(session, list_matches or {})
    vetoed = await _excluding(session, followers, found)
    matches = merge_terms(own, {c: t for c, t in followers.items() if c not in vetoed})
    muted = await subscriptions.muted_chats(session, matches, story.participants, now)
    matches = {chat_id: terms for chat_id, terms in matches.items() if chat_id not in muted}
    if not matches:
        return 0
    held = await _held_chats(session, matches, now)
    rows = [
        {
            "chat_id": chat_id,
            "story_id": story.story_id,
            "status": "held" if chat_id in held else "pending",
            "attempts": 0,
            "next_attempt_at": now,
            "matched": list(terms),
            "created_at": now,
            "edited_count": 0,
        }
        for chat_id, terms in sorted(matches.items())
    ]
    added = 0
    for start in range(0, len(rows), _INSERT_CHUNK):
        result = await session.execute(
            _insert_ignoring_duplicates(session).values(rows[start : start + _INSERT_CHUNK])
        )
        added += max(result.rowcount or 0, 0)  # type: ignore[attr-defined]
    return added
