"""One alert per event: cluster reports of the same real-world occasion into one story.

The rule (eval/dedup-README): two reports are the **same event** when they describe the same
occasion — one visit or meeting (announcement, arrival, talks, departure), one round of an
exercise (announcement, opening, daily updates, closing), one approval, one signing, one
delivery, one disaster — whatever the outlet, language or wording. Another round of the same
series, another visit of the same people, another approval of the same amount, a different step
of the same deal, a later interview citing the event: all **different events**. Dates, rounds,
places, amounts and participants tell look-alikes apart; country pairs and wording do not.

How it is applied, comparing an article's ``EventSignature`` with the signature of a story's
*defining report* (which never changes: a story does not drift towards whichever member is
nearest, so unrelated reports cannot chain into one story) and, once the article shares the
states and the days with that report (``MEMBER_FLOOR``), with the story's *confirmed reports*:
at most ``MEMBERS`` reports of other outlets that joined it on strong evidence
(``MEMBER_SCORE``). Every member is thus one step from the defining report, never two.

1. **Vetoes** — any one keeps the article out of the story:
   * both name states and share none;
   * both are dated and lie more than ``candidate_window`` apart (``retrospective_window``
     when they share a round);
   * the same outlet under the same recurring headline (a weekly gallery, a column, a
     digest, a live blog: ``recurring_title_key``); a roundup of several topics;
     headlines that name different kinds of occasion (``config/event_kinds.toml``), or that
     share no act and one names an act the other does not (``[acts]``: a closure, a strike,
     a death…): a strait closed while talks are held, a strike during a visit are other
     events than the talks or the visit, whichever report defines the story (phrases like
     "closed-door talks" or "carrier strike group" name no act: ``[not_kinds]``);
   * both name a round of a series and no round agrees; both name money amounts and none
     agree (within 1.5 %); both report dates and none agree within two days (unless they
     share a round); an undated text cites a year after the other's last report.
2. **Evidence** adds up: same round, same written-out date (a date that is just the day both
   were published, or a weekday, counts only across languages, with another shared key; a
   weekday names one day, so it agrees with a date within a day, not two), same
   amount, same codes or measured numbers, same proper names (transliterated to a phonetic
   key, read from the headline and lead like the words; counted per person, "Donald Trump"
   is one, "Steve" of two different full names is none; a wire service's credit, "Reuters",
   names no occasion; a name that ``COMMON_NAME_STORIES``
   candidate stories also carry is in the news, not the mark of an occasion), overlap of
   content stems and word pairs of the headline and lead above what unrelated reports share
   (shrunk for a short text: ``TEXT_PRIOR``; a long description counts by its lead,
   ``LEAD_CHARS``, and bullet points summing up other stories are left out), the same kind of
   occasion between the same two or more states (only confirming other content), closeness
   in time, shared states. Two items of one outlet are compared on their headlines (words
   other than the states', which count on their own), names and kind of occasion only (their
   summaries share the outlet's boilerplate). Text that
   failed to decode is no evidence; a lone "X" or "V" after a word is no round ("With X").
   Counts ("kills 11 people") are content, never a key.
3. The article joins the best story scoring at least ``THRESHOLD_DATED`` when both are dated
   to the day, with at least ``CONTENT_MIN`` from the occasion itself (states, time and type
   together never suffice). Two headlines in one language must share a word other than a
   state's name unless a key to the occasion (a round, a date, a measured number) is shared:
   wording, the states and famous names are shared by a week's pieces on one topic. A report
   dated only to the month or year, or not at all, gets no credit for closeness in time; it
   must bring an *anchor* (``THRESHOLD_COARSE``, ``THRESHOLD_UNDATED``) and fit one story
   clearly better than any other. Names shared by two items of one outlet are no anchor
   (the outlet's regular subjects).

Candidates (``lookup_keys``): stories filed (``index_keys``) under the article's states,
rounds, codes and names, or "*" for an article without states, whose first report lies within
the window; at most ``CANDIDATE_LIMIT``, newest first. The poll stores these keys in
``story_key`` and ``defwatch cluster``, ``stories rebuild`` and the bench run the poll's own
stage (``monitors.pipeline.place_in_story``), so what is measured is what runs.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, TypeVar

from monitors.detect import textfeatures as tf
from monitors.detect.data import read_toml
from monitors.detect.letters import MARK

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
THRESHOLD_COARSE = 2.2  # one side dated only to the month or year
THRESHOLD_UNDATED = 2.0
AMBIGUITY_MARGIN = 0.5
WEEKDAY_MARK = "w"
PRECISE_SPAN = timedelta(days=3)
AMOUNT_TOLERANCE = 0.015
DATE_TOLERANCE_DAYS = 2
WEEKDAY_TOLERANCE_DAYS = 1

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
    counts: frozenset[int] = frozenset()
    names: frozenset[str] = frozenset()
    tokens: frozenset[str] = frozenset()
    shingles: frozenset[str] = frozenset()
    size: int = 1
    source: str | None = None
    title_key: str = ""
    title_digest: str = ""
    title_tokens: frozenset[str] = frozenset()
    kinds: frozenset[str] = frozenset()
    members: tuple[EventSignature, ...] = ()

    @functools.cached_property
    def headline_terms(self) -> frozenset[str]:
        """The headline's words other than names of states and peoples."""
        return frozenset(t for t in self.title_tokens if not tf.is_country_word(t))

    @functools.cached_property
    def name_skeletons(self) -> frozenset[str]:
        """The names' keys without their final vowels: two signatures share a name
        (``tf.shared_names``) only if these meet, so most pairs are told apart by one test."""
        return frozenset(tf.name_skeleton(n) for n in self.names)

    @functools.cached_property
    def round_values(self) -> frozenset[str]:
        """The rounds without their series: "2022", "#9"."""
        return frozenset(r.partition(":")[2] for r in self.rounds)

    @functools.cached_property
    def own_content(self) -> frozenset[object]:
        """Everything ``_shares_nothing`` compares, in one set: the words, phrasing, headline
        words, name skeletons, codes, counts and round values, plus a marker for "has dates"
        and one for "has amounts" (two signatures that both have some share that marker).
        Values of different kinds may meet here where their kinds would not: the test then
        only says "may share", and the full comparison decides."""
        markers: tuple[str, ...] = (_HAS_DATES,) if self.dates or self.announced else ()
        if self.amounts:
            markers += (_HAS_AMOUNTS,)
        return frozenset().union(
            self.tokens, self.shingles, self.title_tokens, self.name_skeletons, self.codes,
            self.counts, self.round_values, markers,
        )  # fmt: skip

    @functools.cached_property
    def content(self) -> frozenset[object]:
        """``own_content`` of the signature and of each of its confirmed reports, together."""
        if not self.members:
            return self.own_content
        return self.own_content.union(*(member.own_content for member in self.members))

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
        if self.source is not None:
            d["source"] = self.source
        if self.title_key:
            d["title_key"] = self.title_key
            d["title_digest"] = self.title_digest
        for name in _SET_FIELDS:
            value = getattr(self, name)
            if value:
                d[name] = sorted(value)
        if self.members:
            d["members"] = [member.to_json() for member in self.members]
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> EventSignature:
        """The signature ``to_json`` stored. The poll decodes hundreds of stored stories per
        feed, so the fields are set directly, without the frozen dataclass's ``__init__``
        (one ``object.__setattr__`` per field): the same value, a third less time.
        ``_DECODED`` names every field (a test checks it)."""
        get = d.get
        values: dict[str, Any] = {
            "countries": frozenset(get("countries", ())),
            "cooperation_type": get("type"),
            "published_at": _aware(datetime.fromisoformat(d["from"])),
            "published_until": _aware(datetime.fromisoformat(d["until"])),
            "dated": bool(get("dated", True)),
            "precise": bool(get("precise", get("dated", True))),
            "language": get("lang"),
            "size": int(get("size", 1)),
            "source": get("source"),
            "title_key": get("title_key", ""),
            "title_digest": get("title_digest", ""),
            "members": tuple(cls.from_json(m) for m in get("members", ())),
        }
        for name in _SET_FIELDS:
            values[name] = frozenset(get(name, ()))
        decoded = object.__new__(cls)
        decoded.__dict__.update(values)
        return decoded


