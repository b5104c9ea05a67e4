"""The batched store (``pipeline.store_classified`` + ``monitors.grouping``).

A feed's batch must place its reports exactly as storing them one call at a time does (the
candidate rule, the in-batch stories, the URL shortcut, redefinition by a cooperation
report), on both backends, in a number of statements that does not grow with the articles.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import delete, event, func, select

from monitors import grouping, pipeline, store
from monitors.db import INSERT_PAGE, open_database
from monitors.detect import cluster
from monitors.grouping import NEW_STORY_BASE, Candidates, Filing, KnownStory, merged_horizons
from monitors.models import Alert, Article, Feed, Story, StoryCountry, StoryKey
from monitors.regroup import row_entry

STREAM = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "stream-dev.jsonl"
T0 = datetime(2026, 11, 20, tzinfo=UTC)
SIG = cluster.signature("Talks", "", published_at=T0, language="en", countries=("AZ",))


def at(days: int) -> datetime:
    return T0 + timedelta(days=days)


@pytest.mark.parametrize(
    ("lookups", "expected"),
    [
        pytest.param([{"c:AZ": at(-8)}], {"c:AZ": at(-8)}, id="one report: its horizons"),
        pytest.param(
            [{"c:AZ": at(-8)}, {"c:AZ": at(-10), "*": at(-1)}],
            {"c:AZ": at(-10), "*": at(-1)},
            id="shared key: the oldest horizon",
        ),
        pytest.param(
            [{"c:AZ": at(-8)}, {"c:AZ": None}], {"c:AZ": None}, id="an undated report: any time"
        ),
    ],
)
def test_merged_horizons(lookups, expected) -> None:
    assert merged_horizons(lookups) == expected


FILINGS = [
    Filing(1, "c:AZ", at(-9)),
    Filing(2, "c:AZ", at(-3)),
    Filing(3, "c:AZ", at(-3)),
    Filing(3, "n:hsnf", at(-3)),
    Filing(4, "n:hsnf", at(-1)),
    Filing(5, "c:AZ", at(-2)),
]
STORED = {n: KnownStory(False, decoded=SIG) for n in (1, 2, 3, 4)} | {5: KnownStory(False)}


@pytest.mark.parametrize(
    ("lookup", "limit", "expected"),
    [
        pytest.param({"c:AZ": at(-8)}, 10, [3, 2], id="horizon cuts the old, ties by id"),
        pytest.param({"c:AZ": None}, 10, [3, 2, 1], id="undated: any time"),
        pytest.param({"c:AZ": at(-8), "n:hsnf": at(-8)}, 10, [4, 3, 2], id="union, newest first"),
        pytest.param({"c:AZ": None}, 2, [3], id="limit counts stories without a signature"),
        pytest.param({"c:VN": None}, 10, [], id="nothing filed"),
    ],
)
def test_ranked_candidates(lookup, limit, expected) -> None:
    found = Candidates.of(FILINGS, STORED).ranked(lookup, limit=limit)
    assert [story_id for story_id, _ in found] == expected


FILING_PAIRS = [
    (datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), 5),
    (datetime(1970, 1, 1, tzinfo=UTC), 0),
    (datetime(1970, 1, 1, tzinfo=UTC), 1),
    (datetime(2026, 3, 1, 8, 30, tzinfo=UTC), 2),
    (datetime(2026, 3, 1, 8, 30, tzinfo=UTC), NEW_STORY_BASE + 3),
    (datetime(2026, 3, 1, 8, 30, 0, 1, tzinfo=UTC), 1),
    (datetime(9999, 12, 31, 23, 59, tzinfo=UTC), (1 << 63) - 1),
    (datetime(1, 1, 2, tzinfo=UTC), 9),
]


@pytest.mark.parametrize("pair", FILING_PAIRS, ids=lambda pair: f"{pair[0]:%Y-%m-%d}+{pair[1]}")
def test_a_filing_number_gives_back_its_time_and_story(pair: tuple[datetime, int]) -> None:
    number = grouping.filing_number(*pair)
    assert grouping.filing_parts(number) == pair
    assert (
        grouping.filing_time(pair[0])
        <= number
        < grouping.filing_time(pair[0] + timedelta(microseconds=1))
    )


def test_filing_numbers_order_as_their_pairs() -> None:
    pairs = FILING_PAIRS * 2 + [(at(-days), days) for days in range(30)]
    random.Random(4).shuffle(pairs)
    by_number = sorted(pairs, key=lambda pair: grouping.filing_number(*pair))
    assert by_number == sorted(pairs)


def test_a_story_started_in_the_batch_ranks_above_stored_ones_of_its_day() -> None:
    candidates = Candidates.of(FILINGS, STORED)
    new = candidates.file(SIG, cooperation=False, keys=["c:AZ"], filed_at=at(-3))
    assert new == NEW_STORY_BASE
    found = candidates.ranked({"c:AZ": at(-8)}, limit=10)
    assert [story_id for story_id, _ in found] == [new, 3, 2]


def moved(sig: cluster.EventSignature, days: int, **changes: object) -> cluster.EventSignature:
    shift = timedelta(days=days)
    return dataclasses.replace(
        sig, published_at=sig.published_at + shift, published_until=sig.published_until + shift,
        **changes,
    )  # fmt: skip


def screened_stories() -> dict[int, KnownStory]:
    return {
        11: KnownStory(False, raw=json.dumps(moved(SIG, -2).to_json())),  # compared
        12: KnownStory(False, raw=json.dumps(moved(SIG, 20).to_json())),  # weeks later: dropped
        13: KnownStory(False, decoded=moved(SIG, 20, names=frozenset({"hsnf"}))),  # a name: kept
        14: KnownStory(
            False, raw=json.dumps(moved(SIG, -1, countries={"VN"}).to_json())
        ),  # dropped
        15: KnownStory(False, raw="{}"),  # no signature: never a candidate
    }


SCREEN_FILINGS = [Filing(n, "c:AZ", at(-n + 10)) for n in range(11, 16)]


def test_ranking_with_the_report_leaves_out_what_the_screen_drops() -> None:
    """``ranked(article=…)`` is the plain ranking less the stories ``cluster.Screening``
    drops, in the same order, with those stories' signatures left undecoded; the limit still
    counts the dropped ones (rule 2 ranks before the screen)."""
    report = moved(SIG, 0, names=frozenset({"hsnf"}))
    plain = Candidates.of(SCREEN_FILINGS, screened_stories()).ranked({"c:AZ": None}, limit=10)
    stories = screened_stories()
    screened = Candidates.of(SCREEN_FILINGS, stories).ranked(
        {"c:AZ": None}, limit=10, article=report
    )
    assert [n for n, _ in plain] == [11, 12, 13, 14]
    assert [n for n, _ in screened] == [11, 13]
    assert stories[12].decoded is None and stories[14].decoded is None
    assert cluster.best_match(report, screened) == cluster.best_match(report, plain)
    limited = Candidates.of(SCREEN_FILINGS, stories).ranked({"c:AZ": None}, limit=2, article=report)
    assert [n for n, _ in limited] == [11]


def test_a_grown_story_is_screened_by_its_new_signature() -> None:
    known = KnownStory(False, raw=json.dumps(moved(SIG, 20).to_json()))
    assert known.screen() == cluster.Screen.of(moved(SIG, 20))
    assert known.screen_record() == cluster.Screen.of(moved(SIG, 20)).record
    grown = moved(SIG, 0)
    known.replace(grown)
    assert known.signature() is grown and known.screen() == cluster.Screen.of(grown)
    assert known.screen_record() == cluster.Screen.of(grown).record


# --- the screen's fast path against the rule it stands for ------------------------------------
#
# ``Candidates.ranked`` runs ``cluster.Screening``'s test inline on records (times as
# microseconds, an undated side as all time); these compare it with the rule as
# ``Screening``'s docstring states it, read straight off ``veto``'s tests, and with the plain
# ranking (a set of the stories seen, a merge of the keys' lists), over generated stories
# around one day: undated, without states, sharing a round (the retrospective window), a name
# skeleton, spans that overlap, a second either side of each window's end.

US = timedelta(microseconds=1)
OFFSETS = (
    timedelta(0), timedelta(days=3), timedelta(days=8), timedelta(days=8) + US,
    timedelta(days=30), timedelta(days=45), timedelta(days=45) + US, timedelta(days=90),
)  # fmt: skip
STATES = (frozenset(), frozenset({"AZ"}), frozenset({"AZ", "TR"}), frozenset({"IR"}))
ROUNDS = (frozenset(), frozenset({"x:2022"}), frozenset({":2022"}), frozenset({"y:#9"}))
NAMES = (frozenset(), frozenset({"trmp"}), frozenset({"trmp.a", "krtl"}), frozenset({"hsnf"}))


def generated(count: int, seed: int) -> list[cluster.EventSignature]:
    """Signatures spread around ``T0`` over the features the screen reads."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        offset = rng.choice(OFFSETS) * rng.choice((1, -1))
        start = T0 + offset
        span = rng.choice((timedelta(0), timedelta(0), timedelta(days=30)))  # a month-dated one
        dated = rng.random() > 0.15
        out.append(
            dataclasses.replace(
                SIG,
                countries=rng.choice(STATES),
                rounds=rng.choice(ROUNDS),
                names=rng.choice(NAMES),
                dated=dated,
                precise=dated and not span,
                published_at=start if dated else datetime(1970, 1, 1, tzinfo=UTC),
                published_until=start + span if dated else datetime(1970, 1, 1, tzinfo=UTC),
            )
        )
    return out


