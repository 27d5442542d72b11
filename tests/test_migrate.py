"""`brainstorm migrate`: a MongoDB database of layout 1 (one document per user field, as every database was
written before the layout was recorded) is read as it is, refuses writes with one line naming the
command, and is converted to layout 2 (one document per user) idempotently, after a kill, and while
readers read. The SQLite driver keeps the same record (its schema version) and answers the same command.

Layout 1 is built here as that code wrote it: a database saved by this version, taken back to the
old layout (`to_layout_1`), field documents and indexes as they were.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymongo
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import UnsupportedLayout
from brainstorm.testing.helpers import published_results
from tests.conftest import ROOT, run_module

WHEN = 1575454087339
ADA = {"user_id": 7, "username": "Ada", "birthday": 699753600, "tags": ["a", "b"], "address": {"city": "London"}}


def to_layout_1(url: str) -> None:
    """Take a database this version wrote back to layout 1: every user as one document per field
    `{user_id, field, value}` (the `user_id` row first, the others in the order saved) under the unique
    index (user_id, field) and the index (field, user_id), and no record of the layout."""
    with pymongo.MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        db = client.get_default_database()
        users = list(db.users.find())
        db.users.drop()
        db.layout.drop()
        db.users.create_index([("user_id", 1), ("field", 1)], unique=True)
        db.users.create_index([("field", 1), ("user_id", 1)])
        rows = []
        for user in users:
            fields = {"user_id": user["_id"], **{k: v for k, v in user.items() if k not in ("_id", "user_id")}}
            rows += [{"user_id": user["_id"], "field": field, "value": value} for field, value in fields.items()]
        if rows:
            db.users.insert_many(rows)
        db.snapshots.update_many({}, {"$unset": {"revision": ""}})


@pytest.fixture
def old(mongodb_url: str) -> str:
    """A layout-1 database: two users, one with snapshots, results and a payload in GridFS."""
    with db_drivers.connect(mongodb_url) as driver:
        driver.save_user(ADA)
        driver.save_user({"user_id": 9})
        driver.save_snapshot({"user_id": 7, "datetime": WHEN, "pose": {"x": 1}, "scan": {"data": bytes(100_000)}})
        driver.save_snapshot({"user_id": 7, "datetime": WHEN + 1, "feelings": {"happiness": 0.5}})
    to_layout_1(mongodb_url)
    return mongodb_url


def everything(driver: db_drivers.Driver) -> dict[str, Any]:
    """All a reader can see, payload bytes included."""
    return {
        "users": driver.get_users(),
        "fields": [driver.get_user(u["user_id"]) for u in driver.get_users()],
        "results": [
            (user_id, snapshot, name, dict(result.fields), {key: _read(result, key) for key in result.blobs})
            for user_id, snapshot, name, result in published_results(driver)
        ],
    }


def _read(result: db_drivers.Result, key: str) -> bytes:
    with result.open(key) as stream:
        return stream.read()


EXPECTED_USERS = [{"user_id": 7, "username": "Ada"}, {"user_id": 9, "username": None}]


def test_a_layout_1_database_reads_as_it_was_written(old: str) -> None:
    with db_drivers.connect(old) as driver:
        assert driver.get_users() == EXPECTED_USERS
        assert driver.get_user(7) == ADA
        assert list(driver.get_user(7) or {}) == list(ADA), "the fields in the order they were saved"
        assert driver.get_user(9) == {"user_id": 9}
        assert driver.get_user(8) is None
        result = driver.get_result(7, 1, "scan")
        assert result is not None and result["data"] == bytes(100_000)
        assert driver.verify().ok


@pytest.mark.parametrize(
    "write",
    [
        lambda d: d.save_user({"user_id": 7, "username": "Ada L."}),
        lambda d: d.save_snapshot({"user_id": 7, "datetime": WHEN + 2, "pose": {"x": 2}}),
        lambda d: d.delete_user(9),
        lambda d: d.collect_garbage(),
    ],
    ids=["save_user", "save_snapshot", "delete_user", "gc"],
)
def test_every_write_to_it_is_refused_naming_the_command_and_changes_nothing(old: str, write: Any) -> None:
    with db_drivers.connect(old) as driver:
        before = everything(driver)
        with pytest.raises(UnsupportedLayout, match=r"has layout 1, .* writes layout 2: run `brainstorm migrate`"):
            write(driver)
        assert everything(driver) == before


def test_the_command_lines_refuse_to_write_in_one_line(old: str, tmp_path: Path) -> None:
    message = tmp_path / "pose.json"
    message.write_text(json.dumps({"user": {"user_id": 7}, "datetime": WHEN + 5, "pose": {"x": 3}}))
    env = {**os.environ, "BRAINSTORM_DATABASE_URL": old}
    for process in (
        run_module("brainstorm.saver", "save", "pose", message, env=env),
        run_module("brainstorm.cli", "delete", "9", "--yes", env=env),
    ):
        assert process.returncode == 1
        lines = process.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ") and "brainstorm migrate" in lines[0], lines


def layout_of(url: str) -> tuple[Any, list[dict[str, Any]], set[str]]:
    """The layout record, the user documents and the users collection's index names."""
    with pymongo.MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        db = client.get_default_database()
        return db.layout.find_one({}), list(db.users.find()), set(db.users.index_information())


