"""story.revision: a number that changes with every write of a story's signature or cooperation
flag, never repeating, so a process may keep stories' signatures between feeds

``store.known_stories`` keeps each story's signature (and its decoded screen) per process, by
story id and revision, and reads only ``(id, revision)`` for the stories it holds: one index
lookup each instead of the signature text. That is sound because the database, not the
application, assigns the revision, on every INSERT and on every UPDATE that names
``signature`` or ``is_defence_cooperation`` (``UPDATE OF``: whatever the code path, worker or
manual statement), and because no two committed writes of any story ever get the same value:

* PostgreSQL: ``story_revision_seq`` (a plain sequence, not owned by the column, so
  ``TRUNCATE … RESTART IDENTITY`` leaves it alone); the column defaults to its next value and a
  BEFORE UPDATE row trigger takes a new one. Sequence values are never handed out twice, even
  by transactions that roll back.
* SQLite: a one-row counter ``story_revision_counter`` bumped by AFTER INSERT / AFTER UPDATE
  triggers, which copy it into the row (an inserted row keeps a value its transaction took
  from the counter: ``store.insert_stories`` takes one per story in one statement, so that
  no trigger rewrites each new row). A rolled-back transaction also rolls the counter back,
  so its values come again later: ``known_stories`` therefore keeps what it read only once the
  reading transaction commits. SQLite reuses the id of a deleted newest row: the new row gets a
  new counter value, so (id, revision) still names one content.

Existing rows keep revision 0 (each id's one content until its first write here). The index
``ix_story_revision (id, revision)`` answers the check from the index alone (on SQLite the
column comes after the signature, which may lie in overflow pages).

``story_key.revision`` is a copy of its story's, kept equal by triggers in the writing
statement (a key row takes its story's revision when inserted; a story's new revision is
copied to its key rows), and ``ix_story_key_candidates`` now ends with it: the candidates' read
(``store.candidate_runs``) gives every candidate's revision from the index it scans anyway, so
the kept stories need no check of their own. The story rows' check stays for stories reached
otherwise (by URL).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WATCHED = "signature, is_defence_cooperation, revision"  # a revision set by hand is replaced


def upgrade() -> None:
    op.add_column(
        "story", sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column(
        "story_key", sa.Column("revision", sa.BigInteger(), nullable=False, server_default="0")
    )
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()
    op.create_index("ix_story_revision", "story", ["id", "revision"])
    # the candidates' read gives each filing's story revision from the index alone
    op.drop_index("ix_story_key_candidates", table_name="story_key")
    op.create_index(
        "ix_story_key_candidates", "story_key", ["key", "filed_at", "story_id", "revision"]
    )


def _upgrade_postgresql() -> None:
    op.execute("CREATE SEQUENCE story_revision_seq START 1")
    op.execute("ALTER TABLE story ALTER COLUMN revision SET DEFAULT nextval('story_revision_seq')")
    op.execute(
        "CREATE FUNCTION defwatch_story_revision() RETURNS trigger AS $$ BEGIN "
        "NEW.revision := nextval('story_revision_seq'); RETURN NEW; END $$ LANGUAGE plpgsql"
    )
    op.execute(
        f"CREATE TRIGGER trg_story_revision BEFORE UPDATE OF {WATCHED} ON story "
        "FOR EACH ROW EXECUTE FUNCTION defwatch_story_revision()"
    )
    # after the row is written, so that the key rows' own trigger reads the new revision
    op.execute(
        "CREATE FUNCTION defwatch_story_revision_keys() RETURNS trigger AS $$ BEGIN "
        "UPDATE story_key SET revision = NEW.revision WHERE story_id = NEW.id; "
        "RETURN NULL; END $$ LANGUAGE plpgsql"
    )
    op.execute(
        f"CREATE TRIGGER trg_story_revision_keys AFTER UPDATE OF {WATCHED} ON story "
        "FOR EACH ROW EXECUTE FUNCTION defwatch_story_revision_keys()"
    )
    # key rows: one check per statement (``store.insert_stories`` gives the right revision,
    # so a poll's batch updates nothing; a row trigger cost ~30 us per key row)
    op.execute(
        "CREATE FUNCTION defwatch_story_key_revision() RETURNS trigger AS $$ BEGIN "
        "IF EXISTS (SELECT 1 FROM new_rows n JOIN story s ON s.id = n.story_id "
        "WHERE n.revision <> s.revision) THEN "  # (the fix's own statement finds none)
        "UPDATE story_key k SET revision = s.revision FROM new_rows n "
        "JOIN story s ON s.id = n.story_id "
        "WHERE k.story_id = n.story_id AND k.key = n.key AND k.revision <> s.revision; "
        "END IF; RETURN NULL; END $$ LANGUAGE plpgsql"
    )
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER trg_story_key_revision_{event.lower()} AFTER {event} ON story_key "
            "REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION defwatch_story_key_revision()"
        )


def _upgrade_sqlite() -> None:
    op.execute("CREATE TABLE story_revision_counter (n INTEGER NOT NULL)")
    op.execute("INSERT INTO story_revision_counter (n) VALUES (0)")
    bump = (
        "UPDATE story_revision_counter SET n = n + 1; "
        "UPDATE story SET revision = (SELECT n FROM story_revision_counter) WHERE id = NEW.id; "
        "UPDATE story_key SET revision = (SELECT n FROM story_revision_counter) "
        "WHERE story_id = NEW.id;"
    )
    # a new row keeps a revision taken from the counter by its inserting transaction
    # (``store.insert_stories`` takes them in one statement, which spares this trigger's
    # rewrite of every row); any other value is replaced by a new one
    op.execute(
        "CREATE TRIGGER trg_story_revision_insert AFTER INSERT ON story WHEN NEW.revision "
        f"NOT BETWEEN 1 AND (SELECT n FROM story_revision_counter) BEGIN {bump} END"
    )
    op.execute(
        f"CREATE TRIGGER trg_story_revision_update AFTER UPDATE OF {WATCHED} ON story "
        f"BEGIN {bump} END"
    )
    op.execute(  # the inserting statement may give the right revision: then no rewrite
        "CREATE TRIGGER trg_story_key_revision AFTER INSERT ON story_key WHEN NEW.revision IS "
        "NOT coalesce((SELECT revision FROM story WHERE id = NEW.story_id), 0) BEGIN "
        "UPDATE story_key SET revision = "
        "coalesce((SELECT revision FROM story WHERE id = NEW.story_id), 0) "
        "WHERE rowid = NEW.rowid; END"
    )
    op.execute(
        "CREATE TRIGGER trg_story_key_revision_moved AFTER UPDATE OF story_id, revision ON "
        "story_key WHEN NEW.revision IS NOT "
        "coalesce((SELECT revision FROM story WHERE id = NEW.story_id), 0) BEGIN "
        "UPDATE story_key SET revision = "
        "coalesce((SELECT revision FROM story WHERE id = NEW.story_id), 0) "
        "WHERE rowid = NEW.rowid; END"
    )


def downgrade() -> None:
    op.drop_index("ix_story_key_candidates", table_name="story_key")
    op.create_index("ix_story_key_candidates", "story_key", ["key", "filed_at", "story_id"])
    op.drop_index("ix_story_revision", table_name="story")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_story_key_revision_insert ON story_key")
        op.execute("DROP TRIGGER trg_story_key_revision_update ON story_key")
        op.execute("DROP FUNCTION defwatch_story_key_revision()")
        op.execute("DROP TRIGGER trg_story_revision_keys ON story")
        op.execute("DROP FUNCTION defwatch_story_revision_keys()")
        op.execute("DROP TRIGGER trg_story_revision ON story")
        op.execute("DROP FUNCTION defwatch_story_revision()")
        op.execute("ALTER TABLE story ALTER COLUMN revision DROP DEFAULT")
        op.drop_column("story_key", "revision")
        op.drop_column("story", "revision")
        op.execute("DROP SEQUENCE story_revision_seq")
        return
    for name in (
        "trg_story_key_revision",
        "trg_story_key_revision_moved",
        "trg_story_revision_insert",
        "trg_story_revision_update",
    ):
        op.execute(f"DROP TRIGGER {name}")
    op.execute("DROP TABLE story_revision_counter")
    for table in ("story_key", "story"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("revision")
