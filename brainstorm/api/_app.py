"""The HTTP API's routes, and the application object `create_app` returns.

Every route only reads. Ids must be digits to match a route at all, and every path parameter then
goes through the library's own checks, so nothing a client sends becomes a query operator or a file
path. Errors are JSON `{"detail": message}`: 400 for a value the library refuses, 404 for what does
not exist, 422 for a payload that is no picture, 503 while the database is unreachable, 500 for a
payload found missing or corrupt before it was sent. A 500 or 503 names no server path or URL: the
server's log has the details (with passwords hidden, as in every message of the library).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import threading
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Annotated, Any, Literal, TypeVar

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.convertors import Convertor, register_url_convertor
from starlette.responses import Response

import brainstorm.database_drivers as db_drivers
from brainstorm import __version__
from brainstorm.database_drivers import BlobInfo, Driver, Result
from brainstorm.views import extension, jsonable, result_fields

from . import _openapi, _pictures, _series
from ._connection import RETRY_AFTER_SECONDS, Connection
from ._payloads import Payload, not_modified, payload_response, payload_urls

logger = logging.getLogger("brainstorm.api")
F = TypeVar("F", bound=Callable[..., Any])

VIEWER = resources.files("brainstorm.api") / "viewer"
DOCS = resources.files("brainstorm.api") / "docs"
SWAGGER_UI = resources.files("fastapi_offline") / "static"
_SWAGGER_UI_FILES = ("swagger-ui-bundle.js", "swagger-ui.css")
_PAGE_POLICY = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
"""The viewer runs only its own scripts: a stored string that slipped into the page as HTML could not run."""
_ASSET_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
_LISTED_KEYS = 20
"""How many of a result's payload keys a 404 for an unknown key lists."""


class _IdConvertor(Convertor[int]):
    """Ids in paths: ASCII digits, bounded (int() refuses 4,300 digits; the library checks the range)."""

    regex = "[0-9]{1,32}"

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


