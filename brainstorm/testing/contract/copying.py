"""What a copy between databases needs of every driver: snapshots saved at given ids
(`save_snapshot(..., snapshot_id=N)`), and payloads written as they are stored (`Blob.of(reader)`:
same kind, content type and bytes, checked against their sha256 before the result is published)."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import Blob, BlobCorrupt, InvalidInput, SnapshotConflict
from brainstorm.testing.helpers import at_millis, count_blobs, make_image

MS = 1575454087339
BIG = bytes(range(256)) * 1200  # 300 KiB: in the blob store unless kept inline


def ids_and_datetimes(driver: db_drivers.Driver, user_id: int) -> dict[int, int]:
    return {
        s["snapshot_id"]: round((s["datetime"] - at_millis(0)).total_seconds() * 1000)
        for s in driver.get_snapshots(user_id)
    }


def test_a_snapshot_is_saved_at_the_id_given(driver: db_drivers.Driver) -> None:
    assert driver.save_snapshot({"user_id": 1, "datetime": MS, "pose": {"x": 1}}, snapshot_id=7) == 7
    assert driver.save_snapshot({"user_id": 1, "datetime": MS - 5}, snapshot_id=3) == 3
    assert ids_and_datetimes(driver, 1) == {3: MS - 5, 7: MS}
    assert driver.get_snapshot(1, 7) == {"snapshot_id": 7, "datetime": at_millis(MS), "available_results": ["pose"]}
    assert driver.get_result(1, 7, "pose") == {"x": 1}
    assert driver.get_users() == [{"user_id": 1, "username": None}]


def test_numbering_goes_on_above_every_id_placed(driver: db_drivers.Driver) -> None:
    driver.save_snapshot({"user_id": 1, "datetime": MS}, snapshot_id=7)
    assert driver.save_snapshot({"user_id": 1, "datetime": MS + 1}) == 8
    driver.save_snapshot({"user_id": 1, "datetime": MS + 2}, snapshot_id=20)
    driver.delete_snapshot(1, 20)
    assert driver.save_snapshot({"user_id": 1, "datetime": MS + 3}) == 21
    assert driver.save_snapshot({"user_id": 2, "datetime": MS}) == 1  # other users number their own


def test_placing_the_same_snapshot_again_merges_into_it(driver: db_drivers.Driver) -> None:
    driver.save_snapshot({"user_id": 1, "datetime": MS, "pose": {"x": 1}}, snapshot_id=4)
    assert driver.save_snapshot({"user_id": 1, "datetime": MS, "feelings": {"joy": 1}}, snapshot_id=4) == 4
    assert driver.save_snapshot({"user_id": 1, "datetime": MS, "pose": {"x": 2}}) == 4
    snapshot = driver.get_snapshot(1, 4)
    assert snapshot is not None and snapshot["available_results"] == ["feelings", "pose"]
    assert driver.get_result(1, 4, "pose") == {"x": 2}


def test_a_deleted_id_can_be_placed_again(driver: db_drivers.Driver) -> None:
    for n in range(3):
        driver.save_snapshot({"user_id": 1, "datetime": MS + n})
    driver.delete_snapshot(1, 3)
    driver.delete_snapshot(1, 2)
    assert driver.save_snapshot({"user_id": 1, "datetime": MS + 10, "pose": {}}, snapshot_id=2) == 2
    assert driver.save_snapshot({"user_id": 1, "datetime": MS + 12}, snapshot_id=3) == 3  # the latest deleted
    assert ids_and_datetimes(driver, 1) == {1: MS, 2: MS + 10, 3: MS + 12}
    assert driver.save_snapshot({"user_id": 1, "datetime": MS + 11}) == 4


@pytest.mark.parametrize("in_the_way", ["the-id", "the-datetime"])
def test_another_snapshot_in_the_way_is_a_conflict_and_nothing_is_written(
    store: db_drivers.Driver, in_the_way: str
) -> None:
    store.save_snapshot({"user_id": 1, "datetime": MS, "pose": {"x": 1}})  # snapshot 1
    blobs = count_blobs(store)
    placed = {"user_id": 1, "datetime": MS + 1 if in_the_way == "the-id" else MS, "image": {"data": BIG}}
    with pytest.raises(SnapshotConflict) as raised:
        store.save_snapshot(placed, snapshot_id=1 if in_the_way == "the-id" else 2)
    message = str(raised.value)
    assert "user 1" in message and "2019-12-04T10:08:07.339" in message
    assert ("snapshot 1" in message and "10:08:07.340" in message) if in_the_way == "the-id" else "2" in message
    assert ids_and_datetimes(store, 1) == {1: MS}
    assert store.get_result(1, 1, "pose") == {"x": 1} and store.get_result(1, 1, "image") is None
    assert count_blobs(store) == blobs


@pytest.mark.parametrize("snapshot_id", [0, -1, True, "1", 1.0])
def test_bad_ids_to_place_at_are_refused(driver: db_drivers.Driver, snapshot_id: object) -> None:
    with pytest.raises((db_drivers.InvalidInput, db_drivers.InvalidType)):
        driver.save_snapshot({"user_id": 1, "datetime": MS}, snapshot_id=snapshot_id)
    assert driver.get_users() == []


def test_payloads_copied_as_stored_keep_kind_content_type_and_bytes(store: db_drivers.Driver) -> None:
    tiff, png = make_image("I;16B", (40, 30)), make_image("RGB", (40, 30))
    value = {"tiff": tiff, "png": png, "array": np.arange(50_000), "bytes": BIG, "small": b"abc", "n": {"deep": [BIG]}}
    store.save_snapshot({"user_id": 1, "datetime": MS, "r": value})
    original = store.get_result(1, 1, "r")
    assert original is not None
    readers = {key: original.open(key) for key in original.blobs}
    copy = original.fields
    copy.update({key: Blob.of(reader) for key, reader in readers.items() if "." not in key})
    copy["n"]["deep"][0] = Blob.of(readers["n.deep.0"])
    store.save_snapshot({"user_id": 2, "datetime": MS, "r": copy}, snapshot_id=5)
    copied = store.get_result(2, 5, "r")
    assert copied is not None and copied.blobs == original.blobs
    assert copied.fields == original.fields
    assert copied["tiff"].mode == "I;16B" and copied["tiff"].tobytes() == tiff.tobytes()
    assert copied["png"].tobytes() == png.tobytes() and np.array_equal(copied["array"], np.arange(50_000))


def test_a_payload_that_is_not_its_sha256_is_not_saved(store: db_drivers.Driver) -> None:
    store.save_snapshot({"user_id": 1, "datetime": MS, "r": {"data": BIG}})
    blobs = count_blobs(store)
    wrong = "0" * 64
    with pytest.raises(BlobCorrupt, match=re.escape(f"expected {wrong}")):
        store.save_snapshot({"user_id": 1, "datetime": MS + 1, "r": {"data": Blob(io.BytesIO(BIG), sha256=wrong)}})
    with pytest.raises(BlobCorrupt):  # also when replacing a result whose stored bytes have the same length
        store.save_snapshot({"user_id": 1, "datetime": MS, "r": {"data": Blob(io.BytesIO(BIG[::-1]), sha256=wrong)}})
    assert store.get_snapshots(1) == [{"snapshot_id": 1, "datetime": at_millis(MS)}]
    result = store.get_result(1, 1, "r")
    assert result is not None and result["data"] == BIG
    assert count_blobs(store) == blobs


@pytest.mark.parametrize(
    ("kind", "content_type", "sha256"),
    [
        ("image", "application/octet-stream", None),
        ("ndarray", "image/png", None),
        ("bytes", "application/x-npy", None),
        ("text", "text/plain", None),
        (None, "image/png", "ABC"),
        (None, "image/png", "A" * 64),
    ],
)
def test_blob_kinds_and_sha256s_that_cannot_be_are_refused(
    driver: db_drivers.Driver, kind: str | None, content_type: str, sha256: str | None
) -> None:
    with pytest.raises(InvalidInput):
        driver.save_snapshot(
            {"user_id": 1, "datetime": MS, "r": {"data": Blob(io.BytesIO(b"x"), content_type, kind, sha256)}}
        )
    assert driver.get_users() == []
