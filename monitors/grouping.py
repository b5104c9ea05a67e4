"""Placing one feed's new reports in stories, in memory (the poll's clustering stage, batched).

Rules (each report gets the candidates it would get if stored alone; the decision
itself is ``cluster.best_match``, the one used by ``defwatch cluster`` and ``stories rebuild``):

1. A report whose canonical URL is already stored (by any feed, or earlier in this batch)
   joins that page's story: "same canonical URL".
2. Otherwise its candidates are the stories filed under any of its ``cluster.lookup_keys``
   no earlier than that key's horizon, ranked by the newest matching filing, then by story
   id, newest first, at most ``cluster.CANDIDATE_LIMIT``; stories started earlier in the
   same batch are filed like stored ones (at their first report's day), with ids above every
   stored one (they are inserted after the batch is placed).
   The report joins ``cluster.best_match`` over them, or starts a story of its own.
3. A story's index keys are its first report's and never change; its signature is its first
   report's plus the reports ``cluster.confirmed`` adds as they join (the next report of
   the batch is compared with the grown signature, as it would be one transaction later,
   since the story's cached decoded signature is replaced in memory); what it is
   (title, countries, cooperation flag, type, evidence) is its defining report's: a
   cooperation report joining a story that is not one redefines it, and only a new story or
   such a redefinition looks for chats to alert.

A filing is kept as one integer (``filing_number``: its time in microseconds since the epoch
above the story id's 63 bits), so that ranking sorts and compares plain integers, not pairs.

Why per key is enough: a story among a report's top ``limit`` is among the top ``limit``
of at least one of its keys (the one its rank comes from), and the report's horizon only cuts
a key's list from the old end. So the store reads the newest ``limit`` filings of each key
once per batch, from the oldest horizon any report of the batch asks for
(``store.candidate_filings``), and every report's candidates are computed from those rows.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:  # the store imports this module; the clustering is imported when used
    from monitors.detect import cluster

NEW_STORY_BASE = 1 << 62
"""Provisional ids of stories started in a batch (above any stored id, in creation order)."""


@dataclass(frozen=True, slots=True)
class Filing:
    """One ``story_key`` row: story ``story_id`` is filed under ``key`` at ``filed_at``."""

    story_id: int
    key: str
    filed_at: datetime


_ID_BITS = 63
_ID_MASK = (1 << _ID_BITS) - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def filing_time(filed_at: datetime) -> int:
    """The time part of ``filing_number``: add a story id (``|``) to make a filing's number,
    compare with numbers to find the first filing no earlier than ``filed_at``."""
    return ((filed_at - _EPOCH) // _MICROSECOND) << _ID_BITS


def filing_number(filed_at: datetime, story_id: int) -> int:
    """A filing as one integer that orders as the pair (filed_at, story_id) does (a story id
    is below 2**63, as a database's BIGINT and ``NEW_STORY_BASE``'s ids are)."""
    return filing_time(filed_at) | story_id


def filing_parts(number: int) -> tuple[datetime, int]:
    """(filed_at, story_id) of a ``filing_number``."""
    return _EPOCH + (number >> _ID_BITS) * _MICROSECOND, number & _ID_MASK


_NO_RECORD = 1 << 128
"""``Candidates._firsts``' value for a story without a record: after every instant."""

_STORY_OF = _ID_MASK.__and__
"""A filing number's story id (in C, by ``map``)."""


