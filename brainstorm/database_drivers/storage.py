"""The storage primitives a driver supplies: one `RecordStore` and one `BlobStore`.

`Driver` holds the protocols (validate, save, read, delete), each written once with its failure
handling; a driver is a `Driver` subclass that builds these two stores over the storage it owns,
and nothing else. Input reaches a primitive already validated and normalised.

The record store keeps users, snapshots and results (a result's fields plus one `BlobInfo` per
payload, inline bytes or the blob store's `ref`). The blob store keeps payloads by `ref`. Each
primitive states its unit of atomicity: that is all the protocols assume of a store, so a server
without multi-document transactions (MongoDB outside a replica set, FerretDB) is enough. The
driver owns the connections its stores use, and closes them.

How the protocols keep payloads safe without transactions (see `Driver` for the argument): a saver
that reuses a stored payload first `pin`s it and then checks it is `alive`; a payload is deleted
only after it was `condemn`ed and then found not `in_use` (neither referenced by a published result
nor pinned). Condemned payloads are never reused again.

What a store author should know beyond each docstring:
- A save runs inside `RecordStore.transaction()`: numbering, reading the previous versions, pinning
  the results it writes, the uploads (so a lock held there is held while big payloads are written) and
  the publishes. A store whose transaction excludes every other writer for all of that, and whose
  uncommitted uploads no other connection can see, may make `pin`/`unpin` no-ops: no retirement or
  garbage collection can come between its pin, its checks and its publish.
- After a failed save, the protocol retires everything the save uploaded, outside the transaction:
  `condemn`, `in_use` and `delete` then meet payloads whose records a rollback removed. `delete` must
  take those (and payloads already gone) in its stride.
- A payload to upload is a `BlobSource`: iterate `source.chunks()` for its bytes; its `length` and
  `sha256` are known once they have all been read.
- The values a store keeps arrive validated: naive UTC datetimes truncated to the millisecond, inline
  payloads as bytes, JSON-like fields; a store must give them back identically.
- A driver turns its storage library's errors into the package's by overriding `Driver._native_errors`.
- `prepare_for_writes` (both stores, no-op by default) is where indexes and schema are created: it is
  called once per driver before its first write, never for a driver that only reads, so that reading
  needs no write privilege (a read-only database role).
- A record store whose layout changes between releases says which one a database has (`layout`) and
  converts an older one (`migrate`); `Driver` refuses to write to a database of another layout, so
  reading an older layout must keep working until it is migrated.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, ClassVar, NamedTuple, NotRequired, TypedDict

from ._blobs import BlobInfo as BlobInfo  # re-exported: store authors handle both
from ._blobs import BlobSource as BlobSource

Ref = Any
"""A blob store's id for one payload: hashable, and storable in a record."""

Pin = Any
"""What `RecordStore.pin` returns for `unpin` to release."""


class Numbered(NamedTuple):
    """What `RecordStore.number_snapshot` found or made."""

    snapshot_id: int
    created: bool  # this call created the snapshot
    new_user: bool = False  # the user had no snapshot: the protocol writes it once the save has succeeded
    pin: Pin = None  # the pin of the results asked for, taken in the same write (else the protocol pins)


class StoredResult(TypedDict):
    """A result as a record store keeps it."""

    value: dict[str, Any]  # the fields, None where each payload sits
    blobs: list[BlobInfo]
    body: NotRequired[Ref]  # the fields themselves, when too big for a record (see `RecordStore.record_limit`)


def refs_of(stored: StoredResult) -> list[Ref]:
    """Every blob-store id a stored result uses: its payloads', and its spilled fields'."""
    refs = [info["ref"] for info in stored["blobs"] if "ref" in info]
    return [*refs, stored["body"]] if "body" in stored else refs


@dataclass(frozen=True)
class BlobOwner:
    """Where a payload belongs; stores name their payloads after it, so their own tools show it."""

    user_id: int
    snapshot_id: int
    result_name: str
    path: str  # dotted, as `describe` gives it


@dataclass(frozen=True)
class StoredBlob:
    """One payload as the blob store's listing shows it."""

    ref: Ref
    length: int
    uploaded: dt.datetime  # naive UTC


