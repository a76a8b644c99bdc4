"""A deterministic, model-free embedder for tests: hashed bag of words.

Texts sharing words get similar vectors, so retrieval tests can assert on relevance without
loading a model. Same input, same vector, in every process.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ingest.types import Unit
from retrieval.embedders.base import Matrix, l2_normalize
from retrieval.terms import term_id, tokenize
from retrieval.unit_text import unit_text


class FakeEmbedder:
    """Feature hashing of tokens into `dim` signed buckets, L2-normalised."""

    def __init__(self, dim: int = 64, name: str = "fake") -> None:
        if dim < 2:
            raise ValueError("dim must be at least 2")
        self.dim = dim
        self.name = name

    def embed_text(self, texts: Sequence[str]) -> Matrix:
        """(n, dim) float32, unit rows; a text without words maps to a fixed unit vector."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in tokenize(text):
                h = term_id(token)
                out[row, h % self.dim] += 1.0 if (h >> 30) & 1 else -1.0
            if not out[row].any():
                out[row, 0] = 1.0
        return l2_normalize(out)

    def embed_queries(self, queries: Sequence[str]) -> Matrix:
        """Queries embedded as plain text."""
        return self.embed_text(queries)

    def embed_units(self, units: Sequence[Unit]) -> Matrix:
        """Units embedded through `unit_text` (header + text)."""
        return self.embed_text([unit_text(u) for u in units])
