"""The REST API's wire format: pydantic models only, no domain imports.

The server converts its records into these (app/api/convert.py); the UI's client parses
responses into the same models, so both sides agree on one schema (the one /docs shows).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

# A document id or a prefix of one: 1-64 hex digits (matched literally, not as a pattern).
DOC_ID_PATTERN = r"^[0-9a-fA-F]{1,64}$"
# Job and conversation ids: uuid4 hex. A path id is checked before any lookup, so an
# error never echoes arbitrary input.
JOB_ID_PATTERN = r"^[0-9a-f]{32}$"
# At least one character that is not whitespace (the set of str.isspace, spelled out so the
# Rust regex pydantic runs and a client's JSON Schema engine agree on it).
NON_BLANK_PATTERN = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"

DocIdPrefix = Annotated[str, StringConstraints(pattern=DOC_ID_PATTERN, max_length=64)]
DocStatusName = Literal["pending", "ready", "failed"]
JobStatusName = Literal["queued", "running", "done", "failed"]
PhaseName = Literal["queued", "hashing", "extracting", "embedding", "indexing", "ready"]
UnitKindName = Literal["page", "clip"]


class JobOut(BaseModel):
    """An ingestion job: `progress` in [0, 1]; `doc_id` once the file has been hashed;
    `phase` with `done` of `total` units says which stage of ingestion is running."""

    model_config = ConfigDict(from_attributes=True)  # read from the domain record

    id: str
    source: str = Field(description="the uploaded file's (sanitised) name")
    status: JobStatusName
    progress: float
    message: str = ""
    phase: PhaseName = Field(
        "queued",
        description="hashing, extracting (pages: render, text layer, OCR; clips: ASR, "
        "frames, keyframe OCR), embedding (vectors, hidden upsert), indexing (publish), ready",
    )
    done: int = Field(0, description="pages/clips through `phase` so far")
    total: int = Field(0, description="pages/clips of the file (0 until counted)")
    doc_id: str | None = None
    error: str | None = None
    created_at: float
    updated_at: float

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")


class DocumentOut(BaseModel):
    """A source file and its state; searchable only when `status` is `ready`."""

    model_config = ConfigDict(from_attributes=True)  # read from the domain record

    id: str = Field(description="sha256 of the file's bytes; any unique prefix is accepted")
    file_name: str
    kind: Literal["pdf", "video"]
    status: DocStatusName
    size_bytes: int
    n_pages: int
    n_clips: int
    duration_s: float | None = None
    error: str | None = None
    created_at: float
    updated_at: float


class UnitSummary(BaseModel):
    """One page or clip of a document, with links to its media."""

    id: str
    kind: UnitKindName
    label: str = Field(description="citation label, e.g. `paper.pdf p.3` or `talk.mp4 00:10-00:20`")
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    text_source: str
    text_preview: str
    n_images: int
    image_url: str
    video_url: str | None = None


class DocumentDetail(DocumentOut):
    """A document with the summary of each of its units (empty unless ready)."""

    units: list[UnitSummary]


class QueryRequest(BaseModel):
    """A question, optionally restricted to some documents (ids or unique prefixes) and kinds."""

    question: str = Field(
        min_length=1,
        max_length=4000,
        pattern=NON_BLANK_PATTERN,
        description="the question; must contain a non-whitespace character",
    )
    doc_ids: list[DocIdPrefix] | None = Field(
        default=None,
        max_length=1000,
        description="restrict to these documents (ids or unique prefixes)",
    )
    kinds: list[UnitKindName] | None = Field(
        default=None, max_length=2, description="restrict to pages and/or clips"
    )
    top_k: int | None = Field(
        default=None, ge=1, le=50, description="sources to retrieve; default from config"
    )


class HitOut(BaseModel):
    """A retrieved unit with the scores of both retrieval stages and links to its media."""

    rank: int = Field(description="1-based; the answer cites it as [S<rank>]")
    unit_id: str
    doc_id: str
    file_name: str
    kind: UnitKindName
    label: str
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    score: float = Field(description="final fused score in [0, 1]")
    stage1_score: float
    rerank_score: float | None = None
    matched: list[str] = Field(description="vectors whose first-stage search found this unit")
    text: str = Field(description="snippet of the unit's text")
    image_url: str
    video_url: str | None = None


class CitationOut(BaseModel):
    """A citation marker found in the answer and the source it points at (if valid)."""

    model_config = ConfigDict(from_attributes=True)  # read from the domain record

    marker: str
    source_index: int | None = None
    unit_id: str | None = None
    file_name: str | None = None
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    valid: bool


class QueryResponse(BaseModel):
    """The answer, its checked citations, and every retrieved hit."""

    answer: str = Field(description="answer text; citations as `[Sn]`, n = a hit's `rank`")
    answer_display: str = Field(description="the answer with citations as readable labels")
    refused: bool = Field(description="true when no source scored above the refusal threshold")
    located: bool = Field(
        False,
        description="true when the answer only lists the closest video moments for a question "
        "asking when (their pictures are not read): where to look, not a checked answer",
    )
    evidence: float | None = Field(
        None,
        description="the largest share of the question's content words that one retrieved "
        "source holds (0-1): what the refusal test reads, the same for every generator. "
        "Answers under `generation.refusal_threshold` are refused; a tool wanting fewer "
        "answers that merely share a document's subject can ask for more",
    )
    citations: list[CitationOut]
    hits: list[HitOut]


class TokenChunk(BaseModel):
    """`data` of an SSE `token` event."""

    text: str


class StreamError(BaseModel):
    """`data` of an SSE `error` event (the stream ends after it)."""

    status: int
    detail: str


# The answer stream's SSE event names and the model of each one's `data`, in stream order:
# the server's OpenAPI description and the client's decoder both read this table.
StreamEvent = TokenChunk | QueryResponse | StreamError
STREAM_EVENTS: dict[str, type[StreamEvent]] = {
    "token": TokenChunk,
    "final": QueryResponse,
    "error": StreamError,
}


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class ComponentState(BaseModel):
    """One dependency's state for /ready."""

    name: str
    ok: bool
    detail: str = ""


class Readiness(BaseModel):
    """Whether every dependency answers; `components` says which one is down. `status`:
    "loading" while the models load (components then empty), "failed" when loading
    failed (`detail` says why), "down" when a component is down, else "ready"."""

    ready: bool
    status: Literal["loading", "failed", "down", "ready"] = "ready"
    detail: str = ""
    components: list[ComponentState] = []
    # What works but needs a hand: documents the index lost (the server still answers).
    warnings: list[str] = []


class ErrorOut(BaseModel):
    """Body of every error response."""

    detail: str
