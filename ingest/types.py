"""Typed records shared by every layer: documents, units (a page or a clip) and jobs."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from ingest.stages import StageTimes


class DocKind(StrEnum):
    PDF = "pdf"
    VIDEO = "video"


class UnitKind(StrEnum):
    PAGE = "page"
    CLIP = "clip"


class DocStatus(StrEnum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


class JobStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


def format_timestamp(seconds: float) -> str:
    """Seconds -> `mm:ss` (or `h:mm:ss` past an hour)."""
    total = max(0, int(seconds))
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


@dataclass(frozen=True, slots=True)
class Unit:
    """One searchable piece of a document: a PDF page or a video clip.

    `images` are absolute paths into the blob store: the page PNG, or the clip's frames in
    time order. `text` is what a text model can read: the text layer or OCR of a page, the
    transcript plus keyframe OCR of a clip.
    """

    id: str
    doc_id: str
    kind: UnitKind
    ordinal: int  # 0-based position in the document
    file_name: str
    text: str
    images: tuple[Path, ...] = ()
    page: int | None = None  # 1-based, pages only
    start_s: float | None = None  # clips only
    end_s: float | None = None
    text_source: str = ""  # how `text` was obtained: "layer", "ocr", "asr+ocr", ...

    @property
    def location(self) -> str:
        """`p.3` for a page, `00:10-00:20` for a clip: to the nearest second, so a clip
        of 9.96-19.91 s reads 00:10-00:20, not 00:09-00:19 (the header the models read,
        retrieval.unit_text, keeps its own format)."""
        if self.kind is UnitKind.PAGE:
            return f"p.{self.page}"
        start, end = round(self.start_s or 0.0), round(self.end_s or 0.0)
        return f"{format_timestamp(start)}-{format_timestamp(end)}"

    @property
    def label(self) -> str:
        """Human citation label: `file.pdf p.3` or `clip.mp4 00:10-00:20`."""
        return f"{self.file_name} {self.location}"


def page_unit_id(doc_id: str, page: int) -> str:
    """Stable id of page `page` (1-based) of a document."""
    return f"{doc_id}:p{page:05d}"


def clip_unit_id(doc_id: str, index: int) -> str:
    """Stable id of clip `index` (0-based) of a document."""
    return f"{doc_id}:c{index:05d}"


@dataclass(frozen=True, slots=True)
class Document:
    """A source file, identified by the sha256 of its bytes."""

    id: str
    file_name: str
    kind: DocKind
    status: DocStatus
    size_bytes: int
    source_blob: str  # blob key of the original file
    n_pages: int = 0
    n_clips: int = 0
    duration_s: float | None = None
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0

    @property
    def n_units(self) -> int:
        return self.n_pages + self.n_clips


@dataclass(frozen=True, slots=True)
class Job:
    """An ingestion job: progress in [0, 1], a message, and the document it produced."""

    id: str
    source: str
    status: JobStatus
    progress: float = 0.0
    message: str = ""
    doc_id: str | None = None
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    phase: str = "queued"  # ingest.stages.Phase value
    done: int = 0  # units through `phase` so far, of `total`
    total: int = 0


@dataclass(frozen=True, slots=True)
class IngestResult:
    """Outcome of ingesting one file."""

    path: Path
    doc_id: str | None
    status: str  # "ingested", "skipped" (already ready), "failed"
    n_pages: int = 0
    n_clips: int = 0
    error: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    stages: StageTimes = field(default_factory=StageTimes, compare=False)  # where time went


@dataclass(frozen=True, slots=True)
class PageContent:
    """What the PDF extractor produces for one page, before it goes into the store."""

    page: int  # 1-based
    png: bytes
    text: str
    text_source: str  # "layer", "ocr" or "empty"
    width: int
    height: int
    timings: StageTimes = field(default_factory=StageTimes, compare=False)  # render, text, ocr


@dataclass(frozen=True, slots=True)
class ClipContent:
    """What the video extractor produces for one clip, before it goes into the store."""

    index: int  # 0-based
    start_s: float
    end_s: float
    frames: tuple[bytes, ...]  # JPEG, evenly spaced over the clip, in time order
    transcript: str = ""
    ocr_text: str = ""
    # frames and keyframe OCR of this clip; the first clip also carries the file's ASR.
    timings: StageTimes = field(default_factory=StageTimes, compare=False)

    @property
    def text(self) -> str:
        return "\n".join(part for part in (self.transcript, self.ocr_text) if part.strip())

    @property
    def text_source(self) -> str:
        parts = [
            name for name, t in (("asr", self.transcript), ("ocr", self.ocr_text)) if t.strip()
        ]
        return "+".join(parts) or "empty"
