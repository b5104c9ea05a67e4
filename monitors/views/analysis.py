"""The numbers behind the analyst views, computed from plain stories (pure).

Rules:
- Only stories in the period count: ``since <= published_at <= until``.
- A *partner* of a country in a story is any other participant of that story (mentioned
  states are not partners). A story in which the country is the only participant has no
  partner: it is counted in ``unpaired`` and shown nowhere else.
- ``partners``: one row per partner with its number of stories, split by cooperation type
  (a story without a type counts as ``other``), most active first (ties: ISO code), and its
  newest stories first.
- ``trend``: ISO weeks (Monday 00:00 UTC) ending with the week of ``now``. A story with two
  partners counts once for each partner (contacts); ``totals`` counts each story once. The
  five partners with the most contacts over the period get a series each, the rest are summed
  as ``others``.
- ``network``: an edge joins two participants of a story when at least one of them is a focus
  state; its weight is the number of such stories, its colour the dominant cooperation type
  (the most frequent; ties in the order of ``COOPERATION_TYPES``). Nodes are the focus states
  and their partners; beyond ``max_neighbours`` partners, the weakest are cut (``cut`` says
  how many).
- ``TOO_FEW``: below this many stories a view says plainly that the data is too thin.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from monitors.domain import COOPERATION_TYPES, StoryView
from monitors.errors import PeriodError

TOO_FEW = 3
LATEST_PER_PARTNER = 3
TREND_TOP = 5
OTHERS = "others"
MAX_NEIGHBOURS = 12
_PERIOD = re.compile(r"^([0-9]{1,4})([dw]?)$")


def parse_period(text: str, *, unit: str, maximum_days: int) -> int:
    """'90d' -> 90, '12w' -> 84 with unit 'd'; '12w' -> 12 with unit 'w'. Bare numbers: ``unit``.

    The result is a number of ``unit`` (days or weeks), at least 1 and at most ``maximum_days``.
    """
    match = _PERIOD.match(text.strip().lower())
    if not match:
        raise PeriodError(f"{text[:20]!r} is not a period; use e.g. 90d or 12w", text=text[:20])
    number, given = int(match.group(1)), match.group(2) or unit
    days = number * 7 if given == "w" else number
    if not 1 <= days <= maximum_days:
        raise PeriodError(
            f"the period must be between 1 day and {maximum_days} days",
            text=text[:20],
            maximum_days=maximum_days,
        )
    return days if unit == "d" else max(1, days // 7)


@dataclass(frozen=True, slots=True)
class StoryRef:
    """A story as a link: what the caption and the text tables list."""

    id: int
    title: str
    url: str | None
    published_at: datetime


@dataclass(frozen=True, slots=True)
class PartnerRow:
    code: str
    stories: int
    by_type: tuple[tuple[str, int], ...]  # (type, stories) in COOPERATION_TYPES order, non-zero
    latest: tuple[StoryRef, ...]  # newest first


@dataclass(frozen=True, slots=True)
class Partners:
    country: str
    since: datetime
    until: datetime
    stories: int  # the country's stories in the period that name a partner
    unpaired: int  # the country's stories in the period that name none
    rows: tuple[PartnerRow, ...]  # most active first

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.country, *(r.code for r in self.rows))

    @property
    def too_few(self) -> bool:
        return self.stories < TOO_FEW


@dataclass(frozen=True, slots=True)
class Trend:
    country: str
    weeks: tuple[date, ...]  # the Monday of each week, oldest first
    series: tuple[tuple[str, tuple[int, ...]], ...]  # (partner code or OTHERS, per week)
    totals: tuple[int, ...]  # distinct stories per week (a story once, however many partners)
    stories: int
    unpaired: int

    @property
    def codes(self) -> tuple[str, ...]:
        return (self.country, *(code for code, _ in self.series if code != OTHERS))

    @property
    def too_few(self) -> bool:
        return self.stories < TOO_FEW


@dataclass(frozen=True, slots=True)
class Edge:
    a: str
    b: str
    stories: int
    dominant_type: str
    by_type: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class Network:
    focus: tuple[str, ...]
    since: datetime
    until: datetime
    nodes: tuple[str, ...]  # focus first, then partners by weight
    edges: tuple[Edge, ...]  # heaviest first
    stories: int  # stories in the period with at least one focus state and a partner
    cut: int  # partners left out beyond max_neighbours

    @property
    def codes(self) -> tuple[str, ...]:
        return self.nodes

    @property
    def too_few(self) -> bool:
        return self.stories < TOO_FEW


def _kind(story: StoryView) -> str:
    kind = story.cooperation_type
    return kind if kind in COOPERATION_TYPES else "other"


def _typed(counter: Counter[str]) -> tuple[tuple[str, int], ...]:
    return tuple((kind, counter[kind]) for kind in COOPERATION_TYPES if counter[kind])


def _in_period(
    stories: Iterable[StoryView], since: datetime, until: datetime
) -> Iterable[StoryView]:
    return (s for s in stories if since <= s.published_at <= until)


def partners(
    stories: Iterable[StoryView],
    country: str,
    *,
    since: datetime,
    until: datetime,
    latest: int = LATEST_PER_PARTNER,
) -> Partners:
    """Who ``country`` cooperated with between ``since`` and ``until`` (see the module rules)."""
    counts: Counter[str] = Counter()
    types: dict[str, Counter[str]] = defaultdict(Counter)
    refs: dict[str, list[StoryView]] = defaultdict(list)
    paired = unpaired = 0
    for story in _in_period(stories, since, until):
        if country not in story.participants:
            continue
        others = [c for c in dict.fromkeys(story.participants) if c != country]
        if not others:
            unpaired += 1
            continue
        paired += 1
        for code in others:
            counts[code] += 1
            types[code][_kind(story)] += 1
            refs[code].append(story)
    rows = tuple(
        PartnerRow(
            code=code,
            stories=count,
            by_type=_typed(types[code]),
            latest=tuple(
                StoryRef(s.id, s.title, s.url, s.published_at)
                for s in sorted(refs[code], key=lambda s: (s.published_at, s.id), reverse=True)[
                    :latest
                ]
            ),
        )
        for code, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    )
    return Partners(country, since, until, paired, unpaired, rows)


def week_start(moment: datetime) -> date:
    """The Monday (UTC) of the ISO week holding ``moment``."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def trend_window(now: datetime, weeks: int) -> tuple[datetime, datetime]:
    """(since, until) of ``weeks`` whole ISO weeks ending with the week of ``now``."""
    first = week_start(now) - timedelta(weeks=weeks - 1)
    return datetime(first.year, first.month, first.day, tzinfo=UTC), now


