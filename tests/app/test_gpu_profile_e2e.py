"""The gpu profile end to end on CPU, through the REST API: `profile=gpu` with the real
components of that profile, made small. The visual embedder and the reranker are tiny random
Qwen3-VL checkpoints (tests/support/tiny_vlm.py) loaded in-process, or the embedder behind the fake
vLLM pooling server; the generator is VLLMGenerator against the fake vLLM chat server.

Upload a PDF and a video -> every unit has its visual, text and sparse vectors in Qdrant ->
POST /query and /query/stream -> VLM rerank scores -> a streamed answer whose citations
point at retrieved units; /ready lists every component.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.api.application import create_app
from app.api.schemas import QueryResponse, TokenChunk
from app.config import Settings
from app.service import Services
from generation.generators.sse import decode_events
from retrieval.index import SPARSE, TEXT, VISUAL
from tests.support.api_fakes import serving
from tests.support.fake_openai_server import FakeOpenAIServer
from tests.support.fake_vllm_embed_server import FakeVLLMEmbedServer
from tests.support.fixtures_pdf import text_pdf
from tests.support.fixtures_video import make_ramp_video, requires_ffmpeg
from ui.client import stream_event

PAGES = [
    "The warranty covers the compressor for ten years from the date of purchase.",
    "Clean the filter every two weeks with lukewarm water and a soft brush.",
]
QUESTION = "How often should I clean the filter?"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("gpu-e2e-inputs")
    pdf = text_pdf(root / "aircon-manual.pdf", PAGES)
    video = make_ramp_video(root / "ramp.mp4", seconds=4.0)
    return pdf, video


def _settings(data_dir: Path, tiny: Path, generator_url: str, **retrieval: Any) -> Settings:
    small = {"model": str(tiny), "device": "cpu", "max_pixels": 128 * 128, "max_frames": 2}
    return Settings(  # type: ignore[call-arg]
        _env_file=None,
        profile="gpu",
        data_dir=data_dir,
        ingest={
            "render_dpi": 36,
            "ocr_languages": "eng",
            "workers": 1,
            "clip_seconds": 2.0,
            "frames_per_clip": 2,
            "frame_ocr": False,
        },
        retrieval={"vlm": small, "vlm_reranker": small, **retrieval},
        # the tiny random reranker's scores are not a relevance signal: never refuse
        generation={
            "vllm_base_url": generator_url,
            "vllm_model": "served-generator",
            "refusal_threshold": 0.0,
            "max_images": 2,
        },
    )


def _ingest(client: TestClient, path: Path, content_type: str) -> str:
    with path.open("rb") as handle:
        response = client.post("/documents", files={"file": (path.name, handle, content_type)})
    assert response.status_code == 202, response.text
    job_id = response.json()["id"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = client.get(f"/jobs/{job_id}").json()
        if job["status"] in ("done", "failed"):
            assert job["status"] == "done", job
            return str(job["doc_id"])
        time.sleep(0.1)
    raise AssertionError(f"ingesting {path.name} did not finish")


def _vectors(services: Services, unit_ids: list[str]) -> dict[str, set[str]]:
    """The named vectors the index holds for each unit."""
    return services.index.vector_names(unit_ids)


def _run_gpu_profile(settings: Settings, pdf: Path, video: Path, embedder: str) -> None:
    app = create_app(settings)
    with serving(app) as client:
        ready = client.get("/ready")
        assert ready.status_code == 200, ready.text
        components = {c["name"]: c for c in ready.json()["components"]}
        assert list(components) == [
            "registry",
            "qdrant",
            "visual embedder",
            "text embedder",
            "sparse encoder",
            "reranker",
            "generator",
        ]
        assert all(c["ok"] for c in components.values()), components
        assert components["visual embedder"]["detail"].startswith(embedder)
        reranker = components["reranker"]["detail"]
        assert reranker.startswith("vlm-reranker:") and reranker.endswith(": loaded")
        assert components["generator"]["detail"] == "vllm: reachable"

        pdf_id = _ingest(client, pdf, "application/pdf")
        video_id = _ingest(client, video, "video/mp4")
        docs = {d["id"]: d for d in client.get("/documents").json()}
        assert docs[pdf_id]["n_pages"] == 2 and docs[video_id]["n_clips"] == 2
        units = [
            u["id"]
            for doc_id in (pdf_id, video_id)
            for u in client.get(f"/documents/{doc_id}").json()["units"]
        ]
        services: Services = app.state.loader.value.services
        vectors = _vectors(services, units)
        assert set(vectors) == set(units)
        for unit_id, names in vectors.items():
            # pages: image + text layer; clips: frames (a silent video has no text)
            expected = {VISUAL, TEXT, SPARSE} if ":p" in unit_id else {VISUAL}
            assert expected <= names, (unit_id, names)

        answer = QueryResponse.model_validate(
            client.post("/query", json={"question": QUESTION}).json()
        )
        assert answer.hits and not answer.refused
        assert all(h.rerank_score is not None and 0 < h.rerank_score < 1 for h in answer.hits)
        assert {h.doc_id for h in answer.hits} == {pdf_id, video_id}

        response = client.post("/query/stream", json={"question": QUESTION})
        assert response.status_code == 200
        events = [stream_event(e.event, e.data) for e in decode_events([response.content])]
        tokens = [e.text for e in events if isinstance(e, TokenChunk)]
        final = events[-1]
        assert isinstance(final, QueryResponse) and len(tokens) > 3
        assert "".join(tokens) == final.answer
        retrieved = {h.unit_id for h in final.hits}
        assert final.citations and all(c.valid for c in final.citations)
        assert {c.unit_id for c in final.citations} <= retrieved


@requires_ffmpeg
def test_gpu_profile_with_in_process_models(
    tiny_qwen3_vl: Path, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    with FakeOpenAIServer() as generator:
        generator.model = "served-generator"
        settings = _settings(tmp_path / "data", tiny_qwen3_vl, generator.base_url)
        _run_gpu_profile(settings, *inputs, embedder="vlm:qwen3-vl-embedding:")
        asked = [r for r in generator.requests if r.get("stream")]
        assert asked and all(r["model"] == "served-generator" for r in asked)
        # the answer prompt shows the sources' images, within the configured cap
        images = [
            p for m in asked[0]["messages"] if isinstance(m["content"], list)
            for p in m["content"] if p.get("type") == "image_url"
        ]  # fmt: skip
        assert 1 <= len(images) <= 2


@requires_ffmpeg
def test_gpu_profile_with_the_embedder_behind_vllm(
    tiny_qwen3_vl: Path, inputs: tuple[Path, Path], tmp_path: Path
) -> None:
    with FakeOpenAIServer() as generator, FakeVLLMEmbedServer(dim=48) as embedder:
        generator.model = "served-generator"
        settings = _settings(
            tmp_path / "data",
            tiny_qwen3_vl,
            generator.base_url,
            visual_embedder="vllm",
            vllm_embed={"base_url": embedder.base_url, "model": "served-embedder", "dim": 48},
        )
        _run_gpu_profile(
            settings, *inputs, embedder="vllm:qwen3-vl-embedding:served-embedder: reachable"
        )
        assert len(embedder.bodies) >= 2 + 2 + 2  # pages, clips, the two queries
        assert all(b["add_special_tokens"] is True for b in embedder.bodies)
