"""Chats and their watch rules: store functions that take a session and never commit.

A chat's watchlist is a set of ``WatchRule`` rows: ``country`` (ISO code), ``keyword`` (a folded
phrase), ``exclude`` (a folded phrase that vetoes a match). Keywords are plain terms, never
user-supplied regular expressions, so no rule can make matching slow: a phrase is folded to
its words (casefold, accents removed, punctuation and whitespace collapsed) and matched as a
whole sequence of words in the equally folded story text (see ``monitors.watch``).

Folding keeps a keyword as typed except for case and accents: casefold, combining marks
removed (NFKD), and the stroke letters and ligatures of ``config/folding.toml``. Other scripts
are not transliterated (an Arabic keyword matches Arabic text, not its Latin spelling); a
word is a run of letters or digits, each CJK character a word of its own; emoji and
punctuation are not words, so a keyword made only of them matches nothing.
"""

from __future__ import annotations

import functools
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from config import data_path
from monitors.models import Alert, Chat, ChatMute, WatchRule

RuleKind = Literal["country", "keyword", "exclude", "list"]
RULE_KINDS: tuple[RuleKind, ...] = ("country", "keyword", "exclude")
PHRASE_KINDS = ("keyword", "exclude")
# A ``list`` rule: the chat follows a named watchlist (value = its name); it counts toward the
# chat's limit. A ``target`` rule: the watchlist file names the chat as a delivery target; it
# is owned by ``sync_targets``, never shown or counted as the chat's own.
TARGET = "target"
MAX_PHRASE_WORDS = 6
MAX_PHRASE_CHARS = 100

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+")

# Process-wide counter bumped on every keyword/exclude change made through this module, so
# the watch index's phrase cache notices local edits at once (other processes are caught by
# the cheap signature query in ``monitors.watch``).
keyword_generation = 0


@functools.cache
def _letter_folds() -> dict[int, str]:
    table = tomllib.loads(data_path("folding.toml").read_text(encoding="utf-8"))
    return {ord(letter): plain for letter, plain in table.get("letters", {}).items()}


def fold_words(text: str) -> list[str]:
    """The words of ``text``, casefolded and without accents: the unit of keyword matching.

    Azərbaycan -> azerbaycan, Défense -> defense; Азербайджан and מלחמה stay in their script.
    ASCII text has no marks to remove and no letter to fold (``folding.toml`` folds only
    non-ASCII letters), so it is only lower-cased: the same words, a fraction of the work.
    """
    if text.isascii():
        return _WORD.findall(text.lower())
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(plain.translate(_letter_folds()).casefold())


def normalise_keyword(text: str) -> str:
    """A keyword as stored and matched: its folded words joined by single spaces ('' if none)."""
    return " ".join(fold_words(text))


@dataclass(frozen=True, slots=True)
class ChatSettings:
    """One chat's delivery preferences, outside any session."""

    id: int
    type: str
    title: str | None
    active: bool
    delivery_mode: str
    digest_time: str
    timezone: str
    quiet_start: str | None
    quiet_end: str | None
    scope: str
    last_digest_at: datetime | None
    language: str | None = None  # None: not chosen yet (the user's Telegram language applies)


@dataclass(frozen=True, slots=True)
class Rule:
    """One watch rule of a chat."""

    id: int
    kind: str
    value: str
    display: str


@dataclass(frozen=True, slots=True)
class AddResult:
    """What adding rules did: which were new, already there, or refused by the limit."""

    added: tuple[str, ...]
    existing: tuple[str, ...]
    over_limit: tuple[str, ...]


def _settings(chat: Chat) -> ChatSettings:
    return ChatSettings(
        id=chat.id,
        type=chat.type,
        title=chat.title,
        active=chat.active,
        delivery_mode=chat.delivery_mode,
        digest_time=chat.digest_time,
        timezone=chat.timezone,
        quiet_start=chat.quiet_start,
        quiet_end=chat.quiet_end,
        scope=chat.scope,
        last_digest_at=chat.last_digest_at,
        language=chat.language,
    )


async def get_chat(session: AsyncSession, chat_id: int) -> ChatSettings | None:
    chat = await session.get(Chat, chat_id)
    return None if chat is None else _settings(chat)


async def ensure_chat(
    session: AsyncSession, chat_id: int, *, type: str, title: str | None, now: datetime
) -> ChatSettings:
    """The chat's row, created (inactive) if unknown, so rules can be kept before /start."""
    chat = await session.get(Chat, chat_id)
    if chat is None:
        chat = Chat(id=chat_id, type=type, title=title, active=False, subscribed_at=now)
        session.add(chat)
        await session.flush()
    return _settings(chat)


