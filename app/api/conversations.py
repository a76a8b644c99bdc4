"""REST routes of saved conversations: create, list, read, rename, delete, and ask inside
one (`POST /conversations/{id}/messages`, and `/stream` for server-sent events).

Thin like app/api/routes.py: the saving logic is app/conversing.py, storage is
ingest/conversations.py. Included with the API key dependency in app/api/application.py.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Response, status

from app.api.chat_schemas import (
    ConversationCreate,
    ConversationDetail,
    ConversationOut,
    ConversationRename,
    MessageCreate,
    MessageFilter,
    MessageOut,
)
from app.api.deps import ServicesDep
from app.api.routes import ERRORS, SSE_CONTENT, EventStreamResponse, sse_answer_response
from app.api.schemas import JOB_ID_PATTERN, QueryResponse
from app.conversing import ask_and_save
from generation.types import FinalEvent
from ingest.conversations import StoredMessage

# Conversation ids are uuid4 hex, as job ids are.
ConversationId = Annotated[
    str, Path(pattern=JOB_ID_PATTERN, description="a conversation id (32 hex digits)")
]

conversations = APIRouter(tags=["conversations"])


def message_out(message: StoredMessage) -> MessageOut:
    """A stored message with its saved answer and filter parsed back into wire models."""
    return MessageOut(
        id=message.id,
        role=message.role,
        text=message.text,
        filter=MessageFilter.model_validate_json(message.filter_json)
        if message.filter_json
        else None,
        answer=QueryResponse.model_validate_json(message.answer_json)
        if message.answer_json
        else None,
        error=message.error,
        created_at=message.created_at,
    )


@conversations.post(
    "/conversations",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationOut,
    responses=ERRORS,
)
def create_conversation(
    services: ServicesDep, response: Response, body: ConversationCreate | None = None
) -> ConversationOut:
    """A new, empty conversation; untitled ones are named after their first question."""
    created = services.storage.conversations.create(body.title if body else None)
    response.headers["Location"] = f"/conversations/{created.id}"
    return ConversationOut.model_validate(created)


@conversations.get("/conversations", response_model=list[ConversationOut], responses=ERRORS)
def list_conversations(services: ServicesDep) -> list[ConversationOut]:
    """Every conversation, most recently active first."""
    return [ConversationOut.model_validate(c) for c in services.storage.conversations.list_all()]


@conversations.get(
    "/conversations/{conversation_id}", response_model=ConversationDetail, responses=ERRORS
)
def get_conversation(conversation_id: ConversationId, services: ServicesDep) -> ConversationDetail:
    """A conversation with its messages: each question with its filter, each answer with
    its citations and hits (the /query response as it was given)."""
    store = services.storage.conversations
    conversation = store.get(conversation_id)
    messages = [message_out(m) for m in store.messages(conversation_id)]
    return ConversationDetail(
        **ConversationOut.model_validate(conversation).model_dump(), messages=messages
    )


@conversations.patch(
    "/conversations/{conversation_id}", response_model=ConversationOut, responses=ERRORS
)
def rename_conversation(
    conversation_id: ConversationId, body: ConversationRename, services: ServicesDep
) -> ConversationOut:
    """Rename a conversation (`{"title": ...}`)."""
    return ConversationOut.model_validate(
        services.storage.conversations.rename(conversation_id, body.title)
    )


@conversations.delete(
    "/conversations/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=ERRORS,
)
def delete_conversation(conversation_id: ConversationId, services: ServicesDep) -> Response:
    """Delete a conversation and its messages."""
    services.storage.conversations.delete(conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@conversations.post(
    "/conversations/{conversation_id}/messages",
    response_model=MessageOut,
    responses=ERRORS,
)
def post_message(
    conversation_id: ConversationId, body: MessageCreate, services: ServicesDep
) -> MessageOut:
    """Ask like `POST /query`; the question and the answer are saved. Returns the saved
    answer message (its `answer` is exactly what /query returns)."""
    for event in ask_and_save(services, conversation_id, body.as_query()):
        if isinstance(event, FinalEvent):
            break
    else:
        raise HTTPException(status.HTTP_500_INTERNAL_SERVER_ERROR, "answer stream ended early")
    saved = services.storage.conversations.messages(conversation_id)[-1]
    return message_out(saved)


@conversations.post(
    "/conversations/{conversation_id}/messages/stream",
    summary="Ask in a conversation, answered as server-sent events",
    response_class=EventStreamResponse,
    responses={
        **ERRORS,
        502: {"description": "the generator answered with something unusable"},
        200: {
            "description": "the same events as `POST /query/stream`; both turns are saved "
            "before the `final` event is sent",
            "content": SSE_CONTENT,
        },
    },
)
def post_message_stream(
    conversation_id: ConversationId, body: MessageCreate, services: ServicesDep
) -> EventStreamResponse:
    """Like `POST /query/stream`, saving the question and the answer. An unknown
    conversation or document, or Qdrant/vLLM down, is a plain HTTP error."""
    return sse_answer_response(ask_and_save(services, conversation_id, body.as_query()))
