"""Start and stop the MongoDB-protocol test server: FerretDB v2 on a private PostgreSQL with DocumentDB.

Used by the test suite and the benchmarks, and by hand: `python -m tools.ferretdb_server` starts one,
prints its `mongodb://` URL on a line of its own and serves until Ctrl-C or SIGTERM, so anything can be
run against the exact server the suite uses. The binaries are built once (cached) by `build-ferretdb.sh`
beside this file. Every server has its own PostgreSQL cluster (`postgres_server`), a free port and
temporary storage, on 127.0.0.1 only; both go when it stops.

Authentication is on, as FerretDB v2 ships: clients log in with SCRAM as a PostgreSQL role, and the
cluster has one, `brainstorm`, with a random password, which the URL carries. Any failure to build or to
start raises, so a missing server never turns into skipped tests.

    with running_ferretdb() as url:   # mongodb://brainstorm:PASSWORD@127.0.0.1:PORT
        ...
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from tools.postgres_server import Cluster, running_postgres

ROOT = Path(__file__).resolve().parent.parent  # the repository: tools/ is at its top
BUILD_SCRIPT = Path(__file__).resolve().parent / "build-ferretdb.sh"
VERSION = "v2.5.0"
DOCUMENTDB_VERSION = "0.106.0-ferretdb-2.5.0"
BUILT = Path(os.environ.get("BRAINSTORM_FERRETDB_DIR", ROOT / ".cache" / f"ferretdb-{VERSION}"))
"""What build-ferretdb.sh makes: bin/ferretdb, and the PostgreSQL tree with DocumentDB."""
BINDIR = BUILT / "postgresql" / "usr" / "lib" / "postgresql" / "15" / "bin"
LOGIN = "brainstorm"
"""The role clients log in as."""
DOCUMENTDB_SETTINGS = {
    # DocumentDB's background jobs run through pg_cron, in the database FerretDB uses.
    "shared_preload_libraries": "pg_cron,pg_documentdb_core,pg_documentdb",
    "cron.database_name": "postgres",
    # What FerretDB's own image sets (DocumentDB's packaging/10-preload.sh).
    "documentdb.enableCompact": "true",
    "documentdb.enableLetAndCollationForQueryMatch": "true",
    "documentdb.enableNowSystemVariable": "true",
    "documentdb.enableSortbyIdPushDownToPrimaryKey": "true",
    "documentdb.enableSchemaValidation": "true",
    "documentdb.enableBypassDocumentValidation": "true",
    "documentdb.enableUserCrud": "true",
    "documentdb.maxUserLimit": "100",
}
START_TIMEOUT_SECONDS = 60
_LISTENING = re.compile(r"Listening on TCP (\S+?):(\d+)")
_built = False


@dataclass(frozen=True)
class Storage:
    """A PostgreSQL cluster ready for FerretDB, and the password of the role clients log in as."""

    cluster: Cluster
    password: str


def build() -> Path:
    """The build directory, built first if it is not there yet (BRAINSTORM_VENDOR_DIR: the source archives)."""
    global _built
    if not _built:
        subprocess.run(["bash", str(BUILD_SCRIPT), str(BUILT)], check=True)  # a no-op once it is built
        _built = True
    return BUILT


@contextlib.contextmanager
def documentdb_storage() -> Iterator[Storage]:
    """A new PostgreSQL cluster with the DocumentDB extension and the login role, for FerretDB to serve."""
    build()
    password = secrets.token_urlsafe(18)
    setup = (
        "CREATE EXTENSION documentdb CASCADE",
        # What FerretDB's createUser makes: a role that logs in, in DocumentDB's admin role.
        f"CREATE ROLE {LOGIN} LOGIN PASSWORD '{password}' IN ROLE documentdb_admin_role",
    )
    with running_postgres(BINDIR, DOCUMENTDB_SETTINGS, setup) as cluster:
        yield Storage(cluster, password)


@contextlib.contextmanager
def running_ferretdb(*, auth: bool = True) -> Iterator[str]:
    """Run a FerretDB server with storage of its own on a free loopback port; yield its URL, with the
    login's user and password unless `auth` is off (FerretDB's --no-auth)."""
    with documentdb_storage() as storage, ferretdb_process(storage, auth=auth) as (url, _):
        yield url


@contextlib.contextmanager
def ferretdb_process(
    storage: Storage | None = None, port: int = 0, *, auth: bool = True
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`running_ferretdb`, also yielding the server's process (for tests that stop or kill it). Given
    `storage` (`documentdb_storage()`) and `port`, a server that starts where a killed one stopped."""
    with contextlib.ExitStack() as stack:
        if storage is None:
            storage = stack.enter_context(documentdb_storage())
        state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="brainstorm-ferretdb-")))
        log_path = state / "ferretdb.log"
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [
                    str(BUILT / "bin" / "ferretdb"),
                    f"--postgresql-url={storage.cluster.url}",
                    f"--listen-addr=127.0.0.1:{port}",
                    f"--state-dir={state}",
                    "--telemetry=disable",
                    "--debug-addr=",
                    "--log-level=info",
                    *([] if auth else ["--no-auth"]),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            port = _wait_for_port(process, log_path)
            login = f"{LOGIN}:{storage.password}@" if auth else ""
            yield f"mongodb://{login}127.0.0.1:{port}", process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for_port(process: subprocess.Popen[bytes], log_path: Path) -> int:
    """The port the server says it listens on."""
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        log = log_path.read_bytes().decode(errors="replace")
        if match := _LISTENING.search(log):
            return int(match.group(2))
        if process.poll() is not None:
            raise RuntimeError(f"FerretDB exited with status {process.returncode} before listening:\n{log}")
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"FerretDB did not start listening within {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")


def main() -> None:
    """Serve one test server until Ctrl-C or SIGTERM; its URL alone on the first line of standard output."""
    parser = argparse.ArgumentParser(prog="python -m tools.ferretdb_server", description=main.__doc__)
    parser.add_argument("--port", type=int, default=0, help="the port to listen on (default: a free one)")
    parser.add_argument("--no-auth", action="store_true", help="let clients in without logging in")
    options = parser.parse_args()

    def stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # the same clean stop as Ctrl-C: the server and its storage go
    try:
        with documentdb_storage() as storage, ferretdb_process(storage, options.port, auth=not options.no_auth) as (
            url,
            server,
        ):
            print(url, flush=True)
            print(
                f"FerretDB {VERSION} on PostgreSQL 15 with DocumentDB {DOCUMENTDB_VERSION}, data in "
                f"{storage.cluster.home} (removed when it stops); Ctrl-C stops it",
                file=sys.stderr,
                flush=True,
            )
            server.wait()
            raise RuntimeError(f"FerretDB exited with status {server.returncode}")
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
