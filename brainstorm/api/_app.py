"""The HTTP API's routes, and the application object `create_app` returns.

Every route only reads. Path parameters go through the library's own checks (`user_id` and
`snapshot_id` must be digits to match a route at all), so nothing a client sends becomes a query
operator or a file path. Errors are JSON `{"detail": message}`: 400 for a value the library refuses,
404 for what does not exist, 503 while the database is unreachable (its URL's password hidden, as in
every message of the library), 500 for a payload found missing or corrupt before it was sent.
"""

from __future__ import annotations

import contextlib
import io
import logging
import threading
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import FileResponse, Response

import brainstorm.database_drivers as db_drivers
from brainstorm import __version__
from brainstorm.database_drivers import Driver, Result
from brainstorm.views import extension, jsonable, result_fields

from . import _pictures
from ._payloads import Payload, payload_response

logger = logging.getLogger("brainstorm.api")

VIEWER = resources.files("brainstorm.api") / "viewer"
_PAGE_POLICY = "default-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
"""The viewer runs only its own scripts: a stored string that slipped into the page as HTML could not run."""
_RESULT = "/users/{user_id:int}/snapshots/{snapshot_id:int}/{result_name}"


def create_app(database: str | Driver) -> FastAPI:
    """The API (and the web viewer at `/`) over a database URL, or over a driver the caller owns.

    Given a URL, the app connects on its first request (retrying on later ones while the database is
    unreachable) and closes the driver when it shuts down; a driver given is left open.
    """
    connection = _Connection(database)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        connection.close()

    app = FastAPI(
        title="brainstorm",
        version=__version__,
        summary="The results of a brain-computer-interface pipeline: users, snapshots, results, payloads.",
        docs_url=None,  # Swagger UI and ReDoc load their scripts from a CDN; /openapi.json is all there is
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.connection = connection
    _add_error_handlers(app)
    _add_routes(app, connection)
    app.mount("/viewer", StaticFiles(directory=str(VIEWER)), name="viewer")
    return app


class _Connection:
    """The app's driver: connected once, on first use, by whichever request comes first."""

    def __init__(self, database: str | Driver) -> None:
        self._url = database if isinstance(database, str) else None
        self._driver = database if isinstance(database, Driver) else None
        self._lock = threading.Lock()

    def driver(self) -> Driver:
        with self._lock:
            if self._driver is None:
                assert self._url is not None
                self._driver = db_drivers.connect(self._url)
            return self._driver

    def close(self) -> None:
        with self._lock:
            if self._url is not None and self._driver is not None:
                self._driver.close()
                self._driver = None


def _add_routes(app: FastAPI, connection: _Connection) -> None:
    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def viewer() -> FileResponse:
        return FileResponse(
            str(VIEWER / "index.html"), media_type="text/html", headers={"Content-Security-Policy": _PAGE_POLICY}
        )

    @app.get("/users", summary="Every user, by id")
    def users() -> list[dict[str, Any]]:
        return jsonable(connection.driver().get_users())  # type: ignore[no-any-return]

    @app.get("/users/{user_id:int}", summary="A user's fields")
    def user(user_id: int) -> dict[str, Any]:
        return jsonable(_user(connection.driver(), user_id))  # type: ignore[no-any-return]

    @app.get("/users/{user_id:int}/snapshots", summary="A user's snapshots, by datetime")
    def snapshots(user_id: int) -> list[dict[str, Any]]:
        driver = connection.driver()
        _user(driver, user_id)
        return jsonable(driver.get_snapshots(user_id))  # type: ignore[no-any-return]

    @app.get("/users/{user_id:int}/snapshots/{snapshot_id:int}", summary="A snapshot and its available results")
    def snapshot(user_id: int, snapshot_id: int) -> dict[str, Any]:
        found = connection.driver().get_snapshot(user_id, snapshot_id)
        if found is None:
            raise HTTPException(404, f"user {user_id} has no snapshot {snapshot_id}")
        return jsonable(found)  # type: ignore[no-any-return]

    @app.get(_RESULT, summary="A result's fields, each payload described with the URL of its bytes")
    def result(request: Request, user_id: int, snapshot_id: int, result_name: str) -> dict[str, Any]:
        found = _result(connection.driver(), user_id, snapshot_id, result_name)
        base = f"{request.scope.get('root_path', '')}/users/{user_id}/snapshots/{snapshot_id}/{result_name}"

        def described(key: str, info: dict[str, Any]) -> dict[str, Any]:
            urls = {"url": f"{base}/{quote(key, safe='')}"}
            if info["kind"] in ("ndarray", "image"):
                urls["picture_url"] = f"{urls['url']}?as=png"
            return {**info, **urls}

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
        colormap: Annotated[Literal["turbo", "gray"], Query(description="for ?as=png of a 2-D array")] = "turbo",
        vmin: Annotated[float | None, Query(description="the value shown as the colormap's low end")] = None,
        vmax: Annotated[float | None, Query(description="the value shown as the colormap's high end")] = None,
    ) -> Response:
        found = _result(connection.driver(), user_id, snapshot_id, result_name)
        info = found.blobs.get(key)
        if info is None:
            raise HTTPException(404, f"result {result_name!r} has no payload {key!r}; payloads: {sorted(found.blobs)}")
        place = f"user {user_id}, snapshot {snapshot_id}, result {result_name!r}, payload {key!r}"
        name = f"{user_id}-{snapshot_id}-{result_name}-{key}"
        stored = Payload(
            lambda: found.open(key),
            info["length"],
            info["content_type"],
            f'"{info["sha256"]}"',
            name + extension(info),
            place,
        )
        if as_ is None or info["content_type"] == "image/png":
            return payload_response(request.method, request.headers, stored)
        return _picture(request, found, key, stored, colormap, vmin, vmax)

    for method in ("GET", "HEAD"):  # one route each: a route with both would give both one operation id
        app.add_api_route(
            _RESULT + "/{key:path}",
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
    stored: Payload,
    colormap: str,
    vmin: float | None,
    vmax: float | None,
) -> Response:
    """The payload at `key` rendered as PNG, with an ETag of its own (checked before anything is rendered)."""
    info = found.blobs[key]
    if info["kind"] not in ("ndarray", "image"):
        raise HTTPException(422, f"a {info['kind']} payload ({info['content_type']}) is not a picture")
    etag = _pictures.picture_etag(info["sha256"], colormap, vmin, vmax)
    with found.open(key) as stream:
        try:
            if request.headers.get("if-none-match") == etag:
                png = b""  # 304 either way: not rendered
            elif info["kind"] == "ndarray":
                png = _pictures.render_array(stream, colormap, vmin, vmax)
            else:
                png = _pictures.render_image(stream, colormap)
        except _pictures.NotAPicture as exc:
            raise HTTPException(422, str(exc)) from None
    name = stored.filename.rsplit(".", 1)[0] + ".png"
    picture = Payload(lambda: io.BytesIO(png), len(png), "image/png", etag, name, stored.place)
    return payload_response(request.method, request.headers, picture)


