"""The snapshot half of the driver contract: ids, datetimes, merging, listing (every driver)."""

from __future__ import annotations

import datetime as dt
import itertools
import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.testing.helpers import at_millis

T0 = dt.datetime(2019, 12, 4, 10, 8, 7, 339000)
SECOND = dt.timedelta(seconds=1)
UTC_PLUS_2 = dt.timezone(dt.timedelta(hours=2))
MS_T0 = 1575454087339  # T0 in milliseconds since the epoch


def snapshot_ids(driver: db_drivers.Driver, user_id: int) -> list[int]:
    return [snapshot["snapshot_id"] for snapshot in driver.get_snapshots(user_id)]


def test_ids_count_from_one_in_order_of_first_save(driver: db_drivers.Driver) -> None:
    saved = [driver.save_snapshot({"user_id": 1, "datetime": T0 + n * SECOND}) for n in (2, 0, 1)]
    assert saved == [1, 2, 3]
    assert driver.get_snapshots(1) == [
        {"snapshot_id": 2, "datetime": T0},
        {"snapshot_id": 3, "datetime": T0 + SECOND},
        {"snapshot_id": 1, "datetime": T0 + 2 * SECOND},
    ]


def test_numpy_integers_are_ids_and_milliseconds(driver: db_drivers.Driver) -> None:
    snapshot_id = driver.save_snapshot({"user_id": np.int32(3), "datetime": np.int64(MS_T0), "pose": {"x": 1}})
    assert snapshot_id == 1 and type(snapshot_id) is int
    assert driver.get_snapshots(np.uint8(3)) == [{"snapshot_id": 1, "datetime": T0}]
    assert driver.get_snapshot(np.int64(3), np.uint16(1)) == {
        "snapshot_id": 1,
        "datetime": T0,
        "available_results": ["pose"],
    }
    assert driver.get_result(np.int16(3), np.int64(1), "pose") == {"x": 1}
    assert driver.get_users() == [{"user_id": 3, "username": None}]


def test_each_user_numbers_their_own_snapshots(driver: db_drivers.Driver) -> None:
    saved = [
        driver.save_snapshot({"user_id": user_id, "datetime": T0 + n * SECOND}) for n in range(2) for user_id in (5, 6)
    ]
    assert saved == [1, 1, 2, 2]
    assert snapshot_ids(driver, 5) == snapshot_ids(driver, 6) == [1, 2]


def test_no_snapshots_is_an_empty_list(driver: db_drivers.Driver) -> None:
    assert driver.get_snapshots(1) == []
    driver.save_user({"user_id": 1})
    driver.save_snapshot({"user_id": 2, "datetime": T0})
    assert driver.get_snapshots(1) == []


def test_saves_with_the_same_datetime_merge_into_one_snapshot(driver: db_drivers.Driver) -> None:
    first = driver.save_snapshot({"user_id": 1, "datetime": T0, "pose": {"x": 1}})
    second = driver.save_snapshot({"user_id": 1, "datetime": T0, "feelings": {"hunger": 0.5}, "extra": {}})
    again = driver.save_snapshot({"user_id": 1, "datetime": T0})
    assert first == second == again == 1
    assert driver.get_snapshots(1) == [{"snapshot_id": 1, "datetime": T0}]
    assert driver.get_snapshot(1, 1) == {
        "snapshot_id": 1,
        "datetime": T0,
        "available_results": ["extra", "feelings", "pose"],
    }
    assert driver.get_result(1, 1, "pose") == {"x": 1}
    assert driver.get_result(1, 1, "extra") == {}


def test_saving_a_result_again_replaces_it(driver: db_drivers.Driver) -> None:
    driver.save_snapshot({"user_id": 1, "datetime": T0, "pose": {"x": 1, "y": 2}, "other": {"kept": True}})
    driver.save_snapshot({"user_id": 1, "datetime": T0, "pose": {"z": [3]}})
    assert driver.get_result(1, 1, "pose") == {"z": [3]}
    assert driver.get_result(1, 1, "other") == {"kept": True}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (T0, MS_T0),
        (T0, T0.replace(tzinfo=dt.UTC)),
        (T0, (T0 + 2 * 3600 * SECOND).replace(tzinfo=UTC_PLUS_2)),
        (T0, T0.replace(microsecond=339999)),
        (T0.replace(microsecond=339001), MS_T0),
    ],
    ids=["millis", "aware-utc", "aware-plus-2", "same-millisecond", "microseconds-vs-millis"],
)
def test_every_form_of_the_same_millisecond_is_the_same_snapshot(
    driver: db_drivers.Driver, first: object, second: object
) -> None:
    assert driver.save_snapshot({"user_id": 1, "datetime": first, "a": {}}) == 1
    assert driver.save_snapshot({"user_id": 1, "datetime": second, "b": {}}) == 1
    assert driver.get_snapshot(1, 1) == {"snapshot_id": 1, "datetime": T0, "available_results": ["a", "b"]}


