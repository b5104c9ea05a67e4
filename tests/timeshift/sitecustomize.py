"""Moves this interpreter's clock when ``TEST_CLOCK_SHIFT_DAYS`` is set.

Put this folder on ``PYTHONPATH`` and every Python process started with that environment
(pytest, and each ``defwatch`` subprocess a test starts) imports it at start-up and sees
the same shifted clock, still ticking. It proves that no test depends on today's date::

    TEST_CLOCK_SHIFT_DAYS=365 PYTHONPATH=tests/timeshift \\
        .venv/bin/python -m pytest -W ignore::pytest.PytestAssertRewriteWarning

(time-machine's pytest plugin is imported before pytest can rewrite it; the warning says so
and nothing more.)
"""

from __future__ import annotations

import os

_days = os.environ.get("TEST_CLOCK_SHIFT_DAYS")
if _days:
    import datetime as _datetime

    import time_machine

    _destination = _datetime.datetime.now(_datetime.UTC) + _datetime.timedelta(days=float(_days))
    time_machine.travel(_destination, tick=True).start()
    # A ticking travel starts its clock at the first reading, not at ``start()``: read it now,
    # or a process that imports for seconds first (the bot) runs that far behind the test
    # process, and an alert the test enqueues "now" is not yet due for the bot.
    _datetime.datetime.now(_datetime.UTC)
