# ruff: noqa: RUF002  (docstring examples are multilingual on purpose)
"""One alert per event: cluster reports of the same real-world occasion into one story.

The rule (eval/dedup-README): two reports are the **same event** when they describe the same
occasion — one visit or meeting (announcement, arrival, talks, departure), one round of an
exercise (announcement, opening, daily updates, closing), one approval, one signing, one
delivery, one disaster — whatever the outlet, language or wording. Another round of the same
series, another visit of the same people, another approval of the same amount, a different step
of the same deal, a later interview citing the event: all **different events**. Dates, rounds,
places, amounts and participants tell look-alikes apart; country pairs and wording do not.

How it is applied, comparing an article's ``EventSignature`` with a story's (the union of its
reports' signatures):

1. **Vetoes** — any one keeps the article out of the story:
   * both name states and share none;
   * both are dated and lie more than ``candidate_window`` apart (``retrospective_window``
     when they share a round: a closing ceremony or a spokesman's look back);
   * both name a round of a series — a year written into its name ("Qartalı-2022",
     «… — 2024») or an ordinal ("Shaheen-IX", "第八次") — and no round agrees;
   * both name money amounts and none agree (within 1.5 %);
   * both report dates (day and month, written out or "on Monday" resolved against the
     publication day) and none agree within two days — unless they share a round, whose daily
     updates carry different dates; dates announced ahead count as agreeing;
   * an undated text cites a year after the other's last report.
2. **Evidence** adds up: same round (series and number), same written-out date, same amount,
   same codes or measured numbers (hull numbers, magnitudes), same proper names (transliterated
   to a light phonetic key so "Hasanov", "Həsənov" and "Гасанов" meet; state names excluded;
   weighted down when many recent articles carry them), overlap of content stems and of word
   pairs (rewrites and verbatim agency copies) above what unrelated reports share, closeness in
   time, shared states (minus a penalty when each side has a partner the other lacks), the same
   kind of cooperation.
3. The article joins the best story scoring at least ``THRESHOLD_DATED`` when both are dated to
   the day. A report dated only to the month or year, or not at all, cannot lean on closeness in
   time: it must clear a higher bar, bring an *anchor* (a shared round, written-out date,
   measured number, two uncommon names or a near-verbatim text) and fit one story clearly
   better than any other.

Candidates come from an index (``index_keys``: each state and round, and for reports in which
no state was recognised their dates, codes and names), walked from the newest story back to the
time veto, so the cost per article depends on how many stories are recent, not on the archive.
"""

from __future__ import annotations

import functools
import math
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from monitors import textfeatures as tf

K = TypeVar("K")

candidate_window = timedelta(days=8)
"""How long after its last report a story can still absorb reports by closeness in time."""
retrospective_window = timedelta(days=45)
"""How far apart reports sharing a round or a date may be (announcement … closing review)."""

ARTICLE_TOKENS = 64
STORY_TOKENS = 160
STORY_NAMES = 48
STORY_SMALL_SET = 24  # dates, amounts, codes, years, rounds

THRESHOLD_DATED = 2.3
THRESHOLD_COARSE = 2.4  # one side dated only to the month or year
THRESHOLD_UNDATED = 2.6
AMBIGUITY_MARGIN = 0.5
WEEKDAY_MARK = "w"
PRECISE_SPAN = timedelta(days=3)
AMOUNT_TOLERANCE = 0.015
DATE_TOLERANCE_DAYS = 2

# ---------------------------------------------------------------------------------------------
# The signature


