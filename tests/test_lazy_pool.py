"""The poll's lazy CPU pool (``runner.LazyProcessPool``): made on the first job, in a thread
of its own, so the caller (the event loop) is not held while the workers start; jobs
submitted meanwhile reach the pool in order and their outcomes reach the caller.

The pool here is a thread pool whose making waits on a gate: what is tested is the relay,
not the fork server (``test_startup.py`` starts the real one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Executor, ThreadPoolExecutor

import pytest

from monitors.runner import LazyProcessPool


class GatedMaker:
    """``make`` for the pool: blocks until ``open()``, then returns a one-thread pool (or
    raises ``error``); counts how often it was called."""

    def __init__(self, error: Exception | None = None) -> None:
        self.gate = threading.Event()
        self.calls = 0
        self.error = error
        self.made: ThreadPoolExecutor | None = None

    def __call__(self) -> Executor:
        self.calls += 1
        self.gate.wait(timeout=10)
        if self.error is not None:
            raise self.error
        self.made = ThreadPoolExecutor(max_workers=1)
        return self.made


def _fail(message: str) -> None:
    raise ValueError(message)


def test_submit_returns_at_once_while_the_pool_is_being_made() -> None:
    maker = GatedMaker()
    pool = LazyProcessPool(maker)
    before = time.monotonic()
    futures = [pool.submit(pow, 2, n) for n in range(5)]
    held = time.monotonic() - before
    assert pool.started and not any(f.done() for f in futures)
    assert held < 5  # the gate is still shut: submit did not wait for it
    maker.gate.set()
    assert [f.result(timeout=10) for f in futures] == [1, 2, 4, 8, 16]
    assert maker.calls == 1
    pool.shutdown()


def test_jobs_after_the_start_go_straight_to_the_pool() -> None:
    maker = GatedMaker()
    maker.gate.set()
    pool = LazyProcessPool(maker)
    assert pool.submit(str, 1).result(timeout=10) == "1"
    assert pool.submit(str, 2).result(timeout=10) == "2"
    assert maker.calls == 1
    pool.shutdown()


@pytest.mark.parametrize(
    ("job", "expected"),
    [
        pytest.param(lambda pool: pool.submit(_fail, "bad entry"), "bad entry", id="job-raises"),
        pytest.param(lambda pool: pool.submit(int, "x"), "invalid literal", id="builtin-raises"),
    ],
)
def test_a_failing_job_fails_its_own_future(
    job: Callable[[LazyProcessPool], object], expected: str
) -> None:
    maker = GatedMaker()
    pool = LazyProcessPool(maker)
    future = job(pool)
    fine = pool.submit(len, "abc")
    maker.gate.set()
    with pytest.raises(ValueError, match=expected):
        future.result(timeout=10)  # type: ignore[attr-defined]
    assert fine.result(timeout=10) == 3
    pool.shutdown()


def test_a_pool_that_cannot_start_fails_every_waiting_job_with_the_reason() -> None:
    maker = GatedMaker(error=OSError("no fork server"))
    pool = LazyProcessPool(maker)
    futures = [pool.submit(len, "a"), pool.submit(len, "b")]
    maker.gate.set()
    for future in futures:
        with pytest.raises(OSError, match="no fork server"):
            future.result(timeout=10)
    pool.shutdown()  # nothing to stop; does not raise


def test_shutdown_before_any_job_starts_nothing() -> None:
    maker = GatedMaker()
    pool = LazyProcessPool(maker)
    pool.shutdown()
    assert not pool.started and maker.calls == 0


def test_a_job_cancelled_before_the_pool_is_up_never_runs() -> None:
    maker = GatedMaker()
    pool = LazyProcessPool(maker)
    ran: list[int] = []
    cancelled = pool.submit(ran.append, 1)
    kept = pool.submit(ran.append, 2)
    assert cancelled.cancel()
    maker.gate.set()
    kept.result(timeout=10)
    pool.shutdown()
    assert ran == [2]
    with pytest.raises(CancelledError):
        cancelled.result(timeout=1)


def test_shutdown_waits_for_a_pool_still_starting_and_stops_it() -> None:
    maker = GatedMaker()
    pool = LazyProcessPool(maker)
    future = pool.submit(len, "ab")
    threading.Timer(0.2, maker.gate.set).start()
    pool.shutdown(wait=True)
    assert maker.made is not None
    with pytest.raises(RuntimeError, match="shutdown"):
        maker.made.submit(len, "x")  # the pool it made is stopped
    assert future.result(timeout=0) == 2  # handed over before the pool stopped, and run


def test_a_failed_start_is_tried_again_by_the_next_job() -> None:
    maker = GatedMaker(error=OSError("no fork server"))
    maker.gate.set()
    pool = LazyProcessPool(maker)
    with pytest.raises(OSError):
        pool.submit(len, "a").result(timeout=10)
    maker.error = None
    assert pool.submit(len, "ab").result(timeout=10) == 2
    assert maker.calls == 2
    pool.shutdown()
