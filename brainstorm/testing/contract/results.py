"""Results and their payloads: every payload kind round-trips, streams, deduplication (every driver).

`store` runs each test for every driver twice: payloads kept inline, and payloads in the blob store.
"""

from __future__ import annotations

import array
import datetime as dt
import hashlib
import io
import math
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import Blob, BrainstormError, Result
from brainstorm.database_drivers._values import MAX_DICT_KEYS, MAX_KEYS, MAX_NESTING, MAX_PAYLOADS, MAX_USER_SIZE
from brainstorm.testing.helpers import OneWayStream, assert_same, count_blobs, expected_of, make_image

WHEN = 1575454087339
DATA = bytes(range(256)) * 1200  # 300 KiB: more than one chunk of any blob store


def opened(tmp_path: Path, data: bytes) -> io.BufferedReader:
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    return open(path, "rb")


PAYLOADS: dict[str, Callable[[Path], Any]] = {
    "bytes": lambda _: b"\x00\xff" * 500,
    "empty-bytes": lambda _: b"",
    "bytearray": lambda _: bytearray(b"abc" * 300),
    "memoryview": lambda _: memoryview(b"0123456789" * 100),
    "memoryview-strided": lambda _: memoryview(b"0123456789" * 100)[::3],
    "memoryview-of-ints": lambda _: memoryview(array.array("i", range(-500, 500))),
    "bytesio": lambda _: io.BytesIO(b"stream" * 200),
    "unseekable-stream": lambda _: OneWayStream(b"pipe" * 300),
    "file": lambda tmp: opened(tmp, os.urandom(5000)),
    "large-bytes": lambda _: DATA,
    "large-unseekable-stream": lambda _: OneWayStream(DATA * 5),
    "array-bool": lambda _: np.array([[True, False, True]]),
    "array-int8": lambda _: np.arange(-100, 100, dtype=np.int8),
    "array-uint16": lambda _: np.arange(60000, 60500, dtype=np.uint16).reshape(20, 25),
    "array-int32-big-endian": lambda _: np.arange(24, dtype=">i4").reshape(2, 3, 4),
    "array-int64": lambda _: np.array([-(2**63), 2**63 - 1, 0]),
    "array-uint64": lambda _: np.array([2**64 - 1, 0], dtype=np.uint64),
    "array-float16": lambda _: np.linspace(-1, 1, 33, dtype=np.float16),
    "array-float32": lambda _: np.array([np.nan, np.inf, -np.inf, -0.0, 1.5], dtype=np.float32),
    "array-float64-big-endian": lambda _: np.linspace(0, 1, 100).astype(">f8"),
    "array-longdouble": lambda _: np.array([1 / 3, 2.5], dtype=np.longdouble),
    "array-complex64": lambda _: np.array([1 + 2j, -3.5j], dtype=np.complex64),
    "array-complex128-big-endian": lambda _: np.array([[1 + 2j, np.nan * 1j]], dtype=">c16"),
    "array-0d": lambda _: np.array(3.25),
    "array-empty": lambda _: np.zeros(0, dtype=np.int16),
    "array-empty-2d": lambda _: np.zeros((3, 0), dtype=np.float32),
    "array-fortran": lambda _: np.asfortranarray(np.arange(30, dtype=np.float64).reshape(5, 6)),
    "array-fortran-3d": lambda _: np.asfortranarray(np.arange(60, dtype=np.uint8).reshape(3, 4, 5)),
    "array-strided-view": lambda _: np.arange(100).reshape(10, 10)[::2, 1::3],
    "array-transposed": lambda _: np.arange(12, dtype=np.int16).reshape(3, 4).T,
    "array-large": lambda _: np.random.default_rng(0).random((300, 200)),
    "image-large": lambda _: make_image("RGB", (400, 300)),
}

COMMON_MODES = ["1", "L", "LA", "P", "PA", "RGB", "RGBA", "I", "F", "I;16", "I;16B", "CMYK", "YCbCr", "LAB"]
OTHER_MODES = sorted(set(Image.MODES) - set(COMMON_MODES))


