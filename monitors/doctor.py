"""``defwatch doctor``: check the configuration and say what to fix, one line per check.

Checks, in order (a check whose input is missing is not run; the missing input already failed):

- ``settings``: the settings file and environment load (unknown keys, bad values);
- ``environment``: no unknown ``DEFWATCH_*`` variable (a typo would be silently ignored);
- ``database``: it exists, answers, and its schema is at the migration head;
- ``clock``: this host's clock agrees with the database server's (and no poll is dated in
  the future);
- ``telegram``: the bot token is accepted by ``getMe`` at ``TELEGRAM_API_BASE_URL`` (or
  Telegram); without a token the bot is off, which passes;
- ``watchlists``: the named watchlists file, when one is set, is valid;
- ``feeds`` (opt-in, ``--feeds N``): N enabled feeds, sampled at random, fetched once with the
  poller's limits, refused as the bot refuses them (``monitors.netguard``) unless
  ``telegram.allow_private_feeds``.

Each line starts with ✓ or ✗; a failed line says what to do. Exit status 0 when every check
passed, 1 otherwise. Nothing is written: a missing SQLite file is reported, not created, and
the bot token never appears in the output.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Connection, func, make_url, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from monitors.errors import ConfigError, FeedError
from monitors.settings import KNOWN_ENVIRONMENT, Settings, load_settings

TELEGRAM_API = "https://api.telegram.org"
MAX_CLOCK_SKEW = timedelta(seconds=30)
CHECK_TIMEOUT = 15.0
OK, FAILED = "✓", "✗"


@dataclass(frozen=True, slots=True)
class Check:
    """One check's result: ``fix`` says what to do when it failed."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{OK if self.ok else FAILED} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text} -> {self.fix}"


def run_doctor(env: Mapping[str, str], *, feeds: int = 0) -> int:
    """Print one line per check; 0 when all passed."""
    checks = asyncio.run(run_checks(env, feeds=feeds))
    for check in checks:
        print(check.line(), flush=True)
    failed = sum(not c.ok for c in checks)
    print(
        "all checks passed" if not failed else f"{failed} of {len(checks)} checks failed",
        file=sys.stderr,
    )
    return 0 if not failed else 1


async def run_checks(env: Mapping[str, str], *, feeds: int = 0) -> list[Check]:
    checks: list[Check] = []
    try:
        settings = load_settings(env)
    except ConfigError as exc:
        return [
            Check("settings", False, str(exc), "fix the named key or value (config/defwatch.toml)"),
            check_environment(env),
        ]
    source = settings.source if env.get("DEFWATCH_CONFIG") else "shipped defaults"
    checks += [Check("settings", True, f"{source} loaded"), check_environment(env)]
    engine = await _open_existing(settings, checks)
    if engine is not None:
        try:
            schema = await _guarded("database", _check_schema, engine)
            checks.append(schema)
            if schema.ok:  # the clock and feed checks read tables
                checks.append(await _guarded("clock", _check_clock, engine))
                if feeds:
                    checks += await check_feeds(settings, engine, feeds)
        finally:
            await engine.dispose()
    checks.append(await _guarded("telegram", check_token, settings))
    checks.append(check_watchlists(settings))
    return checks


def check_environment(env: Mapping[str, str]) -> Check:
    unknown = sorted(
        name
        for name in env
        if name.startswith("DEFWATCH_")
        and name not in KNOWN_ENVIRONMENT
        and not name.startswith("DEFWATCH_TEST_")
    )
    if unknown:
        return Check(
            "environment",
            False,
            f"unknown variable {', '.join(unknown)}",
            f"rename or unset it (known: {', '.join(sorted(KNOWN_ENVIRONMENT))})",
        )
    return Check("environment", True, "no unknown DEFWATCH_* variables")


async def _guarded(name: str, check: Callable[[Any], Awaitable[Check]], arg: Any) -> Check:
    """Run a check with a deadline; an unexpected error is a failed check, not a crash."""
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            return await check(arg)
    except TimeoutError:
        return Check(name, False, f"no answer within {CHECK_TIMEOUT:g}s", "is it reachable?")
    except Exception as exc:
        return Check(name, False, _short(exc), "see the message")


def _short(exc: BaseException) -> str:
    first = str(exc).splitlines()[0] if str(exc) else ""
    return f"{exc.__class__.__name__}: {first}"[:300]


async def _open_existing(settings: Settings, checks: list[Check]) -> AsyncEngine | None:
    """An engine on the configured database if it exists and answers (else a failed check)."""
    from monitors.db import create_engine, redacted

    shown = redacted(settings.database_url)
    try:
        url = make_url(settings.database_url)
    except Exception:
        checks.append(Check("database", False, "not a database URL", "fix DEFWATCH_DATABASE_URL"))
        return None
    if (
        url.get_backend_name() == "sqlite"
        and url.database not in (None, "", ":memory:")
        and not Path(url.database or "").expanduser().is_file()
    ):
        checks.append(
            Check(
                "database",
                False,
                f"no database file at {url.database}",
                "run `defwatch run` once to create it, or point DEFWATCH_DATABASE_URL "
                "at the right file",
            )
        )
        return None
    try:
        engine = create_engine(settings.database_url)
    except ConfigError as exc:
        checks.append(Check("database", False, str(exc), "fix DEFWATCH_DATABASE_URL"))
        return None
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        await engine.dispose()
        problem = "no answer" if isinstance(exc, TimeoutError) else _short(exc)
        checks.append(
            Check(
                "database",
                False,
                f"{shown}: {problem}",
                "is the server running, the database created and the URL right?",
            )
        )
        return None
    return engine


