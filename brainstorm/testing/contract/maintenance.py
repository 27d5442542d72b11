"""verify and collect_garbage: every payload checked, orphans and empty snapshots found and collected only
when safe."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
from typing import Any, TypeAlias

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers.storage import BlobOwner, BlobSource
from brainstorm.testing.contract.deletion import WHEN, assert_no_published_payload_is_missing, populate
from brainstorm.testing.helpers import at_millis, count_blobs, published_results

ZERO = dt.timedelta(0)


def payload_tally(driver: db_drivers.Driver, user_id: int | None = None) -> tuple[int, int]:
    """(count, bytes) of the payloads the published results describe."""
    count = size = 0
    for _, _, _, result in published_results(driver, user_id):
        count += len(result.blobs)
        size += sum(info["length"] for info in result.blobs.values())
    return count, size


def upload_orphan(driver: db_drivers.Driver, size: int = 5000) -> Any:
    """A payload in the blob store that no result uses (what a killed writer's upload becomes)."""
    data = os.urandom(size)
    source = BlobSource("bytes", "application/octet-stream", ".bin", pieces=[data], length=len(data))
    return driver.blob_store.upload(source, BlobOwner(42, 1, "lost", "data"))


def test_verify_reads_back_every_published_payload(driver: db_drivers.Driver) -> None:
    populate(driver, snapshots=2)
    populate(driver, user_id=7, snapshots=1)
    report = driver.verify()
    assert report.ok and report.problems == []
    assert (report.checked.count, report.checked.bytes) == payload_tally(driver)
    mine = driver.verify(7)
    assert (mine.checked.count, mine.checked.bytes) == payload_tally(driver, 7)


def test_an_orphan_is_reported_and_collected_only_past_the_grace_period(driver: db_drivers.Driver) -> None:
    populate(driver, snapshots=1)
    blobs = count_blobs(driver)
    upload_orphan(driver)
    found = driver.verify()
    assert not found.ok and found.orphaned.count == 1 and found.orphaned.bytes == 5000
    assert len(found.problems) == 1 and "orphaned" in found.problems[0]
    waiting = driver.collect_garbage()  # the default grace period: an hour
    assert waiting.collected.count == 0 and waiting.recent.count == 1 and waiting.recent.bytes == 5000
    assert waiting.in_use.count == blobs  # what the result uses is never counted as waiting for collection
    dry = driver.collect_garbage(ZERO, dry_run=True)
    assert dry.orphaned.count == 1 and dry.collected.count == 0 and count_blobs(driver) == blobs + 1
    collected = driver.collect_garbage(ZERO)
    assert (collected.collected.count, collected.collected.bytes) == (1, 5000)
    assert count_blobs(driver) == blobs and driver.verify().ok
    populated = driver.get_result(42, 1, "color_image")
    assert populated is not None and populated["data"][-1] == 42


def resave_loop(url: str, worker: int, rounds: int) -> None:
    """Re-save one result: worker 0 and 1 alternate two payloads (reused), 2 and 3 always new ones."""
    with db_drivers.connect(url, inline_limit=0) as driver:
        for n in range(rounds):
            data = bytes([n % 2]) * 300_000 if worker < 2 else os.urandom(300_000)
            driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"data": data}, "mine": {"w": worker}})


def test_garbage_collection_with_no_grace_beside_four_writers_takes_no_published_payload(driver_url: str) -> None:
    spawn = multiprocessing.get_context("spawn")
    writers = [spawn.Process(target=resave_loop, args=(driver_url, worker, 10)) for worker in range(4)]
    with db_drivers.connect(driver_url) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"data": b"first" * 100_000}})
        for writer in writers:
            writer.start()
        rounds = 0
        while any(writer.is_alive() for writer in writers):
            driver.collect_garbage(ZERO)
            assert_no_published_payload_is_missing(driver)
            rounds += 1
        for writer in writers:
            writer.join(timeout=300)
            assert writer.exitcode == 0, "a writer failed beside the garbage collector"
        assert rounds > 0
        report = driver.verify()
        assert report.missing.count == report.corrupt.count == 0, report.problems
        driver.collect_garbage(ZERO)  # what the races left unreferenced
        assert driver.verify().ok
        assert count_blobs(driver) == 1


