"""Import a directory of parser messages: every `*.json` below it, with progress and a summary.

Each message is saved under its one key besides `user` and `datetime`, its relative paths resolved
against its own directory, where its payload files must be (or in a directory allowed besides). A
bad message is reported with its file's name and the rest go on; a database that cannot be reached
stops the import. Importing the same directory again saves nothing new ("0 new" in the summary) and
stores no extra bytes.

With `jobs` > 1 the messages are saved by that many threads, each with its own `Saver` (its own
database connection), while the calling thread keeps the progress bar, the summary and Ctrl-C.
Threads, not processes: the work is mostly waiting (file reads, hashing and the database, which
release the GIL), and threads measured faster than processes, which also pay their start-up (see
the README). Messages of one snapshot saved by different threads merge: the drivers' save protocol
is safe for concurrent writers of the same snapshot.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from brainstorm.database_drivers import BrainstormError, DatabaseUnavailable

from ._interrupt import Interrupts
from ._saver import Saved, Saver, Status

MESSAGE_PATTERN = "*.json"
_BAR_FORMAT = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} messages [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
_POLL_SECONDS = 0.1
"""How often the calling thread, waiting for the workers, looks whether Ctrl-C asked it to stop."""

AllowedDirs = Sequence[str | os.PathLike[str]]


@dataclass
class ImportSummary:
    """What an import did: counts by outcome, bytes saved, time taken, and whether it was cut short."""

    total: int
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)
    saved_bytes: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    abandoned: list[Path] = field(default_factory=list)  # the messages a second Ctrl-C abandoned
    stopped_by: str | None = None  # why the import stopped early (the database became unavailable)

    def record(self, status: Status) -> None:
        """Count one saved message by what saving it did."""
        setattr(self, status, getattr(self, status) + 1)

    @property
    def done(self) -> int:
        return self.new + self.updated + self.unchanged + len(self.failed)

    def line(self) -> str:
        """`120 messages in 2.1 s (15.9 MB): 120 new, 0 updated, 0 unchanged, 0 failed`."""
        megabytes = self.saved_bytes / 1e6
        counts = f"{self.new} new, {self.updated} updated, {self.unchanged} unchanged, {len(self.failed)} failed"
        of = f"{self.done} of {self.total}" if self.done != self.total else f"{self.total}"
        return f"{of} messages in {self.seconds:.1f} s ({megabytes:.1f} MB): {counts}"


@dataclass(frozen=True)
class _Outcome:
    """What saving one message file did: saved (with its size in bytes, message and payloads), or an error."""

    path: Path
    saved: Saved | None = None
    size: int = 0
    error: str | None = None
    unavailable: bool = False  # the error is the database's, not the message's: stop


class _InFlight:
    """The messages being saved right now, by any thread: what a second Ctrl-C abandons."""

    def __init__(self) -> None:
        self._paths: set[Path] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def saving(self, path: Path) -> Iterator[None]:
        with self._lock:
            self._paths.add(path)
        yield  # not in a finally: a message abandoned by KeyboardInterrupt stays in flight
        with self._lock:
            self._paths.discard(path)

    def paths(self) -> list[Path]:
        with self._lock:
            return sorted(self._paths)


def find_messages(directory: Path) -> list[Path]:
    """Every `*.json` below `directory`, recursively, sorted by path (directories named *.json skipped)."""
    return sorted(path for path in directory.rglob(MESSAGE_PATTERN) if not path.is_dir())


def import_directory(
    saver: Saver,
    directory: Path,
    *,
    progress: bool = True,
    errors: TextIO | None = None,
    allowed_dirs: AllowedDirs = (),
    jobs: int = 1,
) -> ImportSummary:
    """Save every message below `directory`, with a progress bar on `errors` (default: stderr).

    A message's payload files must be in its own directory (or below it) or in one of `allowed_dirs`.
    Per-file errors are reported there with the file's name, collected, and the rest go on.
    `jobs` > 1 saves with that many threads, each connected to `saver.database_url` on its own.

    DatabaseUnavailable stops the import (it would fail every message; `stopped_by` says why). Ctrl-C
    stops it after the current messages (twice: at once, abandoning them); `interrupted` says so. With
    one job an abandoned message is rolled back; with more, the threads saving them cannot be
    interrupted and are left running until the process exits, so each ends saved whole or not at all
    (as when a writer is killed).
    """
    stream = errors if errors is not None else sys.stderr
    messages = find_messages(directory)
    summary = ImportSummary(total=len(messages))
    started = time.monotonic()
    noun = "messages; press Ctrl-C again to abandon them" if jobs > 1 else "message; press Ctrl-C again to abandon it"
    interrupts = Interrupts(f"stopping after the current {noun}")
    in_flight = _InFlight()

    def should_stop() -> bool:
        return interrupts.requested or summary.stopped_by is not None

    with (
        interrupts.deferred(),
        tqdm(
            total=len(messages),
            file=stream,
            disable=not progress,
            unit="msg",
            bar_format=_BAR_FORMAT,
            dynamic_ncols=True,
        ) as bar,
    ):
        if jobs > 1 and len(messages) > 1:
            threads = min(jobs, len(messages))
            outcomes = _in_threads(saver.database_url, messages, allowed_dirs, threads, should_stop, in_flight)
        else:
            outcomes = _in_process(saver, messages, allowed_dirs, should_stop, in_flight)
        try:
            for outcome in outcomes:
                if outcome.unavailable:
                    summary.stopped_by = outcome.error
                    continue
                if outcome.saved is None:
                    summary.failed.append((outcome.path, str(outcome.error)))
                    bar.write(f"error: {outcome.path}: {outcome.error}", file=stream)
                else:
                    summary.record(outcome.saved.status)
                    summary.saved_bytes += outcome.size
                bar.update(1)
                rate = summary.saved_bytes / max(time.monotonic() - started, 1e-9)
                bar.set_postfix_str(
                    f"{tqdm.format_sizeof(summary.saved_bytes, 'B')}, {tqdm.format_sizeof(rate, 'B/s')}", refresh=False
                )
        except KeyboardInterrupt:  # the second Ctrl-C
            summary.abandoned = in_flight.paths()
        summary.interrupted = interrupts.requested
    summary.seconds = time.monotonic() - started
    return summary


def _save_one(saver: Saver, path: Path, allowed_dirs: AllowedDirs) -> _Outcome:
    """Save one message file; its error, if any, as an outcome (KeyboardInterrupt passes)."""
    try:
        data = path.read_bytes()
        saved = saver.save_message(data, base_dir=path.parent, allowed_dirs=allowed_dirs)
    except DatabaseUnavailable as exc:
        return _Outcome(path, error=str(exc), unavailable=True)
    except (BrainstormError, OSError) as exc:
        return _Outcome(path, error=str(exc))
    return _Outcome(path, saved, len(data) + saved.payload_bytes)


def _in_process(
    saver: Saver, messages: list[Path], allowed_dirs: AllowedDirs, should_stop: Callable[[], bool], in_flight: _InFlight
) -> Iterator[_Outcome]:
    """One message after the other, in the calling thread (where a second Ctrl-C interrupts the save)."""
    for path in messages:
        if should_stop():
            return
        with in_flight.saving(path):
            outcome = _save_one(saver, path, allowed_dirs)
        yield outcome


def _in_threads(
    database_url: str,
    messages: list[Path],
    allowed_dirs: AllowedDirs,
    jobs: int,
    should_stop: Callable[[], bool],
    in_flight: _InFlight,
) -> Iterator[_Outcome]:
    """`jobs` daemon threads take the messages in order from a shared queue, each saving with a `Saver`
    of its own (a connection per thread: SQLite's is used by one thread at a time), and report every
    outcome back to this generator, which runs in the calling thread. Once `should_stop()`, no thread
    takes another message, and the outcomes of those in flight still come. A worker that cannot
    connect reports it as the database being unavailable; any other exception (a bug) is raised here,
    as it would be with one job. Daemon threads: after an abandon, a thread still saving must not keep
    the process from exiting."""
    tasks: queue.SimpleQueue[Path] = queue.SimpleQueue()
    for path in messages:
        tasks.put(path)
    outcomes: queue.SimpleQueue[_Outcome | Exception | None] = queue.SimpleQueue()  # None: a worker is done
    stop = threading.Event()

    def work() -> None:
        try:
            with Saver(database_url) as saver:
                while not stop.is_set():
                    try:
                        path = tasks.get_nowait()
                    except queue.Empty:
                        return
                    with in_flight.saving(path):
                        outcome = _save_one(saver, path, allowed_dirs)
                    outcomes.put(outcome)
        except BrainstormError as exc:  # could not connect
            outcomes.put(_Outcome(Path(), error=str(exc), unavailable=True))
        except Exception as exc:  # a bug: raised again in the calling thread
            outcomes.put(exc)
        finally:
            outcomes.put(None)

    for number in range(jobs):
        threading.Thread(target=work, name=f"brainstorm-import-{number}", daemon=True).start()
    running = jobs
    try:
        while running:
            if should_stop():
                stop.set()
            try:
                outcome = outcomes.get(timeout=_POLL_SECONDS)
            except queue.Empty:
                continue
            if outcome is None:
                running -= 1
            elif isinstance(outcome, Exception):
                raise outcome
            else:
                yield outcome
    finally:  # the second Ctrl-C, or the caller stopped reading
        stop.set()
