"""Use case: ask a question inside a saved conversation and save both turns.

The question and its answer are saved together, once the answer is complete; an answer
that fails (generator down, dropped stream, client gone) is saved with its error and the
text it had reached, so the history shows what happened instead of losing the question.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from app import querying
from app.api.chat_schemas import MessageFilter
from app.api.convert import query_response
from app.api.schemas import QueryRequest
from app.followups import standalone_question
from app.querying import Scope
from app.service import Services
from generation.types import AnswerEvent, FinalEvent, TokenEvent
from ingest.conversations import NewMessage
from ingest.errors import BackendUnavailable, MMRagError

log = logging.getLogger(__name__)

INTERRUPTED = "the answer was interrupted before it finished (the client went away)"


def filter_record(scope: Scope, request: QueryRequest) -> MessageFilter | None:
    """The record of a question's restriction saved with it (None when unrestricted)."""
    if not (scope.documents or scope.kinds or request.top_k):
        return None
    return MessageFilter(
        doc_ids=[d.id for d in scope.documents] or None,
        file_names=[d.file_name for d in scope.documents] or None,
        kinds=request.kinds or None,
        top_k=request.top_k,
    )


def describe_failure(err: BaseException) -> str:
    """The one line saved (and shown) for an answer that failed."""
    if isinstance(err, BackendUnavailable):
        return f"service unavailable: {err}"
    if isinstance(err, MMRagError):
        return str(err)
    if isinstance(err, GeneratorExit):
        return INTERRUPTED
    return "internal error while answering"


def ask_and_save(
    services: Services, conversation_id: str, request: QueryRequest
) -> Iterator[AnswerEvent]:
    """The answer events of `querying.ask_stream`; the question and the answer are saved in
    the conversation before the final event is passed on (or when the stream fails). A
    follow-up is asked together with the question it follows (app.followups); the
    question is saved as the user typed it.
    NotFound (before any event) for an unknown conversation or document."""
    store = services.storage.conversations
    earlier = store.questions(conversation_id)
    scope = querying.resolve_scope(services.registry, request.doc_ids, request.kinds)
    record = filter_record(scope, request)
    question = NewMessage(
        "user",
        request.question,
        filter_json=record.model_dump_json(exclude_none=True) if record else None,
    )
    # A follow-up ("And what is the phone number?") is asked with the question it follows.
    asked = standalone_question(earlier, request.question)
    events = querying.ask_stream(services, asked, scope.search_filter, request.top_k)
    parts: list[str] = []
    saved = False
    try:
        for event in events:
            if isinstance(event, TokenEvent):
                parts.append(event.text)
            elif isinstance(event, FinalEvent):
                response = query_response(event.answer)
                answer = NewMessage(
                    "assistant", event.answer.text, answer_json=response.model_dump_json()
                )
                saved = True
                store.append(conversation_id, question, answer)
            yield event
    except BaseException as err:
        if not saved:
            log.warning("answer in conversation %s failed: %s", conversation_id, err)
            failed = NewMessage("assistant", "".join(parts), error=describe_failure(err))
            store.append(conversation_id, question, failed)
        raise
