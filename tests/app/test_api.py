"""REST API behaviour over a fake-model Services (tests/support/api_fakes.py): uploads (streaming,
limits, sniffing, names), jobs, documents, query + SSE, media with Range, auth, readiness."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import anyio.to_thread
import pytest
from fastapi.testclient import TestClient

from app.api.application import create_app
from app.api.errors import http_error
from app.api.routes import sse_answer_events
from app.config import Settings
from app.service import Services
from generation.errors import GenerationError
from generation.types import AnswerEvent, TokenEvent
from ingest.errors import BackendUnavailable, ModelUnavailable, NotFound
from ingest.types import JobStatus
from tests.support.api_fakes import (
    FAKE_MP4,
    TinyPdfPages,
    fake_services,
    make_pdf,
    serving,
)
from tests.support.api_harness import Harness, settings_for

KEY = "s3cret-key"
PDF_PAGES = ["Bitcoin is a peer-to-peer electronic cash system.", "Whales sing long songs."]


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Harness]:
    settings = settings_for(tmp_path, max_upload_bytes=200_000)
    built: list[Services] = []

    def factory(s: Settings) -> Services:
        built.append(fake_services(s))
        return built[0]

    with serving(create_app(settings, factory)) as client:
        yield Harness(client, built[0])


@pytest.fixture
def pdf_bytes(tmp_path: Path) -> bytes:
    return make_pdf(tmp_path / "doc.pdf", PDF_PAGES).read_bytes()


def _stored_files(root: Path) -> list[Path]:
    return [p for p in (root / "data").rglob("*") if p.is_file() and p.suffix != ".sqlite3"]


class PooledTinyPdfPages(TinyPdfPages):
    """TinyPdfPages with worker processes of its own, as PdfPages: records start/close."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def start(self) -> None:
        self.calls.append("start")

    def close(self) -> None:
        self.calls.append("close")


@pytest.mark.parametrize(("warm", "expected"), [(True, ["start"]), (False, [])])
def test_the_server_starts_the_page_processes_once_loaded_and_ends_them(
    tmp_path: Path, warm: bool, expected: list[str]
) -> None:
    settings = settings_for(tmp_path)
    settings = settings.model_copy(
        update={"ingest": settings.ingest.model_copy(update={"warm_page_workers": warm})}
    )
    pdf = PooledTinyPdfPages()
    app = create_app(settings, lambda s: fake_services(s, pdf=pdf))
    with serving(app):
        assert pdf.calls == expected
    assert pdf.calls == [*expected, "close"]


# -- uploads and jobs ---------------------------------------------------------------------


def test_upload_pdf_runs_a_job_and_lists_the_document(api: Harness, pdf_bytes: bytes) -> None:
    job = api.upload("paper.pdf", pdf_bytes)
    assert job["status"] in ("queued", "running", "done")
    done = api.wait_job(str(job["id"]))
    assert done["status"] == "done" and done["progress"] == 1.0
    docs = api.client.get("/documents").json()
    assert [(d["file_name"], d["status"], d["n_pages"]) for d in docs] == [
        ("paper.pdf", "ready", 2)
    ]
    assert docs[0]["id"] == done["doc_id"]


def test_upload_returns_location_of_the_job(api: Harness, pdf_bytes: bytes) -> None:
    response = api.client.post("/documents", files={"file": ("a.pdf", pdf_bytes)})
    assert response.headers["location"] == f"/jobs/{response.json()['id']}"


def test_same_file_twice_is_a_no_op(api: Harness, pdf_bytes: bytes) -> None:
    first = api.ingest("a.pdf", pdf_bytes)
    job = api.wait_job(str(api.upload("again.pdf", pdf_bytes)["id"]))
    assert job["doc_id"] == first and "already" in str(job["message"])
    assert len(api.client.get("/documents").json()) == 1


def test_document_detail_accepts_a_prefix_and_lists_units(api: Harness, pdf_bytes: bytes) -> None:
    doc_id = api.ingest("paper.pdf", pdf_bytes)
    detail = api.client.get(f"/documents/{doc_id[:10]}").json()
    assert detail["id"] == doc_id
    assert [u["page"] for u in detail["units"]] == [1, 2]
    assert "peer-to-peer" in detail["units"][0]["text_preview"]
    assert detail["units"][0]["image_url"] == f"/units/{doc_id}:p00001/image"


def test_unknown_ids_are_404(api: Harness) -> None:
    for path in ("/documents/ffff", "/jobs/" + "0" * 32, "/units/ab:p00001/image"):
        response = api.client.get(path)
        assert response.status_code == 404, path
        assert response.json()["detail"]


