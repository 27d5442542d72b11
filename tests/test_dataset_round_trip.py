"""The fixture dataset (fixtures/dataset) saved and read back whole, on every driver."""

from __future__ import annotations

import brainstorm.database_drivers as db_drivers
from brainstorm.testing.helpers import assert_snapshot_holds, at_millis, expected_of
from tests import dataset


def test_the_fixture_dataset_round_trips(driver: db_drivers.Driver) -> None:
    users, snapshots = dataset.users(), dataset.snapshots()
    expected = [expected_of(snapshot) for snapshot in snapshots]
    for user in users:
        driver.save_user(user)
    ids = {}
    for snapshot in sorted(snapshots, key=lambda s: s["datetime"], reverse=True):  # ids then run against time
        ids[snapshot["user_id"], snapshot["datetime"]] = driver.save_snapshot(snapshot)

    assert driver.get_users() == [
        {"user_id": u["user_id"], "username": u["username"]} for u in sorted(users, key=lambda u: u["user_id"])
    ]
    for user in users:
        assert driver.get_user(user["user_id"]) == user
        mine = sorted(ms for user_id, ms in ids if user_id == user["user_id"])
        assert driver.get_snapshots(user["user_id"]) == [
            {"snapshot_id": len(mine) - n, "datetime": at_millis(ms)} for n, ms in enumerate(mine)
        ]
    for want in expected:
        user_id, ms = want.pop("user_id"), want.pop("datetime")
        assert_snapshot_holds(driver, user_id, ids[user_id, ms], at_millis(ms), want)
