"""defwatch's own error tree; library errors are translated where they enter.

DefwatchError
├── ConfigError            a bad settings or data file (names the file and key)
├── FeedError              anything that makes one feed's poll fail
│   ├── FetchError         transport and HTTP problems
│   │   ├── FeedTimeout
│   │   ├── FeedTooLarge
│   │   ├── TooManyRedirects
│   │   ├── FeedHTTPError  (status, retry_after)
│   │   └── FeedConnectError
│   │       └── FeedTLSError  the certificate did not verify
│   ├── NotAFeed           the document is not RSS/Atom/RDF at all
│   └── UnsafeFeedURL      a URL we refuse to fetch (also a ValueError; see monitors.netguard)
├── PeriodError            a period such as "90d" that cannot be read (also a ValueError)
├── LeaseLost              a worker's lease on a feed ran out and was taken over: its poll's
│                          result is discarded (the new holder stores it)
└── UnknownCountry         a country name we cannot resolve (carries suggestions)
"""

from __future__ import annotations


class DefwatchError(Exception):
    """Base of every error defwatch raises on purpose."""


class ConfigError(DefwatchError):
    """A settings or data file is invalid; the message names the file and the key."""


class FeedError(DefwatchError):
    """One feed could not be polled; recorded on the feed's row, then retried with backoff."""

    kind = "feed_error"


class FetchError(FeedError):
    kind = "fetch_error"


class FeedTimeout(FetchError):
    kind = "timeout"


class FeedTooLarge(FetchError):
    kind = "too_large"


class TooManyRedirects(FetchError):
    kind = "redirects"


class FeedConnectError(FetchError):
    kind = "connect"


class FeedHTTPError(FetchError):
    """The server answered with an error status; ``retry_after`` (seconds) when it said so."""

    kind = "http"

    def __init__(self, message: str, *, status: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class FeedTLSError(FeedConnectError):
    """The server's TLS certificate did not verify (unknown CA, wrong host, expired)."""

    kind = "tls"


class NotAFeed(FeedError):
    kind = "not_a_feed"


class UnsafeFeedURL(FeedError, ValueError):
    """A feed URL we refuse to fetch; the message says why, in words a user understands."""

    kind = "unsafe_url"


class PeriodError(DefwatchError, ValueError):
    """A period such as '90d' or '12w' that cannot be read; the message says why.

    ``text`` is what was given; ``maximum_days`` is set when it was read but is out of range
    (so a caller speaking another language can say the same thing in its own words)."""

    def __init__(self, message: str, *, text: str = "", maximum_days: int | None = None):
        super().__init__(message)
        self.text = text
        self.maximum_days = maximum_days


class LeaseLost(DefwatchError):
    """This worker no longer holds the feed's lease; nothing of its poll may be stored."""


class UnknownCountry(DefwatchError):
    """A country name that resolves to nothing; ``suggestions`` are close known names."""

    def __init__(self, name: str, suggestions: list[str]) -> None:
        hint = f" Did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"Unknown country {name!r}.{hint}")
        self.name = name
        self.suggestions = suggestions
