"""The OpenAPI document: FastAPI's, completed with what it cannot infer.

- every error response is `{"detail": ...}` (ErrorOut) as application/json, also on routes
  whose success is not JSON (SSE, images, video);
- the models of the server-sent events that /query/stream declares in its `itemSchema`;
- with an API key configured, the security schemes, required on every route but /health,
  each of which may then answer 401.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app.api.auth import ALWAYS_OPEN, API_KEY_HEADER
from app.api.schemas import ErrorOut, StreamError, TokenChunk

ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}
SECURITY_SCHEMES: dict[str, Any] = {
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": API_KEY_HEADER,
        "description": "the key set in MMRAG_API_KEY",
    },
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <MMRAG_API_KEY>`",
    },
}


def error_content() -> dict[str, Any]:
    """The `content` of every error response."""
    return {"application/json": {"schema": ERROR_REF}}


def complete_openapi(schema: dict[str, Any], *, secured: bool) -> dict[str, Any]:
    """Fix up FastAPI's schema in place (see the module docstring); returns it."""
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for model in (ErrorOut, TokenChunk, StreamError):  # the last two: /query/stream's events
        schemas[model.__name__] = model.model_json_schema()
    # FastAPI's default 422 body (a list of errors) is replaced by ErrorOut below.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for path, item in schema["paths"].items():
        for operation in item.values():
            responses = operation.setdefault("responses", {})
            if secured and path not in ALWAYS_OPEN:
                responses["401"] = {"description": "missing or wrong API key"}
            for code, response in responses.items():
                if code.startswith("4") or (code.startswith("5") and path != "/ready"):
                    response["content"] = error_content()
            if secured and path in ALWAYS_OPEN:
                operation["security"] = []
    if secured:
        components["securitySchemes"] = SECURITY_SCHEMES
        schema["security"] = [{name: []} for name in SECURITY_SCHEMES]
    return schema


def install_openapi(app: FastAPI, *, secured: bool) -> None:
    """Serve the completed schema at /openapi.json (built once, on first use)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete_openapi(
                get_openapi(
                    title=app.title,
                    version=app.version,
                    summary=app.summary,
                    description=app.description,
                    routes=app.routes,
                ),
                secured=secured,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