@dataclass(slots=True)
class KnownStory:
    """What the batch needs of a stored (or just started) story: whether it is a cooperation
    story, and its signature, stored as JSON text (``raw``): its ``cluster.Screen`` is read
    if the story is ranked among some report's candidates, the whole signature only if the
    screen does not settle it (``Candidates.ranked``, which reads the screen's ``record``
    through ``screen_record``, kept in ``record``)."""

    cooperation: bool
    raw: str | None = None
    decoded: cluster.EventSignature | None = None
    screened: cluster.Screen | None = None
    record: cluster.ScreenRecord | tuple[()] | None = field(default=None, repr=False, compare=False)

    def signature(self) -> cluster.EventSignature | None:
        """None: stored without a signature (never a candidate)."""
        if self.decoded is None and self.raw is not None:
            self.decoded = decode_signature(self.raw)
        return self.decoded

    def screen(self) -> cluster.Screen | None:
        """The signature's screen (None: no signature), from the decoded signature if there
        is one, else from the stored text without decoding the rest."""
        if self.screened is None:
            if self.decoded is not None:
                self.screened = _screen_of(self.decoded)
            elif self.raw is not None:
                self.screened = decode_screen(self.raw)
        return self.screened

    def screen_record(self) -> cluster.ScreenRecord | tuple[()]:
        """``screen().record``, kept (empty: no signature), from the stored text without
        building the screen when there is no decoded signature (``decode_record``)."""
        if self.record is None:
            if self.screened is not None or self.decoded is not None:
                screen = self.screen()
                assert screen is not None  # (made from the signature)
                self.record = screen.record
            else:
                self.record = () if self.raw is None else decode_record(self.raw)
        return self.record

    def forget_signature(self) -> None:
        """Drop the decoded signature of a stored story (decoded again from ``raw`` when
        asked, through ``decode_signature``'s cache): ``store.KeptStories`` keeps a story's
        text and screen between batches, not its ~10 KB decoded signature."""
        if self.raw is not None:
            self.decoded = None

    def replace(self, signature: cluster.EventSignature) -> None:
        """The story's signature grew (``cluster.confirmed``): compare the next reports with
        the new one. Its screen stays (the defining report's fields), but is read again."""
        self.decoded, self.screened, self.record = signature, None, None


def merged_horizons(
    lookups: Iterable[Mapping[str, datetime | None]],
) -> dict[str, datetime | None]:
    """Each key any report looks under, with the oldest horizon asked for (None: any time)."""
    merged: dict[str, datetime | None] = {}
    for lookup in lookups:
        for key, since in lookup.items():
            if key not in merged:
                merged[key] = since
            else:
                have = merged[key]
                merged[key] = None if have is None or since is None else min(have, since)
    return merged


