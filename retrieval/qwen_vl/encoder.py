"""Run prompts through a Qwen-VL backbone in token-budget batches and keep, per prompt, the
hidden state of its last real token (what both the embedders and the yes/no reranker score).

While the accelerator runs batch i, a worker thread decodes and patches the images of batch
i + 1, so preprocessing hides behind the forward pass. With `packed`, batches go in as one
unpadded row with per-prompt attention (`packing`): same states, no padding computed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import torch

from retrieval.qwen_vl.batching import plan_batches
from retrieval.qwen_vl.loading import accepts_mm_token_types
from retrieval.qwen_vl.packing import (
    PackedInputs,
    enable_packed_attention,
    pack,
    packed_layout,
    rope_index_of,
)
from retrieval.qwen_vl.pooling import last_token_pool
from retrieval.qwen_vl.processing import EncodedPrompt, ModelInputs, PaddingSide, QwenVLProcessor
from retrieval.qwen_vl.prompts import PromptSpec, render_prompt

log = logging.getLogger(__name__)

Batch = ModelInputs | PackedInputs


class LastTokenEncoder:
    """Prompts in, (n, hidden) float32 last-token states out, in input order."""

    def __init__(
        self,
        backbone: torch.nn.Module,
        processor: QwenVLProcessor,
        device: torch.device,
        batch_tokens: int,
        batch_max_items: int,
        padding_side: PaddingSide = "right",
        packed: bool = False,
    ) -> None:
        self.backbone = backbone
        self.processor = processor
        self.device = device
        self.batch_tokens = batch_tokens
        self.batch_max_items = batch_max_items
        self.padding_side: PaddingSide = padding_side
        self.packed = packed
        self._mm_token_types = accepts_mm_token_types(backbone)
        if packed:
            enable_packed_attention(backbone)
            self._rope_index = rope_index_of(backbone)

    def prepare(self, spec: PromptSpec) -> EncodedPrompt:
        """Render and tokenise one prompt; images are sized (headers read), not decoded."""
        images = [self.processor.size_image(p.source, p.sizing) for p in spec.images]
        return self.processor.encode(render_prompt(spec), images)

    def collate(self, prompts: Sequence[EncodedPrompt]) -> Batch:
        """One batch with decoded, patched images (host memory, pinned for CUDA): padded, or
        packed into one row with its M-RoPE positions."""
        padded = self.processor.collate(prompts, self.padding_side)
        inputs: Batch = pack(padded, self._rope_index(padded)) if self.packed else padded
        return inputs.pin_memory() if self.device.type == "cuda" else inputs

    @torch.inference_mode()
    def pooled(self, inputs: Batch) -> torch.Tensor:
        """(batch, hidden) last-token states of one batch already collated, on the device."""
        on_device = inputs.to(self.device, non_blocking=True)
        kwargs = on_device.forward_kwargs(self._mm_token_types)
        if isinstance(on_device, PackedInputs):
            with packed_layout(on_device, self.device):
                out = self.backbone(**kwargs, use_cache=False)
            states: torch.Tensor = out.last_hidden_state[0]  # (total, hidden)
            return states[on_device.last_indices.to(self.device)]
        out = self.backbone(**kwargs, use_cache=False)
        return last_token_pool(out.last_hidden_state, on_device.attention_mask)

    def encode(self, specs: Sequence[PromptSpec]) -> torch.Tensor:
        """(len(specs), hidden) float32 on the CPU: each prompt's last-token hidden state."""
        prepared = [self.prepare(spec) for spec in specs]
        return self.encode_prepared(prepared)

    def encode_prepared(self, prepared: Sequence[EncodedPrompt]) -> torch.Tensor:
        """As `encode`, for prompts already rendered and tokenised."""
        lengths = [len(p) for p in prepared]
        batches = plan_batches(lengths, self.batch_tokens, self.batch_max_items, self.packed)
        results: list[torch.Tensor | None] = [None] * len(prepared)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vlm-collate") as pool:

            def submit(batch: list[int]) -> Future[Batch]:
                return pool.submit(self.collate, [prepared[i] for i in batch])

            pending = submit(batches[0]) if batches else None
            for number, batch in enumerate(batches):
                assert pending is not None
                inputs = pending.result()
                pending = submit(batches[number + 1]) if number + 1 < len(batches) else None
                pooled = self.pooled(inputs).float().cpu()
                for row, index in enumerate(batch):
                    results[index] = pooled[row]
                log.debug("batch %d/%d: %d prompts", number + 1, len(batches), len(batch))
        return torch.stack([r for r in results if r is not None]) if prepared else torch.empty(0)