_HAS_DATES = "\x00dates"
_HAS_AMOUNTS = "\x00amounts"
"""``EventSignature.own_content``'s markers (no word, code or name contains a NUL)."""


_SET_FIELDS = (
    "rounds", "years", "dates", "announced", "amounts", "codes", "counts", "names", "tokens",
    "shingles", "title_tokens", "kinds",
)  # fmt: skip
_DECODED = frozenset(_SET_FIELDS) | {
    "countries", "cooperation_type", "published_at", "published_until", "dated", "precise",
    "language", "size", "source", "title_key", "title_digest", "members",
}  # fmt: skip
"""The fields ``EventSignature.from_json`` sets: all of them."""


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
    source: str | None = None,
) -> EventSignature:
    """The signature of one article.

    ``published_at`` None means the date is unknown; ``published_until`` gives the end of the
    span when only a month or a year is known. ``source`` names the outlet (a feed): one
    outlet's recurring headline ("Photos of the week") names a series, not an occasion.
    Text that failed to decode (mojibake) yields no names, words or phrasing: it is no evidence.
    """
    title, summary = tf.clean(title), _BULLETS.sub(" ", tf.clean(summary))
    garbled_title, garbled_summary = is_garbled(title), is_garbled(summary)
    title_key = "" if garbled_title else recurring_title_key(title)
    title = "" if garbled_title else title
    summary = "" if garbled_summary else summary
    text = f"{title}\n{summary}"
    lead = f"{title}\n{_lead(summary)}"
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
        counts=frozenset(tf.counts(lead)),
        names=frozenset(tf.name_keys(title, _lead(summary))),
        tokens=tf.bottom_k(tf.content_tokens(lead), ARTICLE_TOKENS),
        shingles=tf.bottom_k(tf.shingles(lead), ARTICLE_TOKENS),
        source=source,
        title_key=title_key,
        title_digest=f"{tf.stable_hash(title.casefold()):08x}" if title_key else "",
        # states are compared as states: Urdu and Hindi names are dropped here (the ASCII
        # stems of other scripts' names are dropped by ``headline_terms``)
        title_tokens=frozenset(tf.content_tokens(tf.without_native_state_words(title))),
        kinds=event_kinds(title or summary[:200]) | _digest_mark(title),
    )


LEAD_CHARS = 400


def _lead(summary: str) -> str:
    """The lead of a long description (a feed that carries the whole article): its later
    paragraphs give background that related stories of the week share."""
    if len(summary) <= LEAD_CHARS:
        return summary
    cut = summary.rfind(" ", 0, LEAD_CHARS)
    return summary[: cut if cut > 0 else LEAD_CHARS]


_BULLETS = re.compile(r"[•▪●][^•▪●]*?(?=[•▪●]|\b[A-Z][A-Z/ ]{2,}:|$)")
"""Bullet points ahead of a lead ("• Italy offers to train… • Trump announces… JAKARTA: …")
sum up other stories of the day: only the lead after them reports the item's occasion."""

DIGEST = "digest"
"""The kind given to a roundup of several unrelated topics (``[digests]`` in
``config/event_kinds.toml``): it reports no one occasion, so it never joins or takes reports."""


@functools.cache
def _digest_markers() -> tuple[str, ...]:
    markers = read_toml("event_kinds.toml", "event kinds").get("digests", {}).get("markers", [])
    return tuple(m.casefold() for m in markers)


def _digest_mark(title: str) -> frozenset[str]:
    folded = f" {title.casefold()} "
    return frozenset({DIGEST}) if any(m in folded for m in _digest_markers()) else frozenset()


@functools.cache
def _kind_stems() -> tuple[tuple[str, tuple[str, ...]], ...]:
    kinds = read_toml("event_kinds.toml", "event kinds")["kinds"]
    return tuple((kind, tuple(s.casefold() for s in stems)) for kind, stems in kinds.items())


