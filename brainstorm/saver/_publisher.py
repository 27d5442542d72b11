"""Publish message files to the queue, as parsers do: for replaying a directory, and for tests and the bench.

Each `*.json` below a directory is published with its result's name as routing key, persistent, and
confirmed by the broker before the next. Relative payload paths are made absolute (the saver resolves
paths against its own directory), so the saver must be allowed to read the files (`--allow-path`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from brainstorm.database_drivers import BrainstormError, InvalidInput
from brainstorm.mq_drivers import MessageQueue, QueueError

from ._importer import find_messages
from ._message import load, result_name_of
from ._payloads import absolute_paths

MAX_MESSAGE_BYTES = 16 * 1024 * 1024
"""The largest message published: RabbitMQ 4's default `max_message_size` (3.10's is 128 MiB). The broker
closes the channel of a publisher that sends more, so it is refused here, by name, before it is sent."""


@dataclass
class PublishSummary:
    published: int = 0
    bytes: int = 0
    failed: list[tuple[Path, str]] = field(default_factory=list)

    def line(self) -> str:
        return f"published {self.published} messages ({self.bytes / 1e6:.1f} MB), {len(self.failed)} failed"


def message_for_queue(path: Path, max_bytes: int = MAX_MESSAGE_BYTES) -> tuple[str, bytes]:
    """(routing key, body) of a message file: its result's name, and the message with absolute paths."""
    text = path.read_bytes()
    name = result_name_of(load(text))  # refused as the saver would refuse it: not JSON, no or several results
    body = json.dumps(absolute_paths(json.loads(text), path.parent.resolve())).encode()
    if len(body) > max_bytes:
        raise InvalidInput(f"the message is {len(body)} bytes, over the broker's limit of {max_bytes} bytes")
    return name, body


def publish_directory(
    queue: MessageQueue, directory: Path, *, max_bytes: int = MAX_MESSAGE_BYTES, report: Callable[[str], None]
) -> PublishSummary:
    """Publish every message below `directory` (a refused file is reported and skipped; an unreachable
    broker, or one with no queue for a message, stops it: QueueError)."""
    summary = PublishSummary()
    for path in find_messages(directory):
        try:
            routing_key, body = message_for_queue(path, max_bytes)
            queue.publish(routing_key, body)
        except QueueError:  # the broker's, not the file's: it would fail every message
            raise
        except (BrainstormError, OSError) as exc:
            summary.failed.append((path, str(exc)))
            report(f"error: {path}: {exc}")
            continue
        summary.published += 1
        summary.bytes += len(body)
    return summary
