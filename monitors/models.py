"""SQLAlchemy 2 typed models: the whole schema of defwatch.

Constraint names follow one convention (``uq_``, ``ix_``, ``fk_``, ``ck_``) so Alembic
migrations are stable across SQLite and PostgreSQL.

Meta        key/value facts about the database itself
Feed        one polled URL, with its HTTP validators, health and schedule (and a lease
            so several workers never fetch the same feed at once)
Article     one feed entry, stored once per (feed, entry key), with its classification
Story       the real-world event that one or more articles report
StoryCountry  (story, ISO code, role) indexed by code and time for ``latest``
StoryKey    (story, key) from the story's defining report, indexed by key and time: the
            candidate rule of the clustering (``monitors.detect.cluster.index_keys``)
Chat        a Telegram chat (or channel) that subscribed
WatchRule   what a chat watches: a country, a keyword, an excluded keyword or a named list
ChatMute    a country pair a chat muted until a time (an alert's "Mute this pair" button)
Alert       the outbox: one row per (chat, story); a story reaches a chat at most once
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    FetchedValue,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only autoincrements INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
Id = BigInteger().with_variant(Integer, "sqlite")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out on every backend (SQLite keeps naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON, list[Any]: JSON}  # noqa: RUF012


class Meta(Base):
    """Small key/value facts about this database (e.g. when the default feeds were seeded)."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# The Meta key a migration sets when stored stories must be re-grouped once (monitors/regroup.py).
REBUILD_FLAG = "stories_rebuild"


class Feed(Base):
    __tablename__ = "feed"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    title: Mapped[str | None] = mapped_column(String(300))
    language: Mapped[str | None] = mapped_column(String(16))
    # ISO 3166-1 alpha-2 of the state a ministry's or armed force's own feed speaks for
    country: Mapped[str | None] = mapped_column(String(2))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    body_sha256: Mapped[str | None] = mapped_column(String(64))
    next_poll_at: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    last_ok_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    consecutive_errors: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    created_at: Mapped[datetime]

    __table_args__ = (Index("ix_feed_due", "enabled", "next_poll_at"),)


class Story(Base):
    __tablename__ = "story"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    title: Mapped[str] = mapped_column(String(400))
    url: Mapped[str | None] = mapped_column(String(2048))
    summary: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime]
    first_seen_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    score: Mapped[float] = mapped_column(Float, default=0.0)
    is_defence_cooperation: Mapped[bool] = mapped_column(Boolean, default=False)
    cooperation_type: Mapped[str | None] = mapped_column(String(32))
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    # the event signature of the defining report (``monitors.detect.cluster``): what the story is
    signature: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    article_count: Mapped[int] = mapped_column(Integer, default=1)
    # the report the story is about: its first cooperation report, else its first report
    defining_article_id: Mapped[int | None] = mapped_column(Id)
    # set by the database on every write of ``signature`` or ``is_defence_cooperation``, never
    # the same twice (migration 0010): what ``store.known_stories`` checks its kept copies by
    revision: Mapped[int] = mapped_column(
        BigInteger, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )

    countries: Mapped[list[StoryCountry]] = relationship(
        back_populates="story", cascade="all, delete-orphan", lazy="raise"
    )

    __table_args__ = (
        Index("ix_story_published_at", "published_at"),
        Index("ix_story_last_seen_at", "last_seen_at"),
        Index("ix_story_revision", "id", "revision"),  # ``store.known_stories``'s check
    )


class StoryCountry(Base):
    __tablename__ = "story_country"

    story_id: Mapped[int] = mapped_column(
        ForeignKey("story.id", ondelete="CASCADE"), primary_key=True
    )
    code: Mapped[str] = mapped_column(String(2), primary_key=True)
    role: Mapped[str] = mapped_column(String(12))  # participant | mentioned
    # Copied from the story so ``latest COUNTRY`` is one index range scan.
    published_at: Mapped[datetime]
    is_defence_cooperation: Mapped[bool] = mapped_column(Boolean, default=False)

    story: Mapped[Story] = relationship(back_populates="countries", lazy="raise")

    __table_args__ = (Index("ix_story_country_latest", "code", "published_at"),)


