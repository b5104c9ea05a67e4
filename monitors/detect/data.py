"""Reading the data files of ``config/`` that detection knows the world by.

Rule: a file that is missing or not valid TOML is a ``ConfigError`` naming the file and what
it holds; each module then checks the keys it needs and names file and key when one is wrong.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from config import data_path
from monitors.errors import ConfigError


def read_toml(path: Path | str, what: str) -> dict[str, Any]:
    """The table of ``path`` (a ``Path``, or a file name in ``config/``); ``what`` names its
    content in the error ("lexicon", "word lists")."""
    path = data_path(path) if isinstance(path, str) else path
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from exc