@dataclass(frozen=True)
class EventSignature:
    """What is known about one article, or about a story (the union of its articles).

    ``published_at`` .. ``published_until`` is the time span the reports were published in
    (one day for a dated article; the whole month or year when only that is known).
    ``dated`` is False when nothing told us when the article appeared; ``precise`` is True when
    it (or, for a story, one of its reports) is dated to within a few days.
    ``dates`` are day-month dates the text mentions, "YYYY-MM-DD" or "xxxx-MM-DD" (year unknown),
    as reported (on or before publication); ``announced`` are those ahead of publication.
    ``rounds`` are rounds of named series, "series-key:2022" or "series-key:#9" (key may be "").
    """

    countries: frozenset[str]
    cooperation_type: str | None
    published_at: datetime
    published_until: datetime
    dated: bool
    precise: bool
    language: str | None
    rounds: frozenset[str] = frozenset()
    years: frozenset[int] = frozenset()
    dates: frozenset[str] = frozenset()
    announced: frozenset[str] = frozenset()
    amounts: frozenset[float] = frozenset()
    codes: frozenset[str] = frozenset()
    names: frozenset[str] = frozenset()
    tokens: frozenset[str] = frozenset()
    shingles: frozenset[str] = frozenset()
    size: int = 1

    @functools.cached_property
    def round_values(self) -> frozenset[str]:
        """The rounds without their series: "2022", "#9"."""
        return frozenset(r.partition(":")[2] for r in self.rounds)

    def to_json(self) -> dict[str, Any]:
        """A compact JSON-able dict (sets as sorted lists, times as ISO strings)."""
        d: dict[str, Any] = {
            "countries": sorted(self.countries),
            "type": self.cooperation_type,
            "from": self.published_at.isoformat(),
            "until": self.published_until.isoformat(),
            "dated": self.dated,
            "precise": self.precise,
            "lang": self.language,
            "size": self.size,
        }
        for name in _SET_FIELDS:
            value = getattr(self, name)
            if value:
                d[name] = sorted(value)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EventSignature:
        return cls(
            countries=frozenset(d.get("countries", ())),
            cooperation_type=d.get("type"),
            published_at=_aware(datetime.fromisoformat(d["from"])),
            published_until=_aware(datetime.fromisoformat(d["until"])),
            dated=bool(d.get("dated", True)),
            precise=bool(d.get("precise", d.get("dated", True))),
            language=d.get("lang"),
            size=int(d.get("size", 1)),
            **{name: frozenset(d.get(name, ())) for name in _SET_FIELDS},
        )


_SET_FIELDS = (
    "rounds", "years", "dates", "announced", "amounts", "codes", "names", "tokens",
    "shingles",
)  # fmt: skip


