"""The vector index interface: one point per unit, named vectors per channel.

Two backends implement `VectorIndex` and pass one contract suite (tests/support/index_suite.py):
- `retrieval.index_edge.EdgeIndex`: Qdrant Edge, Qdrant's engine in-process (the default);
- `retrieval.index_qdrant.QdrantClientIndex`: qdrant-client, for a server or cluster
  (`MMRAG_QDRANT_URL`); its local mode (a path or ":memory:") speaks the same API.
`retrieval.index_factory.open_index` picks one from the settings.

Points carry the whole unit in their payload, so search results become `Unit`s without the
registry, and a visibility flag that hides a document until all its units are in.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ingest.errors import MMRagError
from ingest.records import from_record, to_record
from ingest.store import blob_key, blob_path
from ingest.types import Unit
from retrieval.types import SearchFilter, SparseVector

VISUAL = "visual"
TEXT = "text"
SPARSE = "sparse"
CHANNELS = (VISUAL, TEXT, SPARSE)

_POINT_NAMESPACE = uuid.UUID("7d0b8a0e-5c1e-4c47-9a39-0f5c3b3e2a61")

Vector = npt.NDArray[np.float32]
QueryVector = Vector | SparseVector
ChannelQueries = Mapping[str, QueryVector]  # channel name -> the query's vector
ChannelHits = dict[str, list["ScoredUnit"]]  # channel name -> its units, best first


class IndexMismatch(MMRagError):
    """The stored index was built differently (other vectors, models or format) than the
    configuration asks for."""


def point_id(unit_id: str) -> str:
    """Deterministic point id of a unit: re-upserting a unit overwrites its point."""
    return str(uuid.uuid5(_POINT_NAMESPACE, unit_id))


@dataclass(frozen=True, slots=True)
class VectorLayout:
    """Which named vectors the index holds (only what the profile produces), with the
    models that make them (stored with the index and checked on open)."""

    visual_dim: int | None = None
    text_dim: int | None = None
    sparse: bool = False
    models: Mapping[str, str] = field(default_factory=dict)

    @property
    def dense(self) -> dict[str, int]:
        """Dense channel name -> dimension."""
        dims = {VISUAL: self.visual_dim, TEXT: self.text_dim}
        return {name: dim for name, dim in dims.items() if dim is not None}

    @property
    def channels(self) -> tuple[str, ...]:
        """Channels present, in the fixed order visual, text, sparse."""
        return tuple(c for c in CHANNELS if c in self.dense or (c == SPARSE and self.sparse))

    def describe(self) -> str:
        """`visual(2048, vlm), text(384, minilm-l6), sparse(bm25)` for error messages."""
        parts = [f"{n}({d}, {self.models.get(n, '?')})" for n, d in self.dense.items()]
        if self.sparse:
            parts.append(f"sparse({self.models.get(SPARSE, '?')})")
        return ", ".join(parts) or "no vectors"

    def to_json(self) -> dict[str, Any]:
        """The layout as stored beside an index."""
        return {
            "visual_dim": self.visual_dim,
            "text_dim": self.text_dim,
            "sparse": self.sparse,
            "models": dict(self.models),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VectorLayout:
        """Inverse of `to_json`."""
        models = data.get("models")
        return cls(
            visual_dim=data.get("visual_dim"),
            text_dim=data.get("text_dim"),
            sparse=bool(data.get("sparse")),
            models=dict(models) if isinstance(models, Mapping) else {},
        )


def check_layout(stored: VectorLayout, wanted: VectorLayout, where: str) -> None:
    """Raise IndexMismatch when `stored` differs from `wanted` in vectors or model names."""
    same_shape = (stored.dense, stored.sparse) == (wanted.dense, wanted.sparse)
    # Same dims from another model would silently mix vector spaces: compare names too.
    same_models = all(
        stored.models.get(ch) == wanted.models.get(ch)
        for ch in wanted.channels
        if ch in stored.models and ch in wanted.models
    )
    if not (same_shape and same_models):
        raise IndexMismatch(
            f"{where} holds {stored.describe()}, but the configured embedders produce "
            f"{wanted.describe()}; use the profile it was built with, set "
            "MMRAG_RETRIEVAL__COLLECTION to a new name, or run `mmrag reindex`"
        )


@dataclass(frozen=True, slots=True)
class IndexedUnit:
    """A unit with its vectors, ready to upsert."""

    unit: Unit
    dense: Mapping[str, Vector]
    sparse: SparseVector | None = None


@dataclass(frozen=True, slots=True)
class ScoredUnit:
    """A unit found by one channel, with that channel's raw score."""

    unit: Unit
    score: float


