"""`Driver`: the storage contract every driver offers, and its protocols, written once for all of them.

A driver subclasses `Driver` and builds its two stores (`storage.RecordStore`, `storage.BlobStore`);
validation, saving, reading and deleting, each with its failure handling, live here. Input reaches
the stores already validated and normalised, so a driver never repeats a check and bad input never
reaches a database. Before a driver's first write the stores prepare for writing (`prepare_for_writes`:
indexes, schema), once; a driver that only reads never asks them to, so reading needs no write privilege.
"""

from __future__ import annotations

import abc
import contextlib
import datetime as dt
import functools
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import IO, Any, ClassVar

from ._blobs import DEFAULT_INLINE_LIMIT, BlobSource, check_inline_limit
from ._errors import BlobCorrupt, BlobMissing, DatabaseUnavailable, InvalidInput, SnapshotConflict, UnsupportedLayout
from ._reports import GarbageReport, MigrationReport, VerifyReport
from ._results import PendingResult, Result, encode_snapshot, store_result
from ._url import redact, scheme_of
from ._values import KeyPath, check_result_name, check_snapshot_id, check_user, check_user_id, describe, utc_now
from .storage import BlobOwner, BlobStore, Numbered, Pin, RecordStore, Ref, StoredBlob, StoredResult, refs_of

DEFAULT_GRACE = dt.timedelta(hours=1)
"""How old an unused payload must be before `collect_garbage` deletes it."""
PIN_LEASE = dt.timedelta(days=1)
"""Pins older than this are a killed writer's: `collect_garbage` removes them (a save never takes as long)."""
IN_USE_BATCH = 500
MOVES = 3
"""How many times a save moves its results to a new snapshot when the one it wrote into was deleted."""
VERIFY_READ_SIZE = 1024 * 1024
Progress = Callable[[int], None]
"""Called with how many more items are done."""

User = dict[str, Any]
SnapshotSummary = dict[str, Any]

FIELDS_PATH = "_fields"
"""The name, in the blob store, of a result's fields that were too big for its record."""


