"""Vision-language embedder (GPU profile): a Qwen-VL backbone in-process, last-token
pooling, L2 normalisation, optional Matryoshka truncation.

Pages go in as their image plus (optionally) their text, clips as their frames (a list of
images) plus transcript/OCR text, queries as text with an instruction. The prompt format
(`qwen3-vl-embedding`, `dse`, `vlm2vec`) follows the reference implementation of each model
family; see retrieval/qwen_vl/formats.py and docs/parity.md.
"""

from __future__ import annotations

import logging
import threading
import time

from ingest.lazy import LoadOnce
from retrieval.config import VLMSettings
from retrieval.embedders.base import Matrix
from retrieval.embedders.prompted import PromptedEmbedder
from retrieval.qwen_vl import loading
from retrieval.qwen_vl.encoder import LastTokenEncoder
from retrieval.qwen_vl.patch_embed import use_linear_patch_embedding
from retrieval.qwen_vl.pooling import truncate_dims
from retrieval.qwen_vl.prompts import PromptSpec

log = logging.getLogger(__name__)


class VLMEmbedder(PromptedEmbedder):
    """Embedder over a Qwen2-VL / Qwen2.5-VL / Qwen3-VL checkpoint (hub id or directory).

    The config is read at construction (for `dim`); weights load on first use or `load()`.
    Calls are serialised: one forward at a time per embedder.
    """

    settings: VLMSettings

    def __init__(self, settings: VLMSettings) -> None:
        self._config = loading.load_config(settings.model)
        self._setup(settings, loading.text_hidden_size(self._config))

    @classmethod
    def from_encoder(
        cls, settings: VLMSettings, encoder: LastTokenEncoder, hidden_size: int
    ) -> VLMEmbedder:
        """An embedder over an encoder already in memory (benchmarks of models built from a
        config); `settings.model` is then only a name."""
        embedder = cls.__new__(cls)
        embedder._setup(settings, hidden_size)
        embedder._encoder = LoadOnce(embedder._build_encoder, encoder)  # already built
        return embedder

    def _setup(self, settings: VLMSettings, hidden: int) -> None:
        if settings.mrl_dim is not None and settings.mrl_dim > hidden:
            raise ValueError(f"mrl_dim {settings.mrl_dim} exceeds the model's {hidden} dimensions")
        self.settings = settings
        self.dim: int = settings.mrl_dim or hidden
        suffix = f"@{self.dim}" if settings.mrl_dim else ""
        self.name = f"vlm:{settings.prompt_format}:{settings.model}{suffix}"
        self._encoder = LoadOnce(self._build_encoder)
        self._lock = threading.Lock()  # one forward at a time

    def load(self) -> LastTokenEncoder:
        """Load processor and weights now (idempotent); returns the batch encoder."""
        return self._encoder.get()

    def _build_encoder(self) -> LastTokenEncoder:
        s = self.settings
        processor = loading.load_processor(s.model)
        loading.check_geometry(s.model, self._config, processor)
        device = loading.resolve_device(s.device)
        dtype = loading.resolve_dtype(s.dtype, device)
        backbone = loading.load_backbone(s.model, device, dtype, s.attn_implementation)
        if s.packed:
            use_linear_patch_embedding(backbone)
        return LastTokenEncoder(
            backbone, processor, device, s.batch_tokens, s.batch_max_items, packed=s.packed
        )

    def embed_specs(self, specs: list[PromptSpec]) -> Matrix:
        """(len(specs), dim) unit vectors, from the in-process model."""
        encoder = self.load()
        started = time.perf_counter()
        with self._lock:
            states = encoder.encode(specs)  # (n, hidden) float32
        log.debug("%s: %d inputs in %.2f s", self.name, len(specs), time.perf_counter() - started)
        return truncate_dims(states.numpy(), self.settings.mrl_dim)
