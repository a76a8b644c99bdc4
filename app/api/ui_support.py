"""Routes a client UI needs beyond the core API: the server's upload limits (so the uploader
can say them), and where a cited passage is on its page (to highlight it)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from app.api.chat_schemas import PassageBox, PassageBoxes, UploadLimits
from app.api.deps import ServicesDep, SettingsDep
from app.api.routes import ERRORS
from ingest.errors import NotFound
from ingest.sniff import PDF_SUFFIXES, VIDEO_SUFFIXES

ui_support = APIRouter(tags=["ui"])


@ui_support.get("/limits", response_model=UploadLimits, responses=ERRORS)
def limits(settings: SettingsDep) -> UploadLimits:
    """The largest upload accepted and the supported file name endings (answered while
    the models still load: the UI asks before its first upload)."""
    return UploadLimits(
        max_upload_bytes=settings.max_upload_bytes,
        extensions=sorted(PDF_SUFFIXES) + sorted(VIDEO_SUFFIXES),
    )


@ui_support.get("/units/{unit_id}/boxes", response_model=PassageBoxes, responses=ERRORS)
def passage_boxes(
    unit_id: str,
    services: ServicesDep,
    passage: Annotated[str, Query(min_length=1, max_length=4000, description="quoted text")],
) -> PassageBoxes:
    """Boxes (fractions of the page image) of the lines where `passage` is on a page, from
    the word boxes of the PDF text layer, or of OCR for an OCR'd page."""
    # Imported here: pymupdf (~0.2 s) stays off the server's start path.
    from ingest.word_boxes import locate_passage, unit_words

    unit = services.registry.get_unit(unit_id)
    if unit is None:
        raise NotFound(f"no unit with id {unit_id!r}")
    doc = services.registry.get_document(unit.doc_id)
    if doc is None:
        raise NotFound(f"document of unit {unit_id} is gone")
    source_pdf = services.storage.blobs.path(doc.source_blob)
    languages = services.settings.ingest.ocr_languages
    source, words = unit_words(unit, source_pdf, languages)
    match = locate_passage(words, passage)
    return PassageBoxes(
        unit_id=unit.id,
        source=source,
        matched_words=match.matched_words,
        passage_words=match.passage_words,
        boxes=[PassageBox(x0=b.x0, y0=b.y0, x1=b.x1, y1=b.y1) for b in match.boxes],
    )
