"""Typed results of retrieval."""

from __future__ import annotations

from dataclasses import dataclass, field

from ingest.types import Unit, UnitKind


@dataclass(frozen=True, slots=True)
class SparseVector:
    """A sparse vector: sorted unique term ids and their weights."""

    indices: tuple[int, ...]
    values: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class SearchFilter:
    """Restrict a search to some documents and/or unit kinds (None = no restriction)."""

    doc_ids: tuple[str, ...] | None = None
    kinds: tuple[UnitKind, ...] | None = None


@dataclass(frozen=True, slots=True)
class Hit:
    """A retrieved unit with the scores of both stages, for explanation.

    `score` is the final fused score in [0, 1]; `stage1_score` the fused first-stage score;
    `rerank_score` the cross-encoder's raw score (None when no reranker ran); `matched`
    names the vectors whose prefetch found this unit ("visual", "text", "sparse").
    """

    unit: Unit
    score: float
    stage1_score: float
    rerank_score: float | None = None
    matched: tuple[str, ...] = ()
    channel_scores: dict[str, float] = field(default_factory=dict)
