"""Files a message names by `"path"`, opened as streamed payloads before anything is saved.

A parser writes heavy payloads (images, depth maps) to files and puts their paths in its message.
Any object inside a result with a string `"path"` has it replaced by `"data": <the file, streamed>`,
so the database gets its own copy of the bytes and readers never need the parser's disk. Relative
paths are resolved against a base directory (the message file's, for the command line). Every file is
opened before anything is saved, so a missing one fails the whole message up front.

A message is data from elsewhere, so the files it may name are confined: a path must resolve
(symlinks included) inside an allowed directory (the base directory and any others the caller
allows), and must be a regular file. Otherwise `"path": "/proc/self/environ"`, `"../../x"` or a
symlink would copy any readable file into the database, and `/dev/zero` or a FIFO would never end
(or never start). A FIFO or device is recognised with `os.stat` before it is opened, and the file is
opened non-blocking and checked again with `fstat`, so one swapped in between is refused too, not
waited on.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from brainstorm.database_drivers import Blob, BrainstormError, InvalidInput

PATH_KEY, DATA_KEY = "path", "data"
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)  # a FIFO swapped in after the stat must not block the open
    | getattr(os, "O_NOFOLLOW", 0)  # nor may a symlink swapped in for the resolved name be followed
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
)
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


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


def _allowed_roots(base_dir: str | os.PathLike[str], allowed_dirs: Iterable[str | os.PathLike[str]] = ()) -> list[str]:
    """The real paths (symlinks resolved) of the directories payload files may come from, base first."""
    return list(dict.fromkeys(os.path.realpath(directory) for directory in (base_dir, *allowed_dirs)))


@contextlib.contextmanager
def open_payloads(
    result: Any,
    result_name: str,
    base_dir: str | os.PathLike[str],
    allowed_dirs: Iterable[str | os.PathLike[str]] = (),
) -> Iterator[OpenedResult]:
    """Open every file `result` names by `"path"` (at any depth); close them all on the way out.

    Paths are resolved against `base_dir` and must lead to regular files inside `base_dir` or one of
    `allowed_dirs`. Raises PayloadFileError, naming the path, if one is refused or cannot be opened
    (the ones already open are closed), and InvalidInput if an object has both `"path"` and `"data"`.
    """
    blobs: list[Blob] = []
    opened = OpenedResult(value=None)
    context = _Context(result_name, Path(base_dir), _allowed_roots(base_dir, allowed_dirs), blobs, opened)
    try:
        opened.value = _replace_paths(result, (), context)
        yield opened
    finally:
        for blob in blobs:
            blob.close()


@dataclass
class _Context:
    result_name: str
    base_dir: Path
    roots: list[str]
    blobs: list[Blob]
    opened: OpenedResult


class _Refused(Exception):
    """Why a path a message names is not read (the reason completes "names the file X, which ...")."""


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


def absolute_paths(value: Any, base_dir: Path) -> Any:
    """A copy of a message tree whose relative `"path"`s are made absolute against `base_dir`: what a
    message published from a file carries, so that a saver elsewhere (with `--allow-path`) finds them."""
    if isinstance(value, Mapping):
        return {
            key: str(base_dir / item) if key == PATH_KEY and isinstance(item, str) else absolute_paths(item, base_dir)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [absolute_paths(item, base_dir) for item in value]
    return value


def _open(path: str, where: tuple[str | int, ...], context: _Context) -> Blob:
    """The file `path` names, checked and opened as a Blob; PayloadFileError saying why it is not."""
    file = context.base_dir / path
    shown = repr(path) if str(file) == path else f"{path!r} ({file})"
    try:
        stream = _open_confined(file, context.roots)
    except _Refused as exc:
        reason = f"which {exc}"
    except OSError as exc:
        reason = f"which cannot be read: {exc.strerror or exc}"
    except ValueError as exc:  # a NUL in the path
        reason = f"which cannot be read: {exc}"
    else:
        blob = Blob(stream, Blob.content_type_for(file))
        context.blobs.append(blob)
        context.opened.files.append(file)
        context.opened.size += os.fstat(stream.fileno()).st_size
        return blob
    raise PayloadFileError(f"result {context.result_name!r}{_at(where)} names the file {shown}, {reason}", str(file))


def _open_confined(file: Path, roots: list[str]) -> IO[bytes]:
    """`file` opened for reading if it resolves inside one of `roots` and is a regular file, else _Refused."""
    real = os.path.realpath(file)
    if not any(_inside(real, root) for root in roots):
        where = "is" if real == str(file) else f"resolves to {real},"
        raise _Refused(f"{where} outside the directories payload files may come from ({', '.join(roots)})")
    before = os.stat(real)
    _check_regular(before)
    descriptor = os.open(real, _OPEN_FLAGS)
    try:
        after = os.fstat(descriptor)
        _check_regular(after)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            raise _Refused("was replaced while it was being opened")
        os.set_blocking(descriptor, True)
        return os.fdopen(descriptor, "rb")
    except BaseException:
        os.close(descriptor)
        raise


def _inside(real: str, root: str) -> bool:
    """Whether the resolved path `real` is `root` or below it (both resolved)."""
    return os.path.commonpath([real, root]) == root


def _check_regular(status: os.stat_result) -> None:
    if not stat.S_ISREG(status.st_mode):
        kind = _KINDS.get(stat.S_IFMT(status.st_mode), "not a file")
        raise _Refused(f"is {kind}, not a regular file")


def _at(where: tuple[str | int, ...]) -> str:
    return f" at {'.'.join(map(str, where))}" if where else ""
