"""The saver: message formats (Extended JSON too), payload files, idempotency, and bad messages saving nothing."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from bson import json_util
from bson.binary import Binary
from bson.int64 import Int64
from PIL import Image

import brainstorm.database_drivers as db_drivers
from brainstorm import settings
from brainstorm.saver import PayloadFileError, Saver, load, result_name_of
from brainstorm.saver._extjson import loads as extjson_loads
from brainstorm.testing.helpers import count_blobs

WHEN_MS = 1575454087339
WHEN = dt.datetime(2019, 12, 4, 10, 8, 7, 339000)
USER = {"user_id": 42, "username": "Dan Gittik", "birthday": 699753600, "gender": "m"}
BIG = 200 * 1024  # above the drivers' inline limit: such payloads go to the blob store


def message(name: str, result: Any, **overrides: Any) -> dict[str, Any]:
    return {"user": dict(USER), "datetime": WHEN_MS, name: result, **overrides}


@pytest.fixture
def saver(driver_url: str) -> Iterator[Saver]:
    """A saver on an empty database, for each driver."""
    with Saver(driver_url) as saver:
        yield saver


@pytest.fixture
def sqlite_saver(tmp_path: Path) -> Iterator[Saver]:
    with Saver(f"sqlite:///{tmp_path / 'saver.db'}") as saver:
        yield saver


@pytest.fixture
def files(tmp_path: Path) -> Path:
    """A parser's output directory: a PNG, a .npy depth map, a big binary file, and one in a subdirectory."""
    folder = tmp_path / "parsed"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (36, 64, 3), dtype=np.uint8), "RGB").save(folder / "color.png")
    np.save(folder / "depth.npy", rng.random((172, 224), dtype=np.float32))
    (folder / "big.bin").write_bytes(rng.bytes(BIG))
    (folder / "sub" / "small.bin").write_bytes(b"tiny")
    return folder


def result_of(saver: Saver, name: str, user_id: int = 42, snapshot_id: int = 1) -> db_drivers.Result:
    result = saver.driver.get_result(user_id, snapshot_id, name)
    assert result is not None, f"no result {name!r}"
    return result


def nothing_saved(saver: Saver) -> bool:
    return saver.driver.get_users() == [] and count_blobs(saver.driver) == 0


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


# Message formats -------------------------------------------------------------------------------


def test_saves_the_user_and_the_result(saver: Saver) -> None:
    pose = {"translation": {"x": 0.5, "y": -1.0, "z": 2.0}, "rotation": {"x": 0.0, "y": 0.0, "z": 0.0, "w": 1.0}}
    saved = saver.save("pose", json.dumps(message("pose", pose)))
    assert (saved.user_id, saved.snapshot_id, saved.datetime, saved.status) == (42, 1, WHEN, "new")
    assert saver.driver.get_user(42) == {
        "user_id": 42,
        "username": "Dan Gittik",
        "birthday": dt.datetime(1992, 3, 5),
        "gender": "m",
    }
    assert saver.driver.get_snapshots(42) == [{"snapshot_id": 1, "datetime": WHEN}]
    assert dict(saver.driver.get_result(42, 1, "pose") or {}) == pose


def test_results_of_one_snapshot_accumulate(saver: Saver) -> None:
    saver.save("pose", message("pose", {"x": 1}))
    saver.save("feelings", message("feelings", {"hunger": 0.5}))
    snapshot = saver.driver.get_snapshot(42, 1)
    assert snapshot is not None and snapshot["available_results"] == ["feelings", "pose"]


@pytest.mark.parametrize("form", ["str", "bytes", "bytearray", "dict"])
def test_text_bytes_and_parsed_messages_are_the_same(sqlite_saver: Saver, form: str) -> None:
    parsed = message("feelings", {"hunger": 0.25, "when": {"$date": "2019-12-04T10:08:07.339Z"}})
    text = json.dumps(parsed)
    data: Any = {"str": text, "bytes": text.encode(), "bytearray": bytearray(text.encode()), "dict": parsed}[form]
    sqlite_saver.save("feelings", data)
    assert dict(sqlite_saver.driver.get_result(42, 1, "feelings") or {}) == {"hunger": 0.25, "when": WHEN}