async def subscribe(
    session: AsyncSession, chat_id: int, *, type: str, title: str | None, now: datetime
) -> bool:
    """Activate the chat; True if it was not active before. Its watchlist is kept."""
    chat = await session.get(Chat, chat_id)
    if chat is None:
        session.add(Chat(id=chat_id, type=type, title=title, active=True, subscribed_at=now))
        await session.flush()
        return True
    was_active = chat.active
    chat.active, chat.type, chat.title = True, type, title
    if not was_active:
        chat.subscribed_at = now
    return not was_active


async def unsubscribe(session: AsyncSession, chat_id: int) -> bool:
    """Deactivate the chat (rules kept) and drop its undelivered alerts; True if it was active."""
    chat = await session.get(Chat, chat_id)
    if chat is None or not chat.active:
        return False
    chat.active = False
    await session.execute(
        update(Alert)
        .where(Alert.chat_id == chat_id, Alert.status.in_(("pending", "held")))
        .values(status="dropped")
    )
    return True


async def count_rules(session: AsyncSession, chat_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(WatchRule)
            .where(WatchRule.chat_id == chat_id, WatchRule.kind != TARGET)
        )
        or 0
    )


async def add_rules(
    session: AsyncSession,
    chat_id: int,
    kind: RuleKind,
    items: list[tuple[str, str]],
    *,
    limit: int,
) -> AddResult:
    """Add ``(value, display)`` rules of one kind, at most ``limit`` rules per chat in all."""
    global keyword_generation
    have = set(
        await session.scalars(
            select(WatchRule.value).where(WatchRule.chat_id == chat_id, WatchRule.kind == kind)
        )
    )
    room = limit - await count_rules(session, chat_id)
    added: list[str] = []
    existing: list[str] = []
    refused: list[str] = []
    for value, display in items:
        if value in have:
            existing.append(display)
        elif room <= 0:
            refused.append(display)
        else:
            session.add(WatchRule(chat_id=chat_id, kind=kind, value=value, display=display))
            have.add(value)
            added.append(display)
            room -= 1
    await session.flush()
    if kind in PHRASE_KINDS and added:
        keyword_generation += 1
    return AddResult(tuple(added), tuple(existing), tuple(refused))


async def remove_rules(
    session: AsyncSession, chat_id: int, kind: RuleKind, values: list[str]
) -> list[str]:
    """Remove rules by normalised value; the displays of those that existed."""
    global keyword_generation
    rows = (
        await session.scalars(
            select(WatchRule).where(
                WatchRule.chat_id == chat_id, WatchRule.kind == kind, WatchRule.value.in_(values)
            )
        )
    ).all()
    for row in rows:
        await session.delete(row)
    await session.flush()
    if kind in PHRASE_KINDS and rows:
        keyword_generation += 1
    return [row.display for row in rows]


async def remove_rule_by_id(session: AsyncSession, chat_id: int, rule_id: int) -> Rule | None:
    """Remove one rule of this chat by id (the watchlist's buttons); the rule, if it existed."""
    global keyword_generation
    row = await session.get(WatchRule, rule_id)
    if row is None or row.chat_id != chat_id or row.kind == TARGET:
        return None
    rule = Rule(row.id, row.kind, row.value, row.display)
    await session.execute(delete(WatchRule).where(WatchRule.id == rule_id))
    if rule.kind in PHRASE_KINDS:
        keyword_generation += 1
    return rule


async def list_rules(session: AsyncSession, chat_id: int) -> list[Rule]:
    """The chat's own rules (countries, keywords, excludes, followed lists), not file targets."""
    rows = await session.scalars(
        select(WatchRule)
        .where(WatchRule.chat_id == chat_id, WatchRule.kind != TARGET)
        .order_by(WatchRule.kind, WatchRule.id)
    )
    return [Rule(r.id, r.kind, r.value, r.display) for r in rows]


async def watched_countries(session: AsyncSession, chat_id: int) -> list[str]:
    return list(
        await session.scalars(
            select(WatchRule.value)
            .where(WatchRule.chat_id == chat_id, WatchRule.kind == "country")
            .order_by(WatchRule.id)
        )
    )


_SETTABLE = {
    "delivery_mode",
    "digest_time",
    "timezone",
    "quiet_start",
    "quiet_end",
    "scope",
    "language",
}


async def update_settings(
    session: AsyncSession, chat_id: int, **values: str | None
) -> ChatSettings:
    """Change delivery settings (already validated by the caller); the new settings."""
    unknown = set(values) - _SETTABLE
    if unknown:
        raise ValueError(f"not a chat setting: {sorted(unknown)}")
    chat = await session.get(Chat, chat_id)
    if chat is None:
        raise LookupError(f"unknown chat {chat_id}")
    for name, value in values.items():
        setattr(chat, name, value)
    await session.flush()
    return _settings(chat)


