"""Delivery: a fan-out of N alerts through the bot's real outbox consumer against the tg-emulator.

    python bench/bench_delivery.py [--alerts 3000] [--chats N] [--flood 30] [--naive-sample 100]
                                   [--timeout S] [--top 15] [--no-profile]

Setup (per run, not timed): a temp SQLite database (``monitors.db.open_database``), ``--chats``
chats each watching Poland, one story (more if ``--alerts`` > ``--chats``: one alert per chat
per story) and its ``--alerts`` pending alert rows, bulk-inserted. The system under test is
``bot.delivery.Deliverer`` driving the ``Bot`` of a real PTB ``Application`` built by
``bot.app.build_application`` (so with its ``AIORateLimiter(max_retries=0)``), pointed at the
tg-emulator (``tests/tg.py`` starts ``node emulator.js`` on a free 127.0.0.1 port) through
``TELEGRAM_API_BASE_URL``. ``deliver_due`` is called in a loop, as the ``deliver`` job does,
until no alert is pending or sending (alerts hit by a 429 come back after ``retry_after``) or
``--timeout``.

Runs, each with its own bot token (flood limits and messages are per token):

* flood limit ON (``POST /_emu/ratelimit {"global_per_sec": F, "per_chat_per_sec": 1,
  "retry_after": 1}``): messages/s from the first to the last successful sendMessage in the
  emulator's call log; 429s answered; lost (alerts with no message in their chat); duplicated
  (messages beyond one per chat and story);
* flood limit OFF: the raw rate (the baseline of the limited run), then the same fan-out again
  under cProfile: where the main thread's time goes (grouped by library, and the top functions
  by cumulative time); the SQLite work itself runs in aiosqlite's thread and shows up in the
  main thread as waiting;
* naive baseline: a sequential ``await bot.send_message(...)`` loop with a plain PTB ``Bot``
  over ``--naive-sample`` chats, same alert text, flood limit off (and on, to show what a loop
  without a limiter loses).

Skips (exit 0, with a message) when node/npm or ../shared/tg-emulator are absent.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import REPO, _proc_cpu, table, verdict

EMULATOR_DIR = REPO.parent / "shared" / "tg-emulator"
CHAT_BASE = 500_000_000
CODES = ("PL", "LT")
TITLE = "Poland and Lithuania sign air defence pact"


def skip_reason() -> str | None:
    if not (EMULATOR_DIR / "emulator.js").is_file():
        return f"tg-emulator not found at {EMULATOR_DIR}"
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are needed to run the tg-emulator"
    return None


# --- setup -------------------------------------------------------------------------------------


def story_title(index: int, stories: int) -> str:
    return TITLE if stories == 1 else f"{TITLE} (part {index + 1})"


async def seed(sessions, alerts: int, chats: int) -> int:
    """``chats`` chats watching PL and ``alerts`` pending alerts (one per chat and story);
    returns the number of stories."""
    from sqlalchemy import insert

    from monitors.models import Alert, Chat, Story, StoryCountry, WatchRule

    now = datetime.now(UTC)
    stories = -(-alerts // chats)
    async with sessions.begin() as session:
        await session.execute(
            insert(Chat),
            [
                {"id": CHAT_BASE + i, "type": "private", "title": None, "subscribed_at": now}
                for i in range(chats)
            ],
        )
        await session.execute(
            insert(WatchRule),
            [
                {"chat_id": CHAT_BASE + i, "kind": "country", "value": "PL", "display": "Poland"}
                for i in range(chats)
            ],
        )
        for s in range(stories):
            session.add(
                Story(
                    id=s + 1,
                    title=story_title(s, stories),
                    url=f"https://news.example/{s + 1}",
                    summary="Defence ministers signed an agreement on joint air defence.",
                    published_at=now,
                    first_seen_at=now,
                    last_seen_at=now,
                    is_defence_cooperation=True,
                    cooperation_type="agreement",
                )
            )
            for code in CODES:
                session.add(
                    StoryCountry(
                        story_id=s + 1,
                        code=code,
                        role="participant",
                        published_at=now,
                        is_defence_cooperation=True,
                    )
                )
        await session.flush()
        rows = [
            {
                "chat_id": CHAT_BASE + (n % chats),
                "story_id": n // chats + 1,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "matched": ["Poland"],
                "created_at": now,
                "edited_count": 0,
            }
            for n in range(alerts)
        ]
        for start in range(0, len(rows), 1000):
            await session.execute(insert(Alert), rows[start : start + 1000])
    return stories


async def outbox_counts(sessions) -> dict[str, int]:
    from sqlalchemy import func, select

    from monitors.models import Alert

    async with sessions() as session:
        rows = await session.execute(select(Alert.status, func.count()).group_by(Alert.status))
        return {status: count for status, count in rows.all()}


# --- one delivery run --------------------------------------------------------------------------


@dataclass
class Run:
    label: str
    token: str
    wall: float = 0.0  # first claim to outbox empty (or timeout)
    sent: int = 0  # 200s in the call log
    limited: int = 0  # 429s in the call log
    rate: float = 0.0  # successful sends/s, first to last, from the call log
    lost: int = 0
    duplicated: int = 0
    retry_after_seen: int = 0
    statuses: dict[str, int] | None = None
    main_cpu: float = 0.0  # CPU s of the thread running the event loop
    process_cpu: float = 0.0  # CPU s of this process (every thread)
    emulator_cpu: float = 0.0
    timed_out: bool = False


def _process_cpu() -> float:
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime


async def deliver_all(
    settings, sessions, timeout: float, profiler=None, with_limiter: bool = True
) -> tuple:
    """The real Application's bot + Deliverer, ``deliver_due`` until the outbox is drained."""
    from bot.app import MAX_DELIVERY_LEASE, build_application
    from bot.delivery import Deliverer

    application = build_application(settings)
    if not with_limiter:  # the same bot minus .rate_limiter(...): the pipeline's own capacity
        from telegram.ext import Application

        from bot.app import api_urls

        base_url, base_file_url = api_urls(settings.telegram_api_base_url)
        application = (
            Application.builder()
            .token(settings.bot_token)
            .defaults(application.bot.defaults)
            .base_url(base_url)
            .base_file_url(base_file_url)
            .build()
        )
    async with application:  # initialize(): getMe, rate limiter
        deliverer = Deliverer(
            application.bot, sessions, lease=min(settings.lease_seconds, MAX_DELIVERY_LEASE)
        )
        retry_after_seen = 0
        deadline = time.monotonic() + timeout
        cpu0, thread0, wall0 = _process_cpu(), time.thread_time(), time.perf_counter()
        if profiler is not None:
            profiler.enable()
        try:
            while True:
                report = await deliverer.deliver_due(keep_going=lambda: time.monotonic() < deadline)
                retry_after_seen += report.retry_after_seen
                counts = await outbox_counts(sessions)
                if not counts.get("pending") and not counts.get("sending"):
                    break
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.05)  # 429'd alerts are due again after retry_after
        finally:
            if profiler is not None:
                profiler.disable()
        wall = time.perf_counter() - wall0
        cpu, thread = _process_cpu() - cpu0, time.thread_time() - thread0
    timed_out = bool(counts.get("pending") or counts.get("sending"))
    return wall, cpu, thread, retry_after_seen, counts, timed_out


