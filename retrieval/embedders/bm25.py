"""BM25-style sparse vectors for Qdrant (the BM25 formulas: retrieval/bm25.py).

Document side: BM25 term-frequency saturation and length normalisation,
`tf * (k1 + 1) / (tf + k1 * (1 - b + b * len / avg_len))`. Query side: weight 1 per distinct
term. Qdrant multiplies in the IDF (the collection's sparse vector has `Modifier.IDF`), so
the dot product is the BM25 score without the encoder knowing the corpus.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

from ingest.types import Unit
from retrieval.bm25 import length_norm, term_weight
from retrieval.terms import term_id, tokenize
from retrieval.types import SparseVector
from retrieval.unit_text import unit_text


def _sparse(weights: dict[int, float]) -> SparseVector:
    ordered = sorted(weights.items())
    return SparseVector(tuple(i for i, _ in ordered), tuple(v for _, v in ordered))


class BM25Encoder:
    """Sparse encoder over `unit_text` (header + text). Stateless and deterministic.

    `avg_len` stands in for the corpus mean length (in tokens) that BM25 normalises by;
    a fixed value keeps encoding independent of what else is indexed. Stemming is off by
    default: on the dev questions plural-stripping lost 2 of 51 hits@5.
    """

    name = "bm25"

    def __init__(
        self, k1: float = 1.2, b: float = 0.75, avg_len: float = 256.0, stem: bool = False
    ) -> None:
        if k1 <= 0 or not 0 <= b <= 1 or avg_len <= 0:
            raise ValueError("BM25 needs k1 > 0, 0 <= b <= 1 and avg_len > 0")
        self.k1 = k1
        self.b = b
        self.avg_len = avg_len
        self.stem = stem

    def terms(self, text: str) -> list[str]:
        """The tokens this encoder indexes for `text`."""
        return tokenize(text, stem=self.stem)

    def encode_text(self, text: str) -> SparseVector:
        """Document-side vector of arbitrary text."""
        return self._document(self.terms(text))

    def encode_units(self, units: Sequence[Unit]) -> list[SparseVector]:
        """Document-side vectors of units (their header and text)."""
        return [self.encode_text(unit_text(u)) for u in units]

    def encode_queries(self, queries: Sequence[str]) -> list[SparseVector]:
        """Query-side vectors: each distinct term once, weight 1."""
        return [self._query(self.terms(q)) for q in queries]

    def _document(self, tokens: Iterable[str]) -> SparseVector:
        counts = Counter(tokens)
        norm = length_norm(sum(counts.values()), self.avg_len, self.k1, self.b)
        weights: dict[int, float] = {}
        for term, tf in counts.items():
            # Distinct terms can share an id (hash collision): add their weights.
            tid = term_id(term)
            weights[tid] = weights.get(tid, 0.0) + term_weight(tf, norm, self.k1)
        return _sparse(weights)

    def _query(self, tokens: Iterable[str]) -> SparseVector:
        return _sparse({term_id(t): 1.0 for t in set(tokens)})
