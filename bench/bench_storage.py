"""Storage: ``latest`` over a million stored articles, and insert throughput of a poll.

    python bench/bench_storage.py [--articles 1000000] [--queries 200]
                                  [--pg-url postgresql://postgres@127.0.0.1:5432/postgres]
                                  [--no-pg] [--no-sqlite] [--insert-feeds 3]
                                  [--keep DIR] [--inserts-only] [--steady] [--profile FILE]

For each backend (SQLite in a temp file; PostgreSQL in a scratch database created on the
server of ``--pg-url`` and dropped afterwards, skipped with a message when unreachable):

1. the app migrates an empty database; then ``--articles`` articles, half as many stories
   (two articles each) and their ``story_country`` rows (2 participants per story from 200
   codes with a Zipf-like skew, a third of the stories also naming a mentioned country; 10 %
   of the stories are defence cooperation; each story filed in ``story_key`` under its
   participants, a third also under "*", with a small dated signature) are bulk-loaded:
   ``executemany`` on SQLite, ``COPY`` on PostgreSQL - never the ORM row by row;
2. ``monitors.store.latest_stories`` for one country, limit 10 (what ``/latest`` asks for),
   ``--queries`` times over a mix of countries (the most common one, a rare one, random ones),
   with and without ``cooperation_only``: p50 and p95 against the 20 ms / 50 ms targets;
   the baseline is the same page found by a plain scan (``ORDER BY`` over every row of that
   country, no index) on the same data;
3. insert throughput: the first ``--insert-feeds`` (66 = all) real feeds of the corpus, parsed
   and classified beforehand (not timed), are stored one transaction per feed through
   ``monitors.pipeline.store_classified`` - the same store calls the poll pipeline makes -
   on top of the loaded data.

``--keep DIR`` keeps the loaded databases and reuses them in later runs with the same
``--articles`` and ``--seed`` (SQLite: ``DIR/storage-<articles>-s<seed>.db``; PostgreSQL: the
database ``--pg-kept-name``, default ``defwatch_keep_<articles>_s<seed>``, on the server of
``--pg-url``, dropped with ``--drop-kept``). Each run measures a copy (a file copy;
``CREATE DATABASE … TEMPLATE``), so every run inserts into the same data; the copy is
migrated to head.
``--steady`` dates the inserted entries one minute apart after the newest stored story, as a
poll's new entries are in steady state (as published, about half of them predate every
stored story). ``--inserts-only`` skips the ``latest`` measurements; ``--profile FILE`` writes a
pyinstrument text profile of the inserts (``FILE.<backend>.txt``).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import itertools
import json
import os
import random
import shutil
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import real_feeds, table, verdict
from sqlalchemy import text

from monitors import heap, pipeline, store
from monitors.db import open_database
from monitors.grouping import decode_signature
from monitors.parse import parse_feed

NOW = datetime(2026, 11, 1, tzinfo=UTC)
CODES = [a + b for a in "ABCDEFGHIJKLMNOPQRST" for b in "ABCDEFGHIJ"]  # 200 codes
WEIGHTS = [1 / (rank + 1) for rank in range(len(CODES))]
FEEDS = 1000
TEXT = (
    "Officials said on Tuesday that the two governments would continue their talks next "
    "month, according to a statement published by the ministry after the meeting. "
)


# --- synthetic rows --------------------------------------------------------------------------


def story_rows(count: int, rng: random.Random):
    """(story tuple, [story_country tuples]) per story; dates spread over the last year."""
    for story_id in range(1, count + 1):
        published = NOW - timedelta(seconds=rng.randrange(365 * 86400))
        coop = rng.random() < 0.10
        participants = set()
        while len(participants) < 2:
            participants.add(rng.choices(CODES, WEIGHTS)[0])
        countries = [(code, "participant") for code in sorted(participants)]
        if rng.random() < 0.33:
            extra = rng.choice(CODES)
            if extra not in participants:
                countries.append((extra, "mentioned"))
        yield story_id, published, coop, countries


def article_tuple(article_id: int, story_id: int, published: datetime, coop: bool) -> tuple:
    return (
        article_id,
        1 + article_id % FEEDS,
        f"gen-{article_id}",
        f"https://example.com/news/{article_id}",
        f"Generated headline number {article_id} about talks",
        TEXT,
        published,
        published + timedelta(minutes=5),
        "en",
        0.7 if coop else 0.1,
        coop,
        "agreement" if coop else None,
        "",
        "[]",
        story_id,
    )


ARTICLE_COLUMNS = [
    "id", "feed_id", "entry_key", "url", "title", "summary", "published_at", "fetched_at",
    "language", "score", "is_defence_cooperation", "cooperation_type", "participants",
    "evidence", "story_id",
]  # fmt: skip
STORY_COLUMNS = [
    "id", "title", "url", "summary", "published_at", "first_seen_at", "last_seen_at", "score",
    "is_defence_cooperation", "cooperation_type", "evidence", "signature", "article_count",
]  # fmt: skip
COUNTRY_COLUMNS = ["story_id", "code", "role", "published_at", "is_defence_cooperation"]
KEY_COLUMNS = ["story_id", "key", "filed_at"]
FEED_COLUMNS = ["id", "url", "enabled", "consecutive_errors", "created_at"]


def generate(articles: int, seed: int):
    """Batches of (feeds, stories, story_countries, articles) rows, 20,000 stories at a time."""
    rng = random.Random(seed)
    stories = max(1, articles // 2)
    feeds = [(n, f"https://feeds.example.com/{n}.xml", True, 0, NOW) for n in range(1, FEEDS + 1)]
    yield feeds, [], [], [], []
    batch: tuple[list, list, list, list] = ([], [], [], [])
    article_id = 0
    for story_id, published, coop, countries in story_rows(stories, rng):
        participants = sorted(code for code, role in countries if role == "participant")
        batch[0].append(
            (story_id, f"Story {story_id}", f"https://example.com/news/{article_id + 1}", TEXT,
             published, published, published, 0.7 if coop else 0.1, coop,
             "agreement" if coop else None, "[]", signature_json(participants, published), 2)
        )  # fmt: skip
        batch[1].extend((story_id, code, role, published, coop) for code, role in countries)
        # the grouping's index (story_key): each participant, and "*" for a third of the
        # stories, standing for the country-less ones a real database holds
        batch[3].extend((story_id, f"c:{code}", published) for code in participants)
        if story_id % 3 == 0:
            batch[3].append((story_id, "*", published))
        for _ in range(2 if story_id < stories or articles % 2 == 0 else 1):
            article_id += 1
            if article_id <= articles:
                batch[2].append(article_tuple(article_id, story_id, published, coop))
        if len(batch[0]) >= 20_000:
            yield [], *batch
            batch = ([], [], [], [])
    yield [], *batch


def signature_json(participants: list[str], published: datetime) -> str:
    """A stored story's signature (``cluster.EventSignature.to_json``), dated, with states
    and a few words, so that candidate stories are decoded and compared as in a poll."""
    day = published.isoformat()
    return json.dumps(
        {"countries": participants, "type": None, "from": day, "until": day, "dated": True,
         "precise": True, "lang": "en", "size": 1,
         "tokens": ["govern", "meet", "ministri", "offici", "talk"]}
    )  # fmt: skip


def sqlite_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ")
    return value


def load_sqlite(path: Path, articles: int, seed: int) -> None:
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA synchronous=OFF")
        for feeds, stories, countries, rows, keys in generate(articles, seed):
            for name, columns, data in (
                ("feed", FEED_COLUMNS, feeds),
                ("story", STORY_COLUMNS, stories),
                ("story_country", COUNTRY_COLUMNS, countries),
                ("story_key", KEY_COLUMNS, keys),
                ("article", ARTICLE_COLUMNS, rows),
            ):
                if data:
                    marks = ", ".join("?" * len(columns))
                    connection.executemany(
                        f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})",
                        ([sqlite_value(v) for v in row] for row in data),
                    )
        connection.execute("ANALYZE")


async def load_postgres(url: str, articles: int, seed: int) -> None:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        for feeds, stories, countries, rows, keys in generate(articles, seed):
            for name, columns, data in (
                ("feed", FEED_COLUMNS, feeds),
                ("story", STORY_COLUMNS, stories),
                ("story_country", COUNTRY_COLUMNS, countries),
                ("story_key", KEY_COLUMNS, keys),
                ("article", ARTICLE_COLUMNS, rows),
            ):
                if data:
                    await connection.copy_records_to_table(name, records=data, columns=columns)
        for name in ("feed", "story", "article"):
            await connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                f"(SELECT max(id) FROM {name}))"
            )
        await connection.execute("ANALYZE")
    finally:
        await connection.close()


# --- measurements ----------------------------------------------------------------------------


def query_codes(count: int, seed: int) -> list[str]:
    """The most common code, the rarest, and random codes by the data's own skew."""
    rng = random.Random(seed + 1)
    picks = [CODES[0], CODES[-1]]
    picks += rng.choices(CODES, WEIGHTS, k=max(0, count - 2))
    return picks[:count]


