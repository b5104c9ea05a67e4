"""Which chats a newly stored story alerts, found through indexes, never a scan of every chat.

Rule: ``monitors.matching`` (scope, then excludes, then countries or keywords), per candidate.

Candidates come from dict lookups in a ``WatchIndex``, never a scan of every chat: countries
by the story's participant codes, keywords by the phrases that occur in the text. Those
phrases are found without looping over chats: every word n-gram of the text (n up to the
longest watched phrase) is looked up in the set of distinct watched phrases. The decision
itself is ``monitors.matching.matches``, a pure function over plain data: that per-chat rule is
the specification (``WatchIndex.own_matches_per_chat``). Stories are matched by
``WatchIndex.own_matches``, the same rule as set operations over the chat ids of the rules a
story hits (its docstring shows why the answers are equal; tests compare both over varied
chats), so a story that alerts 5 % of 10,000 chats costs a few set operations, not 500
decisions.

The index (every rule, each chat's scope and delivery facts, every mute) is held in memory
per process and database, and read again only when the database's ``meta.watch_version``
moved: triggers (migration ``0006``) set it to a new random token in every
transaction that changes a watch rule, a chat (its activity, scope, delivery mode, time zone
or quiet hours) or a mute, whoever writes it. The version is read once per transaction (and
again after the session itself writes a watch table), so a poll's stories cost dict lookups,
and an edit in any process is seen by the next transaction. A token, not a counter, so that a
rolled-back edit cannot leave a stale index that looks current.

Named watchlists (``monitors.watchlists``): the caller passes the lists the story matched;
chats that follow one (rule ``list``) or are its file-defined targets (rule ``target``) are
found with one more lookup on the same index, and get the alert with ``list:NAME`` and the
list's terms, unless one of their own ``exclude`` phrases occurs. Still one alert per chat.

Mutes: a chat that muted a country pair (``chat_mute``, until a time) gets no alert for a
story in which both countries take part, however it matched.

The same facts are checked again when a queued alert is about to be sent
(``WatchIndex.withdrawn``): an alert queued before the chat stopped, muted its pair or
unwatched what it matched is not sent (the outbox records it as ``skipped``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from zoneinfo import ZoneInfo

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session

from monitors import matching
from monitors.db import insert_ignoring_duplicates
from monitors.domain import StoryForAlert
from monitors.matching import ChatWatch, found_phrases
from monitors.models import Alert, Chat, ChatMute, Meta, WatchRule

_PHRASE_KINDS = ("keyword", "exclude")
_LIST_KINDS = ("list", "target")  # a chat follows a named watchlist / is one of its targets
WATCH_VERSION_KEY = "watch_version"  # the meta row the triggers of migration 0006 change


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


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """What the index keeps of a chat: its scope, and when its alerts are held."""

    active: bool
    scope: str
    delivery_mode: str
    timezone: str
    quiet_start: str | None
    quiet_end: str | None

    def held(self, now: datetime) -> bool:
        """Digest mode, or inside its quiet hours at ``now``: its alerts wait."""
        return self.delivery_mode == "digest" or in_quiet_hours(
            now, self.timezone, self.quiet_start, self.quiet_end
        )


@dataclass(frozen=True)
class WatchIndex:
    """Every chat's watch as dicts: rule value -> chat ids per kind, chats, mutes.

    Plain data; ``matches`` is pure. ``version`` is the ``meta.watch_version`` it was read at.
    """

    version: str | None
    rules: Mapping[str, Mapping[str, frozenset[int]]]  # kind -> value -> chat ids
    chats: Mapping[int, ChatInfo]
    mutes: Mapping[int, tuple[tuple[frozenset[str], datetime], ...]]  # chat -> (pair, until)
    phrases: frozenset[str]
    max_words: int
    # Derived from ``chats`` for the set algebra of ``matches``: who may get any alert at all
    # (active), and who may get one for a story that is not defence cooperation (scope 'all').
    eligible: frozenset[int] = frozenset()
    eligible_any_story: frozenset[int] = frozenset()

    @classmethod
    def build(
        cls,
        version: str | None,
        rules: Iterable[tuple[int, str, str]],
        chats: Mapping[int, ChatInfo],
        mutes: Iterable[tuple[int, str, datetime]],
    ) -> WatchIndex:
        by_kind: dict[str, dict[str, set[int]]] = {}
        for chat_id, kind, value in rules:
            by_kind.setdefault(kind, {}).setdefault(value, set()).add(chat_id)
        muted: dict[int, list[tuple[frozenset[str], datetime]]] = {}
        for chat_id, pair, until in mutes:
            muted.setdefault(chat_id, []).append((frozenset(pair.split("-")), until))
        phrases = frozenset(value for kind in _PHRASE_KINDS for value in by_kind.get(kind, {}))
        return cls(
            version=version,
            rules={
                kind: {value: frozenset(ids) for value, ids in values.items()}
                for kind, values in by_kind.items()
            },
            chats=dict(chats),
            mutes={chat_id: tuple(items) for chat_id, items in muted.items()},
            phrases=phrases,
            max_words=max((p.count(" ") + 1 for p in phrases), default=0),
            eligible=frozenset(c for c, info in chats.items() if info.active),
            eligible_any_story=frozenset(
                c for c, info in chats.items() if info.active and info.scope == "all"
            ),
        )

    def _chats(self, kind: str, values: Iterable[str]) -> Iterator[tuple[int, str]]:
        table = self.rules.get(kind, {})
        for value in values:
            for chat_id in table.get(value, ()):
                yield chat_id, value

    def candidates(self, story: StoryForAlert, found: Set[str]) -> dict[int, ChatWatch]:
        """Active chats with a country or keyword rule hit by the story, with those rules."""
        hits: dict[int, dict[str, set[str]]] = {}

        def add(kind: str, values: Iterable[str]) -> None:
            for chat_id, value in self._chats(kind, values):
                chat = self.chats.get(chat_id)
                if chat is not None and chat.active:
                    hits.setdefault(chat_id, {"country": set(), "keyword": set()})[kind].add(value)

        add("country", set(story.participants))
        add("keyword", found)
        excludes = self.excluding(hits, found)
        return {
            chat_id: ChatWatch(
                chat_id,
                self.chats[chat_id].scope,
                frozenset(rules["country"]),
                frozenset(rules["keyword"]),
                frozenset(excludes.get(chat_id, ())),
            )
            for chat_id, rules in hits.items()
        }

    def own_matches_per_chat(
        self, story: StoryForAlert, found: Set[str]
    ) -> dict[int, tuple[str, ...]]:
        """The specification of ``own_matches``: ``matching.matches`` for each candidate chat.

        One ``ChatWatch`` and one decision per chat hit (tests and the bench compare it with
        ``own_matches``, which must give the same answer)."""
        return {
            chat_id: terms
            for chat_id, watch in self.candidates(story, found).items()
            if (terms := matching.matches(story, watch, found))
        }

    def own_matches(self, story: StoryForAlert, found: Set[str]) -> dict[int, tuple[str, ...]]:
        """Every chat whose own rules the story matches, with its terms: set algebra over the
        index, the same answer as ``own_matches_per_chat`` (one decision per chat) in a few
        set operations plus one dict entry per chat alerted.

        Why it is the same, step by step through ``matching.matches`` for a candidate chat C
        (an active chat with a country in ``participants`` or a keyword in ``found``):

        1. scope: C passes iff the story is cooperation or C's scope is 'all', so the chats
           that can pass are ``eligible`` (active) or ``eligible_any_story`` (active, 'all');
        2. excludes: C is vetoed iff one of its exclude phrases is in ``found``, i.e. iff C is
           in the union of ``rules['exclude'][p]`` over ``p`` in ``found``;
        3. terms: C's countries in ``participants``, sorted, then its keywords in ``found``,
           sorted; never empty for a candidate. Walking the sorted participants, then the
           sorted found phrases, and appending the term to each chat (of 1 and 2) that watches
           it builds exactly these tuples, and only for candidates.
        """
        allowed = self.eligible if story.is_defence_cooperation else self.eligible_any_story
        if not allowed:
            return {}
        excludes = self.rules.get("exclude", {})
        vetoed: set[int] = set()
        for phrase in found:
            vetoed.update(excludes.get(phrase, ()))
        terms: dict[int, tuple[str, ...]] = {}
        for kind, values in (("country", set(story.participants)), ("keyword", found)):
            table = self.rules.get(kind, {})
            for value in sorted(values):
                ids = table.get(value)
                if not ids:
                    continue
                hit = ids & allowed
                if vetoed:
                    hit -= vetoed
                term = (f"{kind}:{value}",)
                for chat_id in hit:
                    terms[chat_id] = terms.get(chat_id, ()) + term
        return terms

    def excluding(self, chat_ids: Iterable[int], found: Set[str]) -> dict[int, set[str]]:
        """Those of ``chat_ids`` whose own ``exclude`` phrases occur in the story (-> phrases)."""
        wanted = set(chat_ids)
        out: dict[int, set[str]] = {}
        for chat_id, value in self._chats("exclude", found):
            if chat_id in wanted:
                out.setdefault(chat_id, set()).add(value)
        return out

    def list_followers(
        self, list_matches: Mapping[str, tuple[str, ...]]
    ) -> dict[int, tuple[str, ...]]:
        """Active chats following (or targeted by) a matched named watchlist, with its terms."""
        rows = sorted(
            (chat_id, name)
            for kind in _LIST_KINDS
            for chat_id, name in self._chats(kind, list_matches)
            if (chat := self.chats.get(chat_id)) is not None and chat.active
        )
        terms: dict[int, list[str]] = {}
        for chat_id, name in rows:
            have = terms.setdefault(chat_id, [])
            for term in (f"list:{name}", *list_matches[name]):
                if term not in have:
                    have.append(term)
        return {chat_id: tuple(have) for chat_id, have in terms.items()}

    def muted(
        self, chat_ids: Iterable[int], participants: Iterable[str], now: datetime
    ) -> set[int]:
        """Which of ``chat_ids`` muted a pair of ``participants`` that has not yet expired."""
        codes = set(participants)
        if len(codes) < 2:
            return set()
        return {
            chat_id
            for chat_id in chat_ids
            for pair, until in self.mutes.get(chat_id, ())
            if until > now and pair <= codes
        }

    def withdrawn(
        self, chat_id: int, participants: Iterable[str], matched: Sequence[str], now: datetime
    ) -> str | None:
        """Why a queued alert is no longer wanted at delivery time (None: send it).

        The chat stopped; it muted a pair of the story's countries; or none of the terms the
        alert matched still holds (the country unwatched, the keyword removed, the list no
        longer followed). A term of an unknown kind holds: a change of spelling never loses
        an alert.
        """
        chat = self.chats.get(chat_id)
        if chat is None or not chat.active:
            return "the chat stopped its alerts"
        codes = set(participants)
        for pair, until in self.mutes.get(chat_id, ()):
            if until > now and pair <= codes:
                return f"muted {'-'.join(sorted(pair))} until {until:%Y-%m-%d %H:%M}"
        if not matched or any(self._holds(chat_id, term) for term in matched):
            return None
        return "no longer watched: " + ", ".join(matched)

    def _holds(self, chat_id: int, term: str) -> bool:
        kind, _, value = term.partition(":")
        kinds = {"country": ("country",), "keyword": ("keyword",), "list": _LIST_KINDS}
        if kind not in kinds:
            return True
        return any(chat_id in self.rules.get(k, {}).get(value, ()) for k in kinds[kind])

    def matches(
        self,
        story: StoryForAlert,
        now: datetime,
        list_matches: Mapping[str, tuple[str, ...]] | None = None,
    ) -> dict[int, tuple[str, ...]]:
        """Every chat the story alerts, with the terms it matched (the module doc's rule)."""
        found = found_phrases(story, self.phrases, self.max_words)
        own = self.own_matches(story, found)
        if list_matches:
            followers = self.list_followers(list_matches)
            vetoed = self.excluding(followers, found)
            matches = merge_terms(own, {c: t for c, t in followers.items() if c not in vetoed})
        else:
            matches = own
        # only chats with a mute can be muted: look at those, not at every chat alerted
        muted = self.muted(matches.keys() & self.mutes.keys(), story.participants, now)
        return {chat_id: terms for chat_id, terms in matches.items() if chat_id not in muted}


# One index per database (tests and tools may open several in one process).
_indexes: dict[str, WatchIndex] = {}


async def watch_version(session: AsyncSession) -> str | None:
    """The database's watch version: changed by triggers (migration 0006) in
    every transaction that changes a watch rule, a chat's delivery facts or a mute."""
    return await session.scalar(select(Meta.value).where(Meta.key == WATCH_VERSION_KEY))


async def current_index(session: AsyncSession) -> WatchIndex:
    """This process's index of the session's database, reloaded when its version moved.

    The version is read once per transaction (a poll stores many stories in one), and again
    after this session itself wrote a watch table (``_forget_verified``).
    """
    verified = session.info.get(_VERIFIED)
    transaction = session.sync_session.get_transaction()
    if verified is not None and transaction is not None and verified[0] is transaction:
        return verified[1]
    key = str(session.get_bind().engine.url)
    version = await watch_version(session)
    index = _indexes.get(key)
    if index is None or version is None or index.version != version:
        index = await load_index(session, version)
        _indexes[key] = index
    session.info[_VERIFIED] = (session.sync_session.get_transaction(), index)
    return index


_VERIFIED = "defwatch.watch_index"  # Session.info: (transaction, index) checked in it
_WATCH_TABLES = frozenset({"watch_rule", "chat", "chat_mute"})


@event.listens_for(Session, "do_orm_execute")
def _forget_on_execute(state: ORMExecuteState) -> None:
    """A statement that may write a watch table (or raw SQL) makes the next story re-check."""
    if state.is_select:
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCH_TABLES or table is None:
        state.session.info.pop(_VERIFIED, None)


@event.listens_for(Session, "after_flush")
def _forget_on_flush(session: Session, _context: object) -> None:
    """A flush that wrote a rule, a chat or a mute makes the next story re-check."""
    changed = chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, WatchRule | Chat | ChatMute) for obj in changed):
        session.info.pop(_VERIFIED, None)