def _revisions(connection: Connection) -> tuple[str | None, str | None]:
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    from monitors.db import MIGRATIONS_DIR

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    return MigrationContext.configure(connection).get_current_revision(), head


async def _check_schema(engine: AsyncEngine) -> Check:
    from monitors.db import redacted

    async with engine.connect() as connection:
        current, head = await connection.run_sync(_revisions)
    shown = redacted(str(engine.url))
    if current == head:
        return Check("database", True, f"{shown} answers, schema at {head}")
    state = "empty (never migrated)" if current is None else f"at {current}"
    return Check(
        "database",
        False,
        f"{shown}: schema {state}, this version needs {head}",
        "start `defwatch run` or `defwatch poll` once: they migrate on start",
    )


async def _check_clock(engine: AsyncEngine) -> Check:
    from monitors.models import Feed

    async with engine.connect() as connection:
        # SQLite runs in this process: its clock is this host's, nothing to compare.
        raw = (
            await connection.scalar(text("SELECT CURRENT_TIMESTAMP"))
            if engine.dialect.name != "sqlite"
            else None
        )
        latest = await connection.scalar(select(func.max(Feed.last_polled_at)))
    now = datetime.now(UTC)
    db_now = _as_utc(raw)
    if db_now is not None and abs(db_now - now) > MAX_CLOCK_SKEW:
        return Check(
            "clock",
            False,
            f"this host says {now:%Y-%m-%d %H:%M:%S} UTC, the database "
            f"{db_now:%Y-%m-%d %H:%M:%S} UTC",
            "synchronise the clocks (NTP): schedules and alert times depend on them",
        )
    polled = _as_utc(latest)
    if polled is not None and polled - now > MAX_CLOCK_SKEW:
        return Check(
            "clock",
            False,
            f"the last poll is dated {polled:%Y-%m-%d %H:%M} UTC, in the future",
            "this host's clock went back: synchronise it (NTP)",
        )
    return Check("clock", True, "host and database agree")


def _as_utc(value: object) -> datetime | None:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


async def check_token(settings: Settings) -> Check:
    if not settings.bot_token:
        return Check("telegram", True, "TELEGRAM_BOT_TOKEN not set: the bot is off")
    root = (settings.telegram_api_base_url or TELEGRAM_API).rstrip("/").removesuffix("/bot")
    where = settings.telegram_api_base_url or "Telegram"
    try:
        async with httpx.AsyncClient(timeout=10.0) as client:
            response = await client.get(f"{root}/bot{settings.bot_token}/getMe")
    except httpx.HTTPError as exc:  # its message may hold the URL, hence the token: not shown
        return Check(
            "telegram",
            False,
            f"cannot reach {where} ({exc.__class__.__name__})",
            "check the network or TELEGRAM_API_BASE_URL",
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 200 and body.get("ok"):
        name = (body.get("result") or {}).get("username") or "?"
        return Check("telegram", True, f"token accepted by {where}: @{name}")
    description = str(body.get("description") or response.reason_phrase)[:200]
    return Check(
        "telegram",
        False,
        f"getMe answered {response.status_code}: {description}",
        "check TELEGRAM_BOT_TOKEN (from @BotFather)"
        if response.status_code in (401, 404)
        else "retry later",
    )


def check_watchlists(settings: Settings) -> Check:
    if settings.watchlists_file is None:
        return Check("watchlists", True, "no watchlists file set")
    from monitors.detect.countries import default_gazetteer
    from monitors.watchlists import load_watchlists

    try:
        lists = load_watchlists(settings.watchlists_file, resolver=default_gazetteer())
    except ConfigError as exc:
        return Check(
            "watchlists",
            False,
            str(exc),
            "fix the file (`defwatch watchlists check` validates it)",
        )
    return Check(
        "watchlists",
        True,
        f"{settings.watchlists_file}: {len(lists)} lists ({', '.join(sorted(lists))})",
    )


async def check_feeds(settings: Settings, engine: AsyncEngine, count: int) -> list[Check]:
    """Fetch ``count`` enabled feeds, sampled at random, once each (concurrently, bounded)."""
    from dataclasses import replace

    from monitors.fetch import Fetcher
    from monitors.models import Feed
    from monitors.netguard import acheck_feed_url
    from monitors.runner import fetch_limits

    async with engine.connect() as connection:
        urls = list(
            await connection.scalars(
                select(Feed.url).where(Feed.enabled.is_(True)).order_by(func.random()).limit(count)
            )
        )
    if not urls:
        return [Check("feeds", False, "no enabled feeds", "add feeds: `defwatch feeds add URL`")]
    allow_private = settings.allow_private_feeds
    limits = replace(
        fetch_limits(settings),
        block_private_addresses=not allow_private,
        total_timeout=min(settings.total_timeout, CHECK_TIMEOUT),
    )

    async def one(fetcher: Fetcher, url: str) -> Check:
        try:
            await acheck_feed_url(url, allow_private=allow_private)
            result = await fetcher.fetch(url)
        except FeedError as exc:
            return Check(
                f"feed {url}", False, f"{exc.kind}: {str(exc)[:200]}", "`defwatch feeds list`"
            )
        size = len(result.body or b"")
        return Check(f"feed {url}", True, f"HTTP {result.status}, {size} bytes")

    async with Fetcher(limits) as fetcher:
        return list(await asyncio.gather(*(one(fetcher, url) for url in urls)))