def _user(driver: Driver, user_id: int) -> dict[str, Any]:
    found = driver.get_user(user_id)
    if found is None:
        raise HTTPException(404, f"no user {user_id}")
    return found


def _result(driver: Driver, user_id: int, snapshot_id: int, result_name: str) -> Result:
    found = driver.get_result(user_id, snapshot_id, result_name)
    if found is None:
        if driver.get_snapshot(user_id, snapshot_id) is None:
            raise HTTPException(404, f"user {user_id} has no snapshot {snapshot_id}")
        raise HTTPException(404, f"snapshot {snapshot_id} of user {user_id} has no result {result_name!r}")
    return found


def _add_error_handlers(app: FastAPI) -> None:
    """The library's errors as JSON statuses; nothing else leaks (an unexpected error is a logged 500)."""

    def handler(status: int, log: bool = False) -> Any:
        async def handle(request: Request, exc: Exception) -> JSONResponse:
            if log:
                logger.error("%s %s: %s", request.method, request.url.path, exc)
            return JSONResponse({"detail": str(exc)}, status_code=status)

        return handle

    app.add_exception_handler(db_drivers.InvalidInput, handler(400))
    app.add_exception_handler(db_drivers.InvalidType, handler(400))
    app.add_exception_handler(db_drivers.DatabaseUnavailable, handler(503))
    app.add_exception_handler(db_drivers.BlobMissing, handler(500, log=True))
    app.add_exception_handler(db_drivers.BlobCorrupt, handler(500, log=True))
    app.add_exception_handler(db_drivers.BrainstormError, handler(500, log=True))

    async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        problems = "; ".join(f"{'.'.join(map(str, error['loc']))}: {error['msg']}" for error in exc.errors())
        return JSONResponse({"detail": problems}, status_code=400)

    app.add_exception_handler(RequestValidationError, invalid_request)

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": "internal error (logged by the server)"}, status_code=500)

    app.add_exception_handler(Exception, unexpected)  # the server logs the traceback
