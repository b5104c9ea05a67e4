"""Analyst views (issue 16): how long a picture takes, what the cache saves, and whether the
event loop keeps running while a picture is drawn.

A temporary SQLite database gets ``--stories`` cooperation stories of one country (AZ) with
``--partners`` partners spread over 90 days (plus their outlets, as the pipeline stores them).
For each view (partners 90d, trend 12w, network of 3 states 90d):

* cold: read + count + draw (a fresh ``ViewService``, so nothing is cached), drawn in the
  monitor's process pool as the bot does (started beforehand, as in the bot; the first view
  includes importing matplotlib in a worker);
* cached: the same request again (the database unchanged);
* loop lag: the worst delay of a 10 ms ticker on the event loop while the cold view ran.

Baseline in the same run: drawing the same picture on the event loop itself (what would block
the bot), measured with the same ticker.

    python bench/bench_views.py                # --stories 5000 --partners 30
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, verdict

from monitors.db import open_database
from monitors.detect.countries import default_gazetteer
from monitors.models import Article, Feed, Story, StoryCountry
from monitors.runner import cpu_pool
from monitors.views import analysis, charts, queries
from monitors.views.service import ViewService

TYPES = ("exercise", "arms_transfer", "meeting_visit", "agreement", "training")


async def seed(sessions, stories: int, partners: int, now: datetime) -> None:  # type: ignore[no-untyped-def]
    gazetteer = default_gazetteer()
    codes = sorted(c for c in gazetteer.codes() if c != "AZ")[:partners]
    rng = random.Random(16)
    async with sessions.begin() as session:
        feed = Feed(url="https://bench.example/rss", title="Bench", enabled=False, created_at=now)
        session.add(feed)
        await session.flush()
        plan = []
        for i in range(1, stories + 1):
            when = now - timedelta(days=rng.uniform(0, 89))
            members = ("AZ", *rng.sample(codes, rng.choice((1, 1, 1, 2))))
            plan.append((i, when, members))
            session.add(
                Story(
                    id=i,
                    title=f"bench story {i}",
                    url=f"https://bench.example/{i}",
                    published_at=when,
                    first_seen_at=when,
                    last_seen_at=when,
                    is_defence_cooperation=True,
                    cooperation_type=rng.choice(TYPES),
                )
            )
        await session.flush()  # stories before the rows that refer to them
        for i, when, members in plan:
            session.add_all(
                StoryCountry(
                    story_id=i,
                    code=code,
                    role="participant",
                    published_at=when,
                    is_defence_cooperation=True,
                )
                for code in members
            )
            session.add(
                Article(
                    feed_id=feed.id,
                    entry_key=str(i),
                    url=f"https://bench.example/{i}",
                    title=f"bench story {i}",
                    published_at=when,
                    fetched_at=when,
                    story_id=i,
                )
            )


async def with_ticker(work: Callable[[], Awaitable[object]]) -> tuple[float, float]:
    """(seconds the work took, worst lateness in ms of a 10 ms ticker on the loop meanwhile)."""
    worst = 0.0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal worst
        while not done.is_set():
            before = time.perf_counter()
            await asyncio.sleep(0.01)
            worst = max(worst, (time.perf_counter() - before - 0.01) * 1000)

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    started = time.perf_counter()
    await work()
    elapsed = time.perf_counter() - started
    done.set()
    await ticker
    return elapsed, worst


async def main(stories: int, partners: int) -> None:
    now = datetime.now(UTC)
    name = default_gazetteer().name
    with tempfile.TemporaryDirectory() as folder:
        engine, sessions = await open_database(f"sqlite:///{Path(folder) / 'bench.db'}")
        try:
            started = time.perf_counter()
            await seed(sessions, stories, partners, now)
            print(f"seeded {stories} stories in {time.perf_counter() - started:.1f} s")
            requests = {
                "partners 90d": lambda v: v.partners("AZ", 90),
                "trend 12w": lambda v: v.trend("AZ", 12),
                "network 3 states 90d": lambda v: v.network(("AZ", "GE", "AM"), 90),
            }
            rows, lags, cached_ms, blocking = [], [], [], []
            pool = cpu_pool()  # the bot's own executor: what it draws in
            # In the bot the pool is already running (polls parse in it): start its workers first.
            started = time.perf_counter()
            loop = asyncio.get_running_loop()
            await asyncio.gather(*(loop.run_in_executor(pool, time.sleep, 0.2) for _ in range(4)))
            print(f"process pool started in {time.perf_counter() - started:.1f} s (not counted)")
            for label, request in requests.items():
                views = ViewService(sessions, name, clock=lambda: now, executor=pool)
                cold, lag = await with_ticker(lambda v=views, r=request: r(v))
                hot, _ = await with_ticker(lambda v=views, r=request: r(v))
                assert views.renders == 1
                rows.append([label, f"{cold * 1000:.0f}", f"{hot * 1000:.1f}", f"{lag:.0f}"])
                lags.append(lag)
                cached_ms.append(hot * 1000)
            # baseline: the partners picture drawn on the loop itself
            async with sessions() as session:
                since = now - timedelta(days=90)
                found = await queries.cooperation_stories(session, ["AZ"], since=since, until=now)
            data = analysis.partners(found, "AZ", since=since, until=now)

            async def on_loop() -> None:
                charts.render_partners(data, name)

            pool.shutdown()
            _, block = await with_ticker(on_loop)
            blocking.append(block)
            rows.append(["baseline: partners drawn on the loop", "", "", f"{block:.0f}"])
        finally:
            await engine.dispose()
    print(table("views", ["view", "cold ms", "cached ms", "worst loop lag ms"], rows))
    targets = [
        ["cold view <= 3000 ms", max(float(r[1]) for r in rows[:3]) <= 3000],
        ["cached view <= 50 ms", max(cached_ms) <= 50],
        ["loop lag while drawing < baseline / 2", max(lags) < blocking[0] / 2],
    ]
    print(table("targets", ["target", ""], [[t, verdict(ok)] for t, ok in targets]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=5000)
    parser.add_argument("--partners", type=int, default=30)
    args = parser.parse_args()
    asyncio.run(main(args.stories, args.partners))