def save_and_get(driver: db_drivers.Driver, result: dict[str, Any], user_id: int = 1) -> Result:
    snapshot_id = driver.save_snapshot({"user_id": user_id, "datetime": WHEN, "result": result})
    got = driver.get_result(user_id, snapshot_id, "result")
    assert got is not None
    return got


def assert_round_trip(driver: db_drivers.Driver, result: dict[str, Any]) -> Result:
    expected = expected_of(result)
    got = save_and_get(driver, result)
    assert_same(got, expected, "result")
    return got


@pytest.mark.parametrize("make", PAYLOADS.values(), ids=PAYLOADS.keys())
def test_payload_round_trips(store: db_drivers.Driver, tmp_path: Path, make: Callable[[Path], Any]) -> None:
    assert_round_trip(store, {"data": make(tmp_path), "width": 3})


@pytest.mark.parametrize("mode", COMMON_MODES)
def test_image_round_trips(store: db_drivers.Driver, mode: str) -> None:
    assert_round_trip(store, {"image": make_image(mode), "small": make_image(mode, (1, 1))})


@pytest.mark.parametrize("mode", OTHER_MODES)
def test_other_image_modes_round_trip_or_are_refused(driver: db_drivers.Driver, mode: str) -> None:
    """An image is kept exactly, or refused up front: never stored lossily, never a foreign error."""
    image = make_image(mode)
    try:
        got = save_and_get(driver, {"image": image})
    except BrainstormError:
        assert driver.get_users() == [] and count_blobs(driver) == 0
    else:
        assert_same(got["image"], expected_of(image), f"mode {mode}")


def test_payloads_anywhere_in_the_result_round_trip(store: db_drivers.Driver) -> None:
    result = {
        "frames": [
            {"image": make_image("RGB", (40, 30), 1), "depth": np.arange(12.0).reshape(3, 4), "n": 0},
            {"image": make_image("L", (40, 30), 2), "raw": b"raw", "tags": ["a", None]},
            "caption",
        ],
        "meta": {"inner": {"blob": io.BytesIO(DATA), "empty": {}}, "stream": OneWayStream(b"x" * 10)},
        "width": 40,
    }
    got = assert_round_trip(store, result)
    assert sorted(got.blobs) == [
        "frames.0.depth",
        "frames.0.image",
        "frames.1.image",
        "frames.1.raw",
        "meta.inner.blob",
        "meta.stream",
    ]


@pytest.mark.parametrize("key", [" ", " padded ", "tab\t", "a$b", "ünïcödé", "🧠", "k" * 300], ids=repr)
def test_any_key_the_contract_allows_is_a_result_field(store: db_drivers.Driver, key: str) -> None:
    assert_round_trip(store, {key: 1, "nested": [{key: b"payload"}], "payload": {key: np.arange(3)}})


def test_a_result_is_a_mapping_of_its_fields(store: db_drivers.Driver) -> None:
    got = save_and_get(store, {"width": 3, "height": 2.5, "data": b"xyz", "nested": {"list": [1, {"a": None}]}})
    assert isinstance(got, Mapping) and isinstance(got, Result)
    assert sorted(got) == ["data", "height", "nested", "width"] and len(got) == 4
    assert "width" in got and "depth" not in got
    assert dict(got) == {"width": 3, "height": 2.5, "data": b"xyz", "nested": {"list": [1, {"a": None}]}}
    assert got.get("depth") is None
    with pytest.raises(KeyError):
        got["depth"]


def read_in_pieces(stream: io.BufferedIOBase, size: int = 70_000) -> bytes:
    pieces = []
    while piece := stream.read(size):
        pieces.append(piece)
    return b"".join(pieces)


