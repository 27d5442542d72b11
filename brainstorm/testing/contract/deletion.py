"""Deleting results, snapshots and users: what existed goes whole, with its payloads, and ids stay unique."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import BlobMissing
from brainstorm.database_drivers.storage import refs_of
from brainstorm.testing.helpers import count_blobs

WHEN = 1575454087339
SECOND = 1000
BIG = bytes(range(256)) * 12_000  # 3 MiB: in the blob store of every driver, in more than one chunk


def populate(driver: db_drivers.Driver, user_id: int = 42, snapshots: int = 2) -> None:
    """A user with `snapshots` snapshots, each with a pose and two payloads (one inline-sized)."""
    driver.save_user({"user_id": user_id, "username": f"user {user_id}"})
    for n in range(snapshots):
        driver.save_snapshot(
            {
                "user_id": user_id,
                "datetime": WHEN + n * SECOND,
                "pose": {"x": n},
                "color_image": {"width": 3, "data": BIG[n:] + bytes([user_id % 256])},
                "depth_image": {"data": np.full((300, 300), n + user_id, np.float32)},
            }
        )


def test_deleting_a_result_removes_it_and_its_payloads(driver: db_drivers.Driver) -> None:
    populate(driver, snapshots=1)
    before = count_blobs(driver)
    assert driver.delete_result(42, 1, "color_image") is True
    assert driver.get_result(42, 1, "color_image") is None
    assert driver.get_snapshot(42, 1) == {
        "snapshot_id": 1,
        "datetime": driver.get_snapshots(42)[0]["datetime"],
        "available_results": ["depth_image", "pose"],
    }
    assert count_blobs(driver) == before - 1
    depth = driver.get_result(42, 1, "depth_image")
    assert depth is not None and depth["data"][0, 0] == 42  # the others are whole
    assert driver.delete_result(42, 1, "color_image") is False


def test_deleting_a_snapshot_removes_it_its_results_and_their_payloads(driver: db_drivers.Driver) -> None:
    populate(driver)
    populate(driver, user_id=7, snapshots=1)
    assert driver.delete_snapshot(42, 1) is True
    assert driver.get_snapshot(42, 1) is None
    assert [s["snapshot_id"] for s in driver.get_snapshots(42)] == [2]
    for name in ("pose", "color_image", "depth_image"):
        assert driver.get_result(42, 1, name) is None
    assert count_blobs(driver) == 4  # the two of snapshot 2, and user 7's two
    assert driver.get_result(42, 2, "color_image") == {"width": 3, "data": BIG[1:] + bytes([42])}
    assert driver.delete_snapshot(42, 1) is False


def test_deleting_a_user_removes_everything_it_had(driver: db_drivers.Driver) -> None:
    populate(driver)
    populate(driver, user_id=7, snapshots=1)
    assert driver.delete_user(42) is True
    assert driver.get_user(42) is None
    assert driver.get_users() == [{"user_id": 7, "username": "user 7"}]
    assert driver.get_snapshots(42) == []
    assert driver.get_snapshot(42, 1) is None and driver.get_result(42, 2, "pose") is None
    assert count_blobs(driver) == 2
    assert driver.delete_user(42) is False
    assert driver.delete_user(12345) is False


def test_a_user_without_snapshots_can_be_deleted(driver: db_drivers.Driver) -> None:
    driver.save_user({"user_id": 5, "username": "lonely"})
    assert driver.delete_user(5) is True
    assert driver.get_users() == [] and driver.delete_user(5) is False


def test_nothing_is_left_of_a_database_whose_users_were_all_deleted(driver: db_drivers.Driver) -> None:
    populate(driver)
    populate(driver, user_id=7)
    for user_id in (42, 7):
        assert driver.delete_user(user_id)
    assert driver.get_users() == [] and count_blobs(driver) == 0


def test_snapshot_ids_are_never_given_again(driver: db_drivers.Driver) -> None:
    populate(driver, snapshots=3)
    assert driver.delete_snapshot(42, 3) is True
    assert driver.save_snapshot({"user_id": 42, "datetime": WHEN + 2 * SECOND, "pose": {"x": 9}}) == 4
    assert driver.delete_snapshot(42, 1) and driver.delete_snapshot(42, 4)
    assert driver.save_snapshot({"user_id": 42, "datetime": WHEN, "pose": {"x": 9}}) == 5


def test_the_highest_snapshot_id_counts_deleted_snapshots_and_users(driver: db_drivers.Driver) -> None:
    assert driver.get_highest_snapshot_id(42) == 0
    populate(driver, snapshots=3)
    assert driver.get_highest_snapshot_id(42) == 3
    driver.delete_snapshot(42, 3)
    assert driver.get_highest_snapshot_id(42) == 3
    driver.delete_user(42)
    assert driver.get_highest_snapshot_id(42) == 3
    driver.save_snapshot({"user_id": 42, "datetime": WHEN, "pose": {"x": 1}}, snapshot_id=9)
    assert driver.get_highest_snapshot_id(42) == 9 and driver.get_highest_snapshot_id(7) == 0


def test_a_user_saved_again_after_its_deletion_goes_on_with_new_snapshot_ids(driver: db_drivers.Driver) -> None:
    populate(driver, snapshots=3)
    assert driver.delete_user(42)
    assert driver.save_snapshot({"user_id": 42, "datetime": WHEN, "pose": {"x": 1}}) == 4
    assert driver.get_user(42) == {"user_id": 42}  # the user is back, with only what was saved since
    assert driver.get_users() == [{"user_id": 42, "username": None}]
    assert driver.delete_user(42)
    driver.save_user({"user_id": 42, "username": "again"})
    assert driver.save_snapshot({"user_id": 42, "datetime": WHEN, "pose": {"x": 1}}) == 5


def test_payloads_a_remaining_result_reuses_are_kept(driver: db_drivers.Driver) -> None:
    populate(driver, snapshots=1)
    blobs = count_blobs(driver)
    populate(driver, snapshots=1)  # the same bytes again: reused, not stored twice
    assert count_blobs(driver) == blobs
    assert driver.delete_result(42, 1, "depth_image")
    color = driver.get_result(42, 1, "color_image")
    assert color is not None and color["data"] == BIG + bytes([42])
    assert count_blobs(driver) == blobs - 1
    assert driver.delete_result(42, 1, "color_image") and count_blobs(driver) == blobs - 2


def test_a_stream_opened_before_a_delete_gives_the_right_bytes_or_blob_missing(driver: db_drivers.Driver) -> None:
    populate(driver, snapshots=1)
    result = driver.get_result(42, 1, "color_image")
    assert result is not None
    expected = BIG + bytes([42])
    with result.open("data") as stream:
        head = stream.read(10)
        assert driver.delete_result(42, 1, "color_image")
        try:
            rest = stream.read()
        except BlobMissing:
            return
    assert head + rest == expected


# Races with real processes ------------------------------------------------------------------------

RACE_ROUNDS = 16


def resave_loop(url: str, rounds: int) -> None:
    """Save the result again and again, mostly with the same bytes (so the stored payload is reused),
    every fourth time with others; a second result with new bytes, uploaded after the reused payload
    was checked and before the result is published, widens the window a delete can fall into."""
    with db_drivers.connect(url, inline_limit=0) as driver:
        for n in range(rounds):
            data = BIG if n % 4 else BIG[::-1][: len(BIG) - n]
            filler = {"data": os.urandom(1 << 20)}
            driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"n": n, "data": data}, "filler": filler})


def delete_loop(url: str, rounds: int) -> None:
    with db_drivers.connect(url) as driver:
        for _ in range(rounds):
            driver.delete_result(1, 1, "color")


def assert_whole_or_absent(driver: db_drivers.Driver) -> None:
    """The result is absent, or its payload is there with the bytes its description promises."""
    result = driver.get_result(1, 1, "color")
    if result is None:
        return
    with result.open("data") as stream:
        data = stream.read()
    assert hashlib.sha256(data).hexdigest() == result.blobs["data"]["sha256"]


def assert_no_published_payload_is_missing(driver: db_drivers.Driver, name: str = "color") -> int:
    """Look once at result `name` of user 1's snapshot 1: a payload it references that is missing must
    not be referenced still afterwards (a deleted payload is never published again). Returns how many
    payloads were there."""
    stored = driver.record_store.result(1, 1, name)
    opened = 0
    for ref in refs_of(stored) if stored is not None else []:
        try:
            driver.blob_store.open(ref).close()
            opened += 1
        except BlobMissing:
            again = driver.record_store.result(1, 1, name)
            assert again is None or ref not in refs_of(again), f"the published result points at missing {ref!r}"
    return opened


def test_a_delete_racing_saves_of_the_same_result_leaves_it_whole_or_absent(driver_url: str) -> None:
    with db_drivers.connect(driver_url) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"n": -1, "data": BIG}})
        spawn = multiprocessing.get_context("spawn")
        processes: list[Any] = [
            spawn.Process(target=resave_loop, args=(driver_url, RACE_ROUNDS)),
            spawn.Process(target=resave_loop, args=(driver_url, RACE_ROUNDS)),
            spawn.Process(target=delete_loop, args=(driver_url, RACE_ROUNDS)),
        ]
        for process in processes:
            process.start()
        looks = 0
        while any(process.is_alive() for process in processes):  # a reader, all along the race
            assert_no_published_payload_is_missing(driver)
            looks += 1
        for process in processes:
            process.join(timeout=300)
            assert process.exitcode == 0, f"a racing process failed ({process.exitcode})"
        assert looks > 0
        assert_no_published_payload_is_missing(driver)
        assert_whole_or_absent(driver)
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"n": 99, "data": BIG}})
        assert_whole_or_absent(driver)  # and whatever the race left does not stop a later save


class SlowFile(io.BytesIO):
    """A seekable file of BIG that takes about a second to read through (a big file on a slow disk);
    `reading` is set when its first bytes are read."""

    def __init__(self, reading: Any) -> None:
        super().__init__(BIG)
        self.reading = reading

    def read(self, size: int | None = -1) -> bytes:
        self.reading.set()
        time.sleep(0.05)
        return super().read(min(size, 256 * 1024) if size and size > 0 else 256 * 1024)


def slow_identical_resave(url: str, reading: Any) -> None:
    """Save BIG again from a slow file: the driver hashes it first, finds the stored bytes and reuses them."""
    with db_drivers.connect(url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"data": SlowFile(reading)}})


def test_reusing_stored_bytes_while_another_writer_replaces_them_keeps_the_result_whole(driver_url: str) -> None:
    """Process A re-saves the same bytes (reusing the stored payload, after a slow hash) while B saves new
    ones: whatever the order, the result ends whole, and no published payload is ever missing."""
    with db_drivers.connect(driver_url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"data": BIG}})
        spawn = multiprocessing.get_context("spawn")
        reading = spawn.Event()
        reuser = spawn.Process(target=slow_identical_resave, args=(driver_url, reading))
        reuser.start()
        assert reading.wait(timeout=120)  # A has read the stored version and is hashing its slow file
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"data": BIG[::-1]}})
        while reuser.is_alive():
            assert_no_published_payload_is_missing(driver)
        reuser.join(timeout=120)
        assert reuser.exitcode == 0
        assert_whole_or_absent(driver)
        result = driver.get_result(1, 1, "color")
        assert result is not None and result["data"] in (BIG, BIG[::-1])


def test_a_save_at_the_datetime_of_a_snapshot_another_driver_deleted_makes_a_new_snapshot(driver_url: str) -> None:
    """A driver that saw the snapshot (and may remember its id) saves into it after another process
    deleted it: the save lands in a new snapshot, listed and readable, never in the deleted one."""
    with db_drivers.connect(driver_url) as saver, db_drivers.connect(driver_url) as deleter:
        assert saver.save_snapshot({"user_id": 1, "datetime": WHEN, "pose": {"x": 1}}) == 1
        assert deleter.delete_snapshot(1, 1)
        again = saver.save_snapshot({"user_id": 1, "datetime": WHEN, "feelings": {"happy": 1}})
        assert again == 2
        assert [s["snapshot_id"] for s in saver.get_snapshots(1)] == [2]
        assert saver.get_snapshot(1, 2)["available_results"] == ["feelings"]  # type: ignore[index]
        assert saver.get_result(1, 1, "feelings") is None
        assert deleter.delete_user(1) and saver.save_snapshot({"user_id": 1, "datetime": WHEN, "pose": {}}) == 3
        assert saver.get_users() == [{"user_id": 1, "username": None}]


def test_of_two_racing_deletes_of_one_result_exactly_one_says_it_existed(driver_url: str) -> None:
    with db_drivers.connect(driver_url) as one, db_drivers.connect(driver_url) as other:
        for round_ in range(8):
            one.save_snapshot({"user_id": 1, "datetime": WHEN + round_, "pose": {"x": round_}})
            sid = one.get_snapshots(1)[-1]["snapshot_id"]
            with ThreadPoolExecutor(2) as pool:
                said = list(pool.map(lambda d, s=sid: d.delete_result(1, s, "pose"), (one, other)))
            assert sorted(said) == [False, True]
