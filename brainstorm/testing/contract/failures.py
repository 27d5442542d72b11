"""A save that fails part-way leaves nothing half-visible: no result, no new snapshot or user, no payload."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from typing import Any

import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.testing.helpers import OneWayStream, count_blobs

WHEN = 1575454087339
BIG = bytes(range(256)) * 4096  # 1 MiB: in the blob store of every driver


def failing_snapshot(user_id: int, when: int = WHEN) -> dict[str, Any]:
    """A snapshot whose second payload breaks after its first bytes were read (and the first was stored)."""
    return {
        "user_id": user_id,
        "datetime": when,
        "color": {"data": BIG},
        "depth": {"data": OneWayStream(BIG, fail_after=300_000)},
    }


def test_a_failed_first_save_of_a_new_user_leaves_no_user_snapshot_or_payload(driver: db_drivers.Driver) -> None:
    with pytest.raises(OSError, match="broke"):
        driver.save_snapshot(failing_snapshot(5))
    assert driver.get_users() == [] and driver.get_user(5) is None
    assert driver.get_snapshots(5) == [] and driver.get_snapshot(5, 1) is None
    assert count_blobs(driver) == 0


def test_a_failed_save_into_an_existing_snapshot_keeps_the_snapshot_and_its_results(driver: db_drivers.Driver) -> None:
    driver.save_user({"user_id": 5, "username": "five"})
    assert driver.save_snapshot({"user_id": 5, "datetime": WHEN, "pose": {"x": 1}}) == 1
    with pytest.raises(OSError, match="broke"):
        driver.save_snapshot(failing_snapshot(5))
    assert driver.get_user(5) == {"user_id": 5, "username": "five"}
    assert [s["snapshot_id"] for s in driver.get_snapshots(5)] == [1]
    assert driver.get_snapshot(5, 1)["available_results"] == ["pose"]  # type: ignore[index]
    assert count_blobs(driver) == 0


def test_a_failed_new_snapshot_of_a_known_user_leaves_only_the_user(driver: db_drivers.Driver) -> None:
    driver.save_user({"user_id": 5, "username": "five"})
    with pytest.raises(OSError, match="broke"):
        driver.save_snapshot(failing_snapshot(5))
    assert driver.get_users() == [{"user_id": 5, "username": "five"}]
    assert driver.get_snapshots(5) == [] and count_blobs(driver) == 0
    assert driver.save_snapshot({"user_id": 5, "datetime": WHEN, "pose": {"x": 1}}) >= 1  # and saving works after


def failing_saves(url: str, seconds: float) -> None:
    """For a while, save again and again snapshots whose stream breaks part-way (each fails and tidies up)."""
    deadline, n = time.monotonic() + seconds, 0
    with db_drivers.connect(url, inline_limit=0) as driver:
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                driver.save_snapshot(failing_snapshot(2, WHEN + n))
            n += 1


def test_failed_saves_beside_good_ones_never_take_a_good_ones_payload(driver_url: str) -> None:
    """A failed save tidies up its uploads after the fact: that must never reach a payload another
    process stored meanwhile (as it could if a rolled-back id were given again)."""
    failer = multiprocessing.get_context("spawn").Process(target=failing_saves, args=(driver_url, 5.0))
    failer.start()
    saved = 0
    with db_drivers.connect(driver_url, inline_limit=0) as driver:
        while failer.is_alive() or saved == 0:
            data = os.urandom(10_000)
            sid = driver.save_snapshot({"user_id": 1, "datetime": WHEN + saved, "img": {"data": data}})
            result = driver.get_result(1, sid, "img")
            assert result is not None and result["data"] == data
            saved += 1
        failer.join(timeout=300)
        assert failer.exitcode == 0
        report = driver.verify(1)
        assert report.missing.count == report.corrupt.count == 0, report.problems
        assert report.checked.count == saved
