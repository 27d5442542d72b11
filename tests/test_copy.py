"""`brainstorm copy` and `copy_database`: between the two drivers both ways, kept exactly, streamed with
bounded memory, idempotent, resumed after a killed process, during concurrent writes, and refusing
what it must not overwrite."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.copying import CopyReport, copy_database
from brainstorm.database_drivers import Blob
from brainstorm.database_drivers._gridfs import BATCH_BYTES
from brainstorm.testing.helpers import count_blobs, make_image
from tests import dataset
from tests.conftest import ROOT, run_module

WHEN = dt.datetime(2019, 12, 4, 10, 8, 7, 339000)
SECOND = dt.timedelta(seconds=1)
DIRECTIONS = [("sqlite", "mongodb"), ("mongodb", "sqlite")]


def pattern(seed: str, length: int) -> bytes:
    """`length` bytes that depend on `seed` (cheap, and no two seeds alike)."""
    block = hashlib.sha256(seed.encode()).digest() * 2048  # 64 KiB
    return (block * (length // len(block) + 1))[:length]


@pytest.fixture
def urls(request: pytest.FixtureRequest, mongodb_url: str, tmp_path: Path) -> tuple[str, str]:
    """(source URL, destination URL) for the direction the test is parametrized with: one is mongodb."""
    sqlite_url = f"sqlite:///{tmp_path / 'brainstorm.db'}"
    return (sqlite_url, mongodb_url) if request.param == DIRECTIONS[0] else (mongodb_url, sqlite_url)


def fill(driver: db_drivers.Driver) -> None:
    """The fixture dataset, plus results that are hard to copy."""
    for user in dataset.users():
        driver.save_user(user)
    for snapshot in dataset.snapshots():
        driver.save_snapshot(snapshot)
    driver.save_user({"user_id": 9, "username": "Tricky", "birthday": WHEN, "extra": {"n": [1, 2.5, True, None]}})
    for n in range(4):
        driver.save_snapshot({"user_id": 9, "datetime": WHEN + n * SECOND})
    driver.delete_snapshot(9, 2)  # ids 1, 3, 4 are left, 2 is a gap
    driver.save_snapshot(
        {
            "user_id": 9,
            "datetime": WHEN + 3 * SECOND,
            "tricky": {
                "tiff": make_image("I;16B", (64, 48)),
                "tiny": b"\x00" * 100,  # inline everywhere
                "middle": pattern("middle", 10_000),  # a payload file on sqlite, inline on mongodb
                "large": pattern("large", 5 * 1024 * 1024 + 17),  # GridFS chunks
                "frames": [{"image": make_image("RGB", (20, 10)), "depth": np.arange(1000.0)}, {"n": 1}],
                "flags": [True, 1, 1.0, "1"],
            },
            "empty": {},
        }
    )


def contents(driver: db_drivers.Driver) -> dict[int, Any]:
    """Everything a reader sees, payloads described (kind, content type, length, sha256), types kept."""
    found: dict[int, Any] = {}
    for user in driver.get_users():
        user_id = user["user_id"]
        snapshots = {}
        for summary in driver.get_snapshots(user_id):
            snapshot = driver.get_snapshot(user_id, summary["snapshot_id"])
            assert snapshot is not None
            results = {}
            for name in snapshot["available_results"]:
                result = driver.get_result(user_id, summary["snapshot_id"], name)
                assert result is not None
                results[name] = (repr(result.fields), result.blobs)
            snapshots[summary["snapshot_id"]] = (summary["datetime"], results)
        found[user_id] = (repr(driver.get_user(user_id)), snapshots)
    return found


@pytest.mark.parametrize("urls", DIRECTIONS, indirect=True, ids=["sqlite-to-mongodb", "mongodb-to-sqlite"])
def test_a_copy_keeps_everything_and_a_second_copies_nothing(urls: tuple[str, str]) -> None:
    source_url, destination_url = urls
    with db_drivers.connect(source_url) as source:
        fill(source)
        expected = contents(source)
    report = copy_database(source_url, destination_url, verify=True)
    assert report.ok and not report.failed
    assert (report.users_copied, report.snapshots_copied, report.results_unchanged) == (3, 9, 0)
    assert report.results_copied == report.results_total == 6 * 4 + 2
    with db_drivers.connect(destination_url) as destination:
        assert contents(destination) == expected
        tricky = destination.get_result(9, 4, "tricky")
        assert tricky is not None
        assert tricky.blobs["tiff"]["kind"] == "image" and tricky.blobs["tiff"]["content_type"] == "image/tiff"
        assert tricky["tiff"].mode == "I;16B" and tricky["tiff"].tobytes() == make_image("I;16B", (64, 48)).tobytes()
        assert tricky["frames"][0]["depth"].tolist() == list(np.arange(1000.0))
        assert destination.save_snapshot({"user_id": 9, "datetime": WHEN + 9 * SECOND}) == 5  # above the ids copied
        destination.delete_snapshot(9, 5)
        blobs = count_blobs(destination)
        again = copy_database(source_url, destination, verify=True)
        assert (again.results_copied, again.payloads, again.bytes, again.users_copied, again.snapshots_copied) == (
            0,
            0,
            0,
            0,
            0,
        )
        assert again.results_unchanged == report.results_total and again.ok
        assert count_blobs(destination) == blobs
        assert contents(destination) == expected


@pytest.mark.parametrize("urls", DIRECTIONS, indirect=True, ids=["sqlite-to-mongodb", "mongodb-to-sqlite"])
def test_a_big_payload_is_streamed(urls: tuple[str, str], tmp_path: Path) -> None:
    size = 64 * 1024 * 1024
    big = tmp_path / "big.bin"
    with big.open("wb") as out:
        for n in range(size // (1024 * 1024)):
            out.write(pattern(f"big-{n}", 1024 * 1024))
    source_url, destination_url = urls
    with db_drivers.connect(source_url) as source, big.open("rb") as stream:
        source.save_snapshot({"user_id": 1, "datetime": WHEN, "scan": {"data": Blob(stream)}})
    with db_drivers.connect(source_url) as source, db_drivers.connect(destination_url) as destination:
        tracemalloc.start()
        try:
            started = time.monotonic()
            report = copy_database(source, destination)
            seconds = time.monotonic() - started
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert report.bytes == size and report.ok
        direction = " -> ".join(url.split(":")[0] for url in urls)
        print(f"\n64 MiB copied {direction} in {seconds:.1f} s, traced peak {peak / 2**20:.1f} MiB")
        # Bounded by the pieces in flight, whatever the payload's size: 1 MiB reads, and on mongodb the
        # GridFS insert batch (BATCH_BYTES of chunks, and their BSON encoding).
        assert peak < (2 * BATCH_BYTES if urls[1].startswith("mongodb") else 0) + 8 * 1024 * 1024
        copied = destination.get_result(1, 1, "scan")
        assert copied is not None
        assert copied.blobs["data"]["sha256"] == hashlib.sha256(big.read_bytes()).hexdigest()


def test_a_snapshot_in_the_way_stops_that_user_only_before_anything_of_it_is_written(tmp_path: Path) -> None:
    source_url, destination_url = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'd.db'}"
    with db_drivers.connect(source_url) as source, db_drivers.connect(destination_url) as destination:
        source.save_user({"user_id": 1, "username": "One"})
        source.save_snapshot({"user_id": 1, "datetime": WHEN, "pose": {"x": 1}})
        source.save_snapshot({"user_id": 2, "datetime": WHEN, "pose": {"x": 2}})
        destination.save_snapshot({"user_id": 1, "datetime": WHEN + SECOND, "pose": {"x": 3}})
        before = contents(destination)
        report = copy_database(source, destination)
        assert not report.ok and len(report.conflicts) == 1
        message = report.conflicts[0]
        assert message.startswith("user 1: the destination has snapshot 1 at 2019-12-04T10:08:08.339")
        assert "the source's snapshot 1 is at 2019-12-04T10:08:07.339" in message
        assert contents(destination)[1] == before[1], "nothing of user 1 written"
        assert destination.get_result(2, 1, "pose") == {"x": 2}, "the other user is copied"
    done = run_module("brainstorm.cli", "copy", source_url, destination_url, env=dict(os.environ))
    assert done.returncode == 1 and done.stdout.startswith("1 users (0 copied), 1 in conflict")
    assert "error: user 1: the destination has snapshot 1 at" in done.stderr


def test_an_incremental_backup_carries_a_deletion_and_saving_again(tmp_path: Path) -> None:
    """The source deletes a snapshot and saves its datetime again (a re-import): it has a new id there."""
    source_url, backup_url = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'b.db'}"
    with db_drivers.connect(source_url) as source:
        for n in range(3):
            source.save_snapshot({"user_id": 1, "datetime": WHEN + n * SECOND, "pose": {"x": n}, "extra": {"n": n}})
        assert copy_database(source, backup_url).ok
        source.delete_snapshot(1, 2)
        assert source.save_snapshot({"user_id": 1, "datetime": WHEN + SECOND, "pose": {"x": 10}}) == 4
        report = copy_database(source, backup_url)
        assert report.ok and report.conflicts == [] and report.snapshots_deleted == 1, report
        with db_drivers.connect(backup_url) as backup:
            assert contents(backup) == contents(source)
            assert backup.get_snapshot(1, 2) is None and backup.get_result(1, 4, "pose") == {"x": 10}
        assert copy_database(source, backup_url).results_copied == 0, "then nothing more to do"


def test_a_corrupt_source_payload_fails_that_result_only(tmp_path: Path) -> None:
    source_url, destination_url = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'd.db'}"
    with db_drivers.connect(source_url) as source:
        source.save_snapshot({"user_id": 1, "datetime": WHEN, "good": {"data": pattern("good", 70_000)}})
        source.save_snapshot({"user_id": 1, "datetime": WHEN, "bad": {"data": pattern("bad", 80_000)}})
    damaged = next(
        path for path in (tmp_path / "s.db-blobs").rglob("*") if path.is_file() and path.stat().st_size == 80_000
    )
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 1
    damaged.write_bytes(data)
    done = run_module("brainstorm.cli", "copy", source_url, destination_url, "--json", env=dict(os.environ))
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["results_copied"] == 1 and len(report["failed"]) == 1
    assert "user 1, snapshot 1, result 'bad'" in report["failed"][0] and "sha256" in report["failed"][0]
    assert "error: user 1, snapshot 1, result 'bad'" in done.stderr
    with db_drivers.connect(destination_url) as destination:
        assert destination.get_result(1, 1, "bad") is None
        good = destination.get_result(1, 1, "good")
        assert good is not None and good["data"] == pattern("good", 70_000)
        assert destination.verify().ok  # nothing of the bad result's was left behind


def copy_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "brainstorm.cli", "copy", *args]


def many_results(url: str, count: int, size: int) -> None:
    with db_drivers.connect(url) as source:
        for n in range(count):
            source.save_snapshot(
                {"user_id": 1 + n % 2, "datetime": WHEN + n * SECOND, "r": {"n": n, "data": pattern(f"r{n}", size)}}
            )


def results_at(url: str) -> int:
    """How many results are published there (a snapshot a stopped save had made may be removed again)."""
    with db_drivers.connect(url) as driver:
        return sum(
            len(snapshot["available_results"])
            for user in driver.get_users()
            for summary in driver.get_snapshots(user["user_id"])
            if (snapshot := driver.get_snapshot(user["user_id"], summary["snapshot_id"])) is not None
        )


@pytest.mark.parametrize("how", ["sigkill", "ctrl-c"])
@pytest.mark.parametrize("urls", [DIRECTIONS[0]], indirect=True, ids=["sqlite-to-mongodb"])
def test_a_stopped_copy_resumes_where_it_stopped(urls: tuple[str, str], how: str) -> None:
    source_url, destination_url = urls
    count = 40
    many_results(source_url, count, 100_000)  # in GridFS, one chunk each
    process = subprocess.Popen(
        copy_command(source_url, destination_url, "--no-progress"),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as on a terminal: a suite started in the background (`make test &`, nohup) has SIGINT
        # ignored, children inherit that, and Python then never raises KeyboardInterrupt.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while results_at(destination_url) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    if how == "sigkill":
        assert process.returncode == -signal.SIGKILL
    else:
        assert process.returncode == 130, stderr
        assert "interrupted after" in stderr and "copying again completes it" in stderr
    partial = results_at(destination_url)
    assert 5 <= partial < count, "the copy was not stopped mid-way"
    done = run_module("brainstorm.cli", "copy", source_url, destination_url, "--json", "--verify", env=dict(os.environ))
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["results_unchanged"], report["results_copied"]) == (partial, count - partial)
    assert report["verified"]["ok"] and report["verified"]["checked"]["count"] == count
    with db_drivers.connect(source_url) as source, db_drivers.connect(destination_url) as destination:
        assert contents(destination) == contents(source)
        # What the killed copy had uploaded and not published is an orphan, kept while its pin holds it
        # (a day, PIN_LEASE); once the pin has lapsed (dropped here), gc removes it.
        destination.record_store.drop_pins(dt.datetime.now(dt.UTC).replace(tzinfo=None))
        destination.collect_garbage(dt.timedelta(0))
        assert count_blobs(destination) == count  # each payload stored once
        assert destination.verify().ok


VERSIONS, WRITER_SNAPSHOTS = 30, 6


def version_of(snapshot: int, version: int) -> dict[str, Any]:
    return {"version": version, "data": pattern(f"{snapshot}-{version}", 300_000 + version)}


def write_versions(url: str, started: Any) -> None:
    """The concurrent writer: saves every snapshot's result again and again, a new version each time."""
    with db_drivers.connect(url) as driver:
        for version in range(VERSIONS):
            for snapshot in range(WRITER_SNAPSHOTS):
                driver.save_snapshot(
                    {"user_id": 1, "datetime": WHEN + snapshot * SECOND, "r": version_of(snapshot, version)}
                )
            started.set()


