"""The dependency direction holds: config <- monitors <- bot, and detection is pure.

``monitors/detect`` is the pure detection core: it imports no database, HTTP or Telegram
library, and of the rest of ``monitors`` only the plain values and the error tree.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@functools.cache
def imported_modules(package: str) -> frozenset[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), alias.name) for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((str(path.relative_to(ROOT)), node.module))
    return frozenset(found)


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


DETECT_MAY_IMPORT = {"monitors.domain", "monitors.errors"}


@pytest.mark.parametrize(
    "forbidden",
    [
        pytest.param("sqlalchemy", id="no sqlalchemy"),
        pytest.param("httpx", id="no httpx"),
        pytest.param("telegram", id="no telegram"),
        pytest.param("bot", id="no bot"),
        pytest.param("alembic", id="no alembic"),
        pytest.param("aiosqlite", id="no aiosqlite"),
        pytest.param("asyncpg", id="no asyncpg"),
    ],
)
def test_detection_imports_no_io_library(forbidden: str) -> None:
    bad = {
        (where, module)
        for where, module in imported_modules("monitors/detect")
        if module.split(".")[0] == forbidden
    }
    assert not bad


def test_detection_imports_only_pure_monitors_modules() -> None:
    bad = {
        (where, module)
        for where, module in imported_modules("monitors/detect")
        if module.split(".")[0] == "monitors"
        and not module.startswith("monitors.detect")
        and module not in DETECT_MAY_IMPORT
    }
    assert not bad


def test_the_checker_sees_detection_modules() -> None:
    # guards the two tests above against passing vacuously (a wrong path finds no file)
    assert ("monitors/detect/classify.py", "monitors.domain") in imported_modules("monitors/detect")


def exception_classes(package: str) -> set[tuple[str, str]]:
    """(file, class) of every class in ``package`` whose base looks like an exception."""
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith(("Error", "Exception", "URL", "Lost", "Country"))
                for base in node.bases
            ):
                found.add((str(path.relative_to(ROOT)), node.name))
    return found


def test_every_monitors_error_is_in_the_error_tree() -> None:
    import monitors.errors as errors

    outside = {
        (where, name)
        for where, name in exception_classes("monitors")
        if where != "monitors/errors.py"
    }
    assert not outside
    tree = {name for _, name in exception_classes("monitors")}
    assert "UnsafeFeedURL" in tree  # the walk sees the tree itself (not vacuous)
    for name in tree:
        assert issubclass(getattr(errors, name), errors.DefwatchError), name
