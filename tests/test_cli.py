"""The ``defwatch`` command end to end: real subprocess, real HTTP server, real SQLite file."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from pathlib import Path

import pytest

from tests.feedserver import FeedServer

pytestmark = pytest.mark.slow  # every test runs the CLI as a subprocess

DATA = Path(__file__).resolve().parent / "data"
SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def recent_feed(name: str, days_ago: float = 1.0) -> bytes:
    """A fixture feed with its items re-dated to ``days_ago`` before now, keeping their order.

    Commands such as ``watchlists list`` count stories "in 7 days" against the real clock,
    so a feed with fixed dates would pass today and fail next week.
    """
    text = (DATA / name).read_text(encoding="utf-8")
    base = datetime.now(UTC) - timedelta(days=days_ago)
    counter = iter(range(1000))

    def redate(_: re.Match[str]) -> str:
        stamp = base - timedelta(hours=next(counter))
        return f"<pubDate>{format_datetime(stamp)}</pubDate>"

    return re.sub(r"<pubDate>[^<]*</pubDate>", redate, text).encode("utf-8")


def defwatch(
    env: dict[str, str], *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def environment(tmp_path: Path, feed_urls: list[str]) -> dict[str, str]:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text("".join(f'[[feed]]\nurl = "{url}"\n' for url in feed_urls), encoding="utf-8")
    config = tmp_path / "defwatch.toml"
    config.write_text(f'[poll]\nfeeds_file = "{feeds}"\n', encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEFWATCH_", "TELEGRAM_"))}
    env.update(
        DEFWATCH_CONFIG=str(config),
        DEFWATCH_DATABASE_URL=f"sqlite:///{tmp_path / 'defwatch.db'}",
        PYTHONWARNINGS="error::DeprecationWarning",
    )
    return env


def test_poll_stores_story_and_latest_finds_it(tmp_path: Path, feed_server: FeedServer) -> None:
    body = recent_feed("az-cn-defence.rss.xml")
    first_date = re.search(rb"<pubDate>([^<]*)</pubDate>", body)
    assert first_date is not None
    shown_date = parsedate_to_datetime(first_date.group(1).decode()).astimezone(UTC)
    feed_server.add("/az.xml", body=body, etag='"v1"')
    feed_server.add("/broken", status=500)
    feed_server.add(
        "/page",
        body=b"<html><body><p>Parked domain</p></body></html>",
        headers={"Content-Type": "text/html"},
    )
    env = environment(
        tmp_path, [feed_server.url("/az.xml"), feed_server.url("/broken"), feed_server.url("/page")]
    )

    first = defwatch(env, "poll", "--once")
    assert first.returncode == 0, first.stderr
    assert "Azerbaijan and China discuss military collaboration" in first.stdout
    assert "jazz" not in first.stdout  # stored, but not a cooperation story

    second = defwatch(env, "poll", "--once")
    assert second.returncode == 0, second.stderr
    assert second.stdout == ""  # nothing new
    assert feed_server.hits("/az.xml") == 2
    assert "not_modified" in second.stderr or "unchanged" in second.stderr

    latest = defwatch(env, "latest", "azerbaijan")
    assert latest.returncode == 0, latest.stderr
    assert "Azerbaijan and China discuss military collaboration" in latest.stdout
    assert "AZ-CN" in latest.stdout and f"{shown_date:%Y-%m-%d}" in latest.stdout
    assert "Caucasus Defence Wire" in latest.stdout  # the outlet
    assert "utm_" not in latest.stdout

    as_json = defwatch(env, "latest", "Азербайджан", "--json")
    [story] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert set(story["countries"]) == {"AZ", "CN"} and story["defence_cooperation"] is True

    health = defwatch(env, "feeds", "list").stdout
    lines = {line.split("\t")[0]: line for line in health.splitlines()}
    assert (
        "\tnot_modified\t" in lines[feed_server.url("/az.xml")]
        or "\tunchanged\t" in lines[feed_server.url("/az.xml")]
    )
    assert "FAILING x2 (http" in lines[feed_server.url("/broken")]
    assert (
        "FAILING x" in lines[feed_server.url("/page")]
        and "not_a_feed" in lines[feed_server.url("/page")]
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("latest", "Atlantis"), "Unknown country", id="unknown country"),
        pytest.param(
            ("latest", "azerbaijan", "--limit", "0"), "between 1 and 100", id="limit out of range"
        ),
        pytest.param(("feeds", "add", "ftp://example.org/feed"), "http://", id="non-http feed"),
        pytest.param(
            ("feeds", "add", "https://a.example/rss", "--country", "Atlantis"),
            "Unknown country",
            id="unknown feed country",
        ),
        pytest.param(("eval", "/nonexistent.jsonl"), "/nonexistent.jsonl", id="missing eval file"),
    ],
)
def test_bad_arguments_get_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    result = defwatch(environment(tmp_path, []), *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_file_exits_nonzero_naming_it(tmp_path: Path) -> None:
    env = environment(tmp_path, [])
    Path(env["DEFWATCH_CONFIG"]).write_text("[poll]\ninterval_seconds = 'x'\n", encoding="utf-8")
    result = defwatch(env, "poll", "--once")
    assert result.returncode == 2
    assert "defwatch.toml" in result.stderr and "poll.interval_seconds" in result.stderr


def test_feeds_add_remove_export_import(tmp_path: Path) -> None:
    env = environment(tmp_path, ["https://seeded.example/rss"])
    assert (
        defwatch(env, "feeds", "add", "https://new.example/feed", "--title", "New").returncode == 0
    )
    assert "already present" in defwatch(env, "feeds", "add", "https://new.example/feed").stdout
    exported = defwatch(env, "feeds", "export").stdout
    assert "https://seeded.example/rss" in exported and "https://new.example/feed" in exported
    opml = tmp_path / "out.opml"
    opml.write_text(exported, encoding="utf-8")
    assert defwatch(env, "feeds", "remove", "https://new.example/feed").returncode == 0
    assert defwatch(env, "feeds", "remove", "https://new.example/feed").returncode == 1
    imported = defwatch(env, "feeds", "import", str(opml))
    assert "imported 1 new feeds" in imported.stdout
    assert "https://new.example/feed" in defwatch(env, "feeds", "list").stdout


def test_feed_country_is_stored_listed_and_exported(tmp_path: Path) -> None:
    env = environment(tmp_path, [])
    added = defwatch(env, "feeds", "add", "https://navy.example/rss", "--country", "us")
    assert added.returncode == 0, added.stderr
    assert "country US" in defwatch(env, "feeds", "list").stdout
    assert 'country="US"' in defwatch(env, "feeds", "export").stdout


def test_classify_emits_one_line_per_input(tmp_path: Path) -> None:
    lines = [
        {
            "id": "a",
            "title": "Azerbaijan and China discuss military collaboration",
            "summary": "Azerbaijan's defence minister received a PLA delegation.",
        },
        {"id": "b", "title": "Football: Qarabag win in Baku", "summary": ""},
    ]
    stdin = "\n".join(json.dumps(line) for line in lines) + "\n"
    result = defwatch(environment(tmp_path, []), "classify", stdin=stdin)
    out = [json.loads(line) for line in result.stdout.splitlines()]
    assert [o["id"] for o in out] == ["a", "b"]
    assert out[0]["defence_cooperation"] is True and set(out[0]["countries"]) == {"AZ", "CN"}
    assert out[1]["defence_cooperation"] is False
    assert {"id", "defence_cooperation", "score", "countries", "evidence"} <= set(out[0])


def test_classify_reads_source_country(tmp_path: Path) -> None:
    """A force's own feed names only the partner; its source country takes part."""
    line = {
        "id": "n",
        "title": "Sailors train with Ghanaian counterparts",
        "summary": "The sailors completed a joint training course with the Ghana Navy.",
        "language": "en",
    }
    stdin = json.dumps(line) + "\n" + json.dumps(line | {"source_country": "GB"}) + "\n"
    out = [
        json.loads(row)
        for row in defwatch(environment(tmp_path, []), "classify", stdin=stdin).stdout.splitlines()
    ]
    assert out[0]["countries"] == ["GH"] and out[0]["defence_cooperation"] is False
    assert set(out[1]["countries"]) == {"GB", "GH"} and out[1]["defence_cooperation"] is True


