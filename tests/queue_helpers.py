"""A real RabbitMQ node for the queue tests, saver processes to run against it, and ways to look into it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pika
import pytest

from tests.conftest import ROOT
from tools.rabbitmq_server import Broker, running_rabbitmq


@pytest.fixture(scope="session")
def broker() -> Iterator[Broker]:
    """One private node for the session; tests use topologies of their own (see `names`)."""
    with running_rabbitmq() as node:
        yield node


def names() -> list[str]:
    """`--exchange X --queue Q` of a topology no other test uses."""
    tag = uuid.uuid4().hex[:8]
    return ["--exchange", f"data-{tag}", "--queue", f"save-{tag}"]


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


class SaverProcess:
    """`python -m brainstorm.saver ARGS` running, its stderr collected line by line for a test to wait on."""

    def __init__(self, *args: str | Path, cwd: Path = ROOT, env: dict[str, str] | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "brainstorm.saver", *map(str, args)],
            cwd=cwd,
            env=env or dict(os.environ),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, args=(self.process.stderr,), daemon=True)
        self._reader.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line.rstrip("\n"))

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    def count(self, text: str) -> int:
        return sum(text in line for line in list(self.lines))

    def wait_for(self, text: str, timeout: float = 60, times: int = 1) -> None:
        deadline = time.monotonic() + timeout
        while self.count(text) < times:
            assert self.process.poll() is None or self.count(text) >= times, f"exited: {self.stderr[-3000:]}"
            assert time.monotonic() < deadline, f"{text!r} ({times}x) never appeared: {self.stderr[-3000:]}"
            time.sleep(0.05)

    def signal(self, number: int) -> None:
        self.process.send_signal(number)

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        """Wait for the process to exit: (status, stdout, stderr)."""
        assert self.process.stdout is not None
        stdout = self.process.stdout.read()
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return self.process.returncode, stdout, self.stderr

    def stop(self) -> tuple[int, str, str]:
        self.signal(signal.SIGTERM)
        return self.finish()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


def queue_depth(broker: Broker, queue: str) -> tuple[int, int]:
    """(messages ready, consumers) of a queue, as the broker counts them."""
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        declared = connection.channel().queue_declare(queue, passive=True)
        return declared.method.message_count, declared.method.consumer_count


def take_all(broker: Broker, queue: str) -> list[tuple[dict[str, Any], bytes]]:
    """Every message of a queue, taken off it: (headers, body)."""
    taken = []
    with pika.BlockingConnection(pika.URLParameters(broker.url)) as connection:
        channel = connection.channel()
        while True:
            method, properties, body = channel.basic_get(queue, auto_ack=True)
            if method is None:
                return taken
            taken.append((properties.headers or {}, body))


def wait_until(condition: Any, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        time.sleep(0.1)
