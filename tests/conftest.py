"""Shared pytest fixtures."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dbfixtures import (  # noqa: F401
    database_url,
    migrated_sqlite,
    postgres_url,
    sessions,
    sqlite_url,
)
from tests.feedserver import FeedServer
from tests.tg import Emulator


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark by what a test uses, so ``-m "not emulator"`` needs no mark in each file.

    ``emulator``: the test uses the ``tg_emulator`` fixture (directly or through another
    fixture). ``postgres``: it uses ``postgres_url`` or is the ``postgresql`` case of
    ``database_url``. A test that asks for a fixture at run time (``getfixturevalue``)
    carries its mark by hand.
    """
    for item in items:
        names = getattr(item, "fixturenames", ())
        if "tg_emulator" in names:
            item.add_marker(pytest.mark.emulator)
        callspec = getattr(item, "callspec", None)
        on_postgres = callspec is not None and callspec.params.get("database_url") == "postgresql"
        if on_postgres or "postgres_url" in names:
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A scripted HTTP server on 127.0.0.1 (see ``tests/feedserver.py``), closed after the test."""
    with FeedServer() as server:
        yield server


# --- Telegram Bot API emulator (issue 3) ------------------------------------------------------

SHARED_DIR = Path(__file__).resolve().parents[1].parent / "shared"
TG_EMULATOR_DIR = SHARED_DIR / "tg-emulator"


@pytest.fixture(scope="session")
def tg_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The tg-emulator on a free 127.0.0.1 port for this session (skips if it cannot run)."""
    if not (TG_EMULATOR_DIR / "emulator.js").is_file():
        pytest.skip(f"tg-emulator not found at {TG_EMULATOR_DIR}")
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are needed to run the tg-emulator")
    emu = Emulator.start(TG_EMULATOR_DIR, tmp_path_factory.mktemp("tg") / "emulator.log")
    try:
        yield emu
    finally:
        emu.stop()
