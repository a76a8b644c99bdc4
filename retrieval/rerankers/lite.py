"""The lite (CPU) reranker: sentence-level late interaction plus lexical evidence.

Each candidate unit is cut into windows of 3 sentences (stride 2), each prefixed with the
unit's header line (file title and location). With MiniLM vectors of the query and of
every window:

    score = w_max * max cos(q, window) + w_top * mean(top-3 cos) + w_lex * BM25 / max BM25

where BM25 is computed over the candidates' `unit_text` with IDF from the candidates. A
best-matching window finds the answer inside a long page that one pooled page vector
blurs. The windows and their vectors belong to the MiniLM text embedder
(retrieval.embedders.windows), cached per unit, since the same units recur across queries;
the text channel pools the same vectors, so ingestion encodes each window once.

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

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from ingest.types import Unit
from retrieval.bm25 import BM25
from retrieval.embedders.base import Embedder, Matrix
from retrieval.embedders.minilm import MiniLMEmbedder
from retrieval.lexical import caption_match
from retrieval.lru import Lru
from retrieval.terms import term_counts, term_set, tokenize
from retrieval.unit_text import unit_text

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiteWeights:
    """Mix of the reranker's evidence (defaults tuned on the dev questions)."""

    dense_max: float = 1.0
    dense_top: float = 1.0
    lexical: float = 0.25
    caption: float = 1.0  # the page captioning a figure/table the query names
    top_windows: int = 3


def _rescaled_cosine(similarity: Matrix) -> Matrix:
    # MiniLM puts unrelated text around cos 0-0.2: map [0.2, 1] onto [0, 1] so an
    # unrelated sentence scores 0 (the extractive generator refuses on all-zero scores).
    rescaled: Matrix = np.clip((similarity - 0.2) / 0.8, 0.0, 1.0).astype(np.float32)
    return rescaled


@dataclass(frozen=True, slots=True)
class _Group:
    """What scoring a unit's sentences needs whatever the query: their vectors, and for
    each term the sentences holding it."""

    vectors: Matrix  # (n, dim)
    holding: dict[str, npt.NDArray[np.intp]]


class MiniLMSentenceScorer:
    """Scores sentences against a query (generation's SentenceScorer protocol): half
    rescaled MiniLM cosine, half the share of the query's terms the sentence holds (the
    share `retrieval.lexical.coverage` gives, counted here from the unit's term postings),
    in [0, 1]. A unit's sentences (a group) are looked up once and kept for the next
    queries that retrieve it (`capacity` groups)."""

    name = "minilm-sentences"

    def __init__(self, embedder: MiniLMEmbedder, capacity: int = 128) -> None:
        self.embedder = embedder
        self._groups: Lru[tuple[str, ...], _Group] = Lru(capacity)
        self._lock = threading.Lock()

    def _group(self, sentences: tuple[str, ...]) -> _Group:
        with self._lock:
            group = self._groups.get(sentences)
        if group is not None:
            return group
        holding: dict[str, list[int]] = {}
        for row, sentence in enumerate(sentences):
            for term in term_set(sentence):
                holding.setdefault(term, []).append(row)
        group = _Group(
            self.embedder.windows.vectors.encode(sentences),
            {t: np.array(rows, dtype=np.intp) for t, rows in holding.items()},
        )
        with self._lock:
            self._groups.put(sentences, group)
        return group

    def score_groups(
        self, query: str, groups: Sequence[tuple[str, ...]]
    ) -> list[npt.NDArray[np.float64]]:
        """One score in [0, 1] per sentence of each group; comparable within one call."""
        if not any(groups):
            return [np.zeros(len(g)) for g in groups]
        query_vec = self.embedder.embed_queries([query])[0]
        query_terms = set(tokenize(query))
        out = []
        for sentences in groups:
            group = self._group(sentences)
            dense = _rescaled_cosine(group.vectors @ query_vec).astype(np.float64)
            held = np.zeros(len(sentences))
            for term in query_terms:
                rows = group.holding.get(term)
                if rows is not None:
                    held[rows] += 1.0
            lexical = held / len(query_terms) if query_terms else held
            out.append(0.5 * dense + 0.5 * lexical)
        return out


