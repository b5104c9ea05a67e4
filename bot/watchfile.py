"""A chat's own watchlist as a TOML file: /export writes it, /import reads it back (pure).

The file is a ``[watchlist.NAME]`` table that ``monitors.watchlists.parse_watchlists`` accepts;
the named lists the chat followed are in a header comment (``FOLLOWS_COMMENT``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.args import UsageError
from bot.i18n import Said
from monitors import subscriptions
from monitors.errors import ConfigError
from monitors.subscriptions import normalise_keyword
from monitors.watchlists import Watchlist, export_watchlist, parse_watchlists

MAX_IMPORT_BYTES = 64 * 1024
EXPORT_FILENAME = "watchlist.toml"


def export_name(chat_id: int) -> str:
    """A valid watchlist name for a chat's export: 'chat-1001234'."""
    return f"chat{chat_id}" if chat_id < 0 else f"chat-{chat_id}"


FOLLOWS_COMMENT = "# this chat also follows the named lists: "


def export_document(
    chat_id: int, rules: Sequence[subscriptions.Rule], scope: str, followed: Sequence[str]
) -> str:
    """The chat's own rules and scope as TOML (``parse_watchlists`` accepts it)."""

    def displays(kind: str) -> list[str]:
        return [r.display if kind != "country" else r.value for r in rules if r.kind == kind]

    header = "# defwatch watchlist exported from a chat; /import it or add it to the file\n"
    if followed:
        header += f"{FOLLOWS_COMMENT}{', '.join(followed)}\n"
    body = export_watchlist(
        export_name(chat_id), displays("country"), displays("keyword"), displays("exclude"), scope
    )
    return header + body


def followed_in_export(text: str) -> list[str]:
    """The named lists an exported document says its chat followed (its header comment)."""
    for line in text.splitlines():
        if line.startswith(FOLLOWS_COMMENT):
            names = (n.strip().lower() for n in line.removeprefix(FOLLOWS_COMMENT).split(","))
            return [n for n in names if n]
        if not line.startswith("#"):
            break
    return []


def imported_displays(text: str, name: str, key: str) -> dict[str, str]:
    """{folded phrase: as written} for one key of an imported (already validated) document."""
    table = tomllib.loads(text).get("watchlist", {})
    tables = {k.lower(): v for k, v in table.items()}
    return {normalise_keyword(v): v for v in tables.get(name, {}).get(key, [])}


def too_large(source: str) -> Said:
    return Said("{source} is larger than {size} KB", source=source, size=MAX_IMPORT_BYTES // 1024)


def parse_import(data: bytes, source: str, resolver: object) -> tuple[Watchlist, str]:
    """The one watchlist of an uploaded document and its text; UsageError naming the problem."""
    if len(data) > MAX_IMPORT_BYTES:
        raise UsageError(too_large(source))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise UsageError(Said("{source} is not UTF-8 text", source=source)) from None
    try:
        lists = parse_watchlists(text, source=source, resolver=resolver)
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    if len(lists) != 1:
        raise UsageError(
            Said(
                "{source} must contain exactly one [watchlist.NAME], not {count}",
                source=source,
                count=len(lists),
            )
        )
    return next(iter(lists.values())), text


@dataclass(frozen=True, slots=True)
class ResolverAdapter:
    """The bot's resolver where ``monitors.watchlists`` wants an object with ``.resolve``."""

    resolve: Callable[[str], str]
