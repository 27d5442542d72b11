"""`python -m brainstorm.saver save|import`, run as a user runs it: real processes, exit status and output."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest
from PIL import Image

import brainstorm.database_drivers as db_drivers
from brainstorm.testing.helpers import count_blobs
from fixtures.pipeline.generate import User, generate
from tests.conftest import ROOT, run_module

USERS = (User(7, "Ada Lovelace", -4911264000, "f", 3), User(42, "Dan Gittik", 699753600, "m", 2))
MESSAGES = 4 * (3 + 2)
USER = {"user_id": 42, "username": "Dan Gittik", "birthday": 699753600, "gender": "m"}
WHEN_MS = 1575454087339


def saver(
    *args: str | Path, env: dict[str, str], stdin: str | None = None, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    """Run `python -m brainstorm.saver ARGS` to completion."""
    return run_module("brainstorm.saver", *args, env=env, stdin=stdin, cwd=cwd)


def assert_one_error_line(process: subprocess.CompletedProcess[str], *fragments: str) -> None:
    """Exit status 1 and one `Error: ...` line naming every fragment, no traceback."""
    assert process.returncode == 1, process.stderr
    assert "Traceback" not in process.stderr
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), process.stderr
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small pipeline dataset (5 snapshots, 20 messages) written the way the parsers write it."""
    directory = tmp_path_factory.mktemp("pipeline") / "messages"
    generate(directory, users=USERS, image_size=(64, 36))
    return directory


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'brainstorm.db'}"


@pytest.fixture
def env(tmp_path: Path, db_url: str) -> dict[str, str]:
    """The environment of a user whose BRAINSTORM_DATABASE_URL points at this test's database."""
    return {**os.environ, "BRAINSTORM_DATABASE_URL": db_url, "XDG_DATA_HOME": str(tmp_path / "xdg")}


@pytest.fixture
def database(db_url: str) -> Iterator[db_drivers.Driver]:
    with db_drivers.connect(db_url) as driver:
        yield driver


def write_message(path: Path, name: str, result: Any, datetime: Any = WHEN_MS) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"user": USER, "datetime": datetime, name: result}))
    return path


# save ------------------------------------------------------------------------------------------


def test_save_a_message_file(tmp_path: Path, env: dict[str, str], database: db_drivers.Driver) -> None:
    (tmp_path / "parsed").mkdir()
    Image.new("RGB", (8, 4), "red").save(tmp_path / "parsed" / "color.png")
    message = write_message(
        tmp_path / "parsed" / "color_image.json", "color_image", {"width": 8, "height": 4, "path": "color.png"}
    )
    first = saver("save", "color_image", message, env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "saved color_image of user 42, snapshot 1 (new)\n"
    again = saver("save", "color_image", message, env=env)
    assert again.stdout == "saved color_image of user 42, snapshot 1 (unchanged)\n"
    result = database.get_result(42, 1, "color_image")
    assert result is not None and result["data"] == (tmp_path / "parsed" / "color.png").read_bytes()
    assert (database.get_user(42) or {})["username"] == "Dan Gittik"


def test_save_from_standard_input_resolves_paths_against_the_current_directory(
    tmp_path: Path, env: dict[str, str], database: db_drivers.Driver
) -> None:
    np.save(tmp_path / "depth.npy", np.eye(3, dtype=np.float32))
    text = json.dumps({"user": USER, "datetime": WHEN_MS, "depth_image": {"path": "depth.npy"}})
    process = saver("save", "-d", env["BRAINSTORM_DATABASE_URL"], "depth_image", "-", env=env, stdin=text, cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    result = database.get_result(42, 1, "depth_image")
    assert result is not None
    np.testing.assert_array_equal(result["data"], np.eye(3, dtype=np.float32))


def test_save_takes_extended_json(tmp_path: Path, env: dict[str, str], database: db_drivers.Driver) -> None:
    message = tmp_path / "feelings.json"
    message.write_text(
        json.dumps(
            {
                "user": {"user_id": {"$numberInt": "42"}},
                "datetime": {"$date": "2019-12-04T10:08:07.339Z"},
                "feelings": {
                    "hunger": {"$numberDouble": "0.5"},
                    "raw": {"$binary": {"base64": "AAE=", "subType": "00"}},
                },
            }
        )
    )
    assert saver("save", "feelings", message, env=env).returncode == 0
    assert dict(database.get_result(42, 1, "feelings") or {}) == {"hunger": 0.5, "raw": b"\x00\x01"}


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        ("{not json", ["message.json: ", "not valid JSON"]),
        (json.dumps({"user": USER, "datetime": WHEN_MS}), ["message.json: ", "no result 'pose'"]),
        (
            json.dumps({"user": USER, "datetime": WHEN_MS, "pose": {"path": "missing.png"}}),
            ["message.json: ", "missing.png", "cannot be read: No such file or directory"],
        ),
        (json.dumps({"user": {"user_id": "x"}, "datetime": WHEN_MS, "pose": {}}), ["user_id must be an integer"]),
    ],
)
def test_save_errors_are_one_line_and_save_nothing(
    tmp_path: Path, env: dict[str, str], database: db_drivers.Driver, content: str, fragments: list[str]
) -> None:
    (tmp_path / "message.json").write_text(content)
    assert_one_error_line(saver("save", "pose", tmp_path / "message.json", env=env), *fragments)
    assert database.get_users() == []


