"""The analyst subcommands' arguments, apart from the code that runs them.

``defwatch --help`` builds every subparser: this module imports no database, HTTP or picture
code, so that listing the commands stays fast (``monitors.views.commands`` runs them).
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from monitors.domain import COOPERATION_TYPES

COMMANDS = ("partners", "trend", "network", "export", "feed-out")
FORMATS = ("csv", "jsonl")  # defwatch export --format
DEFAULT_ENTRIES = 50  # stories in an Atom feed
MAX_ENTRIES = 500


def add_commands(commands: Any) -> None:
    """Add the subcommands to ``defwatch``'s subparsers."""
    for name, text, period in (
        ("partners", "a country's defence partners (table; picture with --png)", "90d"),
        ("trend", "a country's stories per week by partner", "12w"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("country", help="name, demonym or ISO code, e.g. azerbaijan, AZ")
        sub.add_argument("--period", default=period, help=f"e.g. 90d or 12w (default {period})")
        sub.add_argument("--png", type=Path, metavar="FILE", help="also write the picture here")
    net = commands.add_parser("network", help="the cooperation graph among and around states")
    net.add_argument("targets", nargs="+", metavar="WATCHLIST|COUNTRY")
    net.add_argument("--period", default="90d", help="e.g. 90d (default 90d)")
    net.add_argument("--png", type=Path, metavar="FILE", help="also write the picture here")
    out = commands.add_parser("export", help="stories as CSV or JSON Lines")
    out.add_argument("--country", help="only stories this country takes part in")
    out.add_argument("--since", type=_since, help="published on or after DATE (YYYY-MM-DD)")
    out.add_argument("--type", choices=COOPERATION_TYPES, help="only this cooperation type")
    out.add_argument("--all", action="store_true", help="not only defence cooperation")
    out.add_argument("--format", choices=FORMATS, required=True)
    feed = commands.add_parser("feed-out", help="an Atom feed of a country or named watchlist")
    feed.add_argument("target", metavar="COUNTRY|WATCHLIST")
    feed.add_argument("--limit", type=_entries, default=DEFAULT_ENTRIES)


def _since(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date: {text!r} (use YYYY-MM-DD)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _entries(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_ENTRIES:
        raise argparse.ArgumentTypeError(f"must be a number from 1 to {MAX_ENTRIES}")
    return int(text)
