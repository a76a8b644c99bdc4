"""The lite (CPU) reranker: sentence-level late interaction plus lexical evidence.

Each candidate unit is cut into windows of 3 sentences (stride 2), each prefixed with the
unit's header line (file title and location). With MiniLM vectors of the query and of
every window:

    score = w_max * max cos(q, window) + w_top * mean(top-3 cos) + w_lex * BM25 / max BM25

where BM25 is computed over the candidates' `unit_text` with IDF from the candidates. A
best-matching window finds the answer inside a long page that one pooled page vector
blurs. Window vectors are cached by text (LRU), since the same units recur across queries.

Measured on the dev questions (51 PDF questions, stage 1 = MiniLM + BM25 fused by DBSF,
30 candidates, final = 0.3 stage 1 + 0.7 rerank, min-max): nDCG@5 0.861 -> 0.879, hit@5
0.92 -> 0.94. Single sentences with the header as a separate sentence gave 0.852 (worse
than stage 1); single sentences with the header prefixed 0.854. With caption evidence,
0.891; packing sentences into windows of at most 48 or 32 words instead (2.5x and 1.6x
fewer windows to embed) lost quality: 0.867 and 0.876. A grid over these weights and the
final fusion with 50 candidates (`mmrag eval` cache, 2026-11-23) chose dense_top 1.0,
caption 1.0, final = 0.1 stage 1 + 0.9 rerank: PDF nDCG@5 0.918 -> 0.942.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ingest.types import Unit
from retrieval.batching import MicroBatcher
from retrieval.bm25 import bm25_scores
from retrieval.embedders.base import Embedder, Matrix
from retrieval.embedders.minilm import MiniLMEmbedder, embedding_dim, load_sentence_transformer
from retrieval.lexical import caption_match, coverage
from retrieval.sentences import WINDOW_RULES, split_sentences
from retrieval.terms import tokenize
from retrieval.unit_text import unit_header, unit_text
from retrieval.vector_cache import SqliteVectorCache

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiteWeights:
    """Mix of the reranker's evidence (defaults tuned on the dev questions)."""

    dense_max: float = 1.0
    dense_top: float = 1.0
    lexical: float = 0.25
    caption: float = 1.0  # the page captioning a figure/table the query names
    top_windows: int = 3


