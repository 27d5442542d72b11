"""The MongoDB driver: users and snapshots in collections, payloads in GridFS.

Layout (database = the URL's path, default `brainstorm`):

- `users`: `{_id: user_id, fields: {...}, last_snapshot_id}`; the counter numbers snapshots.
- `snapshots`: `{user_id, snapshot_id, datetime, available_results: [...], results: {name: result}}`,
  unique on (user_id, datetime) and on (user_id, snapshot_id). A result holds its fields and one
  description per payload (kind, content type, length, sha256, and the GridFS id or inline bytes).
- GridFS bucket `blobs`: payloads above the inline limit, named
  `<user_id>/<snapshot_id>/<result>/<path><.npy|.png|.tiff|.bin>`, with metadata
  `{content_type, sha256, user_id, snapshot_id, result_name, path, kind}`.

Saving uploads payloads first and then publishes the results with one atomic update of the
snapshot's document, so a reader never sees a result whose payloads are incomplete.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator, Mapping
from typing import IO, Any, cast
from urllib.parse import parse_qsl, urlsplit

import bson
import gridfs
import pymongo
from pymongo import errors as mongo_errors

from ._blobs import BYTES, DEFAULT_INLINE_LIMIT, BlobSource, in_memory_source
from ._driver import Driver, SnapshotSummary, User
from ._errors import BlobMissing, DatabaseUnavailable, InvalidInput
from ._results import PendingResult, StoredResult, store_result, unreferenced
from ._url import redact, scrub
from ._values import Path, describe

DEFAULT_DATABASE = "brainstorm"
DEFAULT_SERVER_SELECTION_TIMEOUT_MS = 5000
"""How long an operation waits for an unreachable server before failing (override with the URL's
`serverSelectionTimeoutMS`)."""
BUCKET = "blobs"
RESULT_RECORD_LIMIT = 256 * 1024
"""A result whose fields and inline payloads exceed this many BSON bytes keeps its payloads (and, if
its fields alone are larger, its fields too) in GridFS, so a snapshot's document stays far below
MongoDB's 16 MiB limit."""
_WRITE_RETRIES = 3


