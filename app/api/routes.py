"""REST routes: thin functions that parse input, call a use case, convert the result.

Blocking work (SQLite, models) runs in sync routes, which FastAPI runs in its thread pool.
Errors are domain exceptions mapped to HTTP statuses in app/api/errors.py; every status a
route can answer is declared in its `responses` (the schema is checked by schemathesis).
"""

from __future__ import annotations

import logging
import mimetypes
import shutil
from collections.abc import Iterator
from itertools import chain
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, Request, Response, status
from fastapi import Path as PathParam
from fastapi.responses import StreamingResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app import querying
from app.api.convert import document_detail, query_response
from app.api.deps import LoaderDep, RuntimeDep, ServicesDep
from app.api.errors import http_error
from app.api.health import readiness_of
from app.api.pump import in_one_thread
from app.api.ranges import RangedFileResponse
from app.api.schemas import (
    DOC_ID_PATTERN,
    JOB_ID_PATTERN,
    STREAM_EVENTS,
    DocStatusName,
    DocumentDetail,
    DocumentOut,
    Health,
    JobOut,
    QueryRequest,
    QueryResponse,
    Readiness,
    StreamError,
    TokenChunk,
)
from app.api.uploads import FILE_FIELD, receive_upload
from app.api.worker import IngestTask
from app.backends import backend_guard
from app.service import Services
from generation.types import AnswerEvent, FinalEvent, TokenEvent
from ingest.errors import NotFound
from ingest.store import MIN_DELETE_PREFIX
from ingest.types import DocStatus, JobStatus, Unit, UnitKind
from retrieval.types import SearchFilter

log = logging.getLogger(__name__)

_ERROR_TEXT: dict[int, str] = {
    400: "a body that cannot be read: not multipart with one non-empty `file` (uploads), "
    "not UTF-8 (JSON)",
    404: "no such document, unit or job (or an ambiguous id prefix)",
    409: "the document is being ingested",
    413: "the request body is over its size limit (uploads: MMRAG_MAX_UPLOAD_BYTES)",
    415: "the file's content is not a PDF or a supported video",
    416: "no requested byte range is within the file",
    422: "invalid parameters or body; the message names the field",
    502: "the generator answered with something unusable",
    503: "a dependency (Qdrant, the generator, the registry) is unavailable; the message names it",
}


def errors(*codes: int) -> dict[int | str, dict[str, object]]:
    """OpenAPI `responses` entries for these error statuses (their content, `{"detail":
    ...}` as JSON, is filled in by app/api/openapi.py)."""
    return {code: {"description": _ERROR_TEXT[code]} for code in codes}


DocId = Annotated[
    str,
    PathParam(
        pattern=DOC_ID_PATTERN,
        max_length=64,
        description="a document id (sha256 hex) or a unique prefix of one",
    ),
]

system = APIRouter(tags=["system"])
uploads = APIRouter(tags=["documents"])
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
    responses={503: {"model": Readiness, "description": "a dependency is down"}},
)
def ready(loader: LoaderDep, response: Response) -> Readiness:
    """Probe the registry, Qdrant, each model and the generator; 503 names the part that
    is down, or says "loading" while the models load."""
    readiness = readiness_of(loader)
    if not readiness.ready:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    return readiness


# -- documents and jobs -------------------------------------------------------------------

# What the server accepts (by content, whatever the part's declared type or file name).
UPLOAD_MEDIA_TYPES = (
    "application/pdf",
    "video/mp4",
    "video/quicktime",
    "video/x-matroska",
    "video/webm",
    "video/x-msvideo",
)
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                },
                "encoding": {FILE_FIELD: {"contentType": ", ".join(UPLOAD_MEDIA_TYPES)}},
            }
        },
    }
}


