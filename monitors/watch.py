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
per process and database, compactly (each rule value's chat ids as one sorted array), and
brought up to date only when the database's ``meta.watch_version`` moved: triggers (migration
``0006``) set it to a new random token in every transaction that changes a watch rule, a chat
(its activity, scope, delivery mode, time zone or quiet hours) or a mute, whoever writes it.
The version is read once per transaction (and again after the session itself writes a watch
table), so a poll's stories cost set operations, and an edit in any process is seen by the
next transaction. A token, not a counter, so that a rolled-back edit cannot leave a stale
index that looks current. When it moved, only the chats changed since the index was read are
read again: the same triggers (migration ``0009``) log each changed chat in ``watch_change``
with a ``seq`` that grows in commit order, and the index remembers the highest it has read.
An index read by a transaction that itself wrote a watch table is that transaction's alone.

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

from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from typing import TypeAlias
from zoneinfo import ZoneInfo

from sqlalchemy import TextClause, event, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import ORMExecuteState, Session, SessionTransaction

from monitors import matching
from monitors.db import driver_rows, insert_ignoring_duplicates
from monitors.domain import StoryForAlert
from monitors.matching import ChatWatch, found_phrases
from monitors.models import Alert, Chat, ChatMute, WatchChange, WatchRule

_PHRASE_KINDS = ("keyword", "exclude")
_NONE: array[int] = array("q")
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


def sorted_ids(ids: Iterable[int]) -> array[int]:
    """Chat ids as a compact sorted array (8 bytes each; a set of ints costs ~60)."""
    return array("q", sorted(set(ids)))


def has_id(ids: array[int], chat_id: int) -> bool:
    """``chat_id in ids`` for a sorted array, by bisection."""
    at = bisect_left(ids, chat_id)
    return at < len(ids) and ids[at] == chat_id


def _touches(ids: array[int], chat_ids: Set[int]) -> bool:
    """Whether the sorted ``ids`` hold any of ``chat_ids`` (bisection for a few, else a scan)."""
    if len(chat_ids) <= 8:
        return any(has_id(ids, chat_id) for chat_id in chat_ids)
    return not chat_ids.isdisjoint(ids)


_MuteRow = tuple[int, str, datetime]
_Mutes = Mapping[int, tuple[tuple[frozenset[str], datetime], ...]]


def _group_mutes(
    rows: Iterable[_MuteRow],
) -> dict[int, tuple[tuple[frozenset[str], datetime], ...]]:
    muted: dict[int, list[tuple[frozenset[str], datetime]]] = {}
    for chat_id, pair, until in rows:
        muted.setdefault(chat_id, []).append((frozenset(pair.split("-")), until))
    return {chat_id: tuple(items) for chat_id, items in muted.items()}


_RuleArrays: TypeAlias = "dict[str, dict[str, array[int]]]"  # kind -> value -> chat ids


def add_rules(by_kind: _RuleArrays, rules: Iterable[tuple[int, str, str]]) -> None:
    """Gather (chat id, kind, value) rows into arrays: 8 bytes per rule while reading."""
    for chat_id, kind, value in rules:
        table = by_kind.get(kind)
        if table is None:
            table = by_kind[kind] = {}
        ids = table.get(value)
        if ids is None:
            ids = table[value] = array("q")
        ids.append(chat_id)


_shared_infos: dict[ChatInfo, ChatInfo] = {}  # most chats share the same settings: one object


def _shared(info: ChatInfo) -> ChatInfo:
    if len(_shared_infos) > 10_000:  # many distinct settings: stop sharing old ones
        _shared_infos.clear()
    return _shared_infos.setdefault(info, info)


