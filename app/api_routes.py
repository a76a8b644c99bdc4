"""REST routes: thin functions that parse input, call a use case, convert the result.

Blocking work (SQLite, models) runs in sync routes, which FastAPI runs in its thread pool.
Errors are domain exceptions mapped to HTTP statuses in app/api.py.
"""

from __future__ import annotations

import logging
import mimetypes
import shutil
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel

from app import querying
from app.api_convert import document_detail, document_out, job_out, query_response
from app.api_deps import LoaderDep, RuntimeDep, ServicesDep, require_api_key
from app.api_health import readiness_of
from app.api_schemas import (
    DocStatusName,
    DocumentDetail,
    DocumentOut,
    ErrorOut,
    Health,
    JobOut,
    QueryRequest,
    QueryResponse,
    Readiness,
    StreamError,
    TokenChunk,
)
from app.api_uploads import FILE_FIELD, check_content_length, receive_upload
from generation.types import AnswerEvent, FinalEvent, TokenEvent
from ingest.errors import BackendUnavailable, MMRagError, NotFound
from ingest.store import Registry
from ingest.types import DocStatus, JobStatus, Unit, UnitKind
from retrieval.types import SearchFilter

log = logging.getLogger(__name__)

ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorOut, "description": "missing or wrong API key"},
    404: {"model": ErrorOut, "description": "no such document, unit or job"},
    503: {"model": ErrorOut, "description": "Qdrant or the generator is unreachable"},
}

system = APIRouter(tags=["system"])
documents = APIRouter(tags=["documents"])
search = APIRouter(tags=["query"])
media = APIRouter(tags=["media"])


# -- system -------------------------------------------------------------------------------


@system.get("/health", response_model=Health, summary="Liveness (no auth)")
def health() -> Health:
    """The process is up and serving requests."""
    return Health()


@system.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness of each dependency",
    dependencies=[Depends(require_api_key)],
    responses={401: ERRORS[401], 503: {"model": Readiness, "description": "a dependency is down"}},
)
def ready(loader: LoaderDep, response: Response) -> Readiness:
    """Probe the registry, Qdrant, each model and the generator; 503 names the part that
    is down, or says "loading" while the models load."""
    readiness = readiness_of(loader)
    if not readiness.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return readiness


# -- documents and jobs -------------------------------------------------------------------

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


@documents.post(
    "/documents",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Upload a PDF or video for ingestion",
    openapi_extra=_UPLOAD_BODY,
    responses={
        **ERRORS,
        400: {"model": ErrorOut, "description": "not multipart, no file, empty file"},
        413: {"model": ErrorOut, "description": "over the upload size limit"},
        415: {"model": ErrorOut, "description": "content is not a PDF or a supported video"},
    },
)
async def upload_document(request: Request, runtime: RuntimeDep, response: Response) -> JobOut:
    """Stream the multipart `file` field to disk, queue it, return the job (202).

    The type is decided by the file's first bytes, never by its name. Poll
    `GET /jobs/{id}` for progress; the document id appears on the job once hashed.
    """
    limit = runtime.settings.max_upload_bytes
    check_content_length(request.headers.get("content-length"), limit)
    upload = await receive_upload(
        request.stream(), request.headers.get("content-type"), runtime.upload_root, limit
    )
    try:
        job = runtime.services.registry.create_job(upload.file_name)
        runtime.worker.submit(job.id, upload)
    except BaseException:
        shutil.rmtree(upload.folder, ignore_errors=True)
        raise
    log.info("queued %s (%d bytes) as job %s", upload.file_name, upload.size_bytes, job.id)
    response.headers["Location"] = f"/jobs/{job.id}"
    return job_out(job)


@documents.get("/documents", response_model=list[DocumentOut], responses=ERRORS)
def list_documents(
    services: ServicesDep,
    status_filter: Annotated[DocStatusName | None, Query(alias="status")] = None,
) -> list[DocumentOut]:
    """Every document with its status and page/clip counts, oldest first."""
    wanted = DocStatus(status_filter) if status_filter else None
    return [document_out(d) for d in services.registry.list_documents(wanted)]


@documents.get("/documents/{doc_id}", response_model=DocumentDetail, responses=ERRORS)
def get_document(doc_id: str, services: ServicesDep) -> DocumentDetail:
    """One document (full id or unique prefix) with a summary of each unit."""
    doc = services.registry.resolve_document(doc_id)
    return document_detail(doc, services.registry.units(doc.id))