def _aware(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def signature(
    title: str,
    summary: str,
    *,
    published_at: datetime | None,
    language: str | None,
    countries: Iterable[str],
    cooperation_type: str | None = None,
    published_until: datetime | None = None,
) -> EventSignature:
    """The signature of one article.

    ``published_at`` None means the date is unknown; ``published_until`` gives the end of the
    span when only a month or a year is known.
    """
    title, summary = tf.clean(title), tf.clean(summary)
    text = f"{title}\n{summary}"
    dated = published_at is not None
    start = _aware(published_at) if published_at else datetime(1970, 1, 1, tzinfo=UTC)
    end = max(start, _aware(published_until) if published_until else start)
    mentioned = _date_strings(text, start, end) if dated else _date_strings(text, None, None)
    if dated:
        mentioned |= _weekday_dates(text, start, end)
    reported, announced = _split_announced(mentioned, end if dated else None)
    return EventSignature(
        countries=frozenset(c.upper() for c in countries),
        cooperation_type=cooperation_type,
        published_at=start,
        published_until=end,
        dated=dated,
        precise=dated and end - start <= PRECISE_SPAN,
        language=language,
        rounds=frozenset(str(r) for r in tf.rounds(text) if _plausible_round(r, end, dated)),
        years=frozenset(tf.years(text)),
        dates=frozenset(reported),
        announced=frozenset(announced),
        amounts=frozenset(tf.amounts(text)),
        codes=frozenset(tf.codes(text)),
        names=frozenset(tf.name_keys(title, summary)),
        tokens=tf.bottom_k(tf.content_tokens(text), ARTICLE_TOKENS),
        shingles=tf.bottom_k(tf.shingles(text), ARTICLE_TOKENS),
    )


def _plausible_round(round_: tf.Round, published: datetime, dated: bool) -> bool:
    """Exercises are announced months, not years, ahead: "Vision 2030" names no round."""
    if round_.value.startswith("#") or not dated:
        return True
    return int(round_.value) <= published.year + 1


def _date_strings(text: str, start: datetime | None, end: datetime | None) -> set[str]:
    """Mentioned dates as "YYYY-MM-DD"; a date written without its year takes the year that
    puts it nearest the publication span, or stays "xxxx-MM-DD" when that is unknown."""
    out = set()
    for m in tf.day_mentions(text):
        year = m.year or _nearest_year(m.month, m.day, start, end)
        out.add(f"{year or 'xxxx'}-{m.month:02d}-{m.day:02d}")
    return out


def _nearest_year(month: int, day: int, start: datetime | None, end: datetime | None) -> int | None:
    if start is None or end is None or end - start > timedelta(days=40):
        return None  # only a month-precise span can place a bare day-month
    middle = start + (end - start) / 2
    best: tuple[timedelta, int] | None = None
    for year in (middle.year - 1, middle.year, middle.year + 1):
        try:
            distance = abs(datetime(year, month, day, tzinfo=UTC) - middle)
        except ValueError:
            continue
        if best is None or distance < best[0]:
            best = (distance, year)
    return best[1] if best else None


def _split_announced(dates: set[str], published_until: datetime | None) -> tuple[set, set]:
    """(dates reported as past or present, dates announced ahead of publication)."""
    if published_until is None:
        return dates, set()
    horizon = (published_until + timedelta(days=1)).strftime("%Y-%m-%d")
    announced = {d for d in dates if d[0] != "x" and d > horizon}
    return dates - announced, announced


def _weekday_dates(text: str, start: datetime, end: datetime) -> set[str]:
    """Dates behind "on Monday" in a report dated to the day: the nearest such weekday
    (reports say "Monday" for the last few days or the next few)."""
    if start != end:
        return set()
    out = set()
    for weekday in tf.weekdays(text):
        offset = (weekday - start.weekday()) % 7
        offset = offset - 7 if offset > 3 else offset
        # marked: a weekday only says "around publication", which closeness in time already
        # rewards; it may agree or conflict with a date but is no evidence of its own
        out.add((start + timedelta(days=offset)).strftime("%Y-%m-%d") + WEEKDAY_MARK)
    return out


def merge(story: EventSignature, article: EventSignature) -> EventSignature:
    """The story's signature after ``article`` joined it: evidence united (capped), the time
    span widened to cover both (or narrowed, when a coarse date is refined by a precise one)."""
    start, until, dated = _merged_span(story, article)
    return EventSignature(
        countries=story.countries | article.countries,
        cooperation_type=story.cooperation_type or article.cooperation_type,
        published_at=start,
        published_until=until,
        dated=dated,
        precise=story.precise or article.precise,
        language=story.language if story.language == article.language else None,
        rounds=_capped(story.rounds | article.rounds),
        years=_capped(story.years | article.years),
        dates=_capped(story.dates | article.dates),
        announced=_capped(story.announced | article.announced),
        amounts=_capped(story.amounts | article.amounts),
        codes=_capped(story.codes | article.codes),
        names=tf.bottom_k(story.names | article.names, STORY_NAMES),
        tokens=tf.bottom_k(story.tokens | article.tokens, STORY_TOKENS),
        shingles=tf.bottom_k(story.shingles | article.shingles, STORY_TOKENS),
        size=story.size + article.size,
    )


def _capped(values: frozenset, limit: int = STORY_SMALL_SET) -> frozenset:
    return values if len(values) <= limit else frozenset(sorted(values, key=str)[:limit])


def _merged_span(a: EventSignature, b: EventSignature) -> tuple[datetime, datetime, bool]:
    if not b.dated:
        return a.published_at, a.published_until, a.dated
    if not a.dated:
        return b.published_at, b.published_until, True
    # one span inside the other: the narrower one is the better estimate
    if a.published_at <= b.published_at and b.published_until <= a.published_until:
        return b.published_at, b.published_until, True
    if b.published_at <= a.published_at and a.published_until <= b.published_until:
        return a.published_at, a.published_until, True
    return (
        min(a.published_at, b.published_at),
        max(a.published_until, b.published_until),
        True,
    )


# ---------------------------------------------------------------------------------------------
# Comparing an article with a story


@dataclass(frozen=True)
class Match(Generic[K]):
    """Why an article joined a story: the story's key, the score and a readable reason."""

    key: K
    score: float
    reason: str


class TermWeights:
    """How telling a name or a word is, from how many recent articles carry it.

    A name in one article of a hundred identifies an occasion; a name (or word) in every
    other article ("Pacific", "carrier", "exercise") does not. Before enough articles have
    been seen every term weighs 1.
    """

    def __init__(self, min_articles: int = 20) -> None:
        self.articles = 0
        self.min_articles = min_articles
        self._names: dict[str, int] = {}
        self._tokens: dict[str, int] = {}
        # one article is compared with many stories: keep its token weights for the next call
        self._last: tuple[frozenset[str], int, dict[str, float]] | None = None

    def observe(self, sig: EventSignature) -> None:
        self.articles += 1
        for name in {tf.name_skeleton(n) for n in sig.names}:
            self._names[name] = self._names.get(name, 0) + 1
        for token in sig.tokens:
            self._tokens[token] = self._tokens.get(token, 0) + 1

    def name(self, key: str) -> float:
        return self._weight(self._names.get(key, 0))

    def token(self, token: str) -> float:
        return self._weight(self._tokens.get(token, 0))

    def token_weights(self, tokens: frozenset[str]) -> dict[str, float]:
        if self._last is None or self._last[0] is not tokens or self._last[1] != self.articles:
            self._last = (tokens, self.articles, {t: self.token(t) for t in tokens})
        return self._last[2]

    def _weight(self, df: int) -> float:
        if self.articles < self.min_articles or df <= 2:
            return 1.0
        # full weight up to 1 article in 25, none when every article has it
        return max(0.0, min(1.0, math.log(self.articles / df) / math.log(25)))


UNIFORM = TermWeights(min_articles=1 << 62)


def _gap(a: EventSignature, b: EventSignature) -> timedelta:
    """Time between two publication spans (zero when they overlap)."""
    if a.published_until < b.published_at:
        return b.published_at - a.published_until
    if b.published_until < a.published_at:
        return a.published_at - b.published_until
    return timedelta(0)


def _parse_date(s: str) -> tuple[int | None, int, int]:
    year, month, day = s[:4], int(s[5:7]), int(s[8:10])
    return (int(year) if year.isdigit() else None), month, day


def _dates_agree(a: str, b: str) -> bool:
    ya, ma, da = _parse_date(a)
    yb, mb, db = _parse_date(b)
    if ya is not None and yb is not None:
        try:
            return abs((datetime(ya, ma, da) - datetime(yb, mb, db)).days) <= DATE_TOLERANCE_DAYS
        except ValueError:
            return False
    # year unknown on one side: compare within a year, ignoring month-end wrap
    return ma == mb and abs(da - db) <= DATE_TOLERANCE_DAYS


def _shared_dates(a: frozenset[str], b: frozenset[str]) -> list[str]:
    return sorted({x[5:10] for x in a for y in b if _dates_agree(x, y)})


def _certain_shared_dates(a: frozenset[str], b: frozenset[str]) -> list[str]:
    """Shared dates whose year both sides know (an undated "March 5" fits every year), at
    least one of them written out rather than inferred from a weekday."""
    return sorted(
        {
            x[:10]
            for x in a
            for y in b
            if x[0] != "x"
            and y[0] != "x"
            and not (x.endswith(WEEKDAY_MARK) and y.endswith(WEEKDAY_MARK))
            and _dates_agree(x, y)
        }
    )


def _shared_explicit_dates(a: frozenset[str], b: frozenset[str]) -> list[str]:
    return sorted(
        {
            x[5:10]
            for x in a
            for y in b
            if not (x.endswith(WEEKDAY_MARK) and y.endswith(WEEKDAY_MARK)) and _dates_agree(x, y)
        }
    )


def _date_in_span(date: str, sig: EventSignature) -> bool:
    """Whether a mentioned date could be the occasion of a story published in ``sig``'s span:
    from shortly before its first report until ``retrospective_window`` after (an
    announcement names a date weeks ahead)."""
    if not sig.dated:
        return False
    year, month, day = _parse_date(date)
    for y in [year] if year else {sig.published_at.year, sig.published_until.year}:
        try:
            moment = datetime(y, month, day, tzinfo=UTC)
        except ValueError:
            continue
        low = sig.published_at - timedelta(days=DATE_TOLERANCE_DAYS + 1)
        if low <= moment <= sig.published_until + retrospective_window:
            return True
    return False


def _all_dates(sig: EventSignature) -> frozenset[str]:
    return sig.dates | sig.announced


def _dates_conflict(a: EventSignature, b: EventSignature) -> bool:
    """Whether the two give dates that cannot belong to one occasion.

    Two dated reports conflict when both report dates and none agree (within two days) with
    any date of the other, announced ones included. An undated report conflicts only when none
    of its dates could fall in the other's publication span.
    """
    dates_a, dates_b = _all_dates(a), _all_dates(b)
    if not dates_a or not dates_b or _shared_dates(dates_a, dates_b):
        return False
    if a.precise and b.precise:
        return bool(a.dates and b.dates)
    return not (
        any(_date_in_span(d, b) for d in dates_a) or any(_date_in_span(d, a) for d in dates_b)
    )


def _shared_amounts(a: frozenset[float], b: frozenset[float]) -> list[float]:
    return sorted({x for x in a for y in b if abs(x - y) <= AMOUNT_TOLERANCE * max(x, y)})


def _format_amount(value: float) -> str:
    for scale, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.4g}{suffix}"
    return f"{value:g}"