def test_save_usage_errors(tmp_path: Path, env: dict[str, str]) -> None:
    missing = saver("save", "pose", tmp_path / "nope.json", env=env)
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert saver("save", "pose", env=env).returncode == 2
    assert saver("save", "--help", env=env).returncode == 0


# import ----------------------------------------------------------------------------------------


def test_import_saves_every_message_with_progress_and_a_summary(
    dataset: Path, env: dict[str, str], database: db_drivers.Driver, db_url: str
) -> None:
    process = saver("import", dataset, env=env)
    assert process.returncode == 0, process.stderr
    assert process.stdout.startswith(f"imported {MESSAGES} messages in ")
    assert process.stdout.rstrip().endswith(f"{MESSAGES} new, 0 updated, 0 unchanged, 0 failed")
    assert f"importing {dataset} into {db_url}" in process.stderr
    assert f"{MESSAGES}/{MESSAGES} messages" in process.stderr and "msg/s" in process.stderr
    assert "B/s" in process.stderr  # the byte rate
    assert database.get_users() == [
        {"user_id": 7, "username": "Ada Lovelace"},
        {"user_id": 42, "username": "Dan Gittik"},
    ]
    assert [len(database.get_snapshots(user.user_id)) for user in USERS] == [3, 2]
    first = database.get_snapshots(7)[0]
    snapshot = database.get_snapshot(7, first["snapshot_id"])
    assert snapshot is not None and snapshot["available_results"] == ["color_image", "depth_image", "feelings", "pose"]
    folder = sorted((dataset / "7").iterdir())[0]  # the earliest snapshot's messages
    color = database.get_result(7, first["snapshot_id"], "color_image")
    depth = database.get_result(7, first["snapshot_id"], "depth_image")
    assert color is not None and color["data"] == (folder / "color_image.png").read_bytes()
    assert depth is not None
    np.testing.assert_array_equal(depth["data"], np.load(folder / "depth_image.npy"))
    assert (database.get_user(7) or {})["gender"] == "f"


