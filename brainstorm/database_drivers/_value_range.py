"""The smallest and largest finite value of a stored array, learnt as its `.npy` bytes are written.

Kept in the payload's description (`BlobInfo['minimum']`, `['maximum']`) so that a reader can put
many arrays on one scale (a user's depth maps, stepped through with one colour per depth) from their
descriptions alone, without reading any of them. Learnt in the pass that hashes the bytes, so it
costs no extra read; complex arrays have no order and get no range.
"""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from numpy.lib import format as npy

_ORDERED_KINDS = frozenset("biuf")


class ValueRange:
    """Fed the bytes of a `.npy` in order (header first), piece by piece of any size."""

    def __init__(self) -> None:
        self._header = bytearray()
        self._dtype: np.dtype[Any] | None = None
        self._ordered = True
        self._carry = b""  # the start of an item split across two pieces
        self.minimum: float | None = None
        self.maximum: float | None = None

    def feed(self, piece: bytes | memoryview) -> None:
        if not self._ordered:
            return
        data = memoryview(piece).cast("B")
        if self._dtype is None:
            data = self._read_header(data)
            if self._dtype is None or not self._ordered:
                return
        self._take(data)

    def _read_header(self, data: memoryview) -> memoryview:
        """Collect the header until it is whole; the rest of `data` is array data."""
        self._header += data
        if len(self._header) < 10:  # magic (6), version (2), header length (2 for version 1)
            return memoryview(b"")
        major = self._header[6]
        length_size = 2 if major == 1 else 4
        start = 8 + length_size
        if len(self._header) < start:
            return memoryview(b"")
        end = start + int.from_bytes(self._header[8:start], "little")
        if len(self._header) < end:
            return memoryview(b"")
        stream = io.BytesIO(bytes(self._header[:end]))
        npy.read_magic(stream)
        read_header = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
        _, _, dtype = read_header(stream)
        self._dtype = dtype
        self._ordered = dtype.kind in _ORDERED_KINDS and dtype.fields is None
        rest = memoryview(bytes(self._header[end:]))
        self._header = bytearray()
        return rest

    def _take(self, data: memoryview) -> None:
        assert self._dtype is not None
        size = self._dtype.itemsize
        if self._carry:
            needed = size - len(self._carry)
            self._carry += bytes(data[:needed])
            data = data[needed:]
            if len(self._carry) < size:
                return
            self._extend(np.frombuffer(self._carry, dtype=self._dtype))
            self._carry = b""
        whole = len(data) - len(data) % size
        if whole:
            self._extend(np.frombuffer(data[:whole], dtype=self._dtype))
        self._carry = bytes(data[whole:])

    def _extend(self, values: np.ndarray) -> None:
        if values.dtype.kind == "f":
            values = values[np.isfinite(values)]
        if values.size == 0:
            return
        low, high = float(values.min()), float(values.max())
        self.minimum = low if self.minimum is None else min(self.minimum, low)
        self.maximum = high if self.maximum is None else max(self.maximum, high)
