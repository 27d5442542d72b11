"""Files a message names by `"path"`, opened as streamed payloads before anything is saved.

A parser writes heavy payloads (images, depth maps) to files and puts their paths in its message.
Any object inside a result with a string `"path"` has it replaced by `"data": Blob.from_path(path)`,
so the database gets its own copy of the bytes, streamed, and readers never need the parser's disk.
Relative paths are resolved against a base directory (the message file's, for the command line).
Every file is opened before anything is saved, so a missing one fails the whole message up front.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainstorm.database_drivers import Blob, BrainstormError, InvalidInput

PATH_KEY, DATA_KEY = "path", "data"


class PayloadFileError(BrainstormError, OSError):
    """A file a message names by `"path"` cannot be read; nothing of that message was saved."""

    def __init__(self, message: str, filename: str) -> None:
        super().__init__(message)
        self.filename = filename

    def __str__(self) -> str:  # OSError would show "[Errno None] None: <filename>" once filename is set
        return str(self.args[0])


@dataclass
class OpenedResult:
    """A result with its paths replaced by open `Blob`s, the files they came from and their total size."""

    value: Any
    files: list[Path] = field(default_factory=list)
    size: int = 0


@contextlib.contextmanager
def open_payloads(result: Any, result_name: str, base_dir: str | os.PathLike[str]) -> Iterator[OpenedResult]:
    """Open every file `result` names by `"path"` (at any depth); close them all on the way out.

    Raises PayloadFileError, naming the file, if one cannot be opened (the ones already open are
    closed), and InvalidInput if an object has both `"path"` and `"data"`.
    """
    blobs: list[Blob] = []
    opened = OpenedResult(value=None)
    try:
        opened.value = _replace_paths(result, (), _Context(result_name, Path(base_dir), blobs, opened))
        yield opened
    finally:
        for blob in blobs:
            blob.close()


@dataclass
class _Context:
    result_name: str
    base_dir: Path
    blobs: list[Blob]
    opened: OpenedResult


def _replace_paths(value: Any, where: tuple[str | int, ...], context: _Context) -> Any:
    if isinstance(value, Mapping):
        if isinstance(value.get(PATH_KEY), str):
            if DATA_KEY in value:
                raise InvalidInput(
                    f"result {context.result_name!r}{_at(where)} has both {PATH_KEY!r} and {DATA_KEY!r}; "
                    "give the payload one way"
                )
            return {
                (DATA_KEY if key == PATH_KEY else key): (
                    _open(item, (*where, key), context)
                    if key == PATH_KEY
                    else _replace_paths(item, (*where, key), context)
                )
                for key, item in value.items()
            }
        return {key: _replace_paths(item, (*where, key), context) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_replace_paths(item, (*where, index), context) for index, item in enumerate(value)]
    return value


def _open(path: str, where: tuple[str | int, ...], context: _Context) -> Blob:
    file = context.base_dir / path
    try:
        blob = Blob.from_path(file)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise PayloadFileError(
            f"result {context.result_name!r}{_at(where)} names the file {str(file)!r}, which cannot be read: {reason}",
            str(file),
        ) from None
    context.blobs.append(blob)
    context.opened.files.append(file)
    context.opened.size += os.fstat(blob.stream.fileno()).st_size
    return blob


def _at(where: tuple[str | int, ...]) -> str:
    return f" at {'.'.join(map(str, where))}" if where else ""
