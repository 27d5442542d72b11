"""Which layout a MongoDB database has, layout 1 read until it is migrated, and the migration to layout 2.

Layout 2 (this version): `users` holds one document per user, `{_id: <user_id>, user_id, <field>: ...}`,
a save's pins are entries of its snapshot's document, snapshot ids come from `snapshot_ids` counters, and
the collection `layout` records the layout, `{_id: "brainstorm", version: 2}`. Layout 1 (every
database written before the layout was recorded) held one document per user *field*,
`{_id: ObjectId, user_id, field, value}`, unique on (user_id, field), because FerretDB v1 did not apply
a `$set` of one document atomically, and pins in a `pins` collection. Snapshots, results and payloads
are the same in both (a layout-1 snapshot simply has no pins, revision nor counter yet). A layout-1 database has no
record; its field documents say what it is (their `_id` is an ObjectId, a user document's is the id).

The migration writes each user's document beside its field documents (A), then deletes the field
documents (B), drops layout 1's indexes and `pins` and records layout 2 (C). Each step is idempotent, so a
migration killed at any moment is completed by running it again. Readers keep working throughout:
until they see layout 2 recorded they read both shapes, the field documents first and the user
documents second, and a user document wins. So a user is never missed: its field documents are all
there until step B, and its user document exists before step B begins.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pymongo.collection import Collection

from ._errors import InvalidInput, UnsupportedLayout
from ._transient import retried

LAYOUT = 2
"""The layout this version writes."""
RECORD = {"_id": "brainstorm"}
"""The document of the `layout` collection that records the layout."""
_FIELD_ROW = {"_id": {"$type": "objectId"}}
"""A layout-1 field document (a user document's `_id` is its user id)."""
_USER_DOCUMENT = {"_id": {"$not": {"$type": "objectId"}}}
_LAYOUT_1_INDEXES = ("user_id_1_field_1", "field_1_user_id_1")

Document = dict[str, Any]


def recorded(layout: Collection[Document], users: Collection[Document]) -> int | None:
    """The layout the database records; 1 for a database with layout-1 field documents and no record;
    None for one nothing was written to yet (nor any user)."""
    record = layout.find_one(RECORD, {"version": 1})
    if record is not None:
        return int(record["version"])
    return 1 if users.find_one(_FIELD_ROW, {"_id": 1}) is not None else None


def record(layout: Collection[Document]) -> None:
    """Record layout 2 in a database that has no record yet (a concurrent writer may record it first)."""
    retried(layout.update_one, RECORD, {"$setOnInsert": {"version": LAYOUT}}, upsert=True)


def user_key(user_id: int) -> Document:
    """The filter of a user's document: its `_id`, and `user_id`, which a sharded `users` is keyed on."""
    return {"_id": user_id, "user_id": user_id}


def user_of(document: Document) -> Document:
    """A layout-2 user document as `get_user` gives it: `user_id` first, then the fields as stored."""
    fields = {key: value for key, value in document.items() if key not in ("_id", "user_id")}
    return {"user_id": document["_id"], **fields}


def read_users(users: Collection[Document]) -> list[Document]:
    """`RecordStore.users()` on a database not (yet) recorded as layout 2: both shapes, user documents winning."""
    found: dict[int, Any] = {}
    rows = users.find({**_FIELD_ROW, "field": {"$in": ["user_id", "username"]}}, {"_id": 0})
    for row in sorted(rows, key=lambda row: row["field"] != "user_id"):  # the user_id row says the user exists
        if row["field"] == "user_id":
            found.setdefault(row["user_id"], None)
        elif row["user_id"] in found:
            found[row["user_id"]] = row["value"]
    for document in users.find(_USER_DOCUMENT, {"username": 1}):
        found[document["_id"]] = document.get("username")
    return [{"user_id": user_id, "username": found[user_id]} for user_id in sorted(found)]


def read_user(users: Collection[Document], user_id: int) -> Document | None:
    """`RecordStore.user()` on a database not (yet) recorded as layout 2: its field documents, unless its
    user document exists, which wins."""
    fields = _fields(users, user_id)
    document = users.find_one(user_key(user_id))
    if document is not None:
        return user_of(document)
    return fields if "user_id" in fields else None


def _fields(users: Collection[Document], user_id: int) -> Document:
    """A user's layout-1 field documents as one mapping, in the order the fields were first written."""
    rows = users.find({**_FIELD_ROW, "user_id": user_id}, {"field": 1, "value": 1})
    return {row["field"]: row["value"] for row in sorted(rows, key=lambda row: row["_id"])}


def migrate(layout: Collection[Document], users: Collection[Document], progress: Callable[[int], None] | None) -> int:
    """Convert a layout-1 database to layout 2 (see the module's docstring); how many users were converted."""
    if recorded(layout, users) == LAYOUT:
        return 0
    held = users.find_one({**_FIELD_ROW, "field": "_id"}, {"user_id": 1})
    if held is not None:
        raise InvalidInput(
            f"user {held['user_id']} has a field named '_id', which a user document cannot hold: save the user "
            "again without it (with the brainstorm that wrote the database), then migrate; nothing was changed"
        )
    converted = 0
    for row in users.find({**_FIELD_ROW, "field": "user_id"}, {"user_id": 1}).sort("user_id", 1):  # step A
        user_id = row["user_id"]
        update = {**_fields(users, user_id), "user_id": user_id}
        retried(users.update_one, user_key(user_id), {"$set": update}, upsert=True)
        converted += 1
        if progress:
            progress(1)
    retried(users.delete_many, _FIELD_ROW)  # step B
    if users.find_one(_FIELD_ROW, {"user_id": 1}) is not None:
        raise UnsupportedLayout(
            "users were written in layout 1 while migrating: an older brainstorm still writes to this database; "
            "stop it, then run `brainstorm migrate` again"
        )
    existing = set(users.index_information())  # step C
    for name in _LAYOUT_1_INDEXES:
        if name in existing:
            retried(users.drop_index, name)
    retried(users.database.drop_collection, "pins")  # layout 1's pins: its writers are stopped
    retried(layout.update_one, RECORD, {"$set": {"version": LAYOUT}}, upsert=True)
    return converted
