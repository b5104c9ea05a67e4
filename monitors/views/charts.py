"""The analyst views as PNG pictures sized and lettered for a phone screen.

Rules:
- Each picture draws only what ``monitors.views.analysis`` computed: no counting here.
- Fixed pixel sizes (``SIZES``), large type, ISO codes on the picture, and a title that says
  the country, the period and the number of stories.
- No stories: a picture that says so in words instead of empty axes. Fewer than
  ``analysis.TOO_FEW``: the picture is drawn with a plain warning under the title.
- matplotlib's object API with the Agg canvas (no pyplot, no global state), so pictures can be
  rendered in worker threads.
- Every word on a picture goes through a ``Speaker`` (``_``, ``_n`` and ``day``, as the bot's
  ``bot.i18n.Tr`` has them; picklable, so it can go to a worker process): English by default;
  the bot passes the chat's language. Its catalogues hold these texts too.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.ticker import MaxNLocator

from monitors.domain import COOPERATION_TYPES
from monitors.views.analysis import OTHERS, TOO_FEW, Network, Partners, Trend
from monitors.views.labels import TYPE_COLOURS, TYPE_LABELS

Namer = Callable[[str], str]


class Speaker(Protocol):
    """Says a picture's texts in one language (``bot.i18n.Tr`` is one)."""

    @property
    def language(self) -> str: ...

    def _(self, text: str, **values: Any) -> str: ...

    def _n(self, singular: str, plural: str, count: int, **values: Any) -> str: ...


@dataclass(frozen=True, slots=True)
class English:
    """The pictures' own language: the texts as written."""

    language: str = "en"

    def _(self, text: str, **values: Any) -> str:
        return text.format(**values) if values else text

    def _n(self, singular: str, plural: str, count: int, **values: Any) -> str:
        return (singular if count == 1 else plural).format(count=count, **values)


ENGLISH = English()

DPI = 100
SIZES = {"partners": (1080, 1350), "trend": (1080, 1350), "network": (1080, 1080)}
MAX_BARS = 10

TITLE_PT, SUBTITLE_PT, LABEL_PT, SMALL_PT = 36, 24, 26, 22
INK, MUTED, WARN = "#1a1a1a", "#555555", "#b00020"

SERIES_COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")
OTHERS_COLOUR = "#BBBBBB"


def lookup(names: Mapping[str, str], code: str) -> str:
    """A picklable ``Namer``: ``functools.partial(lookup, names)`` (for a process pool)."""
    return names.get(code, code)


def _figure(kind: str) -> Figure:
    width, height = SIZES[kind]
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _day(moment: date, say: Speaker = ENGLISH) -> str:
    """'3 Dec 2026'; CLDR's long date in another language."""
    if say.language == "en":
        return f"{moment.day} {moment:%b %Y}"
    from babel import dates

    return dates.format_date(moment, "long", locale=say.language)


def _day_month(moment: date, say: Speaker = ENGLISH) -> str:
    if say.language == "en":
        return f"{moment.day} {moment:%b}"
    from babel import dates

    return dates.format_skeleton("MMMd", moment, locale=say.language)


def _label(code: str, name: Namer, width: int = 13) -> str:
    full = name(code)
    return code if full == code else f"{code} {textwrap.shorten(full, width, placeholder='…')}"


def _header(
    figure: Figure, title: str, subtitle: str, stories: int, say: Speaker = ENGLISH
) -> None:
    figure.text(0.04, 0.965, title, fontsize=TITLE_PT, weight="bold", color=INK, va="top")
    figure.text(0.04, 0.912, subtitle, fontsize=SUBTITLE_PT, color=MUTED, va="top")
    if 0 < stories < TOO_FEW:
        figure.text(
            0.04,
            0.875,
            say._n(
                "Only {count} story: too few to show a pattern",
                "Only {count} stories: too few to show a pattern",
                stories,
            ),
            fontsize=SUBTITLE_PT,
            color=WARN,
            va="top",
        )


def _nothing(figure: Figure, message: str) -> bytes:
    wrapped = "\n".join(textwrap.wrap(message, 34))
    figure.text(0.5, 0.5, wrapped, fontsize=LABEL_PT + 4, color=MUTED, ha="center", va="center")
    return _png(figure)


def _plain(ax: Axes) -> None:
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.tick_params(labelsize=LABEL_PT, colors=INK)


def _period(days: int, until: datetime, stories: int, say: Speaker) -> str:
    """'Last 90 days to 3 Dec 2026 · 12 stories'."""
    return (
        say._n(
            "Last {count} day to {day}", "Last {count} days to {day}", days, day=_day(until, say)
        )
        + " · "
        + say._n("{count} story", "{count} stories", stories)
    )