def test_an_empty_snapshot_is_counted_and_collected_only_past_the_grace_period(driver: db_drivers.Driver) -> None:
    populate(driver, snapshots=1)
    driver.save_snapshot({"user_id": 42, "datetime": WHEN + 60_000})  # no results: it holds nothing
    found = driver.verify()
    assert not found.ok and found.empty_snapshots == 1
    assert found.problems == ["empty snapshot: user 42, snapshot 2 holds no result"]
    assert driver.collect_garbage().empty_snapshots == 0, "an hour's grace: a save may be about to fill it"
    assert driver.collect_garbage(ZERO, dry_run=True).empty_snapshots == 1
    assert [s["snapshot_id"] for s in driver.get_snapshots(42)] == [1, 2]
    assert driver.collect_garbage(ZERO).empty_snapshots == 1
    assert [s["snapshot_id"] for s in driver.get_snapshots(42)] == [1]
    assert driver.verify().ok
    again = driver.save_snapshot({"user_id": 42, "datetime": WHEN + 120_000, "pose": {"x": 1}})
    assert again == 3, "2 is not given again"


def test_what_a_writer_killed_after_numbering_leaves_is_collected(driver: db_drivers.Driver) -> None:
    """The numbering is the first step of a save: a writer killed right after it leaves the snapshot empty."""
    numbered = driver.record_store.number_snapshot(5, at_millis(WHEN), [])
    assert numbered.created
    assert driver.verify().empty_snapshots == 1
    assert driver.collect_garbage(ZERO).empty_snapshots == 1
    assert driver.get_snapshots(5) == [] and driver.verify().ok
    assert driver.save_snapshot({"user_id": 5, "datetime": WHEN, "pose": {"x": 1}}) == numbered.snapshot_id + 1


Saved: TypeAlias = "multiprocessing.SimpleQueue[tuple[int, int, int]]"  # (ms, round, snapshot id)


def fill_snapshots(url: str, worker: int, rounds: int, saved: Saved) -> None:
    """Each round: save an empty snapshot, then a result into its datetime; report (ms, round, id)."""
    with db_drivers.connect(url) as driver:
        for n in range(rounds):
            ms = WHEN + worker * 10_000 + n
            driver.save_snapshot({"user_id": 1, "datetime": ms})
            saved.put((ms, n, driver.save_snapshot({"user_id": 1, "datetime": ms, f"w{worker}": {"n": n}})))


def test_collecting_empty_snapshots_beside_writers_filling_them_loses_no_result(driver_url: str) -> None:
    """A save that publishes into a snapshot the collector found empty either keeps the snapshot (the
    collector sees the publication and leaves it) or moves its result into a new one: never lost."""
    workers, rounds = 4, 100
    spawn = multiprocessing.get_context("spawn")
    saved: Saved = spawn.SimpleQueue()
    writers = [spawn.Process(target=fill_snapshots, args=(driver_url, w, rounds, saved)) for w in range(workers)]
    with db_drivers.connect(driver_url) as driver:
        for writer in writers:
            writer.start()
        collections = collected = 0
        while any(writer.is_alive() for writer in writers):
            collected += driver.collect_garbage(ZERO).empty_snapshots
            collections += 1
        for writer in writers:
            writer.join(timeout=300)
            assert writer.exitcode == 0, "a writer failed beside the collector"
        assert collections > 0
        for _ in range(workers * rounds):
            ms, n, snapshot_id = saved.get()
            snapshot = driver.get_snapshot(1, snapshot_id)
            assert snapshot is not None and snapshot["datetime"] == at_millis(ms), (ms, snapshot_id)
            worker = (ms - WHEN) // 10_000
            assert driver.get_result(1, snapshot_id, f"w{worker}") == {"n": n}
        assert len(driver.get_snapshots(1)) == workers * rounds
