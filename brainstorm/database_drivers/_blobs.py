"""The blob codec: binary payloads to the bytes a blob store keeps, and back.

A payload is `bytes`, `bytearray`, `memoryview`, a `numpy.ndarray` (kept as `.npy`), a
`PIL.Image.Image` (kept as PNG, or TIFF for modes PNG cannot hold exactly; an image neither keeps
exactly is refused) or a readable binary file object (streamed, never read whole). Every driver
stores the same bytes with the same description (`BlobInfo`), so any tool of the underlying store
can read them.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import mimetypes
import os
import re
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager as ContextManager
from dataclasses import dataclass, field
from typing import IO, Any, TypedDict, cast

import numpy as np
from numpy.lib import format as npy
from PIL import Image

from ._errors import BlobCorrupt, BlobMissing, BrainstormError, InvalidInput, InvalidType
from ._value_range import ValueRange

DEFAULT_INLINE_LIMIT = 64 * 1024
"""Payloads of at most this many bytes are kept inside the result's record instead of the blob store."""

STREAM_CHUNK_SIZE = 1024 * 1024
"""How much of a file object is read at a time: memory stays bounded whatever the file's size."""

BYTES, ARRAY, IMAGE = "bytes", "ndarray", "image"
NPY_CONTENT_TYPE = "application/x-npy"
_PNG = ("PNG", "image/png", ".png")
_TIFF = ("TIFF", "image/tiff", ".tiff")
_IMAGE_FORMATS = {
    **dict.fromkeys(("1", "L", "LA", "P", "RGB", "RGBA", "I;16"), _PNG),
    **dict.fromkeys(("PA", "CMYK", "YCbCr", "LAB", "I", "F", "I;16B"), _TIFF),  # PNG cannot write these
}
"""The image modes that come back with the same mode and pixels, and the lossless format each is kept in.
P is PNG: TIFF pads a palette to 256 colours and drops `info['transparency']`, PNG keeps both."""
_SIMPLE_ALPHA = re.compile(rb"\xff*\x00\xff*")
"""Palette alpha that Pillow reads back from PNG as the index of its one transparent colour."""
_PILLOW_ERRORS = (OSError, ValueError, TypeError, SystemError, EOFError)
"""What Pillow raises when it cannot save an image (and a lazily loaded image whose file is gone)."""
_CONTENT_TYPE = re.compile(r"[!-~]+/[ -~]+")
_MAX_CONTENT_TYPE = 255
_ARRAY_KINDS = frozenset("biufc")  # bool, signed, unsigned, float, complex


class BlobInfo(TypedDict, total=False):
    """How a stored result describes one of its blobs; it is kept beside the result's fields."""

    path: list[str | int]  # where the payload sits in the result
    kind: str  # BYTES, ARRAY or IMAGE: what kind of value reading it gives back
    content_type: str
    length: int
    sha256: str  # of the stored bytes
    ref: Any  # the blob store's id for it (absent when inline)
    inline: bytes  # the stored bytes themselves (absent when in the blob store)
    minimum: float  # of an array: its smallest and largest finite value (absent when it has none)
    maximum: float


