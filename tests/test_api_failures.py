"""The API when stored bytes are damaged, under many clients at once, and mounted in another ASGI app.

Each test has a database of its own (they damage it, or need a big payload), served by a real
`brainstorm serve` process or a real uvicorn server.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount

import brainstorm.database_drivers as db_drivers
from brainstorm.api import create_app
from brainstorm.database_drivers._mongo_records import BUCKET
from brainstorm.database_drivers.mongodb_driver import MongodbDriver
from brainstorm.database_drivers.sqlite_driver import SqliteDriver
from tests.serving import serving
from tests.test_corruption import flip, ref_of, rewrite

WHEN = 1575454087339
DATA = np.random.default_rng(3).bytes(3 * 1024 * 1024)  # 12 GridFS chunks, 3 pieces of a response
URL = "users/1/snapshots/1/bytes/data"


@pytest.fixture(params=["mongodb", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "mongodb":
        return str(request.getfixturevalue("mongodb_url"))
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


@pytest.fixture
def stored(database_url: str) -> Iterator[db_drivers.Driver]:
    """A driver holding snapshot 1 of user 1 with the payload DATA at `bytes`."""
    with db_drivers.connect(database_url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "bytes": {"data": DATA}})
        yield driver


def cut_short(url: str) -> tuple[int, int]:
    """GET `url` expecting the server to close the connection early: (Content-Length, bytes received)."""
    received = 0
    with httpx.stream("GET", url, timeout=30) as response:
        assert response.status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            for piece in response.iter_raw():
                received += len(piece)
        return int(response.headers["content-length"]), received


def test_a_payload_found_corrupt_while_streaming_is_cut_short_and_logged(
    stored: db_drivers.Driver, database_url: str
) -> None:
    rewrite(stored, "bytes", flip)
    with serving(database_url) as server:
        length, received = cut_short(server.url + URL)
        assert received < length == len(DATA)
        assert "closing the connection after a partial payload" in server.logged()
        assert "user 1, snapshot 1, result 'bytes', payload 'data'" in server.logged()
        assert httpx.get(server.url + "users/1/snapshots/1/bytes").status_code == 200  # the server goes on


def test_a_payload_missing_its_middle_is_cut_short(stored: db_drivers.Driver, database_url: str) -> None:
    ref = ref_of(stored, "bytes")
    if isinstance(stored, MongodbDriver):
        stored.database[f"{BUCKET}.chunks"].delete_one({"files_id": ref, "n": 6})
    else:
        assert isinstance(stored, SqliteDriver)
        path = Path(stored.blob_store._file(ref))
        path.write_bytes(path.read_bytes()[: len(DATA) // 2])
    with serving(database_url) as server:
        if isinstance(stored, SqliteDriver):  # a file's size is checked on opening: an error status
            response = httpx.get(server.url + URL, timeout=30)
            assert response.status_code == 500 and "the stored payload is corrupt" in response.json()["detail"]
            assert "the store holds" in server.logged() and ".db-blobs" not in response.text  # no path told
            return
        length, received = cut_short(server.url + URL)
        assert received <= 6 * 255 * 1024 < length
        assert "chunk 6" in server.logged()


def test_a_payload_missing_from_the_store_is_a_500_naming_it(stored: db_drivers.Driver, database_url: str) -> None:
    ref = ref_of(stored, "bytes")
    if isinstance(stored, MongodbDriver):
        stored.database[f"{BUCKET}.files"].delete_one({"_id": ref})
    else:
        assert isinstance(stored, SqliteDriver)
        os.remove(stored.blob_store._file(ref))
    with serving(database_url) as server:
        response = httpx.get(server.url + URL, timeout=30)
        assert response.status_code == 500
        assert "user 1, snapshot 1, result 'bytes', payload 'data'" in response.json()["detail"]
        assert "missing" in response.json()["detail"]
        assert httpx.head(server.url + URL).status_code == 200  # HEAD reads only the description


def peak_memory_kib(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc")


@pytest.mark.slow
def test_16_concurrent_downloads_of_64_mib_are_right_and_cost_the_server_little_memory(database_url: str) -> None:
    if database_url.startswith("mongodb"):
        # FerretDB on SQLite filters chunks by files_id and sorts them itself, not through the index: a
        # first read under 16 readers on 2 cores can wait longer than the default 15 s for its reply.
        database_url += "?socketTimeoutMS=300000"
    big = np.random.default_rng(64).bytes(64 * 1024 * 1024)
    with db_drivers.connect(database_url) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "big": {"data": big}})
    expected = hashlib.sha256(big).hexdigest()
    del big
    url = "users/1/snapshots/1/big/data"

    def download(base: str) -> str:
        digest = hashlib.sha256()
        try:
            with httpx.stream("GET", base + url, timeout=120) as response:
                assert response.status_code == 200
                for piece in response.iter_bytes():
                    digest.update(piece)
        except httpx.HTTPError as exc:
            return f"failed: {exc}"
        return digest.hexdigest()

    with serving(database_url, "--log-level", "warning") as server:
        assert download(server.url) == expected  # warm: imports, the thread pool, the connection pool
        before = peak_memory_kib(server.process.pid)
        with concurrent.futures.ThreadPoolExecutor(16) as clients:
            digests = list(clients.map(download, [server.url] * 16))
        grown = (peak_memory_kib(server.process.pid) - before) / 1024
        assert digests == [expected] * 16, server.logged()
    print(f"server peak memory grew by {grown:.1f} MiB for 16 concurrent 64 MiB downloads")
    assert grown < 64, f"the server's peak memory grew by {grown:.1f} MiB"


def test_the_app_mounted_under_a_prefix_links_its_payloads_there(stored: db_drivers.Driver) -> None:
    parent = Starlette(routes=[Mount("/brainstorm", app=create_app(stored))])
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(parent, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{listening.getsockname()[1]}"
        with httpx.Client(base_url=base, timeout=30) as client:
            for _ in range(100):
                if server.started:
                    break
                threading.Event().wait(0.1)
            described = client.get("/brainstorm/users/1/snapshots/1/bytes").json()["payloads"]["data"]
            assert described["url"] == "/brainstorm/users/1/snapshots/1/bytes/data"
            assert client.get(described["url"]).content == DATA
            assert client.get("/users").status_code == 404
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_results_description_fetches_none_of_its_payloads(database_url: str) -> None:
    with db_drivers.connect(database_url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "frames": {"frames": [{"image": DATA, "n": 0}]}})
        ref = ref_of(driver, "frames")
        if isinstance(driver, MongodbDriver):  # gone: describing it must not need it
            driver.database[f"{BUCKET}.files"].delete_one({"_id": ref})
        else:
            assert isinstance(driver, SqliteDriver)
            os.remove(driver.blob_store._file(ref))
    with serving(database_url) as server:
        described = httpx.get(server.url + "users/1/snapshots/1/frames", timeout=30).json()
        assert described["fields"]["frames"][0]["n"] == 0
        assert described["fields"]["frames"][0]["image"]["length"] == len(DATA)


def open_files(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def leave_mid_download(url: str) -> None:
    with httpx.stream("GET", url, timeout=30) as response:
        next(response.iter_raw())  # a first piece, then the client goes


def test_a_client_leaving_mid_download_frees_the_stream_at_once(stored: db_drivers.Driver, database_url: str) -> None:
    with serving(database_url, "--log-level", "warning") as server:
        httpx.get(server.url + URL, timeout=30)  # warm: the connection pool, the thread pool,
        for _ in range(5):  # and the database connections a departure overlapping the next request takes
            leave_mid_download(server.url + URL)
        threading.Event().wait(1)
        before = open_files(server.process.pid)
        for _ in range(30):
            leave_mid_download(server.url + URL)
        for _ in range(100):  # the server notices each departure on its next write: give it a moment
            if open_files(server.process.pid) <= before:
                break
            threading.Event().wait(0.1)
        assert open_files(server.process.pid) <= before