def best_windows(
    matrices: Sequence[Matrix], query_vec: Matrix, top: int
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Per unit (its (n_windows, dim) window vectors): the best window's cosine with the
    query, and the mean of its `top` best (of fewer where it has fewer).

    One sort for all units, where sorting and averaging unit by unit took ~150 small
    numpy calls a query (0.93 ms against 0.21 ms for ~50 units, most of it call overhead).
    The products stay per unit: over the concatenated matrices the float sums round
    differently (and the copy costs more than it saves). Bit for bit the per-unit
    values (tested)."""
    lengths = np.array([len(m) for m in matrices], dtype=np.intp)
    if not len(lengths):
        return np.empty(0, np.float32), np.empty(0, np.float32)
    sims = np.concatenate([m @ query_vec for m in matrices])
    grid = np.full((len(lengths), int(lengths.max())), -np.inf, dtype=np.float32)
    starts = np.cumsum(lengths) - lengths
    rows = np.repeat(np.arange(len(lengths)), lengths)
    grid[rows, np.arange(len(sims)) - starts[rows]] = sims
    grid = -np.sort(-grid, axis=1)[:, :top]  # each row best first, padding last
    kept = np.minimum(lengths, top)
    sums = np.where(np.isfinite(grid), grid, np.float32(0)).sum(axis=1, dtype=np.float32)
    return grid[:, 0], sums / kept.astype(np.float32)


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
        embedder: MiniLMEmbedder | None = None,
        weights: LiteWeights | None = None,
        cache_path: Path | None = None,
    ) -> None:
        # The windows and their vectors are the MiniLM embedder's: the text channel pools
        # the same window vectors, so ingestion encodes each window once for both.
        self.embedder = embedder or MiniLMEmbedder(model, cache_path=cache_path)
        self.windows = self.embedder.windows
        self.vectors = self.windows.vectors
        self.weights = weights or LiteWeights()
        self.sentence_scorer = MiniLMSentenceScorer(self.embedder)

    @classmethod
    def from_embedder(
        cls, embedder: Embedder | None, model: str = "", cache_path: Path | None = None
    ) -> LiteReranker:
        """Share the MiniLM text embedder's model and window vectors (else load `model`
        with its own, kept in `cache_path` across processes)."""
        if isinstance(embedder, MiniLMEmbedder):
            return cls(embedder=embedder)
        return cls(model, cache_path=cache_path)

    def warm(self, units: Sequence[Unit]) -> None:
        """Embed the units' windows now (at ingest), so the first query finds them cached
        (already done when the text channel pools the same windows)."""
        self.windows.matrices(units, batched=False)

    def unit_windows(self, unit: Unit) -> list[str]:
        """What the query is matched against (retrieval.embedders.windows)."""
        return self.windows.windows(unit)

    def score(self, query: str, units: Sequence[Unit]) -> list[float]:
        """One relevance score per unit, higher is better; comparable within one call."""
        if not units:
            return []
        w = self.weights
        query_vec = self.embedder.embed_queries([query])[0]  # (dim,)
        top1, top_mean = best_windows(self.windows.matrices(units), query_vec, w.top_windows)
        # In float64, as the per-unit Python floats were: the same scores to the bit.
        dense: list[float] = (
            w.dense_max * top1.astype(np.float64) + w.dense_top * top_mean.astype(np.float64)
        ).tolist()
        counted = [term_counts(unit_text(u), stem=False) for u in units]
        candidates = BM25.of_counts([c for c, _ in counted], [n for _, n in counted])
        lexical = candidates.scores(tokenize(query, stem=False))
        best = max(lexical)
        lex_norm = [x / best if best > 0 else 0.0 for x in lexical]
        captions = [caption_match(query, u.text) for u in units]
        return [
            d + w.lexical * x + w.caption * c
            for d, x, c in zip(dense, lex_norm, captions, strict=True)
        ]
