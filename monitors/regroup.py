"""Grouping outside a live poll, through the poll's own clustering stage.

* ``cluster_rows`` — ``defwatch cluster FILE``: JSONL rows are stored in a scratch SQLite
  database and placed in stories by ``pipeline.store_classified``, exactly as a poll stores a
  feed's new entries, so what the scorers measure is what the monitor runs.
* ``rebuild`` — ``defwatch stories rebuild`` (and once after migration 0005): every stored
  article is re-classified and placed again, oldest first, under the current rules. Alerts
  already queued or delivered move to the story that now holds their story's defining report;
  no alert is created, so nothing is sent twice.

Rows are taken as a feed would deliver them: rows dated to the day oldest first, then rows
dated only to a month or year, then undated rows, so the precisely dated stories they might
belong to exist by then.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import pipeline, store
from monitors.detect import cluster
from monitors.domain import NormalisedEntry
from monitors.models import REBUILD_FLAG, Alert, Article, Feed, Meta, Story, StoryKey

UNDATED = datetime(1970, 1, 1, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# `defwatch cluster FILE`


def cluster_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cluster a batch of rows; returns ``{"id", "story"}`` per row, in input order."""
    return asyncio.run(_cluster_rows(rows))


async def _cluster_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    from monitors.db import open_database

    with tempfile.TemporaryDirectory(prefix="defwatch-cluster-") as folder:
        engine, sessions = await open_database(f"sqlite:///{Path(folder) / 'cluster.db'}")
        try:
            story_of = await _place_rows(sessions, rows)
        finally:
            await engine.dispose()
    return [{"id": row["id"], "story": str(story_of[i])} for i, row in enumerate(rows)]


async def _place_rows(
    sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]
) -> dict[int, int]:
    items = [row_entry(i, row) for i, row in enumerate(rows)]
    classified = pipeline.classify_entries([entry for entry, _ in items])
    signed = [
        dataclasses.replace(item, signature=_row_signature(item, until))
        for item, (_, until) in zip(classified, items, strict=True)
    ]
    order = sorted(range(len(rows)), key=lambda i: _delivery_order(signed[i].signed(), i))
    now = datetime.now(UTC)
    async with sessions.begin() as session:
        feeds = {name: await _scratch_feed(session, name, now) for name in _sources(rows)}
        for i in order:
            outcome = pipeline.FeedOutcome(feed_id=0, url="", status="ok")
            feed_id = feeds[_source(rows[i])]
            await pipeline.store_classified(session, feed_id, [signed[i]], now, outcome)
        found = await session.execute(select(Article.entry_key, Article.story_id))
        by_key = {key: story_id for key, story_id in found}
    return {i: int(by_key[entry.entry_key] or 0) for i, (entry, _) in enumerate(items)}


def row_entry(index: int, row: dict[str, Any]) -> tuple[NormalisedEntry, datetime | None]:
    """A JSONL row as a feed entry, and the end of its publication span when only a month
    or a year is known; an undated row carries ``UNDATED``."""
    title, summary = row.get("title") or "", row.get("summary") or ""
    start, until = cluster.publication_span(
        row.get("published"), row.get("url"), f"{title}\n{summary}"
    )
    entry = NormalisedEntry(
        entry_key=f"{index}:{row.get('id')}",
        url=None,  # the rows are the items to group: no URL shortcut
        title=title,
        summary=summary,
        published_at=start or UNDATED,
        language=row.get("language"),
    )
    return entry, (until if start else None)


def _row_signature(
    item: pipeline.ClassifiedEntry, until: datetime | None
) -> cluster.EventSignature:
    dated = item.entry.published_at != UNDATED
    return cluster.signature(
        item.entry.title,
        item.entry.summary,
        published_at=item.entry.published_at if dated else None,
        published_until=until,
        language=item.entry.language,
        countries=item.verdict.participants,
        cooperation_type=item.verdict.cooperation_type,
    )


def _delivery_order(sig: cluster.EventSignature, index: int) -> tuple[Any, ...]:
    return (not sig.precise, not sig.dated, sig.published_at, sig.published_until, index)


def _source(row: dict[str, Any]) -> str:
    return str(row.get("feed") or row.get("source") or "rows")


def _sources(rows: Iterable[dict[str, Any]]) -> list[str]:
    return sorted({_source(row) for row in rows})


async def _scratch_feed(session: AsyncSession, name: str, now: datetime) -> int:
    feed = Feed(url=f"file:///{name}", title=name, enabled=False, created_at=now)
    session.add(feed)
    await session.flush()
    return feed.id


# ---------------------------------------------------------------------------------------------
# `defwatch stories rebuild`


@dataclasses.dataclass(frozen=True, slots=True)
class RebuildReport:
    articles: int
    stories_before: int
    stories_after: int
    alerts_moved: int
    alerts_merged: int


