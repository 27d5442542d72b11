"""The embedded driver: one SQLite file (Python's own `sqlite3`), no server.

URLs follow SQLAlchemy: `sqlite:///relative/path.db`, `sqlite:////absolute/path.db`, and `sqlite://`
alone for a private in-memory database. Option: `?timeout=SECONDS`, how long a writer waits for
another process's write to finish (default 60).

Everything lives in the one file, payloads included: table `blobs` describes each payload and
`blob_chunks` holds its bytes in 1 MiB rows, so a payload of any size is written and read with
bounded memory. A whole `save_snapshot` is one transaction: a writer killed at any moment leaves
nothing of its save behind, and readers (WAL mode) never wait for writers. The file grows with the
payloads it holds (SQLite's limit is far beyond any disk: 281 TB); space freed by replaced results
is reused by later saves rather than returned to the file system (run `VACUUM` to shrink it).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import io
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from typing import IO, Any
from urllib.parse import parse_qsl, urlsplit

from ._blobs import DEFAULT_INLINE_LIMIT, BlobSource
from ._driver import Driver, SnapshotSummary, User
from ._errors import BlobMissing, DatabaseUnavailable, DriverUnavailable, InvalidInput
from ._results import PendingResult, StoredResult, store_result, unreferenced
from ._url import redact
from ._values import Path, check_datetime, datetime_to_millis, describe

CHUNK_SIZE = 1024 * 1024
"""Bytes per row of `blob_chunks`: the most of a payload held in memory at once."""
DEFAULT_TIMEOUT_SECONDS = 60.0
MINIMUM_SQLITE = (3, 35)  # for RETURNING
SCHEMA_VERSION = 1
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
    blob_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL,
    snapshot_id INTEGER NOT NULL,
    result_name TEXT NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    content_type TEXT NOT NULL,
    length INTEGER,
    sha256 TEXT,
    chunk_size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS blob_chunks (
    blob_id INTEGER NOT NULL REFERENCES blobs (blob_id) ON DELETE CASCADE,
    n INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (blob_id, n)
) WITHOUT ROWID;
"""


class SqliteDriver(Driver):
    """The embedded database: a single SQLite file, safe for several processes at once."""

    schemes = ("sqlite",)

    def __init__(self, url: str, *, inline_limit: int = DEFAULT_INLINE_LIMIT) -> None:
        super().__init__(url, inline_limit=inline_limit)
        if sqlite3.sqlite_version_info < MINIMUM_SQLITE:
            raise DriverUnavailable(
                f"the sqlite driver needs SQLite 3.35 or later; Python here has {sqlite3.sqlite_version}"
            )
        self.path, timeout = _parse_url(url)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA foreign_keys = ON")
            if self.path != ":memory:":
                self._db.execute("PRAGMA journal_mode = WAL")
                self._db.execute("PRAGMA synchronous = NORMAL")  # with WAL: safe against a killed process
            self._create_schema()
        except sqlite3.Error as exc:
            raise DatabaseUnavailable(f"cannot open SQLite database {self.path!r}: {exc}") from None

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
        with self._transaction() as db:
            row = db.execute(
                "SELECT snapshot_id FROM snapshots WHERE user_id = ? AND datetime = ?", (user_id, millis)
            ).fetchone()
            snapshot_id = row[0] if row else self._new_snapshot(db, user_id, millis)
            for pending in results:
                self._write_result(db, user_id, snapshot_id, pending)
        return int(snapshot_id)

    @staticmethod
    def _new_snapshot(db: sqlite3.Connection, user_id: int, millis: int) -> int:
        db.execute("INSERT INTO users (user_id, fields) VALUES (?, '{}') ON CONFLICT DO NOTHING", (user_id,))
        (snapshot_id,) = db.execute(
            "UPDATE users SET last_snapshot_id = last_snapshot_id + 1 WHERE user_id = ? RETURNING last_snapshot_id",
            (user_id,),
        ).fetchone()
        db.execute(
            "INSERT INTO snapshots (user_id, snapshot_id, datetime) VALUES (?, ?, ?)", (user_id, snapshot_id, millis)
        )
        return int(snapshot_id)

    def _write_result(self, db: sqlite3.Connection, user_id: int, snapshot_id: int, pending: PendingResult) -> None:
        row = db.execute(
            "SELECT record FROM results WHERE user_id = ? AND snapshot_id = ? AND name = ?",
            (user_id, snapshot_id, pending.name),
        ).fetchone()
        previous: StoredResult | None = _loads(row[0]) if row else None

        def upload(source: BlobSource, path: Path) -> int:
            return _upload(db, source, user_id, snapshot_id, pending.name, path)

        stored, redundant = store_result(pending, previous, self.inline_limit, upload)
        db.execute(
            "INSERT INTO results (user_id, snapshot_id, name, record) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (user_id, snapshot_id, name) DO UPDATE SET record = excluded.record",
            (user_id, snapshot_id, pending.name, _dumps(stored)),
        )
        garbage = redundant + unreferenced(previous, stored)
        db.executemany("DELETE FROM blobs WHERE blob_id = ?", [(ref,) for ref in garbage])

    # Blobs -------------------------------------------------------------------------------------

    def _open_blob(self, ref: Any) -> IO[bytes]:
        rows = self._query("SELECT length, chunk_size FROM blobs WHERE blob_id = ?", (ref,))
        if not rows:
            raise BlobMissing(f"blob {ref} is missing from {self.path!r}")
        length, chunk_size = rows[0]
        return _ChunkReader(self, ref, length, chunk_size)  # type: ignore[return-value]

    def _read_chunk(self, blob_id: int, n: int) -> bytes:
        rows = self._query("SELECT data FROM blob_chunks WHERE blob_id = ? AND n = ?", (blob_id, n))
        if not rows:
            raise BlobMissing(f"chunk {n} of blob {blob_id} is missing from {self.path!r}")
        return rows[0][0]  # type: ignore[no-any-return]