def test_a_millisecond_apart_is_another_snapshot(driver: db_drivers.Driver) -> None:
    driver.save_snapshot({"user_id": 1, "datetime": T0})
    driver.save_snapshot({"user_id": 1, "datetime": MS_T0 + 1})
    driver.save_snapshot({"user_id": 1, "datetime": T0 - dt.timedelta(microseconds=1)})
    assert driver.get_snapshots(1) == [
        {"snapshot_id": 3, "datetime": T0 - dt.timedelta(milliseconds=1)},
        {"snapshot_id": 1, "datetime": T0},
        {"snapshot_id": 2, "datetime": T0 + dt.timedelta(milliseconds=1)},
    ]


@pytest.mark.parametrize(
    ("when", "stored"),
    [
        (0, dt.datetime(1970, 1, 1)),
        (-1, dt.datetime(1969, 12, 31, 23, 59, 59, 999000)),
        (-62135596800000, dt.datetime(1, 1, 1)),
        (253402300799999, dt.datetime(9999, 12, 31, 23, 59, 59, 999000)),
        (dt.datetime(9999, 12, 31, 23, 59, 59, 999999), dt.datetime(9999, 12, 31, 23, 59, 59, 999000)),
        (dt.datetime(1, 1, 1, 3, tzinfo=UTC_PLUS_2), dt.datetime(1, 1, 1, 1)),
    ],
    ids=["epoch", "before-epoch", "year-1", "year-9999-millis", "year-9999", "year-1-aware"],
)
def test_datetimes_are_returned_as_naive_utc_milliseconds(
    driver: db_drivers.Driver, when: object, stored: dt.datetime
) -> None:
    snapshot_id = driver.save_snapshot({"user_id": 1, "datetime": when})
    for summary in (driver.get_snapshots(1)[0], driver.get_snapshot(1, snapshot_id)):
        assert summary is not None
        assert summary["datetime"] == stored
        assert type(summary["datetime"]) is dt.datetime and summary["datetime"].tzinfo is None


def test_snapshots_sort_by_datetime_across_the_epoch(driver: db_drivers.Driver) -> None:
    moments = [10**12, -(10**12), 0, 5, -5, 2 * 10**12]
    for when in moments:
        driver.save_snapshot({"user_id": 1, "datetime": when})
    listed = driver.get_snapshots(1)
    assert [summary["datetime"] for summary in listed] == [at_millis(ms) for ms in sorted(moments)]
    assert [summary["snapshot_id"] for summary in listed] == [2, 5, 3, 4, 1, 6]


def test_get_snapshot_lists_available_results_sorted(driver: db_drivers.Driver) -> None:
    driver.save_snapshot({"user_id": 1, "datetime": T0, "zeta": {}, "Alpha": {}, "beta-2": {}, "beta_1": {}})
    assert driver.get_snapshot(1, 1) == {
        "snapshot_id": 1,
        "datetime": T0,
        "available_results": sorted(["zeta", "Alpha", "beta-2", "beta_1"]),
    }


def test_a_snapshot_without_results_has_none_available(driver: db_drivers.Driver) -> None:
    assert driver.save_snapshot({"user_id": 1, "datetime": T0}) == 1
    assert driver.get_snapshot(1, 1) == {"snapshot_id": 1, "datetime": T0, "available_results": []}


def test_unknown_snapshots_are_none(driver: db_drivers.Driver) -> None:
    driver.save_snapshot({"user_id": 1, "datetime": T0, "pose": {}})
    assert driver.get_snapshot(1, 2) is None
    assert driver.get_snapshot(2, 1) is None
    assert driver.get_result(1, 2, "pose") is None
    assert driver.get_result(2, 1, "pose") is None
    assert driver.get_result(1, 1, "feelings") is None


