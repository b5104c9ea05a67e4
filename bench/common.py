"""Helpers shared by the defwatch benchmarks (``bench/bench_*.py``).

* ``REPO`` / ``REAL_FEEDS``: where the code and the real-feed corpus are; importing this module
  puts the repository on ``sys.path`` so ``python bench/x.py`` works from a clean clone.
* ``real_feeds()``: the 66 real feed documents (the three ``notafeed-*`` pages and
  ``SOURCES.md`` left out), decoded bytes plus what a server would send.
* ``CpuMeter``: CPU seconds and peak RSS of this process *and its children*, live ones
  included (a process pool's workers are read from ``/proc`` since ``getrusage`` only counts
  children that have exited).
* ``table()``: a small fixed-width table.
"""

from __future__ import annotations

import gzip
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

REAL_FEEDS = REPO.parent / "shared" / "corpora" / "real-feeds"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class FeedDoc:
    name: str
    body: bytes  # as served (gzip bytes for *.gz)
    decoded: bytes  # what a parser sees
    content_type: str
    raw_gzip: bool


def real_feeds(folder: Path = REAL_FEEDS) -> list[FeedDoc]:
    """Every real feed document of the corpus, in name order (not-a-feed pages left out)."""
    from tests.feedserver import content_type_for

    if not folder.is_dir():
        raise SystemExit(f"{folder} not found: the real-feed corpus is needed")
    docs = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix == ".md" or path.name.startswith("notafeed-"):
            continue
        body = path.read_bytes()
        raw_gzip = path.suffix.lower() == ".gz"
        docs.append(
            FeedDoc(
                name=path.name,
                body=body,
                decoded=gzip.decompress(body) if raw_gzip else body,
                content_type=content_type_for(path),
                raw_gzip=raw_gzip,
            )
        )
    return docs


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as handle:
            return [int(p) for p in handle.read().split()]
    except OSError:
        return []


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK  # utime + stime


def _proc_hwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class CpuMeter:
    """CPU seconds of this process and its children (exited and live), minus ``exclude`` pids.

    ``exclude`` names helper processes that are not the system under test (the feed server).
    """

    def __init__(self, exclude: set[int] | None = None) -> None:
        self.exclude = exclude or set()

    def _live_children(self) -> list[int]:
        out, todo = [], _children(os.getpid())
        while todo:
            pid = todo.pop()
            if pid in self.exclude:
                continue
            out.append(pid)
            todo.extend(_children(pid))
        return out

    def cpu(self) -> float:
        me = resource.getrusage(resource.RUSAGE_SELF)
        done = resource.getrusage(resource.RUSAGE_CHILDREN)
        live = sum(_proc_cpu(pid) for pid in self._live_children())
        return me.ru_utime + me.ru_stime + done.ru_utime + done.ru_stime + live

    def peak_rss_mb(self) -> tuple[float, float]:
        """(peak RSS of this process, largest peak RSS of any child) in MB."""
        me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        done = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        live = max((_proc_hwm_mb(pid) for pid in self._live_children()), default=0.0)
        return me, max(done, live)


class Stopwatch:
    """Wall and CPU (CpuMeter) seconds of a ``with`` block."""

    def __init__(self, meter: CpuMeter) -> None:
        self.meter = meter
        self.wall = self.cpu = 0.0

    def __enter__(self) -> Stopwatch:
        self._wall0, self._cpu0 = time.perf_counter(), self.meter.cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall0
        self.cpu = self.meter.cpu() - self._cpu0


def table(title: str, header: list[str], rows: list[list[object]]) -> str:
    """A fixed-width text table (first column left-aligned, others right-aligned)."""
    cells = [header] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]

    def line(row: list[str]) -> str:
        parts = [
            row[i].ljust(widths[i]) if i == 0 else row[i].rjust(widths[i]) for i in range(len(row))
        ]
        return "  ".join(parts).rstrip()

    rule = "-" * len(line(header))
    return "\n".join([title, rule, line(header), rule, *(line(r) for r in cells[1:]), rule])


def _cell(value: object) -> str:
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:.2f}"
        return f"{value:.3g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"
