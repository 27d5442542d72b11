"""The MongoDB driver: users, snapshots and results in collections, payloads in GridFS.

Layout (database = the URL's path, default `brainstorm`):

- `users`: one document per user field, `{user_id, field, value}`, unique on (user_id, field); every
  user has the row `field: "user_id"`.
- `snapshots`: `{user_id, snapshot_id, datetime}`, unique on (user_id, snapshot_id) and on
  (user_id, datetime).
- `results`: one document per result, `{user_id, snapshot_id, name, value, blobs}`, unique on
  (user_id, snapshot_id, name): the result's fields (None where each payload sits) and one
  description per payload (kind, content type, length, sha256, and the GridFS id or inline bytes).
- GridFS bucket `blobs`: payloads above the inline limit, named
  `<user_id>/<snapshot_id>/<result>/<path><.npy|.png|.tiff|.bin>`, with metadata
  `{content_type, sha256, user_id, snapshot_id, result_name, path, kind}`.

Every write that others may race with is either an insert guarded by a unique index or the
replacement of one whole document: the driver never relies on a server applying a read-modify-write
update atomically (FerretDB v1 does not), so concurrent writers lose nothing and ids stay unique.
Saving uploads payloads first and then publishes the result by writing its one document, so a
reader never sees a result whose payloads are incomplete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import IO, Any, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

import bson
import pymongo
from bson.codec_options import TypeDecoder, TypeRegistry
from bson.int64 import Int64
from pymongo import errors as mongo_errors

from ._blobs import BYTES, BlobSource, in_memory_source
from ._driver import Driver, SnapshotSummary, User
from ._errors import DatabaseUnavailable, InvalidInput
from ._gridfs import GridFSBucket
from ._results import PendingResult, StoredResult, Upload, store_result, unreferenced
from ._url import redact, scrub
from ._values import KeyPath, describe

DEFAULT_DATABASE = "brainstorm"
DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 5000
"""How long an operation waits for an unreachable server before failing (override with the URL's
`serverSelectionTimeoutMS`)."""
BUCKET = "blobs"
RESULT_RECORD_LIMIT = 4 * 1024 * 1024
"""A result whose fields and inline payloads exceed this many BSON bytes keeps its payloads (and, if
its fields alone are larger, its fields too) in GridFS, so its document stays below MongoDB's 16 MiB."""
KNOWN_SNAPSHOTS = 4096
"""How many (user, datetime) -> snapshot id pairs a driver remembers; ids never change, so this
saves a lookup per result when a snapshot's results arrive one by one."""
_WRITE_RETRIES = 10
INDEXES: dict[str, list[tuple[tuple[str, int], ...]]] = {
    "users": [(("user_id", 1), ("field", 1)), (("field", 1), ("user_id", 1))],
    "snapshots": [(("user_id", 1), ("snapshot_id", 1)), (("user_id", 1), ("datetime", 1))],
    "results": [(("user_id", 1), ("snapshot_id", 1), ("name", 1))],
}
"""The indexes the driver creates (all unique), by collection; every query it sends is served by one."""
_T = TypeVar("_T")


