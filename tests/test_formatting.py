"""Alert and digest HTML: escaping, links, length limits, callback data."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

from bot import formatting
from bot.formatting import MAX_MESSAGE, callback, format_alert, format_digest, story_list, tg_len
from monitors.domain import Outlet, StoryView

WHEN = datetime(2026, 11, 26, 14, 5, tzinfo=UTC)
ALLOWED_TAGS = {"b", "i", "a", "code", "pre", "u", "s"}


def story(
    title: str = "Azerbaijan and China discuss military collaboration",
    *,
    summary: str = (
        "Azerbaijan's defence minister Zakir Hasanov received a delegation of the Chinese "
        "People's Liberation Army."
    ),
    url: str | None = "https://news.example/az-cn?a=1&b=2",
    outlets: tuple[str, ...] = ("Trend News",),
    evidence: tuple[str, ...] = ("defence minister received delegation",),
    participants: tuple[str, ...] = ("AZ", "CN"),
    story_id: int = 1,
) -> StoryView:
    return StoryView(
        id=story_id,
        title=title,
        url=url,
        summary=summary,
        published_at=WHEN,
        participants=participants,
        mentioned=(),
        is_defence_cooperation=True,
        cooperation_type="meeting_visit",
        score=0.9,
        evidence=evidence,
        outlets=tuple(Outlet(o, url, WHEN) for o in outlets),
    )


class TagChecker(HTMLParser):
    """Fails on tags Telegram does not allow and on unbalanced nesting."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        assert tag in ALLOWED_TAGS, tag
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text += data


def check_html(text: str) -> str:
    parser = TagChecker()
    parser.feed(text)
    parser.close()
    assert not parser.stack, f"unclosed {parser.stack}"
    assert not re.search(r"&(?!(amp|lt|gt|quot|#x27|#\d+);)", text), "bare ampersand"
    return parser.text


HOSTILE = '<script>alert("x")</script> & <b>bold</b> "quoted" \'single\''


@pytest.mark.parametrize(
    ("s", "must_contain", "must_not_contain"),
    [
        pytest.param(
            story(),
            ['<a href="https://news.example/az-cn?a=1&amp;b=2">'],
            ["&b="],
            id="url escaped inside href",
        ),
        pytest.param(
            story(title=HOSTILE),
            ["&lt;script&gt;", "&amp; &lt;b&gt;bold&lt;/b&gt;"],
            ["<script>", "<b>bold</b>"],
            id="title escaped",
        ),
        pytest.param(
            story(summary=HOSTILE), ["&lt;script&gt;"], ["<script>"], id="summary escaped"
        ),
        pytest.param(
            story(outlets=("<Evil> & Co",)),
            ["&lt;Evil&gt; &amp; Co"],
            ["<Evil>"],
            id="outlet escaped",
        ),
        pytest.param(
            story(evidence=("term:<i>x</i>(+0.20,mil)", "term:meet(+0.15,meeting_visit)")),
            ["Why:</i> defence officials met or visited"],
            ["<i>x</i>", "&lt;i&gt;", "term:", "+0.15"],
            id="raw evidence stays out of the alert",
        ),
        pytest.param(
            story(url="javascript:alert(1)"),
            [],
            ["href", "javascript"],
            id="non-http url is not linked",
        ),
        pytest.param(
            story(),
            ["🇦🇿", "🇨🇳", "meeting / visit", "Trend News", "26 Nov 2026 14:05 UTC", "Why:"],
            [],
            id="countries with flags, type, outlet, time, why",
        ),
    ],
)
def test_alert_escaping(s: StoryView, must_contain: list[str], must_not_contain: list[str]) -> None:
    text = format_alert(s, ("country:AZ", "keyword:<b>"))
    check_html(text)
    for needle in must_contain:
        assert needle in text
    for needle in must_not_contain:
        assert needle not in text
    assert "“&lt;b&gt;”" in text  # matched terms escaped too


@pytest.mark.parametrize(
    "s",
    [
        pytest.param(story(title="T" * 10_000), id="huge title"),
        pytest.param(story(summary="&<>" * 5_000), id="huge summary of entities"),
        pytest.param(story(outlets=tuple(f"Outlet {i}" for i in range(500))), id="many outlets"),
        pytest.param(story(evidence=tuple("e" * 1000 for _ in range(50))), id="long evidence"),
        pytest.param(story(title="🛡" * 5000, summary="𝔘" * 5000), id="astral characters"),
    ],
)
def test_alert_within_limit(s: StoryView) -> None:
    text = format_alert(s, tuple(f"keyword:{'k' * 50}{i}" for i in range(30)))
    assert tg_len(text) <= MAX_MESSAGE
    check_html(text)


