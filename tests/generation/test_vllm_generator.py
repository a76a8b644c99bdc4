"""The vLLM client against a real local HTTP server streaming SSE as vLLM does, in every
failure mode: each ends in a clear GenerationError, quickly, never a hang."""

from __future__ import annotations

import base64
import io
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from pydantic import SecretStr

from generation.config import GenerationSettings
from generation.errors import BadGeneratorResponse, GenerationError, GeneratorUnavailable
from generation.generators.vllm import VLLMGenerator
from generation.prompts import NO_ANSWER
from ingest.errors import BackendUnavailable
from tests.support.fake_openai_server import FakeOpenAIServer, user_text
from tests.support.fixtures_generation import clip_unit, hit, page_unit, sample_hits, write_image

QUESTION = "What does the paper propose?"

# Short limits so that the timeout modes fail in well under a second.
FAST = GenerationSettings(
    timeout_s=5.0, connect_timeout_s=1.0, read_timeout_s=0.4, max_retries=2, max_new_tokens=32
)


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as running:
        yield running


def make_generator(server: FakeOpenAIServer, **update: object) -> VLLMGenerator:
    settings = FAST.model_copy(update={"vllm_base_url": server.base_url, **update})
    return VLLMGenerator(settings, retry_backoff_s=0.01)


def run(generator: VLLMGenerator) -> tuple[list[str], BaseException | None, float]:
    """Consume the stream; return the pieces before any error, the error, the seconds."""
    pieces: list[str] = []
    started = time.monotonic()
    try:
        for piece in generator.stream(QUESTION, sample_hits()):
            pieces.append(piece)
    except GenerationError as err:
        return pieces, err, time.monotonic() - started
    finally:
        generator.close()
    return pieces, None, time.monotonic() - started


def test_normal_stream_yields_tokens_and_sends_the_prompt(server: FakeOpenAIServer) -> None:
    pieces, error, _ = run(make_generator(server, vllm_model="my/model"))
    assert error is None
    text = "".join(pieces)
    assert len(pieces) > 3 and "[S1]" in text and "[S2]" in text
    # Quoted from source 1: the sources reached the server.
    assert "Peer-to-Peer Electronic Cash" in text
    (body,) = server.requests
    assert body["stream"] is True and body["model"] == "my/model"
    assert body["max_tokens"] == 32
    assert "[S1] bitcoin.pdf p.1" in user_text(body)
    assert QUESTION in user_text(body)
    assert body["messages"][0]["role"] == "system"


def test_images_travel_as_data_urls_under_the_pixel_cap(
    server: FakeOpenAIServer, tmp_path: Path
) -> None:
    page_png = write_image(tmp_path / "page.png", (1200, 1600))
    frames = [write_image(tmp_path / f"f{i}.jpg", (640, 480)) for i in range(4)]
    hits = [
        hit(page_unit("a.pdf", 3, "alpha text", [page_png]), 0.9),
        hit(clip_unit("b.mp4", 1, 10.0, 20.0, "beta text", frames), 0.8),
    ]
    generator = make_generator(server, max_images=3, image_max_pixels=200_000)
    "".join(generator.stream(QUESTION, hits))
    generator.close()
    parts = server.requests[0]["messages"][1]["content"]
    urls = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert len(urls) == 3
    assert urls[0].startswith("data:image/png;base64,")
    assert all(u.startswith("data:image/jpeg;base64,") for u in urls[1:])
    for url in urls:
        image = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
        assert image.width * image.height <= 200_000


def test_api_key_is_sent_as_bearer(server: FakeOpenAIServer) -> None:
    _, error, _ = run(make_generator(server, vllm_api_key=SecretStr("s3cret")))
    assert error is None
    assert server.request_headers[0]["Authorization"] == "Bearer s3cret"


def test_500_is_retried_then_reported_as_unavailable(server: FakeOpenAIServer) -> None:
    server.mode = "error_500"
    pieces, error, seconds = run(make_generator(server))
    assert isinstance(error, GeneratorUnavailable) and isinstance(error, BackendUnavailable)
    assert "HTTP 500" in str(error) and "fake 500" in str(error)
    assert len(server.requests) == 1 + FAST.max_retries
    assert pieces == [] and seconds < 3


def test_a_failure_before_the_first_token_is_retried(server: FakeOpenAIServer) -> None:
    server.fail_first = 1
    server.fail_mode = "error_500"
    pieces, error, _ = run(make_generator(server))
    assert error is None and "[S1]" in "".join(pieces)
    assert len(server.requests) == 2