@pytest.mark.parametrize("name", ["pose", None])
def test_a_message_carrying_several_results_is_refused_by_name_and_saves_nothing(
    sqlite_saver: Saver, name: str | None
) -> None:
    """One rule on every path (save, import, the queue): a message carries one result."""
    two = message("pose", {"x": 1}, feelings={"hunger": 1.0})
    with pytest.raises(db_drivers.InvalidInput, match=r"carries one result.*holds 'pose', 'feelings'"):
        sqlite_saver.save(name, two) if name else sqlite_saver.save_message(two)
    assert sqlite_saver.driver.get_users() == []


def test_save_message_saves_the_one_result_a_message_names(sqlite_saver: Saver) -> None:
    saved = sqlite_saver.save_message(message("pose", {"x": 1}))
    assert (saved.result_name, saved.status) == ("pose", "new")
    assert dict(sqlite_saver.driver.get_result(42, saved.snapshot_id, "pose") or {}) == {"x": 1}


def test_an_iso_datetime_string_is_refused_pointing_at_the_form_that_works(sqlite_saver: Saver) -> None:
    dated = {**message("pose", {"x": 1}), "datetime": "2019-12-04T10:08:07.339Z"}
    with pytest.raises(db_drivers.InvalidType, match=r'not the string .*\{"\$date": "2019-12-04T10:08:07.339Z"\}'):
        sqlite_saver.save_message(dated)
    assert sqlite_saver.driver.get_users() == []


@pytest.mark.parametrize("form", ["text", "mapping"])
def test_a_message_nested_thousands_deep_is_refused_in_one_line(sqlite_saver: Saver, form: str) -> None:
    deep: Any = 1
    for _ in range(5000):
        deep = [deep]
    text = json.dumps(message("pose", {"deep": "DEEP"})).replace('"DEEP"', "[" * 5000 + "1" + "]" * 5000)
    data = text if form == "text" else message("pose", {"deep": deep})  # json.dumps would overflow on it
    with pytest.raises(db_drivers.InvalidInput, match="nests arrays and objects more than 100 levels deep"):
        sqlite_saver.save_message(data)


@pytest.mark.parametrize("mode", ["CANONICAL_JSON_OPTIONS", "RELAXED_JSON_OPTIONS", "LEGACY_JSON_OPTIONS"])
def test_extended_json_as_json_util_writes_it(saver: Saver, mode: str) -> None:
    big = os.urandom(BIG)
    published = {
        "user": {**USER, "user_id": Int64(42)},
        "datetime": Int64(WHEN_MS),
        "scan": {
            "taken": dt.datetime(1969, 7, 20, 20, 17, 40, 123000, tzinfo=dt.UTC),
            "count": Int64(2**40),
            "small": 7,
            "ratio": 0.125,
            "thumbnail": Binary(b"\x89PNG tiny"),
            "raw": Binary(big, 0),
            "uuid": Binary(b"u" * 16, 4),
        },
    }
    text = json_util.dumps(published, json_options=getattr(json_util, mode))
    assert "$" in text
    saver.save("scan", text)
    scan = saver.driver.get_result(42, 1, "scan")
    assert scan is not None
    assert dict(scan) == {
        "taken": dt.datetime(1969, 7, 20, 20, 17, 40, 123000),
        "count": 2**40,
        "small": 7,
        "ratio": 0.125,
        "thumbnail": b"\x89PNG tiny",
        "raw": big,
        "uuid": b"u" * 16,
    }
    assert sorted(scan.blobs) == ["raw", "thumbnail", "uuid"]
    assert saver.driver.get_snapshots(42) == [{"snapshot_id": 1, "datetime": WHEN}]


@pytest.mark.parametrize("mode", ["CANONICAL_JSON_OPTIONS", "RELAXED_JSON_OPTIONS", "LEGACY_JSON_OPTIONS"])
def test_extended_json_decodes_like_json_util(mode: str) -> None:
    value = {
        "d": dt.datetime(2019, 12, 4, 10, 8, 7, 339000, tzinfo=dt.UTC),
        "old": dt.datetime(1, 1, 1, tzinfo=dt.UTC),
        "n": [Int64(-(2**63)), 2**31 - 1, -0.5, 1e300],
        "b": Binary(b"\x00\xff", 0),
        "nested": {"e": Binary(b"")},
    }
    text = json_util.dumps(value, json_options=getattr(json_util, mode))
    theirs = json_util.loads(text, json_options=json_util.JSONOptions(tz_aware=True, tzinfo=dt.UTC))
    assert extjson_loads(text) == json.loads(json.dumps(theirs, default=str)) | {
        "d": value["d"],
        "old": value["old"],
        "b": b"\x00\xff",
        "nested": {"e": b""},
    }


