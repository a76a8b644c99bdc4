"""Vision-language cross-encoder reranker (GPU profile), Qwen3-VL-Reranker style.

Each (query, unit) pair becomes one chat prompt (instruction, query, the unit's images and
text; see `rerank_prompt`) and the model is asked for "yes" or "no". The score is
sigmoid(logit("yes") - logit("no")) at the last position, as in the reference
(QwenLM/Qwen3-VL-Embedding `src/models/qwen3_vl_reranker.py`). Only those two rows of the LM
head are used: the base model's last hidden state is dotted with w_yes - w_no, instead of
computing full-vocabulary logits for every position.

Any Qwen-VL checkpoint with a language-model head and single-token "yes"/"no" works
(`settings.model`); only a checkpoint trained for this prompt gives meaningful scores.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ingest.errors import ModelUnavailable
from ingest.lazy import LoadOnce
from ingest.types import Unit
from retrieval.config import VLMSettings
from retrieval.qwen_vl import loading
from retrieval.qwen_vl.encoder import LastTokenEncoder
from retrieval.qwen_vl.formats import rerank_prompt
from retrieval.qwen_vl.processing import QwenVLProcessor

log = logging.getLogger(__name__)


def answer_token_id(processor: QwenVLProcessor, word: str) -> int:
    """Id of `word` as one token of the vocabulary (the reference reads `get_vocab()[word]`)."""
    token_id = processor.tokenizer.get_vocab().get(word)
    if token_id is None:
        raise ModelUnavailable(f"reranker tokenizer has no single token {word!r}")
    return int(token_id)


def yes_no_direction(lm_head_weight: torch.Tensor, yes_id: int, no_id: int) -> torch.Tensor:
    """(hidden,) float32 vector d with h . d = logit("yes") - logit("no") for a state h."""
    return (lm_head_weight[yes_id].float() - lm_head_weight[no_id].float()).cpu()


@dataclass(frozen=True, slots=True)
class _Scorer:
    encoder: LastTokenEncoder
    direction: torch.Tensor  # (hidden,) float32 on the CPU


class VLMReranker:
    """Reranker over a Qwen-VL checkpoint with an LM head. Weights load on first use or
    `load()`; calls are serialised."""

    def __init__(self, settings: VLMSettings) -> None:
        self.settings = settings
        self.name = f"vlm-reranker:{settings.model}"
        self._scorer = LoadOnce(self._build)
        self._lock = threading.Lock()  # one forward at a time

    def load(self) -> None:
        """Load processor and weights now (idempotent)."""
        self._load()

    def _load(self) -> _Scorer:
        return self._scorer.get()

    def _build(self) -> _Scorer:
        s = self.settings
        config = loading.load_config(s.model)
        processor = loading.load_processor(s.model)
        loading.check_geometry(s.model, config, processor)
        device = loading.resolve_device(s.device)
        dtype = loading.resolve_dtype(s.dtype, device)
        model = loading.load_generative(s.model, device, dtype, s.attn_implementation)
        head = model.get_output_embeddings()
        if head is None:
            raise ModelUnavailable(f"model {s.model!r}: no language-model head to score with")
        yes_id = answer_token_id(processor, "yes")
        no_id = answer_token_id(processor, "no")
        direction = yes_no_direction(head.weight.detach(), yes_id, no_id)
        # The head itself is not needed any more; the base model produces the hidden states.
        backbone = model.model
        encoder = LastTokenEncoder(backbone, processor, device, s.batch_tokens, s.batch_max_items)
        return _Scorer(encoder, direction)

    def logits(self, query: str, units: Sequence[Unit]) -> list[float]:
        """logit("yes") - logit("no") at the last position, per unit."""
        if not units:
            return []
        scorer = self._load()
        specs = [rerank_prompt(query, unit, self.settings) for unit in units]
        started = time.perf_counter()
        with self._lock:
            states = scorer.encoder.encode(specs)  # (n, hidden) float32
        log.debug("%s: %d pairs in %.2f s", self.name, len(specs), time.perf_counter() - started)
        return (states @ scorer.direction).tolist()

    def score(self, query: str, units: Sequence[Unit]) -> list[float]:
        """P(yes) = sigmoid(logit(yes) - logit(no)) per unit, in [0, 1]; higher is better."""
        margins = torch.tensor(self.logits(query, units), dtype=torch.float32)
        return torch.sigmoid(margins).tolist()
