"""The server killed mid-save and restarted on the same data: the writer gets DatabaseUnavailable within the
timeouts, nothing is half-visible afterwards, and gc collects what the save left."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap

import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import _driver, _mongo_blobs
from tests.conftest import ROOT
from tools.ferretdb_server import Storage, documentdb_storage, ferretdb_process

WHEN = 1575454087339
CHILD = """
import sys
import brainstorm.database_drivers as db_drivers

class Stream:  # 48 MiB in 1 MiB reads; says "now" once 20 MiB were read, and goes on
    def __init__(self):
        self.sent = 0
    def readable(self):
        return True
    def read(self, size=-1):
        if self.sent == 20 * 1024 * 1024:
            print("now", flush=True)
        if self.sent >= 48 * 1024 * 1024:
            return b""
        self.sent += 1024 * 1024
        return bytes(1024 * 1024)

with db_drivers.connect(sys.argv[1]) as driver:
    try:
        driver.save_snapshot({"user_id": 1, "datetime": int(sys.argv[2]), "big": {"data": Stream()}})
    except db_drivers.DatabaseUnavailable as exc:
        print("DatabaseUnavailable", exc, flush=True)
        sys.exit(3)
print("saved", flush=True)
"""


def test_a_server_killed_mid_save_fails_the_save_and_leaves_nothing_half_visible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with documentdb_storage() as storage:
        _killed_mid_save(storage)
        monkeypatch.setattr(_driver, "PIN_LEASE", dt.timedelta(0))  # gc as a day later: the save's pin expired,
        monkeypatch.setattr(_mongo_blobs, "IN_FLIGHT_FLOOR", dt.timedelta(0))  # its chunks no upload in flight
        with ferretdb_process(storage) as (again, _), db_drivers.connect(f"{again}/killed") as driver:
            report = driver.verify()
            assert report.missing.count == report.corrupt.count == 0, report.problems
            assert driver.get_result(1, 2, "big") is None  # never published
            kept = driver.get_result(1, 1, "kept")
            assert kept is not None and kept["data"] == b"k" * 300_000
            driver.collect_garbage(dt.timedelta(0))
            assert driver.verify().ok, driver.verify().problems


def _killed_mid_save(storage: Storage) -> None:
    """A save of 48 MiB in a process of its own, and the server killed under it once 20 MiB were sent."""
    with ferretdb_process(storage) as (url, server):
        database = f"{url}/killed?socketTimeoutMS=5000&serverSelectionTimeoutMS=5000&connectTimeoutMS=2000"
        with db_drivers.connect(database) as driver:
            driver.save_snapshot({"user_id": 1, "datetime": WHEN, "kept": {"data": b"k" * 300_000}})
        child = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(CHILD), database, str(WHEN + 1)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "now"
        os.kill(server.pid, signal.SIGKILL)
        server.wait()
        out, err = child.communicate(timeout=60)  # within the timeouts, never a hang
        assert child.returncode == 3, out + err
        assert out.startswith("DatabaseUnavailable MongoDB at mongodb://***@127.0.0.1:")
        assert storage.password not in out + err