@pytest.mark.parametrize("path", ["data", "frames.0.image", ("frames", 0, "image")], ids=repr)
def test_open_gives_a_seekable_binary_stream(store: db_drivers.Driver, path: Any) -> None:
    got = save_and_get(store, {"data": DATA, "frames": [{"image": make_image("RGB", (300, 200))}]})
    info = got.blobs["data" if path == "data" else "frames.0.image"]
    with got.open(path) as stream:
        stored = read_in_pieces(stream)
        assert stream.readable() and stream.seekable()
        assert (stream.length, stream.content_type, stream.sha256) == (
            len(stored),
            info["content_type"],
            info["sha256"],
        )
        assert hashlib.sha256(stored).hexdigest() == stream.sha256 == info["sha256"]
        assert stream.read(10) == b"" and stream.tell() == len(stored)
        assert stream.seek(0) == 0 and stream.read(10) == stored[:10] and stream.tell() == 10
        assert stream.seek(len(stored) // 2) == len(stored) // 2
        buffer = bytearray(1000)
        assert stream.readinto(buffer) == 1000 and bytes(buffer) == stored[len(stored) // 2 :][:1000]
        assert stream.seek(-5, io.SEEK_CUR) == len(stored) // 2 + 995
        assert stream.read(5) == stored[len(stored) // 2 + 995 :][:5]
        assert stream.seek(-7, io.SEEK_END) == len(stored) - 7 and stream.read() == stored[-7:]
    assert stream.closed
    if path == "data":
        assert stored == DATA
    else:
        assert Image.open(io.BytesIO(stored)).tobytes() == make_image("RGB", (300, 200)).tobytes()


def test_blobs_describe_every_payload(store: db_drivers.Driver) -> None:
    got = save_and_get(store, {"data": b"abc", "depth": np.zeros((4, 5)), "image": make_image("L"), "n": 1})
    assert sorted(got.blobs) == ["data", "depth", "image"]
    assert {path: info["kind"] for path, info in got.blobs.items()} == {
        "data": "bytes",
        "depth": "ndarray",
        "image": "image",
    }
    for path, info in got.blobs.items():
        assert not {"ref", "inline"} & set(info), "internal fields leak out"
        with got.open(path) as stream:
            stored = stream.read()
        assert (info["length"], info["sha256"]) == (len(stored), hashlib.sha256(stored).hexdigest())
    assert got.blobs["data"]["content_type"] == "application/octet-stream"
    assert np.array_equal(np.load(io.BytesIO(got.open("depth").read())), np.zeros((4, 5)))


def test_big_payloads_are_described_with_the_sha256_of_their_bytes(store: db_drivers.Driver) -> None:
    big = np.random.default_rng(3).integers(0, 255, 17 * 100_000, dtype=np.uint8).tobytes()  # 1.6 MiB
    array = np.frombuffer(big, dtype=np.uint8).reshape(-1, 17)
    got = save_and_get(store, {"data": big, "array": array, "stream": io.BytesIO(big), "pipe": OneWayStream(big)})
    for path, info in got.blobs.items():
        with got.open(path) as stream:
            stored = stream.read()
        assert (info["length"], info["sha256"]) == (len(stored), hashlib.sha256(stored).hexdigest()), path
    assert got["data"] == got["stream"] == got["pipe"] == big
    assert np.array_equal(got["array"], array)


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        ("photo.png", b"\x89PNG not really", "image/png"),
        ("notes.txt", b"hello", "text/plain"),
        ("raw", b"\x01", "application/octet-stream"),
    ],
)
def test_blob_from_path_takes_its_content_type_from_the_extension(
    store: db_drivers.Driver, tmp_path: Path, name: str, content: bytes, content_type: str
) -> None:
    (tmp_path / name).write_bytes(content)
    blob = Blob.from_path(tmp_path / name)
    try:
        got = save_and_get(store, {"file": blob})
    finally:
        blob.close()
    assert got["file"] == content
    assert got.blobs["file"]["content_type"] == content_type
    with got.open("file") as stream:
        assert stream.content_type == content_type


@pytest.mark.parametrize(
    "array", [np.arange(12.0).reshape(3, 4), np.asfortranarray(np.ones((2, 3), dtype=">i2"))], ids=["c", "fortran"]
)
def test_blob_from_npy_path_comes_back_as_an_array(store: db_drivers.Driver, tmp_path: Path, array: np.ndarray) -> None:
    np.save(tmp_path / "depth.npy", array)
    blob = Blob.from_path(tmp_path / "depth.npy")
    try:
        got = save_and_get(store, {"depth": blob})
    finally:
        blob.close()
    assert_same(got["depth"], array)
    assert got.blobs["depth"]["kind"] == "ndarray"


def test_missing_results_are_none(store: db_drivers.Driver) -> None:
    save_and_get(store, {"data": DATA})
    assert store.get_result(1, 1, "other") is None
    assert store.get_result(1, 2, "result") is None
    assert store.get_result(2, 1, "result") is None


def message(tmp_path: Path, seed: int = 0) -> dict[str, Any]:
    """A snapshot with one payload of every kind, the same bytes for the same seed."""
    rng = np.random.default_rng(seed)
    npy = tmp_path / f"depth-{seed}.npy"
    np.save(npy, rng.random((50, 40)))
    return {
        "user_id": 1,
        "datetime": WHEN,
        "color": {"image": make_image("RGB", (120, 90), seed), "width": 120},
        "depth": {"data": rng.random((60, 80)), "file": Blob.from_path(npy)},
        "raw": {
            "bytes": rng.bytes(90_000),
            "frames": [{"stream": io.BytesIO(rng.bytes(70_000))}, {"pipe": OneWayStream(rng.bytes(80_000))}],
        },
    }


@pytest.mark.parametrize(("inline_limit", "in_blob_store"), [(0, 3), (1000, 1), (10**6, 0)])
def test_the_inline_limit_decides_which_payloads_go_to_the_blob_store(
    driver_url: str, inline_limit: int, in_blob_store: int
) -> None:
    with db_drivers.connect(driver_url, inline_limit=inline_limit) as driver:
        result = {"small": b"s" * 10, "medium": np.zeros(100, dtype=np.uint8), "large": io.BytesIO(b"l" * 100_000)}
        assert_round_trip(driver, result)
        assert count_blobs(driver) == in_blob_store


def test_saving_the_same_message_twice_stores_its_blobs_once(store: db_drivers.Driver, tmp_path: Path) -> None:
    store.save_snapshot(message(tmp_path))
    stored = count_blobs(store)
    assert stored > 0
    again = message(tmp_path)
    expected = expected_of({name: again[name] for name in ("color", "raw")})
    assert store.save_snapshot(again) == 1
    assert count_blobs(store) == stored
    for name, result in expected.items():
        assert_same(store.get_result(1, 1, name), result, name)


def test_replacing_payloads_leaves_no_old_blobs_behind(store: db_drivers.Driver, tmp_path: Path) -> None:
    store.save_snapshot({"user_id": 2, "datetime": WHEN, "other": {"data": DATA}})
    unrelated = count_blobs(store)
    store.save_snapshot(message(tmp_path, seed=0))
    stored = count_blobs(store)
    replacement = message(tmp_path, seed=1)
    expected = expected_of(replacement["raw"])
    store.save_snapshot(replacement)
    assert count_blobs(store) == stored
    assert_same(store.get_result(1, 1, "raw"), expected)
    store.save_snapshot({"user_id": 1, "datetime": WHEN, "raw": {"gone": True}, "depth": {}, "color": {"width": 0}})
    assert count_blobs(store) == unrelated
    assert store.get_result(1, 1, "raw") == {"gone": True}
    assert store.get_result(2, 1, "other") == {"data": DATA}


def test_a_failing_payload_stream_publishes_nothing_and_leaves_no_blob(driver_url: str) -> None:
    with db_drivers.connect(driver_url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "kept": {"data": DATA}})
        stored = count_blobs(driver)
        stream = OneWayStream(DATA * 10, fail_after=len(DATA) * 5)
        with pytest.raises(OSError, match="the stream broke"):
            driver.save_snapshot(
                {"user_id": 1, "datetime": WHEN, "kept": {"data": b"new"}, "broken": {"a": DATA[::-1], "b": stream}}
            )
        summary = driver.get_snapshot(1, 1)
        assert summary is not None and summary["available_results"] == ["kept"]
        assert driver.get_result(1, 1, "kept") == {"data": DATA}
        assert count_blobs(driver) == stored