async def measure_latest(url: str, codes: list[str], cooperation_only: bool) -> list[float]:
    engine, sessions = await open_database(url)
    seconds = []
    try:
        async with sessions() as session:  # warm the connection and statement caches
            await store.latest_stories(session, codes[:1], limit=10)
        for code in codes:
            async with sessions() as session:
                started = time.perf_counter()
                views = await store.latest_stories(
                    session, [code], limit=10, cooperation_only=cooperation_only
                )
                seconds.append(time.perf_counter() - started)
                assert all(code in v.participants for v in views)
    finally:
        await engine.dispose()
    return seconds


async def measure_scan(url: str, codes: list[str]) -> list[float]:
    """Baseline: the same page by a scan that cannot use the country index."""
    engine, sessions = await open_database(url)
    sql = text(
        "SELECT story_id FROM story_country WHERE code || '' = :code AND role = 'participant'"
        " ORDER BY published_at DESC, story_id DESC LIMIT 10"
    )
    seconds = []
    try:
        for code in codes:
            async with sessions() as session:
                started = time.perf_counter()
                ids = list(await session.scalars(sql, {"code": code}))
                await store.story_views(session, ids)
                seconds.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    return seconds


def parsed_real_feeds(count: int, *, steady: bool = False) -> list[list[pipeline.ClassifiedEntry]]:
    """The first ``count`` real feeds' entries, parsed and classified (not timed).

    ``steady``: each entry is dated one minute after the one before it, the first a minute
    after ``NOW`` (the newest stored story), as the new entries of a poll in steady state
    are; as published, about half of the corpus's entries are older than every stored story
    (their candidates then lie weeks later and are screened out cheaply)."""
    out = []
    minutes = itertools.count(1)
    for doc in real_feeds()[:count]:
        parsed = parse_feed(doc.decoded, url=f"https://real.example/{doc.name}", fetched_at=NOW,
                            content_type=doc.content_type)  # fmt: skip
        entries = list(parsed.entries)
        if steady:
            entries = [
                dataclasses.replace(entry, published_at=NOW + timedelta(minutes=next(minutes)))
                for entry in entries
            ]
        out.append(pipeline.classify_entries(entries))
    return out