@functools.cache
def _not_kinds() -> re.Pattern[str]:
    """``[not_kinds]`` of ``config/event_kinds.toml``: phrases that hold a kind's stem but
    name no occasion of that kind ("closed-door talks", "carrier strike group")."""
    table = read_toml("event_kinds.toml", "event kinds").get("not_kinds", {})
    phrases = sorted((p.casefold() for p in table.get("phrases", [])), key=len, reverse=True)
    return re.compile("|".join(map(re.escape, phrases)) or r"(?!)")


_WORD_START = re.compile(r"(?<![^\W\d_])", re.UNICODE)


def event_kinds(text: str) -> frozenset[str]:
    """Kinds of occasion the text names (``config/event_kinds.toml``): "talks", "strike"…"""
    folded = " " + _not_kinds().sub(" ", text.casefold())
    found = set()
    for kind, stems in _kind_stems():
        for stem in stems:
            if stem not in folded:  # none of the tests below can pass (cheap, and most stems)
                continue
            if (
                (stem[0] >= "\u3000" and stem in folded)
                or f" {stem}" in folded
                or any(
                    folded[m.start() - 1 : m.start()] in " \"'«“(-"
                    for m in re.finditer(re.escape(stem), folded)
                )
            ):
                found.add(kind)
                break
    return frozenset(found)


_MOJIBAKE = re.compile(
    "\ufffd|[\u00c2\u00c3\u00d0\u00d1][\u0080-\u00bf\u2018-\u203a\u0152-\u0178\u02c6\u02dc]"
    "|\u00e2\u20ac|[\u0400-\u04ff][\u0080-\u00ff]{2}|\u00ef\u00bf\u00bd"
)
_PRIVATE_OR_CONTROL = re.compile("[\u0000-\u0008\u000e-\u001f\u007f-\u009f\ue000-\uf8ff]")


def is_garbled(text: str) -> bool:
    """Whether text failed to decode: replacement characters, UTF-8 read as Latin-1 or
    Windows-1252 ("Ã©", "â€™", "Ð¿"), or control and private-use characters."""
    if not text:
        return False
    bad = len(_MOJIBAKE.findall(text)) + len(_PRIVATE_OR_CONTROL.findall(text))
    return bad >= 2 or bad / max(1, len(text)) > 0.02


# (combining marks are part of their words: Devanagari vowel signs are not punctuation)
_TEMPLATE_NOISE = re.compile(rf"\d+(?:st|nd|rd|th)?|(?!{MARK})[^\w\s]", re.UNICODE)


def recurring_title_key(title: str) -> str:
    """A headline with its numbers, dates, weekdays and punctuation removed: what stays the
    same from one issue of a column, gallery, digest or live blog to the next."""
    words = []
    for word in _TEMPLATE_NOISE.sub(" ", title.casefold()).split():
        if tf.month_number(word) is None and word not in _WEEKDAY_WORDS:
            words.append(word)
    return " ".join(words)


_WEEKDAY_WORDS = frozenset(
    "monday tuesday wednesday thursday friday saturday sunday".split()  # noqa: SIM905
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


# ---------------------------------------------------------------------------------------------
# Comparing an article with a story


@dataclass(frozen=True)
class Match(Generic[K]):
    """Why an article joined a story: the story's key, the score and a readable reason."""

    key: K
    score: float
    reason: str


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


def _dates_agree(a: str, b: str, tolerance: int = DATE_TOLERANCE_DAYS) -> bool:
    ya, ma, da = _parse_date(a)
    yb, mb, db = _parse_date(b)
    if ya is not None and yb is not None:
        try:
            return abs((datetime(ya, ma, da) - datetime(yb, mb, db)).days) <= tolerance
        except ValueError:
            return False
    # year unknown on one side: compare within a year, ignoring month-end wrap
    return ma == mb and abs(da - db) <= tolerance


def _key_dates_agree(a: str, b: str) -> bool:
    """Whether two dates agree as the day of one occasion: within ``DATE_TOLERANCE_DAYS``
    (an occasion of several days, a report of the eve), but a weekday ("on Sunday") names
    one day, which may only be read a day off across time zones (``WEEKDAY_TOLERANCE_DAYS``):
    "Sunday" in Monday's report and "Feb 17" in Tuesday's are two days, not one occasion."""
    weekday = a.endswith(WEEKDAY_MARK) or b.endswith(WEEKDAY_MARK)
    return _dates_agree(a, b, WEEKDAY_TOLERANCE_DAYS if weekday else DATE_TOLERANCE_DAYS)


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
            and _key_dates_agree(x, y)
        }
    )


