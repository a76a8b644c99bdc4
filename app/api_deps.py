"""FastAPI dependencies: the runtime built in the lifespan, and API key auth."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.api_loading import BackgroundLoader
from app.api_worker import IngestWorker
from app.config import Settings
from app.service import Services

API_KEY_HEADER = "X-API-Key"

_api_key_header = APIKeyHeader(
    name=API_KEY_HEADER, auto_error=False, description="the key set in MMRAG_API_KEY"
)
_bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <MMRAG_API_KEY>`")


@dataclass(frozen=True, slots=True)
class ApiRuntime:
    """Everything the routes use, built once in the lifespan."""

    settings: Settings
    services: Services
    worker: IngestWorker
    upload_root: Path


def get_loader(request: Request) -> BackgroundLoader[ApiRuntime] | None:
    """The model loader of the running app (None outside the lifespan)."""
    loader: BackgroundLoader[ApiRuntime] | None = getattr(request.app.state, "loader", None)
    return loader


def get_runtime(request: Request) -> ApiRuntime:
    """The loaded runtime; 503 while the models load or when loading failed."""
    loader = get_loader(request)
    if loader is None:  # only when a route runs outside the lifespan
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the service is starting")
    if loader.status == "failed":
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, f"loading the models failed: {loader.error}"
        )
    if loader.value is None:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            "the models are still loading: GET /ready says when they are in",
            headers={"Retry-After": "10"},
        )
    return loader.value


def get_services(runtime: Annotated[ApiRuntime, Depends(get_runtime)]) -> Services:
    return runtime.services


def key_matches(expected: str, given: str | None) -> bool:
    """Constant-time comparison of a presented key with the configured one."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def require_api_key(
    request: Request,
    header_key: Annotated[str | None, Security(_api_key_header)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
) -> None:
    """Pass when no key is configured, or when `X-API-Key` or a Bearer token matches it."""
    settings: Settings = request.app.state.settings
    if settings.api_key is None or not settings.api_key.get_secret_value():
        return
    expected = settings.api_key.get_secret_value()
    token = bearer.credentials if bearer is not None else None
    # Check both (no short-circuit on the first) so timing does not say which was tried.
    header_ok = key_matches(expected, header_key)
    bearer_ok = key_matches(expected, token)
    if not (header_ok or bearer_ok):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            f"missing or wrong API key: send `{API_KEY_HEADER}: <key>` or "
            "`Authorization: Bearer <key>`",
            headers={"WWW-Authenticate": "Bearer"},
        )


ServicesDep = Annotated[Services, Depends(get_services)]
RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]
LoaderDep = Annotated[BackgroundLoader[ApiRuntime] | None, Depends(get_loader)]