async def load_index(session: AsyncSession, version: str | None) -> WatchIndex:
    """Every rule, chat and unexpired-or-not mute, read in the caller's transaction."""
    rules = await session.execute(select(WatchRule.chat_id, WatchRule.kind, WatchRule.value))
    chats = {
        chat_id: ChatInfo(bool(active), scope, mode, tz, quiet_start, quiet_end)
        for chat_id, active, scope, mode, tz, quiet_start, quiet_end in await session.execute(
            select(
                Chat.id, Chat.active, Chat.scope, Chat.delivery_mode, Chat.timezone,
                Chat.quiet_start, Chat.quiet_end,
            )
        )
    }  # fmt: skip
    mutes = await session.execute(select(ChatMute.chat_id, ChatMute.pair, ChatMute.until))
    return WatchIndex.build(
        version,
        ((chat_id, kind, value) for chat_id, kind, value in rules),
        chats,
        ((chat_id, pair, until) for chat_id, pair, until in mutes),
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
    return await enqueue_alerts_many(session, [(story, list_matches)], now=now)


async def enqueue_alerts_many(
    session: AsyncSession,
    stories: Sequence[tuple[StoryForAlert, Mapping[str, tuple[str, ...]] | None]],
    *,
    now: datetime,
) -> int:
    """``enqueue_alerts`` for several (story, list matches) at once, in this order: one
    multi-row insert for all of them. A (chat, story) already queued, or queued by an
    earlier entry of ``stories`` (the same story redefined later in a poll), keeps its row."""
    if not stories:
        return 0
    index = await current_index(session)
    rows: list[dict[str, object]] = []
    for story, list_matches in stories:
        matches = index.matches(story, now, list_matches)
        rows.extend(
            {
                "chat_id": chat_id,
                "story_id": story.story_id,
                "status": "held" if index.chats[chat_id].held(now) else "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "matched": list(terms),
                "created_at": now,
                "edited_count": 0,
            }
            for chat_id, terms in sorted(matches.items())
        )
    if not rows:
        return 0
    # Many rows, one cached statement (SQLAlchemy batches them as multi-row VALUES); the
    # ids of the rows inserted are counted, duplicates (chat, story) are skipped.
    table = Alert.__table__
    insert = insert_ignoring_duplicates(session, table, ["chat_id", "story_id"])
    result = await session.execute(insert.returning(table.c.id), rows)
    return len(result.all())
