"""The exceptions every driver raises, so callers catch one family whatever the database."""

from __future__ import annotations


class BrainstormError(Exception):
    """Base of every error raised by `brainstorm.database_drivers`."""


class InvalidInput(BrainstormError, ValueError):
    """A value has the right type but is not acceptable (out of range, bad name, bad key...)."""


class InvalidType(BrainstormError, TypeError):
    """A value has a type the contract does not accept (a set, an arbitrary object, `'1'` as an id...)."""


class UnknownDriver(BrainstormError, KeyError):
    """No driver is registered under that name or URL scheme."""

    def __str__(self) -> str:  # KeyError quotes its argument; a message should read as a sentence.
        return str(self.args[0]) if self.args else ""


class DriverUnavailable(BrainstormError, ImportError):
    """A driver exists but an optional dependency it needs is not installed."""


class DatabaseUnavailable(BrainstormError, ConnectionError):
    """The database could not be reached or opened (server down, bad path, refused login)."""


class BlobMissing(BrainstormError, LookupError):
    """A result refers to a blob that is no longer in the blob store (deleted behind our back)."""


class BlobCorrupt(BrainstormError, OSError):
    """A blob's stored bytes are not the ones its result describes (length, chunk sizes or sha256)."""


class SnapshotConflict(BrainstormError, ValueError):
    """A snapshot placed at a given id (`save_snapshot(..., snapshot_id=...)`, as a copy does) meets another
    snapshot: that id at another datetime, or that datetime under another id. Never overwritten."""


class UnsupportedLayout(BrainstormError):
    """The database's layout is not the one this version of brainstorm writes: an older one (run
    `brainstorm migrate`; reading it keeps working meanwhile) or a newer one (upgrade brainstorm)."""
