"""How stored things look as JSON, the same for the command line (`--json`) and the HTTP API.

Datetimes are ISO 8601 in UTC with milliseconds (`2019-12-04T10:08:07.339Z`); a result is its fields
and, apart, a description of each payload by dotted path (kind, content type, length, sha256), never
the payload's bytes.
"""

from __future__ import annotations

import datetime as dt
import mimetypes
from collections.abc import Callable, Mapping
from typing import Any

from brainstorm.database_drivers import BlobInfo, Result

__all__ = ["extension", "iso", "jsonable", "result_fields"]

_EXTENSIONS = {"application/x-npy": ".npy", "image/png": ".png", "image/tiff": ".tiff", "image/jpeg": ".jpg"}


def iso(value: dt.datetime) -> str:
    """A stored (naive UTC) datetime in ISO 8601 with milliseconds: `2019-12-04T10:08:07.339Z`."""
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value.isoformat(timespec="milliseconds") + "Z"


def jsonable(value: Any) -> Any:
    """`value` with datetimes as ISO 8601 strings, ready for `json.dumps`."""
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, bytes | bytearray | memoryview):  # never in practice: payloads are described, not printed
        raise TypeError("payload bytes are not printed")
    return value


def result_fields(
    found: Result, blank: Callable[[str, dict[str, Any]], Any] | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The result's fields with `blank(key, description)` (or None) where each payload sits, and each
    payload's description by dotted path. No payload is fetched, however deep it sits."""
    payloads = {path: {k: v for k, v in info.items() if k != "path"} for path, info in found.blobs.items()}
    fields = {name: _blank_payloads(value, name, payloads, blank) for name, value in found.fields.items()}
    return fields, payloads


def _blank_payloads(
    value: Any, prefix: str, payloads: dict[str, dict[str, Any]], blank: Callable[[str, dict[str, Any]], Any] | None
) -> Any:
    if prefix in payloads:
        return None if blank is None else blank(prefix, payloads[prefix])
    if isinstance(value, dict):
        return {k: _blank_payloads(v, f"{prefix}.{k}", payloads, blank) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_payloads(v, f"{prefix}.{i}", payloads, blank) for i, v in enumerate(value)]
    return value


def extension(info: BlobInfo | dict[str, Any]) -> str:
    """The file extension for a payload's content type (`.npy`, `.png`...; `.bin` when unknown)."""
    content_type = info["content_type"]
    return _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ".bin"
