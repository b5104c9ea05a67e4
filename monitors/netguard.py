"""Is a feed URL safe to fetch from this server? (SSRF guard for feeds users add.)

``check_feed_url(url, allow_private=False)`` returns the normalised URL or raises
:class:`UnsafeFeedURL` (a ``FeedError`` *and* a ``ValueError``, so callers may catch either).

Refused, always:

* schemes other than ``http`` / ``https``, URLs without a host, invalid ports;
* credentials in the URL (``http://user:pass@host/``): they would be stored and shown.

Refused unless ``allow_private`` (the operator's ``telegram.allow_private_feeds``):

* host names that are local by definition (``localhost``, ``*.localhost``, ``*.local``,
  ``*.internal``);
* hosts for which ANY resolved address (``getaddrinfo``, every address) is loopback, private
  (RFC 1918, ULA), link-local, multicast, reserved, unspecified, shared (CGNAT), otherwise not
  globally routable, or a cloud metadata address (169.254.169.254, fd00:ec2::254,
  100.100.100.200). IPv4 embedded in IPv6 (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
  ``64:ff9b::/96``, 6to4, Teredo) is judged by the embedded IPv4 address;
* hosts that do not resolve at all (nothing to judge; the user gets a clear reason).

IPv4 literals in the legacy spellings ``inet_aton`` accepts (decimal ``2130706433``, octal
``0177.0.0.1``, hex ``0x7f.1``, short ``127.1``) are understood as the address the system
resolver would connect to, and the returned URL spells them as a dotted quad.

With ``allow_private=True`` no name is resolved at all: only the scheme, host and credential
rules apply (the tests run feed servers on 127.0.0.1 that way).

The resolver is injectable (``resolver=lambda host, port: ["93.184.216.34"]``) so tests need
no DNS. ``check_feed_url`` resolves synchronously; from async code use
:func:`acheck_feed_url`, which resolves in a worker thread.

Note: this is an admission check. A name may resolve differently at fetch time (DNS
rebinding); the fetcher only ever fetches what is stored, so keep ``allow_private`` off on
servers that can reach internal services.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable, Iterable
from urllib.parse import urlsplit, urlunsplit

from monitors.errors import UnsafeFeedURL

Resolver = Callable[[str, int], Iterable[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

ALLOWED_SCHEMES = frozenset({"http", "https"})
DEFAULT_PORTS = {"http": 80, "https": 443}
METADATA_ADDRESSES = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, DigitalOcean
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
        ipaddress.ip_address("169.254.170.2"),  # AWS ECS task metadata
    }
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_LOCAL_NAMES = ("localhost",)
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain")
_IPV4ISH = frozenset("0123456789abcdefxABCDEFX.")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``getaddrinfo`` gives for ``host`` (TCP), as strings."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _legacy_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """``host`` as an IPv4 address if it is one in any spelling ``inet_aton`` accepts."""
    if not host or not set(host) <= _IPV4ISH or not host[0].isdigit():
        return None
    try:
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except (OSError, ValueError):
        return None


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return _legacy_ipv4(host)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` is not a public internet address, or None if it is one."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        problem = address_problem(embedded)
        return f"{problem} (embedded in {address})" if problem else None
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    for attribute, reason in (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_reserved", "a reserved address"),
        ("is_private", "a private-network address"),
    ):
        if getattr(address, attribute):
            return reason
    if isinstance(address, ipaddress.IPv4Address) and address in ipaddress.ip_network(
        "100.64.0.0/10"
    ):
        return "a shared (carrier-grade NAT) address"
    if not address.is_global:
        return "not a globally routable address"
    return None


def _normalise_host(raw: str, url: str) -> tuple[str, IPAddress | None]:
    """(host as it goes into the URL, the literal address if it is one)."""
    host = raw.lower().rstrip(".")
    if not host:
        raise UnsafeFeedURL(f"Refusing {_shown(url)!r}: the URL has no host")
    literal = _literal_address(host)
    if literal is not None:
        text = str(literal)
        return (f"[{text}]" if literal.version == 6 else text), literal
    try:
        ascii_host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise UnsafeFeedURL(f"Refusing {_shown(url)!r}: {raw!r} is not a valid host name") from None
    if not ascii_host or any(not label for label in ascii_host.split(".")):
        raise UnsafeFeedURL(f"Refusing {_shown(url)!r}: {raw!r} is not a valid host name")
    return ascii_host, None


def _shown(url: str) -> str:
    """``url`` for a message: any user info (a password!) replaced by ``***``."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep:
        return url[:200]
    authority, slash, tail = rest.partition("/")
    if "@" in authority:
        authority = "***@" + authority.rpartition("@")[2]
    return f"{scheme}://{authority}{slash}{tail}"[:200]


def check_feed_url(url: str, *, allow_private: bool, resolver: Resolver | None = None) -> str:
    """The normalised ``url`` if it is safe to fetch; else raise :class:`UnsafeFeedURL`."""
    text = url.strip()
    if any(ord(ch) < 0x21 or ch == "\x7f" for ch in text):
        raise UnsafeFeedURL(
            f"Refusing {_shown(url)!r}: the URL contains spaces or control characters"
        )
    try:
        parts = urlsplit(text)
        port = parts.port
        hostname = parts.hostname
    except ValueError as exc:
        raise UnsafeFeedURL(f"Refusing {_shown(url)!r}: not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UnsafeFeedURL(
            f"Refusing {_shown(url)!r}: only http:// and https:// feed URLs are allowed"
        )
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UnsafeFeedURL(
            f"Refusing {_shown(url)!r}: user names or passwords in feed URLs are not allowed"
        )
    host, literal = _normalise_host(hostname or "", url)
    effective_port = port if port is not None else DEFAULT_PORTS[scheme]
    netloc = host if port is None or port == DEFAULT_PORTS[scheme] else f"{host}:{port}"
    normalised = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    if allow_private:
        return normalised

    bare = host.strip("[]")
    if literal is None and (bare in _LOCAL_NAMES or bare.endswith(_LOCAL_SUFFIXES)):
        raise UnsafeFeedURL(f"Refusing {_shown(url)!r}: {bare} is a local host name")
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            resolved = list((resolver or system_resolver)(bare, effective_port))
        except (OSError, UnicodeError) as exc:
            raise UnsafeFeedURL(
                f"Refusing {_shown(url)!r}: cannot resolve {bare} ({exc})"
            ) from None
        addresses = []
        for item in resolved:
            address = _literal_address(str(item))
            if address is None:  # a resolver answer we do not understand: do not guess
                raise UnsafeFeedURL(f"Refusing {_shown(url)!r}: {bare} resolved to {item!r}")
            addresses.append(address)
        if not addresses:
            raise UnsafeFeedURL(f"Refusing {_shown(url)!r}: {bare} has no addresses")
    for address in addresses:
        problem = address_problem(address)
        if problem is not None:
            where = "is" if literal is not None else f"resolves to {address}, which is"
            raise UnsafeFeedURL(f"Refusing {_shown(url)!r}: {bare} {where} {problem}")
    return normalised


async def acheck_feed_url(
    url: str, *, allow_private: bool, resolver: Resolver | None = None
) -> str:
    """:func:`check_feed_url` with name resolution in a worker thread (for the bot)."""
    return await asyncio.to_thread(
        check_feed_url, url, allow_private=allow_private, resolver=resolver
    )


__all__ = [
    "METADATA_ADDRESSES",
    "UnsafeFeedURL",
    "acheck_feed_url",
    "address_problem",
    "check_feed_url",
    "system_resolver",
]