class MongodbDriver(Driver):
    """A driver for any MongoDB-protocol server (`mongodb://` and `mongodb+srv://` URLs).

    `client_options` are passed to `pymongo.MongoClient`, after the URL's own options.
    """

    schemes = ("mongodb", "mongodb+srv")

    def __init__(
        self, url: str, *, inline_limit: int = DEFAULT_INLINE_LIMIT, client_options: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(url, inline_limit=inline_limit)
        options: dict[str, Any] = {"tz_aware": False, "document_class": dict}
        if "serverselectiontimeoutms" not in {k.lower() for k, _ in parse_qsl(urlsplit(url).query)}:
            options["serverSelectionTimeoutMS"] = DEFAULT_SERVER_SELECTION_TIMEOUT_MS
        options.update(client_options or {})
        with self._native_errors():
            self._client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url, **options)
            database = self._client.get_database(urlsplit(url).path.lstrip("/") or DEFAULT_DATABASE)
            self._users = database["users"]
            self._snapshots = database["snapshots"]
            self._bucket = gridfs.GridFSBucket(database, BUCKET)
            self._blob_files = database[f"{BUCKET}.files"]
            self._snapshots.create_index([("user_id", 1), ("datetime", 1)], unique=True)
            self._snapshots.create_index([("user_id", 1), ("snapshot_id", 1)], unique=True)

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
        """Merge the fields in with a compare-and-set on `fields_version`.

        Not `$set` of `fields.<key>` paths: servers differ on which keys a path may hold (FerretDB
        trims spaces), while a whole-document value stores any key the contract allows.
        """
        for _ in range(_WRITE_RETRIES * 10):
            doc = self._users.find_one({"_id": user_id}, {"fields": 1, "fields_version": 1})
            with contextlib.suppress(mongo_errors.DuplicateKeyError):  # created concurrently: read again
                if doc is None:
                    self._users.insert_one({"_id": user_id, "fields": fields, "fields_version": 1})
                    return
                merged = {**doc.get("fields", {}), **fields}
                written = self._users.update_one(
                    {"_id": user_id, "fields_version": doc.get("fields_version")},
                    {"$set": {"fields": merged, "fields_version": doc.get("fields_version", 0) + 1}},
                )
                if written.matched_count:
                    return
        raise DatabaseUnavailable(f"user {user_id} is being updated too often to save it; try again")

    def _read_users(self) -> list[User]:
        cursor = self._users.find({}, {"fields.username": 1}).sort("_id", 1)
        return [{"user_id": doc["_id"], "username": doc.get("fields", {}).get("username")} for doc in cursor]

    def _read_user(self, user_id: int) -> User | None:
        doc = self._users.find_one({"_id": user_id}, {"fields": 1})
        return None if doc is None else {"user_id": user_id, **doc.get("fields", {})}

    # Snapshots ---------------------------------------------------------------------------------

    def _read_snapshots(self, user_id: int) -> list[SnapshotSummary]:
        cursor = self._snapshots.find({"user_id": user_id}, {"_id": 0, "snapshot_id": 1, "datetime": 1})
        return [{"snapshot_id": d["snapshot_id"], "datetime": d["datetime"]} for d in cursor.sort("datetime", 1)]

    def _read_snapshot(self, user_id: int, snapshot_id: int) -> SnapshotSummary | None:
        doc = self._snapshots.find_one(
            {"user_id": user_id, "snapshot_id": snapshot_id}, {"_id": 0, "datetime": 1, "available_results": 1}
        )
        if doc is None:
            return None
        return {
            "snapshot_id": snapshot_id,
            "datetime": doc["datetime"],
            "available_results": doc.get("available_results", []),
        }

    def _read_result(self, user_id: int, snapshot_id: int, result_name: str) -> StoredResult | None:
        doc = self._snapshots.find_one(
            {"user_id": user_id, "snapshot_id": snapshot_id}, {"_id": 0, f"results.{result_name}": 1}
        )
        record: dict[str, Any] | None = (doc or {}).get("results", {}).get(result_name)
        if record is not None and "body" in record:  # fields too large for the document: in GridFS
            with self._open_blob(record["body"]) as body:
                record["value"] = bson.decode(body.read())
        return cast(StoredResult | None, record)

    def _write_snapshot(self, user_id: int, when: dt.datetime, results: list[PendingResult]) -> int:
        key = {"user_id": user_id, "datetime": when}
        existing = self._snapshots.find_one(key) or {}
        snapshot_id = existing.get("snapshot_id") or self._next_snapshot_id(user_id)
        uploaded: list[Any] = []
        try:
            stored, redundant = self._store_results(
                results, existing.get("results", {}), user_id, snapshot_id, uploaded
            )
            before = self._retry_duplicate(lambda: self._publish(key, snapshot_id, stored))
        except BaseException:
            self._delete_blobs(uploaded)
            raise
        previous = (before or {}).get("results", {})
        if before is not None and before["snapshot_id"] != snapshot_id:  # another writer created it first
            snapshot_id = before["snapshot_id"]
            self._blob_files.update_many({"_id": {"$in": uploaded}}, {"$set": {"metadata.snapshot_id": snapshot_id}})
        garbage = redundant + [
            ref for name, result in stored.items() for ref in _unreferenced(previous.get(name), result)
        ]
        self._delete_blobs(garbage)
        return snapshot_id

    def _next_snapshot_id(self, user_id: int) -> int:
        """Allocate the user's next snapshot id (creating the user if needed) in one atomic update."""
        doc = self._retry_duplicate(
            lambda: self._users.find_one_and_update(
                {"_id": user_id},
                {"$inc": {"last_snapshot_id": 1}, "$setOnInsert": {"fields": {}, "fields_version": 0}},
                upsert=True,
                return_document=pymongo.ReturnDocument.AFTER,
            )
        )
        return int(doc["last_snapshot_id"])

    def _store_results(
        self,
        results: list[PendingResult],
        previous: dict[str, Any],
        user_id: int,
        snapshot_id: int,
        uploaded: list[Any],
    ) -> tuple[dict[str, Any], list[Any]]:
        """Upload each result's payloads; return the stored results and redundant uploads."""
        stored: dict[str, Any] = {}
        redundant: list[Any] = []
        for pending in results:

            def upload(source: BlobSource, path: Path, name: str = pending.name) -> Any:
                ref = self._upload(source, user_id, snapshot_id, name, path)
                uploaded.append(ref)
                return ref

            stored[pending.name], extra = self._fit(pending, previous.get(pending.name), upload)
            redundant += extra
        return stored, redundant

    def _fit(
        self, pending: PendingResult, previous: StoredResult | None, upload: Any
    ) -> tuple[dict[str, Any], list[Any]]:
        """Store a result so that its record stays under RESULT_RECORD_LIMIT."""
        fields = bson.encode(pending.value)
        inline = sum(s.length or 0 for _, s in pending.blobs if s.length is not None and s.length <= self.inline_limit)
        limit = self.inline_limit if len(fields) + inline <= RESULT_RECORD_LIMIT else 0
        stored, redundant = store_result(pending, previous, limit, upload)
        if len(fields) <= RESULT_RECORD_LIMIT:
            return dict(stored), redundant
        body = in_memory_source(BYTES, "application/bson", ".bson", [fields])
        return {"value": {}, "blobs": stored["blobs"], "body": upload(body, ("_fields",))}, redundant

    def _publish(self, key: dict[str, Any], snapshot_id: int, stored: dict[str, Any]) -> dict[str, Any] | None:
        """Make the results visible in one atomic update; return the snapshot's document before it."""
        update: dict[str, Any] = {"$setOnInsert": {"snapshot_id": snapshot_id}}
        if stored:
            update["$set"] = {f"results.{name}": result for name, result in stored.items()}
            update["$addToSet"] = {"available_results": {"$each": sorted(stored)}}
        else:
            update["$setOnInsert"]["available_results"] = []
        return self._snapshots.find_one_and_update(
            key, update, upsert=True, return_document=pymongo.ReturnDocument.BEFORE
        )

    # Blobs -------------------------------------------------------------------------------------

    def _upload(self, source: BlobSource, user_id: int, snapshot_id: int, result_name: str, path: Path) -> Any:
        metadata = {
            "user_id": user_id,
            "snapshot_id": snapshot_id,
            "result_name": result_name,
            "path": describe(path),
            "kind": source.kind,
            "content_type": source.content_type,
        }
        filename = f"{user_id}/{snapshot_id}/{result_name}/{describe(path)}{source.extension}"
        with self._bucket.open_upload_stream(filename, metadata=metadata) as grid_in:
            for chunk in source.chunks():
                grid_in.write(chunk if isinstance(chunk, bytes) else _ViewReader(chunk))
            metadata["sha256"] = source.sha256  # a one-pass stream knows it only now
            grid_in.set("metadata", metadata)
        return grid_in._id

    def _open_blob(self, ref: Any) -> IO[bytes]:
        try:
            return self._bucket.open_download_stream(ref)
        except gridfs.errors.NoFile:
            raise BlobMissing(f"blob {ref} is missing from GridFS bucket {BUCKET!r}") from None

    def _delete_blobs(self, refs: list[Any]) -> None:
        for ref in refs:
            with contextlib.suppress(gridfs.errors.NoFile):
                self._bucket.delete(ref)

    @staticmethod
    def _retry_duplicate(operation: Any) -> Any:
        """Run an upsert again when a concurrent upsert of the same key won the race."""
        for attempt in range(_WRITE_RETRIES):
            try:
                return operation()
            except mongo_errors.DuplicateKeyError:
                if attempt == _WRITE_RETRIES - 1:
                    raise
        return None


class _ViewReader:
    """A memoryview as the file-like object GridIn reads in chunks: the payload is never copied whole."""

    def __init__(self, view: memoryview) -> None:
        self._view, self._position = view, 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._view) if size < 0 else self._position + size
        piece = self._view[self._position : end].tobytes()
        self._position += len(piece)
        return piece


def _unreferenced(before: dict[str, Any] | None, after: dict[str, Any]) -> list[Any]:
    """GridFS ids the previous version of a result used (payloads and spilled fields) that are now unused."""
    if before is None:
        return []
    garbage = unreferenced(before, after)  # type: ignore[arg-type]
    if "body" in before:
        garbage.append(before["body"])
    return garbage
