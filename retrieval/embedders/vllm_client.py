"""Embedder over an OpenAI-compatible embeddings endpoint served by
`vllm serve <embedding model> --runner pooling` (scales beyond one process or machine).

vLLM's chat form of `/v1/embeddings` takes `messages` like chat completions (images as
`image_url` parts, here data URLs) and applies the model's chat template server-side; one
request embeds one conversation, so units are sent concurrently. Prompts are the same
`PromptSpec`s the in-process embedder renders (retrieval/qwen_vl/formats.py): a system
message for the instruction, user parts in reference order, `add_generation_prompt`
where the reference adds the assistant prompt (Qwen3-VL-Embedding), and
`add_special_tokens` as the reference tokenises (docs/parity.md).

Unreachable server, timeouts and 5xx answers are retried `max_retries` times and then raise
BackendUnavailable; a 4xx or a malformed answer raises BadEmbeddingResponse at once.
"""

from __future__ import annotations

import base64
import io
import logging
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
from PIL import Image

from ingest.errors import BackendUnavailable, MMRagError
from retrieval.config import VLLMEmbedSettings
from retrieval.embedders.base import Matrix
from retrieval.embedders.prompted import PromptedEmbedder
from retrieval.qwen_vl.pooling import truncate_dims
from retrieval.qwen_vl.processing import ImageSource, decode_rgb
from retrieval.qwen_vl.prompts import ChatStyle, PromptSpec

log = logging.getLogger(__name__)


class BadEmbeddingResponse(MMRagError):
    """The embeddings server answered, but not with something usable (4xx, bad JSON)."""


def fit_under(width: int, height: int, max_pixels: int) -> tuple[int, int]:
    """The largest (width, height) with the same aspect ratio and at most `max_pixels`."""
    if width * height <= max_pixels:
        return width, height
    scale = math.sqrt(max_pixels / (width * height))
    return max(1, math.floor(width * scale)), max(1, math.floor(height * scale))


