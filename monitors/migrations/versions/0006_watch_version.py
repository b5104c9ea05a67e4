"""watch_version: a meta row that every change to what chats watch moves (triggers)

``monitors.watch`` keeps each process's watch index in memory and reloads it when this row's
value differs from the one it loaded. Triggers on ``watch_rule``, ``chat`` (the columns the
index holds) and ``chat_mute`` set it to a new random token in the writing transaction, so
every writer (bot, outbox, tools, raw SQL) is covered and a rolled-back edit restores the old
token.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "watch_version"
CHAT_COLUMNS = "id, active, scope, delivery_mode, timezone, quiet_start, quiet_end"
# (table, event) pairs whose changes the index must see
EVENTS = [
    ("watch_rule", "INSERT"),
    ("watch_rule", "UPDATE"),
    ("watch_rule", "DELETE"),
    ("chat", "INSERT"),
    ("chat", f"UPDATE OF {CHAT_COLUMNS}"),
    ("chat", "DELETE"),
    ("chat_mute", "INSERT"),
    ("chat_mute", "UPDATE"),
    ("chat_mute", "DELETE"),
]


def _name(table: str, event: str) -> str:
    return f"trg_{table}_{event.split()[0].lower()}_watch_version"


def upgrade() -> None:
    op.execute(f"INSERT INTO meta (key, value) VALUES ('{KEY}', 'initial')")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION defwatch_bump_watch_version() RETURNS trigger AS $$ BEGIN "
            f"UPDATE meta SET value = md5(random()::text || clock_timestamp()::text) "
            f"WHERE key = '{KEY}'; RETURN NULL; END $$ LANGUAGE plpgsql"
        )
        for table, event in EVENTS:
            op.execute(
                f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION defwatch_bump_watch_version()"
            )
        return
    for table, event in EVENTS:  # SQLite: row triggers only
        op.execute(
            f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} BEGIN "
            f"UPDATE meta SET value = lower(hex(randomblob(8))) WHERE key = '{KEY}'; END"
        )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table, event in EVENTS:
        op.execute(f"DROP TRIGGER {_name(table, event)}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION defwatch_bump_watch_version()")
    op.execute(f"DELETE FROM meta WHERE key = '{KEY}'")
