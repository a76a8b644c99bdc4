"""Typed answers and citations."""

from __future__ import annotations

from dataclasses import dataclass, field

from retrieval.types import Hit


@dataclass(frozen=True, slots=True)
class Citation:
    """A citation found in an answer, mapped to a retrieved unit when it points at one."""

    marker: str  # as written in the answer, e.g. "[S2]"
    source_index: int | None  # 1-based index into the hits, None if it points at nothing
    unit_id: str | None
    file_name: str | None
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    valid: bool = True


@dataclass(frozen=True, slots=True)
class Answer:
    """The final answer: text, checked citations, the hits it was built from."""

    text: str
    citations: list[Citation] = field(default_factory=list)
    hits: list[Hit] = field(default_factory=list)
    refused: bool = False  # no source scored above the refusal threshold
    # Not quoted but located: the closest video moments for a question asking *when*,
    # cited, with a note that they are where to look (generation.answer.Route.LOCATE).
    located: bool = False
    # What the refusal test read (retrieval.evidence.evidence_score): the largest share of
    # the question's content words one retrieved unit holds, in [0, 1]; None when unknown.
    evidence: float | None = None


@dataclass(frozen=True, slots=True)
class TokenEvent:
    """A piece of streamed answer text."""

    text: str


@dataclass(frozen=True, slots=True)
class FinalEvent:
    """The end of a stream: the complete, citation-checked answer."""

    answer: Answer


AnswerEvent = TokenEvent | FinalEvent
