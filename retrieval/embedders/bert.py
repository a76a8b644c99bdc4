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
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast, runtime_checkable

import numpy as np

import retrieval.omp  # noqa: F401  (sets how torch threads wait; before torch loads)
from ingest.errors import ModelUnavailable
from retrieval.cores import usable_cores
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


# The forward as `_graph` runs it: token ids, attention mask[, packed weights] -> the rows,
# then the inputs (`_embed_keeping_inputs`).
_Embed = Callable[..., "tuple[torch.Tensor, ...]"]


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


# Up to this many texts (a few queries) are tokenized one by one: `encode_batch` releases
# the GIL, and taking it back beside a busy Python thread waited the switch interval
# (~5 ms for 5 queries that tokenize in 0.15 ms). Larger batches gain from its threads.
_SMALL_BATCH = 64


@dataclass
class BertSentenceEncoder:
    """`SentenceEncoder` over a BERT checkpoint: encoder, pooling, L2 normalisation.

    Texts are tokenized once, then encoded longest first in batches of similar token
    length (`token_batches`), so a batch pads little: a page's sentence windows run from
    10 to 190 tokens, and batches of 64 cut by characters were 35% padding.
    """

    weights: dict[str, torch.Tensor]
    config: BertConfig
    tokenizer: Tokenizer
    max_length: int
    pooling: str = "mean"
    bfloat16: bool = False  # matrix products in bfloat16 (autocast); pooling in float32
    # Padded tokens (rows x longest) of one forward batch: attention and padding grow
    # with it, the per-call overhead shrinks (measured in docs/figures.md, issue 14).
    batch_tokens: int = 4096
    # Run the forward as one traced TorchScript graph (`_graph`): the same ops, but the
    # GIL is released once per batch instead of at each of its ~100 ops (see `_graph`).
    traced: bool = True
    # Batches are padded to a multiple of this many tokens (and, past 8 rows, of 8 rows;
    # `padded_shape`). oneDNN builds its kernels for each shape it meets (~35 ms for a
    # new one): a server builds a bounded set once instead of one per batch. bfloat16
    # attention also runs up to 2x faster at a multiple of 16 tokens. On a stream of new
    # documents that about pays for the padding (docs/figures.md, issue 14).
    length_multiple: int = 16
    # Forward batches a large `encode` runs at once, from as many threads (the graph
    # releases the GIL); 0 = `parallel_lanes()`: the cores // torch's intra-op threads,
    # so two on two cores with the app's one-thread setting (Settings.torch_threads).
    # One-thread calls side by side beat one call on two threads (no OpenMP hand-offs):
    # dpr-paper's 510 windows took 2.2-2.6 s on two lanes, 2.4-2.5 s on two threads with
    # more CPU, 3.7-4.1 s on one (docs/figures.md, issue 14).
    lanes: int = 0
    _run: dict[str, torch.Tensor] = field(init=False, repr=False)
    _pad_id: int = field(init=False, repr=False)
    _traced: _Embed | None = field(init=False, repr=False, default=None)
    _trace_lock: threading.Lock = field(init=False, repr=False, default_factory=threading.Lock)
    # In bfloat16 where oneDNN runs it: the encoder's linear weights packed once
    # (retrieval.embedders.packed), in `_packed_index` order; empty = plain products.
    _packed: list[torch.Tensor] = field(init=False, repr=False, default_factory=list)
    _packed_index: dict[str, int] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.tokenizer.enable_truncation(self.max_length)
        self.tokenizer.no_padding()  # batches are padded here (`padded_shape`)
        self._pad_id = self.tokenizer.token_to_id("[PAD]") or 0
        self._run = runtime_weights(self.weights, self.config.layers, self.bfloat16)
        if self.bfloat16:
            self.pack_weights()

    def pack_weights(self, enabled: bool = True) -> None:
        """Pack the linear weights for oneDNN (where it runs bfloat16 here), or with
        `enabled` off go back to plain products; either way the graph is traced again."""
        from retrieval.embedders import packed

        names = [n.removesuffix(".weight") for n, t in self._run.items() if _is_linear(n, t)]
        self._packed, self._packed_index, self._traced = [], {}, None
        if not (enabled and self.bfloat16 and packed.supported()):
            return
        try:
            weights = [packed.pack(self._run[f"{n}.weight"]) for n in names]
        except RuntimeError as err:  # a oneDNN build that reports support it lacks: plain
            log.warning("text model keeps plain bfloat16 products: packing failed (%s)", err)
            return
        self._packed, self._packed_index = weights, {n: i for i, n in enumerate(names)}

    @property
    def dim(self) -> int:
        return self.config.hidden

    @property
    def weights_packed(self) -> bool:
        """Whether the products run on weights packed once for oneDNN (`pack_weights`)."""
        return bool(self._packed)

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
        encoder.warm()
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
        if not texts:
            return out
        encoded = (
            self.tokenizer.encode_batch(list(texts))
            if len(texts) > _SMALL_BATCH
            else [self.tokenizer.encode(text) for text in texts]
        )
        lengths = [len(e.ids) for e in encoded]
        rounded = [round_up(n, self.length_multiple) for n in lengths]
        batches = token_batches(rounded, batch_size, self.batch_tokens)

        def run(rows: np.ndarray) -> None:
            out[rows] = self._encode_batch([encoded[i].ids for i in rows])

        # A query's single batch runs inline, without asking for the cores.
        lanes = min(self.lanes or parallel_lanes(), len(batches)) if len(batches) > 1 else 1
        if lanes <= 1:
            for rows in batches:
                run(rows)
            return out
        with ThreadPoolExecutor(lanes, thread_name_prefix="mmrag-encode") as pool:
            list(pool.map(run, batches))  # raises a batch's error here
        return out

    def warm(self) -> None:
        """Trace the graph now, on two short texts, instead of on the first real batch
        (tracing took 0.4-0.7 s of a 13-page paper's first batch)."""
        self.encode(["warm", "the graph is traced once, at load"])

    def _encode_batch(self, token_ids: list[list[int]]) -> Matrix:
        import torch

        longest = max(len(ids) for ids in token_ids)
        rows, length = padded_shape(
            len(token_ids), longest, self.length_multiple, self.config.positions
        )
        padded = np.full((rows, length), self._pad_id, dtype=np.int64)
        mask = np.zeros((rows, length), dtype=np.int64)
        mask[:, 0] = 1  # a padding row attends to its first token: finite, then dropped
        for row, row_ids in enumerate(token_ids):
            padded[row, : len(row_ids)] = row_ids
            mask[row, : len(row_ids)] = 1
        ids, attention = torch.from_numpy(padded), torch.from_numpy(mask)
        # The unoptimised executor runs the traced ops as recorded: the profiling one
        # re-specialises for every new batch shape, and was slower than eager here.
        with torch.inference_mode(), torch.jit.optimized_execution(False):  # type: ignore[attr-defined]
            graph = self._graph(ids, attention)
            # (A trace input list must not be empty: without packed weights, two inputs.)
            out = graph(ids, attention, self._packed) if self._packed else graph(ids, attention)
        return out[0].numpy()[: len(token_ids)]

    def _graph(self, ids: torch.Tensor, mask: torch.Tensor) -> _Embed:
        """`_embed_keeping_inputs`, traced on its first batch (`traced`), else itself.

        Every eager torch op releases the GIL and takes it back. Beside a thread running
        Python (the API's other queries) each take waits up to the switch interval, so a
        batch of 20 queries took 630-850 ms instead of 70 ms (docs/figures.md, issue 12).
        The traced graph releases it once per call. Its sizes are traced, not frozen, and
        it runs the same kernels: the vectors are bit-identical to eager (tested).
        """
        if not self.traced:
            return self._embed_keeping_inputs
        with self._trace_lock:
            if self._traced is None:
                self._traced = _trace(self._embed_keeping_inputs, ids, mask, self._packed)
            return self._traced

    def _embed_keeping_inputs(
        self, ids: torch.Tensor, mask: torch.Tensor, packed: Sequence[torch.Tensor] = ()
    ) -> tuple[torch.Tensor, ...]:
        """`_embed`'s rows, then its inputs: a graph drops each value after its last use,
        and dropping a tensor that Python also holds takes the GIL. Returned, the inputs are
        dropped by the caller, which holds it. Measured beside one busy Python thread, 24
        packed weights dropped inside the graph took it 24 times: 158 ms a call against
        26 ms kept to the end (docs/figures.md, issue 12)."""
        return (self._embed(ids, mask, packed), ids, mask, *packed)

    def _embed(
        self, ids: torch.Tensor, mask: torch.Tensor, packed: Sequence[torch.Tensor] = ()
    ) -> torch.Tensor:
        """Token ids and their attention mask -> pooled, L2-normalised rows (float32).
        `packed`: the packed linear weights (`_packed`), an input so a traced graph can
        take them."""
        import torch

        types = torch.zeros_like(ids)  # one segment: single texts
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bfloat16):
            tokens = self._forward(ids, types, mask, packed).float()
        if self.pooling == "cls":
            pooled = tokens[:, 0]
        else:
            weights = mask.unsqueeze(-1).to(tokens.dtype)
            pooled = (tokens * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, p=2, dim=1)

    def _forward(
        self,
        ids: torch.Tensor,
        types: torch.Tensor,
        mask: torch.Tensor,
        packed: Sequence[torch.Tensor],
    ) -> torch.Tensor:
        """The encoder's last hidden states, (batch, tokens, hidden)."""
        import torch
        from torch.nn.functional import gelu, layer_norm, linear, scaled_dot_product_attention

        if packed:
            from retrieval.embedders.packed import packed_linear

        w, c = self._run, self.config
        batch, length = ids.shape
        heads, head_dim = c.heads, c.hidden // c.heads

        def norm(x: torch.Tensor, name: str) -> torch.Tensor:
            return layer_norm(x, (c.hidden,), w[f"{name}.weight"], w[f"{name}.bias"], c.eps)

        def dense(x: torch.Tensor, name: str) -> torch.Tensor:
            if packed:
                out: torch.Tensor = packed_linear(
                    x, packed[self._packed_index[name]], w[f"{name}.bias"]
                )
                return out
            return linear(x, w[f"{name}.weight"], w[f"{name}.bias"])

        def split(x: torch.Tensor) -> torch.Tensor:
            # A view of its third of the fused qkv output (strided; attention takes it).
            return x.reshape(batch, length, heads, head_dim).transpose(1, 2)

        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][torch.arange(length)]
            + w["embeddings.token_type_embeddings.weight"][types]
        )
        x = norm(x, "embeddings.LayerNorm")
        attend = mask.bool()[:, None, None, :]  # padding is never attended to
        for i in range(c.layers):
            p = f"encoder.layer.{i}"
            q, k, v = (split(part) for part in dense(x, f"{p}.qkv").chunk(3, dim=-1))
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


