"""The operator's listener: ``/metrics``, ``/healthz`` and ``/readyz`` on ``metrics.listen``.

    async with serving(settings, monitor):      # nothing happens when metrics.listen is empty
        ...                                     # run the poll loop / the bot

Rules:
- Off unless ``metrics.listen`` (or ``DEFWATCH_METRICS_LISTEN``) is set; it binds exactly the
  host given there (the shipped example is loopback), so nothing listens on another address
  unless the operator names it.
- ``GET /metrics``: the Prometheus text format of ``monitors.metrics.REGISTRY``; the database
  gauges are refreshed first (a database that does not answer sets ``defwatch_database_up 0``
  and the rest is still served).
- ``GET /healthz``: 200 ``{"status": "ok"}`` when the database answers ``SELECT 1`` within
  ``DB_TIMEOUT`` seconds and a poll cycle finished within two poll intervals (counted from
  the listener's start until the first one); otherwise 503 with ``{"status": "unhealthy",
  "reason": ...}``.
- ``GET /readyz``: 200 once this process has migrated the database (the listener starts
  after that) and finished its first poll cycle; 503 before.
- A tiny HTTP/1.1 server on the event loop (one request per connection), so the database
  checks use the process's own engine. Anything else gets 404 (405 for other methods).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from prometheus_client import generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from monitors import metrics
from monitors.errors import ConfigError
from monitors.settings import Settings

log = logging.getLogger(__name__)

DB_TIMEOUT = 3.0
# The classic text format that ``generate_latest`` writes; every Prometheus version reads it.
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
REQUEST_TIMEOUT = 5.0
_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class Monitored(Protocol):
    """What the listener needs of ``monitors.runner.Monitor``."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


def _json(code: int, **fields: Any) -> Response:
    return Response(code, json.dumps(fields).encode() + b"\n")


class OperatorEndpoints:
    """Answers the three paths for one monitor; ``started`` is a ``time.monotonic()``."""

    def __init__(self, monitor: Monitored, poll_interval: float, started: float) -> None:
        self.monitor = monitor
        self.poll_interval = poll_interval
        self.started = started
        metrics.POLL_INTERVAL.set(poll_interval)

    async def respond(self, method: str, path: str) -> Response:
        path = path.split("?", 1)[0]
        if path not in ("/metrics", "/healthz", "/readyz"):
            return _json(404, status="not found", paths=["/metrics", "/healthz", "/readyz"])
        if method not in ("GET", "HEAD"):
            return _json(405, status="method not allowed")
        if path == "/metrics":
            return await self.metrics()
        if path == "/healthz":
            return await self.healthz()
        return self.readyz()

    async def metrics(self) -> Response:
        try:
            async with asyncio.timeout(DB_TIMEOUT), self.monitor.sessions() as session:
                await metrics.refresh_database_gauges(session, datetime.now(UTC))
            metrics.DATABASE_UP.set(1)
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            metrics.DATABASE_UP.set(0)
            log.debug("metrics: database gauges not refreshed: %s", exc)
        except Exception:  # a bug here must not hide behind "database down"
            log.exception("metrics: database gauges not refreshed")
        return Response(200, generate_latest(metrics.REGISTRY), PROMETHEUS_TEXT)

    async def healthz(self) -> Response:
        problem = await self.database_problem()
        if problem is not None:
            return _json(503, status="unhealthy", reason=f"database: {problem}")
        last = metrics.cycle_clock.last_finished
        since = time.monotonic() - max(last if last is not None else self.started, self.started)
        if since > 2 * self.poll_interval:
            return _json(
                503,
                status="unhealthy",
                reason=f"no poll cycle finished for {since:.0f}s "
                f"(poll interval {self.poll_interval:g}s)",
            )
        return _json(200, status="ok")

    def readyz(self) -> Response:
        last = metrics.cycle_clock.last_finished
        if last is None or last < self.started:
            return _json(503, status="not ready", reason="waiting for the first poll cycle")
        return _json(200, status="ready")

    async def database_problem(self) -> str | None:
        try:
            async with asyncio.timeout(DB_TIMEOUT), self.monitor.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except TimeoutError:
            return f"no answer within {DB_TIMEOUT:g}s"
        except Exception as exc:
            return f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:200]
        return None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(REQUEST_TIMEOUT):
                request_line = (await reader.readline()).decode("latin-1").split()
                while (await reader.readline()).strip():  # headers: not needed
                    pass
            if len(request_line) < 2:
                return
            method, path = request_line[0], request_line[1]
            response = await self.respond(method, path)
            head = (
                f"HTTP/1.1 {response.status} {_REASONS.get(response.status, '')}\r\n"
                f"Content-Type: {response.content_type}\r\n"
                f"Content-Length: {len(response.body)}\r\n"
                "Cache-Control: no-store\r\nConnection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + (b"" if method == "HEAD" else response.body))
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def serving(settings: Settings, monitor: Monitored) -> AsyncIterator[asyncio.Server | None]:
    """Serve the endpoints on ``settings.metrics_listen`` while the block runs (or nothing)."""
    if settings.metrics_listen is None:
        yield None
        return
    host, port = settings.metrics_listen
    endpoints = OperatorEndpoints(monitor, settings.poll_interval, time.monotonic())
    try:
        server = await asyncio.start_server(endpoints.handle, host, port)
    except OSError as exc:
        raise ConfigError(
            f"metrics.listen: cannot listen on {host}:{port} ({exc.strerror or exc}); "
            "each process on one host needs its own port (DEFWATCH_METRICS_LISTEN)"
        ) from None
    bound = ", ".join(_address(sock.getsockname()) for sock in server.sockets)
    log.info("metrics and health checks on http://%s (/metrics /healthz /readyz)", bound)
    try:
        yield server
    finally:
        server.close()
        await server.wait_closed()


def _address(sockname: Any) -> str:
    host, port = sockname[0], sockname[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def bound_port(server: asyncio.Server) -> int:
    """The port the server listens on (useful with port 0)."""
    return int(server.sockets[0].getsockname()[1])
