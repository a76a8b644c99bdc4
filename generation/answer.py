"""Answer a question from retrieved hits: refuse without evidence, stream, check citations.

`Answer.text` carries the canonical text: citations as `[Sn]` markers, n being the 1-based
rank of the hit in `Answer.hits` (see generation.citations). Show it to people with
`generation.citations.render_answer`, which turns `[S2]` into `[file.pdf p.3]`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from enum import StrEnum

from generation.base import Generator
from generation.citations import check_citations
from generation.config import GenerationSettings
from generation.prompts import NO_ANSWER, source_marker
from generation.types import Answer, AnswerEvent, FinalEvent, TokenEvent
from ingest.types import UnitKind
from retrieval.evidence import asks_when, clip_evidence, evidence_score
from retrieval.types import Hit

logger = logging.getLogger(__name__)

CLOSEST_SOURCES_SHOWN = 3


CLOSEST_MOMENTS_SHOWN = 3
# What a located answer says before its clip citations: where to look, and why it is not
# a checked answer (the text of a clip does not describe its pictures).
LOCATED_PREFIX = (
    "The videos' speech and on-screen text do not say this, and their pictures are not "
    "read, so this is where to look, not a checked answer. Closest moments:"
)


class Route(StrEnum):
    """What the evidence allows: quote the sources, point at video moments, or refuse."""

    ANSWER = "answer"
    LOCATE = "locate"
    REFUSE = "refuse"


def has_evidence(question: str, hits: Sequence[Hit], settings: GenerationSettings) -> bool:
    """Whether the hits' absolute evidence for the question (`retrieval.evidence`, never
    the normalised `Hit.score`) reaches the refusal threshold."""
    return _reaches(evidence_score(question, hits), hits, settings)


def _reaches(evidence: float, hits: Sequence[Hit], settings: GenerationSettings) -> bool:
    return bool(hits) and evidence >= settings.refusal_threshold


def can_locate(question: str, hits: Sequence[Hit], settings: GenerationSettings) -> bool:
    """Whether the question asks *when* something happens and a retrieved clip holds enough
    of its words (`clip_evidence` at least `settings.locate_threshold`: the library has a
    video it is about)."""
    return asks_when(question) and clip_evidence(question, hits) >= settings.locate_threshold


def route(
    question: str, hits: Sequence[Hit], settings: GenerationSettings, evidence: float | None = None
) -> Route:
    """ANSWER with evidence (`has_evidence`; `evidence` when the caller has it already),
    else LOCATE when `can_locate`, else REFUSE."""
    if evidence is None:
        evidence = evidence_score(question, hits)
    if _reaches(evidence, hits, settings):
        return Route.ANSWER
    return Route.LOCATE if can_locate(question, hits, settings) else Route.REFUSE


def located_text(hits: Sequence[Hit]) -> str:
    """A located answer: the best-ranked clips (at most CLOSEST_MOMENTS_SHOWN), cited as
    `[Sn]` so the reader can play them, after a plain note that this is where to look."""
    clips = [i for i, h in enumerate(hits, start=1) if h.unit.kind is UnitKind.CLIP]
    markers = ", ".join(source_marker(i) for i in clips[:CLOSEST_MOMENTS_SHOWN])
    return f"{LOCATED_PREFIX} {markers}."


def located_answer(hits: Sequence[Hit]) -> Answer:
    """The checked, located Answer (`located_text`)."""
    checked = check_citations(located_text(hits), hits)
    return Answer(text=checked.text, citations=checked.citations, hits=list(hits), located=True)


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
    A reply that says it cannot find the answer, or says nothing, counts as refused and
    reads as every refusal does (`refusal_text`: the closest sources, not an answer)."""
    checked = check_citations(raw_text.strip() or NO_ANSWER, hits)
    if is_no_answer(checked.text) and not checked.valid:
        return Answer(text=refusal_text(hits), hits=list(hits), refused=True)
    return Answer(text=checked.text, citations=checked.citations, hits=list(hits))


def stream_answer(
    generator: Generator, question: str, hits: Sequence[Hit], settings: GenerationSettings
) -> Iterator[AnswerEvent]:
    """Stream an answer: `TokenEvent`s as the generator produces text, then one
    `FinalEvent` with the checked Answer.

    Without evidence (no hits, or their `evidence_score` under `settings.refusal_threshold`)
    no generator is called, whichever it is: one TokenEvent with the refusal, then a refused
    Answer that lists the closest hits. A question routed to LOCATE gets the closest clips
    (`located_text`) unless the generator reads video frames (`reads_frames`), which then
    answers from them; so does a question that `can_locate` when a generator that does not
    read frames finds nothing to quote (its text is held back until it is known).
    Every final Answer carries the evidence the route was decided on (`Answer.evidence`).
    Generator errors (GenerationError) propagate.
    """
    evidence = evidence_score(question, hits)
    decision = route(question, hits, settings, evidence)
    reads_frames = getattr(generator, "reads_frames", False)
    if decision is Route.LOCATE and not reads_frames:
        located = replace(located_answer(hits), evidence=evidence)
        yield TokenEvent(located.text)
        yield FinalEvent(located)
        return
    if decision is Route.REFUSE:
        text = refusal_text(hits)
        logger.info(
            "no evidence for %r (%.3f under %s): refusing",
            question,
            evidence,
            settings.refusal_threshold,
        )
        yield TokenEvent(text)
        refusal = Answer(text=text, hits=list(hits), refused=True, evidence=evidence)
        yield FinalEvent(refusal)
        return
    started = time.perf_counter()
    hold_back = not reads_frames and can_locate(question, hits, settings)
    pieces: list[str] = []
    for piece in generator.stream(question, hits):
        if piece:
            pieces.append(piece)
            if not hold_back:
                yield TokenEvent(piece)
    final = replace(finalize_answer("".join(pieces), hits), evidence=evidence)
    if hold_back and final.refused:
        final = replace(located_answer(hits), evidence=evidence)
        pieces = [final.text]
    if hold_back:
        yield from (TokenEvent(piece) for piece in pieces)
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
