"""Deleting really reclaims the storage: counted in each driver's own layout, not through the driver."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers._mongo_records import BUCKET
from brainstorm.database_drivers.mongodb_driver import MongodbDriver
from brainstorm.database_drivers.sqlite_driver import SqliteDriver
from brainstorm.testing.contract.deletion import populate
from tests.conftest import CommandLog


@pytest.fixture
def mongo(mongodb_url: str) -> Iterator[MongodbDriver]:
    with db_drivers.connect(mongodb_url, inline_limit=0) as driver:
        assert isinstance(driver, MongodbDriver)
        yield driver


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[SqliteDriver]:
    with db_drivers.connect(f"sqlite:///{tmp_path / 'b.db'}", inline_limit=0) as driver:
        assert isinstance(driver, SqliteDriver)
        yield driver


def mongo_counts(driver: MongodbDriver) -> dict[str, int]:
    db = driver.database
    names = ["users", "snapshots", "snapshot_ids", "results", f"{BUCKET}.files", f"{BUCKET}.chunks"]
    return {name: db[name].count_documents({}) for name in names}


def sqlite_counts(driver: SqliteDriver) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(driver.path)) as db:
        tables = ["users", "deleted_users", "snapshots", "results", "blobs", "trash"]
        counts = {table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in tables}
    counts["payload files"] = sum(len(files) for _, _, files in os.walk(driver.blob_directory))
    return counts


def test_deleting_every_user_leaves_nothing_in_mongodb_but_their_ids(mongo: MongodbDriver) -> None:
    populate(mongo, user_id=42, snapshots=3)
    populate(mongo, user_id=7, snapshots=2)
    assert mongo_counts(mongo)[f"{BUCKET}.chunks"] > 0
    assert mongo.delete_snapshot(42, 3) and mongo.delete_user(42) and mongo.delete_user(7)
    assert mongo_counts(mongo) == {
        "users": 0,
        "snapshots": 2,
        "snapshot_ids": 2,
        "results": 0,
        f"{BUCKET}.files": 0,
        f"{BUCKET}.chunks": 0,
    }
    tombstones = sorted(mongo.database["snapshots"].find({}, {"_id": 0}), key=lambda doc: doc["user_id"])
    assert all(doc.pop("pins", []) == [] for doc in tombstones), "no pin left"
    assert tombstones == [  # ids only: what keeps them from being given again
        {"user_id": 7, "snapshot_id": 2, "deleted": 2},
        {"user_id": 42, "snapshot_id": 3, "deleted": 3},
    ]
    counters = sorted(mongo.database["snapshot_ids"].find(), key=lambda doc: doc["_id"])
    assert counters == [{"_id": 7, "last": 2, "user_gone": True}, {"_id": 42, "last": 3, "user_gone": True}]


def test_deleting_every_user_leaves_nothing_in_sqlite_but_one_id_watermark_each(embedded: SqliteDriver) -> None:
    populate(embedded, user_id=42, snapshots=3)
    populate(embedded, user_id=7, snapshots=2)
    assert sqlite_counts(embedded)["payload files"] == 10
    assert embedded.delete_snapshot(42, 3) and embedded.delete_user(42) and embedded.delete_user(7)
    assert sqlite_counts(embedded) == {
        "users": 0,
        "deleted_users": 2,
        "snapshots": 0,
        "results": 0,
        "blobs": 0,
        "trash": 0,
        "payload files": 0,
    }
    with contextlib.closing(sqlite3.connect(embedded.path)) as db:
        assert sorted(db.execute("SELECT * FROM deleted_users")) == [(7, 2), (42, 3)]


def test_a_deleted_snapshot_below_the_latest_leaves_no_tombstone(mongo: MongodbDriver) -> None:
    populate(mongo, snapshots=3)
    assert mongo.delete_snapshot(42, 2)
    assert sorted(doc["snapshot_id"] for doc in mongo.database["snapshots"].find()) == [1, 3]


def test_deleting_one_result_removes_exactly_its_payloads(mongo: MongodbDriver, embedded: SqliteDriver) -> None:
    for driver, counts, key in ((mongo, mongo_counts, f"{BUCKET}.files"), (embedded, sqlite_counts, "payload files")):
        populate(driver, snapshots=1)
        before = counts(driver)
        assert driver.delete_result(42, 1, "color_image")
        after = counts(driver)
        assert after[key] == before[key] - 1 and after["results"] == before["results"] - 1


def test_a_delete_unpublishes_before_it_deletes_payloads_files_document_first(mongodb_url: str) -> None:
    log = CommandLog()
    with db_drivers.connect(mongodb_url, inline_limit=0, client_options={"event_listeners": [log]}) as driver:
        populate(driver, snapshots=1)
        log.clear()
        assert driver.delete_result(42, 1, "color_image")
    writes = [(name, collection) for name, collection in log.commands if name in ("findAndModify", "delete", "update")]
    assert writes == [
        ("findAndModify", "results"),  # unpublished: gone for every reader at once
        ("update", f"{BUCKET}.files"),  # condemned: never reused from now on
        ("delete", f"{BUCKET}.files"),  # the GridFS spec's order: files document, then chunks
        ("delete", f"{BUCKET}.chunks"),
    ]
