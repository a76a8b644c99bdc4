"""A typed client for the mmrag REST API (httpx), used by the Streamlit UI.

The UI only talks to the API through this client, so it works the same against a local or
a remote server, and tests replace it with a fake that satisfies `MmragApi`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Protocol
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from app.api import schemas
from app.api.chat_schemas import (
    ConversationDetail,
    ConversationOut,
    MessageCreate,
    PassageBoxes,
    UploadLimits,
)
from generation.generators.sse import decode_events

_DOCUMENTS = TypeAdapter(list[schemas.DocumentOut])
_CONVERSATIONS = TypeAdapter(list[ConversationOut])


class ApiError(Exception):
    """The API answered with an error status, or could not be reached (`status` 0)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}" if status else detail)
        self.status = status
        self.detail = detail


class MmragApi(Protocol):
    """What the UI needs from the API."""

    base_url: str

    def health(self) -> bool: ...

    def list_documents(self) -> list[schemas.DocumentOut]: ...

    def delete_document(self, doc_id: str) -> None: ...

    def upload(self, file_name: str, data: IO[bytes] | bytes) -> schemas.JobOut: ...

    def job(self, job_id: str) -> schemas.JobOut: ...

    def query_stream(self, request: schemas.QueryRequest) -> Iterator[schemas.StreamEvent]: ...

    def unit_image(self, unit_id: str, frame: int | None = None) -> bytes: ...

    def unit_video(self, unit_id: str) -> bytes: ...

    def limits(self) -> UploadLimits: ...

    def passage_boxes(self, unit_id: str, passage: str) -> PassageBoxes: ...

    def list_conversations(self) -> list[ConversationOut]: ...

    def create_conversation(self, title: str | None = None) -> ConversationOut: ...

    def conversation(self, conversation_id: str) -> ConversationDetail: ...

    def rename_conversation(self, conversation_id: str, title: str) -> ConversationOut: ...

    def delete_conversation(self, conversation_id: str) -> None: ...

    def ask_stream(
        self, conversation_id: str, message: MessageCreate
    ) -> Iterator[schemas.StreamEvent]: ...


def stream_event(event: str, data: str) -> schemas.StreamEvent | None:
    """Decode one SSE event of `/query/stream` (None for event names it does not know)."""
    model = schemas.STREAM_EVENTS.get(event)
    return None if model is None else model.model_validate_json(data)


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300] or response.reason_phrase
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail) if detail else response.text[:300]


class MmragClient:
    """HTTP client for the API. `api_key` is sent as `X-API-Key` when set."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        http: httpx.Client | None = None,
    ) -> None:
        """`http` replaces the underlying httpx client (tests pass a FastAPI TestClient)."""
        self.base_url = base_url.rstrip("/")
        headers = {"X-API-Key": api_key} if api_key else {}
        if http is None:
            http = httpx.Client(
                base_url=self.base_url,
                # Answers and uploads can take long; connecting must not.
                timeout=httpx.Timeout(timeout_s, connect=5.0, read=max(timeout_s, 300.0)),
            )
        http.headers.update(headers)
        self._http = http

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)  # type: ignore[arg-type]
        except httpx.TransportError as err:
            raise ApiError(0, f"cannot reach the API at {self.base_url}: {err}") from err
        if response.is_error:
            raise ApiError(response.status_code, _detail(response))
        return response

    def health(self) -> bool:
        """Whether the API answers /health."""
        try:
            # Short: the UI polls it to notice an API that went away (and came back).
            return self._request("GET", "/health", timeout=3.0).status_code == 200
        except ApiError:
            return False

    def ready(self) -> schemas.Readiness:
        """Per-dependency readiness (raises ApiError on 503 with the reason)."""
        return schemas.Readiness.model_validate_json(self._request("GET", "/ready").content)

    def list_documents(self) -> list[schemas.DocumentOut]:
        return _DOCUMENTS.validate_json(self._request("GET", "/documents").content)

    def delete_document(self, doc_id: str) -> None:
        self._request("DELETE", f"/documents/{quote(doc_id)}")

    def upload(self, file_name: str, data: IO[bytes] | bytes) -> schemas.JobOut:
        """Upload one file (streamed from a file object); returns the queued job."""
        response = self._request("POST", "/documents", files={"file": (file_name, data)})
        return schemas.JobOut.model_validate_json(response.content)

    def job(self, job_id: str) -> schemas.JobOut:
        return schemas.JobOut.model_validate_json(
            self._request("GET", f"/jobs/{quote(job_id)}").content
        )

    def query(self, request: schemas.QueryRequest) -> schemas.QueryResponse:
        response = self._request("POST", "/query", json=request.model_dump(exclude_none=True))
        return schemas.QueryResponse.model_validate_json(response.content)

    def query_stream(self, request: schemas.QueryRequest) -> Iterator[schemas.StreamEvent]:
        """Token chunks as they arrive, then the final QueryResponse (or a StreamError)."""
        return self._stream("/query/stream", request)

    def _stream(self, path: str, request: BaseModel) -> Iterator[schemas.StreamEvent]:
        body = request.model_dump(exclude_none=True)
        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.is_error:
                    response.read()
                    raise ApiError(response.status_code, _detail(response))
                for event in decode_events(response.iter_bytes()):
                    decoded = stream_event(event.event, event.data)
                    if decoded is not None:
                        yield decoded
        except httpx.TransportError as err:
            raise ApiError(0, f"lost the connection to the API at {self.base_url}: {err}") from err

    def unit_image(self, unit_id: str, frame: int | None = None) -> bytes:
        """A page PNG or a clip frame (the middle one by default)."""
        params = {"frame": frame} if frame is not None else None
        return self._request("GET", f"/units/{quote(unit_id)}/image", params=params).content

    def unit_video(self, unit_id: str) -> bytes:
        """The whole source video of a clip (for st.video, which needs bytes or a URL)."""
        return self._request("GET", f"/units/{quote(unit_id)}/video").content

    def limits(self) -> UploadLimits:
        """The server's upload limit and supported file endings."""
        return UploadLimits.model_validate_json(self._request("GET", "/limits").content)

    def passage_boxes(self, unit_id: str, passage: str) -> PassageBoxes:
        """Where `passage` is on a page (boxes as fractions of the page image)."""
        path = f"/units/{quote(unit_id)}/boxes"
        response = self._request("GET", path, params={"passage": passage})
        return PassageBoxes.model_validate_json(response.content)

    def list_conversations(self) -> list[ConversationOut]:
        return _CONVERSATIONS.validate_json(self._request("GET", "/conversations").content)

    def create_conversation(self, title: str | None = None) -> ConversationOut:
        body = {"title": title} if title else None
        response = self._request("POST", "/conversations", json=body)
        return ConversationOut.model_validate_json(response.content)

    def conversation(self, conversation_id: str) -> ConversationDetail:
        response = self._request("GET", f"/conversations/{quote(conversation_id)}")
        return ConversationDetail.model_validate_json(response.content)

    def rename_conversation(self, conversation_id: str, title: str) -> ConversationOut:
        path = f"/conversations/{quote(conversation_id)}"
        response = self._request("PATCH", path, json={"title": title})
        return ConversationOut.model_validate_json(response.content)

    def delete_conversation(self, conversation_id: str) -> None:
        self._request("DELETE", f"/conversations/{quote(conversation_id)}")

    def ask_stream(
        self, conversation_id: str, message: MessageCreate
    ) -> Iterator[schemas.StreamEvent]:
        """Ask inside a conversation (both turns are saved): like `query_stream`."""
        return self._stream(f"/conversations/{quote(conversation_id)}/messages/stream", message)
