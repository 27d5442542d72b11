"""The mongodb driver's record store: users, snapshots, results and pins as documents (see `mongodb_driver`).

Each primitive's atomic unit is one document. Every write other writers may race with is an insert
guarded by a unique index, an update or replacement of one document whose filter says what must still
hold (a compare-and-set), or a removal of one whole document. Every command that writes is sent through
`retried`, which sends it again after a transient error (a conflict the server aborted it for); each
primitive's docstring says why that is safe.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any, cast

import bson
from bson import ObjectId
from bson.codec_options import TypeDecoder, TypeRegistry
from bson.int64 import Int64
from pymongo import ReturnDocument
from pymongo.database import Database

from . import _mongo_layouts as layouts
from ._blobs import BYTES, BlobSource, in_memory_source
from ._transient import TryAgain, duplicate_key, retried
from ._values import utc_now
from .storage import Numbered, Pin, RecordStore, Ref, StoredResult, refs_of

BUCKET = "blobs"
RESULT_RECORD_LIMIT = 4 * 1024 * 1024
"""A result whose fields and inline payloads exceed this many BSON bytes keeps its payloads (and, if
its fields alone are larger, its fields too) in GridFS, so its document stays below MongoDB's 16 MiB."""
KNOWN_SNAPSHOTS = 4096
"""How many (user, datetime) -> snapshot id pairs a driver remembers; ids never change, so this
saves a lookup per result when a snapshot's results arrive one by one."""
INDEXES: dict[str, list[tuple[tuple[str, int], ...]]] = {
    "users": [(("user_id", 1),)],
    "snapshots": [(("user_id", 1), ("snapshot_id", 1)), (("user_id", 1), ("deleted", 1), ("datetime", 1))],
    "results": [(("user_id", 1), ("snapshot_id", 1), ("name", 1))],
}
"""The unique indexes the driver creates, by collection; with `LOOKUP_INDEXES`, every query it sends is
served by one (users are found by `_id`, their user id)."""
LOOKUP_INDEXES: dict[str, list[tuple[tuple[str, int], ...]]] = {
    "results": [(("refs", 1),)],
    "snapshots": [(("user_id", 1), ("snapshot_id", 1), ("deleted", 1))],  # the live one, to delete it
    "pins": [(("owners", 1),), (("at", 1),)],
}
"""The other (not unique) indexes the driver creates: who uses a payload."""
_LIVE = {"deleted": False}
"""A snapshot that is not a tombstone. Explicit, so that the unique index on (user_id, deleted, datetime)
holds live snapshots to one per datetime and lets tombstones (no datetime) be many."""
EMPTY_BATCH = 500
"""Snapshots whose results are looked up in one query when looking for empty ones."""

Document = dict[str, Any]


