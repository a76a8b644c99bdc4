"""Use case: question -> hits -> streamed, citation-checked answer."""

from __future__ import annotations

from collections.abc import Iterator

from app.backends import backend_guard
from app.service import Services
from generation.answer import stream_answer
from generation.types import Answer, AnswerEvent, FinalEvent
from retrieval.types import Hit, SearchFilter


def search(
    services: Services, question: str, filter: SearchFilter | None = None, top_k: int | None = None
) -> list[Hit]:
    """Two-stage retrieval for one question; a failing index is a BackendUnavailable."""
    with backend_guard():
        return services.retriever.search(question, filter, top_k)


def ask_stream(
    services: Services, question: str, filter: SearchFilter | None = None, top_k: int | None = None
) -> Iterator[AnswerEvent]:
    """Token events, then one FinalEvent with the checked answer."""
    if services.generator is None:
        raise RuntimeError("services were built without a generator")
    hits = search(services, question, filter, top_k)
    yield from stream_answer(services.generator, question, hits, services.settings.generation)


def ask(
    services: Services, question: str, filter: SearchFilter | None = None, top_k: int | None = None
) -> Answer:
    """The whole answer at once."""
    for event in ask_stream(services, question, filter, top_k):
        if isinstance(event, FinalEvent):
            return event.answer
    raise RuntimeError("answer stream ended without a final event")
