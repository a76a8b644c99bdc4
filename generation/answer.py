"""Answer a question from retrieved hits: refuse without evidence, stream, check citations.

`Answer.text` carries the canonical text: citations as `[Sn]` markers, n being the 1-based
rank of the hit in `Answer.hits` (see generation.citations). Show it to people with
`generation.citations.render_answer`, which turns `[S2]` into `[file.pdf p.3]`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence

from generation.base import Generator
from generation.citations import check_citations
from generation.config import GenerationSettings
from generation.prompts import NO_ANSWER
from generation.types import Answer, AnswerEvent, FinalEvent, TokenEvent
from retrieval.evidence import evidence_score
from retrieval.types import Hit

logger = logging.getLogger(__name__)

CLOSEST_SOURCES_SHOWN = 3


def has_evidence(question: str, hits: Sequence[Hit], settings: GenerationSettings) -> bool:
    """Whether the hits' absolute evidence for the question (`retrieval.evidence`, never
    the normalised `Hit.score`) reaches the refusal threshold."""
    return bool(hits) and evidence_score(question, hits) >= settings.refusal_threshold


def refusal_text(hits: Sequence[Hit]) -> str:
    """What a refusal says: that the documents do not cover the question, and which sources
    came closest, marked as "closest, not an answer" (plain labels, not citations: they
    support nothing)."""
    if not hits:
        return f"{NO_ANSWER} No document matched the question."
    closest = sorted(hits, key=lambda h: h.score, reverse=True)[:CLOSEST_SOURCES_SHOWN]
    labels = "; ".join(h.unit.label for h in closest)
    return f"{NO_ANSWER} Closest sources (closest, not an answer): {labels}."


def is_no_answer(text: str) -> bool:
    """Whether generated text is the model's own "cannot find it" reply."""
    return NO_ANSWER.casefold().rstrip(".") in " ".join(text.casefold().split())


def finalize_answer(raw_text: str, hits: Sequence[Hit]) -> Answer:
    """The checked Answer for raw model text: canonical citations, invalid ones flagged.
    A reply that says it cannot find the answer, or says nothing, counts as refused."""
    checked = check_citations(raw_text.strip() or NO_ANSWER, hits)
    refused = is_no_answer(checked.text) and not checked.valid
    return Answer(text=checked.text, citations=checked.citations, hits=list(hits), refused=refused)


def stream_answer(
    generator: Generator, question: str, hits: Sequence[Hit], settings: GenerationSettings
) -> Iterator[AnswerEvent]:
    """Stream an answer: `TokenEvent`s as the generator produces text, then one
    `FinalEvent` with the checked Answer.

    Without evidence (no hits, or their `evidence_score` under `settings.refusal_threshold`)
    no generator is called, whichever it is: one TokenEvent with the refusal, then a refused
    Answer that lists the closest hits. Generator errors (GenerationError) propagate.
    """
    if not has_evidence(question, hits, settings):
        text = refusal_text(hits)
        logger.info(
            "no evidence for %r (%.3f under %s): refusing",
            question,
            evidence_score(question, hits),
            settings.refusal_threshold,
        )
        yield TokenEvent(text)
        yield FinalEvent(Answer(text=text, citations=[], hits=list(hits), refused=True))
        return
    started = time.perf_counter()
    pieces: list[str] = []
    for piece in generator.stream(question, hits):
        if piece:
            pieces.append(piece)
            yield TokenEvent(piece)
    final = finalize_answer("".join(pieces), hits)
    logger.info(
        "%s answered in %.2f s (%d chunks, %d citations, %d invalid)",
        generator.name,
        time.perf_counter() - started,
        len(pieces),
        sum(c.valid for c in final.citations),
        sum(not c.valid for c in final.citations),
    )
    yield FinalEvent(final)


def answer(
    generator: Generator, question: str, hits: Sequence[Hit], settings: GenerationSettings
) -> Answer:
    """The whole checked Answer at once (consumes `stream_answer`)."""
    for event in stream_answer(generator, question, hits, settings):
        if isinstance(event, FinalEvent):
            return event.answer
    raise AssertionError("stream_answer always ends with a FinalEvent")  # pragma: no cover
