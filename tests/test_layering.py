"""Who may import whom, read from the source with `ast` (nothing is imported, so nothing can hide it).

Applications (the saver, the reading command line, the HTTP API) use only the library's public surface: a module
whose name, below its package, starts with `_` belongs to that package alone. The helpers beside the
code depend on nothing that depends on them: the benchmarks never import the tests, and the tools
(the FerretDB launcher) import neither.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import ROOT

APPLICATIONS = ["brainstorm/saver", "brainstorm/cli", "brainstorm/api", "brainstorm/copying.py"]


def modules_under(*folders: str) -> list[Path]:
    """Every Python file below these folders, or the file itself (relative to the repository), sorted."""
    paths = (ROOT / folder for folder in folders)
    return sorted(module for path in paths for module in (path.rglob("*.py") if path.is_dir() else [path]))


def module_name(path: Path) -> str:
    """`brainstorm/cli/_commands.py` -> `brainstorm.cli._commands`; a package's `__init__` is the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_of(path: Path, root: Path = ROOT) -> str:
    """The package a module belongs to (for a package's `__init__`, that package)."""
    return ".".join(path.relative_to(root).parent.parts)


def imported_names(path: Path, package: str) -> Iterator[str]:
    """Every module `path` (a module of `package`) imports, absolute, at any depth (imports in functions too).

    `from package import name` yields both `package` and `package.name`, since the name may be a module.
    """
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names if alias.name != "*")


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if not node.level:
        return node.module or ""
    parts = package.split(".")
    anchor = parts[: len(parts) - (node.level - 1)]
    return ".".join([*anchor, *([node.module] if node.module else [])])


def private_module(name: str) -> str | None:
    """The private module a dotted name reaches into (`a.b._c.d` -> `a.b._c`), else None; dunders are public."""
    parts = name.split(".")
    for index, part in enumerate(parts):
        if part.startswith("_") and not (part.startswith("__") and part.endswith("__")):
            return ".".join(parts[: index + 1])
    return None


def foreign_private_imports(path: Path, root: Path = ROOT) -> list[str]:
    """The private modules of other packages that `path` imports (its own package's private modules are its own)."""
    own = package_of(path, root)
    private = {private_module(name) for name in imported_names(path, own)}
    return sorted(name for name in private if name is not None and name.rpartition(".")[0] != own)


def top_level_imports(path: Path) -> set[str]:
    """The top-level packages `path` imports (`tests`, `bench`, `brainstorm`...)."""
    return {name.partition(".")[0] for name in imported_names(path, package_of(path))}


@pytest.mark.parametrize("path", modules_under(*APPLICATIONS), ids=module_name)
def test_applications_import_no_private_module_of_another_package(path: Path) -> None:
    assert foreign_private_imports(path) == []


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("bench", {"tests"}),
        ("tools", {"tests", "bench"}),
    ],
)
def test_helpers_do_not_import_what_depends_on_them(folder: str, forbidden: set[str]) -> None:
    modules = modules_under(folder)
    assert modules, f"no Python module under {folder}/"
    offending = {module_name(path): sorted(top_level_imports(path) & forbidden) for path in modules}
    assert {name: imports for name, imports in offending.items() if imports} == {}


@pytest.mark.parametrize(
    ("source", "package", "expected"),
    [
        (
            "from brainstorm.database_drivers._values import check_user",
            "brainstorm.saver",
            ["brainstorm.database_drivers._values"],
        ),
        ("import brainstorm.database_drivers._url", "brainstorm.saver", ["brainstorm.database_drivers._url"]),
        ("from brainstorm.cli import _common", "brainstorm.saver", ["brainstorm.cli._common"]),
        ("from .._common import Options", "brainstorm.saver", ["brainstorm._common"]),
        ("def f():\n    from brainstorm.cli._format import table", "brainstorm.saver", ["brainstorm.cli._format"]),
        ("from ._message import load", "brainstorm.saver", []),
        ("from . import _extjson", "brainstorm.saver", []),
        ("from brainstorm.database_drivers import redact", "brainstorm.saver", []),
        ("from brainstorm.cli.__main__ import main", "brainstorm.saver", []),
    ],
)
def test_the_check_sees_every_form_of_import(tmp_path: Path, source: str, package: str, expected: list[str]) -> None:
    """The checker itself, on the forms an import can take (a check that sees nothing would always pass)."""
    folder = tmp_path.joinpath(*package.split("."))
    folder.mkdir(parents=True)
    path = folder / "module.py"
    path.write_text(source + "\n")
    assert foreign_private_imports(path, root=tmp_path) == expected
