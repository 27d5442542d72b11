"""Stored bytes that are missing or wrong are reported as such (BlobCorrupt, BlobMissing), never returned, never a hang.

The damage is done behind the driver's back, in each store's own layout: a disk error, a bad restore.
"""

from __future__ import annotations

import concurrent.futures
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import BlobCorrupt, BlobMissing
from brainstorm.database_drivers._mongo_records import BUCKET
from brainstorm.database_drivers.mongodb_driver import MongodbDriver
from brainstorm.database_drivers.sqlite_driver import SqliteDriver

WHEN = 1575454087339
DATA = bytes(range(256)) * 4000  # 1,000 KiB: four GridFS chunks
ARRAY = np.arange(300 * 300, dtype=np.float32).reshape(300, 300)
SECONDS = 10  # far more than a check needs; a hang fails instead of blocking the suite


def within_deadline(call: Callable[[], Any]) -> Any:
    """The call's value or exception, or a failure if it does not return within SECONDS."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        try:
            return future.result(timeout=SECONDS)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"no answer within {SECONDS}s: a damaged payload must not hang a reader")


@pytest.fixture(params=["mongodb", "sqlite"])
def damaged(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[db_drivers.Driver]:
    """A driver (payloads in the blob store) holding snapshot 1 of user 1: `bytes` (DATA) and `array` (ARRAY)."""
    url = request.getfixturevalue("mongodb_url") if request.param == "mongodb" else f"sqlite:///{tmp_path / 'b.db'}"
    with db_drivers.connect(url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "bytes": {"data": DATA}, "array": {"data": ARRAY}})
        yield driver


def ref_of(driver: db_drivers.Driver, name: str) -> Any:
    stored = driver.record_store.result(1, 1, name)
    assert stored is not None
    return stored["blobs"][0]["ref"]


def rewrite(driver: db_drivers.Driver, name: str, change: Callable[[bytes], bytes]) -> None:
    """Replace the stored bytes of a payload (all of them in sqlite, its second chunk in GridFS)."""
    ref = ref_of(driver, name)
    if isinstance(driver, MongodbDriver):
        chunks = driver.database[f"{BUCKET}.chunks"]
        chunk = chunks.find_one({"files_id": ref, "n": 1})
        assert chunk is not None
        chunks.update_one({"_id": chunk["_id"]}, {"$set": {"data": change(chunk["data"])}})
    else:
        assert isinstance(driver, SqliteDriver)
        file = Path(driver.blob_store._file(ref))
        file.write_bytes(change(file.read_bytes()))


def flip(data: bytes) -> bytes:
    return data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]


def read_whole(driver: db_drivers.Driver, name: str) -> Any:
    result = driver.get_result(1, 1, name)
    assert result is not None
    return result["data"]


DAMAGE: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda data: data[: len(data) // 2],
    "a byte flipped": flip,
    "lengthened": lambda data: data + b"x",
    "emptied": lambda data: b"",
}


@pytest.mark.parametrize("name", ["bytes", "array"])
@pytest.mark.parametrize("damage", DAMAGE.values(), ids=DAMAGE.keys())
def test_a_damaged_payload_raises_blob_corrupt_naming_it(
    damaged: db_drivers.Driver, damage: Callable[[bytes], bytes], name: str
) -> None:
    rewrite(damaged, name, damage)
    with pytest.raises(BlobCorrupt) as raised:
        within_deadline(lambda: read_whole(damaged, name))
    assert f"user 1, snapshot 1, result {name!r}, payload 'data'" in str(raised.value)
    assert isinstance(raised.value, db_drivers.BrainstormError)


def test_a_stream_read_to_its_end_verifies_the_sha256_there(damaged: db_drivers.Driver) -> None:
    rewrite(damaged, "bytes", flip)
    result = damaged.get_result(1, 1, "bytes")
    assert result is not None
    with result.open("data") as stream:
        assert stream.read(50) == DATA[:50]  # bytes before the end are handed over as they come
        stream.read(len(DATA) - 51)
        with pytest.raises(BlobCorrupt, match="sha256"):
            stream.read()  # the last byte is never handed over with wrong ones before it


def test_an_undamaged_payload_reads_back_through_seeks_and_whole(damaged: db_drivers.Driver) -> None:
    result = damaged.get_result(1, 1, "bytes")
    assert result is not None
    with result.open("data") as stream:
        stream.seek(len(DATA) - 10)
        assert stream.read() == DATA[-10:]
        stream.seek(0)
        assert stream.read() == DATA
    assert read_whole(damaged, "bytes") == DATA
    assert (read_whole(damaged, "array") == ARRAY).all()


def test_a_missing_payload_raises_blob_missing(damaged: db_drivers.Driver) -> None:
    ref = ref_of(damaged, "bytes")
    if isinstance(damaged, MongodbDriver):
        damaged.database[f"{BUCKET}.chunks"].delete_one({"files_id": ref, "n": 2})
    else:
        assert isinstance(damaged, SqliteDriver)
        os.remove(damaged.blob_store._file(ref))
    with pytest.raises(BlobMissing, match=r"^user 1, snapshot 1, result 'bytes', payload 'data': .*missing"):
        within_deadline(lambda: read_whole(damaged, "bytes"))


def test_a_gridfs_files_document_with_another_length_is_corrupt(mongodb_url: str) -> None:
    with db_drivers.connect(mongodb_url, inline_limit=0) as driver:
        assert isinstance(driver, MongodbDriver)
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "bytes": {"data": DATA}})
        driver.database[f"{BUCKET}.files"].update_one({}, {"$set": {"length": len(DATA) + 1}})
        with pytest.raises(BlobCorrupt, match="holds"):
            within_deadline(lambda: read_whole(driver, "bytes"))
