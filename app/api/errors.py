"""One error shape for every response of the API: `{"detail": "<one line>"}`.

- domain errors (ingest.errors) map to statuses here, in one place;
- a dependency's own exceptions (qdrant-client's HTTP errors, httpx transport errors) are
  turned into the project's `BackendUnavailable` naming the part (app/backends.py), so a
  failing Qdrant is a 503 whichever index backend raised it;
- validation errors become one line naming the fields, never echoing the input;
- a 405 lists every method the path allows (Starlette's lists only the first route's);
- `ErrorShapeMiddleware` rewrites the few plain-text errors Starlette sends by itself
  (an oversize body before the route runs, an unsatisfiable Range) into the same shape.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.uploads import UploadRejected
from app.backends import as_backend_error, backend_exception_types
from generation.errors import GenerationError
from ingest.errors import BackendUnavailable, IngestError, MMRagError, NotFound, UnsupportedFile

log = logging.getLogger(__name__)

MAX_DETAIL_CHARS = 300
_MAX_LISTED_ERRORS = 3


def error_response(
    status_code: int, detail: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    """The error body every route sends: one line, bounded."""
    return JSONResponse({"detail": one_line(detail)}, status_code=status_code, headers=headers)


def one_line(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """Whitespace collapsed to single spaces, cut at `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_of(err: MMRagError) -> int:
    """The HTTP status of a domain error (order matters: subclasses first)."""
    if isinstance(err, NotFound):
        return 404
    if isinstance(err, BackendUnavailable):
        return 503
    if isinstance(err, UnsupportedFile):
        return 415
    if isinstance(err, IngestError):
        return 400
    if isinstance(err, GenerationError):
        return 502
    return 500


def domain_detail(err: MMRagError) -> str:
    """The message of a domain error as the client sees it."""
    return f"service unavailable: {err}" if status_of(err) == 503 else str(err)


@dataclass(frozen=True, slots=True)
class HttpError:
    """The status and one-line detail a client gets for an error."""

    status: int
    detail: str


def http_error(err: BaseException) -> HttpError | None:
    """A domain error, or a dependency's own failure (as BackendUnavailable), as the status
    and detail every route answers with, plain or streamed (None for anything else: a 500)."""
    domain = err if isinstance(err, MMRagError) else as_backend_error(err)
    if domain is None:
        return None
    return HttpError(status_of(domain), domain_detail(domain))


def too_large_detail(scope: Scope) -> str:
    """The 413 message, naming the limit of the route that refused the body."""
    limit = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
    return f"request body is larger than the limit of {limit} bytes"


# -- validation ---------------------------------------------------------------------------

_WHERE = {"body": "body", "query": "query parameter", "path": "path parameter"}


def _field(loc: tuple[Any, ...], kind: str) -> str:
    if kind == "json_invalid":  # its loc holds a character offset, not a field
        return "request body"
    where = _WHERE.get(str(loc[0]), str(loc[0])) if loc else "request"
    path = ".".join(str(part) for part in loc[1:])
    if not path:
        return "request body" if where == "body" else where
    return f"{where} field `{path}`" if where == "body" else f"{where} `{path}`"


def _message(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "")
        return f"is not valid JSON ({reason})" if reason else "is not valid JSON"
    if kind == "string_pattern_mismatch":
        return "has the wrong format (see the OpenAPI schema for the pattern)"
    if kind == "missing":
        return "is required"
    if kind in ("model_attributes_type", "dict_type") and tuple(error.get("loc", ())) == ("body",):
        # What a client that forgot the header sends: the body arrives as text.
        return "must be a JSON object, sent with Content-Type: application/json"
    # pydantic's messages state the rule, never the input (which we never copy).
    return str(error.get("msg", "is invalid")).removeprefix("Value error, ")


def validation_detail(errors: list[dict[str, Any]]) -> str:
    """Pydantic errors -> one line naming each field and the rule it broke."""
    parts = [f"{_field(tuple(e.get('loc', ())), e.get('type', ''))}: {_message(e)}" for e in errors]
    shown = parts[:_MAX_LISTED_ERRORS]
    more = len(parts) - len(shown)
    return "; ".join(shown) + (f" (and {more} more)" if more else "")


# -- Allow ---------------------------------------------------------------------------------


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method the API documents for this concrete path (HEAD with GET), from the
    OpenAPI schema: the routes and the schema agree by construction."""
    found: set[str] = set()
    for template, methods in app.openapi().get("paths", {}).items():
        if compile_path(template)[0].match(path):
            found.update(m.upper() for m in methods if m.upper() in _METHOD_ORDER)
    if "GET" in found:
        found.add("HEAD")
    return sorted(found, key=_METHOD_ORDER.index)


_METHOD_ORDER = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE"]


# -- handlers ------------------------------------------------------------------------------


def install_error_handlers(
    app: FastAPI, *, qdrant_server: bool = False, http_clients: bool = False
) -> None:
    """Register the handlers that give every error the documented shape (qdrant-client's
    own errors too when the index is a Qdrant server, httpx's when a component talks HTTP:
    `factory.talks_http`)."""

    async def on_http(request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, StarletteHTTPException)
        headers = dict(err.headers or {})
        detail = str(err.detail)
        if err.status_code == 405:
            allow = allowed_methods(app, request.url.path)
            headers["Allow"] = ", ".join(allow)
            detail = f"method {request.method} is not allowed here; allowed: {', '.join(allow)}"
        elif err.status_code == 413:
            detail = too_large_detail(request.scope)
        return error_response(err.status_code, detail, headers)

    async def on_validation(_request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, RequestValidationError)
        return error_response(422, validation_detail(list(err.errors())))

    async def on_rejected(_request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, UploadRejected)
        return error_response(err.status_code, err.detail)

    async def on_domain(request: Request, err: Exception) -> JSONResponse:
        # MMRagError, and (a safety net: use cases translate these with backend_guard
        # already) a dependency's own exception.
        mapped = http_error(err)
        assert mapped is not None
        if mapped.status >= 500:
            log.warning("%s %s: %s: %s", request.method, request.url.path, type(err).__name__, err)
        return error_response(mapped.status, mapped.detail)

    async def on_unexpected(request: Request, err: Exception) -> JSONResponse:
        # Starlette re-raises after this response, so the traceback still reaches the log.
        return error_response(500, "internal error (see the server log)")

    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(UploadRejected, on_rejected)
    domain_errors: list[type[Exception]] = [
        MMRagError,
        *backend_exception_types(qdrant_server=qdrant_server, http_clients=http_clients),
    ]
    for domain_error in domain_errors:
        app.add_exception_handler(domain_error, on_domain)
    app.add_exception_handler(Exception, on_unexpected)


class ErrorShapeMiddleware:
    """Rewrites a plain-text error response (status >= 400) into `{"detail": ...}`,
    keeping its status and headers (e.g. a 416's Content-Range)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        held: Message | None = None
        body = bytearray()

        async def reshape(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start":
                content_type = _header(message, b"content-type")
                if message["status"] >= 400 and content_type.startswith(b"text/plain"):
                    held = message
                    return
            elif held is not None and message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                status = int(held["status"])
                text = body.decode("utf-8", "replace").strip() or HTTPStatus(status).phrase
                if status == 413:  # Starlette's own 413 for a declared Content-Length
                    text = too_large_detail(scope)
                payload = json.dumps({"detail": one_line(text)}).encode()
                headers = [
                    (k, v)
                    for k, v in held.get("headers", [])
                    if k.lower() not in (b"content-type", b"content-length")
                ]
                headers += [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": "http.response.body", "body": payload})
                return
            await send(message)

        await self.app(scope, receive, reshape)


def _header(message: Message, name: bytes) -> bytes:
    for key, value in message.get("headers", []):
        if key.lower() == name:
            return bytes(value).lower()
    return b""
