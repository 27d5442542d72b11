"""The HTTP API, as a client sees it: a real `brainstorm serve` process, a real HTTP client, and curl.

One server per driver serves the fixture dataset plus payloads chosen to exercise the API: a
4 MiB payload (many GridFS chunks), a nested one, an HTML one, arrays and images for `?as=png`.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import numpy as np
import pymongo
import pytest
from PIL import Image

import brainstorm.database_drivers as db_drivers
from brainstorm.api._pictures import colormap_table
from brainstorm.database_drivers import Blob
from brainstorm.testing.helpers import published_results
from brainstorm.views import jsonable
from tests import dataset
from tests.conftest import with_database
from tests.serving import Server, serving
from tools.ferretdb_server import LOGIN, Storage, documentdb_storage, ferretdb_process

WHEN = 1575454087339
BIG = np.random.default_rng(7).bytes(4 * 1024 * 1024 + 12345)
NESTED = bytes(range(256)) * 400
DEPTH = np.array([[0.0, 1.0, 2.0], [3.0, np.nan, 4.0]], dtype=np.float32)
RGB = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
HTML = b"<script>alert(1)</script>"
PHOTO = np.random.default_rng(3).integers(0, 256, (90, 160, 3), dtype=np.uint8)


def encoded(pixels: np.ndarray, format: str) -> bytes:
    """An image file's bytes, as a parser writes one."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=format)
    return out.getvalue()


IMAGE_FILES = {
    "image/png": encoded(PHOTO, "PNG"),
    "image/jpeg": encoded(PHOTO, "JPEG"),
    "image/tiff": encoded(PHOTO, "TIFF"),
}
EXTRA_USER = 1000
EXTRAS: dict[str, Any] = {
    "user_id": EXTRA_USER,
    "datetime": WHEN,
    "big": {"data": BIG},
    "frames": {"frames": [{"image": NESTED, "index": 0}], "fps": 30},
    "depth": {"data": DEPTH},
    "rgb": {"data": RGB},
    "cube": {"data": np.zeros((2, 2, 2), dtype=np.float64)},
    "numeric_image": {"data": Image.fromarray(np.array([[1.5, 2.5], [3.5, 4.5]], dtype=np.float32), "F")},
    "page": {"data": Blob(io.BytesIO(HTML), "text/html"), "bild ü": b"\x00" * 70000, "two\nlines": b"\x01" * 5000},
    # Image files kept as bytes, as the saver keeps a message's "path": "x.png"
    "files": {kind.split("/")[1]: Blob(io.BytesIO(data), kind) for kind, data in IMAGE_FILES.items()},
}


def fill(url: str) -> None:
    with db_drivers.connect(url, inline_limit=1024) as driver:
        for user in dataset.users():
            driver.save_user(user)
        for snapshot in dataset.snapshots():
            driver.save_snapshot(snapshot)
        driver.save_user({"user_id": EXTRA_USER, "username": "Extra"})
        driver.save_snapshot(EXTRAS)