@pytest.mark.parametrize(
    ("wrapper", "expected"),
    [
        ({"$date": "2019-12-04T12:08:07.339+02:00"}, WHEN),
        ({"$date": "2019-12-04T10:08:07.339"}, WHEN),  # no offset: UTC
        ({"$date": WHEN_MS}, WHEN),
        ({"$date": {"$numberLong": str(WHEN_MS)}}, WHEN),
        ({"$numberLong": "-9223372036854775808"}, -(2**63)),
        ({"$numberInt": "-7"}, -7),
        ({"$numberDouble": "-1.5e-3"}, -1.5e-3),
        ({"$binary": {"base64": "AAE=", "subType": "80"}}, b"\x00\x01"),
        ({"$binary": "AAE=", "$type": "00"}, b"\x00\x01"),
        ({"not": {"$numberInt": "1"}}, {"not": 1}),
    ],
)
def test_extended_json_forms(sqlite_saver: Saver, wrapper: Any, expected: Any) -> None:
    sqlite_saver.save("r", message("r", {"value": wrapper}))
    assert result_of(sqlite_saver, "r")["value"] == expected


@pytest.mark.parametrize(
    ("wrapper", "error", "named"),
    [
        ({"$oid": "5d8d0e0c1c9d440000a1b2c3"}, db_drivers.InvalidType, "$oid"),
        ({"$numberDecimal": "1.10"}, db_drivers.InvalidType, "$numberDecimal"),
        ({"$regularExpression": {"pattern": "a", "options": ""}}, db_drivers.InvalidType, "$regularExpression"),
        ({"$numberLong": 12}, db_drivers.InvalidInput, "$numberLong"),
        ({"$numberInt": "3000000000"}, db_drivers.InvalidInput, "32 bits"),
        ({"$numberDouble": "many"}, db_drivers.InvalidInput, "$numberDouble"),
        ({"$date": "yesterday"}, db_drivers.InvalidInput, "ISO-8601"),
        ({"$date": 10**18}, db_drivers.InvalidInput, "outside the years"),
        ({"$binary": {"base64": "!!", "subType": "00"}}, db_drivers.InvalidInput, "base64"),
        ({"$binary": {"base64": "AA=="}}, db_drivers.InvalidInput, "$binary"),
        ({"$numberDouble": "NaN"}, db_drivers.InvalidInput, "finite"),
        ({"$custom": 1}, db_drivers.InvalidInput, "'$custom'"),
    ],
)
def test_bad_extended_json_saves_nothing(sqlite_saver: Saver, wrapper: Any, error: type[Exception], named: str) -> None:
    with pytest.raises(error, match=named.replace("$", r"\$")):
        sqlite_saver.save("r", json.dumps(message("r", {"value": wrapper})))
    assert nothing_saved(sqlite_saver)


@pytest.mark.parametrize(
    ("birthday", "stored"),
    [
        (699753600, dt.datetime(1992, 3, 5)),
        (-4911264000, dt.datetime(1814, 5, 15, 16, 0)),
        (699753600.25, dt.datetime(1992, 3, 5, 0, 0, 0, 250000)),
        ({"$date": "1992-03-05T00:00:00Z"}, dt.datetime(1992, 3, 5)),
        (None, None),
    ],
)
def test_birthday_in_seconds_is_stored_as_a_datetime(sqlite_saver: Saver, birthday: Any, stored: Any) -> None:
    sqlite_saver.save("pose", json.dumps(message("pose", {}, user={**USER, "birthday": birthday})))
    assert (sqlite_saver.driver.get_user(42) or {})["birthday"] == stored


def test_a_user_without_birthday_is_fine(sqlite_saver: Saver) -> None:
    sqlite_saver.save("pose", message("pose", {}, user={"user_id": 5}))
    assert sqlite_saver.driver.get_user(5) == {"user_id": 5}


def test_load_and_result_name_of() -> None:
    assert result_name_of(load('{"user": {}, "datetime": 1, "pose": {}}')) == "pose"
    with pytest.raises(db_drivers.InvalidInput, match="holds 'pose', 'feelings'"):
        result_name_of(load('{"user": {}, "datetime": 1, "pose": {}, "feelings": {}}'))
    with pytest.raises(db_drivers.InvalidInput, match="holds none"):
        result_name_of(load('{"user": {}, "datetime": 1}'))


