"""Start and stop a FerretDB test server: a real MongoDB wire-protocol server on SQLite or PostgreSQL.

Used by the test suite and the benchmarks. The binary is built (once, cached) by `build-ferretdb.sh`
beside this file, with both backends. On "sqlite" (the default) FerretDB keeps its data in a directory
of SQLite files; on "postgresql" it stores it in a PostgreSQL database, by default in a private cluster
started for it (`postgres_server`) and removed with it. Any failure to build or start raises, so a
missing server can never turn into skipped tests.

    with running_ferretdb(backend="postgresql") as url:   # mongodb://127.0.0.1:PORT
        ...
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Literal

from tools.postgres_server import running_postgres

ROOT = Path(__file__).resolve().parent.parent  # the repository: tools/ is at its top
BUILD_SCRIPT = Path(__file__).resolve().parent / "build-ferretdb.sh"
VERSION = "v1.24.2"
BINARY = Path(os.environ.get("BRAINSTORM_FERRETDB_BINARY", ROOT / ".cache" / "ferretdb" / f"ferretdb-{VERSION}"))
START_TIMEOUT_SECONDS = 60
_LISTENING = re.compile(r"Listening on TCP (\S+?):(\d+)")
Backend = Literal["sqlite", "postgresql"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")
_built = False


def build() -> Path:
    """The server binary, built first if it is not cached yet (or was cached without both backends)."""
    global _built
    if not _built:
        subprocess.run(["bash", str(BUILD_SCRIPT), str(BINARY)], check=True)  # a no-op once it is built
        _built = True
    return BINARY


@contextlib.contextmanager
def running_ferretdb(backend: Backend = "sqlite", logins: Iterable[str] = ()) -> Iterator[str]:
    """Run a FerretDB server on `backend` on a free loopback port, its data in temporary storage; yield its
    URL (mongodb://127.0.0.1:PORT).

    On SQLite FerretDB v1 takes any user and password; on PostgreSQL it logs into PostgreSQL as the
    client's user (authMechanism=PLAIN), so the users clients log in as must be given as `logins` (any
    password is then accepted)."""
    with ferretdb_process(backend=backend, logins=logins) as (url, _):
        yield url


@contextlib.contextmanager
def ferretdb_process(
    data: Path | None = None,
    port: int = 0,
    backend: Backend = "sqlite",
    postgresql_url: str | None = None,
    logins: Iterable[str] = (),
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_ferretdb`, also yielding the server's process (for tests that stop or kill it); given
    `data` (a directory: the SQLite files and the log) and `port`, a server that restarts where a killed
    one stopped. On "postgresql", FerretDB stores its data at `postgresql_url`, else in a private cluster
    that lives as long as this server (to restart on the same data, start the cluster with
    `postgres_server.running_postgres` and pass its URL); `logins` are as in `running_ferretdb`."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown FerretDB backend {backend!r}: choose among {', '.join(BACKENDS)}")
    binary = build()
    with contextlib.ExitStack() as stack:
        if data is None:
            data = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="brainstorm-ferretdb-")))
        log_path = data / "ferretdb.log"
        if backend == "sqlite":
            (data / "db").mkdir(exist_ok=True)
            storage = ["--handler=sqlite", f"--sqlite-url=file:{data}/db/"]
        else:
            if postgresql_url is None:
                postgresql_url = stack.enter_context(running_postgres(logins=logins))
            storage = ["--handler=postgresql", f"--postgresql-url={postgresql_url}"]
        start = log_path.stat().st_size if log_path.exists() else 0  # a restart appends to the log
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    str(binary),
                    *storage,
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
