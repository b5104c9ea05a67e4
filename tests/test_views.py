"""Analyst views (issue 16): the numbers, the pictures, the text tables, export and Atom.

Pure counting is checked on hand-built stories; the pictures and numbers on a database seeded
with known stories (``tests/viewdata.py``) whose dates are relative to an injected clock.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import struct
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import httpx
import pytest
from matplotlib.image import imread
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors import cli, store
from monitors.db import open_database
from monitors.detect.countries import default_gazetteer
from monitors.domain import Outlet, StoryView
from monitors.errors import PeriodError, UnknownCountry
from monitors.models import Story, StoryCountry
from monitors.views import analysis, atom, charts, tables
from monitors.views.analysis import parse_period
from monitors.views.atom_server import AtomServer
from monitors.views.commands import resolver
from monitors.views.service import ViewService
from monitors.watchlists import parse_watchlists
from tests.viewdata import SEEDED, Seed, seed_stories

NAME = default_gazetteer().name


def anchor() -> datetime:
    """Wednesday 12:00 UTC of the current week: a clock whose weekday the tests know."""
    now = datetime.now(UTC)
    monday = (now - timedelta(days=now.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return monday + timedelta(days=2, hours=12)


def story(
    story_id: int, days_ago: float, codes: tuple[str, ...], kind: str | None, now: datetime
) -> StoryView:
    return StoryView(
        id=story_id,
        title=f"story {story_id}",
        url=f"https://news.example/{story_id}",
        summary="",
        published_at=now - timedelta(days=days_ago),
        participants=codes,
        mentioned=(),
        is_defence_cooperation=True,
        cooperation_type=kind,
        score=0.9,
        evidence=(),
        outlets=(),
    )


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a PNG, after checking it decodes as one."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    pixels = imread(io.BytesIO(data), format="png")
    assert pixels.shape[:2] == (height, width)
    return width, height


# --- pure numbers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "unit", "expected"),
    [
        pytest.param("90d", "d", 90, id="days"),
        pytest.param("12w", "d", 84, id="weeks as days"),
        pytest.param("12w", "w", 12, id="weeks"),
        pytest.param("30", "d", 30, id="bare number: the unit"),
        pytest.param("14d", "w", 2, id="days as weeks"),
    ],
)
def test_parse_period(text: str, unit: str, expected: int) -> None:
    assert parse_period(text, unit=unit, maximum_days=730) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("0d", id="zero"),
        pytest.param("800d", id="beyond the maximum"),
        pytest.param("9x", id="unknown unit"),
        pytest.param("-5d", id="negative"),
        pytest.param("", id="empty"),
    ],
)
def test_parse_period_refuses(text: str) -> None:
    with pytest.raises(PeriodError):
        parse_period(text, unit="d", maximum_days=730)


def test_partners_counts_each_partner_and_orders_by_activity() -> None:
    now = anchor()
    stories = [
        story(1, 1, ("AZ", "TR"), "exercise", now),
        story(2, 2, ("AZ", "TR", "GE"), "meeting_visit", now),
        story(3, 3, ("AZ", "CN"), None, now),
        story(4, 4, ("AZ",), "aid", now),  # no partner
        story(5, 40, ("AZ", "RU"), "exercise", now),  # outside 30 days
        story(6, 5, ("TR", "GE"), "exercise", now),  # without AZ
        story(7, 6, ("AZ", "TR"), "exercise", now),
        story(8, 7, ("AZ", "TR"), "exercise", now),
    ]
    data = analysis.partners(stories, "AZ", since=now - timedelta(days=30), until=now)
    assert (data.stories, data.unpaired) == (5, 1)
    assert [(r.code, r.stories, r.by_type) for r in data.rows] == [
        ("TR", 4, (("meeting_visit", 1), ("exercise", 3))),
        ("CN", 1, (("other", 1),)),
        ("GE", 1, (("meeting_visit", 1),)),
    ]
    assert [ref.id for ref in data.rows[0].latest] == [1, 2, 7]  # newest three


def test_trend_keeps_five_partners_and_sums_the_rest() -> None:
    now = anchor()
    codes = ["TR", "CN", "GE", "IL", "PK", "RU", "IR"]
    stories = [
        story(i * 10 + n, 1 + n, ("AZ", code), "exercise", now)
        for i, code in enumerate(codes)
        for n in range(len(codes) - i)  # TR 7 stories, CN 6, ... IR 1
    ]
    stories.append(story(999, 1, ("AZ", "TR", "CN"), "exercise", now))
    data = analysis.trend(stories, "AZ", weeks=4, now=now)
    assert [code for code, _ in data.series] == ["TR", "CN", "GE", "IL", "PK", "others"]
    assert sum(dict(data.series)["others"]) == 2 + 1  # RU 2, IR 1
    assert sum(data.totals) == data.stories == len(stories)
    # the story with two partners counts for each, but once in the weekly total
    contacts = sum(sum(counts) for _, counts in data.series)
    assert contacts == sum(data.totals) + 1


@pytest.mark.parametrize(
    ("kinds", "dominant"),
    [
        pytest.param(["exercise", "exercise", "aid"], "exercise", id="most frequent"),
        pytest.param(["aid", "meeting_visit"], "meeting_visit", id="tie: the type order"),
        pytest.param([None], "other", id="no type"),
    ],
)
def test_network_dominant_type(kinds: list[str | None], dominant: str) -> None:
    now = anchor()
    stories = [story(i, 1, ("AZ", "TR"), kind, now) for i, kind in enumerate(kinds)]
    data = analysis.network(stories, ["AZ"], since=now - timedelta(days=9), until=now)
    assert [(e.a, e.b, e.stories, e.dominant_type) for e in data.edges] == [
        ("AZ", "TR", len(kinds), dominant)
    ]


def test_network_cuts_the_weakest_neighbours() -> None:
    now = anchor()
    stories = [
        story(i, 1, ("AZ", code), "exercise", now)
        for i, code in enumerate(["TR", "TR", "CN", "GE", "IL"])
    ]
    stories.append(story(50, 1, ("TR", "CN"), "exercise", now))  # no focus state: not drawn
    data = analysis.network(
        stories, ["AZ"], since=now - timedelta(days=9), until=now, max_neighbours=2
    )
    assert data.nodes == ("AZ", "TR", "CN")
    assert data.cut == 2
    assert [(e.a, e.b, e.stories) for e in data.edges] == [("AZ", "TR", 2), ("AZ", "CN", 1)]
    assert data.stories == 5


# --- seeded database: numbers and pictures -------------------------------------------------------


@pytest.fixture
async def seeded(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[async_sessionmaker[AsyncSession], datetime]:
    now = anchor()
    await seed_stories(sessions, now)
    return sessions, now


@dataclasses.dataclass
class Recorder:
    """A Speaker that says English and keeps every text a picture asked for."""

    language: str = "en"
    asked: list[str] = dataclasses.field(default_factory=list)

    def _(self, text: str, **values: object) -> str:
        self.asked.append(text)
        return text.format(**values)

    def _n(self, singular: str, plural: str, count: int, **values: object) -> str:
        self.asked.append(singular)
        return (singular if count == 1 else plural).format(count=count, **values)


async def test_pictures_speak_the_chats_language(seeded: tuple) -> None:
    """Every word on a picture goes through its speaker; each language is drawn (with no
    missing glyph: warnings are errors) and cached apart."""
    from bot.i18n import tr

    sessions, now = seeded
    views = ViewService(sessions, NAME, clock=lambda: now)
    recorder = Recorder()
    await views.partners("AZ", 90, say=recorder)
    await views.trend("AZ", 12, say=recorder)
    await views.network(("AZ", "GE"), 90, say=recorder)
    assert {"{country} ({code}): partners", "stories", "{country} ({code}): per week"} <= set(
        recorder.asked
    )
    assert "week starting (Monday, UTC)" in recorder.asked
    for language in ("ru", "az", "tr"):
        picture = await views.partners("AZ", 90, say=tr(language))
        assert picture.png is not None and png_size(picture.png) == charts.SIZES["partners"]
    assert views.renders == 6  # three views for the recorder, then one picture per language
    await views.partners("AZ", 90, say=tr("ru"))
    assert views.renders == 6  # the Russian picture is cached


async def test_partners_picture_from_the_database(seeded: tuple) -> None:
    sessions, now = seeded
    views = ViewService(sessions, NAME, clock=lambda: now)
    picture = await views.partners("AZ", 90)
    assert picture.png is not None and png_size(picture.png) == charts.SIZES["partners"]
    data = picture.data
    assert (data.stories, data.unpaired) == (10, 1)
    assert [(r.code, r.stories, dict(r.by_type)) for r in data.rows] == [
        ("TR", 5, {"exercise": 3, "agreement": 1, "meeting_visit": 1}),
        ("CN", 3, {"arms_transfer": 2, "meeting_visit": 1}),
        ("GE", 1, {"meeting_visit": 1}),
        ("IL", 1, {"arms_transfer": 1}),
        ("PK", 1, {"training": 1}),
    ]
    titles = [ref.title for ref in data.rows[0].latest]
    assert titles == [
        "Story 0: AZ-TR exercise",
        "Story 3: AZ-TR agreement",
        "Story 7: AZ-GE-TR meeting_visit",
    ]


async def test_trend_picture_from_the_database(seeded: tuple) -> None:
    sessions, now = seeded
    picture = await ViewService(sessions, NAME, clock=lambda: now).trend("AZ", 12)
    assert picture.png is not None and png_size(picture.png) == charts.SIZES["trend"]
    data = picture.data
    assert data.weeks[-1] == now.date() - timedelta(days=2) and len(data.weeks) == 12
    assert dict(data.series) == {
        "TR": (0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 2, 1),
        "CN": (0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 1),
        "GE": (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0),
        "IL": (0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0),
        "PK": (0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0),
    }
    assert data.totals == (0, 0, 1, 0, 0, 1, 0, 1, 1, 2, 2, 2)


async def test_network_picture_from_the_database(seeded: tuple) -> None:
    sessions, now = seeded
    views = ViewService(sessions, NAME, clock=lambda: now)
    picture = await views.network(("AZ", "GE", "AM"), 90, label="caucasus")
    assert picture.png is not None and png_size(picture.png) == charts.SIZES["network"]
    data = picture.data
    assert data.stories == 13
    assert {(e.a, e.b): (e.stories, e.dominant_type) for e in data.edges} == {
        ("AZ", "TR"): (5, "exercise"),
        ("AZ", "CN"): (3, "arms_transfer"),
        ("AM", "FR"): (1, "arms_transfer"),
        ("AM", "GE"): (1, "exercise"),
        ("AM", "IN"): (1, "arms_transfer"),
        ("AZ", "GE"): (1, "meeting_visit"),
        ("AZ", "IL"): (1, "arms_transfer"),
        ("AZ", "PK"): (1, "training"),
        ("GE", "TR"): (1, "meeting_visit"),
    }


@pytest.mark.parametrize(
    ("seeds", "stories"),
    [
        pytest.param((), 0, id="nothing stored"),
        pytest.param((Seed(3, ("AZ", "TR"), "exercise"),), 1, id="one story"),
    ],
)
async def test_too_little_data_still_draws_a_picture(
    sessions: async_sessionmaker[AsyncSession], seeds: tuple[Seed, ...], stories: int
) -> None:
    now = anchor()
    await seed_stories(sessions, now, seeds)
    views = ViewService(sessions, NAME, clock=lambda: now)
    for picture, kind in (
        (await views.partners("AZ", 90), "partners"),
        (await views.trend("AZ", 12), "trend"),
        (await views.network(("AZ",), 90), "network"),
    ):
        assert picture.png is not None and png_size(picture.png) == charts.SIZES[kind]
        assert picture.data.too_few and picture.data.stories == stories


async def test_pictures_are_cached_until_a_story_arrives(seeded: tuple) -> None:
    sessions, now = seeded
    views = ViewService(sessions, NAME, clock=lambda: now)
    first = await views.partners("AZ", 90)
    again = await views.partners("AZ", 90)
    assert again is first and views.renders == 1
    await seed_stories_more(sessions, now)
    fresh = await views.partners("AZ", 90)
    assert views.renders == 2
    assert dict((r.code, r.stories) for r in fresh.data.rows)["CN"] == 4


async def test_pictures_are_drawn_off_the_event_loop(
    seeded: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions, now = seeded
    threads: list[int] = []
    real = charts.render_partners

    def recording(*args: object, **kwargs: object) -> bytes:
        threads.append(threading.get_ident())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(charts, "render_partners", recording)
    await ViewService(sessions, NAME, clock=lambda: now).partners("AZ", 90)
    assert threads and threads[0] != threading.get_ident()


async def test_a_view_over_the_story_limit_says_it_was_cut(seeded: tuple) -> None:
    sessions, now = seeded
    views = ViewService(sessions, NAME, clock=lambda: now, max_stories=4)
    picture = await views.partners("AZ", 90, draw=False)
    assert picture.cut and picture.data.stories + picture.data.unpaired == 4  # the newest 4
    whole = await ViewService(sessions, NAME, clock=lambda: now).partners("AZ", 90, draw=False)
    assert not whole.cut and whole.png is None


async def seed_stories_more(sessions: async_sessionmaker[AsyncSession], now: datetime) -> None:
    async with sessions.begin() as session:
        added = Story(
            title="late story",
            url="https://wire.example/late",
            published_at=now - timedelta(hours=1),
            first_seen_at=now,
            last_seen_at=now,
            is_defence_cooperation=True,
            cooperation_type="exercise",
        )
        session.add(added)
        await session.flush()
        for code in ("AZ", "CN"):
            session.add(
                StoryCountry(
                    story_id=added.id,
                    code=code,
                    role="participant",
                    published_at=added.published_at,
                    is_defence_cooperation=True,
                )
            )


# --- command line ----------------------------------------------------------------------------


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A seeded SQLite file the ``defwatch`` command reads (stories relative to now)."""
    import asyncio

    db = tmp_path / "defwatch.db"

    async def seed() -> None:
        engine, sessions = await open_database(f"sqlite:///{db}")
        try:
            await seed_stories(sessions, datetime.now(UTC))
        finally:
            await engine.dispose()

    asyncio.run(seed())
    lists = tmp_path / "watchlists.toml"
    lists.write_text(
        '[watchlist.caucasus]\ndescription = "South Caucasus"\ncountries = ["Georgia", "Armenia"]\n'
    )
    config = tmp_path / "defwatch.toml"
    config.write_text(f'[watchlists]\nfile = "{lists}"\n')
    monkeypatch.setenv("DEFWATCH_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("DEFWATCH_CONFIG", str(config))
    monkeypatch.delenv("DEFWATCH_WATCHLISTS", raising=False)
    yield db


def stored(db: Path) -> dict[int, StoryView]:
    import asyncio

    async def read() -> dict[int, StoryView]:
        engine, sessions = await open_database(f"sqlite:///{db}")
        try:
            async with sessions() as session:
                ids = list(await session.scalars(select(Story.id)))
                return {v.id: v for v in await store.story_views(session, ids)}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def test_cli_partners_table_and_picture(
    cli_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "az.png"
    status, out, _ = run_cli(capsys, "partners", "azerbaijan", "--png", str(png))
    assert status == 0
    lines = out.splitlines()
    assert "10 stories with a partner, 1 without" in lines[0]
    assert lines[2].split()[:3] == ["TR", "Türkiye", "5"]
    assert png_size(png.read_bytes()) == charts.SIZES["partners"]


def test_cli_trend_and_network_tables(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "trend", "AZ", "--period", "12w")
    assert status == 0
    rows = [line.split() for line in out.splitlines()[2:]]
    assert len(rows) == 12 and sum(int(r[1]) for r in rows) == 10
    status, out, _ = run_cli(capsys, "network", "caucasus")
    assert status == 0
    assert "among and around caucasus" in out and "AM-GE" in out and "AZ-TR" not in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        pytest.param(["partners", "narnia"], "Unknown country 'narnia'", id="unknown country"),
        pytest.param(["trend", "az", "--period", "9x"], "not a period", id="bad period"),
        pytest.param(["feed-out", "nowhere"], "nor a named watchlist", id="unknown feed"),
    ],
)
def test_cli_refuses_bad_input(
    cli_db: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = run_cli(capsys, *argv)
    assert status == 2 and out == "" and message in err


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_export_round_trips(cli_db: Path, capsys: pytest.CaptureFixture[str], fmt: str) -> None:
    status, out, err = run_cli(capsys, "export", "--format", fmt)
    assert status == 0
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        exported = {
            int(r["id"]): (r["participants"].split(";"), r["url"], r["outlet_urls"].split(" | "))
            for r in rows
        }
    else:
        records = [json.loads(line) for line in out.splitlines()]
        exported = {
            r["id"]: (r["participants"], r["url"], [o["url"] for o in r["outlets"]])
            for r in records
        }
    database = {
        v.id: (list(v.participants), v.url, [o.url for o in v.outlets])
        for v in stored(cli_db).values()
        if v.is_defence_cooperation
    }
    assert exported == database
    assert f"exported {len(database)} stories" in err


def test_export_filters(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    since = (datetime.now(UTC) - timedelta(days=30)).date().isoformat()
    argv = ["export", "--country", "az", "--type", "exercise", "--since", since]
    status, out, _ = run_cli(capsys, *argv, "--format", "jsonl")
    assert status == 0
    records = [json.loads(line) for line in out.splitlines()]
    expected = [s for s in SEEDED if "AZ" in s.participants and s.kind == "exercise"]
    assert len(records) == len([s for s in expected if s.days_ago < 29])
    assert all("AZ" in r["participants"] and r["cooperation_type"] == "exercise" for r in records)
    assert [r["published"] for r in records] == sorted(
        (r["published"] for r in records), reverse=True
    )


def test_export_guards_spreadsheet_formulas() -> None:
    from monitors.views.export import csv_row
    from monitors.views.queries import ExportedStory

    now = anchor()
    view = StoryView(
        1, "=HYPERLINK(\"x\")", "https://a.example/-1", "@sum", now, ("AZ", "TR"), (), True,
        "exercise", 0.5, ("-evidence",), (Outlet("+Wire", "https://a.example/-1", now),),
    )  # fmt: skip
    row = csv_row(ExportedStory(view, now, now))
    assert row["title"] == '\'=HYPERLINK("x")' and row["summary"] == "'@sum"
    assert row["evidence"] == "'-evidence" and row["outlets"] == "'+Wire"
    assert row["url"] == "https://a.example/-1" and row["participants"] == "AZ;TR"


# --- Atom ------------------------------------------------------------------------------------


def newest_first(parsed: feedparser.FeedParserDict) -> bool:
    stamps = [entry.published_parsed for entry in parsed.entries]
    return stamps == sorted(stamps, reverse=True)


def test_feed_out_country_is_valid_atom_newest_first(
    cli_db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, _ = run_cli(capsys, "feed-out", "azerbaijan")
    assert status == 0
    parsed = feedparser.parse(out.encode())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == "defwatch: Azerbaijan (AZ)"
    expected = sorted(
        (s for s in SEEDED if "AZ" in s.participants and s.cooperation), key=lambda s: s.days_ago
    )
    assert [e.title.split(": ")[1] for e in parsed.entries] == [
        f"{'-'.join(s.participants)} {s.kind}" for s in expected
    ]
    assert newest_first(parsed)
    assert parsed.entries[0].link.startswith("https://wire.example/news/")
    assert {t.term for t in parsed.entries[0].tags} >= {"AZ", "CN", "arms_transfer"}


def test_feed_out_watchlist(cli_db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = run_cli(capsys, "feed-out", "caucasus", "--limit", "2")
    parsed = feedparser.parse(out.encode())
    assert status == 0 and not parsed.bozo
    assert parsed.feed.title == "defwatch: South Caucasus"
    assert [e.title for e in parsed.entries] == [
        "Story 7: AZ-GE-TR meeting_visit",
        "Story 14: AM-GE exercise",
    ]


def test_atom_strips_characters_xml_forbids() -> None:
    now = anchor()
    hostile = dataclasses.replace(
        story(1, 1, ("AZ", "TR"), "exercise", now), title="bad\x00\x0b title <b>&", summary="\x1f"
    )
    body = atom.atom_document(
        atom.Target("country", "AZ", "Azerbaijan"), [hostile], now=now, name=NAME
    )
    parsed = feedparser.parse(body)
    assert not parsed.bozo and parsed.entries[0].title == "bad title <b>&"


async def test_atom_endpoint_serves_feeds(seeded: tuple) -> None:
    sessions, now = seeded
    gazetteer = default_gazetteer()
    lists = parse_watchlists(
        '[watchlist.caucasus]\ncountries = ["Georgia"]\n', source="t", resolver=gazetteer
    )
    server = AtomServer(
        sessions, resolve=resolver(gazetteer), name=gazetteer.name, lists=lambda: lists,
        clock=lambda: now,
    )  # fmt: skip
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{server.port}") as client:
            answer = await client.get("/atom/az.xml")
            assert answer.status_code == 200
            assert answer.headers["content-type"].startswith("application/atom+xml")
            parsed = feedparser.parse(answer.content)
            assert not parsed.bozo and len(parsed.entries) == 12 and newest_first(parsed)
            listed = feedparser.parse((await client.get("/atom/caucasus.xml")).content)
            assert {e.title for e in listed.entries} == {
                "Story 7: AZ-GE-TR meeting_visit",
                "Story 14: AM-GE exercise",
            }
            missing = await client.get("/atom/narnia.xml")
            assert missing.status_code == 404 and "Unknown country" in missing.text
            assert (await client.post("/atom/az.xml")).status_code == 405
            assert (await client.get("/elsewhere")).status_code == 404
    finally:
        await server.close()
    assert server.host == "127.0.0.1"


def test_text_tables_say_when_there_is_nothing() -> None:
    now = anchor()
    empty = analysis.partners([], "AZ", since=now - timedelta(days=90), until=now)
    assert "No stories with a partner" in tables.partners_table(empty, NAME)
    assert "No stories with a partner" in tables.trend_table(
        analysis.trend([], "AZ", weeks=4, now=now), NAME
    )


def test_resolver_takes_plain_english_names() -> None:
    resolve = resolver(default_gazetteer())
    assert resolve("china") == "CN" and resolve("AZ") == "AZ"
    with pytest.raises(UnknownCountry):
        resolve("narnia")