def _shared_explicit_dates(a: frozenset[str], b: frozenset[str]) -> list[str]:
    return sorted(
        {
            x[5:10]
            for x in a
            for y in b
            if not (x.endswith(WEEKDAY_MARK) and y.endswith(WEEKDAY_MARK))
            and _key_dates_agree(x, y)
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


def _across_languages_on_one_occasion(article: EventSignature, story: EventSignature) -> bool:
    """Two languages, the same kind of occasion or a shared name or number: then the date
    written in both is a key of the event (their words cannot be compared)."""
    if not (article.language and story.language) or article.language == story.language:
        return False
    return bool(
        article.kinds & story.kinds
        or tf.shared_names(article.names, story.names)
        or article.codes & story.codes
    )


def _fits_publication(undated: EventSignature, dated: EventSignature) -> bool:
    """An undated report names a day (its year unknown) that falls in the days around the
    other report's publication: the day of the occasion it reports."""
    if undated.dated or not dated.precise:
        return False
    return any(
        d[0] == "x" and _on_publication_day(_with_year(d, dated), dated)
        for d in _all_dates(undated)
    )


def _with_year(date: str, sig: EventSignature) -> str:
    return f"{sig.published_at.year:04d}{date[4:10]}"


def _on_publication_day(date: str, sig: EventSignature) -> bool:
    """Whether the date is the day before, of or after publication (compared as days: a
    report of 22:00 on the 17th says "Monday" for the 16th)."""
    if not sig.precise:
        return False
    try:
        day = datetime.fromisoformat(date[:10]).date()
    except ValueError:  # 29 February of a year without one
        return False
    first, last = sig.published_at.date(), sig.published_until.date()
    return first - timedelta(days=1) <= day <= last + timedelta(days=1)


def _all_dates(sig: EventSignature) -> frozenset[str]:
    return sig.dates | sig.announced


def _dates_conflict(a: EventSignature, b: EventSignature) -> bool:
    """Whether the two give dates that cannot belong to one occasion.

    Two dated reports conflict when both report dates and none agree (within two days) with
    any date of the other, announced ones included. An undated report conflicts only when none
    of its dates could fall in the other's publication span.
    """
    if not ((a.dates or a.announced) and (b.dates or b.announced)):
        return False  # (most pairs: no union of their dates made)
    dates_a, dates_b = _all_dates(a), _all_dates(b)
    if _shared_dates(dates_a, dates_b):
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
    content: float = 0.0

    key_anchors: int = 0
    """Anchors other than wording: a round, a date, a measured number, names."""

    def add(self, points: float, reason: str, *, anchor: bool = False, key: bool = True) -> None:
        if points <= 0:
            return
        self.score += points
        self.reasons.append(reason)
        self.anchors += anchor
        self.key_anchors += anchor and key


def veto(article: EventSignature, story: EventSignature) -> str | None:
    """Why the article cannot belong to the story, or None when nothing rules it out."""
    # cheapest and most frequent first: most candidates differ in states or time
    if article.countries and story.countries and not article.countries & story.countries:
        return "different states"
    if (
        article.source is not None
        and article.source == story.source
        and article.title_key
        and article.title_key == story.title_key
        and not _republished(article, story)
    ):
        # one outlet does not run one headline twice for one occasion: a weekly gallery,
        # a column, a digest or a live blog under its recurring title
        return "recurring title"
    if DIGEST in article.kinds or DIGEST in story.kinds:
        # a roundup ("X has died. And, talks in Geneva") shares words with each of its topics
        return "a digest of several topics"
    if _kinds_differ(article.kinds, story.kinds):
        # a death and a protest: another action, another event
        return "different kinds of occasion"
    if _another_act(article.kinds, story.kinds):
        # "Iran closed the strait as it held talks" beside "talks in Geneva": the closure
        return "another act beside the occasion"
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


def _kinds_differ(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both headlines name a kind of occasion and none is the same."""
    return bool(a and b and not a & b)


def _another_act(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both headlines name a kind of occasion, share no act (``[acts]`` of
    ``config/event_kinds.toml``: a closure, a strike, a death…) and one names an act that the
    other does not: "closed the strait as it held talks" beside "talks"."""
    if not (a and b):
        return False
    acts = _acts()
    return bool((a ^ b) & acts and not a & b & acts)


@functools.cache
def _acts() -> frozenset[str]:
    acts = read_toml("event_kinds.toml", "event kinds").get("acts", {}).get("kinds", [])
    return frozenset(acts)


def _republished(article: EventSignature, story: EventSignature) -> bool:
    """The same item again (a feed that mints a new id or link on every fetch): the very same
    headline and text within a day, which a next issue of a series never is."""
    return (
        article.title_digest == story.title_digest
        and _gap(article, story) <= timedelta(days=1)
        and tf.sketch_containment(article.shingles, story.shingles, ARTICLE_TOKENS) >= 0.8
    )


def _cites_later_year(undated: EventSignature, dated: EventSignature) -> bool:
    """An undated text cannot cite a year that had not begun when the other was written."""
    if undated.dated or not dated.dated or not undated.years:
        return False
    first_day = datetime(max(undated.years), 1, 1, tzinfo=UTC)
    return first_day - dated.published_until > timedelta(days=31)


def _rounds_conflict(a: frozenset[str], b: frozenset[str]) -> bool:
    """Both name a year-round (or both an ordinal round) and none agree."""
    if not (a and b):
        return False
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
    article: EventSignature, story: EventSignature, context: Context | None = None
) -> _Evidence:
    """Points for everything the article and the story's defining report have in common.

    ``content`` counts only what names the occasion itself (rounds, dates, amounts, numbers,
    names, wording); states, closeness in time and the kind of cooperation do not.
    """
    context = context or Context()
    ev = _Evidence()
    shared_countries = article.countries & story.countries
    if not article.countries or not story.countries:
        # no state recognised (a script or spelling the gazetteer lacks) is no disagreement
        ev.add(0.3, "states unknown on one side")
    if shared_countries:
        # (sizes, not the sets: the union's and the differences')
        shared, ours, theirs = len(shared_countries), len(article.countries), len(story.countries)
        ev.add(0.6 * shared / (ours + theirs - shared), _same_countries(shared_countries))
        if ours > shared and theirs > shared:
            # Japan-Australia is not Japan-UK: each side has a partner the other lacks
            ev.score -= 0.8
            ev.reasons.append("other partners")
    _time_evidence(ev, article, story)
    before = ev.score
    if article.source is not None and article.source == story.source:
        # one outlet's items share its boilerplate (a sign-off, a show's blurb, the day's
        # date): only their headlines, names and kinds tell whether they report one occasion
        _headline_evidence(ev, article, story)
        anchors = ev.anchors
        _name_evidence(ev, article, story, context.common)
        ev.anchors = anchors  # an outlet's items name its regular subjects: no anchor
        if ev.score - before >= KIND_CONFIRMS:
            _kind_evidence(ev, article, story)
        ev.content = ev.score - before
        return ev
    # (each test below runs only where both sides have what it compares: none adds otherwise)
    if article.rounds and story.rounds:
        _round_evidence(ev, article, story, bool(shared_countries))
    if (article.dates or article.announced) and (story.dates or story.announced):
        _date_evidence(ev, article, story)
    if (
        article.amounts
        and story.amounts
        and (amounts := _shared_amounts(article.amounts, story.amounts))
    ):
        # not an anchor: the same amount recurs in every step of a deal
        ev.add(1.0, "same amount " + ",".join(map(_format_amount, amounts)))
    if article.codes and story.codes and (codes := sorted(article.codes & story.codes)):
        # a measured number (a magnitude, "374.9") marks the occasion; a designation ("CVN76")
        # only the platform, which comes back for the next visit
        measured = any(c[0].isdigit() for c in codes)
        ev.add(min(1.6, 0.8 * len(codes)), "same numbers " + ",".join(codes), anchor=measured)
    if article.counts and story.counts and (counts := sorted(article.counts & story.counts)):
        # "kills 11 people", "8,000 troops": content, never a key (a count recurs in follow-ups)
        ev.add(min(1.0, COUNT_POINTS * len(counts)), "same counts " + ",".join(map(str, counts)))
    _name_evidence(ev, article, story, context.common)
    _text_evidence(ev, article, story)
    if ev.score - before >= KIND_CONFIRMS:
        # the kind of occasion confirms other content, never replaces it: two pieces about
        # one week's talks share the states, the kind and a few words
        _kind_evidence(ev, article, story)
    ev.content = ev.score - before
    if article.cooperation_type and article.cooperation_type == story.cooperation_type:
        ev.add(0.3, f"both {article.cooperation_type}")
    return ev


def _date_evidence(ev: _Evidence, article: EventSignature, story: EventSignature) -> None:
    if dates := _certain_shared_dates(_all_dates(article), _all_dates(story)):
        if all(
            _on_publication_day(d, article) and _on_publication_day(d, story) for d in dates
        ) and not _across_languages_on_one_occasion(article, story):
            # "on Tuesday, 17 February" in two reports of that day: closeness in time, which
            # is counted already, not the date of an occasion
            ev.add(0.2, "same date as published " + ",".join(dates))
        else:
            ev.add(1.2, "same date " + ",".join(dates), anchor=True)
    elif dates := _shared_explicit_dates(_all_dates(article), _all_dates(story)):
        # "on 5 March" in an undated report and a report of 5 March: the occasion's day
        fits = _fits_publication(article, story) or _fits_publication(story, article)
        ev.add(0.6, "same day of year " + ",".join(dates), anchor=fits)


@functools.lru_cache(maxsize=1024)
def _same_countries(shared: frozenset[str]) -> str:
    return "same countries " + ",".join(sorted(shared))


def _time_evidence(ev: _Evidence, article: EventSignature, story: EventSignature) -> None:
    if not (article.dated and story.dated):
        return
    gap = _gap(article, story)
    if article.precise and story.precise:
        closeness = 1.0 if gap <= _ONE_DAY else 0.6 if gap <= _THREE_DAYS else 0.2
        if gap <= candidate_window:
            ev.add(closeness, f"{gap.days} days apart")
    elif not gap:
        # a report dated only to its month (or year) that overlaps the story: a weak hint
        longest = max(_span(article), _span(story))
        if longest <= _MONTH:
            ev.add(0.5, "same month")
        else:
            ev.add(0.3, "same year")


_ONE_DAY, _THREE_DAYS, _MONTH = timedelta(days=1), timedelta(days=3), timedelta(days=31)


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


def _kind_evidence(ev: _Evidence, article: EventSignature, story: EventSignature) -> None:
    """The same kind of occasion (talks, a strike, an election) between the same two or more
    states within a few days: one event, told in other words or another language. The kinds
    must be the same: talks held while a strait is closed are another report than the talks."""
    kinds = article.kinds
    if (
        kinds
        and kinds == story.kinds
        and len(article.countries) >= 2
        and article.countries == story.countries
        and (
            (article.precise and story.precise and _gap(article, story) <= PRECISE_SPAN)
            or _certain_shared_dates(_all_dates(article), _all_dates(story))
        )
    ):
        ev.add(KIND_POINTS, "same states, same kind of occasion " + ",".join(sorted(kinds)))


COUNT_POINTS = 0.5
KIND_POINTS = 1.2
KIND_CONFIRMS = 0.01


def _name_evidence(
    ev: _Evidence, article: EventSignature, story: EventSignature, common: frozenset[str]
) -> None:
    if article.name_skeletons.isdisjoint(story.name_skeletons):
        return  # (``_shared_names``' own first test: most pairs)
    every = tf.shared_names(article.names, story.names)
    every -= _first_words_of_other_runs(every, article.names, story.names)
    shared = every - common
    if not shared:
        return
    # counted within every shared key: "White House" left without its common "White" is
    # still one name, not "White House" and "House"
    people = distinct_names(shared, within=every)
    # a full name ("Ronald Reagan", "Fumio Kishida": a run of words) is more telling than a
    # word of it; a name that many recent stories carry was left out above
    full_name = any(k != p and k.startswith(p) for k in shared for p in shared)
    # one shared name (a president, a capital) is in half the news of the day: a hint only
    points = NAME_POINTS[min(people, len(NAME_POINTS) - 1)] + (FULL_NAME_POINTS if full_name else 0)
    # not a key to the occasion on their own: two leaders meet at more than one occasion
    ev.add(
        points,
        "same names " + ",".join(sorted(shared)[:6]),
        anchor=people >= 2 or full_name,
        key=False,
    )


def _first_words_of_other_runs(
    shared: set[str], names_a: frozenset[str], names_b: frozenset[str]
) -> set[str]:
    """Shared keys that both sides have only as the first word of runs they do not share:
    "Steve" of "Steve Inskeep" and of "Steve Witkoff" names two people, not one."""
    if not shared:
        return set()
    keys_a = {n.partition(".")[0] for n in names_a}
    keys_b = {n.partition(".")[0] for n in names_b}
    out = set()
    for first in shared:
        runs_a = {k for k in keys_a if k != first and k.startswith(first)}
        runs_b = {k for k in keys_b if k != first and k.startswith(first)}
        if runs_a and runs_b and not runs_a & runs_b & shared:
            out.add(first)
    return out


def _shared_names(article: EventSignature, story: EventSignature) -> set[str]:
    """``tf.shared_names`` of the two, skipping the count when no key is shared at all."""
    if article.name_skeletons.isdisjoint(story.name_skeletons):
        return set()
    return tf.shared_names(article.names, story.names)


NAME_POINTS = (0.0, 0.3, 1.0, 1.5, 2.0)
FULL_NAME_POINTS = 0.4


def distinct_names(keys: Iterable[str], within: Iterable[str] = ()) -> int:
    """How many names the keys stand for: a run of words ("Donald Trump" → "dnldt") comes
    with the key of its first word ("dnld", a prefix of it) and of a later one ("trmp").
    ``within``: the keys they were chosen from, whose first words still mark a run."""
    keys = set(keys)
    whole = keys | set(within)
    runs = {k for k in keys if any(k != p and k.startswith(p) for p in whole)}
    firsts = {p for p in keys if any(k != p and k.startswith(p) for k in runs)}
    return max(1, len(keys) - len(runs) - len(firsts)) if keys else 0


def _headline_evidence(ev: _Evidence, article: EventSignature, story: EventSignature) -> None:
    # the states are counted on their own ("same countries"), not again as headline words
    small, large = sorted((article.headline_terms, story.headline_terms), key=len)
    if not small:
        return
    overlap = len(small & large) / len(small)
    if overlap > 0.3:  # (``add`` keeps no reason of no points: not formatted)
        ev.add(3.0 * max(0.0, overlap - 0.3), f"same outlet, headline overlap {overlap:.2f}")


def _text_evidence(ev: _Evidence, article: EventSignature, story: EventSignature) -> None:
    overlap = tf.sketch_containment(article.tokens, story.tokens, ARTICLE_TOKENS, prior=TEXT_PRIOR)
    copied = tf.sketch_containment(
        article.shingles, story.shingles, ARTICLE_TOKENS, prior=TEXT_PRIOR
    )
    # unrelated reports on one topic already share some stems: only overlap above that counts
    # most of the wording in common: a rewrite or a translation-faithful retelling
    # (``add`` keeps no reason of no points: most pairs' reasons are not formatted)
    if overlap > TEXT_BASELINE:
        ev.add(
            3.0 * max(0.0, overlap - TEXT_BASELINE),
            f"text similarity {overlap:.2f}",
            anchor=overlap >= TEXT_ANCHOR,
            key=False,
        )
    if copied > TEXT_BASELINE / 3:
        ev.add(
            2.5 * max(0.0, copied - TEXT_BASELINE / 3),
            f"shared phrasing {copied:.2f}",
            anchor=copied >= 0.5,
            key=False,
        )


TEXT_BASELINE = 0.10
TEXT_ANCHOR = 0.45
TEXT_PRIOR = 2.0
"""Weight of words a text might have had: a headline of five words shares most of them by
chance ("tensions", "Iran", "Trump"), so a short text's overlap is shrunk towards none."""


def compare(article: EventSignature, story: EventSignature) -> tuple[float, str] | None:
    """Score and reason when the article may join the story, None when it may not."""
    assessed = _assess(article, story)
    return (assessed[0], assessed[1]) if assessed and assessed[2] else None


_Assessment = tuple[float, str, bool, bool]  # score, reason, passes, anchored


def _assess(
    article: EventSignature, story: EventSignature, context: Context | None = None
) -> _Assessment | None:
    """(score, reason, whether it passes the bar, whether it has an anchor), None if vetoed
    or if it could neither pass nor be anchored (``_shares_nothing``: ``best_match`` would
    skip it either way)."""
    if _shares_nothing(article, story) or veto(article, story):
        return None
    score, reasons, passes, anchored = _weigh(article, story, context)
    return score, "; ".join(reasons), passes, anchored


def _weigh(
    article: EventSignature, story: EventSignature, context: Context | None
) -> tuple[float, list[str], bool, bool]:
    """``_assess`` of a story that shares something with the article and is not vetoed, with
    its reasons not yet joined (``best_match`` joins only the best's)."""
    ev = evidence(article, story, context)
    matched = story
    if story.members and ev.score >= MEMBER_FLOOR:
        for member in story.members:
            if veto(article, member) is None:
                seen = evidence(article, member, context)
                if seen.score > ev.score:
                    seen.reasons.insert(0, "as a confirmed report")
                    ev, matched = seen, member
    # a report dated only to the month or year gets no credit for closeness in time and must
    # clear a higher bar, as an undated one must
    both_precise = article.precise and story.precise
    if both_precise:
        threshold = THRESHOLD_DATED
    elif article.dated and story.dated:
        threshold = THRESHOLD_COARSE
    else:
        threshold = THRESHOLD_UNDATED
    passes = (
        ev.score >= threshold
        and ev.content >= CONTENT_MIN
        and (both_precise or ev.anchors > 0)
        and (ev.key_anchors > 0 or _headlines_meet(article, matched))
    )
    return ev.score, ev.reasons, passes, ev.anchors > 0


def _shares_nothing(article: EventSignature, story: EventSignature) -> bool:
    """A cheap proof that the story (and each of its confirmed reports) gives the article no
    content and no anchor, so it cannot pass: ``evidence`` counts content and anchors only
    from a shared round, dates or amounts on both sides, shared codes, counts or names, and
    overlapping words, phrasing or headline words (kinds only confirm other content).
    One set test (``EventSignature.content``, kept on each signature): what it misses as
    "may share" is weighed in full, with the same outcome.
    Keep it in step with ``evidence`` (``tests/test_cluster.py`` checks it on its cases)."""
    return article.own_content.isdisjoint(story.content)


def _headlines_meet(article: EventSignature, story: EventSignature) -> bool:
    """Two headlines in one language share a word besides names of states: reports of one
    occasion name it ("Hormuz", "guiding principles"); two pieces of one week's news about a
    state ("tensions with Iran", "drills in Hormuz") need more than that (an anchor)."""
    if not (article.headline_terms and story.headline_terms):
        return True  # no headline on one side: nothing to compare
    if article.language and story.language and article.language != story.language:
        return True  # (a feed that names no language is taken to be in the other's)
    return len(article.headline_terms & story.headline_terms) >= HEADLINE_TERMS


HEADLINE_TERMS = 1

CONTENT_MIN = 1.0
"""What the occasion itself must contribute: states, the day and the kind of cooperation
together never make two reports one event."""


def best_match(
    article: EventSignature, candidates: Iterable[tuple[K, EventSignature]]
) -> Match[K] | None:
    """The candidate story the article belongs to, or None when none passes.

    Each candidate is the signature of a story's *defining report*, which does not change as
    reports join: an article joins by matching what the story is about, never by resembling
    whichever member is nearest (that is how unrelated reports chain into one story).
    An article without a precise date that fits another story about as well as the best is
    left alone: only its date would tell which occasion it reports. "Fits" counts any story
    sharing an anchor with it, even one just below the bar.
    """
    stories = list(candidates)
    context = Context.of(article, [story for _, story in stories])
    best: Match[K] | None = None
    runner_up = -math.inf
    content = article.own_content
    for key, story in stories:
        # ``_assess``: ``_shares_nothing`` (inline) or a veto
        if content.isdisjoint(story.content) or veto(article, story):
            continue
        score, reasons, passes, anchored = _weigh(article, story, context)
        if passes and (best is None or score > best.score):
            if best is not None:
                runner_up = max(runner_up, best.score)
            best = Match(key, round(score, 3), "; ".join(reasons))
        elif passes or anchored:
            runner_up = max(runner_up, score)
    if best is None:
        return None
    if not article.precise and runner_up > best.score - AMBIGUITY_MARGIN:
        return None
    return best


MEMBER_FLOOR = 1.2
"""What an article must share with a story's defining report itself (the same states within
days) before the story's confirmed reports are compared with it."""
MEMBER_SCORE = 3.0
"""A report that joined with this much evidence confirms the story: later reports may match it
(as long as they also meet ``MEMBER_FLOOR`` with the defining report)."""
MEMBERS = 6


def confirmed(story: EventSignature, report: EventSignature, match: Match[Any]) -> EventSignature:
    """The story's signature with a report that joined it strongly among its confirmed
    reports (at most ``MEMBERS``): unchanged otherwise."""
    if match.score < MEMBER_SCORE or len(story.members) >= MEMBERS or report.source == story.source:
        return story
    return dataclasses.replace(
        story, members=(*story.members, dataclasses.replace(report, members=()))
    )


@dataclass(frozen=True)
class Context:
    """What the candidate stories of one article say about it: names that many of them carry
    are in the news (a president, a capital), not the mark of one occasion."""

    common: frozenset[str] = frozenset()

    @classmethod
    def of(cls, article: EventSignature, stories: list[EventSignature]) -> Context:
        return cls(common_names(article, stories))


COMMON_NAME_STORIES = 3
"""A name that this many candidate stories also carry (a president, a capital, a team) is
in the news, not the mark of one occasion."""


def common_names(article: EventSignature, stories: Iterable[EventSignature]) -> frozenset[str]:
    """The article's names carried by at least ``COMMON_NAME_STORIES`` of the stories."""
    if not article.names:
        return frozenset()
    counts: dict[str, int] = {}
    names, skeletons = article.names, article.name_skeletons
    for story in stories:
        # ``_shared_names``, inline: most stories share no skeleton
        if skeletons.isdisjoint(story.name_skeletons):
            continue
        for key in tf.shared_names(names, story.names):
            counts[key] = counts.get(key, 0) + 1
    return frozenset(k for k, n in counts.items() if n >= COMMON_NAME_STORIES)


# ---------------------------------------------------------------------------------------------
# Screening stored candidates before decoding them (the poll's speed; no rule of its own)


ScreenRecord = tuple[int, int, frozenset[str], frozenset[str], frozenset[str]]
"""A ``Screen`` as ``Screening`` compares it (``Screen.record``): its first and last instants in
microseconds since the epoch, its states, round values and name skeletons."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_ALL_TIME = 1 << 62
"""Beyond any instant a ``datetime`` can hold, in microseconds from the epoch (either way): an
undated signature spans (-_ALL_TIME, _ALL_TIME), so it overlaps every other and no time test
applies to it, as ``veto`` tests time only when both are dated."""


def _micros(moment: datetime) -> int:
    """The instant in microseconds since the epoch: exact (a ``datetime`` counts in whole
    microseconds), so ints order and tie as the instants do. A naive time is read as UTC, as
    every signature's time is (``_aware``)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MICROSECOND


@dataclass(frozen=True, slots=True)
class Screen:
    """The few fields of a candidate story's signature that settle most candidates: its
    states, its publication span, its rounds and its names' skeletons (all its defining
    report's: ``confirmed`` only adds members, so a story's screen never changes). Read from
    the stored JSON (``from_json``) without building the rest of the signature; the poll
    reads only its ``record`` (``record_from_json``)."""

    countries: frozenset[str]
    dated: bool
    published_at: datetime
    published_until: datetime
    round_values: frozenset[str]
    name_skeletons: frozenset[str]

    @property
    def record(self) -> ScreenRecord:
        """The screen as ``Screening`` compares it."""
        first, last = _record_span(self.dated, self.published_at, self.published_until)
        return (first, last, self.countries, self.round_values, self.name_skeletons)

    @classmethod
    def of(cls, sig: EventSignature) -> Screen:
        return cls(
            sig.countries,
            sig.dated,
            sig.published_at,
            sig.published_until,
            sig.round_values,
            sig.name_skeletons,
        )

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Screen:
        """``Screen.of(EventSignature.from_json(d))``, reading only its fields (the same
        expressions as ``EventSignature.from_json``; a test checks they agree)."""
        get = d.get
        return cls(
            frozenset(get("countries", ())),
            bool(get("dated", True)),
            _aware(datetime.fromisoformat(d["from"])),
            _aware(datetime.fromisoformat(d["until"])),
            frozenset(r.partition(":")[2] for r in get("rounds", ())),
            frozenset(tf.name_skeleton(n) for n in get("names", ())),
        )

    @staticmethod
    def record_from_json(d: dict[str, Any]) -> ScreenRecord:
        """``Screen.from_json(d).record`` without the screen (a test checks they agree)."""
        get = d.get
        dated, start, end = bool(get("dated", True)), d["from"], d["until"]
        first = _micros(_aware(datetime.fromisoformat(start)))
        # most stories are dated to one instant: the same text, read once
        last = first if end == start else _micros(_aware(datetime.fromisoformat(end)))
        if not dated:
            first, last = -_ALL_TIME, _ALL_TIME
        return (
            first,
            last,
            frozenset(get("countries", ())),
            frozenset([r.partition(":")[2] for r in get("rounds", ())]),
            frozenset(map(tf.name_skeleton, get("names", ()))),
        )


def _record_span(dated: bool, first: datetime, last: datetime) -> tuple[int, int]:
    return (_micros(first), _micros(last)) if dated else (-_ALL_TIME, _ALL_TIME)


class Screening:
    """Which candidate stories cannot change ``best_match``'s decision for one article, told
    from their ``Screen`` alone, so the poll neither decodes nor assesses them.

    ``drops`` is True only for a story that (1) shares no name skeleton with the article, so
    ``common_names`` counts no name for it (``_shared_names`` is empty), and (2) is vetoed by
    ``veto``'s test of states (both name states and share none) or of time (both dated and
    further apart than ``candidate_window``, ``retrospective_window`` when they share a
    round): then ``_assess`` returns None and ``best_match`` skips it, so leaving it out of the
    candidates changes neither the context, the best match nor the runner-up. Keep it in step
    with ``veto`` (``tests/test_cluster.py`` checks it over its cases).

    It compares ``Screen.record``s: times as microseconds since the epoch, an undated side
    as spanning all time (no time test), and the window's ends precomputed for the article
    (``late``/``early``; ``late_round``/``early_round`` for a story sharing a round, the same
    as those when the article names no round). ``monitors.grouping.Candidates.ranked`` runs
    ``drops_record``'s test inline over a report's ranked stories (the poll's hottest loop);
    ``tests/test_grouping.py`` checks the two agree."""

    __slots__ = ("at", "countries", "early", "early_round", "late", "late_round", "rounds",
                 "skeletons", "until")  # fmt: skip

    def __init__(self, article: EventSignature) -> None:
        self.skeletons = article.name_skeletons
        self.countries = article.countries
        self.rounds = article.round_values
        if article.dated:
            self.at, self.until = _micros(article.published_at), _micros(article.published_until)
        else:
            self.at, self.until = -_ALL_TIME, _ALL_TIME
        # ``_gap(article, story) > limit`` compared as instants: no timedelta per story; a
        # bound past the calendar's end is past every story, as ``_gap`` could not exceed it
        window, retrospective = (
            candidate_window // _MICROSECOND,
            retrospective_window // _MICROSECOND,
        )
        self.late, self.early = self.until + window, self.at - window
        self.late_round, self.early_round = (
            (self.until + retrospective, self.at - retrospective)
            if self.rounds
            else (self.late, self.early)  # no round to share: the plain window
        )

    def drops(self, story: Screen) -> bool:
        return self.drops_record(story.record)

    def drops_record(self, story: ScreenRecord) -> bool:
        first, last, countries, rounds, skeletons = story
        if first > self.until:  # ``_gap``'s first case: the story is later
            vetoed = first > self.late and (
                first > self.late_round or self.rounds.isdisjoint(rounds)
            )
        elif last < self.at:  # its second: the story is earlier
            vetoed = last < self.early and (
                last < self.early_round or self.rounds.isdisjoint(rounds)
            )
        else:
            vetoed = False  # the spans overlap, or one side is undated
        if not vetoed and self.countries and countries:
            vetoed = self.countries.isdisjoint(countries)
        # a story sharing a name skeleton counts in ``common_names``, vetoed or not
        return vetoed and self.skeletons.isdisjoint(skeletons)


# ---------------------------------------------------------------------------------------------
# The candidate rule (one rule for the poll, `defwatch cluster`, `stories rebuild` and the bench)

COUNTRYLESS_KEY = "*"
CANDIDATE_LIMIT = 400
"""At most this many newest stories are compared with one article (a bound on the cost when a
key is in the news all week, e.g. a state at war)."""


def index_keys(sig: EventSignature) -> frozenset[str]:
    """Keys a story is filed under (from its defining report): each state ("c:AZ"), round
    ("r:2022"), code ("k:CVN76") and name ("n:krtl"); "*" for a report with no state."""
    keys = {f"c:{c}" for c in sig.countries}
    keys |= {f"r:{v}" for v in sig.round_values}
    keys |= {f"k:{c}" for c in sig.codes}
    keys |= {f"n:{tf.name_skeleton(n)}" for n in sig.names}
    if not sig.countries:
        keys.add(COUNTRYLESS_KEY)
    return frozenset(k[:80] for k in keys)


def lookup_keys(sig: EventSignature) -> dict[str, datetime | None]:
    """Keys to look an article up under, each with how far back (by the defining report's
    date) a story filed there could still take it: ``candidate_window``, or
    ``retrospective_window`` under a round's key; None (no limit) for an undated article.

    States, rounds, codes and names; an article without states also looks under "*".
    """
    return {key: _lookup_horizon(sig, key) for key in index_keys(sig)}


def _lookup_horizon(sig: EventSignature, key: str) -> datetime | None:
    if not sig.dated:
        return None
    return sig.published_at - (retrospective_window if key.startswith("r:") else candidate_window)


def filed_at(sig: EventSignature) -> datetime:
    """When a story is filed in the index: its defining report's last day. It never moves as
    reports join, so a story's window is bounded by what it is about."""
    return sig.published_until


# ---------------------------------------------------------------------------------------------
# When a batch row was published

_URL_DATE = re.compile(r"/((?:19|20)\d\d)[/-](\d\d)(?:[/-](\d\d))?(?:/|$|\D)")


def publication_span(
    published: str | None, url: str | None = None, text: str = ""
) -> tuple[datetime | None, datetime | None]:
    """When an input row was published, as a span: the ``published`` field ("YYYY",
    "YYYY-MM", "YYYY-MM-DD"), else a date in the URL, else a full date written in the text,
    else a round year ("Exercise-2024" is published in 2024); (None, None) when unknown."""
    if published:
        span = _span_from_parts(*[*published[:10].split("-"), None, None][:3])
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


__all__ = [
    "CANDIDATE_LIMIT",
    "COUNTRYLESS_KEY",
    "EventSignature",
    "Match",
    "Screen",
    "Screening",
    "best_match",
    "candidate_window",
    "compare",
    "confirmed",
    "filed_at",
    "index_keys",
    "is_garbled",
    "lookup_keys",
    "publication_span",
    "recurring_title_key",
    "retrospective_window",
    "signature",
    "veto",
]