class SentenceVectors:
    """MiniLM vectors of short texts with an LRU cache keyed by the text's digest, backed
    by an optional persistent cache (so a new process does not re-embed known units).

    Thread-safe without serialising: the lock guards only the cache, never the model. Texts
    of concurrent queries (`encode`) are micro-batched into shared model calls; ingestion's
    `warm` encodes its own (large) batches directly, so a query never waits behind one.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        capacity: int = 20_000,
        batch_size: int = 64,
        persistent: SqliteVectorCache | None = None,
    ) -> None:
        self.model = model
        self.capacity = capacity
        self.batch_size = batch_size
        self.dim = embedding_dim(model)
        self.persistent = persistent
        self._cache: OrderedDict[bytes, Matrix] = OrderedDict()
        self._lock = threading.Lock()
        self.batcher: MicroBatcher[str] = MicroBatcher(self._model_encode, max_items=512)

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()

    def _model_encode(self, texts: list[str]) -> Matrix:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def encode(self, texts: Sequence[str], *, batched: bool = True) -> Matrix:
        """(n, dim) unit vectors, computing only the texts not in the cache (in one model
        call, shared with concurrent callers when `batched`)."""
        keys = [self._key(t) for t in texts]
        with self._lock:
            found = {k: self._cache[k] for k in keys if k in self._cache}
        missing = list({k: t for k, t in zip(keys, texts, strict=True) if k not in found}.items())
        if missing and self.persistent is not None:
            found.update(self.persistent.get_many(k for k, _ in missing))
            missing = [(k, t) for k, t in missing if k not in found]
        fresh: dict[bytes, Matrix] = {}
        if missing:
            encode = self.batcher if batched else self._model_encode
            vectors = encode([t for _, t in missing])
            fresh = dict(zip((k for k, _ in missing), vectors, strict=True))
            if self.persistent is not None:
                self.persistent.put_many(fresh)
        found.update(fresh)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, key in enumerate(keys):
            out[row] = found[key]
        with self._lock:
            self._cache.update(found)
            for key in keys:
                self._cache.move_to_end(key)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return out


def _rescaled_cosine(similarity: Matrix) -> Matrix:
    # MiniLM puts unrelated text around cos 0-0.2: map [0.2, 1] onto [0, 1] so an
    # unrelated sentence scores 0 (the extractive generator refuses on all-zero scores).
    rescaled: Matrix = np.clip((similarity - 0.2) / 0.8, 0.0, 1.0).astype(np.float32)
    return rescaled


class MiniLMSentenceScorer:
    """Scores sentences against a query (generation's SentenceScorer protocol): half
    rescaled MiniLM cosine, half query-term coverage, in [0, 1]."""

    name = "minilm-sentences"

    def __init__(self, vectors: SentenceVectors) -> None:
        self.vectors = vectors

    def score(self, query: str, sentences: Sequence[str]) -> list[float]:
        """One score in [0, 1] per sentence; comparable within one call."""
        if not sentences:
            return []
        query_vec = self.vectors.encode([query])[0]
        dense = _rescaled_cosine(self.vectors.encode(sentences) @ query_vec)  # (n,)
        query_terms = tokenize(query)
        lexical = [coverage(query_terms, tokenize(s)) for s in sentences]
        return [0.5 * float(d) + 0.5 * lex for d, lex in zip(dense, lexical, strict=True)]


class LiteReranker:
    """`Reranker` for the lite profile: MiniLM sentence MaxSim fused with BM25 evidence.

    `sentence_scorer` is the same sentence scoring; the factory (app.factory.build_sentence_scorer)
    hands it to the extractive generator.
    """

    name = "lite"

    def __init__(
        self,
        model: str = "",
        *,
        encoder: SentenceTransformer | None = None,
        weights: LiteWeights | None = None,
        max_windows: int = 64,
        window: int = 3,
        prefix_header: bool = True,
        cache_size: int = 20_000,
        cache_path: Path | None = None,
    ) -> None:
        loaded = encoder if encoder is not None else load_sentence_transformer(model)
        dim = embedding_dim(loaded)
        persistent = SqliteVectorCache(cache_path, dim) if cache_path is not None else None
        self.vectors = SentenceVectors(loaded, capacity=cache_size, persistent=persistent)
        self.weights = weights or LiteWeights()
        self.max_windows = max_windows
        self.window = window
        self.prefix_header = prefix_header
        self.sentence_scorer = MiniLMSentenceScorer(self.vectors)
        # Window matrices per unit: a query looks up ~50 units instead of ~1,300 windows
        # (hashing and copying each one under a lock was most of a cached rerank's time).
        self._unit_cache: OrderedDict[tuple[str, str], Matrix] = OrderedDict()
        self._unit_cache_size = max(1, cache_size // 16)
        self._unit_lock = threading.Lock()

    @classmethod
    def from_embedder(
        cls, embedder: Embedder | None, model: str = "", cache_path: Path | None = None
    ) -> LiteReranker:
        """Share the MiniLM model already loaded by the text embedder (else load `model`);
        `cache_path` keeps window vectors on disk across processes."""
        if isinstance(embedder, MiniLMEmbedder):
            return cls(encoder=embedder.model, cache_path=cache_path)
        return cls(model, cache_path=cache_path)

    def warm(self, units: Sequence[Unit]) -> None:
        """Embed the units' windows now (at ingest), so the first query finds them cached."""
        windows = [text for unit in units for text in self.unit_windows(unit)]
        self.vectors.encode(windows, batched=False)

    def unit_windows(self, unit: Unit) -> list[str]:
        """What the query is matched against: windows of `window` sentences (stride
        window // 2 + 1), each prefixed by the header line (or, with `prefix_header`
        off, the header line as a window of its own)."""
        header = unit_header(unit)
        sentences = [s.text for s in split_sentences(unit.text, rules=WINDOW_RULES)]
        step = self.window // 2 + 1 if self.window > 1 else 1
        windows = [
            " ".join(sentences[i : i + self.window])
            for i in range(0, max(len(sentences) - self.window + step, 1), step)
        ]
        windows = [w for w in windows if w][: self.max_windows]
        if self.prefix_header:
            return [f"{header}: {w}" for w in windows] or [header]
        return [header, *windows]

    def window_matrices(self, units: Sequence[Unit]) -> list[Matrix]:
        """Each unit's (n_windows, dim) window vectors, from the per-unit cache where
        possible; the units' missing windows are encoded in one call."""
        # The windows are a function of the header and the text: together they are the key
        # (str hashing runs in C, unlike cutting the windows again).
        keys = [(unit_header(u), u.text) for u in units]
        with self._unit_lock:
            found = {k: self._unit_cache[k] for k in keys if k in self._unit_cache}
        missing = {
            k: self.unit_windows(u) for k, u in zip(keys, units, strict=True) if k not in found
        }
        if missing:
            flat = [text for windows in missing.values() for text in windows]
            vectors = self.vectors.encode(flat)
            start = 0
            for key, windows in missing.items():
                found[key] = vectors[start : start + len(windows)]
                start += len(windows)
        with self._unit_lock:
            for key in keys:
                self._unit_cache[key] = found[key]
                self._unit_cache.move_to_end(key)
            while len(self._unit_cache) > self._unit_cache_size:
                self._unit_cache.popitem(last=False)
        return [found[k] for k in keys]

    def score(self, query: str, units: Sequence[Unit]) -> list[float]:
        """One relevance score per unit, higher is better; comparable within one call."""
        if not units:
            return []
        w = self.weights
        query_vec = self.vectors.encode([query])[0]  # (dim,)
        dense: list[float] = []
        for matrix in self.window_matrices(units):
            unit_sims = np.sort(matrix @ query_vec)[::-1]
            top = unit_sims[: w.top_windows]
            dense.append(w.dense_max * float(unit_sims[0]) + w.dense_top * float(top.mean()))
        lexical = bm25_scores(
            tokenize(query, stem=False), [tokenize(unit_text(u), stem=False) for u in units]
        )
        best = max(lexical)
        lex_norm = [x / best if best > 0 else 0.0 for x in lexical]
        captions = [caption_match(query, u.text) for u in units]
        return [
            d + w.lexical * x + w.caption * c
            for d, x, c in zip(dense, lex_norm, captions, strict=True)
        ]
