"""The REST API: `create_app(settings)` builds the FastAPI app; models load once, on a
background thread started in the lifespan (app/api/loading.py), through
`services_factory` (tests inject their own).

Routes live in app/api/routes.py, wire models in app/api/schemas.py, the error shape in
app/api/errors.py and authentication in app/api/auth.py; this module wires them together
with the body size limits and the ingest worker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

import retrieval.omp  # noqa: F401  (sets how torch threads wait; before torch loads)
from app import factory
from app.api import conversations, routes, ui_support
from app.api.auth import configured_key, install_auth
from app.api.deps import ApiRuntime
from app.api.errors import ErrorShapeMiddleware, install_error_handlers
from app.api.loading import BackgroundLoader, resume_gc_after_start
from app.api.openapi import install_openapi
from app.api.worker import IngestWorker, recover_jobs
from app.config import Settings
from app.service import Services, build_services

log = logging.getLogger(__name__)

ServicesFactory = Callable[[Settings], Services]

_DESCRIPTION = """Chat with your PDFs and videos.

Upload with `POST /documents` (returns a job; poll `GET /jobs/{id}`), then ask with
`POST /query` or `POST /query/stream` (server-sent events). When the server has an API key
(`MMRAG_API_KEY`), send it as `X-API-Key: <key>` or `Authorization: Bearer <key>` on every
route except `/health` (this schema and the docs included, unless `MMRAG_OPEN_API_DOCS`).
Every error body is `{"detail": "<one line>"}`.
"""


def _start_runtime(settings: Settings, services_factory: ServicesFactory) -> ApiRuntime:
    """Load the models (`services_factory`, then the lazy ones), start the PDF page
    processes (in the background) and the worker, and queue again what a previous process
    left unfinished (api_worker.recover_jobs). The cyclic GC comes back on once the models
    are in (or failed), if the start paused it."""
    try:
        services = services_factory(settings)
        services.load_models()
    finally:
        resume_gc_after_start()
    upload_root = settings.data_dir / "uploads"
    upload_root.mkdir(parents=True, exist_ok=True)
    recovered = recover_jobs(services.registry, upload_root)
    # After the models, not beside them: the page processes' start would slow /ready.
    services.ingestor.start_workers()
    worker = IngestWorker(services.ingestor, services.registry, nice=settings.ingest.nice)
    worker.start()
    for task in recovered:
        worker.submit(task)
    if recovered:
        log.warning("resuming %d interrupted ingest job(s)", len(recovered))
    return ApiRuntime(settings, services, worker, upload_root)


def _stop_runtime(runtime: ApiRuntime) -> None:
    runtime.worker.stop()
    runtime.services.close()


def create_app(settings: Settings, services_factory: ServicesFactory = build_services) -> FastAPI:
    """The FastAPI app. `services_factory(settings)` runs once, on a background thread
    started with the server (model loading): `/health` answers at once, `/ready` says
    "loading" until it is done, and routes that need the models answer 503 until then.
    The ingest worker thread starts once loaded, first resuming the ingests a previous
    process left unfinished, and stops with the app."""

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
    install_error_handlers(
        app, qdrant_server=bool(settings.qdrant_url), http_clients=factory.talks_http(settings)
    )
    # Every byte of a body counts against its route's limit, with or without Content-Length.
    json_limit = settings.max_json_bytes
    app.include_router(routes.system, max_body_size=json_limit)
    app.include_router(routes.uploads, max_body_size=settings.max_upload_bytes)
    app.include_router(routes.documents, max_body_size=json_limit)
    app.include_router(routes.search, max_body_size=json_limit)
    app.include_router(routes.media, max_body_size=json_limit)
    app.include_router(conversations.conversations, max_body_size=json_limit)
    app.include_router(ui_support.ui_support, max_body_size=json_limit)
    install_openapi(app, secured=configured_key(settings) is not None)
    app.add_middleware(ErrorShapeMiddleware)
    install_auth(app, settings)  # added last = outermost: the key is checked first
    return app
