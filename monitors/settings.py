"""Settings: shipped defaults, then the TOML file named by ``DEFWATCH_CONFIG``, then environment.

Rules:
- Every key has a shipped default in ``config/defwatch.toml``; an operator's file need only
  hold the keys it changes. Unknown sections or keys are errors (a typo must not be ignored).
- A wrong type or value raises ``ConfigError`` naming the file and the ``section.key``.
- Environment beats the file: ``DEFWATCH_DATABASE_URL``, ``DEFWATCH_POLL_INTERVAL``,
  ``TELEGRAM_BOT_TOKEN``, ``TELEGRAM_API_BASE_URL``, ``DEFWATCH_ALLOW_PRIVATE_FEEDS``,
  ``DEFWATCH_WATCHLISTS``, ``DEFWATCH_METRICS_LISTEN``.
- ``metrics.listen`` is ``host:port`` (``[::1]:9464`` for IPv6) or empty (no listener). The
  host must be spelt out: nothing listens on a non-loopback address unless it is named.
- This module is the one place that reads the environment. Two low-level settings are read
  when used rather than in ``Settings``: ``DEFWATCH_CA_BUNDLE`` (:func:`ca_bundle`, the default
  of ``monitors.fetch.FetchLimits.ca_bundle``) and ``DEFWATCH_SQLITE_BUSY_TIMEOUT``
  (:func:`sqlite_busy_timeout`, read by ``monitors.db`` when an engine opens).
- The bot token is kept out of ``repr`` so it never reaches a log line.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from config import data_path
from monitors.errors import ConfigError

CA_BUNDLE_ENV = "DEFWATCH_CA_BUNDLE"
BUSY_TIMEOUT_ENV = "DEFWATCH_SQLITE_BUSY_TIMEOUT"
DEFAULT_BUSY_TIMEOUT = 30.0


@dataclass(frozen=True)
class Settings:
    database_url: str = field(repr=False)  # may hold a password
    poll_interval: float
    max_backoff: float
    feeds_file: Path
    max_connections: int
    max_per_host: int
    connect_timeout: float
    read_timeout: float
    total_timeout: float
    max_body_bytes: int
    lease_seconds: float
    retention_days: int
    admin_ids: frozenset[int]
    allow_private_feeds: bool
    delivery_interval: float
    max_watch_items: int
    requests_per_minute: int
    watchlists_file: Path | None
    telegram_api_base_url: str | None = None
    atom_enabled: bool = False
    atom_host: str = "127.0.0.1"
    atom_port: int = 8787
    atom_entries: int = 50
    bot_token: str | None = field(default=None, repr=False)
    source: str = "defaults"
    requests_burst: int = 40  # commands a chat may send at once (see bot/limits.py)
    # (host, port) of the metrics and health listener; None: no listener.
    metrics_listen: tuple[str, int] | None = None


_SCHEMA: dict[str, dict[str, type | tuple[type, ...]]] = {
    "database": {"url": str},
    "poll": {
        "interval_seconds": (int, float),
        "max_backoff_seconds": (int, float),
        "feeds_file": str,
        "max_connections": int,
        "max_per_host": int,
        "connect_timeout": (int, float),
        "read_timeout": (int, float),
        "total_timeout": (int, float),
        "max_body_bytes": int,
        "lease_seconds": (int, float),
    },
    "storage": {"retention_days": int},
    "telegram": {
        "admin_ids": list,
        "allow_private_feeds": bool,
        "delivery_interval_seconds": (int, float),
        "max_watch_items": int,
        "requests_per_minute": int,
        "requests_burst": int,
    },
    "watchlists": {"file": str},
    "metrics": {"listen": str},
    "atom": {"enabled": bool, "host": str, "port": int, "entries": int},
}

KNOWN_ENVIRONMENT = frozenset(
    {
        "DEFWATCH_CONFIG",
        "DEFWATCH_DATABASE_URL",
        "DEFWATCH_POLL_INTERVAL",
        "DEFWATCH_ALLOW_PRIVATE_FEEDS",
        "DEFWATCH_WATCHLISTS",
        "DEFWATCH_METRICS_LISTEN",
        "DEFWATCH_CA_BUNDLE",
        "DEFWATCH_SQLITE_BUSY_TIMEOUT",
        "TELEGRAM_BOT_TOKEN",
        "TELEGRAM_API_BASE_URL",
    }
)


def default_database_url() -> str:
    directory = Path(platformdirs.user_data_dir("defwatch"))
    return f"sqlite:///{directory / 'defwatch.db'}"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _check(data: Mapping[str, Any], path: Path) -> None:
    for section, values in data.items():
        if section not in _SCHEMA:
            raise ConfigError(f"{path}: unknown section [{section}]")
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [{section}] must be a table")
        for key, value in values.items():
            expected = _SCHEMA[section].get(key)
            if expected is None:
                raise ConfigError(f"{path}: unknown key {section}.{key}")
            if isinstance(value, bool) and expected is not bool:
                raise ConfigError(f"{path}: {section}.{key} must not be true/false")
            if not isinstance(value, expected):
                raise ConfigError(f"{path}: {section}.{key} has the wrong type ({value!r})")


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = {section: dict(values) for section, values in base.items()}
    for section, values in override.items():
        merged.setdefault(section, {}).update(values)
    return merged


def _positive(value: float, key: str, path: Path) -> float:
    if value <= 0:
        raise ConfigError(f"{path}: {key} must be positive (got {value!r})")
    return value


def _env_float(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name)
    if raw in (None, ""):
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(
            f"environment: {name} must be a number of seconds (got {raw!r})"
        ) from None
    if value <= 0:
        raise ConfigError(f"environment: {name} must be positive (got {raw!r})")
    return value


def _optional_path(raw: str, relative_to: Path) -> Path | None:
    if not raw:
        return None
    path = Path(raw).expanduser()
    return path if path.is_absolute() else (relative_to.parent / path)


def parse_listen(raw: str, where: str) -> tuple[str, int] | None:
    """``host:port`` (``[v6]:port``) as (host, port); empty means no listener."""
    raw = raw.strip()
    if not raw:
        return None
    host, sep, port_text = raw.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host:
        raise ConfigError(
            f"{where}: give the address to listen on as host:port, e.g. 127.0.0.1:9464 "
            f"(0.0.0.0:9464 for every interface; got {raw!r})"
        )
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"{where}: the port must be a number from 0 to 65535 (got {raw!r})")
    return host, int(port_text)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from the shipped defaults, the operator's file and ``env``."""
    env = os.environ if env is None else env
    defaults_path = data_path("defwatch.toml")
    data = _read_toml(defaults_path)
    path = defaults_path
    config_name = env.get("DEFWATCH_CONFIG")
    if config_name:
        path = Path(config_name).expanduser()
        override = _read_toml(path)
        _check(override, path)
        data = _merge(data, override)

    poll, tg = data["poll"], data["telegram"]
    admin_ids = tg["admin_ids"]
    if not all(isinstance(i, int) and not isinstance(i, bool) for i in admin_ids):
        raise ConfigError(f"{path}: telegram.admin_ids must be a list of numeric user ids")

    interval = _env_float(env, "DEFWATCH_POLL_INTERVAL") or _positive(
        float(poll["interval_seconds"]), "poll.interval_seconds", path
    )
    env_watchlists = env.get("DEFWATCH_WATCHLISTS")
    watchlists_file = (
        Path(env_watchlists).expanduser().absolute()
        if env_watchlists
        else _optional_path(data["watchlists"]["file"], path)
    )
    atom = data["atom"]
    if not atom["host"].strip():
        raise ConfigError(f"{path}: atom.host must not be empty (127.0.0.1 serves loopback only)")
    if not 0 <= atom["port"] <= 65535:
        raise ConfigError(f"{path}: atom.port must be 0-65535 (got {atom['port']!r})")
    allow_private = tg["allow_private_feeds"] or env.get("DEFWATCH_ALLOW_PRIVATE_FEEDS") == "1"
    return Settings(
        database_url=env.get("DEFWATCH_DATABASE_URL")
        or data["database"]["url"]
        or default_database_url(),
        poll_interval=interval,
        max_backoff=_positive(float(poll["max_backoff_seconds"]), "poll.max_backoff_seconds", path),
        feeds_file=_optional_path(poll["feeds_file"], path) or data_path("feeds.toml"),
        max_connections=int(_positive(poll["max_connections"], "poll.max_connections", path)),
        max_per_host=int(_positive(poll["max_per_host"], "poll.max_per_host", path)),
        connect_timeout=_positive(float(poll["connect_timeout"]), "poll.connect_timeout", path),
        read_timeout=_positive(float(poll["read_timeout"]), "poll.read_timeout", path),
        total_timeout=_positive(float(poll["total_timeout"]), "poll.total_timeout", path),
        max_body_bytes=int(_positive(poll["max_body_bytes"], "poll.max_body_bytes", path)),
        lease_seconds=_positive(float(poll["lease_seconds"]), "poll.lease_seconds", path),
        retention_days=int(
            _positive(data["storage"]["retention_days"], "storage.retention_days", path)
        ),
        admin_ids=frozenset(admin_ids),
        allow_private_feeds=bool(allow_private),
        delivery_interval=_positive(
            float(tg["delivery_interval_seconds"]), "telegram.delivery_interval_seconds", path
        ),
        max_watch_items=int(_positive(tg["max_watch_items"], "telegram.max_watch_items", path)),
        requests_per_minute=int(
            _positive(tg["requests_per_minute"], "telegram.requests_per_minute", path)
        ),
        requests_burst=int(_positive(tg["requests_burst"], "telegram.requests_burst", path)),
        watchlists_file=watchlists_file,
        telegram_api_base_url=env.get("TELEGRAM_API_BASE_URL") or None,
        atom_enabled=atom["enabled"],
        atom_host=atom["host"].strip(),
        atom_port=atom["port"],
        atom_entries=int(_positive(atom["entries"], "atom.entries", path)),
        bot_token=env.get("TELEGRAM_BOT_TOKEN") or None,
        source=str(path),
        metrics_listen=_metrics_listen(env, data["metrics"]["listen"], path),
    )


