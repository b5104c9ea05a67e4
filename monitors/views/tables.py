"""The analyst views as plain-text tables for the command line (pure).

Columns are separated by two spaces and padded, so the output reads in a terminal and pastes
into a spreadsheet as fixed-width text. Each table starts with the same title the picture has.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from monitors.domain import COOPERATION_TYPES
from monitors.views.analysis import Network, Partners, Trend
from monitors.views.labels import TYPE_LABELS

Namer = Callable[[str], str]


def _grid(header: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    cells = [[str(c) for c in header], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return [
        "  ".join(
            cell.rjust(width) if cell.isdigit() else cell.ljust(width)
            for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in cells
    ]


def partners_table(data: Partners, name: Namer) -> str:
    days = round((data.until - data.since).total_seconds() / 86400)
    lines = [
        f"{name(data.country)} ({data.country}): partners, last {days} days to "
        f"{data.until:%Y-%m-%d}: {data.stories} stories with a partner"
        + (f", {data.unpaired} without" if data.unpaired else "")
    ]
    if not data.rows:
        return "\n".join([*lines, "No stories with a partner in this period."])
    kinds = [k for k in COOPERATION_TYPES if any(dict(r.by_type).get(k) for r in data.rows)]
    header = ["partner", "stories", *(TYPE_LABELS[k] for k in kinds)]
    rows = [
        [f"{r.code} {name(r.code)}", r.stories, *(dict(r.by_type).get(k, 0) for k in kinds)]
        for r in data.rows
    ]
    return "\n".join([*lines, *_grid(header, rows)])


def trend_table(data: Trend, name: Namer) -> str:
    lines = [
        f"{name(data.country)} ({data.country}): stories per week, {len(data.weeks)} weeks to "
        f"the week of {data.weeks[-1]:%Y-%m-%d}: {data.stories} stories with a partner"
    ]
    if not data.stories:
        return "\n".join([*lines, "No stories with a partner in this period."])
    header = ["week", "stories", *(code for code, _ in data.series)]
    rows = [
        [f"{monday:%Y-%m-%d}", data.totals[i], *(counts[i] for _, counts in data.series)]
        for i, monday in enumerate(data.weeks)
    ]
    return "\n".join([*lines, *_grid(header, rows)])


def network_table(data: Network, name: Namer, label: str | None = None) -> str:
    days = round((data.until - data.since).total_seconds() / 86400)
    focus = label or ", ".join(data.focus)
    lines = [
        f"Cooperation among and around {focus}, last {days} days to {data.until:%Y-%m-%d}: "
        f"{data.stories} stories, {len(data.nodes)} states, {len(data.edges)} links"
        + (f" ({data.cut} partners cut)" if data.cut else "")
    ]
    if not data.edges:
        return "\n".join([*lines, "No stories with a partner in this period."])
    rows = [
        [f"{e.a}-{e.b}", e.stories, TYPE_LABELS[e.dominant_type], f"{name(e.a)} - {name(e.b)}"]
        for e in data.edges
    ]
    return "\n".join([*lines, *_grid(["pair", "stories", "mostly", "states"], rows)])
