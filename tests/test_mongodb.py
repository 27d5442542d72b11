"""The MongoDB driver's own promises: lazy reads, reads that write nothing, the GridFS layout, big results,
range reads that fetch what they need, hidden credentials."""

from __future__ import annotations

import concurrent.futures
import hashlib
import io
import threading
import time
import traceback
import tracemalloc
import uuid
from collections.abc import Iterator

import gridfs
import numpy as np
import pymongo
import pytest
from PIL import Image
from pymongo import monitoring

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers._gridfs import BATCH_BYTES, CHUNK_SIZE
from brainstorm.database_drivers._mongo_records import INDEXES, LOOKUP_INDEXES
from brainstorm.database_drivers.mongodb_driver import MongodbDriver
from brainstorm.database_drivers.storage import StoredResult
from brainstorm.testing.helpers import OneWayStream, assert_same, count_blobs, expected_of, make_image
from tests.conftest import CommandLog, create_login, with_database, with_login

WHEN = 1575454087339
DATA = bytes(range(256)) * 1200
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
READ_COMMANDS = {"ping", "find", "getMore", "killCursors", "distinct", "endSessions"}
"""What a driver that is only read from may send: nothing a read-only role refuses."""
METADATA_FIELDS = {"content_type", "contentType", "sha256", "user_id", "snapshot_id", "result_name", "path", "kind"}


@pytest.fixture
def log() -> CommandLog:
    return CommandLog()


@pytest.fixture
def mongo(mongodb_url: str, log: CommandLog) -> Iterator[MongodbDriver]:
    with db_drivers.connect(mongodb_url, client_options={"event_listeners": [log]}) as driver:
        assert isinstance(driver, MongodbDriver)
        yield driver


def touches_chunks(log: CommandLog) -> bool:
    """Whether any logged command read or wrote GridFS chunks (getMore names its collection apart)."""
    return any(
        "blobs.chunks" in (doc.get(name), doc.get("collection"))
        for (name, _), doc in zip(log.commands, log.documents, strict=True)
    )


@pytest.fixture(scope="module")
def brain_admin(mongodb_server_url: str) -> str:
    """A user of the test server whose password is s3cret."""
    create_login(mongodb_server_url, "brain_admin", "s3cret")
    return "brain_admin"


def test_a_result_without_payloads_is_published_in_one_command(mongo: MongodbDriver, log: CommandLog) -> None:
    mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"data": DATA}, "pose": {"x": 1}})
    log.clear()
    mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "pose": {"x": 2}})  # saved again: one command
    assert log.commands == [("findAndModify", "results")]
    log.clear()
    mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "feelings": {"happiness": 0.5}})
    # new to the snapshot: is the snapshot still there? (another process may have deleted it; one `$inc`
    # confirming it also tells a collector that found it empty to leave it)
    assert log.commands == [("findAndModify", "results"), ("update", "snapshots")]
    log.clear()
    mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "color": {"gone": True}})  # replaces a payload
    assert log.commands[0] == ("findAndModify", "results")
    assert count_blobs(mongo) == 0  # the replaced document said which payload became unused
    assert mongo.get_result(1, 1, "color") == {"gone": True}


def test_a_failure_between_two_publishes_keeps_the_published_result_whole(
    mongo: MongodbDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish, calls = mongo.record_store.publish, []

    def publish_once(user_id: int, snapshot_id: int, name: str, stored: StoredResult) -> StoredResult | None:
        calls.append(name)
        if len(calls) == 2:
            raise ConnectionError("the server went away")
        return publish(user_id, snapshot_id, name, stored)

    monkeypatch.setattr(mongo.record_store, "publish", publish_once)
    with pytest.raises(ConnectionError, match="went away"):
        mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "first": {"data": DATA}, "second": {"data": DATA[::-1]}})
    assert calls == ["first", "second"]
    summary = mongo.get_snapshot(1, 1)
    assert summary is not None and summary["available_results"] == ["first"]
    assert mongo.get_result(1, 1, "first") == {"data": DATA}  # its payload was not deleted with the other's
    assert count_blobs(mongo) == 1