class _KeyConvertor(Convertor[str]):
    """A payload's key: anything (Starlette's `path` stops at a newline, which a key may hold)."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("brainstorm_id", _IdConvertor())
register_url_convertor("brainstorm_key", _KeyConvertor())
_USER = "/users/{user_id:brainstorm_id}"
_SNAPSHOT = _USER + "/snapshots/{snapshot_id:brainstorm_id}"
_RESULT = _SNAPSHOT + "/{result_name}"
_PAYLOAD = _RESULT + "/{key:brainstorm_key}"


def create_app(database: str | Driver) -> FastAPI:
    """The API (and the web viewer at `/`) over a database URL, or over a driver the caller owns.

    Given a URL, the app connects on its first request (answering 503 while the database is
    unreachable) and closes the driver when its lifespan ends: an app mounted inside another must
    have the outer app run it (`lifespan=app.router.lifespan_context`). A driver given stays open.
    """
    connection = Connection(database)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        connection.close()

    app = FastAPI(
        title="brainstorm",
        version=__version__,
        summary="The results of a brain-computer-interface pipeline: users, snapshots, results, payloads.",
        docs_url=None,  # FastAPI's Swagger UI page loads its scripts from a CDN and runs an inline one: ours
        redoc_url=None,  # (/docs, see _add_viewer) serves packaged files under the viewer's policy
        lifespan=lifespan,
    )
    app.openapi = lambda: _openapi.describe(app)  # type: ignore[method-assign]
    _add_error_handlers(app)
    _add_viewer(app)
    _add_routes(app, connection, threading.BoundedSemaphore(_pictures.RENDERERS))
    return app


def _add_viewer(app: FastAPI) -> None:
    """`/` and `/viewer/<file>` (the viewer), `/docs` and `/docs/<file>` (Swagger UI, from packaged
    files): each page's few files, read once, with the pages' security headers (no directory served,
    no ranges: there is nothing to range over)."""
    viewer = {file.name: file.read_bytes() for file in VIEWER.iterdir() if file.is_file()}
    docs = {file.name: file.read_bytes() for file in DOCS.iterdir() if file.is_file()}
    docs |= {name: (SWAGGER_UI / name).read_bytes() for name in _SWAGGER_UI_FILES}
    _add_page(app, "/", "/viewer", viewer)
    _add_page(app, "/docs", "/docs", docs)


def _add_page(app: FastAPI, path: str, folder: str, assets: dict[str, bytes]) -> None:
    assets = dict(assets)
    page = assets.pop("index.html")
    headers = {
        "Content-Security-Policy": _PAGE_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    }

    def html() -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=headers)

    def asset(name: str) -> Response:
        if name not in assets:
            raise HTTPException(404, f"{folder} has no file {name!r}")
        suffix = name[name.rfind(".") :]
        return Response(assets[name], media_type=_ASSET_TYPES.get(suffix, "application/octet-stream"), headers=headers)

    app.add_api_route(path, html, methods=["GET", "HEAD"], include_in_schema=False)
    app.add_api_route(folder + "/{name}", asset, methods=["GET", "HEAD"], include_in_schema=False)


def _json_route(app: FastAPI, path: str, operation_id: str, summary: str) -> Callable[[F], F]:
    """Register a JSON route for GET (described) and HEAD (the same headers; RFC 9110 asks for both)."""

    def register(function: F) -> F:
        app.add_api_route(path, function, methods=["GET"], operation_id=operation_id, summary=summary)
        app.add_api_route(path, function, methods=["HEAD"], include_in_schema=False)
        return function

    return register


def _add_routes(app: FastAPI, connection: Connection, renderers: threading.BoundedSemaphore) -> None:
    @_json_route(app, "/users", "users", "Every user, by id")
    def users() -> list[dict[str, Any]]:
        return jsonable(connection.driver().get_users())  # type: ignore[no-any-return]

    @_json_route(app, _USER, "user", "A user's fields")
    def user(user_id: int) -> dict[str, Any]:
        return jsonable(_user(connection.driver(), user_id))  # type: ignore[no-any-return]

    @_json_route(app, _USER + "/snapshots", "snapshots", "A user's snapshots, by datetime")
    def snapshots(user_id: int) -> list[dict[str, Any]]:
        driver = connection.driver()
        _user(driver, user_id)
        return jsonable(driver.get_snapshots(user_id))  # type: ignore[no-any-return]

    @_json_route(app, _USER + "/series/{result_name}", "series", "One result's scalar fields across a user's snapshots")
    def series(
        request: Request,
        user_id: int,
        result_name: str,
        offset: Annotated[int, Query(ge=0, le=2**63 - 1, description="how many snapshots to skip")] = 0,
        limit: Annotated[int, Query(ge=1, le=_series.MAX_LIMIT, description="the most snapshots listed")] = 1000,
    ) -> _series.Series:
        driver = connection.driver()
        _user(driver, user_id)
        base = f"{request.scope.get('root_path', '')}/users/{user_id}"
        return _series.series(driver, user_id, result_name, offset, limit, base)

    @_json_route(app, _SNAPSHOT, "snapshot", "A snapshot and its available results")
    def snapshot(user_id: int, snapshot_id: int) -> dict[str, Any]:
        return jsonable(_snapshot(connection.driver(), user_id, snapshot_id))  # type: ignore[no-any-return]

    @_json_route(app, _RESULT, "result", "A result's fields, each payload described with the URL of its bytes")
    def result(request: Request, user_id: int, snapshot_id: int, result_name: str) -> dict[str, Any]:
        found = _result(connection.driver(), user_id, snapshot_id, result_name)
        base = f"{request.scope.get('root_path', '')}/users/{user_id}/snapshots/{snapshot_id}/{result_name}"

        def described(key: str, info: dict[str, Any]) -> dict[str, Any]:
            return {**info, **payload_urls(base, key, info["kind"], info["content_type"])}

        fields, payloads = result_fields(found, described)
        return jsonable(  # type: ignore[no-any-return]
            {
                "user_id": user_id,
                "snapshot_id": snapshot_id,
                "result_name": result_name,
                "fields": fields,
                "payloads": {key: described(key, info) for key, info in payloads.items()},
            }
        )

    def payload(
        request: Request,
        user_id: int,
        snapshot_id: int,
        result_name: str,
        key: str,
        as_: Annotated[Literal["png"] | None, Query(alias="as", description="png: a picture of the payload")] = None,
        colormap: Annotated[_pictures.Colormap, Query(description="for ?as=png of a 2-D array")] = "turbo",
        vmin: Annotated[float | None, Query(description="the value shown as the colormap's low end")] = None,
        vmax: Annotated[float | None, Query(description="the value shown as the colormap's high end")] = None,
        width: Annotated[
            int | None,
            Query(ge=1, le=_pictures.MAX_WIDTH, description="for ?as=png: at most this many pixels wide (a thumbnail)"),
        ] = None,
    ) -> Response:
        _check_value_range(vmin, vmax)
        rendering = _pictures.Rendering(colormap, vmin, vmax, width)
        driver = connection.driver()
        name = f"{user_id}-{snapshot_id}-{result_name}-{key}"

        def answer() -> Response:
            found = _result(driver, user_id, snapshot_id, result_name)
            info = found.blobs.get(key)
            if info is None:
                raise HTTPException(404, f"result {result_name!r} has no payload {key!r}; {_keys(found)}")
            if as_ is None or (info["content_type"] == "image/png" and width is None):
                stored = Payload(
                    lambda: found.open(key),
                    info["length"],
                    info["content_type"],
                    f'"{info["sha256"]}"',
                    name + extension(info),
                )
                return payload_response(request.method, request.headers, stored)
            return _picture(request, found, key, info, name, rendering, renderers)

        try:
            try:
                return answer()
            except db_drivers.BlobMissing:  # saved again since the result was read, its old payload gone: read again
                return answer()
        except (db_drivers.BlobMissing, db_drivers.BlobCorrupt) as exc:
            logger.error("%s %s: %s", request.method, request.url.path, exc)
            problem = "missing" if isinstance(exc, db_drivers.BlobMissing) else "corrupt"
            place = f"user {user_id}, snapshot {snapshot_id}, result {result_name!r}, payload {key!r}"
            raise HTTPException(500, f"{place}: the stored payload is {problem} (the server's log says more)") from None

    def colormap(request: Request, name: _pictures.Colormap) -> Response:
        png = _pictures.colormap_strip(name)
        etag = f'"colormap-{name}-r{_pictures.RENDERING}"'
        strip = Payload(lambda: io.BytesIO(png), len(png), "image/png", etag, f"{name}.png")
        return payload_response(request.method, request.headers, strip)

    app.add_api_route(
        "/colormaps/{name}",
        colormap,
        methods=["GET"],
        operation_id="colormap",
        summary="A colormap as a 256 x 1 PNG, low end on the left (a colour bar for `?as=png` of arrays)",
        response_class=Response,
        responses={200: {"content": {"image/png": {}}, "description": "The colormap's 256 colours"}},
    )
    app.add_api_route("/colormaps/{name}", colormap, methods=["HEAD"], include_in_schema=False)

    for method in ("GET", "HEAD"):  # one route each: a route with both would give both one operation id
        app.add_api_route(
            _PAYLOAD,
            payload,
            methods=[method],
            operation_id=f"{method.lower()}_payload",
            summary="A payload's stored bytes (ranges, ETag, If-None-Match), or `?as=png` a picture of it",
            response_class=Response,
            responses={
                200: {"content": {"application/octet-stream": {}}, "description": "The payload's bytes"},
                206: {"description": "The bytes of the one range asked for"},
                304: {"description": "Not modified (If-None-Match)"},
                416: {"description": "The range is outside the payload"},
            },
        )


def _picture(
    request: Request,
    found: Result,
    key: str,
    info: BlobInfo,
    name: str,
    rendering: _pictures.Rendering,
    renderers: threading.BoundedSemaphore,
) -> Response:
    """The payload at `key` rendered as PNG, with an ETag of its own (a 304 is decided before rendering),
    by at most `RENDERERS` requests at a time (a route's thread waits its turn: renders are short)."""
    if not _pictures.is_picture(info["kind"], info["content_type"]):
        raise HTTPException(422, f"a {info['kind']} payload ({info['content_type']}) is not a picture")
    etag = _pictures.picture_etag(info["sha256"], rendering)
    if (unchanged := not_modified(request.headers, etag)) is not None:
        return unchanged
    if not renderers.acquire(timeout=_pictures.RENDER_WAIT_SECONDS):
        raise HTTPException(503, "busy rendering other pictures: try again", headers={"Retry-After": "1"})
    try:
        with found.open(key) as stream:
            png = _pictures.render(info["kind"], stream, rendering)
    except _pictures.NotAPicture as exc:
        raise HTTPException(422, str(exc)) from None
    finally:
        renderers.release()
    picture = Payload(lambda: io.BytesIO(png), len(png), "image/png", etag, name + ".png")
    return payload_response(request.method, request.headers, picture)


def _check_value_range(vmin: float | None, vmax: float | None) -> None:
    for name, value in (("vmin", vmin), ("vmax", vmax)):
        if value is not None and not math.isfinite(value):
            raise HTTPException(400, f"{name} must be a finite number, not {value}")
    if vmin is not None and vmax is not None and vmin >= vmax:
        raise HTTPException(400, f"vmin ({vmin}) must be below vmax ({vmax})")


def _keys(found: Result) -> str:
    """The keys a 404 lists (not all of a result with thousands)."""
    keys = sorted(found.blobs)
    more = f" and {len(keys) - _LISTED_KEYS} more" if len(keys) > _LISTED_KEYS else ""
    return f"payloads: {keys[:_LISTED_KEYS]}{more}"


def _user(driver: Driver, user_id: int) -> dict[str, Any]:
    found = driver.get_user(user_id)
    if found is None:
        raise HTTPException(404, f"no user {user_id}")
    return found


def _snapshot(driver: Driver, user_id: int, snapshot_id: int) -> dict[str, Any]:
    found = driver.get_snapshot(user_id, snapshot_id)
    if found is None:
        raise HTTPException(404, f"user {user_id} has no snapshot {snapshot_id}")
    return found


def _result(driver: Driver, user_id: int, snapshot_id: int, result_name: str) -> Result:
    found = driver.get_result(user_id, snapshot_id, result_name)
    if found is None:
        _snapshot(driver, user_id, snapshot_id)
        raise HTTPException(404, f"snapshot {snapshot_id} of user {user_id} has no result {result_name!r}")
    return found


def _add_error_handlers(app: FastAPI) -> None:
    """The library's errors as JSON statuses; what a client is told never names a path or server."""

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)  # about the client's own input

    async def unavailable(request: Request, exc: Exception) -> JSONResponse:
        logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(
            {"detail": "the database is unavailable (the server's log says why)"},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
        return JSONResponse({"detail": problems}, status_code=400)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse({"detail": "internal error (the server's log says more)"}, status_code=500)

    app.add_exception_handler(db_drivers.InvalidInput, refused)
    app.add_exception_handler(db_drivers.InvalidType, refused)
    app.add_exception_handler(db_drivers.DatabaseUnavailable, unavailable)
    app.add_exception_handler(db_drivers.BrainstormError, unexpected)
    app.add_exception_handler(RequestValidationError, invalid_request)
    app.add_exception_handler(Exception, unexpected)  # the server logs the traceback too
