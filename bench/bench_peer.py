"""defwatch against the `reader` feed-reader library, side by side on the same feeds.

    python bench/bench_peer.py [--feeds 200,1000] [--latency-ms 100] [--concurrency 50]
                               [--max-kb 300]

For each feed count N: N feeds made from copies of the real documents of
../shared/corpora/real-feeds (only those of at most ``--max-kb`` KB decoded), served by
``tests/feedserver.py`` in a separate process on 127.0.0.1 that waits ``--latency-ms`` before
every response and answers 304 to a matching ETag. Both tools poll the same server twice, on
their own fresh SQLite database, at the same concurrency:

* defwatch: ``python -m monitors.cli poll --once`` with ``[poll] max_connections = max_per_host
  = concurrency`` and an empty ``feeds_file`` (the feeds imported as OPML beforehand, untimed);
* reader (when importable: ``pip install -e '.[bench]'``; skipped with a message otherwise):
  a process running ``make_reader(db)`` and ``update_feeds(workers=concurrency,
  scheduled=False)`` (feeds added beforehand, untimed).

The first poll stores every entry (defwatch also classifies and clusters them); the second
sees only 304s. Times are wall seconds of the whole process (start-up included, as an
operator sees it); reader's ``update_feeds`` call alone is printed beside it. Peak RSS is the
largest resident size of any defwatch process (the main one or a parse worker), sampled from
``/proc`` every 50 ms, and the kernel's high-water mark of the main process. CPU seconds are
the main process's own (``wait4``) plus its descendants' as last sampled (the pool's fork
server and workers): on a loaded machine the wall ratio swings, the CPU figures much less.

This script installs nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import NamedTuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (
    REPO,
    ServerProcess,
    _children,
    _proc_cpu,
    _proc_hwm_mb,
    feed_urls,
    real_feeds,
    table,
)


def reader_available() -> bool:
    try:
        import reader  # noqa: F401
    except ImportError:
        return False
    return True


# --- running a tool as a process, with its peak RSS --------------------------------------------


class RssSampler(threading.Thread):
    """Largest VmHWM of ``pid`` and its descendants, and the CPU seconds each descendant
    had used when last seen, sampled until ``stop()``."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.peak_mb = 0.0
        self.cpu: dict[int, float] = {}
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(0.05):
            todo, seen = [self.pid], []
            while todo:
                pid = todo.pop()
                seen.append(pid)
                todo.extend(_children(pid))
            self.peak_mb = max([self.peak_mb, *(_proc_hwm_mb(pid) for pid in seen)])
            for pid in seen[1:]:  # the main process's own figure comes from wait4
                self.cpu[pid] = max(self.cpu.get(pid, 0.0), _proc_cpu(pid))

    def stop(self) -> float:
        self._stop_event.set()
        self.join()
        return self.peak_mb


class Run(NamedTuple):
    """One timed process: wall s, largest sampled RSS MB of its tree, the kernel's max RSS MB,
    CPU s of the process itself, CPU s of its descendants as last sampled (the parse pool's
    fork server and workers, which it does not reap itself)."""

    wall: float
    rss: float
    hwm: float
    cpu_main: float
    cpu_children: float

    @property
    def cpu(self) -> float:
        return self.cpu_main + self.cpu_children


def timed_run(command: list[str], env: dict[str, str], log: Path) -> Run:
    with log.open("a") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out)
        sampler = RssSampler(process.pid)
        sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    sampled = sampler.stop()
    if process.returncode != 0:
        raise SystemExit(f"{command[2:]} failed ({process.returncode}); see {log}:\n"
                         + log.read_text(errors="replace")[-3000:])  # fmt: skip
    return Run(wall, sampled, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime,
               sum(sampler.cpu.values()))  # fmt: skip


# --- defwatch --------------------------------------------------------------------------------


