"""Reading many snapshots at once: one result across a user's snapshots, and the ranges arrays describe.

`get_results` is what a chart of a user's feelings (or a scale shared by all their depth maps) is
drawn from in one query; an array's `minimum` and `maximum` let a reader put many arrays on one scale
without reading any of them.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import Blob

WHEN = 1575454087339


def test_get_results_gives_the_result_of_every_snapshot_that_has_it(driver: db_drivers.Driver) -> None:
    ids = [
        driver.save_snapshot({"user_id": 1, "datetime": WHEN + i, "feelings": {"hunger": i / 10}, "pose": {"x": i}})
        for i in range(5)
    ]
    without = driver.save_snapshot({"user_id": 1, "datetime": WHEN + 10, "pose": {"x": 10}})
    driver.save_snapshot({"user_id": 2, "datetime": WHEN, "feelings": {"hunger": -1}})
    driver.delete_result(1, ids[3], "feelings")

    found = driver.get_results(1, "feelings")

    assert sorted(found) == sorted(set(ids) - {ids[3]})
    assert without not in found
    for i, snapshot_id in enumerate(ids):
        if snapshot_id in found:
            assert found[snapshot_id].fields == {"hunger": i / 10}
    assert driver.get_results(3, "feelings") == {}
    assert driver.get_results(1, "nothing") == {}


def test_get_results_leaves_payloads_to_be_read_when_used(driver: db_drivers.Driver) -> None:
    data = np.arange(12, dtype=np.float32).reshape(3, 4)
    snapshot_id = driver.save_snapshot({"user_id": 1, "datetime": WHEN, "depth_image": {"data": data}})
    (result,) = driver.get_results(1, "depth_image").values()
    assert result.blobs["data"]["length"] > data.nbytes
    np.testing.assert_array_equal(result["data"], data)
    assert list(driver.get_results(1, "depth_image")) == [snapshot_id]


@pytest.mark.parametrize("bad", [-1, 2**64, "1", 1.0, None, {"$gt": 0}])
def test_get_results_refuses_bad_user_ids(driver: db_drivers.Driver, bad: Any) -> None:
    with pytest.raises((db_drivers.InvalidInput, db_drivers.InvalidType)):
        driver.get_results(bad, "feelings")


@pytest.mark.parametrize("bad", ["", "$where", "a.b", 7, None])
def test_get_results_refuses_bad_result_names(driver: db_drivers.Driver, bad: Any) -> None:
    with pytest.raises((db_drivers.InvalidInput, db_drivers.InvalidType)):
        driver.get_results(1, bad)


def _npy(array: np.ndarray) -> io.BytesIO:
    stream = io.BytesIO()
    np.save(stream, array)
    stream.seek(0)
    return stream


RANGES: dict[str, tuple[Any, tuple[float, float] | None]] = {
    "float32-with-nan-and-infinity": (np.array([[np.nan, np.inf], [-2.5, 4.0]], dtype=np.float32), (-2.5, 4.0)),
    "float64-big-endian": (np.linspace(-1, 3, 1000).astype(">f8"), (-1.0, 3.0)),
    "uint16": (np.arange(100, 60000, 7, dtype=np.uint16), (100.0, 59996.0)),
    "int8": (np.array([-128, 5, 127], dtype=np.int8), (-128.0, 127.0)),
    "bool": (np.array([True, True]), (1.0, 1.0)),
    "fortran-order": (np.asfortranarray(np.arange(30, dtype=np.float64).reshape(5, 6)), (0.0, 29.0)),
    "large": (np.random.default_rng(1).normal(size=(600, 500)).astype(np.float32), None),  # compared below
    "all-nan": (np.full((2, 2), np.nan), None),
    "empty": (np.zeros((0, 3)), None),
    "complex": (np.array([1 + 1j]), None),
}


@pytest.mark.parametrize("as_stream", [False, True], ids=["array", "npy-stream"])
@pytest.mark.parametrize(("array", "expected"), RANGES.values(), ids=RANGES.keys())
def test_arrays_describe_their_smallest_and_largest_finite_value(
    store: db_drivers.Driver, array: np.ndarray, expected: tuple[float, float] | None, as_stream: bool
) -> None:
    payload = Blob(_npy(array), "application/x-npy") if as_stream else array
    snapshot_id = store.save_snapshot({"user_id": 1, "datetime": WHEN, "depth_image": {"data": payload}})
    found = store.get_result(1, snapshot_id, "depth_image")
    assert found is not None
    info = found.blobs["data"]
    finite = array[np.isfinite(array)] if array.dtype.kind in "biuf" else np.array([])
    if array.dtype.kind in "biuf" and finite.size:
        expected = (float(finite.min()), float(finite.max()))
    if expected is None:
        assert "minimum" not in info and "maximum" not in info
    else:
        assert (info["minimum"], info["maximum"]) == expected


def test_bytes_and_images_describe_no_range(driver: db_drivers.Driver) -> None:
    snapshot_id = driver.save_snapshot({"user_id": 1, "datetime": WHEN, "raw": {"data": b"\x00\x09" * 100}})
    found = driver.get_result(1, snapshot_id, "raw")
    assert found is not None and "minimum" not in found.blobs["data"]
