"""The REST API: `create_app(settings)` builds the FastAPI app; models load once, on a
background thread started in the lifespan (app/api_loading.py), through
`services_factory` (tests inject their own).

Routes live in app/api_routes.py, wire models in app/api_schemas.py; this module wires
them together with auth and the mapping from domain errors to HTTP statuses.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from app import api_conversations, api_routes, api_ui_support
from app.api_deps import ApiRuntime, require_api_key
from app.api_loading import BackgroundLoader
from app.api_uploads import UploadRejected
from app.api_worker import IngestWorker, fail_interrupted_jobs
from app.config import Settings
from app.service import Services, build_services
from generation.errors import GenerationError
from ingest.errors import BackendUnavailable, IngestError, MMRagError, NotFound, UnsupportedFile

log = logging.getLogger(__name__)

ServicesFactory = Callable[[Settings], Services]

_DESCRIPTION = """Chat with your PDFs and videos.

Upload with `POST /documents` (returns a job; poll `GET /jobs/{id}`), then ask with
`POST /query` or `POST /query/stream` (server-sent events). When the server has an API key
(`MMRAG_API_KEY`), send it as `X-API-Key: <key>` or `Authorization: Bearer <key>` on every
route except `/health`.
"""


def _error(status_code: int, detail: str) -> JSONResponse:
    return JSONResponse({"detail": detail}, status_code=status_code)


def _status_of(err: MMRagError) -> int:
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


def _install_error_handlers(app: FastAPI) -> None:
    async def on_rejected(_request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, UploadRejected)
        return _error(err.status_code, err.detail)

    async def on_domain_error(_request: Request, err: Exception) -> JSONResponse:
        assert isinstance(err, MMRagError)
        code = _status_of(err)
        if code >= 500:
            log.warning("%s: %s", type(err).__name__, err)
        detail = f"service unavailable: {err}" if code == 503 else str(err)
        return _error(code, detail)

    app.add_exception_handler(UploadRejected, on_rejected)
    app.add_exception_handler(MMRagError, on_domain_error)


def _start_runtime(settings: Settings, services_factory: ServicesFactory) -> ApiRuntime:
    """Load the models (`services_factory`, then the lazy ones), clear orphaned uploads,
    start the worker."""
    services = services_factory(settings)
    services.load_models()
    upload_root = settings.data_dir / "uploads"
    # Uploads of a previous process are orphans: their jobs are failed just below.
    shutil.rmtree(upload_root, ignore_errors=True)
    upload_root.mkdir(parents=True, exist_ok=True)
    stale = fail_interrupted_jobs(services.registry)
    if stale:
        log.warning("marked %d interrupted ingest job(s) failed", stale)
    worker = IngestWorker(services.ingestor, services.registry)
    worker.start()
    return ApiRuntime(settings, services, worker, upload_root)


def _stop_runtime(runtime: ApiRuntime) -> None:
    runtime.worker.stop()
    runtime.services.close()


def create_app(settings: Settings, services_factory: ServicesFactory = build_services) -> FastAPI:
    """The FastAPI app. `services_factory(settings)` runs once, on a background thread
    started with the server (model loading): `/health` answers at once, `/ready` says
    "loading" until it is done, and routes that need the models answer 503 until then.
    The ingest worker thread starts once loaded and stops with the app."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loader = BackgroundLoader(lambda: _start_runtime(settings, services_factory))
        app.state.loader = loader
        loader.start()
        try:
            yield
        finally:
            # a download in progress cannot be interrupted: wait a while, then exit anyway
            await run_in_threadpool(loader.stop, _stop_runtime, 30.0)

    app = FastAPI(
        title="mmrag",
        summary="Chat with your PDFs and videos",
        description=_DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.loader = None
    _install_error_handlers(app)
    authed = [Depends(require_api_key)]
    app.include_router(api_routes.system)  # /health is open; /ready carries its own auth
    app.include_router(api_routes.documents, dependencies=authed)
    app.include_router(api_routes.search, dependencies=authed)
    app.include_router(api_routes.media, dependencies=authed)
    app.include_router(api_conversations.conversations, dependencies=authed)
    app.include_router(api_ui_support.ui_support, dependencies=authed)
    return app
