"""stories matched by their defining report and confirmed reports; stored stories re-grouped once

A story's signature now also holds its confirmed reports (``monitors.detect.cluster.confirmed``) and
an article's wording is read from its headline and lead. Flags ``stories_rebuild`` in ``meta``
(as 0005 does): the next start re-groups every stored article under the current rules
(``monitors.regroup.rebuild_if_flagged``), sending no alert again. No schema change.

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


def _meta() -> sa.TableClause:
    return sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    meta = _meta()
    op.execute(meta.delete().where(meta.c.key == "stories_rebuild"))
    op.execute(meta.insert().values(key="stories_rebuild", value="pending"))


def downgrade() -> None:
    meta = _meta()
    op.execute(meta.delete().where(meta.c.key == "stories_rebuild"))
