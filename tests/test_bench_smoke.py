"""Each benchmark of ``bench/`` runs at a tiny size and prints its table, so none can rot.

The benchmarks themselves are not part of the test suite; see bench/README.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from itertools import pairwise
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # each runs a benchmark script as a subprocess

ROOT = Path(__file__).resolve().parents[1]
REAL_FEEDS = ROOT.parent / "shared" / "corpora" / "real-feeds"


def run_bench(name: str, *args: str, timeout: float = 240) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEFWATCH_", "TELEGRAM_"))}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


@pytest.mark.skipif(not REAL_FEEDS.is_dir(), reason="../shared/corpora/real-feeds absent")
def test_bench_poll_tiny() -> None:
    out = run_bench(
        "bench_poll.py",
        *("--feeds", "4", "--latency-ms", "10", "--concurrency", "4", "--naive-sample", "2"),
        *("--latency-interval", "1", "--latency-rounds", "1"),
    )
    assert "cycle 1 (all new)" in out and "cycle 2 (unchanged, 304)" in out
    assert "story stored within interval + 5 s" in out


def test_bench_match_tiny() -> None:
    out = run_bench("bench_match.py", "--chats", "50,200", "--stories", "5")
    assert "200 chats, targeted" in out and "naive/find" in out


@pytest.mark.skipif(not REAL_FEEDS.is_dir(), reason="../shared/corpora/real-feeds absent")
def test_bench_storage_tiny() -> None:
    pg = os.environ.get("DEFWATCH_TEST_POSTGRES_URL")
    pg_args = ["--pg-url", pg] if pg else ["--no-pg"]
    out = run_bench(
        "bench_storage.py", "--articles", "2000", "--queries", "5", "--insert-feeds", "2", *pg_args
    )
    assert "SQLite latest (cooperation only)" in out and "articles/s" in out


@pytest.mark.skipif(not REAL_FEEDS.is_dir(), reason="../shared/corpora/real-feeds absent")
def test_bench_storage_steady_dates_entries_after_the_stored_data(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(ROOT / "bench"))
    import bench_storage

    items = [item for feed in bench_storage.parsed_real_feeds(2, steady=True) for item in feed]
    dates = [item.entry.published_at for item in items]
    assert dates and min(dates) > bench_storage.NOW
    assert all(later - earlier == timedelta(minutes=1) for earlier, later in pairwise(dates))
    # signed as dated: the signatures carry the moved dates, not the published ones
    assert all(item.signed().published_at == item.entry.published_at for item in items)


def test_bench_classify_tiny() -> None:
    out = run_bench("bench_classify.py", "--n", "50")
    assert "classify()" in out and "feedparser.parse (baseline)" in out
    assert "items/s" in out


@pytest.mark.skipif(not REAL_FEEDS.is_dir(), reason="../shared/corpora/real-feeds absent")
def test_bench_peer_tiny() -> None:
    out = run_bench(
        "bench_peer.py",
        "--feeds",
        "3",
        "--latency-ms",
        "10",
        "--concurrency",
        "3",
        "--max-kb",
        "60",
    )
    assert "3 feeds (" in out and "defwatch stored" in out and "peak RSS" in out
    # reader is optional (the bench extra): with it, both tools' rows and their ratio
    if "reader is not installed" not in out:
        assert "3 feeds, first poll" in out and "3 feeds, unchanged poll" in out
        assert "defwatch/reader" in out
