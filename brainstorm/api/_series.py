"""One result across a user's snapshots, in pages: what a chart over time (or a gallery) is drawn from.

A page lists the user's snapshots by datetime, each with the result's scalar fields by dotted path
(`null` where the snapshot has no such result, so a chart shows a gap) and each array payload's
finite value range. `ranges` spans all of the user's snapshots, not just the page: one scale for
every depth map of a user, from the payloads' stored descriptions, without reading any array.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, Field

from brainstorm.database_drivers import Driver, Result
from brainstorm.views import iso, result_fields

from ._payloads import payload_urls

MAX_LIMIT = 10_000
"""The most snapshots one page holds: a user of 10,000 snapshots is one request."""
Scalar = float | int | bool | str | None


class ValueRange(BaseModel):
    """The smallest and largest finite value of an array payload."""

    minimum: float
    maximum: float


class SeriesEntry(BaseModel):
    snapshot_id: int
    datetime: str = Field(description="ISO 8601, UTC, with milliseconds")
    fields: dict[str, Scalar] | None = Field(
        description="The result's scalar fields by dotted path; null when the snapshot has no such result"
    )
    ranges: dict[str, ValueRange] = Field(description="Each array payload's finite value range, by its key")
    pictures: dict[str, str] = Field(description="The picture URL (`?as=png`) of each payload that has one, by its key")


class Series(BaseModel):
    user_id: int
    result_name: str
    total: int = Field(description="How many snapshots the user has")
    offset: int
    limit: int
    snapshots: list[SeriesEntry] = Field(description="The page's snapshots, by datetime")
    ranges: dict[str, ValueRange] = Field(description="Each array payload's value range across all the snapshots")
    next: str | None = Field(description="The next page's URL, or null on the last page")


def series(driver: Driver, user_id: int, result_name: str, offset: int, limit: int, base: str) -> Series:
    """A page of the series (two queries, whatever the page's size); `base` is the URL of the user."""
    snapshots = driver.get_snapshots(user_id)
    results = driver.get_results(user_id, result_name)
    page = snapshots[offset : offset + limit]

    def result_url(snapshot_id: int) -> str:
        return f"{base}/snapshots/{snapshot_id}/{quote(result_name, safe='')}"

    ranges = {snapshot_id: _ranges(found) for snapshot_id, found in results.items()}
    entries = [
        _entry(s["snapshot_id"], iso(s["datetime"]), results.get(s["snapshot_id"]), ranges, result_url) for s in page
    ]
    more = offset + limit < len(snapshots)
    return Series(
        user_id=user_id,
        result_name=result_name,
        total=len(snapshots),
        offset=offset,
        limit=limit,
        snapshots=entries,
        ranges=_overall(ranges.values()),
        next=f"{base}/series/{quote(result_name, safe='')}?offset={offset + limit}&limit={limit}" if more else None,
    )


def _entry(
    snapshot_id: int,
    when: str,
    found: Result | None,
    ranges: dict[int, dict[str, ValueRange]],
    result_url: Callable[[int], str],
) -> SeriesEntry:
    if found is None:
        return SeriesEntry(snapshot_id=snapshot_id, datetime=when, fields=None, ranges={}, pictures={})
    fields, payloads = result_fields(found)
    url = result_url(snapshot_id)
    urls = {key: payload_urls(url, key, info["kind"], info["content_type"]) for key, info in payloads.items()}
    pictures = {key: place["picture_url"] for key, place in urls.items() if "picture_url" in place}
    return SeriesEntry(
        snapshot_id=snapshot_id,
        datetime=when,
        fields=_scalars(fields, payloads),
        ranges=ranges[snapshot_id],
        pictures=pictures,
    )


def _scalars(fields: dict[str, Any], payloads: dict[str, Any]) -> dict[str, Scalar]:
    """The leaves of `fields` that are plain values, by dotted path (payloads and lists left out)."""
    found: dict[str, Scalar] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else key)
        elif path not in payloads and (value is None or isinstance(value, bool | int | float | str)):
            found[path] = value

    walk(fields, "")
    return found


def _ranges(found: Result) -> dict[str, ValueRange]:
    return {
        key: ValueRange(minimum=info["minimum"], maximum=info["maximum"])
        for key, info in found.blobs.items()
        if "minimum" in info and "maximum" in info
    }


def _overall(ranges: Iterable[dict[str, ValueRange]]) -> dict[str, ValueRange]:
    """The union of the results' payload ranges, key by key."""
    lows: dict[str, float] = {}
    highs: dict[str, float] = {}
    for found in ranges:
        for key, value_range in found.items():
            lows[key] = min(lows.get(key, value_range.minimum), value_range.minimum)
            highs[key] = max(highs.get(key, value_range.maximum), value_range.maximum)
    return {key: ValueRange(minimum=lows[key], maximum=highs[key]) for key in lows}