@dataclass
class Candidates:
    """The filings read for a batch, plus the stories the batch starts (``file``).

    ``by_key`` holds each key's filings as ``filing_number``s in ascending order, so a
    report's ranking cuts the keys' lists at their horizons by bisection, merges them by one C
    sort of integers and steps through them in Python only until ``limit`` stories (of about
    4,000 filings per report at a million stories)."""

    by_key: dict[str, list[int]] = field(default_factory=dict)
    stories: dict[int, KnownStory] = field(default_factory=dict)
    _next_new: itertools.count[int] = field(default_factory=lambda: itertools.count(NEW_STORY_BASE))
    _firsts: dict[int, int] = field(default_factory=dict)
    _skeletons: dict[int, frozenset[str]] = field(default_factory=dict)
    """Each ranked story's first instant and name skeletons (its ``cluster.ScreenRecord``'s;
    ``_NO_RECORD`` and none for a story without one), by id, read once per batch: a
    story's record is its defining report's and stays as reports join it."""

    @classmethod
    def of(cls, filings: Iterable[Filing], stories: Mapping[int, KnownStory]) -> Candidates:
        found = cls(stories=dict(stories))
        for filing in filings:
            found.by_key.setdefault(filing.key, []).append(
                filing_number(filing.filed_at, filing.story_id)
            )
        for numbers in found.by_key.values():
            numbers.sort()
        return found

    def ranked(
        self,
        lookup: Mapping[str, datetime | None],
        *,
        limit: int,
        article: cluster.EventSignature | None = None,
    ) -> list[tuple[int, cluster.EventSignature]]:
        """The report's candidate stories with a signature, best-ranked first (rule 2).

        A story ranks by its newest filing under the report's keys within their horizons,
        then by id: the first time it comes out of the newest-first merge of the keys' lists
        (numbers compare by time, then id). A story filed under several of the keys comes
        once per key, as the same number (its filing time is its defining report's), so the
        merge sorts the set of the numbers; the first ``limit`` stories are taken by
        ``dict.fromkeys`` over the merged ids (first comes first, in C): no set of the stories
        seen stepped through in Python.

        With the report's signature (``article``), the candidates its ``cluster.Screening``
        drops are left out after ranking (they cannot change ``cluster.best_match``'s
        decision: no shared name, and a veto of states or time), and only the others'
        signatures are decoded: at a million stored stories most of a report's 400
        candidates lie weeks after it, so the screen's test runs inline here, on each story's
        ``cluster.ScreenRecord`` (kept on its ``KnownStory``), time first."""
        runs = []
        for key, since in lookup.items():
            numbers = self.by_key.get(key)
            if numbers:
                start = 0 if since is None else bisect.bisect_left(numbers, filing_time(since))
                if start < len(numbers):
                    runs.append(numbers[start:] if start else numbers)
        newest_first: Iterable[int]
        if len(runs) == 1:
            newest_first = reversed(runs[0])
        else:  # one C sort of integers, not a merge step per filing
            newest_first = sorted(set(itertools.chain.from_iterable(runs)), reverse=True)
        ranked = list(itertools.islice(dict.fromkeys(map(_STORY_OF, newest_first)), limit))
        get = self.stories.get
        out = []
        if article is None:
            for story_id in ranked:
                known = get(story_id)
                if known is not None and (signature := known.signature()) is not None:
                    out.append((story_id, signature))
            return out
        from monitors.detect.cluster import Screening

        # ``Screening.drops_record``, inline (a call per story cost more than the test)
        screening = Screening(article)
        at, until, countries, rounds, skeletons = (
            screening.at, screening.until, screening.countries, screening.rounds,
            screening.skeletons,
        )  # fmt: skip
        late, early, late_round, early_round = (
            screening.late, screening.early, screening.late_round, screening.early_round
        )  # fmt: skip
        if self._all_later(ranked, max(late, late_round), skeletons):
            return out
        for story_id in ranked:
            known = get(story_id)
            if known is None:
                continue
            record = known.record
            if record is None:
                record = known.screen_record()
            if not record:
                continue  # no signature
            first, last, their_countries, their_rounds, their_skeletons = record
            if first > until:  # later than the article (most, in the bench)
                vetoed = first > late and (first > late_round or rounds.isdisjoint(their_rounds))
            elif last < at:
                vetoed = last < early and (last < early_round or rounds.isdisjoint(their_rounds))
            else:
                vetoed = False
            if not vetoed and countries and their_countries:
                vetoed = countries.isdisjoint(their_countries)
            if vetoed and skeletons.isdisjoint(their_skeletons):
                continue
            signature = known.decoded or known.signature()
            if signature is not None:
                out.append((story_id, signature))
        return out

    def _all_later(self, ranked: list[int], bound: int, skeletons: frozenset[str]) -> bool:
        """Whether every ranked story with a signature begins after ``bound`` (the article's
        window's far end, a shared round's included) and none shares a name skeleton with the
        article: then the screen drops them all (vetoed by time, counted in no context). The
        common case of a report older than the stories its keys hold (a feed's backlog), told
        by two passes in C instead of the screen's test per story."""
        firsts, names = self._firsts, self._skeletons
        for story_id in set(ranked).difference(firsts):  # first seen in this batch
            known = self.stories.get(story_id)
            record = () if known is None else known.screen_record()
            firsts[story_id], names[story_id] = (
                (record[0], record[4]) if record else (_NO_RECORD, frozenset())
            )
        if min(map(firsts.__getitem__, ranked), default=_NO_RECORD) <= bound:
            return False
        return not skeletons or skeletons.isdisjoint(
            frozenset().union(*map(names.__getitem__, ranked))
        )

    def file(
        self, signature: cluster.EventSignature, *, cooperation: bool, keys: Iterable[str],
        filed_at: datetime,
    ) -> int:  # fmt: skip
        """Start a story in memory; returns its provisional id (``is_new``)."""
        story_id = next(self._next_new)
        self.stories[story_id] = KnownStory(cooperation, decoded=signature)
        number = filing_number(filed_at, story_id)
        for key in keys:
            bisect.insort(self.by_key.setdefault(key, []), number)
        return story_id