async def rebuild(
    session: AsyncSession, *, progress: Callable[[int], None] | None = None
) -> RebuildReport:
    """Re-group every stored article (in the caller's transaction); see the module doc."""
    await store.advisory_lock(session, "stories-rebuild")
    old_ids = list(await session.scalars(select(Story.id)))
    defining = await _old_defining_articles(session)
    articles = list(
        await session.execute(
            select(Article).order_by(Article.published_at, Article.fetched_at, Article.id)
        )
    )
    await session.execute(update(Article).values(story_id=None, join_reason=None))
    await session.execute(delete(StoryKey))
    url_story: dict[str, int] = {}
    for done, (article,) in enumerate(articles, 1):
        entry = NormalisedEntry(
            entry_key=article.entry_key,
            url=article.url,
            title=article.title,
            summary=article.summary,
            published_at=article.published_at,
            language=article.language,
        )
        (item,) = pipeline.classify_entries([entry])
        _record_verdict(article, item)
        story_id, reason, _, _ = await pipeline.place_in_story(
            session, article.id, article.feed_id, item, article.fetched_at, url_story
        )
        await store.attach_article(session, article.id, story_id, reason)
        if article.url:
            url_story.setdefault(article.url, story_id)
        if progress and done % 500 == 0:
            progress(done)
    new_story = {
        article_id: story_id
        for article_id, story_id in await session.execute(select(Article.id, Article.story_id))
    }
    moved, merged = await _move_alerts(session, defining, new_story)
    await session.execute(delete(Story).where(Story.id.in_(old_ids)))
    after = len(set(await session.scalars(select(Story.id))))
    return RebuildReport(len(articles), len(old_ids), after, moved, merged)


def _record_verdict(article: Article, item: pipeline.ClassifiedEntry) -> None:
    verdict = item.verdict
    article.score = verdict.score
    article.is_defence_cooperation = verdict.defence_cooperation
    article.cooperation_type = verdict.cooperation_type
    article.participants = ",".join(verdict.participants)
    article.evidence = list(verdict.evidence)


async def _old_defining_articles(session: AsyncSession) -> dict[int, int]:
    """Each stored story's defining report: as recorded, else its first cooperation
    report, else its first report."""
    found: dict[int, int] = {}
    recorded = await session.execute(
        select(Story.id, Story.defining_article_id).where(Story.defining_article_id.is_not(None))
    )
    for story_id, article_id in recorded:
        if article_id is not None:
            found[story_id] = article_id
    members = await session.execute(
        select(Article.story_id, Article.id)
        .where(Article.story_id.is_not(None))
        .order_by(Article.is_defence_cooperation.desc(), Article.published_at, Article.id)
    )
    for member_story_id, article_id in members:
        if member_story_id is not None:
            found.setdefault(member_story_id, article_id)
    return found


async def _move_alerts(
    session: AsyncSession, defining: dict[int, int], new_story: dict[int, int | None]
) -> tuple[int, int]:
    """Point every alert at the new story of its old story's defining report. Two alerts of
    one chat that now share a story become one (a delivered one is the one kept)."""
    alerts = list(
        await session.scalars(
            select(Alert).order_by((Alert.status == "sent").desc(), Alert.created_at, Alert.id)
        )
    )
    kept: set[tuple[int, int]] = set()
    moves: list[tuple[Alert, int]] = []
    merged = 0
    for alert in alerts:
        target = new_story.get(defining.get(alert.story_id, -1))
        if target is None or (alert.chat_id, target) in kept:
            # a story without articles, or a second alert of one chat about one story
            await session.delete(alert)
            merged += 1
            continue
        kept.add((alert.chat_id, target))
        moves.append((alert, target))
    # delete first, then move: the (chat, story) uniqueness must hold at every statement
    await session.flush()
    moved = 0
    for alert, target in moves:
        moved += alert.story_id != target
        alert.story_id = target
    await session.flush()
    return moved, merged


async def rebuild_if_flagged(sessions: async_sessionmaker[AsyncSession]) -> RebuildReport | None:
    """Run ``rebuild`` once when a migration asked for it (the flag is taken in the same
    transaction, so of several workers starting at once only one rebuilds)."""
    async with sessions() as session:  # a read first: a normal start writes nothing
        if await session.get(Meta, REBUILD_FLAG) is None:
            return None
    async with sessions.begin() as session:
        flagged = await session.execute(delete(Meta).where(Meta.key == REBUILD_FLAG))
        if not flagged.rowcount:  # type: ignore[attr-defined]
            return None
        return await rebuild(session)


__all__ = ["REBUILD_FLAG", "RebuildReport", "cluster_rows", "rebuild", "rebuild_if_flagged"]
