"""Three outlets, three languages, one event: one story and exactly one alert per watching chat."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select

from monitors import subscriptions
from monitors.models import Alert, Article, Story
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