@dataclass
class BlobSource:
    """A payload ready to be written: what it is, and its stored bytes as a sequence of pieces.

    `length` is known up front for in-memory payloads and seekable streams. The sha256 is computed
    as `chunks()` hands the bytes over (or by `hash_ahead()`, an extra pass worth making only when
    the bytes may already be stored). With `expected_sha256` (a `Blob` that says it), bytes that hash
    otherwise raise `BlobCorrupt` once read, before the store's upload completes, so no result is
    published with them.
    """

    kind: str
    content_type: str
    extension: str
    pieces: list[bytes | memoryview] = field(default_factory=list)
    stream: IO[bytes] | None = None
    length: int | None = None
    sha256: str | None = None
    expected_sha256: str | None = None
    where: str = ""  # the payload's place, for the error when it is not what was expected
    value_range: ValueRange | None = None  # of an array, learnt with the hash

    def chunks(self, *, hash_alongside: bool = False) -> Iterator[bytes | memoryview]:
        """Yield the stored bytes in order, learning their hash and length on the way; a stream comes
        in pieces of bounded size, and is rewound afterwards when it can be, so it can be read again.

        `hash_alongside`: hash big pieces on a worker thread while the caller writes them, for a
        caller whose writing releases the GIL (a file write); see `_hashed`.
        """
        start = self.stream.tell() if self.stream is not None and _is_seekable(self.stream) else None
        if self.sha256 is not None:
            yield from self._pieces()
        else:
            digest, length = hashlib.sha256(), 0
            value_range = ValueRange() if self.kind == ARRAY else None
            for piece in _hashed(self._pieces(), digest, alongside=hash_alongside):
                length += len(piece)
                if value_range is not None:
                    value_range.feed(piece)
                yield piece
            self.value_range = value_range
            found = digest.hexdigest()
            if self.expected_sha256 not in (None, found):
                raise BlobCorrupt(f"{self.where}: the bytes hash to sha256 {found}, expected {self.expected_sha256}")
            self.sha256, self.length = found, length
        if start is not None:
            assert self.stream is not None
            self.stream.seek(start)

    def _pieces(self) -> Iterator[bytes | memoryview]:
        if self.stream is None:
            yield from self.pieces
            return
        while chunk := self.stream.read(STREAM_CHUNK_SIZE):
            yield chunk

    def hash_ahead(self) -> None:
        """Learn the hash before writing (one extra read of a stream); no-op for a one-pass stream."""
        if self.sha256 is None and (self.stream is None or _is_seekable(self.stream)):
            for _ in self.chunks():
                pass

    def read_all(self) -> bytes:
        """The stored bytes in one piece (used for small payloads kept inline)."""
        return b"".join(self.chunks())

    def describe(self, path: list[str | int]) -> BlobInfo:
        """The description kept in the result, before the store adds `ref` or `inline`."""
        assert self.length is not None and self.sha256 is not None, "describe() before the bytes were read"
        info = BlobInfo(
            path=path, kind=self.kind, content_type=self.content_type, length=self.length, sha256=self.sha256
        )
        if self.value_range is not None and self.value_range.minimum is not None:
            assert self.value_range.maximum is not None
            info["minimum"], info["maximum"] = self.value_range.minimum, self.value_range.maximum
        return info


@dataclass(frozen=True)
class Blob:
    """A file-like payload with its content type said explicitly (the other kinds describe themselves).

    `Blob.from_path(path)` is how a saver hands over a file a parser wrote: its content type comes
    from the extension, and a `.npy` file is stored (and read back) as an array. The file is streamed,
    never read whole.

    `kind` stores the bytes as that kind without decoding them (an encoded PNG or TIFF as an `image`;
    by default `.npy` bytes are an array and others bytes), and `sha256`, when given, is checked as the
    bytes are written: a mismatch raises `BlobCorrupt` and the result is not saved. `Blob.of(reader)`
    sets all three from a stored payload, which is how a copy writes one elsewhere as it is stored.
    """

    stream: IO[bytes]
    content_type: str = "application/octet-stream"
    kind: str | None = None
    sha256: str | None = None

    @classmethod
    def of(cls, reader: BlobReader) -> Blob:
        """A stored payload (`result.open(key)`) to save elsewhere as it is: same kind, content type and
        bytes, streamed, and checked against its sha256 as it is written."""
        return cls(cast(IO[bytes], reader), reader.content_type, reader.kind, reader.sha256)

    @classmethod
    def from_path(cls, path: str | os.PathLike[str]) -> Blob:
        """Open the file at `path`; OSError (FileNotFoundError, PermissionError...) if it cannot be read."""
        return cls(open(path, "rb"), cls.content_type_for(path))

    @staticmethod
    def content_type_for(path: str | os.PathLike[str]) -> str:
        """The content type a file is stored with: from its extension; a `.npy` file is an array."""
        if os.fspath(path).endswith(".npy"):
            return NPY_CONTENT_TYPE
        return mimetypes.guess_type(os.fspath(path))[0] or "application/octet-stream"

    def close(self) -> None:
        self.stream.close()


def as_blob_source(value: Any, where: str) -> BlobSource | None:
    """The payload `value` is, or None when it is not a binary payload at all."""
    if isinstance(value, Blob):
        _check_content_type(value.content_type, where)
        source = _stream_source(value.stream, where, value.content_type, value.kind)
        source.expected_sha256, source.where = _check_sha256(value.sha256, where), where
        return source
    if isinstance(value, bytes | bytearray | memoryview):
        return in_memory_source(BYTES, "application/octet-stream", ".bin", [_as_bytes_view(value)])
    if isinstance(value, np.ndarray):
        return _array_source(value, where)
    if isinstance(value, Image.Image):
        return _image_source(value, where)
    if callable(getattr(value, "read", None)):
        return _stream_source(value, where)
    return None


def _check_content_type(content_type: object, where: str) -> None:
    """A Blob's content type: `type/subtype` (parameters allowed) in printable ASCII, at most 255
    characters, so that every store keeps it as it is and any tool can read it."""
    if not isinstance(content_type, str):
        raise InvalidType(f"{where}: a Blob's content type must be a string, not {type(content_type).__name__}")
    if len(content_type) > _MAX_CONTENT_TYPE or not _CONTENT_TYPE.fullmatch(content_type):
        raise InvalidInput(
            f"{where}: content type {content_type!r:.80} must be type/subtype in printable ASCII, "
            f"at most {_MAX_CONTENT_TYPE} characters"
        )


_SHA256 = re.compile(r"[0-9a-f]{64}")


def _check_sha256(sha256: object, where: str) -> str | None:
    """A Blob's expected sha256: None, or 64 lowercase hexadecimal digits (as `BlobInfo` gives it)."""
    if sha256 is None or (isinstance(sha256, str) and _SHA256.fullmatch(sha256)):
        return sha256
    raise InvalidInput(f"{where}: a Blob's sha256 must be 64 lowercase hexadecimal digits, not {sha256!r:.80}")


def _stream_kind(kind: object, content_type: str, where: str) -> str:
    """What a stream is stored as: an array when its content type is .npy's, else bytes, unless the Blob
    says `image` (with an image/* content type): the kinds a reader decodes the bytes as."""
    inferred = ARRAY if content_type == NPY_CONTENT_TYPE else BYTES
    if kind is None or kind == inferred:
        return inferred
    if kind == IMAGE and content_type.startswith("image/"):
        return IMAGE
    raise InvalidInput(
        f"{where}: a Blob of kind {kind!r:.40} cannot have content type {content_type!r}: "
        f"{ARRAY!r} goes with {NPY_CONTENT_TYPE}, {IMAGE!r} with image/*, {BYTES!r} with any other"
    )


def _as_bytes_view(value: bytes | bytearray | memoryview) -> bytes | memoryview:
    if isinstance(value, memoryview) and not value.contiguous:
        return value.tobytes()
    return memoryview(value).cast("B")


def in_memory_source(kind: str, content_type: str, extension: str, pieces: list[bytes | memoryview]) -> BlobSource:
    """A payload already in memory (its hash is learnt when it is written, or by `hash_ahead()`)."""
    return BlobSource(kind, content_type, extension, pieces=pieces, length=sum(len(piece) for piece in pieces))


PARALLEL_DIGEST_MIN = 1024 * 1024
"""With `hash_alongside`, pieces of at least this many bytes are hashed on a worker thread."""


def _hashed(pieces: Iterator[bytes | memoryview], digest: Any, *, alongside: bool) -> Iterator[bytes | memoryview]:
    """Yield `pieces`, each hashed into `digest`; `alongside`, big ones while the consumer writes them.

    hashlib releases the GIL on large buffers, and so does a file write: a big payload then costs
    the slower of hashing and writing, not their sum. The handover costs some CPU (a thread, a wake-up
    per piece), so small pieces, and consumers that hold the GIL while they work (BSON encoding),
    hash in place.
    """
    worker: ThreadPoolExecutor | None = None
    try:
        for piece in pieces:
            if not alongside or len(piece) < PARALLEL_DIGEST_MIN:
                digest.update(piece)
                yield piece
                continue
            worker = worker or ThreadPoolExecutor(max_workers=1, thread_name_prefix="brainstorm-sha256")
            hashing = worker.submit(digest.update, piece)
            try:
                yield piece
            finally:
                hashing.result()
    finally:
        if worker is not None:
            worker.shutdown()


