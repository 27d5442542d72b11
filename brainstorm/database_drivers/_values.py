"""Validation and normalisation of everything a caller hands a driver: ids, datetimes, names, values.

Every driver calls these before it touches its database, so bad input fails the same way everywhere
and before anything is written. Nothing here performs I/O.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ._errors import InvalidInput, InvalidType

MAX_ID = 2**63 - 1
"""Largest user or snapshot id: ids are stored as signed 64-bit integers."""

RESERVED_RESULT_NAMES = frozenset({"user_id", "datetime", "snapshot_id", "available_results"})
_RESULT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
_EPOCH = dt.datetime(1970, 1, 1)

KeyPath = tuple[str | int, ...]
"""Where a value sits inside a result: keys of dicts and indices of lists, from the top."""


def describe(path: KeyPath) -> str:
    """A path as users write it: keys and list indices joined by dots (keys cannot hold dots)."""
    return ".".join(str(step) for step in path)


def check_id(value: object, field: str, *, minimum: int = 0) -> int:
    """Return `value` as an int id, refusing anything that is not an integer in [minimum, 2**63)."""
    if type(value) is not int and (isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral)):
        raise InvalidType(f"{field} must be an integer, not {type(value).__name__} {value!r:.80}")
    number = int(value)
    if not minimum <= number <= MAX_ID:
        raise InvalidInput(f"{field} must be between {minimum} and 2**63 - 1, not {number}")
    return number


def check_user_id(value: object) -> int:
    """A user id: an integer, 0 <= id < 2**63."""
    return check_id(value, "user_id")


def check_snapshot_id(value: object) -> int:
    """A snapshot id: a positive integer below 2**63 (ids are numbered from 1)."""
    return check_id(value, "snapshot_id", minimum=1)


def check_datetime(value: object, field: str = "datetime") -> dt.datetime:
    """Return a naive UTC datetime truncated to milliseconds, the form every driver stores.

    Accepts a `datetime` (naive is taken as UTC, aware is converted) or an integer of milliseconds
    since the epoch.
    """
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None and value.utcoffset() is not None:
            try:
                value = value.astimezone(dt.UTC)
            except OverflowError:
                raise InvalidInput(f"{field} {value.isoformat()} is outside the years 1-9999 in UTC") from None
        value = value.replace(tzinfo=None)
        return value.replace(microsecond=value.microsecond // 1000 * 1000)
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise InvalidType(f"{field} must be a datetime or milliseconds since the epoch, not {type(value).__name__}")
    try:
        return _EPOCH + dt.timedelta(milliseconds=int(value))
    except OverflowError:
        raise InvalidInput(f"{field} {int(value)} ms is outside the years 1-9999") from None


def datetime_to_millis(value: dt.datetime) -> int:
    """Milliseconds since the epoch of a naive UTC datetime (the inverse of `check_datetime`)."""
    return (value - _EPOCH) // dt.timedelta(milliseconds=1)


def check_result_name(name: object) -> str:
    """A result name: `[A-Za-z][A-Za-z0-9_-]{0,63}` and not one of the snapshot's own fields."""
    if not isinstance(name, str):
        raise InvalidType(f"result name must be a string, not {type(name).__name__}")
    if not _RESULT_NAME.fullmatch(name):
        raise InvalidInput(f"result name {name!r:.80} must match [A-Za-z][A-Za-z0-9_-]{{0,63}}")
    if name in RESERVED_RESULT_NAMES:
        raise InvalidInput(f"result name {name!r} is reserved")
    return name


def check_key(key: object, path: KeyPath, where: str) -> str:
    """A key inside a result or user: a non-empty string without '.', a leading '$' or NUL."""
    if not isinstance(key, str):
        raise InvalidType(f"{where}: key {key!r:.80} at {describe(path) or 'top level'} must be a string")
    if problem := _text_problem(key):
        raise InvalidInput(f"{where}: key {key!r:.80} at {describe(path) or 'top level'} {problem}")
    if not key or "." in key or key.startswith("$"):
        raise InvalidInput(
            f"{where}: key {key!r:.80} at {describe(path) or 'top level'} must be non-empty "
            "and contain no '.', no NUL and no leading '$'"
        )
    return key


def _text_problem(text: str) -> str | None:
    """Why a string cannot be stored (every store holds valid UTF-8 without NUL), or None.

    Messages are built by the caller only when there is a problem: this runs on every key and string.
    """
    if "\0" in text:
        return "contains NUL"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode (it holds a lone surrogate)"
    return None


BlobHook = Callable[[Any, KeyPath], bool]
"""Called on every value the tree walk does not know; returns True when it took the value as a blob."""


def normalize_tree(value: Mapping[str, Any], where: str, blob_hook: BlobHook | None = None) -> dict[str, Any]:
    """Validate a JSON-like document and return it in stored form.

    Lists (and tuples) become lists, numpy scalars become Python numbers, datetimes become naive UTC
    at millisecond precision. Values the walk does not know are offered to `blob_hook`; a value it
    does not take, or any value when there is no hook, is refused. A blob's place in the returned
    tree holds None.
    """
    normalized: dict[str, Any] = _normalize(value, (), where, blob_hook)
    return normalized


def _normalize(value: Any, path: KeyPath, where: str, blob_hook: BlobHook | None) -> Any:
    if isinstance(value, str):
        if problem := _text_problem(value):
            raise InvalidInput(f"{where}: string at {describe(path) or 'top level'} {problem}")
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, float | np.floating):  # before Integral: an ABC check costs more, and floats abound
        if not math.isfinite(value):
            raise InvalidInput(f"{where}: number at {describe(path)} is {value}; only finite numbers are stored")
        return float(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, numbers.Integral):
        number = int(value)
        if not -(2**63) <= number <= MAX_ID:
            raise InvalidInput(f"{where}: integer at {describe(path)} does not fit in 64 bits")
        return number
    if isinstance(value, dt.datetime):
        return check_datetime(value, f"{where}: datetime at {describe(path)}")
    if isinstance(value, Mapping):
        return {
            check_key(key, path, where): _normalize(item, (*path, key), where, blob_hook) for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [_normalize_item(item, (*path, index), where, blob_hook) for index, item in enumerate(value)]
    if blob_hook is not None and blob_hook(value, path):
        return None
    raise InvalidType(f"{where}: value at {describe(path) or 'top level'} has unsupported type {type(value).__name__}")


def _normalize_item(item: Any, path: KeyPath, where: str, blob_hook: BlobHook | None) -> Any:
    if isinstance(item, list | tuple):
        raise InvalidType(
            f"{where}: list at {describe(path)} is nested directly in a list; use a numpy array or wrap it in a dict"
        )
    return _normalize(item, path, where, blob_hook)


def check_user(user: object) -> tuple[int, dict[str, Any]]:
    """Split a user into its id and its other fields, validated (no blobs in users)."""
    if not isinstance(user, Mapping):
        raise InvalidType(f"user must be a mapping, not {type(user).__name__}")
    if "user_id" not in user:
        raise InvalidInput("user is missing the required field user_id")
    user_id = check_user_id(user["user_id"])
    fields = normalize_tree({k: v for k, v in user.items() if k != "user_id"}, "user")
    return user_id, fields