def _is_linear(name: str, tensor: torch.Tensor) -> bool:
    """An encoder layer's linear weight (the products `dense` runs)."""
    return name.startswith("encoder.layer.") and name.endswith(".weight") and tensor.dim() == 2


def _trace(
    embed: _Embed, ids: torch.Tensor, mask: torch.Tensor, packed: Sequence[torch.Tensor]
) -> _Embed:
    """`embed` as a TorchScript graph, or `embed` itself where tracing fails (TorchScript
    is deprecated upstream; torch is pinned, and eager gives the same vectors)."""
    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            traced = torch.jit.trace(  # type: ignore[no-untyped-call]
                embed, (ids, mask, list(packed)) if packed else (ids, mask), check_trace=False
            )
        return cast("_Embed", traced)
    except Exception as err:  # any tracing failure: run eagerly, slower beside other threads
        log.warning("text model runs eagerly: tracing failed (%s: %s)", type(err).__name__, err)
        return embed


def runtime_weights(
    weights: dict[str, torch.Tensor], layers: int, bfloat16: bool
) -> dict[str, torch.Tensor]:
    """The checkpoint's weights as the forward pass reads them: each layer's query, key and
    value projections fused into one `qkv` matrix (one product, and one bfloat16 cast of
    its input, instead of three), and in bfloat16 every matrix and bias that autocast
    would otherwise cast on each call (inference tensors never enter its cast cache; the
    casts were ~40% of a batch's CPU). The vectors stay bit-identical (tested)."""
    import torch

    run = dict(weights)
    for i in range(layers):
        p = f"encoder.layer.{i}.attention.self"
        for part in ("weight", "bias"):
            names = [f"{p}.{n}.{part}" for n in ("query", "key", "value")]
            run[f"encoder.layer.{i}.qkv.{part}"] = torch.cat([run.pop(n) for n in names])
    if bfloat16:
        for name, tensor in run.items():
            if name.startswith("encoder.") and ".LayerNorm." not in name:
                run[name] = tensor.to(torch.bfloat16)
    return run


