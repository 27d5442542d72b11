"""Bad input: one exception family (also ValueError or TypeError), raised before anything is written."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import io
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import Blob, BrainstormError, InvalidInput, InvalidType
from brainstorm.database_drivers._values import (
    MAX_DICT_KEYS,
    MAX_KEYS,
    MAX_NESTING,
    MAX_PAYLOAD_PATHS,
    MAX_PAYLOADS,
    MAX_USER_SIZE,
)
from brainstorm.testing.helpers import OneWayStream, at_millis, count_blobs, make_image

WHEN = 1575454087339


def big() -> dict[str, Any]:
    """A valid result that goes to the blob store, saved in the same call before the bad value."""
    return {"data": bytes(1 << 20), "depth": np.ones((300, 300)), "stream": OneWayStream(bytes(200_000))}


BAD_IDS: dict[str, tuple[object, type[BrainstormError]]] = {
    "str": ("1", InvalidType),
    "float": (1.5, InvalidType),
    "integral-float": (1.0, InvalidType),
    "bool": (True, InvalidType),
    "numpy-bool": (np.bool_(True), InvalidType),
    "query": ({"$ne": None}, InvalidType),
    "none": (None, InvalidType),
    "negative": (-1, InvalidInput),
    "2**63": (2**63, InvalidInput),
    "numpy-2**63": (np.uint64(2**63), InvalidInput),
}
BAD_SNAPSHOT_IDS: dict[str, tuple[object, type[BrainstormError]]] = {**BAD_IDS, "zero": (0, InvalidInput)}
BAD_DATETIMES: dict[str, tuple[object, type[BrainstormError]]] = {
    "str": ("2019-12-04T10:08:07", InvalidType),
    "float": (1575454087339.0, InvalidType),
    "bool": (True, InvalidType),
    "none": (None, InvalidType),
    "date": (dt.date(2019, 12, 4), InvalidType),
    "millis-beyond-year-9999": (10**17, InvalidInput),
    "millis-before-year-1": (-(10**17), InvalidInput),
    "aware-before-year-1": (dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5))), InvalidInput),
}
BAD_RESULT_NAMES: dict[str, tuple[object, type[BrainstormError]]] = {
    "empty": ("", InvalidInput),
    "digit-first": ("1pose", InvalidInput),
    "underscore-first": ("_pose", InvalidInput),
    "dot": ("color.image", InvalidInput),
    "space": ("color image", InvalidInput),
    "dollar": ("$pose", InvalidInput),
    "slash": ("a/b", InvalidInput),
    "non-ascii": ("pösé", InvalidInput),
    "65-chars": ("p" * 65, InvalidInput),
    "snapshot_id": ("snapshot_id", InvalidInput),
    "available_results": ("available_results", InvalidInput),
    "not-a-string": (1, InvalidType),
}
BAD_KEYS: dict[str, tuple[object, type[BrainstormError]]] = {
    "empty": ("", InvalidInput),
    "dot": ("a.b", InvalidInput),
    "dollar": ("$set", InvalidInput),
    "nul": ("a\0b", InvalidInput),
    "lone-surrogate": ("\udc80", InvalidInput),
    "int": (1, InvalidType),
    "tuple": (("a", "b"), InvalidType),
}
BAD_VALUES: dict[str, tuple[Callable[[Path], Any], type[BrainstormError]]] = {
    "set": (lambda _: {1, 2}, InvalidType),
    "object": (lambda _: object(), InvalidType),
    "complex": (lambda _: 1 + 2j, InvalidType),
    "date": (lambda _: dt.date(2020, 1, 1), InvalidType),
    "list-in-list": (lambda _: [[1, 2]], InvalidType),
    "tuple-in-list": (lambda _: [1, (2, 3)], InvalidType),
    "nan": (lambda _: float("nan"), InvalidInput),
    "inf": (lambda _: float("inf"), InvalidInput),
    "minus-inf": (lambda _: -float("inf"), InvalidInput),
    "numpy-nan": (lambda _: np.float32("nan"), InvalidInput),
    "string-with-nul": (lambda _: "a\0b", InvalidInput),
    "lone-surrogate": (lambda _: "\ud800", InvalidInput),
    "int-above-64-bits": (lambda _: 2**63, InvalidInput),
    "int-below-64-bits": (lambda _: -(2**63) - 1, InvalidInput),
    "numpy-uint64-above-int64": (lambda _: np.uint64(2**64 - 1), InvalidInput),
    "datetime-beyond-range": (lambda _: dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1))), InvalidInput),
    "string-array": (lambda _: np.array(["a", "b"]), InvalidType),
    "object-array": (lambda _: np.array([{}, None], dtype=object), InvalidType),
    "datetime64-array": (lambda _: np.array(["2020-01-01"], dtype="datetime64[D]"), InvalidType),
    "structured-array": (lambda _: np.zeros(2, dtype=[("x", "i4"), ("y", "f8")]), InvalidType),
    "numpy-timedelta64": (lambda _: np.timedelta64(5, "s"), InvalidType),
    "numpy-datetime64-nat": (lambda _: np.datetime64("NaT"), InvalidType),
    "datetime-whose-utcoffset-raises": (lambda _: ZoneFails(2020, 1, 1), InvalidInput),
    "datetime-whose-fields-fail": (lambda _: NotATime(2020, 1, 1), InvalidInput),
    "nested-one-level-too-deep": (lambda _: nested(MAX_NESTING + 1), InvalidInput),
    "nested-10000-deep": (lambda _: nested(10_000, lists=True), InvalidInput),
    "dict-containing-itself": (lambda _: containing_itself({}), InvalidInput),
    "list-containing-itself": (lambda _: containing_itself([]), InvalidInput),
    "masked-array": (lambda _: np.ma.masked_array([1, 2, 3], mask=[False, True, False]), InvalidType),
    "numpy-matrix": (lambda _: numpy_matrix(), InvalidType),
    "empty-image": (lambda _: Image.new("RGB", (0, 0)), InvalidInput),
    "image-without-rows": (lambda _: Image.new("L", (5, 0)), InvalidInput),
    "p-image-with-rgba-palette": (lambda _: rgba_palette_image(), InvalidInput),
    "p-image-without-palette": (lambda _: Image.new("P", (3, 3)), InvalidInput),
    "p-image-pixels-beyond-palette": (lambda _: short_palette_image(colours=4, pixel=7), InvalidInput),
    "p-image-one-transparent-colour-as-bytes": (lambda _: transparent(make_image("P"), b"\xff\xff\x00"), InvalidInput),
    "p-image-transparency-beyond-palette": (lambda _: transparent(short_palette_image(4), 9), InvalidInput),
    "pa-image-with-transparency": (lambda _: transparent(make_image("PA"), 3), InvalidInput),
    "pa-image-with-short-palette": (lambda _: Image.new("RGBA", (4, 4), (1, 2, 3, 4)).convert("PA"), InvalidInput),
    "rgba-image-with-transparency": (lambda _: transparent(make_image("RGBA"), (1, 2, 3, 4)), InvalidInput),
    "1-image-with-transparency-1": (lambda _: transparent(make_image("1"), 1), InvalidInput),
    "rgb-image-with-transparency-list": (lambda _: transparent(make_image("RGB"), [1, 2, 3]), InvalidInput),
    "closed-file": (lambda tmp: closed(open(tmp / "payload.bin", "wb+")), InvalidInput),  # noqa: SIM115
    "closed-bytesio": (lambda _: closed(io.BytesIO(b"bytes")), InvalidInput),
    "blob-without-content-type": (lambda _: Blob(io.BytesIO(b"x"), None), InvalidType),  # type: ignore[arg-type]
    "blob-content-type-with-nul": (lambda _: Blob(io.BytesIO(b"x"), "text/plain\0"), InvalidInput),
    "stringio": (lambda _: io.StringIO("text"), InvalidType),
    "text-file": (lambda tmp: text_file(tmp), InvalidType),
    "write-only-file": (lambda tmp: open(tmp / "out.bin", "wb"), InvalidType),  # noqa: SIM115
    "not-npy-blob": (lambda _: Blob(io.BytesIO(b"not an array"), "application/x-npy"), InvalidInput),
    "object-npy-blob": (lambda tmp: npy_blob(tmp, np.array([None, 1], dtype=object)), InvalidType),
}


if importlib.util.find_spec("pandas") is not None:  # pandas' datetimes are datetime subclasses that refuse work
    _pandas: Any = importlib.import_module("pandas")
    BAD_VALUES["pandas-nat"] = (lambda _: _pandas.NaT, InvalidInput)


class ZoneFails(dt.datetime):
    """A datetime whose time zone cannot be asked for its offset."""

    def utcoffset(self) -> dt.timedelta | None:
        raise RuntimeError("no offset today")


class NotATime(dt.datetime):
    """A datetime that is not one (like pandas.NaT): its fields cannot be read."""

    @property
    def year(self) -> int:
        raise ValueError("NaT has no year")


def nested(levels: int, *, lists: bool = False) -> dict[str, Any]:
    """Containers nested `levels` deep: dicts, or dicts and lists in turn (never a list directly in a list)."""
    value: Any = 1
    for level in range(levels):
        value = [value] if lists and level % 2 else {"a": value}
    return value if isinstance(value, dict) else {"a": value}


def containing_itself(container: dict[str, Any] | list[Any]) -> dict[str, Any] | list[Any]:
    """A dict that holds itself, or a list that holds itself through a dict."""
    if isinstance(container, dict):
        container["again"] = container
    else:
        container.append({"again": container})
    return container


def transparent(image: Image.Image, transparency: object) -> Image.Image:
    image.info["transparency"] = transparency
    return image


def short_palette_image(colours: int, pixel: int = 0) -> Image.Image:
    image = Image.new("P", (4, 3), pixel)
    image.putpalette(bytes(range(colours * 3)))
    return image


def rgba_palette_image() -> Image.Image:
    image = make_image("P")
    image.putpalette(bytes(range(256)) * 4, "RGBA")
    return image


def numpy_matrix() -> np.matrix[Any, Any]:
    with warnings.catch_warnings():  # numpy discourages the matrix subclass, which is why it is refused
        warnings.simplefilter("ignore", PendingDeprecationWarning)
        return np.matrix([[1, 2], [3, 4]])


def closed(stream: Any) -> Any:
    stream.close()
    return stream


def text_file(tmp_path: Path) -> io.TextIOWrapper:
    (tmp_path / "notes.txt").write_text("text")
    return open(tmp_path / "notes.txt")


def npy_blob(tmp_path: Path, array: np.ndarray) -> Blob:
    np.save(tmp_path / "bad.npy", array, allow_pickle=True)
    return Blob.from_path(tmp_path / "bad.npy")


def cases(table: dict[str, tuple[Any, type[BrainstormError]]]) -> Any:
    return pytest.mark.parametrize(("bad", "error"), table.values(), ids=table.keys())


def assert_refused(error: type[BrainstormError], call: Callable[[], object]) -> None:
    builtin = ValueError if error is InvalidInput else TypeError
    with pytest.raises(error) as raised:
        call()
    assert isinstance(raised.value, BrainstormError) and isinstance(raised.value, builtin)


def assert_nothing_written(driver: db_drivers.Driver) -> None:
    assert driver.get_users() == []
    assert driver.get_snapshots(1) == []
    assert count_blobs(driver) == 0


def assert_snapshot_refused(driver: db_drivers.Driver, snapshot: object, error: type[BrainstormError]) -> None:
    assert_refused(error, lambda: driver.save_snapshot(snapshot))
    assert_nothing_written(driver)


def test_the_exceptions_are_one_family_and_builtin_kinds() -> None:
    assert issubclass(InvalidInput, BrainstormError) and issubclass(InvalidInput, ValueError)
    assert issubclass(InvalidType, BrainstormError) and issubclass(InvalidType, TypeError)


@pytest.mark.parametrize("missing", ["user_id", "datetime"])
def test_a_snapshot_needs_user_id_and_datetime(driver: db_drivers.Driver, missing: str) -> None:
    snapshot = {"user_id": 1, "datetime": WHEN, "big": big()}
    del snapshot[missing]
    assert_snapshot_refused(driver, snapshot, InvalidInput)


@pytest.mark.parametrize("snapshot", [None, [("user_id", 1), ("datetime", 0)], "snapshot"], ids=repr)
def test_a_snapshot_is_a_mapping(driver: db_drivers.Driver, snapshot: object) -> None:
    assert_snapshot_refused(driver, snapshot, InvalidType)


@cases(BAD_IDS)
def test_bad_user_ids_are_refused_by_save_snapshot(driver: db_drivers.Driver, bad: object, error: type) -> None:
    assert_snapshot_refused(driver, {"user_id": bad, "datetime": WHEN, "big": big()}, error)


@cases(BAD_DATETIMES)
def test_bad_datetimes_are_refused(driver: db_drivers.Driver, bad: object, error: type) -> None:
    assert_snapshot_refused(driver, {"user_id": 1, "datetime": bad, "big": big()}, error)


@cases(BAD_RESULT_NAMES)
def test_bad_result_names_are_refused(driver: db_drivers.Driver, bad: object, error: type) -> None:
    assert_snapshot_refused(driver, {"user_id": 1, "datetime": WHEN, "big": big(), bad: {"x": 1}}, error)


@pytest.mark.parametrize("result", [[1, 2], 5, "pose", b"bytes", None], ids=repr)
def test_a_result_is_a_dict(driver: db_drivers.Driver, result: object) -> None:
    assert_snapshot_refused(driver, {"user_id": 1, "datetime": WHEN, "big": big(), "bad": result}, InvalidType)


PLACES: dict[str, Callable[[Any], dict[str, Any]]] = {
    "top": lambda bad: {"fine": 1, "bad": bad},
    "nested": lambda bad: {"frames": [{"ok": b"x"}, {"deep": {"bad": bad}}]},
}


@cases(BAD_KEYS)
@pytest.mark.parametrize("place", PLACES.values(), ids=PLACES.keys())
def test_bad_keys_are_refused(driver: db_drivers.Driver, place: Callable[[Any], Any], bad: object, error: type) -> None:
    result = place({"fine": 1, bad: 2})
    assert_snapshot_refused(driver, {"user_id": 1, "datetime": WHEN, "big": big(), "bad": result}, error)


@cases(BAD_VALUES)
@pytest.mark.parametrize("place", PLACES.values(), ids=PLACES.keys())
def test_unsupported_values_are_refused(
    driver: db_drivers.Driver, tmp_path: Path, place: Callable[[Any], Any], bad: Callable[[Path], Any], error: type
) -> None:
    snapshot = {"user_id": 1, "datetime": WHEN, "big": big(), "bad": place(bad(tmp_path))}
    assert_snapshot_refused(driver, snapshot, error)


def test_a_bad_result_after_a_good_one_saves_neither(driver: db_drivers.Driver) -> None:
    driver.save_snapshot({"user_id": 1, "datetime": WHEN, "pose": {"x": 1}})
    assert_refused(
        InvalidInput,
        lambda: driver.save_snapshot({"user_id": 1, "datetime": WHEN, "new": big(), "pose": {"x": float("nan")}}),
    )
    summary = driver.get_snapshot(1, 1)
    assert summary is not None and summary["available_results"] == ["pose"]
    assert driver.get_result(1, 1, "pose") == {"x": 1}
    assert count_blobs(driver) == 0


# Limits -----------------------------------------------------------------------------------------

RESULTS_BEYOND_LIMITS: dict[str, Callable[[], dict[str, Any]]] = {
    "keys": lambda: {"rows": [{"k": i} for i in range(MAX_KEYS)]},  # with "rows" itself, one key too many
    "keys-in-one-dict": lambda: {"table": {f"k{i}": i for i in range(MAX_DICT_KEYS + 1)}},
    "200000-keys": lambda: {"table": {f"k{i}": i for i in range(200_000)}},
    "200000-keys-in-small-dicts": lambda: {"rows": [{f"k{j}": j for j in range(100)} for _ in range(2000)]},
    "payloads": lambda: {"frames": [b"x"] * (MAX_PAYLOADS + 1)},
    "150000-payloads": lambda: {"frames": [{"data": b"x"} for _ in range(150_000)]},
    "payload-paths": lambda: {"k" * MAX_PAYLOAD_PATHS: b"x"},
}
"""Results just beyond each limit of `brainstorm.database_drivers._values` (and the sizes that once
timed out or broke MongoDB's 16 MiB after the snapshot was created)."""


@pytest.mark.parametrize("make", RESULTS_BEYOND_LIMITS.values(), ids=RESULTS_BEYOND_LIMITS.keys())
def test_a_result_beyond_a_limit_is_refused_before_anything_is_written(
    driver: db_drivers.Driver, make: Callable[[], dict[str, Any]]
) -> None:
    assert_snapshot_refused(driver, {"user_id": 1, "datetime": WHEN, "big": big(), "bad": make()}, InvalidInput)


# Users ------------------------------------------------------------------------------------------


def assert_user_refused(driver: db_drivers.Driver, user: object, error: type[BrainstormError]) -> None:
    assert_refused(error, lambda: driver.save_user(user))
    assert_nothing_written(driver)


def test_a_user_needs_user_id(driver: db_drivers.Driver) -> None:
    assert_user_refused(driver, {"username": "Nobody"}, InvalidInput)


@pytest.mark.parametrize("user", [None, [("user_id", 1)], 1], ids=repr)
def test_a_user_is_a_mapping(driver: db_drivers.Driver, user: object) -> None:
    assert_user_refused(driver, user, InvalidType)


def test_a_user_field_named_id_is_refused(driver: db_drivers.Driver) -> None:
    assert_user_refused(driver, {"user_id": 1, "username": "x", "_id": 5}, InvalidInput)


@cases(BAD_IDS)
def test_bad_user_ids_are_refused_by_save_user(driver: db_drivers.Driver, bad: object, error: type) -> None:
    assert_user_refused(driver, {"user_id": bad, "username": "x"}, error)


@cases(BAD_KEYS)
def test_bad_keys_are_refused_in_users(driver: db_drivers.Driver, bad: object, error: type) -> None:
    assert_user_refused(driver, {"user_id": 1, "address": {"city": "x", bad: 1}}, error)


USER_VALUES = {
    k: v
    for k, v in BAD_VALUES.items()
    if k
    in (
        *("set", "object", "list-in-list", "nan", "string-with-nul", "int-above-64-bits", "lone-surrogate"),
        *("numpy-timedelta64", "datetime-whose-utcoffset-raises", "datetime-whose-fields-fail", "pandas-nat"),
        *("nested-one-level-too-deep", "nested-10000-deep", "dict-containing-itself", "list-containing-itself"),
    )
}
USER_VALUES["payload"] = (lambda _: b"users hold no payloads", InvalidType)
USER_VALUES["array"] = (lambda _: np.zeros(3), InvalidType)


@cases(USER_VALUES)
def test_unsupported_values_are_refused_in_users(
    driver: db_drivers.Driver, tmp_path: Path, bad: Callable[[Path], Any], error: type
) -> None:
    assert_user_refused(driver, {"user_id": 1, "username": "x", "bad": bad(tmp_path)}, error)


USERS_BEYOND_LIMITS: dict[str, Callable[[], dict[str, Any]]] = {
    "size": lambda: {"bio": "x" * MAX_USER_SIZE},
    "size-in-many-strings": lambda: {"lines": ["x" * 1000] * (MAX_USER_SIZE // 1000)},
    "50-mb-string-after-other-fields": lambda: {"a": 1, "b": "x" * (50 << 20)},
    "keys": lambda: {"rows": [{"k": i} for i in range(MAX_KEYS)]},
    "keys-in-one-dict": lambda: {"table": {f"k{i}": i for i in range(MAX_DICT_KEYS + 1)}},
}


@pytest.mark.parametrize("make", USERS_BEYOND_LIMITS.values(), ids=USERS_BEYOND_LIMITS.keys())
def test_a_user_beyond_a_limit_is_refused_before_anything_is_written(
    driver: db_drivers.Driver, make: Callable[[], dict[str, Any]]
) -> None:
    assert_user_refused(driver, {"user_id": 1, "username": "x", **make()}, InvalidInput)


# Lookups and deletes -----------------------------------------------------------------------------

LOOKUPS_BY_USER: dict[str, Callable[[db_drivers.Driver, Any], object]] = {
    "get_user": lambda driver, user_id: driver.get_user(user_id),
    "get_snapshots": lambda driver, user_id: driver.get_snapshots(user_id),
    "get_snapshot": lambda driver, user_id: driver.get_snapshot(user_id, 1),
    "get_result": lambda driver, user_id: driver.get_result(user_id, 1, "pose"),
    "delete_user": lambda driver, user_id: driver.delete_user(user_id),
    "delete_snapshot": lambda driver, user_id: driver.delete_snapshot(user_id, 1),
    "delete_result": lambda driver, user_id: driver.delete_result(user_id, 1, "pose"),
}
LOOKUPS_BY_SNAPSHOT: dict[str, Callable[[db_drivers.Driver, Any], object]] = {
    "get_snapshot": lambda driver, snapshot_id: driver.get_snapshot(1, snapshot_id),
    "get_result": lambda driver, snapshot_id: driver.get_result(1, snapshot_id, "pose"),
    "delete_snapshot": lambda driver, snapshot_id: driver.delete_snapshot(1, snapshot_id),
    "delete_result": lambda driver, snapshot_id: driver.delete_result(1, snapshot_id, "pose"),
}
LOOKUPS_BY_RESULT_NAME: dict[str, Callable[[db_drivers.Driver, Any], object]] = {
    "get_result": lambda driver, name: driver.get_result(1, 1, name),
    "delete_result": lambda driver, name: driver.delete_result(1, 1, name),
}


def assert_refused_and_kept(
    populated: db_drivers.Driver, error: type[BrainstormError], call: Callable[[], object]
) -> None:
    """The call is refused, and a delete did not turn into a broader one: everything is still there."""
    assert_refused(error, call)
    assert populated.get_user(1) == {"user_id": 1, "username": "One"}
    assert populated.get_snapshot(1, 1) == {
        "snapshot_id": 1,
        "datetime": at_millis(WHEN),
        "available_results": ["pose"],
    }
    assert populated.get_result(1, 1, "pose") == {"x": 1}


@cases(BAD_IDS)
@pytest.mark.parametrize("lookup", LOOKUPS_BY_USER.values(), ids=LOOKUPS_BY_USER.keys())
def test_lookups_refuse_bad_user_ids(
    populated: db_drivers.Driver, lookup: Callable[..., object], bad: object, error: type
) -> None:
    assert_refused_and_kept(populated, error, lambda: lookup(populated, bad))


@cases(BAD_SNAPSHOT_IDS)
@pytest.mark.parametrize("lookup", LOOKUPS_BY_SNAPSHOT.values(), ids=LOOKUPS_BY_SNAPSHOT.keys())
def test_lookups_refuse_bad_snapshot_ids(
    populated: db_drivers.Driver, lookup: Callable[..., object], bad: object, error: type
) -> None:
    assert_refused_and_kept(populated, error, lambda: lookup(populated, bad))


@cases({**BAD_RESULT_NAMES, "user_id": ("user_id", InvalidInput), "datetime": ("datetime", InvalidInput)})
@pytest.mark.parametrize("lookup", LOOKUPS_BY_RESULT_NAME.values(), ids=LOOKUPS_BY_RESULT_NAME.keys())
def test_lookups_refuse_bad_result_names(
    populated: db_drivers.Driver, lookup: Callable[..., object], bad: object, error: type
) -> None:
    assert_refused_and_kept(populated, error, lambda: lookup(populated, bad))
