"""An example third-party driver, written against public names only: a database in one directory.

`folder:///absolute/path/to/dir` (created if missing) holds `records.json` (users, snapshots,
results, each user id's snapshot-id watermark, condemned payloads) and `blobs/<uuid>`, one file per
payload. Every write of the records is a read-modify-write of the whole file under an exclusive
`flock`, replaced atomically (temporary file, `os.replace`), so each primitive is atomic across
threads and processes and readers need no lock; `transaction()` holds the lock for a whole save, as
the sqlite driver's transaction does. Safe against a killed process; without fsync the last writes
may be lost on power failure. An example, not a database for millions of results.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import fcntl
import json
import os
import threading
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any
from urllib.parse import unquote, urlsplit

from brainstorm.database_drivers import BlobMissing, DatabaseUnavailable, Driver, InvalidInput, redact
from brainstorm.database_drivers.storage import (
    BlobOwner,
    BlobSource,
    BlobStore,
    Numbered,
    Pin,
    RecordStore,
    Ref,
    StoredBlob,
    StoredResult,
    refs_of,
)

Records = dict[str, Any]
"""records.json: {"users": {uid: fields}, "snapshots": {uid: {sid: {"datetime", "created", "results": {name:
StoredResult}}}}, "last_ids": {uid: highest snapshot id ever, kept after deletions}, "condemned": [ref]}
(ids as strings: JSON object keys)."""


class FolderDriver(Driver):
    """A database in one directory: `records.json` and `blobs/`."""

    schemes = ("folder",)
    default_inline_limit = 4 * 1024  # inline bytes are base64 in a file rewritten on every write

    def __init__(self, url: str, *, inline_limit: int | None = None) -> None:
        super().__init__(url, inline_limit=inline_limit)
        parts = urlsplit(url)
        path = unquote(parts.path)
        if parts.netloc or parts.query or parts.fragment or not path.startswith("/") or "\0" in path:
            raise InvalidInput(f"folder URLs look like folder:///absolute/path/to/directory, not {redact(url)!r}")
        self.directory = Path("/" + path.lstrip("/"))  # folder:////tmp/x is /tmp/x too
        try:
            self._folder = _Folder(self.directory)
        except OSError as exc:
            raise DatabaseUnavailable(f"cannot open the folder database {str(self.directory)!r}: {exc}") from None
        self.record_store: FolderRecords = FolderRecords(self._folder)
        self.blob_store: FolderBlobs = FolderBlobs(self._folder)

    def close(self) -> None:
        self._folder.close()


class _Folder:
    """The directory, with re-entrant transactions over its records. `flock` excludes other
    processes and other drivers (each has its own open lock file); `_thread_lock` excludes the
    threads sharing this driver, and so this driver's open lock file. A thread's nested blocks
    join its open transaction, which alone reads and writes the file."""

    def __init__(self, directory: Path) -> None:
        (directory / "blobs").mkdir(parents=True, exist_ok=True)
        self.directory, self._file = directory, directory / "records.json"
        self._lock_fd: int | None = os.open(directory / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        self._thread_lock = threading.Lock()
        self._owner: int | None = None  # the thread whose transaction is open, if any
        self._records: Records = {}  # that transaction's records

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Records]:
        """The records to change, written back when the outermost block ends without an error."""
        if self._owner == threading.get_ident():  # nested: join this thread's open transaction
            yield self._records
            return
        with self._thread_lock:
            if self._lock_fd is None:
                raise DatabaseUnavailable(f"the folder database {str(self.directory)!r} is closed")
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                self._records, self._owner = self._read(), threading.get_ident()
                try:
                    yield self._records
                finally:
                    self._owner = None
                temporary = self.directory / ".records.json.tmp"  # one name is enough: we hold the lock
                temporary.write_text(_ENCODER.encode(self._records), encoding="utf-8")
                os.replace(temporary, self._file)
            finally:
                self._records = {}
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def current(self) -> Records:
        """The records as this thread sees them: its open transaction's, else the last written
        (other threads' transactions are not waited for)."""
        return self._records if self._owner == threading.get_ident() else self._read()

    def _read(self) -> Records:
        try:
            records: Records = _DECODER.decode(self._file.read_text(encoding="utf-8"))
            return records
        except FileNotFoundError:
            return {"users": {}, "snapshots": {}, "last_ids": {}, "condemned": []}

    def close(self) -> None:
        with self._thread_lock:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None


class FolderRecords(RecordStore):
    """Users, snapshots and results; each primitive is one transaction, or joins the caller's."""

    def __init__(self, folder: _Folder) -> None:
        self._folder = folder

    def transaction(self) -> contextlib.AbstractContextManager[Any]:
        return self._folder.transaction()

    def write_user(self, user_id: int, fields: dict[str, Any]) -> None:
        with self._folder.transaction() as records:
            records["users"].setdefault(str(user_id), {}).update(fields)

    def users(self) -> list[dict[str, Any]]:
        users = self._folder.current()["users"]
        return [{"user_id": int(uid), "username": users[uid].get("username")} for uid in sorted(users, key=int)]

    def user(self, user_id: int) -> dict[str, Any] | None:
        fields = self._folder.current()["users"].get(str(user_id))
        return None if fields is None else {"user_id": user_id, **fields}

    def number_snapshot(self, user_id: int, when: dt.datetime, pinning: list[str]) -> Numbered:
        uid = str(user_id)
        with self._folder.transaction() as records:
            snapshots = records["snapshots"].setdefault(uid, {})
            for sid, snapshot in snapshots.items():
                if snapshot["datetime"] == when:
                    return Numbered(int(sid), False)
            records["users"].setdefault(uid, {})
            snapshot_id = records["last_ids"][uid] = records["last_ids"].get(uid, 0) + 1
            snapshots[str(snapshot_id)] = _new_snapshot(when)
            return Numbered(snapshot_id, True)  # the user, made above, is written in the same transaction

    def place_snapshot(self, user_id: int, snapshot_id: int, when: dt.datetime) -> Numbered | None:
        """The snapshot at that id and datetime, else a new one there (the watermark raised to its id),
        unless the id or the datetime is another snapshot's (None)."""
        uid, sid = str(user_id), str(snapshot_id)
        with self._folder.transaction() as records:
            snapshots = records["snapshots"].setdefault(uid, {})
            held = {
                (key, snapshot["datetime"])
                for key, snapshot in snapshots.items()
                if key == sid or snapshot["datetime"] == when
            }
            if held:
                return Numbered(snapshot_id, False) if held == {(sid, when)} else None
            records["users"].setdefault(uid, {})
            records["last_ids"][uid] = max(records["last_ids"].get(uid, 0), snapshot_id)
            snapshots[str(snapshot_id)] = _new_snapshot(when)
            return Numbered(snapshot_id, True)

    def highest_snapshot_id(self, user_id: int) -> int:
        return int(self._folder.current()["last_ids"].get(str(user_id), 0))

    def empty_snapshots(self, created_before: dt.datetime) -> Iterator[tuple[int, int]]:
        for uid, snapshots in self._folder.current()["snapshots"].items():
            for sid, snapshot in snapshots.items():
                if not snapshot["results"] and snapshot["created"] <= created_before:
                    yield int(uid), int(sid)

    def discard_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        """One transaction, which no save interleaves (a save holds the lock throughout)."""
        with self._folder.transaction() as records:
            snapshots = records["snapshots"].get(str(user_id), {})
            if str(snapshot_id) not in snapshots or snapshots[str(snapshot_id)]["results"]:
                return None
            del snapshots[str(snapshot_id)]
            return []

    def snapshots(self, user_id: int) -> list[dict[str, Any]]:
        snapshots = self._folder.current()["snapshots"].get(str(user_id), {}).items()
        return sorted(
            ({"snapshot_id": int(sid), "datetime": s["datetime"]} for sid, s in snapshots), key=lambda s: s["datetime"]
        )

    def snapshot(self, user_id: int, snapshot_id: int) -> dict[str, Any] | None:
        found = _snapshot(self._folder.current(), user_id, snapshot_id)
        if found is None:
            return None
        return {"snapshot_id": snapshot_id, "datetime": found["datetime"], "available_results": [*found["results"]]}

    def result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        return self.stored_results(user_id, snapshot_id, [name]).get(name)

    def stored_results(self, user_id: int, snapshot_id: int, names: list[str]) -> dict[str, StoredResult]:
        results = (_snapshot(self._folder.current(), user_id, snapshot_id) or {"results": {}})["results"]
        return {name: results[name] for name in names if name in results}

    def publish(self, user_id: int, snapshot_id: int, name: str, stored: StoredResult) -> StoredResult | None:
        with self._folder.transaction() as records:  # the save numbered the snapshot in this transaction
            results = records["snapshots"][str(user_id)][str(snapshot_id)]["results"]
            replaced: StoredResult | None = results.get(name)
            results[name] = stored
            return replaced

    def unpublish_result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        with self._folder.transaction() as records:
            found = _snapshot(records, user_id, snapshot_id)
            return None if found is None else found["results"].pop(name, None)

    def unpublish_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        with self._folder.transaction() as records:
            found = records["snapshots"].get(str(user_id), {}).pop(str(snapshot_id), None)
        return None if found is None else [*found["results"].values()]

    def unpublish_user(self, user_id: int) -> list[StoredResult] | None:
        """Remove the user; `last_ids` keeps its watermark, so its snapshot ids are never given again."""
        with self._folder.transaction() as records:
            if records["users"].pop(str(user_id), None) is None:
                return None
            snapshots = records["snapshots"].pop(str(user_id), {})
        return [stored for snapshot in snapshots.values() for stored in snapshot["results"].values()]

    def pin(self, user_id: int, snapshot_id: int, names: list[str]) -> Pin:
        """Nothing to write. A save pins, uploads, checks `alive` and publishes inside one transaction,
        under the lock; a retirer's `condemn` takes the same lock and its `in_use` comes after. So
        either the save saw the payload condemned (and uploads it again), or its publication was
        written before the condemnation, and `in_use` sees the reference."""
        return None

    def unpin(self, pin: Pin) -> None:
        """Nothing to release (see `pin`)."""

    def in_use(self, refs: list[Ref]) -> set[Ref]:
        """Those of `refs` some published result references (a scan of every result)."""
        used = {
            ref
            for snapshots in self._folder.current()["snapshots"].values()
            for snapshot in snapshots.values()
            for stored in snapshot["results"].values()
            for ref in refs_of(stored)
        }
        return used & set(refs)

    def results(
        self, user_id: int | None = None, name: str | None = None
    ) -> Iterator[tuple[int, int, str, StoredResult]]:
        for user, snapshots in self._folder.current()["snapshots"].items():
            if user_id is None or user == str(user_id):
                for snapshot_id, snapshot in snapshots.items():
                    for found, stored in snapshot["results"].items():
                        if name is None or found == name:
                            yield int(user), int(snapshot_id), found, stored

    def drop_pins(self, older_than: dt.datetime) -> int:
        """There are none (see `pin`)."""
        return 0


def _new_snapshot(when: dt.datetime) -> dict[str, Any]:
    """A snapshot's record, created now (naive UTC, as the protocols give datetimes)."""
    return {"datetime": when, "created": dt.datetime.now(dt.UTC).replace(tzinfo=None), "results": {}}


def _snapshot(records: Records, user_id: int, snapshot_id: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = records["snapshots"].get(str(user_id), {}).get(str(snapshot_id))
    return found


class FolderBlobs(BlobStore):
    """Payloads as files `blobs/<uuid>`: the file gives length and upload time (`stat`), the records
    say which are condemned. An upload needs no lock: its name is new, and nobody knows it until a
    result that uses it is published."""

    def __init__(self, folder: _Folder) -> None:
        self._folder, self._directory = folder, folder.directory / "blobs"

    def upload(self, source: BlobSource, owner: BlobOwner) -> str:
        ref = uuid.uuid4().hex
        temporary = self._directory / f".{ref}.part"  # hidden from `listing` until renamed whole
        try:
            with open(temporary, "wb") as out:
                for chunk in source.chunks(hash_alongside=True):
                    out.write(chunk)
            os.replace(temporary, self._directory / ref)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.remove(temporary)
            raise
        return ref

    def open(self, ref: Ref) -> IO[bytes]:
        try:
            return open(self._directory / ref, "rb")
        except FileNotFoundError:
            raise BlobMissing(f"payload file {self._directory / ref} is missing") from None

    def condemn(self, refs: list[Ref]) -> None:
        with self._folder.transaction() as records:
            records["condemned"] = sorted({*records["condemned"], *refs})

    def alive(self, refs: list[Ref]) -> set[Ref]:
        condemned = set(self._folder.current()["condemned"])
        return {ref for ref in refs if ref not in condemned and (self._directory / ref).exists()}

    def delete(self, refs: Iterable[Ref]) -> None:
        """Remove the files, then their condemnation (a crash in between leaves only that mark)."""
        doomed = set(refs)
        for ref in doomed:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self._directory / ref)
        if doomed:
            with self._folder.transaction() as records:
                records["condemned"] = [ref for ref in records["condemned"] if ref not in doomed]

    def leftovers(self, older_than: dt.datetime) -> list[StoredBlob]:
        """Uploads a killed writer left half-written. Looked for under the lock, which every save holds
        while it uploads, so none is in progress."""
        with self._folder.transaction():
            return [blob for blob in self._stat_all(partial=True) if blob.uploaded < older_than]

    def listing(self) -> Iterator[StoredBlob]:
        yield from self._stat_all(partial=False)

    def _stat_all(self, *, partial: bool) -> list[StoredBlob]:
        """Complete payloads, or (`partial`) half-written uploads (`.<uuid>.part`)."""
        found = []
        for entry in os.scandir(self._directory):
            if entry.name.startswith(".") != partial:
                continue
            try:
                stat = entry.stat()
            except FileNotFoundError:  # deleted since the directory was read
                continue
            found.append(
                StoredBlob(
                    entry.name, stat.st_size, dt.datetime.fromtimestamp(stat.st_mtime, dt.UTC).replace(tzinfo=None)
                )
            )
        return found


# The two types JSON lacks are tagged; keys the contract allows never start with '$', so a tag
# cannot be mistaken for data. Datetimes arrive naive UTC at millisecond precision.
_EPOCH, _MILLISECOND = dt.datetime(1970, 1, 1), dt.timedelta(milliseconds=1)


def _tag(value: Any) -> dict[str, Any]:
    if isinstance(value, dt.datetime):
        return {"$date": (value - _EPOCH) // _MILLISECOND}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    raise TypeError(f"cannot store {type(value).__name__} in records.json")


def _untag(obj: dict[str, Any]) -> Any:
    if len(obj) == 1 and "$date" in obj:
        return _EPOCH + obj["$date"] * _MILLISECOND
    if len(obj) == 1 and "$bytes" in obj:
        return base64.b64decode(obj["$bytes"])
    return obj


_ENCODER = json.JSONEncoder(default=_tag, separators=(",", ":"), allow_nan=False)
_DECODER = json.JSONDecoder(object_hook=_untag)