# Images kept exactly, transparency and palette included -----------------------------------------------


def with_transparency(image: Image.Image, transparency: object) -> Image.Image:
    image.info["transparency"] = transparency
    return image


def small_palette_image(colours: int) -> Image.Image:
    image = Image.frombytes("P", (5, 4), bytes(i % colours for i in range(20)))
    image.putpalette(bytes(range(colours * 3)))
    return image


TRANSPARENT_IMAGES: dict[str, Callable[[], Image.Image]] = {
    "p-one-transparent-colour": lambda: with_transparency(make_image("P"), 3),
    "p-alpha-per-colour": lambda: with_transparency(make_image("P"), bytes(range(0, 256))),
    "p-small-palette": lambda: small_palette_image(5),
    "p-small-palette-alpha": lambda: with_transparency(small_palette_image(5), b"\x00\x80\xff"),
    "p-two-colours-one-transparent": lambda: with_transparency(small_palette_image(2), 1),
    "l-transparent-grey": lambda: with_transparency(make_image("L"), 7),
    "i16-transparent-value": lambda: with_transparency(make_image("I;16"), 300),
    "rgb-transparent-colour": lambda: with_transparency(make_image("RGB"), (1, 2, 3)),
    "1-transparent-white": lambda: with_transparency(make_image("1"), 255),
}


