"""Payloads as pictures for people (`?as=png`): arrays rendered as PNG, images re-encoded as PNG.

- A 2-D numeric or bool array (a depth map) goes through a colormap: `turbo` (the default; Google's
  polynomial approximation of its Turbo colormap, dark blue for the low end through green to dark red
  for the high end) or `gray` (black to white). The value range is the array's smallest to largest
  finite value unless `vmin`/`vmax` say otherwise; values outside it take the end colours, and NaN
  or infinite values are transparent. An `H x W x 1` array counts as 2-D.
- An `H x W x 3` or `H x W x 4` `uint8` array is shown as it is (RGB, RGBA).
- Any payload whose content type is an image format Pillow reads, whatever its kind (a parser's
  PNG or JPEG file saved as bytes, a PIL image kept as TIFF), is re-encoded as PNG (a one-band
  numeric image through the colormap, like a 2-D array); one stored as PNG is served as it is.
- `width` asks for a smaller picture (a thumbnail), scaled down on the server with its aspect kept:
  a grid of them never ships the full images.

Anything else is refused with `NotAPicture`; stored bytes that do not decode raise
`BlobCorrupt`. A picture is rendered in memory (at most `MAX_PIXELS` pixels, in float32, at most
`RENDERERS` at a time, the others waiting their turn for a while), then streamed like any payload.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any, Literal, cast

import numpy as np
from numpy.lib import format as npy
from PIL import Image

from brainstorm.database_drivers import BlobCorrupt, BrainstormError

Colormap = Literal["turbo", "gray"]
Image.init()
IMAGE_TYPES = frozenset(mime for mime in Image.MIME.values() if mime.startswith("image/"))
"""The content types of the image formats Pillow reads (PNG, JPEG, TIFF, GIF, BMP, WebP...)."""
MAX_WIDTH = 4096
"""The widest picture asked for with `width=` (no picture is made wider than it is stored)."""
MAX_PIXELS = 16 * 1024 * 1024
"""The largest picture rendered (4096 x 4096; a 1080p depth map is 2 Mpx): one render of a float64
array this size holds about 400 MB at its peak (the array, its float32 copy, colours, the PNG)."""
RENDERERS = 2
"""How many pictures are rendered at once."""
RENDER_WAIT_SECONDS = 10.0
"""How long a request waits for a renderer (a gallery asks for two dozen thumbnails at once, each a few
milliseconds' work) before it is answered 503 with Retry-After."""
RENDERING = "3"
"""Changes whenever a colormap or the rendering changes, so that a rendered picture's ETag does too."""
_PNG_MODES = {"1", "L", "LA", "P", "RGB", "RGBA", "I;16"}
_NUMERIC_MODES = {"I", "F", "I;16B", "I;16L", "I;16N"}

_TURBO = (
    (0.13572138, 4.61539260, -42.66032258, 132.13108234, -152.94239396, 59.28637943),
    (0.09140261, 2.19418839, 4.84296658, -14.18503333, 4.27729857, 2.82956604),
    (0.10667330, 12.64194608, -60.58204836, 110.36276771, -89.90310912, 27.34824973),
)
"""The coefficients of Turbo's polynomial approximation (x^0 to x^5, for red, green and blue), as
published with it by Google (Apache 2.0)."""


class NotAPicture(ValueError):
    """The payload cannot be shown as a picture (its kind, shape or dtype, or its size)."""


def colormap_table(name: str) -> np.ndarray:
    """The 256 RGB colours of a colormap, from its low end to its high end."""
    x = np.linspace(0.0, 1.0, 256)
    if name == "gray":
        channels = [x, x, x]
    else:
        powers = np.stack([x**k for k in range(6)])
        channels = [np.asarray(coefficients) @ powers for coefficients in _TURBO]
    return np.clip(np.round(np.stack(channels, axis=-1) * 255), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class Rendering:
    """How a payload is to be drawn: the colormap and value range of numbers, and the widest it may be."""

    colormap: str = "turbo"
    vmin: float | None = None
    vmax: float | None = None
    width: int | None = None


def is_picture(kind: str, content_type: str) -> bool:
    """Whether `?as=png` can show a payload: an array, or bytes in an image format Pillow reads."""
    return kind == "ndarray" or content_type in IMAGE_TYPES


def colormap_strip(name: str) -> bytes:
    """A colormap as a PNG 256 pixels wide and one high, low end on the left: what a colour bar shows."""
    return _png(Image.fromarray(colormap_table(name)[np.newaxis, :, :]))


def picture_etag(sha256: str, rendering: Rendering) -> str:
    """The strong ETag of a rendered picture: it changes with the stored bytes and every rendering choice."""
    r = rendering
    return f'"{sha256}.png;{r.colormap};{r.vmin};{r.vmax};{r.width};r{RENDERING}"'


def render(kind: str, stream: io.BufferedIOBase, rendering: Rendering) -> bytes:
    """A stored payload as PNG bytes: an array through `render_array`, anything else as an image."""
    return (render_array if kind == "ndarray" else render_image)(stream, rendering)


def render_array(stream: io.BufferedIOBase, rendering: Rendering) -> bytes:
    """A stored `.npy` array as PNG bytes; NotAPicture if it is not one of the shapes above."""
    try:
        version = npy.read_magic(stream)
        read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
        shape, fortran_order, dtype = read_header(stream)
    except ValueError as exc:
        raise BlobCorrupt(f"the stored bytes are not a .npy array ({exc})") from None
    if len(shape) == 3 and shape[2] == 1:
        shape = shape[:2]
    _check_shape(shape, dtype)
    count = int(np.prod(shape))
    data = stream.read(count * dtype.itemsize)
    if len(data) != count * dtype.itemsize:
        raise BlobCorrupt(f"the .npy header promises {count * dtype.itemsize} bytes of data; {len(data)} are stored")
    array = np.frombuffer(data, dtype=dtype, count=count).reshape(shape, order="F" if fortran_order else "C")
    image = _colored(array, rendering) if len(shape) == 2 else Image.fromarray(np.ascontiguousarray(array))
    return _png(image, rendering.width)


def render_image(stream: io.BufferedIOBase, rendering: Rendering) -> bytes:
    """A stored image (TIFF) as PNG: colour modes converted to RGB(A), one-band numeric modes (32-bit
    integers, floats) through the colormap like a 2-D array."""
    try:
        with Image.open(cast(Any, stream)) as image:  # a BufferedIOBase, which typing.IO does not cover
            if image.width * image.height > MAX_PIXELS:
                raise NotAPicture(
                    f"the image has {image.width * image.height:,} pixels; at most {MAX_PIXELS:,} are shown"
                )
            if rendering.width is not None and rendering.width < image.width:  # a JPEG decodes smaller, faster
                image.draft(image.mode, (rendering.width, image.height * rendering.width // image.width))
            image.load()
            if image.mode in _NUMERIC_MODES:
                return _png(_colored(np.asarray(image), rendering), rendering.width)
            if image.mode not in _PNG_MODES:
                return _png(image.convert("RGBA" if "A" in image.getbands() else "RGB"), rendering.width)
            return _png(image, rendering.width)
    except BrainstormError:
        raise
    except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises for bytes it cannot decode
        raise BlobCorrupt(f"the stored bytes do not decode as an image ({exc})") from None


def _check_shape(shape: tuple[int, ...], dtype: np.dtype[Any]) -> None:
    if (len(shape) == 2 and dtype.kind in "biuf") or (len(shape) == 3 and shape[2] in (3, 4) and dtype == np.uint8):
        pass
    else:
        raise NotAPicture(
            f"an array of shape {shape} and dtype {dtype} is not a picture: a 2-D numeric array, or an "
            "H x W x 3 or H x W x 4 uint8 array, is"
        )
    if 0 in shape:
        raise NotAPicture(f"the array of shape {shape} has no pixels")
    if shape[0] * shape[1] > MAX_PIXELS:
        raise NotAPicture(f"the array has {shape[0] * shape[1]:,} pixels; at most {MAX_PIXELS:,} are shown")


def _colored(array: np.ndarray, rendering: Rendering) -> Image.Image:
    """A 2-D array through a colormap, as an RGBA image (transparent where a value is not finite).

    In float32 and in place, so a render holds the array, one float32 copy and the colours."""
    values = array.astype(np.float32)
    finite = np.isfinite(values)
    vmin, vmax = rendering.vmin, rendering.vmax
    low = vmin if vmin is not None else (float(values[finite].min()) if finite.any() else 0.0)
    high = vmax if vmax is not None else (float(values[finite].max()) if finite.any() else 1.0)
    with np.errstate(invalid="ignore", over="ignore"):  # infinities and NaN are made transparent below
        values -= np.float32(low)
        values *= np.float32(255.0 / (high - low) if high > low else 0.0)
    values[~finite] = 0.0
    np.clip(values, 0, 255, out=values)
    rgba = np.empty((*values.shape, 4), dtype=np.uint8)
    rgba[..., :3] = colormap_table(rendering.colormap)[values.astype(np.uint8)]
    rgba[..., 3] = np.where(finite, 255, 0)
    return Image.fromarray(rgba)  # H x W x 4 uint8: RGBA


def _png(image: Image.Image, width: int | None = None) -> bytes:
    if width is not None and width < image.width:
        height = max(1, round(image.height * width / image.width))
        if image.mode not in ("RGB", "RGBA", "L", "LA"):  # what resampling needs: a palette has no means
            image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
        image = image.resize((width, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    encoded = io.BytesIO()
    image.save(encoded, format="PNG", compress_level=1)  # people wait for it: speed over a few percent of size
    return encoded.getvalue()
