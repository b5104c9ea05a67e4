"""The reads behind the analyst views, export and Atom feeds (take a session, never commit)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from monitors import store
from monitors.domain import StoryView
from monitors.models import Story, StoryCountry

MAX_VIEW_STORIES = 5000
EXPORT_BATCH = 500
_CHUNK = 1000  # ids per IN list; the event loop gets a turn between chunks


@dataclass(frozen=True, slots=True)
class DataVersion:
    """Changes whenever a story is added, joined by an article or removed: the cache key."""

    stories: int
    last_id: int
    last_seen: datetime | None


async def data_version(session: AsyncSession) -> DataVersion:
    count, last_id, last_seen = (
        await session.execute(
            select(func.count(), func.max(Story.id), func.max(Story.last_seen_at))
        )
    ).one()
    return DataVersion(int(count or 0), int(last_id or 0), last_seen)


async def cooperation_stories(
    session: AsyncSession,
    codes: Sequence[str],
    *,
    since: datetime,
    until: datetime,
    limit: int = MAX_VIEW_STORIES,
) -> list[StoryView]:
    """Cooperation stories in which any of ``codes`` takes part, newest first, at most ``limit``.

    Only what the views count and link (title, link, date, type, participants): no summary,
    evidence, mentioned states or outlets. Plain column reads, in chunks, so thousands of
    stories cost little time on the event loop. One range scan of ``ix_story_country_latest``
    per code.
    """
    rows = await session.execute(
        select(StoryCountry.story_id)
        .where(
            StoryCountry.code.in_(codes),
            StoryCountry.role == "participant",
            StoryCountry.is_defence_cooperation.is_(True),
            StoryCountry.published_at >= since,
            StoryCountry.published_at <= until,
        )
        .group_by(StoryCountry.story_id)
        .order_by(func.max(StoryCountry.published_at).desc(), StoryCountry.story_id.desc())
        .limit(limit)
    )
    ids = [story_id for (story_id,) in rows]
    views: list[StoryView] = []
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        members: dict[int, list[str]] = {}
        for story_id, code in await session.execute(
            select(StoryCountry.story_id, StoryCountry.code)
            .where(StoryCountry.story_id.in_(chunk), StoryCountry.role == "participant")
            .order_by(StoryCountry.code)
        ):
            members.setdefault(story_id, []).append(code)
        found = {
            row[0]: row
            for row in await session.execute(
                select(
                    Story.id, Story.title, Story.url, Story.published_at, Story.cooperation_type
                ).where(Story.id.in_(chunk))
            )
        }
        views.extend(
            StoryView(
                id=story_id,
                title=title,
                url=url,
                summary="",
                published_at=published,
                participants=tuple(members.get(story_id, ())),
                mentioned=(),
                is_defence_cooperation=True,
                cooperation_type=kind,
                score=0.0,
                evidence=(),
                outlets=(),
            )
            for story_id, title, url, published, kind in (found[i] for i in chunk if i in found)
        )
        await asyncio.sleep(0)
    return views


@dataclass(frozen=True, slots=True)
class ExportedStory:
    """A story as ``defwatch export`` writes it: the view plus when defwatch saw it."""

    view: StoryView
    first_seen_at: datetime
    last_seen_at: datetime


async def export_stories(
    session: AsyncSession,
    *,
    country: str | None = None,
    since: datetime | None = None,
    cooperation_type: str | None = None,
    cooperation_only: bool = True,
    batch: int = EXPORT_BATCH,
) -> AsyncIterator[list[ExportedStory]]:
    """Matching stories newest first, in batches (a big database is never loaded at once)."""
    query = select(Story.id, Story.published_at, Story.first_seen_at, Story.last_seen_at)
    if country is not None:
        query = query.where(
            Story.id.in_(
                select(StoryCountry.story_id).where(
                    StoryCountry.code == country, StoryCountry.role == "participant"
                )
            )
        )
    if since is not None:
        query = query.where(Story.published_at >= since)
    if cooperation_type is not None:
        query = query.where(Story.cooperation_type == cooperation_type)
    if cooperation_only:
        query = query.where(Story.is_defence_cooperation.is_(True))
    query = query.order_by(Story.published_at.desc(), Story.id.desc())
    after: tuple[datetime, int] | None = None
    while True:
        page = query
        if after is not None:
            published, story_id = after
            page = page.where(
                or_(
                    Story.published_at < published,
                    (Story.published_at == published) & (Story.id < story_id),
                )
            )
        rows = (await session.execute(page.limit(batch))).all()
        if not rows:
            return
        seen = {story_id: (first, last) for story_id, _, first, last in rows}
        views = await store.story_views(session, [row[0] for row in rows])
        yield [ExportedStory(v, *seen[v.id]) for v in views]
        after = (rows[-1][1], rows[-1][0])
        if len(rows) < batch:
            return
