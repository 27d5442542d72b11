"""`brainstorm delete`: what deleting a user, a snapshot or one result takes with it, counted before anything goes.

The counting uses the public read API only (`get_snapshots`, `get_snapshot`, `get_result(...).blobs`),
so it is the same for every driver and reads descriptions only: one `get_result` per result, and no
payload is ever fetched. The same numbers are shown in the question and in the report afterwards.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from brainstorm.database_drivers import Driver, Result

from . import _format

Kind = Literal["user", "snapshot", "result"]


@dataclass(frozen=True)
class Counts:
    """How much a deletion removes: snapshots, results, payloads and the payloads' stored bytes."""

    snapshots: int = 0
    results: int = 0
    payloads: int = 0
    bytes: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(
            self.snapshots + other.snapshots,
            self.results + other.results,
            self.payloads + other.payloads,
            self.bytes + other.bytes,
        )


@dataclass(frozen=True)
class Deletion:
    """One thing to delete (a user, a snapshot or a result) and what goes with it."""

    kind: Kind
    user_id: int
    snapshot_id: int | None
    result_name: str | None
    counts: Counts

    @property
    def target(self) -> str:
        """`user 42`, `snapshot 3 of user 42`, `result 'pose' of snapshot 3 of user 42`."""
        user = f"user {self.user_id}"
        if self.kind == "user":
            return user
        snapshot = f"snapshot {self.snapshot_id} of {user}"
        return snapshot if self.kind == "snapshot" else f"result {self.result_name!r} of {snapshot}"

    def listed(self) -> str:
        """`3 snapshots, 12 results, 8 payloads` (no snapshot count when deleting one result: it is always 0)."""
        parts = [] if self.kind == "result" else [_counted(self.counts.snapshots, "snapshot")]
        return ", ".join([*parts, _counted(self.counts.results, "result"), _counted(self.counts.payloads, "payload")])

    def question(self) -> str:
        """What the terminal is asked: `Delete user 42: 3 snapshots, 12 results, 8 payloads (15.6 MB)?`."""
        return f"Delete {self.target}: {self.listed()} ({_format.short_size(self.counts.bytes)})?"

    def report(self) -> str:
        """What is printed afterwards: `deleted user 42: 3 snapshots, 12 results, 8 payloads, 15,600,000 bytes`."""
        return f"deleted {self.target}: {self.listed()}, {_counted(self.counts.bytes, 'byte')}"

    def as_json(self) -> dict[str, Any]:
        """The report for scripts; ids only for what was named on the command line."""
        named = {"snapshot_id": self.snapshot_id, "result_name": self.result_name}
        return {
            "deleted": self.kind,
            "user_id": self.user_id,
            **{key: value for key, value in named.items() if value is not None},
            "snapshots": self.counts.snapshots,
            "results": self.counts.results,
            "payloads": self.counts.payloads,
            "bytes": self.counts.bytes,
        }

    def carry_out(self, driver: Driver) -> bool:
        """Delete it; False if it was no longer there (deleted meanwhile by someone else)."""
        if self.kind == "user":
            return driver.delete_user(self.user_id)
        assert self.snapshot_id is not None  # every kind but "user" names a snapshot
        if self.kind == "snapshot":
            return driver.delete_snapshot(self.user_id, self.snapshot_id)
        assert self.result_name is not None
        return driver.delete_result(self.user_id, self.snapshot_id, self.result_name)


def of_result(found: Result) -> Counts:
    """One result: its payloads (inline ones included) and their stored length."""
    lengths = [info["length"] for info in found.blobs.values()]
    return Counts(results=1, payloads=len(lengths), bytes=sum(lengths))


def of_snapshot(driver: Driver, user_id: int, snapshot: Mapping[str, Any]) -> Counts:
    """A snapshot (as `get_snapshot` gives it) and each of its results."""
    counts = Counts(snapshots=1)
    for name in snapshot["available_results"]:
        found = driver.get_result(user_id, snapshot["snapshot_id"], name)
        if found is not None:  # None: deleted since the snapshot was read, so it will not be deleted now
            counts += of_result(found)
    return counts


def of_user(driver: Driver, user_id: int) -> Counts:
    """A user and every snapshot of theirs."""
    counts = Counts()
    for listed in driver.get_snapshots(user_id):
        snapshot = driver.get_snapshot(user_id, listed["snapshot_id"])
        if snapshot is not None:  # None: deleted since the list was read
            counts += of_snapshot(driver, user_id, snapshot)
    return counts


def _counted(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"
