"""A payload as an HTTP response: streamed in bounded pieces, with ranges, validators and safe headers.

The response never holds more of a payload than one piece (`PIECE_SIZE`) plus what the store holds
per read. A payload found missing or corrupt once its headers are sent cannot be answered with an
error status any more: the connection is closed early (the client sees fewer bytes than
Content-Length said), and the problem is logged; wrong bytes are never sent as if right.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Callable, Generator, Mapping
from dataclasses import dataclass
from urllib.parse import quote

import anyio
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from brainstorm.database_drivers import BrainstormError

from . import _ranges
from ._pictures import is_picture

PIECE_SIZE = 256 * 1024
"""How much of a payload is read and sent at a time: about one GridFS chunk. With 1 MiB pieces, 16
concurrent 64 MiB downloads grew the server's peak memory by 54-60 MiB (freed pieces stay in the
allocator's per-thread arenas); with 256 KiB pieces by 16-26 MiB (tests/test_api_failures.py)."""

logger = logging.getLogger("brainstorm.api")
_UNSAFE_IN_FILENAME = re.compile(r'[^\x20-\x7e]|["\\/]')
"""Characters an old client's `filename=` cannot take as they are (they have `filename*`)."""


class StreamAborted(RuntimeError):
    """A payload's bytes could not all be sent: the connection is closed before Content-Length is reached.

    Not an OSError (the store's BlobCorrupt is one), which Starlette would take for the client leaving.
    """


@dataclass(frozen=True)
class Payload:
    """What a payload response is made of; `open` is called only when bytes are to be sent."""

    open: Callable[[], io.BufferedIOBase]
    length: int
    content_type: str
    etag: str  # strong, quoted
    filename: str


def _validator_headers(etag: str) -> dict[str, str]:
    """The headers every payload answer carries, a 304 included."""
    return {
        "ETag": etag,
        "Accept-Ranges": "bytes",
        "Cache-Control": "no-cache",  # a result saved again changes its bytes: revalidate (a cheap 304)
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",  # a stored HTML payload must not run as the API's own page
    }


def not_modified(headers: Mapping[str, str], etag: str) -> Response | None:
    """The 304 for a request whose If-None-Match names `etag`, or None (decided before any work)."""
    if_none_match = headers.get("if-none-match")
    if if_none_match is None or not _ranges.matches_any(if_none_match, etag):
        return None
    return _not_modified(etag)


def _not_modified(etag: str) -> Response:
    return Response(status_code=_ranges.NOT_MODIFIED, headers=_validator_headers(etag))


def payload_response(method: str, headers: Mapping[str, str], payload: Payload) -> Response:
    """The answer to a GET or HEAD of `payload`: 200, 206, 304 or 416, with the headers RFC 9110 asks for."""
    answer = _ranges.answer(method, headers, payload.length, payload.etag)
    if answer.status == _ranges.NOT_MODIFIED:
        return _not_modified(payload.etag)
    common = _validator_headers(payload.etag)
    if answer.status == _ranges.NOT_SATISFIABLE:
        return JSONResponse(
            {"detail": f"the range is outside the payload's {payload.length} bytes"},
            status_code=answer.status,
            headers={**common, "Content-Range": _ranges.content_range(answer, payload.length)},
        )
    sent = {
        **common,
        "Content-Length": str(answer.length),
        "Content-Disposition": content_disposition(payload.filename),
        "Content-Type": payload.content_type,  # as stored: Starlette would add a charset it cannot know
    }
    if answer.status == _ranges.PARTIAL:
        sent["Content-Range"] = _ranges.content_range(answer, payload.length)
    if method == "HEAD":
        return Response(status_code=answer.status, headers=sent)
    stream = payload.open()  # now, so that a payload missing from the store is an error status, not a cut
    body = _pieces(stream, answer.start, answer.stop)
    return _ClosingStreamingResponse(body, status_code=answer.status, headers=sent)


class _ClosingStreamingResponse(StreamingResponse):
    """Closes its pieces however the response ends: a client that leaves mid-download frees the store's
    stream (a file, a server cursor) at once, not when the garbage collector finds it."""

    def __init__(self, pieces: Generator[bytes, None, None], status_code: int, headers: Mapping[str, str]) -> None:
        super().__init__(pieces, status_code=status_code, headers=headers)
        self._pieces = pieces

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await anyio.to_thread.run_sync(self._pieces.close)  # its finally closes the stream, maybe over I/O


def _pieces(stream: io.BufferedIOBase, start: int, stop: int) -> Generator[bytes, None, None]:
    """The bytes `[start, stop)` of `stream`, a piece at a time; closes the stream however it ends."""
    try:
        stream.seek(start)
        left = stop - start
        while left > 0:
            piece = stream.read(min(PIECE_SIZE, left))
            left -= len(piece)
            yield piece
    except BrainstormError as exc:
        logger.error("closing the connection after a partial payload: %s", exc)
        raise StreamAborted(str(exc)) from None
    finally:
        stream.close()


def payload_urls(result_url: str, key: str, kind: str, content_type: str) -> dict[str, str]:
    """Where a payload's bytes are (`url`) and, when it can be shown, its picture (`picture_url`)."""
    urls = {"url": f"{result_url}/{quote(key, safe='')}"}
    if is_picture(kind, content_type):
        urls["picture_url"] = f"{urls['url']}?as=png"
    return urls


def content_disposition(filename: str) -> str:
    """`inline` with the file name, ASCII for old clients and UTF-8 for the rest (RFC 6266)."""
    fallback = _UNSAFE_IN_FILENAME.sub("_", filename)
    return f"inline; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