@dataclass
class _Evidence:
    score: float = 0.0
    reasons: list[str] = field(default_factory=list)
    anchors: int = 0

    def add(self, points: float, reason: str, *, anchor: bool = False) -> None:
        if points <= 0:
            return
        self.score += points
        self.reasons.append(reason)
        self.anchors += anchor


def veto(article: EventSignature, story: EventSignature) -> str | None:
    """Why the article cannot belong to the story, or None when nothing rules it out."""
    # cheapest and most frequent first: most candidates differ in states or time
    if article.countries and story.countries and not article.countries & story.countries:
        return "different states"
    if article.dated and story.dated:
        limit = candidate_window
        if _shares_occasion_marker(article, story):
            limit = retrospective_window
        if _gap(article, story) > limit:
            return "too far apart in time"
    if _rounds_conflict(article.round_values, story.round_values):
        return "different rounds"
    if article.amounts and story.amounts and not _shared_amounts(article.amounts, story.amounts):
        return "different amounts"
    if _dates_conflict(article, story) and not article.round_values & story.round_values:
        # a shared round names the occasion; its daily updates carry different dates
        return "different dates"
    if _cites_later_year(article, story) or _cites_later_year(story, article):
        return "cites a year after the other's reports"
    return None


def _cites_later_year(undated: EventSignature, dated: EventSignature) -> bool:
    """An undated text cannot cite a year that had not begun when the other was written."""
    if undated.dated or not dated.dated or not undated.years:
        return False
    first_day = datetime(max(undated.years), 1, 1, tzinfo=UTC)
    return first_day - dated.published_until > timedelta(days=31)


