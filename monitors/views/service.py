"""Query, count and draw one analyst view; pictures are rendered in a worker thread and cached.

Rules:
- One code path for the bot and the command line: ``ViewService`` reads the stories, computes
  the numbers with ``monitors.views.analysis`` and draws them with ``monitors.views.charts``.
- The cache key is the request, the day (UTC) and the database's ``DataVersion``: a new or
  joined story makes the next request compute afresh; an unchanged database returns the same
  picture without rendering. At most ``CACHE_SIZE`` pictures are kept (least recently used out).
- Rendering (CPU-bound matplotlib) never runs on the event loop: it runs in ``executor`` (the
  monitor's process pool in the bot, so drawing does not hold this process's GIL either), or
  in a worker thread when there is none. The renderer gets the country names it needs as a
  plain mapping and the language as a picklable ``charts.Speaker``, so it can be sent to
  another process; the language is part of the cache key.
- At most ``max_stories`` stories are read per view (the newest); ``Picture.cut``
  says when that limit was reached, and callers say so.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors.domain import StoryView
from monitors.views import analysis, charts, queries

CACHE_SIZE = 64
T = TypeVar("T")
Viewed = TypeVar("Viewed", analysis.Partners, analysis.Trend, analysis.Network)


@dataclass(frozen=True, slots=True)
class Picture(Generic[T]):
    """A rendered view: the PNG bytes and the numbers drawn in it."""

    png: bytes | None  # None when asked for numbers only
    data: T
    cut: bool = False  # more stories than queries.MAX_VIEW_STORIES: only the newest counted


class ViewService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        name: charts.Namer,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        cache_size: int = CACHE_SIZE,
        max_stories: int = queries.MAX_VIEW_STORIES,
        executor: Executor | None = None,
    ) -> None:
        self.sessions = sessions
        self.name = name
        self.clock = clock
        self.cache_size = cache_size
        self.max_stories = max_stories
        self.executor = executor
        self._cache: OrderedDict[Hashable, Picture[object]] = OrderedDict()
        self.renders = 0  # pictures drawn (not served from the cache): for tests and logs

    async def partners(
        self, country: str, days: int, *, draw: bool = True, say: charts.Speaker = charts.ENGLISH
    ) -> Picture[analysis.Partners]:
        now = self.clock()
        since = now - timedelta(days=days)

        def compute(stories: Sequence[StoryView]) -> analysis.Partners:
            return analysis.partners(stories, country, since=since, until=now)

        return await self._view(
            ("partners", country, days), [country], since, now, compute, draw,
            partial(charts.render_partners, say=say), say,
        )  # fmt: skip

    async def trend(
        self, country: str, weeks: int, *, draw: bool = True, say: charts.Speaker = charts.ENGLISH
    ) -> Picture[analysis.Trend]:
        now = self.clock()
        since, _ = analysis.trend_window(now, weeks)

        def compute(stories: Sequence[StoryView]) -> analysis.Trend:
            return analysis.trend(stories, country, weeks=weeks, now=now)

        return await self._view(
            ("trend", country, weeks), [country], since, now, compute, draw,
            partial(charts.render_trend, say=say), say,
        )  # fmt: skip

    async def network(
        self,
        codes: Sequence[str],
        days: int,
        *,
        label: str | None = None,
        draw: bool = True,
        say: charts.Speaker = charts.ENGLISH,
    ) -> Picture[analysis.Network]:
        now = self.clock()
        since = now - timedelta(days=days)

        def compute(stories: Sequence[StoryView]) -> analysis.Network:
            return analysis.network(stories, codes, since=since, until=now)

        return await self._view(
            ("network", tuple(codes), days, label), codes, since, now, compute, draw,
            partial(charts.render_network, label=label, say=say), say,
        )  # fmt: skip

    async def _view(
        self,
        request: tuple[Hashable, ...],
        codes: Sequence[str],
        since: datetime,
        until: datetime,
        compute: Callable[[Sequence[StoryView]], Viewed],
        draw: bool,
        render: Callable[[Viewed, charts.Namer], bytes],
        say: charts.Speaker = charts.ENGLISH,
    ) -> Picture[Viewed]:
        async with self.sessions() as session:
            version = await queries.data_version(session)
            key = (*request, say.language, until.date(), version)
            cached = self._cache.get(key)
            if cached is not None and (cached.png is not None or not draw):
                self._cache.move_to_end(key)
                return cached  # type: ignore[return-value]
            stories = await queries.cooperation_stories(
                session, codes, since=since, until=until, limit=self.max_stories
            )
        data = compute(stories)
        png = None
        if draw:
            country = getattr(say, "country", self.name)  # bot.i18n.Tr names them in its language
            names = partial(charts.lookup, {code: country(code) for code in data.codes})
            png = await asyncio.get_running_loop().run_in_executor(
                self.executor, partial(render, data, names)
            )
        picture: Picture[Viewed] = Picture(png, data, len(stories) >= self.max_stories)
        if draw:
            self.renders += 1
            self._cache[key] = picture  # type: ignore[assignment]
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return picture
