"""A save that fails part-way leaves nothing half-visible: no result, no new snapshot or user, no payload."""

from __future__ import annotations

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
