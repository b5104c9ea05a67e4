"""Three outlets, three languages, one event: one story and exactly one alert per watching chat."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from monitors import subscriptions
from monitors.db import open_database
from monitors.models import Alert, Article, Feed, Meta, Story
from monitors.regroup import REBUILD_FLAG, rebuild
from monitors.runner import Monitor
from monitors.settings import load_settings
from tests.feedserver import FeedServer

RSS = """<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>{outlet}</title><link>https://{host}/</link><language>{lang}</language>
<item><title>{title}</title><link>https://{host}/news/{slug}</link><guid>{host}-{slug}</guid>
<pubDate>{date}</pubDate><description>{summary}</description></item>
</channel></rss>"""

REPORTS = [
    dict(
        outlet="Trend",
        host="trend.example",
        lang="en",
        slug="az-cn",
        date="Tue, 24 Nov 2026 09:30:00 +0400",
        title="Azerbaijani Defense Minister meets Chinese military delegation",
        summary="On 24 November Azerbaijan's Defense Minister Colonel General Zakir Hasanov met with a delegation "
        "of the People's Liberation Army of China to discuss military cooperation.",
    ),
    dict(
        outlet="Report.az",
        host="report.example",
        lang="ru",
        slug="az-kitay",
        date="Tue, 24 Nov 2026 10:05:00 +0400",
        title="Закир Гасанов встретился с военной делегацией Китая",
        summary="24 ноября министр обороны Азербайджана генерал-полковник Закир Гасанов встретился с делегацией "
        "Народно-освободительной армии Китая. Обсуждены вопросы военного сотрудничества.",
    ),
    dict(
        outlet="APA",
        host="apa.example",
        lang="az",
        slug="hesenov-cin",
        date="Tue, 24 Nov 2026 11:10:00 +0400",
        title="Zakir Həsənov Çin hərbi nümayəndə heyətini qəbul edib",
        summary="Noyabrın 24-də Azərbaycanın müdafiə naziri general-polkovnik Zakir Həsənov Çin Xalq Azadlıq "
        "Ordusunun nümayəndə heyəti ilə görüşüb, hərbi əməkdaşlıq məsələləri müzakirə olunub.",
    ),
]


async def test_three_outlets_one_story_one_alert(tmp_path, feed_server: FeedServer) -> None:
    urls = [feed_server.add(f"/{r['host']}.xml", RSS.format(**r)) for r in REPORTS]
    feeds = tmp_path / "feeds.toml"
    feeds.write_text("".join(f'[[feed]]\nurl = "{u}"\n' for u in urls), encoding="utf-8")
    config = tmp_path / "defwatch.toml"
    config.write_text(
        f'[poll]\nfeeds_file = "{feeds}"\nmax_per_host = 1\nmax_connections = 1\n', encoding="utf-8"
    )
    settings = load_settings(
        {"DEFWATCH_CONFIG": str(config), "DEFWATCH_DATABASE_URL": f"sqlite:///{tmp_path / 'd.db'}"}
    )
    now = datetime.now(UTC)
    async with Monitor.open(settings) as monitor:
        async with monitor.sessions.begin() as session:
            for chat_id in (101, 102):
                await subscriptions.subscribe(session, chat_id, type="private", title=None, now=now)
                await subscriptions.add_rules(
                    session, chat_id, "country", [("AZ", "Azerbaijan")], limit=50
                )
        report = await monitor.poll_cycle(every_feed=True)
        again = await monitor.poll_cycle(every_feed=True)
        async with monitor.sessions() as session:
            articles = await session.scalar(select(func.count()).select_from(Article))
            stories = await session.scalar(select(func.count()).select_from(Story))
            alerts = (await session.execute(select(Alert.chat_id, Alert.story_id))).all()
            reasons = list(
                await session.scalars(
                    select(Article.join_reason).where(Article.join_reason.is_not(None))
                )
            )

    assert report.new_articles == 3 and again.new_articles == 0
    assert (articles, stories) == (3, 1)
    assert sorted(chat for chat, _ in alerts) == [101, 102]  # one alert per chat, not per outlet
    assert len(reasons) == 2 and all(reasons)  # every later report says why it joined


# ---------------------------------------------------------------------------------------------
# Repairing what an older release stored: `defwatch stories rebuild`

CHAINED = [
    ("coop", "Azerbaijan and China hold defence talks in Baku",
     "Azerbaijan's Defense Minister Zakir Hasanov met a Chinese military delegation in Baku on "
     "Tuesday to discuss military cooperation and joint exercises.", True),
    ("ski", "Now the Olympic pressure is on Mikaela Shiffrin",
     "The American skier returns to the slopes at the Winter Olympics in Cortina.", False),
    ("bunny", "More Americans believe Bad Bunny embodies the country's values",
     "A poll of American adults found the singer more popular than expected.", False),
]  # fmt: skip


async def _stored_chain(sessions, now: datetime) -> tuple[int, int]:
    """What the old poll stored: three unrelated articles chained into one cooperation story,
    whose alert was delivered to chat 101 (returns the story id and the alert id)."""
    async with sessions.begin() as session:
        feed = Feed(url="https://old.example/rss", title="Old", created_at=now)
        session.add(feed)
        await session.flush()
        story = Story(title="Azerbaijan and China hold defence talks in Baku", published_at=now,
                      first_seen_at=now, last_seen_at=now, is_defence_cooperation=True,
                      article_count=3)  # fmt: skip
        session.add(story)
        await session.flush()
        for n, (key, title, summary, coop) in enumerate(CHAINED):
            session.add(
                Article(
                    feed_id=feed.id,
                    entry_key=key,
                    url=f"https://old.example/{key}",
                    title=title,
                    summary=summary,
                    published_at=now + timedelta(minutes=n),
                    fetched_at=now,
                    language="en",
                    is_defence_cooperation=coop,
                    story_id=story.id,
                )
            )
        await subscriptions.subscribe(session, 101, type="private", title=None, now=now)
        alert = Alert(chat_id=101, story_id=story.id, status="sent", next_attempt_at=now,
                      created_at=now, sent_at=now, message_id=7)  # fmt: skip
        session.add(alert)
        await session.flush()
        return story.id, alert.id


async def test_rebuild_splits_a_chained_story_and_sends_nothing_again(tmp_path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    engine, sessions = await open_database(f"sqlite:///{tmp_path / 'old.db'}")
    _, alert_id = await _stored_chain(sessions, now)
    async with sessions.begin() as session:
        report = await rebuild(session)
    async with sessions() as session:
        story_of = dict(
            (key, story) for key, story in await session.execute(
                select(Article.entry_key, Article.story_id))
        )  # fmt: skip
        alerts = (await session.execute(select(Alert.id, Alert.story_id, Alert.status))).all()
        coop_story = await session.get_one(Story, story_of["coop"])
    await engine.dispose()
    assert len(set(story_of.values())) == 3  # one story per event
    assert report.articles == 3 and report.stories_after == 3
    # the delivered alert follows the story's defining report; nothing new is queued
    assert alerts == [(alert_id, story_of["coop"], "sent")]
    assert coop_story.is_defence_cooperation and coop_story.title.startswith("Azerbaijan")


async def test_the_migration_asks_for_one_rebuild_at_start(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'flag.db'}"
    engine, sessions = await open_database(url)
    async with sessions() as session:
        assert await session.get(Meta, REBUILD_FLAG) is None  # taken at the first start
    async with sessions.begin() as session:
        session.add(Meta(key=REBUILD_FLAG, value="pending"))  # as migration 0005 leaves it
    await engine.dispose()
    engine, sessions = await open_database(url)
    async with sessions() as session:
        assert await session.get(Meta, REBUILD_FLAG) is None
    await engine.dispose()
