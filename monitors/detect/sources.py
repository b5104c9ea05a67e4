"""Which state an item speaks for, from where it was published.

An armed force's or defence ministry's own site writes of "our airmen" without naming its
state: "Airmen trained with Mongolian counterparts" on af.mil is a US-Mongolia exercise. The
classifier takes that state as ``source_country`` (and adds it only when the text speaks of
its own forces). Rules, in order (``source_state``):

1. A ``source_country`` given with the item (a feed's ``country`` in the feeds file, a row's
   ``source_country``) wins.
2. Otherwise the first of the given addresses (the feed's, then the item's own) whose host is an
   official military or defence-ministry site (``config/sources.toml``):
   * ``[hosts]``: the host equals a listed name or ends with "." + it ("www.army.mil" -> US by
     "mil"; "royalnavy.mod.uk" -> GB);
   * ``[patterns]``: the host ends with one of the label sequences followed by a country-code
     top-level domain ("mil.ee", "nzdf.mil.nz", "mod.gov.az"): that ccTLD's state, if it is a
     state the gazetteer knows.
3. Otherwise None: a news outlet speaks for no state.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from monitors.detect.data import read_toml
from monitors.errors import ConfigError


@dataclass(frozen=True)
class SourceRules:
    """The host rules of ``config/sources.toml``; ``states`` are the codes a ccTLD may give."""

    hosts: dict[str, str]
    labels: tuple[str, ...]
    cctld_exceptions: dict[str, str]
    states: frozenset[str]

    @classmethod
    def from_config(cls, data: dict, states: Collection[str]) -> SourceRules:
        try:
            hosts = {str(k).lower(): str(v).upper() for k, v in data["hosts"].items()}
            patterns = data["patterns"]
            labels = tuple(str(label).lower().strip(".") for label in patterns["labels"])
            exceptions = {
                str(k).lower(): str(v).upper() for k, v in patterns["cctld_exceptions"].items()
            }
        except (KeyError, AttributeError, TypeError) as exc:
            raise ConfigError(f"config/sources.toml: missing or malformed key: {exc}") from None
        return cls(hosts, labels, exceptions, frozenset(states))

    def state_of(self, address: str | None) -> str | None:
        """The state whose official site ``address`` is on, or None."""
        host = _host(address)
        if not host:
            return None
        parts = host.split(".")
        for i in range(len(parts)):
            state = self.hosts.get(".".join(parts[i:]))
            if state is not None:
                return state
        if len(parts) >= 2 and len(parts[-1]) == 2:
            rest = ".".join(parts[:-1])
            for label in self.labels:
                if rest == label or rest.endswith("." + label):
                    cctld = parts[-1]
                    state = self.cctld_exceptions.get(cctld, cctld.upper())
                    return state if state in self.states else None
        return None


def source_state(
    given: str | None, addresses: Iterable[str | None], rules: SourceRules | None = None
) -> str | None:
    """The state an item speaks for: ``given`` if set, else that of the first official address
    (see the module docstring), else None."""
    if given and given.strip():
        return given.strip().upper()
    rules = rules or default_source_rules()
    for address in addresses:
        state = rules.state_of(address)
        if state is not None:
            return state
    return None


def _host(address: str | None) -> str:
    if not address or "." not in address:
        return ""
    text = address.strip()
    if "//" not in text:
        text = "//" + text  # a bare host name ("www.af.mil")
    try:
        return (urlsplit(text).hostname or "").rstrip(".").lower()
    except ValueError:
        return ""


@functools.cache
def default_source_rules() -> SourceRules:
    from monitors.detect.countries import default_gazetteer

    return SourceRules.from_config(
        read_toml("sources.toml", "official site rules"), default_gazetteer().codes()
    )


__all__ = ["SourceRules", "default_source_rules", "source_state"]