@pytest.mark.parametrize("make", TRANSPARENT_IMAGES.values(), ids=TRANSPARENT_IMAGES.keys())
def test_images_keep_their_transparency_and_palette(store: db_drivers.Driver, make: Callable[[], Image.Image]) -> None:
    image = make()
    got = save_and_get(store, {"image": image})["image"]
    assert_same(got, image, "image")
    assert got.info.get("transparency") == image.info.get("transparency")
    assert (got.palette.mode if got.palette else None) == (image.palette.mode if image.palette else None)


def test_palette_images_are_kept_as_png(driver: db_drivers.Driver) -> None:
    got = save_and_get(driver, {"image": make_image("P")})
    assert got.blobs["image"]["content_type"] == "image/png"


# Values every driver gives back alike -----------------------------------------------------------


def test_negative_zero_comes_back_as_zero_on_every_driver(driver: db_drivers.Driver) -> None:
    """FerretDB keeps no -0.0, so no driver does: every zero comes back positive."""
    zeros = {"zero": -0.0, "numpy": np.float64(-0.0), "in": {"list": [-0.0, {"deep": np.float32(-0.0)}]}}
    driver.save_user({"user_id": 1, "username": -0.0, **zeros})
    user = driver.get_user(1)
    assert user is not None
    got = save_and_get(driver, zeros)
    for where, value in [("user", user), ("users", driver.get_users()[0]), ("result", dict(got))]:
        found = list(_floats(value))
        assert found and all(x == 0.0 and math.copysign(1, x) == 1 for x in found), (where, found)


def _floats(value: Any) -> Iterator[float]:
    if isinstance(value, float):
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _floats(item)
    elif isinstance(value, list):
        for item in value:
            yield from _floats(item)


USERNAMES: dict[str, object] = {
    "true": True,
    "false": False,
    "float": 3.5,
    "precise-float": 0.1 + 0.2,
    "int": 7,
    "dict": {"first": "Dan", "nested": [1, {"x": None}]},
    "list": ["Dan", 2],
    "datetime": dt.datetime(2020, 1, 2, 3, 4, 5, 6000),
    "none": None,
    "string": "Dan",
    "json-looking-string": '{"a": 1}',
}


def test_get_users_gives_back_usernames_as_saved_whatever_their_type(driver: db_drivers.Driver) -> None:
    for user_id, username in enumerate(USERNAMES.values()):
        driver.save_user({"user_id": user_id, "username": username})
    driver.save_user({"user_id": len(USERNAMES)})
    expected = [{"user_id": i, "username": name} for i, name in enumerate([*USERNAMES.values(), None])]
    assert_same(driver.get_users(), expected, "get_users()")


class StrictTimestamp(dt.datetime):
    """A datetime subclass that refuses to be changed, as pandas' Timestamp.min does (it holds nanoseconds)."""

    def replace(self, *args: Any, **kwargs: Any) -> StrictTimestamp:
        raise ValueError("out of bounds nanosecond timestamp")

    def astimezone(self, tz: dt.tzinfo | None = None) -> StrictTimestamp:
        raise ValueError("out of bounds nanosecond timestamp")


