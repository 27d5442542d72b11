"""`brainstorm delete`, run as a user runs it (real processes, a real pseudo-terminal for the question),
on the embedded database; what is left is read back with a driver here. The drivers' deleting itself,
on every driver, is the contract suite's."""

from __future__ import annotations

import datetime as dt
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.testing.helpers import count_blobs, published_results
from tests.conftest import ROOT, run_module

WHEN = dt.datetime(2019, 12, 4, 10, 8, 7, 339000)
LONELY = 99  # a user with no snapshots
_RNG = np.random.default_rng(7)


def payload(length: int) -> bytes:
    """`length` random bytes, so that no two payloads are alike (and none is shared)."""
    return _RNG.integers(0, 256, length, dtype=np.uint8).tobytes()


# The database every test starts from. Payloads of more than 4,096 bytes go to the blob store (the
# sqlite driver's default inline limit), smaller ones stay in their result's record: both are counted.
SNAPSHOTS: dict[int, list[dict[str, Any]]] = {
    7: [
        {
            "datetime": WHEN,
            "pose": {"translation": {"x": 1.0, "y": 2.0, "z": 3.0}},
            "color_image": {"width": 100, "height": 100, "data": payload(10_000)},
            "stereo": {"baseline": 0.06, "left": {"data": payload(6_000)}, "right": {"data": payload(100)}},
        },
        {
            "datetime": WHEN + dt.timedelta(seconds=1),
            "pose": {"translation": {"x": 4.0}},
            "depth": {"data": payload(20_000)},
        },
    ],
    42: [{"datetime": WHEN, "color_image": {"width": 80, "height": 100, "data": payload(8_000)}}],
}
BLOB_STORE_PAYLOADS = 4  # all but the 100 bytes


@dataclass
class Database:
    url: str
    env: dict[str, str]

    def dump(self) -> dict[str, Any]:
        """Everything the database holds, read through the public API: `user 7` (the user's fields),
        `7/1/pose` (a result, payload bytes included) and `blob_store` (how many payloads it holds)."""
        with db_drivers.connect(self.url) as driver:
            dumped: dict[str, Any] = {"blob_store": count_blobs(driver)}
            for user in driver.get_users():
                dumped.update(_dump_user(driver, user["user_id"]))
            return dumped


def _dump_user(driver: db_drivers.Driver, user_id: int) -> dict[str, Any]:
    dumped: dict[str, Any] = {f"user {user_id}": driver.get_user(user_id)}
    for _, snapshot, name, result in published_results(driver, user_id):
        dumped[f"{user_id}/{snapshot['snapshot_id']}/{name}"] = {key: result[key] for key in result}
    return dumped


@pytest.fixture
def database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'brainstorm.db'}"
    with db_drivers.connect(url) as driver:
        driver.save_user({"user_id": 7, "username": "Ada Lovelace"})
        driver.save_user({"user_id": 42, "username": "Dan Gittik"})
        driver.save_user({"user_id": LONELY, "username": "Nobody"})
        for user_id, snapshots in SNAPSHOTS.items():
            for snapshot in snapshots:
                driver.save_snapshot({"user_id": user_id, **snapshot})
        assert count_blobs(driver) == BLOB_STORE_PAYLOADS
    # The database is always given with -d: a URL in the environment must not matter.
    env = {key: value for key, value in os.environ.items() if key != "BRAINSTORM_DATABASE_URL"}
    return Database(url, {**env, "XDG_DATA_HOME": str(tmp_path / "xdg")})


