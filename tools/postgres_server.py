"""Start and stop a private PostgreSQL cluster: the storage under the FerretDB test server.

The binaries come from a PostgreSQL tree (`bindir`): the one `build-ferretdb.sh` makes, a copy of Debian's
PostgreSQL 15 with DocumentDB installed into it. Nothing of the system's own clusters is used. Each
cluster is new: `initdb` into a temporary directory, `postgres` listening on 127.0.0.1 only (and on a unix
socket in that directory) on a free port, trust authentication for local connections, durability off
(fsync, synchronous commit: a test cluster lives no longer than its tests), then the caller's SQL is run
in the `postgres` database, and everything is removed at the end. PostgreSQL refuses to run as root, so
as root the cluster runs as the `postgres` system user (which Debian's package creates) and that user
owns the directory. Any failure raises: a missing server never turns into skipped tests.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"  # the cluster's superuser (a PostgreSQL role, whoever runs the server)
SYSTEM_USER = "postgres"  # the account the server runs as when we are root
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 30
TEST_SETTINGS: Mapping[str, str] = {
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
}
_READY = "database system is ready to accept connections"


@dataclass(frozen=True)
class Cluster:
    """A running cluster: where to reach it, and its files."""

    url: str  # postgres://postgres@127.0.0.1:PORT/postgres
    home: Path  # the data directory, the log and the unix socket are in here
    process: subprocess.Popen[bytes]


def binary(bindir: Path, name: str) -> Path:
    """One of PostgreSQL's programs, or an error saying how to get them."""
    path = bindir / name
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"PostgreSQL's {name} is not at {path}: build the test server first (`make test-servers`)")
    return path


@contextlib.contextmanager
def running_postgres(
    bindir: Path, settings: Mapping[str, str] = TEST_SETTINGS, setup: Iterable[str] = ()
) -> Iterator[Cluster]:
    """Run a new cluster with the programs in `bindir` on a free loopback port, with `settings` (server
    parameters) after the test defaults, once the SQL statements of `setup` ran in its `postgres` database."""
    as_user = _run_as()
    with contextlib.ExitStack() as stack:
        home = Path(tempfile.mkdtemp(prefix="brainstorm-postgres-"))
        stack.callback(shutil.rmtree, home, ignore_errors=True)
        if as_user is not None:
            os.chown(home, as_user.pw_uid, as_user.pw_gid)
        data, log_path = home / "data", home / "postgres.log"
        _run(as_user, binary(bindir, "initdb"), "--pgdata", data, "--username", SUPERUSER, "--auth=trust",
             "--encoding=UTF8", "--locale=C", "--no-sync", "--no-instructions")  # fmt: skip
        port, process = _start(as_user, bindir, data, home, log_path, {**TEST_SETTINGS, **settings})
        stack.callback(_stop, process)
        psql = [binary(bindir, "psql"), "--host", home, "--port", port, "--username", SUPERUSER, "--dbname", "postgres"]
        for statement in setup:
            _run(as_user, *psql, "--quiet", "--no-psqlrc", "--set=ON_ERROR_STOP=1", "--command", statement)
        yield Cluster(f"postgres://{SUPERUSER}@127.0.0.1:{port}/postgres", home, process)


def _run_as() -> pwd.struct_passwd | None:
    """The account to run PostgreSQL as: None (ourselves) unless we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise RuntimeError(
            f"PostgreSQL refuses to run as root and there is no {SYSTEM_USER!r} user to run it as"
            " (Debian's postgresql package creates it: `make test-servers`)"
        ) from None


def _as(user: pwd.struct_passwd | None) -> dict[str, Any]:
    """Popen arguments running a program as `user` (with that user's groups only)."""
    if user is None:
        return {}
    env = {**os.environ, "HOME": user.pw_dir, "USER": user.pw_name, "LOGNAME": user.pw_name}
    return {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "env": env, "cwd": "/"}


def _run(user: pwd.struct_passwd | None, *command: str | int | Path) -> None:
    words = list(map(str, command))
    result = subprocess.run(words, capture_output=True, text=True, timeout=120, **_as(user))
    if result.returncode != 0:
        raise RuntimeError(f"{words[0]} failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def _start(
    user: pwd.struct_passwd | None, bindir: Path, data: Path, home: Path, log_path: Path, settings: Mapping[str, str]
) -> tuple[int, subprocess.Popen[bytes]]:
    """Start the server on a free port (another try if someone took the port in between); its port and process."""
    for attempt in range(3):
        port = _free_port()
        options = {**settings, "listen_addresses": "127.0.0.1", "port": str(port), "unix_socket_directories": str(home)}
        command = [str(binary(bindir, "postgres")), "-D", str(data)]
        for name, value in options.items():
            command += ["-c", f"{name}={value}"]
        start = log_path.stat().st_size if log_path.exists() else 0
        with log_path.open("ab") as log:
            if user is not None:
                os.chown(log_path, user.pw_uid, user.pw_gid)
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, **_as(user))
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            logged = log_path.read_bytes()[start:].decode(errors="replace")
            if _READY in logged:
                return port, process
            if process.poll() is not None:
                if "could not bind" in logged and attempt < 2:
                    break  # the port was taken between our probe and the server's bind: another one
                raise RuntimeError(f"PostgreSQL exited with status {process.returncode} at start-up:\n{logged}")
            time.sleep(0.05)
        else:
            _stop(process)
            raise RuntimeError(f"PostgreSQL was not ready within {START_TIMEOUT_SECONDS}s:\n{log_path.read_text()}")
    raise AssertionError("unreachable")


def _stop(process: subprocess.Popen[bytes]) -> None:
    """A fast shutdown (SIGINT: connections closed, no waiting for clients), then a kill if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
