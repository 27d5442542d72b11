"""The mongodb driver's blob store: payloads as GridFS files of the bucket `blobs` (see `mongodb_driver`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import IO, Any

from bson import ObjectId

from ._blobs import BlobSource
from ._gridfs import GridFSBucket
from ._mongo_indexes import index_options
from ._transient import retried
from ._values import utc_now
from .storage import BlobOwner, BlobStore, Ref, StoredBlob

IN_FLIGHT_FLOOR = dt.timedelta(hours=1)
"""GridFS chunks without their files document younger than this may be an upload in flight: they
are never collected, whatever the grace period."""


class GridFSBlobs(BlobStore):
    """Payloads as GridFS files (standard layout), each named after its owner."""

    def __init__(self, bucket: GridFSBucket) -> None:
        self.bucket = bucket

    def prepare_for_writes(self) -> None:
        """The indexes the GridFS spec asks for (the unique one on chunks guards uploads)."""
        self.bucket.create_indexes(index_options(self.bucket.files.database))

    def upload(self, source: BlobSource, owner: BlobOwner) -> Any:
        metadata = {
            "user_id": owner.user_id,
            "snapshot_id": owner.snapshot_id,
            "result_name": owner.result_name,
            "path": owner.path,
            "kind": source.kind,
            "content_type": source.content_type,
            "contentType": source.content_type,  # where mongofiles and other drivers look
        }

        def pieces() -> Iterator[bytes | memoryview]:
            yield from source.chunks()
            metadata["sha256"] = source.sha256  # learnt as the pieces went by

        file_id = ObjectId()
        filename = f"{owner.user_id}/{owner.snapshot_id}/{owner.result_name}/{owner.path}@{file_id}{source.extension}"
        return self.bucket.upload(pieces(), filename, metadata, file_id)

    def open(self, ref: Ref) -> IO[bytes]:
        return self.bucket.open(ref)  # type: ignore[return-value]

    def condemn(self, refs: list[Ref]) -> None:
        """One update of the files documents (sent again after a transient error: a later date says the same)."""
        retried(self.bucket.files.update_many, {"_id": {"$in": refs}}, {"$set": {"metadata.condemned": utc_now()}})

    def alive(self, refs: list[Ref]) -> set[Ref]:
        found = self.bucket.files.find({"_id": {"$in": refs}}, {"metadata.condemned": 1})
        return {doc["_id"] for doc in found if "condemned" not in doc.get("metadata", {})}

    def delete(self, refs: Iterable[Ref]) -> None:
        self.bucket.delete(list(refs))

    def listing(self) -> Iterator[StoredBlob]:
        for doc in self.bucket.files.find({}, {"length": 1, "uploadDate": 1}):
            yield StoredBlob(doc["_id"], doc["length"], doc["uploadDate"])

    def leftovers(self, older_than: dt.datetime) -> list[StoredBlob]:
        """Chunks whose files document is missing (the files document is written last), of uploads
        that began before `older_than` and at least `IN_FLIGHT_FLOOR` ago: an upload in flight looks
        the same. A file id is an ObjectId, which says when the upload began."""
        files = set(self.bucket.files.distinct("_id"))
        cutoff = min(older_than, utc_now() - IN_FLIGHT_FLOOR).replace(tzinfo=dt.UTC)
        found = []
        for file_id in self.bucket.chunks.distinct("files_id"):
            if file_id not in files and isinstance(file_id, ObjectId) and file_id.generation_time < cutoff:
                length = sum(len(c["data"]) for c in self.bucket.chunks.find({"files_id": file_id}, {"data": 1}))
                found.append(StoredBlob(file_id, length, file_id.generation_time.replace(tzinfo=None)))
        return found