def _upload(
    db: sqlite3.Connection, source: BlobSource, user_id: int, snapshot_id: int, result_name: str, path: Path
) -> int:
    """Write one payload's bytes in CHUNK_SIZE rows (inside the caller's transaction); return its id."""
    (blob_id,) = db.execute(
        "INSERT INTO blobs (user_id, snapshot_id, result_name, path, kind, content_type, chunk_size) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING blob_id",
        (user_id, snapshot_id, result_name, describe(path), source.kind, source.content_type, CHUNK_SIZE),
    ).fetchone()
    db.executemany(
        "INSERT INTO blob_chunks (blob_id, n, data) VALUES (?, ?, ?)",
        ((blob_id, n, chunk) for n, chunk in enumerate(_rechunk(source.chunks(), CHUNK_SIZE))),
    )
    db.execute("UPDATE blobs SET length = ?, sha256 = ? WHERE blob_id = ?", (source.length, source.sha256, blob_id))
    return int(blob_id)


def _rechunk(pieces: Iterator[bytes | memoryview], size: int) -> Iterator[bytes | memoryview]:
    """The same bytes in pieces of exactly `size` (the last may be shorter); large pieces are sliced, not copied."""
    pending = bytearray()
    for piece in pieces:
        view = memoryview(piece)
        if pending:
            taken = view[: size - len(pending)]
            pending += taken
            view = view[len(taken) :]
            if len(pending) < size:
                continue
            yield bytes(pending)
            pending.clear()
        while len(view) >= size:
            yield view[:size]
            view = view[size:]
        pending += view
    if pending:
        yield bytes(pending)


class _ChunkReader(io.RawIOBase):
    """A seekable stream over a payload's chunk rows, holding one chunk at a time."""

    def __init__(self, driver: SqliteDriver, blob_id: int, length: int, chunk_size: int) -> None:
        super().__init__()
        self._driver, self._blob_id, self._length, self._chunk_size = driver, blob_id, length, chunk_size
        self._position = 0
        self._chunk_index, self._chunk = -1, b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        while filled < len(view) and self._position < self._length:
            index, offset = divmod(self._position, self._chunk_size)
            if index != self._chunk_index:
                self._chunk, self._chunk_index = self._driver._read_chunk(self._blob_id, index), index
            piece = memoryview(self._chunk)[offset : offset + len(view) - filled]
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
            self._position += len(piece)
        return filled

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = max(self._length - self._position, 0)
        buffer = bytearray(min(size, max(self._length - self._position, 0)))
        return bytes(buffer[: self.readinto(buffer)])


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
    return json.dumps(value, default=_tag, separators=(",", ":"), allow_nan=False)


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
    return json.loads(text, object_hook=_untag)
