"""A BERT sentence encoder in plain torch: what the lite profile's MiniLM runs on.

all-MiniLM-L6-v2 is a sentence-transformers checkpoint: a BERT encoder, mean pooling over
the attention mask, and L2 normalisation. Those steps are ~60 lines of torch, and running
them here instead of through sentence-transformers (or transformers' model classes) gives
the same vectors (within 1e-6 of sentence-transformers on corpus text, tested) without
their imports: `import sentence_transformers` took ~8 s on two cores, transformers'
modelling code ~4 s on top of torch, and that was most of the API's start and of every CLI
command that loads the model.

Any BERT-family checkpoint in the sentence-transformers layout loads (MiniLM, BGE, E5,
GTE...): `config.json` + `model.safetensors` + `tokenizer.json`, with the pooling in
`1_Pooling/config.json` and the token limit in `sentence_bert_config.json`.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from ingest.errors import ModelUnavailable
from retrieval.embedders.base import Matrix

if TYPE_CHECKING:
    import torch
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)


Precision = Literal["auto", "float32", "bfloat16"]


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (AVX512-BF16 or AMX tiles)."""
    import torch

    return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())


def use_bfloat16(precision: Precision) -> bool:
    """bfloat16 when asked, or for "auto" where the hardware has it: half the CPU of
    float32 for the same vectors within cos 0.9999 (measured on corpus windows); emulated
    bfloat16 would be slower than float32."""
    return precision == "bfloat16" or (precision == "auto" and native_bfloat16())


@runtime_checkable
class SentenceEncoder(Protocol):
    """Texts -> (n, dim) float32 rows of unit length."""

    @property
    def dim(self) -> int: ...

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> Matrix: ...


@dataclass(frozen=True, slots=True)
class BertConfig:
    """The fields of a checkpoint's config.json that the forward pass reads."""

    hidden: int
    layers: int
    heads: int
    eps: float
    positions: int

    @classmethod
    def read(cls, path: Path) -> BertConfig:
        raw = _read_json(path)
        if raw.get("model_type") != "bert" or raw.get("hidden_act", "gelu") != "gelu":
            raise ModelUnavailable(
                f"text model {str(path.parent)!r}: not a BERT checkpoint with gelu "
                f"(model_type {raw.get('model_type')!r}); the lite encoder runs BERT-family "
                "models (MiniLM, BGE, E5, GTE)"
            )
        return cls(
            hidden=int(raw["hidden_size"]),
            layers=int(raw["num_hidden_layers"]),
            heads=int(raw["num_attention_heads"]),
            eps=float(raw.get("layer_norm_eps", 1e-12)),
            positions=int(raw.get("max_position_embeddings", 512)),
        )


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    loaded = json.loads(path.read_text(encoding="utf-8"))
    return loaded if isinstance(loaded, dict) else {}


def model_directory(source: str) -> Path:
    """A local model directory, or the hub snapshot of `source`; ModelUnavailable names the
    model when it is neither (a missing path, or a hub id with no network and no cache)."""
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if source.startswith((".", "~")) or path.is_absolute():
        raise ModelUnavailable(f"text model {source!r}: no such directory")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(source))
    except Exception as err:  # offline, unknown id, no permission: all "cannot load"
        raise ModelUnavailable(f"text model {source!r}: {type(err).__name__}: {err}") from err


def pooling_mode(directory: Path) -> str:
    """The pooling the checkpoint was trained with: "mean" (also when unsaid) or "cls"."""
    config = _read_json(directory / "1_Pooling" / "config.json")
    if config.get("pooling_mode_cls_token"):
        return "cls"
    for other in ("pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens"):
        if config.get(other):
            raise ModelUnavailable(f"text model {str(directory)!r}: unsupported {other}")
    return "mean"


