"""stories keyed by their defining report; stored stories re-grouped once

Adds ``story_key`` (the clustering's candidate index) and ``story.defining_article_id``, and
flags ``stories_rebuild`` in ``meta``: the next start re-groups every stored article under the
rules of ``monitors.detect.cluster`` (``monitors.regroup.rebuild_if_flagged``), sending no alert
again.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "story_key",
        sa.Column("story_id", Id, nullable=False),
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"], ["story.id"], name=op.f("fk_story_key_story_id_story"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("story_id", "key", name=op.f("pk_story_key")),
    )
    with op.batch_alter_table("story_key", schema=None) as batch_op:
        batch_op.create_index("ix_story_key_lookup", ["key", "filed_at"], unique=False)
    with op.batch_alter_table("story", schema=None) as batch_op:
        batch_op.add_column(sa.Column("defining_article_id", Id, nullable=True))
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.execute(meta.delete().where(meta.c.key == "stories_rebuild"))
    op.execute(meta.insert().values(key="stories_rebuild", value="pending"))


def downgrade() -> None:
    with op.batch_alter_table("story", schema=None) as batch_op:
        batch_op.drop_column("defining_article_id")
    with op.batch_alter_table("story_key", schema=None) as batch_op:
        batch_op.drop_index("ix_story_key_lookup")
    op.drop_table("story_key")
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    op.execute(meta.delete().where(meta.c.key == "stories_rebuild"))
