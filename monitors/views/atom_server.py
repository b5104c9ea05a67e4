"""A small read-only HTTP endpoint serving the Atom feeds (``[atom]`` in the settings).

Rules:
- Off unless ``atom.enabled``; binds ``atom.host`` (127.0.0.1 by default: loopback only).
- ``GET /atom/<country or watchlist>.xml`` (e.g. ``/atom/az.xml``, ``/atom/caucasus.xml``)
  answers the feed of ``monitors.views.atom``; ``GET /`` says how to use it. Anything else:
  404 (unknown target, with the reason), 405 (not GET/HEAD) or 400 (malformed request).
- One request per connection, bounded: the request head must arrive within
  ``READ_TIMEOUT`` seconds and fit in ``MAX_HEAD`` bytes.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from monitors.errors import UnknownCountry
from monitors.views import atom
from monitors.watchlists import Watchlist

log = logging.getLogger(__name__)

READ_TIMEOUT = 10.0
MAX_HEAD = 8192
PREFIX = "/atom/"
USAGE = (
    "defwatch Atom feeds: GET /atom/<country>.xml (e.g. /atom/az.xml) or "
    "/atom/<watchlist>.xml (a named watchlist)\n"
)
_REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed"}


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class AtomServer:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        resolve: Callable[[str], str],
        name: Callable[[str], str],
        lists: Callable[[], Mapping[str, Watchlist]],
        host: str = "127.0.0.1",
        port: int = 0,
        entries: int = atom.DEFAULT_ENTRIES,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions, self.resolve, self.name, self.lists = sessions, resolve, name, lists
        self.host, self.port, self.entries, self.clock = host, port, entries, clock
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=MAX_HEAD
        )
        self.port = self._server.sockets[0].getsockname()[1]
        if not _is_loopback(self.host):
            log.warning("Atom feeds are served beyond this machine (atom.host = %s)", self.host)
        log.info("Atom feeds served at http://%s:%d%s<country>.xml", self.host, self.port, PREFIX)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, body, kind, method = await self._answer(reader)
            head = (
                f"HTTP/1.1 {status} {_REASONS[status]}\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n"
                "X-Content-Type-Options: nosniff\r\n\r\n"
            )
            writer.write(head.encode("ascii") + (b"" if method == "HEAD" else body))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:  # one bad request must never stop the endpoint
            log.exception("Atom endpoint: request failed")
        finally:
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> tuple[int, bytes, str, str]:
        text = "text/plain; charset=utf-8"
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), READ_TIMEOUT)
        except (TimeoutError, asyncio.LimitOverrunError, asyncio.IncompleteReadError):
            return 400, b"malformed or incomplete request\n", text, "GET"
        parts = head.split(b"\r\n", 1)[0].decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/"):
            return 400, b"malformed request line\n", text, "GET"
        method, target = parts[0], urlsplit(parts[1]).path
        if method not in ("GET", "HEAD"):
            return 405, b"only GET and HEAD\n", text, "GET"
        if target == "/":
            return 200, USAGE.encode(), text, method
        if not (target.startswith(PREFIX) and target.endswith(".xml")):
            return 404, USAGE.encode(), text, method
        key = unquote(target[len(PREFIX) : -len(".xml")])[:100]
        try:
            feed = atom.resolve_target(key, self.resolve, self.name, self.lists())
        except UnknownCountry as exc:
            return 404, f"{exc}\n".encode(), text, method
        now = self.clock()
        async with self.sessions() as session:
            stories = await atom.target_stories(session, feed, now=now, limit=self.entries)
        self_url = f"http://{self.host}:{self.port}{target}"
        body = atom.atom_document(feed, stories, now=now, name=self.name, self_url=self_url)
        return 200, body, "application/atom+xml; charset=utf-8", method
