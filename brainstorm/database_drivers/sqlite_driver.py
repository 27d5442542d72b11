"""The embedded driver: one SQLite file (Python's own `sqlite3`), no server.

URLs follow SQLAlchemy: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, and `sqlite://`
alone for a private in-memory database. Option: `?timeout=SECONDS`, how long a writer waits for
another process's write to finish (default 60).

Metadata lives in the SQLite file; payloads above the inline limit live as plain files in the
directory beside it, `<database>-blobs/<xx>/<blob id>` (a temporary directory for `sqlite://`), so
they are written and read at the disk's speed with bounded memory, whatever their size. A whole
`save_snapshot` is one SQLite transaction: payload files are written first, under the write lock,
and only the commit makes them part of a result, so a writer killed at any moment leaves no result
half-visible and no file corrupt (a payload file it had not committed is left without a row, for
`collect_garbage`; payload ids are drawn at random, so no later save writes under a used one). After
the commit, payloads the save replaced are retired (`Driver`): their rows go and their files are
listed in the `trash` table in one transaction, and the files are deleted after it (or when the
database is next opened). Deletes work the same way: the records go in
one transaction, then the payloads. Readers (WAL mode) never wait for writers; writers of several
processes take turns.

How big it can grow: the SQLite file holds only fields and descriptions (SQLite allows 281 TB); the
payloads take their own size on disk, one file each.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import errno
import json
import math
import os
import secrets
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from ._blobs import BlobSource
from ._driver import Driver, SnapshotSummary, User
from ._errors import BlobMissing, DatabaseUnavailable, DriverUnavailable, InvalidInput
from ._url import redact
from ._values import check_datetime, datetime_to_millis, utc_now
from .storage import BlobOwner, BlobStore, Numbered, Pin, RecordStore, Ref, StoredBlob, StoredResult

DEFAULT_TIMEOUT_SECONDS = 60.0
MINIMUM_SQLITE = (3, 35)  # for RETURNING
SCHEMA_VERSION = 4
"""The layout this version writes, kept in the file's `PRAGMA user_version`."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY,
    fields TEXT NOT NULL,                       -- JSON
    last_snapshot_id INTEGER NOT NULL DEFAULT 0 -- numbers the user's snapshots
);
CREATE TABLE IF NOT EXISTS deleted_users (
    user_id INTEGER PRIMARY KEY,
    last_snapshot_id INTEGER NOT NULL           -- a user saved again goes on from here: ids are never reused
);
CREATE TABLE IF NOT EXISTS snapshots (
    user_id INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL,
    datetime INTEGER NOT NULL,                  -- milliseconds since the epoch, UTC
    created INTEGER,                            -- when it was numbered, ms since the epoch (NULL: before version 4)
    PRIMARY KEY (user_id, snapshot_id),
    UNIQUE (user_id, datetime)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS results (
    user_id INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    record TEXT NOT NULL,                       -- JSON: the result's fields and payload descriptions
    PRIMARY KEY (user_id, snapshot_id, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS blobs (
    blob_id INTEGER PRIMARY KEY AUTOINCREMENT,  -- given at random: see SqliteBlobs.upload
    user_id INTEGER NOT NULL,                   -- the result that uploaded it: the only one that can use it
    snapshot_id INTEGER NOT NULL,
    result_name TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    length INTEGER,
    sha256 TEXT,
    uploaded INTEGER,                           -- milliseconds since the epoch, UTC
    condemned INTEGER NOT NULL DEFAULT 0        -- about to be deleted: never reused
);
CREATE TABLE IF NOT EXISTS trash (
    blob_id INTEGER PRIMARY KEY                 -- payload files to delete once their removal committed
);
"""
_MIGRATIONS = {
    2: [
        "ALTER TABLE blobs ADD COLUMN uploaded INTEGER",
        "ALTER TABLE blobs ADD COLUMN condemned INTEGER NOT NULL DEFAULT 0",
    ],
    3: ["ALTER TABLE snapshots ADD COLUMN created INTEGER"],
}
"""Statements that bring a file of schema version N to N + 1 (new tables come from _SCHEMA). They are a few
statements in one transaction, so a file is brought up to date as it is opened (`Driver.migrate` finds
nothing left to do); a migration that must touch every row would go to `SqliteRecords.migrate` instead."""


class SqliteDriver(Driver):
    """The embedded database: a single SQLite file, safe for several processes at once."""

    schemes = ("sqlite",)
    default_inline_limit = 4 * 1024
    """Payload files are cheap here, while inline bytes travel base64-encoded in the JSON record."""

    def __init__(self, url: str, *, inline_limit: int | None = None) -> None:
        super().__init__(url, inline_limit=inline_limit)
        if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
            raise DriverUnavailable(
                f"the sqlite driver needs SQLite 3.35 or later; Python here has {sqlite3.sqlite_version}"
            )
        self.path, timeout = _parse_url(url)
        self.blob_directory = self._blob_directory()
        try:
            self._db = _Database(self.path, timeout)
            self.record_store: SqliteRecords = SqliteRecords(self._db)
            self.blob_store: SqliteBlobs = SqliteBlobs(self._db, self.blob_directory)
            self.blob_store.empty_trash()
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {self.path!r}: {exc}") from None

    def _blob_directory(self) -> Path:
        """Where payload files live: beside the database, or a temporary directory for `sqlite://`."""
        if self.path == ":memory:":
            directory = Path(tempfile.mkdtemp(prefix="brainstorm-memory-"))
            weakref.finalize(self, shutil.rmtree, directory, ignore_errors=True)
            return directory
        return Path(f"{self.path}-blobs")

    def close(self) -> None:
        self._db.close()
        if self.path == ":memory:":
            shutil.rmtree(self.blob_directory, ignore_errors=True)

    @contextlib.contextmanager
    def _native_errors(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.OperationalError, sqlite3.ProgrammingError) as exc:  # locked too long, closed, unreadable
            raise DatabaseUnavailable(f"SQLite database {self.path!r}: {exc}") from None


class _Database:
    """One connection shared by the two stores, with re-entrant write transactions."""

    def __init__(self, path: str, timeout: float) -> None:
        self._lock = threading.RLock()
        self._depth = 0  # how many transaction() blocks are open: only the outermost commits
        self.connection = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self.connection.execute("PRAGMA foreign_keys = ON")
        if path != ":memory:":
            self._enable_wal(timeout)
            self.connection.execute("PRAGMA synchronous = NORMAL")  # with WAL: safe against a killed process
        self._create_schema()

    def _enable_wal(self, timeout: float) -> None:
        """Switch to WAL mode. Switching needs the file to itself and SQLite does not wait for that
        (no busy handler), so when another process opens the same new file at once, try again."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connection.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _create_schema(self) -> None:
        """Create or update the tables; an up-to-date file is opened without taking the write lock. A file
        of a newer version is left as it is (`Driver` refuses to write to it)."""
        if self.version() >= SCHEMA_VERSION:
            return
        with self.transaction() as db:
            found = db.execute("PRAGMA user_version").fetchone()[0]
            for version in range(found, SCHEMA_VERSION):
                for statement in _MIGRATIONS.get(version, []) if found else []:  # a new file: _SCHEMA alone
                    db.execute(statement)
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def version(self) -> int:
        """The file's schema version."""
        return int(self.query("PRAGMA user_version")[0][0])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, joined by any nested one; taking the write lock up front means it
        never fails half-way on a busy database."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.connection
                finally:
                    self._depth -= 1
                return
            self.connection.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.connection
            except BaseException:
                self.connection.execute("ROLLBACK")
                raise
            finally:
                self._depth = 0
            self.connection.execute("COMMIT")

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """One read transaction (a consistent view without the write lock), or the open transaction."""
        with self._lock:
            if self._depth:
                yield self.connection
                return
            self.connection.execute("BEGIN")
            try:
                yield self.connection
            finally:
                self.connection.execute("COMMIT")

    def query(self, sql: str, parameters: Iterable[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self.connection.execute(sql, tuple(parameters)).fetchall()

    def close(self) -> None:
        with self._lock:
            self.connection.close()


class SqliteRecords(RecordStore):
    """Users, snapshots and results in SQLite tables; every primitive is one transaction (or joins
    the caller's `transaction()`, so a whole save is one)."""

    layout_version = SCHEMA_VERSION

    def __init__(self, db: _Database) -> None:
        self._db = db

    def layout(self) -> int:
        """The file's schema version (`PRAGMA user_version`), brought up to date when it was opened."""
        return self._db.version()

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self._db.transaction()

    # Users -------------------------------------------------------------------------------------

    def write_user(self, user_id: int, fields: dict[str, Any]) -> None:
        with self._db.transaction() as db:
            row = db.execute("SELECT fields FROM users WHERE user_id = ?", (user_id,)).fetchone()
            merged = {**(_loads(row[0]) if row else {}), **fields}
            db.execute(
                f"INSERT INTO users (user_id, fields, last_snapshot_id) VALUES (?, ?, {_LAST_DELETED_ID}) "
                "ON CONFLICT (user_id) DO UPDATE SET fields = excluded.fields",
                (user_id, _dumps(merged), user_id),
            )

    def users(self) -> list[User]:
        """Every user's id and username, as saved: a string straight from SQL, any other JSON value
        (a number, true, a dict, a datetime...) decoded here, since SQL's json_extract gives objects
        as text and true as 1, and parses numbers its own way."""
        rows = self._db.query(_SELECT_USERNAMES)
        return [{"user_id": user_id, "username": _username(kind, value)} for user_id, kind, value in rows]

    def user(self, user_id: int) -> User | None:
        rows = self._db.query("SELECT fields FROM users WHERE user_id = ?", (user_id,))
        return {"user_id": user_id, **_loads(rows[0][0])} if rows else None

    # Snapshots ---------------------------------------------------------------------------------

    def number_snapshot(self, user_id: int, when: dt.datetime, pinning: list[str]) -> Numbered:
        millis = datetime_to_millis(when)
        with self._db.transaction() as db:
            row = db.execute(
                "SELECT snapshot_id FROM snapshots WHERE user_id = ? AND datetime = ?", (user_id, millis)
            ).fetchone()
            if row is not None:
                return Numbered(int(row[0]), False)
            (snapshot_id,) = db.execute(
                f"INSERT INTO users (user_id, fields, last_snapshot_id) VALUES (?, '{{}}', {_LAST_DELETED_ID} + 1) "
                "ON CONFLICT (user_id) DO UPDATE SET last_snapshot_id = last_snapshot_id + 1 "
                "RETURNING last_snapshot_id",
                (user_id, user_id),
            ).fetchone()
            _insert_snapshot(db, user_id, snapshot_id, millis)
            return Numbered(int(snapshot_id), True)  # the user's row, made above, commits with it

    def place_snapshot(self, user_id: int, snapshot_id: int, when: dt.datetime) -> Numbered | None:
        """One transaction: the snapshot found, or inserted with the user's id watermark raised to it."""
        millis = datetime_to_millis(when)
        with self._db.transaction() as db:
            held = db.execute(
                "SELECT snapshot_id, datetime FROM snapshots WHERE user_id = ? AND (snapshot_id = ? OR datetime = ?)",
                (user_id, snapshot_id, millis),
            ).fetchall()
            if held:
                return Numbered(snapshot_id, False) if held == [(snapshot_id, millis)] else None
            db.execute(
                f"INSERT INTO users (user_id, fields, last_snapshot_id) VALUES (?, '{{}}', max({_LAST_DELETED_ID}, ?)) "
                "ON CONFLICT (user_id) DO UPDATE SET last_snapshot_id = max(last_snapshot_id, ?)",
                (user_id, user_id, snapshot_id, snapshot_id),
            )
            _insert_snapshot(db, user_id, snapshot_id, millis)
            return Numbered(snapshot_id, True)

    def highest_snapshot_id(self, user_id: int) -> int:
        rows = self._db.query(
            "SELECT last_snapshot_id FROM users WHERE user_id = ? UNION ALL "
            "SELECT last_snapshot_id FROM deleted_users WHERE user_id = ?",
            (user_id, user_id),
        )
        return max((int(last) for (last,) in rows), default=0)

    def empty_snapshots(self, created_before: dt.datetime) -> Iterator[tuple[int, int]]:
        """Snapshots without results numbered before the cutoff (those numbered before version 4, when
        the time was not kept, count as old). Only deliberately empty ones: a save is one transaction."""
        rows = self._db.query(
            "SELECT s.user_id, s.snapshot_id FROM snapshots s WHERE coalesce(s.created, 0) <= ? AND NOT EXISTS "
            "(SELECT 1 FROM results r WHERE r.user_id = s.user_id AND r.snapshot_id = s.snapshot_id)",
            (datetime_to_millis(created_before),),
        )
        yield from ((int(user_id), int(snapshot_id)) for user_id, snapshot_id in rows)

    def discard_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        """One statement, so no save comes between the look for results and the removal (saves are
        transactions); the user's row keeps the id watermark."""
        rows = self._db.query(
            "DELETE FROM snapshots WHERE user_id = ? AND snapshot_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM results WHERE user_id = ? AND snapshot_id = ?) RETURNING 1",
            (user_id, snapshot_id, user_id, snapshot_id),
        )
        return [] if rows else None

    def snapshots(self, user_id: int) -> list[SnapshotSummary]:
        rows = self._db.query(
            "SELECT snapshot_id, datetime FROM snapshots WHERE user_id = ? ORDER BY datetime", (user_id,)
        )
        return [{"snapshot_id": snapshot_id, "datetime": check_datetime(ms)} for snapshot_id, ms in rows]

    def snapshot(self, user_id: int, snapshot_id: int) -> SnapshotSummary | None:
        with self._db.reading() as db:  # one transaction, so the names match the snapshot
            row = db.execute(
                "SELECT datetime FROM snapshots WHERE user_id = ? AND snapshot_id = ?", (user_id, snapshot_id)
            ).fetchone()
            names = db.execute(
                "SELECT name FROM results WHERE user_id = ? AND snapshot_id = ?", (user_id, snapshot_id)
            ).fetchall()
        if row is None:
            return None
        return {
            "snapshot_id": snapshot_id,
            "datetime": check_datetime(row[0]),
            "available_results": [n for (n,) in names],
        }

    # Results -----------------------------------------------------------------------------------

    def result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        rows = self._db.query(_SELECT_RECORD, (user_id, snapshot_id, name))
        return _loads(rows[0][0]) if rows else None

    def stored_results(self, user_id: int, snapshot_id: int, names: list[str]) -> dict[str, StoredResult]:
        marks = ", ".join("?" * len(names))
        rows = self._db.query(
            f"SELECT name, record FROM results WHERE user_id = ? AND snapshot_id = ? AND name IN ({marks})",
            (user_id, snapshot_id, *names),
        )
        return {name: _loads(record) for name, record in rows}

    def publish(self, user_id: int, snapshot_id: int, name: str, stored: StoredResult) -> StoredResult | None:
        with self._db.transaction() as db:
            row = db.execute(_SELECT_RECORD, (user_id, snapshot_id, name)).fetchone()
            db.execute(
                "INSERT INTO results (user_id, snapshot_id, name, record) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (user_id, snapshot_id, name) DO UPDATE SET record = excluded.record",
                (user_id, snapshot_id, name, _dumps(stored)),
            )
        return _loads(row[0]) if row else None

    def unpublish_result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        rows = self._db.query(
            "DELETE FROM results WHERE user_id = ? AND snapshot_id = ? AND name = ? RETURNING record",
            (user_id, snapshot_id, name),
        )
        return _loads(rows[0][0]) if rows else None

    def unpublish_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        with self._db.transaction() as db:
            if not db.execute(
                "DELETE FROM snapshots WHERE user_id = ? AND snapshot_id = ? RETURNING 1", (user_id, snapshot_id)
            ).fetchall():
                return None
            rows = db.execute(
                "DELETE FROM results WHERE user_id = ? AND snapshot_id = ? RETURNING record", (user_id, snapshot_id)
            ).fetchall()
        return [_loads(record) for (record,) in rows]

    def unpublish_user(self, user_id: int) -> list[StoredResult] | None:
        with self._db.transaction() as db:
            user = db.execute("DELETE FROM users WHERE user_id = ? RETURNING last_snapshot_id", (user_id,)).fetchone()
            if user is None:
                return None
            if user[0]:
                db.execute(
                    "INSERT OR REPLACE INTO deleted_users (user_id, last_snapshot_id) VALUES (?, ?)", (user_id, user[0])
                )
            db.execute("DELETE FROM snapshots WHERE user_id = ?", (user_id,))
            rows = db.execute("DELETE FROM results WHERE user_id = ? RETURNING record", (user_id,)).fetchall()
        return [_loads(record) for (record,) in rows]

    # Payload safety ----------------------------------------------------------------------------

    def pin(self, user_id: int, snapshot_id: int, names: list[str]) -> Pin:
        """Nothing to write: a save pins only inside its transaction, which no retirement interleaves,
        and its uploads are rows no other connection sees before they are published."""
        return None

    def unpin(self, pin: Pin) -> None:
        """Nothing to release (see `pin`)."""

    def in_use(self, refs: list[Ref]) -> set[Ref]:
        """Payloads referenced by their owner's published version (only the result that uploaded a
        payload ever reuses it, so no other result can reference it)."""
        marks = ", ".join("?" * len(refs))
        rows = self._db.query(
            f"SELECT b.blob_id FROM blobs b WHERE b.blob_id IN ({marks}) AND EXISTS ("
            "SELECT 1 FROM results r, json_each(r.record, '$.blobs') j "
            "WHERE r.user_id = b.user_id AND r.snapshot_id = b.snapshot_id AND r.name = b.result_name "
            "AND json_extract(j.value, '$.ref') = b.blob_id)",
            refs,
        )
        return {blob_id for (blob_id,) in rows}

    def results(
        self, user_id: int | None = None, name: str | None = None
    ) -> Iterator[tuple[int, int, str, StoredResult]]:
        conditions = {"user_id": user_id, "name": name}
        where = " AND ".join(f"{column} = ?" for column, value in conditions.items() if value is not None)
        sql = "SELECT user_id, snapshot_id, name, record FROM results" + (f" WHERE {where}" if where else "")
        for row_user, snapshot_id, row_name, record in self._db.query(
            sql, tuple(v for v in conditions.values() if v is not None)
        ):
            yield row_user, snapshot_id, row_name, _loads(record)

    def drop_pins(self, older_than: dt.datetime) -> int:
        """There are none (see `pin`)."""
        return 0


class SqliteBlobs(BlobStore):
    """Payloads as plain files `<directory>/<xx>/<blob id>`, described by rows of the `blobs` table."""

    def __init__(self, db: _Database, directory: Path) -> None:
        self._db = db
        self._prefix = f"{directory}{os.sep}"
        self._made_directories: set[str] = set()

    def upload(self, source: BlobSource, owner: BlobOwner) -> int:
        """Write one payload to its file, under the write lock (inside the caller's transaction when
        there is one, so the row and the file become part of a result at its commit)."""
        with self._db.transaction() as db:
            blob_id = self._new_id(db, owner, source)
            file = self._file(blob_id)
            directory = os.path.dirname(file)
            if directory not in self._made_directories:
                os.makedirs(directory, exist_ok=True)
                self._made_directories.add(directory)
            try:
                with open(file, "wb") as out:  # truncates what a killed writer may have left under this id
                    for chunk in source.chunks(hash_alongside=True):  # file writes release the GIL
                        out.write(chunk)
            except OSError as exc:
                _remove(file)
                if exc.errno in _DISK_ERRORS:  # the disk's fault, not the caller's stream's
                    raise DatabaseUnavailable(f"cannot write payload file {file}: {exc.strerror}") from None
                raise
            except BaseException:
                _remove(file)
                raise
            db.execute(
                "UPDATE blobs SET length = ?, sha256 = ?, uploaded = ? WHERE blob_id = ?",
                (source.length, source.sha256, datetime_to_millis(utc_now()), blob_id),
            )
        return int(blob_id)

    @staticmethod
    def _new_id(db: sqlite3.Connection, owner: BlobOwner, source: BlobSource) -> int:
        """A payload's row under an id drawn at random. Not the next number: a rolled-back save's ids
        would be given again, and that save, tidying up its uploads afterwards, would then delete the
        payload another process has just stored under the same id."""
        while True:
            blob_id = secrets.randbits(62) + 1
            with contextlib.suppress(sqlite3.IntegrityError):  # the same id again: draw another
                db.execute(
                    "INSERT INTO blobs (blob_id, user_id, snapshot_id, result_name, path, kind, content_type) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        blob_id,
                        owner.user_id,
                        owner.snapshot_id,
                        owner.result_name,
                        owner.path,
                        source.kind,
                        source.content_type,
                    ),
                )
                return blob_id

    def open(self, ref: Ref) -> IO[bytes]:
        try:
            return open(self._file(ref), "rb")
        except FileNotFoundError:
            raise BlobMissing(f"payload file {self._file(ref)} is missing") from None

    def condemn(self, refs: list[Ref]) -> None:
        marks = ", ".join("?" * len(refs))
        with self._db.transaction() as db:
            db.execute(f"UPDATE blobs SET condemned = 1 WHERE blob_id IN ({marks})", refs)

    def alive(self, refs: list[Ref]) -> set[Ref]:
        marks = ", ".join("?" * len(refs))
        rows = self._db.query(f"SELECT blob_id FROM blobs WHERE blob_id IN ({marks}) AND condemned = 0", refs)
        return {blob_id for (blob_id,) in rows}

    def delete(self, refs: Iterable[Ref]) -> None:
        """Remove the rows and list the files in `trash` in one transaction, then delete the files:
        a process killed in between leaves them to the next `empty_trash`."""
        doomed = [(ref,) for ref in refs]
        if not doomed:
            return
        with self._db.transaction() as db:
            db.executemany("DELETE FROM blobs WHERE blob_id = ?", doomed)
            db.executemany("INSERT OR IGNORE INTO trash (blob_id) VALUES (?)", doomed)
        self.empty_trash()

    def empty_trash(self) -> None:
        """Delete the files of payloads whose removal has committed."""
        trashed = [blob_id for (blob_id,) in self._db.query("SELECT blob_id FROM trash")]
        for blob_id in trashed:
            _remove(self._file(blob_id))
        if trashed:
            with self._db.transaction() as db:
                db.executemany("DELETE FROM trash WHERE blob_id = ?", [(blob_id,) for blob_id in trashed])

    def listing(self) -> Iterator[StoredBlob]:
        rows = self._db.query("SELECT blob_id, length, uploaded FROM blobs WHERE length IS NOT NULL")
        for blob_id, length, uploaded in rows:
            yield StoredBlob(blob_id, length, check_datetime(uploaded or 0))

    def leftovers(self, older_than: dt.datetime) -> list[StoredBlob]:
        """Payload files without a row (a writer killed before its commit), written before `older_than`.
        Looked for under the write lock, so no save is writing a file of its own meanwhile."""
        cutoff = older_than.replace(tzinfo=dt.UTC).timestamp()
        with self._db.transaction() as db:
            known = {blob_id for (blob_id,) in db.execute("SELECT blob_id FROM blobs")}
            found = []
            for entry in _files_below(self._prefix):
                stat = entry.stat()
                if entry.name.isdigit() and int(entry.name) not in known and stat.st_mtime < cutoff:
                    uploaded = dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(tzinfo=None)
                    found.append(StoredBlob(int(entry.name), stat.st_size, uploaded))
        return found

    def _file(self, blob_id: int) -> str:
        """The payload's file (a plain string: payload I/O is on the hot path, and pathlib is not free)."""
        return f"{self._prefix}{blob_id % 256:02x}{os.sep}{blob_id}"


_DISK_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO})
"""Errors writing a payload file that say the disk cannot take it (full, read-only, failing)."""
_SELECT_USERNAMES = (
    "SELECT user_id, kind, CASE WHEN kind = 'text' THEN json_extract(fields, '$.username') "
    "WHEN kind <> 'null' THEN fields END "
    "FROM (SELECT user_id, fields, json_type(fields, '$.username') AS kind FROM users) ORDER BY user_id"
)
"""Each user's id, its username's JSON type (NULL when it has none), and the username if it is a
string, all the user's fields if it is another value (decoded in Python), else NULL."""
_SELECT_RECORD = "SELECT record FROM results WHERE user_id = ? AND snapshot_id = ? AND name = ?"
_LAST_DELETED_ID = "coalesce((SELECT last_snapshot_id FROM deleted_users WHERE user_id = ?), 0)"
"""Where a new user's snapshot ids start: after those of a deleted user of the same id."""


def _insert_snapshot(db: sqlite3.Connection, user_id: int, snapshot_id: int, millis: int) -> None:
    db.execute(
        "INSERT INTO snapshots (user_id, snapshot_id, datetime, created) VALUES (?, ?, ?, ?)",
        (user_id, snapshot_id, millis, datetime_to_millis(utc_now())),
    )


def _username(kind: str | None, value: Any) -> Any:
    """A username from `_SELECT_USERNAMES`: the string itself, None, or decoded from the user's fields."""
    if kind in ("text", "null", None):
        return value
    return _loads(value)["username"]


def _files_below(prefix: str) -> Iterator[os.DirEntry[str]]:
    """The payload files in the blob directory's `<xx>` subdirectories."""
    if not os.path.isdir(prefix):
        return
    for sub in os.scandir(prefix):
        if sub.is_dir():
            yield from (entry for entry in os.scandir(sub.path) if entry.is_file())


def _remove(file: str) -> None:
    """Delete a payload file; one that is already gone is fine."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(file)


def _parse_url(url: str) -> tuple[str, float]:
    """(file path or ':memory:', busy timeout) of a SQLAlchemy-style sqlite URL; InvalidInput for a
    URL that names no usable file (a host, a NUL in the path) or has a bad option."""
    if "\0" in url:
        raise InvalidInput(f"SQLite URL {redact(url.replace(chr(0), '?'))!r} contains NUL, which no file path can hold")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # an unclosed '[' in the host
        raise InvalidInput(f"invalid SQLite URL {redact(url)!r}: {exc}") from None
    if parts.netloc:
        raise InvalidInput(
            f"SQLite URLs have no host: use sqlite:///relative.db or sqlite:////absolute.db, not {redact(url)!r}"
        )
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(options) - {"timeout"}
    if unknown:
        raise InvalidInput(f"unknown SQLite URL option(s) {sorted(unknown)}; the only option is timeout")
    timeout = _timeout(options.get("timeout"))
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    if path.lower().startswith("file:"):  # SQLite would read it as a URI, while the payloads' directory is a path
        raise InvalidInput(
            f"SQLite URLs name a file, not a file: URI: use sqlite:////absolute/path.db, not {redact(url)!r}"
        )
    return (os.fspath(path) if path else ":memory:"), timeout


def _timeout(option: str | None) -> float:
    """The `timeout` option: a finite, non-negative number of seconds (default 60)."""
    if option is None:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        timeout = float(option)
    except ValueError:
        timeout = math.nan
    if not 0 <= timeout < math.inf:
        raise InvalidInput(f"SQLite URL option timeout must be a non-negative number of seconds, not {option!r}")
    return timeout


# Records are JSON; the two types JSON lacks are tagged. User keys never start with '$', so a tag
# cannot be mistaken for data.
def _dumps(value: Any) -> str:
    return _ENCODER.encode(value)


def _tag(value: Any) -> dict[str, Any]:
    if isinstance(value, dt.datetime):
        return {"$date": datetime_to_millis(value)}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot store {type(value).__name__} in a SQLite record")


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "$date" in obj:
            return check_datetime(obj["$date"])
        if "$bytes" in obj:
            return base64.b64decode(obj["$bytes"])
    return obj


def _loads(text: str) -> Any:
    return _DECODER.decode(text)


_ENCODER = json.JSONEncoder(default=_tag, separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder(object_hook=_untag)  # built once: json.loads/dumps with options build one per call
