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
    problems: list[str] = field(default_factory=list)
    store_scanned: bool = False  # orphans and half-written uploads were looked for (a whole-database verify)

    @property
    def ok(self) -> bool:
        """Nothing missing, corrupt, orphaned or incomplete."""
        return not (self.missing.count or self.corrupt.count or self.orphaned.count or self.incomplete.count)

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, **dataclasses.asdict(self)}


@dataclass
class GarbageReport:
    """What garbage collection found and removed (`dry_run`: what it would remove)."""

    dry_run: bool
    grace_seconds: float
    orphaned: Tally = field(default_factory=Tally)  # unused payloads older than the grace period
    recent: Tally = field(default_factory=Tally)  # payloads within the grace period: never looked at
    collected: Tally = field(default_factory=Tally)  # orphans deleted (a save may have taken one back)
    incomplete: Tally = field(default_factory=Tally)  # half-written uploads removed (or to remove)
    stale_pins: int = 0  # pins left by killed writers, removed

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
