"""Okapi BM25, once: the length normalisation, the IDF, the saturated term weight, and
scoring a fixed list of tokenised documents.

Users: the lite reranker's lexical evidence (IDF from the candidates, k1=1.2), the sparse
encoder's document vectors (retrieval/embedders/bm25.py: term weights only, Qdrant applies
the IDF) and the eval's text-layer baseline (IDF from the corpus pages, k1=1.5).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence


def length_norm(length: int, avg_len: float, k1: float, b: float) -> float:
    """`k1 * (1 - b + b * length / avg_len)`: the denominator term of a document's length."""
    return k1 * (1 - b + b * length / avg_len)


def term_weight(tf: int, norm: float, k1: float) -> float:
    """The saturated term frequency `tf * (k1 + 1) / (tf + norm)` (without the IDF)."""
    return tf * (k1 + 1) / (tf + norm)


def idf(n: int, df: int) -> float:
    """`ln(1 + (N - df + 0.5) / (df + 0.5))`: always positive."""
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


class BM25:
    """BM25 over a fixed list of tokenised documents, IDF from those documents; the mean
    length is floored at one token."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75):
        self._setup([Counter(doc) for doc in documents], [len(doc) for doc in documents], k1, b)

    @classmethod
    def of_counts(
        cls,
        counts: Sequence[Mapping[str, int]],
        lengths: Sequence[int],
        k1: float = 1.2,
        b: float = 0.75,
    ) -> BM25:
        """BM25 over documents given as their term counts and token lengths (counted once
        per text by the caller: the lite reranker scores the same candidates query after
        query)."""
        bm25 = cls.__new__(cls)
        bm25._setup(counts, lengths, k1, b)
        return bm25

    def _setup(
        self, counts: Sequence[Mapping[str, int]], lengths: Sequence[int], k1: float, b: float
    ) -> None:
        if len(counts) != len(lengths):
            raise ValueError("one length per document")
        self.k1, self.b = k1, b
        self.counts = counts
        self.lengths = list(lengths)
        self.n = len(counts)
        self.avg_len = max(sum(self.lengths) / self.n, 1.0) if self.n else 1.0
        # Document frequency and IDF on demand: a query needs a handful of the thousands of
        # terms of its candidates.
        self._df: dict[str, int] = {}
        self._idf: dict[str, float] = {}

    def df(self, term: str) -> int:
        """How many of the documents hold the term (counted once)."""
        value = self._df.get(term)
        if value is None:
            value = self._df[term] = sum(1 for c in self.counts if term in c)
        return value

    def idf(self, term: str) -> float:
        """The term's IDF over these documents (computed once)."""
        value = self._idf.get(term)
        if value is None:
            value = self._idf[term] = idf(self.n, self.df(term))
        return value

    def scores(self, query_terms: Sequence[str]) -> list[float]:
        """BM25 of each document for the distinct query terms."""
        terms = set(query_terms)
        weights = {t: self.idf(t) for t in terms if self.df(t)}
        out = []
        for c, length in zip(self.counts, self.lengths, strict=True):
            norm = length_norm(length, self.avg_len, self.k1, self.b)
            # One expression (not idf * term_weight): the same float rounding as ever.
            out.append(
                sum(
                    (
                        weights[t] * c[t] * (self.k1 + 1.0) / (c[t] + norm)
                        for t in weights
                        if c.get(t)
                    ),
                    0.0,
                )
            )
        return out

    def top(self, query_terms: Sequence[str], k: int) -> list[int]:
        """Indices of the k best documents (ties broken by position), zero scores excluded."""
        scored = [(s, i) for i, s in enumerate(self.scores(query_terms)) if s > 0]
        scored.sort(key=lambda si: (-si[0], si[1]))
        return [i for _, i in scored[:k]]
