"""Scale-out: three ``defwatch poll`` workers share one PostgreSQL; one is killed mid-cycle.

300 feeds on a scripted HTTP server, each a small RSS document with two items of its own and
one cooperation story shared with nine other feeds (the same link). Chats are subscribed by
direct inserts. Checked afterwards:

* every feed was polled; the dead worker's leases expired and other workers took them over;
* no feed was ever fetched by two workers at once (the server's per-path max concurrency);
* every article stored once, every shared link in exactly one story;
* exactly one ``alert`` row per (chat, story), and one per watched event (no duplicate story
  alerting a chat twice);
* with the Telegram emulator available, one ``defwatch run`` bot process delivers the outbox:
  every chat receives exactly one message per watched event.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from monitors.db import create_engine, open_database
from monitors.models import Chat, WatchRule
from monitors.runner import seed_default_feeds
from tests import dbfixtures
from tests.feedserver import FeedServer
from tests.test_faults_process import (
    ROOT,
    Worker,
    make_rss,
    wait_until,
    worker_env,
    write_config,
)
from tests.tg import BotProcess, Emulator

postgres_url = dbfixtures.postgres_url  # fixture

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.timeout(600)]

FEEDS = 300
OWN_ITEMS = 2
PAIRS = [
    ("Azerbaijan", "China", "AZ", "CN"), ("Turkey", "Pakistan", "TR", "PK"),
    ("Brazil", "Argentina", "BR", "AR"), ("India", "France", "IN", "FR"),
    ("Japan", "Australia", "JP", "AU"), ("Egypt", "Greece", "EG", "GR"),
    ("Poland", "Ukraine", "PL", "UA"), ("Kenya", "Ethiopia", "KE", "ET"),
    ("Indonesia", "Malaysia", "ID", "MY"), ("Chile", "Peru", "CL", "PE"),
    ("Norway", "Sweden", "NO", "SE"), ("Morocco", "Spain", "MA", "ES"),
    ("Vietnam", "Philippines", "VN", "PH"), ("Nigeria", "Ghana", "NG", "GH"),
    ("Serbia", "Hungary", "RS", "HU"), ("Canada", "Mexico", "CA", "MX"),
    ("Qatar", "Oman", "QA", "OM"), ("Thailand", "Singapore", "TH", "SG"),
    ("Algeria", "Tunisia", "DZ", "TN"), ("Colombia", "Ecuador", "CO", "EC"),
    ("Finland", "Estonia", "FI", "EE"), ("Romania", "Bulgaria", "RO", "BG"),
    ("Kazakhstan", "Uzbekistan", "KZ", "UZ"), ("Senegal", "Mali", "SN", "ML"),
    ("Jordan", "Bahrain", "JO", "BH"), ("Portugal", "Italy", "PT", "IT"),
    ("Croatia", "Slovenia", "HR", "SI"), ("Mongolia", "Nepal", "MN", "NP"),
    ("Angola", "Zambia", "AO", "ZM"), ("Uruguay", "Paraguay", "UY", "PY"),
]  # fmt: skip
COUNTRIES = [name for a, b, _, _ in PAIRS for name in (a, b)]
WORDS = [
    "cargo", "harvest", "rainfall", "tourism", "budget", "census", "traffic", "tariff",
    "housing", "museum", "festival", "election", "fishing", "pension", "railway", "bakery",
]  # fmt: skip
# chat id -> watched country codes; each watched code takes part in exactly one shared event.
CHATS = {101: ["AZ", "TR", "BR"], 102: ["KE"], 103: ["CN", "PK", "UY", "MN", "QA"], 104: ["ZZ"]}


def shared_item(j: int) -> tuple[str, str, str]:
    a, b, _, _ = PAIRS[j]
    title = f"{a} and {b} sign defence cooperation agreement"
    return title, f"https://shared.example/{j}", title


def feed_items(n: int) -> list[tuple[str, str]]:
    items = []
    for k in range(OWN_ITEMS):
        country = COUNTRIES[(n * OWN_ITEMS + k) % len(COUNTRIES)]
        word = WORDS[(n + 7 * k) % len(WORDS)]
        items.append(
            (f"{country} {word} report number {n * OWN_ITEMS + k}", f"https://own.example/{n}/{k}")
        )
    title, link, _ = shared_item(n % len(PAIRS))
    items.append((title, link))
    return items


def expected_alerts() -> dict[int, int]:
    """Per chat: how many shared events it watches (each must alert exactly once)."""
    codes = {code for _, _, a, b in PAIRS for code in (a, b)}
    return {chat: sum(1 for code in watched if code in codes) for chat, watched in CHATS.items()}


async def _prepare(url: str) -> None:
    engine, sessions = await open_database(url)
    try:
        async with sessions.begin() as session:
            now = datetime.now(UTC)
            for chat_id, codes in CHATS.items():
                session.add(Chat(id=chat_id, active=True, subscribed_at=now))
                await session.flush()
                for code in codes:
                    session.add(
                        WatchRule(chat_id=chat_id, kind="country", value=code, display=code)
                    )
    finally:
        await engine.dispose()


async def _query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(url, pool_size=1, max_overflow=0)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(sql), params)]
    finally:
        await engine.dispose()


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    """The test's own look at the database; a server full of other clients (the machine is
    shared) is waited out rather than failing the run."""
    for attempt in range(60):
        try:
            return asyncio.run(_query(url, sql, **params))
        except DBAPIError as exc:
            if "too many clients" not in str(exc) or attempt == 59:
                raise
            time.sleep(1.0)
    raise AssertionError("unreachable")


def polled(url: str) -> int:
    return query(url, "SELECT count(*) FROM feed WHERE last_ok_at IS NOT NULL")[0][0]


@dataclass
class Run:
    """What one scale-out run left behind, for the assertions below."""

    database_url: str
    orphaned_ids: list[int]
    orphaned_lease_until: dict[int, datetime]
    victim_tag: str
    seconds_from_kill_to_all_polled: float
    concurrency: dict[int, int]
    hits: list[int]
    survivor_logs: list[str]
    # chat id -> messages the bot sent it (None when the emulator is not available)
    delivered: dict[int, int] | None = None


BOT_TOKEN = "777001:DEFWATCH-SCALE"


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Run]:
    """Three workers (+ the bot), 300 feeds, one worker SIGKILLed mid-cycle; runs once."""
    server_url = dbfixtures.postgres_server_url()
    if server_url is None:
        pytest.skip(f"scale-out tests need {dbfixtures.POSTGRES_ENV} (a PostgreSQL server)")
    try:
        emulator: Emulator | None = request.getfixturevalue("tg_emulator")
    except pytest.skip.Exception:
        emulator = None  # the delivery check alone is skipped
    tmp_path = tmp_path_factory.mktemp("scale")
    with FeedServer() as feed_server:
        for database_url in dbfixtures._fresh_postgres_database(server_url):
            yield _run(tmp_path, database_url, feed_server, emulator)


def _run(
    tmp_path: Path, database_url: str, feed_server: FeedServer, emulator: Emulator | None
) -> Run:
    urls = [
        feed_server.add(f"/s{n}.xml", make_rss(n, feed_items(n)), delay=0.15) for n in range(FEEDS)
    ]
    asyncio.run(_prepare(database_url))
    config = write_config(tmp_path, urls, lease_seconds=12, max_per_host=6)
    env = worker_env(config, database_url, interval=8)
    # Seed the feed table once before the workers start: concurrent first starts race in
    # seed_feeds_once (see test_concurrent_first_start_on_a_fresh_database).
    seeded = subprocess.run(
        [sys.executable, "-m", "bot.cli", "feeds", "list"], env=env, cwd=ROOT,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr

    workers: list[Worker] = []
    bot: BotProcess | None = None
    delivered: dict[int, int] | None = None
    try:
        if emulator is not None:  # the bot process: polls too, and drains the outbox
            bot_env = {
                **env,
                "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
                "TELEGRAM_API_BASE_URL": emulator.bot_api_base,
            }
            bot = BotProcess(emulator, BOT_TOKEN, bot_env, tmp_path / "bot.log").start(timeout=60)
        for n in range(3):
            workers.append(Worker(env, tmp_path / f"worker{n}.log"))
        victim = workers[0]
        victim_tag = f"%:{victim.pid}:%"

        def victim_mid_cycle() -> bool:
            assert all(w.alive() for w in workers), [w.output()[-2000:] for w in workers]
            if polled(database_url) < 40:
                return False
            held = query(
                database_url,
                "SELECT count(*) FROM feed WHERE lease_owner LIKE :tag AND lease_until > now()",
                tag=victim_tag,
            )[0][0]
            return held > 0

        wait_until(victim_mid_cycle, 240, "the victim to hold leases mid-cycle")
        victim.kill()
        killed_at = time.monotonic()
        (killed_at_db,) = query(database_url, "SELECT now()")[0]
        orphaned = query(
            database_url,
            "SELECT id, lease_until FROM feed WHERE lease_owner LIKE :tag",
            tag=victim_tag,
        )
        assert orphaned, "the killed worker held no lease"
        ids = [i for i, _ in orphaned]

        def all_polled_and_orphans_taken_over() -> bool:
            retaken = query(
                database_url,
                "SELECT count(*) FROM feed WHERE id = ANY(:ids) AND last_polled_at > :t",
                ids=ids,
                t=killed_at_db,
            )[0][0]
            return retaken == len(ids) and polled(database_url) == FEEDS

        wait_until(all_polled_and_orphans_taken_over, 180, "every feed polled, leases taken over")
        took = time.monotonic() - killed_at
        # Let the survivors finish the cycle they are in (their last outbox writes).
        time.sleep(1.0)
        survivors = workers[1:]
        assert all(w.alive() for w in survivors), [w.output()[-2000:] for w in survivors]
        logs = [w.output() for w in survivors]
        if emulator is not None:
            wait_until(
                lambda: (
                    query(database_url, "SELECT count(*) FROM alert WHERE status <> 'sent'")
                    == [(0,)]
                ),
                120,
                "the bot to deliver every alert",
            )
            sent = emulator.calls(method="sendMessage", token=BOT_TOKEN)
            delivered = dict(
                Counter(int(c["params"]["chat_id"]) for c in sent if c["status"] == 200)
            )
    finally:
        for worker in workers:
            worker.stop()
        if bot is not None:
            bot.stop()
    return Run(
        database_url=database_url,
        orphaned_ids=ids,
        orphaned_lease_until=dict(orphaned),
        victim_tag=victim_tag,
        seconds_from_kill_to_all_polled=round(took, 1),
        concurrency={n: feed_server.max_concurrent(f"/s{n}.xml") for n in range(FEEDS)},
        hits=[feed_server.hits(f"/s{n}.xml") for n in range(FEEDS)],
        survivor_logs=logs,
        delivered=delivered,
    )


def test_every_feed_polled_and_dead_leases_taken_over(run: Run) -> None:
    feeds = query(run.database_url, "SELECT last_ok_at, consecutive_errors FROM feed")
    assert len(feeds) == FEEDS
    assert all(ok is not None and errors == 0 for ok, errors in feeds)
    taken = query(
        run.database_url,
        "SELECT count(*) FROM feed WHERE id = ANY(:ids) AND last_ok_at IS NOT NULL "
        "AND (lease_owner IS NULL OR lease_owner NOT LIKE :tag)",
        ids=run.orphaned_ids,
        tag=run.victim_tag,
    )[0][0]
    assert taken == len(run.orphaned_ids)
    # ... and only after the dead worker's lease had expired.
    for feed_id, polled_at in query(
        run.database_url,
        "SELECT id, last_polled_at FROM feed WHERE id = ANY(:ids)",
        ids=run.orphaned_ids,
    ):
        assert polled_at >= run.orphaned_lease_until[feed_id], (feed_id, polled_at)
    assert min(run.hits) >= 1
    for log in run.survivor_logs:
        assert "Traceback" not in log, log[-3000:]
    print(
        f"\nSCALE-OUT feeds={FEEDS} polled={len(feeds)} dead-leases-taken-over="
        f"{taken}/{len(run.orphaned_ids)} "
        f"kill-to-all-polled={run.seconds_from_kill_to_all_polled}s hits/feed max={max(run.hits)}"
    )


def test_no_feed_fetched_by_two_workers_at_once(run: Run) -> None:
    assert max(run.concurrency.values()) == 1, {n: c for n, c in run.concurrency.items() if c > 1}


def test_every_article_stored_once(run: Run) -> None:
    articles = query(run.database_url, "SELECT feed_id, entry_key, story_id FROM article")
    expected = FEEDS * (OWN_ITEMS + 1)
    assert len(articles) == expected  # nothing lost
    assert len({(f, k) for f, k, _ in articles}) == expected  # nothing twice
    assert all(story is not None for *_, story in articles)
    print(f"\nSCALE-OUT articles expected={expected} stored={len(articles)}")


def test_alert_rows_unique_per_chat_and_story(run: Run) -> None:
    alerts = query(run.database_url, "SELECT chat_id, story_id FROM alert")
    assert max(Counter(alerts).values(), default=1) == 1  # the outbox constraint holds


def test_every_story_stored_once(run: Run) -> None:
    rows = query(run.database_url, "SELECT url, story_id FROM article")
    stories_of: dict[str, set[int]] = defaultdict(set)
    for link, story in rows:
        stories_of[link].add(story)
    split = {link: sorted(s) for link, s in stories_of.items() if len(s) > 1}
    stories = query(run.database_url, "SELECT count(*) FROM story")[0][0]
    print(f"\nSCALE-OUT stories={stories} links-split-across-stories={len(split)}/{len(PAIRS)}")
    assert not split, split


def test_every_watched_event_alerts_each_chat_once(run: Run) -> None:
    alerts = query(run.database_url, "SELECT chat_id, story_id FROM alert")
    per_chat = Counter(chat for chat, _ in alerts)
    expected = expected_alerts()
    print(
        f"\nSCALE-OUT alerts expected={sum(expected.values())} enqueued={len(alerts)} "
        f"per chat={dict(per_chat)} expected per chat={expected}"
    )
    assert {chat: per_chat.get(chat, 0) for chat in CHATS} == expected


async def test_concurrent_first_start_seeds_once(tmp_path: Path, postgres_url: str) -> None:
    """Three workers' first start, at the same instant: each seeds the default feeds."""
    feeds = tmp_path / "feeds.toml"
    feeds.write_text(
        "".join(f'[[feed]]\nurl = "https://seed.example/{n}.xml"\n' for n in range(300)),
        encoding="utf-8",
    )
    opened = [await open_database(postgres_url) for _ in range(3)]
    try:
        added = await asyncio.gather(
            *(seed_default_feeds(sessions, feeds) for _, sessions in opened)
        )
    finally:
        for engine, _ in opened:
            await engine.dispose()
    assert sorted(added) == [0, 0, 300]
    assert await _query(postgres_url, "SELECT count(*) FROM feed") == [(300,)]


def test_every_alert_delivered_once_by_the_bot(run: Run) -> None:
    if run.delivered is None:
        pytest.skip("the Telegram emulator (../shared/tg-emulator and node) is not available")
    expected = {chat: n for chat, n in expected_alerts().items() if n}
    print(f"\nSCALE-OUT delivered per chat={run.delivered} expected={expected}")
    assert run.delivered == expected  # each watched event once: none lost, none twice
