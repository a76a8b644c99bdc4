"""An in-memory stand-in for the REST API, satisfying ui.client.MmragApi, for AppTest."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from typing import IO

from PIL import Image

from app.api.chat_schemas import (
    ConversationDetail,
    ConversationOut,
    MessageCreate,
    MessageFilter,
    MessageOut,
    PassageBox,
    PassageBoxes,
    UploadLimits,
)
from app.api.schemas import (
    CitationOut,
    DocumentOut,
    HitOut,
    JobOut,
    QueryRequest,
    QueryResponse,
    StreamError,
    StreamEvent,
    TokenChunk,
)
from ui.client import ApiError


def png_bytes(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), color).save(out, format="PNG")
    return out.getvalue()


class FakeApi:
    """Documents and jobs in dicts; a job moves 50% per poll; answers cite the first hit."""

    base_url = "http://fake-api"

    def __init__(self) -> None:
        self.up = True
        self.docs: dict[str, DocumentOut] = {}
        self.jobs: dict[str, JobOut] = {}
        self.uploads: list[tuple[str, bytes]] = []
        self.questions: list[QueryRequest] = []
        self.deleted: list[str] = []
        self.image_requests: list[str] = []
        self.video_requests: list[str] = []
        self.stream_error: str | None = None
        self.conversations: dict[str, ConversationDetail] = {}
        self.box_requests: list[tuple[str, str]] = []
        self.max_upload_bytes = 1024**3

    # -- library ---------------------------------------------------------------------------

    def add_document(self, name: str, kind: str = "pdf", pages: int = 2, clips: int = 0) -> str:
        doc_id = f"{len(self.docs) + 1:02d}" + "ab" * 31
        now = time.time()
        self.docs[doc_id] = DocumentOut(
            id=doc_id,
            file_name=name,
            kind=kind,  # type: ignore[arg-type]
            status="ready",
            size_bytes=1000,
            n_pages=pages,
            n_clips=clips,
            created_at=now,
            updated_at=now,
        )
        return doc_id

    def _check_up(self) -> None:
        if not self.up:
            raise ApiError(0, f"cannot reach the API at {self.base_url}")

    def health(self) -> bool:
        return self.up

    def limits(self) -> UploadLimits:
        self._check_up()
        return UploadLimits(max_upload_bytes=self.max_upload_bytes, extensions=[".mp4", ".pdf"])

    def list_documents(self) -> list[DocumentOut]:
        self._check_up()
        return list(self.docs.values())

    def delete_document(self, doc_id: str) -> None:
        self.deleted.append(doc_id)
        self.docs.pop(doc_id)

    def upload(self, file_name: str, data: IO[bytes] | bytes) -> JobOut:
        content = data if isinstance(data, bytes) else data.read()
        if not content.startswith(b"%PDF"):
            raise ApiError(415, f"{file_name}: unsupported file type")
        self.uploads.append((file_name, content))
        now = time.time()
        job = JobOut(
            id=f"job{len(self.jobs)}",
            source=file_name,
            status="queued",
            progress=0.0,
            created_at=now,
            updated_at=now,
        )
        self.jobs[job.id] = job
        return job

    def job(self, job_id: str) -> JobOut:
        job = self.jobs[job_id]
        progress = min(job.progress + 0.5, 1.0)
        if progress < 1.0:
            job = job.model_copy(update={"status": "running", "progress": progress})
        else:
            doc_id = self.add_document(job.source)
            job = job.model_copy(
                update={"status": "done", "progress": 1.0, "doc_id": doc_id, "message": "ready"}
            )
        self.jobs[job_id] = job
        return job

    # -- answers and media -----------------------------------------------------------------

    def response_for(self, request: QueryRequest) -> QueryResponse:
        doc_ids = request.doc_ids or list(self.docs)
        doc = self.docs[doc_ids[0]]
        if doc.kind == "pdf":
            where = {"page": 2, "label": f"{doc.file_name} p.2"}
        else:
            where = {"start_s": 30.0, "end_s": 40.0, "label": f"{doc.file_name} 00:30-00:40"}
        hit = HitOut(
            rank=1,
            unit_id=f"{doc.id}:x1",
            doc_id=doc.id,
            file_name=doc.file_name,
            kind="page" if doc.kind == "pdf" else "clip",
            score=0.9,
            stage1_score=0.7,
            rerank_score=3.2,
            matched=["text"],
            text="peer-to-peer electronic cash",
            image_url=f"/units/{doc.id}:x1/image",
            video_url=None if doc.kind == "pdf" else f"/units/{doc.id}:x1/video",
            **where,  # type: ignore[arg-type]
        )
        return QueryResponse(
            answer="A peer-to-peer network solves double-spending [S1].",
            answer_display=f"A peer-to-peer network solves double-spending [{hit.label}].",
            refused=False,
            evidence=0.75,
            citations=[
                CitationOut(
                    marker="[S1]",
                    source_index=1,
                    unit_id=hit.unit_id,
                    file_name=hit.file_name,
                    valid=True,
                )
            ],
            hits=[hit],
        )

    def query_stream(self, request: QueryRequest) -> Iterator[StreamEvent]:
        self.questions.append(request)
        response = self.response_for(request)
        for word in response.answer.split(" "):
            yield TokenChunk(text=word + " ")
        if self.stream_error:
            yield StreamError(status=503, detail=self.stream_error)
            return
        yield response

    def unit_image(self, unit_id: str, frame: int | None = None) -> bytes:
        self.image_requests.append(unit_id)
        return png_bytes()

    def unit_video(self, unit_id: str) -> bytes:
        self.video_requests.append(unit_id)
        return b"\x00\x00\x00\x18ftypmp42" + bytes(64)

    def passage_boxes(self, unit_id: str, passage: str) -> PassageBoxes:
        self.box_requests.append((unit_id, passage))
        box = PassageBox(x0=0.1, y0=0.2, x1=0.8, y1=0.3)
        return PassageBoxes(
            unit_id=unit_id, source="layer", matched_words=3, passage_words=3, boxes=[box]
        )

    # -- conversations ---------------------------------------------------------------------

    def list_conversations(self) -> list[ConversationOut]:
        self._check_up()
        return [
            ConversationOut(**c.model_dump(exclude={"messages"}))
            for c in self.conversations.values()
        ]

    def create_conversation(self, title: str | None = None) -> ConversationOut:
        self._check_up()
        now = time.time()
        conv = ConversationDetail(
            id=f"conv{len(self.conversations)}",
            title=title or "New conversation",
            n_messages=0,
            created_at=now,
            updated_at=now,
            messages=[],
        )
        self.conversations[conv.id] = conv
        return ConversationOut(**conv.model_dump(exclude={"messages"}))

    def conversation(self, conversation_id: str) -> ConversationDetail:
        self._check_up()
        if conversation_id not in self.conversations:
            raise ApiError(404, f"no conversation with id {conversation_id!r}")
        return self.conversations[conversation_id]

    def rename_conversation(self, conversation_id: str, title: str) -> ConversationOut:
        conv = self.conversation(conversation_id)
        conv.title = title
        return ConversationOut(**conv.model_dump(exclude={"messages"}))

    def delete_conversation(self, conversation_id: str) -> None:
        self.conversation(conversation_id)
        del self.conversations[conversation_id]

    def ask_stream(self, conversation_id: str, message: MessageCreate) -> Iterator[StreamEvent]:
        conv = self.conversation(conversation_id)
        request = message.as_query()
        events = list(self.query_stream(request))
        final = next((e for e in events if isinstance(e, QueryResponse)), None)
        error = next((e for e in events if isinstance(e, StreamError)), None)
        now = time.time()
        names = [self.docs[d].file_name for d in request.doc_ids or []]
        question = MessageOut(
            id=f"m{len(conv.messages)}",
            role="user",
            text=request.question,
            filter=MessageFilter(doc_ids=request.doc_ids, file_names=names) if names else None,
            created_at=now,
        )
        answer = MessageOut(
            id=f"m{len(conv.messages) + 1}",
            role="assistant",
            text=final.answer if final else "",
            answer=final,
            error=error.detail if error else None,
            created_at=now,
        )
        if not conv.messages and conv.title == "New conversation":
            conv.title = request.question
        conv.messages.extend([question, answer])
        conv.n_messages = len(conv.messages)
        yield from events
