"""A real `brainstorm serve` process on a free port, for the API and viewer tests."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tools.http_server import serving_process


@dataclass
class Server:
    """A running `brainstorm serve`: its base URL (ending in '/'), process, and the file it logs to."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path
    stopped_log: str | None = None  # all it logged, once stopped (its log file is gone then)

    def logged(self) -> str:
        return self.stopped_log if self.stopped_log is not None else self.log.read_text(errors="replace")


@contextlib.contextmanager
def serving(database_url: str, *extra: str) -> Iterator[Server]:
    """`python -m brainstorm.cli serve -d URL --port 0 EXTRA...`, once it answers; stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="brainstorm-serve-") as directory:
        log = Path(directory) / "serve.log"
        args = ["brainstorm.cli", "serve", "-d", database_url, "--port", "0", *extra]
        with serving_process(args, log) as (url, process):
            server = Server(url, process, log)
            try:
                yield server
            finally:
                process.send_signal(signal.SIGINT)  # stop it now, to keep what it logs until it exits
                process.wait(timeout=15)
        server.stopped_log = log.read_text(errors="replace")
