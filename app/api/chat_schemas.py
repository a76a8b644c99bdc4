"""Wire models of the conversation routes and of the UI's helper routes (limits, passage
boxes): pydantic only, like app/api/schemas.py, shared by the server and the UI client."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from app.api.schemas import (
    NON_BLANK_PATTERN,
    DocIdPrefix,
    QueryRequest,
    QueryResponse,
    UnitKindName,
)


class ConversationCreate(BaseModel):
    """Body of `POST /conversations` (optional: without a title, the first question names it)."""

    title: str | None = Field(default=None, max_length=200)


class ConversationRename(BaseModel):
    """Body of `PATCH /conversations/{id}`."""

    # Not blank by Python's own whitespace (what the store strips): r"\S" in pydantic's
    # regex let "\x1f" through, and the rename then failed with a 500.
    title: str = Field(min_length=1, max_length=200, pattern=NON_BLANK_PATTERN)


class ConversationOut(BaseModel):
    """A saved conversation, without its messages."""

    model_config = ConfigDict(from_attributes=True)  # read from the stored record

    id: str
    title: str
    n_messages: int
    created_at: float
    updated_at: float


class MessageFilter(BaseModel):
    """The restrictions a question was asked with, as resolved when it was asked (full
    document ids and their file names, so the record stays readable after a delete).

    Also a message's `filter` on the way in: its fields take QueryRequest's limits, so a
    bad id or top_k is a 422 naming the field, not a 500 when the query is built."""

    doc_ids: list[DocIdPrefix] | None = Field(default=None, max_length=1000)
    file_names: list[str] | None = None
    kinds: list[UnitKindName] | None = Field(default=None, max_length=2)
    top_k: int | None = Field(default=None, ge=1, le=50)


class MessageOut(BaseModel):
    """One turn: a question (`role` user, with its filter) or an answer (`role` assistant,
    with the full /query response: answer, citations, hits). A failed answer has `error`."""

    id: str
    role: Literal["user", "assistant"]
    text: str
    filter: MessageFilter | None = None
    answer: QueryResponse | None = None
    error: str | None = None
    created_at: float


class ConversationDetail(ConversationOut):
    """A conversation with its messages in order."""

    messages: list[MessageOut]


class MessageCreate(QueryRequest):
    """Body of `POST /conversations/{id}/messages`: a /query request (`question`, `doc_ids`,
    `kinds`, `top_k`), or the same with the restrictions under `filter`."""

    filter: MessageFilter | None = Field(
        default=None, description="alternative to doc_ids/kinds/top_k at the top level"
    )

    def as_query(self) -> QueryRequest:
        """The /query request this message asks (top-level fields win over `filter`)."""
        chosen = self.filter or MessageFilter()
        return QueryRequest(
            question=self.question,
            doc_ids=self.doc_ids if self.doc_ids is not None else chosen.doc_ids,
            kinds=self.kinds if self.kinds is not None else chosen.kinds,
            top_k=self.top_k if self.top_k is not None else chosen.top_k,
        )


class UploadLimits(BaseModel):
    """What the server accepts, so clients can say so before uploading."""

    max_upload_bytes: int
    extensions: list[str] = Field(description="file name endings of the supported formats")


class PassageBox(BaseModel):
    """A rectangle on the page image, as fractions of its width and height (origin top left)."""

    x0: float
    y0: float
    x1: float
    y1: float


class PassageBoxes(BaseModel):
    """Where a passage is on a page: one box per line of its words. `source` says whose word
    boxes were searched: the PDF's text layer, OCR of the page image, or none (a clip or
    a page without text). `boxes` is empty when the passage is not on the page."""

    unit_id: str
    source: Literal["layer", "ocr", "none"]
    matched_words: int = Field(description="passage words found on the page")
    passage_words: int
    boxes: list[PassageBox]
