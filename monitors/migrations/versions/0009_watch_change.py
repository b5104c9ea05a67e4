"""watch_change: which chats' watch changed, in order, so an index reloads only those chats

``monitors.watch`` keeps a watch index in memory per process. With ``meta.watch_version``
alone (migration 0006) it knew only *that* something changed, and reloaded every rule (20 s
at 100k chats). This table holds one row per chat whose rules, indexed chat columns or mutes
changed, with ``seq``, a number that grows with every change; an index remembers the highest
``seq`` it has read and, when the version moves, reloads only the chats with a higher one.
One row per chat (the latest change), so the table never holds more rows than chats ever
watched anything: nothing to prune.

Why ``seq`` order is commit order (a reader that has seen ``seq`` N never later finds a
committed change below N): every change writes ``meta.watch_version`` *before* it takes its
``seq``. That row lock is held to the end of the writing transaction, so a second writer gets
its ``seq`` only after the first has committed or rolled back. On SQLite the single writer
gives the same order; ``seq`` is max + 1 there (an index on ``seq`` makes that one lookup).

PostgreSQL: 0006's statement triggers are replaced by one function per table and event
that, using the statement's transition tables, finds the chats concerned, and (only when there
are any) bumps the version and then logs them. For ``chat`` updates only rows whose indexed
columns (those of 0006) really changed count. SQLite: 0006's row triggers stay (they bump
first, per row); a second trigger per row logs the chat.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = "watch_version"
CHAT_COLUMNS = ("active", "scope", "delivery_mode", "timezone", "quiet_start", "quiet_end")
OLD_EVENTS = [  # 0006's triggers, replaced on PostgreSQL
    ("watch_rule", "INSERT"),
    ("watch_rule", "UPDATE"),
    ("watch_rule", "DELETE"),
    ("chat", "INSERT"),
    ("chat", f"UPDATE OF id, {', '.join(CHAT_COLUMNS)}"),
    ("chat", "DELETE"),
    ("chat_mute", "INSERT"),
    ("chat_mute", "UPDATE"),
    ("chat_mute", "DELETE"),
]


def _old_name(table: str, event: str) -> str:
    return f"trg_{table}_{event.split()[0].lower()}_watch_version"


def _name(table: str, event: str) -> str:
    return f"trg_{table}_{event.lower()}_watch_change"


def _chats_concerned(table: str, event: str) -> str:
    """SQL over the transition tables: the chat ids a statement changed (PostgreSQL)."""
    key = "id" if table == "chat" else "chat_id"
    if event == "INSERT":
        return f"SELECT {key} FROM new_rows"
    if event == "DELETE":
        return f"SELECT {key} FROM old_rows"
    if table != "chat":
        return "SELECT chat_id FROM new_rows UNION SELECT chat_id FROM old_rows"
    old = ", ".join(f"o.{c}" for c in CHAT_COLUMNS)
    new = ", ".join(f"n.{c}" for c in CHAT_COLUMNS)
    return (  # a changed id counts as both ids changed; otherwise only the indexed columns
        "SELECT n.id FROM new_rows n LEFT JOIN old_rows o ON o.id = n.id"
        f" WHERE o.id IS NULL OR ({old}) IS DISTINCT FROM ({new})"
        " UNION SELECT o.id FROM old_rows o LEFT JOIN new_rows n ON n.id = o.id WHERE n.id IS NULL"
    )


def _referencing(event: str) -> str:
    return {
        "INSERT": "NEW TABLE AS new_rows",
        "DELETE": "OLD TABLE AS old_rows",
        "UPDATE": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    }[event]


TABLES = ("watch_rule", "chat", "chat_mute")
EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    op.create_table(
        "watch_change",
        sa.Column("chat_id", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
    )
    op.create_index("ix_watch_change_seq", "watch_change", ["seq"])
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
        return
    for table in TABLES:  # SQLite: a row trigger per event, after 0006's (which bumps)
        key = "id" if table == "chat" else "chat_id"
        for event in EVENTS:
            on = (
                f"UPDATE OF id, {', '.join(CHAT_COLUMNS)}"
                if (table, event) == ("chat", "UPDATE")
                else event
            )
            rows = {"INSERT": ["NEW"], "DELETE": ["OLD"], "UPDATE": ["OLD", "NEW"]}[event]
            body = " ".join(
                "INSERT OR REPLACE INTO watch_change (chat_id, seq) VALUES "
                f"({row}.{key}, (SELECT coalesce(max(seq), 0) + 1 FROM watch_change));"
                for row in rows
            )
            op.execute(
                f"CREATE TRIGGER {_name(table, event)} AFTER {on} ON {table} BEGIN {body} END"
            )


def _upgrade_postgresql() -> None:
    op.execute("CREATE SEQUENCE watch_change_seq")
    for table, event in OLD_EVENTS:
        op.execute(f"DROP TRIGGER {_old_name(table, event)} ON {table}")
    for table in TABLES:
        for event in EVENTS:
            function = f"defwatch_{table}_{event.lower()}_watch_change"
            op.execute(
                f"CREATE FUNCTION {function}() RETURNS trigger AS $$ DECLARE ids bigint[]; BEGIN "
                "SELECT array_agg(DISTINCT x) INTO ids "
                f"FROM ({_chats_concerned(table, event)}) AS t(x); "
                "IF ids IS NULL THEN RETURN NULL; END IF; "
                # the version row first: its lock orders the seq values of concurrent writers
                "UPDATE meta SET value = md5(random()::text || clock_timestamp()::text) "
                f"WHERE key = '{KEY}'; "
                "INSERT INTO watch_change (chat_id, seq) "
                "SELECT x, nextval('watch_change_seq') FROM unnest(ids) AS u(x) "
                "ON CONFLICT (chat_id) DO UPDATE SET seq = excluded.seq; "
                "RETURN NULL; END $$ LANGUAGE plpgsql"
            )
            op.execute(
                f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
                f"REFERENCING {_referencing(event)} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {function}()"
            )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        for event in EVENTS:
            op.execute(f"DROP TRIGGER {_name(table, event)}" + (f" ON {table}" if postgres else ""))
            if postgres:
                op.execute(f"DROP FUNCTION defwatch_{table}_{event.lower()}_watch_change()")
    if postgres:
        op.execute("DROP SEQUENCE watch_change_seq")
        for table, event in OLD_EVENTS:
            op.execute(
                f"CREATE TRIGGER {_old_name(table, event)} AFTER {event} ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION defwatch_bump_watch_version()"
            )
    op.drop_index("ix_watch_change_seq", table_name="watch_change")
    op.drop_table("watch_change")
