"""The blob codec's hashing: every way of handing the bytes over learns the same sha256 and length."""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Iterator
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from brainstorm.database_drivers import _blobs
from brainstorm.database_drivers._blobs import BYTES, in_memory_source
from brainstorm.database_drivers._value_range import ValueRange
from brainstorm.testing.helpers import OneWayStream

pieces = st.lists(st.binary(max_size=64), max_size=6)


@pytest.fixture(autouse=True, scope="module")
def small_pieces() -> Iterator[None]:
    """Pieces of 16 bytes and more go to the worker thread, and streams are read 32 bytes at a time,
    so small examples take every path."""
    with mock.patch.object(_blobs, "PARALLEL_DIGEST_MIN", 16), mock.patch.object(_blobs, "STREAM_CHUNK_SIZE", 32):
        yield


@settings(max_examples=60, deadline=None)
@given(pieces=pieces, alongside=st.booleans())
def test_in_memory_pieces_are_yielded_in_order_and_hashed(pieces: list[bytes], alongside: bool) -> None:
    source = in_memory_source(BYTES, "application/octet-stream", ".bin", list(pieces))
    assert source.sha256 is None  # learnt when the bytes are handed over
    assert [bytes(p) for p in source.chunks(hash_alongside=alongside)] == pieces
    whole = b"".join(pieces)
    assert (source.length, source.sha256) == (len(whole), hashlib.sha256(whole).hexdigest())


@settings(max_examples=30, deadline=None)
@given(data=st.binary(max_size=200), alongside=st.booleans(), seekable=st.booleans())
def test_streams_are_hashed_as_they_are_read(data: bytes, alongside: bool, seekable: bool) -> None:
    source = _blobs.as_blob_source(io.BytesIO(data) if seekable else OneWayStream(data), "test")
    assert source is not None
    assert b"".join(source.chunks(hash_alongside=alongside)) == data
    assert (source.length, source.sha256) == (len(data), hashlib.sha256(data).hexdigest())


def test_hash_ahead_learns_an_in_memory_payloads_hash_without_a_consumer() -> None:
    source = in_memory_source(BYTES, "application/octet-stream", ".bin", [b"a" * 40, b"b"])
    source.hash_ahead()
    assert source.sha256 == hashlib.sha256(b"a" * 40 + b"b").hexdigest()


class BrokenDigest:
    def update(self, data: Any) -> None:
        raise MemoryError("the digest broke")


def test_a_failure_on_the_worker_thread_reaches_the_writer() -> None:
    handed = _blobs._hashed(iter([b"x" * 32]), BrokenDigest(), alongside=True)
    with pytest.raises(MemoryError, match="the digest broke"):
        list(handed)


def test_a_writer_that_gives_up_leaves_no_worker_behind() -> None:
    before = threading.active_count()
    digest = hashlib.sha256()
    handed = _blobs._hashed(iter([b"x" * 32, b"y" * 32]), digest, alongside=True)
    assert next(handed) == b"x" * 32
    handed.close()  # the writer failed: the piece handed over is still hashed, then the worker stops
    assert digest.digest() == hashlib.sha256(b"x" * 32).digest()
    assert threading.active_count() == before


@settings(max_examples=200, deadline=None)
@given(
    dtype=st.sampled_from(["<f4", ">f8", "<f2", "<i2", ">u4", "|u1", "|b1", "<i8"]),
    values=st.lists(st.floats(-1e4, 1e4) | st.sampled_from([np.nan, np.inf, -np.inf]), max_size=60),
    cuts=st.lists(st.integers(0, 2000), max_size=8),
    fortran=st.booleans(),
)
def test_a_value_range_is_the_same_however_the_npy_bytes_are_cut(
    dtype: str, values: list[float], cuts: list[int], fortran: bool
) -> None:
    with np.errstate(invalid="ignore", over="ignore"):
        array = np.array(values, dtype=np.float64).astype(dtype).reshape(-1, 1)
    if fortran:
        array = np.asfortranarray(np.hstack([array, array]))
    stream = io.BytesIO()
    np.save(stream, array)
    data = stream.getvalue()
    tracker = ValueRange()
    start = 0
    for cut in [*sorted({min(c, len(data)) for c in cuts}), len(data)]:
        tracker.feed(memoryview(data)[start:cut])
        start = cut
    finite = array[np.isfinite(array)] if array.dtype.kind == "f" else array.ravel()
    expected = (float(finite.min()), float(finite.max())) if finite.size else (None, None)
    assert (tracker.minimum, tracker.maximum) == expected
