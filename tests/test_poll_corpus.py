"""``defwatch poll --once`` over every real feed of ../shared/corpora, served on 127.0.0.1.

Acceptance of the monitor core: no crash, every feed recorded ok or with a clear error, and a
second poll skips every feed (304 or unchanged body) and stores nothing new.

Acceptance of the grouping (issue 13), on what the poll really stored: no story joins articles
of two different labelled events of ``eval/stream-dev.jsonl`` (the same feeds, labelled by
hand), and every cooperation story is defined by a cooperation report.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.feedserver import FeedServer
from tests.test_cli import defwatch, environment

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL_FEEDS = SHARED / "corpora" / "real-feeds"
STREAM = SHARED / "eval" / "stream-dev.jsonl"

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


@dataclass(frozen=True)
class PolledCorpus:
    db: Path
    urls: dict[str, str]  # feed file -> served URL
    env: dict[str, str]


@pytest.fixture(scope="module")
def polled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolledCorpus]:
    """The whole corpus polled once through the real pipeline (``defwatch poll --once``)."""
    tmp_path = tmp_path_factory.mktemp("corpus")
    with FeedServer() as feed_server:
        urls = feed_server.serve_folder(REAL_FEEDS, "/feeds/")
        urls.pop("SOURCES.md")
        env = environment(tmp_path, sorted(urls.values()))
        first = defwatch(env, "poll", "--once")
        assert first.returncode == 0, first.stderr[-3000:]
        yield PolledCorpus(tmp_path / "defwatch.db", urls, env)


def test_every_real_feed_polled_then_skipped(polled: PolledCorpus) -> None:
    db, urls, env = polled.db, polled.urls, polled.env

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


def labelled_events() -> dict[tuple[str, str], str]:
    """(feed file, headline) -> the hand-labelled event of that stream row."""
    events = {}
    with STREAM.open(encoding="utf-8") as rows:
        for row in map(json.loads, rows):
            if row.get("labelled") and row.get("story_group"):
                events[(row["feed"], " ".join((row["title"] or "").split()))] = row["story_group"]
    return events


def stories_of_labelled_events(db: Path, urls: dict[str, str]) -> dict[int, dict[str, list[str]]]:
    """Stored story -> the labelled events of its articles -> their headlines."""
    if not STREAM.is_file():
        pytest.skip(f"{STREAM} absent")
    file_of = {url: name for name, url in urls.items()}
    events = labelled_events()
    found: dict[int, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT a.story_id, f.url, a.title FROM article a JOIN feed f ON f.id = a.feed_id"
        )
        for story_id, feed_url, title in rows:
            event = events.get((file_of[feed_url], " ".join(title.split())))
            if event is not None:
                found[story_id][event].append(title)
    assert len({e for groups in found.values() for e in groups}) > 50  # the labels were found
    return found


def test_no_story_chains_unrelated_events(polled: PolledCorpus) -> None:
    """What real traffic chained before (a drug-boat strike with the Olympics, Bad Bunny and
    EU migration policy, 35 articles): no story holds more than three labelled events, and
    none grows past what one event draws from 66 feeds."""
    found = stories_of_labelled_events(polled.db, polled.urls)
    sprawling = {s: dict(g) for s, g in found.items() if len(g) > 3}
    assert not sprawling, json.dumps(sprawling, ensure_ascii=False, indent=1)[:3000]
    with sqlite3.connect(polled.db) as connection:
        largest = connection.execute("SELECT max(article_count) FROM story").fetchone()[0]
    assert largest <= 25


def test_no_story_joins_two_labelled_events(polled: PolledCorpus) -> None:
    found = stories_of_labelled_events(polled.db, polled.urls)
    mixed = {story: dict(groups) for story, groups in found.items() if len(groups) > 1}
    assert not mixed, json.dumps(mixed, ensure_ascii=False, indent=1)[:3000]


def test_cooperation_stories_are_defined_by_cooperation_reports(polled: PolledCorpus) -> None:
    assert_cooperation_stories_defined_by_cooperation(polled.db)


def assert_cooperation_stories_defined_by_cooperation(db: Path) -> None:
    with sqlite3.connect(db) as connection:
        stories = connection.execute(
            "SELECT s.id, s.title, a.is_defence_cooperation FROM story s"
            " LEFT JOIN article a ON a.id = s.defining_article_id"
            " WHERE s.is_defence_cooperation"
        ).fetchall()
    assert stories, "the corpus holds cooperation reports"
    assert [(sid, title) for sid, title, coop in stories if not coop] == []
