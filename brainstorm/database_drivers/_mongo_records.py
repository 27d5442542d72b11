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
from dataclasses import dataclass
from typing import Any, cast

import bson
from bson import ObjectId
from bson.codec_options import TypeDecoder, TypeRegistry
from bson.int64 import Int64
from pymongo import ReturnDocument
from pymongo.database import Database

from . import _mongo_layouts as layouts
from ._blobs import BYTES, BlobSource, in_memory_source
from ._mongo_indexes import create_index, index_options
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
    "snapshots": [(("user_id", 1), ("snapshot_id", 1), ("deleted", 1)), (("pins.at", 1),)],
}
"""The other (not unique) indexes the driver creates: who uses a payload."""
_UNPINNED = {"pins.0": {"$exists": False}}
"""A snapshot no save holds a pin in."""
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
        self._layout, self._ids = records["layout"], records["snapshot_ids"]
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
        """Record the layout in a new database, then create `INDEXES` (unique) and `LOOKUP_INDEXES` (see
        `_mongo_indexes`); creating an existing index changes nothing, so retrying is safe."""
        if not self._is_current():
            layouts.record(self._layout)
        options = index_options(self.database)
        for indexes, unique in ((INDEXES, True), (LOOKUP_INDEXES, False)):
            for collection, keys in indexes.items():
                for key in keys:
                    create_index(self.database[collection], key, options, unique=unique)

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

    def confirm_publication(self, user_id: int, snapshot_id: int, pin: Pin) -> bool:
        """One update of the live snapshot: `$inc` of its revision (a `discard_snapshot` that found it
        empty at the revision before leaves it), and the release of the save's pin when it is this
        snapshot's. A deleted snapshot is forgotten, so the next save at its datetime numbers anew. Sent
        again after a transient error: confirming twice and releasing twice say the same as once."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id, **_LIVE}
        update: Document = {"$inc": {"revision": 1}}
        ours = isinstance(pin, SnapshotPin) and (pin.user_id, pin.snapshot_id) == (user_id, snapshot_id)
        if ours:
            update["$pull"] = {"pins": {"id": pin.id}}
        if retried(self._snapshots.update_one, key, update).matched_count == 1:
            if ours:
                pin.released = True
            return True
        self._forget(user_id, snapshot_id)
        return False

    def _forget(self, user_id: int, snapshot_id: int) -> None:
        self._known_snapshots = {k: v for k, v in self._known_snapshots.items() if (k[0], v) != (user_id, snapshot_id)}

    def number_snapshot(self, user_id: int, when: dt.datetime, pinning: list[str]) -> Numbered:
        """The user's live snapshot at `when` (found with one `findAndModify` that also pins `pinning`),
        else a new one under the next id of the user's counter (`_next_id`), inserted with the pin in it
        under the unique indexes: a writer that loses the race to create the same snapshot takes the
        winner's id (its own id is left unused: a gap), and one whose id a copy placed meanwhile takes
        the next. Each attempt reads afresh and writes only a new document or a new pin entry, so one the
        server aborted is made again. A user without a document is created by the protocol once the save
        has succeeded (`new_user`). A snapshot the driver has seen is not looked up, nor pinned here."""
        if (known := self._known_snapshots.get((user_id, when))) is not None:
            return Numbered(known, False)
        entry = _pin_entry(pinning) if pinning else None

        def existing() -> Numbered | None:
            live = {"user_id": user_id, **_LIVE, "datetime": when}
            found = (
                self._snapshots.find_one(live, {"snapshot_id": 1})
                if entry is None
                else self._snapshots.find_one_and_update(live, {"$push": {"pins": entry}}, {"snapshot_id": 1})
            )
            return None if found is None else self._numbered(user_id, found["snapshot_id"], False, False, entry)

        def attempt() -> Numbered:
            if (found := existing()) is not None:
                return found
            snapshot_id, new_user = self._next_id(user_id)
            document = {"user_id": user_id, "snapshot_id": snapshot_id, "datetime": when, **_LIVE}
            try:
                self._snapshots.insert_one(document if entry is None else {**document, "pins": [entry]})
            except Exception as exc:
                if not duplicate_key(exc):
                    raise
                if (found := existing()) is not None:
                    return found
                raise TryAgain(f"snapshot id {snapshot_id} of user {user_id} was taken meanwhile") from None
            return self._numbered(user_id, snapshot_id, True, new_user, entry)

        numbered = retried(attempt)
        self._remember(user_id, when, numbered.snapshot_id)
        return numbered

    @staticmethod
    def _numbered(user_id: int, snapshot_id: int, created: bool, new_user: bool, entry: Document | None) -> Numbered:
        pin = None if entry is None else SnapshotPin(user_id, snapshot_id, entry["id"])
        return Numbered(snapshot_id, created, new_user, pin)

    def _next_id(self, user_id: int) -> tuple[int, bool]:
        """An id no snapshot of the user ever had, and whether the user may have no document: one `$inc`
        of the user's counter in `snapshot_ids` (atomic on one document, so concurrent writers get
        different ids without racing for one), which also clears `user_gone` (set by `unpublish_user`).
        A user numbered for the first time since layout 2 starts above every id it has had, and counts as
        new (the protocol's write of a user that exists changes nothing). Sent again after a transient
        error: a counter raised twice only leaves a gap."""
        bump = {"_id": user_id}, {"$inc": {"last": 1}, "$unset": {"user_gone": ""}}
        before = retried(self._ids.find_one_and_update, *bump, return_document=ReturnDocument.BEFORE)
        if before is not None:
            return int(before["last"]) + 1, bool(before.get("user_gone"))
        highest = {"$max": {"last": self._highest_in_snapshots(user_id)}}
        retried(self._ids.update_one, {"_id": user_id}, highest, upsert=True)
        before = retried(self._ids.find_one_and_update, *bump, return_document=ReturnDocument.BEFORE)
        assert before is not None, "upserted just above"
        return int(before["last"]) + 1, True

    def _raise_counter(self, user_id: int, snapshot_id: int) -> bool:
        """Keep the user's counter at or above an id placed (idempotent: `$max`); whether the user may
        have no document (as `_next_id` says)."""
        update = {"$max": {"last": snapshot_id}, "$unset": {"user_gone": ""}}
        bump = {"_id": user_id}, update
        before = retried(self._ids.find_one_and_update, *bump, upsert=True, return_document=ReturnDocument.BEFORE)
        return before is None or bool(before.get("user_gone"))

    def place_snapshot(self, user_id: int, snapshot_id: int, when: dt.datetime) -> Numbered | None:
        """Insert the snapshot at its id, or turn that id's tombstone back into it, under the unique
        indexes; when either is in the way, the live snapshot holding the id or the datetime decides:
        the same snapshot, or a conflict (None). The document keeps numbering above the id. An attempt
        that finds none of these (the snapshot changed between its steps) is made again, afresh."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        live = {**key, "datetime": when, **_LIVE}

        def created() -> Numbered:  # the protocol writes the user once the save succeeded, if it has none
            return Numbered(snapshot_id, True, self._raise_counter(user_id, snapshot_id))

        def attempt() -> Numbered | None:
            try:
                self._snapshots.insert_one(dict(live))
                return created()
            except Exception as exc:
                if not duplicate_key(exc):
                    raise
            try:  # an update, not a replacement: a pin of a save moving out of the deleted snapshot stays
                revived = {"$set": {"datetime": when, **_LIVE}}
                if self._snapshots.update_one({**key, "deleted": snapshot_id}, revived).modified_count == 1:
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
        write's count says which of two racing deletes did it; the pins of saves in flight stay in it),
        remove its results one by one, and drop the tombstone unless it holds the user's highest id or a
        pin. Each step, sent again after a transient error, finds what is still to do: an update of the
        live snapshot only, removals of what is there."""
        return self._bury(user_id, snapshot_id, {})

    def discard_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        """Bury the snapshot only unpinned and at the revision it was found empty at: a save at work in it
        holds a pin there, one that published into it since and confirmed (`confirm_publication`)
        changed the revision, and one that confirms later finds a tombstone, and moves its result."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        found = self._snapshots.find_one({**key, **_LIVE}, {"revision": 1})
        if found is None or self._results.find_one(key, {"_id": 1}) is not None:
            return None
        return self._bury(user_id, snapshot_id, {"revision": found.get("revision"), **_UNPINNED})

    def _bury(self, user_id: int, snapshot_id: int, condition: Document) -> list[StoredResult] | None:
        """`unpublish_snapshot` of the live snapshot if it also matches `condition`."""
        key = {"user_id": user_id, "snapshot_id": snapshot_id}
        tombstone = {"$set": {"deleted": snapshot_id}, "$unset": {"datetime": "", "revision": ""}}
        if retried(self._snapshots.update_one, {**key, **_LIVE, **condition}, tombstone).modified_count != 1:
            return None  # no such snapshot, or another delete turned it into a tombstone first
        self._forget(user_id, snapshot_id)
        removed = []
        while (doc := retried(self._results.find_one_and_delete, key)) is not None:  # also those published meanwhile
            removed.append(cast(StoredResult, doc))
        if self._highest_in_snapshots(user_id) > snapshot_id:
            retried(self._snapshots.delete_one, {**key, "deleted": snapshot_id, **_UNPINNED})
        return removed

    def unpublish_user(self, user_id: int) -> list[StoredResult] | None:
        """Mark the user's counter `user_gone` (so the next snapshot numbered writes the user anew), turn
        the user's snapshots into tombstones, oldest first (the one kept holds the highest id), then
        remove its document; then look again, since a save may have numbered a snapshot meanwhile. The
        user leaves `get_snapshots` snapshot by snapshot, and `get_users`/`get_user` last."""
        retried(self._ids.update_one, {"_id": user_id}, {"$set": {"user_gone": True}})
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
        """One `$push` of a pin entry into the snapshot's document; where the document is gone (deleted
        meanwhile), it is made again as a tombstone holding the pin, so that the payloads are held while
        the save finds that out and moves its results. Sent again after a transient error: an entry
        pushed twice is released twice, by its id."""
        entry = _pin_entry(names)
        held = {"$push": {"pins": entry}, "$setOnInsert": {"deleted": snapshot_id}}
        retried(self._snapshots.update_one, {"user_id": user_id, "snapshot_id": snapshot_id}, held, upsert=True)
        return SnapshotPin(user_id, snapshot_id, entry["id"])

    def unpin(self, pin: Pin) -> None:
        """One `$pull` of the entry, unless `confirm_publication` released it already."""
        assert isinstance(pin, SnapshotPin)
        if not pin.released:
            key = {"user_id": pin.user_id, "snapshot_id": pin.snapshot_id}
            retried(self._snapshots.update_one, key, {"$pull": {"pins": {"id": pin.id}}})
            pin.released = True

    def in_use(self, refs: list[Ref]) -> set[Ref]:
        """Payloads of a pinned result (its owner, from the GridFS metadata), then referenced ones."""
        owners: dict[tuple[Any, Any], dict[Any, list[Ref]]] = {}
        for file in self._files.find(
            {"_id": {"$in": refs}}, {"metadata.user_id": 1, "metadata.snapshot_id": 1, "metadata.result_name": 1}
        ):
            meta = file.get("metadata", {})
            owner = owners.setdefault((meta.get("user_id"), meta.get("snapshot_id")), {})
            owner.setdefault(meta.get("result_name"), []).append(file["_id"])
        used: set[Ref] = set()
        if owners:
            users, ids = sorted({u for u, _ in owners}, key=str), sorted({s for _, s in owners}, key=str)
            pinned = self._snapshots.find(
                {"user_id": {"$in": users}, "snapshot_id": {"$in": ids}, "pins.0": {"$exists": True}},
                {"_id": 0, "user_id": 1, "snapshot_id": 1, "pins.names": 1},
            )
            for doc in pinned:
                names = owners.get((doc["user_id"], doc["snapshot_id"]), {})
                used.update(ref for pin in doc["pins"] for name in pin["names"] for ref in names.get(name, []))
        wanted = set(refs)
        referenced = self._results.find({"refs": {"$in": refs}}, {"_id": 0, "refs": 1})
        return used | {ref for doc in referenced for ref in doc["refs"] if ref in wanted}

    def results(
        self, user_id: int | None = None, name: str | None = None
    ) -> Iterator[tuple[int, int, str, StoredResult]]:
        wanted = {"user_id": user_id, "name": name}
        for doc in self._results.find({field: value for field, value in wanted.items() if value is not None}):
            yield doc["user_id"], doc["snapshot_id"], doc["name"], cast(StoredResult, doc)

    def drop_pins(self, older_than: dt.datetime) -> int:
        """Pull the pin entries taken before the cutoff out of every snapshot (sent again after a transient
        error: pulling what is gone changes nothing); how many there were."""
        stale = {"pins.at": {"$lt": older_than}}
        found = sum(
            sum(pin["at"] < older_than for pin in doc["pins"]) for doc in self._snapshots.find(stale, {"pins.at": 1})
        )
        retried(self._snapshots.update_many, stale, {"$pull": {"pins": {"at": {"$lt": older_than}}}})
        return int(found)


@dataclass
class SnapshotPin:
    """A save's hold on the payloads of some results: an entry of their snapshot's `pins`."""

    user_id: int
    snapshot_id: int
    id: ObjectId
    released: bool = False


def _pin_entry(names: list[str]) -> Document:
    return {"id": ObjectId(), "names": names, "at": utc_now()}


class _Int64AsInt(TypeDecoder):
    """Decode BSON int64 as plain `int`, so values come back with the types they were saved with."""

    bson_type = Int64

    def transform_bson(self, value: Any) -> int:
        return int(value)
