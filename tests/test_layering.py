"""The dependency direction holds: config <- monitors <- bot."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module))
    return found


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        pytest.param("monitors", ("telegram", "bot"), id="monitors never imports telegram or bot"),
        pytest.param(
            "config", ("monitors", "bot", "telegram"), id="config imports no project module"
        ),
    ],
)
def test_dependency_direction(package: str, forbidden: tuple[str, ...]) -> None:
    bad = {
        (where, module)
        for where, module in imported_modules(package)
        if module.split(".")[0] in forbidden
    }
    assert not bad
