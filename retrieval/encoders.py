"""`Encoders`: the configured visual, text and sparse encoders as one value.

It owns what depends on which channels are on: the index layout they produce, the vectors
of units (for the indexer) and of a query (for the retriever), so no caller walks the
channels one `if` at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ingest.stages import Stage, StageTimes
from ingest.types import Unit
from retrieval.batching import batch_queries
from retrieval.embedders.base import Embedder, Matrix, SparseEncoder
from retrieval.index import SPARSE, TEXT, VISUAL, IndexedUnit, QueryVector, VectorLayout


@dataclass(frozen=True, slots=True)
class Encoders:
    """The encoder of each channel, None where the channel is off."""

    visual: Embedder | None = None
    text: Embedder | None = None
    sparse: SparseEncoder | None = None

    def _dense(self) -> dict[str, Embedder]:
        pairs = ((VISUAL, self.visual), (TEXT, self.text))
        return {name: e for name, e in pairs if e is not None}

    @property
    def layout(self) -> VectorLayout:
        """The collection layout these encoders produce (dims and model names)."""
        dense = self._dense()
        models = {name: e.name for name, e in dense.items()}
        if self.sparse is not None:
            models[SPARSE] = self.sparse.name
        return VectorLayout(
            visual_dim=self.visual.dim if self.visual is not None else None,
            text_dim=self.text.dim if self.text is not None else None,
            sparse=self.sparse is not None,
            models=models,
        )

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels that are on, in the order visual, text, sparse."""
        return self.layout.channels

    def parts(self) -> list[tuple[str, object | None]]:
        """(role, encoder or None when off) of each channel, for loading and health."""
        return [
            ("visual embedder", self.visual),
            ("text embedder", self.text),
            ("sparse encoder", self.sparse),
        ]

    def with_batched_queries(self, lanes: int = 1, backlog: int = 1) -> Encoders:
        """The same encoders, the dense ones micro-batching concurrent queries, `lanes`
        model calls at a time, a further one once `backlog` queries wait
        (retrieval/batching.py); for the retriever of a server."""
        return Encoders(
            batch_queries(self.visual, lanes, backlog),
            batch_queries(self.text, lanes, backlog),
            self.sparse,
        )

    def embed_units(
        self, units: Sequence[Unit], timings: StageTimes | None = None
    ) -> list[IndexedUnit]:
        """Units -> their vectors from every encoder that is on (seconds into `timings`)."""
        timings = timings if timings is not None else StageTimes()
        n = len(units)
        stages = {VISUAL: Stage.VISUAL_VECTORS, TEXT: Stage.TEXT_VECTORS}
        dense: dict[str, Matrix] = {}
        for name, embedder in self._dense().items():
            with timings.measure(stages[name], n):
                dense[name] = embedder.embed_units(units)  # (n, dim)
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

    def embed_query(self, query: str) -> dict[str, QueryVector]:
        """The query's vector for every channel that is on."""
        vectors: dict[str, QueryVector] = {
            name: embedder.embed_queries([query])[0] for name, embedder in self._dense().items()
        }
        if self.sparse is not None:
            vectors[SPARSE] = self.sparse.encode_queries([query])[0]
        return vectors