def image_data_url(source: ImageSource, max_pixels: int) -> str:
    """`data:image/png;base64,...` of an image, downscaled under `max_pixels` (the server
    resizes for its model; this only bounds the request size)."""
    image = decode_rgb(source)
    size = fit_under(image.width, image.height, max_pixels)
    if size != image.size:
        image = image.resize(size, Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def chat_messages(spec: PromptSpec) -> list[dict[str, Any]]:
    """OpenAI chat messages of a prompt: system text (if any), then the user parts in
    order, adjacent texts merged."""
    content: list[dict[str, Any]] = []
    for part in spec.parts:
        if isinstance(part, str):
            if content and content[-1]["type"] == "text":
                content[-1]["text"] += part
            else:
                content.append({"type": "text", "text": part})
        else:
            url = image_data_url(part.source, part.sizing.max_pixels)
            content.append({"type": "image_url", "image_url": {"url": url}})
    messages: list[dict[str, Any]] = []
    if spec.system is not None:
        messages.append({"role": "system", "content": spec.system})
    messages.append({"role": "user", "content": content})
    return messages


def request_body(spec: PromptSpec, model: str) -> dict[str, Any]:
    """The JSON body of one `/v1/embeddings` chat request."""
    return {
        "model": model,
        "messages": chat_messages(spec),
        "encoding_format": "float",
        "add_generation_prompt": spec.style is ChatStyle.GENERATION,
        # The chat form of /v1/embeddings defaults to false; the reference tokenises with
        # the processor's default (true), and vLLM's Qwen3-VL-Embedding example sends true.
        "add_special_tokens": True,
    }


class VLLMEmbedder(PromptedEmbedder):
    """Embedder protocol over a vLLM pooling server. `dim` is `mrl_dim`, else the served
    model's size from settings (checked against every answer; nothing is asked of the server
    before the first embedding, so construction works while the server is still starting)."""

    settings: VLLMEmbedSettings

    def __init__(
        self,
        settings: VLLMEmbedSettings,
        client: httpx.Client | None = None,
        retry_backoff_s: float = 0.5,
    ) -> None:
        self.settings = settings
        self.url = settings.base_url.rstrip("/") + "/embeddings"
        suffix = f"@{settings.mrl_dim}" if settings.mrl_dim else ""
        self.name = f"vllm:{settings.prompt_format}:{settings.model}{suffix}"
        headers = {}
        if settings.api_key is not None:
            headers["Authorization"] = f"Bearer {settings.api_key.get_secret_value()}"
        timeout = httpx.Timeout(settings.timeout_s, connect=min(5.0, settings.timeout_s))
        self._client = client or httpx.Client(timeout=timeout, headers=headers)
        self._backoff = retry_backoff_s
        if settings.mrl_dim is not None and settings.mrl_dim > settings.dim:
            raise ValueError(f"mrl_dim {settings.mrl_dim} exceeds the model's {settings.dim}")
        self.dim: int = settings.mrl_dim or settings.dim

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._client.close()

    def ping(self) -> None:
        """Raise BackendUnavailable unless the server answers and serves the configured
        model (`GET /v1/models`, which `vllm serve` answers while it runs)."""
        url = self.settings.base_url.rstrip("/") + "/models"
        try:
            response = self._client.get(url, timeout=min(5.0, self.settings.timeout_s))
        except httpx.HTTPError as err:
            raise BackendUnavailable(f"vLLM embeddings at {url} are not reachable: {err}") from err
        if response.status_code != 200:
            raise BackendUnavailable(
                f"vLLM embeddings at {url} answered HTTP {response.status_code}"
            )
        try:
            served = {m.get("id") for m in response.json().get("data", [])}
        except (ValueError, AttributeError) as err:
            raise BackendUnavailable(
                f"vLLM embeddings at {url} sent a malformed model list"
            ) from err
        if self.settings.model not in served:
            raise BackendUnavailable(
                f"vLLM embeddings at {url} serve {sorted(map(str, served))}, "
                f"not {self.settings.model}"
            )

    def embed_specs(self, specs: list[PromptSpec]) -> Matrix:
        """(len(specs), dim) unit vectors, one request per spec, in parallel."""
        workers = min(self.settings.max_concurrency, len(specs))
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vllm-embed") as pool:
            vectors = list(pool.map(self._embed_one, specs))
        lengths = {len(v) for v in vectors}
        if lengths != {self.settings.dim}:
            raise BadEmbeddingResponse(
                f"{self.url}: vectors of size {sorted(lengths)}, expected {self.settings.dim}"
                " (set vllm_embed.dim to the served model's size)"
            )
        matrix = np.asarray(vectors, dtype=np.float32)
        return truncate_dims(matrix, self.settings.mrl_dim)

    def _embed_one(self, spec: PromptSpec) -> list[float]:
        body = request_body(spec, self.settings.model)
        return parse_embedding(self.url, self._post(body))

    def _post(self, body: dict[str, Any]) -> Any:
        attempts = 1 + self.settings.max_retries
        reason = ""
        for attempt in range(attempts):
            if attempt:
                log.warning("%s: %s; retry %d of %d", self.url, reason, attempt, attempts - 1)
                time.sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = self._client.post(self.url, json=body)
            except httpx.TimeoutException as err:
                reason = f"timed out ({type(err).__name__})"
                continue
            except httpx.TransportError as err:
                reason = f"unreachable ({type(err).__name__}: {err})"
                continue
            if response.status_code >= 500:
                reason = f"HTTP {response.status_code}: {response.text[:200]}"
                continue
            if response.status_code >= 400:
                raise BadEmbeddingResponse(
                    f"{self.url}: HTTP {response.status_code}: {response.text[:300]}"
                )
            try:
                return response.json()
            except ValueError as err:
                raise BadEmbeddingResponse(f"{self.url}: answer is not JSON: {err}") from err
        raise BackendUnavailable(f"vLLM embeddings at {self.url}: {reason} after {attempts} tries")


def parse_embedding(url: str, payload: Any) -> list[float]:
    """The one embedding of an OpenAI embeddings answer; BadEmbeddingResponse otherwise."""
    try:
        data = payload["data"]
        vector = data[0]["embedding"]
    except (KeyError, IndexError, TypeError) as err:
        raise BadEmbeddingResponse(f"{url}: no embedding in the answer: {payload!r:.200}") from err
    if (
        not isinstance(vector, list)
        or not vector
        or not all(isinstance(x, (int, float)) for x in vector)
    ):
        raise BadEmbeddingResponse(f"{url}: embedding is not a list of numbers")
    return [float(x) for x in vector]
