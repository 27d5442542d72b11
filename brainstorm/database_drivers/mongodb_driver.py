"""The MongoDB driver: users, snapshots and results in collections, payloads in GridFS.

Layout (database = the URL's path, default `brainstorm`):

- `users`: one document per user field, `{user_id, field, value}`, unique on (user_id, field); every
  user has the row `field: "user_id"`.
- `snapshots`: `{user_id, snapshot_id, datetime, deleted: false}`, unique on (user_id, snapshot_id)
  and on (user_id, deleted, datetime). A deleted snapshot that was its user's latest stays as a
  tombstone `{user_id, snapshot_id, deleted: <snapshot_id>}` (no datetime, no data), so its id is never
  given again.
- `results`: one document per result, `{user_id, snapshot_id, name, value, blobs, refs}`, unique on
  (user_id, snapshot_id, name): the result's fields (None where each payload sits), one description
  per payload (kind, content type, length, sha256, and the GridFS id or inline bytes), and `refs`,
  every GridFS id it uses (indexed, so a payload's users are found).
- `pins`: `{_id, owners, at}`, results (`"<user_id>/<snapshot_id>/<name>"`) a save is writing: their
  payloads, stored or being uploaded, are in use until it has published (see `Driver`).
- GridFS bucket `blobs`: payloads above the inline limit, named
  `<user_id>/<snapshot_id>/<result>/<path><.npy|.png|.tiff|.bin>`, with metadata
  `{content_type, contentType, sha256, user_id, snapshot_id, result_name, path, kind}` (and
  `condemned`, the time a payload was condemned, just before its deletion).

Indexes (`INDEXES`, `LOOKUP_INDEXES` and GridFS's own) are created lazily, once per driver, just
before its first write (`prepare_for_writes`), never on connecting: a driver that is only read from
(users, snapshots, results, payloads, `verify`) sends no write of any kind, so the built-in `read`
role is enough for it; writing needs `readWrite` (which includes createIndex).

Every write that others may race with is an insert guarded by a unique index, the replacement or
removal of one whole document, or the marking of a payload as condemned (which nothing undoes): the
driver never relies on a server applying a read-modify-write update atomically (FerretDB v1 does
not), so concurrent writers lose nothing and ids stay unique.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any, TypeVar, cast

import bson
import pymongo
from bson import ObjectId
from bson.codec_options import TypeDecoder, TypeRegistry
from bson.int64 import Int64
from pymongo import errors as mongo_errors
from pymongo import uri_parser
from pymongo.database import Database

from ._blobs import BYTES, BlobSource, in_memory_source
from ._driver import Driver, SnapshotSummary, User
from ._errors import DatabaseUnavailable, InvalidInput
from ._gridfs import GridFSBucket
from ._url import redact, scrub
from ._values import utc_now
from .storage import BlobOwner, BlobStore, Numbered, Pin, RecordStore, Ref, StoredBlob, StoredResult, refs_of

DEFAULT_DATABASE = "brainstorm"
DEFAULT_TIMEOUTS_MS = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000, "socketTimeoutMS": 15000}
"""How long a call waits before failing with DatabaseUnavailable: for an unreachable server, for a
connection, and for any one reply (pymongo waits forever for a reply by default, so a frozen server,
one that accepts and never answers, would hang a call). The URL's own options override them."""
BUCKET = "blobs"
RESULT_RECORD_LIMIT = 4 * 1024 * 1024
"""A result whose fields and inline payloads exceed this many BSON bytes keeps its payloads (and, if
its fields alone are larger, its fields too) in GridFS, so its document stays below MongoDB's 16 MiB."""
KNOWN_SNAPSHOTS = 4096
"""How many (user, datetime) -> snapshot id pairs a driver remembers; ids never change, so this
saves a lookup per result when a snapshot's results arrive one by one."""
_WRITE_RETRIES = 10
IN_FLIGHT_FLOOR = dt.timedelta(hours=1)
"""GridFS chunks without their files document younger than this may be an upload in flight: they
are never collected, whatever the grace period."""
NUMBERING_PATIENCE_SECONDS = 60.0
"""How long a new snapshot keeps trying for a free id while other writers take the ones it tried."""
INDEXES: dict[str, list[tuple[tuple[str, int], ...]]] = {
    "users": [(("user_id", 1), ("field", 1)), (("field", 1), ("user_id", 1))],
    "snapshots": [(("user_id", 1), ("snapshot_id", 1)), (("user_id", 1), ("deleted", 1), ("datetime", 1))],
    "results": [(("user_id", 1), ("snapshot_id", 1), ("name", 1))],
}
"""The unique indexes the driver creates, by collection; with `LOOKUP_INDEXES`, every query it sends is
served by one."""
LOOKUP_INDEXES: dict[str, list[tuple[tuple[str, int], ...]]] = {
    "results": [(("refs", 1),)],
    "snapshots": [(("user_id", 1), ("snapshot_id", 1), ("deleted", 1))],  # the live one, to delete it
    "pins": [(("owners", 1),), (("at", 1),)],
}
"""The other (not unique) indexes the driver creates: who uses a payload."""
_LIVE = {"deleted": False}
"""A snapshot that is not a tombstone. Explicit, not a missing field: FerretDB's unique indexes
(SQLite's) let any number of documents share a missing value, so (user_id, datetime) would not be unique."""
_T = TypeVar("_T")


