"""Domain records -> API wire models (pure functions)."""

from __future__ import annotations

from urllib.parse import quote

from app.api.schemas import (
    CitationOut,
    DocumentDetail,
    DocumentOut,
    HitOut,
    JobOut,
    QueryResponse,
    UnitSummary,
)
from generation.citations import render_answer
from generation.types import Answer, Citation
from ingest.types import Document, Job, Unit, UnitKind
from retrieval.types import Hit

SNIPPET_CHARS = 400
PREVIEW_CHARS = 160


def _snippet(text: str, limit: int) -> str:
    """Whitespace-collapsed text cut at `limit` characters, with an ellipsis when cut."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def unit_image_url(unit_id: str) -> str:
    """Path of a unit's image (page PNG, or a clip's middle keyframe)."""
    return f"/units/{quote(unit_id, safe=':')}/image"


def unit_video_url(unit: Unit) -> str | None:
    """Path of a clip's source video (None for pages)."""
    if unit.kind is not UnitKind.CLIP:
        return None
    return f"/units/{quote(unit.id, safe=':')}/video"


def job_out(job: Job) -> JobOut:
    return JobOut(
        id=job.id,
        source=job.source,
        status=job.status.value,
        progress=job.progress,
        message=job.message,
        phase=job.phase,
        done=job.done,
        total=job.total,
        doc_id=job.doc_id,
        error=job.error,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )


def document_out(doc: Document) -> DocumentOut:
    return DocumentOut(
        id=doc.id,
        file_name=doc.file_name,
        kind=doc.kind.value,
        status=doc.status.value,
        size_bytes=doc.size_bytes,
        n_pages=doc.n_pages,
        n_clips=doc.n_clips,
        duration_s=doc.duration_s,
        error=doc.error,
        created_at=doc.created_at,
        updated_at=doc.updated_at,
    )


def unit_summary(unit: Unit) -> UnitSummary:
    return UnitSummary(
        id=unit.id,
        kind=unit.kind.value,
        label=unit.label,
        page=unit.page,
        start_s=unit.start_s,
        end_s=unit.end_s,
        text_source=unit.text_source,
        text_preview=_snippet(unit.text, PREVIEW_CHARS),
        n_images=len(unit.images),
        image_url=unit_image_url(unit.id),
        video_url=unit_video_url(unit),
    )


def document_detail(doc: Document, units: list[Unit]) -> DocumentDetail:
    return DocumentDetail(**document_out(doc).model_dump(), units=[unit_summary(u) for u in units])


def hit_out(rank: int, hit: Hit) -> HitOut:
    unit = hit.unit
    return HitOut(
        rank=rank,
        unit_id=unit.id,
        doc_id=unit.doc_id,
        file_name=unit.file_name,
        kind=unit.kind.value,
        label=unit.label,
        page=unit.page,
        start_s=unit.start_s,
        end_s=unit.end_s,
        score=hit.score,
        stage1_score=hit.stage1_score,
        rerank_score=hit.rerank_score,
        matched=list(hit.matched),
        text=_snippet(unit.text, SNIPPET_CHARS),
        image_url=unit_image_url(unit.id),
        video_url=unit_video_url(unit),
    )


def citation_out(citation: Citation) -> CitationOut:
    return CitationOut(
        marker=citation.marker,
        source_index=citation.source_index,
        unit_id=citation.unit_id,
        file_name=citation.file_name,
        page=citation.page,
        start_s=citation.start_s,
        end_s=citation.end_s,
        valid=citation.valid,
    )


def query_response(answer: Answer) -> QueryResponse:
    return QueryResponse(
        answer=answer.text,
        answer_display=render_answer(answer),
        refused=answer.refused,
        citations=[citation_out(c) for c in answer.citations],
        hits=[hit_out(i, h) for i, h in enumerate(answer.hits, start=1)],
    )