def test_concurrent_writers_get_unique_ids(driver_url: str) -> None:
    workers, per_worker = 4, 5

    def write(worker: int) -> list[int]:
        with db_drivers.connect(driver_url) as own:
            return [
                own.save_snapshot(
                    {"user_id": 1, "datetime": T0 + (worker * per_worker + n) * SECOND, "r": {"w": worker}}
                )
                for n in range(per_worker)
            ]

    with ThreadPoolExecutor(workers) as pool:
        ids = list(itertools.chain.from_iterable(pool.map(write, range(workers))))
    assert len(set(ids)) == workers * per_worker
    assert min(ids) >= 1
    with db_drivers.connect(driver_url) as reader:
        listed = reader.get_snapshots(1)
    assert [summary["snapshot_id"] for summary in listed] == [
        ids[worker * per_worker + n] for worker in range(workers) for n in range(per_worker)
    ]


def test_concurrent_saves_of_one_datetime_merge(driver_url: str) -> None:
    """Parsers save their results of one snapshot at the same time: none may be lost."""
    workers, moments = 4, [T0 + n * SECOND for n in range(3)]

    def write(worker: int) -> list[int]:
        with db_drivers.connect(driver_url) as own:
            return [
                own.save_snapshot({"user_id": 1, "datetime": when, f"r{worker}": {"w": worker}}) for when in moments
            ]

    with ThreadPoolExecutor(workers) as pool:
        ids_by_worker = list(pool.map(write, range(workers)))
    with db_drivers.connect(driver_url) as reader:
        listed = reader.get_snapshots(1)
        assert [summary["datetime"] for summary in listed] == moments
        for n, summary in enumerate(listed):
            assert {ids[n] for ids in ids_by_worker} == {summary["snapshot_id"]}
            snapshot = reader.get_snapshot(1, summary["snapshot_id"])
            assert snapshot is not None
            assert snapshot["available_results"] == [f"r{worker}" for worker in range(workers)]


CONTENDERS, ROUNDS, SHARED = 8, 25, 5
SHARED_AT, OWN_AT = 2_000_000, 3_000_000


def contend(url: str, worker: int, results: multiprocessing.SimpleQueue[tuple[int, int]]) -> None:
    """Each round: save a result of this worker's (with a payload for the blob store) into one of the
    snapshots every worker shares, create a snapshot of its own, and save a user field of its own; report
    (ms, id) of each own snapshot."""
    payload = bytes([worker]) * 70_000
    with db_drivers.connect(url) as driver:
        for n in range(ROUNDS):
            shared = {"user_id": 1, "datetime": SHARED_AT + n % SHARED, f"w{worker}": {"round": n, "data": payload}}
            driver.save_snapshot(shared)
            ms = OWN_AT + worker * 1000 + n
            results.put((ms, driver.save_snapshot({"user_id": 1, "datetime": ms, "pose": {"w": worker}})))
            driver.save_user({"user_id": 1, f"field{worker}": n})


def test_processes_contending_for_one_user_all_succeed(driver_url: str) -> None:
    """Contention is no outage: 8 processes, 25 rounds each, all succeed; every snapshot of its own gets an id
    of its own, the shared snapshots merge every worker's results, and every user field lands."""
    spawn = multiprocessing.get_context("spawn")
    results: multiprocessing.SimpleQueue[tuple[int, int]] = spawn.SimpleQueue()
    workers = [spawn.Process(target=contend, args=(driver_url, w, results)) for w in range(CONTENDERS)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=600)
        assert worker.exitcode == 0, "a save failed under contention"
    own = dict(results.get() for _ in range(CONTENDERS * ROUNDS))
    assert len(set(own.values())) == len(own) == CONTENDERS * ROUNDS
    with db_drivers.connect(driver_url) as driver:
        listed = {s["snapshot_id"]: s["datetime"] for s in driver.get_snapshots(1)}
        shared = {sid: when for sid, when in listed.items() if sid not in own.values()}
        assert {sid: listed[sid] for sid in own.values()} == {sid: at_millis(ms) for ms, sid in own.items()}
        assert sorted(shared.values()) == [at_millis(SHARED_AT + k) for k in range(SHARED)]
        for sid, when in shared.items():
            k = (when - at_millis(SHARED_AT)) // dt.timedelta(milliseconds=1)
            for w in range(CONTENDERS):
                result = driver.get_result(1, sid, f"w{w}")
                assert result is not None and result["round"] == max(n for n in range(ROUNDS) if n % SHARED == k)
                assert result["data"] == bytes([w]) * 70_000
        assert driver.get_user(1) == {"user_id": 1, **{f"field{w}": ROUNDS - 1 for w in range(CONTENDERS)}}
        assert driver.verify().ok, driver.verify().problems
