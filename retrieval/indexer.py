"""The ingest pipeline's `UnitSink`: embed units with every configured encoder, upsert them
hidden, and show a document to search only once all its units are in."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ingest.stages import Stage, StageTimes
from ingest.types import Document, Unit
from retrieval.encoders import Encoders
from retrieval.index import IndexedUnit, VectorIndex

log = logging.getLogger(__name__)


@runtime_checkable
class UnitWarmer(Protocol):
    """Something that precomputes per-unit work at ingest (e.g. a reranker's vectors)."""

    def warm(self, units: Sequence[Unit]) -> None: ...


class UnitIndexer:
    """Implements ingest.pipeline.UnitSink over a VectorIndex."""

    def __init__(
        self, index: VectorIndex, encoders: Encoders, warmers: Sequence[UnitWarmer] = ()
    ) -> None:
        expected = encoders.layout
        if (expected.dense, expected.sparse) != (index.layout.dense, index.layout.sparse):
            raise ValueError(
                f"encoders produce {expected.describe()} but the index holds {index.layout.describe()}"
            )
        self.index = index
        self.encoders = encoders
        self.warmers = tuple(warmers)

    def embed(self, units: Sequence[Unit], timings: StageTimes | None = None) -> list[IndexedUnit]:
        """Units -> their vectors from every configured encoder (seconds into `timings`)."""
        return self.encoders.embed_units(units, timings)

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
