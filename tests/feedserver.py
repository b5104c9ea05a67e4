"""A real HTTP server on 127.0.0.1 that serves scripted feed responses to tests.

It runs the stdlib ``ThreadingHTTPServer`` in a background thread, so sync tests, async
tests and code under test (httpx, python-telegram-bot, anything) all talk to it over a real
socket. Use the ``feed_server`` fixture (``tests/conftest.py``) or::

    with FeedServer() as server:
        url = server.add("/feed.xml", body=RSS, etag='"v1"')
        ...                                  # fetch url
        assert server.hits("/feed.xml") == 1

What a route can do (all keyword arguments of :meth:`FeedServer.add`):

* ``body`` (bytes or str), ``status``, ``content_type``, extra ``headers`` (an explicit
  ``Content-Type``, ``ETag``, ``Last-Modified`` or ``Retry-After`` there replaces the default);
* ``etag`` / ``last_modified``: sent, and a matching ``If-None-Match`` / ``If-Modified-Since``
  gets 304 Not Modified;
* ``gzip=True``: body sent with ``Content-Encoding: gzip`` (compressed on the fly);
* ``delay``: seconds before the response headers;
* ``chunk_delay``: send the body ``chunk_size`` bytes at a time, sleeping between (slow drip);
* ``endless=True``: keep sending chunks of filler until the client goes away;
* ``size``: a body of ``size`` filler bytes, generated on the fly (never held in memory);
  with ``gzip=True`` this is a gzip bomb (a few KB on the wire per MB decoded);
* ``redirect_to``: a 302 (or ``status`` if it is 3xx) with ``Location`` (relative paths are
  made absolute on this server);
* ``retry_after``: a ``Retry-After`` header value (seconds or an HTTP date string).

Bookkeeping, per path: :meth:`hits` (requests served), :meth:`requests` (their headers) and
:meth:`max_concurrent` (the most requests in flight at once). :meth:`serve_folder` exposes
every file of a folder (``.gz`` files as gzip-encoded bodies, content type by extension).

Shutdown is clean: slow or endless handlers wake up and stop, every handler thread is joined.
"""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import urljoin, urlsplit

_FILLER = b"<!-- defwatch test filler -->\n" * 2185  # ~64 KiB
_STREAM_CHUNK = 64 * 1024

