"""Time zones as users type them, for ``/settings``: pure, data in ``config/timezones.toml``.

Rules, in order (input folded: lower case, ``_`` and ``-`` read as spaces, spaces collapsed):
    1. An alias from ``config/timezones.toml`` ("europe/baku", "msk", "beijing").
    2. An IANA name in any case ("asia/baku", "UTC").
    3. A UTC offset in whole hours: "+4", "-03", "UTC+4", "GMT-5", "+04:00" -> the fixed zone
       ``Etc/GMT-4`` (the Etc names invert the sign; shown as "UTC+4"). An offset with minutes
       ("+5:30") has no fixed zone: refused, naming the zones at that offset now.
    4. A city, the last part of an IANA name ("baku", "new york"), also after a wrong region
       ("Europe/Baku" -> Asia/Baku) when exactly one zone has it.
    5. A country name the gazetteer knows, when the country has one zone (``zone.tab``).
    6. Otherwise ``UsageError``, suggesting the nearest names (by spelling).
"""

from __future__ import annotations

import difflib
import functools
import re
import tomllib
import zoneinfo
from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources

from bot.args import UsageError
from bot.i18n import Alternatives, Joined, Said
from config import data_path

MAX_ZONE_TEXT = 64
_OFFSET = re.compile(r"(?:utc|gmt)?\s*([+\-\u2212])\s*(\d{1,2})(?::?(\d{2}))?")


def fold_zone(text: str) -> str:
    return " ".join(re.sub(r"[_\-]", " ", text.strip().lower()).split())


@functools.cache
def _aliases() -> dict[str, str]:
    table = tomllib.loads(data_path("timezones.toml").read_text(encoding="utf-8"))
    return {fold_zone(k): v for k, v in table.get("aliases", {}).items()}


@functools.cache
def _zones() -> dict[str, str]:
    """{folded IANA name: name} for every zone."""
    return {fold_zone(z): z for z in zoneinfo.available_timezones()}


@functools.cache
def _cities() -> dict[str, tuple[str, ...]]:
    """{folded city: zones} from the last part of the region zones' names."""
    found: dict[str, list[str]] = {}
    for zone in sorted(zoneinfo.available_timezones()):
        if "/" in zone and not zone.startswith("Etc/"):
            found.setdefault(fold_zone(zone.rsplit("/", 1)[1]), []).append(zone)
    return {city: tuple(zones) for city, zones in found.items()}


@functools.cache
def _country_zones() -> dict[str, tuple[str, ...]]:
    """{ISO code: zones} from tzdata's ``zone.tab``."""
    text = resources.files("tzdata.zoneinfo").joinpath("zone.tab").read_text(encoding="utf-8")
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            code, _, zone = line.split("\t")[:3]
            found.setdefault(code, []).append(zone)
    return {code: tuple(zones) for code, zones in found.items()}


def zone_label(zone: str) -> str:
    """How a stored zone is shown: 'Asia/Baku', or 'UTC+4' for the fixed zone Etc/GMT-4."""
    match = re.fullmatch(r"Etc/GMT([+-])(\d{1,2})", zone)
    if match is None:
        return zone
    return f"UTC{'-' if match.group(1) == '+' else '+'}{match.group(2)}"


def _offset_zone(text: str) -> str | None:
    match = _OFFSET.fullmatch(text)
    if match is None:
        return None
    sign = -1 if match.group(1) in "-\u2212" else 1
    hours, minutes = int(match.group(2)), int(match.group(3) or 0)
    if minutes:
        now = datetime.now(zoneinfo.ZoneInfo("UTC"))
        seconds = sign * (hours * 3600 + minutes * 60)
        same = [
            z
            for z in sorted(zoneinfo.available_timezones())
            if "/" in z
            and not z.startswith("Etc/")
            and now.astimezone(zoneinfo.ZoneInfo(z)).utcoffset() == timedelta(seconds=seconds)
        ]
        hint = Said("Zones at that offset now: {zones}.", zones=", ".join(same[:3])) if same else ""
        written = f"UTC{'-' if sign < 0 else '+'}{hours}:{minutes:02d}"
        problem = Said("{written} has no fixed time zone; name a place instead.", written=written)
        raise UsageError(Joined(problem, hint))
    if not (-12 <= sign * hours <= 14):
        raise UsageError(
            Said("{shown} is not a UTC offset; offsets run from -12 to +14", shown=repr(text))
        )
    if hours == 0:
        return "UTC"
    return f"Etc/GMT{'-' if sign > 0 else '+'}{hours}"


def parse_zone(text: str, country: Callable[[str], str | None] = lambda name: None) -> str:
    """The IANA zone ``text`` names (see the module rules); UsageError suggesting the nearest.

    ``country`` maps a name to an ISO code (or None): the bot passes its gazetteer.
    """
    shown = " ".join(text.split())[:40]
    if len(text) > MAX_ZONE_TEXT:
        raise UsageError(
            Said(
                "{shown}… is not a time zone; use e.g. Asia/Baku, baku or UTC+4", shown=repr(shown)
            )
        )
    key = fold_zone(text)
    if key in _aliases():
        return _aliases()[key]
    if key in _zones():
        return _zones()[key]
    offset = _offset_zone("".join(text.lower().split()))
    if offset is not None:
        return offset
    city = _cities().get(key.rsplit("/", 1)[-1].strip(), ())
    if len(city) == 1:
        return city[0]
    code = country(text.strip()) if key else None
    zones = _country_zones().get(code or "", ())
    if len(zones) == 1:
        return zones[0]
    suggestions = list(zones[:3]) or nearest_zones(key)
    hint = Said("Did you mean {zones}?", zones=Alternatives(suggestions)) if suggestions else ""
    problem = Said("{shown} is not a time zone.", shown=repr(shown))
    raise UsageError(Joined(problem, hint, Said("Use e.g. Asia/Baku, baku or UTC+4.")))


def nearest_zones(key: str, most: int = 3) -> list[str]:
    """Zones whose name, city or alias is spelt closest to ``key``."""
    names: dict[str, str] = {**_zones(), **_aliases()}
    names.update({city: zones[0] for city, zones in _cities().items()})
    close = difflib.get_close_matches(key, list(names), n=most * 2, cutoff=0.75)
    zones: list[str] = []
    for name in close:
        if names[name] not in zones:
            zones.append(names[name])
    return zones[:most]
