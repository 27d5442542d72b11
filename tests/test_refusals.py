"""Refusals say which value and where, without a driver: limits, containers that hold themselves,
unusable datetimes and payloads, bad SQLite URLs (the contract suite checks every driver refuses
them before writing)."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import BrainstormError, InvalidInput
from brainstorm.database_drivers._results import Result, encode_result, store_result
from brainstorm.database_drivers._values import MAX_DICT_KEYS, MAX_KEYS, MAX_NESTING, MAX_PAYLOADS, check_user
from brainstorm.testing.contract.bad_input import numpy_matrix


def self_holding() -> dict[str, Any]:
    frame: dict[str, Any] = {"n": 1}
    frame["again"] = frame
    return frame


def nested(levels: int) -> Any:
    value: Any = 1
    for _ in range(levels):
        value = {"a": value}
    return value


class ZoneFails(dt.datetime):
    def utcoffset(self) -> dt.timedelta | None:
        raise RuntimeError("no offset today")


REFUSALS: dict[str, tuple[dict[str, Any], str]] = {
    "contains-itself": ({"frames": [self_holding()]}, "result 'pose': dict at frames.0.again contains itself"),
    "too-deep": ({"deep": nested(MAX_NESTING + 1)}, f"at most {MAX_NESTING} levels"),
    "too-deep-names-the-field": ({"deep": nested(10_000)}, "dict at deep.a.a."),
    "too-many-keys": ({"r": [{"k": 1}] * MAX_KEYS}, f"result 'pose' holds more than {MAX_KEYS:,} keys"),
    "too-many-keys-in-a-dict": ({"t": {str(i): i for i in range(MAX_DICT_KEYS + 1)}}, "dict at t has 10,001 keys"),
    "too-many-payloads": ({"p": [b"x"] * (MAX_PAYLOADS + 1)}, f"one more at p.{MAX_PAYLOADS}"),
    "utcoffset-raises": ({"when": [ZoneFails(2020, 1, 1)]}, "datetime at when.0 is not a usable datetime"),
    "timedelta64": ({"t": np.timedelta64(3, "s")}, "value at t has unsupported type timedelta64; store a number"),
    "empty-image": ({"img": Image.new("L", (0, 3))}, "result 'pose' at img: the image is 0x3"),
    "masked-array": ({"a": np.ma.masked_array([1.0])}, "array.filled("),
    "matrix": ({"m": numpy_matrix()}, "numpy.asarray(value)"),
    "closed-file": ({"f": io.BytesIO()}, "result 'pose' at f: the file object is closed"),
}


@pytest.mark.parametrize(("result", "says"), REFUSALS.values(), ids=REFUSALS.keys())
def test_a_refused_result_says_what_and_where(result: dict[str, Any], says: str) -> None:
    for value in result.values():
        if isinstance(value, io.BytesIO):
            value.close()
    with pytest.raises(BrainstormError) as refused:
        encode_result("pose", result)
    assert says in str(refused.value)
    assert len(str(refused.value)) < 600, "a message stays readable however deep the value"


def test_a_user_too_big_is_refused_naming_the_field_that_crossed_the_limit() -> None:
    with pytest.raises(InvalidInput, match=r"user takes more than 4,194,304 bytes .*reached at bio"):
        check_user({"user_id": 1, "name": "Dan", "bio": "é" * (3 << 20)})  # 6 MiB of UTF-8 in 3 Mi characters


def test_negative_zero_is_stored_as_zero() -> None:
    pending = encode_result("pose", {"x": -0.0, "y": [np.float32(-0.0)]})
    assert [str(v) for v in (pending.value["x"], pending.value["y"][0])] == ["0.0", "0.0"]


def test_reading_a_field_finds_each_payload_by_its_place(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading a field with N payloads never searches all payloads for each one (that was quadratic)."""

    def search(self: Result, key: object) -> None:
        raise AssertionError(f"searched every payload for {key!r}")

    payloads = [{"i": i, "data": bytes([i % 256])} for i in range(5000)]
    stored, _ = store_result(encode_result("pose", {"frames": payloads, "other": b"y"}), None, 10, lambda s, p: None)
    result = Result(stored, open_ref=lambda ref: io.BytesIO())
    monkeypatch.setattr(Result, "_find", search)
    assert result["frames"] == payloads
    assert result["other"] == b"y"
    assert stored["value"]["frames"][0] == {"i": 0, "data": None}, "the stored record is left as it was"


BAD_SQLITE_URLS = {
    "nul-in-path": "sqlite:///a\x00b.db",
    "unclosed-ipv6-host": "sqlite://[::1",
    "timeout-nan": "sqlite:///x.db?timeout=nan",
    "timeout-negative": "sqlite:///x.db?timeout=-1",
    "timeout-infinite": "sqlite:///x.db?timeout=inf",
    "a file: URI": "sqlite:///file:/tmp/brainstorm-uri.db",  # SQLite would open a URI, the payloads a path
    "a FILE: URI": "sqlite:///FILE:x.db?timeout=1",
}


@pytest.mark.parametrize("url", BAD_SQLITE_URLS.values(), ids=BAD_SQLITE_URLS.keys())
def test_a_bad_sqlite_url_is_refused_before_any_file_is_made(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidInput, match="SQLite URL"):
        db_drivers.connect(url)
    assert list(tmp_path.iterdir()) == []
