"""`brainstorm verify` and `brainstorm gc`, run as a user runs them (real processes), on the embedded
database built here; payload files are damaged and orphans uploaded through the sqlite driver's blob
store. What verifying and collecting find on every driver is the contract suite's."""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import select
import struct
import subprocess
import sys
import termios
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers.sqlite_driver import SqliteBlobs
from brainstorm.database_drivers.storage import BlobOwner, BlobSource
from brainstorm.testing.helpers import count_blobs
from tests.conftest import ROOT, run_module

WHEN = dt.datetime(2019, 12, 4, 10, 8, 7, 339000)
_RNG = np.random.default_rng(11)


def payload(length: int) -> bytes:
    """`length` random bytes: no two payloads alike, so each has a file of its own."""
    return _RNG.integers(0, 256, length, dtype=np.uint8).tobytes()


# Payloads over 4,096 bytes (the sqlite driver's inline limit) go to the blob store, one file each;
# their lengths differ, so a payload file is found by its length.
SNAPSHOTS = [
    {"user_id": 7, "datetime": WHEN, "color_image": {"width": 100, "height": 100, "data": payload(10_000)}},
    {"user_id": 7, "datetime": WHEN + dt.timedelta(seconds=1), "depth": {"data": payload(6_000)}},
    {"user_id": 42, "datetime": WHEN, "color_image": {"width": 80, "height": 100, "data": payload(8_000)}},
]
PAYLOADS, PAYLOAD_BYTES = 3, 24_000
DAMAGED = 10_000  # the length of the payload the damage tests spoil: user 7, snapshot 1, color_image
ORPHAN = 5_000


@dataclass
class Database:
    url: str
    env: dict[str, str]

    def blob_files(self) -> dict[int, Path]:
        """Each payload file of the blob store, by its payload's length."""
        with db_drivers.connect(self.url) as driver:
            blobs = _sqlite_blobs(driver)
            return {blob.length: Path(blobs._file(blob.ref)) for blob in blobs.listing()}

    def upload_orphan(self) -> None:
        """Put a payload into the blob store that no result uses, as a writer killed before publishing leaves."""
        data = payload(ORPHAN)
        source = BlobSource("bytes", "application/octet-stream", ".bin", pieces=[data], length=len(data))
        with db_drivers.connect(self.url) as driver:
            driver.blob_store.upload(source, BlobOwner(1, 1, "x", "data"))

    def payload_count(self) -> int:
        with db_drivers.connect(self.url) as driver:
            return count_blobs(driver)


def _sqlite_blobs(driver: db_drivers.Driver) -> SqliteBlobs:
    assert isinstance(driver.blob_store, SqliteBlobs)
    return driver.blob_store


@pytest.fixture
def database(tmp_path: Path) -> Database:
    url = f"sqlite:///{tmp_path / 'brainstorm.db'}"
    with db_drivers.connect(url) as driver:
        for snapshot in SNAPSHOTS:
            driver.save_snapshot(snapshot)
        assert count_blobs(driver) == PAYLOADS
    # The database is always given with -d: a URL in the environment must not matter.
    env = {key: value for key, value in os.environ.items() if key != "BRAINSTORM_DATABASE_URL"}
    return Database(url, {**env, "XDG_DATA_HOME": str(tmp_path / "xdg")})


def brainstorm(database: Database, *args: str | int) -> subprocess.CompletedProcess[str]:
    """Run `python -m brainstorm.cli ARGS -d URL`, its stderr a pipe (no terminal: no progress bar)."""
    return run_module("brainstorm.cli", *args, "-d", database.url, env=database.env)


def as_json(process: subprocess.CompletedProcess[str], status: int) -> Any:
    assert process.returncode == status and "Traceback" not in process.stderr, process.stdout + process.stderr
    return json.loads(process.stdout)


# verify ----------------------------------------------------------------------------------------


def test_verify_on_a_healthy_database_checks_every_payload_and_exits_0(database: Database) -> None:
    process = brainstorm(database, "verify")
    assert (process.returncode, process.stderr) == (0, ""), process.stdout + process.stderr
    assert process.stdout.splitlines() == [
        "checked     3 payloads, 24,000 bytes (23.4 KiB)",
        "missing     0 payloads",
        "corrupt     0 payloads",
        "orphaned    0 payloads",
        "incomplete  0 uploads",
        "empty       0 snapshots without results",
    ]
    report = as_json(brainstorm(database, "verify", "--json"), 0)
    assert report["ok"] is True and report["problems"] == []
    assert report["checked"] == {"count": PAYLOADS, "bytes": PAYLOAD_BYTES}


def flip_a_byte(file: Path) -> None:
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))


def truncate(file: Path) -> None:
    file.write_bytes(file.read_bytes()[:-1])


def delete_file(file: Path) -> None:
    file.unlink()


