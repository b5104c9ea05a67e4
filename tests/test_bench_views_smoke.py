"""``bench/bench_views.py`` runs at a tiny size and prints its tables, so it cannot rot."""

from __future__ import annotations

import pytest

from tests.test_bench_smoke import run_bench


@pytest.mark.slow  # runs a benchmark script as a subprocess
def test_bench_views_tiny() -> None:
    out = run_bench("bench_views.py", "--stories", "40", "--partners", "6")
    assert "partners 90d" in out and "baseline: partners drawn on the loop" in out
    assert "cached view <= 50 ms" in out
