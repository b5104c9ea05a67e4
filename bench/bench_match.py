"""Matching: which chats a story alerts, through monitors.watch, against a loop over every chat.

    python bench/bench_match.py [--chats 1000,10000,100000] [--stories 100] [--seed 1]

For each size a temp SQLite database (migrated by the app) gets that many chats, each watching
5 countries (of 200 codes) and 5 keyword phrases (of 5,000), inserted in bulk. Two kinds of
story are matched:

* ``typical``: 2 random participant countries and a text that names 3 random watched phrases,
  so the chats it alerts grow in proportion to the chats (about 5 % of them);
* ``targeted``: a country and a phrase that exactly 10 chats watch at every size, so the
  answer stays the same size and only the cost of *finding* it can grow.

Columns (milliseconds per story):

* ``find`` - watch.py's own path minus the outbox write, for a story after the first of its
  transaction (a poll stores a feed's stories in one): ``current_index`` (already checked in
  this transaction) and ``WatchIndex.matches`` (``phrases_in`` over the story's n-grams, then
  set operations over the chat ids of the rules hit, mutes);
* ``find 1st`` - the same for the first story of a transaction: plus one read of the
  ``meta.watch_version`` row (the index itself is current, so not reloaded);
* ``per-chat`` - the rule the set operations must equal (``WatchIndex.own_matches_per_chat``:
  a ``ChatWatch`` and ``matching.matches`` per candidate chat; the path before session 5);
  every story checks that both give the same chats and terms, or the benchmark stops;
* ``enqueue`` - the whole ``enqueue_alerts`` (find + held-chat query + outbox insert), each in
  a transaction that is rolled back;
* ``naive`` - a loop over every chat's rules in memory (``matching.matches`` per chat, its phrases
  checked against the story's n-grams), the rules already loaded; the baseline (timed on
  the first 30 stories; both must find the same chats or the benchmark stops).

Also printed per size (stderr): how long loading the whole index takes (once per process) and
how much the process's resident memory grew for it, and how long bringing it up to date takes
after another writer added one rule (only that chat is read again, through ``watch_change``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import table, verdict

from monitors import matching, watch
from monitors.db import open_database
from monitors.domain import StoryForAlert

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXY"
CODES = [a + b for a in LETTERS for b in LETTERS[:8]][:200]
FILLER_TEXT = (
    "the ministers met on tuesday to discuss matters of mutual interest and agreed to continue "
    "talks next month according to officials who spoke on condition of anonymity"
)
FILLER = FILLER_TEXT.split()
NOW = datetime(2026, 1, 1, tzinfo=UTC)
NAIVE_STORIES = 30


def phrase_pool(rng: random.Random, size: int) -> list[str]:
    words = [f"term{n:04d}" for n in range(size)]
    pool = []
    for n in range(size):
        pool.append(words[n] if n % 5 else f"{words[n]} {words[rng.randrange(size)]}")
    return pool


def populate(db: Path, chats: int, rng: random.Random, pool: list[str]) -> None:
    """Chats and rules in bulk (executemany), plus 10 'needle' chats and the story rows."""
    created = NOW.replace(tzinfo=None).isoformat(sep=" ")
    with sqlite3.connect(db) as connection:
        connection.executemany(
            "INSERT INTO chat (id, type, active, delivery_mode, digest_time, timezone, scope,"
            " subscribed_at) VALUES (?, 'private', 1, 'instant', '08:00', 'UTC', 'cooperation', ?)",
            ((chat, created) for chat in range(1, chats + 1)),
        )

        def rules():
            for chat in range(1, chats + 1):
                for code in rng.sample(CODES, 5):
                    yield chat, "country", code, code
                for phrase in rng.sample(pool, 5):
                    yield chat, "keyword", phrase, phrase
            for chat in range(1, 11):  # the targeted story's audience, at every size
                yield chat, "country", "ZZ", "ZZ"
                yield chat, "keyword", "needle phrase", "needle phrase"

        connection.executemany(
            "INSERT INTO watch_rule (chat_id, kind, value, display) VALUES (?, ?, ?, ?)", rules()
        )
        connection.executemany(
            "INSERT INTO story (id, title, summary, published_at, first_seen_at, last_seen_at,"
            " score, is_defence_cooperation, evidence, signature, article_count)"
            " VALUES (?, 't', '', ?, ?, ?, 1.0, 1, '[]', '{}', 1)",
            ((n, created, created, created) for n in range(1, 100_001)),
        )
        connection.execute("ANALYZE")


def stories(rng: random.Random, pool: list[str], count: int, kind: str) -> list[StoryForAlert]:
    out = []
    for n in range(count):
        if kind == "typical":
            participants = tuple(rng.sample(CODES, 2))
            words = rng.sample(FILLER, 12) + rng.sample(pool, 3) + rng.sample(FILLER, 8)
        else:
            participants = ("ZZ",)
            words = [*rng.sample(FILLER, 12), "needle", "phrase", *rng.sample(FILLER, 8)]
        out.append(
            StoryForAlert(
                story_id=n + 1,
                title=" ".join(words[:10]),
                summary=" ".join(words[10:]),
                participants=participants,
                mentioned=(),
                is_defence_cooperation=True,
                cooperation_type="exercise",
                published_at=NOW,
            )
        )
    return out


def load_all(db: Path) -> list[matching.ChatWatch]:
    """Every chat's rules in memory, for the naive loop (not timed)."""
    rules: dict[int, dict[str, set[str]]] = {}
    with sqlite3.connect(db) as connection:
        for chat, kind, value in connection.execute("SELECT chat_id, kind, value FROM watch_rule"):
            rules.setdefault(chat, {"country": set(), "keyword": set(), "exclude": set()})[
                kind
            ].add(value)
    return [
        matching.ChatWatch(
            chat, "cooperation", frozenset(r["country"]), frozenset(r["keyword"]),
            frozenset(r["exclude"]),
        )
        for chat, r in rules.items()
    ]  # fmt: skip