async def measure_inserts(
    url: str, feeds: list[list[pipeline.ClassifiedEntry]], profile: Path | None = None
):
    """(articles stored, seconds, per-feed seconds) storing one transaction per feed."""
    engine, sessions = await open_database(url)
    profiler = None
    per_feed = []
    stored = 0
    try:
        async with sessions.begin() as session:
            for n, _ in enumerate(feeds):
                await store.add_feed(session, f"https://real.example/{n}.xml", now=NOW)
            ids = list(
                await session.scalars(
                    text("SELECT id FROM feed WHERE url LIKE 'https://real.example/%' ORDER BY id")
                )
            )
        heap.settle()  # as a service process does before its first poll
        if profile is not None:
            from pyinstrument import Profiler

            profiler = Profiler(async_mode="enabled")
            profiler.start()
        started = time.perf_counter()
        for feed_id, items in zip(ids, feeds, strict=True):
            outcome = pipeline.FeedOutcome(feed_id=feed_id, url="", status="ok")
            feed_started = time.perf_counter()
            async with sessions.begin() as session:
                await pipeline.store_classified(session, feed_id, items, NOW, outcome)
            per_feed.append(time.perf_counter() - feed_started)
            stored += outcome.new_articles
        total = time.perf_counter() - started
        if profiler is not None and profile is not None:
            profiler.stop()
            profile.write_text(profiler.output_text(unicode=True, show_all=False))
    finally:
        await engine.dispose()
    return stored, total, per_feed


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return 1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def pg_scratch(admin_url: str, name: str, create: bool) -> bool:
    import asyncpg

    try:
        connection = await asyncpg.connect(admin_url.replace("postgresql://", "postgres://"))
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"PostgreSQL skipped: cannot connect to {admin_url}: {exc}", file=sys.stderr)
        return False
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        if create:
            await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return True


