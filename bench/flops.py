"""Analytic forward FLOPs of a Qwen-VL model on one prompt, and peak bf16 rates, for the
"% of peak" column of bench.gpu.

Counted: every matrix product (2 FLOPs per multiply-add) of the vision tower (patch
embedding, blocks, mergers) and of the language model (attention projections, MLP, the
attention scores and weighted sums: full within an image, causal in the text model). Not
counted: norms, activations, rotary embeddings, the LM head (embedders do not run it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Dense bf16 tensor-core peaks from the vendors' data sheets (no sparsity), FLOP/s.
PEAK_BF16 = {
    "H200": 989.4e12,
    "H100 SXM": 989.4e12,
    "H100 80GB HBM3": 989.4e12,
    "H100 NVL": 835.0e12,
    "H100 PCIe": 756.0e12,
    "A100": 312.0e12,
    "L40S": 362.1e12,
    "RTX 4090": 165.2e12,
}


def peak_bf16(device_name: str) -> float | None:
    """Peak dense bf16 FLOP/s of a GPU named like torch.cuda.get_device_name, if known."""
    for key, peak in PEAK_BF16.items():
        if all(part in device_name for part in key.split()):
            return peak
    return None


def _vision_flops(vision: Any, patches: int) -> float:
    """One image of `patches` patches through the vision tower."""
    dim = int(getattr(vision, "embed_dim", None) or vision.hidden_size)
    mlp = int(getattr(vision, "intermediate_size", 0) or dim * int(vision.mlp_ratio))
    patch_in = int(vision.in_channels if hasattr(vision, "in_channels") else vision.in_chans)
    patch_in *= int(vision.temporal_patch_size) * int(vision.patch_size) ** 2
    merge = int(vision.spatial_merge_size) ** 2
    out = int(getattr(vision, "out_hidden_size", 0) or vision.hidden_size)
    per_block = 2 * patches * (4 * dim * dim + 2 * dim * mlp) + 4 * patches * patches * dim
    merged = patches // merge
    mergers = 1 + len(getattr(vision, "deepstack_visual_indexes", None) or [])
    merger = mergers * 2 * merged * ((merge * dim) ** 2 + merge * dim * out)
    return 2 * patches * patch_in * dim + int(vision.depth) * per_block + merger


def _text_flops(text: Any, tokens: int) -> float:
    """One prompt of `tokens` tokens through the language model (no LM head)."""
    dim = int(text.hidden_size)
    heads = int(text.num_attention_heads)
    head_dim = int(getattr(text, "head_dim", None) or dim // heads)
    kv = int(text.num_key_value_heads)
    projections = dim * heads * head_dim * 2 + dim * kv * head_dim * 2
    per_layer = 2 * tokens * (projections + 3 * dim * int(text.intermediate_size))
    per_layer += 2 * tokens * tokens * heads * head_dim  # causal: half of 4 * L^2 * width
    return int(text.num_hidden_layers) * per_layer


def prompt_flops(config: Any, tokens: int, image_patches: Sequence[int]) -> float:
    """Forward FLOPs of one prompt: `tokens` LM tokens and images of `image_patches`
    patches each (before merging)."""
    vision = sum(_vision_flops(config.vision_config, n) for n in image_patches)
    return vision + _text_flops(config.get_text_config(), tokens)
