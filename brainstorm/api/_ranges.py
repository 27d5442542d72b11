"""Which bytes of a payload a request gets, and with which status (RFC 9110, sections 13 and 14).

Pure functions of the request's headers, the payload's length and its entity tag, so every rule is
tested without a server:

- `If-None-Match` that matches (weak comparison, or `*`) gives 304 Not Modified.
- One satisfiable `Range` of a GET (`bytes=a-b`, `a-`, `-n`) gives 206 with those bytes; a range that
  starts past the end gives 416; a malformed `Range` (another unit, `b < a`, garbage) is ignored (200).
- Several ranges give the whole payload (200), or 416 when none is satisfiable: never a multipart
  answer, whose many small parts are how Starlette's range handling was made a denial of service.
- `If-Range` applies the `Range` only if it is our strong entity tag; a date never matches (the API
  sends no Last-Modified), so the whole payload comes back, as the RFC asks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

OK, PARTIAL, NOT_MODIFIED, NOT_SATISFIABLE = 200, 206, 304, 416

_ENTITY_TAG = re.compile(r'\s*(W/)?("[\x21\x23-\x7e\x80-\xff]*")\s*(?:,|$)')
# ASCII digits (\d takes any script's), bounded: int() refuses 4,300 digits, and no payload needs 33
_RANGE_SPEC = re.compile(r"([0-9]{1,32})-([0-9]{0,32})|-([0-9]{1,32})")
_MAX_RANGES = 100
"""A Range header naming more ranges than this is treated as malformed (ignored): nobody needs them."""


@dataclass(frozen=True)
class Answer:
    """The status to answer with and, for 200 and 206, the bytes `[start, stop)` to send."""

    status: int
    start: int = 0
    stop: int = 0

    @property
    def length(self) -> int:
        return self.stop - self.start


def answer(method: str, headers: Mapping[str, str], length: int, etag: str) -> Answer:
    """How to answer a GET or HEAD of a payload of `length` bytes whose strong entity tag is `etag`."""
    whole = Answer(OK, 0, length)
    if_none_match = headers.get("if-none-match")
    if if_none_match is not None and matches_any(if_none_match, etag):
        return Answer(NOT_MODIFIED)
    range_header = headers.get("range")
    if method != "GET" or range_header is None:  # only GET has ranges (RFC 9110, 14.2)
        return whole
    if_range = headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:  # strong comparison; a date never matches
        return whole
    spans = parse_range(range_header)
    if spans is None:
        return whole
    satisfiable = [span for span in (resolve(span, length) for span in spans) if span is not None]
    if not satisfiable:
        return Answer(NOT_SATISFIABLE)
    if len(spans) > 1:
        return whole
    start, stop = satisfiable[0]
    return Answer(PARTIAL, start, stop)


Span = tuple[int | None, int | None]
"""A range as asked: (first, last) inclusive, or (None, n) for the last n bytes."""


def parse_range(header: str) -> list[Span] | None:
    """The ranges a `Range: bytes=...` header asks for, or None when it is malformed (to be ignored)."""
    unit, equals, specs = header.partition("=")
    if not equals or unit.strip().lower() != "bytes":
        return None
    spans: list[Span] = []
    for spec in specs.split(","):
        spec = spec.strip(" \t")
        if not spec:  # the RFC's list syntax allows empty elements
            continue
        match = _RANGE_SPEC.fullmatch(spec)
        if match is None:
            return None
        first, last, suffix = match.groups()
        if suffix is not None:
            spans.append((None, int(suffix)))
        elif last and int(last) < int(first):
            return None
        else:
            spans.append((int(first), int(last) if last else None))
    return spans if 0 < len(spans) <= _MAX_RANGES else None


def resolve(span: Span, length: int) -> tuple[int, int] | None:
    """The bytes `[start, stop)` a range covers in a payload of `length` bytes, or None if it covers none."""
    first, last = span
    if first is None:
        assert last is not None
        return (max(length - last, 0), length) if last > 0 and length > 0 else None
    if first >= length:
        return None
    return first, length if last is None else min(last + 1, length)


def content_range(answer: Answer, length: int) -> str:
    """The Content-Range header of a 206 (`bytes a-b/N`) or a 416 (`bytes */N`)."""
    if answer.status == NOT_SATISFIABLE:
        return f"bytes */{length}"
    return f"bytes {answer.start}-{answer.stop - 1}/{length}"


def matches_any(if_none_match: str, etag: str) -> bool:
    """Whether `If-None-Match` names `etag` (weak comparison: a W/ prefix does not matter) or is `*`."""
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    position, value = 0, if_none_match.strip()
    while position < len(value):
        if value[position] in ", \t":  # the RFC's list syntax allows empty elements
            position += 1
            continue
        match = _ENTITY_TAG.match(value, position)
        if match is None:
            return False  # malformed: as if absent
        if match.group(2) == opaque:
            return True
        position = match.end()
    return False
