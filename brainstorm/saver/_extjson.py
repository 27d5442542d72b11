"""MongoDB Extended JSON (v2 canonical and relaxed, plus the legacy forms) decoded to plain values.

Parsers may publish messages with `bson.json_util.dumps`, so dates and binary can travel in JSON. We
decode the subset a result can hold ourselves, rather than with `bson.json_util`, for two reasons:
the embedded (SQLite) setup must not need pymongo, and one decoder gives the same values whether or
not pymongo is installed (`json_util` returns bson types, such as `ObjectId` or `Int64`, the drivers
may treat differently). The tests check that everything `json_util.dumps` writes for these types in
its canonical, relaxed and legacy modes decodes to the same values.

Decoded:
- `{"$date": "2019-12-04T10:08:07.339Z"}`, `{"$date": {"$numberLong": "..."}}`, `{"$date": 1575454087339}`
  -> an aware UTC `datetime` (the drivers store naive UTC at millisecond precision);
- `{"$binary": {"base64": ..., "subType": ...}}` and legacy `{"$binary": ..., "$type": ...}` -> `bytes`
  (any subtype: the bytes are kept, the subtype is not), which a result stores as a payload;
- `{"$numberInt": "..."}`, `{"$numberLong": "..."}` -> `int`; `{"$numberDouble": "..."}` -> `float`
  (`"NaN"` and `"Infinity"` decode, and are then refused by the drivers, which store finite numbers only).

Types a result cannot hold (`$oid`, `$numberDecimal`, `$regularExpression`, `$timestamp`...) are refused
by name with `InvalidType`; malformed wrappers with `InvalidInput`. Any other object is left as it is.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from collections.abc import Mapping
from typing import Any

from brainstorm.database_drivers import InvalidInput, InvalidType

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_INTEGER = re.compile(r"-?\d+")
MAX_DEPTH = 100
"""How deep a message's arrays and objects may nest: MongoDB's own document limit, above the drivers'
(90 inside a result or a user), whose more precise refusals therefore still show for what lies between."""
_STRINGS = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)  # possessive: linear, no backtracking
_BRACKETS = re.compile(rb"[\[\]{}]")
_UNSUPPORTED = frozenset(
    {
        "$oid",
        "$symbol",
        "$code",
        "$scope",
        "$timestamp",
        "$regularExpression",
        "$regex",
        "$options",
        "$dbPointer",
        "$ref",
        "$minKey",
        "$maxKey",
        "$undefined",
        "$numberDecimal",
        "$uuid",
    }
)


def loads(text: str | bytes | bytearray) -> Any:
    """Parse JSON text, decoding Extended JSON wrappers; InvalidInput if it is not JSON or nests too deep."""
    try:
        _check_depth(text)
        return json.loads(text, object_hook=_decode_object)
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"not valid JSON: {exc}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not valid JSON: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def decode(value: Any, depth: int = 0) -> Any:
    """A copy of an already-parsed tree with its Extended JSON wrappers decoded (other values kept);
    InvalidInput if it nests deeper than `MAX_DEPTH` (a tree that holds itself does)."""
    if isinstance(value, Mapping | list | tuple) and depth >= MAX_DEPTH:
        raise _too_deep()
    if isinstance(value, Mapping):
        return _decode_object({key: decode(item, depth + 1) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return [decode(item, depth + 1) for item in value]
    return value


def _check_depth(text: str | bytes | bytearray) -> None:
    """Refuse text whose arrays and objects nest deeper than `MAX_DEPTH`, before the parser recurses into
    them (5,000 levels overflow Python's stack inside `json.loads`)."""
    if isinstance(text, str):
        text = text.encode("utf-8", "surrogatepass")
    if text.count(b"[") + text.count(b"{") <= MAX_DEPTH:  # the common case, at C speed
        return
    depth = 0
    for bracket in _BRACKETS.finditer(_STRINGS.sub(b"", text)):  # strings may hold brackets: gone first
        depth += 1 if bracket.group() in (b"[", b"{") else -1
        if depth > MAX_DEPTH:
            raise _too_deep()


def _too_deep() -> InvalidInput:
    return InvalidInput(f"the message nests arrays and objects more than {MAX_DEPTH} levels deep")


def _decode_object(obj: dict[str, Any]) -> Any:
    """`json.loads`' object hook: inner objects are decoded before the objects that hold them."""
    keys = set(obj)
    if len(keys) == 1:
        (key,) = keys
        decoder = _DECODERS.get(key)
        if decoder is not None:
            return decoder(obj[key])
    if keys == {"$binary", "$type"}:
        return _binary_bytes(obj["$binary"], obj["$type"])
    if unsupported := sorted(keys & _UNSUPPORTED):
        raise InvalidType(f"Extended JSON {unsupported[0]} values cannot be stored (only dates, binary and numbers)")
    return obj


def _number_int(value: Any) -> int:
    return _integer(value, "$numberInt", bits=32)


def _number_long(value: Any) -> int:
    return _integer(value, "$numberLong", bits=64)


def _integer(value: Any, wrapper: str, *, bits: int) -> int:
    if not isinstance(value, str) or not _INTEGER.fullmatch(value):
        raise InvalidInput(f"Extended JSON {{{wrapper!r}: {value!r:.40}}} must hold an integer as a string")
    number = int(value)
    if not -(2 ** (bits - 1)) <= number < 2 ** (bits - 1):
        raise InvalidInput(f"Extended JSON {wrapper} {value} does not fit in {bits} bits")
    return number


def _number_double(value: Any) -> float:
    if not isinstance(value, str):
        raise InvalidInput(f"Extended JSON {{'$numberDouble': {value!r:.40}}} must hold a number as a string")
    try:
        return float(value)
    except ValueError:
        raise InvalidInput(f"Extended JSON $numberDouble {value!r:.40} is not a number") from None


def _date(value: Any) -> dt.datetime:
    if isinstance(value, int) and not isinstance(value, bool):  # canonical ({"$numberLong"} is decoded first) or legacy
        try:
            return _EPOCH + dt.timedelta(milliseconds=value)
        except OverflowError:
            raise InvalidInput(f"Extended JSON $date {value} ms is outside the years 1-9999") from None
    if isinstance(value, str):  # relaxed: ISO-8601
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            raise InvalidInput(f"Extended JSON $date {value!r:.40} is not an ISO-8601 date") from None
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    raise InvalidInput(f"Extended JSON $date must hold milliseconds or an ISO-8601 string, not {value!r:.40}")


def _binary(value: Any) -> bytes:
    if not isinstance(value, Mapping) or set(value) != {"base64", "subType"}:
        raise InvalidInput('Extended JSON $binary must be {"base64": ..., "subType": ...}')
    return _binary_bytes(value["base64"], value["subType"])


def _binary_bytes(encoded: Any, subtype: Any) -> bytes:
    if not isinstance(encoded, str) or not isinstance(subtype, str):
        raise InvalidInput("Extended JSON $binary must hold its base64 and subtype as strings")
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise InvalidInput(f"Extended JSON $binary {encoded!r:.40} is not valid base64") from None


_DECODERS = {
    "$numberInt": _number_int,
    "$numberLong": _number_long,
    "$numberDouble": _number_double,
    "$date": _date,
    "$binary": _binary,
}