class MongodbDriver(Driver):
    """A driver for any MongoDB-protocol server (`mongodb://` and `mongodb+srv://` URLs).

    `client_options` are passed to `pymongo.MongoClient`, after the URL's own options.

    Constructing one sends a `ping` (which needs no privilege), so an unreachable server or refused
    credentials fail at once. The indexes are created just before the driver's first write, so a
    driver that only reads works under a read-only role (see the module's docstring).
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
        database_name, given = self._read_url()
        options.update({key: ms for key, ms in DEFAULT_TIMEOUTS_MS.items() if key.lower() not in given})
        options.update(client_options or {})
        with self._native_errors():
            self._client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url, **options)
            database = self._client.get_database(database_name or DEFAULT_DATABASE)
            self.record_store: MongoRecords = MongoRecords(database)
            self.blob_store: GridFSBlobs = GridFSBlobs(
                GridFSBucket(database[f"{BUCKET}.files"], database[f"{BUCKET}.chunks"])
            )
            try:  # an unreachable server or refused credentials fail here, as a bad URL does
                self._client.admin.command("ping")
            except BaseException:
                self._client.close()
                raise

    def _read_url(self) -> tuple[str | None, set[str]]:
        """The URL's database and the names of its options (lower-cased), read by pymongo's own parser
        (a '#' in a password is no fragment to it); InvalidInput for a URL pymongo cannot read. An SRV
        URL is read as a plain one: the same options, without the DNS lookup."""
        try:
            parsed = uri_parser.parse_uri("mongodb://" + self.url.partition("://")[2], validate=False)
        except (mongo_errors.InvalidURI, mongo_errors.ConfigurationError, ValueError) as exc:
            raise InvalidInput(f"invalid MongoDB URL {redact(self.url)}: {scrub(str(exc), self.url)}") from None
        return parsed["database"], {str(key).lower() for key in parsed["options"]}

    @property
    def database(self) -> Database[dict[str, Any]]:
        """The pymongo database the driver uses (for tools and tests that inspect the layout)."""
        return self.record_store.database

    def close(self) -> None:
        self._client.close()

    @contextlib.contextmanager
    def _native_errors(self) -> Iterator[None]:
        try:
            yield
        except mongo_errors.InvalidURI as exc:  # before ConfigurationError, its base class
            raise InvalidInput(f"invalid MongoDB URL {redact(self.url)}: {scrub(str(exc), self.url)}") from None
        except (mongo_errors.ConnectionFailure, mongo_errors.ConfigurationError) as exc:
            raise DatabaseUnavailable(
                f"MongoDB at {redact(self.url)} is unavailable: {scrub(str(exc), self.url)}"
            ) from None
        except mongo_errors.OperationFailure as exc:
            if exc.code in (13, 18):  # Unauthorized, AuthenticationFailed
                raise DatabaseUnavailable(
                    f"MongoDB at {redact(self.url)} refused access: {scrub(str(exc), self.url)}"
                ) from None
            raise


class MongoRecords(RecordStore):
    """Users, snapshots and results as documents; each primitive's atomic unit is one document."""

    record_limit = RESULT_RECORD_LIMIT

    def __init__(self, database: Database[dict[str, Any]]) -> None:
        # Documents decode int64 as int; payload chunks skip that (a type registry slows their decoding 3x).
        records = database.with_options(
            codec_options=database.codec_options.with_options(type_registry=TypeRegistry([_Int64AsInt()]))
        )
        self.database = database
        self._users, self._snapshots, self._results = records["users"], records["snapshots"], records["results"]
        self._pins = records["pins"]
        self._files = records[f"{BUCKET}.files"]  # the owners of payloads, for `in_use`
        self._known_snapshots: dict[tuple[int, dt.datetime], int] = {}

    def prepare_for_writes(self) -> None:
        """Create `INDEXES` (unique) and `LOOKUP_INDEXES`; creating an existing index changes nothing."""
        for indexes, unique in ((INDEXES, True), (LOOKUP_INDEXES, False)):
            for collection, keys in indexes.items():
                for key in keys:
                    self.database[collection].create_index(list(key), unique=unique)

    def fields_blob(self, value: dict[str, Any]) -> BlobSource:
        return in_memory_source(BYTES, "application/bson", ".bson", [bson.encode(value)])

    def read_fields(self, data: bytes) -> dict[str, Any]:
        return bson.decode(data)

    # Users -------------------------------------------------------------------------------------

    def write_user(self, user_id: int, fields: dict[str, Any]) -> None:
        """Write one document per field: concurrent saves of other fields are never overwritten."""
        for field, value in {"user_id": user_id, **fields}.items():
            row = {"user_id": user_id, "field": field}
            _retry_duplicate(functools.partial(self._users.replace_one, row, {**row, "value": value}, upsert=True))

    def users(self) -> list[User]:
        users: dict[int, User] = {}
        for row in self._users.find({"field": {"$in": ["user_id", "username"]}}, {"_id": 0}).sort("user_id", 1):
            users.setdefault(row["user_id"], {"user_id": row["user_id"], "username": None})
            if row["field"] == "username":
                users[row["user_id"]]["username"] = row["value"]
        return list(users.values())

    def user(self, user_id: int) -> User | None:
        # In the order the fields were first written (user_id first; sorted here, where no index is
        # needed): the server's natural order moves a rewritten field to the end on FerretDB on PostgreSQL.
        rows = sorted(self._users.find({"user_id": user_id}, {"field": 1, "value": 1}), key=lambda row: row["_id"])
        user = {row["field"]: row["value"] for row in rows}
        return user if "user_id" in user else None

    # Snapshots ---------------------------------------------------------------------------------

    def snapshots(self, user_id: int) -> list[SnapshotSummary]:
        cursor = self._snapshots.find({"user_id": user_id, **_LIVE}, {"_id": 0, "snapshot_id": 1, "datetime": 1})
        return [{"snapshot_id": d["snapshot_id"], "datetime": d["datetime"]} for d in cursor.sort("datetime", 1)]

    def snapshot(self, user_id: int, snapshot_id: int) -> SnapshotSummary | None:
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        doc = self._snapshots.find_one(key, {"_id": 0, "datetime": 1, "deleted": 1})
        if doc is None or doc["deleted"] is not False:
            return None
        names = [row["name"] for row in self._results.find(key, {"_id": 0, "name": 1})]
        return {"snapshot_id": snapshot_id, "datetime": doc["datetime"], "available_results": names}

    def snapshot_exists(self, user_id: int, snapshot_id: int) -> bool:
        """One lookup; a deleted snapshot is forgotten, so that the next save at its datetime numbers anew."""
        doc = self._snapshots.find_one({"user_id": user_id, "snapshot_id": snapshot_id}, {"_id": 0, "deleted": 1})
        if doc is not None and doc["deleted"] is False:
            return True
        self._forget(user_id, snapshot_id)
        return False

    def _forget(self, user_id: int, snapshot_id: int) -> None:
        self._known_snapshots = {k: v for k, v in self._known_snapshots.items() if (k[0], v) != (user_id, snapshot_id)}

    def number_snapshot(self, user_id: int, when: dt.datetime) -> Numbered:
        """A new snapshot takes the user's highest id (tombstones included) + 1, inserted under the
        unique indexes: a writer that loses a race for that id tries the next one, and one that loses
        the race to create the same snapshot takes the winner's id. A user without live snapshots is
        (re)created by the protocol once the save has succeeded (`new_user`)."""
        if (known := self._known_snapshots.get((user_id, when))) is not None:
            return Numbered(known, False)
        deadline, pause = time.monotonic() + NUMBERING_PATIENCE_SECONDS, 0.001
        while time.monotonic() < deadline:
            latest = self._snapshots.find_one({"user_id": user_id}, {"_id": 0}, sort=[("snapshot_id", -1)])
            if latest is not None and latest.get("datetime") == when and latest["deleted"] is False:
                return Numbered(self._remember(user_id, when, latest["snapshot_id"]), False)
            snapshot_id = (latest["snapshot_id"] if latest else 0) + 1
            try:
                self._snapshots.insert_one({"user_id": user_id, "snapshot_id": snapshot_id, "datetime": when, **_LIVE})
            except mongo_errors.DuplicateKeyError:
                existing = self._snapshots.find_one({"user_id": user_id, **_LIVE, "datetime": when}, {"_id": 0})
                if existing is not None:
                    return Numbered(self._remember(user_id, when, existing["snapshot_id"]), False)
                time.sleep(random.uniform(0, pause))  # contention: spread the writers out, more each time
                pause = min(pause * 2, 0.1)
                continue
            new_user = latest is None or latest["deleted"] is not False  # first since it was deleted, too
            return Numbered(self._remember(user_id, when, snapshot_id), True, new_user)
        raise DatabaseUnavailable(
            f"could not number a snapshot of user {user_id} in {NUMBERING_PATIENCE_SECONDS:.0f}s of concurrent writers"
        )

    def place_snapshot(self, user_id: int, snapshot_id: int, when: dt.datetime) -> Numbered | None:
        """Insert the snapshot at its id, or turn that id's tombstone back into it, under the unique
        indexes; when either is in the way, the live snapshot holding the id or the datetime decides:
        the same snapshot, or a conflict (None). The document keeps numbering above the id."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        live = {**key, "datetime": when, **_LIVE}

        def created() -> Numbered:  # the protocol writes the user once the save succeeded, if it has no row
            new_user = self._users.find_one({"user_id": user_id, "field": "user_id"}, {"_id": 1}) is None
            return Numbered(snapshot_id, True, new_user)

        for _ in range(_WRITE_RETRIES):
            try:
                self._snapshots.insert_one(dict(live))
                return created()
            except mongo_errors.DuplicateKeyError:
                pass
            try:
                if self._snapshots.replace_one({**key, "deleted": snapshot_id}, live).modified_count == 1:
                    return created()
            except mongo_errors.DuplicateKeyError:  # the datetime is another snapshot's
                return None
            held = self._snapshots.find_one({"user_id": user_id, **_LIVE, "$or": [key, {"datetime": when}]})
            if held is not None:
                same = held["snapshot_id"] == snapshot_id and held["datetime"] == when
                return Numbered(snapshot_id, False) if same else None
        raise DatabaseUnavailable(f"could not place snapshot {snapshot_id} of user {user_id}: concurrent writers")

    def _remember(self, user_id: int, when: dt.datetime, snapshot_id: int) -> int:
        if len(self._known_snapshots) >= KNOWN_SNAPSHOTS:
            self._known_snapshots.clear()
        self._known_snapshots[user_id, when] = snapshot_id
        return snapshot_id

    # Results -----------------------------------------------------------------------------------

    def result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        record = self._results.find_one({"user_id": user_id, "snapshot_id": snapshot_id, "name": name})
        return cast(StoredResult | None, record)

    def stored_results(self, user_id: int, snapshot_id: int, names: list[str]) -> dict[str, StoredResult]:
        found = self._results.find({"user_id": user_id, "snapshot_id": snapshot_id, "name": {"$in": names}})
        return {doc["name"]: cast(StoredResult, doc) for doc in found}

    def publish(self, user_id: int, snapshot_id: int, name: str, stored: StoredResult) -> StoredResult | None:
        """One `findAndModify`, which returns the document it replaced."""
        row = {"user_id": user_id, "snapshot_id": snapshot_id, "name": name}
        doc = {**row, **stored, "refs": refs_of(stored)}
        return cast(
            StoredResult | None,
            _retry_duplicate(functools.partial(self._results.find_one_and_replace, row, doc, upsert=True)),
        )

    def unpublish_result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        """Find the result, then delete that document by `_id`: the delete's count says whether this call
        removed it (FerretDB's findAndModify reports a document to two racing deletes)."""
        doc = self._results.find_one({"user_id": user_id, "snapshot_id": snapshot_id, "name": name})
        if doc is None or self._results.delete_one({"_id": doc["_id"]}).deleted_count != 1:
            return None
        return cast(StoredResult, doc)

    def unpublish_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        """Turn the snapshot into a tombstone (one document: it leaves every listing at once; the write's
        count says which of two racing deletes did it), remove its results one by one, and drop the
        tombstone unless it holds the user's highest id."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        if self._snapshots.replace_one({**key, **_LIVE}, {**key, "deleted": snapshot_id}).modified_count != 1:
            return None  # no such snapshot, or another delete turned it into a tombstone first
        self._forget(user_id, snapshot_id)
        removed = []
        while (doc := self._results.find_one_and_delete(key)) is not None:  # also those published meanwhile
            removed.append(cast(StoredResult, doc))
        latest = self._snapshots.find_one(
            {"user_id": user_id}, {"_id": 0, "snapshot_id": 1}, sort=[("snapshot_id", -1)]
        )
        if latest is not None and latest["snapshot_id"] > snapshot_id:
            self._snapshots.delete_one(key)
        return removed

    def unpublish_user(self, user_id: int) -> list[StoredResult] | None:
        """Turn the user's snapshots into tombstones, oldest first (the one kept holds the highest id),
        then remove its fields; then look again, since a save may have numbered a snapshot meanwhile.
        The user leaves `get_snapshots` snapshot by snapshot, and `get_users`/`get_user` last."""
        existed, removed = False, []
        for _ in range(2):
            live = self._snapshots.find({"user_id": user_id, **_LIVE}, {"_id": 0, "snapshot_id": 1})
            for snapshot_id in sorted(doc["snapshot_id"] for doc in live):
                results = self.unpublish_snapshot(user_id, snapshot_id)
                if results is not None:
                    existed = True
                    removed += results
            existed |= self._users.delete_many({"user_id": user_id}).deleted_count > 0
        return removed if existed else None

    # Payload safety ----------------------------------------------------------------------------

    def pin(self, user_id: int, snapshot_id: int, names: list[str]) -> Pin:
        owners = [_owner_key(user_id, snapshot_id, name) for name in names]
        return self._pins.insert_one({"owners": owners, "at": utc_now()}).inserted_id

    def unpin(self, pin: Pin) -> None:
        self._pins.delete_one({"_id": pin})

    def in_use(self, refs: list[Ref]) -> set[Ref]:
        """Payloads of a pinned result (its owner, from the GridFS metadata), then referenced ones."""
        owners: dict[str, list[Ref]] = {}
        for file in self._files.find(
            {"_id": {"$in": refs}}, {"metadata.user_id": 1, "metadata.snapshot_id": 1, "metadata.result_name": 1}
        ):
            meta = file.get("metadata", {})
            key = _owner_key(meta.get("user_id"), meta.get("snapshot_id"), meta.get("result_name"))
            owners.setdefault(key, []).append(file["_id"])
        used: set[Ref] = set()
        for pin in self._pins.find({"owners": {"$in": list(owners)}}, {"_id": 0, "owners": 1}):
            used.update(ref for key in pin["owners"] for ref in owners.get(key, []))
        wanted = set(refs)
        referenced = self._results.find({"refs": {"$in": refs}}, {"_id": 0, "refs": 1})
        return used | {ref for doc in referenced for ref in doc["refs"] if ref in wanted}

    def results(self, user_id: int | None = None) -> Iterator[tuple[int, int, str, StoredResult]]:
        for doc in self._results.find({} if user_id is None else {"user_id": user_id}):
            yield doc["user_id"], doc["snapshot_id"], doc["name"], cast(StoredResult, doc)

    def drop_pins(self, older_than: dt.datetime) -> int:
        return self._pins.delete_many({"at": {"$lt": older_than}}).deleted_count


def _owner_key(user_id: Any, snapshot_id: Any, name: Any) -> str:
    """How a pin names a result whose payloads it holds."""
    return f"{user_id}/{snapshot_id}/{name}"


class GridFSBlobs(BlobStore):
    """Payloads as GridFS files (standard layout), each named after its owner."""

    def __init__(self, bucket: GridFSBucket) -> None:
        self.bucket = bucket

    def prepare_for_writes(self) -> None:
        """The indexes the GridFS spec asks for (the unique one on chunks guards uploads)."""
        self.bucket.create_indexes()

    def upload(self, source: BlobSource, owner: BlobOwner) -> Any:
        metadata = {
            "user_id": owner.user_id,
            "snapshot_id": owner.snapshot_id,
            "result_name": owner.result_name,
            "path": owner.path,
            "kind": source.kind,
            "content_type": source.content_type,
            "contentType": source.content_type,  # where mongofiles and other drivers look
        }

        def pieces() -> Iterator[bytes | memoryview]:
            yield from source.chunks()
            metadata["sha256"] = source.sha256  # learnt as the pieces went by

        file_id = ObjectId()
        filename = f"{owner.user_id}/{owner.snapshot_id}/{owner.result_name}/{owner.path}@{file_id}{source.extension}"
        return self.bucket.upload(pieces(), filename, metadata, file_id)

    def open(self, ref: Ref) -> IO[bytes]:
        return self.bucket.open(ref)  # type: ignore[return-value]

    def condemn(self, refs: list[Ref]) -> None:
        self.bucket.files.update_many({"_id": {"$in": refs}}, {"$set": {"metadata.condemned": utc_now()}})

    def alive(self, refs: list[Ref]) -> set[Ref]:
        found = self.bucket.files.find({"_id": {"$in": refs}}, {"metadata.condemned": 1})
        return {doc["_id"] for doc in found if "condemned" not in doc.get("metadata", {})}

    def delete(self, refs: Iterable[Ref]) -> None:
        self.bucket.delete(list(refs))

    def listing(self) -> Iterator[StoredBlob]:
        for doc in self.bucket.files.find({}, {"length": 1, "uploadDate": 1}):
            yield StoredBlob(doc["_id"], doc["length"], doc["uploadDate"])

    def leftovers(self, older_than: dt.datetime) -> list[StoredBlob]:
        """Chunks whose files document is missing (the files document is written last), of uploads
        that began before `older_than` and at least `IN_FLIGHT_FLOOR` ago: an upload in flight looks
        the same. A file id is an ObjectId, which says when the upload began."""
        files = set(self.bucket.files.distinct("_id"))
        cutoff = min(older_than, utc_now() - IN_FLIGHT_FLOOR).replace(tzinfo=dt.UTC)
        found = []
        for file_id in self.bucket.chunks.distinct("files_id"):
            if file_id not in files and isinstance(file_id, ObjectId) and file_id.generation_time < cutoff:
                length = sum(len(c["data"]) for c in self.bucket.chunks.find({"files_id": file_id}, {"data": 1}))
                found.append(StoredBlob(file_id, length, file_id.generation_time.replace(tzinfo=None)))
        return found


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