def render_partners(data: Partners, name: Namer, say: Speaker = ENGLISH) -> bytes:
    """Horizontal bars, one per partner (most active on top), split by cooperation type."""
    figure = _figure("partners")
    days = round((data.until - data.since).total_seconds() / 86400)
    title = say._("{country} ({code}): partners", country=name(data.country), code=data.country)
    _header(figure, title, _period(days, data.until, data.stories, say), data.stories, say)
    if not data.rows:
        return _nothing(
            figure,
            say._n(
                "No defence-cooperation stories with a partner of {country} in the last "
                "{count} day. Try a longer period.",
                "No defence-cooperation stories with a partner of {country} in the last "
                "{count} days. Try a longer period.",
                days,
                country=name(data.country),
            ),
        )
    rows = data.rows[:MAX_BARS]
    ax = figure.add_axes((0.30, 0.22, 0.62, 0.62))
    positions = list(range(len(rows)))[::-1]
    present = [k for k in COOPERATION_TYPES if any(dict(r.by_type).get(k) for r in rows)]
    left = [0] * len(rows)
    for kind in present:
        widths = [dict(r.by_type).get(kind, 0) for r in rows]
        ax.barh(positions, widths, left=left, color=TYPE_COLOURS[kind], height=0.72)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    for y, row in zip(positions, rows, strict=True):
        ax.text(row.stories, y, f" {row.stories}", va="center", fontsize=LABEL_PT, color=INK)
    ax.set_yticks(positions, [_label(r.code, name) for r in rows])
    ax.set_xlim(0, max(r.stories for r in rows) * 1.18)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(say._("stories"), fontsize=SMALL_PT, color=MUTED)
    _plain(ax)
    _legend(figure, [(say._(TYPE_LABELS[k]), TYPE_COLOURS[k]) for k in present], top=0.13)
    if len(data.rows) > MAX_BARS:
        figure.text(
            0.04,
            0.025,
            _more_partners(len(data.rows) - MAX_BARS, say),
            fontsize=SMALL_PT,
            color=MUTED,
        )
    return _png(figure)


def _legend(figure: Figure, entries: list[tuple[str, str]], *, top: float) -> None:
    handles = [Patch(facecolor=colour, label=label) for label, colour in entries]
    figure.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, top),
        ncol=min(3, max(1, len(handles))),
        fontsize=SMALL_PT,
        frameon=False,
        handlelength=1.2,
        columnspacing=1.2,
    )


def _more_partners(count: int, say: Speaker) -> str:
    return say._n("+ {count} more partner not shown", "+ {count} more partners not shown", count)


def render_trend(data: Trend, name: Namer, say: Speaker = ENGLISH) -> bytes:
    """Stories per week, stacked by partner (top five, then "others"); totals above bars."""
    figure = _figure("trend")
    weeks = len(data.weeks)
    title = say._("{country} ({code}): per week", country=name(data.country), code=data.country)
    end = data.weeks[-1]
    subtitle = (
        say._n(
            "{count} week to week of {day}",
            "{count} weeks to week of {day}",
            weeks,
            day=_day(end, say),
        )
        + " · "
        + say._n("{count} story", "{count} stories", data.stories)
    )
    _header(figure, title, subtitle, data.stories, say)
    if not data.stories:
        return _nothing(
            figure,
            say._n(
                "No defence-cooperation stories with a partner of {country} in the last "
                "{count} week. Try a longer period.",
                "No defence-cooperation stories with a partner of {country} in the last "
                "{count} weeks. Try a longer period.",
                weeks,
                country=name(data.country),
            ),
        )
    ax = figure.add_axes((0.12, 0.30, 0.84, 0.54))
    positions = list(range(weeks))
    bottom = [0] * weeks
    entries = []
    for index, (code, counts) in enumerate(data.series):
        colour = OTHERS_COLOUR if code == OTHERS else SERIES_COLOURS[index % len(SERIES_COLOURS)]
        ax.bar(positions, counts, bottom=bottom, color=colour, width=0.8)
        bottom = [a + b for a, b in zip(bottom, counts, strict=True)]
        entries.append((say._(OTHERS) if code == OTHERS else _label(code, name), colour))
    for x, (height, total) in enumerate(zip(bottom, data.totals, strict=True)):
        if total:
            ax.text(x, height, str(total), ha="center", va="bottom", fontsize=SMALL_PT, color=INK)
    step = max(1, math.ceil(weeks / 6))
    ax.set_xticks(
        positions[::step], [_day_month(m, say) for m in data.weeks[::step]], fontsize=SMALL_PT
    )
    ax.set_ylim(0, max(bottom) * 1.15 + 0.5)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(say._("week starting (Monday, UTC)"), fontsize=SMALL_PT, color=MUTED)
    _plain(ax)
    ax.tick_params(axis="x", labelsize=SMALL_PT)
    _legend(figure, entries, top=0.20)
    figure.text(
        0.04,
        0.025,
        say._(
            "Bars: contacts per partner. Numbers: stories\n(a story with two partners counts once)."
        ),
        fontsize=SMALL_PT - 2,
        color=MUTED,
    )
    return _png(figure)