def _rounds_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both name a year-round (or both an ordinal round) and none agree."""
    for is_ordinal in (False, True):
        va = {v for v in a if v.startswith("#") == is_ordinal}
        vb = {v for v in b if v.startswith("#") == is_ordinal}
        if va and vb and not va & vb:
            return True
    return False


def _shares_occasion_marker(a: EventSignature, b: EventSignature) -> bool:
    # Not shared dates: a later interview cites the date of the event it looks back on.
    return bool(a.round_values & b.round_values)


def evidence(
    article: EventSignature, story: EventSignature, weights: TermWeights | None = None
) -> _Evidence:
    """Points for everything the article and the story have in common."""
    ev = _Evidence()
    shared_countries = article.countries & story.countries
    if not article.countries or not story.countries:
        # no state recognised (a script or spelling the gazetteer lacks) is no disagreement
        ev.add(0.3, "states unknown on one side")
    if shared_countries:
        union = article.countries | story.countries
        ev.add(
            0.6 * len(shared_countries) / len(union),
            "same countries " + ",".join(sorted(shared_countries)),
        )
        if article.countries - story.countries and story.countries - article.countries:
            # Japan-Australia is not Japan-UK: each side has a partner the other lacks
            ev.score -= 0.8
            ev.reasons.append("other partners")
    _time_evidence(ev, article, story)
    _round_evidence(ev, article, story, bool(shared_countries))
    if dates := _certain_shared_dates(_all_dates(article), _all_dates(story)):
        ev.add(1.2, "same date " + ",".join(dates), anchor=True)
    elif dates := _shared_explicit_dates(_all_dates(article), _all_dates(story)):
        ev.add(0.6, "same day of year " + ",".join(dates))
    if amounts := _shared_amounts(article.amounts, story.amounts):
        # not an anchor: the same amount recurs in every step of a deal
        ev.add(1.0, "same amount " + ",".join(map(_format_amount, amounts)))
    if codes := sorted(article.codes & story.codes):
        # a measured number (a magnitude, "374.9") marks the occasion; a designation ("CVN76")
        # only the platform, which comes back for the next visit
        measured = any(c[0].isdigit() for c in codes)
        ev.add(min(1.6, 0.8 * len(codes)), "same numbers " + ",".join(codes), anchor=measured)
    _name_evidence(ev, article, story, weights or UNIFORM)
    _text_evidence(ev, article, story, weights or UNIFORM)
    if article.cooperation_type and article.cooperation_type == story.cooperation_type:
        ev.add(0.3, f"both {article.cooperation_type}")
    return ev


def _time_evidence(ev: _Evidence, article: EventSignature, story: EventSignature) -> None:
    if not (article.dated and story.dated):
        return
    gap = _gap(article, story)
    if article.precise and story.precise:
        closeness = 1.0 if gap <= timedelta(days=1) else 0.6 if gap <= timedelta(days=3) else 0.2
        if gap <= candidate_window:
            ev.add(closeness, f"{gap.days} days apart")
    elif gap == timedelta(0):
        # a report dated only to its month (or year) that overlaps the story: a weak hint
        longest = max(_span(article), _span(story))
        if longest <= timedelta(days=31):
            ev.add(0.5, "same month")
        else:
            ev.add(0.3, "same year")


def _span(sig: EventSignature) -> timedelta:
    return sig.published_until - sig.published_at


def _round_evidence(
    ev: _Evidence, article: EventSignature, story: EventSignature, same_states: bool
) -> None:
    named = sorted(r for r in article.rounds & story.rounds if not r.startswith(":"))
    if named:
        ev.add(2.5, "same round " + ",".join(r.replace(":", "-") for r in named), anchor=True)
    elif values := sorted(article.round_values & story.round_values):
        # the series name may be translated ("Swift Eagle 2015" = «Стремительный орел — 2015»);
        # with the same states that is still the same round, without them it is a hint
        ev.add(
            1.5 if same_states else 0.5, "same round number " + ",".join(values), anchor=same_states
        )


def _name_evidence(
    ev: _Evidence, article: EventSignature, story: EventSignature, weights: TermWeights
) -> None:
    shared = tf.shared_names(article.names, story.names)
    if not shared:
        return
    weight_of = {n: weights.name(n) for n in shared}
    points = min(2.0, 0.6 * sum(weight_of.values()))
    strong = [n for n, w in weight_of.items() if w >= 0.5]
    ev.add(points, "same names " + ",".join(sorted(shared)[:6]), anchor=len(strong) >= 2)


def _text_evidence(
    ev: _Evidence, article: EventSignature, story: EventSignature, weights: TermWeights
) -> None:
    overlap = tf.sketch_containment(
        article.tokens, story.tokens, STORY_TOKENS, weights.token_weights(article.tokens)
    )
    copied = tf.sketch_containment(article.shingles, story.shingles, STORY_TOKENS)
    # Unrelated reports on one topic already share some stems, and the more reports a story
    # holds the more of any article it "contains"; only overlap above that baseline counts.
    baseline = 0.15 + 0.06 * math.log2(story.size)
    ev.add(3.0 * max(0.0, overlap - baseline), f"text similarity {overlap:.2f}")
    ev.add(
        2.5 * max(0.0, copied - baseline / 3), f"shared phrasing {copied:.2f}", anchor=copied >= 0.5
    )


def compare(
    article: EventSignature, story: EventSignature, weights: TermWeights | None = None
) -> tuple[float, str] | None:
    """Score and reason when the article may join the story, None when it may not."""
    assessed = _assess(article, story, weights)
    return (assessed[0], assessed[1]) if assessed and assessed[2] else None


_Assessment = tuple[float, str, bool, bool]  # score, reason, passes, anchored


def _assess(
    article: EventSignature, story: EventSignature, weights: TermWeights | None
) -> _Assessment | None:
    """(score, reason, whether it passes the bar, whether it has an anchor), None if vetoed."""
    if veto(article, story):
        return None
    ev = evidence(article, story, weights)
    # a report dated only to the month or year gets no credit for closeness in time and must
    # clear a higher bar, as an undated one must
    both_precise = article.precise and story.precise
    if both_precise:
        threshold = THRESHOLD_DATED
    elif article.dated and story.dated:
        threshold = THRESHOLD_COARSE
    else:
        threshold = THRESHOLD_UNDATED
    passes = ev.score >= threshold and (both_precise or ev.anchors > 0)
    return ev.score, "; ".join(ev.reasons), passes, ev.anchors > 0


def best_match(
    article: EventSignature,
    candidates: Iterable[tuple[K, EventSignature]],
    weights: TermWeights | None = None,
) -> Match[K] | None:
    """The candidate story the article belongs to, or None when none passes.

    An article without a precise date that fits another story about as well as the best is
    left alone: only its date would tell which occasion it reports. "Fits" counts any story
    sharing an anchor with it, even one just below the bar.
    """
    best: Match[K] | None = None
    runner_up = -math.inf
    for key, story in candidates:
        assessed = _assess(article, story, weights)
        if assessed is None:
            continue
        score, reason, passes, anchored = assessed
        if passes and (best is None or score > best.score):
            if best is not None:
                runner_up = max(runner_up, best.score)
            best = Match(key, round(score, 3), reason)
        elif passes or anchored:
            runner_up = max(runner_up, score)
    if best is None:
        return None
    if not article.precise and runner_up > best.score - AMBIGUITY_MARGIN:
        return None
    return best


# ---------------------------------------------------------------------------------------------
# The index

COUNTRYLESS_KEY = "*"


def index_keys(sig: EventSignature) -> frozenset[str]:
    """Keys a story is filed under: each state ("c:AZ"), each round ("r:2022"), and — so
    that a report in which no state was recognised can still find its story — each date
    ("d:09-05"), code ("k:CVN76") and name ("n:krtl"); "*" for a story without states."""
    keys = {f"c:{c}" for c in sig.countries}
    keys |= _occasion_keys(sig)
    keys |= {f"n:{tf.name_skeleton(n)}" for n in sig.names}
    if not sig.countries:
        keys.add(COUNTRYLESS_KEY)
    return frozenset(keys)


def _occasion_keys(sig: EventSignature) -> set[str]:
    keys = {f"r:{v}" for v in sig.round_values}
    keys |= {f"d:{d[5:10]}" for d in _all_dates(sig)}
    keys |= {f"k:{c}" for c in sig.codes}
    return keys


def lookup_keys(sig: EventSignature) -> frozenset[str]:
    """Keys to look an article up under: its states, rounds and "*" (stories without
    states); an article without states also looks under its dates, codes and names."""
    if sig.countries:
        keys = {f"c:{c}" for c in sig.countries} | {f"r:{v}" for v in sig.round_values}
        return frozenset(keys | {COUNTRYLESS_KEY})
    return index_keys(sig)


def _lookup_horizon(sig: EventSignature, key: str) -> datetime | None:
    """How far back a bucket is worth walking for this article: a story quiet for longer
    than the time veto allows cannot take it — a week or so, or ``retrospective_window``
    under a round's key (a shared round stretches the window)."""
    if not sig.dated:
        return None
    return sig.published_at - (retrospective_window if key.startswith("r:") else candidate_window)


