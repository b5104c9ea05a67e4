"""The service process's collector settings (``monitors.heap``), checked in a child process:
freezing and thresholds are process-wide, and the test process keeps its own."""

from __future__ import annotations

import json
import subprocess
import sys

CHILD = """
import gc, json, weakref
from monitors import heap

class Node:
    pass

started = [Node() for _ in range(3)]  # made by the start: frozen
heap.settle()
frozen = gc.get_freeze_count()
cycle = Node()
cycle.self = cycle  # garbage only the collector frees
gone = weakref.ref(cycle)
del cycle
gc.collect()
print(json.dumps({
    "threshold": gc.get_threshold(),
    "frozen": frozen,
    "cycle_freed": gone() is None,
    "young": heap.YOUNG_THRESHOLD,
}))
"""


def run_child() -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(result.stdout)


def test_settling_freezes_the_start_and_collects_the_young_less_often() -> None:
    seen = run_child()
    assert seen["threshold"] == [seen["young"], 10, 10]
    assert seen["young"] > 700  # CPython's default: what the module is for
    assert isinstance(seen["frozen"], int) and seen["frozen"] > 1000  # the modules imported


def test_a_settled_process_still_frees_cycles() -> None:
    assert run_child()["cycle_freed"] is True