def defwatch_env(folder: Path, concurrency: int) -> dict[str, str]:
    feeds_file = folder / "feeds.toml"
    feeds_file.write_text("", encoding="utf-8")  # no default feeds: only the imported ones
    config = folder / "defwatch.toml"
    config.write_text(
        f'[poll]\nfeeds_file = "{feeds_file}"\nmax_connections = {concurrency}\n'
        f"max_per_host = {concurrency}\n",
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEFWATCH_", "TELEGRAM_"))}
    env.update(
        DEFWATCH_CONFIG=str(config), DEFWATCH_DATABASE_URL=f"sqlite:///{folder / 'defwatch.db'}"
    )
    return env


def run_defwatch(folder: Path, urls: list[str], concurrency: int) -> dict[str, float]:
    from monitors.opml import OpmlFeed, export_opml

    env = defwatch_env(folder, concurrency)
    opml = folder / "feeds.opml"
    opml.write_bytes(export_opml(OpmlFeed(url=u, title=f"feed {i}") for i, u in enumerate(urls)))
    log = folder / "defwatch.log"
    cli = [sys.executable, "-m", "monitors.cli"]
    subprocess.run([*cli, "feeds", "import", str(opml)], cwd=REPO, env=env, check=True,
                   capture_output=True)  # fmt: skip
    first = timed_run([*cli, "poll", "--once"], env, log)
    second = timed_run([*cli, "poll", "--once"], env, log)
    with sqlite3.connect(folder / "defwatch.db") as db:
        entries = db.execute("SELECT count(*) FROM article").fetchone()[0]
        stories = db.execute("SELECT count(*) FROM story").fetchone()[0]
    return {
        "first": first.wall,
        "second": second.wall,
        "entries": entries,
        "stories": stories,
        "first_cpu": first.cpu,
        "first_cpu_main": first.cpu_main,
        "second_cpu": second.cpu,
        "second_cpu_main": second.cpu_main,
        "rss": max(first.rss, second.rss),
        "hwm": max(first.hwm, second.hwm),
    }


# --- reader ----------------------------------------------------------------------------------


def reader_worker(db: str, urls_file: str, workers: int, add: bool) -> None:
    """In a child process: add the feeds (``add``) or update them all once; JSON on stdout."""
    from reader import make_reader

    started = time.perf_counter()
    reader = make_reader(db)
    try:
        if add:
            for url in Path(urls_file).read_text().split():
                reader.add_feed(url, exist_ok=True)
        else:
            reader.update_feeds(workers=workers, scheduled=False)
        call = time.perf_counter() - started
        entries = reader.get_entry_counts().total
    finally:
        reader.close()
    print(json.dumps({"call": call, "entries": entries}))


def run_reader(folder: Path, urls: list[str], concurrency: int) -> dict[str, float]:
    db, urls_file = folder / "reader.sqlite", folder / "urls.txt"
    urls_file.write_text("\n".join(urls))
    worker = [sys.executable, __file__, "--reader-worker", str(db), str(urls_file),
              "--concurrency", str(concurrency)]  # fmt: skip
    env = dict(os.environ)
    subprocess.run([*worker, "--add"], check=True, capture_output=True, env=env)
    log = folder / "reader.log"
    results = []
    for _ in range(2):
        log.write_text("")
        run = timed_run(worker, env, log)
        report = json.loads(log.read_text().strip().splitlines()[-1])
        results.append((run.wall, report["call"], report["entries"], run.hwm, run.cpu))
    return {
        "first": results[0][0],
        "first_call": results[0][1],
        "second": results[1][0],
        "second_call": results[1][1],
        "entries": results[1][2],
        "hwm": max(r[3] for r in results),
        "first_cpu": results[0][4],
        "second_cpu": results[1][4],
    }


# --- main --------------------------------------------------------------------------------------


def measure(count: int, args: argparse.Namespace) -> list[list[object]]:
    latency = args.latency_ms / 1000
    max_bytes = args.max_kb * 1024
    docs = real_feeds(max_bytes=max_bytes)
    server = ServerProcess(count, latency, max_bytes)
    try:
        urls = feed_urls(server.base_url, docs, count)
        with tempfile.TemporaryDirectory(prefix="defwatch-bench-peer-") as tmp:
            ours = run_defwatch(Path(tmp), urls, args.concurrency)
            theirs = run_reader(Path(tmp), urls, args.concurrency) if args.with_reader else None
    finally:
        server.close()
    size = sum(len(docs[i % len(docs)].decoded) for i in range(count)) / 1e6
    print(f"{count} feeds ({size:.1f} MB, {len(docs)} real documents <= {args.max_kb} KB cycled)")
    print(f"  defwatch stored {ours['entries']:,} articles in {ours['stories']:,} stories;"
          f" peak RSS {ours['rss']:.0f} MB (largest process; main high-water "
          f"{ours['hwm']:.0f} MB)")  # fmt: skip
    print(f"  defwatch CPU s: first poll {ours['first_cpu']:.2f} (main process "
          f"{ours['first_cpu_main']:.2f}), unchanged {ours['second_cpu']:.2f} (main "
          f"{ours['second_cpu_main']:.2f})")  # fmt: skip
    rows: list[list[object]] = []
    if theirs is None:
        rows.append([f"{count} feeds: defwatch first poll", ours["first"], "-", "-", "-"])
        rows.append([f"{count} feeds: defwatch unchanged poll", ours["second"], "-", "-", "-"])
        return rows
    print(f"  reader stored {theirs['entries']:,} entries; main high-water {theirs['hwm']:.0f} MB;"
          f" CPU s: first poll {theirs['first_cpu']:.2f},"
          f" unchanged {theirs['second_cpu']:.2f}")  # fmt: skip
    for label, key in (("first poll", "first"), ("unchanged poll", "second")):
        rows.append(
            [
                f"{count} feeds, {label}",
                ours[key],
                theirs[key],
                theirs[f"{key}_call"],
                f"{ours[key] / theirs[key]:.2f}x",
            ]
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", default="200", help="comma-separated counts, e.g. 200,1000")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--max-kb", type=int, default=300)
    parser.add_argument("--reader-worker", nargs=2, metavar=("DB", "URLS"), help=argparse.SUPPRESS)
    parser.add_argument("--add", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.reader_worker:
        reader_worker(*args.reader_worker, args.concurrency, args.add)
        return 0
    args.with_reader = reader_available()
    if not args.with_reader:
        print("reader is not installed (pip install -e '.[bench]'): defwatch figures only")
    load = os.getloadavg()
    print(f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} on {os.cpu_count()} cores;"
          f" {args.latency_ms:g} ms per response, concurrency {args.concurrency}")  # fmt: skip
    rows = [row for count in map(int, args.feeds.split(",")) for row in measure(count, args)]
    print()
    header = ["wall s", "defwatch", "reader", "reader call", "defwatch/reader"]
    print(table("defwatch poll --once vs reader update_feeds", header, rows))
    print("(whole-process wall seconds; 'reader call' = update_feeds alone, without start-up)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
