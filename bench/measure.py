"""Measuring: interleaved repetitions, client CPU, commands sent, Python allocation peaks.

Every figure is taken inside one run, variant and baselines alternating repetition by repetition
(the order rotates each time so none always runs first), after a warm-up. A ratio is computed per
repetition from the pair measured back to back and summarised by its median and spread.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pymongo import monitoring


class CommandCounter(monitoring.CommandListener):
    """Counts every command a pymongo client sends (pass it in `event_listeners`)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.total = 0
        self.by_name: Counter[str] = Counter()
        self.recording: list[dict[str, Any]] | None = None  # full command documents, when asked for

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        with self._lock:
            self.total += 1
            self.by_name[event.command_name] += 1
            if self.recording is not None:
                self.recording.append(
                    {"name": event.command_name, "database": event.database_name, "command": dict(event.command)}
                )

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        pass

    failed = succeeded  # type: ignore[assignment]

    def snapshot(self) -> tuple[int, Counter[str]]:
        with self._lock:
            return self.total, Counter(self.by_name)


class Untimed:
    """Time spent checking what was read (hashing), taken out of a sample's wall and CPU time."""

    wall = cpu = 0.0

    def reset(self) -> None:
        self.wall = self.cpu = 0.0

    @contextlib.contextmanager
    def __call__(self) -> Iterator[None]:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall += time.perf_counter() - wall
            self.cpu += time.process_time() - cpu


untimed = Untimed()
"""`with untimed(): digest.update(chunk)` inside an operation: verification is not the operation's cost."""


@dataclass
class Variant:
    """One way of doing a workload's operation: the driver, or a baseline.

    `op()` performs `ops` operations moving `nbytes` payload bytes each; `verify()` (after all
    repetitions) reads back what the variant wrote and raises if it differs.
    """

    name: str
    op: Callable[[], Any]
    ops: int = 1
    nbytes: int = 0
    verify: Callable[[], Any] | None = None
    after: Callable[[], Any] | None = None  # untimed, after every run: check this run's writes, tidy up
    includes: str | None = None
    """Another variant of the case that measures part of this one's work (the sha256 a driver must
    compute): its ratios are also reported with that part's cost, from the same repetition, taken out."""


@dataclass
class Sample:
    wall: float  # seconds per operation
    cpu: float  # client CPU seconds (user + sys of this process) per operation
    cmds: float  # commands sent per operation
    cmds_by_name: dict[str, float] = field(default_factory=dict)


def summary(values: Sequence[float]) -> dict[str, float]:
    """Median and spread (min, max) of a list of figures."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "n": len(values)}


def run_interleaved(
    variants: Sequence[Variant],
    reps: int,
    *,
    warmup: int = 1,
    counter: CommandCounter | None = None,
) -> dict[str, list[Sample]]:
    """Run every variant `warmup` times, then `reps` times interleaved; return each one's samples."""
    samples: dict[str, list[Sample]] = {v.name: [] for v in variants}
    for rep in range(-warmup, reps):
        for variant in [*variants[rep % len(variants) :], *variants[: rep % len(variants)]]:
            sample = _timed(variant, counter)
            if rep >= 0:
                samples[variant.name].append(sample)
            if variant.after:
                variant.after()
    return samples


def _timed(variant: Variant, counter: CommandCounter | None) -> Sample:
    gc.collect()
    gc.disable()
    untimed.reset()
    before = counter.snapshot() if counter else (0, Counter())
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        variant.op()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        gc.enable()
    after = counter.snapshot() if counter else (0, Counter())
    by_name = {k: v / variant.ops for k, v in (after[1] - before[1]).items()}
    ops = variant.ops
    return Sample((wall - untimed.wall) / ops, (cpu - untimed.cpu) / ops, (after[0] - before[0]) / ops, by_name)


def memory_status(field: str, pid: int | str = "self") -> int:
    """A process's /proc status figure in bytes: VmRSS (resident now) or VmHWM (peak resident)."""
    line = next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith(field + ":"))
    return int(line.split()[1]) * 1024


def python_peak(variant: Variant) -> int:
    """Peak bytes of Python-tracked allocations (bytes, arrays, buffers) above the start, in one op.

    A whole-payload copy shows as one payload's worth: peak/payload says how many copies of the
    payload were alive at once. Run outside the timed repetitions (tracemalloc slows everything).
    """
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        variant.op()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if variant.after:
        variant.after()
    return max(0, (peak - start) // max(variant.ops, 1))


def ratios(
    samples: dict[str, list[Sample]], name: str, reference: str, metric: str, less: str | None = None
) -> dict[str, float] | None:
    """`name`'s figure over `reference`'s, repetition by repetition (each pair ran back to back); with
    `less`, that variant's figure from the same repetition is first taken out of `name`'s."""
    if name == reference or name not in samples or reference not in samples:
        return None
    if less is not None and less not in samples:
        return None
    parts = samples[less] if less is not None else [Sample(0.0, 0.0, 0.0)] * len(samples[name])
    pairs = [
        (getattr(a, metric) - getattr(p, metric)) / getattr(b, metric)
        for a, p, b in zip(samples[name], parts, samples[reference], strict=True)
        if getattr(b, metric) > 0
    ]
    return summary(pairs) if pairs else None
