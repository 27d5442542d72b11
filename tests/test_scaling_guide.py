"""docs/scaling.md's shard-key table agrees with the indexes the mongodb driver really creates.

MongoDB lets a sharded collection keep a unique index only when the index starts with the shard key
(besides `_id`): a shard key the guide recommends that some unique index does not start with would
make `shardCollection`, or the driver's own `createIndexes`, fail. So on a fresh database, after one
save (the driver creates its indexes lazily, before its first write), every collection the driver
created must have a row in the guide's table; every unique index of a sharded row must start with
that row's shard key; and a row kept unsharded because it "cannot be sharded" must really have unique
indexes that no shard key can prefix (else the guide is out of date the other way). The check is
also run on doctored tables, to show that it reports each kind of mistake.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pymongo
import pytest

import brainstorm.database_drivers as db_drivers

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "scaling.md"
HEADER = ("collection", "shard key", "why")
UNSHARDED = "unsharded"
CANNOT = "cannot be sharded"
PAYLOAD = bytes(range(256)) * 1200  # 300 KiB: above the inline limit, so it goes to GridFS

Row = tuple[tuple[str, ...] | None, str]  # the shard key's fields (None: unsharded), and why
Indexes = dict[str, list[tuple[tuple[str, ...], bool]]]  # collection -> [(fields, unique)]


def shard_key_table(text: str) -> dict[str, Row]:
    """The guide's table `| collection | shard key | why |`, by collection."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if tuple(_cells(line)) == HEADER)
    rows: dict[str, Row] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        collection, key, why = _cells(line)
        collection = collection.strip("`")
        assert collection not in rows, f"two rows for {collection}"
        rows[collection] = (None if key == UNSHARDED else _key_fields(key), why)
    return rows


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _key_fields(key: str) -> tuple[str, ...]:
    """`{user_id: 1, snapshot_id: 1}` or `{_id: "hashed"}` -> the fields, in order."""
    match = re.fullmatch(r"`\{(.*)\}`", key)
    assert match, f"a shard key is written as a key document in backticks, not {key!r}"
    fields = tuple(re.findall(r"([A-Za-z_][\w.]*)\s*:", match.group(1)))
    assert fields, f"no fields in shard key {key!r}"
    return fields


def driver_indexes(url: str) -> Indexes:
    """Every collection the driver creates on a fresh database, with its indexes, after one save."""
    with db_drivers.connect(url) as driver:
        driver.save_snapshot({"user_id": 7, "datetime": dt.datetime(2024, 5, 1), "image": {"data": PAYLOAD}})
    with pymongo.MongoClient(url, serverSelectionTimeoutMS=5000) as client:
        database = client.get_default_database()
        return {
            name: [
                (tuple(field for field, _ in info["key"]), bool(info.get("unique")))
                for info in database[name].index_information().values()
            ]
            for name in database.list_collection_names()
            if not name.startswith("system.")
        }


def problems(table: dict[str, Row], indexes: Indexes) -> list[str]:
    """What the guide's table gets wrong about these indexes (nothing: an empty list)."""
    found = [f"{name}: the driver creates it, the guide has no row for it" for name in set(indexes) - set(table)]
    found += [f"{name}: the guide has a row, the driver no such collection" for name in set(table) - set(indexes)]
    for name in sorted(set(table) & set(indexes)):
        key, why = table[name]
        unique = [fields for fields, is_unique in indexes[name] if is_unique and fields != ("_id",)]
        if key is not None:
            found += [
                f"{name}: unique index {fields} does not start with the shard key {key}"
                for fields in unique
                if fields[: len(key)] != key
            ]
        elif CANNOT in why and len(leading := {fields[0] for fields in unique}) <= 1:
            found.append(f"{name}: its unique indexes (but _id) start with {sorted(leading)}: it can be sharded now")
        elif CANNOT not in why and len({fields[0] for fields in unique}) > 1:
            found.append(f"{name}: its unique indexes {unique} leave no possible shard key; say it {CANNOT}")
    return found


def test_the_guide_names_a_shard_key_every_unique_index_starts_with(mongodb_url: str) -> None:
    indexes = driver_indexes(mongodb_url)
    assert {"users", "snapshots", "snapshot_ids", "layout", "results", "blobs.files", "blobs.chunks"} <= set(indexes)
    assert problems(shard_key_table(GUIDE.read_text()), indexes) == []


def _doctored(collection: str, cells: str | None) -> str:
    """The guide with `collection`'s row of the shard-key table given other cells (None: the row removed)."""
    lines = GUIDE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if tuple(_cells(line)) == HEADER)
    (at,) = [i for i, line in enumerate(lines) if i > start and line.startswith(f"| `{collection}` |")]
    lines[at : at + 1] = [] if cells is None else [f"| `{collection}` | {cells} |"]
    return "\n".join(lines)


@pytest.mark.parametrize(
    ("collection", "cells", "reported"),
    [
        ("snapshots", "`{snapshot_id: 1}` | ids", "does not start with the shard key"),
        ("snapshots", "`{user_id: 1, snapshot_id: 1}` | finer", "('user_id', 'deleted', 'datetime')"),
        ("results", "`{user_id: 1, name: 1}` | by name", "does not start with the shard key"),
        ("blobs.chunks", '`{n: "hashed"}` | spread', "does not start with the shard key"),
        ("users", "`{username: 1}` | by name", "('user_id',) does not start"),
        ("users", "unsharded | cannot be sharded, really", "it can be sharded now"),
        ("snapshot_ids", None, "the guide has no row for it"),
        ("snapshot_ids", "unsharded | cannot be sharded, really", "it can be sharded now"),
    ],
)
def test_the_check_reports_a_doctored_table(
    mongodb_url: str, collection: str, cells: str | None, reported: str
) -> None:
    found = problems(shard_key_table(_doctored(collection, cells)), driver_indexes(mongodb_url))
    assert any(problem.startswith(f"{collection}:") and reported in problem for problem in found), found


def test_the_table_is_read_as_written() -> None:
    table = shard_key_table(GUIDE.read_text())
    assert table["results"][0] == ("user_id", "snapshot_id")
    assert table["blobs.files"][0] == ("_id",)
    assert table["users"][0] == ("user_id",) and table["layout"][0] is None
    assert _key_fields("`{files_id: 1, n: 1}`") == ("files_id", "n")
    with pytest.raises(AssertionError):
        _key_fields("user_id")
