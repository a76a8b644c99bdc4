"""The REST API: `create_app(settings)` builds the FastAPI app; models load once, in the
lifespan, through `services_factory` (tests inject their own).

Routes live in app/api_routes.py, wire models in app/api_schemas.py, the error shape in
app/api_errors.py and authentication in app/api_auth.py; this module wires them together
with the body size limits and the ingest worker.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from app import api_routes
from app.api_auth import configured_key, install_auth
from app.api_deps import ApiRuntime
from app.api_errors import ErrorShapeMiddleware, install_error_handlers
from app.api_openapi import install_openapi
from app.api_worker import IngestWorker, recover_jobs
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


def limit_torch_threads(threads: int) -> None:
    """Cap torch's intra-op threads for this process (0 = leave torch's default)."""
    if threads <= 0:
        return
    import torch

    torch.set_num_threads(threads)


def create_app(settings: Settings, services_factory: ServicesFactory = build_services) -> FastAPI:
    """The FastAPI app. `services_factory(settings)` runs once at start-up (model loading);
    the ingest worker thread starts and stops with the app, and first resumes the ingests
    a previous process left unfinished."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        limit_torch_threads(settings.api_torch_threads)
        services = await run_in_threadpool(services_factory, settings)
        upload_root = settings.data_dir / "uploads"
        upload_root.mkdir(parents=True, exist_ok=True)
        recovered = await run_in_threadpool(recover_jobs, services.registry, upload_root)
        worker = IngestWorker(services.ingestor, services.registry)
        worker.start()
        for task in recovered:
            worker.submit(task)
        if recovered:
            log.warning("resuming %d interrupted ingest job(s)", len(recovered))
        app.state.runtime = ApiRuntime(settings, services, worker, upload_root)
        try:
            yield
        finally:
            worker.stop()
            services.close()
            app.state.runtime = None

    app = FastAPI(
        title="mmrag",
        summary="Chat with your PDFs and videos",
        description=_DESCRIPTION,
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.runtime = None
    install_error_handlers(app)
    # Every byte of a body counts against its route's limit, with or without Content-Length.
    json_limit = settings.max_json_bytes
    app.include_router(api_routes.system, max_body_size=json_limit)
    app.include_router(api_routes.uploads, max_body_size=settings.max_upload_bytes)
    app.include_router(api_routes.documents, max_body_size=json_limit)
    app.include_router(api_routes.search, max_body_size=json_limit)
    app.include_router(api_routes.media, max_body_size=json_limit)
    install_openapi(app, secured=configured_key(settings) is not None)
    app.add_middleware(ErrorShapeMiddleware)
    install_auth(app, settings)  # added last = outermost: the key is checked first
    return app
