"""The user half of the driver contract: save_user, get_user, get_users (every driver)."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.testing.helpers import assert_same, expected_of

MAX_ID = 2**63 - 1

DAN = {
    "user_id": 42,
    "username": "Dan Gittik",
    "birthday": 699753600,
    "gender": "m",
    "height": 1.83,
    "verified": True,
    "nickname": None,
    "tags": ["teacher", "pythonista"],
    "address": {"city": "Tel Aviv", "lines": ["1 Main St", {"floor": 3}], "nested": {"deeper": {}}},
    "emoji": "🧠 ünïcödé",
    "big": -(2**63),
    "joined": dt.datetime(2019, 12, 4, 10, 8, 7, 381999),
    "seen": dt.datetime(2020, 1, 1, 2, 0, 0, 500, tzinfo=dt.timezone(dt.timedelta(hours=2))),
}


def test_get_user_returns_exactly_the_fields_saved(driver: db_drivers.Driver) -> None:
    assert driver.save_user(DAN) is None
    assert_same(driver.get_user(42), expected_of(DAN))


def test_datetimes_come_back_naive_utc_at_millisecond_precision(driver: db_drivers.Driver) -> None:
    driver.save_user(DAN)
    user = driver.get_user(42)
    assert user is not None
    assert user["joined"] == dt.datetime(2019, 12, 4, 10, 8, 7, 381000)
    assert user["seen"] == dt.datetime(2020, 1, 1, 0, 0, 0)


def test_tuples_and_numpy_scalars_come_back_as_json_values(driver: db_drivers.Driver) -> None:
    driver.save_user({"user_id": 1, "pair": (1, 2), "count": np.int16(-5), "ratio": np.float32(0.5), "ok": np.bool_(1)})
    assert_same(driver.get_user(1), {"user_id": 1, "pair": [1, 2], "count": -5, "ratio": 0.5, "ok": True})


def test_saving_again_updates_the_given_fields_and_keeps_the_others(driver: db_drivers.Driver) -> None:
    driver.save_user({"user_id": 7, "username": "Ada", "gender": "f", "tags": ["a"]})
    driver.save_user({"user_id": 7, "username": "Ada Lovelace", "tags": [], "born": 1815})
    driver.save_user({"user_id": 7})
    assert_same(driver.get_user(7), {"user_id": 7, "username": "Ada Lovelace", "gender": "f", "tags": [], "born": 1815})


def test_unknown_user_is_none(driver: db_drivers.Driver) -> None:
    assert driver.get_user(1) is None
    driver.save_user({"user_id": 2})
    assert driver.get_user(1) is None
    assert driver.get_user(2) == {"user_id": 2}


def test_get_users_lists_ids_and_usernames_sorted_by_id(driver: db_drivers.Driver) -> None:
    assert driver.get_users() == []
    for user in [{"user_id": 42, "username": "Dan"}, {"user_id": 0, "gender": "f"}, {"user_id": 7, "username": "Ada"}]:
        driver.save_user(user)
    assert driver.get_users() == [
        {"user_id": 0, "username": None},
        {"user_id": 7, "username": "Ada"},
        {"user_id": 42, "username": "Dan"},
    ]


@pytest.mark.parametrize("user_id", [0, 1, MAX_ID, np.int64(5), np.uint8(5), np.uint64(MAX_ID)], ids=repr)
def test_any_integer_in_range_is_an_id(driver: db_drivers.Driver, user_id: int) -> None:
    driver.save_user({"user_id": user_id, "username": "x"})
    user = driver.get_user(int(user_id))
    assert user == {"user_id": int(user_id), "username": "x"}
    assert type(user["user_id"]) is int
    assert driver.get_user(user_id) == user
    assert driver.get_users() == [{"user_id": int(user_id), "username": "x"}]


def test_ids_sort_as_numbers(driver: db_drivers.Driver) -> None:
    ids = [MAX_ID, 2**31, 10, 9, 2**32 + 1, 0]
    for user_id in ids:
        driver.save_user({"user_id": user_id})
    assert [user["user_id"] for user in driver.get_users()] == sorted(ids)


def test_a_snapshot_of_an_unknown_user_creates_the_user(driver: db_drivers.Driver) -> None:
    driver.save_snapshot({"user_id": 9, "datetime": 0, "pose": {"x": 1}})
    assert driver.get_user(9) == {"user_id": 9}
    assert driver.get_users() == [{"user_id": 9, "username": None}]
    driver.save_user({"user_id": 9, "username": "Nine"})
    assert driver.get_user(9) == {"user_id": 9, "username": "Nine"}
    assert [snapshot["snapshot_id"] for snapshot in driver.get_snapshots(9)] == [1]


def test_saving_a_snapshot_keeps_the_users_fields(driver: db_drivers.Driver) -> None:
    driver.save_user({"user_id": 3, "username": "Three", "gender": "o"})
    driver.save_snapshot({"user_id": 3, "datetime": 0})
    assert driver.get_user(3) == {"user_id": 3, "username": "Three", "gender": "o"}


@pytest.mark.parametrize("key", [" ", " padded ", "tab\t", "a b", "ünïcödé", "with$dollar", "🧠", "k" * 300], ids=repr)
def test_any_key_the_contract_allows_is_a_user_field(driver: db_drivers.Driver, key: str) -> None:
    driver.save_user({"user_id": 1, key: 1, "nested": {key: [key]}})
    driver.save_user({"user_id": 1, key: 2})
    assert driver.get_user(1) == {"user_id": 1, key: 2, "nested": {key: [key]}}


def test_concurrent_saves_of_different_fields_all_land(driver_url: str) -> None:
    workers = 4

    def write(worker: int) -> None:
        with db_drivers.connect(driver_url) as own:
            for n in range(3):
                own.save_user({"user_id": 1, f"field{worker}": n})

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(write, range(workers)))
    with db_drivers.connect(driver_url) as reader:
        assert reader.get_user(1) == {"user_id": 1, **{f"field{worker}": 2 for worker in range(workers)}}