def reference_drops(article: cluster.EventSignature, story: cluster.EventSignature) -> bool:
    """``Screening``'s rule, from ``veto``'s own tests: no shared name skeleton, and a veto of
    states or of time (``_gap`` beyond the window, the retrospective one if a round is shared)."""
    if not article.name_skeletons.isdisjoint(story.name_skeletons):
        return False
    if article.countries and story.countries and not article.countries & story.countries:
        return True
    if not (article.dated and story.dated):
        return False
    shared_round = bool(article.round_values & story.round_values)
    limit = cluster.retrospective_window if shared_round else cluster.candidate_window
    return cluster._gap(article, story) > limit


def reference_ranked(
    candidates: Candidates, lookup: dict[str, datetime | None], limit: int,
    article: cluster.EventSignature,
) -> list[tuple[int, cluster.EventSignature]]:  # fmt: skip
    """Rule 2 step by step: every filing within its horizon, newest first (then by id), each
    story once, the first ``limit`` stories, less those without a signature and those the
    rule above drops."""
    filings = sorted(
        (
            (filed, story_id)
            for key, since in lookup.items()
            for filed, story_id in map(grouping.filing_parts, candidates.by_key.get(key, []))
            if since is None or filed >= since
        ),
        reverse=True,
    )
    seen: list[int] = []
    for _, story_id in filings:
        if story_id not in seen:
            seen.append(story_id)
    out = []
    for story_id in seen[:limit]:
        known = candidates.stories.get(story_id)
        signature = None if known is None else grouping.decode_signature(known.raw or "{}")
        if known is not None and known.decoded is not None:
            signature = known.decoded
        if signature is not None and not reference_drops(article, signature):
            out.append((story_id, signature))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_screening_drops_what_its_rule_drops(seed: int) -> None:
    sigs = generated(120, seed)
    dropped = 0
    for a in sigs:
        screening = cluster.Screening(a)
        for b in sigs:
            expected = reference_drops(a, b)
            assert screening.drops(cluster.Screen.of(b)) is expected, (a, b)
            dropped += expected
    assert 0 < dropped < len(sigs) ** 2  # both outcomes are exercised


