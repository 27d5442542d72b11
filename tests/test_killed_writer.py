"""A writer killed (SIGKILL) at any moment of a save leaves nothing half-visible, and what it leaves behind
is found by verify and collected by gc, on both drivers."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import gridfs
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import _driver, _mongo_blobs
from brainstorm.database_drivers.mongodb_driver import MongodbDriver
from brainstorm.database_drivers.storage import refs_of
from tests.conftest import ROOT

WHEN = 1575454087339
KEPT = bytes(range(256)) * 2000  # what an earlier save published, which must stay whole
# The child saves two results with a payload each; `moment` says where it stops, telling the parent
# (a line on stdout) that the moment has come, and waits there to be killed.
CHILD = """
import sys, time
import brainstorm.database_drivers as db_drivers

url, moment, when = sys.argv[1], sys.argv[2], int(sys.argv[3])

def pause():
    print("now", flush=True)
    time.sleep(600)

class SlowStream:
    def __init__(self):
        self.sent = 0
    def readable(self):
        return True
    def read(self, size=-1):
        if self.sent >= 3 * 1024 * 1024:
            return b""
        if self.sent == 1024 * 1024 and moment == "during an upload":
            pause()
        self.sent += 256 * 1024
        return bytes(256 * 1024)

driver = db_drivers.connect(url, inline_limit=0)
publish, calls = driver.record_store.publish, []
def publishing(*args):
    if moment == "between the uploads and the publish" and not calls:
        pause()
    calls.append(args)
    if moment == "between two publishes" and len(calls) == 2:
        pause()
    return publish(*args)
driver.record_store.publish = publishing
second = {"data": b"2" * 300000}
driver.save_snapshot({"user_id": 1, "datetime": when, "first": {"data": SlowStream()}, "second": second})
"""
MOMENTS = ["during an upload", "between the uploads and the publish", "between two publishes"]


@pytest.fixture(params=["mongodb", "sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return (
        str(request.getfixturevalue("mongodb_url")) if request.param == "mongodb" else f"sqlite:///{tmp_path / 'b.db'}"
    )


@pytest.fixture
def a_day_later(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Garbage collection as it runs once a killed writer's pin has expired and its half-written
    GridFS upload can no longer be one in flight (both are kept for a day or an hour, whatever the grace)."""
    monkeypatch.setattr(_driver, "PIN_LEASE", dt.timedelta(0))
    monkeypatch.setattr(_mongo_blobs, "IN_FLIGHT_FLOOR", dt.timedelta(0))
    yield


def kill_at(url: str, moment: str) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(CHILD), url, moment, str(WHEN + 1000)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        assert line.strip() == "now", child.stderr.read() if child.stderr else ""
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)


def assert_nothing_half_visible(driver: db_drivers.Driver) -> None:
    """Every result that can be found reads back whole; the earlier snapshot is untouched."""
    report = driver.verify()
    assert report.missing.count == report.corrupt.count == 0, report.problems
    kept = driver.get_result(1, 1, "kept")
    assert kept is not None and kept["data"] == KEPT
    for listed in driver.get_snapshots(1):
        snapshot = driver.get_snapshot(1, listed["snapshot_id"])
        assert snapshot is not None
        for name in snapshot["available_results"]:
            result = driver.get_result(1, listed["snapshot_id"], name)
            assert result is not None and all(result[key] is not None for key in result)


def assert_readers_by_name_get_the_served_bytes(driver: db_drivers.Driver) -> None:
    """GridFS tools reading a published payload by its file name get exactly the bytes the library serves."""
    if not isinstance(driver, MongodbDriver):
        return
    bucket = gridfs.GridFSBucket(driver.database, "blobs")
    for _, _, name, stored in driver.record_store.results():
        for info in stored["blobs"]:
            if "ref" in info:
                filename = driver.database["blobs.files"].find_one({"_id": info["ref"]})["filename"]
                result = driver.get_result(1, 1 if name == "kept" else 2, name)
                assert result is not None
                assert bucket.open_download_stream_by_name(filename).read() == result["data"], filename


@pytest.mark.parametrize("moment", MOMENTS)
def test_a_writer_killed_mid_save_leaves_nothing_half_visible_and_gc_collects_its_leftovers(
    url: str, moment: str, a_day_later: None
) -> None:
    with db_drivers.connect(url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "kept": {"data": KEPT}})
    kill_at(url, moment)
    with db_drivers.connect(url, inline_limit=0) as driver:
        assert_nothing_half_visible(driver)
        assert_readers_by_name_get_the_served_bytes(driver)
        time.sleep(0.01)  # the grace period below is past for everything the killed writer left
        driver.collect_garbage(dt.timedelta(0))
        assert driver.verify().ok, driver.verify().problems
        assert_nothing_half_visible(driver)
        published = [ref for *_, stored in driver.record_store.results() for ref in refs_of(stored)]
        assert sorted(map(str, published)) == sorted(str(blob.ref) for blob in driver.blob_store.listing())
