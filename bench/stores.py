"""The ways of storing a snapshot that the workloads compare (the drivers and every baseline), and the
variants that time them.

A store saves a snapshot as the pipeline does (`save(when, spec)`, one call per parser result, timed);
after each repetition, untimed, it checks that it reads back what it saved (`check`) and, where asked,
removes it again (`tidy`), so every repetition starts from the same state. The baselines keep their
own documents, tables and files: none reads or writes the drivers' layout.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import io
import json
import shutil
import sqlite3
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainstorm.database_drivers import Blob

from .context import USER, next_datetime
from .measure import Variant, untimed

MiB = 1024 * 1024
INLINE_DOCUMENT_LIMIT = 16 * MiB - 64 * 1024
"""What an inline payload may total: MongoDB's 16 MiB document limit less room for the fields."""


@dataclasses.dataclass
class Payload:
    """A parser's output (an array, encoded bytes, or a file); `stored` is the bytes a store keeps.

    The driver is handed the array or the file; a baseline the stored bytes ready-made, or the same file.
    """

    stored: bytes
    array: np.ndarray | None = None
    path: Path | None = None

    @property
    def extension(self) -> str:
        return ".npy" if self.array is not None else (self.path.suffix if self.path else ".bin")

    def for_driver(self) -> Any:
        return self.array if self.array is not None else Blob.from_path(self.path) if self.path else self.stored

    def source(self) -> Any:
        """What a raw client uploads: the bytes, or the same file opened."""
        return self.path.open("rb") if self.path else io.BytesIO(self.stored)

    def read(self) -> bytes:
        return self.path.read_bytes() if self.path else self.stored

    def write_to(self, target: Path) -> None:
        with self.source() as source, target.open("wb") as out:
            shutil.copyfileobj(source, out, MiB)

    def matches(self, value: Any) -> bool:
        if self.array is not None:
            return (
                isinstance(value, np.ndarray) and value.dtype == self.array.dtype and np.array_equal(value, self.array)
            )
        return bytes(value) == self.stored


@dataclasses.dataclass
class ResultSpec:
    name: str
    fields: dict[str, Any]
    payload: Payload | None = None


Spec = Sequence[ResultSpec]


def spec_bytes(spec: Spec) -> int:
    return sum(len(r.payload.stored) for r in spec if r.payload)


def check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(f"read back differs from what was written: {what}")