class StoryIndex:
    """Stories held in memory, filed under ``index_keys`` for candidate lookup.

    Each bucket is ordered by last activity, so a lookup walks back from the newest story and
    stops at the first one too old to absorb the article: the work per article depends on how
    many stories are *recent*, not on how many are stored. ``retention`` also drops stories
    quiet for longer than that (memory); None keeps every story (a finite batch).
    """

    def __init__(self, retention: timedelta | None = retrospective_window) -> None:
        self.retention = retention
        self.stories: dict[str, EventSignature] = {}
        self.weights = TermWeights()
        self._buckets: dict[str, OrderedDict[str, datetime]] = {}
        self._filed: dict[str, frozenset[str]] = {}
        self._activity: OrderedDict[str, datetime] = OrderedDict()  # oldest first
        self._newest = datetime(1970, 1, 1, tzinfo=UTC)

    def __len__(self) -> int:
        return len(self.stories)

    def candidates(self, sig: EventSignature) -> list[tuple[str, EventSignature]]:
        """Recent stories filed under any of the article's keys (each once)."""
        seen: dict[str, EventSignature] = {}
        for key in lookup_keys(sig):
            bucket = self._buckets.get(key)
            if not bucket:
                continue
            horizon = _lookup_horizon(sig, key)
            for story_id in reversed(bucket):
                if horizon is not None and bucket[story_id] < horizon:
                    break
                if story_id not in seen:
                    seen[story_id] = self.stories[story_id]
        return list(seen.items())

    def add(
        self, article_id: str, sig: EventSignature, *, observe: bool = True
    ) -> tuple[str, Match[str] | None]:
        """File one article: join the best story or start a new one (named after it).

        ``observe`` False re-files an article already counted in the term weights.
        """
        if observe:
            self.weights.observe(sig)
        match = best_match(sig, self.candidates(sig), self.weights)
        if match is None:
            story_id, story = article_id, sig
        else:
            story_id, story = match.key, merge(self.stories[match.key], sig)
        self.restore(story_id, story)
        return story_id, match

    def restore(self, story_id: str, story: EventSignature) -> None:
        """Put a stored story (back) into the index as it is, without matching it."""
        if story_id in self.stories:
            self._unfile(story_id)
        self.stories[story_id] = story
        if story.dated:
            self._newest = max(self._newest, story.published_until)
        # Buckets are stamped with the index's clock (the newest report seen), which never
        # goes back: they stay sorted even when a late or undated report updates an old story,
        # and a stamp is never earlier than the story's last report.
        stamp = self._newest
        keys = index_keys(story)
        for key in keys:
            bucket = self._buckets.setdefault(key, OrderedDict())
            bucket[story_id] = stamp
            bucket.move_to_end(story_id)
        self._filed[story_id] = keys
        self._activity[story_id] = stamp
        self._activity.move_to_end(story_id)
        self._evict()

    def remove(self, story_id: str) -> EventSignature:
        """Take a story out of the index."""
        self._unfile(story_id)
        return self.stories.pop(story_id)

    def _unfile(self, story_id: str) -> None:
        for key in self._filed.pop(story_id, ()):
            bucket = self._buckets[key]
            del bucket[story_id]
            if not bucket:
                del self._buckets[key]
        self._activity.pop(story_id, None)

    def _evict(self) -> None:
        if self.retention is None:
            return
        horizon = self._newest - self.retention
        while self._activity:
            story_id, stamp = next(iter(self._activity.items()))
            if stamp >= horizon:
                break
            self.remove(story_id)


