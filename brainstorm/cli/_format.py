"""How the reading command line prints: aligned plain-text tables for people, JSON for scripts."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import click

from brainstorm.views import jsonable

NONE = "(none)"


def readable_time(value: dt.datetime) -> str:
    """A stored (naive UTC) datetime for people, in the local time zone (as `date` shows it; TZ=UTC for
    UTC), the zone always shown, in the viewer's format: `2019-12-04 12:08:07.381 +02:00`, or
    `2019-12-04 10:08:07.381 UTC` where the offset is zero."""
    local = (value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)).astimezone()
    offset = local.utcoffset() or dt.timedelta()
    if offset:
        minutes = int(abs(offset).total_seconds()) // 60
        zone = f"{'-' if offset < dt.timedelta() else '+'}{minutes // 60:02d}:{minutes % 60:02d}"
    else:
        zone = "UTC"
    return f"{local.replace(tzinfo=None).isoformat(sep=' ', timespec='milliseconds')} {zone}"


def readable(value: Any) -> str:
    """One value as a table cell."""
    if value is None:
        return "-"
    if isinstance(value, dt.datetime):
        return readable_time(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(readable(item) for item in value) or NONE
    return str(value)


def size(length: int) -> str:
    """A byte count for people: `692,542 bytes (676.3 KiB)`."""
    text = f"{length:,} bytes"
    scaled, unit = float(length), ""
    for unit in ("KiB", "MiB", "GiB", "TiB"):  # noqa: B007 - the unit reached is used below
        scaled /= 1024
        if scaled < 1024:
            break
    return text if length < 1024 else f"{text} ({scaled:.1f} {unit})"


def short_size(length: int) -> str:
    """A byte count at a glance, in decimal units as disks are sold: `512 bytes`, `15.6 MB`."""
    if length < 1000:
        return f"{length:,} byte{'' if length == 1 else 's'}"
    scaled, unit = float(length), ""
    for unit in ("kB", "MB", "GB", "TB", "PB"):  # noqa: B007 - the unit reached is used below
        scaled /= 1000
        if round(scaled, 1) < 1000:
            break
    return f"{scaled:.1f} {unit}"


def counted(count: int, length: int, noun: str) -> str:
    """How many things and their bytes: `1 payload, 10,000 bytes (9.8 KiB)`; `0 payloads` when there are none."""
    things = f"{count:,} {noun}{'' if count == 1 else 's'}"
    return f"{things}, {size(length)}" if count else things


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns aligned on the widest cell; `(none)` under the headers when there are no rows."""
    cells = [[readable(cell) for cell in row] for row in rows]
    widths = [max([len(header), *(len(row[i]) for row in cells)]) for i, header in enumerate(headers)]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [list(headers), *cells]
    ]
    return "\n".join(lines if cells else [*lines, NONE])


def pairs(items: Iterable[tuple[str, Any]]) -> str:
    """`key  value` lines with the values aligned."""
    listed = [(key, readable(value)) for key, value in items]
    width = max((len(key) for key, _ in listed), default=0)
    return "\n".join(f"{key.ljust(width)}  {value}".rstrip() for key, value in listed)


def flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """A nested value as (dotted path, leaf) pairs: `translation.x`, `frames.0.width` (as payload paths are named)."""
    if isinstance(value, Mapping) and value:
        return [pair for key, item in value.items() for pair in flatten(item, f"{prefix}{key}.")]
    if isinstance(value, list) and value and any(isinstance(item, Mapping | list) for item in value):
        return [pair for index, item in enumerate(value) for pair in flatten(item, f"{prefix}{index}.")]
    return [(prefix[:-1], value)]


def echo_json(value: Any) -> None:
    click.echo(json.dumps(jsonable(value), indent=2, ensure_ascii=False))
