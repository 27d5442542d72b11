"""The ways of storing a snapshot that the workloads compare: the drivers and every baseline.

Each store saves a snapshot the way the pipeline does (one call per parser result), checks that it
reads back exactly what it saved, and (on the server) removes it again so every repetition starts
from the same state. Checking and tidying are never timed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
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
from .measure import Variant

MiB = 1024 * 1024
INLINE_DOCUMENT_LIMIT = 16 * MiB - 64 * 1024
"""What an inline payload may total: MongoDB's 16 MiB document limit less room for the fields."""


@dataclasses.dataclass
class Payload:
    """A parser's output: an array, encoded bytes, or a file; `stored` is the bytes a store keeps."""

    kind: str  # "ndarray", "bytes" or "file"
    stored: bytes
    array: np.ndarray | None = None
    path: Path | None = None

    @classmethod
    def of_array(cls, array: np.ndarray, stored: bytes) -> Payload:
        return cls("ndarray", stored, array=array)

    @classmethod
    def of_bytes(cls, data: bytes) -> Payload:
        return cls("bytes", data)

    @classmethod
    def of_file(cls, path: Path) -> Payload:
        return cls("file", path.read_bytes(), path=path)

    @property
    def extension(self) -> str:
        return ".npy" if self.kind == "ndarray" else (self.path.suffix if self.path else ".bin")

    def for_driver(self) -> Any:
        if self.kind == "ndarray":
            return self.array
        if self.kind == "file":
            assert self.path is not None
            return Blob.from_path(self.path)
        return self.stored

    def for_raw(self) -> Any:
        """What a raw client is handed: the same bytes, or the same file opened."""
        if self.kind == "file":
            assert self.path is not None
            return self.path.open("rb")
        return self.stored

    def matches(self, value: Any) -> bool:
        if self.kind == "ndarray":
            assert self.array is not None
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


def _read(source: Any) -> bytes:
    if isinstance(source, bytes):
        return source
    with source:
        return bytes(source.read())


def _check(condition: bool, what: str) -> None:
    if not condition:
        raise AssertionError(f"read back differs from what was written: {what}")


class Store:
    """save() is timed; check() and tidy() run after each repetition, untimed."""

    def save(self, when: dt.datetime, spec: Spec) -> None:
        raise NotImplementedError

    def check(self, when: dt.datetime, spec: Spec) -> None:
        raise NotImplementedError

    def tidy(self, when: dt.datetime) -> None:
        pass