# ---------------------------------------------------------------------------------------------
# Batch clustering for `defwatch cluster FILE`

_URL_DATE = re.compile(r"/((?:19|20)\d\d)[/-](\d\d)(?:[/-](\d\d))?(?:/|$|\D)")


def publication_span(
    published: str | None, url: str | None = None, text: str = ""
) -> tuple[datetime | None, datetime | None]:
    """When an input row was published, as a span: the ``published`` field ("YYYY",
    "YYYY-MM", "YYYY-MM-DD"), else a date in the URL, else a full date written in the text,
    else a round year ("Exercise-2024" is published in 2024); (None, None) when unknown."""
    if published:
        span = _span_from_parts(*[*published.split("-"), None, None][:3])
        if span[0]:
            return span
    if url and (m := _URL_DATE.search(url)):
        span = _span_from_parts(m.group(1), m.group(2), m.group(3))
        if span[0]:
            return span
    cleaned = tf.clean(text)
    full = sorted((d.year, d.month, d.day) for d in tf.day_mentions(cleaned) if d.year is not None)
    if full:
        return _span_from_parts(*map(str, full[-1]))
    rounds = tf.round_years(cleaned)
    if len(rounds) == 1:
        return _span_from_parts(str(next(iter(rounds))), None, None)
    return None, None


