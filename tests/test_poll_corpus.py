"""``defwatch poll --once`` over every real feed of ../shared/corpora, served on 127.0.0.1.

Acceptance of the monitor core: no crash, every feed recorded ok or with a clear error, and a
second poll skips every feed (304 or unchanged body) and stores nothing new.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.feedserver import FeedServer
from tests.test_cli import defwatch, environment

REAL_FEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "corpora" / "real-feeds"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not REAL_FEEDS.is_dir(), reason="../shared/corpora/real-feeds absent"),
]


def feed_rows(db: Path) -> dict[str, tuple[str | None, str | None]]:
    with sqlite3.connect(db) as connection:
        return {
            url: (status, error)
            for url, status, error in connection.execute(
                "SELECT url, last_status, last_error FROM feed"
            )
        }


def article_count(db: Path) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT count(*) FROM article").fetchone()[0])


def test_every_real_feed_polled_then_skipped(tmp_path: Path, feed_server: FeedServer) -> None:
    urls = feed_server.serve_folder(REAL_FEEDS, "/feeds/")
    urls.pop("SOURCES.md")
    env = environment(tmp_path, sorted(urls.values()))
    db = tmp_path / "defwatch.db"

    first = defwatch(env, "poll", "--once")
    assert first.returncode == 0, first.stderr[-3000:]
    rows = feed_rows(db)
    assert set(rows) == set(urls.values())
    for name, url in urls.items():
        status, error = rows[url]
        if name.startswith("notafeed-"):
            assert status == "not_a_feed" and error, name
        else:
            assert status == "ok", (name, status, error)
    stored = article_count(db)
    assert stored > 1000

    second = defwatch(env, "poll", "--once")
    assert second.returncode == 0, second.stderr[-3000:]
    assert article_count(db) == stored
    statuses = {status for status, _ in feed_rows(db).values()}
    assert statuses <= {"unchanged", "not_modified", "not_a_feed"}
    assert "0 new articles" in second.stderr