@uploads.post(
    "/documents",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=JobOut,
    summary="Upload a PDF or video for ingestion",
    openapi_extra=_UPLOAD_BODY,
    responses=errors(400, 413, 415, 503),
)
async def upload_document(request: Request, runtime: RuntimeDep, response: Response) -> JobOut:
    """Stream the multipart `file` field to disk, queue it, return the job (202).

    The type is decided by the file's first bytes, never by its name. Poll
    `GET /jobs/{id}` for progress; the document id appears on the job once hashed. The
    file is kept until its document is ready, so a restarted server resumes the job.
    """
    upload = await receive_upload(
        request.stream(), request.headers.get("content-type"), runtime.upload_root
    )
    try:
        job = runtime.services.registry.create_job(upload.file_name)
        upload = upload.move_to(runtime.upload_root / job.id)
        runtime.worker.submit(IngestTask(job.id, upload))
    except BaseException:
        shutil.rmtree(upload.folder, ignore_errors=True)
        raise
    log.info("queued %s (%d bytes) as job %s", upload.file_name, upload.size_bytes, job.id)
    response.headers["Location"] = f"/jobs/{job.id}"
    return JobOut.model_validate(job)


@documents.get("/documents", response_model=list[DocumentOut], responses=errors(422, 503))
def list_documents(
    services: ServicesDep,
    status_filter: Annotated[DocStatusName | None, Query(alias="status")] = None,
) -> list[DocumentOut]:
    """Every document with its status and page/clip counts, oldest first."""
    wanted = DocStatus(status_filter) if status_filter else None
    return [DocumentOut.model_validate(d) for d in services.registry.list_documents(wanted)]


@documents.get(
    "/documents/{doc_id}", response_model=DocumentDetail, responses=errors(404, 422, 503)
)
def get_document(doc_id: DocId, services: ServicesDep) -> DocumentDetail:
    """One document (full id or unique prefix) with a summary of each unit."""
    doc = services.registry.resolve_document(doc_id)
    return document_detail(doc, services.registry.units(doc.id))


@documents.delete(
    "/documents/{doc_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=errors(404, 409, 422, 503),
)
def delete_document(doc_id: DocId, services: ServicesDep) -> Response:
    """Remove a document: its index points, registry rows and unshared blobs. 409 while
    the document is being ingested (a pending document with a job running)."""
    doc = services.registry.resolve_document(doc_id, MIN_DELETE_PREFIX)
    if doc.status is DocStatus.PENDING and services.registry.list_jobs([JobStatus.RUNNING]):
        raise HTTPException(
            status.HTTP_409_CONFLICT,
            f"{doc.file_name} is being ingested; delete it when its job ends",
        )
    with backend_guard():  # the index is deleted from first: a failure leaves all in place
        services.ingestor.delete(doc.id)
    log.info("deleted %s (%s)", doc.file_name, doc.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@documents.get("/jobs/{job_id}", response_model=JobOut, responses=errors(404, 422, 503))
def get_job(
    job_id: Annotated[
        str, PathParam(pattern=JOB_ID_PATTERN, description="a job id (32 hex digits)")
    ],
    services: ServicesDep,
) -> JobOut:
    """An ingestion job's status, progress in [0, 1] and message."""
    job = services.registry.get_job(job_id)
    if job is None:
        raise NotFound(f"no job with id {job_id!r}")
    return JobOut.model_validate(job)


# -- query --------------------------------------------------------------------------------


def _scope(services: ServicesDep, request: QueryRequest) -> SearchFilter | None:
    return querying.resolve_scope(services.registry, request.doc_ids, request.kinds).search_filter


_QUERY_ERRORS = errors(400, 404, 413, 422, 502, 503)
# The statuses of the other JSON routes (conversations, UI support).
ERRORS = errors(400, 404, 413, 422, 502, 503)


def _answer(services: Services, request: QueryRequest) -> QueryResponse:
    answer = querying.ask(services, request.question, _scope(services, request), request.top_k)
    return query_response(answer)


@search.post("/query", response_model=QueryResponse, responses=_QUERY_ERRORS)
async def query(request: QueryRequest, services: ServicesDep) -> QueryResponse:
    """Retrieve, answer, and check the answer's citations against the hits."""
    # One hop to a worker thread for the whole query; a plain `def` route would also
    # validate its response in the thread pool (a second hop, see app/api/deps.py).
    return await run_in_threadpool(_answer, services, request)


def sse(event: str, data: BaseModel) -> str:
    """One server-sent event; `data` is JSON on a single line."""
    return f"event: {event}\ndata: {data.model_dump_json()}\n\n"


class EventStreamResponse(StreamingResponse):
    media_type = "text/event-stream"


def sse_answer_response(events: Iterator[AnswerEvent]) -> EventStreamResponse:
    """An SSE response of answer events. The first event is computed before the response
    starts, so errors up to then (retrieval, the first token) are plain HTTP errors."""
    first = next(events, None)
    if first is None:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "empty answer stream")
    return EventStreamResponse(
        in_one_thread(sse_answer_events(chain([first], events))),  # not a hop per token
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
    except Exception as err:  # headers are sent: the client can only learn of it in the stream
        mapped = http_error(err)  # the same status and detail as a plain route would answer
        if mapped is None:
            log.exception("answer stream failed")
            yield sse("error", StreamError(status=500, detail="internal error while answering"))
            return
        yield sse("error", StreamError(status=mapped.status, detail=mapped.detail))


def _sse_event(name: str, model: str) -> dict[str, object]:
    """One event of the stream: its name and its `data`, a line of JSON of `model`."""
    return {
        "type": "object",
        "required": ["event", "data"],
        "properties": {
            "event": {"const": name},
            "data": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": {"$ref": f"#/components/schemas/{model}"},
            },
        },
    }


