"""Shared fixtures: the MongoDB-protocol test server, a fresh database per test, the dataset."""

from __future__ import annotations

import datetime as dt
import io
import os
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pymongo
import pytest
from PIL import Image
from pymongo import monitoring

import brainstorm.database_drivers as db_drivers
from tools.ferretdb_server import running_ferretdb

MONGODB_URL_ENV = "BRAINSTORM_TEST_MONGODB_URL"
DRIVER_NAMES = ["mongodb", "sqlite"]


def with_database(url: str, database: str) -> str:
    """`url` pointing at another database (the URL's path), options kept."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@pytest.fixture(scope="session")
def mongodb_server_url() -> Iterator[str]:
    """A real MongoDB-protocol server: BRAINSTORM_TEST_MONGODB_URL, else a FerretDB started here."""
    if url := os.environ.get(MONGODB_URL_ENV):
        yield url
        return
    with running_ferretdb() as url:
        yield url


@pytest.fixture
def mongodb_url(mongodb_server_url: str) -> Iterator[str]:
    """A URL to a database of its own, dropped after the test."""
    name = f"brainstorm_test_{uuid.uuid4().hex[:12]}"
    yield with_database(mongodb_server_url, name)
    with pymongo.MongoClient(mongodb_server_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


@pytest.fixture(params=DRIVER_NAMES)
def driver_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL to an empty database, for each driver in turn."""
    if request.param == "mongodb":
        return str(request.getfixturevalue("mongodb_url"))
    return f"sqlite:///{tmp_path / 'brainstorm.db'}"


@pytest.fixture
def driver(driver_url: str) -> Iterator[db_drivers.Driver]:
    with db_drivers.connect(driver_url) as driver:
        yield driver


class CommandLog(monitoring.CommandListener):
    """Every command a pymongo client sends, as (command name, collection)."""

    def __init__(self) -> None:
        self.commands: list[tuple[str, Any]] = []
        self.documents: list[dict[str, Any]] = []

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        self.commands.append((event.command_name, event.command.get(event.command_name)))
        self.documents.append(dict(event.command))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass

    def clear(self) -> None:
        self.commands.clear()
        self.documents.clear()


def count_blobs(driver: db_drivers.Driver) -> int:
    """How many payloads the driver's blob store holds."""
    return sum(1 for _ in driver.blob_store.list())


# Helpers for the contract tests ---------------------------------------------------------------

INLINE_LIMITS = {"inline": 16 * 1024 * 1024, "blob_store": 0}
"""Where payloads go: kept inside the result's record (as far as the driver allows) or all in the blob store."""


@pytest.fixture(params=sorted(INLINE_LIMITS))
def store(request: pytest.FixtureRequest, driver_url: str) -> Iterator[db_drivers.Driver]:
    """A driver for each driver name, once keeping payloads inline and once in its blob store."""
    with db_drivers.connect(driver_url, inline_limit=INLINE_LIMITS[request.param]) as driver:
        yield driver


class OneWayStream(io.RawIOBase):
    """A readable binary stream that cannot seek (a pipe, a socket); `fail_after` bytes then OSError."""

    def __init__(self, data: bytes, fail_after: int | None = None) -> None:
        super().__init__()
        self.data, self._source, self._fail_after = data, io.BytesIO(data), fail_after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._fail_after is not None and self._source.tell() >= self._fail_after:
            raise OSError("the stream broke")
        return self._source.readinto(buffer)


def make_image(mode: str, size: tuple[int, int] = (7, 5), seed: object = 0) -> Image.Image:
    """An image of `mode` with pseudo-random pixels (and palette, for P and PA)."""
    rng = random.Random(f"{mode}-{size}-{seed}")
    length = len(Image.new(mode, size).tobytes())
    image = Image.frombytes(mode, size, rng.randbytes(length))
    if mode in ("P", "PA"):
        image.putpalette(rng.randbytes(768))
    return image


