"""The analyst subcommands of ``defwatch`` (registered by ``monitors.cli``).

    defwatch partners COUNTRY [--period 90d] [--png FILE]
    defwatch trend COUNTRY [--period 12w] [--png FILE]
    defwatch network WATCHLIST|COUNTRY... [--period 90d] [--png FILE]
    defwatch export [--country C] [--since DATE] [--type T] [--all] --format csv|jsonl
    defwatch feed-out COUNTRY|WATCHLIST [--limit N]

Tables go to stdout, the picture to ``--png FILE``; bad input ends with one line on stderr
(``ConfigError``, exit status 2) and writes nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from monitors.db import open_database
from monitors.detect.countries import Gazetteer, default_gazetteer, fold
from monitors.errors import ConfigError, PeriodError, UnknownCountry
from monitors.settings import Settings
from monitors.views import atom, export, queries
from monitors.views.analysis import parse_period
from monitors.watchlists import Watchlist, load_watchlists

MAX_DAYS = 730
MAX_NETWORK_COUNTRIES = 12


def resolver(gazetteer: Gazetteer) -> Callable[[str], str]:
    """``gazetteer.resolve``, and exact English names it refuses as ambiguous ('china')."""
    by_name = {fold(gazetteer.name(code)): code for code in gazetteer.codes()}

    def resolve(text: str) -> str:
        try:
            return gazetteer.resolve(text)
        except UnknownCountry:
            if fold(text) in by_name:
                return by_name[fold(text)]
            raise

    return resolve


def _watchlists(settings: Settings, gazetteer: Gazetteer) -> Mapping[str, Watchlist]:
    if settings.watchlists_file is None:
        return {}
    return load_watchlists(settings.watchlists_file, resolver=gazetteer)


def _period(text: str, unit: str) -> int:
    try:
        return parse_period(text, unit=unit, maximum_days=MAX_DAYS)
    except PeriodError as exc:
        raise ConfigError(str(exc)) from None


def _country(text: str, resolve: Callable[[str], str]) -> str:
    try:
        return resolve(text)
    except UnknownCountry as exc:
        raise ConfigError(str(exc)) from None


def network_focus(
    targets: Sequence[str], resolve: Callable[[str], str], lists: Mapping[str, Watchlist]
) -> tuple[tuple[str, ...], str | None]:
    """(codes, label): a watchlist's countries when one name is given, else the countries."""
    if len(targets) == 1 and targets[0].lower() in lists:
        watchlist = lists[targets[0].lower()]
        if not watchlist.countries:
            raise ConfigError(f"watchlist {watchlist.name!r} names no countries")
        return tuple(sorted(watchlist.countries))[:MAX_NETWORK_COUNTRIES], watchlist.name
    codes = tuple(dict.fromkeys(_country(t, resolve) for t in targets))
    if len(codes) > MAX_NETWORK_COUNTRIES:
        raise ConfigError(f"at most {MAX_NETWORK_COUNTRIES} countries in one network")
    return codes, None


def run(settings: Settings, args: argparse.Namespace) -> int:
    return asyncio.run(_run(settings, args))


async def _run(settings: Settings, args: argparse.Namespace) -> int:
    gazetteer = default_gazetteer()
    resolve = resolver(gazetteer)
    engine, sessions = await open_database(settings.database_url)
    try:
        if args.command == "export":
            country = _country(args.country, resolve) if args.country else None
            writer = export.Writer(sys.stdout, args.format)
            async with sessions() as session:
                async for batch in queries.export_stories(
                    session,
                    country=country,
                    since=args.since,
                    cooperation_type=args.type,
                    cooperation_only=not args.all,
                ):
                    writer.write(batch)
            print(f"exported {writer.count} stories", file=sys.stderr)
            return 0
        lists = _watchlists(settings, gazetteer)
        if args.command == "feed-out":
            try:
                target = atom.resolve_target(args.target, resolve, gazetteer.name, lists)
            except UnknownCountry as exc:
                raise ConfigError(f"{exc} (nor a named watchlist)") from None
            now = datetime.now(UTC)
            async with sessions() as session:
                stories = await atom.target_stories(session, target, now=now, limit=args.limit)
            sys.stdout.buffer.write(
                atom.atom_document(target, stories, now=now, name=gazetteer.name)
            )
            return 0
        from monitors.views import tables  # matplotlib loads only for the views
        from monitors.views.service import Picture, ViewService

        views = ViewService(sessions, gazetteer.name)
        draw = args.png is not None
        picture: Picture[Any]
        if args.command == "partners":
            picture = await views.partners(
                _country(args.country, resolve), _period(args.period, "d"), draw=draw
            )
            text = tables.partners_table(picture.data, gazetteer.name)
        elif args.command == "trend":
            picture = await views.trend(
                _country(args.country, resolve), _period(args.period, "w"), draw=draw
            )
            text = tables.trend_table(picture.data, gazetteer.name)
        else:
            codes, label = network_focus(args.targets, resolve, lists)
            picture = await views.network(codes, _period(args.period, "d"), label=label, draw=draw)
            text = tables.network_table(picture.data, gazetteer.name, label)
    finally:
        await engine.dispose()
    print(text)
    if picture.cut:
        print(f"(counted from the newest {queries.MAX_VIEW_STORIES} stories only)")
    if args.png is not None and picture.png is not None:
        try:
            args.png.write_bytes(picture.png)
        except OSError as exc:
            raise ConfigError(f"{args.png}: {exc.strerror}") from None
        print(f"picture written to {args.png}", file=sys.stderr)
    return 0