@dataclass
class BertSentenceEncoder:
    """`SentenceEncoder` over a BERT checkpoint: encoder, pooling, L2 normalisation.

    Batches follow sentence-transformers (texts sorted longest first, so a batch pads
    little).
    """

    weights: dict[str, torch.Tensor]
    config: BertConfig
    tokenizer: Tokenizer
    max_length: int
    pooling: str = "mean"
    bfloat16: bool = False  # matrix products in bfloat16 (autocast); pooling in float32

    def __post_init__(self) -> None:
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id("[PAD]") or 0)

    @property
    def dim(self) -> int:
        return self.config.hidden

    @classmethod
    def load(cls, source: str, precision: Precision = "float32") -> BertSentenceEncoder:
        """Load from a local directory or hub id, to run in `precision` (`use_bfloat16`);
        ModelUnavailable names the model and the reason."""
        directory = model_directory(source)
        config = BertConfig.read(directory / "config.json")
        try:
            from safetensors.torch import load_file
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
            weights = {
                # Some checkpoints save the encoder under a "bert." prefix.
                name.removeprefix("bert."): tensor
                for name, tensor in load_file(str(directory / "model.safetensors")).items()
            }
        except Exception as err:  # missing or unreadable files mean the same to the caller
            raise ModelUnavailable(f"text model {source!r}: {type(err).__name__}: {err}") from err
        limit = _read_json(directory / "sentence_bert_config.json").get("max_seq_length")
        max_length = min(int(limit or config.positions), config.positions)
        bfloat16 = use_bfloat16(precision)
        encoder = cls(weights, config, tokenizer, max_length, pooling_mode(directory), bfloat16)
        log.info(
            "loaded text model %s (%d-d, %s pooling, %s)",
            source,
            encoder.dim,
            encoder.pooling,
            "bfloat16" if bfloat16 else "float32",
        )
        return encoder

    def encode(self, texts: Sequence[str], *, batch_size: int = 32) -> Matrix:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        order = np.argsort([-len(text) for text in texts], kind="stable")
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            out[rows] = self._encode_batch([texts[i] for i in rows])
        return out

    def _encode_batch(self, texts: list[str]) -> Matrix:
        import torch

        encoded = self.tokenizer.encode_batch(texts)
        ids = torch.tensor([e.ids for e in encoded])
        mask = torch.tensor([e.attention_mask for e in encoded])
        types = torch.tensor([e.type_ids for e in encoded])
        with torch.inference_mode():
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
                tokens = self._forward(ids, types, mask).float()
            if self.pooling == "cls":
                pooled = tokens[:, 0]
            else:
                weights = mask.unsqueeze(-1).to(tokens.dtype)
                pooled = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            unit = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return unit.numpy()

    def _forward(self, ids: torch.Tensor, types: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The encoder's last hidden states, (batch, tokens, hidden)."""
        import torch
        from torch.nn.functional import gelu, layer_norm, linear, scaled_dot_product_attention

        w, c = self.weights, self.config
        batch, length = ids.shape
        heads, head_dim = c.heads, c.hidden // c.heads

        def norm(x: torch.Tensor, name: str) -> torch.Tensor:
            return layer_norm(x, (c.hidden,), w[f"{name}.weight"], w[f"{name}.bias"], c.eps)

        def dense(x: torch.Tensor, name: str) -> torch.Tensor:
            return linear(x, w[f"{name}.weight"], w[f"{name}.bias"])

        def split(x: torch.Tensor) -> torch.Tensor:
            return x.view(batch, length, heads, head_dim).transpose(1, 2)

        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][torch.arange(length)]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = norm(x, "embeddings.LayerNorm")
        attend = mask.bool()[:, None, None, :]  # padding is never attended to
        for i in range(c.layers):
            p = f"encoder.layer.{i}"
            q, k, v = (
                split(dense(x, f"{p}.attention.self.{n}")) for n in ("query", "key", "value")
            )
            context = scaled_dot_product_attention(
                q, k, v, attn_mask=attend, scale=1.0 / math.sqrt(head_dim)
            )
            context = context.transpose(1, 2).reshape(batch, length, c.hidden)
            x = norm(
                dense(context, f"{p}.attention.output.dense") + x, f"{p}.attention.output.LayerNorm"
            )
            inner = gelu(dense(x, f"{p}.intermediate.dense"))
            x = norm(dense(inner, f"{p}.output.dense") + x, f"{p}.output.LayerNorm")
        return x
