"""Engines, sessions and migrations.

- ``DEFWATCH_DATABASE_URL`` is given plainly (``sqlite:///file.db``, ``postgresql://…``); the
  async driver is chosen here (aiosqlite, asyncpg).
- SQLite connections get WAL, foreign keys, a busy timeout and ``synchronous=NORMAL`` so one
  writer and several readers (the poller and the bot) get along. A writer waits up to
  ``DEFWATCH_SQLITE_BUSY_TIMEOUT`` seconds (default 30) for another writer's lock; past that
  the statement fails with "database is locked", the poll cycle fails, and the scheduler's
  next cycle tries again (the feed's lease expires, so nothing is lost).
- PostgreSQL connections are pinged before use, so connections killed under us (a restart,
  ``pg_terminate_backend``) are replaced without restarting the process.
- ``migrate`` applies Alembic migrations up to head; ``open_database`` does so on every start,
  under an advisory lock on PostgreSQL so several workers may start at once. A database already
  at head (its ``alembic_version`` rows are the heads of ``migrations/versions``, read from
  the files) is left alone without importing Alembic.
- ``insert_ignoring_duplicates`` is the one place that knows how each backend spells
  "INSERT … ON CONFLICT DO NOTHING" (articles, alerts).
- ``driver_rows`` runs a read on the session's driver connection, bypassing SQLAlchemy's
  row processing (the grouping's candidate reads: thousands of rows per feed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from functools import cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, Dialect, Insert, Table, event, inspect, make_url, text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from monitors.errors import ConfigError
from monitors.settings import sqlite_busy_timeout

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.types import TypeEngine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_MIGRATION_LOCK_ID = 0x64657677  # "defw"


def sqlite_busy_timeout_ms() -> int:
    """Milliseconds a SQLite writer waits for a lock (``DEFWATCH_SQLITE_BUSY_TIMEOUT`` s)."""
    return int(sqlite_busy_timeout() * 1000)


def async_url(plain: str) -> URL:
    """The SQLAlchemy URL with the async driver for a plain ``sqlite:`` or ``postgresql:`` URL."""
    try:
        url = make_url(plain)
    except Exception:
        raise ConfigError("DEFWATCH_DATABASE_URL: not a database URL") from None
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise ConfigError(
        f"DEFWATCH_DATABASE_URL: unsupported database {backend!r} (sqlite or postgresql)"
    )


def redacted(plain: str) -> str:
    """The URL with any password hidden, for logs and ``/status``."""
    try:
        return make_url(plain).render_as_string(hide_password=True)
    except Exception:
        return "<invalid database URL>"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, busy_ms: int = 30_000) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


INSERT_PAGE = 32
"""Rows per multi-row INSERT that SQLAlchemy renders for a bulk insert with RETURNING
("insertmanyvalues"). Each row count is a distinct statement that the driver keeps prepared
per connection (SQLite ~0.1 MB for 30 rows); a small fixed page bounds that to 32 shapes."""


MALLOC_ARENAS = 2


@cache
def limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas at ``MALLOC_ARENAS`` for this process (once; elsewhere a no-op).

    aiosqlite runs each connection in its own thread, and glibc gives busy threads arenas of
    their own (up to 8 per core) that keep what they freed: the bulk statements of a poll left
    the monitor at 215-250 MB instead of 141 MB (``bench_peer.py``, 200 feeds). The same as
    ``MALLOC_ARENA_MAX=2`` in the environment, which still wins when set."""
    import ctypes
    import os

    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return False
    m_arena_max = -8
    return bool(libc.mallopt(m_arena_max, MALLOC_ARENAS))


def json_text(value: Any) -> str:
    """A JSON column's value as stored text (the engines' ``json_serializer``): by ``orjson``,
    several times faster than ``json.dumps`` on a story's signature (two thousand a poll).
    The same JSON value, written more tightly (no spaces, UTF-8 rather than ``\\u`` escapes);
    what ``orjson`` refuses (an integer beyond 64 bits) goes through ``json.dumps``. A float
    that is no number (NaN) is written as null, as JSON has no NaN (PostgreSQL refuses one)."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def create_engine(plain_url: str, **kwargs: Any) -> AsyncEngine:
    url = async_url(plain_url)
    kwargs.setdefault("insertmanyvalues_page_size", INSERT_PAGE)
    kwargs.setdefault("json_serializer", json_text)
    if url.get_backend_name() == "sqlite":
        limit_malloc_arenas()  # before the first connection's thread starts
        if url.database and url.database != ":memory:":
            Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        busy_ms = sqlite_busy_timeout_ms()  # a bad value fails here, at start, not per connect
        engine = create_async_engine(url, **kwargs)
        event.listen(engine.sync_engine, "connect", partial(_sqlite_pragmas, busy_ms=busy_ms))
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    return create_async_engine(url, **kwargs)


def insert_ignoring_duplicates(
    session: AsyncSession, model: Any, conflict_columns: list[str]
) -> Insert:
    """``INSERT INTO model … ON CONFLICT (conflict_columns) DO NOTHING`` for the session's
    backend; a row whose key is already stored (or repeated earlier in the same statement) is
    skipped, and ``RETURNING`` yields only the rows inserted."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model).on_conflict_do_nothing(index_elements=conflict_columns)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model).on_conflict_do_nothing(index_elements=conflict_columns)
    raise NotImplementedError(f"defwatch needs SQLite or PostgreSQL, not {dialect}")


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _alembic_config(connection: Connection) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