@dataclass(frozen=True)
class WatchIndex:
    """Every chat's watch: rule value -> sorted array of chat ids per kind, chats, mutes.

    Plain data; ``matches`` is pure. ``version`` is the ``meta.watch_version`` it was read at,
    ``seen`` the highest ``watch_change.seq`` whose chat it holds as changed (migration 0009).
    A new version reads only the chats changed since ``seen`` and ``patched`` makes a new index
    from this one (unchanged arrays shared), so an edit costs its chats, not every rule.
    """

    version: str | None
    rules: Mapping[str, Mapping[str, array[int]]]  # kind -> value -> sorted chat ids
    chats: Mapping[int, ChatInfo]
    mutes: _Mutes  # chat -> (pair, until)
    phrases: frozenset[str]
    max_words: int
    # Derived from ``chats`` for the set algebra of ``matches``: who may get any alert at all
    # (active), and who may get one for a story that is not defence cooperation (scope 'all').
    eligible: frozenset[int] = frozenset()
    eligible_any_story: frozenset[int] = frozenset()
    seen: int = 0

    @classmethod
    def build(
        cls,
        version: str | None,
        rules: Iterable[tuple[int, str, str]],
        chats: Mapping[int, ChatInfo],
        mutes: Iterable[_MuteRow],
        seen: int = 0,
    ) -> WatchIndex:
        by_kind: _RuleArrays = {}
        add_rules(by_kind, rules)
        for table in by_kind.values():
            for value, ids in table.items():
                table[value] = sorted_ids(ids)
        shared = {chat_id: _shared(info) for chat_id, info in chats.items()}
        return cls.from_sorted(version, by_kind, shared, _group_mutes(mutes), seen)

    @classmethod
    def from_sorted(
        cls,
        version: str | None,
        rules: Mapping[str, Mapping[str, array[int]]],
        chats: Mapping[int, ChatInfo],
        mutes: _Mutes,
        seen: int,
        eligible: frozenset[int] | None = None,
        eligible_any_story: frozenset[int] | None = None,
    ) -> WatchIndex:
        """The index of ``rules`` whose arrays are sorted already; the rest derived."""
        phrases = frozenset(value for kind in _PHRASE_KINDS for value in rules.get(kind, {}))
        return cls(
            version=version,
            rules=rules,
            chats=chats,
            mutes=mutes,
            phrases=phrases,
            max_words=max((p.count(" ") + 1 for p in phrases), default=0),
            eligible=(
                frozenset(c for c, info in chats.items() if info.active)
                if eligible is None
                else eligible
            ),
            eligible_any_story=(
                frozenset(c for c, info in chats.items() if info.active and info.scope == "all")
                if eligible_any_story is None
                else eligible_any_story
            ),
            seen=seen,
        )

    def patched(
        self,
        version: str | None,
        seen: int,
        changed: Set[int],
        rules: Iterable[tuple[int, str, str]],
        chats: Mapping[int, ChatInfo],
        mutes: Iterable[_MuteRow],
    ) -> WatchIndex:
        """This index with the chats of ``changed`` replaced by their rows now.

        ``rules``, ``chats`` and ``mutes`` hold those chats' current rows (a chat of
        ``changed`` missing from ``chats`` no longer exists). Equal to ``build`` over every
        row (a test compares them); arrays no changed chat appears in are shared.
        """
        fresh: dict[str, dict[str, list[int]]] = {}
        for chat_id, kind, value in rules:
            fresh.setdefault(kind, {}).setdefault(value, []).append(chat_id)
        new_rules: dict[str, Mapping[str, array[int]]] = {}
        for kind in self.rules.keys() | fresh.keys():
            old, added = self.rules.get(kind, {}), fresh.get(kind, {})
            table = dict(old)
            for value, ids in old.items():
                if value not in added and _touches(ids, changed):
                    kept = array("q", (c for c in ids if c not in changed))
                    if kept:
                        table[value] = kept
                    else:
                        del table[value]
            for value, chat_ids in added.items():
                kept_ids: Iterable[int] = old.get(value, ())
                table[value] = sorted_ids(
                    chain((c for c in kept_ids if c not in changed), chat_ids)
                )
            if table:
                new_rules[kind] = table
        new_chats = dict(self.chats)
        for chat_id in changed:
            new_chats.pop(chat_id, None)
        new_chats.update((chat_id, _shared(info)) for chat_id, info in chats.items())
        new_mutes = {c: m for c, m in self.mutes.items() if c not in changed}
        new_mutes.update(_group_mutes(mutes))
        return self.from_sorted(
            version,
            new_rules,
            new_chats,
            new_mutes,
            seen,
            (self.eligible - changed) | {c for c, i in chats.items() if i.active},
            (self.eligible_any_story - changed)
            | {c for c, i in chats.items() if i.active and i.scope == "all"},
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
                hit = allowed.intersection(ids)
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
        return any(has_id(self.rules.get(k, {}).get(value, _NONE), chat_id) for k in kinds[kind])

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
    every transaction that changes a watch rule, a chat's delivery facts or a mute. Read on
    the driver (one per stored feed: the statement machinery cost more than the read)."""
    if session.new or session.dirty or session.deleted:
        await session.flush()  # as a query through the session would (autoflush)
    postgres = session.get_bind().dialect.name == "postgresql"
    rows = await driver_rows(
        session,
        "SELECT value FROM meta WHERE key = $1"
        if postgres
        else "SELECT value FROM meta WHERE key = ?",
        (WATCH_VERSION_KEY,),
    )
    return rows[0][0] if rows else None


async def current_index(session: AsyncSession) -> WatchIndex:
    """This process's index of the session's database, brought up to date when its version moved.

    The version is read once per transaction (a poll stores many stories in one), and again
    after this session itself wrote a watch table (``_forget_on_execute``). When it moved, only
    the chats changed since the index's ``seen`` are read (``refresh_index``).

    An index read in a transaction that itself wrote a watch table holds that transaction's
    uncommitted changes: it serves that transaction only and is not shared with the process,
    since a rollback would leave a shared copy wrong with nothing logged to correct it.
    """
    verified = session.info.get(_VERIFIED)
    transaction = session.sync_session.get_transaction()
    if verified is not None and transaction is not None and verified[0] is transaction:
        return verified[1]
    key = str(session.get_bind().engine.url)
    version = await watch_version(session)
    index = _indexes.get(key)
    if index is None or version is None:
        index = await load_index(session, version)
    elif index.version != version:
        index = await refresh_index(session, index, version)
    if not session.info.get(_WROTE):
        _indexes[key] = index
    session.info[_VERIFIED] = (session.sync_session.get_transaction(), index)
    return index


_VERIFIED = "defwatch.watch_index"  # Session.info: (transaction, index) checked in it
_WROTE = "defwatch.watch_wrote"  # Session.info: this transaction wrote a watch table
_WATCH_TABLES = frozenset({"watch_rule", "chat", "chat_mute"})


@event.listens_for(Session, "do_orm_execute")
def _forget_on_execute(state: ORMExecuteState) -> None:
    """A statement that may write a watch table (or raw SQL) makes the next story re-check."""
    if state.is_select or _raw_read(state.statement):
        return
    table = getattr(state.statement, "table", None)
    if getattr(table, "name", None) in _WATCH_TABLES or table is None:
        _wrote(state.session)


@event.listens_for(Session, "after_flush")
def _forget_on_flush(session: Session, _context: object) -> None:
    """A flush that wrote a rule, a chat or a mute makes the next story re-check."""
    changed = chain(session.new, session.dirty, session.deleted)
    if any(isinstance(obj, WatchRule | Chat | ChatMute) for obj in changed):
        _wrote(session)


def _raw_read(statement: object) -> bool:
    """Raw SQL that is a plain SELECT (e.g. the store's advisory lock): it writes no watch
    table, so it must not cost a poll transaction its shared index (see ``current_index``)."""
    if not isinstance(statement, TextClause):
        return False
    first = statement.text.split(None, 1)[:1]
    return first == ["SELECT"] or first == ["select"]


def _wrote(session: Session) -> None:
    session.info.pop(_VERIFIED, None)
    session.info[_WROTE] = True  # until this transaction ends (it may begin with this statement)


@event.listens_for(Session, "after_transaction_end")
def _transaction_ended(session: Session, transaction: SessionTransaction) -> None:
    if transaction.parent is None:  # the whole transaction, not a savepoint
        session.info.pop(_WROTE, None)


# A refresh that finds more changed chats than this reads everything instead.
FULL_RELOAD_MIN = 2_000  # chats (or a tenth of the index's chats, if more)
_PAGE = 5_000  # chats per read of a full load
_CHUNK = 500  # chat ids per IN (...) list: within every backend's limit on parameters


async def _last_seq(session: AsyncSession) -> int:
    return await session.scalar(select(func.coalesce(func.max(WatchChange.seq), 0))) or 0


async def load_index(session: AsyncSession, version: str | None) -> WatchIndex:
    """Every rule, chat and mute, read in the caller's transaction (``seen`` read first, so a
    change committed meanwhile is read again by the next refresh; reading a chat twice is
    harmless)."""
    seen = await _last_seq(session)
    # One row per (kind, value) with its chat ids joined by the database: ~5,000 rows instead
    # of a million row objects at 100k chats (20 s and +175 MB before), split into arrays.
    postgres = session.get_bind().dialect.name == "postgresql"
    rules: dict[str, dict[str, array[int]]] = {}
    for kind, value, ids in await driver_rows(
        session, _GROUPED_RULES_PG if postgres else _GROUPED_RULES_SQLITE, ()
    ):
        rules.setdefault(kind, {})[value] = array("q", sorted(map(int, ids.split(","))))
    # Chats a page at a time (by primary key), so that no more than a page of row tuples is
    # ever held: at 100k chats the whole list alone would cost ~30 MB at its peak.
    chats: dict[int, ChatInfo] = {}
    infos: dict[tuple[object, ...], ChatInfo] = {}  # the same settings: one object, built once
    columns = ", ".join(c.name for c in _CHAT_COLUMNS)
    after = None
    while True:
        page = await driver_rows(
            session,
            f"SELECT {columns} FROM chat ORDER BY id LIMIT {_PAGE}"
            if after is None
            else f"SELECT {columns} FROM chat WHERE id > {int(after)} ORDER BY id LIMIT {_PAGE}",
            (),
        )
        for chat_id, active, scope, mode, tz, quiet_start, quiet_end in page:
            key = (active, scope, mode, tz, quiet_start, quiet_end)
            info = infos.get(key)
            if info is None:
                info = infos[key] = _shared(
                    ChatInfo(bool(active), scope, mode, tz, quiet_start, quiet_end)
                )
            chats[chat_id] = info
        if len(page) < _PAGE:
            break
        after = page[-1][0]
    mutes = await session.execute(select(ChatMute.chat_id, ChatMute.pair, ChatMute.until))
    return WatchIndex.from_sorted(
        version, rules, chats, _group_mutes((c, p, u) for c, p, u in mutes), seen
    )


# SQLite: NOT INDEXED, because grouping through ix_watch_rule_lookup (kind, value) fetches the
# chat id row by row from the table (2 x slower at 100k chats than a scan and one sort).
_GROUPED_RULES_SQLITE = (
    "SELECT kind, value, group_concat(chat_id) FROM watch_rule NOT INDEXED GROUP BY kind, value"
)
_GROUPED_RULES_PG = (
    "SELECT kind, value, string_agg(chat_id::text, ',') FROM watch_rule GROUP BY kind, value"
)


async def refresh_index(session: AsyncSession, index: WatchIndex, version: str) -> WatchIndex:
    """``index`` with the chats changed since its ``seen`` read again (``WatchIndex.patched``);
    everything read again when they are many."""
    changes = (
        await session.execute(
            select(WatchChange.chat_id, WatchChange.seq).where(WatchChange.seq > index.seen)
        )
    ).all()
    if len(changes) > max(FULL_RELOAD_MIN, len(index.chats) // 10):
        return await load_index(session, version)
    if not changes and await _last_seq(session) < index.seen:  # not the database it read
        return await load_index(session, version)
    changed = {chat_id for chat_id, _ in changes}
    seen = max((seq for _, seq in changes), default=index.seen)
    rules: list[tuple[int, str, str]] = []
    chats: dict[int, ChatInfo] = {}
    mutes: list[tuple[int, str, datetime]] = []
    ids = sorted(changed)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = await session.execute(
            select(WatchRule.chat_id, WatchRule.kind, WatchRule.value).where(
                WatchRule.chat_id.in_(chunk)
            )
        )
        rules.extend((c, k, v) for c, k, v in rows)
        chats.update(await _chat_rows(session, chunk))
        rows_m = await session.execute(
            select(ChatMute.chat_id, ChatMute.pair, ChatMute.until).where(
                ChatMute.chat_id.in_(chunk)
            )
        )
        mutes.extend((c, p, u) for c, p, u in rows_m)
    return index.patched(version, seen, changed, rules, chats, mutes)


_CHAT_COLUMNS = (
    Chat.id, Chat.active, Chat.scope, Chat.delivery_mode, Chat.timezone, Chat.quiet_start,
    Chat.quiet_end,
)  # fmt: skip


async def _chat_rows(
    session: AsyncSession, only: Sequence[int] | None = None
) -> dict[int, ChatInfo]:
    """Every chat's indexed columns (or those of the chats ``only``)."""
    query = select(*_CHAT_COLUMNS)
    if only is not None:
        query = query.where(Chat.id.in_(only))
    return {
        chat_id: ChatInfo(bool(active), scope, mode, tz, quiet_start, quiet_end)
        for chat_id, active, scope, mode, tz, quiet_start, quiet_end in await session.execute(query)
    }


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
