"""The saver: stores the messages a pipeline's parsers publish, heavy payloads included.

    from brainstorm.saver import Saver
    with Saver("sqlite:///brainstorm.db") as saver:
        saver.save("pose", '{"user": {...}, "datetime": 1575454087339, "pose": {...}}')

`import_directory(saver, DIRECTORY, jobs=N)` saves every message below a directory (with N threads)
and returns an `ImportSummary` (counts, bytes, seconds); `publish_directory(queue, DIRECTORY)` publishes
them to a message queue (`brainstorm.mq_drivers`) instead, for a saver running `run` to consume, and
`_consumer.consume` is that saver. The command line (`python -m brainstorm.saver save|import|run|
run-saver|publish`) is in `__main__`; message format and payload files are described in `_message` and
`_payloads`.
"""

from __future__ import annotations

from ._importer import ImportSummary, find_messages, import_directory
from ._message import MessageData, load, result_name_of
from ._payloads import PayloadFileError
from ._publisher import PublishSummary, message_for_queue, publish_directory
from ._saver import Saved, Saver, Status

__all__ = [
    "ImportSummary",
    "MessageData",
    "PayloadFileError",
    "PublishSummary",
    "Saved",
    "Saver",
    "Status",
    "find_messages",
    "import_directory",
    "load",
    "message_for_queue",
    "publish_directory",
    "result_name_of",
]
