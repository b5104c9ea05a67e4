"""The ``defwatch`` command (the CLI contract of DESIGN.md).

    defwatch run                      scheduler (+ bot when TELEGRAM_BOT_TOKEN is set; without
                                      it, new cooperation stories are printed)
    defwatch poll [--once]            poll feeds, no Telegram
    defwatch feeds list|add URL|remove URL|import FILE.opml|export
    defwatch latest COUNTRY [--limit N] [--json]
    defwatch classify [FILE|-]        JSONL in, JSONL out
    defwatch cluster [FILE|-]         JSONL in, {"id","story"} out (the poll's own grouping)
    defwatch stories rebuild          re-group stored articles under the current rules
    defwatch eval FILE                labelled JSONL -> precision, recall, F1, country accuracy
    defwatch watchlists check [FILE]|list|test NAME   named watchlists (config file)
    defwatch doctor [--feeds N]       check settings, database, token, watchlists (and N feeds)
    defwatch partners|trend COUNTRY [--period P] [--png FILE]   analyst views (text tables)
    defwatch network WATCHLIST|COUNTRY... [--period P] [--png FILE]
    defwatch export [--country C] [--since DATE] [--type T] --format csv|jsonl
    defwatch feed-out COUNTRY|WATCHLIST [--limit N]   an Atom feed on stdout

``--log-format json`` (before the command) logs one JSON object per line.

``monitors`` never imports the bot: ``main`` takes the bot runner as an argument, and the
installed ``defwatch`` script (``bot.cli``) passes it in. Errors of our own end the command
with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from monitors import heap
from monitors.errors import ConfigError, DefwatchError, UnknownCountry
from monitors.logs import LOG_FORMATS
from monitors.logs import configure as configure_logging
from monitors.settings import Settings, load_settings
from monitors.views import arguments as view_arguments

# SQLAlchemy, Alembic, httpx and the classifier are imported by the commands that use them,
# so `--help`, `latest` and `feeds list` do not pay for what they never run.
if TYPE_CHECKING:
    from monitors import store
    from monitors.domain import StoryView

BotRunner = Callable[[Settings], None]
MAX_DOCTOR_FEEDS = 50
log = logging.getLogger("defwatch")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="defwatch", description="Watch news feeds for defence-cooperation stories."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    parser.add_argument(
        "--log-format",
        choices=LOG_FORMATS,
        default="human",
        help="human (default) or json: one JSON object per line, for log shippers",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("run", help="poll on a schedule; run the Telegram bot when a token is set")
    poll = commands.add_parser("poll", help="poll feeds on a schedule, without Telegram")
    poll.add_argument(
        "--once", action="store_true", help="poll every enabled feed once now, then exit"
    )

    feeds = commands.add_parser("feeds", help="list, add, remove, import or export feeds")
    feed_commands = feeds.add_subparsers(dest="feeds_command", required=True, metavar="ACTION")
    feed_commands.add_parser("list", help="every feed with its health")
    add = feed_commands.add_parser("add", help="add a feed URL")
    add.add_argument("url")
    add.add_argument("--title")
    add.add_argument(
        "--country",
        type=_country_code,
        help="ISO code of the state a ministry's or armed force's own feed speaks for, e.g. US",
    )
    remove = feed_commands.add_parser("remove", help="remove a feed URL")
    remove.add_argument("url")
    imp = feed_commands.add_parser("import", help="add the feeds of an OPML file")
    imp.add_argument("file", type=Path)
    feed_commands.add_parser("export", help="print the feeds as OPML 2.0")

    latest = commands.add_parser("latest", help="newest stored stories for a country")
    latest.add_argument("country", help="name, demonym or ISO code, e.g. azerbaijan, AZ")
    latest.add_argument("--limit", type=_limit, default=10, help="how many (1-100, default 10)")
    latest.add_argument("--json", action="store_true", help="one JSON object per line")
    latest.add_argument("--all", action="store_true", help="not only defence cooperation")

    for name, text in (
        ("classify", "classify JSONL items"),
        ("cluster", "group JSONL items into stories"),
    ):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("file", nargs="?", default="-", help="JSONL file, or - for stdin")
    stories = commands.add_parser("stories", help="maintain stored stories")
    story_commands = stories.add_subparsers(dest="stories_command", required=True, metavar="ACTION")
    story_commands.add_parser(
        "rebuild", help="re-group every stored article under the current rules (no alert resent)"
    )
    lists = commands.add_parser("watchlists", help="check, list or test named watchlists")
    list_commands = lists.add_subparsers(dest="watchlists_command", required=True, metavar="ACTION")
    check = list_commands.add_parser("check", help="validate the watchlists file, start nothing")
    check.add_argument("file", nargs="?", type=Path, help="default: the file in the settings")
    list_commands.add_parser("list", help="each watchlist and its matches in the last 7 days")
    trial = list_commands.add_parser("test", help="run a watchlist over stored stories")
    trial.add_argument("name")
    trial.add_argument("--days", type=_limit, default=7, help="how far back (default 7 days)")
    doctor = commands.add_parser("doctor", help="check the configuration; say what to fix")
    doctor.add_argument(
        "--feeds",
        type=_feed_sample,
        default=0,
        metavar="N",
        help=f"also fetch a sample of N enabled feeds (1-{MAX_DOCTOR_FEEDS})",
    )
    evaluate = commands.add_parser("eval", help="score the classifier on a labelled JSONL file")
    evaluate.add_argument("file", type=Path)
    view_arguments.add_commands(commands)
    return parser


def _country_code(text: str) -> str:
    """A feed's source country: an ISO code, name or demonym resolved by the gazetteer."""
    from monitors.detect.countries import default_gazetteer

    try:
        return default_gazetteer().resolve(text)
    except UnknownCountry as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError("must be between 1 and 100")
    return value


