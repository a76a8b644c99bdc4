"""Lexical evidence over a small candidate set (what a reranker sees): BM25 with IDF from the
candidates themselves, and query-term coverage of a short text."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence


def bm25_scores(
    query_terms: Sequence[str],
    documents: Sequence[Sequence[str]],
    k1: float = 1.2,
    b: float = 0.75,
) -> list[float]:
    """BM25 of each tokenised document for the distinct query terms, with IDF
    `ln(1 + (N - df + 0.5) / (df + 0.5))` over `documents` (always positive)."""
    terms = set(query_terms)
    n = len(documents)
    if not terms or n == 0:
        return [0.0] * n
    counts = [Counter(doc) for doc in documents]
    lengths = [len(doc) for doc in documents]
    avg_len = max(sum(lengths) / n, 1.0)
    idf = {}
    for term in terms:
        df = sum(1 for c in counts if term in c)
        idf[term] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
    scores = []
    for c, length in zip(counts, lengths, strict=True):
        norm = k1 * (1.0 - b + b * length / avg_len)
        scores.append(sum(idf[t] * c[t] * (k1 + 1.0) / (c[t] + norm) for t in terms if c[t] > 0))
    return scores


def coverage(query_terms: Sequence[str], text_terms: Sequence[str]) -> float:
    """Share of the distinct query terms that occur in the text, in [0, 1]."""
    wanted = set(query_terms)
    if not wanted:
        return 0.0
    return len(wanted & set(text_terms)) / len(wanted)
