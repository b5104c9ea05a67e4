"""The Telegram application: builder, handler registration, lifecycle and jobs.

Resources are opened in ``post_init`` (database and HTTP client through ``Monitor.open``)
and closed in ``post_shutdown``. The periodic jobs are the table of ``monitors.jobs`` (the
same table the console mode runs), on PTB's JobQueue:

* ``poll``     ``monitor.poll_cycle()`` polls the DUE feeds and writes alerts to the outbox
               in the same transaction as the stories;
* ``purge``    applies ``storage.retention_days``;
* ``deliver``  drains the outbox, then releases alerts held during quiet hours as one digest;
* ``watchlists`` re-reads the named watchlists file when its mtime moved (SIGHUP re-reads it
               at once); after each (re)load the ``@channel`` targets are resolved with getChat
               and the ``target`` rules are synced in one transaction;
* ``digest:<chat id>``  daily at the chat's HH:MM in its time zone, for digest-mode chats.

Stop (SIGTERM, SIGINT): the monitor stops first (no new claims; fetches in flight abandoned,
their leases released), then PTB stops: updates in hand are handled, the delivery job sends
what it has started and puts the rest of its batch back, and the jobs end.

Channel targets are chats with negative ids: PTB's AIORateLimiter applies its group limit
(20 messages a minute) to every negative chat id, so channels get Telegram's channel limit too.

Run: ``TELEGRAM_BOT_TOKEN=… python -m bot.app`` (``TELEGRAM_API_BASE_URL`` for a local Bot API
server or the test emulator).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Mapping
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from datetime import time as dtime
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from telegram import BotCommand, LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    ContextTypes,
    Defaults,
)
from telegram.request import BaseRequest

from bot import routes, views
from bot.args import make_resolver
from bot.commands.general import bot_commands
from bot.delivery import Deliverer
from bot.digests import HELD_TITLES, send_held
from bot.i18n import DEFAULT, LANGUAGES, Tr, tr
from bot.state import BotState, state
from monitors import health, heap, metrics, outbox, subscriptions
from monitors.cli import exit_without_teardown
from monitors.detect.countries import default_gazetteer
from monitors.errors import ConfigError
from monitors.jobs import JOB_KWARGS, jobs_for
from monitors.runner import Monitor
from monitors.settings import Settings, load_settings
from monitors.subscriptions import ChatSettings
from monitors.watch import in_quiet_hours
from monitors.watchlists import Watchlist, WatchlistRegistry

log = logging.getLogger(__name__)

# How long a claimed alert stays leased: after a crash, in-flight alerts wait this long before
# another attempt. It must outlast sending one batch (30 alerts at ~30 msg/s).
MAX_DELIVERY_LEASE = 60.0


def api_urls(base: str) -> tuple[str, str]:
    """(base_url, base_file_url) for PTB from 'http://host:port/bot' (or 'http://host:port')."""
    root = base.rstrip("/")
    root = root.removesuffix("/bot")
    return f"{root}/bot", f"{root}/file/bot"


def build_application(
    settings: Settings, monitor: Monitor | None = None, *, request: BaseRequest | None = None
) -> Application:
    """The bot, with every handler registered; ``monitor`` is opened in post_init if None.

    ``request`` replaces the HTTP transport (tests pass an in-process fake of the Bot API).
    """
    if not settings.bot_token:
        raise ConfigError("TELEGRAM_BOT_TOKEN is not set")
    builder = (
        Application.builder()
        .token(settings.bot_token)
        .defaults(
            Defaults(
                parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)
            )
        )
        # max_retries=0: a RetryAfter reaches bot.delivery, which reschedules the alert
        .rate_limiter(AIORateLimiter(max_retries=0))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if settings.telegram_api_base_url:
        base_url, base_file_url = api_urls(settings.telegram_api_base_url)
        builder = builder.base_url(base_url).base_file_url(base_file_url)
    if request is not None:
        builder = builder.request(request).get_updates_request(request)
    application = builder.build()
    application.bot_data["settings"] = settings
    application.bot_data["monitor"] = monitor
    routes.register(application)
    return application


async def post_init(application: Application) -> None:
    """Open the database and HTTP client, schedule the jobs, publish the command list."""
    settings: Settings = application.bot_data["settings"]
    stack = application.bot_data["stack"] = AsyncExitStack()
    monitor: Monitor | None = application.bot_data.get("monitor")
    if monitor is None:
        monitor = await stack.enter_async_context(Monitor.open(settings))
        application.bot_data["monitor"] = monitor
    await stack.enter_async_context(health.serving(settings, monitor))  # metrics.listen
    deliverer = Deliverer(
        application.bot, monitor.sessions, lease=min(settings.lease_seconds, MAX_DELIVERY_LEASE)
    )
    gazetteer = default_gazetteer()
    resolve = make_resolver(gazetteer)
    # Monitor.open loaded the named watchlists (a broken file already stopped the start); the
    # poll computes list matches from the same registry that /lists and reloads use.
    if monitor.watchlists is None:
        monitor.watchlists = WatchlistRegistry(None, resolver=gazetteer)
    registry = monitor.watchlists
    application.bot_data["watchlists"] = registry
    application.bot_data["state"] = BotState(
        settings=settings,
        sessions=monitor.sessions,
        gazetteer=gazetteer,
        deliverer=deliverer,
        resolve=resolve,
        reschedule_digest=partial(schedule_digest, application),
        watchlists=registry,
    )
    await apply_watchlists(application)
    schedule_jobs(application)
    if registry.path is not None:
        install_sighup(application)
    async with monitor.sessions() as session:
        for chat in await subscriptions.digest_chats(session):
            schedule_digest(application, chat)
    application.bot_data["commands_for"] = commands_in
    await publish_commands(application.bot)


def commands_in(t: Tr) -> list[BotCommand]:
    """The command menu in ``t``'s language (the commands themselves are the same)."""
    return [*bot_commands(t), *views.bot_commands(t)]


