"""What `Driver.verify` and `Driver.collect_garbage` found and did: counts and bytes by kind."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Tally:
    """A number of payloads and their bytes."""

    count: int = 0
    bytes: int = 0

    def add(self, length: int) -> None:
        self.count += 1
        self.bytes += length


@dataclass
class VerifyReport:
    """Every published payload read back and checked (present, right length, right sha256), and what
    the blob store holds that no published result uses. `problems` says where each fault is."""

    checked: Tally = field(default_factory=Tally)
    missing: Tally = field(default_factory=Tally)
    corrupt: Tally = field(default_factory=Tally)
    orphaned: Tally = field(default_factory=Tally)  # complete payloads no published result uses
    incomplete: Tally = field(default_factory=Tally)  # uploads a killed writer left half-written
    empty_snapshots: int = 0  # snapshots without results (a writer killed after numbering one)
    problems: list[str] = field(default_factory=list)
    store_scanned: bool = False  # orphans, half-written uploads and empty snapshots were looked for (database-wide)

    @property
    def ok(self) -> bool:
        """Nothing missing, corrupt, orphaned or incomplete, and no empty snapshot."""
        faults = (self.missing.count, self.corrupt.count, self.orphaned.count, self.incomplete.count)
        return not any(faults) and not self.empty_snapshots

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **dataclasses.asdict(self)}


@dataclass
class GarbageReport:
    """What garbage collection found and removed (`dry_run`: what it would remove)."""

    dry_run: bool
    grace_seconds: float
    orphaned: Tally = field(default_factory=Tally)  # unused payloads older than the grace period
    in_use: Tally = field(default_factory=Tally)  # payloads a result uses or a save holds: never garbage
    recent: Tally = field(default_factory=Tally)  # unused payloads within the grace period: left alone
    collected: Tally = field(default_factory=Tally)  # orphans deleted (a save may have taken one back)
    incomplete: Tally = field(default_factory=Tally)  # half-written uploads removed (or to remove)
    stale_pins: int = 0  # pins left by killed writers, removed
    empty_snapshots: int = 0  # snapshots without results older than the grace period, removed (or to remove)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class MigrationReport:
    """What `Driver.migrate` found and did: the layout before and after, and how many users it converted."""

    layout_before: int | None  # None: a database nothing was written to yet
    layout_after: int
    converted: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
