"""The MongoDB server errors that mean "not done, try again", named in one place, and the one retry policy.

A server that stores documents in PostgreSQL (FerretDB v2 on DocumentDB) aborts one of two conflicting
statements (`deadlock detected`, PostgreSQL's 40P01, or a serialisation failure, 40001); MongoDB answers
a conflict with `WriteConflict` (code 112) or the `TransientTransactionError` label. Both mean the
command was not applied. A duplicate key on an upsert means another writer inserted the document the
upsert was about to insert (MongoDB 4.2+ retries some of those itself, other servers do not): sending the
upsert again updates that document. A duplicate key on a plain insert is an answer, not a fault: an id is
taken, and the caller decides what that means. pymongo's own retryable writes (a network error, a
primary stepping down) stay pymongo's business.

`retried` sends a command again after a transient error, with jittered exponential backoff, for at
most `RETRY_SECONDS`, then raises `DatabaseUnavailable` naming the cause. Every command retried this
way is safe to send twice, because a transient error says the first was not applied; where a command
applies part of its work before failing (an ordered `insert_many`), the caller resumes from what the
server says went in.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pymongo import errors as mongo_errors

from ._errors import DatabaseUnavailable

RETRY_SECONDS = 60.0
"""How long a command is retried while the server keeps reporting conflicts: far longer than any
conflict between a few writers lasts, short enough that an overloaded server is reported."""
FIRST_PAUSE_SECONDS = 0.002
LONGEST_PAUSE_SECONDS = 0.25

WRITE_CONFLICT = 112
DUPLICATE_KEY = 11000
_POSTGRESQL_CONFLICTS = {"40P01": "deadlock detected", "40001": "serialization failure"}
_POSTGRESQL_DUPLICATES = {"23505": "unique violation", "23P01": "exclusion violation"}
"""SQLSTATEs a DocumentDB-based server reports: as the error code (packed as PostgreSQL packs SQLSTATEs,
six bits a character) or, for some statements, only in the message."""

T = TypeVar("T")


class TryAgain(Exception):
    """Raised by an attempt that lost a race it can retry itself (an id another writer took first)."""


def _sqlstate_code(state: str) -> int:
    """The integer PostgreSQL's MAKE_SQLSTATE makes of a SQLSTATE, which DocumentDB reports as the code."""
    return sum(((ord(char) - ord("0")) & 0x3F) << (6 * place) for place, char in enumerate(state))


_CONFLICT_CODES = {WRITE_CONFLICT: "WriteConflict"} | {
    _sqlstate_code(state): name for state, name in _POSTGRESQL_CONFLICTS.items()
}
_DUPLICATE_CODES = {DUPLICATE_KEY: "duplicate key"} | {
    _sqlstate_code(state): name for state, name in _POSTGRESQL_DUPLICATES.items()
}


def transient_cause(error: BaseException, *, upsert: bool = False) -> str | None:
    """Why `error` means "not applied, send it again" (a few words naming it), or None if it does not.
    A duplicate key counts only for an `upsert`."""
    if isinstance(error, TryAgain):
        return str(error)
    if not isinstance(error, mongo_errors.OperationFailure):
        return None
    code, message = _code_and_message(error)
    if error.has_error_label("TransientTransactionError"):
        return f"transient error ({message})"
    if code in _CONFLICT_CODES:
        return _CONFLICT_CODES[code]
    if conflict := next((name for name in _POSTGRESQL_CONFLICTS.values() if name in message), None):
        return conflict  # an InternalError (code 1) carrying PostgreSQL's words
    if upsert and duplicate_key(error):
        return "a concurrent upsert inserted the same key"
    return None


def duplicate_key(error: BaseException) -> bool:
    """Whether `error` says a unique index already holds the key (MongoDB's 11000, or PostgreSQL's unique
    or exclusion violation as a DocumentDB-based server reports it)."""
    if not isinstance(error, mongo_errors.OperationFailure):
        return False
    code, message = _code_and_message(error)
    return code in _DUPLICATE_CODES or "duplicate key" in message or "exclusion constraint" in message


def _code_and_message(error: mongo_errors.OperationFailure) -> tuple[int | None, str]:
    """The error's code and message; for an `insert_many` (BulkWriteError), its first failed document's."""
    if isinstance(error, mongo_errors.BulkWriteError):
        failed = (error.details or {}).get("writeErrors") or [{}]
        return failed[0].get("code"), str(failed[0].get("errmsg", error))
    return error.code, str(error)


def retried(command: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`command(*args, **kwargs)`, sent again after each transient error (an `upsert=True` keyword makes a
    duplicate key one) until it succeeds or `RETRY_SECONDS` have passed; then DatabaseUnavailable."""
    upsert = bool(kwargs.get("upsert"))
    deadline, pause, tries = time.monotonic() + RETRY_SECONDS, FIRST_PAUSE_SECONDS, 0
    while True:
        tries += 1
        try:
            return command(*args, **kwargs)
        except Exception as exc:
            cause = transient_cause(exc, upsert=upsert)
            if cause is None:
                raise
            if time.monotonic() + pause > deadline:
                raise DatabaseUnavailable(
                    f"the MongoDB server kept refusing a write as transient ({cause}) for {RETRY_SECONDS:.0f} s, "
                    f"{tries} tries: too many writers contending for the same documents?"
                ) from None
        time.sleep(random.uniform(0, pause))  # full jitter: contending writers spread out
        pause = min(pause * 2, LONGEST_PAUSE_SECONDS)