@documents.delete("/documents/{doc_id}", status_code=status.HTTP_204_NO_CONTENT, responses=ERRORS)
def delete_document(doc_id: str, services: ServicesDep) -> Response:
    """Remove a document: its index points, registry rows and unshared blobs. 409 while
    the document is being ingested (a pending document with a job running)."""
    doc = services.registry.resolve_document(doc_id)
    if doc.status is DocStatus.PENDING and services.registry.list_jobs([JobStatus.RUNNING]):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{doc.file_name} is being ingested; delete it when its job ends",
        )
    services.ingestor.delete(doc.id)
    log.info("deleted %s (%s)", doc.file_name, doc.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@documents.get("/jobs/{job_id}", response_model=JobOut, responses=ERRORS)
def get_job(job_id: str, services: ServicesDep) -> JobOut:
    """An ingestion job's status, progress in [0, 1] and message."""
    job = services.registry.get_job(job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id!r}")
    return job_out(job)


# -- query --------------------------------------------------------------------------------


def search_filter(registry: Registry, request: QueryRequest) -> SearchFilter | None:
    """The request's restrictions with document prefixes resolved (NotFound if unknown)."""
    doc_ids = (
        tuple(registry.resolve_document(d).id for d in request.doc_ids) if request.doc_ids else None
    )
    kinds = tuple(UnitKind(k) for k in request.kinds) if request.kinds else None
    if doc_ids is None and kinds is None:
        return None
    return SearchFilter(doc_ids=doc_ids, kinds=kinds)


@search.post("/query", response_model=QueryResponse, responses=ERRORS)
def query(request: QueryRequest, services: ServicesDep) -> QueryResponse:
    """Retrieve, answer, and check the answer's citations against the hits."""
    answer = querying.ask(
        services, request.question, search_filter(services.registry, request), request.top_k
    )
    return query_response(answer)


def sse(event: str, data: BaseModel) -> str:
    """One server-sent event; `data` is JSON on a single line."""
    return f"event: {event}\ndata: {data.model_dump_json()}\n\n"


def sse_answer_response(events: Iterator[AnswerEvent]) -> StreamingResponse:
    """An SSE response of answer events. The first event is computed before the response
    starts, so errors up to then (retrieval, the first token) are plain HTTP errors."""
    first = next(events, None)
    if first is None:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "empty answer stream")
    return StreamingResponse(
        sse_answer_events(chain([first], events)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def sse_answer_events(events: Iterator[AnswerEvent]) -> Iterator[str]:
    """Answer events as SSE `token` / `final` events; a failure becomes an `error` event."""
    try:
        for event in events:
            if isinstance(event, TokenEvent):
                yield sse("token", TokenChunk(text=event.text))
            elif isinstance(event, FinalEvent):
                yield sse("final", query_response(event.answer))
    except BackendUnavailable as err:
        yield sse("error", StreamError(status=503, detail=f"service unavailable: {err}"))
    except MMRagError as err:
        yield sse("error", StreamError(status=502, detail=str(err)))
    except Exception:  # headers are sent: the client can only learn of it in the stream
        log.exception("answer stream failed")
        yield sse("error", StreamError(status=500, detail="internal error while answering"))


@search.post(
    "/query/stream",
    summary="Answer as server-sent events",
    response_class=StreamingResponse,
    responses={
        **ERRORS,
        200: {
            "description": '`event: token` (data `{"text": ...}`) chunks, then one '
            "`event: final` whose data is the /query response; `event: error` "
            '(data `{"status", "detail"}`) ends a failed stream',
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
    },
)
def query_stream(request: QueryRequest, services: ServicesDep) -> StreamingResponse:
    """Like /query, streamed. Retrieval and the first token happen before the response
    starts, so an unreachable Qdrant or generator is still a plain 503."""
    events = querying.ask_stream(
        services, request.question, search_filter(services.registry, request), request.top_k
    )
    return sse_answer_response(events)


# -- media --------------------------------------------------------------------------------

_MEDIA_CACHE = "private, max-age=86400"  # ids are content hashes: the bytes never change


def _unit(services: ServicesDep, unit_id: str) -> Unit:
    unit = services.registry.get_unit(unit_id)
    if unit is None:
        raise NotFound(f"no unit with id {unit_id!r}")
    return unit


def _existing(path: Path, what: str) -> Path:
    if not path.is_file():
        raise NotFound(f"{what} is missing from the blob store")
    return path


def _media_type(path: Path, default: str) -> str:
    return mimetypes.guess_type(path.name)[0] or default


@media.get(
    "/units/{unit_id}/image",
    response_class=FileResponse,
    responses={**ERRORS, 200: {"content": {"image/png": {}, "image/jpeg": {}}}},
)
def unit_image(
    unit_id: str,
    services: ServicesDep,
    frame: Annotated[int | None, Query(ge=0, description="clip frame index")] = None,
) -> FileResponse:
    """A page's PNG; for a clip its middle keyframe, or frame `frame`."""
    unit = _unit(services, unit_id)
    if not unit.images:
        raise NotFound(f"unit {unit_id} has no image")
    index = len(unit.images) // 2 if frame is None else frame
    if index >= len(unit.images):
        raise NotFound(f"unit {unit_id} has {len(unit.images)} frames; no frame {index}")
    path = _existing(unit.images[index], f"image of {unit_id}")
    return FileResponse(
        path, media_type=_media_type(path, "image/png"), headers={"Cache-Control": _MEDIA_CACHE}
    )


@media.get(
    "/units/{unit_id}/video",
    response_class=FileResponse,
    responses={
        **ERRORS,
        200: {"content": {"video/mp4": {}}},
        206: {"description": "partial content (HTTP Range request)"},
    },
)
def unit_video(unit_id: str, services: ServicesDep) -> FileResponse:
    """The clip's source video, with HTTP Range support so players can seek to `start_s`."""
    unit = _unit(services, unit_id)
    if unit.kind is not UnitKind.CLIP:
        raise NotFound(f"unit {unit_id} is a page, not a clip")
    doc = services.registry.get_document(unit.doc_id)
    if doc is None:
        raise NotFound(f"document of unit {unit_id} is gone")
    path = _existing(services.storage.blobs.path(doc.source_blob), f"video of {unit_id}")
    return FileResponse(
        path,
        media_type=_media_type(path, "video/mp4"),
        filename=doc.file_name,
        content_disposition_type="inline",
        headers={"Cache-Control": _MEDIA_CACHE},
    )
