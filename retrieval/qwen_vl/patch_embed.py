"""The vision towers' patch embedding as one matrix product.

Qwen-VL towers embed patches with a Conv3d whose kernel equals its stride and covers the
whole (channels, temporal, patch, patch) input: that is a linear layer. Run as a Conv3d it
goes through cuDNN's 3-D convolution, which is slow for this shape in bf16 on recent
PyTorch builds (vLLM made the same switch); as a GEMM it costs what its FLOPs say.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class PatchLinear(nn.Module):
    """Drop-in for a stride = kernel Conv3d over whole patches: (n, c, t, p, p) in,
    (n, out, 1, 1, 1) out. Shares the convolution's parameters (no copy)."""

    def __init__(self, conv: nn.Conv3d) -> None:
        super().__init__()
        self.weight = conv.weight  # (out, c, t, p, p): the name the towers read the dtype from
        self.bias = conv.bias

    def forward(self, patches: torch.Tensor) -> torch.Tensor:
        flat = patches.reshape(patches.shape[0], -1)  # (n, c * t * p * p)
        out = F.linear(flat, self.weight.reshape(self.weight.shape[0], -1), self.bias)
        return out.view(out.shape[0], out.shape[1], 1, 1, 1)


def _whole_patch_conv(module: nn.Conv3d) -> bool:
    return (
        module.kernel_size == module.stride
        and module.padding == (0, 0, 0)
        and module.dilation == (1, 1, 1)
        and module.groups == 1
    )


def use_linear_patch_embedding(model: nn.Module) -> int:
    """Replace every vision patch-embedding Conv3d in `model` by a `PatchLinear`; returns
    how many were replaced (0 for a model without one)."""
    replaced = 0
    for module in list(model.modules()):
        conv = getattr(module, "proj", None)
        if type(module).__name__.endswith("PatchEmbed") and isinstance(conv, nn.Conv3d):
            if not _whole_patch_conv(conv):
                continue
            module.proj = PatchLinear(conv)
            replaced += 1
    return replaced