def test_results_are_read_lazily(mongo: MongodbDriver, log: CommandLog) -> None:
    mongo.save_snapshot(
        {"user_id": 1, "datetime": WHEN, "color": {"width": 3, "data": DATA, "image": make_image("RGB", (300, 300))}}
    )
    log.clear()
    result = mongo.get_result(1, 1, "color")
    assert result is not None
    assert log.commands == [("find", "results")]
    log.clear()
    assert result["width"] == 3
    assert sorted(result.blobs) == ["data", "image"] and len(result) == 3
    assert log.commands == []
    stream = result.open("data")
    assert not touches_chunks(log)
    assert stream.read(4) == DATA[:4]
    assert touches_chunks(log)
    stream.close()
    log.clear()
    assert result["data"] == DATA
    assert touches_chunks(log)
    log.clear()
    assert result["data"] == DATA
    assert log.commands == [], "a payload is fetched once"


def test_a_driver_only_read_from_sends_no_write(mongodb_url: str, log: CommandLog) -> None:
    """Everything a reader does (an HTTP server's work) under a read-only role: no index creation, no write."""
    with db_drivers.connect(mongodb_url) as writer:
        writer.save_user({"user_id": 1, "username": "ada"})
        writer.save_snapshot(
            {"user_id": 1, "datetime": WHEN, "color": {"width": 3, "data": DATA}, "depth": {"data": np.ones((40, 300))}}
        )
    with db_drivers.connect(mongodb_url, client_options={"event_listeners": [log]}) as reader:
        assert reader.get_users() == [{"user_id": 1, "username": "ada"}]
        assert reader.get_user(1) == {"user_id": 1, "username": "ada"}
        assert [s["snapshot_id"] for s in reader.get_snapshots(1)] == [1]
        snapshot = reader.get_snapshot(1, 1)
        assert snapshot is not None and snapshot["available_results"] == ["color", "depth"]
        result = reader.get_result(1, 1, "color")
        assert result is not None and result["width"] == 3
        with result.open("data") as stream:  # a payload streamed, from an offset
            stream.seek(1000)
            assert stream.read(2**20) == DATA[1000:]
        assert result["data"] == DATA
        depth = reader.get_result(1, 1, "depth")
        assert depth is not None
        assert_same(depth["data"], np.ones((40, 300)))
        assert reader.verify().ok
        assert reader.collect_garbage(dry_run=True).orphaned.count == 0
    sent = {name for name, _ in log.commands}
    assert {"find", "distinct"} <= sent  # (it did talk to the server)
    assert sent <= READ_COMMANDS, f"a reader sent {sorted(sent - READ_COMMANDS)}"


def _created_indexes(log: CommandLog) -> list[tuple[str, tuple[tuple[str, int], ...], bool]]:
    """(collection, key, unique) of every index the logged createIndexes commands asked for."""
    return [
        (doc["createIndexes"], tuple((k, int(v)) for k, v in index["key"].items()), bool(index.get("unique")))
        for doc in log.documents
        if "createIndexes" in doc
        for index in doc["indexes"]
    ]


def test_the_first_write_creates_the_indexes_once(mongodb_url: str, log: CommandLog) -> None:
    """On a fresh database the indexes appear with the first write (of several threads at once: asked for
    once), uniqueness is enforced from then on, and later writes do not ask again."""
    expected = {
        (collection, key, unique)
        for indexes, unique in ((INDEXES, True), (LOOKUP_INDEXES, False))
        for collection, keys in indexes.items()
        for key in keys
    } | {
        ("blobs.files", (("filename", 1), ("uploadDate", 1)), False),
        ("blobs.chunks", (("files_id", 1), ("n", 1)), True),
    }
    with db_drivers.connect(mongodb_url, client_options={"event_listeners": [log]}) as driver:
        assert isinstance(driver, MongodbDriver)
        assert driver.get_users() == [] and driver.get_result(1, 1, "color") is None
        assert _created_indexes(log) == [] and driver.database.list_collection_names() == []

        def save(n: int) -> int:
            barrier.wait()
            return driver.save_snapshot({"user_id": n, "datetime": WHEN, "color": {"data": DATA}})

        barrier = threading.Barrier(4)
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            assert list(pool.map(save, range(1, 5))) == [1, 1, 1, 1]
        created = _created_indexes(log)
        assert sorted(created) == sorted(expected)  # each once, whichever thread wrote first
        for collection, key, unique in expected:
            on_server = {
                tuple((k, int(v)) for k, v in index["key"]): bool(index.get("unique"))
                for index in driver.database[collection].index_information().values()
            }
            assert on_server.get(key) == unique, f"{collection} {key}"
        with pytest.raises(pymongo.errors.DuplicateKeyError):
            driver.database["snapshots"].insert_one(
                {"user_id": 1, "snapshot_id": 1, "datetime": WHEN + 1, "deleted": False}
            )
        with pytest.raises(pymongo.errors.DuplicateKeyError):
            driver.database["results"].insert_one({"user_id": 1, "snapshot_id": 1, "name": "color"})
        log.clear()
        driver.save_user({"user_id": 9})
        driver.delete_user(9)
        assert _created_indexes(log) == []


