"""Start, stop, restart and freeze a private RabbitMQ node: the real broker the queue tests and the bench use.

Debian's `rabbitmq-server` (installed by `make test-servers`) is run from `/usr/lib/rabbitmq/bin`
directly: as root, the `/usr/sbin` wrapper switches to the `rabbitmq` user and drops the environment
that makes the node private. Each node has its own name, Erlang cookie (a temporary HOME), data and log
directories, an empty plugin list, and free ports (AMQP, Erlang distribution, its own epmd), on 127.0.0.1
only. Any failure to start raises, so a missing broker never turns into skipped tests.

    with running_rabbitmq() as broker:   # broker.url: amqp://guest:guest@127.0.0.1:PORT/
        broker.restart()                 # the same node and data (durable queues survive)
        with broker.frozen(): ...        # SIGSTOP: the node stops answering, connections stay open

`python -m tools.rabbitmq_server` starts one, prints its URL on a line of its own, and serves until
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

SERVER = Path(os.environ.get("BRAINSTORM_RABBITMQ_SERVER", "/usr/lib/rabbitmq/bin/rabbitmq-server"))
START_TIMEOUT_SECONDS = 90
STOP_TIMEOUT_SECONDS = 60


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Broker:
    """One private node: its URL, and what a test does to it (restart, stop, freeze)."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.port, dist_port, epmd_port = _free_port(), _free_port(), _free_port()
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}/"
        (home / "enabled_plugins").write_text("[].\n")
        self._env = {
            **os.environ,
            "HOME": str(home),  # the Erlang cookie lives there
            "RABBITMQ_NODENAME": f"brainstorm-{os.getpid()}-{self.port}@localhost",
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_MNESIA_BASE": str(home / "data"),
            "RABBITMQ_LOG_BASE": str(home / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(home / "enabled_plugins"),
            "RABBITMQ_CONFIG_FILE": str(home / "rabbitmq"),  # none: the defaults
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(home / "advanced.config"),
        }
        self._process: subprocess.Popen[bytes] | None = None
        self._epmd_port = epmd_port

    def start(self) -> None:
        """Start the node and wait until it takes AMQP connections."""
        log = (self.home / "server.log").open("ab")
        self._process = subprocess.Popen(
            [str(SERVER)], env=self._env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"rabbitmq-server exited with {self._process.returncode}: {self.log_tail()}")
            if self._answers():
                return
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"rabbitmq-server did not start within {START_TIMEOUT_SECONDS} s: {self.log_tail()}")

    def stop(self) -> None:
        """Stop the node (as `rabbitmqctl stop` would: SIGTERM, a clean shutdown that keeps durable data)."""
        if self._process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._process.pid, signal.SIGCONT)  # a frozen node cannot stop
            os.killpg(self._process.pid, signal.SIGTERM)
        try:
            self._process.wait(STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self._process.pid, signal.SIGKILL)
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    @contextlib.contextmanager
    def frozen(self) -> Iterator[None]:
        """The node stopped (SIGSTOP) for the duration: it neither answers nor closes its connections."""
        assert self._process is not None
        os.killpg(self._process.pid, signal.SIGSTOP)
        try:
            yield
        finally:
            os.killpg(self._process.pid, signal.SIGCONT)

    def log_tail(self, lines: int = 30) -> str:
        logged = (self.home / "server.log").read_text(errors="replace").splitlines()
        return "\n".join(logged[-lines:])

    def close(self) -> None:
        self.stop()
        # The node's own epmd outlives it (Erlang starts it as a daemon): ask it to go.
        subprocess.run(
            ["epmd", "-port", str(self._epmd_port), "-kill"], env=self._env, capture_output=True, check=False
        )

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                connection.sendall(b"AMQP\x00\x00\x09\x01")
                return connection.recv(1) == b"\x01"  # a Connection.Start frame: the broker is up
        except OSError:
            return False


@contextlib.contextmanager
def running_rabbitmq() -> Iterator[Broker]:
    """A private RabbitMQ node for the duration; its data goes when it stops."""
    if not SERVER.exists():
        raise RuntimeError(f"{SERVER} is missing: run `make test-servers` (Debian's rabbitmq-server)")
    with tempfile.TemporaryDirectory(prefix="brainstorm-rabbitmq-") as home:
        broker = Broker(Path(home))
        try:
            broker.start()
            yield broker
        finally:
            broker.close()


def main() -> None:
    stop = False

    def handle(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, handle)
    with running_rabbitmq() as broker:
        print(broker.url, flush=True)
        try:
            while not stop:
                time.sleep(0.2)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