async def pg_copy_kept(admin_url: str, kept: str, name: str, args) -> None:
    """Load the kept database once (made under its own name), then copy it for this run."""
    import asyncpg

    connection = await asyncpg.connect(admin_url.replace("postgresql://", "postgres://"))
    try:
        exists = await connection.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", kept)
        if not exists:
            await connection.execute(f'CREATE DATABASE "{kept}"')
            kept_url = f"{admin_url.rsplit('/', 1)[0]}/{kept}"
            try:
                await _migrate(kept_url)
                await load_postgres(kept_url, args.articles, args.seed)
            except BaseException:
                await connection.execute(f'DROP DATABASE IF EXISTS "{kept}"')
                raise
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{kept}" STRATEGY FILE_COPY')
    finally:
        await connection.close()


def run_backend(label: str, url: str, plain_load, args, feeds, rows, checks) -> None:
    started = time.perf_counter()
    plain_load()
    load_seconds = time.perf_counter() - started
    print(f"{label}: {args.articles:,} articles ready in {load_seconds:.1f} s", file=sys.stderr)
    asyncio.run(_migrate(url))  # a kept database made by an older tree
    codes = query_codes(args.queries, args.seed)
    for coop in () if args.inserts_only else (True, False):
        latest = asyncio.run(measure_latest(url, codes, coop))
        p50, p95 = pct(latest, 0.5), pct(latest, 0.95)
        name = f"{label} latest ({'cooperation only' if coop else 'all stories'})"
        rows.append([name, p50, p95, 1000 * max(latest), ""])
        print(f"  {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", file=sys.stderr, flush=True)
        checks.append([f"{name}: p50 < 20 ms, p95 < 50 ms", f"{p50:.1f} / {p95:.1f} ms",
                       verdict(p50 < 20 and p95 < 50)])  # fmt: skip
    if not args.inserts_only:
        scan = asyncio.run(measure_scan(url, codes[: max(5, args.queries // 10)]))
        rows.append([f"{label} baseline: scan without index", pct(scan, 0.5), pct(scan, 0.95),
                     1000 * max(scan), ""])  # fmt: skip
        print(f"  {label} scan baseline: p50 {pct(scan, 0.5):.1f} ms", file=sys.stderr, flush=True)
    profile = Path(f"{args.profile}.{label.lower()}.txt") if args.profile else None
    decode_signature.cache_clear()  # each backend starts cold, as a new poll process does
    stored, seconds, per_feed = asyncio.run(measure_inserts(url, feeds, profile))
    decoded = decode_signature.cache_info()
    print(f"  {label} signatures decoded: {decoded.misses:,} ({decoded.hits:,} from the cache)",
          file=sys.stderr, flush=True)  # fmt: skip
    print(f"  {label} insert: {stored:,} articles in {seconds:.2f} s, {stored / seconds:,.1f}"
          " articles/s", file=sys.stderr, flush=True)  # fmt: skip
    checks.append([f"{label} insert: >= 1,000 articles/s", f"{stored / seconds:,.0f} /s",
                   verdict(stored / seconds >= 1000)])  # fmt: skip
    rows.append(
        [f"{label} insert: {len(feeds)} feeds, 1 txn each", pct(per_feed, 0.5),
         pct(per_feed, 0.95), 1000 * max(per_feed), f"{stored / seconds:,.0f} articles/s"]
    )  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--no-pg", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument(
        "--insert-feeds", type=int, default=3, help="real feeds to store (66: all; slow at 1M)"
    )
    parser.add_argument("--keep", type=Path, help="keep the loaded databases here; reuse them")
    parser.add_argument("--pg-kept-name", help="name of the kept PG database")
    parser.add_argument("--drop-kept", action="store_true", help="drop the kept PG database")
    parser.add_argument("--inserts-only", action="store_true", help="skip `latest`")
    parser.add_argument(
        "--steady", action="store_true", help="insert entries dated after the stored data"
    )
    parser.add_argument("--profile", help="pyinstrument profile of the inserts: FILE.<backend>.txt")
    args = parser.parse_args(argv)
    kept_name = args.pg_kept_name or f"defwatch_keep_{args.articles}_s{args.seed}"
    if args.drop_kept:
        asyncio.run(pg_scratch(args.pg_url, kept_name, create=False))
        return 0
    feeds = parsed_real_feeds(args.insert_feeds, steady=args.steady)
    rows: list[list[object]] = []
    checks: list[list[object]] = []

    with tempfile.TemporaryDirectory(prefix="defwatch-bench-storage-") as tmp:
        path = Path(tmp) / "storage.db"
        url = f"sqlite:///{path}"

        def load_sqlite_db() -> None:
            kept = args.keep / f"storage-{args.articles}-s{args.seed}.db" if args.keep else None
            if kept is None or not kept.exists():
                target = kept or path
                asyncio.run(_migrate(f"sqlite:///{target}"))
                load_sqlite(target, args.articles, args.seed)
            if kept is not None:
                with sqlite3.connect(kept) as connection:  # one file: copy it whole
                    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                shutil.copyfile(kept, path)
            # on disk before the timing starts: the kernel writing back a gigabyte of loaded
            # or copied pages during the inserts cost them 10-15 % (the bench's setup, not
            # the poll's work)
            with path.open("rb+") as loaded:
                os.fsync(loaded.fileno())

        if not args.no_sqlite:
            run_backend("SQLite", url, load_sqlite_db, args, feeds, rows, checks)

    if not args.no_pg:
        name = f"defwatch_bench_{int(time.time())}"
        base = args.pg_url.rsplit("/", 1)[0]
        url = f"{base}/{name}"
        if asyncio.run(pg_scratch(args.pg_url, name, create=not args.keep)):
            try:

                def load_pg_db() -> None:
                    if args.keep:
                        asyncio.run(pg_copy_kept(args.pg_url, kept_name, name, args))
                        return
                    asyncio.run(_migrate(url))
                    asyncio.run(load_postgres(url, args.articles, args.seed))

                run_backend("PostgreSQL", url, load_pg_db, args, feeds, rows, checks)
            finally:
                asyncio.run(pg_scratch(args.pg_url, name, create=False))

    print(
        table(
            f"storage with {args.articles:,} articles (ms)",
            ["", "p50", "p95", "max", "throughput"],
            rows,
        )
    )
    print()
    print(table("targets", ["target", "measured", "verdict"], checks))
    return 0


async def _migrate(url: str) -> None:
    engine, _ = await open_database(url)
    await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
