"""The one table of periodic jobs, for every way of running defwatch. Pure.

    job         every                                   first run   runs in
    poll        poll interval / 4, within [1 s, 30 s]   at once     console and bot
    purge       6 h                                     after 5 s   console and bot
    deliver     telegram.delivery_interval_seconds      after 0.5 s bot
    watchlists  5 s (with a watchlists file)            after 5 s   bot

``defwatch run`` / ``defwatch poll`` (console, ``monitors.cli``) and the bot (``bot.app``)
both schedule ``jobs_for(settings, telegram=...)``: each maps every name it is given to its
action, so a job added here runs in every mode it is meant for, or the start fails loudly.
A poll only polls the feeds that are due, so a short tick costs one small query. Retention
(``storage.retention_days``) runs at start and then every 6 hours, so a process restarted
often still purges. Digests are not periodic: the bot schedules one daily job per
digest-mode chat at the chat's own time (``bot.app.schedule_digest``).

Every job runs with ``coalesce`` and ``max_instances=1`` (``JOB_KWARGS``): a slow run is never
overlapped by the next, and missed runs collapse into one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitors.settings import Settings

JOB_KWARGS: dict[str, Any] = {"coalesce": True, "max_instances": 1}
MAX_POLL_TICK = 30.0
MIN_POLL_TICK = 1.0
PURGE_EVERY = 6 * 3600.0
PURGE_FIRST = 5.0
WATCHLISTS_EVERY = 5.0


@dataclass(frozen=True, slots=True)
class JobSpec:
    """One periodic job: its name, how often it runs and when first (seconds)."""

    name: str
    every: float
    first: float


def poll_tick(poll_interval: float) -> float:
    return max(MIN_POLL_TICK, min(MAX_POLL_TICK, poll_interval / 4))


def jobs_for(settings: Settings, *, telegram: bool) -> list[JobSpec]:
    """The jobs to schedule: all of them with Telegram (the bot), else poll and purge."""
    jobs = [
        JobSpec("poll", every=poll_tick(settings.poll_interval), first=0.0),
        JobSpec("purge", every=PURGE_EVERY, first=PURGE_FIRST),
    ]
    if telegram:
        jobs.append(JobSpec("deliver", every=settings.delivery_interval, first=0.5))
        if settings.watchlists_file is not None:
            jobs.append(JobSpec("watchlists", every=WATCHLISTS_EVERY, first=WATCHLISTS_EVERY))
    return jobs


__all__ = ["JOB_KWARGS", "JobSpec", "jobs_for", "poll_tick"]