def delete(database: Database, *args: str | int, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `python -m brainstorm.cli delete ARGS -d URL` with standard input a pipe (never a terminal)."""
    return run_module("brainstorm.cli", "delete", *args, "-d", database.url, env=database.env, stdin=stdin)


def one_error_line(process: subprocess.CompletedProcess[str]) -> str:
    """Exit status 1, nothing on stdout and one `Error: ...` line on stderr, no traceback; that line."""
    assert process.returncode == 1, process.stdout + process.stderr
    assert process.stdout == "" and "Traceback" not in process.stderr
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), process.stderr
    return lines[0]


# What each command deletes: its arguments, what it prints, its --json report, which entries of the
# dump go, how many payloads stay in the blob store, and lookups of what went.

RESULT = ["7/1/stereo"]
SNAPSHOT = ["7/1/color_image", "7/1/pose", "7/1/stereo"]
USER = ["user 7", *SNAPSHOT, "7/2/depth", "7/2/pose"]


def result_gone(driver: db_drivers.Driver) -> None:
    assert driver.get_result(7, 1, "stereo") is None
    assert driver.get_snapshot(7, 1)["available_results"] == ["color_image", "pose"]  # type: ignore[index]


def snapshot_gone(driver: db_drivers.Driver) -> None:
    assert driver.get_snapshot(7, 1) is None and driver.get_result(7, 1, "color_image") is None
    assert [s["snapshot_id"] for s in driver.get_snapshots(7)] == [2]


def user_gone(driver: db_drivers.Driver) -> None:
    assert driver.get_user(7) is None and driver.get_snapshots(7) == [] and driver.get_snapshot(7, 2) is None
    assert [u["user_id"] for u in driver.get_users()] == [42, LONELY]


def lonely_user_gone(driver: db_drivers.Driver) -> None:
    assert driver.get_user(LONELY) is None
    assert [u["user_id"] for u in driver.get_users()] == [7, 42]


Check = Callable[[db_drivers.Driver], None]
DELETIONS = [
    pytest.param(
        [7, 1, "stereo"],
        "deleted result 'stereo' of snapshot 1 of user 7: 1 result, 2 payloads, 6,100 bytes",
        {
            "deleted": "result",
            "user_id": 7,
            "snapshot_id": 1,
            "result_name": "stereo",
            "snapshots": 0,
            "results": 1,
            "payloads": 2,
            "bytes": 6_100,
        },
        RESULT,
        3,
        result_gone,
        id="result",
    ),
    pytest.param(
        [7, 1],
        "deleted snapshot 1 of user 7: 1 snapshot, 3 results, 3 payloads, 16,100 bytes",
        {
            "deleted": "snapshot",
            "user_id": 7,
            "snapshot_id": 1,
            "snapshots": 1,
            "results": 3,
            "payloads": 3,
            "bytes": 16_100,
        },
        SNAPSHOT,
        2,
        snapshot_gone,
        id="snapshot",
    ),
    pytest.param(
        [7],
        "deleted user 7: 2 snapshots, 5 results, 4 payloads, 36,100 bytes",
        {"deleted": "user", "user_id": 7, "snapshots": 2, "results": 5, "payloads": 4, "bytes": 36_100},
        USER,
        1,
        user_gone,
        id="user",
    ),
    pytest.param(
        [LONELY],
        "deleted user 99: 0 snapshots, 0 results, 0 payloads, 0 bytes",
        {"deleted": "user", "user_id": LONELY, "snapshots": 0, "results": 0, "payloads": 0, "bytes": 0},
        [f"user {LONELY}"],
        BLOB_STORE_PAYLOADS,
        lonely_user_gone,
        id="user without snapshots",
    ),
]


def assert_only_that_went(
    database: Database, before: dict[str, Any], removed: list[str], blob_store: int, gone: Check
) -> None:
    """The `removed` entries of the dump went (lookups of them find nothing) and the rest is as it was."""
    assert database.dump() == {key: value for key, value in before.items() if key not in removed} | {
        "blob_store": blob_store
    }
    with db_drivers.connect(database.url) as driver:
        gone(driver)


PARAMETERS = ("args", "printed", "report", "removed", "blob_store", "gone")


@pytest.mark.parametrize(PARAMETERS, DELETIONS)
@pytest.mark.parametrize("yes", ["--yes", "-y"])
def test_with_yes_it_deletes_and_prints_what_went(
    database: Database,
    args: list[Any],
    printed: str,
    report: dict[str, Any],
    removed: list[str],
    blob_store: int,
    gone: Check,
    yes: str,
) -> None:
    before = database.dump()
    process = delete(database, *args, yes)
    assert (process.returncode, process.stdout, process.stderr) == (0, printed + "\n", "")
    assert_only_that_went(database, before, removed, blob_store, gone)


@pytest.mark.parametrize(PARAMETERS, DELETIONS)
def test_with_json_it_reports_the_same_counts(
    database: Database,
    args: list[Any],
    printed: str,
    report: dict[str, Any],
    removed: list[str],
    blob_store: int,
    gone: Check,
) -> None:
    before = database.dump()
    process = delete(database, *args, "--yes", "--json")
    assert (process.returncode, process.stderr) == (0, "")
    assert json.loads(process.stdout) == report
    assert_only_that_went(database, before, removed, blob_store, gone)


def test_deleting_again_finds_nothing(database: Database) -> None:
    assert delete(database, 7, 1, "--yes").returncode == 0
    assert one_error_line(delete(database, 7, 1, "--yes")) == "Error: user 7 has no snapshot 1"


@pytest.mark.parametrize(
    ("args", "line"),
    [
        ([7, 1, "stereo"], "result 'stereo' of snapshot 1 of user 7 (1 result, 2 payloads)"),
        ([7, 1], "snapshot 1 of user 7 (1 snapshot, 3 results, 3 payloads)"),
        ([7], "user 7 (2 snapshots, 5 results, 4 payloads)"),
    ],
    ids=["result", "snapshot", "user"],
)
def test_without_yes_and_no_terminal_it_refuses_and_deletes_nothing(
    database: Database, args: list[Any], line: str
) -> None:
    before = database.dump()
    refused = one_error_line(delete(database, *args, stdin="y\n"))  # a "y" on a pipe is no confirmation
    assert refused == (f"Error: not deleting {line} without confirmation: standard input is not a terminal; pass --yes")
    assert database.dump() == before


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([5], "there is no user 5"),
        ([5, 1], "there is no user 5"),
        ([5, 1, "pose"], "there is no user 5"),
        ([7, 9], "user 7 has no snapshot 9"),
        ([7, 0], "user 7 has no snapshot 0"),
        ([7, 9, "pose"], "user 7 has no snapshot 9"),
        ([7, 2, "stereo"], "snapshot 2 of user 7 has no result 'stereo'; its results: depth, pose"),
        ([7, 1, "bad name"], "result name 'bad name' must match"),
        ([2**63], "user_id must be between 0 and 2**63 - 1"),
    ],
)
@pytest.mark.parametrize("options", [["--yes"], [], ["--yes", "--json"]])
def test_unknown_things_are_one_line_and_nothing_is_deleted(
    database: Database, args: list[Any], message: str, options: list[str]
) -> None:
    before = database.dump()
    assert message in one_error_line(delete(database, *args, *options))
    assert database.dump() == before


@pytest.mark.parametrize("args", [[], ["x"], [7, "x"], [7, 1, "pose", "extra"], [7, "--nope"]])
def test_usage_errors_exit_2(database: Database, args: list[Any]) -> None:
    before = database.dump()
    process = delete(database, *args, "--yes")
    assert process.returncode == 2 and "Traceback" not in process.stderr, process.stderr
    assert database.dump() == before


# On a terminal ---------------------------------------------------------------------------------


@dataclass
class Conversation:
    """What a command run on a terminal showed before the answer, after it, and its exit status."""

    question: str
    rest: str
    status: int


def on_terminal(database: Database, args: list[Any], answer: str) -> Conversation:
    """Run `delete ARGS` with a pseudo-terminal as stdin, stdout and stderr; give `answer` to the question."""
    master, slave = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "brainstorm.cli", "delete", *map(str, args), "-d", database.url],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=database.env,
        cwd=ROOT,
        start_new_session=True,  # the terminal is the test's alone: no signal from the one pytest runs in
    )
    os.close(slave)
    try:
        question = _read_terminal(master, until=b"[y/N]: ")
        os.write(master, answer.encode())
        rest = _read_terminal(master, until=None)
        return Conversation(question, rest, process.wait(timeout=60))
    finally:
        os.close(master)
        if process.poll() is None:
            process.kill()
            process.wait()


def _read_terminal(master: int, until: bytes | None, timeout: float = 60) -> str:
    """What the terminal shows until `until` appears, or until the process has closed it (`until` None)."""
    shown, deadline = b"", time.monotonic() + timeout
    while until is None or until not in shown:
        ready, _, _ = select.select([master], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, f"the terminal showed {shown!r} and then nothing for {timeout} s"
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: every descriptor of the other side is closed, the process is done
            chunk = b""
        if not chunk:
            assert until is None, f"the process closed the terminal after {shown!r}"
            break
        shown += chunk
    return shown.decode().replace("\r\n", "\n")  # a terminal shows a newline as CR LF


@pytest.mark.parametrize("answer", ["n\n", "\n", "no\n"], ids=["n", "enter", "no"])
def test_on_a_terminal_it_asks_first_and_answering_no_deletes_nothing(database: Database, answer: str) -> None:
    before = database.dump()
    talk = on_terminal(database, [7], answer)
    assert talk.question == "Delete user 7: 2 snapshots, 5 results, 4 payloads (36.1 kB)? [y/N]: "
    assert talk.rest == answer + "Aborted!\n"  # the terminal echoes the answer
    assert talk.status == 1
    assert database.dump() == before


@pytest.mark.parametrize(
    ("args", "question", "printed", "removed", "blob_store", "gone"),
    [
        pytest.param(
            [7, 1, "stereo"],
            "Delete result 'stereo' of snapshot 1 of user 7: 1 result, 2 payloads (6.1 kB)? [y/N]: ",
            "deleted result 'stereo' of snapshot 1 of user 7: 1 result, 2 payloads, 6,100 bytes",
            RESULT,
            3,
            result_gone,
            id="result",
        ),
        pytest.param(
            [7],
            "Delete user 7: 2 snapshots, 5 results, 4 payloads (36.1 kB)? [y/N]: ",
            "deleted user 7: 2 snapshots, 5 results, 4 payloads, 36,100 bytes",
            USER,
            1,
            user_gone,
            id="user",
        ),
    ],
)
@pytest.mark.parametrize("answer", ["y\n", "yes\n"], ids=["y", "yes"])
def test_on_a_terminal_answering_yes_deletes(
    database: Database,
    args: list[Any],
    question: str,
    printed: str,
    removed: list[str],
    blob_store: int,
    gone: Check,
    answer: str,
) -> None:
    before = database.dump()
    talk = on_terminal(database, args, answer)
    assert (talk.question, talk.rest, talk.status) == (question, f"{answer}{printed}\n", 0)
    assert_only_that_went(database, before, removed, blob_store, gone)
