"""Every query the mongodb driver sends is served by an index that the driver (or GridFS) creates.

The driver's whole contract runs with pymongo command monitoring on; each find, findAndModify,
update and delete it sends (GridFS's own included) must filter on the leading keys of an index
defined by a createIndexes command seen in the same run (or `_id`), and sort along that index. The
test server (FerretDB) does not use indexes for filters, so this is checked on the queries
themselves, not on timings; the check lives in bench/indexes.py, shared with the benchmarks.
"""

from __future__ import annotations

import datetime as dt
import functools
from typing import Any

import numpy as np
import pymongo
import pytest

import brainstorm.database_drivers as db_drivers
from bench.indexes import Query, index_keys_created, queries_of, served, unserved
from brainstorm.database_drivers import _mongo_records
from brainstorm.testing.helpers import OneWayStream, make_image
from tests.conftest import CommandLog

BIG = bytes(range(256)) * 1200  # 300 KiB: above the inline limit, two GridFS chunks
WHEN = dt.datetime(2024, 5, 1, 12, 0, 0)


class _RacingCollection:
    """A collection whose next insert is preceded by `race()`: another writer gets there first."""

    def __init__(self, collection: Any, race: Any) -> None:
        self._collection, self._race = collection, race

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def insert_one(self, *args: Any, **kwargs: Any) -> Any:
        race, self._race = self._race, None
        if race:
            race()
        return self._collection.insert_one(*args, **kwargs)


