"""monitors.backoff: a table of cases and bound properties."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitors.backoff import DEFAULT_CAP, backoff_ceiling, next_poll_delay

HOUR = 3600.0
DAY = 86_400.0


@pytest.mark.parametrize(
    ("errors", "interval", "retry_after", "cap", "low", "high"),
    [
        pytest.param(0, 900, None, DAY, 810, 990, id="healthy: interval with 10% jitter"),
        pytest.param(1, 900, None, DAY, 900, 1800, id="one error: up to twice the interval"),
        pytest.param(2, 900, None, DAY, 900, 3600, id="two errors: up to four times"),
        pytest.param(5, 900, None, DAY, 900, 28_800, id="five errors: up to 32 times"),
        pytest.param(10, 900, None, DAY, 900, DAY, id="many errors: capped at a day"),
        pytest.param(10_000, 900, None, DAY, 900, DAY, id="absurd error count does not overflow"),
        pytest.param(1, 900, 7200, DAY, 7200, 7200, id="retry-after above ceiling wins"),
        pytest.param(3, 900, 60, DAY, 900, 7200, id="small retry-after does not shorten backoff"),
        pytest.param(0, 900, 3600, DAY, 3600, 3600, id="retry-after honoured when healthy"),
        pytest.param(2, 900, 30 * DAY, DAY, DAY, DAY, id="retry-after above cap is clamped"),
        pytest.param(4, 900, None, HOUR, 900, HOUR, id="custom cap"),
        pytest.param(0, 2 * DAY, None, DAY, DAY, DAY, id="interval above cap is clamped"),
        pytest.param(3, 2 * DAY, None, DAY, DAY, DAY, id="failing with interval above cap"),
        pytest.param(1, 900, 0, DAY, 900, 1800, id="zero retry-after ignored"),
        pytest.param(1, 900, -5, DAY, 900, 1800, id="negative retry-after ignored"),
    ],
)
def test_next_poll_delay_table(
    errors: int,
    interval: float,
    retry_after: float | None,
    cap: float,
    low: float,
    high: float,
) -> None:
    rng = random.Random(1234)
    for _ in range(200):
        delay = next_poll_delay(
            errors, interval=interval, retry_after=retry_after, cap=cap, rng=rng
        )
        assert low <= delay <= high


def test_jitter_actually_varies() -> None:
    rng = random.Random(7)
    delays = {round(next_poll_delay(3, interval=600, rng=rng)) for _ in range(50)}
    assert len(delays) > 10


def test_seeded_rng_is_reproducible() -> None:
    first = [next_poll_delay(n, interval=600, rng=random.Random(42)) for n in range(6)]
    again = [next_poll_delay(n, interval=600, rng=random.Random(42)) for n in range(6)]
    assert first == again


def test_default_rng_works() -> None:
    assert 540 <= next_poll_delay(0, interval=600) <= 660


@pytest.mark.parametrize(
    "kwargs",
    [
        pytest.param({"consecutive_errors": 0, "interval": 0}, id="zero interval"),
        pytest.param({"consecutive_errors": 0, "interval": -1}, id="negative interval"),
        pytest.param({"consecutive_errors": -1, "interval": 60}, id="negative error count"),
        pytest.param({"consecutive_errors": 1, "interval": 60, "cap": 0}, id="zero cap"),
    ],
)
def test_invalid_arguments(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        next_poll_delay(**kwargs)  # type: ignore[arg-type]


def test_ceiling_grows_then_stops() -> None:
    ceilings = [backoff_ceiling(n, interval=600) for n in range(20)]
    assert ceilings == sorted(ceilings)
    assert ceilings[-1] == DEFAULT_CAP


@given(
    errors=st.integers(min_value=0, max_value=200),
    interval=st.floats(min_value=1, max_value=10 * DAY),
    retry_after=st.none() | st.floats(min_value=-10, max_value=100 * DAY),
    cap=st.floats(min_value=1, max_value=30 * DAY),
    seed=st.integers(min_value=0, max_value=2**32),
)
def test_bounds_property(
    errors: int, interval: float, retry_after: float | None, cap: float, seed: int
) -> None:
    delay = next_poll_delay(
        errors, interval=interval, retry_after=retry_after, cap=cap, rng=random.Random(seed)
    )
    assert 0 < delay <= cap
    if retry_after is not None and retry_after > 0:
        assert delay >= min(retry_after, cap)
    if errors > 0:
        assert delay >= min(interval, cap)  # a failing feed is never polled more often
        assert delay <= max(
            backoff_ceiling(errors, interval=interval, cap=cap), min(retry_after or 0, cap)
        )
    else:
        assert delay >= min(interval * 0.9, cap)
