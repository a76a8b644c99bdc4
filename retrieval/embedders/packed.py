"""bfloat16 linear layers whose weights oneDNN reorders once, at load, instead of per call.

`torch.nn.functional.linear` in bfloat16 hands oneDNN a plain row-major weight, which it
reorders into its blocked layout on every call. For a query (~20 token rows) that reorder
is most of the product: one 20 x 384 -> 1536 product took 178-224 us plain against 63-70
us with the weight packed once. A whole MiniLM forward, one thread, alternating in one
process: one query 8.0-11.8 ms of CPU against 11.6-12.8 ms plain, four queries 11.1-17.9
against 18.6-24.0 ms (docs/figures.md, issue 12). The products are oneDNN's either way;
at some row counts it picks another kernel for a packed weight, whose sums round
differently: MiniLM vectors stay within cos 0.99999 of the plain ones (tested).

The packed tensors are opaque oneDNN tensors: a traced graph cannot hold them as
constants, so the encoder passes them to its graph as an input list (`packed_linear` is
scripted, since the tracer cannot record the op's empty `scalars` list itself).

Only where oneDNN runs bfloat16 on this CPU (`supported`); elsewhere the encoder keeps the
plain product.
"""

from __future__ import annotations

from typing import List, Optional, Union  # noqa: UP035  (TorchScript reads these annotations)

import torch


@torch.jit.script
def packed_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """`linear(x, weight, bias)` over a weight from `pack` (x is cast to bfloat16, as
    autocast would)."""
    no_scalars: List[Optional[Union[int, float, complex]]] = []  # noqa: UP006, UP007, UP045
    out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(
        x.to(torch.bfloat16), weight, bias, "none", no_scalars, ""
    )
    return out


def supported() -> bool:
    """Whether this torch build's oneDNN runs bfloat16 products on this CPU."""
    try:
        return bool(
            torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
            and torch.ops.mkldnn._is_mkldnn_bf16_supported()
        )
    except (AttributeError, RuntimeError):  # a build without the op
        return False


def pack(weight: torch.Tensor, rows_hint: int = 64) -> torch.Tensor:
    """`weight` (out, in) in oneDNN's blocked layout, in bfloat16. `rows_hint` is the
    expected number of input rows; any number works (measured: the hint changed nothing)."""
    packed: torch.Tensor = torch.ops.mkldnn._reorder_linear_weight(
        weight.to(torch.bfloat16), rows_hint
    )
    return packed
