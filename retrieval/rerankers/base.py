"""The Reranker protocol: a cross-encoder score per (query, unit) pair."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ingest.types import Unit


@runtime_checkable
class Reranker(Protocol):
    """Higher is more relevant. Scores are comparable within one call only."""

    name: str

    def score(self, query: str, units: Sequence[Unit]) -> list[float]: ...
