"""GridFS, the standard layout, written and read with bounded memory (used by the mongodb driver).

Files follow the GridFS spec (`<bucket>.files`: `_id, length, chunkSize, uploadDate, filename,
metadata`; `<bucket>.chunks`: `files_id, n, data`), so `gridfs.GridFSBucket` and every other GridFS
tool read them. pymongo's own GridIn buffers up to 48 MB of chunks before sending them, and its
GridOut reads chunks with the server's default batches, which FerretDB does not cap (a 256 MiB
file came back in one 65 MB reply, over the 48 MB message limit). Here uploads are sent in batches
of `BATCH_BYTES` and reads ask for `BATCH_BYTES` at a time, so neither holds more than that.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bson import ObjectId
from pymongo.collection import Collection
from pymongo.cursor import Cursor

from ._errors import BlobCorrupt, BlobMissing

CHUNK_SIZE = 255 * 1024
"""The GridFS default chunk size."""
BATCH_BYTES = 16 * 1024 * 1024
"""The most chunk data one insert or one reply carries (far below the 48 MB message limit)."""
_BATCH_CHUNKS = BATCH_BYTES // CHUNK_SIZE


class GridFSBucket:
    """One GridFS bucket: `<name>.files` and `<name>.chunks` of a database."""

    def __init__(self, files: Collection[dict[str, Any]], chunks: Collection[dict[str, Any]]) -> None:
        self.files, self.chunks = files, chunks

    def create_indexes(self) -> None:
        """The indexes the GridFS spec asks for (what pymongo would create on first upload)."""
        self.files.create_index([("filename", 1), ("uploadDate", 1)])
        self.chunks.create_index([("files_id", 1), ("n", 1)], unique=True)

    def upload(
        self, pieces: Iterable[bytes | memoryview], filename: str, metadata: Mapping[str, Any], file_id: ObjectId
    ) -> ObjectId:
        """Store the bytes of `pieces` (any sizes) as file `file_id`; the files document goes last.

        `metadata` is read after the last piece, so a caller may complete it (a stream's hash) while
        the pieces are consumed. On failure the chunks written so far are deleted again.
        """
        length, batch = 0, []
        try:
            for n, chunk in enumerate(_rechunk(pieces, CHUNK_SIZE)):
                batch.append({"files_id": file_id, "n": n, "data": chunk})
                length += len(chunk)
                if len(batch) == _BATCH_CHUNKS:
                    self.chunks.insert_many(batch)
                    batch = []
            if batch:
                self.chunks.insert_many(batch)
            self.files.insert_one(
                {
                    "_id": file_id,
                    "length": length,
                    "chunkSize": CHUNK_SIZE,
                    "uploadDate": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    "filename": filename,
                    "metadata": dict(metadata),
                }
            )
        except BaseException:
            self.chunks.delete_many({"files_id": file_id})
            raise
        return file_id

    def open(self, file_id: Any) -> GridFSReader:
        """A seekable stream over a file; reads no chunk until asked."""
        file = self.files.find_one({"_id": file_id}, {"length": 1, "chunkSize": 1})
        if file is None:
            raise BlobMissing(f"blob {file_id} is missing from GridFS bucket {self.files.name.rpartition('.')[0]!r}")
        return GridFSReader(self.chunks, file_id, file["length"], file["chunkSize"])

    def delete(self, file_ids: list[Any]) -> None:
        """Delete files, the files documents first so no reader finds a file without its chunks."""
        if file_ids:
            self.files.delete_many({"_id": {"$in": file_ids}})
            self.chunks.delete_many({"files_id": {"$in": file_ids}})


class GridFSReader(io.RawIOBase):
    """Reads a GridFS file's chunks in order, `BATCH_BYTES` per reply, holding one chunk at a time."""

    def __init__(self, chunks: Collection[dict[str, Any]], file_id: Any, length: int, chunk_size: int) -> None:
        super().__init__()
        self._chunks, self._file_id, self._length, self._chunk_size = chunks, file_id, length, chunk_size
        self._position = 0
        self._cursor: Cursor[dict[str, Any]] | None = None
        self._chunk_index, self._chunk = -1, b""

    @property
    def length(self) -> int:
        """The file's length, as its files document says."""
        return self._length

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._position = base + offset
        return self._position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        filled = 0
        for piece in self._pieces(len(view)):
            view[filled : filled + len(piece)] = piece
            filled += len(piece)
        return filled

    def read(self, size: int | None = -1) -> bytes:
        """Up to `size` bytes (all that is left if negative), copied once from the chunks."""
        left = self._length - self._position
        return b"".join(self._pieces(left if size is None or size < 0 else size))

    def readall(self) -> bytes:
        return self.read()

    def _pieces(self, size: int) -> Iterator[memoryview]:
        """Views of the chunks covering the next `size` bytes; the position moves past each one."""
        end = min(self._position + size, self._length)
        while self._position < end:
            index, offset = divmod(self._position, self._chunk_size)
            piece = memoryview(self._chunk_at(index))[offset : offset + end - self._position]
            self._position += len(piece)
            yield piece

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
        super().close()

    def _chunk_at(self, index: int) -> bytes:
        if index != self._chunk_index:
            if self._cursor is None or index != self._chunk_index + 1:  # first read, or after a seek
                if self._cursor is not None:
                    self._cursor.close()
                self._cursor = (
                    self._chunks.find({"files_id": self._file_id, "n": {"$gte": index}}, {"_id": 0, "n": 1, "data": 1})
                    .sort("n", 1)
                    .batch_size(_BATCH_CHUNKS)
                )
            doc = next(self._cursor, None)
            if doc is None or doc["n"] != index:
                raise BlobMissing(f"chunk {index} of blob {self._file_id} is missing")
            expected = min(self._chunk_size, self._length - index * self._chunk_size)
            if len(doc["data"]) != expected:  # the GridFS spec: a reader MUST check each chunk's size
                raise BlobCorrupt(
                    f"chunk {index} of blob {self._file_id} holds {len(doc['data'])} bytes, not {expected}"
                )
            self._chunk, self._chunk_index = doc["data"], index
        return self._chunk


def _rechunk(pieces: Iterable[bytes | memoryview], size: int) -> Iterator[bytes]:
    """The same bytes in pieces of exactly `size` (the last may be shorter)."""
    pending = bytearray()
    for piece in pieces:
        view = memoryview(piece).cast("B")
        if pending:
            taken = view[: size - len(pending)]
            pending += taken
            view = view[len(taken) :]
            if len(pending) < size:
                continue
            yield bytes(pending)
            pending.clear()
        while len(view) >= size:
            yield bytes(view[:size])
            view = view[size:]
        pending += view
    if pending:
        yield bytes(pending)
