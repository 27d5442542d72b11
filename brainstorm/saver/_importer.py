"""Import a directory of parser messages: every `*.json` below it, with progress and a summary.

Each message is saved under its one key besides `user` and `datetime`, its relative paths resolved
against its own directory, where its payload files must be (or in a directory allowed besides). A
bad message is reported with its file's name and the rest go on; a database that cannot be reached
stops the import. Importing the same directory again saves nothing new ("0 new" in the summary) and
stores no extra bytes.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from tqdm import tqdm

from brainstorm.database_drivers import BrainstormError, DatabaseUnavailable

from ._interrupt import Interrupts
from ._message import load, result_name_of
from ._saver import Saver, Status

MESSAGE_PATTERN = "*.json"
_BAR_FORMAT = "{percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} messages [{elapsed}<{remaining}, {rate_fmt}{postfix}]"


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
    abandoned: Path | None = None  # the message a second Ctrl-C abandoned
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


def find_messages(directory: Path) -> list[Path]:
    """Every `*.json` below `directory`, recursively, sorted by path (directories named *.json skipped)."""
    return sorted(path for path in directory.rglob(MESSAGE_PATTERN) if not path.is_dir())


def import_directory(
    saver: Saver,
    directory: Path,
    *,
    progress: bool = True,
    errors: TextIO | None = None,
    allowed_dirs: Sequence[str | os.PathLike[str]] = (),
) -> ImportSummary:
    """Save every message below `directory`, with a progress bar on `errors` (default: stderr).

    A message's payload files must be in its own directory (or below it) or in one of `allowed_dirs`.
    Per-file errors are reported there with the file's name, collected, and the rest go on.

    DatabaseUnavailable stops the import (it would fail every message; `stopped_by` says why). Ctrl-C
    stops it after the current message (twice: at once, abandoning that message); `interrupted` says so.
    """
    stream = errors if errors is not None else sys.stderr
    messages = find_messages(directory)
    summary = ImportSummary(total=len(messages))
    started = time.monotonic()
    interrupts = Interrupts("stopping after the current message; press Ctrl-C again to abandon it")
    current: Path | None = None
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
        try:
            for path in messages:
                if interrupts.requested:
                    break
                current = path
                try:
                    _import_one(saver, path, summary, allowed_dirs)
                except DatabaseUnavailable as exc:
                    summary.stopped_by = str(exc)
                    break
                except (BrainstormError, OSError) as exc:
                    summary.failed.append((path, str(exc)))
                    bar.write(f"error: {path}: {exc}", file=stream)
                current = None
                bar.update(1)
                rate = summary.saved_bytes / max(time.monotonic() - started, 1e-9)
                bar.set_postfix_str(
                    f"{tqdm.format_sizeof(summary.saved_bytes, 'B')}, {tqdm.format_sizeof(rate, 'B/s')}", refresh=False
                )
        except KeyboardInterrupt:  # the second Ctrl-C
            summary.abandoned = current
        summary.interrupted = interrupts.requested
    summary.seconds = time.monotonic() - started
    return summary


def _import_one(
    saver: Saver, path: Path, summary: ImportSummary, allowed_dirs: Sequence[str | os.PathLike[str]]
) -> None:
    data = path.read_bytes()
    message = load(data)
    saved = saver.save(result_name_of(message), message, base_dir=path.parent, allowed_dirs=allowed_dirs)
    summary.record(saved.status)
    summary.saved_bytes += len(data) + saved.payload_bytes
