"""The MongoDB driver: users, snapshots and results in collections, payloads in GridFS.

Layout 2 (database = the URL's path, default `brainstorm`; `_mongo_layouts` reads and migrates layout 1):

- `users`: one document per user, `{_id: <user_id>, user_id, <field>: <value>, ...}`, unique on
  `user_id` too. Fields are set with one `$set` of that document, so concurrent saves of other fields
  of one user all land.
- `snapshots`: `{user_id, snapshot_id, datetime, deleted: false, revision, pins}`, unique on (user_id,
  snapshot_id) and on (user_id, deleted, datetime); `revision` counts the saves that published a new
  result into it (see `discard_snapshot`). A deleted snapshot that was its user's latest stays as a
  tombstone `{user_id, snapshot_id, deleted: <snapshot_id>}` (no datetime, no data).
- `snapshot_ids`: `{_id: <user_id>, last, user_gone}`, the highest snapshot id the user was given
  (`user_gone` after `delete_user`, until its next snapshot writes the user anew): a new snapshot's
  id is one `$inc` of it, so concurrent writers never race for one id, and it outlives the user's
  deletion, so no id is given twice. (Layout 1 numbered from the highest snapshot document, tombstones
  included; a counter starts above that.)
- `results`: one document per result, `{user_id, snapshot_id, name, value, blobs, refs}`, unique on
  (user_id, snapshot_id, name): the result's fields (None where each payload sits), one description
  per payload (kind, content type, length, sha256, and the GridFS id or inline bytes), and `refs`,
  every GridFS id it uses (indexed, so a payload's users are found).
- pins: a save's hold on the payloads of the results it writes is an entry `{id, names, at}` of their
  snapshot's `pins` (see `Driver`); a tombstone keeps the pins of saves moving out of it.
- `layout`: `{_id: "brainstorm", version: 2}`, the layout the database has.
- GridFS bucket `blobs`: payloads above the inline limit, named
  `<user_id>/<snapshot_id>/<result>/<path>@<file id><.npy|.png|.tiff|.bin>`, with metadata
  `{content_type, contentType, sha256, user_id, snapshot_id, result_name, path, kind}` (and
  `condemned`, the time a payload was condemned, just before its deletion).

Indexes (`INDEXES`, `LOOKUP_INDEXES` and GridFS's own) are created lazily, once per driver, just
before its first write (`prepare_for_writes`), never on connecting: a driver that is only read from
(users, snapshots, results, payloads, `verify`) sends no write of any kind, so the built-in `read`
role is enough for it; writing needs `readWrite` (which includes createIndex).

Concurrency: each write is atomic on one document (`_mongo_records`), and a command the server aborts
for a conflict is sent again (`_transient`); the driver never uses multi-document transactions, which a
standalone server refuses and FerretDB does not implement.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

import pymongo
from pymongo import errors as mongo_errors
from pymongo import uri_parser
from pymongo.database import Database

from ._driver import Driver
from ._errors import DatabaseUnavailable, InvalidInput
from ._gridfs import CHUNK_SIZE, GridFSBucket
from ._mongo_blobs import GridFSBlobs
from ._mongo_records import BUCKET, MongoRecords
from ._transient import transient_cause
from ._url import redact, scrub

DEFAULT_DATABASE = "brainstorm"
MIN_CHUNK, MAX_CHUNK = 1024, 8 * 1024 * 1024
"""The GridFS chunk sizes the driver writes: chunks are documents of at most 16 MiB, and a chunk is one
piece of a range read."""
DEFAULT_TIMEOUTS_MS = {"serverSelectionTimeoutMS": 5000, "connectTimeoutMS": 5000, "socketTimeoutMS": 15000}
"""How long a call waits before failing with DatabaseUnavailable: for an unreachable server, for a
connection, and for any one reply (pymongo waits forever for a reply by default, so a frozen server,
one that accepts and never answers, would hang a call). The URL's own options override them."""


class MongodbDriver(Driver):
    """A driver for any MongoDB-protocol server (`mongodb://` and `mongodb+srv://` URLs).

    `client_options` are passed to `pymongo.MongoClient`, after the URL's own options. `chunk_size`
    is the GridFS chunk size of the payloads this driver writes (each file records its own, so any
    GridFS reader reads files of any chunk size).

    Constructing one sends a `ping` (which needs no privilege), so an unreachable server or refused
    credentials fail at once. The indexes are created just before the driver's first write, so a
    driver that only reads works under a read-only role (see the module's docstring).
    """

    schemes = ("mongodb", "mongodb+srv")

    def __init__(
        self,
        url: str,
        *,
        inline_limit: int | None = None,
        chunk_size: int = CHUNK_SIZE,
        client_options: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(url, inline_limit=inline_limit)
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
            raise InvalidInput(
                f"chunk_size must be an integer from {MIN_CHUNK:,} to {MAX_CHUNK:,} bytes, not {chunk_size!r}"
            )
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
                GridFSBucket(database[f"{BUCKET}.files"], database[f"{BUCKET}.chunks"], chunk_size)
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
            if cause := transient_cause(exc):  # a read the server aborted (writes are retried): try again later
                raise DatabaseUnavailable(f"MongoDB at {redact(self.url)} aborted a command: {cause}") from None
            raise