def test_payloads_are_gridfs_files_any_tool_can_read(mongodb_url: str) -> None:
    depth, image = np.random.default_rng(0).random((200, 150)), make_image("RGBA", (200, 100))
    with db_drivers.connect(mongodb_url, inline_limit=0) as driver:
        assert isinstance(driver, MongodbDriver)
        driver.save_snapshot(
            {
                "user_id": 7,
                "datetime": WHEN,
                "color": {"image": image},
                "depth": {"frames": [{"data": depth}], "raw": DATA},
            }
        )
        bucket = gridfs.GridFSBucket(driver.database, "blobs")
        files = {f.metadata["path"]: f for f in bucket.find()}
        assert sorted(files) == ["frames.0.data", "image", "raw"]
        for path, stored in files.items():
            assert stored.filename
            assert set(stored.metadata) == METADATA_FIELDS
            assert (stored.metadata["user_id"], stored.metadata["snapshot_id"]) == (7, 1)
            content = bucket.open_download_stream(stored._id).read()
            assert hashlib.sha256(content).hexdigest() == stored.metadata["sha256"], path
        assert files["image"].metadata | {"sha256": None} == {
            "content_type": "image/png",
            "contentType": "image/png",  # where mongofiles and Node's driver look
            "sha256": None,
            "user_id": 7,
            "snapshot_id": 1,
            "result_name": "color",
            "path": "image",
            "kind": "image",
        }
        assert files["frames.0.data"].metadata["result_name"] == "depth"
        assert files["frames.0.data"].metadata["kind"] == "ndarray"
        assert_same(np.load(io.BytesIO(bucket.open_download_stream(files["frames.0.data"]._id).read())), depth)
        png = bucket.open_download_stream(files["image"]._id).read()
        assert png.startswith(PNG_SIGNATURE)
        assert_same(Image.open(io.BytesIO(png)), image)
        assert bucket.open_download_stream(files["raw"]._id).read() == DATA


def assert_published_blobs_exist(driver: MongodbDriver) -> None:
    """Every published result belongs to a snapshot, and every blob it refers to is stored."""
    stored_ids = {f["_id"] for f in driver.database["blobs.files"].find({}, {"_id": 1})}
    snapshots = {(s["user_id"], s["snapshot_id"]) for s in driver.database["snapshots"].find()}
    for result in driver.database["results"].find():
        assert (result["user_id"], result["snapshot_id"]) in snapshots
        refs = [info["ref"] for info in result["blobs"] if "ref" in info] + (
            [result["body"]] if "body" in result else []
        )
        assert set(refs) <= stored_ids, f"result {result['name']} refers to missing blobs"


def test_published_results_have_all_their_blobs(mongodb_url: str) -> None:
    with db_drivers.connect(mongodb_url, inline_limit=1000) as driver:
        assert isinstance(driver, MongodbDriver)
        driver.save_snapshot(
            {"user_id": 1, "datetime": WHEN, "a": {"x": DATA, "y": b"small"}, "b": {"z": np.ones(500)}}
        )
        assert_published_blobs_exist(driver)
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "a": {"x": DATA[::-1]}})
        assert_published_blobs_exist(driver)
        chunks = driver.database["blobs.chunks"].count_documents({})
        with pytest.raises(OSError):
            driver.save_snapshot(
                {"user_id": 1, "datetime": WHEN, "c": {"s": OneWayStream(DATA * 20, fail_after=len(DATA) * 10)}}
            )
        assert_published_blobs_exist(driver)
        assert driver.database["blobs.chunks"].count_documents({}) == chunks, "a failed upload left chunks behind"