def utc_millis(value: dt.datetime) -> dt.datetime:
    """A datetime as the drivers return it: naive UTC, truncated to the millisecond."""
    if value.tzinfo is not None and value.utcoffset() is not None:
        value = value.astimezone(dt.UTC)
    return value.replace(tzinfo=None, microsecond=value.microsecond // 1000 * 1000)


def expected_of(value: Any) -> Any:
    """What reading `value` back must give; call it before saving (saving consumes streams)."""
    if isinstance(value, Mapping):
        return {key: expected_of(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [expected_of(item) for item in value]
    if isinstance(value, memoryview):
        return value.tobytes()
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, io.BytesIO):
        return value.getvalue()[value.tell() :]
    if isinstance(value, OneWayStream):
        return value.data
    if isinstance(value, io.BufferedReader):
        return Path(value.name).read_bytes()[value.tell() :]
    if isinstance(value, dt.datetime):
        return utc_millis(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Image.Image):
        return value.copy()
    return value


_MODE_ALIASES = {"I;16L": "I;16", "I;16N": "I;16" if sys.byteorder == "little" else "I;16B"}


def assert_snapshot_holds(
    driver: db_drivers.Driver, user_id: int, snapshot_id: int, when: dt.datetime, results: Mapping[str, Any]
) -> None:
    """The snapshot reads back with its datetime and exactly these results (as `expected_of` gives them)."""
    assert driver.get_snapshot(user_id, snapshot_id) == {
        "snapshot_id": snapshot_id,
        "datetime": when,
        "available_results": sorted(results),
    }
    for name, value in results.items():
        assert_same(driver.get_result(user_id, snapshot_id, name), value, name)


def assert_same(actual: Any, expected: Any, where: str = "value") -> None:
    """`actual` is what the driver gave back for something whose `expected_of` is `expected`."""
    if isinstance(expected, np.ndarray):
        assert isinstance(actual, np.ndarray), f"{where}: {type(actual).__name__} instead of an array"
        assert (actual.dtype, actual.shape) == (expected.dtype, expected.shape), where
        assert actual.tobytes() == expected.tobytes(), f"{where}: array values differ"
        if expected.flags.f_contiguous and not expected.flags.c_contiguous:
            assert actual.flags.f_contiguous, f"{where}: Fortran order lost"
    elif isinstance(expected, Image.Image):
        assert isinstance(actual, Image.Image), f"{where}: {type(actual).__name__} instead of an image"
        assert actual.mode == _MODE_ALIASES.get(expected.mode, expected.mode), f"{where}: mode {actual.mode}"
        assert actual.size == expected.size, where
        assert actual.tobytes() == expected.tobytes(), f"{where}: pixels differ"
        assert actual.getpalette() == expected.getpalette(), f"{where}: palette differs"
    elif isinstance(expected, dict):
        assert isinstance(actual, Mapping), f"{where}: {type(actual).__name__} instead of a mapping"
        assert sorted(actual) == sorted(expected), f"{where}: keys differ"
        for key in expected:
            assert_same(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: {type(actual).__name__} instead of a list"
        assert len(actual) == len(expected), f"{where}: length differs"
        for index, (got, want) in enumerate(zip(actual, expected, strict=True)):
            assert_same(got, want, f"{where}.{index}")
    else:
        assert actual == expected, f"{where}: {actual!r:.200} != {expected!r:.200}"
        kind = bool if isinstance(expected, bool) else int if isinstance(expected, int) else type(expected)
        assert isinstance(actual, kind) and isinstance(actual, bool) == isinstance(expected, bool), (
            f"{where}: {type(actual).__name__} instead of {type(expected).__name__}"
        )
        if isinstance(expected, dt.datetime):
            assert actual.tzinfo is None, f"{where}: datetimes come back naive (UTC)"


ROOT = Path(__file__).resolve().parent.parent


def run_module(
    module: str, *args: str | int | Path, env: dict[str, str], stdin: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run `python -m MODULE ARGS` to completion, as a user would, capturing its output as text."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )
