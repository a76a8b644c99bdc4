"""What both index backends (index_edge.py, index_qdrant.py) share, one implementation each:
the HNSW threshold unit, which channels are quantized, the on-disk size, which points a
request sees (`PointFilter`, translated by each backend into its own filter type) and the
reading of retrieved records."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Set
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from retrieval.config import RetrievalSettings
from retrieval.index import VISUAL, IndexedUnit, VectorLayout
from retrieval.types import SearchFilter, SparseVector

# The payload key of the flag that hides a document until all its units are in.
VISIBLE = "visible"


def threshold_kb(units: int, dim: int) -> int:
    """Qdrant counts index thresholds in kilobytes of float32 vectors: `units` at `dim`."""
    return max(1, math.ceil(units * dim * 4 / 1024))


def graph_m(settings: RetrievalSettings) -> int:
    """HNSW `m` of the segments past the threshold: 0 (no graph: scanned) under "scan"."""
    return 0 if settings.indexed_search == "scan" else settings.hnsw_m


def channel_quantization(channel: str, settings: RetrievalSettings) -> str:
    """ "none", "int8" or "binary" for a dense channel."""
    return settings.visual_quantization if channel == VISUAL else settings.text_quantization


def quantized_channels(layout: VectorLayout, settings: RetrievalSettings) -> set[str]:
    """The dense channels stored quantized (searched with rescoring)."""
    return {ch for ch in layout.dense if channel_quantization(ch, settings) != "none"}


def dir_bytes(path: Path) -> int:
    """Bytes a directory occupies on disk (allocated blocks: the engine's files are sparse)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name)).st_blocks * 512
            except FileNotFoundError:  # a segment file replaced while walking
                continue
    return total


def point_sparse(item: IndexedUnit, layout: VectorLayout) -> SparseVector | None:
    """The sparse vector to store for an item: None when the layout has no sparse channel
    or the item has no terms (a point without it matches no sparse query)."""
    if layout.sparse and item.sparse is not None and item.sparse.indices:
        return item.sparse
    return None


@dataclass(frozen=True, slots=True)
class PointFilter:
    """Which points a request sees, whatever the backend: every condition set must hold.
    `doc_id` is one document; `doc_ids` and `kinds` are sets to match any of."""

    visible_only: bool = False
    doc_id: str | None = None
    doc_ids: tuple[str, ...] | None = None
    kinds: tuple[str, ...] | None = None

    @classmethod
    def search(cls, search_filter: SearchFilter | None, visible_only: bool = True) -> PointFilter:
        """The points a search sees: visible ones (unless told otherwise), restricted to
        the filter's documents and kinds."""
        if search_filter is None:
            return cls(visible_only=visible_only)
        kinds = search_filter.kinds
        return cls(
            visible_only=visible_only,
            doc_ids=search_filter.doc_ids,
            kinds=tuple(k.value for k in kinds) if kinds is not None else None,
        )

    @property
    def restricted(self) -> bool:
        """Whether documents or kinds are restricted (beyond visibility)."""
        return self.doc_id is not None or self.doc_ids is not None or self.kinds is not None

    def equal(self, shown: object) -> list[tuple[str, Any]]:
        """(payload key, value) pairs that must match exactly; `shown` is the backend's
        stored value of a visible point."""
        pairs: list[tuple[str, Any]] = [(VISIBLE, shown)] if self.visible_only else []
        if self.doc_id is not None:
            pairs.append(("doc_id", self.doc_id))
        return pairs

    def without_needless_visibility(self, hidden_docs: Set[str]) -> PointFilter:
        """This filter without its visibility condition where that cannot exclude a point:
        none of the documents it can match has a hidden point (`hidden_docs` holds every
        document that may have one). Checking the condition on each candidate cost about
        a third of stage 1's CPU at 100k units (docs/figures.md)."""
        if not self.visible_only:
            return self
        if self.doc_id is None and self.doc_ids is None:
            return self if hidden_docs else replace(self, visible_only=False)
        docs = {self.doc_id} if self.doc_id is not None else set()
        docs.update(self.doc_ids or ())
        return self if not hidden_docs.isdisjoint(docs) else replace(self, visible_only=False)

    def any_of(self) -> list[tuple[str, list[str]]]:
        """(payload key, values) pairs where the point's value must be one of the values."""
        sets = (("doc_id", self.doc_ids), ("kind", self.kinds))
        return [(key, list(values)) for key, values in sets if values is not None]


class VectorRecord(Protocol):
    """A retrieved point of either backend, with its payload and named vectors."""

    @property
    def payload(self) -> Mapping[str, Any] | None: ...

    @property
    def vector(self) -> Any: ...


def named_vectors(records: Iterable[VectorRecord]) -> dict[str, set[str]]:
    """unit id -> the names of the vectors stored for it, from retrieved records."""
    return {
        r.payload["unit_id"]: {n for n, v in r.vector.items() if v is not None}
        for r in records
        if r.payload and isinstance(r.vector, dict)
    }


class FacetHit(Protocol):
    """One value of a facet (a payload key's value and its point count), either backend."""

    @property
    def value(self) -> Any: ...

    @property
    def count(self) -> int: ...


def facet_counts(
    every: Iterable[FacetHit], shown: Iterable[FacetHit]
) -> dict[str, tuple[int, int]]:
    """doc_id -> (points, visible points) from a doc_id facet over all points and one over
    the visible ones. A value counted 0 is skipped (Qdrant Edge's keyword index keeps a
    deleted document's value with a count of 0)."""
    visible = {str(h.value): int(h.count) for h in shown}
    return {str(h.value): (int(h.count), visible.get(str(h.value), 0)) for h in every if h.count}
