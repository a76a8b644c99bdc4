"""Sequence packing for the Qwen-VL encoders: a batch of prompts as one row, no padding.

The padded batch (`processor.collate`) is rearranged into one (1, total) row; each prompt
keeps its own M-RoPE positions (the model's `get_rope_index`, computed on the CPU in the
prefetch thread) and attends only to itself: the language model's attention runs per
sequence through `packed_attention`, registered with transformers under
`PACKED_ATTENTION`. On CUDA it is one variable-length flash-attention call
(`torch.nn.attention.varlen.varlen_attn`); elsewhere one SDPA call per prompt. Outside a
`packed_layout` block the function is plain SDPA, so the same model also serves padded
batches (and the vision tower, which keeps its own per-image attention).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from retrieval.qwen_vl.processing import ModelInputs, map_tensors, media_kwargs

PACKED_ATTENTION = "mmrag_packed"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PackedInputs:
    """A batch of prompts as one row: sequence i is tokens cu_seqlens[i]:cu_seqlens[i+1]."""

    input_ids: torch.Tensor  # (1, total) long
    mm_token_type_ids: torch.Tensor  # (1, total) int
    position_ids: torch.Tensor  # (3, 1, total) long: M-RoPE positions, restarting per prompt
    cu_seqlens: torch.Tensor  # (n + 1,) int32, on the host
    pixel_values: torch.Tensor | None
    image_grid_thw: torch.Tensor | None

    @property
    def lengths(self) -> list[int]:
        """Tokens per prompt."""
        return (self.cu_seqlens[1:] - self.cu_seqlens[:-1]).tolist()

    @property
    def last_indices(self) -> torch.Tensor:
        """(n,) index in the row of each prompt's last token."""
        return self.cu_seqlens[1:].long() - 1

    def to(self, device: torch.device, non_blocking: bool = False) -> PackedInputs:
        """The same batch on `device` (`cu_seqlens` stays on the host: it sizes the kernels)."""

        def move(t: torch.Tensor) -> torch.Tensor:
            return t.to(device, non_blocking=non_blocking)

        return map_tensors(self, move, keep=("cu_seqlens",))

    def pin_memory(self) -> PackedInputs:
        """Page-locked copy, so the host-to-GPU copy can overlap compute."""
        return map_tensors(self, torch.Tensor.pin_memory, keep=("cu_seqlens",))

    def forward_kwargs(self, with_mm_token_types: bool = True) -> dict[str, Any]:
        """Keyword arguments for the backbone forward (no attention mask: nothing is padded)."""
        kwargs = {"input_ids": self.input_ids, "position_ids": self.position_ids}
        return {**kwargs, **media_kwargs(self, with_mm_token_types)}


RopeIndex = Callable[[ModelInputs], torch.Tensor]


def rope_index_of(backbone: torch.nn.Module) -> RopeIndex:
    """(3, batch, seq) M-RoPE positions of a padded batch, by the backbone's own
    `get_rope_index` (so each family's rules apply), computed where the inputs are."""
    get_rope_index: Any = getattr(backbone, "get_rope_index", None)
    if get_rope_index is None:
        raise ValueError(f"{type(backbone).__name__} has no get_rope_index: not a Qwen-VL backbone")
    takes_types = "mm_token_type_ids" in inspect.signature(get_rope_index).parameters

    def positions(inputs: ModelInputs) -> torch.Tensor:
        kwargs: dict[str, Any] = {
            "image_grid_thw": inputs.image_grid_thw,
            "attention_mask": inputs.attention_mask,
        }
        if takes_types:
            kwargs["mm_token_type_ids"] = inputs.mm_token_type_ids
        with torch.inference_mode():
            position_ids, _ = get_rope_index(inputs.input_ids, **kwargs)
        return torch.as_tensor(position_ids)

    return positions


def pack(padded: ModelInputs, positions: torch.Tensor) -> PackedInputs:
    """`padded` (either padding side) as one row; `positions` are its (3, batch, seq)
    M-RoPE positions."""
    real = padded.attention_mask.bool()  # (batch, seq)
    lengths = real.sum(dim=1)
    cu_seqlens = torch.zeros(len(lengths) + 1, dtype=torch.int32)
    cu_seqlens[1:] = torch.cumsum(lengths, dim=0)
    return PackedInputs(
        input_ids=padded.input_ids[real].unsqueeze(0),
        mm_token_type_ids=padded.mm_token_type_ids[real].unsqueeze(0),
        position_ids=positions[:, real].unsqueeze(1),
        cu_seqlens=cu_seqlens,
        pixel_values=padded.pixel_values,
        image_grid_thw=padded.image_grid_thw,
    )


@dataclass(frozen=True, slots=True)
class _Layout:
    spans: tuple[tuple[int, int], ...]  # (start, end) of each sequence in the row
    cu_seqlens: torch.Tensor  # (n + 1,) int32 on the compute device
    max_length: int


