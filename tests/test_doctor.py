"""``defwatch doctor``: one ✓/✗ line per check, what to do on ✗, exit 0 only when all pass."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from monitors import store
from monitors.cli import main
from monitors.db import open_database
from monitors.doctor import Check, run_checks
from monitors.models import Feed
from monitors.settings import KNOWN_ENVIRONMENT
from tests.feedserver import FeedServer
from tests.tg import Emulator

Env = dict[str, str]


def migrated_database(folder: Path, *feed_urls: str) -> str:
    url = f"sqlite:///{folder / 'defwatch.db'}"

    async def create() -> None:
        engine, sessions = await open_database(url)
        try:
            async with sessions.begin() as session:
                for feed in feed_urls:
                    await store.add_feed(session, feed, now=datetime.now(UTC))
        finally:
            await engine.dispose()

    asyncio.run(create())
    return url


def healthy_env(folder: Path) -> Env:
    config = folder / "defwatch.toml"
    config.write_text("[poll]\ninterval_seconds = 300\n")
    return {"DEFWATCH_CONFIG": str(config), "DEFWATCH_DATABASE_URL": migrated_database(folder)}


def checks(env: Env, feeds: int = 0) -> dict[str, Check]:
    return {c.name: c for c in asyncio.run(run_checks(env, feeds=feeds))}


def test_a_healthy_setup_passes_every_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = healthy_env(tmp_path)
    results = checks(env)
    assert set(results) == {
        "settings",
        "environment",
        "database",
        "clock",
        "telegram",
        "watchlists",
    }
    assert all(c.ok for c in results.values()), [c.line() for c in results.values()]
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["doctor"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 6 and all(line.startswith("✓ ") for line in lines)


def _bad_key(tmp_path: Path, env: Env) -> None:
    Path(env["DEFWATCH_CONFIG"]).write_text("[poll]\nintervall = 3\n")


def _unknown_variable(tmp_path: Path, env: Env) -> None:
    env["DEFWATCH_POLL_INTERVALL"] = "30"


def _missing_database(tmp_path: Path, env: Env) -> None:
    env["DEFWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'nowhere' / 'defwatch.db'}"


def _unmigrated_database(tmp_path: Path, env: Env) -> None:
    sqlite3.connect(tmp_path / "empty.db").close()
    env["DEFWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'empty.db'}"


def _unreachable_server(tmp_path: Path, env: Env) -> None:
    env["DEFWATCH_DATABASE_URL"] = "postgresql://postgres@127.0.0.1:1/defwatch"


def _broken_watchlists(tmp_path: Path, env: Env) -> None:
    (tmp_path / "lists.toml").write_text("[[watchlist]\nname = \n")
    env["DEFWATCH_WATCHLISTS"] = str(tmp_path / "lists.toml")


def _poll_in_the_future(tmp_path: Path, env: Env) -> None:
    async def tamper() -> None:
        engine, sessions = await open_database(env["DEFWATCH_DATABASE_URL"])
        try:
            async with sessions.begin() as session:
                await store.add_feed(session, "https://f.example/rss", now=datetime.now(UTC))
                await session.execute(
                    update(Feed).values(last_polled_at=datetime.now(UTC) + timedelta(days=1))
                )
        finally:
            await engine.dispose()

    asyncio.run(tamper())


@pytest.mark.parametrize(
    ("breakage", "failed", "says", "fix"),
    [
        pytest.param(_bad_key, "settings", "unknown key poll.intervall", "fix", id="bad key"),
        pytest.param(
            _unknown_variable, "environment", "DEFWATCH_POLL_INTERVALL", "rename", id="bad env"
        ),
        pytest.param(
            _missing_database, "database", "no database file", "defwatch run", id="missing db"
        ),
        pytest.param(
            _unmigrated_database, "database", "never migrated", "migrate", id="not migrated"
        ),
        pytest.param(
            _unreachable_server, "database", "127.0.0.1:1", "server running", id="db down"
        ),
        pytest.param(
            _broken_watchlists, "watchlists", "lists.toml", "watchlists check", id="watchlists"
        ),
        pytest.param(_poll_in_the_future, "clock", "in the future", "NTP", id="clock"),
    ],
)
def test_each_check_names_the_problem_and_the_fix(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    breakage: Callable[[Path, Env], None],
    failed: str,
    says: str,
    fix: str,
) -> None:
    env = healthy_env(tmp_path)
    breakage(tmp_path, env)
    results = checks(env)
    assert not results[failed].ok
    assert says in results[failed].detail
    assert fix in results[failed].fix
    assert results[failed].line().startswith(f"✗ {failed}: ")
    others = [c.line() for name, c in results.items() if name != failed and not c.ok]
    assert others == [], "only the broken part fails"
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        assert main(["doctor"]) == 1
    assert f"✗ {failed}" in capsys.readouterr().out
    if breakage is _missing_database:
        assert not (tmp_path / "nowhere").exists(), "doctor must not create the database"


@pytest.mark.emulator
@pytest.mark.parametrize(
    "token_ok", [pytest.param(True, id="good"), pytest.param(False, id="wrong")]
)
def test_bot_token_is_checked_with_getme(
    tmp_path: Path, tg_emulator: Emulator, token_ok: bool
) -> None:
    token = f"5150{int(token_ok)}:DOCTOR-CHECK"
    if not token_ok:
        tg_emulator.add_fault(
            method="getMe", token=token, error_code=401, description="Unauthorized"
        )
    env = healthy_env(tmp_path) | {
        "TELEGRAM_BOT_TOKEN": token,
        "TELEGRAM_API_BASE_URL": tg_emulator.bot_api_base,
    }
    telegram = checks(env)["telegram"]
    assert telegram.ok is token_ok
    assert "DOCTOR-CHECK" not in telegram.line()
    if token_ok:
        assert "token accepted" in telegram.detail
    else:
        assert "401" in telegram.detail and "TELEGRAM_BOT_TOKEN" in telegram.fix
        tg_emulator.clear_faults()


def test_feed_sample_fetches_and_honours_netguard(tmp_path: Path, feed_server: FeedServer) -> None:
    good = feed_server.add(
        "/ok.xml", '<rss version="2.0"><channel><title>t</title></channel></rss>'
    )
    gone = feed_server.add("/gone.xml", "no", status=404)
    env = healthy_env(tmp_path)
    env["DEFWATCH_DATABASE_URL"] = migrated_database(tmp_path / "feeds", good, gone)

    guarded = checks(env, feeds=5)  # loopback feeds are refused as the bot refuses them
    assert not guarded[f"feed {good}"].ok and "unsafe" in guarded[f"feed {good}"].detail.lower()
    assert feed_server.hits("/ok.xml") == 0

    env["DEFWATCH_ALLOW_PRIVATE_FEEDS"] = "1"
    allowed = checks(env, feeds=5)
    assert allowed[f"feed {good}"].ok and "HTTP 200" in allowed[f"feed {good}"].detail
    assert not allowed[f"feed {gone}"].ok and "http" in allowed[f"feed {gone}"].detail
    assert feed_server.hits("/ok.xml") == 1


def test_every_variable_the_code_reads_is_known_to_the_environment_check() -> None:
    root = Path(__file__).resolve().parents[1]
    read = {
        name
        for folder in ("monitors", "bot")
        for path in (root / folder).rglob("*.py")
        for name in re.findall(r"DEFWATCH_[A-Z_]*[A-Z]", path.read_text(encoding="utf-8"))
        if not name.startswith("DEFWATCH_TEST")
    }
    assert read and read <= KNOWN_ENVIRONMENT, read - KNOWN_ENVIRONMENT