class RecordStore(abc.ABC):
    """Users, snapshots and published results.

    Every method is atomic on its own unless its docstring says otherwise. Inside `transaction()`,
    a store that has transactions makes everything one atomic unit.
    """

    layout_version: ClassVar[int] = 1
    """The layout this store writes; `layout()` reports it once a database is migrated to it."""

    record_limit: ClassVar[int | None] = None
    """Bytes a result's record may hold; past it the protocol moves payloads, then the fields, out
    to the blob store (`fields_blob`, `read_fields`). None: no limit."""

    def prepare_for_writes(self) -> None:  # noqa: B027 - optional: empty unless a store needs it
        """Called once before the driver's first write; create indexes/schema here so a reader needs no
        write privilege. Must be idempotent: every driver instance calls it, several processes may at
        once. If it raises, that write fails and the next one calls it again. Reads never wait for it:
        they must work on a database it was never called on. No-op by default."""

    def layout(self) -> int | None:
        """The layout version the database records, or None for a database nothing was written to yet (the
        first write's `prepare_for_writes` records `layout_version` there). A store without layouts of its
        own says `layout_version`."""
        return self.layout_version

    def migrate(self, progress: Callable[[int], None] | None = None) -> int:
        """Convert an older layout into `layout_version`, calling `progress` with each user converted;
        return how many were. Idempotent, resumable after a kill at any moment, and safe while readers
        read (writers of this version refuse to write meanwhile). Nothing to do by default."""
        return 0

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """One unit of work: all or nothing on stores with transactions; elsewhere each call stands alone."""
        return contextlib.nullcontext()

    def fields_blob(self, value: dict[str, Any]) -> BlobSource:
        """A result's fields encoded as one payload (only called when `record_limit` is set)."""
        raise NotImplementedError

    def read_fields(self, data: bytes) -> dict[str, Any]:
        """The fields `fields_blob` encoded."""
        raise NotImplementedError

    # Users -------------------------------------------------------------------------------------

    @abc.abstractmethod
    def write_user(self, user_id: int, fields: dict[str, Any]) -> None:
        """Create the user or update the given fields; concurrent writes of other fields are kept."""

    @abc.abstractmethod
    def users(self) -> list[dict[str, Any]]:
        """Every user as `{'user_id', 'username'}` (None when unknown), sorted by id."""

    @abc.abstractmethod
    def user(self, user_id: int) -> dict[str, Any] | None:
        """The user's fields with `user_id`, or None."""

    # Snapshots ---------------------------------------------------------------------------------

    @abc.abstractmethod
    def number_snapshot(self, user_id: int, when: dt.datetime, pinning: list[str]) -> Numbered:
        """The id of the user's snapshot at `when`, and whether this call created it. A new id is above
        every id the user ever had, deleted ones and a deleted user's included. A store that creates the
        user with the snapshot (in the same transaction) says `new_user=False`; one that cannot says
        True for a user without snapshots, and the protocol writes the user once the save succeeded,
        so that a failed save leaves no user behind. A store may pin the results `pinning` in the same
        write (as `pin` would: `Numbered.pin`); else the protocol pins them next."""

    @abc.abstractmethod
    def place_snapshot(self, user_id: int, snapshot_id: int, when: dt.datetime) -> Numbered | None:
        """Like `number_snapshot`, but at a given id (a copy keeps the source's ids): the user's snapshot
        `snapshot_id` if it is at `when` (`created=False`), else a new one at that id, whether the id is
        free or a deleted snapshot's. None, changing nothing, if the user has that id at another
        datetime or `when` under another id. Afterwards `number_snapshot` gives only ids above it."""

    def confirm_publication(self, user_id: int, snapshot_id: int, pin: Pin) -> bool:
        """Whether the snapshot is still there, asked by a save that just published a result new to it (the
        snapshot may have been deleted since it was numbered; a store that caches ids forgets it then).
        From this call on, a `discard_snapshot` that found the snapshot empty before it leaves it. A store
        may release the save's `pin` (None if it has none) in the same write; `unpin` of it then does
        nothing. The default suits a store whose saves and discards exclude each other (one transaction each)."""
        return self.snapshot(user_id, snapshot_id) is not None

    @abc.abstractmethod
    def highest_snapshot_id(self, user_id: int) -> int:
        """The highest snapshot id the user was ever given, deleted snapshots and a deleted user's
        included; 0 if none."""

    @abc.abstractmethod
    def empty_snapshots(self, created_before: dt.datetime) -> Iterator[tuple[int, int]]:
        """(user_id, snapshot_id) of the snapshots without results created at or before the cutoff (naive
        UTC; a store may round the cutoff up to its clock's resolution): a writer killed after numbering
        one, or a snapshot saved without results."""

    @abc.abstractmethod
    def discard_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        """Remove the snapshot if it holds no result, as `unpublish_snapshot` would; None, changing
        nothing, if it is gone or holds one. Against a save publishing into it at the same moment: either
        the save's `confirm_publication` finds the snapshot gone (and the save moves its results), or
        the snapshot stays. Returns what results the removal took (published meanwhile, to be retired)."""

    @abc.abstractmethod
    def snapshots(self, user_id: int) -> list[dict[str, Any]]:
        """The user's snapshots as `{'snapshot_id', 'datetime'}`, sorted by datetime."""

    @abc.abstractmethod
    def snapshot(self, user_id: int, snapshot_id: int) -> dict[str, Any] | None:
        """`{'snapshot_id', 'datetime', 'available_results'}` (names in any order), or None."""

    # Results -----------------------------------------------------------------------------------

    @abc.abstractmethod
    def result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        """A published result (never reads a payload)."""

    @abc.abstractmethod
    def stored_results(self, user_id: int, snapshot_id: int, names: list[str]) -> dict[str, StoredResult]:
        """The published versions of these results of one snapshot, by name."""

    @abc.abstractmethod
    def publish(self, user_id: int, snapshot_id: int, name: str, stored: StoredResult) -> StoredResult | None:
        """Make `stored` the result, in one atomic step; return the version it replaced, if any."""

    @abc.abstractmethod
    def unpublish_result(self, user_id: int, snapshot_id: int, name: str) -> StoredResult | None:
        """Remove a result in one atomic step; return it, or None if there was none."""

    @abc.abstractmethod
    def unpublish_snapshot(self, user_id: int, snapshot_id: int) -> list[StoredResult] | None:
        """Remove a snapshot and its results, the snapshot first and at once; return the results, or
        None if there was no such snapshot. Its id is never given again."""

    @abc.abstractmethod
    def unpublish_user(self, user_id: int) -> list[StoredResult] | None:
        """Remove a user, its snapshots and results; return the results, or None if there was no such
        user. Ids of its snapshots are never given again, also if the user is saved anew."""

    # Payload safety ----------------------------------------------------------------------------

    @abc.abstractmethod
    def pin(self, user_id: int, snapshot_id: int, names: list[str]) -> Pin:
        """Hold every payload of these results (stored, or about to be uploaded) as in use until `unpin`."""

    @abc.abstractmethod
    def unpin(self, pin: Pin) -> None:
        """Release what `pin` held (once: a pin `confirm_publication` released stays released)."""

    @abc.abstractmethod
    def in_use(self, refs: list[Ref]) -> set[Ref]:
        """Those of `refs` that belong to a result a pin holds, or that a published result references
        (pins first, then results: a pin released after being looked at has published by then)."""

    @abc.abstractmethod
    def results(
        self, user_id: int | None = None, name: str | None = None
    ) -> Iterator[tuple[int, int, str, StoredResult]]:
        """Every published result (of one user, and of one name, if given) as (user_id, snapshot_id, name,
        stored); one query, served by an index when `user_id` is given."""

    @abc.abstractmethod
    def drop_pins(self, older_than: dt.datetime) -> int:
        """Remove pins taken before `older_than` (left by killed writers); how many there were."""