@pytest.mark.parametrize(
    "count",
    [
        pytest.param(1, id="one story"),
        pytest.param(20, id="twenty"),
        pytest.param(300, id="three hundred"),
    ],
)
def test_lists_and_digests_within_limit(count: int) -> None:
    stories = [
        story(
            title=f"Story {i} " + "x" * 300,
            story_id=i,
            participants=(("AZ", "CN"), ("TR", "AZ"), ("FR",))[i % 3],
        )
        for i in range(count)
    ]
    text, shown = story_list("<b>Latest</b>", stories, focus=("AZ",), footer="end")
    assert tg_len(text) <= MAX_MESSAGE and 1 <= shown <= count
    check_html(text)
    digest = format_digest("Last 24 hours", stories)
    assert tg_len(digest) <= MAX_MESSAGE
    check_html(digest)
    if count > 1:
        assert "🇦🇿 Azerbaijan – 🇨🇳 China" in digest or "🇦🇿 Azerbaijan – 🇹🇷" in digest


@pytest.mark.parametrize(
    ("parts", "ok"),
    [
        pytest.param(
            ("more", "AZ,CN,TR", 20, "1764165900123456", "123456789012"), True, id="more fits"
        ),
        pytest.param(("rm", 2**63), True, id="remove with a huge id"),
        pytest.param(("more", "X" * 60, 1, 1, 1), False, id="too long is refused"),
    ],
)
def test_callback_data_limit(parts: tuple[object, ...], ok: bool) -> None:
    if ok:
        assert len(callback(*parts).encode()) <= 64
    else:
        with pytest.raises(ValueError):
            callback(*parts)


@pytest.mark.parametrize(
    ("code", "emoji"),
    [
        pytest.param("AZ", "🇦🇿", id="AZ"),
        pytest.param("cn", "🇨🇳", id="lower case"),
        pytest.param("EU1", "", id="not a code"),
    ],
)
def test_flag(code: str, emoji: str) -> None:
    assert formatting.flag(code) == emoji


def test_more_button_fits_for_the_most_countries() -> None:
    from bot.args import MAX_LATEST, encode_before
    from bot.commands.reading import MAX_LATEST_COUNTRIES

    far_future = replace(
        story(story_id=10**12 - 1), published_at=datetime(2999, 12, 31, tzinfo=UTC)
    )
    key = ",".join(["AZ"] * MAX_LATEST_COUNTRIES)
    assert len(callback("more", key, MAX_LATEST, encode_before(far_future)).encode()) <= 64


# --- "also reported by" (issue 8) and /lists (issue 7) ------------------------------------------


@pytest.mark.parametrize(
    ("outlets", "expected"),
    [
        pytest.param(("Trend",), "", id="one outlet: no line"),
        pytest.param(("Trend", "APA"), "Also reported by: APA", id="a second outlet"),
        pytest.param(("Trend", "Trend", "APA"), "Also reported by: APA", id="duplicates once"),
        pytest.param(
            ("Trend", "A&B <News>"), "Also reported by: A&amp;B &lt;News&gt;", id="escaped"
        ),
        pytest.param(
            ("T", "A", "B", "C", "D", "E", "F"),
            "Also reported by: A, B, C, D +2",
            id="at most four, then a count",
        ),
    ],
)
def test_also_reported_line(outlets: tuple[str, ...], expected: str) -> None:
    assert formatting.also_reported_line(story(outlets=outlets)) == expected


def test_edited_alert_names_the_first_outlet_then_the_others() -> None:
    text = format_alert(
        story(outlets=("Trend", "APA", "Report.az")), ("country:AZ",), also_reported=True
    )
    check_html(text)
    assert "📰 Trend · " in text and "Also reported by: APA, Report.az" in text
    assert format_alert(story(), also_reported=True) == format_alert(story())


@pytest.mark.parametrize(
    ("rows", "followed", "must_contain"),
    [
        pytest.param([], [], ["No named watchlists"], id="none configured"),
        pytest.param(
            [("caucasus", "South Caucasus", ["AZ", "AM"], ["bayraktar"])],
            ["caucasus"],
            ["✅ <b>caucasus</b> — South Caucasus", "Azerbaijan", "bayraktar", "follows: caucasus"],
            id="followed list marked",
        ),
        pytest.param(
            [("x", "<b>", [], ["s 400"])], [], ["&lt;b&gt;", "Keywords: s 400"], id="escaped"
        ),
    ],
)
def test_watchlists_text(rows: list, followed: list[str], must_contain: list[str]) -> None:
    text = formatting.watchlists_text(rows, followed)
    check_html(text)
    for part in must_contain:
        assert part in text
