"""Known stories for the analyst-view tests, dated relative to the moment they are seeded.

``SEEDED`` lists (days ago, participants, type, cooperative?, mentioned); every story gets a
feed article (so it has an outlet and a link) the way the pipeline stores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors.models import Article, Feed, Story, StoryCountry


@dataclass(frozen=True)
class Seed:
    days_ago: float
    participants: tuple[str, ...]
    kind: str | None
    cooperation: bool = True
    mentioned: tuple[str, ...] = ()


SEEDED: tuple[Seed, ...] = (
    Seed(2, ("AZ", "TR"), "exercise"),
    Seed(10, ("AZ", "TR"), "exercise"),
    Seed(40, ("AZ", "TR"), "exercise"),
    Seed(5, ("AZ", "TR"), "agreement"),
    Seed(1, ("AZ", "CN"), "arms_transfer"),
    Seed(20, ("AZ", "CN"), "arms_transfer"),
    Seed(15, ("AZ", "CN"), "meeting_visit"),
    Seed(8, ("AZ", "GE", "TR"), "meeting_visit"),
    Seed(30, ("AZ", "IL"), "arms_transfer"),
    Seed(60, ("AZ", "PK"), "training"),
    Seed(120, ("AZ", "RU"), "meeting_visit"),  # outside 90 days
    Seed(3, ("AZ",), "aid"),  # no partner
    Seed(6, ("AZ", "IR"), None, cooperation=False),  # not cooperation
    Seed(4, ("PK", "TR"), "exercise", mentioned=("AZ",)),  # AZ only mentioned
    Seed(12, ("AM", "GE"), "exercise"),
    Seed(25, ("AM", "FR"), "arms_transfer"),
    Seed(35, ("AM", "IN"), "arms_transfer"),
)


def story_title(index: int, seed: Seed) -> str:
    return f"Story {index}: {'-'.join(seed.participants)} {seed.kind or 'news'}"


async def seed_stories(
    sessions: async_sessionmaker[AsyncSession], now: datetime, seeds: tuple[Seed, ...] = SEEDED
) -> list[int]:
    """Store ``seeds`` (published ``days_ago`` before ``now``); their story ids, in order."""
    ids = []
    async with sessions.begin() as session:
        # disabled: the bot under test must not poll it
        feed = Feed(
            url="https://wire.example/rss", title="Caucasus Wire", enabled=False, created_at=now
        )
        session.add(feed)
        await session.flush()
        for index, seed in enumerate(seeds):
            when = now - timedelta(days=seed.days_ago)
            url = f"https://wire.example/news/{index}"
            story = Story(
                title=story_title(index, seed),
                url=url,
                summary=f"Summary of story {index} & more <text>.",
                published_at=when,
                first_seen_at=when,
                last_seen_at=when,
                score=0.9 if seed.cooperation else 0.1,
                is_defence_cooperation=seed.cooperation,
                cooperation_type=seed.kind,
                evidence=[f"evidence {index}"],
            )
            session.add(story)
            await session.flush()
            roles = [(c, "participant") for c in seed.participants]
            roles += [(c, "mentioned") for c in seed.mentioned]
            for code, role in roles:
                session.add(
                    StoryCountry(
                        story_id=story.id,
                        code=code,
                        role=role,
                        published_at=when,
                        is_defence_cooperation=seed.cooperation,
                    )
                )
            session.add(
                Article(
                    feed_id=feed.id,
                    entry_key=f"k{index}",
                    url=url,
                    title=story.title,
                    summary=story.summary,
                    published_at=when,
                    fetched_at=when,
                    is_defence_cooperation=seed.cooperation,
                    cooperation_type=seed.kind,
                    participants=",".join(seed.participants),
                    story_id=story.id,
                )
            )
            ids.append(story.id)
    return ids