def test_importing_again_saves_nothing_new(dataset: Path, env: dict[str, str], database: db_drivers.Driver) -> None:
    assert saver("import", dataset, env=env).returncode == 0
    blobs = count_blobs(database)
    assert blobs == 5  # the depth maps (150 KiB each); the small colour images are kept inline
    again = saver("import", "--no-progress", dataset, env=env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.rstrip().endswith(f"0 new, 0 updated, {MESSAGES} unchanged, 0 failed")
    assert "messages [" not in again.stderr  # --no-progress
    assert count_blobs(database) == blobs


def test_import_reports_bad_files_and_goes_on(
    tmp_path: Path, dataset: Path, env: dict[str, str], database: db_drivers.Driver
) -> None:
    messages = tmp_path / "messages"
    shutil.copytree(dataset, messages)
    (messages / "7" / "broken.json").write_text("{")
    write_message(messages / "zz" / "two.json", "pose", {}).write_text(
        json.dumps({"user": USER, "datetime": WHEN_MS, "pose": {}, "feelings": {}})
    )
    write_message(messages / "zz" / "lost.json", "color_image", {"path": "gone.png"})
    (messages / "dir.json").mkdir()  # not a message: skipped
    process = saver("import", messages, env=env)
    assert process.returncode == 1
    assert "Traceback" not in process.stderr
    assert f"error: {messages / '7' / 'broken.json'}: not valid JSON" in process.stderr
    assert f"error: {messages / 'zz' / 'two.json'}: a message carries one result" in process.stderr
    assert f"error: {messages / 'zz' / 'lost.json'}: result 'color_image' at path names the file" in process.stderr
    assert "3 message(s) failed" in process.stderr
    assert process.stdout.rstrip().endswith(f"{MESSAGES} new, 0 updated, 0 unchanged, 3 failed")
    assert [len(database.get_snapshots(user.user_id)) for user in USERS] == [3, 2]


HOSTILE_PATHS = [
    ("outside.json", "../../outside/secret.bin", "resolves to {outside}/secret.bin, outside the directories"),
    ("symlink.json", "escape.bin", "resolves to {outside}/secret.bin, outside the directories"),
    ("zero.json", "/dev/zero", "is outside the directories"),
    ("environ.json", "/proc/self/environ", "outside the directories"),
    ("fifo.json", "fifo", "is a FIFO, not a regular file"),
    ("directory.json", ".", "is a directory, not a regular file"),
]


def write_hostile_messages(folder: Path, outside: Path) -> list[tuple[Path, int, str, str]]:
    """One message per hostile path in `folder`, each of its own user and with a good big payload too.

    Returns (message file, user id, path value, expected reason) for each.
    """
    folder.mkdir(parents=True)
    outside.mkdir()
    (outside / "secret.bin").write_bytes(b"not yours")
    (folder / "escape.bin").symlink_to(outside / "secret.bin")
    os.mkfifo(folder / "fifo")
    written = []
    for user_id, (name, path, reason) in enumerate(HOSTILE_PATHS, start=1000):
        (folder / f"{user_id}.bin").write_bytes(os.urandom(20_000))  # big enough for the blob store
        scan = {"left": {"path": f"{user_id}.bin"}, "right": {"path": path}}
        message = folder / name
        message.write_text(json.dumps({"user": {"user_id": user_id}, "datetime": WHEN_MS, "scan": scan}))
        written.append((message, user_id, path, reason.format(outside=os.path.realpath(outside))))
    return written


def test_import_refuses_files_a_message_may_not_name_and_goes_on(
    tmp_path: Path, dataset: Path, env: dict[str, str], database: db_drivers.Driver
) -> None:
    messages = tmp_path / "messages"
    shutil.copytree(dataset, messages)
    assert saver("import", messages, env=env).returncode == 0
    blobs = count_blobs(database)
    hostile = write_hostile_messages(messages / "hostile", tmp_path / "outside")
    process = saver("import", "--no-progress", messages, env=env)
    assert process.returncode == 1, process.stderr
    assert "Traceback" not in process.stderr
    for message, _, path, reason in hostile:
        line = next(line for line in process.stderr.splitlines() if line.startswith(f"error: {message}: "))
        assert f"result 'scan' at right.path names the file {path!r}" in line and reason in line, line
    assert f"{len(hostile)} message(s) failed" in process.stderr
    assert process.stdout.rstrip().endswith(f"0 new, 0 updated, {MESSAGES} unchanged, {len(hostile)} failed")
    assert [user["user_id"] for user in database.get_users()] == [user.user_id for user in USERS]
    assert all(database.get_snapshots(user_id) == [] for _, user_id, _, _ in hostile)
    assert count_blobs(database) == blobs


@pytest.fixture
def shared_photo(tmp_path: Path) -> Path:
    """A message in `messages/` naming a photo in a sibling directory, `shared/`."""
    (tmp_path / "shared").mkdir()
    Image.new("RGB", (8, 4), "blue").save(tmp_path / "shared" / "photo.png")
    return write_message(tmp_path / "messages" / "photo.json", "photo", {"path": "../shared/photo.png"})


@pytest.mark.parametrize("command", ["import", "save"])
def test_allow_path_lets_messages_name_files_in_another_directory(
    tmp_path: Path, env: dict[str, str], database: db_drivers.Driver, shared_photo: Path, command: str
) -> None:
    target = [shared_photo.parent] if command == "import" else ["photo", shared_photo]
    refused = saver(command, *target, env=env)
    assert refused.returncode == 1
    assert "names the file '../shared/photo.png'" in refused.stderr and "outside the directories" in refused.stderr
    assert database.get_users() == []
    allowed = saver(command, "--allow-path", tmp_path / "shared", "--allow-path", tmp_path, *target, env=env)
    assert allowed.returncode == 0, allowed.stderr
    result = database.get_result(42, 1, "photo")
    assert result is not None and result["data"] == (tmp_path / "shared" / "photo.png").read_bytes()


def test_save_refuses_a_fifo_in_one_line_without_opening_it(
    tmp_path: Path, env: dict[str, str], database: db_drivers.Driver
) -> None:
    os.mkfifo(tmp_path / "fifo")
    message = write_message(tmp_path / "m.json", "scan", {"path": "fifo"})
    process = saver("save", "scan", message, env=env)
    assert_one_error_line(process, "m.json: ", "names the file 'fifo'", "is a FIFO, not a regular file")
    assert database.get_users() == []


def test_standard_input_may_name_files_in_the_current_directory_and_allowed_ones_only(
    tmp_path: Path, env: dict[str, str], database: db_drivers.Driver, shared_photo: Path
) -> None:
    text, cwd = shared_photo.read_text(), shared_photo.parent
    refused = saver("save", "photo", "-", env=env, stdin=text, cwd=cwd)
    assert_one_error_line(refused, "<stdin>: ", "'../shared/photo.png'", "outside the directories")
    assert database.get_users() == []
    allowed = saver("save", "--allow-path", tmp_path / "shared", "photo", "-", env=env, stdin=text, cwd=cwd)
    assert allowed.returncode == 0, allowed.stderr


def test_import_of_an_empty_directory(tmp_path: Path, env: dict[str, str]) -> None:
    (tmp_path / "empty").mkdir()
    process = saver("import", tmp_path / "empty", env=env)
    assert process.returncode == 0, process.stderr
    assert "imported 0 messages" in process.stdout


def test_import_usage_errors(tmp_path: Path, env: dict[str, str]) -> None:
    assert saver("import", tmp_path / "nowhere", env=env).returncode == 2
    write_message(tmp_path / "m.json", "pose", {})
    assert saver("import", tmp_path / "m.json", env=env).returncode == 2


def test_import_into_the_default_database(dataset: Path, env: dict[str, str], tmp_path: Path) -> None:
    del env["BRAINSTORM_DATABASE_URL"]
    process = saver("import", dataset, env=env)
    assert process.returncode == 0, process.stderr
    default = tmp_path / "xdg" / "brainstorm" / "brainstorm.db"
    assert f"into sqlite:///{default}" in process.stderr
    with db_drivers.connect(f"sqlite:///{default}") as driver:
        assert len(driver.get_users()) == 2


@pytest.mark.parametrize(
    ("url", "fragments"),
    [
        ("nope://somewhere", ["no database driver for 'nope://somewhere'"]),
        ("localhost:27017", ["has no scheme"]),
        ("sqlite:///{tmp}/no/such/dir/x.db", ["cannot open SQLite database"]),
        (
            "mongodb://admin:s3cret@127.0.0.1:1/?serverSelectionTimeoutMS=200",
            ["mongodb://***@127.0.0.1:1", "unavailable"],
        ),
    ],
)
def test_bad_databases_are_one_line(
    tmp_path: Path, dataset: Path, env: dict[str, str], url: str, fragments: list[str]
) -> None:
    url = url.format(tmp=tmp_path)
    for process in (
        saver("import", "-d", url, dataset, env=env),
        saver("save", "-d", url, "pose", next(dataset.rglob("pose.json")), env=env),
    ):
        assert_one_error_line(process, *fragments)
        assert "s3cret" not in process.stderr + process.stdout


def test_import_into_mongodb(dataset: Path, env: dict[str, str], mongodb_url: str) -> None:
    env["BRAINSTORM_DATABASE_URL"] = mongodb_url
    assert saver("import", dataset, env=env).returncode == 0
    again = saver("import", dataset, env=env)
    assert again.stdout.rstrip().endswith(f"0 new, 0 updated, {MESSAGES} unchanged, 0 failed")
    users = subprocess.run(
        [sys.executable, "-m", "brainstorm.cli", "users", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(users.stdout) == [
        {"user_id": 7, "username": "Ada Lovelace"},
        {"user_id": 42, "username": "Dan Gittik"},
    ]


# Ctrl-C ----------------------------------------------------------------------------------------


class Watched:
    """A running process whose stderr is collected in the background, so a test can wait for a line."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            args, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        self.stderr = ""
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        while character := stream.read(1):
            self.stderr += character

    def wait_for(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stderr:
            assert time.monotonic() < deadline, f"{text!r} never appeared on stderr: {self.stderr!r}"
            time.sleep(0.01)

    def finish(self) -> tuple[int, str, str]:
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()  # not communicate(): it would take stderr from the reader thread
        self.process.wait(timeout=60)
        self._reader.join(timeout=10)
        return self.process.returncode, stdout, self.stderr


def three_messages(folder: Path) -> tuple[Path, Path, Path]:
    """a.json and c.json are files; b.json is a FIFO, so the test decides when the importer may read it."""
    a = write_message(folder / "a.json", "pose", {"n": 1}, WHEN_MS)
    os.mkfifo(folder / "b.json")
    c = write_message(folder / "c.json", "pose", {"n": 3}, WHEN_MS + 2000)
    return a, folder / "b.json", c


def test_ctrl_c_finishes_the_current_message_then_stops(
    tmp_path: Path, env: dict[str, str], database: db_drivers.Driver
) -> None:
    _, b, _ = three_messages(tmp_path / "messages")
    watched = Watched([sys.executable, "-m", "brainstorm.saver", "import", str(tmp_path / "messages")], env)
    with b.open("w") as fifo:  # opens once the importer is reading b.json
        watched.process.send_signal(signal.SIGINT)
        watched.wait_for("stopping after the current message")
        fifo.write(json.dumps({"user": USER, "datetime": WHEN_MS + 1000, "pose": {"n": 2}}))
    status, stdout, stderr = watched.finish()
    assert status == 130, stderr
    assert "Traceback" not in stderr
    assert stdout.startswith("stopped after 2 of 3 messages")
    assert [dict(database.get_result(42, s["snapshot_id"], "pose") or {}) for s in database.get_snapshots(42)] == [
        {"n": 1},
        {"n": 2},
    ]


def test_ctrl_c_twice_abandons_the_current_message(
    tmp_path: Path, env: dict[str, str], database: db_drivers.Driver
) -> None:
    _, b, _ = three_messages(tmp_path / "messages")
    watched = Watched([sys.executable, "-m", "brainstorm.saver", "import", str(tmp_path / "messages")], env)
    with b.open("w"):
        watched.process.send_signal(signal.SIGINT)
        watched.wait_for("press Ctrl-C again")
        watched.process.send_signal(signal.SIGINT)
        status, stdout, stderr = watched.finish()
    assert status == 130, stderr
    assert "Traceback" not in stderr
    assert f"abandoned {b}" in stderr
    assert stdout.startswith("stopped after 1 of 3 messages")
    assert [s["datetime"].second for s in database.get_snapshots(42)] == [7]  # a only
    b.unlink()
    write_message(b, "pose", {"n": 2}, WHEN_MS + 1000)
    rerun = saver("import", tmp_path / "messages", env=env)
    assert rerun.returncode == 0, rerun.stderr
    assert rerun.stdout.rstrip().endswith("2 new, 0 updated, 1 unchanged, 0 failed")


def test_ctrl_c_while_saving_one_message_finishes_it(
    tmp_path: Path, env: dict[str, str], database: db_drivers.Driver
) -> None:
    os.mkfifo(tmp_path / "pose.json")
    watched = Watched([sys.executable, "-m", "brainstorm.saver", "save", "pose", str(tmp_path / "pose.json")], env)
    with (tmp_path / "pose.json").open("w") as fifo:  # opens once the saver is reading the message
        watched.process.send_signal(signal.SIGINT)
        watched.wait_for("finishing the current message")
        fifo.write(json.dumps({"user": USER, "datetime": WHEN_MS, "pose": {"n": 1}}))
    status, stdout, stderr = watched.finish()
    assert (status, stdout) == (130, "saved pose of user 42, snapshot 1 (new)\n"), stderr
    assert dict(database.get_result(42, 1, "pose") or {}) == {"n": 1}


# make run --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_make_run_twice(tmp_path: Path) -> None:
    """The README's first command, on an empty embedded default: the second run imports nothing new."""
    env = {k: v for k, v in os.environ.items() if k not in ("BRAINSTORM_DATABASE_URL", "MAKEFLAGS", "MAKELEVEL")}
    env["XDG_DATA_HOME"] = str(tmp_path)
    command = ["make", "--no-print-directory", "-o", ".venv/.installed", "run"]  # -o: never reinstall here
    first = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "imported 120 messages" in first.stdout and "120 new" in first.stdout
    for shown in (
        "Alice Carmel",
        "Boris Nadir",
        "Chen Wei",
        "available_results",
        "translation.x",
        "hunger",
        "<ndarray payload: application/x-npy",
        "wrote data to .cache/run/color_image.png",
    ):
        assert shown in first.stdout
    second = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "0 new, 0 updated, 120 unchanged, 0 failed" in second.stdout
    with Image.open(ROOT / ".cache" / "run" / "color_image.png") as image:
        assert (image.format, image.size) == ("PNG", (640, 360))


def test_an_unavailable_database_stops_the_import(dataset: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """In process: the database going away mid-import stops it (every later message would fail too)."""
    from brainstorm.saver import Saver
    from brainstorm.saver._importer import import_directory

    original, calls = Saver.save, []

    def failing_third(self: Saver, *args: Any, **kwargs: Any) -> Any:
        calls.append(args[0])
        if len(calls) == 3:
            raise db_drivers.DatabaseUnavailable("the database went away")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Saver, "save", failing_third)
    errors = io.StringIO()
    with Saver(db_url) as saver:
        summary = import_directory(saver, dataset, errors=errors)
    assert (summary.stopped_by, summary.new, summary.failed, summary.interrupted) == (
        "the database went away",
        2,
        [],
        False,
    )
    assert "2/20 messages" in errors.getvalue()
