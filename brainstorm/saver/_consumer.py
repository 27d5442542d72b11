"""The saver on a message queue: every message saved, then acked; never lost, never looping.

The consuming thread (the queue driver's) hands each delivery to one of `jobs` worker threads, each
with its own `Saver` (its own database connection), and keeps the connection's heartbeats meanwhile.
At most `2 * jobs` messages are held at a time (the prefetch), so a saver that cannot save stops taking
messages by itself. What a worker does with a message:

- saved (new, updated or unchanged): acked, only after `save_message` returned, that is after the
  result is published in the database. A redelivery saves nothing new: saves are idempotent.
- the database unavailable (down, a timeout: transient): tried again with backoff, for up to
  `retry_seconds`, then released to the queue; once the message has had `max_attempts` deliveries
  it is dead-lettered instead. An outage shorter than `retry_seconds` is therefore waited out with the
  messages held, nothing dead-lettered and nothing lost.
- anything else the saver refuses (not JSON, a refused value, a payload file missing or outside the
  allowed directories, a result too big): poison, dead-lettered at once with the reason.

Stopping (`stop`): no new messages; those held are finished, settled, and the consumer closes. A second
request (`abandon`) closes at once: the messages held were not acked, so the broker delivers them again.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from brainstorm.database_drivers import BrainstormError, DatabaseUnavailable
from brainstorm.mq_drivers import Backoff, Delivery, MessageQueue

from ._saver import Saved, Saver

RETRY_SECONDS = 300.0
"""How long one delivery is retried while the database is unavailable, before it goes back to the queue."""
PREFETCH_PER_JOB = 2
"""Messages held per job: one being saved and the next one already here, so that a job never waits for
its ack's round trip to the broker and the next delivery's before it can save again."""
MAX_ATTEMPTS = 5
"""Deliveries a message may fail transiently on before it is dead-lettered (poison goes at once)."""


@dataclass
class QueueStats:
    """What the saver did so far (read by the display; written by the workers under `lock`)."""

    consumed: int = 0
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    redelivered: int = 0
    dead_lettered: int = 0
    retried: int = 0
    saved_bytes: int = 0
    started: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def saved(self) -> int:
        return self.new + self.updated + self.unchanged

    def line(self) -> str:
        """`consumed 120, saved 120 (120 new, 0 updated, 0 unchanged), redelivered 0, dead-lettered 0, 61.2 msg/s`."""
        rate = self.saved / max(time.monotonic() - self.started, 1e-9)
        return (
            f"consumed {self.consumed}, saved {self.saved} ({self.new} new, {self.updated} updated, "
            f"{self.unchanged} unchanged), redelivered {self.redelivered}, dead-lettered {self.dead_lettered}, "
            f"{rate:.1f} msg/s, {self.saved_bytes / 1e6:.1f} MB"
        )


Report = Callable[[str], None]
"""Where one line per event goes (saved, dead-lettered, retrying)."""


@dataclass(frozen=True)
class SavePolicy:
    """What a worker may read, and how long it waits out an unavailable database."""

    base_dir: Path
    allowed_dirs: tuple[Path, ...] = ()
    retry_seconds: float = RETRY_SECONDS
    max_attempts: int = MAX_ATTEMPTS


def consume(
    saver: Saver,
    source: MessageQueue,
    *,
    jobs: int = 1,
    policy: SavePolicy,
    stop: threading.Event,
    abandon: threading.Event,
    report: Report,
    stats: QueueStats | None = None,
) -> QueueStats:
    """Save the messages of `source` until `stop` (finishing those held) or `abandon` (at once).

    `saver` is the first worker's; the others connect to `saver.database_url` themselves.
    """
    stats = stats if stats is not None else QueueStats()
    held: queue.SimpleQueue[Delivery | None] = queue.SimpleQueue()

    def hand_off(delivery: Delivery) -> None:
        with stats.lock:
            stats.consumed += 1
            stats.redelivered += delivery.redelivered
        held.put(delivery)

    workers = [
        threading.Thread(
            target=_work,
            args=(saver if number == 0 else None, saver.database_url, held, policy, stats, report, stop),
            name=f"brainstorm-saver-{number}",
            daemon=True,  # after an abandon, a worker still saving must not keep the process alive
        )
        for number in range(jobs)
    ]
    for worker in workers:
        worker.start()
    try:
        source.consume(hand_off, prefetch=PREFETCH_PER_JOB * jobs, stop=stop, abandon=abandon)
    finally:
        for _ in workers:
            held.put(None)
        if not abandon.is_set():
            for worker in workers:
                worker.join()
    return stats


def _work(
    saver: Saver | None,
    database_url: str,
    held: queue.SimpleQueue[Delivery | None],
    policy: SavePolicy,
    stats: QueueStats,
    report: Report,
    stop: threading.Event,
) -> None:
    """One worker: take held deliveries and settle each (its own `Saver`, made when first needed)."""
    own = saver is None
    try:
        while (delivery := held.get()) is not None:
            saver = _settle(saver, database_url, delivery, policy, stats, report, stop)
    finally:
        if own and saver is not None:
            saver.close()


def _settle(
    saver: Saver | None,
    database_url: str,
    delivery: Delivery,
    policy: SavePolicy,
    stats: QueueStats,
    report: Report,
    stop: threading.Event,
) -> Saver | None:
    """Save one delivery and settle it (see the module's docstring); the worker's saver, made if need be."""
    backoff, deadline = Backoff(), time.monotonic() + policy.retry_seconds
    while True:
        try:
            saver = saver if saver is not None else Saver(database_url)
            saved = saver.save_message(delivery.body, base_dir=policy.base_dir, allowed_dirs=policy.allowed_dirs)
        except DatabaseUnavailable as exc:
            delay = backoff.next()
            if stop.is_set() or time.monotonic() + delay > deadline:
                _give_back(delivery, exc, policy, stats, report)
                return saver
            with stats.lock:
                stats.retried += 1
            report(f"database unavailable ({exc}); trying {_name(delivery)} again in {delay:.1f} s")
            stop.wait(delay)
            continue
        except (BrainstormError, OSError) as exc:  # the message's fault: it can never be saved
            _dead_letter(delivery, str(exc), stats, report)
            return saver
        delivery.ack()
        _count(saved, len(delivery.body), stats)
        report(
            f"saved {saved.result_name} of user {saved.user_id}, snapshot {saved.snapshot_id} ({saved.status})"
            + (f" [delivery {delivery.attempt}]" if delivery.redelivered else "")
        )
        return saver


def _give_back(delivery: Delivery, exc: Exception, policy: SavePolicy, stats: QueueStats, report: Report) -> None:
    """A transient failure outlasted this delivery's retries (or the saver is stopping): back to the queue,
    or to the dead letters once the message has had its deliveries."""
    if delivery.attempt >= policy.max_attempts:
        _dead_letter(
            delivery, f"failed on {delivery.attempt} deliveries, the database unavailable: {exc}", stats, report
        )
        return
    delivery.release()
    report(f"released {_name(delivery)} to the queue (delivery {delivery.attempt}): {exc}")


def _dead_letter(delivery: Delivery, reason: str, stats: QueueStats, report: Report) -> None:
    delivery.dead_letter(reason)
    with stats.lock:
        stats.dead_lettered += 1
    report(f"dead-lettered {_name(delivery)}: {reason}")


def _count(saved: Saved, message_bytes: int, stats: QueueStats) -> None:
    with stats.lock:
        setattr(stats, saved.status, getattr(stats, saved.status) + 1)
        stats.saved_bytes += message_bytes + saved.payload_bytes


def _name(delivery: Delivery) -> str:
    return f"a message with routing key {delivery.routing_key!r}"
