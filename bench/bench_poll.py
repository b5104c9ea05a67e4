"""Poll cycle: N real feeds over HTTP with added latency, against two floors and a naive loop.

    python bench/bench_poll.py [--feeds 1000] [--latency-ms 100] [--concurrency 50]
                               [--naive-sample 50] [--latency-interval 5] [--no-latency]
                               [--profile FILE [--profile-cycle 2]]

The 66 real feed documents of ../shared/corpora/real-feeds are cycled to make ``--feeds``
distinct feeds (each at its own path, with an ETag), served by ``tests/feedserver.py`` in a
separate process (so its CPU is not ours) that waits ``--latency-ms`` before every response.

Measured in the same run:

* parse floor: the sum of single-threaded ``feedparser.parse(bytes)`` times of the N documents,
  divided by the number of cores;
* network floor: N x latency / concurrency (``max_connections`` = ``max_per_host``);
* naive loop: sequential ``feedparser.parse(url)`` over ``--naive-sample`` feeds spread over
  the N, extrapolated to N (so the naive figure is an extrapolation, labelled so);
* cycle 1 and cycle 2 of ``Monitor.poll_cycle(every_feed=True)`` on a temp SQLite database
  (cycle 2 sees only 304s), wall and CPU seconds of this process and its children;
* peak RSS of this process and of its largest child;
* latency (unless ``--no-latency``): ``defwatch poll`` runs with a poll interval of
  ``--latency-interval`` seconds against a few feeds; an item is added to one of them and the
  time until its article is in the database is measured (target: interval + 5 s).

``--profile FILE`` records cycle 1 (``--profile-cycle 2``: cycle 2) with pyinstrument and
writes its text report to FILE.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    REPO,
    CpuMeter,
    ServerProcess,
    Stopwatch,
    feed_urls,
    real_feeds,
    table,
    verdict,
)

# --- floors and the naive baseline -----------------------------------------------------------


def parse_floor(docs, feeds: int, cores: int) -> tuple[float, float, int]:
    """(sum of single-threaded parse seconds of the N documents, / cores, total bytes)."""
    import feedparser

    seconds = []
    for doc in docs[:feeds]:
        started = time.process_time()
        feedparser.parse(doc.decoded)
        seconds.append(time.process_time() - started)
    total = sum(seconds[i % len(seconds)] for i in range(feeds))
    size = sum(len(docs[i % len(docs)].decoded) for i in range(feeds))
    return total, total / cores, size


def naive_loop(urls: list[str], sample: int) -> tuple[float, int]:
    """Seconds per feed of a sequential ``feedparser.parse(url)`` loop over a spread sample."""
    import feedparser

    picks = sorted({round(k * len(urls) / sample) for k in range(sample)} - {len(urls)})
    started = time.perf_counter()
    for index in picks:
        feedparser.parse(urls[index])
    return (time.perf_counter() - started) / len(picks), len(picks)


# --- the system under test -------------------------------------------------------------------


def write_config(folder: Path, urls: list[str], concurrency: int) -> dict[str, str]:
    feeds = folder / "feeds.toml"
    feeds.write_text("".join(f'[[feed]]\nurl = "{u}"\n' for u in urls), encoding="utf-8")
    config = folder / "defwatch.toml"
    config.write_text(
        f'[poll]\nfeeds_file = "{feeds}"\nmax_connections = {concurrency}\n'
        f"max_per_host = {concurrency}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEFWATCH_", "TELEGRAM_"))}
    env.update(
        DEFWATCH_CONFIG=str(config),
        DEFWATCH_DATABASE_URL=f"sqlite:///{folder / 'defwatch.db'}",
    )
    return env


async def run_cycles(
    env: dict[str, str], meter: CpuMeter, profile: Path | None, profile_cycle: int = 1
):
    from monitors.runner import Monitor
    from monitors.settings import load_settings

    settings = load_settings(env)
    async with Monitor.open(settings) as monitor:
        with _profiled(profile if profile_cycle == 1 else None), Stopwatch(meter) as first:
            report1 = await monitor.poll_cycle(every_feed=True)
        with _profiled(profile if profile_cycle == 2 else None), Stopwatch(meter) as second:
            report2 = await monitor.poll_cycle(every_feed=True)
    return first, report1, second, report2


@contextlib.contextmanager
def _profiled(report: Path | None) -> Iterator[None]:
    """pyinstrument over the block, its text report written to ``report`` (None: no profile)."""
    if report is None:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(async_mode="enabled")
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        report.write_text(profiler.output_text(unicode=True, show_all=False))


# --- latency: defwatch poll on a schedule ------------------------------------------------------

_ITEM = (
    "<item><title>Azerbaijan and Pakistan sign defence cooperation agreement {n}</title>"
    "<description>The defence ministers of Azerbaijan and Pakistan signed an agreement on "
    "military cooperation and joint exercises.</description><guid>latency-{n}</guid></item>"
)


def _rss(items: int) -> bytes:
    body = "".join(_ITEM.format(n=n) for n in range(items))
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>latency</title>{body}</channel></rss>"
    ).encode()


def latency_check(folder: Path, latency: float, interval: float, rounds: int) -> list[float]:
    """Seconds from an item appearing in a feed to its article being stored, per round."""
    server = ServerProcess(0, latency)
    try:
        path = "/latency.xml"
        server.set(path, _rss(1), '"l-1"')
        env = write_config(folder, [server.base_url + path], 10)
        env["DEFWATCH_POLL_INTERVAL"] = str(interval)
        db = folder / "defwatch.db"
        log = (folder / "poll.log").open("w")  # kept for a failed run: see _wait_for_key
        poller = subprocess.Popen(
            [sys.executable, "-m", "monitors.cli", "poll"],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_for_key(db, "latency-0", 60)
            results = []
            for n in range(1, rounds + 1):
                server.set(path, _rss(n + 1), f'"l-{n + 1}"')
                started = time.monotonic()
                _wait_for_key(db, f"latency-{n}", interval * 3 + 30)
                results.append(time.monotonic() - started)
            return results
        finally:
            poller.terminate()
            try:
                poller.wait(30)
            except subprocess.TimeoutExpired:
                poller.kill()
                poller.wait()
            log.close()
    finally:
        server.close()


def _wait_for_key(db: Path, key: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db, timeout=1) as connection:
                    # feedparser resolves the guid against the feed URL: match its tail
                    if connection.execute(
                        "SELECT 1 FROM article WHERE entry_key LIKE ?", (f"%/{key}",)
                    ).fetchone():
                        return
            except sqlite3.OperationalError:
                pass  # not migrated yet
        time.sleep(0.05)
    raise TimeoutError(f"latency check: {key} not stored within {timeout:.0f} s (see poll.log)")


# --- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--naive-sample", type=int, default=50)
    parser.add_argument("--latency-interval", type=float, default=5.0)
    parser.add_argument("--latency-rounds", type=int, default=3)
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--profile", type=Path)
    parser.add_argument("--profile-cycle", type=int, choices=(1, 2), default=1)
    args = parser.parse_args(argv)
    latency = args.latency_ms / 1000
    cores = os.cpu_count() or 1

    docs = real_feeds()
    parse_sum, parse_floor_s, total_bytes = parse_floor(docs, args.feeds, cores)
    network_floor = args.feeds * latency / args.concurrency
    floor = max(parse_floor_s, network_floor)

    server = ServerProcess(args.feeds, latency)
    meter = CpuMeter(exclude={server.process.pid})
    try:
        urls = feed_urls(server.base_url, docs, args.feeds)
        naive_per_feed, naive_n = naive_loop(urls, min(args.naive_sample, args.feeds))
        naive_total = naive_per_feed * args.feeds
        with tempfile.TemporaryDirectory(prefix="defwatch-bench-poll-") as tmp:
            env = write_config(Path(tmp), urls, args.concurrency)
            first, report1, second, report2 = asyncio.run(
                run_cycles(env, meter, args.profile, args.profile_cycle)
            )
            rss_self, rss_child = meter.peak_rss_mb()
    finally:
        server.close()

    print(
        f"{args.feeds} feeds ({total_bytes / 1e6:.1f} MB decoded, {len(docs)} real documents "
        f"cycled), {args.latency_ms:g} ms latency, concurrency {args.concurrency}, {cores} cores"
    )
    print(f"cycle 1: {report1.summary()}")
    print(f"cycle 2: {report2.summary()}")
    rows: list[list[object]] = [
        ["parse floor (sum single-thread parse / cores)", parse_floor_s, "", ""],
        ["network floor (feeds x latency / concurrency)", network_floor, "", ""],
        [
            f"naive sequential feedparser.parse(url) (extrapolated from {naive_n})",
            naive_total,
            "",
            "",
        ],
        ["cycle 1 (all new)", first.wall, first.cpu, f"{first.wall / floor:.2f}x floor"],
        [
            "cycle 2 (unchanged, 304)",
            second.wall,
            second.cpu,
            f"{naive_total / second.wall:.0f}x faster than naive",
        ],
    ]
    print()
    print(table("poll cycle", ["", "wall s", "CPU s", "vs baseline"], rows), flush=True)

    latencies: list[float] = []
    latency_error = None
    if not args.no_latency:
        with tempfile.TemporaryDirectory(prefix="defwatch-bench-latency-") as tmp:
            try:
                latencies = latency_check(
                    Path(tmp), latency, args.latency_interval, args.latency_rounds
                )
            except TimeoutError as exc:
                log_text = (Path(tmp) / "poll.log").read_text(errors="replace")[-2000:]
                latency_error = f"{exc}\n{log_text}"
    checks = [
        ["cycle 1 <= 1.5 x larger floor", f"{first.wall:.2f} s vs {1.5 * floor:.2f} s",
         verdict(first.wall <= 1.5 * floor)],
        ["cycle 2 >= 20 x faster than naive", f"{naive_total / second.wall:.1f}x",
         verdict(naive_total / second.wall >= 20)],
        ["cycle 2 CPU <= cycle 1 CPU / 10", f"{first.cpu / max(second.cpu, 1e-9):.1f}x less",
         verdict(second.cpu * 10 <= first.cpu)],
        ["peak RSS < 200 MB (self / largest child)", f"{rss_self:.0f} / {rss_child:.0f} MB",
         verdict(max(rss_self, rss_child) < 200)],
    ]  # fmt: skip
    if latency_error:
        print(latency_error, file=sys.stderr)
        checks.append(["story stored within interval + 5 s", "not stored", "MISSED"])
    if latencies:
        worst = max(latencies)
        limit = args.latency_interval + 5
        checks.append(
            [
                f"story stored within interval + 5 s (interval {args.latency_interval:g} s)",
                f"worst {worst:.2f} s (" + ", ".join(f"{s:.2f}" for s in latencies) + ")",
                verdict(worst <= limit),
            ]
        )
    print()
    print(table("targets", ["target", "measured", "verdict"], checks))
    print(f"\n(parse: sum {parse_sum:.2f} s single-threaded; floor used {floor:.2f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