class MongoRecords(RecordStore):
    """Users, snapshots and results as documents; each primitive's atomic unit is one document."""

    layout_version = layouts.LAYOUT
    record_limit = RESULT_RECORD_LIMIT

    def __init__(self, database: Database[Document]) -> None:
        # Documents decode int64 as int; payload chunks skip that (a type registry slows their decoding 3x).
        records = database.with_options(
            codec_options=database.codec_options.with_options(type_registry=TypeRegistry([_Int64AsInt()]))
        )
        self.database = database
        self._users, self._snapshots, self._results = records["users"], records["snapshots"], records["results"]
        self._pins, self._layout, self._ids = records["pins"], records["layout"], records["snapshot_ids"]
        self._files = records[f"{BUCKET}.files"]  # the owners of payloads, for `in_use`
        self._known_snapshots: dict[tuple[int, dt.datetime], int] = {}
        self._current = False  # layout 2 seen recorded: it never goes back, so it is not read again

    def layout(self) -> int | None:
        found = layouts.recorded(self._layout, self._users)
        self._current = found == layouts.LAYOUT
        return found

    def _is_current(self) -> bool:
        """Whether the database is known to be recorded as layout 2 (asked of the server until it is)."""
        return self._current or self.layout() == layouts.LAYOUT

    def migrate(self, progress: Callable[[int], None] | None = None) -> int:
        converted = layouts.migrate(self._layout, self._users, progress)
        self._current = True
        return converted

    def prepare_for_writes(self) -> None:
        """Record the layout in a new database, then create `INDEXES` (unique) and `LOOKUP_INDEXES`;
        creating an existing index changes nothing, so retrying is safe."""
        if not self._is_current():
            layouts.record(self._layout)
        for indexes, unique in ((INDEXES, True), (LOOKUP_INDEXES, False)):
            for collection, keys in indexes.items():
                for key in keys:
                    retried(self.database[collection].create_index, list(key), unique=unique)

    def fields_blob(self, value: dict[str, Any]) -> BlobSource:
        return in_memory_source(BYTES, "application/bson", ".bson", [bson.encode(value)])

    def read_fields(self, data: bytes) -> dict[str, Any]:
        return bson.decode(data)

    # Users -------------------------------------------------------------------------------------

    def write_user(self, user_id: int, fields: dict[str, Any]) -> None:
        """One `$set` of the given fields in the user's document, upserted: atomic on one document, so
        concurrent saves of other fields are all kept; sent again after a transient error (setting the
        same values again changes nothing; a duplicate key means a concurrent save inserted the document)."""
        update = {"$set": {"user_id": user_id, **fields}}
        retried(self._users.update_one, layouts.user_key(user_id), update, upsert=True)

    def users(self) -> list[Document]:
        if not self._is_current():
            return layouts.read_users(self._users)
        found = self._users.find({}, {"username": 1}).sort("_id", 1)
        return [{"user_id": doc["_id"], "username": doc.get("username")} for doc in found]

    def user(self, user_id: int) -> Document | None:
        if not self._is_current():
            return layouts.read_user(self._users, user_id)
        document = self._users.find_one(layouts.user_key(user_id))
        return None if document is None else layouts.user_of(document)

    # Snapshots ---------------------------------------------------------------------------------

    def snapshots(self, user_id: int) -> list[Document]:
        cursor = self._snapshots.find({"user_id": user_id, **_LIVE}, {"_id": 0, "snapshot_id": 1, "datetime": 1})
        return [{"snapshot_id": d["snapshot_id"], "datetime": d["datetime"]} for d in cursor.sort("datetime", 1)]

    def snapshot(self, user_id: int, snapshot_id: int) -> Document | None:
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        doc = self._snapshots.find_one(key, {"_id": 0, "datetime": 1, "deleted": 1})
        if doc is None or doc["deleted"] is not False:
            return None
        names = [row["name"] for row in self._results.find(key, {"_id": 0, "name": 1})]
        return {"snapshot_id": snapshot_id, "datetime": doc["datetime"], "available_results": names}

    def confirm_publication(self, user_id: int, snapshot_id: int) -> bool:
        """One `$inc` of the live snapshot's revision: a `discard_snapshot` that found it empty at the
        revision before leaves it. A deleted snapshot is forgotten, so the next save at its datetime
        numbers anew. Sent again after a transient error: the confirmation only has to happen once at least."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id, **_LIVE}
        if retried(self._snapshots.update_one, key, {"$inc": {"revision": 1}}).matched_count == 1:
            return True
        self._forget(user_id, snapshot_id)
        return False

    def _forget(self, user_id: int, snapshot_id: int) -> None:
        self._known_snapshots = {k: v for k, v in self._known_snapshots.items() if (k[0], v) != (user_id, snapshot_id)}

    def number_snapshot(self, user_id: int, when: dt.datetime) -> Numbered:
        """The user's live snapshot at `when`, else a new one under the next id of the user's counter
        (`_next_id`), inserted under the unique indexes: a writer that loses the race to create the same
        snapshot takes the winner's id (its own id is left unused: a gap), and one whose id a copy placed
        meanwhile takes the next. Each attempt reads afresh and inserts only a new document, so one the
        server aborted is made again. A user without a document is created by the protocol once the save
        has succeeded (`new_user`)."""
        if (known := self._known_snapshots.get((user_id, when))) is not None:
            return Numbered(known, False)

        def existing() -> Numbered | None:
            found = self._snapshots.find_one({"user_id": user_id, **_LIVE, "datetime": when}, {"snapshot_id": 1})
            return None if found is None else Numbered(found["snapshot_id"], False)

        def attempt() -> Numbered:
            if (found := existing()) is not None:
                return found
            snapshot_id = self._next_id(user_id)
            try:
                self._snapshots.insert_one({"user_id": user_id, "snapshot_id": snapshot_id, "datetime": when, **_LIVE})
            except Exception as exc:
                if not duplicate_key(exc):
                    raise
                if (found := existing()) is not None:
                    return found
                raise TryAgain(f"snapshot id {snapshot_id} of user {user_id} was taken meanwhile") from None
            return Numbered(snapshot_id, True, self._is_new_user(user_id))

        numbered = retried(attempt)
        self._remember(user_id, when, numbered.snapshot_id)
        return numbered

    def _is_new_user(self, user_id: int) -> bool:
        """Whether the user has no document (the protocol then writes it once the save has succeeded)."""
        return self._users.find_one(layouts.user_key(user_id), {"_id": 1}) is None

    def _next_id(self, user_id: int) -> int:
        """An id no snapshot of the user ever had: one `$inc` of the user's counter in `snapshot_ids`
        (atomic on one document, so concurrent writers get different ids without racing for one), which
        a user numbered for the first time since layout 2 starts above every id it has had. Sent again
        after a transient error: a counter raised twice only leaves a gap."""
        bump = {"_id": user_id}, {"$inc": {"last": 1}}
        counter = retried(self._ids.find_one_and_update, *bump, return_document=ReturnDocument.AFTER)
        if counter is None:
            highest = {"$max": {"last": self._highest_in_snapshots(user_id)}}
            retried(self._ids.update_one, {"_id": user_id}, highest, upsert=True)
            counter = retried(self._ids.find_one_and_update, *bump, return_document=ReturnDocument.AFTER)
            assert counter is not None, "upserted just above"
        return int(counter["last"])

    def _raise_counter(self, user_id: int, snapshot_id: int) -> None:
        """Keep the user's counter at or above an id placed (idempotent: `$max`)."""
        retried(self._ids.update_one, {"_id": user_id}, {"$max": {"last": snapshot_id}}, upsert=True)

    def place_snapshot(self, user_id: int, snapshot_id: int, when: dt.datetime) -> Numbered | None:
        """Insert the snapshot at its id, or turn that id's tombstone back into it, under the unique
        indexes; when either is in the way, the live snapshot holding the id or the datetime decides:
        the same snapshot, or a conflict (None). The document keeps numbering above the id. An attempt
        that finds none of these (the snapshot changed between its steps) is made again, afresh."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        live = {**key, "datetime": when, **_LIVE}

        def created() -> Numbered:  # the protocol writes the user once the save succeeded, if it has none
            self._raise_counter(user_id, snapshot_id)
            return Numbered(snapshot_id, True, self._is_new_user(user_id))

        def attempt() -> Numbered | None:
            try:
                self._snapshots.insert_one(dict(live))
                return created()
            except Exception as exc:
                if not duplicate_key(exc):
                    raise
            try:
                if self._snapshots.replace_one({**key, "deleted": snapshot_id}, live).modified_count == 1:
                    return created()
            except Exception as exc:
                if duplicate_key(exc):  # the datetime is another snapshot's
                    return None
                raise
            held = self._snapshots.find_one({"user_id": user_id, **_LIVE, "$or": [key, {"datetime": when}]})
            if held is None:
                raise TryAgain(f"snapshot {snapshot_id} of user {user_id} kept changing while it was placed")
            same = held["snapshot_id"] == snapshot_id and held["datetime"] == when
            return Numbered(snapshot_id, False) if same else None

        return retried(attempt)

    def _remember(self, user_id: int, when: dt.datetime, snapshot_id: int) -> None:
        if len(self._known_snapshots) >= KNOWN_SNAPSHOTS:
            self._known_snapshots.clear()
        self._known_snapshots[user_id, when] = snapshot_id

    def highest_snapshot_id(self, user_id: int) -> int:
        counter = self._ids.find_one({"_id": user_id})
        return max(0 if counter is None else int(counter["last"]), self._highest_in_snapshots(user_id))

    def _highest_in_snapshots(self, user_id: int) -> int:
        """The highest id among the user's snapshot documents, tombstones included."""
        latest = self._snapshots.find_one({"user_id": user_id}, {"snapshot_id": 1}, sort=[("snapshot_id", -1)])
        return 0 if latest is None else int(latest["snapshot_id"])

    def empty_snapshots(self, created_before: dt.datetime) -> Iterator[tuple[int, int]]:
        """Live snapshots created before the cutoff, whose results are looked up `EMPTY_BATCH` snapshots at
        a time. An ObjectId says when its snapshot was created, to the second: those of the cutoff's second
        count as before it."""
        cutoff = ObjectId.from_datetime(created_before.replace(tzinfo=dt.UTC, microsecond=0) + dt.timedelta(seconds=1))
        batch: list[tuple[int, int]] = []
        for doc in self._snapshots.find({**_LIVE, "_id": {"$lt": cutoff}}, {"_id": 0, "user_id": 1, "snapshot_id": 1}):
            batch.append((doc["user_id"], doc["snapshot_id"]))
            if len(batch) == EMPTY_BATCH:
                yield from self._without_results(batch)
                batch = []
        yield from self._without_results(batch)

    def _without_results(self, snapshots: list[tuple[int, int]]) -> list[tuple[int, int]]:
        if not snapshots:
            return []
        users, ids = sorted({user for user, _ in snapshots}), sorted({snapshot for _, snapshot in snapshots})
        holding = self._results.find(
            {"user_id": {"$in": users}, "snapshot_id": {"$in": ids}}, {"_id": 0, "user_id": 1, "snapshot_id": 1}
        )
        held = {(doc["user_id"], doc["snapshot_id"]) for doc in holding}
        return [snapshot for snapshot in snapshots if snapshot not in held]

    # Results -----------------------------------------------------------------------------------

    def result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        record = self._results.find_one({"user_id": user_id, "snapshot_id": snapshot_id, "name": name})
        return cast(StoredResult | None, record)

    def stored_results(self, user_id: int, snapshot_id: int, names: list[str]) -> dict[str, StoredResult]:
        found = self._results.find({"user_id": user_id, "snapshot_id": snapshot_id, "name": {"$in": names}})
        return {doc["name"]: cast(StoredResult, doc) for doc in found}

    def publish(self, user_id: int, snapshot_id: int, name: str, stored: StoredResult) -> StoredResult | None:
        """One `findAndModify`, which returns the document it replaced. Sent again after a transient
        error: a duplicate key means a concurrent save inserted the result, which this one then replaces."""
        row = {"user_id": user_id, "snapshot_id": snapshot_id, "name": name}
        doc = {**row, **stored, "refs": refs_of(stored)}
        return cast(StoredResult | None, retried(self._results.find_one_and_replace, row, doc, upsert=True))

    def unpublish_result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        """One `findAndModify` removing the result and returning it (to one of two racing deletes only)."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id, "name": name}
        return cast(StoredResult | None, retried(self._results.find_one_and_delete, key))

    def unpublish_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        """Turn the live snapshot into a tombstone (one document: it leaves every listing at once; the
        write's count says which of two racing deletes did it), remove its results one by one, and drop
        the tombstone unless it holds the user's highest id. Each step, sent again after a transient
        error, finds what is still to do: a replace of the live snapshot only, removals of what is there."""
        return self._bury(user_id, snapshot_id, {})

    def discard_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        """Bury the snapshot only at the revision it was found empty at: a save that published into it
        since and confirmed (`confirm_publication`) changed the revision, and one that confirms later
        finds a tombstone, and moves its result."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        found = self._snapshots.find_one({**key, **_LIVE}, {"revision": 1})
        if found is None or self._results.find_one(key, {"_id": 1}) is not None:
            return None
        return self._bury(user_id, snapshot_id, {"revision": found.get("revision")})

    def _bury(self, user_id: int, snapshot_id: int, condition: Document) -> list[StoredResult] | None:
        """`unpublish_snapshot` of the live snapshot if it also matches `condition`."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        tombstone = {**key, "deleted": snapshot_id}
        if retried(self._snapshots.replace_one, {**key, **_LIVE, **condition}, tombstone).modified_count != 1:
            return None  # no such snapshot, or another delete turned it into a tombstone first
        self._forget(user_id, snapshot_id)
        removed = []
        while (doc := retried(self._results.find_one_and_delete, key)) is not None:  # also those published meanwhile
            removed.append(cast(StoredResult, doc))
        if self._highest_in_snapshots(user_id) > snapshot_id:
            retried(self._snapshots.delete_one, key)
        return removed

    def unpublish_user(self, user_id: int) -> list[StoredResult] | None:
        """Turn the user's snapshots into tombstones, oldest first (the one kept holds the highest id),
        then remove its document; then look again, since a save may have numbered a snapshot meanwhile.
        The user leaves `get_snapshots` snapshot by snapshot, and `get_users`/`get_user` last."""
        existed, removed = False, []
        for _ in range(2):
            live = self._snapshots.find({"user_id": user_id, **_LIVE}, {"_id": 0, "snapshot_id": 1})
            for snapshot_id in sorted(doc["snapshot_id"] for doc in live):
                results = self.unpublish_snapshot(user_id, snapshot_id)
                if results is not None:
                    existed = True
                    removed += results
            existed |= retried(self._users.delete_one, layouts.user_key(user_id)).deleted_count > 0
        return removed if existed else None

    # Payload safety ----------------------------------------------------------------------------

    def pin(self, user_id: int, snapshot_id: int, names: list[str]) -> Pin:
        """One insert of a new document (sent again, with the same `_id`, after a transient error)."""
        owners = [_owner_key(user_id, snapshot_id, name) for name in names]
        return retried(self._pins.insert_one, {"owners": owners, "at": utc_now()}).inserted_id

    def unpin(self, pin: Pin) -> None:
        retried(self._pins.delete_one, {"_id": pin})

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
        return int(retried(self._pins.delete_many, {"at": {"$lt": older_than}}).deleted_count)


def _owner_key(user_id: Any, snapshot_id: Any, name: Any) -> str:
    """How a pin names a result whose payloads it holds."""
    return f"{user_id}/{snapshot_id}/{name}"


class _Int64AsInt(TypeDecoder):
    """Decode BSON int64 as plain `int`, so values come back with the types they were saved with."""

    bson_type = Int64

    def transform_bson(self, value: Any) -> int:
        return int(value)