def ca_bundle(env: Mapping[str, str] | None = None) -> str | None:
    """The extra trusted CAs' PEM file named by ``DEFWATCH_CA_BUNDLE``, if any."""
    env = os.environ if env is None else env
    return env.get(CA_BUNDLE_ENV) or None


def sqlite_busy_timeout(env: Mapping[str, str] | None = None) -> float:
    """Seconds a SQLite writer waits for a lock: ``DEFWATCH_SQLITE_BUSY_TIMEOUT``, default 30."""
    env = os.environ if env is None else env
    raw = env.get(BUSY_TIMEOUT_ENV, "").strip()
    try:
        seconds = float(raw) if raw else DEFAULT_BUSY_TIMEOUT
    except ValueError:
        raise ConfigError(
            f"environment: {BUSY_TIMEOUT_ENV} must be seconds (got {raw!r})"
        ) from None
    if seconds < 0:
        raise ConfigError(f"environment: {BUSY_TIMEOUT_ENV} must not be negative (got {raw!r})")
    return seconds


def _metrics_listen(env: Mapping[str, str], from_file: str, path: Path) -> tuple[str, int] | None:
    raw = env.get("DEFWATCH_METRICS_LISTEN")
    if raw is not None:
        return parse_listen(raw, "environment: DEFWATCH_METRICS_LISTEN")
    return parse_listen(from_file, f"{path}: metrics.listen")