def _array_source(array: np.ndarray, where: str) -> BlobSource:
    if type(array) is not np.ndarray and not isinstance(array, np.memmap):  # a memmap is a plain array on disk
        raise InvalidType(_array_subclass_problem(array, where))
    if array.dtype.kind not in _ARRAY_KINDS or array.dtype.fields is not None:
        raise InvalidType(f"{where}: arrays of dtype {array.dtype} are not stored; use a numeric or bool dtype")
    if not (array.flags.c_contiguous or array.flags.f_contiguous):
        array = np.ascontiguousarray(array)
    header = io.BytesIO()
    npy.write_array_header_1_0(header, npy.header_data_from_array_1_0(array))
    data = array.T if array.flags.f_contiguous and not array.flags.c_contiguous else array
    raw = memoryview(data.reshape(-1).view(np.uint8)) if data.size else memoryview(b"")  # type: ignore[arg-type]
    return in_memory_source(ARRAY, NPY_CONTENT_TYPE, ".npy", [header.getvalue(), raw])


def _array_subclass_problem(array: np.ndarray, where: str) -> str:
    """Why an ndarray subclass is refused: a .npy holds a plain array, so what the subclass adds
    (a mask, matrix semantics, units) would not come back."""
    if isinstance(array, np.ma.MaskedArray):
        return (
            f"{where}: masked arrays are not stored (.npy has no mask); store array.filled(fill_value), "
            "or the data and numpy.ma.getmaskarray(array) as two arrays"
        )
    return (
        f"{where}: {type(array).__module__}.{type(array).__name__} would come back as a plain numpy.ndarray; "
        "store numpy.asarray(value)"
    )


def _image_source(image: Image.Image, where: str) -> BlobSource:
    fmt, content_type, extension = _image_format(image, where)
    encoded = io.BytesIO()
    try:
        image.save(encoded, format=fmt, **({"compress_level": 1} if fmt == "PNG" else {}))
    except _PILLOW_ERRORS as exc:
        raise InvalidInput(f"{where}: the image cannot be encoded as {fmt} ({exc})") from None
    return in_memory_source(IMAGE, content_type, extension, [encoded.getbuffer()])


def _image_format(image: Image.Image, where: str) -> tuple[str, str, str]:
    """(format, content type, extension) that keep `image` exactly; refuse an image none keeps."""
    if image.mode not in _IMAGE_FORMATS:
        raise InvalidType(
            f"{where}: images of mode {image.mode} cannot be stored losslessly; "
            f"convert to one of {', '.join(sorted(_IMAGE_FORMATS))}"
        )
    if 0 in image.size:
        raise InvalidInput(
            f"{where}: the image is {image.size[0]}x{image.size[1]}; an image without pixels is not stored"
        )
    if problem := _palette_problem(image) or _transparency_problem(image):
        raise InvalidInput(f"{where}: {problem}")
    return _IMAGE_FORMATS[image.mode]