@pytest.mark.parametrize(
    ("article_at", "story_at"),
    [
        pytest.param(datetime.max.replace(tzinfo=UTC) - timedelta(days=1), datetime.max,
                     id="a window past the calendar's end"),
        pytest.param(datetime.min.replace(tzinfo=UTC) + timedelta(days=1), datetime.min,
                     id="a window before its start"),
        pytest.param(T0, T0 - timedelta(days=9), id="a story before the window"),
    ],
)  # fmt: skip
def test_screening_at_the_ends_of_the_calendar(article_at: datetime, story_at: datetime) -> None:
    article = dataclasses.replace(SIG, published_at=article_at, published_until=article_at)
    story_at = story_at.replace(tzinfo=UTC)
    story = dataclasses.replace(SIG, published_at=story_at, published_until=story_at)
    assert cluster.Screening(article).drops(cluster.Screen.of(story)) is reference_drops(
        article, story
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("limit", [1, 7, 400])
def test_ranked_is_the_plain_ranking_less_what_the_rule_drops(seed: int, limit: int) -> None:
    """Stories stored as text and decoded ones, a story without a signature and a filing of
    a story not read, keys shared by several stories and stories under several keys."""
    rng = random.Random(seed)
    sigs = generated(160, seed)
    filings, stories = [], {}
    for story_id, sig in enumerate(sigs, start=1):
        for key in cluster.index_keys(sig):
            filings.append(Filing(story_id, key, T0 + timedelta(hours=rng.randrange(-2000, 2000))))
        if story_id % 2:
            stories[story_id] = KnownStory(False, raw=json.dumps(sig.to_json()))
        else:
            stories[story_id] = KnownStory(False, decoded=sig)
    stories[1] = KnownStory(False, raw="{}")  # no signature
    del stories[2]  # filed but not read
    batch = Candidates.of(filings, stories)  # one batch's candidates, asked by every report
    for article in generated(40, seed + 100):
        for lookup in (cluster.lookup_keys(article), dict.fromkeys(cluster.lookup_keys(article))):
            candidates = Candidates.of(filings, stories)
            expected = reference_ranked(candidates, lookup, limit, article)
            assert batch.ranked(lookup, limit=limit, article=article) == expected
            found = candidates.ranked(lookup, limit=limit, article=article)
            assert [n for n, _ in found] == [n for n, _ in expected], (article, lookup)
            assert [s for _, s in found] == [s for _, s in expected]
            assert cluster.best_match(article, found) == cluster.best_match(article, expected)


@pytest.mark.parametrize(
    ("extra", "kept"),
    [
        pytest.param({}, [], id="every story later: none"),
        pytest.param({21: moved(SIG, 30, names=frozenset({"hsnf"}))}, [21],
                     id="a later story sharing a name: kept"),
        pytest.param({21: dataclasses.replace(SIG, dated=False)}, [21],
                     id="an undated story: kept"),
        pytest.param({21: moved(SIG, 2)}, [21], id="a story within the window: kept"),
    ],
)  # fmt: skip
def test_a_report_older_than_its_candidates_keeps_only_what_the_screen_keeps(
    extra: dict[int, cluster.EventSignature], kept: list[int]
) -> None:
    """A backlog's report: its keys hold only stories weeks after it, which the screen drops
    together (``Candidates._all_later``) unless one shares a name, is undated or is near."""
    article = dataclasses.replace(SIG, names=frozenset({"hsnf"}))
    stories = {n: KnownStory(False, raw=json.dumps(moved(SIG, 20 + n).to_json())) for n in (1, 2)}
    stories[3] = KnownStory(False, raw="{}")  # no signature
    stories.update({n: KnownStory(False, decoded=sig) for n, sig in extra.items()})
    filings = [Filing(n, "c:AZ", at(20 + n)) for n in [*stories, 4]]  # 4: filed, not read
    found = Candidates.of(filings, stories).ranked({"c:AZ": at(-8)}, limit=10, article=article)
    assert [n for n, _ in found] == kept
    assert found == reference_ranked(Candidates.of(filings, stories), {"c:AZ": at(-8)}, 10, article)


def test_a_screen_record_read_from_text_is_the_screens() -> None:
    for sig in generated(60, 7):
        stored = json.loads(json.dumps(sig.to_json()))
        record = cluster.Screen.record_from_json(stored)
        assert record == cluster.Screen.from_json(stored).record == cluster.Screen.of(sig).record
        assert KnownStory(False, raw=json.dumps(stored)).screen_record() == record
        assert KnownStory(False, decoded=sig).screen_record() == record
    assert KnownStory(False, raw="{}").screen_record() == () == KnownStory(False).screen_record()


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('{"countries": ["AZ"], "amounts": [1500000000.0, 0.1]}', id="plain"),
        pytest.param(
            '{"counts": [123456789012345678901234567890]}', id="an integer beyond 64 bits"
        ),
        pytest.param('{"counts": [-9223372036854775809]}', id="below 64 bits"),
        pytest.param('{"amounts": [123456789012345678901234567]}', id="a huge amount"),
        pytest.param(
            '{"size": 2, "members": [{"years": [2024, 123456789012345678901234567]}]}',
            id="a member's integer beyond 64 bits",
        ),
        pytest.param('{"amounts": [NaN, Infinity]}', id="NaN as json writes it"),
        pytest.param('{"names": ["\\ud800x"]}', id="a lone surrogate"),
        pytest.param('{"names": ["\\u00e9", "ж"], "a": 1, "a": 2}', id="escapes, a repeated key"),
        pytest.param(
            '{"dated": false, "from": "2026-11-20T00:00:00+00:00", "countries": ["AZ"], '
            '"names": ["x"], "names": ["trmp.a"], "counts": [123456789012345678901234567890]}',
            id="a screen's fields beside a huge integer, a repeated key",
        ),
    ],
)
def test_stored_text_is_read_as_json_reads_it(text: str) -> None:
    assert repr(grouping._loads(text)) == repr(json.loads(text))
    # what a screen's record reads (``decode_record``): no number among it
    fields = ("countries", "dated", "from", "until", "rounds", "names")
    text_fields = grouping._loads_text_fields(text)
    assert repr([text_fields.get(f) for f in fields]) == repr(
        [json.loads(text).get(f) for f in fields]
    )