async def publish_commands(bot: Any) -> None:
    """The command menu for everyone (English) and for each language's users (Telegram shows
    a user the list of their app's language); a chat that chose a language with /language
    gets its own (``bot.language``)."""
    for code in LANGUAGES:
        if code != DEFAULT:
            await bot.set_my_commands(commands_in(tr(code)), language_code=code)
    await bot.set_my_commands(commands_in(tr(None)))  # last: tests take it as "started"


async def post_shutdown(application: Application) -> None:
    """Close what post_init opened, after a last try at recording sends the database refused."""
    st: BotState | None = application.bot_data.get("state")
    if st is not None and not await st.deliverer.flush_unrecorded():
        log.error(
            "stopping with %d sent messages not recorded (the database is away): their alerts "
            "will be sent again once their claims expire",
            st.deliverer.unrecorded,
        )
    if application.bot_data.pop("sighup", False):
        asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
    stack: AsyncExitStack | None = application.bot_data.pop("stack", None)
    if stack is not None:
        await stack.aclose()


# --- named watchlists (issue 7) -----------------------------------------------------------------


async def target_chat_ids(bot: Any, lists: Mapping[str, Watchlist]) -> dict[str, list[int]]:
    """{list name: chat ids} with ``@channel`` names resolved by getChat (failures skipped)."""
    resolved: dict[str, int] = {}
    for channel in sorted({c for w in lists.values() for c in w.channel_targets}):
        try:
            chat = await bot.get_chat(channel)
        except TelegramError as exc:
            log.warning("watchlist target %s skipped: %s", channel, exc)
            continue
        if not chat.id:
            log.warning("watchlist target %s skipped: no chat id", channel)
            continue
        resolved[channel] = chat.id
    return {
        name: [*w.chat_targets, *(resolved[c] for c in w.channel_targets if c in resolved)]
        for name, w in lists.items()
    }


async def apply_watchlists(application: Application) -> None:
    """After a (re)load: make the ``target`` rules match the file, in one transaction."""
    registry: WatchlistRegistry = application.bot_data["watchlists"]
    targets = await target_chat_ids(application.bot, registry.lists)
    st: BotState = application.bot_data["state"]
    async with st.sessions.begin() as session:
        added, removed = await subscriptions.sync_targets(session, targets, st.clock())
    if added or removed:
        log.info("watchlist targets: %d added, %d removed", added, removed)


async def reload_watchlists(application: Application, *, force: bool) -> None:
    """Re-read the file (always with ``force``, else when its mtime moved) and apply it."""
    registry: WatchlistRegistry = application.bot_data["watchlists"]
    changed = registry.reload() if force else registry.reload_if_changed()
    if changed:
        await apply_watchlists(application)


async def watchlists_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await reload_watchlists(context.application, force=False)


def install_sighup(application: Application) -> None:
    """SIGHUP re-reads the watchlists file (where the platform has it)."""
    if not hasattr(signal, "SIGHUP"):
        return
    try:
        asyncio.get_running_loop().add_signal_handler(
            signal.SIGHUP,
            lambda: application.create_task(reload_watchlists(application, force=True)),
        )
    except (NotImplementedError, RuntimeError):  # not the main thread, or no signals here
        return
    application.bot_data["sighup"] = True


