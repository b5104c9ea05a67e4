"""Helpers shared by the defwatch benchmarks (``bench/bench_*.py``).

* ``REPO`` / ``REAL_FEEDS``: where the code and the real-feed corpus are; importing this module
  puts the repository on ``sys.path`` so ``python bench/x.py`` works from a clean clone.
* ``real_feeds()``: the 66 real feed documents (the three ``notafeed-*`` pages and
  ``SOURCES.md`` left out), decoded bytes plus what a server would send.
* ``CpuMeter``: CPU seconds and peak RSS of this process *and its children*, live ones
  included (a process pool's workers are read from ``/proc`` since ``getrusage`` only counts
  children that have exited).
* ``ServerProcess`` / ``feed_urls()``: N feeds made from those documents, served by
  ``tests/feedserver.py`` in a separate process with added latency per response.
* ``table()``: a small fixed-width table.
"""

from __future__ import annotations

import gzip
import multiprocessing
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


def real_feeds(folder: Path = REAL_FEEDS, *, max_bytes: int | None = None) -> list[FeedDoc]:
    """Every real feed document of the corpus, in name order (not-a-feed pages left out;
    with ``max_bytes``, those larger than that once decoded too)."""
    from tests.feedserver import content_type_for

    if not folder.is_dir():
        raise SystemExit(f"{folder} not found: the real-feed corpus is needed")
    docs = []
    for path in sorted(folder.iterdir()):
        if not path.is_file() or path.suffix == ".md" or path.name.startswith("notafeed-"):
            continue
        body = path.read_bytes()
        raw_gzip = path.suffix.lower() == ".gz"
        decoded = gzip.decompress(body) if raw_gzip else body
        if max_bytes is not None and len(decoded) > max_bytes:
            continue
        docs.append(
            FeedDoc(
                name=path.name,
                body=body,
                decoded=decoded,
                content_type=content_type_for(path),
                raw_gzip=raw_gzip,
            )
        )
    return docs


# --- the feed server, in its own process ---------------------------------------------------

ROUTE = "/feed/{i}/{name}"


# --- the feed server, in its own process ------------------------------------------------------


def _serve(folder: str, feeds: int, latency: float, max_bytes: int | None, conn) -> None:
    # runs in the child process
    sys.path.insert(0, str(REPO))
    import tests.feedserver as fs

    fs._Server.request_queue_size = 1024  # a burst of connections must not overflow backlog 5
    docs = real_feeds(Path(folder), max_bytes=max_bytes)
    with fs.FeedServer() as server:
        for i in range(feeds):
            doc = docs[i % len(docs)]
            server.add(
                ROUTE.format(i=i, name=doc.name),
                doc.body,
                content_type=doc.content_type,
                raw_gzip=doc.raw_gzip,
                etag=f'"{i}-v1"',
                delay=latency,
            )
        conn.send(server.base_url)
        while True:
            message = conn.recv()
            if message[0] == "stop":
                break
            if message[0] == "set":  # ("set", path, body, etag)
                _, path, body, etag = message
                server.add(path, body, etag=etag, delay=latency)
                conn.send("ok")
            if message[0] == "hits":
                conn.send(server.hits(message[1]))


class ServerProcess:
    """``tests/feedserver.py`` in its own process (its CPU is not ours), serving ``feeds``
    feeds made from the real documents (those of at most ``max_bytes`` decoded, if given),
    each at ``ROUTE`` with an ETag, ``latency`` seconds before every response."""

    def __init__(self, feeds: int, latency: float, max_bytes: int | None = None) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(
            target=_serve, args=(str(REAL_FEEDS), feeds, latency, max_bytes, child), daemon=True
        )
        self.process.start()
        self.base_url: str = self.conn.recv()

    def set(self, path: str, body: bytes, etag: str) -> None:
        self.conn.send(("set", path, body, etag))
        self.conn.recv()

    def close(self) -> None:
        self.conn.send(("stop",))
        self.process.join(10)


def feed_urls(base_url: str, docs, feeds: int) -> list[str]:
    return [base_url + ROUTE.format(i=i, name=docs[i % len(docs)].name) for i in range(feeds)]


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
