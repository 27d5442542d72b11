"""`Driver`: the storage contract every driver offers, validated once here for all of them.

A driver subclasses `Driver` and implements only the storage it owns (the `_read_*`, `_write_*` and
`_open_blob` methods). Input reaches those methods already validated and normalised, so a driver
never repeats a check and bad input never reaches a database.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
from collections.abc import Iterator
from types import TracebackType
from typing import IO, Any, ClassVar

from ._blobs import DEFAULT_INLINE_LIMIT, check_inline_limit
from ._errors import InvalidInput
from ._results import PendingResult, Result, StoredResult, encode_snapshot
from ._url import redact, scheme_of
from ._values import check_result_name, check_snapshot_id, check_user, check_user_id

User = dict[str, Any]
SnapshotSummary = dict[str, Any]


class Driver(abc.ABC):
    """A database of users, their snapshots and the snapshots' results.

    `url` picks the database; its scheme must be one of the class's `schemes`. Payloads of at most
    `inline_limit` bytes are kept inside the result's record, larger ones in the blob store.
    """

    schemes: ClassVar[tuple[str, ...]]

    default_inline_limit: ClassVar[int] = DEFAULT_INLINE_LIMIT
    """The `inline_limit` of a driver given none."""

    def __init__(self, url: str, *, inline_limit: int | None = None) -> None:
        if scheme_of(url) not in self.schemes:
            raise InvalidInput(
                f"{type(self).__name__} takes URLs starting with {' or '.join(s + '://' for s in self.schemes)}, "
                f"not {redact(url)!r}"
            )
        self.url = url
        self.inline_limit = check_inline_limit(self.default_inline_limit if inline_limit is None else inline_limit)

    # The contract ------------------------------------------------------------------------------

    def save_user(self, user: object) -> None:
        """Save a user (`user_id` plus JSON-like fields); saving again updates the fields given."""
        user_id, fields = check_user(user)
        with self._native_errors():
            self._write_user(user_id, fields)

    def save_snapshot(self, snapshot: object) -> int:
        """Save a snapshot's results (merged with earlier saves of the same user and datetime); return its id."""
        user_id, when, results = encode_snapshot(snapshot)
        with self._native_errors():
            return self._write_snapshot(user_id, when, results)

    def get_users(self) -> list[User]:
        """Every user as `{'user_id', 'username'}`, sorted by id (`username` None when unknown)."""
        with self._native_errors():
            return self._read_users()

    def get_user(self, user_id: object) -> User | None:
        """The fields saved for a user (with `user_id`), or None."""
        user_id = check_user_id(user_id)
        with self._native_errors():
            return self._read_user(user_id)

    def get_snapshots(self, user_id: object) -> list[SnapshotSummary]:
        """A user's snapshots as `{'snapshot_id', 'datetime'}`, sorted by datetime."""
        user_id = check_user_id(user_id)
        with self._native_errors():
            return self._read_snapshots(user_id)

    def get_snapshot(self, user_id: object, snapshot_id: object) -> SnapshotSummary | None:
        """`{'snapshot_id', 'datetime', 'available_results'}` of one snapshot, or None."""
        user_id, snapshot_id = check_user_id(user_id), check_snapshot_id(snapshot_id)
        with self._native_errors():
            snapshot = self._read_snapshot(user_id, snapshot_id)
        if snapshot is not None:
            snapshot["available_results"] = sorted(snapshot["available_results"])
        return snapshot

    def get_result(self, user_id: object, snapshot_id: object, result_name: object) -> Result | None:
        """One result of a snapshot, its payloads fetched only when used; None if there is none."""
        user_id, snapshot_id = check_user_id(user_id), check_snapshot_id(snapshot_id)
        result_name = check_result_name(result_name)
        with self._native_errors():
            stored = self._read_result(user_id, snapshot_id, result_name)
        return None if stored is None else Result(stored, self._open_blob_checked)

    @abc.abstractmethod
    def close(self) -> None:
        """Release the driver's connections and files."""

    def __enter__(self) -> Driver:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({redact(self.url)!r})"

    # What each driver implements ---------------------------------------------------------------

    def _open_blob_checked(self, ref: Any) -> IO[bytes]:
        with self._native_errors():
            return self._open_blob(ref)

    @contextlib.contextmanager
    def _native_errors(self) -> Iterator[None]:
        """Translate the database library's errors into the package's; the default lets them pass."""
        yield

    @abc.abstractmethod
    def _write_user(self, user_id: int, fields: dict[str, Any]) -> None:
        """Create the user or update the given fields."""

    @abc.abstractmethod
    def _write_snapshot(self, user_id: int, when: dt.datetime, results: list[PendingResult]) -> int:
        """Create or merge the snapshot, write its payloads, then publish the results atomically."""

    @abc.abstractmethod
    def _read_users(self) -> list[User]: ...

    @abc.abstractmethod
    def _read_user(self, user_id: int) -> User | None: ...

    @abc.abstractmethod
    def _read_snapshots(self, user_id: int) -> list[SnapshotSummary]: ...

    @abc.abstractmethod
    def _read_snapshot(self, user_id: int, snapshot_id: int) -> SnapshotSummary | None:
        """`{'snapshot_id', 'datetime', 'available_results'}` in any order; the caller sorts the names."""

    @abc.abstractmethod
    def _read_result(self, user_id: int, snapshot_id: int, result_name: str) -> StoredResult | None:
        """The stored result, reading the snapshot's record only (never a payload)."""

    @abc.abstractmethod
    def _open_blob(self, ref: Any) -> IO[bytes]:
        """A readable, seekable stream over a payload in the blob store; BlobMissing if it is gone."""
