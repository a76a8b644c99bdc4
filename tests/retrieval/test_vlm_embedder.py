"""VLMEmbedder on tiny random Qwen3-VL / Qwen2-VL checkpoints loaded like real ones:
contract, MRL, token-budget batching vs one-by-one, padding side, clips as frame lists,
prompt formats, device/dtype selection and errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ingest.errors import CorruptFile, ModelUnavailable
from ingest.types import Unit
from retrieval.config import VLMSettings
from retrieval.embedders.base import Embedder
from retrieval.embedders.vlm import VLMEmbedder
from retrieval.qwen_vl.encoder import LastTokenEncoder
from retrieval.qwen_vl.formats import query_prompt, unit_prompt
from retrieval.qwen_vl.loading import resolve_device, resolve_dtype
from tests.support.tiny_vlm import make_clip_unit, make_page_unit

QUERIES = ["where do whales sing?", "a dog on the beach", ""]


@pytest.fixture(scope="module")
def units(tmp_path_factory: pytest.TempPathFactory) -> list[Unit]:
    d = tmp_path_factory.mktemp("units")
    return [
        make_page_unit(d, 1),
        make_clip_unit(d, 0, frames=3),
        make_page_unit(d, 2, text="", size=(160, 90)),
        make_page_unit(d, 3, text="Bitcoin is a peer-to-peer electronic cash system. " * 4),
    ]


@pytest.fixture(scope="module")
def embedder(tiny_qwen3_vl: Path) -> VLMEmbedder:
    return VLMEmbedder(VLMSettings(model=str(tiny_qwen3_vl), device="cpu"))


def count_batches(encoder: LastTokenEncoder, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record the batch size of every forward pass the encoder makes."""
    sizes: list[int] = []
    original = encoder.pooled

    def spy(inputs: Any) -> torch.Tensor:
        sizes.append(int(inputs.input_ids.shape[0]))
        return original(inputs)

    monkeypatch.setattr(encoder, "pooled", spy)
    return sizes


def test_contract_shapes_norms_and_name(embedder: VLMEmbedder, units: list[Unit]) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.dim == 64 and "qwen3-vl-embedding" in embedder.name
    q = embedder.embed_queries(QUERIES)
    u = embedder.embed_units(units)
    assert q.shape == (3, 64) and u.shape == (4, 64)
    assert q.dtype == np.float32 and u.dtype == np.float32
    assert np.allclose(np.linalg.norm(np.vstack([q, u]), axis=1), 1.0, atol=1e-5)
    assert not np.allclose(u[0], u[2])  # different pages, different vectors
    assert embedder.embed_units([]).shape == (0, 64)
    assert embedder.embed_queries([]).shape == (0, 64)