_LAYOUT: ContextVar[_Layout | None] = ContextVar("mmrag_packed_layout", default=None)


@contextlib.contextmanager
def packed_layout(inputs: PackedInputs, device: torch.device) -> Iterator[None]:
    """Within this block, causal attention through `packed_attention` keeps each of
    `inputs`' sequences to itself."""
    bounds = inputs.cu_seqlens.tolist()
    layout = _Layout(
        spans=tuple(zip(bounds[:-1], bounds[1:], strict=True)),
        cu_seqlens=inputs.cu_seqlens.to(device, non_blocking=True),
        max_length=max(inputs.lengths),
    )
    token = _LAYOUT.set(layout)
    try:
        yield
    finally:
        _LAYOUT.reset(token)


def _varlen_kernel() -> Callable[..., torch.Tensor] | None:
    """torch's variable-length flash attention (torch >= 2.9), if this build has it."""
    try:
        from torch.nn.attention import varlen
    except ImportError:
        return None
    kernel: Callable[..., torch.Tensor] | None = getattr(varlen, "varlen_attn", None)
    return kernel


@functools.cache
def cuda_varlen_kernel() -> Callable[..., torch.Tensor] | None:
    """The varlen kernel if it runs on this process's GPU (probed once on a tiny input);
    None, with a warning, when it is missing or fails, so packed batches fall back to one
    SDPA call per prompt (same result, more kernel launches)."""
    kernel = _varlen_kernel()
    if kernel is None or not torch.cuda.is_available():
        return None
    try:
        q = torch.zeros(4, 2, 64, device="cuda", dtype=torch.bfloat16)
        cu = torch.tensor([0, 3, 4], device="cuda", dtype=torch.int32)
        layout = _Layout(((0, 3), (3, 4)), cu, 3)
        grouped = q.unsqueeze(0).transpose(1, 2)  # (1, heads, total, dim)
        _cuda_varlen(kernel, grouped, grouped[:, :1], grouped[:, :1], layout, None)
    except Exception as err:  # any failure means: do not use it
        log.warning(
            "varlen flash attention unavailable (%s: %s); using SDPA per prompt",
            type(err).__name__,
            err,
        )
        return None
    return kernel


def _cuda_varlen(
    kernel: Callable[..., torch.Tensor],
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    layout: _Layout,
    scaling: float | None,
) -> torch.Tensor:
    """(total, heads, dim) causal attention of each packed sequence, one flash call."""
    params = inspect.signature(kernel).parameters
    q, k, v = (t[0].transpose(0, 1).contiguous() for t in (query, key, value))  # (T, H, D)
    kwargs: dict[str, Any] = {}
    if q.shape[1] != k.shape[1]:
        if "enable_gqa" in params:
            kwargs["enable_gqa"] = True
        else:  # older torch: expand the key/value heads
            groups = q.shape[1] // k.shape[1]
            k, v = (t.repeat_interleave(groups, dim=1) for t in (k, v))
    if "window_size" in params:
        kwargs["window_size"] = (-1, 0)  # causal
    else:
        kwargs["is_causal"] = True
    if "scale" in params:
        kwargs["scale"] = scaling
    elif scaling is not None and abs(scaling - q.shape[-1] ** -0.5) > 1e-9:
        q = q * (scaling * q.shape[-1] ** 0.5)  # kernel without a scale argument
    cu = layout.cu_seqlens
    return kernel(q, k, v, cu, cu, layout.max_length, layout.max_length, **kwargs)


def packed_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers attention function: per-sequence causal attention inside a
    `packed_layout` block, plain SDPA anywhere else. (batch, heads, seq, dim) in,
    (batch, seq, heads, dim) out."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    layout = _LAYOUT.get()
    if layout is None or not getattr(module, "is_causal", False):
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    kernel = cuda_varlen_kernel() if query.is_cuda else None
    if kernel is not None:
        return _cuda_varlen(kernel, query, key, value, layout, scaling).unsqueeze(0), None
    outputs = [
        F.scaled_dot_product_attention(
            query[:, :, start:end],
            key[:, :, start:end],
            value[:, :, start:end],
            is_causal=True,
            scale=scaling,
            enable_gqa=query.shape[1] != key.shape[1],
        )
        for start, end in layout.spans
    ]
    return torch.cat(outputs, dim=2).transpose(1, 2).contiguous(), None


def enable_packed_attention(backbone: torch.nn.Module) -> None:
    """Route the language model's attention through `packed_attention` (the vision tower
    keeps its own). Without a packed layout it computes what SDPA computes."""
    from transformers import AttentionInterface

    AttentionInterface.register(PACKED_ATTENTION, packed_attention)
    language_model: Any = getattr(backbone, "language_model", None)
    if language_model is None:
        raise ValueError(f"{type(backbone).__name__} has no language_model: not a Qwen-VL backbone")
    language_model.config._attn_implementation = PACKED_ATTENTION