async def digest_chats(session: AsyncSession) -> list[ChatSettings]:
    """Active chats that want a daily digest (their jobs are scheduled at start-up)."""
    rows = await session.scalars(
        select(Chat).where(Chat.active.is_(True), Chat.delivery_mode == "digest")
    )
    return [_settings(c) for c in rows]


async def chat_locales(
    session: AsyncSession, chat_ids: Iterable[int]
) -> dict[int, tuple[str | None, str]]:
    """{chat id: (language or None, time zone)} of the given chats: how alerts speak to them."""
    ids = sorted(set(chat_ids))
    if not ids:
        return {}
    rows = await session.execute(
        select(Chat.id, Chat.language, Chat.timezone).where(Chat.id.in_(ids))
    )
    return {row.id: (row.language, row.timezone) for row in rows}


async def active_chat_ids(session: AsyncSession) -> list[int]:
    return list(await session.scalars(select(Chat.id).where(Chat.active.is_(True))))


# --- named watchlists (monitors.watchlists) ---------------------------------------------------


async def follow_list(session: AsyncSession, chat_id: int, name: str, *, limit: int) -> AddResult:
    """Follow a named watchlist; it counts as one item toward the chat's limit."""
    return await add_rules(session, chat_id, "list", [(name, name)], limit=limit)


async def unfollow_list(session: AsyncSession, chat_id: int, name: str) -> bool:
    """Stop following a named watchlist; True if the chat followed it."""
    return bool(await remove_rules(session, chat_id, "list", [name]))


async def followed_lists(session: AsyncSession, chat_id: int) -> list[str]:
    return list(
        await session.scalars(
            select(WatchRule.value)
            .where(WatchRule.chat_id == chat_id, WatchRule.kind == "list")
            .order_by(WatchRule.value)
        )
    )


def chat_type_for(chat_id: int) -> str:
    """The type of a chat known only by id: -100… is a channel or supergroup, -… a group."""
    return "channel" if str(chat_id).startswith("-100") else "group"


async def sync_targets(
    session: AsyncSession, targets: Mapping[str, Iterable[int]], now: datetime
) -> tuple[int, int]:
    """Make the ``target`` rules exactly {watchlist name: chat ids}; (added, removed).

    Target chats unknown so far get an active Chat row (type "channel" or "group"); a known
    chat is (re)activated, since the operator named it in the file.
    """
    wanted = {(chat_id, name) for name, ids in targets.items() for chat_id in ids}
    rows = (await session.scalars(select(WatchRule).where(WatchRule.kind == TARGET))).all()
    have = {(row.chat_id, row.value): row for row in rows}
    for key, row in have.items():
        if key not in wanted:
            await session.delete(row)
    for chat_id in sorted({chat_id for chat_id, _ in wanted}):
        chat = await session.get(Chat, chat_id)
        if chat is None:
            session.add(
                Chat(
                    id=chat_id,
                    type=chat_type_for(chat_id),
                    title=None,
                    active=True,
                    subscribed_at=now,
                )
            )
        elif not chat.active:
            chat.active = True
    await session.flush()
    added = sorted(wanted - set(have))
    for chat_id, name in added:
        session.add(WatchRule(chat_id=chat_id, kind=TARGET, value=name, display=name))
    await session.flush()
    return len(added), len(set(have) - wanted)


# --- mutes (an alert's "Mute this pair for a week") --------------------------------------------


def pair_key(codes: Iterable[str]) -> str:
    """A country pair as stored: the two codes sorted, 'AZ-CN'."""
    return "-".join(sorted(codes))


async def mute_pair(
    session: AsyncSession, chat_id: int, codes: tuple[str, str], *, until: datetime
) -> None:
    """Mute stories in which both countries take part until ``until`` (a later mute extends)."""
    key = pair_key(codes)
    row = await session.scalar(
        select(ChatMute).where(ChatMute.chat_id == chat_id, ChatMute.pair == key)
    )
    if row is None:
        session.add(ChatMute(chat_id=chat_id, pair=key, until=until))
    else:
        row.until = max(row.until, until)
    await session.flush()


async def muted_chats(
    session: AsyncSession, chat_ids: Iterable[int], participants: Iterable[str], now: datetime
) -> set[int]:
    """Which of ``chat_ids`` muted a pair of ``participants`` that has not yet expired."""
    codes = set(participants)
    ids = set(chat_ids)
    if len(codes) < 2 or not ids:
        return set()
    # Unexpired mutes are few; reading them all avoids an IN list as long as a fan-out.
    rows = await session.execute(
        select(ChatMute.chat_id, ChatMute.pair).where(ChatMute.until > now)
    )
    return {chat_id for chat_id, pair in rows if chat_id in ids and set(pair.split("-")) <= codes}