def test_budget_batches_give_the_one_by_one_vectors(
    embedder: VLMEmbedder, units: list[Unit], monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = embedder.load()
    sizes = count_batches(encoder, monkeypatch)
    together = embedder.embed_units(units)
    assert sizes == [len(units)]  # one padded batch under the default budget
    monkeypatch.setattr(encoder, "batch_max_items", 1)
    alone = embedder.embed_units(units)
    assert sizes[1:] == [1, 1, 1, 1]
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_token_budget_splits_batches(
    embedder: VLMEmbedder, units: list[Unit], monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = embedder.load()
    lengths = [len(encoder.prepare(unit_prompt(u, embedder.settings))) for u in units]
    monkeypatch.setattr(encoder, "batch_tokens", 2 * max(lengths))
    sizes = count_batches(encoder, monkeypatch)
    embedder.embed_units(units)
    assert len(sizes) >= 2 and sum(sizes) == len(units)


def test_left_and_right_padding_pool_the_same_tokens(
    embedder: VLMEmbedder, units: list[Unit], monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = embedder.load()
    right = embedder.embed_units(units)
    monkeypatch.setattr(encoder, "padding_side", "left")
    left = embedder.embed_units(units)
    np.testing.assert_allclose(left, right, atol=1e-5)


def test_mrl_truncates_and_renormalises(tiny_qwen3_vl: Path, embedder: VLMEmbedder) -> None:
    small = VLMEmbedder(VLMSettings(model=str(tiny_qwen3_vl), device="cpu", mrl_dim=32))
    assert small.dim == 32 and small.name.endswith("@32")
    full = embedder.embed_queries(QUERIES[:2])
    cut = small.embed_queries(QUERIES[:2])
    assert cut.shape == (2, 32)
    expected = full[:, :32] / np.linalg.norm(full[:, :32], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, expected, atol=1e-5)
    with pytest.raises(ValueError, match="mrl_dim"):
        VLMEmbedder(VLMSettings(model=str(tiny_qwen3_vl), mrl_dim=128))


def test_clip_is_a_list_of_frames_capped_by_max_frames(
    tiny_qwen3_vl: Path, embedder: VLMEmbedder, tmp_path: Path
) -> None:
    clip = make_clip_unit(tmp_path, 5, frames=10)
    settings = VLMSettings(model=str(tiny_qwen3_vl), device="cpu", max_frames=4)
    spec = unit_prompt(clip, settings)
    assert [p.source for p in spec.images] == [clip.images[i] for i in (0, 3, 6, 9)]
    prepared = embedder.load().prepare(spec)
    first = prepared.images[0]
    frame_tokens = embedder.load().processor.geometry.tokens(first.height, first.width)
    n_pads = sum(1 for t in prepared.token_ids if t == embedder.load().processor.image_token_id)
    assert len(prepared.images) == 4 and n_pads == 4 * frame_tokens
    capped = VLMEmbedder(settings).embed_units([clip])
    fewer = VLMEmbedder(settings.model_copy(update={"max_frames": 2})).embed_units([clip])
    assert capped.shape == (1, 64) and not np.allclose(capped, fewer)


def test_qwen2_vl_checkpoint_in_every_format(tiny_qwen2_vl: Path, units: list[Unit]) -> None:
    for fmt in ("qwen3-vl-embedding", "dse", "vlm2vec"):
        # A small pixel cap keeps DSE's square pages cheap on CPU.
        settings = VLMSettings(
            model=str(tiny_qwen2_vl), device="cpu", prompt_format=fmt, max_pixels=112 * 112
        )
        emb = VLMEmbedder(settings)
        q = emb.embed_queries(QUERIES[:1])
        u = emb.embed_units(units[:2])
        assert np.allclose(np.linalg.norm(np.vstack([q, u]), axis=1), 1.0, atol=1e-5)
        query = emb.load().prepare(query_prompt(QUERIES[0], settings))
        image_tokens = query.token_ids.count(emb.load().processor.image_token_id)
        assert image_tokens == (4 if fmt == "dse" else 0)  # DSE's blank 56x56 query image


def test_device_and_dtype_selection(embedder: VLMEmbedder) -> None:
    device = resolve_device("auto")
    assert device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    backbone = embedder.load().backbone
    parameter = next(backbone.parameters())
    assert parameter.dtype == torch.float32 and parameter.device.type == "cpu"
    assert not hasattr(backbone, "lm_head")  # the base model: no vocabulary projection
    if not torch.cuda.is_available():
        with pytest.raises(ModelUnavailable, match="CUDA"):
            resolve_device("cuda:0")


def test_unloadable_models_raise_model_unavailable(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no such directory"):
        VLMEmbedder(VLMSettings(model=str(tmp_path / "absent")))
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelUnavailable, match="not a Qwen-VL model"):
        VLMEmbedder(VLMSettings(model=str(bert)))


def test_unreadable_page_image_names_the_file(embedder: VLMEmbedder, tmp_path: Path) -> None:
    page = make_page_unit(tmp_path, 9)
    page.images[0].write_bytes(b"\x89PNG broken")
    with pytest.raises(CorruptFile, match="page-9.png"):
        embedder.embed_units([page])


@pytest.mark.slow  # one more transformers model module to import (~10 s on a busy CPU)
def test_qwen2_5_vl_checkpoint(tiny_qwen2_5_vl: Path, units: list[Unit]) -> None:
    emb = VLMEmbedder(VLMSettings(model=str(tiny_qwen2_5_vl), device="cpu"))
    u = emb.embed_units(units[:2])
    q = emb.embed_queries(QUERIES[:1])
    assert u.shape == (2, 64) and q.shape == (1, 64)
    assert np.allclose(np.linalg.norm(np.vstack([q, u]), axis=1), 1.0, atol=1e-5)