@pytest.fixture(scope="module", params=["mongodb", "sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A database holding the dataset and EXTRAS, for each driver (shared by the module's tests: they only read)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('api') / 'db.sqlite'}"
        fill(url)
        yield url
        return
    server_url = request.getfixturevalue("mongodb_server_url")
    name = f"brainstorm_api_{uuid.uuid4().hex[:12]}"
    url = with_database(server_url, name)
    fill(url)
    yield url
    with pymongo.MongoClient(server_url, serverSelectionTimeoutMS=5000) as client:
        client.drop_database(name)


@pytest.fixture(scope="module")
def server(database_url: str) -> Iterator[Server]:
    with serving(database_url) as running:
        yield running


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        yield http


def payload_url(result: str, key: str = "data", user_id: int = EXTRA_USER, snapshot_id: int = 1) -> str:
    return f"users/{user_id}/snapshots/{snapshot_id}/{result}/{quote(key, safe='')}"


def test_users_snapshots_and_a_snapshot_are_what_the_driver_reads(client: httpx.Client, database_url: str) -> None:
    with db_drivers.connect(database_url) as driver:
        assert client.get("users").json() == jsonable(driver.get_users())
        for user in driver.get_users():
            user_id = user["user_id"]
            assert client.get(f"users/{user_id}").json() == jsonable(driver.get_user(user_id))
            snapshots = client.get(f"users/{user_id}/snapshots").json()
            assert snapshots == jsonable(driver.get_snapshots(user_id))
            for snapshot in snapshots:
                got = client.get(f"users/{user_id}/snapshots/{snapshot['snapshot_id']}").json()
                assert got == jsonable(driver.get_snapshot(user_id, snapshot["snapshot_id"]))
    assert snapshots[0]["datetime"].endswith("Z")


def test_a_result_describes_each_payload_with_the_url_of_its_bytes(client: httpx.Client) -> None:
    result = client.get(f"users/{EXTRA_USER}/snapshots/1/frames").json()
    described = result["payloads"]["frames.0.image"]
    assert result["fields"] == {"frames": [{"image": described, "index": 0}], "fps": 30}
    assert {k: described[k] for k in ("kind", "content_type", "length")} == {
        "kind": "bytes",
        "content_type": "application/octet-stream",
        "length": len(NESTED),
    }
    assert described["sha256"] == hashlib.sha256(NESTED).hexdigest()
    assert described["url"] == f"/users/{EXTRA_USER}/snapshots/1/frames/frames.0.image"
    assert client.get(described["url"]).content == NESTED
    depth = client.get(f"users/{EXTRA_USER}/snapshots/1/depth").json()["payloads"]["data"]
    assert depth["picture_url"] == f"/users/{EXTRA_USER}/snapshots/1/depth/data?as=png"


def test_every_payload_of_the_dataset_is_served_as_stored(client: httpx.Client, database_url: str) -> None:
    with db_drivers.connect(database_url) as driver:
        served = 0
        for user_id, snapshot, name, result in published_results(driver):
            for key, info in result.blobs.items():
                url = payload_url(name, key, user_id, snapshot["snapshot_id"])
                response = client.get(url)
                assert response.status_code == 200
                assert hashlib.sha256(response.content).hexdigest() == info["sha256"], url
                assert response.headers["content-type"] == info["content_type"]
                served += 1
    assert served > 20  # the dataset's and EXTRAS' payloads, not a walk that found nothing


def test_a_payload_comes_with_its_length_type_validator_and_safe_headers(client: httpx.Client) -> None:
    response = client.get(payload_url("big"))
    assert response.content == BIG
    assert response.headers["content-length"] == str(len(BIG))
    assert response.headers["content-type"] == "application/octet-stream"
    assert response.headers["etag"] == f'"{hashlib.sha256(BIG).hexdigest()}"'
    assert response.headers["accept-ranges"] == "bytes"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-disposition"] == (
        f"inline; filename=\"{EXTRA_USER}-1-big-data.bin\"; filename*=UTF-8''{EXTRA_USER}-1-big-data.bin"
    )


def test_a_file_name_out_of_ascii_is_given_both_ways(client: httpx.Client) -> None:
    response = client.head(payload_url("page", "bild ü"))
    assert response.headers["content-disposition"] == (
        f"inline; filename=\"{EXTRA_USER}-1-page-bild _.bin\"; filename*=UTF-8''{EXTRA_USER}-1-page-bild%20%C3%BC.bin"
    )


def test_a_key_with_a_newline_is_served_at_the_url_the_api_gives(client: httpx.Client) -> None:
    described = client.get(f"users/{EXTRA_USER}/snapshots/1/page").json()["payloads"]["two\nlines"]
    response = client.get(described["url"])
    assert response.content == b"\x01" * 5000
    assert 'filename="1000-1-page-two_lines.bin"' in response.headers["content-disposition"]


def test_a_stored_html_payload_cannot_run_as_the_apis_page(client: httpx.Client) -> None:
    response = client.get(payload_url("page"))
    assert response.content == HTML and response.headers["content-type"].startswith("text/html")
    assert response.headers["content-security-policy"] == "sandbox"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_head_gives_the_headers_of_a_get_without_the_body(client: httpx.Client) -> None:
    got, head = client.get(payload_url("big")), client.head(payload_url("big"), headers={"Range": "bytes=0-9"})
    assert head.status_code == 200 and head.content == b""
    for header in ("content-length", "content-type", "etag", "content-disposition", "accept-ranges"):
        assert head.headers[header] == got.headers[header]


def test_if_none_match_with_the_etag_gives_304_and_no_body(client: httpx.Client) -> None:
    etag = client.head(payload_url("big")).headers["etag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(payload_url("big"), headers={"If-None-Match": value})
        assert (response.status_code, response.content, response.headers["etag"]) == (304, b"", etag)
    assert client.get(payload_url("big"), headers={"If-None-Match": '"other"'}).content == BIG


def curl(url: str, *headers: str) -> tuple[int, dict[str, str], bytes]:
    """GET `url` with curl: the status, the headers (lower-cased names) and the body."""
    assert shutil.which("curl"), "curl is missing: install Debian's curl (make test does)"
    command = ["curl", "-s", "-D", "-", "--output", "-", *(arg for h in headers for arg in ("-H", h)), url]
    raw = subprocess.run(command, capture_output=True, check=True, timeout=60).stdout
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in fields.items()}, body


N = len(BIG)
RANGES: list[tuple[str, int, tuple[int, int] | None]] = [
    ("bytes=1000-1999", 206, (1000, 2000)),
    ("bytes=0-0", 206, (0, 1)),
    (f"bytes={37 * 65536 + 11}-", 206, (37 * 65536 + 11, N)),
    ("bytes=-500", 206, (N - 500, N)),
    (f"bytes=-{N + 1}", 206, (0, N)),
    (f"bytes=100-{N + 99}", 206, (100, N)),
    (f"bytes={N}-", 416, None),
    ("bytes=-0", 416, None),
    ("bytes=10-5", 200, (0, N)),
    ("bytes=0-1,5-9", 200, (0, N)),
    ("lines=0-9", 200, (0, N)),
    ("bytes=" + "1" * 5000 + "-", 200, (0, N)),  # absurd digits: malformed, ignored
]


@pytest.mark.parametrize(("range_header", "status", "span"), RANGES, ids=[r[0][:24] for r in RANGES])
def test_a_range_is_answered_with_exactly_its_bytes(
    server: Server, range_header: str, status: int, span: tuple[int, int] | None
) -> None:
    got_status, headers, body = curl(server.url + payload_url("big"), f"Range: {range_header}")
    assert got_status == status
    if span is None:
        assert headers["content-range"] == f"bytes */{N}"
        assert json.loads(body)["detail"]
        return
    assert body == BIG[span[0] : span[1]]
    assert headers["content-length"] == str(span[1] - span[0])
    if status == 206:
        assert headers["content-range"] == f"bytes {span[0]}-{span[1] - 1}/{N}"
    else:
        assert "content-range" not in headers


def test_if_range_applies_the_range_only_for_the_current_etag(server: Server) -> None:
    url = server.url + payload_url("big")
    _, headers, _ = curl(url)
    status, _, body = curl(url, "Range: bytes=5-9", f"If-Range: {headers['etag']}")
    assert (status, body) == (206, BIG[5:10])
    status, _, body = curl(url, "Range: bytes=5-9", 'If-Range: "stale"')
    assert (status, body) == (200, BIG)


def test_a_2d_array_is_shown_through_the_colormap_with_nan_transparent(client: httpx.Client) -> None:
    response = client.get(payload_url("depth"), params={"as": "png"})
    assert response.headers["content-type"] == "image/png"
    pixels = np.asarray(Image.open(io.BytesIO(response.content)))
    assert pixels.shape == (2, 3, 4)
    turbo = colormap_table("turbo")
    assert (pixels[0, 0, :3] == turbo[0]).all() and (pixels[1, 2, :3] == turbo[255]).all()  # min and max
    assert pixels[1, 1, 3] == 0 and (pixels[0, :, 3] == 255).all()  # NaN is transparent
    gray = client.get(payload_url("depth"), params={"as": "png", "colormap": "gray", "vmin": 0, "vmax": 2})
    gray_pixels = np.asarray(Image.open(io.BytesIO(gray.content)))
    assert gray_pixels[0, :, 0].tolist() == [0, 127, 255] and gray_pixels[1, 0, 0] == 255  # clipped above vmax
    assert gray.headers["etag"] != response.headers["etag"] != f'"{hashlib.sha256(DEPTH.tobytes()).hexdigest()}"'


def test_a_picture_has_its_own_etag_answered_with_304(client: httpx.Client) -> None:
    etag = client.head(payload_url("depth"), params={"as": "png"}).headers["etag"]
    again = client.get(payload_url("depth"), params={"as": "png"}, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag


def test_an_rgb_array_is_shown_as_it_is_and_a_png_image_as_stored(client: httpx.Client) -> None:
    rgb = client.get(payload_url("rgb"), params={"as": "png"})
    assert (np.asarray(Image.open(io.BytesIO(rgb.content))) == RGB).all()
    color = client.get(payload_url("color_image", user_id=42), params={"as": "png"})
    assert color.content == client.get(payload_url("color_image", user_id=42)).content
    numeric = client.get(payload_url("numeric_image"), params={"as": "png"})
    assert Image.open(io.BytesIO(numeric.content)).size == (2, 2)


ERRORS: list[tuple[str, int, str]] = [
    ("users/999", 404, "no user 999"),
    ("users/999/snapshots", 404, "no user 999"),
    ("users/42/snapshots/999", 404, "user 42 has no snapshot 999"),
    ("users/42/snapshots/999/pose", 404, "user 42 has no snapshot 999"),
    ("users/42/snapshots/1/nothing", 404, "snapshot 1 of user 42 has no result 'nothing'"),
    ("users/42/snapshots/1/color_image/nothing", 404, "has no payload 'nothing'"),
    ("users/abc", 404, "Not Found"),
    ("users/-1", 404, "Not Found"),
    ("users/1.5/snapshots", 404, "Not Found"),
    ("users/42/snapshots/x1", 404, "Not Found"),
    (f"users/{2**64}", 400, "user_id must be between 0 and 2**63 - 1"),
    ("users/" + "9" * 5000, 404, "Not Found"),
    ("users/42/snapshots/1/color_image/data?as=png&vmin=nan", 400, "vmin must be a finite number"),
    ("users/42/snapshots/1/color_image/data?as=png&vmax=inf", 400, "vmax must be a finite number"),
    ("users/42/snapshots/1/color_image/data?as=png&vmin=3&vmax=1", 400, "vmin (3.0) must be below vmax (1.0)"),
    ("viewer/index.html", 404, "/viewer has no file 'index.html'"),
    ("users/42/snapshots/1/%24where", 400, "result name '$where' must match"),
    ("users/42/snapshots/1/..%2F..%2Fetc", 400, "result name '..' must match"),
    ("users/42/snapshots/1/color_image/..%2F..%2Fdata", 404, "has no payload '../../data'"),
    ("users/42/snapshots/1/color_image/%7B%22%24gt%22%3A%22%22%7D", 404, 'has no payload \'{"$gt":""}\''),
    ("users/42/snapshots/1/color_image/data?as=gif", 400, "as"),
    ("users/42/snapshots/1/color_image/data?as=png&vmin=abc", 400, "vmin"),
    ("users/42/snapshots/1/color_image/data?as=png&colormap=jet", 400, "colormap"),
    ("users/42/snapshots/1/color_image/data?as=png&width=0", 400, "width"),
    ("users/42/snapshots/1/color_image/data?as=png&width=4097", 400, "width"),
    ("users/42/snapshots/1/color_image/data?as=png&width=wide", 400, "width"),
    ("users/42/series/%24where", 400, "result name '$where' must match"),
    ("users/999/series/feelings", 404, "no user 999"),
    ("users/42/series/feelings?limit=0", 400, "limit"),
    ("users/42/series/feelings?limit=10001", 400, "limit"),
    ("users/42/series/feelings?offset=-1", 400, "offset"),
    ("colormaps/jet", 400, "name"),
    ("docs/nothing.js", 404, "/docs has no file 'nothing.js'"),
    (f"users/{EXTRA_USER}/snapshots/1/big/data?as=png", 422, "a bytes payload (application/octet-stream) is not"),
    (f"users/{EXTRA_USER}/snapshots/1/cube/data?as=png", 422, "shape (2, 2, 2) and dtype float64 is not a picture"),
]


@pytest.mark.parametrize(("path", "status", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_a_bad_request_is_a_json_error_naming_the_problem(
    client: httpx.Client, path: str, status: int, message: str
) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert message in response.json()["detail"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_no_route_writes_or_deletes(client: httpx.Client, method: str) -> None:
    for path in ("users", "users/42", "users/42/snapshots/1", "users/42/snapshots/1/pose", payload_url("big")):
        assert client.request(method, path).status_code == 405
    assert client.get("users/42/snapshots/1/pose").status_code == 200


def test_head_answers_wherever_get_does(client: httpx.Client) -> None:
    for path in ("", "users", "users/42", "users/42/snapshots", "users/42/snapshots/1", "users/42/snapshots/1/pose"):
        got, head = client.get(path), client.head(path)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-type"] == got.headers["content-type"]


def test_the_viewer_is_served_with_its_security_headers_and_no_ranges(client: httpx.Client) -> None:
    page = client.get("")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = client.get("viewer/viewer.js", headers={"Range": "bytes=0-0,2-2"})
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert script.headers["x-content-type-options"] == "nosniff" and "content-security-policy" in script.headers


def test_the_openapi_description_lists_every_route(client: httpx.Client) -> None:
    paths = client.get("openapi.json").json()["paths"]
    assert set(paths) == {
        "/users",
        "/users/{user_id}",
        "/users/{user_id}/snapshots",
        "/users/{user_id}/snapshots/{snapshot_id}",
        "/users/{user_id}/snapshots/{snapshot_id}/{result_name}",
        "/users/{user_id}/snapshots/{snapshot_id}/{result_name}/{key}",
        "/users/{user_id}/series/{result_name}",
        "/colormaps/{name}",
    }
    series = paths["/users/{user_id}/series/{result_name}"]["get"]
    assert {p["name"] for p in series["parameters"]} == {"user_id", "result_name", "offset", "limit"}
    schemas = client.get("openapi.json").json()["components"]["schemas"]
    page = series["responses"]["200"]["content"]["application/json"]["schema"]
    assert page == {"$ref": "#/components/schemas/Series"}
    assert set(schemas["Series"]["required"]) == {
        "user_id",
        "result_name",
        "total",
        "offset",
        "limit",
        "snapshots",
        "ranges",
        "next",
    }
    entry = schemas["SeriesEntry"]
    assert set(entry["required"]) == {"snapshot_id", "datetime", "fields", "ranges", "pictures"}
    assert all(entry["properties"][name].get("description") for name in ("datetime", "fields", "ranges", "pictures"))
    payload = paths["/users/{user_id}/snapshots/{snapshot_id}/{result_name}/{key}"]
    assert set(payload) == {"get", "head"}
    assert {p["name"] for p in payload["get"]["parameters"]} >= {"Range", "If-None-Match", "If-Range", "as", "vmin"}
    assert "206" in payload["get"]["responses"] and "206" not in payload["head"]["responses"]
    for operations in paths.values():
        for operation in operations.values():
            responses = operation["responses"]
            assert "422" not in responses or operation["operationId"].endswith("payload")
            assert responses["400"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_serve_listens_on_this_machine_only_unless_told_and_says_so(server: Server) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert "only this machine can connect" in server.logged()


def test_serve_on_every_interface_says_who_can_read(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    with serving(url, "--host", "0.0.0.0") as running:
        assert "anyone who can reach this machine" in running.logged()
        port = running.url.rsplit(":", 1)[1].rstrip("/")
        assert httpx.get(f"http://127.0.0.1:{port}/users").json() == []


def test_a_database_that_is_down_gives_503_without_the_password(unused_port: int) -> None:
    url = f"mongodb://reader:s3cret-pw@127.0.0.1:{unused_port}/brainstorm?serverSelectionTimeoutMS=300"
    with serving(url) as running:
        response = httpx.get(running.url + "users", timeout=30)
        assert response.status_code == 503 and response.headers["retry-after"] == "2"
        assert response.json()["detail"] == "the database is unavailable (the server's log says why)"
        assert "s3cret" not in response.text and "s3cret" not in running.logged()
        assert f"mongodb://***@127.0.0.1:{unused_port}" in running.logged()


def test_a_database_that_comes_up_later_is_served_once_it_is(unused_port: int) -> None:
    with documentdb_storage() as storage:
        url = f"mongodb://{LOGIN}:{storage.password}@127.0.0.1:{unused_port}/brainstorm?serverSelectionTimeoutMS=300"
        _served_once_up(url, storage, unused_port)


def _served_once_up(url: str, storage: Storage, port: int) -> None:
    with serving(url) as running:
        assert "answering 503 until it is reachable" in running.logged()
        assert httpx.get(running.url + "users", timeout=30).status_code == 503
        with ferretdb_process(storage, port=port):
            with db_drivers.connect(url) as driver:
                driver.save_user({"user_id": 5, "username": "Late"})
            response = httpx.get(running.url + "users", timeout=30)
            if response.status_code == 503:  # the failure is remembered for Retry-After seconds: as a client does
                threading.Event().wait(int(response.headers["retry-after"]))
                response = httpx.get(running.url + "users", timeout=30)
            assert response.json() == [{"user_id": 5, "username": "Late"}]


@pytest.fixture
def unused_port() -> int:
    """A port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Pictures of image files, thumbnails, series ---------------------------------------------------


def decoded(response: httpx.Response) -> Image.Image:
    assert response.status_code == 200 and response.headers["content-type"] == "image/png", response.text
    return Image.open(io.BytesIO(response.content))


@pytest.mark.parametrize("content_type", sorted(IMAGE_FILES))
def test_an_image_file_kept_as_bytes_is_a_picture(client: httpx.Client, content_type: str) -> None:
    key = content_type.split("/")[1]
    described = client.get(f"users/{EXTRA_USER}/snapshots/1/files").json()["payloads"][key]
    assert described["kind"] == "bytes" and described["content_type"] == content_type
    assert described["picture_url"] == f"/users/{EXTRA_USER}/snapshots/1/files/{key}?as=png"
    picture = decoded(client.get(described["picture_url"]))
    assert picture.size == (160, 90)
    stored = np.asarray(Image.open(io.BytesIO(IMAGE_FILES[content_type])).convert("RGB"))  # JPEG's own loss included
    assert (np.asarray(picture.convert("RGB")) == stored).all()


@pytest.mark.parametrize(
    ("path", "stored"),
    [
        (payload_url("files", "png"), (160, 90)),
        (payload_url("files", "jpeg"), (160, 90)),
        (payload_url("depth"), (3, 2)),
        (payload_url("color_image", user_id=42), None),
    ],
)
def test_a_thumbnail_is_rendered_small_and_keeps_its_aspect(
    client: httpx.Client, path: str, stored: tuple[int, int] | None
) -> None:
    full = decoded(client.get(path, params={"as": "png"}))
    assert stored is None or full.size == stored
    small = client.get(path, params={"as": "png", "width": 2})
    thumbnail = decoded(small)
    assert thumbnail.width == min(2, full.width)
    assert abs(thumbnail.height - full.height * thumbnail.width / full.width) <= 1
    assert len(small.content) < len(client.get(path, params={"as": "png"}).content)  # never the full picture
    etag = small.headers["etag"]
    assert etag != client.head(path, params={"as": "png", "width": 3}).headers["etag"]
    again = client.get(path, params={"as": "png", "width": 2}, headers={"If-None-Match": etag})
    assert again.status_code == 304
    wider = decoded(client.get(path, params={"as": "png", "width": 4096}))
    assert wider.size == full.size  # never made larger than stored


def test_a_series_lists_every_snapshot_with_the_results_scalar_fields(client: httpx.Client, database_url: str) -> None:
    with db_drivers.connect(database_url) as driver:
        snapshots = driver.get_snapshots(42)
        feelings = {s["snapshot_id"]: driver.get_result(42, s["snapshot_id"], "feelings") for s in snapshots}
    series = client.get("users/42/series/feelings").json()
    assert series["total"] == len(snapshots) and series["next"] is None
    assert [e["snapshot_id"] for e in series["snapshots"]] == [s["snapshot_id"] for s in snapshots]
    for entry in series["snapshots"]:
        found = feelings[entry["snapshot_id"]]
        assert entry["fields"] == (None if found is None else found.fields)
        assert entry["ranges"] == {} and entry["pictures"] == {}
    assert [e["datetime"] for e in series["snapshots"]] == [jsonable(s["datetime"]) for s in snapshots]


def test_a_series_is_paged_and_each_page_links_the_next(client: httpx.Client) -> None:
    whole = client.get("users/42/series/pose").json()["snapshots"]
    assert len(whole) >= 3
    pages, url = [], "users/42/series/pose?limit=2"
    while url:
        page = client.get(url.lstrip("/")).json()
        assert page["limit"] == 2 and len(page["snapshots"]) <= 2
        pages += page["snapshots"]
        url = page["next"]
    assert pages == whole
    beyond = client.get("users/42/series/pose", params={"offset": 10**6}).json()
    assert beyond["snapshots"] == [] and beyond["next"] is None and beyond["total"] == len(whole)


def test_a_series_gives_nested_fields_by_dotted_path_and_leaves_payloads_and_lists_out(client: httpx.Client) -> None:
    (entry,) = client.get(f"users/{EXTRA_USER}/series/frames").json()["snapshots"]
    assert entry["fields"] == {"fps": 30}  # frames is a list: no scalar
    (pose,) = [e for e in client.get("users/42/series/pose").json()["snapshots"][:1]]
    assert set(pose["fields"]) == {f"translation.{a}" for a in "xyz"} | {f"rotation.{a}" for a in "xyzw"}


def test_a_series_of_arrays_gives_each_ones_range_and_the_range_of_all(client: httpx.Client, database_url: str) -> None:
    series = client.get("users/42/series/depth_image").json()
    with db_drivers.connect(database_url) as driver:
        arrays = [driver.get_result(42, e["snapshot_id"], "depth_image") for e in series["snapshots"]]
        values = [np.asarray(a["data"]) for a in arrays if a is not None]
    for entry, array in zip(series["snapshots"], values, strict=True):
        assert entry["ranges"]["data"] == {"minimum": float(np.nanmin(array)), "maximum": float(np.nanmax(array))}
        assert entry["pictures"]["data"].endswith(f"/snapshots/{entry['snapshot_id']}/depth_image/data?as=png")
    assert series["ranges"]["data"] == {
        "minimum": min(float(np.nanmin(a)) for a in values),
        "maximum": max(float(np.nanmax(a)) for a in values),
    }


def test_a_colormap_is_a_strip_of_its_colours(client: httpx.Client) -> None:
    for name in ("turbo", "gray"):
        response = client.get(f"colormaps/{name}")
        assert (np.asarray(decoded(response)) == colormap_table(name)[np.newaxis]).all()
        assert client.get(f"colormaps/{name}", headers={"If-None-Match": response.headers["etag"]}).status_code == 304


def test_the_interactive_docs_are_served_from_packaged_files_under_the_pages_policy(client: httpx.Client) -> None:
    page = client.get("docs")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    assert re.findall(r"<script\b[^>]*>", page.text) == [  # no inline script, nothing fetched elsewhere
        '<script src="docs/swagger-ui-bundle.js">',
        '<script src="docs/start.js">',
    ]
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    for asset in ("docs/swagger-ui-bundle.js", "docs/swagger-ui.css", "docs/start.js"):
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 0, asset
    assert client.get("docs/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