_CONTENT_TYPES = {
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".rdf": "application/rdf+xml",
    ".xml": "application/xml",
    ".opml": "text/x-opml",
    ".html": "text/html",
    ".htm": "text/html",
    ".json": "application/json",
    ".md": "text/markdown; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass
class Route:
    """One scripted response; see the module docstring for the meaning of each field."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str | None = "application/rss+xml; charset=utf-8"
    etag: str | None = None
    last_modified: str | None = None
    gzip: bool = False
    raw_gzip: bool = False  # body is already gzip bytes: send it as is, with the header
    delay: float = 0.0
    chunk_delay: float | None = None
    chunk_size: int = 1
    endless: bool = False
    size: int | None = None
    redirect_to: str | None = None
    retry_after: str | None = None


def content_type_for(path: Path) -> str:
    """Content type a real server would send for ``path`` (``.gz`` ignored, by last suffix).

    ``bbc.rss.xml`` is served as RSS: the most specific known suffix wins.
    """
    suffixes = [s.lower() for s in path.suffixes if s.lower() != ".gz"]
    for suffix in suffixes:
        if suffix in (".rss", ".atom", ".rdf"):
            return _CONTENT_TYPES[suffix]
    for suffix in reversed(suffixes):
        if suffix in _CONTENT_TYPES:
            return _CONTENT_TYPES[suffix]
    return "application/octet-stream"


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined on close: no leaks between tests
    block_on_close = True

    def __init__(self, owner: FeedServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-body (the fetcher hitting its cap or timeout) is normal.
        pass


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 10  # socket timeout: a client that stops reading cannot pin a thread forever
    # One request per connection: a handler thread ends with its response, so close() never
    # waits on an idle keep-alive connection some client forgot to close.
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.owner._connections.add(self.connection)

    def finish(self) -> None:
        self.server.owner._connections.discard(self.connection)
        with contextlib.suppress(OSError):  # the client (or close()) already hung up
            super().finish()

    def do_HEAD(self) -> None:
        self._serve(send_body=False)

    def do_GET(self) -> None:
        self._serve(send_body=True)

    # --- response ----------------------------------------------------------------------------

    def _serve(self, *, send_body: bool) -> None:
        owner = self.server.owner
        path = urlsplit(self.path).path
        route = owner._enter(self.path, path, dict(self.headers.items()))
        try:
            if route is None:
                self._send_simple(404, b"not found")
                return
            if route.delay and owner._stopping.wait(route.delay):
                return
            self._respond(route, send_body=send_body)
        except (ConnectionError, TimeoutError, OSError):
            pass  # the client went away; nothing to report
        finally:
            owner._leave(path)

    def _send_simple(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _not_modified(self, route: Route) -> bool:
        if route.etag is not None:
            tags = {t.strip() for t in (self.headers.get("If-None-Match") or "").split(",")}
            if route.etag in tags or "*" in tags:
                return True
        if route.last_modified is not None:
            return self.headers.get("If-Modified-Since") == route.last_modified
        return False

    def _respond(self, route: Route, *, send_body: bool) -> None:
        if route.redirect_to is not None:
            status = route.status if 300 <= route.status < 400 else 302
            self.send_response(status)
            self.send_header("Location", urljoin(self.server.owner.url("/"), route.redirect_to))
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if self._not_modified(route):
            self.send_response(304)
            self._validator_headers(route)
            self.end_headers()
            return
        self.send_response(route.status)
        # Explicit ``headers`` win over the defaults (e.g. headers={"Content-Type": "text/html"}).
        explicit = {name.lower() for name in route.headers}
        if route.content_type and "content-type" not in explicit:
            self.send_header("Content-Type", route.content_type)
        self._validator_headers(route, skip=explicit)
        if route.retry_after is not None and "retry-after" not in explicit:
            self.send_header("Retry-After", route.retry_after)
        for name, value in route.headers.items():
            self.send_header(name, value)
        if route.gzip or route.raw_gzip:
            self.send_header("Content-Encoding", "gzip")
        streamed = route.endless or route.size is not None or route.chunk_delay is not None
        if streamed or route.gzip:
            # Length unknown up front: close the connection to end the body.
            self.send_header("Connection", "close")
            self.close_connection = True
        else:
            self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if send_body:
            self._write_body(route)

    def _validator_headers(
        self, route: Route, skip: frozenset[str] | set[str] = frozenset()
    ) -> None:
        if route.etag is not None and "etag" not in skip:
            self.send_header("ETag", route.etag)
        if route.last_modified is not None and "last-modified" not in skip:
            self.send_header("Last-Modified", route.last_modified)

    def _write_body(self, route: Route) -> None:
        stopping = self.server.owner._stopping
        pieces = _body_pieces(route)
        if route.gzip:
            pieces = _gzip_stream(pieces)
        for piece in pieces:
            if stopping.is_set():
                return
            if route.chunk_delay is None:
                self.wfile.write(piece)
                continue
            for start in range(0, len(piece), route.chunk_size):
                self.wfile.write(piece[start : start + route.chunk_size])
                self.wfile.flush()
                if stopping.wait(route.chunk_delay):
                    return


def _body_pieces(route: Route) -> Iterator[bytes]:
    if route.endless:
        while True:
            yield route.body or _FILLER
    if route.size is None:
        yield route.body
        return
    remaining = route.size
    while remaining > 0:
        piece = _FILLER[: min(remaining, len(_FILLER))]
        remaining -= len(piece)
        yield piece


def _gzip_stream(pieces: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    for piece in pieces:
        out = compressor.compress(piece)
        if out:
            yield out
    yield compressor.flush()


class FeedServer:
    """A scripted HTTP server on 127.0.0.1:<free port>; a context manager (see module doc)."""

    def __init__(self) -> None:
        self._routes: dict[str, Route] = {}
        self._lock = threading.Lock()
        self._hits: dict[str, int] = defaultdict(int)
        self._requests: dict[str, list[dict[str, str]]] = defaultdict(list)
        self._in_flight: dict[str, int] = defaultdict(int)
        self._max_in_flight: dict[str, int] = defaultdict(int)
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FeedServer:
        self._httpd = _Server(self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"feedserver-{self.port}",
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, wake slow handlers, join every thread, close the socket."""
        if self._httpd is None:
            return
        self._stopping.set()
        self._httpd.shutdown()
        # A handler blocked writing to a client that stopped reading would otherwise sit out
        # its socket timeout; shutting the socket down makes that write fail at once.
        for connection in list(self._connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._httpd.server_close()  # joins the handler threads (block_on_close)
        if self._thread is not None:
            self._thread.join()
        self._httpd = None
        self._thread = None

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- addresses ---------------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FeedServer is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return self.base_url + (path if path.startswith("/") else "/" + path)

    # --- routes ------------------------------------------------------------------------------

    def add(
        self,
        path: str,
        body: bytes | str = b"",
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str | None = "application/rss+xml; charset=utf-8",
        etag: str | None = None,
        last_modified: str | None = None,
        gzip: bool = False,
        raw_gzip: bool = False,
        delay: float = 0.0,
        chunk_delay: float | None = None,
        chunk_size: int = 1,
        endless: bool = False,
        size: int | None = None,
        redirect_to: str | None = None,
        retry_after: str | int | None = None,
    ) -> str:
        """Serve a scripted response at ``path`` (replacing any earlier one); returns its URL.

        ``path`` may include a query string to match only that exact request target.
        """
        route = Route(
            body=body.encode("utf-8") if isinstance(body, str) else body,
            status=status,
            headers=dict(headers or {}),
            content_type=content_type,
            etag=etag,
            last_modified=last_modified,
            gzip=gzip,
            raw_gzip=raw_gzip,
            delay=delay,
            chunk_delay=chunk_delay,
            chunk_size=max(1, chunk_size),
            endless=endless,
            size=size,
            redirect_to=redirect_to,
            retry_after=None if retry_after is None else str(retry_after),
        )
        with self._lock:
            self._routes[path] = route
        return self.url(path)

    def serve_folder(self, folder: Path, prefix: str = "/") -> dict[str, str]:
        """Serve every file of ``folder`` under ``prefix``; returns {file name: URL}.

        ``name.xml.gz`` is served at ``prefix + name.xml.gz`` as a gzip-encoded body whose
        content type is that of ``name.xml``, just as a server with on-disk gzip would. Each
        file gets an ETag derived from its bytes, so conditional GETs answer 304.
        """
        prefix = prefix if prefix.endswith("/") else prefix + "/"
        urls = {}
        for file in sorted(p for p in Path(folder).iterdir() if p.is_file()):
            body = file.read_bytes()
            urls[file.name] = self.add(
                prefix + file.name,
                body,
                content_type=content_type_for(file),
                raw_gzip=file.suffix.lower() == ".gz",
                etag=f'"{hashlib.sha1(body).hexdigest()[:16]}"',  # like a static file server
            )
        return urls

    # --- bookkeeping -------------------------------------------------------------------------

    def hits(self, path: str) -> int:
        """How many requests reached ``path`` (the path without query string)."""
        with self._lock:
            return self._hits[path]

    def requests(self, path: str) -> list[dict[str, str]]:
        """The request headers of every request to ``path``, oldest first."""
        with self._lock:
            return [dict(h) for h in self._requests[path]]

    def max_concurrent(self, path: str | None = None) -> int:
        """Most requests in flight at once for ``path`` (or over all paths if None)."""
        with self._lock:
            return self._max_in_flight["*" if path is None else path]

    def wait_for_hits(self, path: str, count: int, timeout: float = 5.0) -> bool:
        """Block until ``path`` has had ``count`` hits; False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.hits(path) >= count:
                return True
            time.sleep(0.01)
        return False

    def _enter(self, target: str, path: str, headers: dict[str, str]) -> Route | None:
        with self._lock:
            self._hits[path] += 1
            self._requests[path].append(headers)
            for key in (path, "*"):
                self._in_flight[key] += 1
                self._max_in_flight[key] = max(self._max_in_flight[key], self._in_flight[key])
            return self._routes.get(target) or self._routes.get(path)

    def _leave(self, path: str) -> None:
        with self._lock:
            for key in (path, "*"):
                self._in_flight[key] -= 1