# Lanes past two were never measured (the machines here have two cores).
_MAX_LANES = 2


def parallel_lanes() -> int:
    """How many one-call-at-a-time lanes the cores hold beside torch's intra-op threads
    (1 to _MAX_LANES): the cores this process may use // torch's threads."""
    import torch

    return max(1, min(_MAX_LANES, usable_cores() // max(1, torch.get_num_threads())))


def round_up(n: int, multiple: int) -> int:
    """The least multiple of `multiple` that is >= n (n itself for a multiple <= 1)."""
    return -(-n // multiple) * multiple if multiple > 1 else n


# Up to this many rows a batch keeps its own row count (a few queries: padding them to 8
# would multiply their products); past it, rows are padded to a multiple of it.
_ROW_MULTIPLE = 8


def padded_shape(rows: int, longest: int, length_multiple: int, limit: int) -> tuple[int, int]:
    """(rows, tokens) a batch of `rows` texts, the longest `longest` tokens, is padded to
    (never past `limit` tokens, the model's positions). Full ingestion batches then have
    one shape per token bucket (`token_batches` fills them by the rounded length), and a
    document's last batch one of a few."""
    padded_rows = rows if rows <= _ROW_MULTIPLE else round_up(rows, _ROW_MULTIPLE)
    return padded_rows, max(longest, min(round_up(longest, length_multiple), limit))


def token_batches(lengths: Sequence[int], max_rows: int, max_tokens: int) -> list[np.ndarray]:
    """Row indices of `lengths` in forward batches: longest first, each batch at most
    `max_rows` texts and at most `max_tokens` padded tokens (rows x its longest; a text
    longer than that goes alone)."""
    order = np.argsort([-n for n in lengths], kind="stable")
    batches: list[np.ndarray] = []
    start = 0
    while start < len(order):
        longest = max(lengths[order[start]], 1)
        rows = max(1, min(max_rows, max_tokens // longest))
        batches.append(order[start : start + rows])
        start += rows
    return batches