@pytest.mark.slow
def test_a_result_larger_than_a_document_saves_and_round_trips(mongo: MongodbDriver) -> None:
    payloads = {f"p{n}": bytes([n % 256]) * 60_000 for n in range(300)}  # each inline-sized, 18 MB together
    assert mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "many": payloads}) == 1
    result = mongo.get_result(1, 1, "many")
    assert result is not None
    assert sorted(result) == sorted(payloads) and len(result.blobs) == 300
    for name in ("p0", "p150", "p299"):
        assert result[name] == payloads[name]
    assert_published_blobs_exist(mongo)


@pytest.mark.slow
def test_a_result_with_a_huge_list_saves_and_round_trips(mongo: MongodbDriver) -> None:
    numbers = {"values": list(range(1_500_000)), "floats": [n / 7 for n in range(300_000)], "data": DATA}
    expected = expected_of(numbers)
    mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "series": numbers})
    assert_same(mongo.get_result(1, 1, "series"), expected)
    blobs = count_blobs(mongo)
    mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "series": numbers})
    assert count_blobs(mongo) == blobs, "re-saving left the old fields behind"
    assert_published_blobs_exist(mongo)


@pytest.mark.slow
def test_a_blob_larger_than_a_server_reply_streams_in_bounded_batches(mongo: MongodbDriver, log: CommandLog) -> None:
    """FerretDB answers GridFS's default chunk cursor with one reply over the 48 MB message limit;
    the driver asks for bounded batches, so a large payload streams (and reads back) whole."""
    size = 80 * 2**20
    payload = OneWayStream(bytes(range(256)) * (size // 256))
    mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "video": {"data": payload}})
    result = mongo.get_result(1, 1, "video")
    assert result is not None
    digest, total = hashlib.sha256(), 0
    log.clear()
    with result.open("data") as stream:
        while piece := stream.read(2**20):
            digest.update(piece)
            total += len(piece)
    assert total == size and digest.hexdigest() == result.blobs["data"]["sha256"]
    replies = [doc for doc in log.documents if doc.get("getMore") or doc.get("find") == "blobs.chunks"]
    assert len(replies) >= size // BATCH_BYTES  # several bounded batches, not one huge reply


MiB = 2**20
BIG = 64 * MiB
FULL_BATCH = BATCH_BYTES // CHUNK_SIZE


