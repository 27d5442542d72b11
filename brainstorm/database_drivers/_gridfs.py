"""GridFS, the standard layout, written and read with bounded memory (used by the mongodb driver).

Files follow the GridFS spec (`<bucket>.files`: `_id, length, chunkSize, uploadDate, filename,
metadata`; `<bucket>.chunks`: `files_id, n, data`), so `gridfs.GridFSBucket` and every other GridFS
tool read them. pymongo's own GridIn buffers up to 48 MB of chunks before sending them, and its
GridOut reads chunks with the server's default batches, which FerretDB does not cap (a 256 MiB
file came back in one 65 MB reply, over the 48 MB message limit). Here uploads are sent in batches
of `BATCH_BYTES`, and no reply to a read carries more than that.

The batch rule of reads: a read sizes the replies to what it asked for. When a read opens a chunk
cursor (the first read, one after a seek, or one that needs more than twice the open cursor's batch),
its batch is the number of chunks that read still needs, at least 2 and at most `BATCH_BYTES` worth;
later reads continue that cursor. So a range read (`seek(a)`, then `read(n)`) fetches the chunks
covering its bytes (one more at most), a stream read n bytes at a time gets replies of about n bytes
(many readers at once hold little), and `read()` of a whole payload gets full batches.

Writes are sent through `retried` (see `_transient`): again after a transient error, which says the
command was not applied; a batch of chunks that failed part way goes on from the first chunk the
server did not insert.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from bson import ObjectId
from pymongo import errors as mongo_errors
from pymongo.collection import Collection
from pymongo.cursor import Cursor

from ._errors import BlobCorrupt, BlobMissing
from ._mongo_indexes import create_index
from ._transient import retried

CHUNK_SIZE = 255 * 1024
"""The GridFS spec's default chunk size (a bucket may write others; every file says its own)."""
BATCH_BYTES = 16 * 1024 * 1024
"""The most chunk data one insert or one reply carries (far below the 48 MB message limit)."""


class GridFSBucket:
    """One GridFS bucket: `<name>.files` and `<name>.chunks` of a database."""

    def __init__(
        self, files: Collection[dict[str, Any]], chunks: Collection[dict[str, Any]], chunk_size: int = CHUNK_SIZE
    ) -> None:
        self.files, self.chunks, self.chunk_size = files, chunks, chunk_size
        self._batch_chunks = max(1, BATCH_BYTES // chunk_size)

    def create_indexes(self, options: Mapping[str, Any]) -> None:
        """The indexes the GridFS spec asks for (what pymongo would create on first upload), with the
        server's compound-index `options` (`_mongo_indexes`)."""
        create_index(self.files, [("filename", 1), ("uploadDate", 1)], options)
        create_index(self.chunks, [("files_id", 1), ("n", 1)], options, unique=True)

    def upload(
        self, pieces: Iterable[bytes | memoryview], filename: str, metadata: Mapping[str, Any], file_id: ObjectId
    ) -> ObjectId:
        """Store the bytes of `pieces` (any sizes) as file `file_id`; the files document goes last.

        `metadata` is read after the last piece, so a caller may complete it (a stream's hash) while
        the pieces are consumed. On failure the chunks written so far are deleted again.
        """
        length, batch = 0, []
        try:
            for n, chunk in enumerate(_rechunk(pieces, self.chunk_size)):
                batch.append({"files_id": file_id, "n": n, "data": chunk})
                length += len(chunk)
                if len(batch) == self._batch_chunks:
                    self._insert_chunks(batch)
                    batch = []
            if batch:
                self._insert_chunks(batch)
            retried(
                self.files.insert_one,
                {
                    "_id": file_id,
                    "length": length,
                    "chunkSize": self.chunk_size,
                    "uploadDate": dt.datetime.now(dt.UTC).replace(tzinfo=None),
                    "filename": filename,
                    "metadata": dict(metadata),
                },
            )
        except BaseException:
            retried(self.chunks.delete_many, {"files_id": file_id})
            raise
        return file_id

    def _insert_chunks(self, batch: list[dict[str, Any]]) -> None:
        """Insert chunks in order; after a transient error, again from the first one not inserted."""
        inserted = 0

        def insert_rest() -> None:
            nonlocal inserted
            try:
                self.chunks.insert_many(batch[inserted:])
            except mongo_errors.BulkWriteError as exc:
                inserted += int((exc.details or {}).get("nInserted", 0))  # ordered: those before the failure
                raise

        retried(insert_rest)

    def open(self, file_id: Any) -> GridFSReader:
        """A seekable stream over a file; reads no chunk until asked."""
        file = self.files.find_one({"_id": file_id}, {"length": 1, "chunkSize": 1})
        if file is None:
            raise BlobMissing(f"blob {file_id} is missing from GridFS bucket {self.files.name.rpartition('.')[0]!r}")
        return GridFSReader(self.chunks, file_id, file["length"], file["chunkSize"])

    def delete(self, file_ids: list[Any]) -> None:
        """Delete files, the files documents first so no reader finds a file without its chunks."""
        if file_ids:
            retried(self.files.delete_many, {"_id": {"$in": file_ids}})
            retried(self.chunks.delete_many, {"files_id": {"$in": file_ids}})


class GridFSReader(io.RawIOBase):
    """Reads a GridFS file's chunks in order, holding one chunk at a time besides the cursor's reply,
    which carries about what the read that opened the cursor asked for (the module's batch rule)."""

    def __init__(self, chunks: Collection[dict[str, Any]], file_id: Any, length: int, chunk_size: int) -> None:
        super().__init__()
        self._chunks, self._file_id, self._length, self._chunk_size = chunks, file_id, length, chunk_size
        self._position = 0
        self._cursor: Cursor[dict[str, Any]] | None = None
        self._batch, self._next = 0, 0  # the open cursor's chunks per reply, and the chunk it gives next
        self._max_batch = max(2, BATCH_BYTES // chunk_size)  # the file's own chunk size: another tool's may differ
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
        if self._position < end:
            self._plan(self._position // self._chunk_size, (end - 1) // self._chunk_size)
        while self._position < end:
            index, offset = divmod(self._position, self._chunk_size)
            piece = memoryview(self._chunk_at(index))[offset : offset + end - self._position]
            self._position += len(piece)
            yield piece

    def _plan(self, first: int, last: int) -> None:
        """Before a read of chunks `first` to `last`: open a cursor at the first one to fetch, its batch
        the chunks to fetch (within [2, max]), unless the open cursor is next in line there and its batch
        is at least half of those (or already the largest)."""
        start = first + 1 if first == self._chunk_index else first  # the chunk held is not fetched again
        wanted = last - start + 1
        if wanted <= 0:
            return
        if self._cursor is not None:
            if start == self._next and (wanted <= 2 * self._batch or self._batch == self._max_batch):
                return
            self._cursor.close()
        self._batch, self._next = min(max(wanted, 2), self._max_batch), start
        self._cursor = (
            self._chunks.find({"files_id": self._file_id, "n": {"$gte": start}}, {"_id": 0, "n": 1, "data": 1})
            .sort("n", 1)
            .batch_size(self._batch)
        )

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()
        super().close()

    def _chunk_at(self, index: int) -> bytes:
        if index != self._chunk_index:
            assert self._cursor is not None and index == self._next, "_plan opens the cursor there"
            doc = next(self._cursor, None)
            if doc is None or doc["n"] != index:
                self._cursor.close()
                self._cursor = None  # not where `_next` says: the next read opens another
                raise BlobMissing(f"chunk {index} of blob {self._file_id} is missing")
            self._next = index + 1
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
