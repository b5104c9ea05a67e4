"""Nothing started that a command or a cycle does not need (issue 15).

* a poll cycle in which every feed answers 304 starts no process pool;
* ``defwatch --help``, ``latest`` and ``feeds list`` import neither Alembic (on a database
  already at head) nor the HTTP client nor the classifier;
* the migration heads read from the files are Alembic's own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from monitors.db import MIGRATIONS_DIR, _script_heads
from monitors.runner import Monitor
from monitors.settings import load_settings
from tests.feedserver import FeedServer

ROOT = Path(__file__).resolve().parents[1]
RSS = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
    b"<item><title>Poland and Norway sign a defence pact</title><guid>a-1</guid></item>"
    b"</channel></rss>"
)


def test_script_heads_are_alembics_heads() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert _script_heads() == frozenset(ScriptDirectory.from_config(config).get_heads())


async def test_pool_starts_only_when_a_feed_has_something_to_parse(
    tmp_path: Path, feed_server: FeedServer
) -> None:
    feeds_file = tmp_path / "feeds.toml"
    feeds_file.write_text(f'[[feed]]\nurl = "{feed_server.url("/a.xml")}"\n')
    feed_server.add("/a.xml", RSS, etag='"v1"')
    settings = dataclasses.replace(
        load_settings({}), database_url=f"sqlite:///{tmp_path / 'db.sqlite'}",
        feeds_file=feeds_file,
    )  # fmt: skip
    started = {}
    for cycle in ("new", "unchanged"):
        async with Monitor.open(settings) as monitor:
            report = await monitor.poll_cycle(every_feed=True)
            started[cycle] = (dict(report.statuses), monitor.context.executor.started)
    assert started == {"new": ({"ok": 1}, True), "unchanged": ({"not_modified": 1}, False)}


_PROBE = """
import json, sys
from monitors.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
heavy = ("alembic", "httpx", "monitors.detect.classify", "monitors.pipeline", "sqlalchemy")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def _imported_by(args: list[str], env: dict[str, str]) -> list[str]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return json.loads(result.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(["--help"], [], id="help-imports-nothing-heavy"),
        pytest.param(["latest", "AZ"], ["sqlalchemy"], id="latest-only-sqlalchemy"),
        pytest.param(["feeds", "list"], ["sqlalchemy"], id="feeds-list-only-sqlalchemy"),
    ],
)
@pytest.mark.slow  # two CLI subprocesses a case
def test_commands_import_only_what_they_use(
    tmp_path: Path, args: list[str], expected: list[str]
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEFWATCH_", "TELEGRAM_"))}
    env["DEFWATCH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'db.sqlite'}"
    assert "alembic" in _imported_by(["feeds", "list"], env)  # the first start migrates
    assert _imported_by(args, env) == expected
