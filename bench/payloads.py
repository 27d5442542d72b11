"""The payloads the workloads save: what the pipeline's parsers produce, at realistic sizes.

A colour image of 1080x1920x3 uint8 (a smooth synthetic scene with sensor noise, so PNG and JPEG
compress it as they would a photo), a 172x224 float32 depth map, a pose and feelings. Random bytes
for the payload-size sweep. Everything is seeded: every run saves the same bytes.
"""

from __future__ import annotations

import functools
import hashlib
import io
from pathlib import Path

import numpy as np
from numpy.lib import format as npy
from PIL import Image

COLOUR_SHAPE = (1080, 1920, 3)
DEPTH_SHAPE = (172, 224)
POSE = {
    "translation": {"x": 0.30446, "y": -0.366362, "z": -1.28138},
    "rotation": {"x": -1.416247, "y": 0.655691, "z": -0.608081, "w": -0.821774},
}
FEELINGS = {"hunger": -0.114267, "thirst": 0.825745, "exhaustion": 0.571985, "happiness": 0.654681}
MiB = 1024 * 1024


@functools.cache
def colour_image() -> np.ndarray:
    height, width, _ = COLOUR_SHAPE
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    scene = np.stack(
        [
            128 + 90 * np.sin(x / 170.0) * np.cos(y / 130.0),
            128 + 80 * np.cos((x + y) / 260.0),
            128 + 70 * np.sin(np.hypot(x - width / 2, y - height / 2) / 90.0),
        ],
        axis=-1,
    )
    noise = np.random.default_rng(1).normal(0, 6, COLOUR_SHAPE).astype(np.float32)
    return np.clip(scene + noise, 0, 255).astype(np.uint8)


@functools.cache
def depth_map() -> np.ndarray:
    y, x = np.mgrid[0 : DEPTH_SHAPE[0], 0 : DEPTH_SHAPE[1]].astype(np.float32)
    noise = np.random.default_rng(2).normal(0, 0.01, DEPTH_SHAPE).astype(np.float32)
    return (1.5 + 0.5 * np.sin(x / 30.0) * np.cos(y / 25.0) + noise).astype(np.float32)


def npy_bytes(array: np.ndarray) -> bytes:
    """The array as a .npy file: exactly the bytes the drivers store for it."""
    header = io.BytesIO()
    npy.write_array_header_1_0(header, npy.header_data_from_array_1_0(array))
    return header.getvalue() + np.ascontiguousarray(array).tobytes()


@functools.cache
def colour_npy() -> bytes:
    return npy_bytes(colour_image())


@functools.cache
def depth_npy() -> bytes:
    return npy_bytes(depth_map())


@functools.cache
def colour_encoded(image_format: str) -> bytes:
    """The colour image as a PNG or JPEG (quality 90) file's bytes."""
    out = io.BytesIO()
    Image.fromarray(colour_image()).save(
        out, format=image_format, **({"quality": 90} if image_format == "JPEG" else {})
    )
    return out.getvalue()


def random_bytes(size: int, seed: int = 0) -> bytes:
    return np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()


def write_file(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def big_file(path: Path, size: int) -> str:
    """Write a file of `size` pseudo-random bytes (1 MiB at a time) and return its sha256."""
    digest = hashlib.sha256()
    rng = np.random.default_rng(3)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        left = size
        while left:
            block = rng.integers(0, 256, min(left, MiB), dtype=np.uint8).tobytes()
            out.write(block)
            digest.update(block)
            left -= len(block)
    return digest.hexdigest()
