"""Stories as CSV or JSON Lines rows for spreadsheets and notebooks (pure, the csv module).

Rules:
- One row per story: id, dates (ISO 8601, UTC), title, link, participants, mentioned states,
  cooperation type, score, outlets with their links, evidence and summary.
- JSON Lines keeps lists as lists and outlets as objects. CSV joins lists with ``;`` (codes)
  or `` | `` (outlets, links, evidence) and writes a header row.
- CSV cells of text from the news (title, summary, outlet names, evidence) that a spreadsheet
  would run as a formula (starting with ``= + - @``, tab or carriage return) get a leading
  apostrophe; links and codes are never changed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable
from typing import Any, TextIO

from monitors.views.arguments import FORMATS
from monitors.views.queries import ExportedStory

CSV_COLUMNS = (
    "id",
    "published",
    "first_seen",
    "last_seen",
    "title",
    "url",
    "participants",
    "mentioned",
    "cooperation_type",
    "defence_cooperation",
    "score",
    "outlets",
    "outlet_urls",
    "evidence",
    "summary",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def story_record(item: ExportedStory) -> dict[str, Any]:
    """One story as a JSON-ready object."""
    view = item.view
    return {
        "id": view.id,
        "published": view.published_at.isoformat(),
        "first_seen": item.first_seen_at.isoformat(),
        "last_seen": item.last_seen_at.isoformat(),
        "title": view.title,
        "url": view.url,
        "participants": list(view.participants),
        "mentioned": list(view.mentioned),
        "cooperation_type": view.cooperation_type,
        "defence_cooperation": view.is_defence_cooperation,
        "score": round(view.score, 4),
        "outlets": [
            {"name": o.feed_title, "url": o.url, "published": o.published_at.isoformat()}
            for o in view.outlets
        ],
        "evidence": list(view.evidence),
        "summary": view.summary,
    }


def _safe(text: str) -> str:
    return f"'{text}" if text.startswith(_FORMULA_START) else text


def csv_row(item: ExportedStory) -> dict[str, str]:
    """One story as a CSV row (see the module rules for joining and formula guarding)."""
    record = story_record(item)
    return {
        "id": str(record["id"]),
        "published": record["published"],
        "first_seen": record["first_seen"],
        "last_seen": record["last_seen"],
        "title": _safe(record["title"]),
        "url": record["url"] or "",
        "participants": ";".join(record["participants"]),
        "mentioned": ";".join(record["mentioned"]),
        "cooperation_type": record["cooperation_type"] or "",
        "defence_cooperation": "true" if record["defence_cooperation"] else "false",
        "score": str(record["score"]),
        "outlets": " | ".join(_safe(o["name"]) for o in record["outlets"]),
        "outlet_urls": " | ".join(o["url"] or "" for o in record["outlets"]),
        "evidence": " | ".join(_safe(str(e)) for e in record["evidence"]),
        "summary": _safe(record["summary"]),
    }


class Writer:
    """Writes stories to ``out`` in ``fmt`` as they come, batch after batch."""

    def __init__(self, out: TextIO, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown export format {fmt!r}")
        self.out, self.fmt, self.count = out, fmt, 0
        self._csv: csv.DictWriter[str] | None = None
        if fmt == "csv":
            self._csv = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
            self._csv.writeheader()

    def write(self, items: Iterable[ExportedStory]) -> None:
        for item in items:
            if self._csv is not None:
                self._csv.writerow(csv_row(item))
            else:
                self.out.write(json.dumps(story_record(item), ensure_ascii=False) + "\n")
            self.count += 1
