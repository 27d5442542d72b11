"""A frozen server (stopped: the socket accepts, nothing answers) fails every call with DatabaseUnavailable
within the timeouts, on a connection already open, while reading a stream too; it never hangs."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import brainstorm.database_drivers as db_drivers
from brainstorm.database_drivers import DatabaseUnavailable
from tools.ferretdb_server import ferretdb_process

WHEN = 1575454087339
DATA = bytes(range(256)) * 70_000  # 17.5 MiB: more than one 16 MiB reply
DEADLINE = 40  # seconds: far above the bounds under test; reaching it means a call hung


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A FerretDB of this module's own, since the tests freeze it."""
    with ferretdb_process() as running:
        yield running


@pytest.fixture
def frozen(server: tuple[str, subprocess.Popen[bytes]]) -> Iterator[Callable[[], None]]:
    """A function that freezes the server; it is thawed after the test whatever happens."""
    process = server[1]
    yield lambda: os.kill(process.pid, signal.SIGSTOP)
    os.kill(process.pid, signal.SIGCONT)


def fails_unavailable(call: Callable[[], Any]) -> str:
    """The call raises DatabaseUnavailable (not a pymongo error) before DEADLINE; its message."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(call)
        try:
            future.result(timeout=DEADLINE)
        except DatabaseUnavailable as exc:
            return str(exc)
        except concurrent.futures.TimeoutError:
            pytest.fail(f"still waiting after {DEADLINE}s: the call hung on a frozen server")
    pytest.fail("the call succeeded against a frozen server")


def test_calls_on_an_open_connection_fail_within_the_url_timeout(
    server: tuple[str, subprocess.Popen[bytes]], frozen: Callable[[], None]
) -> None:
    url = f"{server[0]}/frozen_calls?socketTimeoutMS=5000&serverSelectionTimeoutMS=5000"
    with db_drivers.connect(url, inline_limit=0) as driver:
        driver.save_snapshot({"user_id": 1, "datetime": WHEN, "blob": {"data": DATA}})
        result = driver.get_result(1, 1, "blob")
        assert result is not None
        stream = result.open("data")
        assert stream.read(10) == DATA[:10]  # the connection is open and pooled
        frozen()
        assert "unavailable" in fails_unavailable(driver.get_users)
        fails_unavailable(lambda: driver.save_snapshot({"user_id": 1, "datetime": WHEN + 1, "blob": {"data": DATA}}))
        fails_unavailable(lambda: stream.read())  # the rest of the stream: more replies


def test_the_default_bound_holds_without_url_options(
    server: tuple[str, subprocess.Popen[bytes]], frozen: Callable[[], None]
) -> None:
    with db_drivers.connect(f"{server[0]}/frozen_default") as driver:
        driver.save_user({"user_id": 1})
        frozen()
        fails_unavailable(driver.get_users)