def is_new(story_id: int) -> bool:
    """Whether ``story_id`` is a provisional id of a story started in this batch."""
    return story_id >= NEW_STORY_BASE


SIGNATURE_CACHE = 4096
"""Decoded signatures kept per process (about 10 KB each), keyed by their stored JSON text:
the same stories are candidates for feed after feed, and a key that is the content itself
can never be stale."""


SCREEN_CACHE = 8192
"""Screens (``decode_screen``) kept per process, and as many records (``decode_record``, what
the poll reads): a few hundred bytes each plus the text they are keyed by (about 1 KB for a
real story), so 10-20 MB when full; the same stories are ranked feed after feed."""


@functools.lru_cache(maxsize=SIGNATURE_CACHE)
def decode_signature(raw: str) -> cluster.EventSignature | None:
    """A stored story's signature from its JSON text (an empty one: never a candidate)."""
    from monitors.detect import cluster

    stored = _loads(raw)
    return cluster.EventSignature.from_json(stored) if stored else None


@functools.lru_cache(maxsize=SCREEN_CACHE)
def decode_screen(raw: str) -> cluster.Screen | None:
    """A stored story's ``cluster.Screen`` from its JSON text (None: never a candidate)."""
    from monitors.detect import cluster

    stored = _loads(raw)
    return cluster.Screen.from_json(stored) if stored else None


@functools.lru_cache(maxsize=SCREEN_CACHE)
def decode_record(raw: str) -> cluster.ScreenRecord | tuple[()]:
    """``decode_screen(raw).record`` (empty: never a candidate), without the screen: what the
    poll reads of most stored candidates (``Candidates.ranked``), so the cheapest."""
    from monitors.detect import cluster

    stored = _loads_text_fields(raw)
    return cluster.Screen.record_from_json(stored) if stored else ()


def _screen_of(signature: cluster.EventSignature) -> cluster.Screen:
    from monitors.detect import cluster

    return cluster.Screen.of(signature)


def _loads(raw: str) -> Any:
    """``json.loads(raw)``, by ``orjson`` (2-4 times faster on a signature) where it gives the
    same value. ``orjson`` rejects what ``json`` accepts beyond JSON (NaN, lone surrogates:
    then ``json`` reads it), and reads an integer beyond 64 bits as a float: a signature's
    numbers are its ``_NUMBER_FIELDS``, so one whose integers are not all ``int``, or with an
    amount that large, is read by ``json`` too."""
    try:
        stored = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)
    return stored if _plain_numbers(stored) else json.loads(raw)


def _loads_text_fields(raw: str) -> Any:
    """``_loads(raw)`` where only its strings and booleans are read (a screen's record):
    ``orjson`` reads those as ``json`` does wherever it reads the text at all, so its numbers
    are not checked."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)


_NUMBER_FIELDS = ("size", "years", "counts", "amounts")
"""The signature's fields holding numbers (``cluster.EventSignature.to_json``); a test checks
that no other field does."""
_LARGE = float(1 << 63)


def _plain_numbers(stored: Any) -> bool:
    if not isinstance(stored, dict):
        return True
    for name in _NUMBER_FIELDS:
        value = stored.get(name)
        if value is None:
            continue
        for number in value if isinstance(value, list) else (value,):
            if not isinstance(number, int) and not (
                isinstance(number, float) and name == "amounts" and -_LARGE < number < _LARGE
            ):
                return False
    members = stored.get("members")
    return not members or all(_plain_numbers(member) for member in members)


__all__ = [
    "NEW_STORY_BASE",
    "Candidates",
    "Filing",
    "KnownStory",
    "decode_record",
    "decode_screen",
    "decode_signature",
    "is_new",
    "merged_horizons",
]
