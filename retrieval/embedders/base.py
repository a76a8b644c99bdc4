"""The Embedder protocol: queries and units into one L2-normalised vector space."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ingest.types import Unit
from retrieval.types import SparseVector

Matrix = npt.NDArray[np.float32]


@runtime_checkable
class Embedder(Protocol):
    """Dense embedder. Outputs are float32, shape (n, dim), rows L2-normalised."""

    name: str
    dim: int

    def embed_queries(self, queries: Sequence[str]) -> Matrix: ...

    def embed_units(self, units: Sequence[Unit]) -> Matrix: ...


@runtime_checkable
class SparseEncoder(Protocol):
    """Sparse (lexical) encoder; Qdrant applies IDF on its side (Modifier.IDF)."""

    name: str

    def encode_queries(self, queries: Sequence[str]) -> list[SparseVector]: ...

    def encode_units(self, units: Sequence[Unit]) -> list[SparseVector]: ...


def l2_normalize(matrix: Matrix) -> Matrix:
    """Rows scaled to unit length (zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    normalized: Matrix = (matrix / np.maximum(norms, 1e-12)).astype(np.float32)
    return normalized
