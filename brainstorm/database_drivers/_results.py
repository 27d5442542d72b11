"""Results on their way in (`PendingResult`, `store_result`) and on their way out (`Result`).

A stored result is its validated fields with None where each payload sat, and one `BlobInfo` per
payload saying where its bytes are. Both drivers keep exactly this; only where they keep it differs.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import IO, Any

from ._blobs import BlobInfo, BlobReader, BlobSource, as_blob_source, decode, located, payload_place
from ._errors import InvalidInput, InvalidType
from ._values import KeyPath, check_datetime, check_result_name, check_user_id, describe, normalize_tree
from .storage import StoredResult


@dataclass
class PendingResult:
    """A validated result whose payloads have not been written yet."""

    name: str
    value: dict[str, Any]
    blobs: list[tuple[KeyPath, BlobSource]]


def encode_result(name: object, value: object) -> PendingResult:
    """Validate one result and find its payloads; raises before anything is written."""
    name = check_result_name(name)
    where = f"result {name!r}"
    if not isinstance(value, Mapping):
        raise InvalidType(f"{where} must be a dict, not {type(value).__name__}")
    blobs: list[tuple[KeyPath, BlobSource]] = []

    def take_blob(item: Any, path: KeyPath) -> bool:
        source = as_blob_source(item, f"{where} at {describe(path)}")
        if source is not None:
            blobs.append((path, source))
        return source is not None

    return PendingResult(name, normalize_tree(value, where, take_blob), blobs)


def encode_snapshot(snapshot: object) -> tuple[int, dt.datetime, list[PendingResult]]:
    """Split a snapshot into its user id, its datetime and its validated results."""
    if not isinstance(snapshot, Mapping):
        raise InvalidType(f"snapshot must be a mapping, not {type(snapshot).__name__}")
    for required in ("user_id", "datetime"):
        if required not in snapshot:
            raise InvalidInput(f"snapshot is missing the required field {required}")
    user_id, when = check_user_id(snapshot["user_id"]), check_datetime(snapshot["datetime"])  # cheap checks first
    results = [encode_result(name, value) for name, value in snapshot.items() if name not in ("user_id", "datetime")]
    return user_id, when, results


Upload = Callable[[BlobSource, KeyPath], Any]
"""Writes one payload to a driver's blob store and returns the store's id for it."""


def store_result(
    pending: PendingResult, previous: StoredResult | None, inline_limit: int, upload: Upload
) -> tuple[StoredResult, list[Any]]:
    """Write a result's payloads and return its stored form, plus ids of uploads that proved redundant.

    Small payloads stay inline. A payload whose bytes equal those already stored at the same place
    in the previous version of the result is not uploaded again (a seekable stream of the same
    length is hashed first to find out); a one-pass stream can only be compared after it was
    uploaded, so that upload is returned for the caller to delete.
    """
    before = {tuple(info["path"]): info for info in previous["blobs"]} if previous else {}
    infos, redundant = [], []
    for path, source in pending.blobs:
        prior = before.get(path)
        if prior is not None and "ref" in prior and prior["length"] == source.length:
            source.hash_ahead()  # the same bytes may be stored already: worth a read to avoid a write
        if source.length is not None and source.length <= inline_limit:
            data = source.read_all()  # first: a stream learns its hash as it is read
            info = source.describe(list(path))
            info["inline"] = data
        elif prior is not None and "ref" in prior and _same_bytes(prior, source):
            info = source.describe(list(path))
            info["ref"] = prior["ref"]
        else:
            ref = upload(source, path)
            info = source.describe(list(path))
            if prior is not None and "ref" in prior and _same_bytes(prior, source):
                redundant.append(ref)
                ref = prior["ref"]
            info["ref"] = ref
        infos.append(info)
    return StoredResult(value=pending.value, blobs=infos), redundant


def _same_bytes(prior: BlobInfo, source: BlobSource) -> bool:
    return prior["sha256"] == source.sha256 and prior["kind"] == source.kind and prior["length"] == source.length


Opener = Callable[[Any], IO[bytes]]
"""Opens a blob-store id as a readable, seekable binary stream."""


class Result(Mapping[str, Any]):
    """A stored result whose payloads are fetched only when their values are used.

    Reading a field that holds no payload costs nothing; the first read of a field that holds one
    (or contains one, deeper down) fetches and decodes it, and keeps the value. `open(key)` streams
    a payload without loading it; `blobs` describes every payload without fetching any.
    """

    def __init__(
        self,
        stored: StoredResult,
        open_ref: Opener,
        where: str = "",
        guard: Callable[[], AbstractContextManager[None]] | None = None,
    ) -> None:
        self._where = where  # which result this is, for error messages
        self._guard = guard  # turns the store's errors while streaming into the package's
        self._value = stored["value"]
        self._blobs = {tuple(info["path"]): info for info in stored["blobs"]}
        self._open_ref = open_ref
        self._loaded: dict[str, Any] = {}
        self._by_name: dict[str, KeyPath] | None = None  # payload places by dotted path, when first asked

    def __getitem__(self, key: str) -> Any:
        """The field's value, its payloads fetched (once) and put in their places.

        Linear in the field's size and payloads: their places come grouped by field, each is
        looked up by its path, and only the field's containers are copied.
        """
        if key in self._loaded:
            return self._loaded[key]
        value = self._value[key]
        inside = self._payloads_by_field.get(key)
        if not inside:
            return value
        if inside == [(key,)]:
            value = self._decode((key,))
        else:
            value = _copy_tree(value)
            for path in inside:
                _assign(value, path[1:], self._decode(path))
        self._loaded[key] = value
        return value

    @functools.cached_property
    def _payloads_by_field(self) -> dict[str | int, list[KeyPath]]:
        """The places of the payloads, grouped by the top-level field they are in (one pass for all)."""
        grouped: dict[str | int, list[KeyPath]] = {}
        for path in self._blobs:
            grouped.setdefault(path[0], []).append(path)
        return grouped

    def __iter__(self) -> Iterator[str]:
        return iter(self._value)

    def __len__(self) -> int:
        return len(self._value)

    @property
    def fields(self) -> dict[str, Any]:
        """The result's fields with None where each payload sits, nothing fetched (a copy, yours to change)."""
        result: dict[str, Any] = _copy_tree(self._value)
        return result

    @property
    def blobs(self) -> dict[str, BlobInfo]:
        """Each payload's description (kind, content type, length, sha256), by dotted path."""
        return {
            describe(path): BlobInfo(**{k: v for k, v in info.items() if k not in ("ref", "inline")})  # type: ignore[typeddict-item]
            for path, info in self._blobs.items()
        }

    def open(self, key: str | Sequence[str | int]) -> BlobReader:
        """A readable, seekable stream over the payload at `key` ('data', or 'frames.0.image')."""
        return self._reader(self._blobs[self._find(key)])

    def _decode(self, path: KeyPath) -> Any:
        """Fetch and decode the payload at `path`, found by its place (not by a search of every payload)."""
        with self._reader(self._blobs[path]) as reader:
            return decode(reader)

    def _reader(self, info: BlobInfo) -> BlobReader:
        """A stream over one described payload: its inline bytes, or its blob in the store."""
        if "inline" in info:
            return BlobReader(io.BytesIO(info["inline"]), info, self._where)
        with located(payload_place(self._where, info)):
            raw = self._open_ref(info["ref"])
        return BlobReader(raw, info, self._where, self._guard)

    def _find(self, key: str | Sequence[str | int]) -> KeyPath:
        """The place of the payload a user names by its dotted path (a dict built once: no search)."""
        wanted = key if isinstance(key, str) else describe(tuple(key))
        if self._by_name is None:
            self._by_name = {describe(path): path for path in self._blobs}
        if wanted not in self._by_name:
            raise KeyError(f"no payload at {wanted!r}; payloads: {sorted(self._by_name)}")
        return self._by_name[wanted]

    def __repr__(self) -> str:
        shown = dict(self._value)
        for path, info in self._blobs.items():
            if len(path) == 1:
                shown[str(path[0])] = _BlobPlaceholder(info)
        return f"Result({shown!r})"


class _BlobPlaceholder:
    def __init__(self, info: BlobInfo) -> None:
        self.info = info

    def __repr__(self) -> str:
        return f"<{self.info['kind']} blob, {self.info['length']} bytes>"


def _copy_tree(value: Any) -> Any:
    """A copy of a stored field's dicts and lists (their other values are immutable), to fill in payloads."""
    if isinstance(value, dict):
        return {key: _copy_tree(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy_tree(item) for item in value]
    return value


def _assign(tree: Any, path: KeyPath, value: Any) -> None:
    for step in path[:-1]:
        tree = tree[step]
    tree[path[-1]] = value
