"""Retrieval settings: embedders, index, two-stage fusion and reranker."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from ingest.types import UnitKind


class VLMSettings(BaseModel):
    """A Qwen-VL backbone used as an embedder or a reranker (in-process transformers)."""

    model: str = Field("Qwen/Qwen3-VL-Embedding-2B", description="hub id or local directory")
    prompt_format: Literal["qwen3-vl-embedding", "dse", "vlm2vec"] = "qwen3-vl-embedding"
    query_instruction: str = "Find a page or video clip that answers the question."
    include_unit_text: bool = True  # add the page/clip text after the image(s)
    max_unit_text_chars: int = 1200
    mrl_dim: int | None = Field(None, ge=32, description="truncate (Matryoshka) and renormalise")
    max_pixels: int = Field(1280 * 28 * 28, ge=28 * 28, description="per image")
    frame_max_pixels: int = Field(448 * 448, ge=28 * 28)
    max_frames: int = Field(8, ge=1)
    batch_tokens: int = Field(16_384, ge=256, description="token budget of one forward batch")
    batch_max_items: int = Field(32, ge=1)
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    attn_implementation: str = "sdpa"
    # Optimised path: unpadded batches with per-prompt attention (flash varlen on CUDA) and
    # the patch embedding as a GEMM; same vectors (tested), speed measured by bench.gpu.
    packed: bool = False


class VLLMEmbedSettings(BaseModel):
    """An OpenAI-compatible embeddings endpoint (`vllm serve <embedder> --runner pooling`)."""

    base_url: str = "http://localhost:8001/v1"
    model: str = "Qwen/Qwen3-VL-Embedding-2B"
    api_key: SecretStr | None = None
    timeout_s: float = 60.0
    max_retries: int = 2
    # How inputs are shown to the served model (same formats as VLMSettings; the server
    # applies the chat template, so this picks messages and the generation-prompt flag).
    prompt_format: Literal["qwen3-vl-embedding", "dse", "vlm2vec"] = "qwen3-vl-embedding"
    query_instruction: str = "Find a page or video clip that answers the question."
    include_unit_text: bool = True
    max_unit_text_chars: int = 1200
    max_pixels: int = Field(1280 * 28 * 28, ge=28 * 28, description="images downscaled first")
    frame_max_pixels: int = Field(448 * 448, ge=28 * 28)
    max_frames: int = Field(8, ge=1)
    mrl_dim: int | None = Field(None, ge=32, description="truncate (Matryoshka) and renormalise")
    dim: int = Field(
        2048, ge=1, description="the served model's vector size (Qwen3-VL-Embedding-2B: 2048)"
    )
    max_concurrency: int = Field(8, ge=1, description="requests in flight at once")


class RetrievalSettings(BaseModel):
    """Which vectors are produced, how the two stages are fused."""

    # "auto" resolves by profile: lite -> minilm + bm25, gpu -> vlm visual + minilm + bm25.
    visual_embedder: Literal["auto", "none", "vlm", "vllm", "fake"] = "auto"
    text_embedder: Literal["auto", "none", "minilm", "fake"] = "auto"
    sparse: Literal["auto", "none", "bm25"] = "auto"
    reranker: Literal["auto", "none", "lite", "vlm", "fake"] = "auto"
    text_model: str = Field(
        "", description="sentence-transformers path/id; empty = packaged MiniLM"
    )
    # The lite text model's arithmetic: "auto" = bfloat16 where the CPU multiplies it in
    # hardware (AVX512-BF16 or AMX: half the CPU of float32, vectors within cos 0.9999 of
    # it), float32 elsewhere, where emulated bfloat16 would be slower.
    text_precision: Literal["auto", "float32", "bfloat16"] = "auto"
    vlm: VLMSettings = VLMSettings()
    vlm_reranker: VLMSettings = VLMSettings(
        model="Qwen/Qwen3-VL-Reranker-2B",
        # The <Instruct> line of the pair prompt; the yes/no system prompt is fixed.
        query_instruction="Given a search query, retrieve relevant candidates that answer the query.",
    )
    vllm_embed: VLLMEmbedSettings = VLLMEmbedSettings()

    collection: str = "mmrag"
    upsert_batch: int = Field(64, ge=1)
    # Query-encoder calls that may run at once in a server (retrieval/batching.py): with
    # one-thread model calls, one per core. 20 concurrent clients on 2 cores: 1.76-1.83x
    # the sequential rate with 2 lanes, 1.61-1.70x with 1 (docs/figures.md, issue 12).
    query_lanes: int = Field(2, ge=1)
    # ... but a further lane opens only once this many queries wait: a MiniLM call costs
    # nearly as much for one query as for eight, so two lanes of one query each wasted
    # one. 20 clients: 2.23x the sequential rate with 4 against 1.98x with 1 (median of
    # 21 pairs each; docs/figures.md, issue 12).
    query_backlog: int = Field(4, ge=1)
    # Exact float search below this many units (per segment); past it a segment is rebuilt
    # as `indexed_search` says. bench.index (docs/figures.md): the int8 scan is as fast as
    # exact float at 10-30k units and faster at 100k (0.57 vs 0.82 of the reference search),
    # recall@50 1.0; rebuilds stay small and search memory halves from here. HNSW under a
    # document filter reached recall@50 0.85-0.98, so with "hnsw" raise this (e.g. 100000).
    hnsw_threshold: int = Field(
        20_000, ge=1, description="units; smaller indexes are searched exactly"
    )
    # What a segment past `hnsw_threshold` is rebuilt as. "scan": no graph (Qdrant's m=0);
    # a search scans the segment's quantized vectors and rescores the top `oversampling` x
    # with the float originals: recall@50 1.0 at 100k units under a document filter, at
    # ~0.6-0.7x the time of exact float search (bench.index, docs/figures.md). "hnsw": a graph
    # (ACORN under filters), for millions of units, but recall@50 ~0.85 under the filter.
    # A channel without quantization is scanned in float under "scan".
    indexed_search: Literal["scan", "hnsw"] = "scan"
    hnsw_m: int = Field(16, ge=4)
    hnsw_ef_construct: int = Field(128, ge=8)
    hnsw_ef: int = Field(128, ge=8, description="HNSW search beam; recall vs latency")
    # Compression of the dense vectors (applies to the segments past hnsw_threshold): int8
    # keeps one byte per dimension in RAM, binary one bit (for the 2048-d visual vector);
    # the float originals stay on disk and rescore the `oversampling` x top candidates.
    # int8 text: eval nDCG@5 equal to float (docs/figures.md); it is what "scan" scans.
    text_quantization: Literal["none", "int8"] = "int8"
    visual_quantization: Literal["none", "int8", "binary"] = "none"
    quantization_oversampling: float = Field(3.0, ge=1.0)
    # Units the embedded index keeps built, by point id (an LRU; 0 = none): a unit found
    # again skips reading its payload and rebuilding it, ~a third of stage 1 at 100k units
    # (docs/figures.md). About 1-5 KB each (its text).
    unit_cache: int = Field(8192, ge=0, description="units kept built in memory (Edge)")

    stage1_top_n: int = Field(50, ge=1)
    # dbsf: dev-set stage-1 nDCG@5 0.861 vs 0.835 for rrf (lite profile, MiniLM + BM25).
    stage1_fusion: Literal["rrf", "dbsf"] = "dbsf"
    top_k: int = Field(5, ge=1)
    rerank_top_n: int = Field(50, ge=1, description="how many stage-1 hits the reranker sees")
    # final = w_stage1 * norm(stage1) + w_rerank * norm(rerank), with weights per unit kind:
    # `stage1_weight`/`rerank_weight` for pages, `clip_*` for video clips (the lite reranker
    # reads only a clip's transcript and OCR). Defaults chosen by k-fold cross-validation
    # with `mmrag eval` (docs/figures.md).
    stage1_weight: float = Field(0.1, ge=0)
    rerank_weight: float = Field(0.9, ge=0)
    clip_stage1_weight: float = Field(0.1, ge=0)
    clip_rerank_weight: float = Field(0.9, ge=0)
    normalization: Literal["minmax", "zscore"] = "minmax"

    @model_validator(mode="after")
    def _weights_have_a_positive_sum(self) -> RetrievalSettings:
        for kind, (w1, w2) in self.fusion_weights().items():
            if w1 + w2 <= 0:
                raise ValueError(f"the {kind} fusion weights must not both be 0")
        return self

    def fusion_weights(self) -> dict[UnitKind, tuple[float, float]]:
        """(stage-1 weight, rerank weight) of the final fusion, per unit kind."""
        return {
            UnitKind.PAGE: (self.stage1_weight, self.rerank_weight),
            UnitKind.CLIP: (self.clip_stage1_weight, self.clip_rerank_weight),
        }
