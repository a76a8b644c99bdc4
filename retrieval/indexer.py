"""The ingest pipeline's `UnitSink`: embed units with every configured encoder, upsert them
hidden, and show a document to search only once all its units are in."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ingest.stages import Stage, StageTimes
from ingest.types import Document, Unit
from retrieval.embedders.base import Embedder, SparseEncoder
from retrieval.index import SPARSE, TEXT, VISUAL, IndexedUnit, VectorIndex, VectorLayout

log = logging.getLogger(__name__)


def layout_for(
    visual: Embedder | None, text: Embedder | None, sparse: SparseEncoder | None
) -> VectorLayout:
    """The collection layout these encoders produce (dims and model names)."""
    names: dict[str, str] = {}
    if visual is not None:
        names[VISUAL] = visual.name
    if text is not None:
        names[TEXT] = text.name
    if sparse is not None:
        names[SPARSE] = sparse.name
    return VectorLayout(
        visual_dim=visual.dim if visual is not None else None,
        text_dim=text.dim if text is not None else None,
        sparse=sparse is not None,
        models=names,
    )


@runtime_checkable
class UnitWarmer(Protocol):
    """Something that precomputes per-unit work at ingest (e.g. a reranker's vectors)."""

    def warm(self, units: Sequence[Unit]) -> None: ...


class UnitIndexer:
    """Implements ingest.pipeline.UnitSink over a VectorIndex."""

    def __init__(
        self,
        index: VectorIndex,
        visual: Embedder | None = None,
        text: Embedder | None = None,
        sparse: SparseEncoder | None = None,
        warmers: Sequence[UnitWarmer] = (),
    ) -> None:
        expected = layout_for(visual, text, sparse)
        if (expected.dense, expected.sparse) != (index.layout.dense, index.layout.sparse):
            raise ValueError(
                f"encoders produce {expected.describe()} but the index holds {index.layout.describe()}"
            )
        self.index = index
        self.visual = visual
        self.text = text
        self.sparse = sparse
        self.warmers = tuple(warmers)

    def embed(self, units: Sequence[Unit], timings: StageTimes | None = None) -> list[IndexedUnit]:
        """Units -> their vectors from every configured encoder (seconds into `timings`)."""
        timings = timings if timings is not None else StageTimes()
        n = len(units)
        dense = {}
        if self.visual is not None:
            with timings.measure(Stage.VISUAL_VECTORS, n):
                dense[VISUAL] = self.visual.embed_units(units)
        if self.text is not None:
            with timings.measure(Stage.TEXT_VECTORS, n):
                dense[TEXT] = self.text.embed_units(units)
        sparse = None
        if self.sparse is not None:
            with timings.measure(Stage.SPARSE, n):
                sparse = self.sparse.encode_units(units)
        return [
            IndexedUnit(
                unit=unit,
                dense={name: matrix[row] for name, matrix in dense.items()},
                sparse=sparse[row] if sparse is not None else None,
            )
            for row, unit in enumerate(units)
        ]

    def add(self, doc: Document, units: Sequence[Unit]) -> StageTimes:
        """Embed and upsert units, invisible to search until `publish`; returns the
        seconds per stage (vectors, reranker windows, index)."""
        timings = StageTimes()
        if not units:
            return timings
        embedded = self.embed(units, timings)
        with timings.measure(Stage.INDEX, len(units)):
            self.index.upsert(embedded, visible=False)
        for warmer in self.warmers:
            with timings.measure(Stage.WINDOWS, len(units)):
                warmer.warm(units)
        log.debug("%s: indexed %d units", doc.file_name, len(units))
        return timings

    def publish(self, doc_id: str) -> None:
        """Make every unit of the document searchable."""
        self.index.set_visible(doc_id, True)

    def remove(self, doc_id: str) -> None:
        """Delete every point of the document."""
        self.index.delete_document(doc_id)
