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
def ferretdb_process(data: Path | None = None, port: int = 0) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_ferretdb`, also yielding the server's process (for tests that stop or kill it); given
    `data` (a directory) and `port`, a server that restarts where a killed one stopped."""
    binary = build()
    with contextlib.ExitStack() as stack:
        if data is None:
            data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="brainstorm-ferretdb-")))
        log_path = data / "ferretdb.log"
        (data / "db").mkdir(exist_ok=True)
        start = log_path.stat().st_size if log_path.exists() else 0  # a restart appends to the log
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    str(binary),
                    "--handler=sqlite",
                    f"--sqlite-url=file:{data}/db/",
                    f"--listen-addr=127.0.0.1:{port}",
                    "--state-dir=-",
                    "--telemetry=disable",
                    "--debug-addr=-",
                    "--log-level=info",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            yield f"mongodb://127.0.0.1:{_wait_for_port(process, log_path, start)}", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], log_path: Path, start: int) -> int:
    """The port the server says it listens on, in what it logged since `start`."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        log = log_path.read_bytes()[start:].decode(errors="replace")
        if match := _LISTENING.search(log):
            return int(match.group(2))
        if process.poll() is not None:
            raise RuntimeError(f"FerretDB exited with status {process.returncode} before listening:\n{log}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"FerretDB did not start listening within {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")
