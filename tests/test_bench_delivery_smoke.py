"""``bench/bench_delivery.py`` at a tiny size (60 alerts), so the delivery benchmark cannot rot.

The benchmark itself is not part of the test suite; see bench/README.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TG_EMULATOR_DIR = ROOT.parent / "shared" / "tg-emulator"


@pytest.mark.emulator
@pytest.mark.slow
@pytest.mark.skipif(
    not (TG_EMULATOR_DIR / "emulator.js").is_file(), reason="../shared/tg-emulator absent"
)
@pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("npm") is None,
    reason="node and npm are needed to run the tg-emulator",
)
def test_bench_delivery_tiny() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DEFWATCH_", "TELEGRAM_"))}
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "bench_delivery.py"), "--alerts", "60"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "SKIP" not in out, out
    assert "Delivery: 60 alerts to 60 chats" in out, out
    for row in ("naive loop, flood off", "Deliverer, flood off", "Deliverer, flood 30/s"):
        assert row in out, out
    assert "targets" in out and "flood on: no message lost" in out
    assert "Where the time goes" in out
