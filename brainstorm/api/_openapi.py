"""The OpenAPI description as the API really answers: FastAPI's, with its errors made ours.

FastAPI documents a 422 with its validation schema on every route with parameters; this API answers
400 with `{"detail": message}` instead, and 404/500/503 the same way. The payload route's headers
(Range, If-None-Match, If-Range) are declared, and HEAD lists only what HEAD can answer.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR = {"type": "object", "properties": {"detail": {"type": "string"}}, "required": ["detail"]}
_ERRORS = {
    "400": "A value the library refuses (an id out of range, a bad name or query parameter)",
    "404": "No such user, snapshot, result or payload",
    "503": "The database is unreachable (retry after the Retry-After header's seconds)",
}
_PAYLOAD_ERRORS = {
    "422": "The payload cannot be shown as a picture (?as=png)",
    "500": "The stored payload is missing or corrupt",
}
_REQUEST_HEADERS = {
    "Range": "One range, bytes=a-b, a- or -n (several ranges get the whole payload)",
    "If-None-Match": "304 when it names the payload's ETag",
    "If-Range": "Apply Range only for this ETag",
}


def describe(app: FastAPI) -> dict[str, Any]:
    """The app's OpenAPI description (built once)."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for generated in ("HTTPValidationError", "ValidationError"):
            components.pop(generated, None)
        components["Error"] = ERROR
        for path, operations in schema["paths"].items():
            for method, operation in operations.items():
                _errors_of(operation, is_payload=path.endswith("/{key}"))
                if method == "get" and path.endswith("/{key}"):
                    operation["parameters"] += [_header(name, about) for name, about in _REQUEST_HEADERS.items()]
                if method == "head":
                    operation["parameters"] += [_header("If-None-Match", _REQUEST_HEADERS["If-None-Match"])]
                    for partial in ("206", "416"):
                        operation["responses"].pop(partial, None)
        app.openapi_schema = schema
    return app.openapi_schema


def _errors_of(operation: dict[str, Any], is_payload: bool) -> None:
    responses = operation["responses"]
    responses.pop("422", None)
    errors = {**_ERRORS, **(_PAYLOAD_ERRORS if is_payload else {})}
    for status, about in errors.items():
        responses[status] = {
            "description": about,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }


def _header(name: str, about: str) -> dict[str, Any]:
    return {"name": name, "in": "header", "required": False, "description": about, "schema": {"type": "string"}}
