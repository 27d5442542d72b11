"""The embedded driver's own promises: URLs, several processes at once, and surviving a killed writer."""

from __future__ import annotations

import contextlib
import datetime as dt
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers.sqlite_driver import SqliteDriver
from brainstorm.testing.helpers import count_blobs

WHEN = dt.datetime(2019, 12, 4, 10, 8, 7, 339000)


def test_urls_follow_sqlalchemy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """sqlite:///relative.db is relative to the working directory, sqlite:////absolute.db is absolute."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "relative").mkdir()
    db_drivers.connect("sqlite:///relative/path.db").close()
    db_drivers.connect(f"sqlite:///{tmp_path}/absolute.db").close()  # sqlite:////tmp/...
    assert (tmp_path / "relative" / "path.db").is_file()
    assert (tmp_path / "absolute.db").is_file()


def test_bare_url_is_in_memory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    with db_drivers.connect("sqlite://") as driver:
        driver.save_user({"user_id": 1})
        assert driver.get_user(1) == {"user_id": 1}
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("url", ["sqlite://host/x.db", "sqlite:///x.db?mode=ro", "sqlite:///x.db?timeout=soon"])
def test_bad_urls_are_refused(url: str) -> None:
    with pytest.raises(db_drivers.InvalidInput):
        db_drivers.connect(url)


def test_unopenable_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(db_drivers.DatabaseUnavailable, match="no-such-dir"):
        db_drivers.connect(f"sqlite:///{tmp_path}/no-such-dir/x.db")


def test_in_memory_databases_are_private() -> None:
    with db_drivers.connect("sqlite://") as first, db_drivers.connect("sqlite://") as second:
        first.save_user({"user_id": 1})
        assert second.get_users() == []


def _save_many(url: str, writer: int, count: int) -> list[int]:
    """Save `count` snapshots of user 1 (distinct datetimes) plus one shared snapshot, from one process."""
    with db_drivers.connect(url) as driver:
        ids = [
            driver.save_snapshot(
                {"user_id": 1, "datetime": 1_000_000 + writer * 1000 + i, "pose": {"writer": writer, "i": i}}
            )
            for i in range(count)
        ]
        shared = driver.save_snapshot(
            {"user_id": 1, "datetime": WHEN, f"from_{writer}": {"data": np.full(300_000, writer, np.uint8)}}
        )
    return [*ids, shared]


def test_concurrent_processes_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    writers, count = 4, 15
    with multiprocessing.get_context("spawn").Pool(writers) as pool:
        outcomes = pool.starmap(_save_many, [(url, w, count) for w in range(writers)])
    own_ids = [sid for outcome in outcomes for sid in outcome[:-1]]
    shared_ids = {outcome[-1] for outcome in outcomes}
    assert len(set(own_ids)) == writers * count
    assert len(shared_ids) == 1
    with db_drivers.connect(url) as driver:
        snapshots = driver.get_snapshots(1)
        assert sorted(s["snapshot_id"] for s in snapshots) == sorted([*own_ids, *shared_ids])
        shared = driver.get_snapshot(1, shared_ids.pop())
        assert shared is not None
        assert shared["available_results"] == [f"from_{w}" for w in range(writers)]
        for writer in range(writers):
            result = driver.get_result(1, shared["snapshot_id"], f"from_{writer}")
            assert result is not None
            assert (result["data"] == writer).all()


_KILLED_WRITER = textwrap.dedent(
    """
    import sys, time
    import brainstorm.database_drivers as db_drivers

    class SlowStream:
        '''Gives 8 MiB, then signals the parent and hangs: the writer is mid-save when it is killed.'''
        def __init__(self):
            self.sent = 0
        def read(self, size=-1):
            if self.sent >= 8 * 2**20:
                print("writing", flush=True)
                time.sleep(600)
            self.sent += 2**20
            return bytes(2**20)

    driver = db_drivers.connect(sys.argv[1])
    driver.save_snapshot({"user_id": 5, "datetime": 0, "pose": {"x": 1}})
    driver.save_snapshot({"user_id": 5, "datetime": 0, "video": {"data": SlowStream()}, "tag": {"t": 1}})
    """
)


def test_a_killed_writer_leaves_no_trace(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'crash.db'}"
    writer = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, url], stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent
    )
    assert writer.stdout is not None
    assert writer.stdout.readline().strip() == "writing"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()

    with db_drivers.connect(url) as driver:
        snapshot = driver.get_snapshot(5, 1)
        assert snapshot is not None
        assert snapshot["available_results"] == ["pose"]
        assert driver.get_result(5, 1, "video") is None
        assert count_blobs(driver) == 0
        driver.save_snapshot({"user_id": 5, "datetime": 0, "video": {"data": b"x" * 100_000}})
        result = driver.get_result(5, 1, "video")
        assert result is not None and result["data"] == b"x" * 100_000
        assert driver.verify().incomplete.count == 1  # the killed writer's file, which has no row
        assert driver.collect_garbage(dt.timedelta(0)).incomplete.count == 1
        assert_files_match_rows(driver)
    with contextlib.closing(sqlite3.connect(tmp_path / "crash.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def assert_files_match_rows(driver: db_drivers.Driver) -> None:
    """Every payload file belongs to a stored payload and every stored payload has its file."""
    assert isinstance(driver, SqliteDriver)
    with contextlib.closing(sqlite3.connect(driver.path)) as db:
        rows = {str(blob_id) for (blob_id,) in db.execute("SELECT blob_id FROM blobs")}
    files = {file.name for file in driver.blob_directory.glob("*/*")}
    assert files == rows


def test_payload_files_beside_the_database_follow_their_results(tmp_path: Path) -> None:
    with db_drivers.connect(f"sqlite:///{tmp_path / 'files.db'}", inline_limit=0) as driver:
        assert isinstance(driver, SqliteDriver)
        assert driver.blob_directory == tmp_path / "files.db-blobs"
        first = {"user_id": 1, "datetime": WHEN, "a": {"data": b"first" * 1000, "more": [b"x", b"y"]}}
        driver.save_snapshot(first)
        driver.save_snapshot(first)  # the same bytes: no new files
        assert_files_match_rows(driver)
        assert count_blobs(driver) == 3
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "a": {"data": b"second"}})  # replaced: files deleted
        assert_files_match_rows(driver)
        assert count_blobs(driver) == 1
        result = driver.get_result(1, 1, "a")
        assert result is not None and result["data"] == b"second"


def test_a_writer_waits_for_another_processs_write(tmp_path: Path) -> None:
    """A save blocked by another process's open write transaction waits for it instead of failing."""
    path = tmp_path / "busy.db"
    SqliteDriver(f"sqlite:///{path}").close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sqlite3, sys; db = sqlite3.connect(sys.argv[1], isolation_level=None);"
            "db.execute('BEGIN IMMEDIATE'); print('locked', flush=True); sys.stdin.readline(); db.execute('COMMIT')",
            path,
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "locked"
    saved: list[int] = []
    with db_drivers.connect(f"sqlite:///{path}") as driver:
        saving = threading.Thread(target=lambda: saved.append(driver.save_snapshot({"user_id": 3, "datetime": 0})))
        saving.start()
        saving.join(timeout=0.5)
        assert saving.is_alive() and not saved  # blocked by the other process, not failed
        holder.stdin.write("release\n")
        holder.stdin.flush()
        saving.join(timeout=30)
        assert saved == [1]
    holder.wait()


def test_many_openers_of_a_new_file_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL needs it to itself; openers racing for that wait, not fail."""
    for round_ in range(20):
        url = f"sqlite:///{tmp_path / f'new-{round_}.db'}"
        errors: list[BaseException] = []

        def open_and_save(url: str = url, errors: list[BaseException] = errors) -> None:
            try:
                with db_drivers.connect(url) as driver:
                    driver.save_snapshot({"user_id": 1, "datetime": 0, "pose": {"x": 1}})
            except BaseException as exc:  # collected: an exception in a thread would otherwise be lost
                errors.append(exc)

        openers = [threading.Thread(target=open_and_save) for _ in range(6)]
        for opener in openers:
            opener.start()
        for opener in openers:
            opener.join()
        assert errors == []
