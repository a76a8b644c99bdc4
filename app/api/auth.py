"""API key authentication, checked before anything else looks at the request.

A pure ASGI middleware, so a request without the key gets 401 before routing, body
parsing or validation: a malformed body without a key is a 401, not a 422, and the
schema and docs (`/openapi.json`, `/docs`, `/redoc`) are guarded like every other route
unless `MMRAG_OPEN_API_DOCS=true`. Only `/health` is always open.
"""

from __future__ import annotations

import hmac
import json

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from app.config import Settings

API_KEY_HEADER = "X-API-Key"
ALWAYS_OPEN = frozenset({"/health"})
UNAUTHORIZED = (
    f"missing or wrong API key: send `{API_KEY_HEADER}: <key>` or `Authorization: Bearer <key>`"
)


def configured_key(settings: Settings) -> str | None:
    """The API key, or None when the API is open."""
    if settings.api_key is None or not settings.api_key.get_secret_value():
        return None
    return settings.api_key.get_secret_value()


def key_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def presents_key(expected: str, headers: Headers) -> bool:
    """Whether `X-API-Key` or an `Authorization: Bearer` token carries the key."""
    scheme, _, token = headers.get("authorization", "").partition(" ")
    bearer = token.strip() if scheme.lower() == "bearer" else None
    # Check both (no short-circuit on the first) so timing does not say which was tried.
    header_ok = key_matches(expected, headers.get(API_KEY_HEADER))
    bearer_ok = key_matches(expected, bearer)
    return header_ok or bearer_ok


def docs_paths(app: FastAPI) -> frozenset[str]:
    """The schema and documentation routes FastAPI adds."""
    paths = (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url)
    return frozenset(p for p in paths if p)


class ApiKeyMiddleware:
    """401 for every request without the key, except the open paths."""

    def __init__(self, app: ASGIApp, key: str, open_paths: frozenset[str]) -> None:
        self.app = app
        self.key = key
        self.open_paths = open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.open_paths:
            await self.app(scope, receive, send)
            return
        if presents_key(self.key, Headers(scope=scope)):
            await self.app(scope, receive, send)
            return
        body = json.dumps({"detail": UNAUTHORIZED}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer, ApiKey header="X-API-Key"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


def install_auth(app: FastAPI, settings: Settings) -> None:
    """Guard the app with the key, when one is configured (the schema declares it: see
    app/api/openapi.py)."""
    key = configured_key(settings)
    if key is None:
        return
    open_paths = ALWAYS_OPEN | (docs_paths(app) if settings.open_api_docs else frozenset())
    app.add_middleware(ApiKeyMiddleware, key=key, open_paths=open_paths)