@dataclass(frozen=True, slots=True)
class UnitPayloads:
    """Units <-> point payloads: everything needed to rebuild the unit (backends add their
    visibility flag). Images are stored as blob keys relative to `blob_root`, never as
    absolute paths, so the index stays valid when the data dir moves or another worker
    mounts the blob store elsewhere; absolute paths written by older versions still
    resolve (ingest.store.blob_path). Without a `blob_root` paths are stored as given."""

    blob_root: Path | None = None

    def payload(self, unit: Unit) -> dict[str, Any]:
        """The payload of a unit: its record, with `unit_id` for `id`."""
        root = self.blob_root
        images = [blob_key(p, root) if root else str(p) for p in unit.images]
        record = to_record(unit, images=images)
        record["unit_id"] = record.pop("id")
        return record

    def unit(self, payload: Mapping[str, Any]) -> Unit:
        """Rebuild a `Unit` from a payload written by `payload`."""
        root = self.blob_root
        stored = payload.get("images") or ()
        # blob_path is memoised; without a root a key is a path as given.
        images = tuple(blob_path(k, root) for k in stored) if root else tuple(map(Path, stored))
        return from_record(Unit, payload, id=payload["unit_id"], images=images)

    def in_order(
        self, payloads: Iterable[Mapping[str, Any] | None], unit_ids: Sequence[str]
    ) -> list[Unit]:
        """The units of retrieved payloads in the order of `unit_ids` (missing ones skipped)."""
        by_id = {p["unit_id"]: self.unit(p) for p in payloads if p}
        return [by_id[u] for u in unit_ids if u in by_id]

    def scored(
        self, points: Iterable[ScoredPayload], built: dict[str, Unit] | None = None
    ) -> list[ScoredUnit]:
        """Search result points -> units with their raw scores, in order. `built` (unit id
        -> Unit) shares the units between the channels of one search: a unit two channels
        found is rebuilt once."""
        built = {} if built is None else built
        out = []
        for p in points:
            payload = p.payload
            if not payload:
                continue
            unit = built.get(payload["unit_id"])
            if unit is None:
                unit = built[payload["unit_id"]] = self.unit(payload)
            out.append(ScoredUnit(unit, float(p.score)))
        return out


def check_vectors(item: IndexedUnit, layout: VectorLayout) -> dict[str, Vector]:
    """The item's dense vectors as float32, checked against the layout (ValueError if not)."""
    out: dict[str, Vector] = {}
    for name, dim in layout.dense.items():
        vec = item.dense.get(name)
        if vec is None:
            raise ValueError(f"unit {item.unit.id}: missing {name!r} vector")
        if vec.shape != (dim,):
            raise ValueError(f"unit {item.unit.id}: {name!r} vector has shape {vec.shape}")
        out[name] = np.asarray(vec, dtype=np.float32)
    return out


def wanted_queries(
    queries: Mapping[str, QueryVector], layout: VectorLayout
) -> dict[str, QueryVector]:
    """The queries worth running: an empty sparse query has no terms and matches nothing.
    Raises ValueError for a channel the index does not have."""
    for channel in queries:
        if channel not in layout.channels:
            raise ValueError(f"the index has no {channel!r} vector (has {layout.channels})")
    return {
        ch: q for ch, q in queries.items() if not (isinstance(q, SparseVector) and not q.indices)
    }


class ScoredPayload(Protocol):
    """A search result point of either backend."""

    @property
    def score(self) -> float: ...

    @property
    def payload(self) -> Mapping[str, Any] | None: ...


def search_batched(
    queries: Mapping[str, QueryVector],
    search_filter: SearchFilter | None,
    layout: VectorLayout,
    run_batch: Callable[[dict[str, QueryVector]], Sequence[list[ScoredUnit]]],
) -> dict[str, list[ScoredUnit]]:
    """The body of every backend's `search_channels`: the queries worth running go to the
    engine in one batch (`run_batch`: their scored units, one list per query, in order);
    a channel skipped, or a filter that matches nothing, gives an empty list."""
    wanted = wanted_queries(queries, layout)
    results: dict[str, list[ScoredUnit]] = {ch: [] for ch in queries}
    if not wanted or matches_nothing(search_filter):
        return results
    for channel, units in zip(wanted, run_batch(wanted), strict=True):
        results[channel] = units
    return results


def matches_nothing(search_filter: SearchFilter | None) -> bool:
    """An empty id or kind list matches nothing: answer without asking the engine."""
    return search_filter is not None and (search_filter.doc_ids == () or search_filter.kinds == ())


@runtime_checkable
class VectorIndex(Protocol):
    """A unit index. Every method may raise BackendUnavailable when the store fails.

    Thread safety: one instance is shared by the API's query threads and the ingest
    worker; each backend documents its lock policy.
    """

    layout: VectorLayout

    def upsert(self, items: Sequence[IndexedUnit], visible: bool = False) -> None:
        """Insert or overwrite the points of `items` (hidden unless `visible`)."""
        ...

    def set_visible(self, doc_id: str, visible: bool = True) -> None:
        """Show (or hide) every point of a document to search, all at once."""
        ...

    def delete_document(self, doc_id: str) -> None:
        """Delete every point of a document (a no-op when it has none)."""
        ...

    def count(self, doc_id: str | None = None, visible_only: bool = False) -> int:
        """Number of points, of one document or all; optionally only the visible ones."""
        ...

    def doc_counts(self) -> dict[str, tuple[int, int]]:
        """doc_id -> (points, visible points), for every document with points."""
        ...

    def get_units(self, unit_ids: Sequence[str]) -> list[Unit]:
        """The stored units with these ids (missing ids are skipped), in the given order."""
        ...

    def vector_names(self, unit_ids: Sequence[str]) -> dict[str, set[str]]:
        """unit id -> the named vectors stored for it (units without a point are skipped)."""
        ...

    def search_channels(
        self, queries: ChannelQueries, search_filter: SearchFilter | None = None, limit: int = 50
    ) -> ChannelHits:
        """Top `limit` visible units per channel with each channel's raw score, best first.
        An empty sparse query skips its channel."""
        ...

    def stored_bytes(self) -> int:
        """Bytes the index occupies on disk (0 when it lives elsewhere)."""
        ...

    def close(self) -> None:
        """Persist what is pending and release the store."""
        ...
