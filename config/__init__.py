"""Shipped data files (feeds, countries, lexicon, settings) that operators copy and edit.

This package imports no other project module.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def data_path(name: str) -> Path:
    """Path of a shipped data file in this folder, e.g. ``data_path("feeds.toml")``."""
    return Path(str(resources.files(__name__).joinpath(name)))