def naive(story: StoryForAlert, everyone: list[matching.ChatWatch]) -> list[int]:
    words = matching.story_words(story)
    grams = {" ".join(words[i : i + n]) for n in (1, 2, 3) for i in range(len(words) - n + 1)}
    hits = []
    for chat in everyone:
        found = {p for p in chat.keywords | chat.excludes if p in grams}
        if matching.matches(story, chat, found):
            hits.append(chat.chat_id)
    return hits


def rss_mb() -> float:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def measure(
    db: Path, items: list[StoryForAlert], everyone: list[matching.ChatWatch], edit: str
):
    engine, sessions = await open_database(f"sqlite:///{db}")
    try:
        find, find_first, per_chat, enqueue, naive_ms, matched = [], [], [], [], [], []
        async with sessions() as session:
            rss = rss_mb()
            started = time.perf_counter()
            await watch.current_index(session)  # loads the per-process index
            load = (time.perf_counter() - started, rss_mb() - rss)
            await session.rollback()
        with sqlite3.connect(db) as connection:  # one edit by another writer: a rule of chat 1
            connection.execute(
                "INSERT OR IGNORE INTO watch_rule (chat_id, kind, value, display)"
                " VALUES (1, 'country', ?, ?)",
                (edit, edit),
            )
        async with sessions() as session:
            started = time.perf_counter()
            await watch.current_index(session)  # reads chat 1 again, not every rule
            load = (*load, time.perf_counter() - started)
        for story in items:
            async with sessions() as session:  # a transaction per story, as a poll's feed
                for times in (find_first, find):  # its first story, then any later one
                    started = time.perf_counter()
                    index = await watch.current_index(session)
                    hits = list(index.matches(story, NOW))
                    times.append(time.perf_counter() - started)
                started = time.perf_counter()
                index = await watch.current_index(session)
                found = matching.found_phrases(story, index.phrases, index.max_words)
                spec = index.own_matches_per_chat(story, found)
                per_chat.append(time.perf_counter() - started)
                if spec != index.own_matches(story, found):
                    raise SystemExit(f"story {story.story_id}: set algebra and per-chat disagree")
            matched.append(len(hits))
            if len(naive_ms) < NAIVE_STORIES:  # slow at 100k chats: a sample is enough
                started = time.perf_counter()
                naive_hits = naive(story, everyone)
                naive_ms.append(time.perf_counter() - started)
                if sorted(naive_hits) != sorted(hits):
                    raise SystemExit(f"story {story.story_id}: index and naive disagree")
        for story in items:
            async with sessions() as session:
                started = time.perf_counter()
                await watch.enqueue_alerts(session, story, now=NOW)
                enqueue.append(time.perf_counter() - started)
                await session.rollback()
    finally:
        await engine.dispose()
    ms = [1000 * statistics.median(x) for x in (find, find_first, per_chat, enqueue, naive_ms)]
    return statistics.mean(matched), ms, load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", default="1000,10000,100000")
    parser.add_argument("--stories", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.chats.split(",")]
    rows: list[list[object]] = []
    results: dict[tuple[int, str], list[float]] = {}
    for chats in sizes:
        rng = random.Random(args.seed)
        pool = phrase_pool(rng, 5000)
        with tempfile.TemporaryDirectory(prefix="defwatch-bench-match-") as tmp:
            db = Path(tmp) / "match.db"
            asyncio.run(_migrate(db))
            started = time.perf_counter()
            populate(db, chats, rng, pool)
            build = time.perf_counter() - started
            everyone = load_all(db)
            for kind in ("typical", "targeted"):
                items = stories(rng, pool, args.stories, kind)
                matched, ms, (load_s, load_mb, refresh_s) = asyncio.run(
                    measure(db, items, everyone, "ZY" if kind == "typical" else "ZX")
                )
                print(
                    f"{chats:,} chats ({kind}): index loaded in {load_s:.2f} s, "
                    f"+{load_mb:.0f} MB resident; refreshed after one edit in "
                    f"{1000 * refresh_s:.1f} ms",
                    file=sys.stderr,
                )
                results[(chats, kind)] = ms
                rows.append([f"{chats:,} chats, {kind}", matched, *ms, f"{ms[4] / ms[0]:.1f}x"])
        print(
            f"{chats:,} chats: {10 * chats + 20:,} rules inserted in {build:.1f} s", file=sys.stderr
        )
    print(
        table(
            f"matching one story (median ms per story over {args.stories} stories)",
            ["", "chats hit", "find", "find 1st", "per-chat", "enqueue", "naive", "naive/find"],
            rows,
        )
    )
    checks = []
    if 10_000 in sizes:
        for kind in ("typical", "targeted"):
            ms = results[(10_000, kind)][0]
            checks.append([f"find < 1 ms at 10k chats ({kind})", f"{ms:.2f} ms", verdict(ms < 1)])
    small, large = sizes[0], sizes[-1]
    if large > small:
        growth = results[(large, "targeted")][0] / results[(small, "targeted")][0]
        checks.append(
            [
                f"sublinear: targeted find x{large // small} chats",
                f"x{growth:.2f} time",
                verdict(growth < large / small / 2),
            ]
        )
    print()
    print(table("targets", ["target", "measured", "verdict"], checks))
    return 0


async def _migrate(db: Path) -> None:
    engine, _ = await open_database(f"sqlite:///{db}")
    await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
