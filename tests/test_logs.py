"""Logs: the JSON line format, and a failing feed logged once per change of state."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitors.logs import FeedFailureLog, JsonFormatter
from monitors.runner import Monitor
from monitors.settings import load_settings
from tests.feedserver import FeedServer

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Outcome:
    feed_id: int
    url: str
    status: str
    error: str | None = None


def ok(feed_id: int = 1) -> Outcome:
    return Outcome(feed_id, f"https://f{feed_id}.example/rss", "ok")


def failed(kind: str, feed_id: int = 1) -> Outcome:
    return Outcome(feed_id, f"https://f{feed_id}.example/rss", kind, f"{kind} happened")


# (seconds since start, outcome) -> what is logged: "failing", "still", "recovered" or None
STEPS_LOG = [
    (0, failed("connect"), "failing"),
    (900, failed("connect"), None),
    (1800, failed("connect"), None),
    (3700, failed("connect"), "still"),
    (4600, failed("connect"), None),
    (5500, failed("timeout"), "failing"),  # failing differently is a change of state
    (6400, ok(), "recovered"),
    (7300, ok(), None),
    (8200, failed("http"), "failing"),
]


def test_a_failing_feed_is_logged_once_per_change_and_reminded_hourly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [0.0]
    feeds = FeedFailureLog(clock=lambda: clock[0])
    caplog.set_level(logging.INFO, logger="monitors.feeds")
    for seconds, outcome, expected in STEPS_LOG:
        clock[0] = float(seconds)
        caplog.clear()
        feeds.observe([outcome])
        messages = [r.getMessage() for r in caplog.records]
        if expected is None:
            assert messages == [], (seconds, messages)
            continue
        [message] = messages
        word = {"failing": " failing (", "still": "still failing", "recovered": "recovered"}
        assert word[expected] in message, (seconds, message)
        assert caplog.records[0].__dict__["feed"] == outcome.url


def test_many_failing_feeds_log_one_line_each_per_cycle_then_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = [0.0]
    feeds = FeedFailureLog(clock=lambda: clock[0])
    caplog.set_level(logging.INFO, logger="monitors.feeds")
    cycle = [failed("connect", feed_id) for feed_id in range(67)]
    feeds.observe(cycle)
    assert len(caplog.records) == 67
    for minute in range(1, 59):
        clock[0] = minute * 60.0
        feeds.observe(cycle)
    assert len(caplog.records) == 67


def test_json_formatter_writes_one_object_with_context() -> None:
    record = logging.LogRecord(
        "monitors.feeds", logging.WARNING, __file__, 1, "feed %s x", ("u",), None
    )
    record.feed = "https://f.example/rss"
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "WARNING" and data["logger"] == "monitors.feeds"
    assert data["message"] == "feed u x" and data["feed"] == "https://f.example/rss"
    assert "chat" not in data and data["time"].endswith("+00:00")


@pytest.mark.slow  # the CLI in a subprocess
def test_log_format_json_from_the_command_line(tmp_path: Path) -> None:
    (tmp_path / "feeds.toml").write_text("# none\n")
    config = tmp_path / "defwatch.toml"
    config.write_text('[poll]\nfeeds_file = "feeds.toml"\n')
    env = {
        "PATH": "/usr/bin:/bin",
        "DEFWATCH_CONFIG": str(config),
        "DEFWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'defwatch.db'}",
    }
    done = subprocess.run(
        [sys.executable, "-m", "monitors.cli", "--log-format", "json", "poll", "--once"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("{")]
    assert lines, done.stderr
    for line in lines:
        data = json.loads(line)
        assert {"time", "level", "logger", "message"} <= set(data)
    assert any(json.loads(line)["message"].startswith("database:") for line in lines)


async def test_failing_feeds_warn_once_across_cycles(
    tmp_path: Path, sqlite_url: str, feed_server: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    urls = [feed_server.add(f"/down{i}.xml", "down", status=503) for i in range(3)]
    (tmp_path / "feeds.toml").write_text("".join(f'[[feed]]\nurl = "{url}"\n' for url in urls))
    config = tmp_path / "defwatch.toml"
    config.write_text('[poll]\nfeeds_file = "feeds.toml"\n')
    settings = load_settings({"DEFWATCH_CONFIG": str(config), "DEFWATCH_DATABASE_URL": sqlite_url})
    caplog.set_level(logging.INFO)
    async with Monitor.open(settings) as monitor:
        for _ in range(3):
            report = await monitor.poll_cycle(every_feed=True)
            assert report.statuses == {"http": 3}
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert sorted(r.__dict__.get("feed") for r in warnings) == sorted(urls)
    assert all(r.getMessage().count("/down") == 1 for r in warnings), "one URL per line"
