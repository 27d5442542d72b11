"""The reading command line (`python -m brainstorm.cli`), run as a user runs it, and where the database is."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from brainstorm import settings
from brainstorm.saver import Saver
from brainstorm.saver._importer import import_directory
from fixtures.pipeline.generate import User, generate
from tests.conftest import ROOT, run_module

USERS = (User(7, "Ada Lovelace", -4911264000, "f", 3), User(42, "Dan Gittik", 699753600, "m", 2))
LONELY = 99  # a user with no snapshots
WHEN_MS = 1575454087339
COMMANDS = ["users", "user", "snapshots", "snapshot", "result"]
ARGUMENTS: dict[str, list[str | int]] = {
    "users": [],
    "user": [7],
    "snapshots": [7],
    "snapshot": [7, 1],
    "result": [7, 1, "pose"],
}


def cli(*args: str | int | Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run `python -m brainstorm.cli ARGS` to completion."""
    return run_module("brainstorm.cli", *args, env=env)


def ok(*args: str | int | Path, env: dict[str, str]) -> str:
    process = cli(*args, env=env)
    assert process.returncode == 0, process.stderr
    assert process.stderr == ""
    return process.stdout


def fails(*args: str | int | Path, env: dict[str, str], status: int = 1) -> str:
    """Run a command that must fail with one `Error:` line (exit status 1) and no traceback; return that line."""
    process = cli(*args, env=env)
    assert process.returncode == status, process.stdout + process.stderr
    assert "Traceback" not in process.stderr and process.stdout == ""
    line = process.stderr.strip().splitlines()[-1]
    if status == 1:
        assert len(process.stderr.strip().splitlines()) == 1, process.stderr
    assert line.startswith("Error: "), process.stderr
    return line


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A database holding a small pipeline dataset, plus results with several payloads, nested ones and a JPEG."""
    root = tmp_path_factory.mktemp("cli")
    generate(root / "messages", users=USERS, image_size=(64, 36))
    url = f"sqlite:///{root / 'brainstorm.db'}"
    with Saver(url) as saver:
        summary = import_directory(saver, root / "messages", progress=False)
        assert summary.done == summary.new == 20
        rng = np.random.default_rng(1)
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(root / "left.png")
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(root / "right.png")
        Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(root / "photo.jpg")
        user = {"user_id": 7, "username": "Ada Lovelace", "birthday": -4911264000, "gender": "f"}
        first = saver.driver.get_snapshots(7)[0]
        when = int((first["datetime"] - dt.datetime(1970, 1, 1)) / dt.timedelta(milliseconds=1))
        saver.save(
            "stereo",
            {
                "user": user,
                "datetime": when,
                "stereo": {
                    "baseline": 0.06,
                    "left": {"path": "left.png", "exposure": 1},
                    "right": {"path": "right.png"},
                },
            },
            base_dir=root,
        )
        saver.save("photo", {"user": user, "datetime": when, "photo": {"path": "photo.jpg"}}, base_dir=root)
        saver.driver.save_user({"user_id": LONELY, "username": "Nobody"})
    folder = sorted((root / "messages" / "7").iterdir())[0]
    return {"url": url, "root": root, "folder": folder, "snapshot": first["snapshot_id"]}


@pytest.fixture
def env(world: dict[str, Any], tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "BRAINSTORM_DATABASE_URL": world["url"], "XDG_DATA_HOME": str(tmp_path / "xdg"), "TZ": "UTC"}


# Reading ---------------------------------------------------------------------------------------


def test_users(env: dict[str, str]) -> None:
    assert ok("users", env=env) == ("USER_ID  USERNAME\n7        Ada Lovelace\n42       Dan Gittik\n99       Nobody\n")
    assert json.loads(ok("users", "--json", env=env)) == [
        {"user_id": 7, "username": "Ada Lovelace"},
        {"user_id": 42, "username": "Dan Gittik"},
        {"user_id": 99, "username": "Nobody"},
    ]


def test_user(env: dict[str, str]) -> None:
    assert (
        ok("user", 42, env=env)
        == "user_id   42\nusername  Dan Gittik\nbirthday  1992-03-05 00:00:00.000 UTC\ngender    m\n"
    )
    assert json.loads(ok("user", 7, "--json", env=env)) == {
        "user_id": 7,
        "username": "Ada Lovelace",
        "birthday": "1814-05-15T16:00:00.000Z",
        "gender": "f",
    }


def test_snapshots(env: dict[str, str], world: dict[str, Any]) -> None:
    lines = ok("snapshots", 7, env=env).splitlines()
    assert lines[0].split() == ["SNAPSHOT_ID", "DATETIME"]
    assert [line.split()[0] for line in lines[1:]] == ["1", "2", "3"]
    listed = json.loads(ok("snapshots", 7, "--json", env=env))
    assert [s["snapshot_id"] for s in listed] == [1, 2, 3]
    times = [dt.datetime.fromisoformat(s["datetime"]) for s in listed]
    assert times == sorted(times) and all(t.tzinfo == dt.UTC for t in times)
    folders = sorted(int(p.name) for p in (world["root"] / "messages" / "7").iterdir())
    assert [int(t.timestamp() * 1000) for t in times] == folders
    assert lines[1].split()[1:] == [times[0].strftime("%Y-%m-%d"), times[0].strftime("%H:%M:%S.%f")[:-3], "UTC"]
    assert ok("snapshots", LONELY, env=env) == "SNAPSHOT_ID  DATETIME\n(none)\n"


def test_snapshot(env: dict[str, str]) -> None:
    shown = ok("snapshot", 7, 1, env=env)
    assert "available_results  color_image, depth_image, feelings, photo, pose, stereo\n" in shown
    assert shown.startswith("snapshot_id        1\ndatetime           2019-12-04 ")
    snapshot = json.loads(ok("snapshot", 42, 2, "--json", env=env))
    assert snapshot["user_id"] == 42 and snapshot["snapshot_id"] == 2
    assert snapshot["available_results"] == ["color_image", "depth_image", "feelings", "pose"]
    assert snapshot["datetime"].endswith("Z")


def test_result_fields(env: dict[str, str], world: dict[str, Any]) -> None:
    pose = json.loads((world["folder"] / "pose.json").read_text())["pose"]
    lines = ok("result", 7, 1, "pose", env=env).splitlines()
    assert [line.split()[0] for line in lines] == [
        "translation.x",
        "translation.y",
        "translation.z",
        "rotation.x",
        "rotation.y",
        "rotation.z",
        "rotation.w",
        "units.translation",  # the field metadata the parser declares is a field like any other
        "units.rotation",
    ]
    assert float(lines[0].split()[1]) == pose["translation"]["x"]
    assert json.loads(ok("result", 7, 1, "pose", "--json", env=env)) == {
        "user_id": 7,
        "snapshot_id": 1,
        "result_name": "pose",
        "fields": pose,
        "payloads": {},
    }
    feelings = json.loads(ok("result", 7, 1, "feelings", "--json", env=env))["fields"]
    assert set(feelings) == {"hunger", "thirst", "exhaustion", "happiness", "scale"}
    assert feelings.pop("scale") == [-1.0, 1.0]
    assert all(isinstance(value, float) for value in feelings.values())  # decoded from Extended JSON


def test_result_payloads_are_described_never_printed(env: dict[str, str], world: dict[str, Any]) -> None:
    png = (world["folder"] / "color_image.png").read_bytes()
    shown = ok("result", 7, 1, "color_image", env=env)
    assert shown.startswith("width   64\nheight  36\ndata    <bytes payload: image/png, ")
    assert f"{len(png):,} bytes" in shown and hashlib.sha256(png).hexdigest()[:16] in shown
    described = json.loads(ok("result", 7, 1, "depth_image", "--json", env=env))
    npy = (world["folder"] / "depth_image.npy").read_bytes()
    assert described["fields"] == {"width": 224, "height": 172, "data": None, "units": {"data": "m"}}
    depth = np.load(world["folder"] / "depth_image.npy")
    assert described["payloads"] == {
        "data": {
            "kind": "ndarray",
            "content_type": "application/x-npy",
            "length": len(npy),
            "sha256": hashlib.sha256(npy).hexdigest(),
            "minimum": float(depth.min()),
            "maximum": float(depth.max()),
        }
    }


def test_result_with_nested_payloads(env: dict[str, str]) -> None:
    shown = ok("result", 7, 1, "stereo", env=env).splitlines()
    assert [line.split()[0] for line in shown] == ["baseline", "left.data", "left.exposure", "right.data"]
    assert "<bytes payload: image/png" in shown[1]
    described = json.loads(ok("result", 7, 1, "stereo", "--json", env=env))
    assert described["fields"] == {"baseline": 0.06, "left": {"data": None, "exposure": 1}, "right": {"data": None}}
    assert sorted(described["payloads"]) == ["left.data", "right.data"]


# --save ----------------------------------------------------------------------------------------


def test_save_an_image_streams_the_stored_png(env: dict[str, str], world: dict[str, Any], tmp_path: Path) -> None:
    shown = ok("result", 7, 1, "color_image", "--save", tmp_path / "out.png", env=env)
    png = (world["folder"] / "color_image.png").read_bytes()
    assert shown == f"wrote data to {tmp_path / 'out.png'} (image/png, {len(png):,} bytes)\n"
    assert (tmp_path / "out.png").read_bytes() == png
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no partial file left beside it


def test_save_an_array_as_npy(env: dict[str, str], world: dict[str, Any], tmp_path: Path) -> None:
    ok("result", 7, 1, "depth_image", "--save", tmp_path / "depth.npy", env=env)
    np.testing.assert_array_equal(np.load(tmp_path / "depth.npy"), np.load(world["folder"] / "depth_image.npy"))


def test_save_into_a_directory_names_the_file(env: dict[str, str], tmp_path: Path) -> None:
    ok("result", 7, 1, "depth_image", "--save", tmp_path, env=env)
    ok("result", 7, 1, "stereo", "--save", tmp_path, "--key", "right.data", env=env)
    ok("result", 7, 1, "photo", "--save", tmp_path, env=env)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "7-1-depth_image.npy",
        "7-1-photo.jpg",
        "7-1-stereo-right.data.png",
    ]


def test_save_to_standard_output(env: dict[str, str], world: dict[str, Any]) -> None:
    process = subprocess.run(
        [sys.executable, "-m", "brainstorm.cli", "result", "7", "1", "depth_image", "--save", "-"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert process.returncode == 0
    assert process.stdout == (world["folder"] / "depth_image.npy").read_bytes()
    assert b"wrote data to standard output" in process.stderr


def test_save_with_json_reports_what_was_written(env: dict[str, str], tmp_path: Path) -> None:
    report = json.loads(ok("result", 7, 1, "color_image", "--save", tmp_path / "c.png", "--json", env=env))
    assert report["path"] == str(tmp_path / "c.png") and report["key"] == "data"
    assert report["content_type"] == "image/png" and report["written"] == report["length"]
    assert report["sha256"] == hashlib.sha256((tmp_path / "c.png").read_bytes()).hexdigest()


def test_save_picks_a_payload_by_key(env: dict[str, str], world: dict[str, Any], tmp_path: Path) -> None:
    ok("result", 7, 1, "stereo", "--save", tmp_path / "left.png", "--key", "left.data", env=env)
    assert (tmp_path / "left.png").read_bytes() == (world["root"] / "left.png").read_bytes()
    assert "choose one with --key: left.data, right.data" in fails(
        "result", 7, 1, "stereo", "--save", tmp_path / "x.png", env=env
    )
    assert "no payload 'middle.data'; its payloads: left.data, right.data" in fails(
        "result", 7, 1, "stereo", "--save", tmp_path / "x.png", "--key", "middle.data", env=env
    )
    assert "holds no payload" in fails("result", 7, 1, "pose", "--save", tmp_path / "x", env=env)
    assert "--key chooses the payload to --save" in fails(
        "result", 7, 1, "stereo", "--key", "left.data", env=env, status=2
    )
    assert not (tmp_path / "x.png").exists() and not (tmp_path / "x").exists()


def test_save_converts_another_image_format_to_png(env: dict[str, str], world: dict[str, Any], tmp_path: Path) -> None:
    ok("result", 7, 1, "photo", "--save", tmp_path / "photo.png", env=env)
    with Image.open(tmp_path / "photo.png") as converted, Image.open(world["root"] / "photo.jpg") as original:
        assert converted.format == "PNG"
        assert converted.tobytes() == original.convert("RGB").tobytes()
    ok("result", 7, 1, "photo", "--save", tmp_path / "photo.jpg", env=env)
    assert (tmp_path / "photo.jpg").read_bytes() == (world["root"] / "photo.jpg").read_bytes()


@pytest.mark.parametrize(
    ("result", "name", "problem"),
    [
        ("depth_image", "d.png", "d.png says image/png, but this payload is a .npy array: save it to a .npy path"),
        ("depth_image", "d.bin", "but this payload is a .npy array: save it to a .npy path"),
        ("color_image", "c.jpg", "c.jpg says image/jpeg, but this payload is image/png: save it to a .png path"),
        ("color_image", "c.npy", "c.npy says application/x-npy, but this payload is image/png"),
        ("photo", "p.tiff", "(or to a .png path, to convert the image)"),
        ("photo", "p.txt", "p.txt says text/plain, but this payload is image/jpeg: save it to a .jpg path"),
    ],
)
def test_save_refuses_a_name_whose_extension_contradicts_the_payload(
    env: dict[str, str], tmp_path: Path, result: str, name: str, problem: str
) -> None:
    assert problem in fails("result", 7, 1, result, "--save", tmp_path / name, env=env)
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


@pytest.mark.parametrize(("result", "name"), [("photo", "p.jpeg"), ("color_image", "colour"), ("depth_image", "d.NPY")])
def test_save_takes_an_alias_a_name_without_extension_or_any_case(
    env: dict[str, str], world: dict[str, Any], tmp_path: Path, result: str, name: str
) -> None:
    shown = ok("result", 7, 1, result, "--save", tmp_path / name, env=env)
    assert "converted" not in shown and (tmp_path / name).stat().st_size > 0


def test_save_says_when_it_converted(env: dict[str, str], tmp_path: Path) -> None:
    shown = ok("result", 7, 1, "photo", "--save", tmp_path / "p.png", env=env)
    assert shown.startswith(f"wrote data to {tmp_path / 'p.png'} (image/jpeg converted to image/png, ")
    report = json.loads(ok("result", 7, 1, "photo", "--save", tmp_path / "q.png", "--json", env=env))
    assert report["converted_to"] == "image/png" and report["content_type"] == "image/jpeg"


def test_save_to_an_unwritable_place(env: dict[str, str], tmp_path: Path) -> None:
    line = fails("result", 7, 1, "color_image", "--save", tmp_path / "no" / "such" / "dir.png", env=env)
    assert "No such file or directory" in line


# Errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", 5], "there is no user 5"),
        (["snapshots", 5], "there is no user 5"),
        (["snapshot", 5, 1], "there is no user 5"),
        (["snapshot", 7, 9], "user 7 has no snapshot 9"),
        (["snapshot", 7, 0], "user 7 has no snapshot 0"),
        (["result", 5, 1, "pose"], "there is no user 5"),
        (["result", 7, 9, "pose"], "user 7 has no snapshot 9"),
        (
            ["result", 42, 1, "stereo"],
            "snapshot 1 of user 42 has no result 'stereo'; its results: color_image, depth_image, feelings, pose",
        ),
        (["result", 7, 1, "bad name"], "result name 'bad name' must match"),
        (["user", 2**63], "user_id must be between 0 and 2**63 - 1"),
    ],
)
def test_unknown_things_are_one_line(env: dict[str, str], args: list[Any], message: str) -> None:
    assert message in fails(*args, env=env)
    assert message in fails(*args, "--json", env=env)


@pytest.mark.parametrize("args", [["user", "x"], ["snapshot", 7], ["result", 7, 1], ["nope"], ["users", "--nope"]])
def test_usage_errors(env: dict[str, str], args: list[Any]) -> None:
    fails(*args, env=env, status=2)


UNREACHABLE = "mongodb://reader:pa55word@127.0.0.1:1/db?serverSelectionTimeoutMS=200&authSource=admin"
BAD_DATABASES = [
    ("nope://x", "no database driver for 'nope://x'; known URL schemes: mongodb://, sqlite://"),
    ("brainstorm.db", "database URL 'brainstorm.db' has no scheme"),
    ("sqlite://host/x.db", "SQLite URLs have no host"),
    ("sqlite:///{tmp}/missing/x.db", "cannot open SQLite database"),
    (UNREACHABLE, "MongoDB at mongodb://***@127.0.0.1:1/db"),
]


@pytest.mark.parametrize(
    ("command", "url", "message"),
    [("users", url, message) for url, message in BAD_DATABASES]
    + [(command, UNREACHABLE, BAD_DATABASES[-1][1]) for command in COMMANDS if command != "users"],
)
def test_bad_databases_are_one_line_without_credentials(
    env: dict[str, str], tmp_path: Path, url: str, message: str, command: str
) -> None:
    args = ARGUMENTS[command]
    process = cli(command, *args, "-d", url.format(tmp=tmp_path), env=env)
    assert process.returncode == 1
    assert "Traceback" not in process.stderr and "pa55word" not in process.stderr + process.stdout
    assert process.stderr.startswith("Error: ") and message in process.stderr
    assert len(process.stderr.strip().splitlines()) == 1


# Which database --------------------------------------------------------------------------------


def test_database_option_on_the_group_or_the_command(
    env: dict[str, str], world: dict[str, Any], tmp_path: Path
) -> None:
    other = {**env, "BRAINSTORM_DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    assert ok("users", env=other) == "USER_ID  USERNAME\n(none)\n"
    assert "Ada Lovelace" in ok("users", "-d", world["url"], env=other)
    assert "Ada Lovelace" in ok("-d", world["url"], "users", env=other)
    assert "Ada Lovelace" in ok("--database", world["url"], "users", env=other)
    assert ok("-d", world["url"], "users", "-d", other["BRAINSTORM_DATABASE_URL"], env=env).endswith("(none)\n")
    assert json.loads(ok("--json", "user", 42, "-d", world["url"], env=other))["username"] == "Dan Gittik"


def test_the_default_is_the_embedded_database(env: dict[str, str], tmp_path: Path) -> None:
    del env["BRAINSTORM_DATABASE_URL"]
    assert ok("users", env=env) == "USER_ID  USERNAME\n(none)\n"
    assert (tmp_path / "xdg" / "brainstorm" / "brainstorm.db").exists()


def test_help_and_version(env: dict[str, str]) -> None:
    assert "snapshots" in ok("--help", env=env) and "BRAINSTORM_DATABASE_URL" in ok("--help", env=env)
    for command in COMMANDS:
        assert "--database" in ok(command, "--help", env=env)
    assert ok("--version", env=env).startswith("brainstorm, version ")


# brainstorm.settings -----------------------------------------------------------------------------


def test_explicit_url_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(settings.DATABASE_URL_ENV, "mongodb://env")
    assert settings.database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert settings.database_url() == "mongodb://env"


def test_default_url_under_xdg_data_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(settings.DATABASE_URL_ENV, "")  # empty counts as unset
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    assert settings.database_url() == f"sqlite:///{tmp_path}/data/brainstorm/brainstorm.db"
    assert (tmp_path / "data" / "brainstorm").is_dir()


@pytest.mark.parametrize("xdg", [None, "", "relative/dir"])
def test_default_url_falls_back_to_local_share(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, xdg: str | None
) -> None:
    monkeypatch.delenv(settings.DATABASE_URL_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    if xdg is None:
        monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_DATA_HOME", xdg)
    assert settings.database_url() == f"sqlite:///{tmp_path}/.local/share/brainstorm/brainstorm.db"
    assert settings.default_database_path() == tmp_path / ".local" / "share" / "brainstorm" / "brainstorm.db"


@pytest.mark.parametrize(
    ("zone", "shown"),
    [
        ("UTC", "2019-12-04 10:08:07.000 UTC"),
        ("Asia/Jerusalem", "2019-12-04 12:08:07.000 +02:00"),
        ("America/St_Johns", "2019-12-04 06:38:07.000 -03:30"),
        ("Asia/Kolkata", "2019-12-04 15:38:07.000 +05:30"),
    ],
)
def test_times_are_shown_in_the_local_zone_with_the_zone_named(zone: str, shown: str) -> None:
    """What a person sees, as they run it: the `brainstorm` process under their TZ, in the viewer's format."""
    code = (
        "import datetime as dt; from brainstorm.cli._format import readable_time; "
        "print(readable_time(dt.datetime(2019, 12, 4, 10, 8, 7)))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env={**os.environ, "TZ": zone}, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == shown


def test_readable_output_of_odd_values() -> None:
    from brainstorm import views
    from brainstorm.cli import _format

    assert _format.readable_time(dt.datetime(2019, 12, 4, 10, 8, 7, 5000)) == "2019-12-04 10:08:07.005 UTC"
    assert views.iso(dt.datetime(2019, 12, 4, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == (
        "2019-12-04T10:00:00.000Z"
    )
    assert _format.size(1023) == "1,023 bytes" and _format.size(3 * 1024**3) == "3,221,225,472 bytes (3.0 GiB)"
    assert _format.flatten({"a": {"b": [1, 2]}, "c": [{"d": None}], "e": {}}) == [
        ("a.b", [1, 2]),
        ("c.0.d", None),
        ("e", {}),
    ]
    assert _format.table(["A", "LONG"], [(1, None), (True, [1, 2])]) == "A     LONG\n1     -\ntrue  1, 2"
