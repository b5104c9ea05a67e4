"""Database fixtures: a fresh SQLite file per test, and PostgreSQL when configured.

``database_url`` is parametrised over the backends: ``sqlite`` always, ``postgresql`` when
``DEFWATCH_TEST_POSTGRES_URL`` names a server (``.ci/run`` sets it to the local one). Each
PostgreSQL test gets a database of its own, dropped afterwards.

``sessions`` on SQLite starts from a copy of one database migrated once per test session
(a file copy instead of running every migration for each test); ``database_url`` itself
stays an empty database, for the tests of migrating.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from monitors.db import async_url, open_database

POSTGRES_ENV = "DEFWATCH_TEST_POSTGRES_URL"


def postgres_server_url() -> str | None:
    return os.environ.get(POSTGRES_ENV) or None


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A plain database URL of an empty database on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'defwatch.db'}"
        return
    server = postgres_server_url()
    if server is None:
        pytest.skip(
            f"PostgreSQL tests need {POSTGRES_ENV} (e.g. postgresql://postgres@127.0.0.1/postgres)"
        )
    yield from _fresh_postgres_database(server)


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'defwatch.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    server = postgres_server_url()
    if server is None:
        pytest.skip(f"PostgreSQL tests need {POSTGRES_ENV}")
    yield from _fresh_postgres_database(server)


def _fresh_postgres_database(server: str) -> Iterator[str]:
    import asyncio

    name = f"defwatch_test_{uuid.uuid4().hex[:12]}"
    admin = async_url(server)

    async def run(statement: str) -> None:
        engine = create_async_engine(admin, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(run(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(run(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file at the newest migration, made once per test session (read only: copy it)."""
    import asyncio

    path = tmp_path_factory.mktemp("template") / "migrated.db"

    async def migrate() -> None:
        engine, _ = await open_database(f"sqlite:///{path}")
        await engine.dispose()

    asyncio.run(migrate())
    return path


@pytest.fixture
async def sessions(
    database_url: str, migrated_sqlite: Path
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    if database_url.startswith("sqlite:///"):
        shutil.copyfile(migrated_sqlite, database_url.removeprefix("sqlite:///"))
    engine, factory = await open_database(database_url)
    try:
        yield factory
    finally:
        await engine.dispose()
