"""Copy one database into another, between any two drivers: `copy_database` (and `brainstorm copy`).

    from brainstorm.copying import copy_database
    report = copy_database("sqlite:///brainstorm.db", "mongodb://db:27017/brainstorm", verify=True)

Users keep their ids and fields, snapshots their ids and datetimes (saved at the source's ids:
`Driver.save_snapshot(..., snapshot_id=N)`), results their fields and payloads: each payload is
streamed from `result.open(key)` into the destination as it is stored (same kind, content type and
bytes, `Blob.of`), in pieces of bounded size, and checked against the source's sha256 as it is written,
before the result is published. So every copied result is whole.

A copy taken while others write holds each result as the source held it at one moment, whole; it is
not a picture of the whole database at one instant (results of one snapshot may come from different
moments, and what is saved after the copy listed the source is left for the next run). A payload the
source replaced while it was being read is read again from the new version.

Run again (after Ctrl-C, a killed process, or to bring a backup up to date), a copy compares each
result's fields and payload descriptions (sha256 included) with the destination's and copies only
those missing or different; the destination's save reuses bytes it already stores at the same place,
so no payload is stored twice. It adds and updates; what only the destination holds stays, with one
exception, so that a backup survives the source's deletions: a destination snapshot in the way of a
source snapshot (the same datetime under another id) whose id the source gave and no longer has
(`Driver.get_highest_snapshot_id`) was deleted at the source, which then saved that datetime again
under a new id; it is deleted at the destination too, and the source's copied. Any other snapshot in
the way (the same id at another datetime, or a datetime held under an id the source never gave) is a
conflict: that user is not copied at all, and is named in `conflicts`; the other users are. The
conflicts are found before anything is written.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import (
    Blob,
    BlobCorrupt,
    BlobMissing,
    Driver,
    InvalidInput,
    Result,
    VerifyReport,
    redact,
)

__all__ = ["CopyReport", "copy_database"]

ATTEMPTS = 3
"""How many times a result is read again when its payload vanished or changed under the copy (the source
replaced it meanwhile) before it counts as failed."""


@dataclass
class CopyReport:
    """What a copy did: counts by outcome, payloads and bytes written, and the destination's verification."""

    users_copied: int = 0
    users_unchanged: int = 0
    snapshots_copied: int = 0  # new at the destination
    snapshots_unchanged: int = 0
    snapshots_deleted: int = 0  # deleted at the source, in the way of what it saved since: deleted here too
    results_total: int = 0  # results the source listed
    results_copied: int = 0
    results_unchanged: int = 0
    results_gone: int = 0  # deleted at the source before the copy reached them
    failed: list[str] = field(default_factory=list)  # one line per result not copied, saying why
    conflicts: list[str] = field(default_factory=list)  # one line per user not copied: a snapshot in the way
    payloads: int = 0  # payloads written (those of copied results)
    bytes: int = 0
    seconds: float = 0.0
    verified: VerifyReport | None = None  # with verify=True: the destination's payloads of the copied users, re-read

    @property
    def results_done(self) -> int:
        return self.results_copied + self.results_unchanged + self.results_gone + len(self.failed)

    @property
    def ok(self) -> bool:
        """Every user and result copied or unchanged, and the verification (if any) clean."""
        return not self.failed and not self.conflicts and (self.verified is None or self.verified.ok)

    def line(self) -> str:
        """`2 users (2 copied), 5 snapshots (5 copied), 20 results (18 copied, 2 unchanged), 14 payloads, ...`."""
        users = f"{self.users_copied + self.users_unchanged} users ({self.users_copied} copied)"
        users += f", {len(self.conflicts)} in conflict" if self.conflicts else ""
        deleted = f", {self.snapshots_deleted} deleted as at the source" if self.snapshots_deleted else ""
        snapshots = (
            f"{self.snapshots_copied + self.snapshots_unchanged} snapshots ({self.snapshots_copied} copied{deleted})"
        )
        outcomes = [f"{self.results_copied} copied", f"{self.results_unchanged} unchanged"]
        outcomes += [f"{self.results_gone} gone from the source"] if self.results_gone else []
        outcomes += [f"{len(self.failed)} failed"] if self.failed else []
        results = f"{self.results_done} results ({', '.join(outcomes)})"
        return (
            f"{users}, {snapshots}, {results}, {self.payloads:,} payloads, {self.bytes:,} bytes in {self.seconds:.1f} s"
        )

    def as_dict(self) -> dict[str, Any]:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "verified"}
        verified = None if self.verified is None else self.verified.as_dict()
        return {"ok": self.ok, **fields, "verified": verified}