def render_network(
    data: Network, name: Namer, label: str | None = None, say: Speaker = ENGLISH
) -> bytes:
    """States as circles (focus in the middle), edges as wide as their story count."""
    figure = _figure("network")
    days = round((data.until - data.since).total_seconds() / 86400)
    focus = ", ".join(data.focus)
    title = (
        say._("{name}: cooperation", name=label)
        if label
        else say._("Cooperation: {codes}", codes=textwrap.shorten(focus, 24))
    )
    _header(figure, title, _period(days, data.until, data.stories, say), data.stories, say)
    if not data.edges:
        names = ", ".join(name(code) for code in data.focus[:4])
        return _nothing(
            figure,
            say._n(
                "No defence-cooperation stories among or around {names} in the last {count} "
                "day. Try a longer period.",
                "No defence-cooperation stories among or around {names} in the last {count} "
                "days. Try a longer period.",
                days,
                names=names,
            ),
        )
    ax = figure.add_axes((0.03, 0.12, 0.94, 0.74))
    ax.set_axis_off()
    ax.set_xlim(-1.35, 1.35)
    ax.set_ylim(-1.25, 1.25)
    ax.set_aspect("equal")
    where = _layout(data)
    heaviest = max(e.stories for e in data.edges)
    for edge in reversed(data.edges):  # heaviest drawn last, on top
        start, bend, end = _arc(where[edge.a], where[edge.b])
        ax.add_patch(
            PathPatch(
                MplPath([start, bend, end], [MplPath.MOVETO, MplPath.CURVE3, MplPath.CURVE3]),
                facecolor="none",
                edgecolor=TYPE_COLOURS[edge.dominant_type],
                linewidth=2 + 12 * edge.stories / heaviest,
                capstyle="round",
                alpha=0.85,
                zorder=1,
            )
        )
        ax.text(
            *_middle(start, bend, end),
            str(edge.stories),
            fontsize=SMALL_PT,
            ha="center",
            va="center",
            zorder=3,
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": "none"},
        )
    for code, (x, y) in where.items():
        is_focus = code in data.focus
        ax.scatter(
            [x],
            [y],
            s=5200 if is_focus else 3400,
            color="#222222" if is_focus else "#f2f2f2",
            edgecolors="#222222",
            linewidths=2,
            zorder=4,
        )
        ax.text(
            x,
            y,
            code,
            ha="center",
            va="center",
            fontsize=LABEL_PT,
            weight="bold",
            color="white" if is_focus else INK,
            zorder=5,
        )
    present = [k for k in COOPERATION_TYPES if any(e.dominant_type == k for e in data.edges)]
    _legend(figure, [(say._(TYPE_LABELS[k]), TYPE_COLOURS[k]) for k in present], top=0.11)
    if data.cut:
        figure.text(0.04, 0.015, _more_partners(data.cut, say), fontsize=SMALL_PT, color=MUTED)
    return _png(figure)


Point = tuple[float, float]
BEND = 0.18  # how far an edge bows out, relative to its length: lines pass beside other nodes


def _arc(a: Point, b: Point) -> tuple[Point, Point, Point]:
    """A gentle quadratic curve from ``a`` to ``b``: (start, control point, end)."""
    (x1, y1), (x2, y2) = a, b
    dx, dy = x2 - x1, y2 - y1
    return a, ((x1 + x2) / 2 - BEND * dy, (y1 + y2) / 2 + BEND * dx), b


def _middle(start: Point, bend: Point, end: Point) -> Point:
    """The curve's point halfway along its parameter (where its label goes)."""
    return (
        0.25 * start[0] + 0.5 * bend[0] + 0.25 * end[0],
        0.25 * start[1] + 0.5 * bend[1] + 0.25 * end[1],
    )


def _layout(data: Network) -> dict[str, tuple[float, float]]:
    """Focus states at the centre (on a small ring when several), partners on an outer ring,
    each partner placed near the focus state it shares the most stories with."""
    focus = list(data.focus)
    step = 2 * math.pi / max(len(focus), 1)
    focus_angle = {code: math.pi / 2 + step * i for i, code in enumerate(focus)}
    where = {
        code: (0.0, 0.0) if len(focus) == 1 else (0.42 * math.cos(a), 0.42 * math.sin(a))
        for code, a in focus_angle.items()
    }
    weight: dict[str, dict[str, int]] = {}
    for edge in data.edges:
        for near, far in ((edge.a, edge.b), (edge.b, edge.a)):
            if near in focus_angle and far not in focus_angle:
                weight.setdefault(far, {})[near] = weight.get(far, {}).get(near, 0) + edge.stories
    outer = [code for code in data.nodes if code not in focus_angle]

    def anchor(code: str) -> int:
        ties = weight.get(code, {})
        return focus.index(max(ties, key=lambda f: (ties[f], -focus.index(f)))) if ties else 0

    outer.sort(key=anchor)
    gap = 2 * math.pi / max(len(outer), 1)
    first_group = sum(1 for code in outer if anchor(code) == 0)
    start = math.pi / 2 - gap * (first_group - 1) / 2
    for i, code in enumerate(outer):
        angle = start + gap * i
        where[code] = (1.05 * math.cos(angle), 1.0 * math.sin(angle))
    return where
