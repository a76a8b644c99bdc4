"""Domain records -> API wire models (pure functions).

Records whose fields the wire model copies one to one (Job, Document, Citation,
Conversation) need no function here: their models read them with `model_validate`
(`from_attributes`). What is left derives fields: snippets, URLs, ranks, the rendered answer.
"""

from __future__ import annotations

import functools
import re
from urllib.parse import quote

from app.api.schemas import (
    CitationOut,
    DocumentDetail,
    DocumentOut,
    HitOut,
    QueryResponse,
    UnitSummary,
)
from generation.citations import render_answer
from generation.types import Answer
from ingest.types import Document, Unit, UnitKind
from retrieval.types import Hit

SNIPPET_CHARS = 400
_WORD = re.compile(r"\S+")
PREVIEW_CHARS = 160


# Memoised: a query's hits are mostly units earlier queries returned, and this loop runs
# under the GIL for every hit of every response.
@functools.lru_cache(maxsize=4096)
def _snippet(text: str, limit: int) -> str:
    """Whitespace-collapsed text cut at `limit` characters, with an ellipsis when cut."""
    words: list[str] = []
    size = -1
    for match in _WORD.finditer(text):  # a page's text is long: read only what is shown
        words.append(match.group())
        size += len(words[-1]) + 1
        if size > limit:
            break
    flat = " ".join(words)
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def unit_image_url(unit_id: str) -> str:
    """Path of a unit's image (page PNG, or a clip's middle keyframe)."""
    return f"/units/{quote(unit_id, safe=':')}/image"


def unit_video_url(unit: Unit) -> str | None:
    """Path of a clip's source video (None for pages)."""
    if unit.kind is not UnitKind.CLIP:
        return None
    return f"/units/{quote(unit.id, safe=':')}/video"


def _unit_fields(unit: Unit) -> dict[str, object]:
    """The fields every wire model of a unit shares: where it is and its media links."""
    return {
        "kind": unit.kind.value,
        "label": unit.label,
        "page": unit.page,
        "start_s": unit.start_s,
        "end_s": unit.end_s,
        "image_url": unit_image_url(unit.id),
        "video_url": unit_video_url(unit),
    }


def unit_summary(unit: Unit) -> UnitSummary:
    return UnitSummary(
        id=unit.id,
        text_source=unit.text_source,
        text_preview=_snippet(unit.text, PREVIEW_CHARS),
        n_images=len(unit.images),
        **_unit_fields(unit),
    )


def document_detail(doc: Document, units: list[Unit]) -> DocumentDetail:
    return DocumentDetail(
        **DocumentOut.model_validate(doc).model_dump(), units=[unit_summary(u) for u in units]
    )


def hit_out(rank: int, hit: Hit) -> HitOut:
    unit = hit.unit
    return HitOut(
        rank=rank,
        unit_id=unit.id,
        doc_id=unit.doc_id,
        file_name=unit.file_name,
        score=hit.score,
        stage1_score=hit.stage1_score,
        rerank_score=hit.rerank_score,
        matched=list(hit.matched),
        text=_snippet(unit.text, SNIPPET_CHARS),
        **_unit_fields(unit),
    )


def query_response(answer: Answer) -> QueryResponse:
    return QueryResponse(
        answer=answer.text,
        answer_display=render_answer(answer),
        refused=answer.refused,
        located=answer.located,
        evidence=answer.evidence,
        citations=[CitationOut.model_validate(c) for c in answer.citations],
        hits=[hit_out(i, h) for i, h in enumerate(answer.hits, start=1)],
    )