def test_migrate_converts_it_and_writes_work_again(old: str) -> None:
    with db_drivers.connect(old) as driver:
        before = everything(driver)
    migrated = run_module("brainstorm.cli", "-d", old, "migrate", env=dict(os.environ))
    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.strip() == "migrated from layout 1 to layout 2: 2 users converted"
    record, users, indexes = layout_of(old)
    assert record == {"_id": "brainstorm", "version": 2}
    assert sorted(users, key=lambda u: u["_id"]) == [{"_id": 7, **ADA}, {"_id": 9, "user_id": 9}]
    assert "user_id_1_field_1" not in indexes and "field_1_user_id_1" not in indexes
    with db_drivers.connect(old) as driver:
        assert everything(driver) == before
        driver.save_user({"user_id": 7, "username": "Ada L."})
        assert driver.get_user(7) == {**ADA, "username": "Ada L."}
        driver.save_snapshot({"user_id": 7, "datetime": WHEN + 2, "pose": {"x": 2}})
        assert [s["snapshot_id"] for s in driver.get_snapshots(7)] == [1, 2, 3]
    again = run_module("brainstorm.cli", "-d", old, "migrate", "--json", env=dict(os.environ))
    assert json.loads(again.stdout) == {"layout_before": 2, "layout_after": 2, "converted": 0}


def test_a_user_field_named_id_stops_the_migration_before_anything_changes(old: str) -> None:
    with pymongo.MongoClient(old, serverSelectionTimeoutMS=5000) as client:
        client.get_default_database().users.insert_one({"user_id": 9, "field": "_id", "value": 3})
    before = layout_of(old)
    with (
        db_drivers.connect(old) as driver,
        pytest.raises(db_drivers.InvalidInput, match="user 9 has a field named '_id'"),
    ):
        driver.migrate()
    assert layout_of(old) == before


def test_a_database_of_a_newer_layout_is_not_written_nor_migrated(mongodb_url: str) -> None:
    with db_drivers.connect(mongodb_url) as driver:
        driver.save_user({"user_id": 1})
    with pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        client.get_default_database().layout.update_one({"_id": "brainstorm"}, {"$set": {"version": 3}})
    with db_drivers.connect(mongodb_url) as driver:
        assert driver.get_user(1) == {"user_id": 1}
        for write in (lambda: driver.save_user({"user_id": 2}), driver.migrate):
            with pytest.raises(UnsupportedLayout, match="has layout 3, written by a newer brainstorm"):
                write()