def schedule_jobs(application: Application) -> None:
    """The periodic jobs of ``monitors.jobs``, on PTB's JobQueue."""
    job_queue = application.job_queue
    assert job_queue is not None, "python-telegram-bot[job-queue] is required"
    actions = {
        "poll": poll_job,
        "purge": purge_job,
        "deliver": delivery_job,
        "watchlists": watchlists_job,
    }
    for job in jobs_for(application.bot_data["settings"], telegram=True):
        job_queue.run_repeating(
            actions[job.name],
            interval=job.every,
            first=job.first,
            name=job.name,
            job_kwargs=JOB_KWARGS,
        )


def install_stop_signals(application: Application, loop: asyncio.AbstractEventLoop) -> None:
    """SIGTERM / SIGINT: stop the monitor first, then PTB's own stop (see the docstring).

    PTB's handler raises ``SystemExit`` to leave its loop; this one does the same after
    telling the monitor, so the poll job in flight returns at once instead of finishing its
    cycle (PTB waits for running jobs).
    """

    def on_signal() -> None:
        monitor: Monitor | None = application.bot_data.get("monitor")
        if monitor is not None:
            monitor.stop()
        raise SystemExit

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, on_signal)


def schedule_digest(application: Application, chat: ChatSettings) -> None:
    """(Re)schedule one chat's daily digest job, or remove it when the chat is instant."""
    job_queue = application.job_queue
    if job_queue is None:
        return
    name = f"digest:{chat.id}"
    for job in job_queue.get_jobs_by_name(name):
        job.schedule_removal()
    if chat.delivery_mode != "digest" or not chat.active:
        return
    hours, minutes = (int(x) for x in chat.digest_time.split(":"))
    job_queue.run_daily(
        digest_job,
        time=dtime(hours, minutes, tzinfo=ZoneInfo(chat.timezone)),
        name=name,
        chat_id=chat.id,
        job_kwargs=JOB_KWARGS,
    )


async def poll_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Poll the feeds that are due; new stories enqueue their alerts."""
    monitor: Monitor = context.bot_data["monitor"]
    report = await monitor.poll_cycle()
    if report.alerts and context.job_queue is not None:
        # New alerts: wake the delivery job now instead of at its next tick (if it is running,
        # max_instances=1 skips this wake-up and its loop picks the alerts up anyway).
        for job in context.job_queue.get_jobs_by_name("deliver"):
            job.job.modify(next_run_time=datetime.now(UTC))


async def purge_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Apply ``storage.retention_days``."""
    monitor: Monitor = context.bot_data["monitor"]
    await monitor.purge_job()


async def delivery_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """Drain the outbox; then send alerts held through quiet hours that have ended."""
    st = state(context)
    # Once the application is stopping, claim no new batch and put back what is not sent
    # yet, so the stop is quick and a restart resumes where this one left off.
    report = await st.deliverer.deliver_due(keep_going=lambda: context.application.running)
    if not context.application.running:
        return
    edits = await st.deliverer.edit_stale()
    metrics.record_deliveries("message", report.outcomes)
    metrics.record_deliveries("edit", edits.outcomes)
    if edits.sent or edits.retried or edits.failed:
        log.info(
            "story edits: %d done, %d retried, %d given up", edits.sent, edits.retried, edits.failed
        )
    if report.sent or report.retried or report.failed:
        log.info(
            "delivery: %d sent, %d retried, %d failed, %d chats deactivated",
            report.sent,
            report.retried,
            report.failed,
            report.deactivated,
        )
    async with st.sessions() as session:
        held = await outbox.chats_with_held(session)
        chats = [await subscriptions.get_chat(session, chat_id) for chat_id in held]
    now = st.clock()
    for chat in chats:
        if (
            chat is not None
            and chat.delivery_mode == "instant"
            and not in_quiet_hours(now, chat.timezone, chat.quiet_start, chat.quiet_end)
        ):
            await send_held(st.deliverer, chat.id, HELD_TITLES["away"])


async def digest_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    """A digest-mode chat's daily digest of its held alerts."""
    job = context.job
    assert job is not None and job.chat_id is not None
    await send_held(state(context).deliverer, job.chat_id, HELD_TITLES["daily"])


def run_bot(settings: Settings) -> None:
    """Run the bot with long polling until SIGINT/SIGTERM."""
    # Bot API URLs embed the token: keep httpx's per-request INFO lines out of the logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run otherwise
    os.environ.setdefault("PTB_TIMEDELTA", "1")  # RetryAfter.retry_after as a timedelta
    application = build_application(settings)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # the loop run_polling picks up
    install_stop_signals(application, loop)
    heap.settle()  # what the start made lives as long as the process
    application.run_polling(allowed_updates=Update.ALL_TYPES, stop_signals=None)


def main() -> None:
    logging.basicConfig(
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO
    )
    run_bot(load_settings())
    exit_without_teardown(0)  # everything is closed: skip the slow interpreter teardown


if __name__ == "__main__":
    main()