class BlobStore(abc.ABC):
    """Payloads, written once and read by `ref`; a payload is listed and opened only when whole."""

    def prepare_for_writes(self) -> None:  # noqa: B027 - optional: empty unless a store needs it
        """Called once before the driver's first write; create indexes/schema here so a reader needs no
        write privilege. Must be idempotent: every driver instance calls it, several processes may at
        once. If it raises, that write fails and the next one calls it again. Reads never wait for it:
        they must work on a database it was never called on. No-op by default."""

    @abc.abstractmethod
    def upload(self, source: BlobSource, owner: BlobOwner) -> Ref:
        """Store the bytes of `source`; visible (`open`, `listing`) only once complete. On failure
        nothing is left that `listing` would not show."""

    @abc.abstractmethod
    def open(self, ref: Ref) -> IO[bytes]:
        """A readable, seekable stream over a payload; `BlobMissing` if it is gone."""

    @abc.abstractmethod
    def condemn(self, refs: list[Ref]) -> None:
        """Mark payloads as about to be deleted: from now on they are not `alive`, for good."""

    @abc.abstractmethod
    def alive(self, refs: list[Ref]) -> set[Ref]:
        """Those of `refs` that exist and were never condemned."""

    @abc.abstractmethod
    def delete(self, refs: Iterable[Ref]) -> None:
        """Delete payloads (those already gone are fine); a reader finds each whole or missing."""

    @abc.abstractmethod
    def listing(self) -> Iterator[StoredBlob]:
        """Every complete payload the store holds, referenced or not."""

    @abc.abstractmethod
    def leftovers(self, older_than: dt.datetime) -> list[StoredBlob]:
        """Incomplete uploads (a writer killed mid-way) begun before `older_than`: what `listing` does
        not show but `delete` removes. A store where an upload in flight looks the same must leave
        those it cannot tell apart."""
