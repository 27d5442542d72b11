"""The app's one driver: connected on first use, shared by every request, closed with the app."""

from __future__ import annotations

import threading
import time

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import DatabaseUnavailable, Driver

RETRY_AFTER_SECONDS = 2
"""After a failed connection, requests are answered 503 at once for this long (and told to come back
then), instead of each waiting out the driver's connection timeout in turn."""


class Connection:
    """A URL connected lazily (the database may come up after the server), or a driver the caller owns."""

    def __init__(self, database: str | Driver) -> None:
        self._url = database if isinstance(database, str) else None
        self._driver = database if isinstance(database, Driver) else None
        self._lock = threading.Lock()
        self._failure: tuple[float, str] | None = None  # when the last attempt failed, and why

    def driver(self) -> Driver:
        """The driver; DatabaseUnavailable while the database cannot be reached."""
        if self._driver is not None:
            return self._driver
        assert self._url is not None
        if self._failure is not None and time.monotonic() - self._failure[0] < RETRY_AFTER_SECONDS:
            raise DatabaseUnavailable(self._failure[1])
        try:
            connected = db_drivers.connect(self._url)  # outside the lock: others need not queue behind it
        except DatabaseUnavailable as exc:
            self._failure = (time.monotonic(), str(exc))
            raise
        with self._lock:
            if self._driver is None:
                self._driver = connected
                return connected
        connected.close()  # another request connected first
        return self._driver

    def close(self) -> None:
        """Close a driver this connection opened (one given by the caller stays the caller's)."""
        with self._lock:
            if self._url is not None and self._driver is not None:
                self._driver.close()
                self._driver = None
