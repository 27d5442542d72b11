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
RESERVED_USER_FIELDS = frozenset({"_id"})
"""Not a user's field: MongoDB's document id, which is the user's id in the mongodb driver's user document."""
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
        return _naive_utc(value, field)
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise InvalidType(f"{field} must be a datetime or milliseconds since the epoch, not {type(value).__name__}")
    try:
        return _EPOCH + dt.timedelta(milliseconds=int(value))
    except OverflowError:
        raise InvalidInput(f"{field} {int(value)} ms is outside the years 1-9999") from None


def _naive_utc(value: dt.datetime, field: str) -> dt.datetime:
    """A datetime (or a subclass: pandas' Timestamp, NaT...) as a plain naive UTC datetime at milliseconds.

    Only the fields every datetime has are read, into a plain `datetime`, so a subclass whose own
    methods refuse (NaT, a Timestamp beyond its range) or whose time zone fails is refused here, as
    InvalidInput, and never reaches a database.
    """
    try:
        offset = value.utcoffset()
        plain = dt.datetime(
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond
        )
        if offset is not None and not isinstance(offset, dt.timedelta):
            raise TypeError(f"its utcoffset() is {type(offset).__name__}, not a timedelta")
    except Exception as exc:  # a subclass's or a tzinfo's own code: whatever it raises, the value is unusable
        raise InvalidInput(f"{field} is not a usable datetime ({type(exc).__name__}: {exc})") from None
    try:
        utc = plain if offset is None else plain - offset
    except OverflowError:
        raise InvalidInput(
            f"{field} {plain.isoformat()} at UTC offset {offset} is outside the years 1-9999 in UTC"
        ) from None
    return utc.replace(microsecond=utc.microsecond // 1000 * 1000)


def utc_now() -> dt.datetime:
    """Now, as the drivers keep datetimes: naive UTC."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


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

MAX_NESTING = 90
"""How deep containers (dicts and lists) may nest in a result or a user: a field whose value is
`{'a': [{'b': 1}]}` nests 3 deep. MongoDB refuses documents nested more than 100 levels deep and a
result's fields sit 2 levels down in its record (the record, then its `value`); 90 leaves room for
that and for any driver's own wrapping, and keeps every recursion far from Python's limit."""

MAX_KEYS = 100_000
"""How many keys a result, or the fields of one `save_user`, may hold in all its dicts together.
FerretDB stores and reads 100,000 keys of one document in a second or two, 200,000 in 5 s each way;
records are read whole, so every read of the result would pay that. Lists are not counted: a long
list is cheap to store (and past 4 MiB a result's fields go to GridFS)."""

MAX_DICT_KEYS = 10_000
"""How many keys one dict may hold: FerretDB's time to store a dict grows with the square of its
keys (10,000: 1 s; 30,000: 7 s; 50,000: past its 15 s reply timeout)."""

MAX_PAYLOADS = 20_000
"""How many payloads one result may hold. Each has a description in the result's record (about
220 bytes besides its path), which MongoDB keeps in one document of at most 16 MiB: 20,000 take
4.4 MB, and FerretDB stores and reads them back in a few seconds (150,000 exceed 16 MiB)."""

MAX_PAYLOAD_PATHS = 2 * 1024 * 1024
"""How many bytes the places of a result's payloads may take together (each path's dotted form in
UTF-8, plus 8 bytes per step, about what BSON spends on it). With `MAX_PAYLOADS` descriptions and
the 4 MiB of fields and inline payloads a MongoDB record keeps, a record stays below 11 MB."""

MAX_USER_SIZE = 4 * 1024 * 1024
"""How big the fields of one `save_user` may be, estimated as their stored (JSON or BSON) size: the
UTF-8 bytes of every string and key, plus 16 bytes per value. MongoDB keeps each user field in a
document of at most 16 MiB, and `get_user` reads them all."""

_VALUE_OVERHEAD = 16
"""Bytes a value costs in the size estimate besides its text: type, key or index, number."""


def normalize_tree(
    value: Mapping[str, Any], where: str, blob_hook: BlobHook | None = None, *, max_size: int | None = None
) -> dict[str, Any]:
    """Validate a JSON-like document and return it in stored form.

    Lists (and tuples) become lists, numpy scalars become Python numbers, `-0.0` becomes `0.0`
    (FerretDB keeps no negative zero, so every driver gives back the same number), and datetimes
    become naive UTC at millisecond precision. Values the walk does not know are offered to
    `blob_hook`; a value it does not take, or any value when there is no hook, is refused. A blob's
    place in the returned tree holds None. A container that contains itself, and a document beyond
    the limits above (`max_size`: the estimate of `MAX_USER_SIZE`), are refused, as InvalidInput
    naming the place, before any of it is stored.
    """
    walk = _Walk(where, blob_hook, max_size)
    normalized = walk.mapping(value, ())
    walk.check_size(())
    return normalized


def _place(path: KeyPath) -> str:
    """A path for a message: dotted, shortened in the middle when it is long."""
    text = describe(path) or "top level"
    return text if len(text) <= 120 else f"{text[:60]}...{text[-40:]} ({len(path)} steps)"


class _Walk:
    """One pass over a document: each value validated and converted, and the counts the limits need."""

    def __init__(self, where: str, blob_hook: BlobHook | None, max_size: int | None) -> None:
        self.where = where
        self.blob_hook = blob_hook
        self.max_size = math.inf if max_size is None else max_size
        self.values = self.keys = self.text_bytes = self.payloads = self.payload_paths = 0
        self.open: dict[int, KeyPath] = {}  # the containers on the current path, by id: met again, one holds itself

    def value(self, value: Any, path: KeyPath) -> Any:
        """`value` in stored form; the commonest types are tested first, as this runs on every value."""
        self.values += 1
        if isinstance(value, str):
            return self.text(value, path)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, float | np.floating):  # before Integral: an ABC check costs more, and floats abound
            if not math.isfinite(value):
                raise InvalidInput(f"{self.where}: number at {_place(path)} is {value}; only finite numbers are stored")
            return float(value) + 0.0  # -0.0 + 0.0 is 0.0: one zero on every driver
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, numbers.Integral):
            return self.integer(value, path)
        if isinstance(value, dt.datetime):
            return check_datetime(value, f"{self.where}: datetime at {_place(path)}")
        if isinstance(value, Mapping):
            return self.mapping(value, path)
        if isinstance(value, list | tuple):
            return self.sequence(value, path)
        if self.blob_hook is not None and self.blob_hook(value, path):
            self.payload(path)
            return None
        raise InvalidType(
            f"{self.where}: value at {_place(path)} has unsupported type {type(value).__name__}"
            f"{_HINTS.get(type(value), '')}"
        )

    def text(self, text: str, path: KeyPath) -> str:
        """A string every store holds (UTF-8 without NUL), counted at its UTF-8 size."""
        if "\0" in text or not text.isascii():
            if problem := _text_problem(text):
                raise InvalidInput(f"{self.where}: string at {_place(path)} {problem}")
            self.text_bytes += len(text.encode("utf-8"))
        else:
            self.text_bytes += len(text)
        self.check_size(path)
        return text

    def integer(self, value: numbers.Integral, path: KeyPath) -> int:
        """A Python int that fits in 64 signed bits (what BSON and SQLite store)."""
        if isinstance(value, np.timedelta64):  # numpy counts it as an integer; it is a duration with a unit
            raise InvalidType(
                f"{self.where}: value at {_place(path)} has unsupported type timedelta64{_HINTS[np.timedelta64]}"
            )
        try:
            number = int(value)
        except (TypeError, ValueError, OverflowError) as exc:
            raise InvalidType(f"{self.where}: integer at {_place(path)} has no int value ({exc})") from None
        if not -(2**63) <= number <= MAX_ID:
            raise InvalidInput(f"{self.where}: integer at {_place(path)} does not fit in 64 bits")
        return number

    def mapping(self, value: Mapping[Any, Any], path: KeyPath) -> dict[str, Any]:
        """A dict with valid keys and stored values; its keys count towards the limits."""
        self.enter(value, "dict", path)
        self.count_keys(len(value), path)
        normalized = {}
        for key, item in value.items():
            check_key(key, path, self.where)
            self.text_bytes += len(key) if key.isascii() else len(key.encode("utf-8"))
            normalized[key] = self.value(item, (*path, key))
        del self.open[id(value)]
        return normalized

    def sequence(self, value: list[Any] | tuple[Any, ...], path: KeyPath) -> list[Any]:
        """A list of stored values, none of them directly a list (the contract refuses `[[1, 2]]`)."""
        self.enter(value, "list", path)
        normalized = []
        for index, item in enumerate(value):
            if isinstance(item, list | tuple):
                raise InvalidType(
                    f"{self.where}: list at {_place((*path, index))} is nested directly in a list; "
                    "use a numpy array or wrap it in a dict"
                )
            normalized.append(self.value(item, (*path, index)))
        del self.open[id(value)]
        return normalized

    def count_keys(self, keys: int, path: KeyPath) -> None:
        """Refuse a dict with too many keys, or one that brings the document's keys over the limit."""
        if keys > MAX_DICT_KEYS:
            raise InvalidInput(
                f"{self.where}: dict at {_place(path)} has {keys:,} keys; at most {MAX_DICT_KEYS:,} are stored"
            )
        self.keys += keys
        if self.keys > MAX_KEYS:
            raise InvalidInput(
                f"{self.where} holds more than {MAX_KEYS:,} keys in its dicts (reached at {_place(path)}); "
                "hold many records as numpy arrays, one per column"
            )

    def enter(self, container: object, kind: str, path: KeyPath) -> None:
        """Refuse a container that holds itself, or one nested too deep; else mark it open."""
        if (outer := self.open.get(id(container))) is not None:
            raise InvalidInput(
                f"{self.where}: {kind} at {_place(path)} contains itself (it is the {kind} at {_place(outer)})"
            )
        if len(path) > MAX_NESTING:
            raise InvalidInput(
                f"{self.where}: {kind} at {_place(path)} is nested {len(path)} containers deep; "
                f"at most {MAX_NESTING} levels are stored"
            )
        self.open[id(container)] = path

    def payload(self, path: KeyPath) -> None:
        """Count a payload the hook took, and the bytes its place takes in the result's record."""
        self.payloads += 1
        self.payload_paths += len(describe(path).encode("utf-8", "surrogatepass")) + 8 * len(path)
        if self.payloads > MAX_PAYLOADS:
            raise InvalidInput(
                f"{self.where} holds more than {MAX_PAYLOADS:,} payloads (one more at {_place(path)}); "
                "gather small ones into an array or bytes, or split the result"
            )
        if self.payload_paths > MAX_PAYLOAD_PATHS:
            raise InvalidInput(
                f"{self.where}: the places of its payloads take more than {MAX_PAYLOAD_PATHS:,} bytes "
                f"(reached at {_place(path)}); use shorter keys"
            )

    def check_size(self, path: KeyPath) -> None:
        """Refuse a document whose estimated size has passed `max_size` (none for a result)."""
        size = self.text_bytes + _VALUE_OVERHEAD * self.values
        if size > self.max_size:
            raise InvalidInput(
                f"{self.where} takes more than {self.max_size:,} bytes (estimated; reached at {_place(path)}); "
                "keep large data in a snapshot's results"
            )


_HINTS: dict[type, str] = {
    np.datetime64: "; store a datetime (value.astype('datetime64[ms]').item()), NaT as None",
    np.timedelta64: "; store a number (e.g. seconds: value / numpy.timedelta64(1, 's'))",
    dt.date: "; store a datetime",
    set: "; store a list",
    frozenset: "; store a list",
}
"""What to store instead of a type that is refused, where there is an obvious answer."""


def check_user(user: object) -> tuple[int, dict[str, Any]]:
    """Split a user into its id and its other fields, validated (no blobs in users)."""
    if not isinstance(user, Mapping):
        raise InvalidType(f"user must be a mapping, not {type(user).__name__}")
    if "user_id" not in user:
        raise InvalidInput("user is missing the required field user_id")
    user_id = check_user_id(user["user_id"])
    if reserved := RESERVED_USER_FIELDS & set(user):
        raise InvalidInput(f"user field {min(reserved)!r} is reserved (the user's id is user_id)")
    fields = normalize_tree({k: v for k, v in user.items() if k != "user_id"}, "user", max_size=MAX_USER_SIZE)
    return user_id, fields
