"""The database drivers, as a mapping from name to driver class, and `connect(url)`.

Every class named `XxxDriver` defined in a module of this package (modules whose names start with
`_` excepted) is registered as `xxx` (CamelCase becomes snake_case: `MyStoreDriver` -> `my_store`).
Other packages add drivers through the entry-point group `brainstorm.database_drivers`
(`name = "package.module:Class"`). Modules are found without importing them, so a driver whose
optional dependency is missing breaks nothing until it is asked for, and then says what to install.

    import brainstorm.database_drivers as db_drivers
    db_drivers['mongodb']                       # the class
    db_drivers.driver_class('mongodb')          # the same, typed (type[Driver]) for mypy users
    driver = db_drivers.connect('sqlite:///brainstorm.db')

A URL's scheme picks the driver: the part before any `+` is the driver's name (`mongodb+srv` ->
`mongodb`), as in SQLAlchemy.
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
import sys
import types
from collections.abc import Callable, ItemsView, Iterator, KeysView, Mapping, ValuesView
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from ._blobs import DEFAULT_INLINE_LIMIT, Blob, BlobInfo, BlobReader
from ._driver import Driver
from ._errors import (
    BlobCorrupt,
    BlobMissing,
    BrainstormError,
    DatabaseUnavailable,
    DriverUnavailable,
    InvalidInput,
    InvalidType,
    SnapshotConflict,
    UnknownDriver,
    UnsupportedLayout,
)
from ._reports import GarbageReport, MigrationReport, Tally, VerifyReport
from ._results import Result
from ._url import redact, scheme_of
from ._values import check_datetime, check_result_name, check_user

__all__ = [
    "DEFAULT_INLINE_LIMIT",
    "Blob",
    "BlobCorrupt",
    "BlobInfo",
    "BlobMissing",
    "BlobReader",
    "BrainstormError",
    "DatabaseUnavailable",
    "Driver",
    "DriverUnavailable",
    "GarbageReport",
    "InvalidInput",
    "InvalidType",
    "MigrationReport",
    "Result",
    "SnapshotConflict",
    "Tally",
    "UnknownDriver",
    "UnsupportedLayout",
    "VerifyReport",
    "check_datetime",
    "check_result_name",
    "check_user",
    "connect",
    "driver_class",
    "redact",
]

ENTRY_POINT_GROUP = "brainstorm.database_drivers"
_DRIVER_CLASS = re.compile(r"([A-Z][A-Za-z0-9]*)Driver")
_EXTRAS = {"mongodb": "mongodb"}  # driver name -> the pip extra that installs its dependencies


def driver_name(class_name: str) -> str:
    """`MongodbDriver` -> `mongodb`, `MyStoreDriver` -> `my_store`."""
    match = _DRIVER_CLASS.fullmatch(class_name)
    if match is None:
        raise ValueError(f"{class_name!r} is not named like a driver class (XxxDriver)")
    return re.sub(r"(?<!^)(?=[A-Z])", "_", match.group(1)).lower()


def _package_drivers() -> dict[str, tuple[str, str]]:
    """{name: (module, class)} for the driver classes defined in this package's public modules."""
    found = {}
    for file in sorted(Path(__file__).parent.glob("*.py")):
        if file.name.startswith("_"):
            continue
        for node in ast.parse(file.read_text(encoding="utf-8"), str(file)).body:
            if isinstance(node, ast.ClassDef) and _DRIVER_CLASS.fullmatch(node.name):
                found[driver_name(node.name)] = (f"{__name__}.{file.stem}", node.name)
    return found


def _load_package_driver(name: str, module: str, class_name: str) -> type[Driver]:
    try:
        loaded = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.partition(".")[0] == __name__.partition(".")[0]:
            raise
        extra = _EXTRAS.get(name, name)
        raise DriverUnavailable(
            f"the {name!r} driver needs the {exc.name!r} package, which is not installed; "
            f"install it with: pip install 'brainstorm[{extra}]'"
        ) from exc
    cls: type[Driver] = getattr(loaded, class_name)
    return cls


class _Registry(types.ModuleType):
    """This module, made to behave as a read-only mapping {driver name: driver class}."""

    _loaders: dict[str, Callable[[], type[Driver]]]

    def _discover(self) -> dict[str, Callable[[], type[Driver]]]:
        if "_loaders" not in self.__dict__:
            loaders: dict[str, Callable[[], type[Driver]]] = {}
            for entry in entry_points(group=ENTRY_POINT_GROUP):
                loaders[entry.name] = entry.load
            for name, (module, class_name) in _package_drivers().items():
                loaders[name] = functools.partial(_load_package_driver, name, module, class_name)
            self._loaders = loaders
        return self._loaders

    def __getitem__(self, name: str) -> type[Driver]:
        loaders = self._discover()
        if name not in loaders:
            raise UnknownDriver(f"no database driver named {name!r}; known drivers: {', '.join(sorted(loaders))}")
        return loaders[name]()

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._discover()))

    def __len__(self) -> int:
        return len(self._discover())

    def __contains__(self, name: object) -> bool:
        return name in self._discover()

    def keys(self) -> KeysView[str]:
        return KeysView(self)

    def items(self) -> ItemsView[str, type[Driver]]:
        return ItemsView(self)

    def values(self) -> ValuesView[type[Driver]]:
        return ValuesView(self)

    def get(self, name: str, default: Any = None) -> Any:
        try:
            return self[name]
        except UnknownDriver:
            return default


Mapping.register(_Registry)


def _registry() -> _Registry:
    """This module, as the mapping it is."""
    return sys.modules[__name__]  # type: ignore[return-value]


def driver_class(name: str) -> type[Driver]:
    """`db_drivers[name]`, typed: mypy cannot index a module, so typed code asks this instead."""
    return _registry()[name]


def connect(url: str, **options: Any) -> Driver:
    """A driver instance for `url`, chosen by its scheme; `options` go to the driver's constructor."""
    registry = _registry()
    name = scheme_of(url).partition("+")[0]
    if name not in registry:
        raise UnknownDriver(
            f"no database driver for {redact(url)!r}; known URL schemes: "
            + ", ".join(f"{known}://" for known in registry)
        )
    return registry[name](url, **options)


sys.modules[__name__].__class__ = _Registry
