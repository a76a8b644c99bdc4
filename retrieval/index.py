"""The Qdrant index: one collection, one point per unit, named vectors per channel.

The same calls run against `:memory:`, an embedded local path and a server (URL + API key).
Points carry the whole unit in their payload, so search results become `Unit`s without the
registry, and a `visible` flag that hides a document until all its units are in.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException

from ingest.errors import BackendUnavailable, MMRagError
from ingest.types import Unit, UnitKind
from retrieval.config import RetrievalSettings
from retrieval.types import SearchFilter, SparseVector

log = logging.getLogger(__name__)

VISUAL = "visual"
TEXT = "text"
SPARSE = "sparse"
CHANNELS = (VISUAL, TEXT, SPARSE)

_POINT_NAMESPACE = uuid.UUID("7d0b8a0e-5c1e-4c47-9a39-0f5c3b3e2a61")

Vector = npt.NDArray[np.float32]
QueryVector = Vector | SparseVector


class IndexMismatch(MMRagError):
    """The existing collection was built with other vectors than the configured embedders."""


def point_id(unit_id: str) -> str:
    """Deterministic Qdrant point id of a unit: re-upserting a unit overwrites its point."""
    return str(uuid.uuid5(_POINT_NAMESPACE, unit_id))


@contextmanager
def _backend(what: str) -> Iterator[None]:
    # Connection failures surface as one typed error naming the backend; request errors
    # (bad filter, wrong vector name) are bugs and pass through.
    try:
        yield
    except (ResponseHandlingException, ConnectionError, TimeoutError) as err:
        raise BackendUnavailable(f"Qdrant {what}: {err}") from err


def open_qdrant_client(
    url: str | None = None,
    api_key: str | None = None,
    path: Path | str | None = None,
    timeout_s: float = 10.0,
) -> QdrantClient:
    """A client for a server when `url` is given (checked reachable), otherwise the embedded
    index at `path` (a directory, or ":memory:"). Raises BackendUnavailable with the reason."""
    if url:
        # Reachability is checked below; the version probe would only add a warning when down.
        client = QdrantClient(
            url=url, api_key=api_key, timeout=int(timeout_s), check_compatibility=False
        )
        try:
            client.get_collections()
        except Exception as err:  # refused, DNS, TLS, auth: all mean "not usable"
            client.close()
            raise BackendUnavailable(
                f"Qdrant server at {url} is not reachable ({type(err).__name__}: {err}); "
                "start it (docker compose up qdrant) or unset MMRAG_QDRANT_URL to use the embedded index"
            ) from err
        return client
    location = str(path) if path is not None else ":memory:"
    if location == ":memory:":
        return QdrantClient(location=":memory:")
    Path(location).mkdir(parents=True, exist_ok=True)
    try:
        return QdrantClient(path=location)
    except RuntimeError as err:  # the embedded store is locked by another process
        raise BackendUnavailable(
            f"embedded Qdrant at {location} is open in another process ({err}); "
            "stop it, or run a Qdrant server and set MMRAG_QDRANT_URL for shared access"
        ) from err


def is_server(client: QdrantClient) -> bool:
    """Whether the client talks to a Qdrant server rather than the embedded engine."""
    options = client.init_options
    location = options.get("location")
    return bool(options.get("url") or options.get("host")) or (
        location is not None and location != ":memory:"
    )


@dataclass(frozen=True, slots=True)
class VectorLayout:
    """Which named vectors the collection holds (only what the profile produces), with the
    models that make them (stored as collection metadata and checked on open)."""

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


def unit_payload(unit: Unit, visible: bool) -> dict[str, Any]:
    """Everything needed to rebuild the unit, plus the visibility flag."""
    return {
        "unit_id": unit.id,
        "doc_id": unit.doc_id,
        "kind": unit.kind.value,
        "ordinal": unit.ordinal,
        "file_name": unit.file_name,
        "text": unit.text,
        "images": [str(p) for p in unit.images],
        "page": unit.page,
        "start_s": unit.start_s,
        "end_s": unit.end_s,
        "text_source": unit.text_source,
        "visible": visible,
    }


def unit_from_payload(payload: Mapping[str, Any]) -> Unit:
    """Rebuild a `Unit` from a point payload written by `unit_payload`."""
    return Unit(
        id=payload["unit_id"],
        doc_id=payload["doc_id"],
        kind=UnitKind(payload["kind"]),
        ordinal=int(payload["ordinal"]),
        file_name=payload["file_name"],
        text=payload.get("text") or "",
        images=tuple(Path(p) for p in payload.get("images") or ()),
        page=payload.get("page"),
        start_s=payload.get("start_s"),
        end_s=payload.get("end_s"),
        text_source=payload.get("text_source") or "",
    )


def _match(key: str, value: str | bool) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _doc_filter(doc_id: str) -> models.Filter:
    return models.Filter(must=[_match("doc_id", doc_id)])


def build_filter(
    search_filter: SearchFilter | None, visible_only: bool = True
) -> models.Filter | None:
    """Qdrant filter: visible points, restricted to the filter's documents and kinds
    (None when nothing restricts)."""
    must: list[models.Condition] = [_match("visible", True)] if visible_only else []
    if search_filter is not None:
        if search_filter.doc_ids is not None:
            must.append(
                models.FieldCondition(
                    key="doc_id", match=models.MatchAny(any=list(search_filter.doc_ids))
                )
            )
        if search_filter.kinds is not None:
            kinds = [k.value for k in search_filter.kinds]
            must.append(models.FieldCondition(key="kind", match=models.MatchAny(any=kinds)))
    return models.Filter(must=must) if must else None


def _is_empty(search_filter: SearchFilter | None) -> bool:
    # MatchAny([]) matches nothing; answer that without a round trip.
    return search_filter is not None and (search_filter.doc_ids == () or search_filter.kinds == ())


def _quantization(kind: str) -> models.QuantizationConfig | None:
    if kind == "scalar":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8, always_ram=True)
        )
    if kind == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    return None


class QdrantIndex:
    """One collection of unit points. Creates it on first use, refuses a mismatched one."""

    def __init__(
        self, client: QdrantClient, settings: RetrievalSettings, layout: VectorLayout
    ) -> None:
        if not layout.channels:
            raise ValueError("an index needs at least one vector channel")
        self.client = client
        self.collection = settings.collection
        self.layout = layout
        self.batch_size = settings.upsert_batch
        self.server = is_server(client)
        self.quantization = settings.quantization if self.server else "none"
        self._ensure_collection()
        # Embedded mode only: this process holds the store's lock, so the index sees every
        # write and can track which documents are still hidden. With none hidden, searches
        # skip the `visible` filter, which the embedded engine evaluates point by point in
        # Python (16x the time of a plain dense search at 10k points). A server may have
        # other writers: there the filter is always applied.
        self._hidden_docs: set[str] | None = None if self.server else self._scan_hidden()

    # -- collection ------------------------------------------------------------------------

    def _ensure_collection(self) -> None:
        with _backend(f"collection {self.collection!r}"):
            if self.client.collection_exists(self.collection):
                self._check_layout()
                return
            self.client.create_collection(
                self.collection,
                vectors_config={
                    name: models.VectorParams(size=dim, distance=models.Distance.COSINE)
                    for name, dim in self.layout.dense.items()
                },
                sparse_vectors_config=(
                    {SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)}
                    if self.layout.sparse
                    else None
                ),
                quantization_config=_quantization(self.quantization),
                metadata={"models": dict(self.layout.models)},
            )
            if self.server:  # the embedded engine has no payload indexes (it warns if asked)
                for key in ("doc_id", "kind"):
                    self.client.create_payload_index(
                        self.collection, key, models.PayloadSchemaType.KEYWORD
                    )
                self.client.create_payload_index(
                    self.collection, "visible", models.PayloadSchemaType.BOOL
                )
        log.info("created collection %s: %s", self.collection, self.layout.describe())

    def existing_layout(self) -> VectorLayout:
        """The layout the stored collection was created with."""
        info = self.client.get_collection(self.collection)
        vectors = info.config.params.vectors
        dense = {
            name: params.size
            for name, params in (vectors.items() if isinstance(vectors, Mapping) else [])
        }
        metadata = info.config.metadata or {}
        stored_models = metadata.get("models")
        return VectorLayout(
            visual_dim=dense.get(VISUAL),
            text_dim=dense.get(TEXT),
            sparse=SPARSE in (info.config.params.sparse_vectors or {}),
            models=dict(stored_models) if isinstance(stored_models, Mapping) else {},
        )

    def _check_layout(self) -> None:
        stored = self.existing_layout()
        same_shape = (stored.dense, stored.sparse) == (self.layout.dense, self.layout.sparse)
        # Same dims from another model would silently mix vector spaces: compare names too.
        same_models = all(
            stored.models.get(ch) == self.layout.models.get(ch)
            for ch in self.layout.channels
            if ch in stored.models and ch in self.layout.models
        )
        if not (same_shape and same_models):
            raise IndexMismatch(
                f"Qdrant collection {self.collection!r} holds {stored.describe()}, but the "
                f"configured embedders produce {self.layout.describe()}; use the profile it "
                "was built with, set MMRAG_RETRIEVAL__COLLECTION to a new name, or delete "
                "the collection and ingest again"
            )

    def _scan_hidden(self) -> set[str]:
        hidden: set[str] = set()
        offset: Any = None
        while True:
            records, offset = self.client.scroll(
                self.collection,
                scroll_filter=models.Filter(must=[_match("visible", False)]),
                limit=1000,
                offset=offset,
                with_payload=["doc_id"],
            )
            hidden.update(str(r.payload["doc_id"]) for r in records if r.payload)
            if offset is None:
                return hidden

    def search_filter(self, search_filter: SearchFilter | None) -> models.Filter | None:
        """The Qdrant filter a search runs with (the visibility condition included only
        where some document may still be hidden)."""
        visible_only = self._hidden_docs is None or bool(self._hidden_docs)
        return build_filter(search_filter, visible_only)

    def drop(self) -> None:
        """Delete the whole collection (and with it every point)."""
        with _backend("drop"):
            self.client.delete_collection(self.collection)

    def close(self) -> None:
        """Release the client (and the embedded store's file lock)."""
        self.client.close()

    # -- writes ----------------------------------------------------------------------------

    def _point(self, item: IndexedUnit, visible: bool) -> models.PointStruct:
        vectors: dict[str, Any] = {}
        for name in self.layout.dense:
            vec = item.dense.get(name)
            if vec is None:
                raise ValueError(f"unit {item.unit.id}: missing {name!r} vector")
            if vec.shape != (self.layout.dense[name],):
                raise ValueError(f"unit {item.unit.id}: {name!r} vector has shape {vec.shape}")
            vectors[name] = vec.astype(np.float32).tolist()
        if self.layout.sparse and item.sparse is not None and item.sparse.indices:
            vectors[SPARSE] = models.SparseVector(
                indices=list(item.sparse.indices), values=list(item.sparse.values)
            )
        return models.PointStruct(
            id=point_id(item.unit.id), vector=vectors, payload=unit_payload(item.unit, visible)
        )

    def upsert(self, items: Sequence[IndexedUnit], visible: bool = False) -> None:
        """Insert or overwrite the points of `items` (id = uuid5 of the unit id), in batches."""
        with _backend("upsert"):
            for start in range(0, len(items), self.batch_size):
                batch = [self._point(i, visible) for i in items[start : start + self.batch_size]]
                self.client.upsert(self.collection, points=batch, wait=True)
        if self._hidden_docs is not None and not visible:
            self._hidden_docs.update(i.unit.doc_id for i in items)

    def set_visible(self, doc_id: str, visible: bool = True) -> None:
        """Show (or hide) every point of a document to search."""
        with _backend("set_payload"):
            self.client.set_payload(
                self.collection, payload={"visible": visible}, points=_doc_filter(doc_id), wait=True
            )
        if self._hidden_docs is not None and visible:
            self._hidden_docs.discard(doc_id)
        elif self._hidden_docs is not None:
            self._hidden_docs.add(doc_id)

    def delete_document(self, doc_id: str) -> None:
        """Delete every point of a document (a no-op when it has none)."""
        with _backend("delete"):
            self.client.delete(
                self.collection,
                points_selector=models.FilterSelector(filter=_doc_filter(doc_id)),
                wait=True,
            )
        if self._hidden_docs is not None:
            self._hidden_docs.discard(doc_id)

    # -- reads -----------------------------------------------------------------------------

    def count(self, doc_id: str | None = None, visible_only: bool = False) -> int:
        """Number of points, of one document or all; optionally only the visible ones."""
        must: list[models.Condition] = []
        if doc_id is not None:
            must.append(_match("doc_id", doc_id))
        if visible_only:
            must.append(_match("visible", True))
        with _backend("count"):
            result = self.client.count(
                self.collection, count_filter=models.Filter(must=must) if must else None, exact=True
            )
        return int(result.count)

    def get_units(self, unit_ids: Sequence[str]) -> list[Unit]:
        """The stored units with these ids (missing ids are skipped), in the given order."""
        with _backend("retrieve"):
            records = self.client.retrieve(
                self.collection, ids=[point_id(u) for u in unit_ids], with_payload=True
            )
        by_id = {r.payload["unit_id"]: unit_from_payload(r.payload) for r in records if r.payload}
        return [by_id[u] for u in unit_ids if u in by_id]

    def _request(
        self, channel: str, query: QueryVector, query_filter: models.Filter | None, limit: int
    ) -> models.QueryRequest:
        if channel not in self.layout.channels:
            raise ValueError(f"the index has no {channel!r} vector (has {self.layout.channels})")
        if isinstance(query, SparseVector):
            q: Any = models.SparseVector(indices=list(query.indices), values=list(query.values))
        else:
            q = np.asarray(query, dtype=np.float32).tolist()
        params = None
        if self.quantization != "none" and channel != SPARSE:
            params = models.SearchParams(
                quantization=models.QuantizationSearchParams(rescore=True, oversampling=2.0)
            )
        return models.QueryRequest(
            query=q,
            using=channel,
            filter=query_filter,
            limit=limit,
            params=params,
            with_payload=True,
        )

    def search_channels(
        self,
        queries: Mapping[str, QueryVector],
        search_filter: SearchFilter | None = None,
        limit: int = 50,
    ) -> dict[str, list[ScoredUnit]]:
        """Top `limit` visible units per channel, all channels in ONE batched Query API call.

        `queries` maps a channel name to its query vector; an empty sparse query skips its
        channel (no terms, nothing to match).
        """
        wanted = {
            ch: q
            for ch, q in queries.items()
            if not (isinstance(q, SparseVector) and not q.indices)
        }
        results: dict[str, list[ScoredUnit]] = {ch: [] for ch in queries}
        if not wanted or _is_empty(search_filter):
            return results
        query_filter = self.search_filter(search_filter)
        channels = list(wanted)
        requests = [self._request(ch, wanted[ch], query_filter, limit) for ch in channels]
        with _backend("query"):
            responses = self.client.query_batch_points(self.collection, requests=requests)
        for channel, response in zip(channels, responses, strict=True):
            results[channel] = [
                ScoredUnit(unit_from_payload(p.payload), float(p.score))
                for p in response.points
                if p.payload is not None
            ]
        return results