@pytest.mark.parametrize(
    ("damage", "kind"),
    [(flip_a_byte, "corrupt"), (truncate, "corrupt"), (delete_file, "missing")],
    ids=["byte flipped", "truncated", "deleted"],
)
def test_verify_names_a_damaged_payload_and_exits_1(
    database: Database, damage: Callable[[Path], None], kind: str
) -> None:
    damage(database.blob_files()[DAMAGED])
    process = brainstorm(database, "verify")
    assert process.returncode == 1 and "Traceback" not in process.stderr, process.stdout + process.stderr
    assert "checked     2 payloads, 14,000 bytes (13.7 KiB)" in process.stdout
    assert f"{kind.ljust(10)}  1 payload, 10,000 bytes (9.8 KiB)" in process.stdout
    problems = [line for line in process.stdout.splitlines() if line.startswith(f"{kind}: ")]
    assert len(problems) == 1
    assert problems[0].startswith(f"{kind}: user 7, snapshot 1, result 'color_image', payload 'data': ")
    report = as_json(brainstorm(database, "verify", "--json"), 1)
    assert report["ok"] is False and report[kind] == {"count": 1, "bytes": DAMAGED}
    assert report["checked"] == {"count": PAYLOADS - 1, "bytes": PAYLOAD_BYTES - DAMAGED}


def test_verify_changes_nothing(database: Database) -> None:
    flip_a_byte(database.blob_files()[DAMAGED])
    database.upload_orphan()
    before = {length: file.read_bytes() for length, file in database.blob_files().items()}
    for _ in range(2):
        assert brainstorm(database, "verify").returncode == 1
    assert {length: file.read_bytes() for length, file in database.blob_files().items()} == before


def test_verify_with_user_checks_only_that_users_payloads(database: Database) -> None:
    delete_file(database.blob_files()[DAMAGED])  # user 7's
    database.upload_orphan()  # orphans belong to no user: only looked for database-wide
    process = brainstorm(database, "verify", "--user", 42)
    assert (process.returncode, process.stderr) == (0, ""), process.stdout + process.stderr
    assert process.stdout.splitlines()[:3] == [
        "checked     1 payload, 8,000 bytes (7.8 KiB)",
        "missing     0 payloads",
        "corrupt     0 payloads",
    ]
    assert "orphaned    not looked for (only without --user; checked user 42)" in process.stdout
    assert brainstorm(database, "verify", "--user", 7).returncode == 1


@pytest.mark.parametrize(
    ("user", "message"),
    [("5", "there is no user 5"), ("-1", "user_id must be between 0 and 2**63 - 1")],
)
def test_verify_of_an_unknown_user_is_one_error_line(database: Database, user: str, message: str) -> None:
    process = brainstorm(database, "verify", "--user", user)
    assert (process.returncode, process.stdout) == (1, "")
    assert process.stderr.startswith("Error: ") and message in process.stderr
    assert len(process.stderr.splitlines()) == 1, process.stderr


# Orphans and gc --------------------------------------------------------------------------------


def test_verify_reports_an_orphan_and_exits_1(database: Database) -> None:
    database.upload_orphan()
    process = brainstorm(database, "verify")
    assert process.returncode == 1, process.stdout + process.stderr
    assert "orphaned    1 payload, 5,000 bytes (4.9 KiB)" in process.stdout
    assert [line for line in process.stdout.splitlines() if line.startswith("orphaned payload ")] != []
    report = as_json(brainstorm(database, "verify", "--json"), 1)
    assert report["orphaned"] == {"count": 1, "bytes": ORPHAN} and report["checked"]["count"] == PAYLOADS


def test_gc_dry_run_reports_the_orphan_and_leaves_it(database: Database) -> None:
    database.upload_orphan()
    process = brainstorm(database, "gc", "--dry-run", "--grace", "0")
    assert (process.returncode, process.stderr) == (0, ""), process.stdout + process.stderr
    assert process.stdout.splitlines()[:2] == [
        "dry run, nothing deleted: would collect (grace period 0s)",
        "orphaned payloads   1 payload, 5,000 bytes (4.9 KiB)",
    ]
    report = as_json(brainstorm(database, "gc", "--dry-run", "--grace", "0", "--json"), 0)
    assert report["dry_run"] is True and report["grace_seconds"] == 0
    assert report["orphaned"] == {"count": 1, "bytes": ORPHAN} and report["collected"] == {"count": 0, "bytes": 0}
    assert database.payload_count() == PAYLOADS + 1
    assert brainstorm(database, "verify").returncode == 1