def run_delivery(
    emu, label: str, token: str, alerts: int, chats: int, timeout: float, *,
    flood: float | None, profiler=None, with_limiter: bool = True,
) -> Run:  # fmt: skip
    from monitors.db import open_database
    from monitors.settings import load_settings

    run = Run(label, token)
    with tempfile.TemporaryDirectory(prefix="defwatch-bench-delivery-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'delivery.db'}"
        env = {
            "TELEGRAM_BOT_TOKEN": token,
            "TELEGRAM_API_BASE_URL": emu.bot_api_base,
            "DEFWATCH_DATABASE_URL": url,
        }
        settings = load_settings(env)

        async def go() -> tuple:
            engine, sessions = await open_database(url)
            try:
                stories = await seed(sessions, alerts, chats)
                if flood:
                    emu.set_rate_limit(
                        global_per_sec=flood, per_chat_per_sec=1, retry_after=1, token=token
                    )
                try:
                    return stories, await deliver_all(
                        settings, sessions, timeout, profiler, with_limiter
                    )
                finally:
                    if flood:
                        emu.set_rate_limit()
            finally:
                await engine.dispose()

        emu_cpu0 = _proc_cpu(emu.proc.pid)
        stories, (wall, cpu, thread, seen, counts, timed_out) = asyncio.run(go())
        run.emulator_cpu = _proc_cpu(emu.proc.pid) - emu_cpu0
    run.wall, run.process_cpu, run.main_cpu = wall, cpu, thread
    run.retry_after_seen, run.statuses, run.timed_out = seen, counts, timed_out
    calls = emu.calls(method="sendMessage", token=token)
    ok = sorted(c["ts"] for c in calls if c["status"] == 200)
    run.sent, run.limited = len(ok), sum(1 for c in calls if c["status"] == 429)
    span = (ok[-1] - ok[0]) / 1000 if len(ok) > 1 else 0.0
    run.rate = (len(ok) - 1) / span if span > 0 else 0.0
    # What the chats received: messages per (chat, story), stories told apart by their title.
    titles = [story_title(s, stories) for s in range(stories)]
    got: Counter[tuple[int, int]] = Counter()
    for message in emu.messages(token):
        for s in sorted(range(stories), key=lambda s: -len(titles[s])):  # longest title first
            if titles[s] in message.text:
                got[(message.chat_id, s)] += 1
                break
    expected = {(CHAT_BASE + n % chats, n // chats) for n in range(alerts)}
    run.lost = len(expected - set(got))
    run.duplicated = sum(count - 1 for count in got.values() if count > 1)
    return run


# --- the naive baseline ------------------------------------------------------------------------


@dataclass
class Naive:
    label: str
    n: int
    wall: float
    ok: int
    errors: Counter[str]

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0


def alert_text() -> str:
    from bot import formatting
    from monitors.domain import StoryView

    async def view() -> StoryView:
        from monitors import store
        from monitors.db import open_database

        with tempfile.TemporaryDirectory(prefix="defwatch-bench-delivery-") as tmp:
            engine, sessions = await open_database(f"sqlite:///{Path(tmp) / 'text.db'}")
            try:
                await seed(sessions, 1, 1)
                async with sessions() as session:
                    [story] = await store.story_views(session, [1])
                    return story
            finally:
                await engine.dispose()

    return formatting.format_alert(asyncio.run(view()), ["Poland"])


def naive_loop(emu, label: str, token: str, n: int, text: str, flood: float | None) -> Naive:
    """``for chat in chats: await bot.send_message(chat, text)``, plain PTB Bot, no limiter."""
    from telegram import Bot, LinkPreviewOptions
    from telegram.constants import ParseMode

    async def go() -> Naive:
        errors: Counter[str] = Counter()
        ok = 0
        async with Bot(token, base_url=emu.bot_api_base) as bot:
            started = time.perf_counter()
            for i in range(n):
                try:
                    await bot.send_message(
                        CHAT_BASE + i,
                        text,
                        parse_mode=ParseMode.HTML,
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                    )
                    ok += 1
                except Exception as exc:  # counted and reported
                    errors[type(exc).__name__] += 1
            wall = time.perf_counter() - started
        return Naive(label, n, wall, ok, errors)

    if flood:
        emu.set_rate_limit(global_per_sec=flood, per_chat_per_sec=1, retry_after=1, token=token)
    try:
        return asyncio.run(go())
    finally:
        if flood:
            emu.set_rate_limit()


# --- where the time goes -----------------------------------------------------------------------

CATEGORIES: Sequence[tuple[str, tuple[str, ...]]] = (
    ("waiting for I/O (epoll: emulator replies, aiosqlite thread)", ("select.epoll",)),
    ("import machinery (httpcore retries `import sniffio` per request)", ("importlib",)),
    ("PTB rate limiter (aiolimiter)", ("aiolimiter", "telegram/ext/_aioratelimiter")),
    ("PTB: request building, (de)serialising objects", ("/telegram/",)),
    ("httpx / httpcore / h11 (HTTP client)", ("/httpx/", "/httpcore/", "/h11/", "/anyio/")),
    ("SQLAlchemy + aiosqlite (claim/mark/count, main-thread side)",
     ("/sqlalchemy/", "/aiosqlite/", "greenlet")),
    ("defwatch (bot/, monitors/: formatting, delivery)", ("/bot/", "/monitors/")),
    ("asyncio event loop, sockets", ("asyncio", "selectors.py", "_socket.socket")),
)  # fmt: skip
OTHER = "other (stdlib, builtins)"


def _where(func: tuple[str, int, str]) -> str:
    path, _, name = func
    return f"{path} {name}"


def _category(func: tuple[str, int, str]) -> str | None:
    where = _where(func)
    for name, needles in CATEGORIES:
        if any(needle in where for needle in needles):
            return name
    return None


def categorise(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Self time (tottime) of the main thread, grouped by library.

    Builtins and stdlib helpers (``socket.send``, ``dict.get``, ``re``, ``urllib.parse``…)
    belong to whoever called them: their time is split over their callers (by the time spent
    from each caller), up to a few levels up.
    """
    table_: dict = stats.stats  # type: ignore[attr-defined]
    totals: Counter[str] = Counter()

    def charge(func: tuple[str, int, str], seconds: float, depth: int) -> None:
        name = _category(func)
        if name is None and depth < 4 and func in table_:
            callers = table_[func][4]
            spent = sum(v[2] for v in callers.values())
            if spent > 0:
                for caller, v in callers.items():
                    charge(caller, seconds * v[2] / spent, depth + 1)
                return
        totals[name or OTHER] += seconds

    for func, (_cc, _nc, tottime, _ct, _callers) in table_.items():
        charge(func, tottime, 0)
    return totals.most_common()


def short(func: tuple[str, int, str]) -> str:
    path, line, name = func
    if path == "~":
        return name
    parts = Path(path).parts
    for anchor in ("site-packages", "python3.11", "main"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1 :]
            break
    return f"{'/'.join(parts[-3:])}:{line}({name})"


SKIP_TOP = ("asyncio/", "<built-in method builtins.exec>", "bench_delivery.py", "events.py")


def top_cumulative(stats: pstats.Stats, count: int) -> list[list[object]]:
    rows = []
    entries = sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda item: item[1][3],
        reverse=True,
    )
    for func, (_cc, ncalls, tottime, cumtime, _callers) in entries:
        name = short(func)
        if any(s in _where(func) or s in name for s in SKIP_TOP):
            continue  # the event loop's own frames and this script: every coroutine is under them
        rows.append([name, ncalls, tottime, cumtime])
        if len(rows) == count:
            break
    return rows


STEPS: Sequence[tuple[str, str, str]] = (
    ("outbox.claim_due (coroutine frames)", "monitors/outbox.py", "claim_due"),
    ("store.story_views (coroutine frames)", "monitors/store.py", "story_views"),
    ("Session.execute (sync part, in greenlets)", "sqlalchemy/orm/session.py", "execute"),
    ("Session.commit (sync part, one per message)", "sqlalchemy/orm/session.py", "commit"),
    ("formatting.format_alert", "bot/formatting.py", "format_alert"),
    ("bot.send_message (PTB + httpx)", "telegram/ext/_extbot.py", "send_message"),
    ("  httpx AsyncClient.send", "httpx/_client.py", "send"),
    ("  httpcore current_async_library (import sniffio)", "httpcore/_synchronization.py",
     "current_async_library"),
)  # fmt: skip


def delivery_steps(stats: pstats.Stats) -> list[list[object]]:
    """Main-thread seconds (cumulative) in the steps of the delivery loop."""
    rows = []
    for label, path, name in STEPS:
        found = [
            (v[1], v[3])
            for (file, _line, fn), v in stats.stats.items()  # type: ignore[attr-defined]
            if fn == name and file.endswith(path)
        ]
        if found:
            rows.append([label, sum(n for n, _ in found), sum(c for _, c in found)])
    return rows


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--alerts", type=int, default=3000)
    parser.add_argument("--chats", type=int, default=None, help="default: --alerts")
    parser.add_argument("--flood", type=float, default=30.0, help="emulated limit, messages/s")
    parser.add_argument("--naive-sample", type=int, default=100)
    parser.add_argument("--timeout", type=float, default=None, help="per run, seconds")
    parser.add_argument("--top", type=int, default=12, help="functions in the profile table")
    parser.add_argument("--no-profile", action="store_true", help="skip the cProfile run")
    args = parser.parse_args(argv)
    alerts, chats = args.alerts, args.chats or args.alerts
    if alerts < 1 or chats < 1 or chats > alerts:
        parser.error("need 1 <= --chats <= --alerts")
    timeout = args.timeout or alerts / args.flood * 3 + 60
    naive_n = min(args.naive_sample, chats)

    reason = skip_reason()
    if reason:
        print(f"SKIP bench_delivery: {reason}")
        return 0

    os.environ.setdefault("PTB_TIMEDELTA", "1")  # as bot.app.run_bot does
    import logging

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("bot.delivery", "telegram.ext.AIORateLimiter"):  # 429s are counted instead
        logging.getLogger(name).setLevel(logging.CRITICAL)
    from tests.tg import Emulator

    with tempfile.TemporaryDirectory(prefix="defwatch-bench-emu-") as tmp:
        emu = Emulator.start(EMULATOR_DIR, Path(tmp) / "emulator.log")
        try:
            print(
                f"fan-out of {alerts:,} alerts to {chats:,} chats; tg-emulator pid "
                f"{emu.proc.pid} at {emu.url}",
                flush=True,
            )
            text = alert_text()
            naive_raw = naive_loop(
                emu, "naive loop, flood off", "610001:NAIVE-RAW", naive_n, text, None
            )
            print(f"  naive loop (flood off): {naive_raw.rate:.0f} msg/s", flush=True)
            raw = run_delivery(
                emu, "Deliverer, flood off", "610002:RAW", alerts, chats, timeout, flood=None
            )
            print(f"  raw (flood off): {raw.rate:.1f} msg/s", flush=True)
            bare = run_delivery(
                emu,
                "Deliverer, flood off, no AIORateLimiter",
                "610006:BARE",
                alerts,
                chats,
                timeout,
                flood=None,
                with_limiter=False,
            )
            print(f"  flood off, no AIORateLimiter: {bare.rate:.0f} msg/s", flush=True)
            limited = run_delivery(
                emu,
                f"Deliverer, flood {args.flood:g}/s",
                "610003:LIMITED",
                alerts,
                chats,
                timeout,
                flood=args.flood,
            )
            print(f"  limited: {limited.rate:.1f} msg/s", flush=True)
            naive_lim = naive_loop(
                emu,
                f"naive loop, flood {args.flood:g}/s",
                "610004:NAIVE-LIMITED",
                naive_n,
                text,
                args.flood,
            )
            profile = profiled = None
            if not args.no_profile:
                profile = cProfile.Profile()
                profiled = run_delivery(
                    emu,
                    "Deliverer, flood off, no AIORateLimiter, cProfile",
                    "610005:PROFILED",
                    alerts,
                    chats,
                    timeout,
                    flood=None,
                    profiler=profile,
                    with_limiter=False,
                )
        finally:
            emu.stop()

    def run_row(r: Run, baseline: str) -> list[object]:
        return [r.label, r.sent, r.wall, r.rate, r.limited, r.lost, r.duplicated, baseline]

    rows: list[list[object]] = [
        [naive_raw.label + f" ({naive_n} chats)", naive_raw.ok, naive_raw.wall, naive_raw.rate,
         0, naive_raw.n - naive_raw.ok, 0, "baseline"],
        run_row(raw, f"{raw.rate / naive_raw.rate:.2f} x naive" if naive_raw.rate else ""),
        run_row(bare, f"{bare.rate / naive_raw.rate:.2f} x naive" if naive_raw.rate else ""),
        run_row(limited, f"{limited.rate / raw.rate:.1%} of raw" if raw.rate else ""),
        [naive_lim.label + f" ({naive_n} chats)", naive_lim.ok, naive_lim.wall, naive_lim.rate,
         naive_lim.errors.get("RetryAfter", 0), naive_lim.n - naive_lim.ok, 0,
         "no limiter: 429s lose messages"],
    ]  # fmt: skip
    print()
    print(
        table(
            f"Delivery: {alerts:,} alerts to {chats:,} chats (Deliverer + PTB Application, SQLite "
            "outbox) vs tg-emulator; msg/s = first to last 200 in the emulator's call log",
            ["run", "sent", "wall s", "msg/s", "429s", "lost", "dup", "vs baseline"],
            rows,
        )
    )
    for r in (raw, bare, limited):
        if r.timed_out:
            print(f"!! {r.label}: timed out after {timeout:.0f} s: outbox {r.statuses}")
    print()
    print(
        table(
            "CPU seconds of the delivery loop (main thread ~ wall: Python-bound; much less: "
            "waiting, e.g. in AIORateLimiter)",
            ["run", "wall s", "main thread", "process", "emulator", "msg per main-CPU s"],
            [
                [r.label, r.wall, r.main_cpu, r.process_cpu, r.emulator_cpu,
                 r.sent / r.main_cpu if r.main_cpu else 0.0]
                for r in (raw, bare, limited)
            ],
        )
    )  # fmt: skip
    floor = 0.9 * args.flood
    print()
    print(
        table(
            "targets",
            ["target", "measured", "verdict"],
            [
                [f"flood {args.flood:g}/s: sustained >= {floor:g} msg/s", f"{limited.rate:.1f}",
                 verdict(limited.rate >= floor)],
                ["flood on: no message lost", str(limited.lost), verdict(limited.lost == 0)],
                ["flood on: no duplicate", str(limited.duplicated),
                 verdict(limited.duplicated == 0)],
                ["flood on: a handful of 429s (<= 5)", str(limited.limited),
                 verdict(limited.limited <= 5)],
                ["flood off: raw rate reported", f"{raw.rate:.1f} msg/s "
                 f"({bare.rate:.0f} without AIORateLimiter)", "-"],
            ],
        )
    )  # fmt: skip
    if profile is not None and profiled is not None:
        stats = pstats.Stats(profile)
        total = sum(t for _, t in categorise(stats)) or 1.0
        print()
        print(
            table(
                f"Where the time goes: {profiled.label}, {profiled.sent:,} sent in "
                f"{profiled.wall:.1f} s ({profiled.rate:.0f} msg/s under the profiler); "
                "main-thread self time by library",
                ["library", "s", "share"],
                [[name, seconds, f"{seconds / total:.0%}"] for name, seconds in categorise(stats)],
            )
        )
        print()
        print(
            table(
                "steps of the delivery loop: main-thread seconds, cumulative (SQLAlchemy's sync "
                "code runs in greenlets, SQLite in aiosqlite's thread)",
                ["step", "calls*", "cum s"],
                delivery_steps(stats),
            )
        )
        print()
        print(
            table(
                f"top {args.top} functions by cumulative time (event-loop frames left out; "
                "*coroutine resumptions count as calls)",
                ["function", "calls*", "self s", "cum s"],
                top_cumulative(stats, args.top),
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