def test_a_signature_holds_numbers_only_where_decoding_checks_them() -> None:
    """``grouping._loads`` checks the numbers of ``_NUMBER_FIELDS`` only: every number a
    stored signature holds must be in one of them."""
    sig = cluster.signature(
        "Exercise Sea Breeze 2024 ends: 8,000 troops, $1.5bn deal, F-16 and 374.9 km",
        "Ministers met on 5 March 2024 and said 11 people died in 2023.",
        published_at=T0, language="en", countries=("UA", "US"),
    )  # fmt: skip
    stored = dataclasses.replace(sig, members=(dataclasses.replace(sig, source="b"),)).to_json()

    def numbers(value: object, field: str) -> set[str]:
        if isinstance(value, dict):
            return set().union(*(numbers(v, k) for k, v in value.items()))
        if isinstance(value, list):
            return set().union(*(numbers(v, field) for v in value))
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        return {field} if is_number else set()

    assert sig.years and sig.counts and sig.amounts
    assert numbers(stored, "") == set(grouping._NUMBER_FIELDS)


def stream_items(count: int) -> list[pipeline.ClassifiedEntry]:
    rows = [json.loads(line) for line in STREAM.read_text(encoding="utf-8").splitlines()[:count]]
    # with their URLs (the row reader drops them): a page seen twice is one story by URL
    entries = [dataclasses.replace(row_entry(i, row)[0], url=row.get("url")) for i, row in
               enumerate(rows)]  # fmt: skip
    return pipeline.classify_entries(entries)