_REVISION = re.compile(r'^revision(?:: *str)? *= *"([^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r'^down_revision(?:: *[^=]+)? *= *"([^"]+)"', re.MULTILINE)


@cache
def _script_heads() -> frozenset[str] | None:
    """The head revisions of ``migrations/versions``, read from the files' text (no Alembic
    import); None when a file does not state its revision plainly (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        found = _REVISION.search(source)
        if found is None:
            return None
        revisions.add(found.group(1))
        parents.update(_DOWN_REVISION.findall(source))
    return frozenset(revisions - parents) or None


def _at_head(connection: Connection) -> bool:
    """True when the database already stands at every head: nothing to migrate."""
    heads = _script_heads()
    if heads is None or not inspect(connection).has_table("alembic_version"):
        return False
    stored = {row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))}
    return stored == heads


def _upgrade(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK_ID})
    # Importing Alembic costs more than a `latest` query: skip it when there is nothing to do.
    if _at_head(connection):
        return
    from alembic import command

    command.upgrade(_alembic_config(connection), "head")


async def migrate(engine: AsyncEngine) -> None:
    """Apply every pending migration in one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)


async def open_database(plain_url: str) -> tuple[AsyncEngine, async_sessionmaker[AsyncSession]]:
    engine = create_engine(plain_url)
    await migrate(engine)
    sessions = session_factory(engine)
    # A migration may ask for stored stories to be re-grouped once (0005 does). Checking is one
    # read; the grouping code (classifier, HTTP client) is imported only when it must run.
    from monitors.models import REBUILD_FLAG, Meta

    async with sessions() as session:
        flagged = await session.get(Meta, REBUILD_FLAG) is not None
    if flagged:
        from monitors.regroup import rebuild_if_flagged

        await rebuild_if_flagged(sessions)
    return engine, sessions


async def driver_rows(
    session: AsyncSession, sql: str, params: Sequence[Any] | Mapping[str, Any]
) -> list[Any]:
    """Rows of one read run on the session's own driver connection, as the driver returns
    them: no SQLAlchemy statement or result processing. It sees the session's own writes (the
    same connection and transaction); as the transaction's first statement it reads committed
    data like any first read, the drivers beginning the transaction lazily.

    For the few reads of the poll that return thousands of rows per feed (the grouping's
    candidates and their signatures), where that processing cost more than the query, and
    for its small per-feed statements (also a SQLite write with ``RETURNING``, which the
    driver begins the transaction for: ``_refuse_outside_transaction``). The
    caller writes the SQL in its driver's style (SQLite: ``:name`` or ``?``; PostgreSQL:
    ``$1``) and converts values itself (``result_processor``)."""
    driver, postgres = await _driver_connection(session)
    if postgres:
        return list(await driver.fetch(sql, *params))
    return list(await driver.execute_fetchall(sql, params))


async def _driver_connection(session: AsyncSession) -> tuple[Any, bool]:
    """The session's own driver connection (asyncpg or aiosqlite), and whether it is
    PostgreSQL's."""
    connection = await session.connection()
    raw = await connection.get_raw_connection()
    return raw.driver_connection, connection.dialect.name == "postgresql"


async def driver_write(session: AsyncSession, sql: str, rows: Sequence[Sequence[Any]]) -> None:
    """Many rows written on the session's own driver connection, inside its transaction,
    without SQLAlchemy's per-row parameter processing: the rows of thousands of small
    ``story_key`` and ``story_country`` inserts per poll and the articles' story ids, where
    that processing cost more than the writes. SQLite: ``executemany`` of a ``?`` statement;
    PostgreSQL: one statement that takes one array per column (``INSERT … SELECT * FROM
    unnest($1::…[], …)``, ``UPDATE … FROM unnest(…)``). Values come converted by the caller
    (``bind_processor``). Only inside the session's transaction
    (``_refuse_outside_transaction``)."""
    if not rows:
        return
    driver, postgres = await _driver_connection(session)
    _refuse_outside_transaction(driver, postgres, "driver_write")
    if postgres:
        await driver.execute(sql, *(list(column) for column in zip(*rows, strict=True)))
    else:
        await driver.executemany(sql, rows)


