"""The HTTP API and the web viewer: `brainstorm serve`, or `create_app` inside your own ASGI service.

    from brainstorm.api import create_app
    app = create_app("mongodb://db:27017/brainstorm")     # any ASGI server: uvicorn module:app

Routes (JSON; datetimes ISO 8601 UTC; the OpenAPI description at `/openapi.json`):

    GET /users
    GET /users/{user_id}
    GET /users/{user_id}/snapshots
    GET /users/{user_id}/snapshots/{snapshot_id}                      (with available_results)
    GET /users/{user_id}/snapshots/{snapshot_id}/{result_name}        (payloads described, with URLs)
    GET /users/{user_id}/snapshots/{snapshot_id}/{result_name}/{key}  (the payload's bytes; ?as=png)
    GET /                                                             (the web viewer)

Payloads stream in bounded pieces with Content-Length, a strong ETag (their sha256), If-None-Match,
one Range (206/416), If-Range and HEAD. Needs the `serve` extra: `pip install 'brainstorm[serve]'`.
"""

from __future__ import annotations

from ._app import create_app

__all__ = ["create_app"]
