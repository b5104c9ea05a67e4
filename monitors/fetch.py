"""Fetch one feed document over HTTP, politely and with hard limits. Never parses.

Rules:

* One shared ``httpx.AsyncClient`` per :class:`Fetcher` (connection pooling, one config).
* Only ``http`` and ``https`` URLs, including every redirect hop; at most
  ``FetchLimits.max_redirects`` hops, else :class:`TooManyRedirects`.
* Conditional GET: ``etag`` / ``last_modified`` become ``If-None-Match`` /
  ``If-Modified-Since``; a 304 yields ``FetchResult(status=304, body=None)``.
* The body is streamed and decoded here (gzip / deflate) with a cap on the DECODED size, so
  neither a 1 GB body nor a gzip bomb is ever held in memory: :class:`FeedTooLarge`.
* Timeouts: connect and read timeouts per socket operation, plus a total deadline for the
  whole request (redirects included; it starts once the slots below are acquired) so a server
  dripping one byte per second cannot hold a slot: :class:`FeedTimeout`.
* Concurrency: a global semaphore (``max_connections``) and one per host (``max_per_host``).
* 429 / 503 raise :class:`FeedHTTPError` with ``retry_after`` (seconds) from ``Retry-After``
  (delta-seconds or HTTP date); every other status >= 400 raises :class:`FeedHTTPError`.
* TLS: certificates are verified against the public roots (certifi) plus, when
  ``FetchLimits.ca_bundle`` names a PEM file (default: the ``DEFWATCH_CA_BUNDLE``
  environment variable), that file's CAs (a private CA, or a test CA). A certificate that
  does not verify raises :class:`FeedTLSError` (kind ``tls``), naming the reason.
* ``FetchLimits.block_private_addresses``: every request, each redirect hop included, is
  first checked with :func:`monitors.netguard.acheck_feed_url` (no loopback, private,
  link-local or metadata address), so a public feed cannot redirect the fetcher into the
  internal network. Off by default (operators' own feeds may live on private addresses).
* Every httpx exception is translated into ``monitors.errors`` here; none leaks out.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib import metadata
from types import TracebackType
from urllib.parse import urlsplit

import certifi
import httpx

from monitors import settings
from monitors.errors import (
    FeedConnectError,
    FeedError,
    FeedHTTPError,
    FeedTimeout,
    FeedTLSError,
    FeedTooLarge,
    FetchError,
    TooManyRedirects,
)
from monitors.netguard import acheck_feed_url

MiB = 1024 * 1024
ALLOWED_SCHEMES = frozenset({"http", "https"})
# Bounded decoding: each zlib call may emit at most this many bytes, so one small compressed
# chunk can never inflate into a huge buffer before the size cap is checked.
_DECODE_STEP = 256 * 1024
_ACCEPT = (
    "application/rss+xml, application/atom+xml, application/rdf+xml, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.5"
)


def _version() -> str:
    try:
        return metadata.version("defwatch")
    except metadata.PackageNotFoundError:  # running from a source tree that is not installed
        return "0.1.0"


DEFAULT_USER_AGENT = f"defwatch/{_version()} (+https://github.com/defwatch/defwatch)"


@dataclass(frozen=True)
class FetchLimits:
    """Hard limits for every fetch; small values make tests fast."""

    max_body_bytes: int = 10 * MiB
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_redirects: int = 5
    max_connections: int = 20
    max_per_host: int = 2
    user_agent: str = DEFAULT_USER_AGENT
    # Extra trusted CAs (PEM file), on top of the public roots.
    ca_bundle: str | None = field(default_factory=settings.ca_bundle)
    # Refuse (each hop of) requests to non-public addresses; see monitors.netguard.
    block_private_addresses: bool = False


def tls_context(ca_bundle: str | None = None) -> ssl.SSLContext:
    """Verifying client context: certifi's roots plus the CAs of ``ca_bundle`` if given."""
    context = ssl.create_default_context(cafile=certifi.where())
    if ca_bundle:
        try:
            context.load_verify_locations(cafile=ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            raise FetchError(f"CA bundle {ca_bundle!r} cannot be loaded: {exc}") from exc
    return context


def _tls_failure(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        current = current.__cause__ or current.__context__
    return None


@dataclass(frozen=True)
class FetchResult:
    """What one successful fetch returned; ``body`` is None on 304 Not Modified."""

    status: int
    body: bytes | None
    etag: str | None
    last_modified: str | None
    final_url: str
    content_type: str | None
    body_sha256: str | None
    elapsed: float


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None.

    A date in the past means 0; garbage means None (the caller's backoff then decides).
    """
    if value is None or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP dates are GMT by definition
        when = when.replace(tzinfo=UTC)
    delta = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0.0, delta)


def _host_of_web_url(url: str) -> str:
    """Lowercase host of an http(s) URL; FetchError for any other or unparsable URL."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:  # e.g. "http://[not-an-ip/" or "http://host:99999/"
        raise FetchError(f"Refusing to fetch {url!r}: invalid URL ({exc})") from exc
    if parts.scheme.lower() not in ALLOWED_SCHEMES:
        raise FetchError(f"Refusing to fetch {url!r}: only http and https URLs are allowed")
    return (parts.hostname or "").lower()


class _BoundedDecoder:
    """Decodes a Content-Encoding incrementally, never producing more than ``limit`` bytes."""

    def __init__(self, encoding: str, limit: int, url: str) -> None:
        self._encoding = encoding
        self._limit = limit
        self._url = url
        self._produced = 0
        self._zlib: zlib._Decompress | None = None
        self._deflate_raw_tried = False
        if encoding in ("gzip", "x-gzip"):
            self._zlib = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
        elif encoding == "deflate":
            self._zlib = zlib.decompressobj(wbits=zlib.MAX_WBITS)
        elif encoding not in ("", "identity"):
            raise FetchError(f"{url}: unsupported Content-Encoding {encoding!r}")

    def _count(self, data: bytes) -> bytes:
        self._produced += len(data)
        if self._produced > self._limit:
            raise FeedTooLarge(f"{self._url}: body exceeds {self._limit} bytes (decoded)")
        return data

    def decode(self, raw: bytes) -> list[bytes]:
        if self._zlib is None:
            return [self._count(raw)]
        out: list[bytes] = []
        data = raw
        while data:
            try:
                piece = self._zlib.decompress(data, _DECODE_STEP)
            except zlib.error as exc:
                if self._encoding == "deflate" and not self._deflate_raw_tried and not out:
                    # Some servers send raw deflate without the zlib header.
                    self._deflate_raw_tried = True
                    self._zlib = zlib.decompressobj(wbits=-zlib.MAX_WBITS)
                    continue
                raise FetchError(f"{self._url}: corrupt {self._encoding} body: {exc}") from exc
            self._deflate_raw_tried = True
            out.append(self._count(piece))
            data = self._zlib.unconsumed_tail
            if self._zlib.eof and self._zlib.unused_data:
                data = self._zlib.unused_data  # concatenated gzip members
                self._zlib = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
                self._deflate_raw_tried = True
        return out

    def flush(self) -> bytes:
        if self._zlib is None:
            return b""
        return self._count(self._zlib.flush())


class Fetcher:
    """Owns one shared HTTP client; use as ``async with Fetcher(limits) as f``."""

    def __init__(self, limits: FetchLimits | None = None) -> None:
        self.limits = limits or FetchLimits()
        self._client: httpx.AsyncClient | None = None
        self._global = asyncio.Semaphore(self.limits.max_connections)
        self._per_host: dict[str, asyncio.Semaphore] = {}

    async def __aenter__(self) -> Fetcher:
        lim = self.limits
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(
                connect=lim.connect_timeout,
                read=lim.read_timeout,
                write=lim.read_timeout,
                pool=lim.total_timeout,
            ),
            limits=httpx.Limits(
                max_connections=lim.max_connections,
                max_keepalive_connections=lim.max_connections,
            ),
            follow_redirects=True,
            max_redirects=lim.max_redirects,
            verify=tls_context(lim.ca_bundle),
            event_hooks={"request": [_guard_request]} if lim.block_private_addresses else {},
            headers={
                "User-Agent": lim.user_agent,
                "Accept": _ACCEPT,
                "Accept-Encoding": "gzip, deflate",
            },
            trust_env=False,  # proxies and netrc from the environment are not ours to use
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _host_semaphore(self, host: str) -> asyncio.Semaphore:
        if host not in self._per_host:
            self._per_host[host] = asyncio.Semaphore(self.limits.max_per_host)
        return self._per_host[host]

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """GET ``url`` (conditionally); raise a ``FetchError`` subclass on any failure."""
        if self._client is None:
            raise RuntimeError("Fetcher must be used as 'async with Fetcher(...) as f'")
        host = _host_of_web_url(url)
        headers = {}
        # A validator that cannot be sent back byte for byte is useless; skip it.
        if etag and etag.isascii():
            headers["If-None-Match"] = etag
        if last_modified and last_modified.isascii():
            headers["If-Modified-Since"] = last_modified
        async with self._global, self._host_semaphore(host):
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.limits.total_timeout):
                    result = await self._get(self._client, url, headers, started)
            except TimeoutError as exc:
                raise FeedTimeout(
                    f"{url}: no complete response within {self.limits.total_timeout:g} s"
                ) from exc
        if result.status == 304:
            # Servers may omit validators on 304; the ones we sent are still the current ones.
            result = replace(
                result,
                etag=result.etag or etag,
                last_modified=result.last_modified or last_modified,
            )
        return result

    async def _get(
        self, client: httpx.AsyncClient, url: str, headers: dict[str, str], started: float
    ) -> FetchResult:
        try:
            async with client.stream("GET", url, headers=headers) as response:
                _raise_for_status(response, url)
                if response.status_code == 304:
                    body = None
                else:
                    body = await self._read_capped(response, url)
        except FeedError:  # e.g. UnsafeFeedURL from the address guard (a ValueError too)
            raise
        except httpx.TooManyRedirects as exc:
            raise TooManyRedirects(
                f"{url}: more than {self.limits.max_redirects} redirects"
            ) from exc
        except httpx.TimeoutException as exc:
            raise FeedTimeout(f"{url}: {type(exc).__name__}") from exc
        except httpx.ConnectError as exc:
            tls = _tls_failure(exc)
            if tls is not None:
                reason = getattr(tls, "verify_message", None) or tls.reason or str(tls)
                raise FeedTLSError(f"{url}: TLS certificate not accepted: {reason}") from exc
            raise FeedConnectError(f"{url}: cannot connect: {exc}") from exc
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(f"{url}: unsupported URL or redirect target: {exc}") from exc
        except httpx.HTTPError as exc:  # protocol errors, broken connections, bad URLs
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}") from exc
        except httpx.InvalidURL as exc:
            raise FetchError(f"{url}: invalid URL: {exc}") from exc
        except (UnicodeError, ValueError) as exc:  # e.g. idna.IDNAError for a bad host name
            raise FetchError(f"{url}: invalid URL: {type(exc).__name__}: {exc}") from exc
        except ExceptionGroup as exc:  # anyio can group low-level connect failures
            raise FeedConnectError(f"{url}: cannot connect: {exc.exceptions!r}") from exc
        return FetchResult(
            status=response.status_code,
            body=body,
            etag=response.headers.get("ETag"),
            last_modified=response.headers.get("Last-Modified"),
            final_url=str(response.url),
            content_type=response.headers.get("Content-Type"),
            body_sha256=hashlib.sha256(body).hexdigest() if body is not None else None,
            elapsed=time.monotonic() - started,
        )

    async def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        cap = self.limits.max_body_bytes
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > cap and encoding in ("", "identity"):
            raise FeedTooLarge(f"{url}: Content-Length {declared} exceeds {cap} bytes")
        decoder = _BoundedDecoder(encoding, cap, url)
        chunks: list[bytes] = []
        async for raw in _raw_chunks(response):
            chunks.extend(decoder.decode(raw))
        chunks.append(decoder.flush())
        return b"".join(chunks)


async def _guard_request(request: httpx.Request) -> None:
    """httpx request hook: refuse a request (or redirect hop) to a non-public address."""
    await acheck_feed_url(str(request.url), allow_private=False)


async def _raw_chunks(response: httpx.Response) -> AsyncIterator[bytes]:
    async for raw in response.aiter_raw():
        if raw:
            yield raw


def _raise_for_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if 200 <= status < 300 or status == 304:
        return
    # Anything else (4xx, 5xx, a 3xx that was not followed) is a failure for this poll.
    retry_after = None
    if status in (429, 503):
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
    reason = response.reason_phrase or "error"
    raise FeedHTTPError(f"{url}: HTTP {status} {reason}", status=status, retry_after=retry_after)
