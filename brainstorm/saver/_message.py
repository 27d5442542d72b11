"""One parser message: decoded, checked, and split into the user and the result it carries.

A message is a JSON object (Extended JSON accepted) or an already-parsed mapping:

    {"user": {"user_id": 42, "username": "Dan Gittik", "birthday": 699753600, "gender": "m"},
     "datetime": 1575454087339,
     "pose": {...}}

`birthday` is in seconds since the epoch and is stored as a datetime; `datetime` is in milliseconds
since the epoch. Everything is checked here, before a single byte is written, so that a bad message
leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# The drivers' own validation (check_*), so that a message is refused exactly as a driver would refuse
# it, but before anything is saved (the saver writes the snapshot first and the user second).
from brainstorm.database_drivers import InvalidInput, InvalidType, check_datetime, check_result_name, check_user

from . import _extjson

USER, DATETIME = "user", "datetime"
_EPOCH = dt.datetime(1970, 1, 1)

MessageData = str | bytes | bytearray | Mapping[str, Any]
"""What `Saver.save` takes: JSON text (str or bytes) or an already-parsed mapping."""


@dataclass
class Message:
    """A checked message: the user's fields (birthday as a datetime), the snapshot's time, the result."""

    user: dict[str, Any]
    user_id: int
    datetime: dt.datetime
    result_name: str
    result: Any


def load(data: MessageData) -> dict[str, Any]:
    """The message as a dict with Extended JSON decoded; InvalidInput/InvalidType if it is not one."""
    if isinstance(data, str | bytes | bytearray):
        decoded = _extjson.loads(data)
    elif isinstance(data, Mapping):
        decoded = _extjson.decode(data)
    else:
        raise InvalidType(f"a message must be JSON text or a mapping, not {type(data).__name__}")
    if not isinstance(decoded, dict):
        raise InvalidType(f"a message must be a JSON object, not {_json_type(decoded)}")
    return decoded


def result_name_of(message: Mapping[str, Any]) -> str:
    """The one key of a message besides `user` and `datetime`: the name of the result it carries."""
    names = [key for key in message if key not in (USER, DATETIME)]
    if len(names) != 1:
        found = f"holds {', '.join(map(repr, names))}" if names else "holds none"
        raise InvalidInput(f"a message carries one result besides user and datetime; this one {found}")
    return str(names[0])


def check(message: Mapping[str, Any], result_name: str) -> Message:
    """Check a loaded message and extract what the saver writes (the result's payloads not yet opened)."""
    if result_name in (USER, DATETIME):
        raise InvalidInput(f"{result_name!r} is a field of every message, not the name of a result")
    check_result_name(result_name)
    for required in (USER, DATETIME):
        if required not in message:
            raise InvalidInput(f"the message has no {required!r} field")
    if result_name not in message:
        present = ", ".join(repr(key) for key in message if key not in (USER, DATETIME)) or "none"
        raise InvalidInput(f"the message has no result {result_name!r} (results in it: {present})")
    result_name_of(message)  # and no other: a message carries one result, on every path
    user = message[USER]
    if not isinstance(user, Mapping):
        raise InvalidType(f"the message's user must be an object, not {_json_type(user)}")
    user = dict(user)
    if "birthday" in user:
        user["birthday"] = _birthday(user["birthday"])
    user_id, _ = check_user(user)
    when = _datetime(message[DATETIME])
    return Message(user=user, user_id=user_id, datetime=when, result_name=result_name, result=message[result_name])


def _datetime(value: Any) -> dt.datetime:
    """The snapshot's time: milliseconds since the epoch, or an Extended JSON date (decoded by now)."""
    if isinstance(value, str):
        raise InvalidType(
            f"datetime must be milliseconds since the epoch or an Extended JSON date, not the string {value!r:.40}; "
            'write 1575454087339 or {"$date": "2019-12-04T10:08:07.339Z"}'
        )
    return check_datetime(value)


def _birthday(value: Any) -> Any:
    """Seconds since the epoch -> naive UTC datetime; a datetime (Extended JSON $date) or None is kept."""
    if value is None or isinstance(value, dt.datetime):
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidType(f"user.birthday must be seconds since the epoch, not {_json_type(value)} {value!r:.40}")
    seconds = int(value) if isinstance(value, numbers.Integral) else float(value)
    if not math.isfinite(seconds):
        raise InvalidInput(f"user.birthday must be a finite number of seconds, not {value}")
    try:
        return _EPOCH + dt.timedelta(seconds=seconds)
    except OverflowError:
        raise InvalidInput(f"user.birthday {value} s is outside the years 1-9999") from None


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    for python_type, name in names.items():
        if isinstance(value, python_type):
            return name
    return "a number" if isinstance(value, numbers.Number) else type(value).__name__