def _span_from_parts(
    year: str | None, month: str | None, day: str | None
) -> tuple[datetime | None, datetime | None]:
    try:
        y = int(year or "")
        if month is None:
            return datetime(y, 1, 1, tzinfo=UTC), datetime(y, 12, 31, tzinfo=UTC)
        m = int(month)
        if day is None:
            last = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC) - timedelta(days=1)
            return datetime(y, m, 1, tzinfo=UTC), last
        start = datetime(y, m, int(day), tzinfo=UTC)
        return start, start
    except ValueError:
        return None, None


def _classifier() -> Callable[[str, str, str | None], tuple[tuple[str, ...], str | None]]:
    """The project classifier's states and cooperation type (imported lazily: it is heavy)."""
    from monitors.classify import classify

    def run(title: str, summary: str, language: str | None) -> tuple[tuple[str, ...], str | None]:
        verdict = classify(title, summary, language)
        return tuple(verdict.participants), verdict.cooperation_type

    return run


def row_signature(
    row: dict[str, Any],
    classify: Callable[[str, str, str | None], tuple[tuple[str, ...], str | None]],
) -> EventSignature:
    title, summary = row.get("title") or "", row.get("summary") or ""
    start, until = publication_span(row.get("published"), row.get("url"), f"{title}\n{summary}")
    countries, cooperation_type = classify(title, summary, row.get("language"))
    return signature(
        title,
        summary,
        published_at=start,
        published_until=until,
        language=row.get("language"),
        countries=countries,
        cooperation_type=cooperation_type,
    )


def cluster_rows(
    rows: list[dict[str, Any]],
    classify: Callable[[str, str, str | None], tuple[tuple[str, ...], str | None]] | None = None,
) -> list[dict[str, Any]]:
    """Cluster a batch of rows; returns ``{"id", "story"}`` per row, in input order.

    Rows dated to the day are taken oldest first (as a live feed would deliver them); rows
    dated only to the month or year come next and rows with no date last, when the precisely
    dated stories they might belong to exist.
    """
    run = classify or _classifier()
    sigs = [row_signature(row, run) for row in rows]
    order = sorted(
        range(len(rows)),
        key=lambda i: (
            not sigs[i].precise,
            not sigs[i].dated,
            sigs[i].published_at,
            sigs[i].published_until,
            i,
        ),
    )
    index = StoryIndex(retention=None)
    story_of: dict[int, str] = {}
    for i in order:
        story_of[i], _ = index.add(str(rows[i]["id"]), sigs[i])
    _second_pass(index, order, rows, sigs, story_of)
    return [{"id": row["id"], "story": story_of[i]} for i, row in enumerate(rows)]


def _second_pass(
    index: StoryIndex,
    order: list[int],
    rows: list[dict[str, Any]],
    sigs: list[EventSignature],
    story_of: dict[int, str],
) -> None:
    """Offer every report still alone a second chance, now that all stories are complete
    (a report seen first could not join a story whose telling reports came later)."""
    sizes: dict[str, int] = {}
    for story_id in story_of.values():
        sizes[story_id] = sizes.get(story_id, 0) + 1
    for i in order:
        story_id = story_of[i]
        if sizes[story_id] != 1 or story_id != str(rows[i]["id"]):
            continue
        index.remove(story_id)
        new_id, match = index.add(story_id, sigs[i], observe=False)
        if match is not None:
            story_of[i] = new_id
            sizes[new_id] += 1
            sizes[story_id] = 0


__all__ = [
    "COUNTRYLESS_KEY",
    "EventSignature",
    "Match",
    "StoryIndex",
    "TermWeights",
    "best_match",
    "candidate_window",
    "cluster_rows",
    "compare",
    "index_keys",
    "lookup_keys",
    "merge",
    "retrospective_window",
    "signature",
    "veto",
]
