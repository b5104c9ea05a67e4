"""story.has_participants, kept by triggers, and the index of country-less stories

A story without participant countries used to be found by probing ``story_country`` for
every story published since a date (``NOT EXISTS``): unbounded, and about 0.5 s per article
on a database of a million articles. This column says it directly, triggers on
``story_country`` keep it true exactly while the story has a participant row (whoever writes
them), and ``ix_story_countryless (has_participants, published_at)`` makes "recent
country-less stories" a range scan (a composite index, not a partial one: SQLite uses a
partial index only when the query repeats its WHERE term verbatim, and SQLAlchemy renders
``NOT has_participants`` differently per dialect).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

HAS = "EXISTS (SELECT 1 FROM story_country c WHERE c.story_id = {sid} AND c.role = 'participant')"
SQLITE_TRIGGERS = {
    "trg_story_country_ins_participants": (
        "AFTER INSERT ON story_country WHEN NEW.role = 'participant'",
        "UPDATE story SET has_participants = 1 WHERE id = NEW.story_id AND NOT has_participants;",
    ),
    "trg_story_country_del_participants": (
        "AFTER DELETE ON story_country WHEN OLD.role = 'participant'",
        f"UPDATE story SET has_participants = {HAS.format(sid='OLD.story_id')}"
        " WHERE id = OLD.story_id;",
    ),
    "trg_story_country_upd_participants": (
        "AFTER UPDATE OF story_id, role ON story_country",
        f"UPDATE story SET has_participants = {HAS.format(sid='story.id')}"
        " WHERE id IN (OLD.story_id, NEW.story_id);",
    ),
}
PG_FUNCTION = f"""
CREATE FUNCTION defwatch_story_has_participants() RETURNS trigger AS $$
BEGIN
  IF TG_OP IN ('DELETE', 'UPDATE') THEN
    UPDATE story SET has_participants = {HAS.format(sid="OLD.story_id")} WHERE id = OLD.story_id;
  END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.role = 'participant' THEN
    UPDATE story SET has_participants = true WHERE id = NEW.story_id AND NOT has_participants;
  END IF;
  RETURN NULL;
END $$ LANGUAGE plpgsql
"""


def upgrade() -> None:
    op.add_column(
        "story",
        sa.Column("has_participants", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.execute(f"UPDATE story SET has_participants = {HAS.format(sid='story.id')}")
    op.create_index("ix_story_countryless", "story", ["has_participants", "published_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(
            "CREATE TRIGGER trg_story_country_participants AFTER INSERT OR DELETE OR UPDATE OF"
            " story_id, role ON story_country FOR EACH ROW"
            " EXECUTE FUNCTION defwatch_story_has_participants()"
        )
        return
    for name, (when, body) in SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {when} BEGIN {body} END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_story_country_participants ON story_country")
        op.execute("DROP FUNCTION defwatch_story_has_participants()")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index("ix_story_countryless", table_name="story")
    with op.batch_alter_table("story") as batch:
        batch.drop_column("has_participants")
