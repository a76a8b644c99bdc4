"""Use case: a question -> its scope resolved -> hits -> a streamed, citation-checked answer.

The CLI, the REST routes, conversations and the eval all query through this module: it is
the one place that parses a search restriction (document id prefixes, unit kinds) and the
one place that wraps the index in `backend_guard`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from app.backends import backend_guard
from app.service import Services
from generation.answer import stream_answer
from generation.types import Answer, AnswerEvent, FinalEvent
from ingest.store import Registry
from ingest.types import Document, UnitKind
from retrieval.types import Hit, SearchFilter


@dataclass(frozen=True, slots=True)
class Scope:
    """What a question is restricted to: documents (resolved from ids or prefixes) and
    unit kinds. Empty documents and None kinds mean unrestricted."""

    documents: tuple[Document, ...] = ()
    kinds: tuple[UnitKind, ...] | None = None

    @property
    def search_filter(self) -> SearchFilter | None:
        """The index filter of this scope (None when unrestricted)."""
        if not self.documents and self.kinds is None:
            return None
        doc_ids = tuple(d.id for d in self.documents) or None
        return SearchFilter(doc_ids=doc_ids, kinds=self.kinds)


def resolve_scope(
    registry: Registry, doc_ids: Sequence[str] | None, kinds: Sequence[str] | None
) -> Scope:
    """Document ids or unique prefixes (NotFound if unknown or ambiguous) and kind names
    ("page", "clip"; ValueError for others) -> a Scope. None or empty = no restriction."""
    documents = tuple(registry.resolve_document(d) for d in doc_ids or ())
    return Scope(documents, tuple(UnitKind(k) for k in kinds) if kinds else None)


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
    """The whole answer at once (the FinalEvent of `ask_stream`)."""
    for event in ask_stream(services, question, filter, top_k):
        if isinstance(event, FinalEvent):
            return event.answer
    raise RuntimeError("answer stream ended without a final event")