async def stored_grouping(url: str, batches: list[list[pipeline.ClassifiedEntry]]):
    """Store ``batches`` (one transaction each) in a fresh database; what was stored, and the
    most statements one batch took."""
    engine, sessions = await open_database(url)
    counted: list[int] = [0]

    def count(*_args: object) -> None:
        counted[-1] += 1

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with sessions.begin() as session:
            for model in (Alert, StoryKey, StoryCountry, Article, Story, Feed):
                await session.execute(delete(model))  # the previous run's rows
            await store.add_feed(session, "https://feed.example/a.xml", now=T0)
            feed_id = await session.scalar(select(func.max(Feed.id)))
        assert feed_id is not None
        for batch in batches:
            counted.append(0)
            outcome = pipeline.FeedOutcome(feed_id=feed_id, url="", status="ok")
            async with sessions.begin() as session:
                await pipeline.store_classified(session, feed_id, batch, T0, outcome)
        most = max(counted[1:])
        async with sessions() as session:
            members = defaultdict(set)
            for key, story_id in await session.execute(select(Article.entry_key, Article.story_id)):
                members[story_id].add(key)
            stories = {
                frozenset(members[s.id]): (
                    s.article_count,
                    s.is_defence_cooperation,
                    s.title,
                    tuple(
                        await session.execute(
                            select(StoryCountry.code, StoryCountry.role)
                            .where(StoryCountry.story_id == s.id)
                            .order_by(StoryCountry.code)
                        )
                    ),
                )
                for s in await session.scalars(select(Story))
            }
    finally:
        await engine.dispose()
    return stories, most