def test_gc_leaves_a_recent_orphan_alone_by_default(database: Database) -> None:
    database.upload_orphan()
    process = brainstorm(database, "gc")
    assert (process.returncode, process.stderr) == (0, ""), process.stdout + process.stderr
    assert process.stdout.splitlines()[:2] == ["collected (grace period 1h)", "orphaned payloads   0 payloads"]
    lines = process.stdout.splitlines()
    assert f"in use              {PAYLOADS} payloads, {PAYLOAD_BYTES:,} bytes (23.4 KiB)" in lines
    assert "unused, left alone  1 payload, 5,000 bytes (4.9 KiB), uploaded within the grace period" in lines
    report = as_json(brainstorm(database, "gc", "--json"), 0)
    assert report["grace_seconds"] == 3600 and report["collected"]["count"] == 0
    assert report["in_use"] == {"count": PAYLOADS, "bytes": PAYLOAD_BYTES}
    assert report["recent"] == {"count": 1, "bytes": ORPHAN}
    assert database.payload_count() == PAYLOADS + 1


def test_gc_without_grace_collects_the_orphan_and_verify_then_passes(database: Database) -> None:
    database.upload_orphan()
    process = brainstorm(database, "gc", "--grace", "0")
    assert (process.returncode, process.stderr) == (0, ""), process.stdout + process.stderr
    assert process.stdout.splitlines()[:2] == [
        "collected (grace period 0s)",
        "orphaned payloads   1 payload, 5,000 bytes (4.9 KiB)",
    ]
    assert database.payload_count() == PAYLOADS
    assert brainstorm(database, "verify").returncode == 0
    again = as_json(brainstorm(database, "gc", "--grace", "0", "--json"), 0)
    assert again["collected"] == {"count": 0, "bytes": 0} and again["dry_run"] is False


def test_gc_never_collects_payloads_results_use(database: Database) -> None:
    report = as_json(brainstorm(database, "gc", "--grace", "0", "--json"), 0)
    assert report["orphaned"]["count"] == 0 and report["collected"]["count"] == 0
    assert database.payload_count() == PAYLOADS
    assert brainstorm(database, "verify").returncode == 0


@pytest.mark.parametrize(
    ("grace", "seconds"),
    [("0", 0), ("3600", 3600), ("90s", 90), ("30m", 1800), ("1h", 3600), ("2d", 172_800), ("1.5h", 5400)],
)
def test_grace_takes_seconds_or_a_number_with_a_unit(database: Database, grace: str, seconds: int) -> None:
    report = as_json(brainstorm(database, "gc", "--dry-run", "--grace", grace, "--json"), 0)
    assert report["grace_seconds"] == seconds


@pytest.mark.parametrize("grace", ["-1", "1x", "abc", "", "1h30m", "h", "1 h", "99999999999999d"])
def test_a_bad_grace_is_a_usage_error_naming_the_accepted_forms(database: Database, grace: str) -> None:
    database.upload_orphan()
    process = brainstorm(database, "gc", "--grace", grace)
    assert (process.returncode, process.stdout) == (2, ""), process.stderr
    assert "Traceback" not in process.stderr
    assert f"Invalid value for '--grace': {grace!r} is not a duration" in process.stderr
    assert "90s, 30m, 1h, 2d" in process.stderr
    assert database.payload_count() == PAYLOADS + 1


# Progress --------------------------------------------------------------------------------------


def on_a_terminal(database: Database, *args: str) -> tuple[subprocess.CompletedProcess[str], str]:
    """Run `python -m brainstorm.cli ARGS -d URL` with stderr an 80-column pseudo-terminal (stdout a
    pipe): the process, and what the terminal showed."""
    master, slave = os.openpty()
    # A new pseudo-terminal is 0 columns wide, and a bar that fits in 0 columns is empty.
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        process = subprocess.run(
            [sys.executable, "-m", "brainstorm.cli", *args, "-d", database.url],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=database.env,
            cwd=ROOT,
            text=True,
            timeout=120,
            start_new_session=True,  # the terminal is the test's alone
        )
        return process, _read_waiting(master)
    finally:  # the slave is closed only once all is read: closing it may discard what is unread
        os.close(slave)
        os.close(master)


def _read_waiting(master: int) -> str:
    """What the terminal holds (the writer is done: everything it wrote is there)."""
    shown = b""
    while select.select([master], [], [], 0.2)[0]:
        shown += os.read(master, 4096)
    return shown.decode(errors="replace")


@pytest.mark.parametrize(
    ("args", "bar"),
    [
        (["verify"], "verifying results, then the blob store: "),
        (["gc", "--grace", "0"], "looking through the blob store: "),
    ],
    ids=["verify", "gc"],
)
def test_the_progress_bar_shows_only_on_a_terminal(database: Database, args: list[str], bar: str) -> None:
    database.upload_orphan()
    process, shown = on_a_terminal(database, *args)
    assert process.returncode in (0, 1) and bar in shown, shown
    assert bar not in process.stdout
    piped = brainstorm(database, *args)
    assert bar not in piped.stderr and bar not in piped.stdout
