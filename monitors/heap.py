"""How often a service process's garbage collector runs (``defwatch run``, ``defwatch poll``).

Why: a poll keeps what it knows of thousands of stories between batches
(``store.KeptStories``, ``grouping``'s caches of decoded signatures and screens): several
hundred thousand sets and tuples that live as long as the process. Each full collection walks
every one of them, and with CPython's default thresholds (700, 10, 10) the objects a batch
makes and drops trigger one every few batches while those caches fill or turn over. Storing
66 feeds' 2,009 reports into a database of a million articles (``bench/bench_storage.py``)
ran three full collections of 0.11-0.2 s each: 0.4 s of 2.7 s.

Rules (``settle``, called once when a service process has started, before its first poll):

1. What the start made (modules, the gazetteer, the settings) is moved out of the collector's
   sight (``gc.freeze``) after one collection: it lives until the process ends.
2. The youngest generation is collected after ``YOUNG_THRESHOLD`` new containers instead of
   700, so full collections come about 14 times less often; each still frees every cycle,
   and a batch's garbage is mostly freed by reference counting, not by the collector.

Nothing else changes: a collection frees the same objects, only less often.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 10_000
"""New containers between two collections of the youngest generation (CPython's default: 700);
the older generations keep CPython's defaults (collected every 10 collections of the one
below)."""


def settle() -> None:
    """Set the collector for a long-running service process (the module's rules)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
