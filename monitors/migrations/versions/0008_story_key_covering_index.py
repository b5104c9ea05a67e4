"""the grouping's candidate lookup reads ``story_key`` from its index alone

Replaces ``ix_story_key_lookup (key, filed_at)`` with ``ix_story_key_candidates (key, filed_at,
story_id)``: ``store.candidate_filings`` asks for the newest filings of a key ordered by
``filed_at, story_id``, and with the story id in the index both backends answer from the index
alone (SQLite: a covering index, no sort; PostgreSQL: an index-only scan) instead of one table
row per filing. At a million stories those table rows are scattered over the file: 3-25 ms per
key instead of 0.5 ms on SQLite (bench/README.md, "Issue 15, 2026-12-03 (session 4)").

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# Plain index operations (no batch mode): SQLite creates and drops indexes in place, so the
# table is not copied.


def upgrade() -> None:
    op.create_index("ix_story_key_candidates", "story_key", ["key", "filed_at", "story_id"])
    op.drop_index("ix_story_key_lookup", table_name="story_key")


def downgrade() -> None:
    op.create_index("ix_story_key_lookup", "story_key", ["key", "filed_at"])
    op.drop_index("ix_story_key_candidates", table_name="story_key")
