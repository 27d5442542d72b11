"""The embedded driver: one SQLite file (Python's own `sqlite3`), no server.

URLs follow SQLAlchemy: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, and `sqlite://`
alone for a private in-memory database. Option: `?timeout=SECONDS`, how long a writer waits for
another process's write to finish (default 60).

Metadata lives in the SQLite file; payloads above the inline limit live as plain files in the
directory beside it, `<database>-blobs/<xx>/<blob id>` (a temporary directory for `sqlite://`), so
they are written and read at the disk's speed with bounded memory, whatever their size. A whole
`save_snapshot` is one SQLite transaction: payload files are written first, under the write lock,
and only the commit makes them part of a result, so a writer killed at any moment leaves no result
half-visible and no file corrupt (a payload file it had not committed is overwritten by the next
save, which gets the same id). Files of replaced results are listed in the `trash` table in the same
transaction and deleted after the commit (or when the database is next opened). Readers (WAL mode)
never wait for writers; writers of several processes take turns.

How big it can grow: the SQLite file holds only fields and descriptions (SQLite allows 281 TB); the
payloads take their own size on disk, one file each.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import os
import shutil
import sqlite3
import tempfile
import threading
import time
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from ._blobs import BlobSource
from ._driver import Driver, SnapshotSummary, User
from ._errors import BlobMissing, DatabaseUnavailable, DriverUnavailable, InvalidInput
from ._results import PendingResult, StoredResult, store_result, unreferenced
from ._url import redact
from ._values import KeyPath, check_datetime, datetime_to_millis, describe

DEFAULT_TIMEOUT_SECONDS = 60.0
MINIMUM_SQLITE = (3, 35)  # for RETURNING
SCHEMA_VERSION = 2
"""Kept in the file's `PRAGMA user_version`."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY,
    fields TEXT NOT NULL,                       -- JSON
    last_snapshot_id INTEGER NOT NULL DEFAULT 0 -- numbers the user's snapshots
);
CREATE TABLE IF NOT EXISTS snapshots (
    user_id INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL,
    datetime INTEGER NOT NULL,                  -- milliseconds since the epoch, UTC
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
    blob_id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so a file name never means two payloads
    user_id INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL,
    result_name TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    length INTEGER,
    sha256 TEXT
);
CREATE TABLE IF NOT EXISTS trash (
    blob_id INTEGER PRIMARY KEY                 -- payload files to delete once their removal committed
);
"""


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
        self._blob_prefix = f"{self.blob_directory}{os.sep}"
        self._made_directories: set[str] = set()
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._enable_wal(timeout)
                self._db.execute("PRAGMA synchronous = NORMAL")  # with WAL: safe against a killed process
            self._create_schema()
            self._empty_trash()
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {self.path!r}: {exc}") from None

    def _blob_directory(self) -> Path:
        """Where payload files live: beside the database, or a temporary directory for `sqlite://`."""
        if self.path == ":memory:":
            directory = Path(tempfile.mkdtemp(prefix="brainstorm-memory-"))
            weakref.finalize(self, shutil.rmtree, directory, ignore_errors=True)
            return directory
        return Path(f"{self.path}-blobs")

    def _enable_wal(self, timeout: float) -> None:
        """Switch to WAL mode. Switching needs the file to itself and SQLite does not wait for that
        (no busy handler), so when another process opens the same new file at once, try again."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _create_schema(self) -> None:
        """Create the tables once; an up-to-date file is opened without taking the write lock."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
            return
        with self._transaction() as db:
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()
        if self.path == ":memory:":
            shutil.rmtree(self.blob_directory, ignore_errors=True)

    @contextlib.contextmanager
    def _native_errors(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.OperationalError, sqlite3.ProgrammingError) as exc:  # locked too long, closed, unreadable
            raise DatabaseUnavailable(f"SQLite database {self.path!r}: {exc}") from None

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; taking the write lock up front means it never fails half-way on a busy database."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, parameters: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, parameters).fetchall()

    # Users -------------------------------------------------------------------------------------

    def _write_user(self, user_id: int, fields: dict[str, Any]) -> None:
        with self._transaction() as db:
            row = db.execute("SELECT fields FROM users WHERE user_id = ?", (user_id,)).fetchone()
            merged = {**(_loads(row[0]) if row else {}), **fields}
            db.execute(
                "INSERT INTO users (user_id, fields) VALUES (?, ?) "
                "ON CONFLICT (user_id) DO UPDATE SET fields = excluded.fields",
                (user_id, _dumps(merged)),
            )

    def _read_users(self) -> list[User]:
        rows = self._query("SELECT user_id, json_extract(fields, '$.username') FROM users ORDER BY user_id", ())
        return [{"user_id": user_id, "username": username} for user_id, username in rows]

    def _read_user(self, user_id: int) -> User | None:
        rows = self._query("SELECT fields FROM users WHERE user_id = ?", (user_id,))
        return {"user_id": user_id, **_loads(rows[0][0])} if rows else None

    # Snapshots ---------------------------------------------------------------------------------

    def _read_snapshots(self, user_id: int) -> list[SnapshotSummary]:
        rows = self._query(
            "SELECT snapshot_id, datetime FROM snapshots WHERE user_id = ? ORDER BY datetime", (user_id,)
        )
        return [{"snapshot_id": snapshot_id, "datetime": check_datetime(ms)} for snapshot_id, ms in rows]

    def _read_snapshot(self, user_id: int, snapshot_id: int) -> SnapshotSummary | None:
        with self._lock:  # one read transaction, so the names match the snapshot
            self._db.execute("BEGIN")
            try:
                row = self._db.execute(
                    "SELECT datetime FROM snapshots WHERE user_id = ? AND snapshot_id = ?", (user_id, snapshot_id)
                ).fetchone()
                names = self._db.execute(
                    "SELECT name FROM results WHERE user_id = ? AND snapshot_id = ?", (user_id, snapshot_id)
                ).fetchall()
            finally:
                self._db.execute("COMMIT")
        if row is None:
            return None
        return {
            "snapshot_id": snapshot_id,
            "datetime": check_datetime(row[0]),
            "available_results": [n for (n,) in names],
        }

    def _read_result(self, user_id: int, snapshot_id: int, result_name: str) -> StoredResult | None:
        rows = self._query(
            "SELECT record FROM results WHERE user_id = ? AND snapshot_id = ? AND name = ?",
            (user_id, snapshot_id, result_name),
        )
        return _loads(rows[0][0]) if rows else None

    def _write_snapshot(self, user_id: int, when: dt.datetime, results: list[PendingResult]) -> int:
        millis = datetime_to_millis(when)
        written: list[int] = []
        trashed = 0
        try:
            with self._transaction() as db:
                row = db.execute(
                    "SELECT snapshot_id FROM snapshots WHERE user_id = ? AND datetime = ?", (user_id, millis)
                ).fetchone()
                snapshot_id = row[0] if row else self._new_snapshot(db, user_id, millis)
                for pending in results:
                    trashed += self._write_result(db, user_id, snapshot_id, pending, written, merging=row is not None)
        except BaseException:
            for blob_id in written:  # the transaction that would have owned them was rolled back
                _remove(self._blob_file(blob_id))
            raise
        if trashed:
            self._empty_trash()
        return int(snapshot_id)

    @staticmethod
    def _new_snapshot(db: sqlite3.Connection, user_id: int, millis: int) -> int:
        (snapshot_id,) = db.execute(
            "INSERT INTO users (user_id, fields, last_snapshot_id) VALUES (?, '{}', 1) "
            "ON CONFLICT (user_id) DO UPDATE SET last_snapshot_id = last_snapshot_id + 1 RETURNING last_snapshot_id",
            (user_id,),
        ).fetchone()
        db.execute(
            "INSERT INTO snapshots (user_id, snapshot_id, datetime) VALUES (?, ?, ?)", (user_id, snapshot_id, millis)
        )
        return int(snapshot_id)

    def _write_result(
        self,
        db: sqlite3.Connection,
        user_id: int,
        snapshot_id: int,
        pending: PendingResult,
        written: list[int],
        *,
        merging: bool,
    ) -> int:
        """Write one result (its new payload files are added to `written`); return how many payloads it trashed.

        Only a snapshot that existed before (`merging`) can hold a previous version of the result.
        """
        previous: StoredResult | None = None
        if merging:
            row = db.execute(
                "SELECT record FROM results WHERE user_id = ? AND snapshot_id = ? AND name = ?",
                (user_id, snapshot_id, pending.name),
            ).fetchone()
            previous = _loads(row[0]) if row else None

        def upload(source: BlobSource, path: KeyPath) -> int:
            written.append(self._upload(db, source, user_id, snapshot_id, pending.name, path))
            return written[-1]

        stored, redundant = store_result(pending, previous, self.inline_limit, upload)
        db.execute(
            "INSERT INTO results (user_id, snapshot_id, name, record) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user_id, snapshot_id, name) DO UPDATE SET record = excluded.record",
            (user_id, snapshot_id, pending.name, _dumps(stored)),
        )
        garbage = [(ref,) for ref in redundant + unreferenced(previous, stored)]
        if garbage:
            db.executemany("INSERT OR IGNORE INTO trash (blob_id) VALUES (?)", garbage)
            db.executemany("DELETE FROM blobs WHERE blob_id = ?", garbage)
        return len(garbage)

    # Blobs -------------------------------------------------------------------------------------

    def _upload(
        self,
        db: sqlite3.Connection,
        source: BlobSource,
        user_id: int,
        snapshot_id: int,
        result_name: str,
        path: KeyPath,
    ) -> int:
        """Write one payload to its file (inside the caller's transaction, under the write lock); return its id."""
        (blob_id,) = db.execute(
            "INSERT INTO blobs (user_id, snapshot_id, result_name, path, kind, content_type) "
            "VALUES (?, ?, ?, ?, ?, ?) RETURNING blob_id",
            (user_id, snapshot_id, result_name, describe(path), source.kind, source.content_type),
        ).fetchone()
        file = self._blob_file(blob_id)
        directory = os.path.dirname(file)
        if directory not in self._made_directories:
            os.makedirs(directory, exist_ok=True)
            self._made_directories.add(directory)
        try:
            with open(file, "wb") as out:  # truncates what a killed writer may have left under this id
                for chunk in source.chunks(hash_alongside=True):  # file writes release the GIL
                    out.write(chunk)
        except BaseException:
            _remove(file)
            raise
        db.execute("UPDATE blobs SET length = ?, sha256 = ? WHERE blob_id = ?", (source.length, source.sha256, blob_id))
        return int(blob_id)

    def _open_blob(self, ref: Any) -> IO[bytes]:
        try:
            return open(self._blob_file(ref), "rb")
        except FileNotFoundError:
            raise BlobMissing(f"payload file {self._blob_file(ref)} is missing") from None

    def _blob_file(self, blob_id: int) -> str:
        """The payload's file (a plain string: payload I/O is on the hot path, and pathlib is not free)."""
        return f"{self._blob_prefix}{blob_id % 256:02x}{os.sep}{blob_id}"

    def _empty_trash(self) -> None:
        """Delete the files of payloads whose removal has committed."""
        trashed = [blob_id for (blob_id,) in self._query("SELECT blob_id FROM trash", ())]
        for blob_id in trashed:
            _remove(self._blob_file(blob_id))
        if trashed:
            with self._transaction() as db:
                db.executemany("DELETE FROM trash WHERE blob_id = ?", [(blob_id,) for blob_id in trashed])


def _remove(file: str) -> None:
    """Delete a payload file; one that is already gone is fine."""
    with contextlib.suppress(FileNotFoundError):
        os.remove(file)


def _parse_url(url: str) -> tuple[str, float]:
    """(file path or ':memory:', busy timeout) of a SQLAlchemy-style sqlite URL."""
    parts = urlsplit(url)
    if parts.netloc:
        raise InvalidInput(
            f"SQLite URLs have no host: use sqlite:///relative.db or sqlite:////absolute.db, not {redact(url)!r}"
        )
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    unknown = set(options) - {"timeout"}
    if unknown:
        raise InvalidInput(f"unknown SQLite URL option(s) {sorted(unknown)}; the only option is timeout")
    try:
        timeout = float(options.get("timeout", DEFAULT_TIMEOUT_SECONDS))
    except ValueError:
        raise InvalidInput(
            f"SQLite URL option timeout must be a number of seconds, not {options['timeout']!r}"
        ) from None
    path = parts.path[1:] if parts.path.startswith("/") else parts.path
    return (os.fspath(path) if path else ":memory:"), timeout


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
