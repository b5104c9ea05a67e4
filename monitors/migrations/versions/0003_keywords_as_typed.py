"""keywords as typed: re-fold stored keyword and exclude phrases from what the user typed

Keywords used to be folded to ASCII (``anyascii``: Arabic, Hebrew, Cyrillic and emoji were
transliterated, so "🚀🛡" became "rocket shield"). They are now folded for case and accents
only (``monitors.subscriptions.fold_words``). Each stored phrase is folded again from its
``display`` (the text as typed); a phrase that now folds to nothing (emoji, punctuation) could
never match and is removed, and a phrase that now equals another of the same chat and kind is
kept once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from monitors.subscriptions import normalise_keyword

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_rule = sa.table(
    "watch_rule",
    sa.column("id", sa.BigInteger()),
    sa.column("chat_id", sa.BigInteger()),
    sa.column("kind", sa.String()),
    sa.column("value", sa.String()),
    sa.column("display", sa.String()),
)


def upgrade() -> None:
    bind = op.get_bind()
    rows = bind.execute(
        sa.select(_rule.c.id, _rule.c.chat_id, _rule.c.kind, _rule.c.value, _rule.c.display)
        .where(_rule.c.kind.in_(("keyword", "exclude")))
        .order_by(_rule.c.id)
    ).all()
    taken: set[tuple[int, str, str]] = set()
    drop: list[int] = []
    change: dict[int, str] = {}
    for rule_id, chat_id, kind, value, display in rows:
        folded = normalise_keyword(display)[:200]
        if not folded or (chat_id, kind, folded) in taken:
            drop.append(rule_id)
            continue
        taken.add((chat_id, kind, folded))
        if folded != value:
            change[rule_id] = folded
    if drop:
        bind.execute(sa.delete(_rule).where(_rule.c.id.in_(drop)))
    # Two steps, so that no update meets a value another row still holds (unique per chat).
    for rule_id in change:
        bind.execute(sa.update(_rule).where(_rule.c.id == rule_id).values(value=f"\x00{rule_id}"))
    for rule_id, folded in change.items():
        bind.execute(sa.update(_rule).where(_rule.c.id == rule_id).values(value=folded))


def downgrade() -> None:
    """Nothing to undo: the ASCII folding is gone from the code."""