@pytest.fixture(scope="module")
def big(mongodb_server_url: str) -> Iterator[tuple[str, bytes, np.ndarray]]:
    """A database whose result (user 1, snapshot 1) 'video' holds a 64 MiB payload of random bytes (a chunk
    read out of place shows) and a 20 MiB array; its URL, the bytes and the array."""
    name = f"brainstorm_test_big_{uuid.uuid4().hex[:12]}"
    url = with_database(mongodb_server_url, name)
    rng = np.random.default_rng(0)
    payload, array = rng.bytes(BIG), rng.random((2560, 1024))
    with db_drivers.connect(url) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "video": {"data": payload, "depth": array}})
    yield url, payload, array
    with pymongo.MongoClient(mongodb_server_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


class ChunkReplies(monitoring.CommandListener):
    """How many GridFS chunks each reply of the server to `find` or `getMore` on `blobs.chunks` carried."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    @property
    def chunks(self) -> int:
        return sum(self.sizes)

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        pass

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        cursor = event.reply.get("cursor")
        if event.command_name in ("find", "getMore") and str((cursor or {}).get("ns")).endswith(".blobs.chunks"):
            self.sizes.append(len(cursor.get("firstBatch", cursor.get("nextBatch", []))))

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        pass


def covering(start: int, end: int) -> int:
    """How many chunks hold the bytes [start, end)."""
    return (end - 1) // CHUNK_SIZE - start // CHUNK_SIZE + 1


@pytest.mark.slow
@pytest.mark.parametrize("offset", [37 * MiB + 12345, 0, 5 * CHUNK_SIZE, 5 * CHUNK_SIZE - 1, BIG - MiB, BIG - 1000])
def test_a_range_read_fetches_only_the_chunks_covering_it(big: tuple[str, bytes, np.ndarray], offset: int) -> None:
    """An HTTP `Range` answer (seek, read 1 MiB) fetches the chunks covering those bytes, one more at most,
    not a 16 MiB batch; reading on, each reply carries about one read's worth."""
    url, payload, _ = big
    replies = ChunkReplies()
    with db_drivers.connect(url, client_options={"event_listeners": [replies]}) as driver:
        result = driver.get_result(1, 1, "video")
        assert result is not None
        with result.open("data") as stream:
            stream.seek(offset)
            assert stream.read(MiB) == payload[offset : offset + MiB]
            end = min(offset + MiB, BIG)
            assert replies.chunks <= covering(offset, end) + 1, replies.sizes
            while end < BIG and end < offset + 4 * MiB:  # streamed on, 1 MiB at a time
                assert stream.read(MiB) == payload[end : end + MiB]
                end = min(end + MiB, BIG)
    assert max(replies.sizes) <= covering(0, MiB) + 1, replies.sizes
    assert replies.chunks <= covering(offset, end) + max(replies.sizes), replies.sizes


@pytest.mark.slow
def test_a_whole_payload_is_read_in_full_batches(big: tuple[str, bytes, np.ndarray]) -> None:
    """`read()` of a whole payload, and an array read after its header, get full batches, not small ones."""
    url, payload, array = big
    replies = ChunkReplies()
    with db_drivers.connect(url, client_options={"event_listeners": [replies]}) as driver:
        result = driver.get_result(1, 1, "video")
        assert result is not None
        assert result["data"] == payload
        chunks = covering(0, BIG)
        assert replies.sizes == [FULL_BATCH] * (chunks // FULL_BATCH) + [chunks % FULL_BATCH]
        replies.sizes.clear()
        assert_same(result["depth"], array)  # the header's small reads first, then the rest at once
        length, chunks = result.blobs["depth"]["length"], covering(0, result.blobs["depth"]["length"])
        assert length > array.nbytes and chunks > FULL_BATCH
        assert replies.chunks <= chunks + 1 and len(replies.sizes) <= 2 + -(-chunks // FULL_BATCH), replies.sizes


@pytest.mark.slow
def test_concurrent_streamed_reads_hold_little_memory(big: tuple[str, bytes, np.ndarray]) -> None:
    """16 downloads at once, each read 1 MiB at a time from its own offset (an HTTP server's work), hold
    far less than a 16 MiB reply each: together, less than 64 MiB."""
    url, payload, _ = big
    readers, span = 16, 3 * MiB
    expected = memoryview(payload)
    # FerretDB (SQLite) filters and sorts the chunks itself, not through the index: 16 first reads at once on a
    # busy machine may wait longer than the default 15 s for their replies.
    with db_drivers.connect(url, client_options={"socketTimeoutMS": 300_000}) as driver:
        result = driver.get_result(1, 1, "video")
        assert result is not None
        barrier = threading.Barrier(readers)

        def download(n: int) -> int:
            start = n * span + 12345 * n
            with result.open("data") as stream:
                stream.seek(start)
                barrier.wait()
                for at in range(start, start + span, MiB):
                    assert expected[at : at + MiB] == stream.read(MiB)
            return span

        tracemalloc.start()
        try:
            with concurrent.futures.ThreadPoolExecutor(readers) as pool:
                assert sum(pool.map(download, range(readers))) == readers * span
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 64 * MiB, f"{peak / MiB:.1f} MiB"


def assert_hidden(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text


def test_repr_hides_credentials(mongodb_url: str, brain_admin: str) -> None:
    with db_drivers.connect(with_login(mongodb_url, brain_admin, "s3cret")) as driver:
        driver.save_user({"user_id": 1})
        assert repr(driver).startswith("MongodbDriver(")
        assert_hidden(repr(driver), "brain_admin", "s3cret")


@pytest.mark.parametrize(
    "url",
    [
        "mongodb://brain_admin:s3cret@127.0.0.1:1/?serverSelectionTimeoutMS=500",
        "mongodb://brain_admin:s3cret@127.0.0.1:1/brainstorm?serverSelectionTimeoutMS=500&authSource=admin",
    ],
)
def test_an_unreachable_server_is_database_unavailable_without_credentials(url: str) -> None:
    start = time.monotonic()
    with pytest.raises(db_drivers.DatabaseUnavailable) as raised, db_drivers.connect(url) as driver:
        driver.get_users()
    assert time.monotonic() - start < 5
    assert isinstance(raised.value, db_drivers.BrainstormError) and isinstance(raised.value, ConnectionError)
    assert "127.0.0.1:1" in str(raised.value)
    assert_hidden("".join(traceback.format_exception(raised.value)), "brain_admin", "s3cret")


def test_refused_credentials_are_database_unavailable_without_credentials(mongodb_url: str, brain_admin: str) -> None:
    url = with_login(mongodb_url, brain_admin, "n0t-its-password")
    with pytest.raises(db_drivers.DatabaseUnavailable) as raised, db_drivers.connect(url) as driver:
        driver.get_users()
    assert "refused access" in str(raised.value)
    assert_hidden("".join(traceback.format_exception(raised.value)), "brain_admin", "n0t-its-password")


@pytest.mark.parametrize("chunk_size", [0, 1023, 8 * MiB + 1, 1.5, "1MiB", True], ids=repr)
def test_a_chunk_size_the_driver_does_not_write_is_refused(mongodb_url: str, chunk_size: object) -> None:
    with pytest.raises(db_drivers.InvalidInput, match="chunk_size must be an integer from 1,024 to 8,388,608"):
        db_drivers.connect(mongodb_url, chunk_size=chunk_size)


def test_payloads_of_another_chunk_size_are_standard_gridfs_files(mongodb_url: str) -> None:
    data = bytes(range(256)) * 12_000  # about 2.9 MiB: three 1 MiB chunks
    with db_drivers.connect(mongodb_url, chunk_size=MiB) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "big": {"data": data}})
    with db_drivers.connect(mongodb_url) as driver:  # another chunk size: each file says its own
        result = driver.get_result(1, 1, "big")
        assert result is not None and result["data"] == data
        with result.open("data") as stream:
            stream.seek(MiB + 5)
            assert stream.read(MiB) == data[MiB + 5 : 2 * MiB + 5]
    with pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        database = client.get_default_database()
        file = database["blobs.files"].find_one()
        assert file is not None and file["chunkSize"] == MiB and database["blobs.chunks"].count_documents({}) == 3
        assert gridfs.GridFSBucket(database, "blobs").open_download_stream(file["_id"]).read() == data


def test_compound_indexes_ask_ferretdb_for_ordered_composite_terms(mongodb_url: str) -> None:
    with db_drivers.connect(mongodb_url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "big": {"data": DATA}})
    with pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        ferretdb = "ferretdb" in client.admin.command("buildInfo")
        database = client.get_default_database()
        for collection in ("snapshots", "results", "blobs.chunks", "blobs.files"):
            for name, index in database[collection].index_information().items():
                compound = len(index["key"]) > 1
                assert bool(index.get("enableCompositeTerm")) == (ferretdb and compound), (collection, name, index)


def test_an_index_that_exists_with_other_options_is_kept(mongodb_url: str) -> None:
    key = [("user_id", 1), ("snapshot_id", 1), ("name", 1)]
    with pymongo.MongoClient(mongodb_url, serverSelectionTimeoutMS=5000) as client:
        results = client.get_default_database().results
        results.create_index(key, unique=True, sparse=True)  # the same keys, other options than the driver's
        with db_drivers.connect(mongodb_url) as driver:
            driver.save_snapshot({"user_id": 1, "datetime": WHEN, "pose": {"x": 1}})
            assert driver.get_result(1, 1, "pose") == {"x": 1}
        (kept,) = [index for index in results.index_information().values() if index["key"] == key]
        assert kept.get("sparse") is True and not kept.get("enableCompositeTerm")


def test_a_new_snapshot_pins_its_payloads_in_its_own_insert_and_releases_them_with_its_confirmation(
    mongo: MongodbDriver, log: CommandLog
) -> None:
    mongo.save_snapshot({"user_id": 1, "datetime": WHEN, "pose": {"x": 1}})  # the user, its counter, the indexes
    log.clear()
    mongo.save_snapshot({"user_id": 1, "datetime": WHEN + 1, "color": {"data": DATA}})
    assert log.commands == [
        ("findAndModify", "snapshots"),  # is it there? (it would get the pin)
        ("findAndModify", "snapshot_ids"),  # the next id
        ("insert", "snapshots"),  # the snapshot, the pin in it
        ("insert", "blobs.chunks"),
        ("insert", "blobs.files"),
        ("findAndModify", "results"),  # published
        ("update", "snapshots"),  # confirmed, the pin released
    ]
    (snapshot,) = mongo.database["snapshots"].find({"snapshot_id": 2})
    assert snapshot["pins"] == [] and snapshot["revision"] == 1