def test_a_new_database_gets_the_layout_recorded_by_its_first_write(mongodb_url: str) -> None:
    with db_drivers.connect(mongodb_url) as driver:
        assert driver.migrate().as_dict() == {"layout_before": None, "layout_after": 2, "converted": 0}
        assert layout_of(mongodb_url)[0] == {"_id": "brainstorm", "version": 2}


# Many users: a migration that takes long enough to be killed, and read, while it runs -------------------

MANY = 1500


@pytest.fixture
def crowded(mongodb_url: str) -> str:
    """A layout-1 database of MANY users with three fields each, written straight in that layout."""
    with db_drivers.connect(mongodb_url) as driver:
        driver.save_user({"user_id": 0})  # the layout 2 indexes and record, which to_layout_1 takes back
    to_layout_1(mongodb_url)
    with pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        rows = [
            {"user_id": u, "field": field, "value": value}
            for u in range(1, MANY + 1)
            for field, value in (("user_id", u), ("username", f"u{u}"), ("age", u % 90), ("tags", [u, "t"]))
        ]
        client.get_default_database().users.insert_many(rows)
    return mongodb_url


def user_number(u: int) -> dict[str, Any]:
    return {"user_id": u, "username": f"u{u}", "age": u % 90, "tags": [u, "t"]}


def converted_so_far(url: str) -> int:
    with pymongo.MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        return client.get_default_database().users.count_documents({"_id": {"$not": {"$type": "objectId"}}})