@pytest.mark.parametrize("urls", [DIRECTIONS[1]], indirect=True, ids=["mongodb-to-sqlite"])
def test_a_copy_during_writes_holds_whole_results_each_a_version_the_source_held(urls: tuple[str, str]) -> None:
    source_url, destination_url = urls
    spawn = multiprocessing.get_context("spawn")
    started = spawn.Event()
    writer = spawn.Process(target=write_versions, args=(source_url, started))
    writer.start()
    try:
        assert started.wait(60)
        reports = [copy_database(source_url, destination_url) for _ in range(3)]
    finally:
        writer.join(120)
    assert writer.exitcode == 0
    assert all(report.ok for report in reports), [report.failed for report in reports]
    with db_drivers.connect(destination_url) as destination:
        assert [s["datetime"] for s in destination.get_snapshots(1)] == [
            WHEN + n * SECOND for n in range(WRITER_SNAPSHOTS)
        ]
        for snapshot in range(WRITER_SNAPSHOTS):
            result = destination.get_result(1, snapshot + 1, "r")
            assert result is not None
            assert dict(result) == version_of(snapshot, result["version"])
        assert destination.verify().ok


def test_the_command_line_prints_a_summary_and_hides_credentials(tmp_path: Path) -> None:
    source_url, destination_url = f"sqlite:///{tmp_path / 's.db'}", f"sqlite:///{tmp_path / 'd.db'}"
    many_results(source_url, 3, 100_000)
    env = dict(os.environ)
    done = run_module("brainstorm.cli", "copy", source_url, destination_url, "--verify", env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"2 users (2 copied), 3 snapshots (3 copied), 3 results (3 copied, 0 unchanged), 3 payloads, "
        f"300,000 bytes in {done.stdout.split(' in ')[1].split(' s')[0]} s",
        "verified 3 payloads, 300,000 bytes (293.0 KiB): 0 missing, 0 corrupt",
    ]
    again = run_module("brainstorm.cli", "copy", source_url, destination_url, "--json", env=env)
    report = json.loads(again.stdout)
    assert (report["ok"], report["results_unchanged"], report["results_copied"], report["verified"]) == (
        True,
        3,
        0,
        None,
    )
    bad = run_module("brainstorm.cli", "copy", source_url, "redis://user:hunter2@host/0", env=env)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 2 and bad.stderr.splitlines()[1].startswith("Error: ")
    unreachable = "mongodb://bob:hunter2@127.0.0.1:1/x?serverSelectionTimeoutMS=300"
    refused = run_module("brainstorm.cli", "copy", source_url, unreachable, env=env)
    assert refused.returncode == 1 and "Error: " in refused.stderr and "Traceback" not in refused.stderr
    assert "hunter2" not in bad.stderr + refused.stderr + bad.stdout + refused.stdout


def test_a_report_reads_as_a_line() -> None:
    report = CopyReport(users_copied=1, results_copied=2, results_unchanged=1, payloads=2, bytes=1234, seconds=0.25)
    assert report.line() == (
        "1 users (1 copied), 0 snapshots (0 copied), 3 results (2 copied, 1 unchanged), "
        "2 payloads, 1,234 bytes in 0.2 s"
    )
