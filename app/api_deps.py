"""FastAPI dependencies: the runtime built in the lifespan."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from app.api_worker import IngestWorker
from app.config import Settings
from app.service import Services


@dataclass(frozen=True, slots=True)
class ApiRuntime:
    """Everything the routes use, built once in the lifespan."""

    settings: Settings
    services: Services
    worker: IngestWorker
    upload_root: Path


def get_runtime(request: Request) -> ApiRuntime:
    runtime: ApiRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:  # only when a route runs outside the lifespan
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the service is starting")
    return runtime


def get_services(runtime: Annotated[ApiRuntime, Depends(get_runtime)]) -> Services:
    return runtime.services


ServicesDep = Annotated[Services, Depends(get_services)]
RuntimeDep = Annotated[ApiRuntime, Depends(get_runtime)]