def _feed_sample(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 1 <= value <= MAX_DOCTOR_FEEDS:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_DOCTOR_FEEDS}")
    return value


def main(argv: Sequence[str] | None = None, *, bot_runner: BotRunner | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose, args.log_format)
    status = _main(args, bot_runner)
    if args.command == "run" or (args.command == "poll" and not args.once):
        exit_without_teardown(status)
    return status


def exit_without_teardown(status: int) -> NoReturn:
    """End a service process once it has closed everything it opened.

    The exit handlers run (log handlers flushed, multiprocessing's helpers and temporary files
    cleaned up), but not the interpreter's teardown: freeing the classifier's and gazetteer's
    tables object by object takes a second of CPU, several on a loaded machine, and a stop must
    end well within the 10 s that Docker and systemd allow before SIGKILL.
    """
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _main(args: argparse.Namespace, bot_runner: BotRunner | None) -> int:
    try:
        return _dispatch(args, bot_runner)
    except DefwatchError as exc:
        print(f"defwatch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `defwatch classify big.jsonl | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _dispatch(args: argparse.Namespace, bot_runner: BotRunner | None) -> int:
    if args.command == "classify":
        return _classify(args.file)
    if args.command == "cluster":
        return _cluster(args.file)
    if args.command == "eval":
        return _eval(args.file)
    if args.command == "doctor":
        from monitors.doctor import run_doctor

        return run_doctor(os.environ, feeds=args.feeds)
    settings = load_settings()
    if args.command == "run":
        if settings.bot_token and bot_runner is not None:
            bot_runner(settings)
            return 0
        if settings.bot_token:
            raise ConfigError("TELEGRAM_BOT_TOKEN is set but the bot is not installed")
        return asyncio.run(_run_console(settings, once=False))
    if args.command == "poll":
        return asyncio.run(_run_console(settings, once=args.once))
    if args.command == "feeds":
        return asyncio.run(_feeds(settings, args))
    if args.command == "watchlists":
        return _watchlists(settings, args)
    if args.command == "stories":
        return asyncio.run(_rebuild_stories(settings))
    if args.command == "latest":
        return asyncio.run(_latest(settings, args.country, args.limit, args.json, args.all))
    if args.command in view_arguments.COMMANDS:
        from monitors.views import commands as view_commands

        return view_commands.run(settings, args)
    raise AssertionError(args.command)


# --- polling -------------------------------------------------------------------------------


async def _run_console(settings: Settings, *, once: bool) -> int:
    from monitors.health import serving
    from monitors.runner import Monitor  # imports httpx and the classifier: only when polling

    async with Monitor.open(settings) as monitor:
        heap.settle()  # what the start made lives as long as the process
        if once:
            report = await monitor.poll_cycle(every_feed=True)
            await _print_new_stories(monitor, report.cooperation_story_ids)
            print(report.summary(), file=sys.stderr)
            return 0
        async with serving(settings, monitor):
            await _poll_forever(monitor)
    log.info("stopped")
    return 0


async def _poll_forever(monitor: Any) -> None:
    """Run the console jobs (``monitors.jobs``: poll, purge) until SIGINT/SIGTERM.

    A stop ends the cycle in flight within moments (``Monitor.stop``: no new claims, the
    fetches in flight abandoned and their leases released, writes under way finished).
    """
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    from monitors.jobs import JOB_KWARGS, jobs_for, poll_tick

    stop = asyncio.Event()

    def request_stop() -> None:
        monitor.stop()  # first: no feed is claimed from now on
        stop.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with suppress(NotImplementedError):
            loop.add_signal_handler(sig, request_stop)
    if monitor.watchlists is not None and hasattr(signal, "SIGHUP"):
        loop.add_signal_handler(signal.SIGHUP, monitor.watchlists.reload)

    async def poll() -> None:
        report = await monitor.poll_cycle()
        await _print_new_stories(monitor, report.cooperation_story_ids)

    running: set[asyncio.Task[Any]] = set()

    def tracked(action: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        async def run() -> None:  # a stop waits for the runs in flight (they end quickly)
            task = asyncio.current_task()
            assert task is not None
            running.add(task)
            try:
                await action()
            finally:
                running.discard(task)

        return run

    actions = {"poll": tracked(poll), "purge": tracked(monitor.purge_job)}
    scheduler = AsyncIOScheduler(timezone=UTC)
    started = datetime.now(UTC)
    for job in jobs_for(monitor.settings, telegram=False):
        scheduler.add_job(
            actions[job.name],
            "interval",
            seconds=job.every,
            next_run_time=started + timedelta(seconds=job.first),
            misfire_grace_time=None,
            id=job.name,
            **JOB_KWARGS,
        )
    scheduler.start()
    log.info(
        "polling every %.0fs per feed (checking for due feeds every %.0fs); Ctrl-C stops",
        monitor.settings.poll_interval,
        poll_tick(monitor.settings.poll_interval),
    )
    try:
        await stop.wait()
    finally:
        monitor.stop()
        scheduler.pause()
        # Once stopping, a cycle in flight returns within moments (releasing its leases):
        # wait for the jobs rather than let the scheduler's shutdown cancel them midway.
        await asyncio.gather(*running, return_exceptions=True)
        scheduler.shutdown(wait=False)


async def _print_new_stories(monitor: Any, story_ids: Sequence[int]) -> None:
    from monitors import store

    if not story_ids:
        return
    async with monitor.sessions() as session:
        views = await store.story_views(session, list(dict.fromkeys(story_ids)))
    for view in views:
        print(format_story_line(view), flush=True)


def format_story_line(view: StoryView) -> str:
    """A stored story as console lines: date, countries, type, title, outlets, link."""
    countries = "-".join(view.participants) or "??"
    kind = view.cooperation_type or "-"
    outlets = ", ".join(dict.fromkeys(o.feed_title for o in view.outlets)) or "unknown outlet"
    when = view.published_at.strftime("%Y-%m-%d %H:%M UTC")
    lines = [f"[{when}] {countries} {kind} {view.score:.2f}  {view.title}", f"    {outlets}"]
    if view.url:
        lines.append(f"    {view.url}")
    return "\n".join(lines)


# --- feeds, latest -------------------------------------------------------------------------


async def _feeds(settings: Settings, args: argparse.Namespace) -> int:
    from monitors.db import open_database
    from monitors.feedlist import seed_default_feeds

    engine, sessions = await open_database(settings.database_url)
    try:
        await seed_default_feeds(sessions, settings.feeds_file)
        async with sessions.begin() as session:
            return await _feeds_action(session, args)
    finally:
        await engine.dispose()


async def _feeds_action(session: Any, args: argparse.Namespace) -> int:
    from monitors import opml, store

    now = datetime.now(UTC)
    action = args.feeds_command
    if action == "list":
        for feed in await store.list_feeds(session):
            print(_feed_health_line(feed))
        return 0
    if action == "add":
        _require_http(args.url)
        is_new = await store.add_feed(
            session, args.url, title=args.title, country=args.country, now=now
        )
        print("added" if is_new else "already present", args.url)
        return 0
    if action == "remove":
        if not await store.remove_feed(session, args.url):
            print(f"defwatch: no such feed: {args.url}", file=sys.stderr)
            return 1
        print("removed", args.url)
        return 0
    if action == "import":
        try:
            data = args.file.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{args.file}: {exc.strerror}") from None
        entries = opml.parse_opml(data)
        imported = 0
        for item in entries:
            if item.url.startswith(("http://", "https://")):
                imported += await store.add_feed(
                    session, item.url, title=item.title, country=item.country, now=now
                )
        print(
            f"imported {imported} new feeds ({len(entries) - imported} already present or skipped)"
        )
        return 0
    if action == "export":
        feeds = await store.list_feeds(session)
        sys.stdout.write(
            opml.export_opml(
                opml.OpmlFeed(url=f.url, title=f.title or f.url, country=f.country) for f in feeds
            ).decode()
        )
        return 0
    raise AssertionError(action)


def _require_http(url: str) -> None:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"feed URL must start with http:// or https:// (got {url!r})")


def _feed_health_line(feed: store.FeedHealth) -> str:
    if not feed.enabled:
        health = "disabled"
    elif feed.last_status is None:
        health = "never polled"
    elif feed.consecutive_errors:
        health = f"FAILING x{feed.consecutive_errors} ({feed.last_status}: {feed.last_error})"
    else:
        health = feed.last_status
    when = feed.last_polled_at.strftime("%Y-%m-%d %H:%M") if feed.last_polled_at else "-"
    nxt = feed.next_poll_at.strftime("%Y-%m-%d %H:%M") if feed.next_poll_at else "-"
    country = f"\tcountry {feed.country}" if feed.country else ""
    return f"{feed.url}\t{health}\tlast {when}\tnext {nxt}\t{feed.title or ''}{country}"


async def _latest(
    settings: Settings, country: str, limit: int, as_json: bool, include_all: bool
) -> int:
    from monitors import store
    from monitors.db import open_database
    from monitors.detect.countries import default_gazetteer

    code = default_gazetteer().resolve(country)
    engine, sessions = await open_database(settings.database_url)
    try:
        async with sessions() as session:
            views = await store.latest_stories(
                session, [code], limit=limit, cooperation_only=not include_all
            )
            polled = await store.last_poll_at(session)
    finally:
        await engine.dispose()
    if as_json:
        for view in views:
            print(json.dumps(story_json(view), ensure_ascii=False))
        return 0
    if not views:
        when = polled.strftime("%Y-%m-%d %H:%M UTC") if polled else "never"
        print(f"No stories stored for {code} yet (last poll: {when}).")
        return 0
    for view in views:
        print(format_story_line(view))
    return 0


def story_json(view: StoryView) -> dict[str, Any]:
    return {
        "id": view.id,
        "title": view.title,
        "url": view.url,
        "published": view.published_at.isoformat(),
        "countries": list(view.participants),
        "mentioned": list(view.mentioned),
        "defence_cooperation": view.is_defence_cooperation,
        "cooperation_type": view.cooperation_type,
        "score": round(view.score, 4),
        "outlets": [{"name": o.feed_title, "url": o.url} for o in view.outlets],
        "evidence": list(view.evidence),
    }


# --- named watchlists ---------------------------------------------------------------------


def _watchlists(settings: Settings, args: argparse.Namespace) -> int:
    from monitors.detect.countries import default_gazetteer
    from monitors.watchlists import load_watchlists

    path = getattr(args, "file", None) or settings.watchlists_file
    if path is None:
        raise ConfigError(
            "no watchlists file: set [watchlists] file in your settings or DEFWATCH_WATCHLISTS "
            "(example: config/watchlists.example.toml)"
        )
    lists = load_watchlists(Path(path), resolver=default_gazetteer())
    if args.watchlists_command == "check":
        print(f"{path}: {len(lists)} watchlists OK ({', '.join(sorted(lists))})")
        return 0
    if args.watchlists_command == "list":
        counts = asyncio.run(_watchlist_matches(settings, lists, days=7))
        for name, watchlist in sorted(lists.items()):
            matched = len(counts.get(name, []))
            print(f"{name}\t{matched} stories in 7 days\t{watchlist.description}")
        return 0
    name = args.name.lower()
    if name not in lists:
        raise ConfigError(f"{path}: no watchlist {args.name!r} (have: {', '.join(sorted(lists))})")
    views = asyncio.run(_watchlist_matches(settings, {name: lists[name]}, days=args.days))
    stories = views.get(name, [])
    for view in stories:
        print(format_story_line(view))
    print(f"{name}: would have sent {len(stories)} stories in {args.days} days", file=sys.stderr)
    return 0


async def _watchlist_matches(
    settings: Settings, lists: Any, *, days: int
) -> dict[str, list[StoryView]]:
    from datetime import timedelta

    from monitors import store
    from monitors.db import open_database
    from monitors.watchlists import matching_lists

    engine, sessions = await open_database(settings.database_url)
    try:
        async with sessions() as session:
            since = datetime.now(UTC) - timedelta(days=days)
            views = await store.recent_stories(
                session, since=since, cooperation_only=False, limit=10_000
            )
    finally:
        await engine.dispose()
    matched: dict[str, list[StoryView]] = {}
    for view in views:
        story = view.for_alert()
        for name in matching_lists(story, lists):
            matched.setdefault(name, []).append(view)
    return matched


# --- offline tools -------------------------------------------------------------------------


def _open_text(name: str | Path) -> TextIO:
    if str(name) == "-":
        return sys.stdin
    try:
        return open(name, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: {exc.strerror}") from None


def _read_jsonl(name: str | Path) -> Iterator[tuple[int, dict[str, Any] | str]]:
    """(line number, object) per non-blank line; a string instead of an object on bad JSON."""
    handle = _open_text(name)
    try:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                yield number, f"line {number}: not JSON ({exc.msg})"
                continue
            if not isinstance(item, dict):
                yield number, f"line {number}: not a JSON object"
                continue
            yield number, item
    finally:
        if handle is not sys.stdin:
            handle.close()


def _feed_countries() -> dict[str, str]:
    """Source country of each feed URL of the shipped feed list that sets one."""
    from config import data_path
    from monitors.feedlist import load_feed_list

    return {f.url: f.country for f in load_feed_list(data_path("feeds.toml")) if f.country}


def source_country_of(item: dict[str, Any], feed_countries: dict[str, str]) -> str | None:
    """An input line's ``source_country``, else the country of its ``feed`` URL in the feeds
    file, else the state whose official site its feed or its own ``url`` is on
    (``monitors.detect.sources``), else None."""
    from monitors.detect.sources import source_state

    code = item.get("source_country")
    feed = item.get("feed") if isinstance(item.get("feed"), str) else None
    url = item.get("url") if isinstance(item.get("url"), str) else None
    given = code if isinstance(code, str) and code.strip() else feed_countries.get(feed or "")
    return source_state(given, (feed, url))


def _classify(name: str) -> int:
    from monitors.detect.classify import classify

    feed_countries = _feed_countries()
    failures = 0
    for _, item in _read_jsonl(name):
        if isinstance(item, str):
            failures += 1
            print(json.dumps({"id": None, "error": item}))
            continue
        verdict = classify(
            str(item.get("title") or ""),
            str(item.get("summary") or ""),
            item.get("language"),
            source_country_of(item, feed_countries),
        )
        print(
            json.dumps(
                {
                    "id": item.get("id"),
                    "defence_cooperation": verdict.defence_cooperation,
                    "score": round(verdict.score, 4),
                    "countries": list(verdict.participants),
                    "evidence": list(verdict.evidence),
                    "mentioned": list(verdict.mentioned),
                    "cooperation_type": verdict.cooperation_type,
                },
                ensure_ascii=False,
            ),
            flush=False,
        )
    return 1 if failures else 0


def _cluster(name: str) -> int:
    from monitors.regroup import cluster_rows

    rows = []
    for _, item in _read_jsonl(name):
        if isinstance(item, str):
            raise ConfigError(f"{name}: {item}")
        rows.append(item)
    for out in cluster_rows(rows):
        print(json.dumps(out, ensure_ascii=False))
    return 0


async def _rebuild_stories(settings: Settings) -> int:
    from monitors.db import open_database
    from monitors.regroup import rebuild

    engine, sessions = await open_database(settings.database_url)
    try:
        async with sessions.begin() as session:
            report = await rebuild(
                session, progress=lambda n: print(f"{n} articles placed", file=sys.stderr)
            )
    finally:
        await engine.dispose()
    print(
        f"{report.articles} articles: {report.stories_before} stories -> "
        f"{report.stories_after}; {report.alerts_moved} alerts moved to their new story, "
        f"{report.alerts_merged} merged (no alert is sent again)"
    )
    return 0


def _eval(path: Path) -> int:
    from monitors.detect.evaluate import evaluate, format_report

    rows = []
    for _, item in _read_jsonl(path):
        if isinstance(item, str):
            raise ConfigError(f"{path}: {item}")
        rows.append(item)
    print(format_report(evaluate(rows)))
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