# Payload files -----------------------------------------------------------------------------------


def test_paths_become_streamed_payloads(saver: Saver, files: Path) -> None:
    color_image = {"width": 64, "height": 36, "path": "color.png"}
    depth_image = {"width": 224, "height": 172, "path": "depth.npy"}
    saver.save("color_image", message("color_image", color_image), base_dir=files)
    saver.save("depth_image", message("depth_image", depth_image), base_dir=files)
    color = saver.driver.get_result(42, 1, "color_image")
    depth = saver.driver.get_result(42, 1, "depth_image")
    assert color is not None and depth is not None
    assert sorted(color) == ["data", "height", "width"]
    assert color["data"] == (files / "color.png").read_bytes()
    assert color.blobs["data"]["content_type"] == "image/png"
    assert depth.blobs["data"]["kind"] == "ndarray"
    np.testing.assert_array_equal(depth["data"], np.load(files / "depth.npy"))
    assert depth["data"].dtype == np.float32


def test_paths_at_any_depth(saver: Saver, files: Path) -> None:
    result = {
        "frames": [{"t": 0, "path": "color.png"}, {"t": 1, "path": str(files / "depth.npy")}],
        "extra": {"raw": {"path": "big.bin"}, "thumb": {"path": "sub/small.bin", "note": "tiny"}},
        "label": "x",
    }
    saver.save("scan", message("scan", result), base_dir=files)
    scan = saver.driver.get_result(42, 1, "scan")
    assert scan is not None
    assert sorted(scan.blobs) == ["extra.raw.data", "extra.thumb.data", "frames.0.data", "frames.1.data"]
    assert scan["frames"][0] == {"t": 0, "data": (files / "color.png").read_bytes()}
    np.testing.assert_array_equal(scan["frames"][1]["data"], np.load(files / "depth.npy"))
    assert scan["extra"]["raw"]["data"] == (files / "big.bin").read_bytes()
    assert scan["extra"]["thumb"] == {"data": b"tiny", "note": "tiny"}
    assert scan["label"] == "x"


