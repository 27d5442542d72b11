"""A real `brainstorm serve` process on a free port, for the API and viewer tests."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx

from tests.conftest import ROOT

_SERVING = re.compile(r"Serving .* at (http://\S+/) ")
START_TIMEOUT = 60.0


@dataclass
class Server:
    """A running `brainstorm serve`: its base URL (ending in '/'), process, and what it has logged."""

    url: str
    process: subprocess.Popen[str]
    log: list[str] = field(default_factory=list)

    def logged(self) -> str:
        return "".join(self.log)


@contextlib.contextmanager
def serving(database_url: str, *extra: str) -> Iterator[Server]:
    """Start `python -m brainstorm.cli serve -d URL --port 0` and yield it once it accepts requests; it is
    stopped (SIGINT, as Ctrl-C) afterwards. Fails loudly if it does not start."""
    process = subprocess.Popen(
        [sys.executable, "-m", "brainstorm.cli", "serve", "-d", database_url, "--port", "0", *extra],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    log: list[str] = []
    started = threading.Event()
    url: list[str] = []

    def read_log() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            log.append(line)
            if (match := _SERVING.search(line)) and not url:
                url.append(match.group(1))
                started.set()
        started.set()

    reader = threading.Thread(target=read_log, daemon=True)
    reader.start()
    try:
        if not started.wait(START_TIMEOUT) or not url or process.poll() is not None:
            raise RuntimeError(f"brainstorm serve did not start:\n{''.join(log)}")
        # The socket listens before the line is printed: this waits in its backlog until uvicorn answers.
        httpx.get(url[0] + "openapi.json", timeout=START_TIMEOUT).raise_for_status()
        yield Server(url[0], process, log)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(timeout=5)