def _exercise(driver: Any, other: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every operation of the contract, along every path that sends a query."""
    driver.save_user({"user_id": 1, "username": "ada"})
    driver.save_user({"user_id": 1, "birthday": 1})
    driver.save_user({"user_id": 2})
    assert [u["user_id"] for u in driver.get_users()] == [1, 2]
    assert driver.get_user(1)["username"] == "ada"
    assert driver.get_user(3) is None

    snapshot = {
        "user_id": 1,
        "datetime": WHEN,
        "color_image": {"width": 2, "data": BIG},
        "depth_image": {"data": np.arange(12, dtype=np.float32).reshape(3, 4)},
        "picture": {"data": make_image("RGB")},
        "pose": {"translation": {"x": 1.0}},
    }
    sid = driver.save_snapshot(snapshot)
    assert driver.save_snapshot(snapshot) == sid  # the same bytes again: nothing re-uploaded
    driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color_image": {"data": BIG[::-1]}})  # old blob deleted
    driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color_image": {"data": OneWayStream(BIG[::-1])}})
    limit = getattr(_mongo_records, "RESULT_RECORD_LIMIT", 4 * 1024 * 1024)
    driver.save_snapshot({"user_id": 1, "datetime": WHEN, "fields": {"values": list(range(limit // 8))}})  # spilled
    with pytest.raises(OSError):  # a broken stream: what was uploaded is removed again
        driver.save_snapshot(
            {
                "user_id": 1,
                "datetime": WHEN + dt.timedelta(seconds=1),
                "a": {"data": BIG},
                "b": {"data": OneWayStream(BIG, fail_after=100_000)},
            }
        )

    # Other writers create snapshots while ours is being numbered: the same datetime, then another one.
    for offset, theirs in ((2, 2), (3, 4)):
        ours = WHEN + dt.timedelta(seconds=offset)
        race_at = WHEN + dt.timedelta(seconds=theirs)
        # The driver's snapshot collection, where ids are allocated (this raises if it is ever renamed).
        monkeypatch.setattr(
            driver.record_store,
            "_snapshots",
            _RacingCollection(
                driver.record_store._snapshots,
                functools.partial(other.save_snapshot, {"user_id": 1, "datetime": race_at, "pose": {"x": 1}}),
            ),
        )
        driver.save_snapshot({"user_id": 1, "datetime": ours, "color_image": {"data": BIG}})
        monkeypatch.undo()
    raced = {s["datetime"]: s["snapshot_id"] for s in driver.get_snapshots(1)}[WHEN + dt.timedelta(seconds=2)]

    listed = [s["snapshot_id"] for s in driver.get_snapshots(1)]
    assert sid in listed and raced in listed
    assert driver.get_snapshots(2) == []
    assert driver.get_snapshot(1, sid)["available_results"] == [
        "color_image",
        "depth_image",
        "fields",
        "picture",
        "pose",
    ]
    assert driver.get_snapshot(1, 999) is None
    result = driver.get_result(1, sid, "color_image")
    assert result["data"] == BIG[::-1]
    with result.open("data") as stream:
        stream.seek(len(BIG) - 10)
        assert stream.read() == BIG[::-1][-10:]
    assert driver.get_result(1, sid, "fields")["values"][-1] == limit // 8 - 1
    assert driver.get_result(1, sid, "depth_image")["data"].shape == (3, 4)
    assert driver.get_result(1, sid, "picture")["data"].size == (7, 5)
    assert driver.get_result(1, raced, "color_image")["data"] == BIG
    assert driver.get_result(1, sid, "nothing") is None
    assert driver.get_result(1, 999, "pose") is None


def test_every_query_filter_is_served_by_an_index(mongodb_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    log = CommandLog()
    options = {"client_options": {"event_listeners": [log]}}
    with db_drivers.connect(mongodb_url, **options) as driver, db_drivers.connect(mongodb_url, **options) as other:
        _exercise(driver, other, monkeypatch)
    with db_drivers.connect(mongodb_url, **options) as again:  # an existing database
        assert again.get_snapshots(1)

    commands = [(name, doc, doc.get("$db", "")) for (name, _), doc in zip(log.commands, log.documents, strict=True)]
    queries = [q for name, doc, db in commands for q in queries_of(name, doc, db)]
    indexes = index_keys_created(commands)
    assert {"find", "update", "delete"} <= {q.command for q in queries}  # (findAndModify too, if it uses it)
    assert {collection for (_, collection) in indexes} >= {"snapshots", "blobs.files", "blobs.chunks"}
    declared = getattr(_mongo_records, "INDEXES", {})  # the driver's own list, where it keeps one
    for collection, keys in declared.items():
        assert {tuple(k for k, _ in key) for key in keys} <= next(
            (v for (_, c), v in indexes.items() if c == collection), set()
        ), f"{collection}: declared, not created"

    # The definitions relied on are really on the server.
    with pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        for (database, collection), keys in indexes.items():
            existing = {tuple(index["key"]) for index in client[database][collection].list_indexes()}
            assert keys <= existing, f"{database}.{collection}: {keys - existing} not on the server"

    missing = unserved(queries, indexes, index_keys_created(commands, unique_only=True))
    assert not missing, "queries no index serves:\n" + "\n".join(map(str, missing))


def _query(command: str, filter_: dict[str, Any], sort: dict[str, int] | None = None, limit: int = 0) -> Query:
    doc: dict[str, Any] = {command: "snapshots"}
    if command == "find":
        doc.update(filter=filter_, sort=sort or {}, limit=limit)
    elif command == "delete":
        doc["deletes"] = [{"q": filter_, "limit": limit}]
    elif command == "update":
        doc["updates"] = [{"q": filter_, "u": {"$inc": {"revision": 1}}}]
    (query,) = queries_of(command, doc, "db")
    return query


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (_query("find", {"user_id": 1, "snapshot_id": 2}), True),
        (_query("find", {"snapshot_id": 2, "user_id": 1}), True),  # order within the prefix is free
        (_query("find", {"user_id": 1}, {"datetime": 1}), True),  # the sort continues the index
        (_query("find", {"user_id": 1}, {"snapshot_id": -1}), True),
        (_query("find", {"_id": {"$in": [1, 2]}}), True),
        (_query("find", {}, {"_id": 1}), True),
        (_query("find", {}, limit=1), True),
        (_query("find", {}), False),  # a scan of the whole collection
        (_query("find", {"datetime": 1}), False),  # not a leading key
        (_query("find", {"user_id": 1, "name": "x"}), False),  # a key outside the index
        (_query("find", {"user_id": 1}, {"name": 1}), False),  # a sort the index does not give
        (_query("find", {"$or": [{"user_id": 1}]}), False),
        (_query("delete", {"user_id": 1, "datetime": 2}), True),
        (_query("delete", {"metadata.user_id": 1}), False),
        (_query("find", {"_id": 1, "user_id": 1}), True),  # one document by _id, the rest filters it
        (_query("update", {"user_id": 1, "snapshot_id": 2, "revision": 3}), True),  # ... or by a unique index
        (_query("find", {"user_id": 1, "datetime": 2, "revision": 3}), False),  # not unique: a key outside it
    ],
)
def test_the_check_itself(query: Query, expected: bool) -> None:
    indexes = [("user_id", "datetime"), ("user_id", "snapshot_id")]
    assert served(query, indexes, unique=[("user_id", "snapshot_id")]) is expected