def test_a_datetime_subclass_is_stored_as_the_plain_datetime_it_is(driver: db_drivers.Driver) -> None:
    when = StrictTimestamp(1677, 9, 21, 0, 12, 43, 145224)
    aware = StrictTimestamp(2020, 1, 1, 2, 0, 0, 999999, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    driver.save_user({"user_id": 1, "born": when, "seen": aware})
    got = save_and_get(driver, {"when": when, "seen": [aware]})
    expected: dict[str, Any] = {
        "when": dt.datetime(1677, 9, 21, 0, 12, 43, 145000),
        "seen": [dt.datetime(2020, 1, 1, 0, 0, 0, 999000)],
    }
    assert_same(dict(got), expected, "result")
    assert_same(driver.get_user(1), {"user_id": 1, "born": expected["when"], "seen": expected["seen"][0]}, "user")


def nested(levels: int, bottom: Any = "bottom") -> Any:
    """Containers `levels` deep, dicts and lists in turn, holding `bottom` in the innermost."""
    value: Any = bottom
    for level in range(levels):
        value = [value] if level % 2 else {"a": value}
    return value


def test_values_nested_as_deep_as_the_contract_allows_round_trip(driver: db_drivers.Driver) -> None:
    deep = nested(MAX_NESTING)
    with_payload = nested(MAX_NESTING, b"payload in the innermost container")
    driver.save_user({"user_id": 1, "deep": deep})
    assert_same(driver.get_user(1), {"user_id": 1, "deep": deep}, "user")
    assert_round_trip(driver, {"deep": deep, "payload": with_payload})


def test_a_value_may_appear_twice_without_containing_itself(driver: db_drivers.Driver) -> None:
    shared = {"x": [1, 2], "data": b"shared"}
    assert_round_trip(driver, {"a": shared, "b": [shared, shared], "c": {"again": shared}})


# Limits: what is within them is stored --------------------------------------------------------------

RESULTS_WITHIN_LIMITS: dict[str, Callable[[], dict[str, Any]]] = {
    "keys": lambda: {"rows": [{"k": i} for i in range(MAX_KEYS // 10)]},
    "keys-in-one-dict": lambda: {"table": {f"k{i}": i for i in range(MAX_DICT_KEYS // 10)}},
    "list-longer-than-the-keys-limit": lambda: {"numbers": list(range(MAX_KEYS + 1))},  # list items are no keys
    "payloads": lambda: {"frames": [{"i": i, "data": bytes([i % 256])} for i in range(MAX_PAYLOADS // 10)]},
    "long-payload-paths": lambda: {"k" * 1000: {"k" * 1000: b"payload"}},
    "6-mib-string": lambda: {"text": "x" * (6 << 20), "data": b"payload"},  # beyond what MongoDB keeps in a record
}


@pytest.mark.parametrize("make", RESULTS_WITHIN_LIMITS.values(), ids=RESULTS_WITHIN_LIMITS.keys())
def test_a_result_well_within_the_limits_is_stored(
    driver: db_drivers.Driver, make: Callable[[], dict[str, Any]]
) -> None:
    assert_round_trip(driver, make())


USERS_WITHIN_LIMITS: dict[str, Callable[[], dict[str, Any]]] = {
    "size": lambda: {"bio": "x" * (MAX_USER_SIZE // 4)},
    "keys": lambda: {"rows": [{"k": i} for i in range(MAX_KEYS // 10)]},
    "keys-in-one-dict": lambda: {"table": {f"k{i}": i for i in range(MAX_DICT_KEYS // 10)}},
}


@pytest.mark.parametrize("make", USERS_WITHIN_LIMITS.values(), ids=USERS_WITHIN_LIMITS.keys())
def test_a_user_well_within_the_limits_is_stored(driver: db_drivers.Driver, make: Callable[[], dict[str, Any]]) -> None:
    fields = make()
    driver.save_user({"user_id": 1, **fields})
    assert_same(driver.get_user(1), {"user_id": 1, **fields}, "user")


def test_a_field_holding_twenty_thousand_payloads_reads_back_whole(driver: db_drivers.Driver) -> None:
    """Reading such a field once took minutes (every payload searched all the others): now it is linear."""
    payloads = [bytes([i % 256]) for i in range(20_000)]
    got = save_and_get(driver, {"frames": payloads, "count": len(payloads)})
    assert got["count"] == 20_000
    assert got["frames"] == payloads
    assert got.open(("frames", 19_999)).read() == payloads[-1]
