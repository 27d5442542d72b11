"""What the contract suite checks results with; also for a driver's own tests.

`expected_of(value)` is what reading `value` back must give (call it before saving: saving consumes
streams); `assert_same(actual, expected)` compares one with the other, types included.
"""

from __future__ import annotations

import datetime as dt
import io
import random
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

import brainstorm.database_drivers as db_drivers


def published_results(
    driver: db_drivers.Driver, user_id: int | None = None
) -> Iterator[tuple[int, dict[str, Any], str, db_drivers.Result]]:
    """(user id, snapshot (`get_snapshot`'s: id, datetime, available results), result name, result) of
    every published result (of one user, if given), found through the public reading API only."""
    for user in driver.get_users():
        if user_id is not None and user["user_id"] != user_id:
            continue
        for listed in driver.get_snapshots(user["user_id"]):
            snapshot = driver.get_snapshot(user["user_id"], listed["snapshot_id"])
            assert snapshot is not None
            for name in snapshot["available_results"]:
                result = driver.get_result(user["user_id"], listed["snapshot_id"], name)
                assert result is not None
                yield user["user_id"], snapshot, name, result


def count_blobs(driver: db_drivers.Driver) -> int:
    """How many payloads the driver's blob store holds."""
    return sum(1 for _ in driver.blob_store.listing())


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


def at_millis(ms: int) -> dt.datetime:
    """Milliseconds since the epoch as the drivers return them: a naive UTC datetime."""
    return dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)


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
            assert isinstance(actual, dt.datetime) and actual.tzinfo is None, (
                f"{where}: datetimes come back naive (UTC)"
            )
