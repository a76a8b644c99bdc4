"""VLLMEmbedder against a fake `vllm serve --runner pooling` on 127.0.0.1: request shape
per prompt format, vectors, MRL, dimension probe, retries, timeouts and errors."""

from __future__ import annotations

import base64
import io
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pydantic import SecretStr

from ingest.errors import BackendUnavailable, CorruptFile
from ingest.types import Unit
from retrieval.config import VLLMEmbedSettings
from retrieval.embedders.base import Embedder
from retrieval.embedders.vllm_client import BadEmbeddingResponse, VLLMEmbedder
from tests.support.fake_vllm_embed_server import FakeVLLMEmbedServer
from tests.support.tiny_vlm import make_clip_unit, make_page_unit


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> list[Unit]:
    d = tmp_path_factory.mktemp("vllm")
    return [make_page_unit(d, 1, size=(400, 300)), make_clip_unit(d, 0, frames=5)]


def decode_data_url(url: str) -> Image.Image:
    assert url.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


def settings_for(server: FakeVLLMEmbedServer, **overrides: object) -> VLLMEmbedSettings:
    return VLLMEmbedSettings(base_url=server.base_url, model="served-embedder", **overrides)


def test_qwen3_requests_and_vectors(units: list[Unit]) -> None:
    with FakeVLLMEmbedServer(dim=48) as server:
        emb = VLLMEmbedder(
            settings_for(server, dim=48, max_pixels=100 * 100, max_frames=3), retry_backoff_s=0
        )
        assert isinstance(emb, Embedder)
        assert emb.dim == 48 and server.bodies == []  # nothing asked before the first embedding
        q = emb.embed_queries(["where do whales sing", "dogs"])
        u = emb.embed_units(units)
        assert q.shape == (2, 48) and u.shape == (2, 48) and u.dtype == np.float32
        assert np.allclose(np.linalg.norm(np.vstack([q, u]), axis=1), 1.0, atol=1e-6)
        assert not np.allclose(q[0], q[1])
        query_body = next(b for b in server.bodies if "whales" in str(b["messages"]))
        assert query_body["model"] == "served-embedder"
        assert query_body["add_generation_prompt"] is True
        # the server's default is false; the reference tokenises with special tokens
        assert all(b["add_special_tokens"] is True for b in server.bodies)
        assert query_body["messages"][0] == {
            "role": "system",
            "content": "Find a page or video clip that answers the question.",
        }
        assert query_body["messages"][1]["content"] == [
            {"type": "text", "text": "where do whales sing"}
        ]
        page_body = next(b for b in server.bodies if "Whales sing" in str(b["messages"]))
        parts = page_body["messages"][1]["content"]
        assert [p["type"] for p in parts] == ["image_url", "text"]
        image = decode_data_url(parts[0]["image_url"]["url"])
        assert (
            image.width * image.height <= 100 * 100
            and abs(image.width / image.height - 4 / 3) < 0.05
        )
        clip_body = next(b for b in server.bodies if "dog runs" in str(b["messages"]))
        kinds = [p["type"] for p in clip_body["messages"][1]["content"]]
        assert kinds == ["image_url"] * 3 + ["text"]  # max_frames, then the transcript


def test_dse_format_and_mrl(units: list[Unit]) -> None:
    with FakeVLLMEmbedServer(dim=64) as server:
        emb = VLLMEmbedder(
            settings_for(server, prompt_format="dse", dim=64, mrl_dim=32), retry_backoff_s=0
        )
        assert emb.dim == 32
        q = emb.embed_queries(["whales"])
        assert q.shape == (1, 32) and np.isclose(np.linalg.norm(q), 1.0)
        body = server.bodies[0]
        assert body["add_generation_prompt"] is False
        assert body["add_special_tokens"] is True
        assert [m["role"] for m in body["messages"]] == [
            "user"
        ]  # the server adds the default system turn
        image_part, text_part = body["messages"][0]["content"]
        assert decode_data_url(image_part["image_url"]["url"]).size == (56, 56)
        assert text_part == {"type": "text", "text": "Query: whales"}


def test_api_key_is_sent_as_bearer() -> None:
    with FakeVLLMEmbedServer() as server:
        emb = VLLMEmbedder(
            settings_for(server, api_key=SecretStr("k3y"), dim=48), retry_backoff_s=0
        )
        emb.embed_queries(["x"])
        assert server.headers[0]["Authorization"] == "Bearer k3y"


def test_server_errors_are_retried_then_reported() -> None:
    with FakeVLLMEmbedServer() as server:
        server.fail_first = 2
        emb = VLLMEmbedder(settings_for(server, dim=48, max_retries=2), retry_backoff_s=0)
        assert emb.embed_queries(["x"]).shape == (1, 48)
        assert len(server.bodies) == 3
        server.mode = "error_500"
        with pytest.raises(BackendUnavailable, match=r"HTTP 500.*after 3 tries"):
            emb.embed_queries(["x"])


@pytest.mark.parametrize(
    ("mode", "message"),
    [("error_400", "HTTP 400"), ("malformed", "not JSON"), ("no_data", "no embedding")],
)
def test_bad_answers_are_not_retried(mode: str, message: str) -> None:
    with FakeVLLMEmbedServer(mode=mode) as server:
        emb = VLLMEmbedder(settings_for(server, dim=48, max_retries=3), retry_backoff_s=0)
        with pytest.raises(BadEmbeddingResponse, match=message):
            emb.embed_queries(["x"])
        assert len(server.bodies) == 1


def test_timeouts_and_unreachable_servers_are_backend_unavailable() -> None:
    with FakeVLLMEmbedServer(mode="hang", hang_s=1.0) as server:
        emb = VLLMEmbedder(
            settings_for(server, dim=48, timeout_s=0.2, max_retries=0), retry_backoff_s=0
        )
        with pytest.raises(BackendUnavailable, match="timed out"):
            emb.embed_queries(["x"])
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = VLLMEmbedSettings(base_url=f"http://127.0.0.1:{port}/v1", dim=48, max_retries=1)
    with pytest.raises(BackendUnavailable, match=rf"127.0.0.1:{port}.*unreachable"):
        VLLMEmbedder(settings, retry_backoff_s=0).embed_queries(["x"])


def test_unreadable_image_names_the_file(tmp_path: Path) -> None:
    page = make_page_unit(tmp_path, 7)
    page.images[0].write_bytes(b"garbage")
    with FakeVLLMEmbedServer() as server:
        emb = VLLMEmbedder(settings_for(server, dim=48), retry_backoff_s=0)
        with pytest.raises(CorruptFile, match="page-7.png"):
            emb.embed_units([page])


def test_vector_size_must_match_settings() -> None:
    with FakeVLLMEmbedServer(dim=48) as server:
        emb = VLLMEmbedder(settings_for(server, dim=2048), retry_backoff_s=0)
        with pytest.raises(BadEmbeddingResponse, match=r"size \[48\], expected 2048"):
            emb.embed_queries(["x"])
        with pytest.raises(ValueError, match="mrl_dim"):
            VLLMEmbedder(settings_for(server, dim=48, mrl_dim=64))


def test_ping_checks_the_server_serves_the_model() -> None:
    with FakeVLLMEmbedServer() as server:
        emb = VLLMEmbedder(settings_for(server), retry_backoff_s=0)
        emb.ping()  # lists served-embedder
        server.model = "another/model"
        with pytest.raises(BackendUnavailable, match="not served-embedder"):
            emb.ping()
        assert server.bodies == []  # a probe embeds nothing
    with pytest.raises(BackendUnavailable, match="not reachable"):
        emb.ping()