def _palette_colours(image: Image.Image) -> int:
    """How many colours a P or PA image's palette holds."""
    return min(len(image.getpalette() or []) // 3, 256)


def _palette_problem(image: Image.Image) -> str | None:
    """Why a palette image would not come back the same: PNG (P) keeps an RGB palette of any size
    and the pixels that index it; TIFF (PA) pads a palette to 256 colours and drops its alpha."""
    if image.mode not in ("P", "PA"):
        return None
    colours = _palette_colours(image)
    if not colours:
        return f"the {image.mode} image has no palette; give it one (putpalette), or convert it to RGB or RGBA"
    if (palette_mode := image.palette.mode if image.palette else None) != "RGB":
        return (
            f"the {image.mode} image's palette is {palette_mode}, and only RGB palettes come back as they are; "
            "convert the image to RGBA (or, for P, give the palette's alpha as info['transparency'])"
        )
    if image.mode == "PA" and colours != 256:
        return f"a PA image keeps its palette only with all 256 colours (it has {colours}); convert it to RGBA"
    highest = image.getextrema()[1] if image.mode == "P" else 0
    if isinstance(highest, int) and highest >= colours:
        return f"pixel value {highest} is beyond the image's {colours}-colour palette"
    return None


def _transparency_problem(image: Image.Image) -> str | None:
    """Why `info['transparency']` would not come back as it is, or None (also when there is none)."""
    transparency = image.info.get("transparency")
    if transparency is None:
        return None
    if image.mode == "P":
        return _palette_alpha_problem(transparency, _palette_colours(image))
    if image.mode not in _PNG_TRANSPARENCY:
        instead = ": its alpha band says it" if image.mode in ("LA", "RGBA", "PA") else ", or convert the image to RGBA"
        return f"info['transparency'] is lost in mode {image.mode} images; remove it{instead}"
    expected, kept = _PNG_TRANSPARENCY[image.mode]
    if not kept(transparency):
        return f"info['transparency'] of a mode {image.mode} image must be {expected}, not {transparency!r:.60}"
    return None


def _palette_alpha_problem(transparency: object, colours: int) -> str | None:
    """A P image's transparency comes back from PNG as it is if it is the index of a colour, or
    alpha bytes for at most every colour that Pillow does not read back as such an index."""
    if isinstance(transparency, int) and not isinstance(transparency, bool):
        if 0 <= transparency < colours:
            return None
        return f"info['transparency'] {transparency} is not a colour of the image's {colours}-colour palette"
    if not isinstance(transparency, bytes):
        return f"info['transparency'] of a P image must be an int or bytes, not {type(transparency).__name__}"
    if len(transparency) > colours:
        return f"info['transparency'] has {len(transparency)} alpha values for a {colours}-colour palette"
    if _SIMPLE_ALPHA.fullmatch(transparency):
        index = transparency.index(0)
        return f"info['transparency'] makes one colour transparent: give it as that colour's index, {index}"
    return None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_16_bit(value: object) -> bool:
    return _is_int(value) and 0 <= value <= 65535  # type: ignore[operator]


_PNG_TRANSPARENCY: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "1": ("0 or 255", lambda t: _is_int(t) and t in (0, 255)),
    "L": ("an int from 0 to 65535", _is_16_bit),
    "I;16": ("an int from 0 to 65535", _is_16_bit),
    "RGB": (
        "a tuple of 3 ints from 0 to 65535",
        lambda t: isinstance(t, tuple) and len(t) == 3 and all(map(_is_16_bit, t)),
    ),
}
"""The modes (P apart) whose `info['transparency']` PNG keeps, and the values it gives back as they were."""


def _stream_source(
    stream: Any, where: str, content_type: str = "application/octet-stream", kind: str | None = None
) -> BlobSource:
    if _is_closed(stream):
        raise InvalidInput(f"{where}: the file object is closed")
    if isinstance(stream, io.TextIOBase) or (callable(getattr(stream, "readable", None)) and not stream.readable()):
        raise InvalidType(f"{where}: file objects must be readable and opened in binary mode")
    kind = _stream_kind(kind, content_type, where)
    if kind == ARRAY:
        _check_npy_header(stream, where)
        source = BlobSource(ARRAY, content_type, ".npy", stream=stream)
    else:
        extension = mimetypes.guess_extension(content_type) or ".bin"
        source = BlobSource(kind, content_type, extension, stream=stream)
    if _is_seekable(stream):  # the length decides inline or not; the hash waits for the write
        source.length = _remaining(stream)
    return source


def _is_closed(stream: Any) -> bool:
    """Whether a file object says it is closed (reading it would raise ValueError)."""
    try:
        return getattr(stream, "closed", False) is True
    except (ValueError, OSError):
        return True


