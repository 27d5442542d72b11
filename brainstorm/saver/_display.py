"""What `run` shows: on a terminal, a status line kept up to date (consumed, saved, unchanged, redelivered,
dead-lettered, rate) with events worth a look above it; otherwise one timestamped line per event, for logs."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import TextIO

from ._consumer import QueueStats

_REFRESH_SECONDS = 0.5


class Display:
    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._live = stream.isatty()
        self._stats: QueueStats | None = None
        self._lock = threading.Lock()

    def event(self, line: str) -> None:
        """One thing that happened (from any thread)."""
        if self._live and line.startswith("saved "):
            return  # counted on the status line
        with self._lock:
            if self._live:
                self._stream.write(f"\r\x1b[K{line}\n")
                self._status()
            else:
                stamp = dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
                self._stream.write(f"{stamp} {line}\n")
            self._stream.flush()

    def final(self, line: str) -> None:
        self._stats = None
        self.event(line)

    @contextlib.contextmanager
    def showing(self) -> Iterator[QueueStats]:
        """The stats the consumer fills in; on a terminal, redrawn on the status line meanwhile. The queue
        driver's connection events (logger `brainstorm.mq`) are shown as events too."""
        self._stats = stats = QueueStats()
        handler = _EventHandler(self)
        loggers = logging.getLogger("brainstorm.mq"), logging.getLogger("pika")
        loggers[0].addHandler(handler)
        loggers[0].setLevel(logging.INFO)
        loggers[1].setLevel(logging.CRITICAL)  # pika's own lines repeat ours, in its words
        done = threading.Event()
        ticker = threading.Thread(target=self._tick, args=(done,), daemon=True)
        if self._live:
            ticker.start()
        try:
            yield stats
        finally:
            done.set()
            loggers[0].removeHandler(handler)

    def _tick(self, done: threading.Event) -> None:
        while not done.wait(_REFRESH_SECONDS):
            with self._lock:
                self._status()
                self._stream.flush()

    def _status(self) -> None:
        if self._stats is not None:
            self._stream.write(f"\r\x1b[K{self._stats.line()}")


class _EventHandler(logging.Handler):
    def __init__(self, display: Display) -> None:
        super().__init__()
        self._display = display

    def emit(self, record: logging.LogRecord) -> None:
        self._display.event(record.getMessage())


@contextlib.contextmanager
def stopped_by_signals(stop: threading.Event, abandon: threading.Event) -> Iterator[None]:
    """SIGTERM or Ctrl-C once sets `stop` (finish what is held), again sets `abandon`."""

    def handle(signum: int, frame: FrameType | None) -> None:
        if stop.is_set():
            abandon.set()
            # os.write, not the display: the handler may run while the main thread holds its lock.
            os.write(2, b"\nabandoning the messages in flight: the broker delivers them again\n")
            return
        stop.set()
        os.write(2, b"\nstopping: finishing the messages in flight; press Ctrl-C again to abandon them\n")

    previous = {number: signal.signal(number, handle) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
