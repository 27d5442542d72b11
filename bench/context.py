"""What every workload shares: the run's settings, the servers, listeners, and how figures become rows."""

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
_clock = itertools.count()


def next_datetime() -> dt.datetime:
    """A datetime no save in this run has used (snapshots are keyed by user and datetime)."""
    return dt.datetime(2024, 1, 1) + dt.timedelta(seconds=next(_clock))


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, parts.fragment))


@dataclass
class Context:
    quick: bool
    tmp: Path
    server_url: str | None
    server_version: str = ""  # the MongoDB server's, as the report names it
    counter: CommandCounter = field(default_factory=CommandCounter)
    recorder: QueryRecorder = field(default_factory=QueryRecorder)
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, url: str | None = None) -> Any:
        """A raw pymongo client of the baselines (the same command counter as the driver's)."""
        url = url or self.server_url
        if url not in self.clients:
            import pymongo

            assert url, "no MongoDB server"
            self.clients[url] = pymongo.MongoClient(
                url, event_listeners=[self.counter], tz_aware=False, serverSelectionTimeoutMS=5000
            )
        return self.clients[url]

    def mongo_driver(self, database: str, **options: Any) -> Any:
        """The mongodb driver on `database` (with `options`, such as `chunk_size`), its commands counted
        and its queries checked for index use."""
        import brainstorm.database_drivers as db_drivers

        assert self.server_url, "no MongoDB server"
        listeners = {"event_listeners": [self.counter, self.recorder]}
        return db_drivers.connect(with_database(self.server_url, database), client_options=listeners, **options)

    def sqlite_driver(self, name: str) -> Any:
        import brainstorm.database_drivers as db_drivers

        return db_drivers.connect(f"sqlite:///{self.tmp / name}")

    def drop(self, database: str) -> None:
        self.client().drop_database(database)

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def run_case(
        self,
        workload: str,
        db: str,
        case: str,
        build: Callable[[], tuple[Sequence[Variant], str, Callable[[], Any] | None]],
        *,
        reps: int,
        warmup: int = 1,
        peaks: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, list[Sample]] | None:
        """Build the variants, run them interleaved, check them, record one row per variant.

        `build()` returns (variants, name of the reference, cleanup or None). A failure (a variant that
        did not read back what it wrote, say) is recorded as a failed row and the run goes on.
        """
        label = f"{workload} / {db} / {case}"
        print(f"  {label} ...", flush=True)
        cleanup: Callable[[], Any] | None = None
        try:
            variants, reference, cleanup = build()
            samples = run_interleaved(variants, reps, warmup=warmup, counter=self.counter)
            for v in variants:
                if v.verify:
                    v.verify()
            peak = {v.name: python_peak(v) for v in variants} if peaks else {}
        except Exception as exc:  # recorded, reported, and the run's exit status says so
            self.failures.append(f"{label}: {exc!r}")
            traceback.print_exc()
            self.rows.append({"workload": workload, "db": db, "case": case, "variant": "(failed)", "error": repr(exc)})
            return None
        finally:
            if cleanup:
                cleanup()
        for v in variants:
            mine = samples[v.name]
            row = self.add_row(
                workload, db, case, v.name, [(s.wall, s.cpu) for s in mine], None, reference, nbytes=v.nbytes
            )
            for metric in ("cpu", "wall"):
                row[f"ratio_{metric}"] = ratios(samples, v.name, reference, metric)
                if v.includes:
                    row[f"ratio_{metric}_less_included"] = ratios(samples, v.name, reference, metric, less=v.includes)
            row.update(
                cmds_per_op=summary([s.cmds for s in mine]),
                cmds_by_name=mine[-1].cmds_by_name,
                includes=v.includes,
                python_peak_bytes=peak.get(v.name),
                **(extra or {}),
            )
        return samples

    def add_row(
        self,
        workload: str,
        db: str,
        case: str,
        variant: str,
        runs: Sequence[tuple[float, float]],
        reference_runs: Sequence[tuple[float, float]] | None,
        reference: str,
        nbytes: int = 0,
        **extra: Any,
    ) -> dict[str, Any]:
        """A row of (wall, CPU) seconds per operation, one pair per repetition; with `reference_runs`,
        the ratios to them, repetition by repetition. Every figure recorded was checked (`verified`)."""
        wall, cpu = summary([w for w, _ in runs]), summary([c for _, c in runs])
        row: dict[str, Any] = {
            "workload": workload,
            "db": db,
            "case": case,
            "variant": variant,
            "reference": reference,
            "bytes_per_op": nbytes,
            "wall_s": wall,
            "cpu_s": cpu,
            "verified": True,
            "samples": [{"wall": w, "cpu": c} for w, c in runs],
            "mb_per_s_wall": nbytes / wall["median"] / 1e6 if nbytes and wall["median"] > 0 else None,
            "mb_per_cpu_s": nbytes / cpu["median"] / 1e6 if nbytes and cpu["median"] > 0 else None,
            **extra,
        }
        if reference_runs and variant != reference:
            for i, metric in enumerate(("wall", "cpu")):
                pairs = [a[i] / b[i] for a, b in zip(runs, reference_runs, strict=False) if b[i] > 0]
                row[f"ratio_{metric}"] = summary(pairs) if pairs else None
        self.rows.append(row)
        return row
