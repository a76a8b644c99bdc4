"""FastAPI dependencies: the runtime built in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from app.api.loading import BackgroundLoader
from app.api.worker import IngestWorker
from app.config import Settings
from app.service import Services


@dataclass(frozen=True, slots=True)
class ApiRuntime:
    """Everything the routes use, built once in the lifespan."""

    settings: Settings
    services: Services
    worker: IngestWorker
    upload_root: Path


# The dependencies are `async def` on purpose: they only read app state, and FastAPI runs
# a plain `def` dependency in its thread pool. Each such hop hands the GIL between the
# event loop and a worker thread, and under 20 concurrent queries those hand-offs, not
# the queries, bounded the server's rate (docs/figures.md, issue 12).


async def get_loader(request: Request) -> BackgroundLoader[ApiRuntime] | None:
    """The model loader of the running app (None outside the lifespan)."""
    loader: BackgroundLoader[ApiRuntime] | None = getattr(request.app.state, "loader", None)
    return loader


async def get_runtime(request: Request) -> ApiRuntime:
    """The loaded runtime; 503 while the models load or when loading failed."""
    loader = await get_loader(request)
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


async def get_settings(request: Request) -> Settings:
    """The app's settings: there from the start, while the models still load."""
    settings: Settings = request.app.state.settings
    return settings


async def get_services(runtime: Annotated[ApiRuntime, Depends(get_runtime)]) -> Services:
    return runtime.services


ServicesDep = Annotated[Services, Depends(get_services)]
RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
LoaderDep = Annotated[BackgroundLoader[ApiRuntime] | None, Depends(get_loader)]