class Driver(abc.ABC):
    """A database of users, their snapshots and the snapshots' results.

    `url` picks the database; its scheme must be one of the class's `schemes`. Payloads of at most
    `inline_limit` bytes are kept inside the result's record, larger ones in the blob store.

    Why no interleaving of saves, deletes and garbage collection loses a payload, with only
    single-step atomic primitives: a payload is deleted only by `_retire`, which first condemns it
    and then checks that it is not in use (pinned, then referenced). A save pins the results it
    writes before it uploads or reuses anything, and unpins them once published; it reuses a stored
    payload only if it finds it alive after pinning. A retirer that looks after the pin sees it, or,
    once it is released, the published reference, and keeps the payload; one that condemned a reused
    payload before the save looked is seen by the save, which uploads the bytes again. So no
    published result ever points at a deleted payload; what a crash leaves behind is unreferenced
    payloads and stale pins, which `collect_garbage` finds.

    Writing and reading: every protocol that writes (`save_user`, `save_snapshot`, the deletes,
    `collect_garbage` unless a dry run) first checks that the database has the layout this version
    writes (else `UnsupportedLayout`: `migrate` converts an older one) and has the stores
    `prepare_for_writes` (create their indexes or schema), once per driver; the reads (`get_*`, a
    result's payloads, `verify`) never do, so a driver that is only read from works under a read-only
    role, and on a database of an older layout until it is migrated.
    """

    schemes: ClassVar[tuple[str, ...]]

    default_inline_limit: ClassVar[int] = DEFAULT_INLINE_LIMIT
    """The `inline_limit` of a driver given none."""

    record_store: RecordStore
    blob_store: BlobStore

    def __init__(self, url: str, *, inline_limit: int | None = None) -> None:
        if scheme_of(url) not in self.schemes:
            raise InvalidInput(
                f"{type(self).__name__} takes URLs starting with {' or '.join(s + '://' for s in self.schemes)}, "
                f"not {redact(url)!r}"
            )
        self.url = url
        self.inline_limit = check_inline_limit(self.default_inline_limit if inline_limit is None else inline_limit)
        self._writes_prepared = False
        self._writes_lock = threading.Lock()

    def _prepare_for_writes(self) -> None:
        """Have the stores prepare for writing (indexes, schema) before this driver's first write: once,
        whatever the threads; afterwards one attribute check. Called by every writing protocol, inside
        its `_native_errors`; a failure leaves it to the next write to try again."""
        if self._writes_prepared:
            return
        with self._writes_lock:
            if not self._writes_prepared:
                self._check_layout(self.record_store.layout(), older_too=True)
                self.record_store.prepare_for_writes()
                self.blob_store.prepare_for_writes()
                self._writes_prepared = True

    def _check_layout(self, found: int | None, *, older_too: bool) -> None:
        """UnsupportedLayout, naming what to do, for a database of a newer layout than this version writes
        (and, if `older_too`, of an older one); a database nothing was written to yet has none."""
        written = self.record_store.layout_version
        where = f"the database {redact(self.url)} has layout {found}"
        if found is not None and found > written:
            raise UnsupportedLayout(
                f"{where}, written by a newer brainstorm (this one writes layout {written}): upgrade brainstorm"
            )
        if older_too and found is not None and found < written:
            raise UnsupportedLayout(
                f"{where}, and this version of brainstorm writes layout {written}: run `brainstorm migrate` on it "
                "once (with -d URL); reading it works meanwhile"
            )

    def migrate(self, *, progress: Progress | None = None) -> MigrationReport:
        """Bring the database to the layout this version writes; idempotent, resumable after a kill, and
        safe while others read (writers of this version refuse to write until it is done). `progress` is
        called with 1 after each user converted."""
        with self._native_errors():
            before = self.record_store.layout()
            self._check_layout(before, older_too=False)
            converted = self.record_store.migrate(progress)
            with self._writes_lock:
                self._writes_prepared = False  # the migrated layout's indexes, and the layout recorded
            self._prepare_for_writes()
            return MigrationReport(before, self.record_store.layout_version, converted)

    # Saving ------------------------------------------------------------------------------------

    def save_user(self, user: object) -> None:
        """Save a user (`user_id` plus JSON-like fields); saving again updates the fields given."""
        user_id, fields = check_user(user)
        with self._native_errors():
            self._prepare_for_writes()
            self.record_store.write_user(user_id, fields)

    def save_snapshot(self, snapshot: object, *, snapshot_id: object = None) -> int:
        """Save a snapshot's results (merged with earlier saves of the same user and datetime); return its id.

        The driver numbers a new snapshot, above every id the user ever had. With `snapshot_id`, the
        snapshot is saved under that id instead (a copy from another database keeps its ids): merged
        with the user's snapshot of that id if it has the same datetime; `SnapshotConflict` if the id is
        another datetime's or the datetime another id's. Numbering goes on above the ids placed so.
        """
        user_id, when, results = encode_snapshot(snapshot)
        wanted = None if snapshot_id is None else check_snapshot_id(snapshot_id)
        with self._native_errors():
            self._prepare_for_writes()
            number = (
                functools.partial(self.record_store.number_snapshot, user_id, when)
                if wanted is None
                else functools.partial(self._place, user_id, wanted, when)
            )
            return self._save(user_id, when, results, number)

    def _place(self, user_id: int, snapshot_id: int, when: dt.datetime, pinning: list[str]) -> Numbered:
        """The snapshot at a given id, found or created (`pinning` is left to `RecordStore.pin`: a copy's
        save is no hot path); SnapshotConflict naming what is in the way."""
        placed = self.record_store.place_snapshot(user_id, snapshot_id, when)
        if placed is not None:
            return placed
        held = self.record_store.snapshot(user_id, snapshot_id)
        if held is not None and held["datetime"] != when:
            raise SnapshotConflict(
                f"user {user_id} already has a snapshot {snapshot_id} at {held['datetime'].isoformat()}, "
                f"not at {when.isoformat()}: it is not overwritten"
            )
        other = next((s["snapshot_id"] for s in self.record_store.snapshots(user_id) if s["datetime"] == when), "?")
        raise SnapshotConflict(
            f"user {user_id} already has a snapshot at {when.isoformat()} under id {other}, not {snapshot_id}: "
            "it is not moved"
        )

    def _save(
        self, user_id: int, when: dt.datetime, results: list[PendingResult], number: Callable[[list[str]], Numbered]
    ) -> int:
        """Number the snapshot, store every result's payloads, then publish the results one by one.

        A failure before publishing publishes nothing, and removes the snapshot if this save created
        it (and so never creates the user); one between two publishes keeps the published results
        whole. Either way what no published result uses is retired, and so is, after success, what
        the new versions replaced. `number(pinning)` finds or creates the snapshot (numbered, or placed at
        an id), and may pin those results in the same write (`Numbered.pin`).
        """
        records = self.record_store
        uploads: list[Ref] = []
        garbage: list[Ref] = []
        numbered, published = None, 0
        try:
            with records.transaction():
                names = [pending.name for pending in results if pending.blobs]
                numbered = number(names)
                snapshot_id = numbered.snapshot_id
                previous = records.stored_results(user_id, snapshot_id, names) if names and not numbered.created else {}
                with self._pinned(user_id, snapshot_id, names, numbered.pin) as pin:
                    reusable = self._alive_only(previous)

                    def upload(source: BlobSource, owner: BlobOwner) -> Ref:
                        uploads.append(self.blob_store.upload(source, owner))
                        return uploads[-1]

                    stored: dict[str, StoredResult] = {}
                    for pending in results:
                        owner = BlobOwner(user_id, snapshot_id, pending.name, "")
                        stored[pending.name], redundant = self._store(
                            pending, reusable.get(pending.name), owner, upload
                        )
                        garbage += redundant
                    fresh = False  # a result new to the snapshot: was the snapshot deleted meanwhile?
                    for name, version in stored.items():
                        replaced = records.publish(user_id, snapshot_id, name, version)
                        published += 1
                        fresh |= replaced is None
                        garbage += _unused(replaced, version)
                    if fresh and not records.confirm_publication(user_id, snapshot_id, pin):
                        moved = self._move(user_id, number, snapshot_id, stored, garbage)
                        numbered = moved._replace(new_user=numbered.new_user or moved.new_user)
                        snapshot_id = numbered.snapshot_id
            if numbered.new_user:
                records.write_user(user_id, {})  # a snapshot of an unknown user creates the user
        except BaseException:
            with contextlib.suppress(Exception):  # the error that matters is the first; the rest waits for gc
                self._retire(uploads + garbage)
                if numbered is not None and numbered.created and not published:
                    self._discard_if_empty(user_id, numbered.snapshot_id)
            raise
        self._retire(garbage)
        return snapshot_id

    def _move(
        self,
        user_id: int,
        number: Callable[[list[str]], Numbered],
        dead: int,
        stored: dict[str, StoredResult],
        garbage: list[Ref],
    ) -> Numbered:
        """Publish into a new snapshot what was published into one deleted meanwhile (or long ago, by
        another process: a store's cached id), and return the new snapshot's numbering (a placed
        snapshot is placed again, at its id). The payloads stay pinned under the old snapshot's pin
        until published again; what the delete left of the results published into the dead snapshot
        is added to `garbage`."""
        ours = {ref for version in stored.values() for ref in refs_of(version)}
        for _ in range(MOVES):
            for name in stored:
                removed = self.record_store.unpublish_result(user_id, dead, name)
                garbage += [ref for ref in refs_of(removed) if ref not in ours] if removed else []
            numbered = number([])  # the old snapshot's pin holds the payloads
            dead = numbered.snapshot_id
            for name, version in stored.items():
                garbage += _unused(self.record_store.publish(user_id, dead, name, version), version)
            if self.record_store.confirm_publication(user_id, dead, None):
                return numbered
        raise DatabaseUnavailable(f"snapshots of user {user_id} were deleted while this save ran, {MOVES} times")

    def _discard_if_empty(self, user_id: int, snapshot_id: int) -> None:
        """Remove the snapshot a failed save created, unless another writer saved a result into it (that
        writer's `confirm_publication` keeps it, or moves its result; see `RecordStore.discard_snapshot`)."""
        self._retire_results(self.record_store.discard_snapshot(user_id, snapshot_id))

    @contextlib.contextmanager
    def _pinned(self, user_id: int, snapshot_id: int, names: list[str], taken: Pin) -> Iterator[Pin]:
        """Hold the payloads of these results, stored and to come, as in use until they are published
        (`taken`: the pin the numbering took already, if any)."""
        if not names:
            yield None
            return
        pin = taken if taken is not None else self.record_store.pin(user_id, snapshot_id, names)
        try:
            yield pin
        finally:
            self.record_store.unpin(pin)

    def _alive_only(self, previous: dict[str, StoredResult]) -> dict[str, StoredResult]:
        """The previous versions less their condemned payloads, so that only live ones are reused
        (checked after pinning: a payload condemned after this check sees the pin and is kept)."""
        refs = [ref for version in previous.values() for ref in refs_of(version)]
        if not refs:
            return previous
        alive = self.blob_store.alive(refs)
        return {name: _without_refs(version, alive) for name, version in previous.items()}

    def _store(
        self,
        pending: PendingResult,
        previous: StoredResult | None,
        owner: BlobOwner,
        upload: Callable[[BlobSource, BlobOwner], Ref],
    ) -> tuple[StoredResult, list[Ref]]:
        """Write a result's payloads; keep its record within the record store's limit."""

        def upload_at(source: BlobSource, path: KeyPath) -> Ref:
            return upload(source, BlobOwner(owner.user_id, owner.snapshot_id, owner.result_name, describe(path)))

        limit = self.record_store.record_limit
        if limit is None:
            return store_result(pending, previous, self.inline_limit, upload_at)
        fields = self.record_store.fields_blob(pending.value)
        assert fields.length is not None
        inline = sum(s.length for _, s in pending.blobs if s.length is not None and s.length <= self.inline_limit)
        stored, redundant = store_result(
            pending, previous, self.inline_limit if fields.length + inline <= limit else 0, upload_at
        )
        if fields.length > limit:
            stored = StoredResult(value={}, blobs=stored["blobs"], body=upload_at(fields, (FIELDS_PATH,)))
        return stored, redundant

    # Deleting ----------------------------------------------------------------------------------

    def delete_result(self, user_id: object, snapshot_id: object, result_name: object) -> bool:
        """Delete one result and its payloads; return whether it existed."""
        user_id, snapshot_id = check_user_id(user_id), check_snapshot_id(snapshot_id)
        result_name = check_result_name(result_name)
        with self._native_errors():
            self._prepare_for_writes()
            removed = self.record_store.unpublish_result(user_id, snapshot_id, result_name)
            return self._retire_results(None if removed is None else [removed])

    def delete_snapshot(self, user_id: object, snapshot_id: object) -> bool:
        """Delete a snapshot, its results and their payloads; return whether it existed. Its id is
        never given to another snapshot."""
        user_id, snapshot_id = check_user_id(user_id), check_snapshot_id(snapshot_id)
        with self._native_errors():
            self._prepare_for_writes()
            return self._retire_results(self.record_store.unpublish_snapshot(user_id, snapshot_id))

    def delete_user(self, user_id: object) -> bool:
        """Delete a user with every snapshot, result and payload; return whether it existed."""
        user_id = check_user_id(user_id)
        with self._native_errors():
            self._prepare_for_writes()
            return self._retire_results(self.record_store.unpublish_user(user_id))

    def _retire_results(self, removed: list[StoredResult] | None) -> bool:
        """Retire the payloads of results just unpublished; whether there was anything to remove."""
        if removed is None:
            return False
        self._retire([ref for stored in removed for ref in refs_of(stored)])
        return True

    def _retire(self, refs: Iterable[Ref]) -> set[Ref]:
        """Delete payloads no published result uses: condemn them, then delete those not in use.
        Returns what was deleted."""
        refs = list(dict.fromkeys(refs))
        if not refs:
            return set()
        self.blob_store.condemn(refs)
        in_use = self.record_store.in_use(refs)
        doomed = {ref for ref in refs if ref not in in_use}
        self.blob_store.delete(doomed)
        return doomed

    # Verifying and collecting garbage ----------------------------------------------------------

    def verify(self, user_id: object = None, *, progress: Progress | None = None) -> VerifyReport:
        """Read back every published payload (of one user, if given) and check its length and sha256;
        for the whole database, also count what the blob store holds that nothing uses. Changes nothing.
        `progress` is called with 1 after each result."""
        user = None if user_id is None else check_user_id(user_id)
        report = VerifyReport()
        with self._native_errors():
            for owner, snapshot_id, name, stored in self.record_store.results(user):
                _verify_result(self._result(owner, snapshot_id, name, stored), report)
                if progress:
                    progress(1)
            if user is None:
                report.store_scanned, now = True, utc_now()
                for blob in self._orphans(now):
                    report.orphaned.add(blob.length)
                    report.problems.append(
                        f"orphaned payload {blob.ref!r}: {blob.length} bytes, uploaded {blob.uploaded}"
                    )
                for blob in self.blob_store.leftovers(now):
                    report.incomplete.add(blob.length)
                    report.problems.append(
                        f"incomplete upload {blob.ref!r}: {blob.length} bytes, begun {blob.uploaded}"
                    )
                for owner, snapshot_id in self.record_store.empty_snapshots(now):
                    report.empty_snapshots += 1
                    report.problems.append(f"empty snapshot: user {owner}, snapshot {snapshot_id} holds no result")
        return report

    def collect_garbage(
        self, grace: dt.timedelta = DEFAULT_GRACE, *, dry_run: bool = False, progress: Progress | None = None
    ) -> GarbageReport:
        """Delete payloads no published result uses that are older than `grace`, half-written uploads,
        snapshots without results older than `grace`, and pins of killed writers. Safe while writers
        run: an orphan is deleted by the same protocol as a replaced payload (condemned, then checked not
        in use), so a save that takes it back keeps it, and an empty snapshot a save publishes into
        meanwhile is kept or its result moved (`RecordStore.discard_snapshot`).
        `dry_run`: report what would go, change nothing."""
        if not isinstance(grace, dt.timedelta) or grace < dt.timedelta(0):
            raise InvalidInput(f"the grace period must be a non-negative timedelta, not {grace!r}")
        now = utc_now()
        report = GarbageReport(dry_run=dry_run, grace_seconds=grace.total_seconds())
        with self._native_errors():
            if not dry_run:
                self._prepare_for_writes()
                report.stale_pins = self.record_store.drop_pins(now - PIN_LEASE)
            orphans = self._orphans(now - grace, report=report, progress=progress)
            for blob in orphans:
                report.orphaned.add(blob.length)
            if not dry_run:
                deleted = self._retire(blob.ref for blob in orphans)
                for blob in orphans:
                    if blob.ref in deleted:
                        report.collected.add(blob.length)
            leftovers = self.blob_store.leftovers(now - grace)
            for blob in leftovers:
                report.incomplete.add(blob.length)
            if leftovers and not dry_run:
                self.blob_store.delete(blob.ref for blob in leftovers)
            for user_id, snapshot_id in list(self.record_store.empty_snapshots(now - grace)):
                if dry_run or self._retire_results(self.record_store.discard_snapshot(user_id, snapshot_id)):
                    report.empty_snapshots += 1
        return report

    def _orphans(
        self, uploaded_before: dt.datetime, *, report: GarbageReport | None = None, progress: Progress | None = None
    ) -> list[StoredBlob]:
        """Complete payloads uploaded before the cutoff that nothing uses (pinned or referenced); with a
        report, it also tallies the payloads in use and the unused ones within the grace period."""
        orphans = []
        recent_too = report is not None  # else the recent ones are not even looked up
        for batch in self._listing_batches(None if recent_too else uploaded_before, progress):
            for blob in self._unused_of(batch, report):
                if blob.uploaded <= uploaded_before:
                    orphans.append(blob)
                elif report is not None:
                    report.recent.add(blob.length)
        return orphans

    def _listing_batches(
        self, uploaded_before: dt.datetime | None, progress: Progress | None
    ) -> Iterator[list[StoredBlob]]:
        """The blob store's listing, `IN_USE_BATCH` at a time (only what was uploaded before the cutoff,
        when one is given): one in-use query per batch."""
        batch: list[StoredBlob] = []
        for blob in self.blob_store.listing():
            if uploaded_before is not None and blob.uploaded > uploaded_before:
                continue
            batch.append(blob)
            if progress:
                progress(1)
            if len(batch) == IN_USE_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    def _unused_of(self, blobs: list[StoredBlob], report: GarbageReport | None) -> list[StoredBlob]:
        """Those of `blobs` nothing uses; the others are tallied as in use."""
        unused = self._unused(blobs)
        if report is not None:
            free = {blob.ref for blob in unused}
            for blob in blobs:
                if blob.ref not in free:
                    report.in_use.add(blob.length)
        return unused

    def _unused(self, blobs: list[StoredBlob]) -> list[StoredBlob]:
        in_use = self.record_store.in_use([blob.ref for blob in blobs]) if blobs else set()
        return [blob for blob in blobs if blob.ref not in in_use]

    # Reading -----------------------------------------------------------------------------------

    def get_users(self) -> list[User]:
        """Every user as `{'user_id', 'username'}`, sorted by id (`username` None when unknown)."""
        with self._native_errors():
            return self.record_store.users()

    def get_user(self, user_id: object) -> User | None:
        """The fields saved for a user (with `user_id`), or None."""
        user_id = check_user_id(user_id)
        with self._native_errors():
            return self.record_store.user(user_id)

    def get_snapshots(self, user_id: object) -> list[SnapshotSummary]:
        """A user's snapshots as `{'snapshot_id', 'datetime'}`, sorted by datetime."""
        user_id = check_user_id(user_id)
        with self._native_errors():
            return self.record_store.snapshots(user_id)

    def get_highest_snapshot_id(self, user_id: object) -> int:
        """The highest snapshot id the user was ever given (0 if none), deleted snapshots included: an id
        at or below it that `get_snapshots` does not list was deleted, and is never given again."""
        user_id = check_user_id(user_id)
        with self._native_errors():
            return self.record_store.highest_snapshot_id(user_id)

    def get_snapshot(self, user_id: object, snapshot_id: object) -> SnapshotSummary | None:
        """`{'snapshot_id', 'datetime', 'available_results'}` of one snapshot, or None."""
        user_id, snapshot_id = check_user_id(user_id), check_snapshot_id(snapshot_id)
        with self._native_errors():
            snapshot = self.record_store.snapshot(user_id, snapshot_id)
        if snapshot is not None:
            snapshot["available_results"] = sorted(snapshot["available_results"])
        return snapshot

    def get_result(self, user_id: object, snapshot_id: object, result_name: object) -> Result | None:
        """One result of a snapshot, its payloads fetched only when used; None if there is none."""
        user_id, snapshot_id = check_user_id(user_id), check_snapshot_id(snapshot_id)
        result_name = check_result_name(result_name)
        with self._native_errors():
            stored = self.record_store.result(user_id, snapshot_id, result_name)
            if stored is not None:
                self._read_body(stored)
        return None if stored is None else self._result(user_id, snapshot_id, result_name, stored)

    def get_results(self, user_id: object, result_name: object) -> dict[int, Result]:
        """The result named `result_name` of each of a user's snapshots that has one, by snapshot id:
        a series (feelings over time) in one query instead of one per snapshot. Payloads stay lazy."""
        user_id, result_name = check_user_id(user_id), check_result_name(result_name)
        found = {}
        with self._native_errors():
            for _, snapshot_id, _, stored in self.record_store.results(user_id, result_name):
                self._read_body(stored)
                found[snapshot_id] = self._result(user_id, snapshot_id, result_name, stored)
        return found

    def _read_body(self, stored: StoredResult) -> None:
        """Bring back fields kept apart in the blob store for being too large for the record."""
        if "body" in stored:
            with self.blob_store.open(stored["body"]) as body:
                stored["value"] = self.record_store.read_fields(body.read())

    def _result(self, user_id: int, snapshot_id: int, name: str, stored: StoredResult) -> Result:
        """A stored result as readers get it: lazy, its payloads checked, errors named and translated."""
        where = f"user {user_id}, snapshot {snapshot_id}, result {name!r}"
        return Result(stored, self._open_blob, where, self._native_errors)

    def _open_blob(self, ref: Any) -> IO[bytes]:
        with self._native_errors():
            return self.blob_store.open(ref)

    # Lifetime ----------------------------------------------------------------------------------

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

    @contextlib.contextmanager
    def _native_errors(self) -> Iterator[None]:
        """Translate the database library's errors into the package's; the default lets them pass."""
        yield


def _unused(replaced: StoredResult | None, version: StoredResult) -> list[Ref]:
    """Blob-store ids the replaced version of a result used that the new version does not."""
    if replaced is None:
        return []
    kept = set(refs_of(version))
    return [ref for ref in refs_of(replaced) if ref not in kept]


def _without_refs(version: StoredResult, alive: set[Ref]) -> StoredResult:
    """A previous version with only the payloads that are still alive, so only those are reused."""
    blobs = [info for info in version["blobs"] if "ref" not in info or info["ref"] in alive]
    return StoredResult(value=version["value"], blobs=blobs)


def _verify_result(result: Result, report: VerifyReport) -> None:
    """Read each payload of a result through to its end, which checks it; tally what was found."""
    for path, info in result.blobs.items():
        try:
            with result.open(path) as stream:
                while stream.read(VERIFY_READ_SIZE):
                    pass
            report.checked.add(info["length"])
        except BlobMissing as exc:
            report.missing.add(info["length"])
            report.problems.append(f"missing: {exc}")
        except BlobCorrupt as exc:
            report.corrupt.add(info["length"])
            report.problems.append(f"corrupt: {exc}")