Progress = Callable[[CopyReport], None]
"""Called with the report once the source is listed (`results_total` known), then after each result."""


@dataclass
class _Snapshot:
    """A source snapshot to copy, and whether the destination holds it already."""

    user_id: int
    snapshot_id: int
    when: dt.datetime
    names: list[str]
    present: bool


@dataclass
class _Plan:
    """What copying one user takes: the destination's snapshots the source deleted that are in the way,
    then the source's snapshots; or, for a user in conflict, why nothing of it is copied."""

    user: dict[str, Any]
    deleted: list[int] = field(default_factory=list)
    snapshots: list[_Snapshot] = field(default_factory=list)
    conflict: str | None = None


def copy_database(
    source: Driver | str, destination: Driver | str, *, verify: bool = False, progress: Progress | None = None
) -> CopyReport:
    """Copy every user, snapshot, result and payload of `source` into `destination` (drivers, or URLs
    opened and closed here); see the module's docstring for what the copy holds. A result that cannot
    be copied (a corrupt payload at the source) is listed in `failed` and not published; the others go
    on. `verify`: re-read the copied users' payloads at the destination afterwards (`Driver.verify`)."""
    if isinstance(source, str) and source == destination:
        raise InvalidInput(f"the source and the destination are the same database, {redact(source)!r}")
    report, started = CopyReport(), time.monotonic()
    with contextlib.ExitStack() as opened:
        src, dst = (
            item if isinstance(item, Driver) else opened.enter_context(db_drivers.connect(item))
            for item in (source, destination)
        )
        users = [user for user in (src.get_user(u["user_id"]) for u in src.get_users()) if user is not None]
        plans = [_plan(src, dst, user) for user in users]
        report.conflicts = [plan.conflict for plan in plans if plan.conflict is not None]
        plans = [plan for plan in plans if plan.conflict is None]
        report.results_total = sum(len(snapshot.names) for plan in plans for snapshot in plan.snapshots)
        _notify(progress, report, started)
        for plan in plans:
            held = dst.get_user(plan.user["user_id"])
            if held is not None and all(_typed(held.get(k)) == _typed(v) for k, v in plan.user.items()):
                report.users_unchanged += 1
            else:
                dst.save_user(plan.user)
                report.users_copied += 1
        for plan in plans:
            for snapshot_id in plan.deleted:
                report.snapshots_deleted += dst.delete_snapshot(plan.user["user_id"], snapshot_id)
            for snapshot in plan.snapshots:
                _copy_snapshot(src, dst, snapshot, report, lambda: _notify(progress, report, started))
        if verify:
            report.verified = _verify(dst, [plan.user["user_id"] for plan in plans])
    report.seconds = time.monotonic() - started
    return report


def _notify(progress: Progress | None, report: CopyReport, started: float) -> None:
    if progress is not None:
        report.seconds = time.monotonic() - started
        progress(report)


def _plan(src: Driver, dst: Driver, user: dict[str, Any]) -> _Plan:
    """How to copy one user: the source's snapshots with their results' names, after deleting at the
    destination those the source deleted that are in the way; or the conflict that stops the user."""
    user_id, plan = user["user_id"], _Plan(user)
    held = {s["snapshot_id"]: s["datetime"] for s in dst.get_snapshots(user_id)}
    held_at = {when: snapshot_id for snapshot_id, when in held.items()}
    listed = {s["snapshot_id"]: s["datetime"] for s in src.get_snapshots(user_id)}
    given = src.get_highest_snapshot_id(user_id)
    for snapshot_id, when in listed.items():
        theirs = held.get(snapshot_id)
        other = held_at.get(when, snapshot_id)
        if theirs is not None and theirs != when:
            plan.conflict = _conflict(user_id, f"snapshot {snapshot_id} at {theirs.isoformat()}", snapshot_id, when)
        elif other != snapshot_id and (other in listed or other > given):
            plan.conflict = _conflict(user_id, f"snapshot {other} at {when.isoformat()}", snapshot_id, when)
        elif other != snapshot_id:
            plan.deleted.append(other)  # the source deleted it, then saved its datetime again
        if plan.conflict is not None:
            return plan
        found = src.get_snapshot(user_id, snapshot_id)
        if found is not None:  # else deleted since it was listed
            present = snapshot_id in held
            plan.snapshots.append(_Snapshot(user_id, snapshot_id, when, found["available_results"], present))
    return plan


