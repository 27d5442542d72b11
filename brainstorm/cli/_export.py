"""`brainstorm result ... --save PATH`: one payload written to a file, streamed, never loaded whole.

The stored bytes are written as they are: arrays are already `.npy`, images already PNG (or TIFF for
pixel modes PNG cannot hold), files a parser handed over keep their own format. The one conversion:
an image stored in another format and saved to a `.png` path is re-encoded as PNG, losslessly or not
at all. A file name whose extension says another format than the payload's (a depth map's `.npy` to
`d.png`, a PNG to `x.jpg`) is refused before anything is written, naming the extension to use; a name
with no extension, or one no format claims, takes the bytes as they are. The file appears
only once complete (written beside it, then renamed), so an interrupted save leaves nothing half
written. PATH may be a directory (a name is made up) or `-` (standard output).
"""

from __future__ import annotations

import io
import mimetypes
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

import click
from PIL import Image

from brainstorm.database_drivers import BlobInfo, BlobReader, Result
from brainstorm.views import extension

CHUNK_SIZE = 1024 * 1024


@dataclass
class Exported:
    """Where a payload went and what it was."""

    key: str
    path: str  # "-" for standard output
    info: BlobInfo
    written: int
    converted_to: str | None = None  # the content type written, when not the stored one


def choose_key(result: Result, key: str | None) -> str:
    """The payload to save: `key`, else the only one, else `data`; a clear error otherwise."""
    payloads = sorted(result.blobs)
    if key is not None:
        if key not in payloads:
            raise click.ClickException(f"this result has no payload {key!r}; its payloads: {_listed(payloads)}")
        return key
    if len(payloads) == 1:
        return payloads[0]
    if "data" in payloads:
        return "data"
    if not payloads:
        raise click.ClickException("this result holds no payload to save (it is fields only)")
    raise click.ClickException(f"this result holds several payloads; choose one with --key: {_listed(payloads)}")


def export(result: Result, key: str, target: str, default_name: str) -> Exported:
    """Write the payload at `key` to `target` (a file, a directory, or '-')."""
    info = result.blobs[key]
    if target == "-":
        with result.open(key) as reader:
            written = _copy(reader, sys.stdout.buffer)
        sys.stdout.buffer.flush()
        return Exported(key, "-", info, written)
    path = Path(target)
    if path.is_dir():
        path = path / (default_name + extension(info))
    convert = _conversion(path, info)
    part = path.with_name(f".{path.name}.{os.getpid()}.part")
    try:
        descriptor = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)  # the umask applies, as for any file
        with os.fdopen(descriptor, "wb") as out, result.open(key) as reader:
            written = _to_png(reader, out, info) if convert else _copy(reader, out)
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return Exported(key, str(path), info, written, "image/png" if convert else None)


def _conversion(path: Path, info: BlobInfo) -> bool:
    """Whether writing the payload to `path` converts it to PNG; a ClickException when the name's
    extension claims a format the payload is not (and cannot be losslessly converted to)."""
    claimed = _claimed_type(path.suffix)
    stored = info["content_type"]
    if claimed is None or claimed == stored or (claimed == "application/octet-stream" and info["kind"] == "bytes"):
        return False
    if claimed == "image/png" and stored.startswith("image/"):
        return True
    what = "a .npy array" if info["kind"] == "ndarray" else stored
    raise click.ClickException(
        f"{path.name} says {claimed}, but this payload is {what}: save it to a {extension(info)} path"
        + (" (or to a .png path, to convert the image)" if stored.startswith("image/") else "")
        + ("; the viewer and the API's ?as=png draw it as a picture" if info["kind"] == "ndarray" else "")
    )


def _claimed_type(suffix: str) -> str | None:
    """The content type a file name's extension says (None when it says none)."""
    if not suffix:
        return None
    if suffix.lower() == ".npy":
        return "application/x-npy"
    return mimetypes.guess_type(f"x{suffix.lower()}", strict=False)[0]


def _copy(reader: BinaryIO | BlobReader, out: IO[bytes]) -> int:
    written = 0
    while chunk := reader.read(CHUNK_SIZE):
        out.write(chunk)
        written += len(chunk)
    return written


def _to_png(reader: BlobReader, out: IO[bytes], info: BlobInfo) -> int:
    """Re-encode a stored image as PNG (images are modest in size: this one is decoded in memory)."""
    with Image.open(cast(IO[bytes], reader)) as image:  # a BufferedIOBase, which typing.IO does not cover
        if image.mode not in {"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"}:
            raise click.ClickException(
                f"this {info['content_type']} image (mode {image.mode}) cannot be saved as PNG without loss; "
                f"save it to a {extension(info)} path instead"
            )
        encoded = io.BytesIO()
        image.save(encoded, format="PNG")
    out.write(encoded.getbuffer())
    return encoded.tell()


def _listed(names: list[str]) -> str:
    return ", ".join(names) or "none"
