"""Start and stop a FerretDB test server: a real MongoDB wire-protocol server on SQLite.

Used by the test suite and the benchmarks. The binary is built (once, cached) by
`build-ferretdb.sh` beside this file; any failure to build or start raises, so a missing server can never
turn into skipped tests.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the repository: tools/ is at its top
BUILD_SCRIPT = Path(__file__).resolve().parent / "build-ferretdb.sh"
VERSION = "v1.24.2"
BINARY = Path(os.environ.get("BRAINSTORM_FERRETDB_BINARY", ROOT / ".cache" / "ferretdb" / f"ferretdb-{VERSION}"))
START_TIMEOUT_SECONDS = 60
_LISTENING = re.compile(r"Listening on TCP (\S+?):(\d+)")


def build() -> Path:
    """The server binary, built first if it is not cached yet."""
    if not BINARY.exists():
        subprocess.run(["bash", str(BUILD_SCRIPT), str(BINARY)], check=True)
    return BINARY


@contextlib.contextmanager
def running_ferretdb() -> Iterator[str]:
    """Run a FerretDB server on a free loopback port with a temporary data directory; yield its URL."""
    with ferretdb_process() as (url, _):
        yield url


@contextlib.contextmanager
def ferretdb_process() -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_ferretdb`, also yielding the server's process (for tests that stop or kill it)."""
    binary = build()
    with tempfile.TemporaryDirectory(prefix="brainstorm-ferretdb-") as data:
        log_path = Path(data) / "ferretdb.log"
        (Path(data) / "db").mkdir()
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [
                    str(binary),
                    "--handler=sqlite",
                    f"--sqlite-url=file:{data}/db/",
                    "--listen-addr=127.0.0.1:0",
                    "--state-dir=-",
                    "--telemetry=disable",
                    "--debug-addr=-",
                    "--log-level=info",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            yield f"mongodb://127.0.0.1:{_wait_for_port(process, log_path)}", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], log_path: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        log = log_path.read_text(errors="replace")
        if match := _LISTENING.search(log):
            return int(match.group(2))
        if process.poll() is not None:
            raise RuntimeError(f"FerretDB exited with status {process.returncode} before listening:\n{log}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"FerretDB did not start listening within {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")
