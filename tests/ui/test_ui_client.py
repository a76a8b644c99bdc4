"""ui.client against the real API app (fake models): the UI's only way to the server."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.api.application import create_app
from app.api.chat_schemas import MessageCreate
from app.api.schemas import QueryRequest, QueryResponse, StreamError, TokenChunk
from app.config import Settings
from tests.support.api_fakes import FAKE_MP4, fake_services, make_pdf, serving
from ui.client import ApiError, MmragClient, stream_event

KEY = "k3y"


@pytest.fixture
def client(tmp_path: Path) -> Iterator[MmragClient]:
    settings = Settings(data_dir=tmp_path / "data", api_key=KEY, _env_file=None)  # type: ignore[call-arg]
    with serving(create_app(settings, fake_services), base_url="http://api") as http:
        yield MmragClient("http://api", api_key=KEY, http=http)


def _ingest(client: MmragClient, name: str, data: bytes) -> str:
    job = client.upload(name, data)
    while not job.finished:
        time.sleep(0.02)
        job = client.job(job.id)
    assert job.status == "done" and job.doc_id
    return job.doc_id


def test_round_trip_upload_list_stream_media(client: MmragClient, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "a.pdf", ["Bitcoin is peer-to-peer electronic cash."])
    with pdf.open("rb") as fh:  # streamed from the file object
        doc_id = _ingest(client, "a.pdf", fh)  # type: ignore[arg-type]
    assert [d.file_name for d in client.list_documents()] == ["a.pdf"]
    events = list(client.query_stream(QueryRequest(question="peer-to-peer cash")))
    assert all(isinstance(e, TokenChunk) for e in events[:-1])
    final = events[-1]
    assert isinstance(final, QueryResponse)
    assert "".join(e.text for e in events[:-1] if isinstance(e, TokenChunk)) == final.answer
    assert final.hits[0].unit_id == f"{doc_id}:p00001"
    assert client.unit_image(final.hits[0].unit_id).startswith(b"\x89PNG")
    video_id = _ingest(client, "talk.mp4", FAKE_MP4)
    assert client.unit_video(f"{video_id}:c00000") == FAKE_MP4
    client.delete_document(doc_id[:8])
    assert [d.id for d in client.list_documents()] == [video_id]


def test_errors_carry_status_and_detail(client: MmragClient) -> None:
    with pytest.raises(ApiError) as refused:
        client.upload("x.pdf", b"plain text, not a pdf")
    assert refused.value.status == 415 and "x.pdf" in refused.value.detail
    with pytest.raises(ApiError) as missing:
        client.job("0" * 32)
    assert missing.value.status == 404
    with pytest.raises(ApiError) as malformed:
        client.job("nope")
    assert malformed.value.status == 422 and "job_id" in malformed.value.detail


def test_without_the_key_the_server_refuses(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", api_key=KEY, _env_file=None)  # type: ignore[call-arg]
    with serving(create_app(settings, fake_services), base_url="http://api") as http:
        anonymous = MmragClient("http://api", http=http)
        assert anonymous.health()  # /health is open
        with pytest.raises(ApiError) as err:
            anonymous.list_documents()
        assert err.value.status == 401


def test_unreachable_server_is_an_api_error_with_status_0() -> None:
    client = MmragClient("http://127.0.0.1:9", timeout_s=1.0)
    assert not client.health()
    with pytest.raises(ApiError) as err:
        client.list_documents()
    assert err.value.status == 0 and "127.0.0.1:9" in err.value.detail


def test_stream_events_are_decoded_by_name() -> None:
    event = stream_event("error", '{"status": 503, "detail": "down"}')
    assert event == StreamError(status=503, detail="down")
    assert stream_event("ping", "{}") is None


def test_conversations_limits_and_boxes_round_trip(client: MmragClient, tmp_path: Path) -> None:
    pdf = make_pdf(tmp_path / "a.pdf", ["Bitcoin is peer-to-peer electronic cash."])
    doc_id = _ingest(client, "a.pdf", pdf.read_bytes())
    assert client.limits().max_upload_bytes == 1024**3
    conversation = client.create_conversation()
    message = MessageCreate(question="peer-to-peer cash", doc_ids=[doc_id[:6]])
    events = list(client.ask_stream(conversation.id, message))
    final = events[-1]
    assert isinstance(final, QueryResponse)
    saved = client.conversation(conversation.id)
    assert [m.role for m in saved.messages] == ["user", "assistant"]
    assert saved.messages[0].filter is not None
    assert saved.messages[0].filter.file_names == ["a.pdf"]
    assert saved.messages[1].answer == final
    renamed = client.rename_conversation(conversation.id, "Cash")
    assert [c.title for c in client.list_conversations()] == [renamed.title] == ["Cash"]
    boxes = client.passage_boxes(f"{doc_id}:p00001", "peer-to-peer electronic cash")
    assert boxes.source == "layer" and len(boxes.boxes) == 1
    client.delete_conversation(conversation.id)
    with pytest.raises(ApiError) as gone:
        client.conversation(conversation.id)
    assert gone.value.status == 404