def test_oversize_upload_is_413_early_and_nothing_is_stored(api: Harness, tmp_path: Path) -> None:
    big = b"%PDF-1.4\n" + b"0" * 300_000
    response = api.client.post("/documents", files={"file": ("big.pdf", big)})
    assert response.status_code == 413
    assert "200000" in response.json()["detail"]
    assert _stored_files(tmp_path) == []
    assert api.services.registry.list_jobs() == []


def _multipart(name: str, data: bytes, boundary: str = "xyzBOUNDARYxyz") -> tuple[bytes, str]:
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return (
        head + data + f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def test_oversize_chunked_upload_is_cut_off_while_streaming(api: Harness, tmp_path: Path) -> None:
    body, content_type = _multipart("big.pdf", b"%PDF-1.4\n" + b"0" * 300_000)
    sent: list[int] = []

    def chunks() -> Iterator[bytes]:  # no Content-Length: the byte count must catch it
        for start in range(0, len(body), 16_384):
            sent.append(start)
            yield body[start : start + 16_384]

    response = api.client.post(
        "/documents", content=chunks(), headers={"content-type": content_type}
    )
    assert response.status_code == 413
    assert _stored_files(tmp_path) == []


def test_content_not_matching_a_pdf_is_415_whatever_the_name(api: Harness, tmp_path: Path) -> None:
    response = api.client.post("/documents", files={"file": ("notes.pdf", b"just some text" * 100)})
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert "notes.pdf" in detail and "PDF" in detail
    assert _stored_files(tmp_path) == []


def test_a_pdf_with_a_wrong_name_is_accepted_by_content(api: Harness, pdf_bytes: bytes) -> None:
    doc_id = api.ingest("scan.bin", pdf_bytes)
    assert api.client.get(f"/documents/{doc_id}").json()["kind"] == "pdf"


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"x": 1}', "application/json"),
        (_multipart("empty.pdf", b"")[0], _multipart("empty.pdf", b"")[1]),
    ],
)
def test_malformed_uploads_are_400(api: Harness, body: bytes, content_type: str) -> None:
    response = api.client.post("/documents", content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert response.json()["detail"]


def test_path_traversal_in_the_file_name_is_neutralised(
    api: Harness, pdf_bytes: bytes, tmp_path: Path
) -> None:
    doc_id = api.ingest("../../../etc/evil.pdf", pdf_bytes)
    assert api.client.get(f"/documents/{doc_id}").json()["file_name"] == "evil.pdf"
    assert not (tmp_path / "etc").exists() and not (tmp_path / "data" / "etc").exists()


def test_a_file_that_fails_ingestion_fails_its_job(api: Harness) -> None:
    broken = b"%PDF-1.4\nthis is not really a pdf\n"
    job = api.wait_job(str(api.upload("broken.pdf", broken)["id"]))
    assert job["status"] == "failed" and job["error"].startswith("broken.pdf: ")
    # A document that was not kept is not pointed at.
    doc_id = job["doc_id"]
    assert doc_id is None or api.client.get(f"/documents/{doc_id}").status_code == 200


def test_delete_removes_the_document_and_its_points(api: Harness, pdf_bytes: bytes) -> None:
    doc_id = api.ingest("paper.pdf", pdf_bytes)
    assert doc_id in api.index.published
    short = api.client.delete(f"/documents/{doc_id[:2]}")  # a slip, not a name
    assert short.status_code == 404 and "at least 6 characters" in short.json()["detail"]
    assert api.client.get(f"/documents/{doc_id}").status_code == 200
    assert api.client.delete(f"/documents/{doc_id[:12]}").status_code == 204
    assert api.client.get(f"/documents/{doc_id}").status_code == 404
    assert api.client.get("/documents").json() == []
    assert doc_id not in api.index.published


def test_a_document_being_ingested_cannot_be_deleted(api: Harness, pdf_bytes: bytes) -> None:
    doc_id = api.ingest("paper.pdf", pdf_bytes)
    registry = api.services.registry
    doc = registry.get_document(doc_id)
    assert doc is not None
    registry.begin_document(doc.id, doc.file_name, doc.kind, doc.size_bytes, doc.source_blob)
    job = registry.create_job("paper.pdf")
    registry.update_job(job.id, status=JobStatus.RUNNING)
    response = api.client.delete(f"/documents/{doc_id}")
    assert response.status_code == 409 and "being ingested" in response.json()["detail"]
    registry.update_job(job.id, status=JobStatus.FAILED)  # a crash leftover: deletable
    assert api.client.delete(f"/documents/{doc_id}").status_code == 204


# -- query --------------------------------------------------------------------------------


def test_query_returns_answer_citations_and_explained_hits(api: Harness, pdf_bytes: bytes) -> None:
    doc_id = api.ingest("paper.pdf", pdf_bytes)
    response = api.client.post("/query", json={"question": "What is peer-to-peer electronic cash?"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body["refused"] and 0.5 <= body["evidence"] <= 1.0
    assert "[S1]" in body["answer"] and "[paper.pdf p.1]" in body["answer_display"]
    top = body["hits"][0]
    assert (top["rank"], top["file_name"], top["page"], top["kind"]) == (1, "paper.pdf", 1, "page")
    assert top["unit_id"] == f"{doc_id}:p00001"
    assert top["image_url"] == f"/units/{doc_id}:p00001/image" and top["video_url"] is None
    assert top["score"] >= body["hits"][-1]["score"]
    assert {"stage1_score", "rerank_score", "matched", "text"} <= top.keys()
    assert body["citations"][0]["unit_id"] == top["unit_id"] and body["citations"][0]["valid"]


def test_a_query_makes_one_thread_pool_hop_and_a_stream_two(
    api: Harness, pdf_bytes: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each hop hands the GIL between the event loop and a worker thread: under concurrent
    # queries the hand-offs bounded the rate (sync dependencies and a sync route's
    # response validation each made one; docs/figures.md, issue 12).
    api.ingest("paper.pdf", pdf_bytes)
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Callable[..., object], *args: object, **kwargs: object) -> object:
        hops.append(getattr(getattr(func, "func", func), "__name__", repr(func)))  # partial
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    response = api.client.post("/query", json={"question": "What is peer-to-peer cash?"})
    assert response.status_code == 200, response.text
    assert hops == ["_answer"]

    # A stream: the route (retrieval and the first token), then one worker for all the
    # other events, however many tokens (Starlette's default is a hop per event).
    hops.clear()
    stream = api.client.post("/query/stream", json={"question": "What is peer-to-peer cash?"})
    assert stream.status_code == 200, stream.text
    assert stream.text.count("event: token") > 2
    assert len(hops) == 2 and hops[1] == "pull"  # the route (FastAPI wraps it), the pump


def test_query_filters_by_document_prefix_and_kind(api: Harness, pdf_bytes: bytes) -> None:
    pdf_id = api.ingest("paper.pdf", pdf_bytes)
    video_id = api.ingest("talk.mp4", FAKE_MP4)
    question = {"question": "whales songs"}
    both = {h["doc_id"] for h in api.client.post("/query", json=question).json()["hits"]}
    assert both == {pdf_id, video_id}
    only_pdf = api.client.post("/query", json={**question, "doc_ids": [pdf_id[:8]]}).json()
    assert {h["doc_id"] for h in only_pdf["hits"]} == {pdf_id}
    clips = api.client.post("/query", json={**question, "kinds": ["clip"]}).json()
    assert {h["kind"] for h in clips["hits"]} == {"clip"}
    assert api.client.post("/query", json={**question, "doc_ids": ["0000"]}).status_code == 404


def test_query_validates_its_body(api: Harness) -> None:
    assert api.client.post("/query", json={"question": ""}).status_code == 422
    assert api.client.post("/query", json={"question": "x", "top_k": 0}).status_code == 422
    assert api.client.post("/query", json={"question": "x", "kinds": ["slide"]}).status_code == 422


def test_query_without_evidence_is_refused(api: Harness, pdf_bytes: bytes) -> None:
    api.ingest("paper.pdf", pdf_bytes)
    body = api.client.post("/query", json={"question": "quantum chromodynamics"}).json()
    assert body["refused"] and body["hits"] == [] and body["citations"] == []
    assert body["evidence"] == 0.0


def _sse(text: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_query_stream_sends_tokens_then_the_final_answer(api: Harness, pdf_bytes: bytes) -> None:
    api.ingest("paper.pdf", pdf_bytes)
    question = {"question": "What is peer-to-peer electronic cash?"}
    response = api.client.post("/query/stream", json=question)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _sse(response.text)
    names = [name for name, _ in events]
    assert names[-1] == "final" and set(names[:-1]) == {"token"} and len(names) > 3
    streamed = "".join(str(data["text"]) for name, data in events if name == "token")
    final = events[-1][1]
    assert streamed == final["answer"]
    assert final == api.client.post("/query", json=question).json()


def test_query_stream_reports_a_mid_stream_failure_as_an_error_event(
    api: Harness, pdf_bytes: bytes
) -> None:
    api.ingest("paper.pdf", pdf_bytes)
    api.generator.fail_after_words = 2
    response = api.client.post("/query/stream", json={"question": "peer-to-peer cash"})
    events = _sse(response.text)
    assert [name for name, _ in events] == ["token", "token", "error"]
    assert events[-1][1]["status"] == 503 and "dropped" in str(events[-1][1]["detail"])


@pytest.mark.parametrize(
    ("error", "status"),
    [(NotFound("no unit"), 404), (GenerationError("garbled"), 502), (BackendUnavailable("x"), 503)],
)
def test_a_stream_error_has_the_status_the_plain_route_would_answer(
    error: Exception, status: int
) -> None:
    def events() -> Iterator[AnswerEvent]:
        yield TokenEvent("partial ")
        raise error

    frames = list(sse_answer_events(events()))
    data = json.loads(frames[-1].split("data: ", 1)[1])
    assert frames[-1].startswith("event: error") and data["status"] == status
    mapped = http_error(error)
    assert mapped is not None and data == {"status": mapped.status, "detail": mapped.detail}


def test_backends_down_are_503_with_a_clear_message(api: Harness, pdf_bytes: bytes) -> None:
    api.ingest("paper.pdf", pdf_bytes)
    question = {"question": "peer-to-peer cash"}
    api.generator.up = False
    for path in ("/query", "/query/stream"):
        response = api.client.post(path, json=question)
        assert response.status_code == 503 and "vLLM" in response.json()["detail"], path
    api.generator.up = True
    api.index.up = False
    response = api.client.post("/query", json=question)
    assert response.status_code == 503 and "Qdrant" in response.json()["detail"]


# -- media --------------------------------------------------------------------------------


def test_page_image_is_the_page_png(api: Harness, pdf_bytes: bytes) -> None:
    doc_id = api.ingest("paper.pdf", pdf_bytes)
    response = api.client.get(f"/units/{doc_id}:p00002/image")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG")
    encoded = api.client.get(f"/units/{doc_id}%3Ap00002/image")
    assert encoded.content == response.content
    assert api.client.get(f"/units/{doc_id}:p00002/video").status_code == 404


def test_clip_image_defaults_to_the_middle_frame(api: Harness) -> None:
    doc_id = api.ingest("talk.mp4", FAKE_MP4)
    unit = f"/units/{doc_id}:c00001/image"
    frames = [api.client.get(unit, params={"frame": i}).content for i in range(3)]
    assert len(set(frames)) == 3
    middle = api.client.get(unit)
    assert middle.headers["content-type"] == "image/jpeg" and middle.content == frames[1]
    assert api.client.get(unit, params={"frame": 3}).status_code == 404


def test_clip_video_supports_range_requests(api: Harness) -> None:
    doc_id = api.ingest("talk.mp4", FAKE_MP4)
    url = f"/units/{doc_id}:c00001/video"
    whole = api.client.get(url)
    assert whole.status_code == 200 and whole.content == FAKE_MP4
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "video/mp4"
    part = api.client.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 100-199/{len(FAKE_MP4)}"
    assert part.content == FAKE_MP4[100:200]
    tail = api.client.get(url, headers={"Range": "bytes=-16"})
    assert tail.status_code == 206 and tail.content == FAKE_MP4[-16:]
    beyond = api.client.get(url, headers={"Range": f"bytes={len(FAKE_MP4) + 10}-"})
    assert beyond.status_code == 416


# -- system, auth, OpenAPI ----------------------------------------------------------------


def test_ready_names_the_part_that_is_down(api: Harness) -> None:
    ok = api.client.get("/ready")
    assert ok.status_code == 200 and ok.json()["ready"]
    api.index.up = False
    down = api.client.get("/ready")
    assert down.status_code == 503
    states = {c["name"]: c["ok"] for c in down.json()["components"]}
    assert states == {"registry": True, "qdrant": False, "retriever": True, "generator": True}
    api.index.up = True
    api.generator.up = False
    down = api.client.get("/ready").json()
    generator = next(c for c in down["components"] if c["name"] == "generator")
    assert not down["ready"] and not generator["ok"] and "vLLM" in generator["detail"]


def test_api_key_guards_every_route_but_health(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, api_key=KEY)
    with serving(create_app(settings, fake_services)) as client:
        assert client.get("/health").status_code == 200
        for method, path in (("GET", "/documents"), ("GET", "/ready"), ("POST", "/query")):
            response = client.request(method, path, json={"question": "x"})
            assert response.status_code == 401, path
            assert "X-API-Key" in response.json()["detail"]
        assert client.get("/documents", headers={"X-API-Key": "wrong"}).status_code == 401
        assert client.get("/documents", headers={"X-API-Key": KEY}).status_code == 200
        bearer = {"Authorization": f"Bearer {KEY}"}
        assert client.get("/documents", headers=bearer).status_code == 200
        assert client.get("/units/x:p1/image", headers=bearer).status_code == 404


def test_openapi_documents_every_route_with_typed_models(api: Harness) -> None:
    spec = api.client.get("/openapi.json").json()
    assert set(spec["paths"]) == {
        "/health",
        "/ready",
        "/documents",
        "/documents/{doc_id}",
        "/jobs/{job_id}",
        "/query",
        "/query/stream",
        "/units/{unit_id}/image",
        "/units/{unit_id}/video",
        "/units/{unit_id}/boxes",
        "/limits",
        "/conversations",
        "/conversations/{conversation_id}",
        "/conversations/{conversation_id}/messages",
        "/conversations/{conversation_id}/messages/stream",
    }
    upload = spec["paths"]["/documents"]["post"]
    assert "multipart/form-data" in upload["requestBody"]["content"]
    assert {"202", "413", "415"} <= upload["responses"].keys()
    schemas = spec["components"]["schemas"]
    assert {"QueryRequest", "QueryResponse", "HitOut", "JobOut", "DocumentDetail"} <= schemas.keys()
    assert "securitySchemes" not in spec["components"]  # no key configured: nothing to send


def test_openapi_declares_the_key_when_one_is_configured(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, api_key=KEY)
    with serving(create_app(settings, fake_services)) as client:
        spec = client.get("/openapi.json", headers={"X-API-Key": KEY}).json()
    assert {"APIKeyHeader", "HTTPBearer"} <= spec["components"]["securitySchemes"].keys()
    assert spec["paths"]["/health"]["get"]["security"] == []
    assert "401" in spec["paths"]["/query"]["post"]["responses"]


def test_restart_fails_interrupted_jobs(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    services = fake_services(settings)
    stale = services.registry.create_job("lost.pdf")
    with serving(create_app(settings, lambda _s: services)) as client:
        job = client.get(f"/jobs/{stale.id}").json()
    assert job["status"] == "failed" and "interrupted" in job["error"]
    assert services.index.closed  # type: ignore[attr-defined]


def test_health_answers_while_the_models_load_and_ready_says_loading(tmp_path: Path) -> None:
    settings = settings_for(tmp_path)
    release = threading.Event()

    def slow_factory(s: Settings) -> Services:
        release.wait(30)  # a model download
        return fake_services(s)

    app = create_app(settings, slow_factory)
    with TestClient(app) as client:
        assert client.get("/health").json() == {"status": "ok"}
        loading = client.get("/ready")
        assert loading.status_code == 503
        assert loading.json()["status"] == "loading" and not loading.json()["ready"]
        waiting = client.get("/documents")
        assert waiting.status_code == 503 and "loading" in waiting.json()["detail"]
        assert waiting.headers["Retry-After"] == "10"
        assert client.get("/limits").status_code == 200  # settings only: no models needed
        release.set()
        assert app.state.loader.wait(30) == "ready"
        ready = client.get("/ready").json()
        assert ready["status"] == "ready" and ready["ready"]
        assert [c["name"] for c in ready["components"]] == [
            "registry",
            "qdrant",
            "retriever",
            "generator",
        ]
        assert client.get("/documents").status_code == 200


def test_a_failed_model_load_is_reported_by_ready(tmp_path: Path) -> None:
    def broken(_s: Settings) -> Services:
        raise ModelUnavailable("Qwen/Qwen3-VL-Embedding-2B: no such model in the cache")

    app = create_app(settings_for(tmp_path), broken)
    with TestClient(app) as client:
        assert app.state.loader.wait(30) == "failed"
        assert client.get("/health").status_code == 200
        body = client.get("/ready").json()
        assert body["status"] == "failed" and "no such model" in body["detail"]
        failed = client.get("/documents")
        assert failed.status_code == 503 and "ModelUnavailable" in failed.json()["detail"]


def test_a_located_answer_says_so_in_the_response() -> None:
    from app.api.convert import query_response
    from generation.answer import located_answer
    from tests.support.fixtures_generation import clip_unit, hit

    hits = [hit(clip_unit("bottle-detection.mp4", 1, 6.0, 11.0, ""), 0.8)]
    body = query_response(located_answer(hits)).model_dump()
    assert body["located"] and not body["refused"]
    assert body["citations"][0]["valid"] and "00:06-00:11" in body["answer_display"]