@pytest.mark.skipif(not STREAM.is_file(), reason="../shared/eval/stream-dev.jsonl absent")
async def test_one_batch_groups_as_one_article_at_a_time(database_url: str) -> None:
    items = stream_items(150)
    assert len(items) == 150
    batched, statements = await stored_grouping(database_url, [items])
    one_by_one, _ = await stored_grouping(database_url, [[item] for item in items])
    assert batched == one_by_one
    assert len(batched) < len(items)  # some reports did join stories
    # per feed: about a dozen statements, plus a page of rows per INSERT_PAGE articles and stories
    pages = -(-len(items) // INSERT_PAGE)
    assert statements <= 14 + 2 * pages


@pytest.mark.skipif(not STREAM.is_file(), reason="../shared/eval/stream-dev.jsonl absent")
def test_the_pool_does_not_sign_a_report_whose_page_is_stored() -> None:
    entries = [item.entry for item in stream_items(3)]
    stored = {entries[1].url} if entries[1].url else set()
    assert stored, "the stream's rows carry URLs"
    items = pipeline.classify_entries(entries, None, stored)
    assert [item.signature is None for item in items] == [False, True, False]
    assert items[1].signed() == pipeline.sign(entries[1], items[1].verdict)


def unsigned_copies(items: list[pipeline.ClassifiedEntry]) -> list[pipeline.ClassifiedEntry]:
    """``items`` as the pool hands them over when each page was stored before its copies."""
    seen: set[str] = set()
    out = []
    for item in items:
        url = item.entry.url
        out.append(dataclasses.replace(item, signature=None) if url and url in seen else item)
        if url:
            seen.add(url)
    return out


@pytest.mark.skipif(not STREAM.is_file(), reason="../shared/eval/stream-dev.jsonl absent")
async def test_unsigned_copies_of_stored_pages_group_as_signed_ones(database_url: str) -> None:
    items = stream_items(150)
    # a second feed's copy (its own entry key) of every fifth page, after the page
    copies = [
        dataclasses.replace(i, entry=dataclasses.replace(i.entry, entry_key=f"copy-{n}"))
        for n, i in enumerate(items[::5])
        if i.entry.url
    ]
    items = [x for pair in itertools.zip_longest(items, copies) for x in pair if x is not None]
    unsigned = unsigned_copies(items)
    assert sum(item.signature is None for item in unsigned) >= len(copies) > 10
    signed, _ = await stored_grouping(database_url, [[item] for item in items])
    batched, _ = await stored_grouping(database_url, [unsigned])
    one_by_one, _ = await stored_grouping(database_url, [[item] for item in unsigned])
    assert batched == signed
    assert one_by_one == signed


@pytest.mark.skipif(not STREAM.is_file(), reason="../shared/eval/stream-dev.jsonl absent")
@pytest.mark.parametrize("pool_signed", [True, False], ids=["signed copy", "unsigned copy"])
async def test_a_cooperation_copy_of_a_stored_page_redefines_its_story(
    database_url: str, pool_signed: bool
) -> None:
    item = next(i for i in stream_items(150) if i.entry.url)
    item = dataclasses.replace(
        item, verdict=dataclasses.replace(item.verdict, defence_cooperation=True)
    )
    plain = dataclasses.replace(
        item,
        entry=dataclasses.replace(item.entry, entry_key="plain", title="Plain page"),
        verdict=dataclasses.replace(item.verdict, defence_cooperation=False),
    )
    copy = dataclasses.replace(item, signature=item.signature if pool_signed else None)
    stories, _ = await stored_grouping(database_url, [[plain], [copy]])
    [(count, cooperation, title, _countries)] = stories.values()
    assert (count, cooperation, title) == (2, True, item.entry.title)