class DriverStore:
    """A brainstorm driver; with `tidy`, each snapshot is deleted again (`delete_snapshot`)."""

    def __init__(self, driver: Any, tidy: bool = False) -> None:
        self.driver, self.ids, self._tidy = driver, dict[dt.datetime, int](), tidy

    def save(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            value = dict(result.fields)
            if result.payload:
                value["data"] = result.payload.for_driver()
            self.ids[when] = self.driver.save_snapshot({"user_id": USER, "datetime": when, result.name: value})
            if isinstance(value.get("data"), Blob):
                value["data"].close()

    def check(self, when: dt.datetime, spec: Spec) -> None:
        snapshot = self.driver.get_snapshot(USER, self.ids[when])
        check(snapshot is not None and snapshot["datetime"] == when, f"snapshot {self.ids[when]}")
        check(snapshot["available_results"] == sorted(r.name for r in spec), "available results")
        for result in spec:
            stored = self.driver.get_result(USER, self.ids[when], result.name)
            check(all(stored[k] == v for k, v in result.fields.items()), f"{result.name} fields")
            check(not result.payload or result.payload.matches(stored["data"]), f"{result.name} payload")

    def tidy(self, when: dt.datetime) -> None:
        snapshot_id = self.ids.pop(when)
        if self._tidy:
            self.driver.delete_snapshot(USER, snapshot_id)


class MongoStore:
    """Raw pymongo: one document per snapshot, a `$set` per result, each payload uploaded with
    GridFSBucket (`gridfs`), as `Binary` inside the document (`inline`), or written to a file whose
    path the document keeps (`path`, the old way)."""

    def __init__(self, db: Any, mode: str, directory: Path | None = None) -> None:
        import gridfs

        self.mode, self.directory = mode, directory
        self.collection = db[f"{mode}_snapshots"]
        self.collection.create_index([("user_id", 1), ("datetime", 1)], unique=True)
        self.bucket = gridfs.GridFSBucket(db)
        if mode == "gridfs":
            self.bucket.upload_from_stream("anchor", b"-" * 1024)  # a bucket in use, as in steady use
        if directory:
            directory.mkdir(parents=True, exist_ok=True)

    def _put(self, when: dt.datetime, result: ResultSpec) -> Any:
        assert result.payload is not None
        name = f"{USER}-{when:%Y%m%d%H%M%S}-{result.name}{result.payload.extension}"
        if self.mode == "gridfs" and result.payload.path is None:
            return self.bucket.upload_from_stream(name, result.payload.stored)
        if self.mode == "gridfs":
            with result.payload.source() as source:
                return self.bucket.upload_from_stream(name, source)
        if self.mode == "inline":
            from bson import Binary

            return Binary(result.payload.read())
        assert self.directory is not None
        result.payload.write_to(self.directory / name)
        return str(self.directory / name)

    def _get(self, stored: Any) -> bytes:
        if self.mode == "gridfs":
            return bytes(self.bucket.open_download_stream(stored).read())
        return bytes(stored) if self.mode == "inline" else Path(stored).read_bytes()

    def save(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            doc = dict(result.fields)
            if result.payload:
                doc["data"] = self._put(when, result)
            self.collection.update_one(
                {"user_id": USER, "datetime": when}, {"$set": {f"results.{result.name}": doc}}, upsert=True
            )

    def check(self, when: dt.datetime, spec: Spec) -> None:
        doc = self.collection.find_one({"user_id": USER, "datetime": when})
        check(doc is not None, f"{self.mode} snapshot document")
        for result in spec:
            stored = doc["results"][result.name]
            check(all(stored[k] == v for k, v in result.fields.items()), f"{result.name} fields")
            check(not result.payload or self._get(stored["data"]) == result.payload.stored, f"{result.name} bytes")

    def tidy(self, when: dt.datetime) -> None:
        doc = self.collection.find_one_and_delete({"user_id": USER, "datetime": when})
        for stored in (doc or {}).get("results", {}).values():
            if "data" in stored and self.mode == "gridfs":
                self.bucket.delete(stored["data"])
            elif "data" in stored and self.mode == "path":
                Path(stored["data"]).unlink()


class PlainFileStore:
    """The disk's limit: each payload's bytes written to a file, nothing else (no fsync)."""

    def tidy(self, when: dt.datetime) -> None:
        pass

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def path(self, when: dt.datetime, result: ResultSpec) -> Path:
        assert result.payload is not None
        return self.directory / f"{USER}-{when:%Y%m%d%H%M%S}-{result.name}{result.payload.extension}"

    def save(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            if result.payload:
                result.payload.write_to(self.path(when, result))

    def check(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            if result.payload:
                check(self.path(when, result).read_bytes() == result.payload.stored, f"{result.name} file bytes")


def raw_sqlite(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the driver's settings (WAL, synchronous NORMAL, autocommit) and the
    baselines' one table: a row per result, keyed by user, datetime (ms) and name, the payload a BLOB."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS results (user_id INTEGER, datetime INTEGER, name TEXT, fields TEXT, "
        "data BLOB, PRIMARY KEY (user_id, datetime, name)) WITHOUT ROWID"
    )
    return db


def millis(when: dt.datetime) -> int:
    return int((when - dt.datetime(1970, 1, 1)) / dt.timedelta(milliseconds=1))


class RawSqliteStore:
    """Raw sqlite3: one row per result, the payload as one BLOB value, one transaction per result."""

    tidy = PlainFileStore.tidy

    def __init__(self, path: Path) -> None:
        self.db = raw_sqlite(path)

    def save(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            self.db.execute(
                "INSERT INTO results VALUES (?, ?, ?, ?, ?)",
                (USER, millis(when), result.name, json.dumps(result.fields), result.payload and result.payload.read()),
            )

    def check(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            row = self.db.execute(
                "SELECT fields, data FROM results WHERE user_id = ? AND datetime = ? AND name = ?",
                (USER, millis(when), result.name),
            ).fetchone()
            check(row is not None and json.loads(row[0]) == result.fields, f"{result.name} row")
            check(not result.payload or row[1] == result.payload.stored, f"{result.name} BLOB bytes")


# Variants -----------------------------------------------------------------------------------------


def save_variant(name: str, store: Any, spec: Spec, per_op: int = 1, includes: str | None = None) -> Variant:
    """A variant saving `per_op` snapshots per run; after each run they are checked, then tidied."""
    written: list[dt.datetime] = []

    def op() -> None:
        for _ in range(per_op):
            written.append(next_datetime())
            store.save(written[-1], spec)

    def after() -> None:
        for when in written:
            store.check(when, spec)
            store.tidy(when)
        written.clear()

    return Variant(name, op, ops=per_op, nbytes=spec_bytes(spec), after=after, includes=includes)


def read_variant(
    name: str,
    read: Callable[[], Any],
    expected: Callable[[Any], bool],
    nbytes: int,
    per_op: int = 1,
    includes: str | None = None,
) -> Variant:
    """A variant reading `per_op` times per run; every value read is checked after the run."""
    values: list[Any] = []

    def op() -> None:
        for _ in range(per_op):
            values.append(read())

    def after() -> None:
        check(bool(values), f"{name}: nothing was read")
        for value in values:
            check(expected(value), name)
        values.clear()

    return Variant(name, op, ops=per_op, nbytes=nbytes, after=after, includes=includes)


def digest_variant(name: str, payloads: Sequence[bytes], per_op: int = 1) -> Variant:
    """The sha256 of every payload and nothing else: the digest the contract stores with each payload and
    checks on every read through to the end, which no raw baseline computes."""
    expected = [hashlib.sha256(p).hexdigest() for p in payloads]
    read = lambda: [hashlib.sha256(p).hexdigest() for p in payloads]  # noqa: E731
    return read_variant(name, read, expected.__eq__, sum(map(len, payloads)), per_op)


def stream_digest(stream: Any, size: int = MiB) -> str:
    """Read a stream to its end in `size` reads; the hashing (the check) is not timed."""
    digest = hashlib.sha256()
    with stream:
        while chunk := stream.read(size):
            with untimed():
                digest.update(chunk)
    return digest.hexdigest()


def as_array(data: bytes) -> np.ndarray:
    """What a raw client does to get an array back from .npy bytes."""
    return np.load(io.BytesIO(data))