def test_classify_takes_the_state_of_an_official_site(tmp_path: Path) -> None:
    """An item on a navy's own site (no ``source_country`` given) speaks for that navy."""
    line = {
        "id": "n",
        "title": "Sailors train with Ghanaian counterparts",
        "summary": "The sailors completed a joint training course with the Ghana Navy.",
        "language": "en",
    }
    official = line | {"url": "https://www.royalnavy.mod.uk/news/2026/sailors-train"}
    outlet = line | {"url": "https://www.example-news.com/sailors-train"}
    stdin = "".join(json.dumps(row) + "\n" for row in (official, outlet))
    out = [
        json.loads(row)
        for row in defwatch(environment(tmp_path, []), "classify", stdin=stdin).stdout.splitlines()
    ]
    assert set(out[0]["countries"]) == {"GB", "GH"} and out[0]["defence_cooperation"] is True
    assert out[1]["countries"] == ["GH"] and out[1]["defence_cooperation"] is False


@pytest.mark.skipif(not (SHARED / "eval" / "dev.jsonl").exists(), reason="../shared/eval absent")
def test_eval_prints_figures(tmp_path: Path) -> None:
    result = defwatch(environment(tmp_path, []), "eval", str(SHARED / "eval" / "dev.jsonl"))
    assert result.returncode == 0, result.stderr
    for figure in ("precision", "recall", "F1"):
        assert figure.lower() in result.stdout.lower()


def test_watchlists_check_list_and_test(tmp_path: Path, feed_server: FeedServer) -> None:
    feed_server.add("/az.xml", body=recent_feed("az-cn-defence.rss.xml"))
    env = environment(tmp_path, [feed_server.url("/az.xml")])
    lists = tmp_path / "lists.toml"
    lists.write_text(
        '[watchlist.caucasus]\ncountries = ["Azerbaijan"]\n[watchlist.drones]\nkeywords = ["Bayraktar"]\n',
        encoding="utf-8",
    )
    env["DEFWATCH_WATCHLISTS"] = str(lists)
    assert "2 watchlists OK" in defwatch(env, "watchlists", "check").stdout
    assert defwatch(env, "poll", "--once").returncode == 0
    listed = defwatch(env, "watchlists", "list").stdout
    assert "caucasus\t1 stories in 7 days" in listed and "drones\t0 stories" in listed
    trial = defwatch(env, "watchlists", "test", "caucasus")
    assert "Azerbaijan and China discuss military collaboration" in trial.stdout
    assert "would have sent 1 stories" in trial.stderr

    lists.write_text('[watchlist.caucasus]\ncountries = ["Azerbaijn"]\n', encoding="utf-8")
    broken = defwatch(env, "watchlists", "check")
    assert broken.returncode == 2
    assert str(lists) in broken.stderr and "'caucasus'.countries" in broken.stderr