def start_migration(url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "brainstorm.cli", "-d", url, "migrate"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_migration_killed_midway_is_completed_by_running_it_again(crowded: str) -> None:
    migration = start_migration(crowded)
    deadline = time.monotonic() + 120
    while converted_so_far(crowded) < MANY // 4:
        assert migration.poll() is None and time.monotonic() < deadline, "it ended before it could be killed"
        time.sleep(0.02)
    migration.send_signal(signal.SIGKILL)
    migration.wait()
    with db_drivers.connect(crowded) as driver:  # half converted: everyone reads whole
        assert [driver.get_user(u) for u in (1, MANY // 8, MANY)] == [
            user_number(1),
            user_number(MANY // 8),
            user_number(MANY),
        ]
        assert len(driver.get_users()) == MANY + 1
        with pytest.raises(UnsupportedLayout):
            driver.save_user({"user_id": 1, "age": 3})
    again = run_module("brainstorm.cli", "-d", crowded, "migrate", env=dict(os.environ))
    assert again.returncode == 0 and again.stdout.startswith("migrated from layout 1 to layout 2"), again.stderr
    with db_drivers.connect(crowded) as driver:
        assert driver.get_users() == [{"user_id": 0, "username": None}] + [
            {"user_id": u, "username": f"u{u}"} for u in range(1, MANY + 1)
        ]
        assert all(driver.get_user(u) == user_number(u) for u in range(1, MANY + 1, 97))
    assert layout_of(crowded)[0] == {"_id": "brainstorm", "version": 2}


READER = """
import json, random, sys
import brainstorm.database_drivers as db_drivers

url, many = sys.argv[1], int(sys.argv[2])
expected = [{"user_id": 0, "username": None}] + [{"user_id": u, "username": f"u{u}"} for u in range(1, many + 1)]
wrong, reads = [], 0
with db_drivers.connect(url) as driver:  # connected before the migration: it reads layout 1 first
    print("ready", flush=True)
    while sys.stdin.readline().strip() == "read":
        for _ in range(3):
            reads += 1
            if driver.get_users() != expected:
                wrong.append("get_users")
            u = random.randint(1, many)
            if driver.get_user(u) != {"user_id": u, "username": f"u{u}", "age": u % 90, "tags": [u, "t"]}:
                wrong.append(f"get_user({u})")
        print("done", flush=True)
print(json.dumps({"reads": reads, "wrong": wrong}), flush=True)
"""


@pytest.fixture
def reader(crowded: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(READER), crowded, str(MANY)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    yield process
    process.kill()
    process.wait()


def test_readers_read_every_user_whole_while_it_migrates(crowded: str, reader: subprocess.Popen[str]) -> None:
    assert reader.stdin is not None and reader.stdout is not None
    migration = start_migration(crowded)
    during, after = 0, 0
    while after < 2:  # reads through the migration, and after it
        running = migration.poll() is None
        reader.stdin.write("read\n")
        reader.stdin.flush()
        assert reader.stdout.readline().strip() == "done"
        during, after = (during + 1, after) if running else (during, after + 1)
    assert migration.returncode == 0, migration.communicate()[1]
    assert during >= 3, f"only {during} rounds of reads while it migrated"
    reader.stdin.write("stop\n")
    reader.stdin.flush()
    found = json.loads(reader.stdout.readline())
    assert found["wrong"] == [] and found["reads"] == 3 * (during + after), found


# SQLite: the same record and command ----------------------------------------------------------------


def test_migrate_on_the_embedded_database_has_nothing_to_do(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    with db_drivers.connect(url) as driver:
        driver.save_user({"user_id": 1})
        assert driver.record_store.layout() == driver.record_store.layout_version == 4
    migrated = run_module("brainstorm.cli", "-d", url, "migrate", env=dict(os.environ))
    assert migrated.returncode == 0 and migrated.stdout.strip() == "layout 4: up to date, nothing to migrate"


VERSION_3 = """
CREATE TABLE users (user_id INTEGER PRIMARY KEY, fields TEXT NOT NULL, last_snapshot_id INTEGER NOT NULL DEFAULT 0);
CREATE TABLE deleted_users (user_id INTEGER PRIMARY KEY, last_snapshot_id INTEGER NOT NULL);
CREATE TABLE snapshots (user_id INTEGER NOT NULL, snapshot_id INTEGER NOT NULL, datetime INTEGER NOT NULL,
    PRIMARY KEY (user_id, snapshot_id), UNIQUE (user_id, datetime)) WITHOUT ROWID;
CREATE TABLE results (user_id INTEGER NOT NULL, snapshot_id INTEGER NOT NULL, name TEXT NOT NULL,
    record TEXT NOT NULL, PRIMARY KEY (user_id, snapshot_id, name)) WITHOUT ROWID;
CREATE TABLE blobs (blob_id INTEGER PRIMARY KEY AUTOINCREMENT, user_id INTEGER NOT NULL, snapshot_id INTEGER NOT NULL,
    result_name TEXT NOT NULL, path TEXT NOT NULL, kind TEXT NOT NULL, content_type TEXT NOT NULL, length INTEGER,
    sha256 TEXT, uploaded INTEGER, condemned INTEGER NOT NULL DEFAULT 0);
CREATE TABLE trash (blob_id INTEGER PRIMARY KEY);
INSERT INTO users VALUES (1, '{"username": "One"}', 2);
INSERT INTO snapshots VALUES (1, 1, 1000), (1, 2, 2000);
INSERT INTO results VALUES (1, 1, 'pose', '{"value": {"x": 1}, "blobs": []}');
PRAGMA user_version = 3;
"""


def test_an_embedded_file_of_schema_3_is_brought_up_to_date_when_opened(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as old:
        old.executescript(VERSION_3)
    with db_drivers.connect(f"sqlite:///{path}") as driver:
        assert driver.record_store.layout() == 4
        assert driver.get_user(1) == {"user_id": 1, "username": "One"}
        assert [s["snapshot_id"] for s in driver.get_snapshots(1)] == [1, 2]
        assert driver.collect_garbage().empty_snapshots == 1, "snapshot 2 holds nothing; it was made before v4"
        assert [s["snapshot_id"] for s in driver.get_snapshots(1)] == [1]
        assert driver.save_snapshot({"user_id": 1, "datetime": 3000}) == 3