class MongodbDriver(Driver):
    """A driver for any MongoDB-protocol server (`mongodb://` and `mongodb+srv://` URLs).

    `client_options` are passed to `pymongo.MongoClient`, after the URL's own options.
    """

    schemes = ("mongodb", "mongodb+srv")

    def __init__(
        self, url: str, *, inline_limit: int | None = None, client_options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(url, inline_limit=inline_limit)
        options: dict[str, Any] = {
            "tz_aware": False,
            "document_class": dict,
        }
        if "serverselectiontimeoutms" not in {k.lower() for k, _ in parse_qsl(urlsplit(url).query)}:
            options["serverSelectionTimeoutMS"] = DEFAULT_SERVER_SELECTION_TIMEOUT_MS
        options.update(client_options or {})
        with self._native_errors():
            self._client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url, **options)
            database = self._client.get_database(urlsplit(url).path.lstrip("/") or DEFAULT_DATABASE)
            # Documents decode int64 as int; payload chunks skip that (a type registry slows their decoding 3x).
            records = database.with_options(
                codec_options=database.codec_options.with_options(type_registry=TypeRegistry([_Int64AsInt()]))
            )
            self._users = records["users"]
            self._snapshots = records["snapshots"]
            self._results = records["results"]
            self._bucket = GridFSBucket(database[f"{BUCKET}.files"], database[f"{BUCKET}.chunks"])
            self._bucket.create_indexes()
            for collection, keys in INDEXES.items():
                for key in keys:
                    database[collection].create_index(list(key), unique=True)
        self._known_snapshots: dict[tuple[int, dt.datetime], int] = {}

    @property
    def database(self) -> pymongo.database.Database[dict[str, Any]]:
        """The pymongo database the driver uses (for tools and tests that inspect the layout)."""
        return self._users.database

    def close(self) -> None:
        self._client.close()

    @contextlib.contextmanager
    def _native_errors(self) -> Iterator[None]:
        try:
            yield
        except (mongo_errors.ConnectionFailure, mongo_errors.ConfigurationError) as exc:
            raise DatabaseUnavailable(
                f"MongoDB at {redact(self.url)} is unavailable: {scrub(str(exc), self.url)}"
            ) from None
        except mongo_errors.InvalidURI as exc:
            raise InvalidInput(f"invalid MongoDB URL {redact(self.url)}: {scrub(str(exc), self.url)}") from None
        except mongo_errors.OperationFailure as exc:
            if exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
                raise DatabaseUnavailable(
                    f"MongoDB at {redact(self.url)} refused access: {scrub(str(exc), self.url)}"
                ) from None
            raise

    # Users -------------------------------------------------------------------------------------

    def _write_user(self, user_id: int, fields: dict[str, Any]) -> None:
        """Write one document per field: concurrent saves of other fields are never overwritten."""
        for field, value in {"user_id": user_id, **fields}.items():
            row = {"user_id": user_id, "field": field}
            _retry_duplicate(functools.partial(self._users.replace_one, row, {**row, "value": value}, upsert=True))

    def _read_users(self) -> list[User]:
        users: dict[int, User] = {}
        for row in self._users.find({"field": {"$in": ["user_id", "username"]}}, {"_id": 0}).sort("user_id", 1):
            users.setdefault(row["user_id"], {"user_id": row["user_id"], "username": None})
            if row["field"] == "username":
                users[row["user_id"]]["username"] = row["value"]
        return list(users.values())

    def _read_user(self, user_id: int) -> User | None:
        user = {row["field"]: row["value"] for row in self._users.find({"user_id": user_id}, {"_id": 0})}
        return user or None

    # Snapshots ---------------------------------------------------------------------------------

    def _read_snapshots(self, user_id: int) -> list[SnapshotSummary]:
        cursor = self._snapshots.find({"user_id": user_id}, {"_id": 0, "snapshot_id": 1, "datetime": 1})
        return [{"snapshot_id": d["snapshot_id"], "datetime": d["datetime"]} for d in cursor.sort("datetime", 1)]

    def _read_snapshot(self, user_id: int, snapshot_id: int) -> SnapshotSummary | None:
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        doc = self._snapshots.find_one(key, {"_id": 0, "datetime": 1})
        if doc is None:
            return None
        names = [row["name"] for row in self._results.find(key, {"_id": 0, "name": 1})]
        return {"snapshot_id": snapshot_id, "datetime": doc["datetime"], "available_results": names}

    def _read_result(self, user_id: int, snapshot_id: int, result_name: str) -> StoredResult | None:
        record = self._results.find_one({"user_id": user_id, "snapshot_id": snapshot_id, "name": result_name})
        if record is not None and "body" in record:  # fields too large for the document: in GridFS
            with self._open_blob(record["body"]) as body:
                record["value"] = bson.decode(body.read())
        return cast(StoredResult | None, record)

    def _write_snapshot(self, user_id: int, when: dt.datetime, results: list[PendingResult]) -> int:
        """Upload every payload of the call, then publish each result by writing its document.

        A failure before publishing (a broken stream, a lost server) deletes what was uploaded and
        publishes nothing; one between two publishes keeps the published results whole and deletes
        only the uploads of the others. Afterwards the payloads the replaced results no longer use
        are deleted. The stored versions are read first only for results with payloads (identical
        bytes are reused, not uploaded again); every replace returns the document it replaced,
        which says what became unused.
        """
        snapshot_id, created = self._snapshot_id(user_id, when)
        if not results:
            return snapshot_id
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        with_payloads = [pending.name for pending in results if pending.blobs]
        previous = self._stored_results(key, with_payloads) if with_payloads and not created else {}
        uploaded: dict[str, list[Any]] = {pending.name: [] for pending in results}
        stored: dict[str, dict[str, Any]] = {}
        replaced: dict[str, dict[str, Any] | None] = {}
        redundant: list[Any] = []
        try:
            for pending in results:

                def upload(source: BlobSource, path: KeyPath, name: str = pending.name) -> Any:
                    uploaded[name].append(self._upload(source, user_id, snapshot_id, name, path))
                    return uploaded[name][-1]

                stored[pending.name], extra = self._fit(pending, previous.get(pending.name), upload)
                redundant += extra
            for name, doc in stored.items():
                replaced[name] = self._publish({**key, "name": name}, doc)
        finally:  # after a failure too: what no published result uses is deleted
            unpublished = [ref for name, refs in uploaded.items() if name not in replaced for ref in refs]
            self._delete_blobs(unpublished + redundant + _unused(replaced, stored))
        return snapshot_id

    def _publish(self, row: dict[str, Any], doc: dict[str, Any]) -> dict[str, Any] | None:
        """Write a result's one document; return the document it replaced, if any."""
        replace = functools.partial(self._results.find_one_and_replace, row, {**row, **doc}, upsert=True)
        return _retry_duplicate(replace)

    def _stored_results(self, key: dict[str, Any], names: list[str]) -> dict[str, StoredResult]:
        """The stored versions of these results, to reuse identical payloads and delete replaced ones."""
        return {doc["name"]: cast(StoredResult, doc) for doc in self._results.find({**key, "name": {"$in": names}})}

    def _snapshot_id(self, user_id: int, when: dt.datetime) -> tuple[int, bool]:
        """The id of the user's snapshot at `when`, creating it if needed; and whether it was created.

        A new snapshot takes the user's highest id + 1, inserted under the unique indexes: a writer
        that loses a race for that id tries the next one, and one that loses the race to create the
        same snapshot takes the winner's id.
        """
        if (known := self._known_snapshots.get((user_id, when))) is not None:
            return known, False
        for _ in range(_WRITE_RETRIES):
            latest = self._snapshots.find_one({"user_id": user_id}, {"_id": 0}, sort=[("snapshot_id", -1)])
            if latest is not None and latest["datetime"] == when:
                return self._remember(user_id, when, latest["snapshot_id"]), False
            if latest is None:
                self._write_user(user_id, {})  # the user's first snapshot creates the user
            snapshot_id = (latest["snapshot_id"] if latest else 0) + 1
            try:
                self._snapshots.insert_one({"user_id": user_id, "snapshot_id": snapshot_id, "datetime": when})
                return self._remember(user_id, when, snapshot_id), True
            except mongo_errors.DuplicateKeyError:
                existing = self._snapshots.find_one({"user_id": user_id, "datetime": when}, {"_id": 0})
                if existing is not None:
                    return self._remember(user_id, when, existing["snapshot_id"]), False
        raise DatabaseUnavailable(f"too many concurrent writers for user {user_id}; could not number the snapshot")

    def _remember(self, user_id: int, when: dt.datetime, snapshot_id: int) -> int:
        if len(self._known_snapshots) >= KNOWN_SNAPSHOTS:
            self._known_snapshots.clear()
        self._known_snapshots[user_id, when] = snapshot_id
        return snapshot_id

    def _fit(
        self, pending: PendingResult, previous: StoredResult | None, upload: Upload
    ) -> tuple[dict[str, Any], list[Any]]:
        """Store a result so that its document stays under RESULT_RECORD_LIMIT."""
        fields = bson.encode(pending.value)
        inline = sum(s.length for _, s in pending.blobs if s.length is not None and s.length <= self.inline_limit)
        limit = self.inline_limit if len(fields) + inline <= RESULT_RECORD_LIMIT else 0
        stored, redundant = store_result(pending, previous, limit, upload)
        if len(fields) <= RESULT_RECORD_LIMIT:
            return dict(stored), redundant
        body = in_memory_source(BYTES, "application/bson", ".bson", [fields])
        return {"value": {}, "blobs": stored["blobs"], "body": upload(body, ("_fields",))}, redundant

    # Blobs -------------------------------------------------------------------------------------

    def _upload(self, source: BlobSource, user_id: int, snapshot_id: int, result_name: str, path: KeyPath) -> Any:
        metadata = {
            "user_id": user_id,
            "snapshot_id": snapshot_id,
            "result_name": result_name,
            "path": describe(path),
            "kind": source.kind,
            "content_type": source.content_type,
        }

        def pieces() -> Iterator[bytes | memoryview]:
            yield from source.chunks()
            metadata["sha256"] = source.sha256  # learnt as the pieces went by

        filename = f"{user_id}/{snapshot_id}/{result_name}/{describe(path)}{source.extension}"
        return self._bucket.upload(pieces(), filename, metadata)

    def _open_blob(self, ref: Any) -> IO[bytes]:
        return self._bucket.open(ref)  # type: ignore[return-value]

    def _delete_blobs(self, refs: list[Any]) -> None:
        self._bucket.delete(refs)


def _retry_duplicate(operation: Callable[[], _T]) -> _T:
    """Run an upsert again when a concurrent upsert of the same key won the race."""
    for _ in range(_WRITE_RETRIES - 1):
        with contextlib.suppress(mongo_errors.DuplicateKeyError):
            return operation()
    return operation()


class _Int64AsInt(TypeDecoder):
    """Decode BSON int64 as plain `int`, so values come back with the types they were saved with."""

    bson_type = Int64

    def transform_bson(self, value: Any) -> int:
        return int(value)


def _unused(replaced: dict[str, dict[str, Any] | None], stored: dict[str, dict[str, Any]]) -> list[Any]:
    """GridFS ids that the published results' previous versions used and the new versions do not."""
    return [ref for name, before in replaced.items() for ref in _unreferenced(before, stored[name])]


def _unreferenced(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Any]:
    """GridFS ids the previous version of a result used (payloads and spilled fields) that are now unused."""
    if before is None:
        return []
    garbage = unreferenced(before, after)  # type: ignore[arg-type]
    if "body" in before:
        garbage.append(before["body"])
    return garbage