def test_400_is_not_retried(server: FakeOpenAIServer) -> None:
    server.mode = "error_400"
    _, error, _ = run(make_generator(server))
    assert isinstance(error, BadGeneratorResponse) and "HTTP 400" in str(error)
    assert len(server.requests) == 1


def test_hang_times_out(server: FakeOpenAIServer) -> None:
    server.mode = "hang"
    _, error, seconds = run(make_generator(server, max_retries=1))
    assert isinstance(error, GeneratorUnavailable) and "read timeout" in str(error)
    assert len(server.requests) == 2
    assert seconds < 3


def test_stall_after_the_first_token_is_not_retried(server: FakeOpenAIServer) -> None:
    server.mode = "stall"
    pieces, error, seconds = run(make_generator(server))
    assert isinstance(error, GeneratorUnavailable)
    assert len(pieces) == 2  # what came before the stall was streamed
    assert len(server.requests) == 1  # a retry would repeat those tokens
    assert seconds < 2


def test_total_timeout_stops_a_trickling_stream(server: FakeOpenAIServer) -> None:
    server.mode = "trickle"  # keep-alive comments forever: no read timeout ever fires
    _, error, seconds = run(make_generator(server, timeout_s=0.6))
    assert isinstance(error, GeneratorUnavailable) and "within 0.6 s" in str(error)
    assert seconds < 2


def test_malformed_chunk(server: FakeOpenAIServer) -> None:
    server.mode = "malformed"
    pieces, error, _ = run(make_generator(server))
    assert isinstance(error, BadGeneratorResponse) and "malformed chunk" in str(error)
    assert server.base_url in str(error)
    assert len(pieces) == 1 and len(server.requests) == 1


def test_error_object_in_stream(server: FakeOpenAIServer) -> None:
    server.mode = "error_in_stream"
    _, error, _ = run(make_generator(server))
    assert isinstance(error, BadGeneratorResponse) and "CUDA out of memory" in str(error)


def test_dropped_connection(server: FakeOpenAIServer) -> None:
    server.mode = "drop"
    pieces, error, _ = run(make_generator(server))
    assert isinstance(error, GeneratorUnavailable) and "broke off" in str(error)
    assert len(pieces) == 2


def test_stream_without_done(server: FakeOpenAIServer) -> None:
    server.mode = "no_done"
    pieces, error, _ = run(make_generator(server))
    assert isinstance(error, GeneratorUnavailable) and "without [DONE]" in str(error)
    assert len(pieces) == 2


def test_connection_refused() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = FAST.model_copy(update={"vllm_base_url": f"http://127.0.0.1:{port}/v1"})
    started = time.monotonic()
    with pytest.raises(GeneratorUnavailable, match="cannot connect"):
        list(VLLMGenerator(settings, retry_backoff_s=0.01).stream(QUESTION, sample_hits()))
    assert time.monotonic() - started < 3


def test_no_hits_does_not_call_the_server(server: FakeOpenAIServer) -> None:
    generator = make_generator(server)
    assert NO_ANSWER in "".join(generator.stream(QUESTION, []))
    assert server.requests == []
    generator.close()


def test_ping_checks_the_server_serves_the_model(server: FakeOpenAIServer) -> None:
    make_generator(server, vllm_model=server.model).ping()
    with pytest.raises(GeneratorUnavailable, match="does not serve 'other/model'"):
        make_generator(server, vllm_model="other/model").ping()


def test_ping_reports_an_unreachable_server() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = FAST.model_copy(update={"vllm_base_url": f"http://127.0.0.1:{port}/v1"})
    with pytest.raises(GeneratorUnavailable, match="not reachable"):
        VLLMGenerator(settings).ping()


@pytest.mark.parametrize(
    ("err", "reason"),
    [
        (httpx.ConnectTimeout("slow"), "no connection within 1 s"),
        (httpx.ConnectError("refused"), "cannot connect (refused)"),
        (httpx.ReadTimeout("idle"), "no data for 0.4 s (read timeout)"),
        (httpx.PoolTimeout("busy"), "timed out (PoolTimeout('busy'))"),
        (httpx.RemoteProtocolError("eof"), "the stream broke off (eof)"),
        (httpx.ReadError("reset"), "the stream broke off (reset)"),
        (httpx.WriteError("pipe"), "WriteError('pipe')"),
    ],
)
def test_transport_failures_are_named_most_specific_first(
    err: httpx.HTTPError, reason: str
) -> None:
    assert VLLMGenerator(FAST)._transport_reason(err) == reason
