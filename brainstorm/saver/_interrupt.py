"""Ctrl-C while saving: the first press lets the current message finish, a second one abandons it.

Either way no result is left half-visible (the drivers publish each snapshot's results atomically);
the caller stops before the next message and exits with status 130.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator
from types import FrameType


class Interrupts:
    """Records Ctrl-C instead of raising at once, while `deferred()` is active in the main thread."""

    def __init__(self, notice: str = "finishing the current message; press Ctrl-C again to abandon it") -> None:
        self.requested = False
        self._notice = notice

    @contextlib.contextmanager
    def deferred(self) -> Iterator[Interrupts]:
        """Catch SIGINT for the duration (outside the main thread, Ctrl-C keeps its default behaviour)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGINT, self._handle)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        # os.write, not print: the handler may run while the main thread is inside a write to stderr.
        os.write(2, f"\ninterrupted: {self._notice}\n".encode())
