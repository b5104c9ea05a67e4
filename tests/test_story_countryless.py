"""story.has_participants follows the story's participant rows, whoever writes them (issue 15).

Migration 0007 keeps it with triggers on ``story_country``; ``ix_story_countryless`` indexes
the stories without participants by date.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests import dbfixtures

database_url, sessions = dbfixtures.database_url, dbfixtures.sessions

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ADD = "INSERT INTO story_country (story_id, code, role, published_at, is_defence_cooperation)"


def country(code: str, role: str) -> str:
    return f"{ADD} VALUES (1, '{code}', '{role}', :now, false)"


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        pytest.param([], False, id="no-countries"),
        pytest.param([country("AZ", "participant")], True, id="participant-added"),
        pytest.param([country("AZ", "mentioned")], False, id="only-mentioned"),
        pytest.param(
            [
                country("AZ", "participant"),
                country("CN", "participant"),
                "DELETE FROM story_country WHERE code = 'AZ'",
            ],
            True,
            id="one-of-two-removed",
        ),
        pytest.param(
            [country("AZ", "participant"), "DELETE FROM story_country"], False, id="all-removed"
        ),
        pytest.param(
            [country("AZ", "participant"), "UPDATE story_country SET role = 'mentioned'"],
            False,
            id="demoted-to-mentioned",
        ),
        pytest.param(
            [country("AZ", "mentioned"), "UPDATE story_country SET role = 'participant'"],
            True,
            id="promoted-to-participant",
        ),
    ],
)
async def test_has_participants_follows_the_rows(
    sessions: async_sessionmaker[AsyncSession], steps: list[str], expected: bool
) -> None:
    async with sessions.begin() as session:
        await session.execute(
            text(
                "INSERT INTO story (id, title, summary, published_at, first_seen_at,"
                " last_seen_at, score, is_defence_cooperation, evidence, signature,"
                " article_count) VALUES (1, 't', '', :now, :now, :now, 0, false, '[]', '{}', 1)"
            ),
            {"now": NOW.replace(tzinfo=None)},
        )
        for step in steps:
            await session.execute(text(step), {"now": NOW.replace(tzinfo=None)})
    async with sessions() as session:
        got = await session.scalar(text("SELECT has_participants FROM story WHERE id = 1"))
        countryless = list(
            await session.scalars(
                text("SELECT id FROM story WHERE NOT has_participants ORDER BY published_at")
            )
        )
    assert bool(got) is expected
    assert countryless == ([] if expected else [1])
