"""The optimised Qwen-VL encoder path on tiny random checkpoints, against the padded path:
packed batches (one unpadded row, per-prompt attention), token budgets that count real
tokens, the patch embedding as a GEMM, the varlen kernel's argument handling, and the
prompt tokenisation that splices image ids instead of tokenising pad strings."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F

from retrieval.config import VLMSettings
from retrieval.qwen_vl import loading, packing
from retrieval.qwen_vl.batching import plan_batches
from retrieval.qwen_vl.encoder import LastTokenEncoder
from retrieval.qwen_vl.formats import query_prompt, unit_prompt
from retrieval.qwen_vl.packing import PackedInputs, _cuda_varlen, _Layout
from retrieval.qwen_vl.patch_embed import PatchLinear, use_linear_patch_embedding
from retrieval.qwen_vl.processing import IMAGE_PAD, QwenVLProcessor
from retrieval.qwen_vl.prompts import PromptSpec, render_prompt
from tests.support.tiny_vlm import make_clip_unit, make_page_unit


def encoder_for(checkpoint: Path, packed: bool, budget: int = 1 << 20) -> LastTokenEncoder:
    """A fresh backbone (enabling packing changes its attention function)."""
    cpu = torch.device("cpu")
    model = loading.load_backbone(str(checkpoint), cpu, torch.float32)
    processor = loading.load_processor(str(checkpoint))
    return LastTokenEncoder(model, processor, cpu, budget, 32, packed=packed)


def mixed_specs(directory: Path) -> list[PromptSpec]:
    """Prompts of very different lengths: pages with and without text, a clip, queries."""
    settings = VLMSettings(model="tiny")
    units = [
        make_page_unit(directory, 1),
        make_clip_unit(directory, 0, frames=3),
        make_page_unit(directory, 2, text="", size=(160, 90)),
        make_page_unit(directory, 3, text="Bitcoin is a peer-to-peer cash system. " * 5),
    ]
    queries = ["where do whales sing?", ""]
    return [unit_prompt(u, settings) for u in units] + [query_prompt(q, settings) for q in queries]


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_vl"])
def test_packed_batches_give_the_padded_vectors(
    family: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    checkpoint: Path = request.getfixturevalue(f"tiny_{family}")
    specs = mixed_specs(tmp_path)
    padded = encoder_for(checkpoint, packed=False).encode(specs)
    packed_encoder = encoder_for(checkpoint, packed=True)
    packed = packed_encoder.encode(specs)
    assert packed.shape == padded.shape
    torch.testing.assert_close(packed, padded, atol=2e-5, rtol=1e-4)
    # Several packed batches under a small real-token budget: the same vectors again.
    packed_encoder.batch_tokens = 120
    torch.testing.assert_close(packed_encoder.encode(specs), padded, atol=2e-5, rtol=1e-4)
    # The backbone still computes padded batches exactly as SDPA does.
    packed_encoder.packed = False
    torch.testing.assert_close(packed_encoder.encode(specs), padded, atol=1e-6, rtol=1e-6)


def test_embedder_setting_turns_the_optimised_path_on(tiny_qwen3_vl: Path, tmp_path: Path) -> None:
    from retrieval.embedders.vlm import VLMEmbedder

    units = [make_page_unit(tmp_path, 1), make_clip_unit(tmp_path, 0, frames=2)]
    plain = VLMEmbedder(VLMSettings(model=str(tiny_qwen3_vl), device="cpu"))
    fast = VLMEmbedder(VLMSettings(model=str(tiny_qwen3_vl), device="cpu", packed=True))
    assert fast.load().packed and not plain.load().packed
    assert any(isinstance(m, PatchLinear) for m in fast.load().backbone.modules())
    torch.testing.assert_close(
        torch.from_numpy(fast.embed_units(units)),
        torch.from_numpy(plain.embed_units(units)),
        atol=2e-5,
        rtol=1e-4,
    )


def test_packed_inputs_have_no_padding_and_restart_positions(
    tiny_qwen3_vl: Path, tmp_path: Path
) -> None:
    encoder = encoder_for(tiny_qwen3_vl, packed=True)
    prepared = [encoder.prepare(s) for s in mixed_specs(tmp_path)]
    batch = encoder.collate(prepared)
    assert isinstance(batch, PackedInputs)
    assert batch.lengths == [len(p) for p in prepared]
    assert batch.input_ids.shape == (1, sum(len(p) for p in prepared))
    starts = batch.cu_seqlens[:-1].tolist()
    assert all(int(batch.position_ids[0, 0, s]) == 0 for s in starts)  # each prompt from 0
    for prompt, start in zip(prepared, starts, strict=True):
        row = batch.input_ids[0, start : start + len(prompt)].tolist()
        assert row == list(prompt.token_ids)


def test_packed_budget_counts_real_tokens() -> None:
    lengths = [10, 100, 12, 11, 10]
    # Padded, 2 x 100 > 150: the long prompt alone. Packed, 143 real tokens: one batch.
    assert plan_batches(lengths, 150, 8) == [[1], [2, 3, 0, 4]]
    assert plan_batches(lengths, 150, 8, packed=True) == [[1, 2, 3, 0, 4]]
    packed = plan_batches(lengths * 3, 150, 8, packed=True)
    assert all(sum((lengths * 3)[i] for i in b) <= 150 for b in packed)
    assert sorted(i for b in packed for i in b) == list(range(15))


@pytest.mark.parametrize("family", ["qwen3_vl", "qwen2_vl"])
def test_linear_patch_embedding_gives_the_same_vectors(
    family: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    checkpoint: Path = request.getfixturevalue(f"tiny_{family}")
    encoder = encoder_for(checkpoint, packed=False)
    specs = mixed_specs(tmp_path)
    before = encoder.encode(specs)
    assert use_linear_patch_embedding(encoder.backbone) == 1
    assert use_linear_patch_embedding(encoder.backbone) == 0  # already a GEMM
    assert any(isinstance(m, PatchLinear) for m in encoder.backbone.modules())
    torch.testing.assert_close(encoder.encode(specs), before, atol=2e-5, rtol=1e-4)


def per_sequence_reference(q: Any, k: Any, v: Any, layout: _Layout) -> torch.Tensor:
    """(total, heads, dim) causal attention of each sequence, the plain way."""
    outs = [
        F.scaled_dot_product_attention(
            q[:, :, s:e], k[:, :, s:e], v[:, :, s:e], is_causal=True, enable_gqa=True
        )
        for s, e in layout.spans
    ]
    return torch.cat(outs, dim=2)[0].transpose(0, 1)


def fake_kernel(new_api: bool) -> Any:
    """A stand-in for torch's varlen flash kernel with the old (2.9/2.10) or the new
    signature, computing per-sequence attention on the CPU."""

    def run(q: Any, k: Any, v: Any, cu_q: Any, cu_k: Any, max_q: int, max_k: int, **kw: Any) -> Any:
        causal = kw.get("window_size") == (-1, 0) if new_api else kw["is_causal"]
        assert causal and max_q == max_k
        if not new_api:
            assert q.shape[1] == k.shape[1], "old kernels take no GQA"
        bounds = cu_q.tolist()
        outs = [
            F.scaled_dot_product_attention(
                q[s:e].transpose(0, 1),
                k[s:e].transpose(0, 1),
                v[s:e].transpose(0, 1),
                is_causal=True,
                scale=kw.get("scale"),
                enable_gqa=kw.get("enable_gqa", False),
            ).transpose(0, 1)
            for s, e in zip(bounds[:-1], bounds[1:], strict=True)
        ]
        return torch.cat(outs)

    # Both signatures take the same seven positional arguments (q, k, v, cu_seq_q,
    # cu_seq_k, max_q, max_k) and differ only in their keywords, which callers detect.
    def new(
        *args: Any, scale: Any = None, window_size: Any = (-1, -1), enable_gqa: bool = False
    ) -> Any:
        return run(*args, scale=scale, window_size=window_size, enable_gqa=enable_gqa)

    def old(*args: Any, is_causal: bool = False) -> Any:
        return run(*args, is_causal=is_causal)

    return new if new_api else old


@pytest.mark.parametrize("new_api", [True, False])
def test_varlen_kernel_arguments_for_both_torch_signatures(new_api: bool) -> None:
    torch.manual_seed(0)
    lengths = [5, 9, 3]
    total = sum(lengths)
    q = torch.randn(1, 4, total, 8)
    k, v = torch.randn(1, 2, total, 8), torch.randn(1, 2, total, 8)  # GQA: 2 kv heads
    cu = torch.tensor([0, 5, 14, 17], dtype=torch.int32)
    layout = _Layout(((0, 5), (5, 14), (14, 17)), cu, max(lengths))
    kernel = fake_kernel(new_api)
    assert ("window_size" in inspect.signature(kernel).parameters) is new_api
    got = _cuda_varlen(kernel, q, k, v, layout, 8**-0.5)
    torch.testing.assert_close(got, per_sequence_reference(q, k, v, layout))


def test_packed_attention_outside_a_layout_is_sdpa() -> None:
    torch.manual_seed(1)
    q, k, v = (torch.randn(2, 2, 6, 8) for _ in range(3))
    module = torch.nn.Module()
    module.is_causal = True  # type: ignore[assignment]
    out, _ = packing.packed_attention(module, q, k, v, None, scaling=8**-0.5)
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2)
    torch.testing.assert_close(out, expected)


@pytest.mark.parametrize("checkpoint", ["tiny_qwen3_vl", "tiny_qwen3_vl_bos"])
def test_encode_splices_image_ids_like_tokenising_the_expanded_text(
    checkpoint: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    processor = loading.load_processor(str(request.getfixturevalue(checkpoint)))
    page = make_page_unit(tmp_path, 1)
    spec = unit_prompt(page, VLMSettings(model="tiny", include_unit_text=True))
    text = render_prompt(spec) + f"between{IMAGE_PAD} after <|im_end|> yes"
    sizing = spec.images[0].sizing
    images = [processor.size_image(page.images[0], sizing)] * 2
    prompt = processor.encode(text, images)
    pieces = text.split(IMAGE_PAD)
    expanded = pieces[0]
    for image, piece in zip(images, pieces[1:], strict=True):
        expanded += IMAGE_PAD * processor.geometry.tokens(image.height, image.width) + piece
    # As the references call the tokenizer: with its special tokens (a BOS for one of them).
    reference = processor.tokenizer(expanded, add_special_tokens=True)["input_ids"]
    assert list(prompt.token_ids) == reference
    bos = checkpoint.endswith("bos")
    assert (
        reference[0] != processor.tokenizer(expanded, add_special_tokens=False)["input_ids"][0]
    ) is bos
    assert prompt.token_ids.count(processor.image_token_id) == 2 * processor.geometry.tokens(
        images[0].height, images[0].width
    )


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 2), (4, 2), (16, 14), (64, 62)])
def test_decode_threads_use_the_cores_a_gpu_machine_has(
    cores: int, workers: int, tiny_qwen3_vl: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four threads (the old cap) feed ~65 pages/s: a 16-core machine starved the GPU.
    monkeypatch.setattr("os.sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    processor = loading.load_processor(str(tiny_qwen3_vl))
    assert processor.decode_workers == workers
    explicit = QwenVLProcessor(
        processor.tokenizer, processor.image_processor, processor.geometry, decode_workers=3
    )
    assert explicit.decode_workers == 3


def test_no_varlen_kernel_without_cuda() -> None:
    if not torch.cuda.is_available():
        assert packing.cuda_varlen_kernel() is None  # packed batches use SDPA per prompt
