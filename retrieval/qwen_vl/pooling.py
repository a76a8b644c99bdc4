"""Pooling and vector post-processing shared by the VLM embedders (pure tensor functions)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch,) index of each row's last real token; right or left padding alike.

    Same arithmetic as Qwen3-VL-Embedding's `_pooling_last`: flip the mask and find the
    first 1 from the end.
    """
    flipped_first = attention_mask.flip(dims=[1]).argmax(dim=1)
    return attention_mask.shape[1] - 1 - flipped_first


def last_token_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(batch, seq, dim) hidden states -> (batch, dim) states of the last real tokens."""
    rows = torch.arange(hidden.shape[0], device=hidden.device)
    return hidden[rows, last_token_index(attention_mask).to(hidden.device)]


def normalize_rows(matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    scaled: npt.NDArray[np.float32] = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return scaled


def truncate_dims(matrix: npt.NDArray[np.float32], dim: int | None) -> npt.NDArray[np.float32]:
    """Matryoshka truncation: the first `dim` components, renormalised (None = all)."""
    if dim is None or dim >= matrix.shape[1]:
        return normalize_rows(matrix)
    return normalize_rows(np.ascontiguousarray(matrix[:, :dim]))