_SSE_EVENT = {"oneOf": [_sse_event(name, model.__name__) for name, model in STREAM_EVENTS.items()]}


# OpenAPI 3.2's way to describe a stream: the events in order, and each event.
SSE_CONTENT = {
    "text/event-stream": {
        "schema": {"type": "array", "minItems": 1, "items": _SSE_EVENT},
        "itemSchema": _SSE_EVENT,
    }
}


@search.post(
    "/query/stream",
    summary="Answer as server-sent events",
    response_class=EventStreamResponse,
    responses={
        **_QUERY_ERRORS,
        200: {
            "description": "Server-sent events: `token` events (data: TokenChunk), then one "
            "`final` event (data: QueryResponse, the same as POST /query); a failure after "
            "the stream started is one `error` event (data: StreamError) and the end.",
            "content": SSE_CONTENT,
        },
    },
)
def query_stream(request: QueryRequest, services: ServicesDep) -> EventStreamResponse:
    """Like /query, streamed. Retrieval and the first token happen before the response
    starts, so an unreachable Qdrant or generator is still a plain 503."""
    events = querying.ask_stream(
        services, request.question, _scope(services, request), request.top_k
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
    response_class=RangedFileResponse,
    responses={
        **errors(404, 416, 422, 503),
        200: {"content": {"image/png": {}, "image/jpeg": {}}},
        206: {"description": "partial content (HTTP Range request)"},
    },
)
def unit_image(
    unit_id: str,
    services: ServicesDep,
    frame: Annotated[int | None, Query(ge=0, description="clip frame index")] = None,
) -> RangedFileResponse:
    """A page's PNG; for a clip its middle keyframe, or frame `frame`."""
    unit = _unit(services, unit_id)
    if not unit.images:
        raise NotFound(f"unit {unit_id} has no image")
    index = len(unit.images) // 2 if frame is None else frame
    if index >= len(unit.images):
        raise NotFound(f"unit {unit_id} has {len(unit.images)} frames; no frame {index}")
    path = _existing(unit.images[index], f"image of {unit_id}")
    return RangedFileResponse(
        path, media_type=_media_type(path, "image/png"), headers={"Cache-Control": _MEDIA_CACHE}
    )


@media.get(
    "/units/{unit_id}/video",
    response_class=RangedFileResponse,
    responses={
        **errors(404, 416, 503),
        200: {"content": {"video/mp4": {}}},
        206: {"description": "partial content (HTTP Range request)"},
    },
)
def unit_video(unit_id: str, services: ServicesDep) -> RangedFileResponse:
    """The clip's source video, with HTTP Range support so players can seek to `start_s`."""
    unit = _unit(services, unit_id)
    if unit.kind is not UnitKind.CLIP:
        raise NotFound(f"unit {unit_id} is a page, not a clip")
    doc = services.registry.get_document(unit.doc_id)
    if doc is None:
        raise NotFound(f"document of unit {unit_id} is gone")
    path = _existing(services.storage.blobs.path(doc.source_blob), f"video of {unit_id}")
    return RangedFileResponse(
        path,
        media_type=_media_type(path, "video/mp4"),
        filename=doc.file_name,
        content_disposition_type="inline",
        headers={"Cache-Control": _MEDIA_CACHE},
    )