def _remaining(stream: Any) -> int | None:
    """How many bytes a seekable stream holds after its position, or None when it cannot seek to its
    end (a gzip file): then the length is learnt as it is read, like an unseekable stream's."""
    start: int = stream.tell()
    try:
        return int(stream.seek(0, io.SEEK_END)) - start
    except (OSError, ValueError):
        return None
    finally:
        stream.seek(start)


def _check_npy_header(stream: Any, where: str) -> None:
    """Refuse a stream that claims to be an array but is not a .npy of a stored dtype."""
    start = stream.tell() if _is_seekable(stream) else None
    try:
        read_header = npy.read_array_header_1_0 if npy.read_magic(stream) == (1, 0) else npy.read_array_header_2_0
        _, _, dtype = read_header(stream)
    except (ValueError, OSError) as exc:
        raise InvalidInput(f"{where}: not a valid .npy file ({exc})") from None
    if dtype.kind not in _ARRAY_KINDS or dtype.fields is not None:
        raise InvalidType(f"{where}: arrays of dtype {dtype} are not stored; use a numeric or bool dtype")
    if start is None:
        raise InvalidInput(f"{where}: a .npy payload must be seekable")
    stream.seek(start)


def _is_seekable(stream: Any) -> bool:
    try:
        return bool(stream.seekable())
    except (AttributeError, ValueError, OSError):
        return False


class BlobReader(io.BufferedIOBase):
    """A read-only, seekable binary stream over one stored blob, with what is known about it.

    Every read is checked against the description: a store that holds another length raises
    `BlobCorrupt` on opening, bytes that end early raise it when reached, and bytes read in order
    from the start are hashed, so reading through to the end verifies the sha256 (a mismatch
    raises `BlobCorrupt` instead of handing over the last bytes). It never holds more of the blob
    than the store's chunk and the caller's read size.
    """

    def __init__(
        self, raw: IO[bytes], info: BlobInfo, where: str = "", guard: Callable[[], ContextManager[None]] | None = None
    ) -> None:
        super().__init__()
        self._raw = raw
        self._guard = guard or contextlib.nullcontext  # turns the store's own errors into the package's
        self.info = info
        self._where = payload_place(where, info)
        self._position = 0
        self._digest: Any = hashlib.sha256()  # of the bytes read in order from the start
        self._hashed = 0  # how many bytes the digest covers: [0, _hashed)
        stored = _stored_size(raw)
        if stored is not None and stored != self.length:
            raw.close()
            raise self._corrupt(f"the store holds {stored} bytes, the description says {self.length}")

    @property
    def length(self) -> int:
        return self.info["length"]

    @property
    def kind(self) -> str:
        """What reading the payload as a value gives: "bytes", "ndarray" or "image"."""
        return self.info["kind"]

    @property
    def content_type(self) -> str:
        return self.info["content_type"]

    @property
    def sha256(self) -> str:
        return self.info["sha256"]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        """The next `size` bytes (all that are left if negative; fewer only at the end of the blob)."""
        self._check_open()
        left = max(self.length - self._position, 0)
        wanted = left if size is None or size < 0 else min(size, left)
        pieces, got = [], 0
        while got < wanted:
            piece = self._raw_call(self._raw.read, wanted - got)
            if not piece:
                raise self._corrupt(f"the stored bytes end after {self._position + got} of {self.length}")
            pieces.append(piece)
            got += len(piece)
        data = b"".join(pieces)  # one piece (a file, a whole GridFS read) is returned as it is
        self._account(memoryview(data))
        return data

    def read1(self, size: int = -1) -> bytes:
        return self.read(size)

    def readinto(self, buffer: Any) -> int:
        """Fill `buffer` with the next bytes (fewer only at the end of the blob)."""
        self._check_open()
        view = memoryview(buffer).cast("B")[: max(self.length - self._position, 0)]
        filled = 0
        while filled < len(view):
            got: int = self._raw_call(self._raw.readinto, view[filled:])  # type: ignore[attr-defined]
            if not got:
                raise self._corrupt(f"the stored bytes end after {self._position + filled} of {self.length}")
            filled += got
        self._account(view[:filled])
        return filled

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        self._position = self._raw_call(self._raw.seek, offset, whence)
        return self._position

    def tell(self) -> int:
        self._check_open()
        return self._position

    def close(self) -> None:
        if not self.closed:
            self._raw_call(self._raw.close)
        super().close()

    def _raw_call(self, method: Any, *arguments: Any) -> Any:
        """Call the store's stream; its errors are named and translated only when they happen (context
        managers on every read cost more than a small read)."""
        try:
            return method(*arguments)
        except Exception:
            with located(self._where), self._guard():  # the store's own checks say which payload
                raise

    def _account(self, data: memoryview) -> None:
        """Hash bytes read in order from the start; at the end, compare with the stored sha256. A read
        from the start again (after a peek at a header, say) hashes again."""
        if self._position == 0 and self._hashed:
            self._digest, self._hashed = hashlib.sha256(), 0
        if self._hashed == self._position and self._digest is not None:
            self._digest.update(data)
            self._hashed += len(data)
        self._position += len(data)
        if self._hashed == self.length and self._digest is not None:
            digest, self._digest = self._digest.hexdigest(), None  # checked once
            if digest != self.sha256:
                raise self._corrupt(f"the stored bytes hash to sha256 {digest}, the description says {self.sha256}")

    def _corrupt(self, problem: str) -> BlobCorrupt:
        return BlobCorrupt(f"{self._where}: {problem}")

    def _check_open(self) -> None:
        if self.closed:
            raise ValueError("I/O operation on closed blob stream")

    def __repr__(self) -> str:
        return f"<BlobReader {self.content_type} length={self.length} sha256={self.sha256[:12]}...>"