def trend(
    stories: Iterable[StoryView], country: str, *, weeks: int, now: datetime, top: int = TREND_TOP
) -> Trend:
    """``country``'s stories per week by partner over ``weeks`` weeks (see the module rules)."""
    since, until = trend_window(now, weeks)
    mondays = tuple(since.date() + timedelta(weeks=i) for i in range(weeks))
    per_partner: dict[str, list[int]] = defaultdict(lambda: [0] * weeks)
    totals = [0] * weeks
    paired = unpaired = 0
    for story in _in_period(stories, since, until):
        if country not in story.participants:
            continue
        others = [c for c in dict.fromkeys(story.participants) if c != country]
        if not others:
            unpaired += 1
            continue
        index = (week_start(story.published_at) - mondays[0]).days // 7
        paired += 1
        totals[index] += 1
        for code in others:
            per_partner[code][index] += 1
    ranked = sorted(per_partner, key=lambda code: (-sum(per_partner[code]), code))
    series: list[tuple[str, tuple[int, ...]]] = [
        (code, tuple(per_partner[code])) for code in ranked[:top]
    ]
    if len(ranked) > top:
        rest = [sum(per_partner[code][i] for code in ranked[top:]) for i in range(weeks)]
        series.append((OTHERS, tuple(rest)))
    return Trend(country, mondays, tuple(series), tuple(totals), paired, unpaired)


def network(
    stories: Iterable[StoryView],
    focus: Sequence[str],
    *,
    since: datetime,
    until: datetime,
    max_neighbours: int = MAX_NEIGHBOURS,
) -> Network:
    """The cooperation graph among and around the ``focus`` states (see the module rules)."""
    focus = tuple(dict.fromkeys(focus))
    focal = set(focus)
    types: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    counted = 0
    for story in _in_period(stories, since, until):
        members = sorted(set(story.participants))
        pairs = [
            (a, b)
            for i, a in enumerate(members)
            for b in members[i + 1 :]
            if a in focal or b in focal
        ]
        if not pairs:
            continue
        counted += 1
        for pair in pairs:
            types[pair][_kind(story)] += 1
    strength: Counter[str] = Counter()
    for (a, b), kinds in types.items():
        for code in (a, b):
            if code not in focal:
                strength[code] += sum(kinds.values())
    ranked = sorted(strength, key=lambda code: (-strength[code], code))
    kept = set(focus) | set(ranked[:max_neighbours])
    edges = [
        Edge(
            a,
            b,
            sum(kinds.values()),
            max(COOPERATION_TYPES, key=lambda k: (kinds[k], -COOPERATION_TYPES.index(k))),
            _typed(kinds),
        )
        for (a, b), kinds in types.items()
        if a in kept and b in kept
    ]
    edges.sort(key=lambda e: (-e.stories, e.a, e.b))
    nodes = focus + tuple(code for code in ranked[:max_neighbours])
    return Network(
        focus, since, until, nodes, tuple(edges), counted, max(0, len(ranked) - max_neighbours)
    )
