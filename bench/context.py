"""What every workload shares: the run's settings, the server, listeners, and how figures become rows."""

from __future__ import annotations

import datetime as dt
import itertools
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .indexes import QueryRecorder
from .measure import CommandCounter, Sample, Variant, python_peak, ratios, run_interleaved, summary

USER = 42
_EPOCH = dt.datetime(2024, 1, 1)
_clock = itertools.count()


def next_datetime() -> dt.datetime:
    """A datetime no save in this run has used (snapshots are keyed by user and datetime)."""
    return _EPOCH + dt.timedelta(seconds=next(_clock))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@dataclass
class Context:
    quick: bool
    tmp: Path
    server_url: str | None
    counter: CommandCounter = field(default_factory=CommandCounter)
    recorder: QueryRecorder = field(default_factory=QueryRecorder)
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    _client: Any = None

    # MongoDB --------------------------------------------------------------------------------------

    def client(self) -> Any:
        """The raw pymongo client of the baselines (same command counter as the driver's)."""
        if self._client is None:
            import pymongo

            assert self.server_url, "no MongoDB server"
            self._client = pymongo.MongoClient(
                self.server_url, event_listeners=[self.counter], tz_aware=False, serverSelectionTimeoutMS=5000
            )
        return self._client

    def mongo_driver(self, database: str, **options: Any) -> Any:
        import brainstorm.database_drivers as db_drivers

        assert self.server_url, "no MongoDB server"
        listeners = {"event_listeners": [self.counter, self.recorder]}
        return db_drivers.connect(with_database(self.server_url, database), client_options=listeners, **options)

    def drop(self, database: str) -> None:
        self.client().drop_database(database)

    # SQLite ---------------------------------------------------------------------------------------

    def sqlite_driver(self, name: str) -> Any:
        import brainstorm.database_drivers as db_drivers

        return db_drivers.connect(f"sqlite:///{self.tmp / name}")

    # Running and recording ------------------------------------------------------------------------

    def run_case(
        self,
        workload: str,
        database: str,
        case: str,
        build: Callable[[], tuple[Sequence[Variant], str, Callable[[], None]]],
        *,
        reps: int,
        warmup: int = 1,
        peaks: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, list[Sample]] | None:
        """Build the variants, run them interleaved, verify them, record one row per variant.

        `build()` returns (variants, name of the reference baseline, cleanup). A failure (a variant
        that did not read back what it wrote, say) is recorded and the run goes on.
        """
        label = f"{workload} / {database} / {case}"
        print(f"  {label} ...", flush=True)

        def cleanup() -> None:
            pass

        try:
            variants, reference, cleanup = build()
            samples = run_interleaved(variants, reps, warmup=warmup, counter=self.counter)
            for variant in variants:
                if variant.verify:
                    variant.verify()
            peak = {v.name: python_peak(v) for v in variants} if peaks else {}
        except Exception as exc:  # recorded, reported, and the run's exit status says so
            self.failures.append(f"{label}: {exc!r}")
            traceback.print_exc()
            self.rows.append(
                {"workload": workload, "db": database, "case": case, "variant": "(failed)", "error": repr(exc)}
            )
            return None
        finally:
            try:
                cleanup()
            except Exception as exc:
                self.notes.append(f"cleanup of {label} failed: {exc!r}")
        for variant in variants:
            mine = samples[variant.name]
            wall = summary([s.wall for s in mine])
            cpu = summary([s.cpu for s in mine])
            row = {
                "workload": workload,
                "db": database,
                "case": case,
                "variant": variant.name,
                "reference": reference,
                "note": variant.note,
                "ops_per_sample": variant.ops,
                "bytes_per_op": variant.nbytes,
                "wall_s": wall,
                "cpu_s": cpu,
                "cmds_per_op": summary([s.cmds for s in mine]),
                "cmds_by_name": mine[-1].cmds_by_name,
                "ratio_cpu": ratios(samples, variant.name, reference, "cpu"),
                "ratio_wall": ratios(samples, variant.name, reference, "wall"),
                "includes": variant.includes,
                "ratio_cpu_less_included": ratios(samples, variant.name, reference, "cpu", less=variant.includes)
                if variant.includes
                else None,
                "ratio_wall_less_included": ratios(samples, variant.name, reference, "wall", less=variant.includes)
                if variant.includes
                else None,
                "python_peak_bytes": peak.get(variant.name),
                "verified": bool(variant.after or variant.verify),  # a failed check fails the whole case
                "samples": [{"wall": s.wall, "cpu": s.cpu, "cmds": s.cmds} for s in mine],
                **(extra or {}),
            }
            if variant.nbytes:
                row["mb_per_s_wall"] = variant.nbytes / wall["median"] / 1e6 if wall["median"] > 0 else None
                row["mb_per_cpu_s"] = variant.nbytes / cpu["median"] / 1e6 if cpu["median"] > 0 else None
            self.rows.append(row)
        return samples
