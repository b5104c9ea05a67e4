"""How fast the poll's own clustering stage places articles with N stories stored.

    python bench/bench_cluster.py [--sizes 10000,100000] [--articles 300] [--naive-sample 10]

For each N a SQLite file database (migrated as on start) is pre-filled with N synthetic stories
(rows of ``story`` and their ``story_key`` index entries, as ``store.create_story`` writes
them) at a steady 50 new stories a day (N = 100 000 is about five and a half years), spread
over 40 states with a skewed choice of pairs, names, words, dates, rounds and amounts. Then a
stream of new articles published after the last story - half follow-up reports of recent
stories, half new occasions - goes through ``pipeline.store_classified``, one transaction per
article: the very code a poll runs (insert the article, look up candidates by
``cluster.lookup_keys``, ``cluster.best_match``, join or create, attach, outbox).

The baseline in the same run compares each of a sample of those articles with *every* stored
story (``best_match`` over all N signatures, decoded from the database), which is what
clustering without the key index costs. Times are medians of this process's CPU time per
article (on a shared machine wall time mostly measures the neighbours; SQLite's commit wait
is not included). A flat "poll µs/art" column across sizes is the point.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import random
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, select

from monitors import grouping, pipeline, store
from monitors.db import open_database
from monitors.detect import cluster
from monitors.detect.cluster import EventSignature, best_match
from monitors.domain import Classification, NormalisedEntry
from monitors.models import Feed, Story, StoryKey

STATES = [
    "AZ", "TR", "RU", "CN", "IN", "PK", "US", "VN", "JP", "AU", "GB", "FR", "DE", "IR", "BY",
    "PH", "KR", "IL", "EG", "SA", "AE", "UA", "PL", "KZ", "UZ", "GE", "AM", "ID", "MY", "TH",
    "BR", "NG", "ZA", "ET", "KE", "DZ", "MA", "IT", "ES", "GR",
]  # fmt: skip
STORIES_PER_DAY = 50
START = datetime(2020, 1, 1, tzinfo=UTC)


class Synth:
    """Deterministic generator of realistic-looking signatures."""

    def __init__(self, seed: int = 8) -> None:
        self.rng = random.Random(seed)
        letters = "bcdfhklmnprstvz"
        self.names = ["".join(self.rng.choice(letters) for _ in range(4)) for _ in range(20_000)]
        self.words = [f"w{i}" for i in range(30_000)]
        # some busy states, a long tail of rare ones
        self.state_weights = [1 / (i + 1) ** 0.5 for i in range(len(STATES))]

    def zipf_pick(self, items: list[str], k: int) -> set[str]:
        n = len(items)
        return {items[min(n - 1, int(self.rng.paretovariate(1.1)) - 1)] for _ in range(k)}

    def states(self) -> frozenset[str]:
        return frozenset(self.rng.choices(STATES, self.state_weights, k=2))

    def story(self, when: datetime) -> EventSignature:
        rng = self.rng
        day = when.strftime("%Y-%m-%d")
        words = self.zipf_pick(self.words, 25) | set(rng.sample(self.words, 15))
        ordered = sorted(words)
        return EventSignature(
            countries=self.states(),
            cooperation_type=rng.choice(["exercise", "meeting_visit", "arms_transfer", None]),
            published_at=when,
            published_until=when + timedelta(hours=rng.randint(0, 72)),
            dated=True,
            precise=True,
            language=rng.choice(["en", "en", "en", "ru", "az", "zh"]),
            rounds=frozenset(
                [f"ex{rng.randint(1, 300)}:{when.year}"] if rng.random() < 0.1 else []
            ),
            years=frozenset({when.year}),
            # a dateline or a written-out date in a third of the reports
            dates=frozenset([day] if rng.random() < 0.3 else []),
            amounts=frozenset([float(rng.randint(1, 900) * 1e6)] if rng.random() < 0.1 else []),
            codes=frozenset([f"CVN{rng.randint(60, 80)}"] if rng.random() < 0.05 else []),
            names=frozenset(rng.sample(self.names, rng.randint(2, 8))),
            tokens=frozenset(words),
            shingles=frozenset(f"{a} {b}" for a, b in itertools.pairwise(ordered)),
        )

    def follow_up(self, story: EventSignature, when: datetime) -> EventSignature:
        """Another outlet's report of a stored story: most evidence kept, some words changed."""
        keep = set(self.rng.sample(sorted(story.tokens), k=max(1, len(story.tokens) // 2)))
        return replace(
            story,
            published_at=when,
            published_until=when,
            tokens=frozenset(keep | self.zipf_pick(self.words, 20)),
            names=frozenset(self.rng.sample(sorted(story.names), k=max(1, len(story.names) - 1))),
        )


def prefill_rows(n: int, synth: Synth) -> list[tuple[int, EventSignature]]:
    return [(i + 1, synth.story(START + timedelta(days=i / STORIES_PER_DAY))) for i in range(n)]


async def prefill(session: Any, stored: list[tuple[int, EventSignature]]) -> None:
    """Write the stories as ``store.create_story`` would, in bulk."""
    for start in range(0, len(stored), 5000):
        chunk = stored[start : start + 5000]
        await session.execute(
            insert(Story),
            [
                {"id": sid, "title": f"story {sid}", "published_at": sig.published_at,
                 "first_seen_at": sig.published_at, "last_seen_at": sig.published_at,
                 "signature": sig.to_json(), "article_count": 1}
                for sid, sig in chunk
            ],
        )  # fmt: skip
        await session.execute(
            insert(StoryKey),
            [
                {"story_id": sid, "key": key, "filed_at": cluster.filed_at(sig)}
                for sid, sig in chunk
                for key in cluster.index_keys(sig)
            ],
        )


def stream(
    stored: list[tuple[int, EventSignature]], synth: Synth, count: int
) -> list[tuple[int | None, EventSignature]]:
    """(story it reports or None for a new occasion, article), published after the archive.

    A follow-up reports a stored story from the last three days.
    """
    last = stored[-1][1].published_at
    recent = stored[-STORIES_PER_DAY * 3 :]
    articles: list[tuple[int | None, EventSignature]] = []
    for i in range(count):
        when = last + timedelta(days=i / STORIES_PER_DAY)
        if i % 2:
            story_id, story = synth.rng.choice(recent)
            articles.append((story_id, synth.follow_up(story, when)))
        else:
            articles.append((None, synth.story(when)))
    return articles


def classified(i: int, sig: EventSignature) -> pipeline.ClassifiedEntry:
    entry = NormalisedEntry(
        entry_key=f"bench-{i}", url=None, title=f"article {i}", summary="",
        published_at=sig.published_at, language=sig.language,
    )  # fmt: skip
    verdict = Classification(False, 0.1, tuple(sorted(sig.countries)), (), sig.cooperation_type)
    return pipeline.ClassifiedEntry(entry, verdict, sig)


async def run(n: int, count: int, naive_sample: int) -> dict[str, float]:
    synth = Synth()
    stored = prefill_rows(n, synth)
    articles = stream(stored, synth, count)
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as folder:
        engine, sessions = await open_database(f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            async with sessions.begin() as session:
                await prefill(session, stored)
                feed = Feed(url="https://bench.example/rss", created_at=START)
                session.add(feed)
                await session.flush()
                feed_id = feed.id
            gc.collect()
            candidates = []
            async with sessions() as session:
                for _, sig in articles[:100]:
                    # The poll's own candidate rule (monitors.grouping over store's filings).
                    lookup = cluster.lookup_keys(sig)
                    filings = await store.candidate_filings(
                        session, lookup, limit=cluster.CANDIDATE_LIMIT
                    )
                    known = await store.known_stories(session, {f.story_id for f in filings})
                    ranked = grouping.Candidates.of(filings, known).ranked(
                        lookup, limit=cluster.CANDIDATE_LIMIT
                    )
                    candidates.append(len(ranked))
            durations, outcomes = [], []
            for i, (truth, sig) in enumerate(articles):
                outcome = pipeline.FeedOutcome(feed_id=feed_id, url="", status="ok")
                started = time.process_time()
                async with sessions.begin() as session:
                    await pipeline.store_classified(
                        session, feed_id, [classified(i, sig)], sig.published_at, outcome
                    )
                durations.append(time.process_time() - started)
                outcomes.append((truth, outcome.new_story_ids))
            naive_durations = []
            async with sessions() as session:
                for _, sig in articles[:naive_sample]:
                    started = time.process_time()
                    rows = await session.execute(select(Story.id, Story.signature))
                    best_match(sig, ((sid, EventSignature.from_json(js)) for sid, js in rows))
                    naive_durations.append(time.process_time() - started)
        finally:
            await engine.dispose()
    indexed = statistics.median(durations)
    naive = statistics.median(naive_durations) if naive_durations else float("nan")
    follow_ups = [not new for truth, new in outcomes if truth is not None]
    merged = [not new for truth, new in outcomes if truth is None]
    return {
        "stored": n,
        "candidates": statistics.mean(candidates),
        "indexed_us": indexed * 1e6,
        "indexed_rate": 1 / indexed,
        "naive_us": naive * 1e6,
        "naive_rate": 1 / naive,
        "follow_ups_joined": sum(follow_ups) / len(follow_ups),
        "new_merged": sum(merged) / len(merged),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="stored stories, comma-separated")
    parser.add_argument("--articles", type=int, default=300, help="new articles per size")
    parser.add_argument("--naive-sample", type=int, default=10, help="articles timed naively")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    header = (
        f"{'stored':>9} {'cand/art':>9} {'poll µs/art':>12} {'poll art/s':>11} "
        f"{'naive µs/art':>13} {'naive art/s':>12} {'speed-up':>9} "
        f"{'follow-ups joined':>18} {'new merged':>11}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        r = asyncio.run(run(n, args.articles, args.naive_sample))
        print(
            f"{r['stored']:>9,} {r['candidates']:>9.1f} {r['indexed_us']:>12,.0f} "
            f"{r['indexed_rate']:>11,.0f} {r['naive_us']:>13,.0f} {r['naive_rate']:>12,.1f} "
            f"{r['naive_us'] / r['indexed_us']:>8.0f}x {r['follow_ups_joined']:>18.0%} "
            f"{r['new_merged']:>11.0%}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
