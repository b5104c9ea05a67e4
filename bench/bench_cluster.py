"""How fast articles are clustered into a StoryIndex holding N stored stories.

    python bench/bench_cluster.py [--sizes 10000,100000] [--articles 2000] [--naive-sample 30]

For each N the index is pre-filled (``StoryIndex.restore``, no eviction, so every story stays
in memory) with N synthetic story signatures at a steady 50 new stories a day (N = 100 000 is
about five and a half years), spread over 40 states with a skewed choice of pairs, names, words,
dates, rounds and amounts. Then a stream of new articles published after the last story - half
follow-up reports of recent stories, half new occasions - is clustered with ``StoryIndex.add``.

The baseline in the same run compares each of a sample of those articles with *every* stored
story (``best_match`` over all N), which is what clustering without an index costs.
Times are medians per article. A flat "index µs/art" column across sizes is the point.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import random
import statistics
import sys
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitors.cluster import EventSignature, StoryIndex, best_match

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
            size=1,
        )


def prefill(n: int, synth: Synth) -> tuple[StoryIndex, list[tuple[str, EventSignature]]]:
    index = StoryIndex(retention=None)
    stored = []
    for i in range(n):
        when = START + timedelta(days=i / STORIES_PER_DAY)
        sig = synth.story(when)
        stored.append((f"s{i}", sig))
        index.restore(f"s{i}", sig)
        index.weights.observe(sig)
    return index, stored


def stream(
    stored: list[tuple[str, EventSignature]], synth: Synth, count: int
) -> list[tuple[str | None, EventSignature]]:
    """(story it reports or None for a new occasion, article), published after the archive.

    A follow-up reports a story from the last three days (stored or new in the stream).
    """
    last = stored[-1][1].published_at
    recent: list[tuple[str, EventSignature]] = stored[-STORIES_PER_DAY * 3 :]
    articles: list[tuple[str | None, EventSignature]] = []
    for i in range(count):
        when = last + timedelta(days=i / STORIES_PER_DAY)
        if i % 2:
            story_id, story = synth.rng.choice(recent[-STORIES_PER_DAY * 3 :])
            articles.append((story_id, synth.follow_up(story, when)))
        else:
            sig = synth.story(when)
            articles.append((None, sig))
            recent.append((f"a{i}", sig))  # the story this new occasion should start
    return articles


def run(n: int, count: int, naive_sample: int) -> dict[str, float]:
    synth = Synth()
    index, stored = prefill(n, synth)
    # the archive is long-lived: keep the cyclic collector from re-scanning it on every pass,
    # so the timings measure clustering rather than the size of the heap
    gc.collect()
    gc.freeze()
    articles = stream(stored, synth, count)

    candidates = sum(len(index.candidates(a)) for _, a in articles[:200]) / min(200, count)
    outcomes = []
    durations = []
    for i, (truth, sig) in enumerate(articles):
        started = time.perf_counter()
        story_id, _ = index.add(f"a{i}", sig)
        durations.append(time.perf_counter() - started)
        outcomes.append((truth, story_id))
    # the median: robust to the pauses a busy machine adds to a few articles
    indexed = statistics.median(durations)
    follow_ups = [story == truth for truth, story in outcomes if truth is not None]
    # a new occasion should start its own story (named after the article: "a<i>")
    new = [story != f"a{i}" for i, (truth, story) in enumerate(outcomes) if truth is None]

    naive_durations = []
    for _, sig in articles[:naive_sample]:
        started = time.perf_counter()
        best_match(sig, stored, index.weights)
        naive_durations.append(time.perf_counter() - started)
    naive = statistics.median(naive_durations)
    gc.unfreeze()
    return {
        "stored": n,
        "held": len(index),
        "candidates": candidates,
        "indexed_us": indexed * 1e6,
        "indexed_rate": 1 / indexed,
        "naive_us": naive * 1e6,
        "naive_rate": 1 / naive,
        "follow_ups_joined": sum(follow_ups) / len(follow_ups),
        "new_merged": sum(new) / len(new),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="stored stories, comma-separated")
    parser.add_argument("--articles", type=int, default=2000, help="new articles per size")
    parser.add_argument("--naive-sample", type=int, default=30, help="articles timed naively")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]

    header = (
        f"{'stored':>9} {'cand/art':>9} {'index µs/art':>13} {'index art/s':>12} "
        f"{'naive µs/art':>13} {'naive art/s':>12} {'speed-up':>9} "
        f"{'follow-ups joined':>18} {'new merged':>11}"
    )
    print(header)
    print("-" * len(header))
    for n in sizes:
        r = run(n, args.articles, args.naive_sample)
        print(
            f"{r['stored']:>9,} {r['candidates']:>9.1f} {r['indexed_us']:>13,.0f} "
            f"{r['indexed_rate']:>12,.0f} {r['naive_us']:>13,.0f} {r['naive_rate']:>12,.1f} "
            f"{r['naive_us'] / r['indexed_us']:>8.0f}x {r['follow_ups_joined']:>18.0%} "
            f"{r['new_merged']:>11.0%}",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
