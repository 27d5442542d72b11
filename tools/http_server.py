"""A Python module that serves HTTP, run as a process of its own for the tests and the bench.

`brainstorm serve` (and the bench's static file server) print `Serving ... at URL` once their socket
listens, with `--port 0` naming the free port taken; this starts one, waits for that line and an
answer, and stops it with SIGINT (Ctrl-C) afterwards, as a user would.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
SERVING = re.compile(r"Serving .* at (http://\S+/) ")
START_SECONDS = 60.0


@contextlib.contextmanager
def serving_process(module_args: Sequence[str], log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`python -m MODULE_ARGS`, its output in `log`: (its URL, the process) once it answers. Fails loudly
    (RuntimeError with the log) if it exits or does not start within START_SECONDS."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", *module_args],
            cwd=ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_SECONDS
        while not (match := SERVING.search(log.read_text(errors="replace"))):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(module_args)} did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        # The socket listens before the line is printed: this waits in its backlog until the app answers.
        httpx.get(match.group(1), timeout=START_SECONDS)
        yield match.group(1), process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