def _conflict(user_id: int, in_the_way: str, snapshot_id: int, when: dt.datetime) -> str:
    return (
        f"user {user_id}: the destination has {in_the_way}, the source's snapshot {snapshot_id} is at "
        f"{when.isoformat()}; nothing of user {user_id} was copied, and nothing is overwritten"
    )


def _copy_snapshot(
    src: Driver, dst: Driver, snapshot: _Snapshot, report: CopyReport, notify: Callable[[], None]
) -> None:
    copied = not snapshot.names and not snapshot.present
    if copied:  # an empty snapshot: its id and datetime are all there is to copy
        dst.save_snapshot({"user_id": snapshot.user_id, "datetime": snapshot.when}, snapshot_id=snapshot.snapshot_id)
    for name in snapshot.names:
        copied |= _copy_result(src, dst, snapshot, name, report)
        notify()
    if snapshot.present:
        report.snapshots_unchanged += 1
    elif copied:
        report.snapshots_copied += 1


def _copy_result(src: Driver, dst: Driver, snapshot: _Snapshot, name: str, report: CopyReport) -> bool:
    """Copy one result unless the destination holds it as it is; whether it was written."""
    where = f"user {snapshot.user_id}, snapshot {snapshot.snapshot_id}, result {name!r}"
    for attempt in range(1, ATTEMPTS + 1):
        found = src.get_result(snapshot.user_id, snapshot.snapshot_id, name)
        if found is None:
            report.results_gone += 1
            return False
        there = dst.get_result(snapshot.user_id, snapshot.snapshot_id, name)
        if there is not None and _same(found, there):
            report.results_unchanged += 1
            return False
        try:
            _write(found, dst, snapshot, name)
        except (BlobMissing, BlobCorrupt) as exc:
            again = src.get_result(snapshot.user_id, snapshot.snapshot_id, name)
            if attempt < ATTEMPTS and (again is None or not _same(again, found)):
                continue  # the source replaced or deleted the result while it was read: read it again
            report.failed.append(str(exc) if str(exc).startswith(where) else f"{where}: {exc}")
            return False
        report.results_copied += 1
        report.payloads += len(found.blobs)
        report.bytes += sum(info["length"] for info in found.blobs.values())
        return True
    raise AssertionError("unreachable")  # pragma: no cover - the last attempt returns


def _write(found: Result, dst: Driver, snapshot: _Snapshot, name: str) -> None:
    """Save the result at the destination with each payload streamed from the source as it is stored."""
    value = found.fields
    with contextlib.ExitStack() as readers:
        for info in found.blobs.values():
            reader = readers.enter_context(found.open(info["path"]))
            *parents, last = info["path"]
            place: Any = value
            for step in parents:
                place = place[step]
            place[last] = Blob.of(reader)
        dst.save_snapshot(
            {"user_id": snapshot.user_id, "datetime": snapshot.when, name: value}, snapshot_id=snapshot.snapshot_id
        )


def _same(one: Result, other: Result) -> bool:
    """The same fields (types included: 1 is not True) and the same payloads (kind, content type, length, sha256)."""
    return one.blobs == other.blobs and _typed(one.fields) == _typed(other.fields)


def _typed(value: Any) -> Any:
    """A value with each leaf paired with its type, so that equal-comparing values of other types differ."""
    if isinstance(value, dict):
        return {key: _typed(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_typed(item) for item in value]
    return (type(value), value)


def _verify(dst: Driver, user_ids: list[int]) -> VerifyReport:
    """Re-read the destination's payloads of these users, as one report."""
    total = VerifyReport()
    for user_id in user_ids:
        found = dst.verify(user_id)
        for tally in ("checked", "missing", "corrupt"):
            getattr(total, tally).count += getattr(found, tally).count
            getattr(total, tally).bytes += getattr(found, tally).bytes
        total.problems += found.problems
    return total