def payload_place(where: str, info: BlobInfo) -> str:
    """`user 1, snapshot 2, result 'color_image', payload 'data'`: where a payload is, for messages."""
    return f"{where}, payload {'.'.join(map(str, info['path']))!r}".lstrip(", ")


@contextlib.contextmanager
def located(place: str) -> Iterator[None]:
    """Prefix a store's BlobMissing or BlobCorrupt with the payload's place."""
    try:
        yield
    except (BlobMissing, BlobCorrupt) as exc:
        raise type(exc)(f"{place}: {exc}") from None


def _stored_size(raw: IO[bytes]) -> int | None:
    """How many bytes the store holds behind `raw`, where it can say without reading them."""
    if isinstance(raw, io.BytesIO):
        return raw.getbuffer().nbytes
    if isinstance(size := getattr(raw, "length", None), int):
        return size
    try:
        return os.fstat(raw.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def decode(reader: BlobReader) -> Any:
    """Read a whole blob back as the kind of value that was saved; BlobCorrupt if it does not decode."""
    kind = reader.info["kind"]
    try:
        if kind == ARRAY:
            return _read_array(reader)
        if kind == IMAGE:
            image = Image.open(io.BytesIO(reader.read()))
            image.load()
            return image
    except BrainstormError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError) as exc:  # what numpy and Pillow raise for bad bytes
        what = "an array" if kind == ARRAY else "an image"
        raise reader._corrupt(f"the stored bytes do not decode as {what} ({exc})") from None
    return reader.read()


def _read_array(reader: BlobReader) -> np.ndarray:
    read_header = npy.read_array_header_1_0 if npy.read_magic(reader) == (1, 0) else npy.read_array_header_2_0
    shape, fortran_order, dtype = read_header(reader)
    array = np.empty(shape, dtype=dtype, order="F" if fortran_order else "C")
    view = memoryview(array.reshape(-1, order="A").view(np.uint8)) if array.size else memoryview(b"")  # type: ignore[arg-type]
    if reader.readinto(view) < len(view) or reader.tell() != reader.length:  # fills it whole, or raises
        raise reader._corrupt(f"the array's {len(view)} bytes do not end the stored {reader.length}")
    return array


def check_inline_limit(limit: int) -> int:
    """The inline limit a driver was given: a non-negative int."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise InvalidInput(f"inline_limit must be a non-negative integer, not {limit!r}")
    return limit