class StoryKey(Base):
    __tablename__ = "story_key"

    story_id: Mapped[int] = mapped_column(
        ForeignKey("story.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(80), primary_key=True)
    filed_at: Mapped[datetime]  # the defining report's (last) day
    # its story's revision, copied by the database (migration 0010)
    revision: Mapped[int] = mapped_column(
        BigInteger, server_default=FetchedValue(), server_onupdate=FetchedValue()
    )

    # the grouping's candidates (``store.candidate_runs``), read from the index alone
    __table_args__ = (Index("ix_story_key_candidates", "key", "filed_at", "story_id", "revision"),)


class Article(Base):
    __tablename__ = "article"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feed.id", ondelete="CASCADE"))
    entry_key: Mapped[str] = mapped_column(String(512))
    url: Mapped[str | None] = mapped_column(String(2048))
    title: Mapped[str] = mapped_column(String(400))
    summary: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime]
    fetched_at: Mapped[datetime]
    language: Mapped[str | None] = mapped_column(String(16))
    score: Mapped[float] = mapped_column(Float, default=0.0)
    is_defence_cooperation: Mapped[bool] = mapped_column(Boolean, default=False)
    cooperation_type: Mapped[str | None] = mapped_column(String(32))
    participants: Mapped[str] = mapped_column(String(200), default="")  # "AZ,CN"
    evidence: Mapped[list[Any]] = mapped_column(JSON, default=list)
    story_id: Mapped[int | None] = mapped_column(
        ForeignKey("story.id", ondelete="SET NULL"), index=True
    )
    join_reason: Mapped[str | None] = mapped_column(String(400))

    __table_args__ = (
        UniqueConstraint("feed_id", "entry_key", name="uq_article_feed_entry"),
        Index("ix_article_url", "url"),
        Index("ix_article_fetched_at", "fetched_at"),
    )


class Chat(Base):
    __tablename__ = "chat"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    type: Mapped[str] = mapped_column(String(16), default="private")
    title: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    delivery_mode: Mapped[str] = mapped_column(String(16), default="instant")  # instant|digest
    digest_time: Mapped[str] = mapped_column(String(5), default="08:00")  # HH:MM local
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    quiet_start: Mapped[str | None] = mapped_column(String(5))
    quiet_end: Mapped[str | None] = mapped_column(String(5))
    scope: Mapped[str] = mapped_column(String(16), default="cooperation")  # cooperation|all
    language: Mapped[str | None] = mapped_column(String(16))
    subscribed_at: Mapped[datetime]
    last_digest_at: Mapped[datetime | None]

    __table_args__ = (Index("ix_chat_active", "active"),)


class WatchRule(Base):
    __tablename__ = "watch_rule"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chat.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(12))  # country | keyword | exclude | list
    value: Mapped[str] = mapped_column(String(200))  # normalised: ISO code, folded phrase, name
    display: Mapped[str] = mapped_column(String(200))

    __table_args__ = (
        UniqueConstraint("chat_id", "kind", "value", name="uq_watch_rule_chat_kind_value"),
        Index("ix_watch_rule_lookup", "kind", "value"),
    )


class ChatMute(Base):
    """No alerts to this chat for stories in which both countries of ``pair`` take part."""

    __tablename__ = "chat_mute"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chat.id", ondelete="CASCADE"))
    pair: Mapped[str] = mapped_column(String(16))  # two ISO codes, sorted: "AZ-CN"
    until: Mapped[datetime]

    __table_args__ = (UniqueConstraint("chat_id", "pair", name="uq_chat_mute_chat_pair"),)


class WatchChange(Base):
    """The latest change to what a chat watches (its rules, indexed columns or mutes), kept by
    triggers (migration 0009): ``seq`` grows with every change, in commit order, so a watch
    index reloads only the chats changed after the highest ``seq`` it has read."""

    __tablename__ = "watch_change"

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, index=True)


class Alert(Base):
    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(Id, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("chat.id", ondelete="CASCADE"))
    story_id: Mapped[int] = mapped_column(ForeignKey("story.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    # pending | held (digest/quiet hours) | sending | sent | failed | dropped | skipped
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    matched: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    edited_count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (
        UniqueConstraint("chat_id", "story_id", name="uq_alert_chat_story"),
        Index("ix_alert_due", "status", "next_attempt_at"),
        Index("ix_alert_story", "story_id"),
    )