def _refuse_outside_transaction(driver: Any, postgres: bool, name: str) -> None:
    """A driver write must be part of the session's transaction, committed or rolled back
    with it. PostgreSQL: asyncpg runs a statement outside a transaction on its own
    (autocommit), and SQLAlchemy opens the transaction with its own first statement, so a
    write before that is refused. SQLite: the ``sqlite3`` module itself opens the transaction
    before a write (SQLAlchemy never emits BEGIN there; its own writes rely on the same), so
    a write is always inside it."""
    if postgres and not driver.is_in_transaction():
        raise RuntimeError(f"{name} outside a transaction")


async def driver_insert_returning(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    returning: Sequence[str],
    *,
    skip_conflicts_on: Sequence[str] = (),
) -> list[Any]:
    """Insert rows on the session's own driver connection, inside its transaction (as
    ``driver_write``), and return ``returning``'s columns of each, in no set order: a batch's
    articles and new stories, whose dozen values a row through SQLAlchemy's statement and
    parameter processing cost more than the insert. Every row names the same columns, each
    given (no Python-side defaults are applied); each value goes through its column type's
    ``bind_processor``, as SQLAlchemy would send it. SQLite: multi-row ``VALUES … RETURNING``
    of at most ``INSERT_PAGE`` rows (so at most that many statement shapes); PostgreSQL: one
    ``INSERT … SELECT * FROM unnest(…) RETURNING`` for any number of rows.
    ``skip_conflicts_on``: a unique key's columns; a row whose key is stored already (or
    repeated in the batch) is skipped and not returned (``ON CONFLICT … DO NOTHING``, as
    ``insert_ignoring_duplicates``)."""
    if not rows:
        return []
    driver, postgres = await _driver_connection(session)
    _refuse_outside_transaction(driver, postgres, "driver_insert_returning")
    dialect = session.get_bind().dialect
    names = tuple(rows[0])
    processors = [(name, bind_processor(table.c[name].type, dialect)) for name in names]
    columns = [
        [row[name] for row in rows] if process is _same else [process(row[name]) for row in rows]
        for name, process in processors
    ]
    tail = _returning_tail(tuple(returning), tuple(skip_conflicts_on))
    if postgres:
        sql = _pg_insert_returning(table, names, tail, dialect)
        return list(await driver.fetch(sql, *columns))
    values = list(zip(*columns, strict=True))
    found: list[Any] = []
    for start in range(0, len(values), INSERT_PAGE):
        page = values[start : start + INSERT_PAGE]
        sql = _sqlite_insert_returning(table.name, names, len(page), tail)
        found += await driver.execute_fetchall(sql, [v for row in page for v in row])
    return found


def _returning_tail(returning: tuple[str, ...], skip_conflicts_on: tuple[str, ...]) -> str:
    conflict = (
        f"ON CONFLICT ({', '.join(skip_conflicts_on)}) DO NOTHING " if skip_conflicts_on else ""
    )
    return f"{conflict}RETURNING {', '.join(returning)}"


@cache
def _sqlite_insert_returning(table: str, names: tuple[str, ...], count: int, tail: str) -> str:
    row = "(" + ", ".join("?" * len(names)) + ")"
    return f"INSERT INTO {table} ({', '.join(names)}) VALUES {', '.join([row] * count)} {tail}"


def _pg_insert_returning(table: Table, names: tuple[str, ...], tail: str, dialect: Dialect) -> str:
    arrays = ", ".join(
        f"${n}::{table.c[name].type.compile(dialect=dialect)}[]" for n, name in enumerate(names, 1)
    )
    return f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM unnest({arrays}) {tail}"


def result_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a driver's value of ``type_`` (identity when nothing)."""
    process = type_.dialect_impl(dialect).result_processor(dialect, None)
    return process if process is not None else _same


def bind_processor(type_: TypeEngine[Any], dialect: Dialect) -> Callable[[Any], Any]:
    """What SQLAlchemy does to a parameter of ``type_`` before the driver gets it."""
    process = type_.dialect_impl(dialect).bind_processor(dialect)
    return process if process is not None else _same


def _same(value: Any) -> Any:
    return value
