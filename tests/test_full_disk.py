"""A full disk under the embedded driver: a clear error, nothing half-visible, a sound database, and the
next save succeeds once there is room. On a small filesystem of the test's own (tmpfs, mounted as root)."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import DatabaseUnavailable
from brainstorm.testing.helpers import count_blobs

WHEN = 1575454087339
MiB = 1024 * 1024


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 6 MiB filesystem (the suite runs as root, as CI does; a failing mount fails the test)."""
    mount = tmp_path / "small"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def test_a_full_disk_fails_the_save_clearly_and_leaves_the_database_sound(small_disk: Path) -> None:
    url = f"sqlite:///{small_disk / 'b.db'}"
    filler = small_disk / "filler"
    with db_drivers.connect(url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "kept": {"data": b"k" * MiB}})
        filler.write_bytes(bytes(3 * MiB))  # now about 1 MiB is left
        with pytest.raises(DatabaseUnavailable, match="No space left on device"):
            driver.save_snapshot({"user_id": 1, "datetime": WHEN + 1, "big": {"data": b"b" * 3 * MiB}})
        assert [s["snapshot_id"] for s in driver.get_snapshots(1)] == [1]
        assert count_blobs(driver) == 1 and driver.verify().ok
    with contextlib.closing(sqlite3.connect(small_disk / "b.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    filler.unlink()
    with db_drivers.connect(url, inline_limit=0) as driver:
        sid = driver.save_snapshot({"user_id": 1, "datetime": WHEN + 1, "big": {"data": b"b" * 3 * MiB}})
        big = driver.get_result(1, sid, "big")
        assert big is not None and big["data"] == b"b" * 3 * MiB
        kept = driver.get_result(1, 1, "kept")
        assert kept is not None and kept["data"] == b"k" * MiB