def test_relative_paths_default_to_the_current_directory(
    sqlite_saver: Saver, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(files / "sub")
    sqlite_saver.save("r", message("r", {"path": "small.bin"}))
    assert result_of(sqlite_saver, "r")["data"] == b"tiny"


def test_a_path_that_is_not_a_string_is_a_field(sqlite_saver: Saver) -> None:
    sqlite_saver.save("route", message("route", {"path": [{"x": 1}, {"x": 2}]}))
    assert dict(sqlite_saver.driver.get_result(42, 1, "route") or {}) == {"path": [{"x": 1}, {"x": 2}]}


def test_path_and_data_together_are_refused(sqlite_saver: Saver, files: Path) -> None:
    with pytest.raises(db_drivers.InvalidInput, match=r"at frames\.0 has both 'path' and 'data'"):
        sqlite_saver.save("r", message("r", {"frames": [{"path": "color.png", "data": 1}]}), base_dir=files)
    assert nothing_saved(sqlite_saver)


@pytest.mark.parametrize("missing", ["nope.png", "sub/nope.npy", "sub"])
def test_an_unreadable_file_saves_nothing_and_closes_the_others(saver: Saver, files: Path, missing: str) -> None:
    before = open_descriptors()
    result = {"color": {"path": "color.png"}, "raw": {"path": "big.bin"}, "bad": {"path": missing}}
    with pytest.raises(PayloadFileError) as caught:
        saver.save("scan", message("scan", result), base_dir=files)
    assert str(files / missing) in str(caught.value) and "at bad.path" in str(caught.value)
    assert caught.value.filename == str(files / missing)
    assert isinstance(caught.value, OSError) and isinstance(caught.value, db_drivers.BrainstormError)
    assert open_descriptors() == before
    assert nothing_saved(saver)


def test_files_are_closed_after_saving(sqlite_saver: Saver, files: Path) -> None:
    before = open_descriptors()
    sqlite_saver.save("r", message("r", {"a": {"path": "big.bin"}, "b": {"path": "depth.npy"}}), base_dir=files)
    assert open_descriptors() == before


def test_a_bad_npy_file_saves_nothing(saver: Saver, files: Path) -> None:
    (files / "broken.npy").write_bytes(b"not an array at all")
    with pytest.raises(db_drivers.InvalidInput, match=r"not a valid \.npy"):
        saver.save("depth_image", message("depth_image", {"path": "broken.npy"}), base_dir=files)
    assert nothing_saved(saver)


def test_payload_bytes_are_reported(sqlite_saver: Saver, files: Path) -> None:
    saved = sqlite_saver.save(
        "r", message("r", {"a": {"path": "big.bin"}, "b": {"path": "sub/small.bin"}}), base_dir=files
    )
    assert saved.payload_bytes == BIG + 4


# Which files a message may name -------------------------------------------------------------------


@pytest.fixture
def hostile(files: Path, tmp_path: Path) -> Path:
    """Beside the parser's files: a secret outside them, and inside them a FIFO, a socket and symlinks."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"not yours")
    (files / "escape.bin").symlink_to(outside / "secret.bin")
    (files / "to-zero.bin").symlink_to("/dev/zero")
    os.mkfifo(files / "fifo")
    (files / "to-fifo.bin").symlink_to(files / "fifo")
    (files / "inside.bin").symlink_to(files / "sub" / "small.bin")
    cwd = Path.cwd()
    os.chdir(files)  # an AF_UNIX address is at most ~100 bytes: bind it by its short relative name
    try:
        with socket.socket(socket.AF_UNIX) as listener:
            listener.bind("sock")
    finally:
        os.chdir(cwd)
    return outside


REFUSED_PATHS = [
    ("../outside/secret.bin", "resolves to {outside}/secret.bin, outside the directories payload files may come from"),
    ("sub/../../outside/secret.bin", "outside the directories payload files may come from ({files})"),
    ("{outside}/secret.bin", "is outside the directories payload files may come from"),
    ("escape.bin", "resolves to {outside}/secret.bin, outside"),
    ("/proc/self/environ", "outside the directories"),
    ("/dev/zero", "is outside the directories"),
    ("to-zero.bin", "resolves to /dev/zero, outside"),
    ("/etc/passwd", "is outside the directories"),
    ("fifo", "is a FIFO, not a regular file"),
    ("to-fifo.bin", "is a FIFO, not a regular file"),
    ("sock", "is a socket, not a regular file"),
    ("sub", "is a directory, not a regular file"),
    ("", "is a directory, not a regular file"),
    ("{files}", "is a directory, not a regular file"),
    ("nope.png", "cannot be read: No such file or directory"),
    ("bad\x00name.png", "cannot be read: embedded null byte"),
]


def in_a_thread(function: Callable[[], Any], seconds: float = 30) -> Any:
    """`function()`, failing the test (instead of hanging it) if it blocks, say on a FIFO."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = function()
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


@pytest.mark.parametrize(("path", "reason"), REFUSED_PATHS)
def test_a_path_outside_the_allowed_directories_or_not_a_regular_file_is_refused_and_saves_nothing(
    sqlite_saver: Saver, files: Path, hostile: Path, path: str, reason: str
) -> None:
    path = path.format(files=files, outside=hostile)
    reason = reason.format(files=os.path.realpath(files), outside=os.path.realpath(hostile))
    before = open_descriptors()
    result = {"good": {"path": "color.png"}, "bad": {"path": path}}
    with pytest.raises(PayloadFileError) as caught:
        in_a_thread(lambda: sqlite_saver.save("scan", message("scan", result), base_dir=files))
    assert f"result 'scan' at bad.path names the file {path!r}" in str(caught.value)
    assert reason in str(caught.value)
    assert open_descriptors() == before
    assert nothing_saved(sqlite_saver)


@pytest.mark.parametrize(
    ("path", "allowed", "data"),
    [
        ("{files}/sub/small.bin", [], b"tiny"),  # absolute, inside the base directory
        ("inside.bin", [], b"tiny"),  # a symlink that stays inside
        ("sub/../sub/small.bin", [], b"tiny"),
        ("../outside/secret.bin", ["{outside}"], b"not yours"),
        ("escape.bin", ["{outside}"], b"not yours"),
        ("{outside}/secret.bin", ["{outside}", "{files}"], b"not yours"),
    ],
)
def test_a_regular_file_inside_an_allowed_directory_is_saved(
    sqlite_saver: Saver, files: Path, hostile: Path, path: str, allowed: list[str], data: bytes
) -> None:
    path = path.format(files=files, outside=hostile)
    allowed_dirs = [directory.format(files=files, outside=hostile) for directory in allowed]
    sqlite_saver.save("r", message("r", {"path": path}), base_dir=files, allowed_dirs=allowed_dirs)
    assert result_of(sqlite_saver, "r")["data"] == data


def test_a_device_is_refused_even_inside_an_allowed_directory(sqlite_saver: Saver, files: Path) -> None:
    with pytest.raises(PayloadFileError, match="'/dev/zero', which is a character device, not a regular file"):
        in_a_thread(lambda: sqlite_saver.save("r", message("r", {"path": "/dev/zero"}), allowed_dirs=["/dev"]))
    assert nothing_saved(sqlite_saver)


def test_a_base_directory_reached_through_a_symlink_is_allowed(
    sqlite_saver: Saver, files: Path, tmp_path: Path
) -> None:
    (tmp_path / "link").symlink_to(files)
    sqlite_saver.save("r", message("r", {"path": "sub/small.bin"}), base_dir=tmp_path / "link")
    assert result_of(sqlite_saver, "r")["data"] == b"tiny"


def test_a_fifo_swapped_in_after_the_check_is_refused_without_blocking(
    sqlite_saver: Saver, files: Path, hostile: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`os.stat` is made to see a regular file where the FIFO is: the non-blocking open and its fstat catch it."""
    real_stat = os.stat
    fifo = str(files / "fifo")
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: real_stat(files / "color.png" if path == fifo else path))
    with pytest.raises(PayloadFileError, match="is a FIFO, not a regular file"):
        in_a_thread(lambda: sqlite_saver.save("r", message("r", {"path": "fifo"}), base_dir=files))
    assert nothing_saved(sqlite_saver)


def test_a_file_replaced_after_the_check_is_refused(
    sqlite_saver: Saver, files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_stat = os.stat
    checked = str(files / "big.bin")
    monkeypatch.setattr(os, "stat", lambda path, *a, **k: real_stat(files / "color.png" if path == checked else path))
    with pytest.raises(PayloadFileError, match="was replaced while it was being opened"):
        sqlite_saver.save("r", message("r", {"path": "big.bin"}), base_dir=files)
    assert nothing_saved(sqlite_saver)


def test_the_content_type_is_the_one_blob_from_path_gives(sqlite_saver: Saver, files: Path) -> None:
    for name in ("color.png", "depth.npy", "big.bin", "sub/small.bin"):
        sqlite_saver.save("r", message("r", {"path": name}), base_dir=files)
        blob = db_drivers.Blob.from_path(files / name)
        blob.close()
        assert result_of(sqlite_saver, "r").blobs["data"]["content_type"] == blob.content_type


# Idempotency -------------------------------------------------------------------------------------


def test_saving_twice_changes_nothing_and_stores_no_extra_bytes(saver: Saver, files: Path) -> None:
    paths = {"raw": {"path": "big.bin"}, "depth": {"path": "depth.npy"}, "small": {"path": "sub/small.bin"}}
    scan = message("scan", {**paths, "n": 1})
    first = saver.save("scan", json.dumps(scan), base_dir=files)
    blobs, stored = count_blobs(saver.driver), saver.driver.get_result(42, 1, "scan")
    assert blobs == 2 and stored is not None  # the big file and the depth map; the small one is inline
    second = saver.save("scan", json.dumps(scan), base_dir=files)
    assert (first.status, second.status) == ("new", "unchanged")
    assert second.snapshot_id == first.snapshot_id
    assert count_blobs(saver.driver) == blobs
    again = saver.driver.get_result(42, 1, "scan")
    assert again is not None and again.blobs == stored.blobs and again["n"] == 1
    assert saver.driver.get_users() == [{"user_id": 42, "username": "Dan Gittik"}]
    assert len(saver.driver.get_snapshots(42)) == 1


def test_a_fresh_saver_also_sees_nothing_new(driver_url: str, files: Path) -> None:
    scan = message("scan", {"path": "big.bin"})
    with Saver(driver_url) as first:
        assert first.save("scan", scan, base_dir=files).status == "new"
        blobs = count_blobs(first.driver)
    with Saver(driver_url) as second:
        assert second.save("scan", scan, base_dir=files).status == "unchanged"
        assert count_blobs(second.driver) == blobs


def test_a_changed_message_is_an_update_that_replaces_its_bytes(saver: Saver, files: Path) -> None:
    saver.save("scan", message("scan", {"path": "big.bin"}), base_dir=files)
    (files / "big.bin").write_bytes(os.urandom(BIG))
    assert saver.save("scan", message("scan", {"path": "big.bin"}), base_dir=files).status == "updated"
    assert count_blobs(saver.driver) == 1
    assert result_of(saver, "scan")["data"] == (files / "big.bin").read_bytes()
    renamed = message("scan", {"path": "big.bin"}, user={**USER, "username": "Dan"})
    assert saver.save("scan", renamed, base_dir=files).status == "updated"
    assert (saver.driver.get_user(42) or {})["username"] == "Dan"


# Bad messages ------------------------------------------------------------------------------------

GOOD = json.dumps(message("pose", {"x": 1.0}))


@pytest.mark.parametrize(
    ("data", "error", "named"),
    [
        ("{", db_drivers.InvalidInput, "not valid JSON"),
        (b"\xff\xfe\xfa", db_drivers.InvalidInput, "not valid JSON"),
        ("", db_drivers.InvalidInput, "not valid JSON"),
        ("[1, 2]", db_drivers.InvalidType, "must be a JSON object, not an array"),
        (12, db_drivers.InvalidType, "JSON text or a mapping"),
        (json.dumps({"datetime": WHEN_MS, "pose": {}}), db_drivers.InvalidInput, "no 'user' field"),
        (json.dumps({"user": USER, "pose": {}}), db_drivers.InvalidInput, "no 'datetime' field"),
        (
            json.dumps({"user": USER, "datetime": WHEN_MS, "feelings": {}}),
            db_drivers.InvalidInput,
            "no result 'pose' \\(results in it: 'feelings'\\)",
        ),
        (json.dumps(message("pose", {}, user=[42])), db_drivers.InvalidType, "user must be an object, not an array"),
        (json.dumps(message("pose", {}, user={"username": "x"})), db_drivers.InvalidInput, "user_id"),
        (json.dumps(message("pose", {}, user={"user_id": "42"})), db_drivers.InvalidType, "user_id must be an integer"),
        (json.dumps(message("pose", {}, user={"user_id": -1})), db_drivers.InvalidInput, "user_id"),
        (
            json.dumps(message("pose", {}, user={**USER, "birthday": "1992-03-05"})),
            db_drivers.InvalidType,
            "birthday must be seconds",
        ),
        (json.dumps(message("pose", {}, user={**USER, "height": float("nan")})), db_drivers.InvalidInput, "finite"),
        (json.dumps(message("pose", {}, datetime="2019-12-04")), db_drivers.InvalidType, "datetime must be"),
        (json.dumps(message("pose", [1, 2])), db_drivers.InvalidType, "result 'pose' must be a dict"),
        (json.dumps(message("pose", {"a.b": 1})), db_drivers.InvalidInput, "key 'a.b'"),
        (json.dumps(message("pose", {"x": float("inf")})), db_drivers.InvalidInput, "finite"),
    ],
)
def test_bad_messages_are_refused_and_save_nothing(
    sqlite_saver: Saver, data: Any, error: type[Exception], named: str
) -> None:
    with pytest.raises(error, match=named):
        sqlite_saver.save("pose", data)
    assert nothing_saved(sqlite_saver)
    assert sqlite_saver.save("pose", GOOD).status == "new"  # the saver is still usable


@pytest.mark.parametrize("name", ["datetime", "user", "user_id", "1pose", "po.se"])
def test_bad_result_names_save_nothing(sqlite_saver: Saver, name: str) -> None:
    with pytest.raises(db_drivers.InvalidInput):
        sqlite_saver.save(name, message("pose", {}, **{name: {}}))
    assert nothing_saved(sqlite_saver)


# Which database ----------------------------------------------------------------------------------


def test_the_url_comes_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.DATABASE_URL_ENV, f"sqlite:///{tmp_path / 'env.db'}")
    with Saver() as saver:
        saver.save("pose", GOOD)
    assert (tmp_path / "env.db").exists()


def test_the_default_is_the_embedded_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(settings.DATABASE_URL_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with Saver() as saver:
        assert saver.database_url == f"sqlite:///{tmp_path / 'data' / 'brainstorm' / 'brainstorm.db'}"
        saver.save("pose", GOOD)
    assert (tmp_path / "data" / "brainstorm" / "brainstorm.db").exists()