class DriverStore(Store):
    """A brainstorm driver; `tidy` (given on the server) removes a snapshot with another client."""

    def __init__(self, driver: Any, tidy: Callable[[int], None] | None = None) -> None:
        self.driver = driver
        self.ids: dict[dt.datetime, int] = {}
        self._tidy = tidy

    def save(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            value = dict(result.fields)
            if result.payload:
                value["data"] = result.payload.for_driver()
            self.ids[when] = self.driver.save_snapshot({"user_id": USER, "datetime": when, result.name: value})
            if isinstance(value.get("data"), Blob):
                value["data"].close()

    def check(self, when: dt.datetime, spec: Spec) -> None:
        snapshot_id = self.ids[when]
        snapshot = self.driver.get_snapshot(USER, snapshot_id)
        _check(snapshot is not None and snapshot["datetime"] == when, f"snapshot {snapshot_id}")
        _check(snapshot["available_results"] == sorted(r.name for r in spec), "available results")
        for result in spec:
            stored = self.driver.get_result(USER, snapshot_id, result.name)
            _check(all(stored[k] == v for k, v in result.fields.items()), f"{result.name} fields")
            if result.payload:
                _check(result.payload.matches(stored["data"]), f"{result.name} payload")

    def tidy(self, when: dt.datetime) -> None:
        snapshot_id = self.ids.pop(when)
        if self._tidy:
            self._tidy(snapshot_id)


def mongo_tidy(client_db: Any) -> Callable[[int], None]:
    """Remove one of the driver's snapshots and its GridFS files (with the baselines' client)."""
    import gridfs

    bucket = gridfs.GridFSBucket(client_db, "blobs")

    def tidy(snapshot_id: int) -> None:
        key = {"user_id": USER, "snapshot_id": snapshot_id}
        for name in client_db.list_collection_names():  # snapshots, results: whatever the layout keeps
            if not name.startswith(("blobs.", "system.")):
                client_db[name].delete_many(key)
        for file in client_db["blobs.files"].find({"metadata.user_id": USER, "metadata.snapshot_id": snapshot_id}):
            bucket.delete(file["_id"])

    return tidy


class GridFSStore(Store):
    """Raw pymongo: each payload uploaded with GridFSBucket, then one metadata write per result."""

    def __init__(self, db: Any) -> None:
        import gridfs

        self.collection = db["raw_snapshots"]
        self.collection.create_index([("user_id", 1), ("datetime", 1)], unique=True)
        self.bucket = gridfs.GridFSBucket(db)
        self.bucket.upload_from_stream("anchor", b"-" * 1024)  # a bucket in use: see _mongo_save_case

    def save(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            doc = dict(result.fields)
            if result.payload:
                source = result.payload.for_raw()
                doc["data"] = self.bucket.upload_from_stream(f"{USER}/{when.isoformat()}/{result.name}", source)
                if not isinstance(source, bytes):
                    source.close()
            self.collection.update_one(
                {"user_id": USER, "datetime": when}, {"$set": {f"results.{result.name}": doc}}, upsert=True
            )

    def check(self, when: dt.datetime, spec: Spec) -> None:
        doc = self.collection.find_one({"user_id": USER, "datetime": when})
        _check(doc is not None, "raw snapshot document")
        for result in spec:
            stored = doc["results"][result.name]
            _check(all(stored[k] == v for k, v in result.fields.items()), f"{result.name} fields")
            if result.payload:
                data = self.bucket.open_download_stream(stored["data"]).read()
                _check(data == result.payload.stored, f"{result.name} GridFS bytes")

    def tidy(self, when: dt.datetime) -> None:
        doc = self.collection.find_one_and_delete({"user_id": USER, "datetime": when})
        for stored in (doc or {}).get("results", {}).values():
            if "data" in stored:
                self.bucket.delete(stored["data"])


class InlineStore(Store):
    """Raw pymongo: the payload as `Binary` inside the snapshot's document."""

    def __init__(self, db: Any) -> None:
        self.collection = db["inline_snapshots"]
        self.collection.create_index([("user_id", 1), ("datetime", 1)], unique=True)

    def save(self, when: dt.datetime, spec: Spec) -> None:
        from bson import Binary

        for result in spec:
            doc = dict(result.fields)
            if result.payload:
                doc["data"] = Binary(_read(result.payload.for_raw()))
            self.collection.update_one(
                {"user_id": USER, "datetime": when}, {"$set": {f"results.{result.name}": doc}}, upsert=True
            )

    def check(self, when: dt.datetime, spec: Spec) -> None:
        doc = self.collection.find_one({"user_id": USER, "datetime": when})
        _check(doc is not None, "inline snapshot document")
        for result in spec:
            stored = doc["results"][result.name]
            _check(all(stored[k] == v for k, v in result.fields.items()), f"{result.name} fields")
            if result.payload:
                _check(bytes(stored["data"]) == result.payload.stored, f"{result.name} inline bytes")

    def tidy(self, when: dt.datetime) -> None:
        self.collection.delete_one({"user_id": USER, "datetime": when})


def _write_payload(path: Path, payload: Payload) -> None:
    source = payload.for_raw()
    with path.open("wb") as out:
        if isinstance(source, bytes):
            out.write(source)
        else:
            with source:
                shutil.copyfileobj(source, out, MiB)


class FilePathStore(Store):
    """The old way: each payload written to a file on disk, its path stored in the snapshot's document."""

    def __init__(self, db: Any, directory: Path) -> None:
        self.collection = db["file_snapshots"]
        self.collection.create_index([("user_id", 1), ("datetime", 1)], unique=True)
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def save(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            doc = dict(result.fields)
            if result.payload:
                path = self.directory / f"{USER}-{when:%Y%m%d%H%M%S}-{result.name}{result.payload.extension}"
                _write_payload(path, result.payload)
                doc["path"] = str(path)
            self.collection.update_one(
                {"user_id": USER, "datetime": when}, {"$set": {f"results.{result.name}": doc}}, upsert=True
            )

    def check(self, when: dt.datetime, spec: Spec) -> None:
        doc = self.collection.find_one({"user_id": USER, "datetime": when})
        _check(doc is not None, "file-path snapshot document")
        for result in spec:
            stored = doc["results"][result.name]
            if result.payload:
                _check(Path(stored["path"]).read_bytes() == result.payload.stored, f"{result.name} file bytes")

    def tidy(self, when: dt.datetime) -> None:
        doc = self.collection.find_one_and_delete({"user_id": USER, "datetime": when})
        for stored in (doc or {}).get("results", {}).values():
            if "path" in stored:
                Path(stored["path"]).unlink()


class PlainFileStore(Store):
    """The disk's limit: each payload's bytes written to a file, nothing else."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)

    def _path(self, when: dt.datetime, result: ResultSpec) -> Path:
        assert result.payload is not None
        return self.directory / f"{USER}-{when:%Y%m%d%H%M%S}-{result.name}{result.payload.extension}"

    def save(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            if result.payload:
                _write_payload(self._path(when, result), result.payload)

    def check(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            if result.payload:
                _check(self._path(when, result).read_bytes() == result.payload.stored, f"{result.name} file bytes")


def raw_sqlite(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection with the driver's settings (WAL, synchronous NORMAL, autocommit)."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode = WAL")
    db.execute("PRAGMA synchronous = NORMAL")
    db.execute(
        "CREATE TABLE IF NOT EXISTS results (user_id INTEGER, datetime INTEGER, name TEXT, fields TEXT, "
        "data BLOB, PRIMARY KEY (user_id, datetime, name)) WITHOUT ROWID"
    )
    return db


def _millis(when: dt.datetime) -> int:
    return int((when - dt.datetime(1970, 1, 1)) / dt.timedelta(milliseconds=1))


class RawSqliteStore(Store):
    """Raw sqlite3: one row per result, the payload as one BLOB value, one transaction per result."""

    def __init__(self, path: Path) -> None:
        self.db = raw_sqlite(path)

    def save(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            data = _read(result.payload.for_raw()) if result.payload else None
            self.db.execute(
                "INSERT INTO results (user_id, datetime, name, fields, data) VALUES (?, ?, ?, ?, ?)",
                (USER, _millis(when), result.name, json.dumps(result.fields), data),
            )

    def check(self, when: dt.datetime, spec: Spec) -> None:
        for result in spec:
            row = self.db.execute(
                "SELECT fields, data FROM results WHERE user_id = ? AND datetime = ? AND name = ?",
                (USER, _millis(when), result.name),
            ).fetchone()
            _check(row is not None and json.loads(row[0]) == result.fields, f"{result.name} row")
            if result.payload:
                _check(row[1] == result.payload.stored, f"{result.name} BLOB bytes")


def save_variant(
    name: str, store: Store, spec: Spec, per_op: int = 1, note: str = "", includes: str | None = None
) -> Variant:
    """A variant saving `per_op` snapshots per run; after each run they are checked, then tidied."""
    written: list[dt.datetime] = []

    def op() -> None:
        for _ in range(per_op):
            when = next_datetime()
            store.save(when, spec)
            written.append(when)

    def after() -> None:
        for when in written:
            store.check(when, spec)
            store.tidy(when)
        written.clear()

    return Variant(name, op, ops=per_op, nbytes=spec_bytes(spec), after=after, note=note, includes=includes)


def digest_variant(name: str, spec: Spec, per_op: int = 1) -> Variant:
    """The sha256 of every payload a save stores, and nothing else: the part of a driver's save that
    the contract requires (each payload's sha256 is stored with it) and that no raw baseline does."""
    import hashlib

    digests: list[str] = []
    payloads = [result.payload.stored for result in spec if result.payload]

    def op() -> None:
        for _ in range(per_op):
            digests.extend(hashlib.sha256(stored).hexdigest() for stored in payloads)

    def after() -> None:
        _check(len(digests) == per_op * len(payloads), "one sha256 per payload")
        digests.clear()

    return Variant(name, op, ops=per_op, nbytes=spec_bytes(spec), after=after, note="hashlib.sha256 of the payloads")


class Reading:
    """A read variant's last value, checked after the run (never inside the timing)."""

    def __init__(self, expected: Callable[[Any], bool], what: str) -> None:
        self.expected, self.what = expected, what
        self.values: list[Any] = []

    def keep(self, value: Any) -> None:
        self.values.append(value)

    def check(self) -> None:
        _check(bool(self.values), f"{self.what}: nothing was read")
        for value in self.values:
            _check(self.expected(value), self.what)
        self.values.clear()


def read_variant(
    name: str,
    read: Callable[[], Any],
    expected: Callable[[Any], bool],
    nbytes: int,
    per_op: int = 1,
    note: str = "",
    includes: str | None = None,
) -> Variant:
    reading = Reading(expected, name)

    def op() -> None:
        for _ in range(per_op):
            reading.keep(read())

    return Variant(name, op, ops=per_op, nbytes=nbytes, after=reading.check, note=note, includes=includes)


def read_digest_variant(name: str, data: bytes, per_op: int = 1) -> Variant:
    """The sha256 of the payload's bytes, and nothing else: what a driver's checked read must compute
    (it verifies every payload it reads through) and no raw baseline does."""
    import hashlib

    expected = hashlib.sha256(data).hexdigest()
    return read_variant(
        name, lambda: hashlib.sha256(data).hexdigest(), expected.__eq__, len(data), per_op, note="hashlib.sha256"
    )


def stream_digest(stream: Any, size: int = MiB) -> str:
    """Read a stream to its end in `size` reads; the hashing (the check) is not timed."""
    import hashlib

    from .measure import untimed

    digest = hashlib.sha256()
    with stream:
        while chunk := stream.read(size):
            with untimed():
                digest.update(chunk)
    return digest.hexdigest()


def as_array(data: bytes) -> np.ndarray:
    """What a raw client does to get an array back from .npy bytes."""
    return np.load(io.BytesIO(data))
