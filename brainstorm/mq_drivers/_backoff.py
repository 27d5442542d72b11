"""Exponential backoff with jitter: how long to wait before trying again (a broker, a database)."""

from __future__ import annotations

import random

FIRST_SECONDS = 0.5
LONGEST_SECONDS = 30.0


class Backoff:
    """Delays that double from `first` up to `longest`, each drawn from its upper half (so that many
    savers cut off at once do not come back at once), until `reset` after a success."""

    def __init__(self, first: float = FIRST_SECONDS, longest: float = LONGEST_SECONDS) -> None:
        self._first, self._longest = first, longest
        self._next = first

    def next(self) -> float:
        delay = self._next
        self._next = min(2 * self._next, self._longest)
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self._next = self._first
