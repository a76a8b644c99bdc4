"""The index over qdrant-client: a Qdrant server or cluster (`MMRAG_QDRANT_URL`), or
qdrant-client's local mode (a path or ":memory:", brute force in Python; it stands in for
the server in tests because it speaks the same API).

Points carry a boolean `visible` flag (as every collection made before Qdrant Edge did).
Thread safety: the same gate as the embedded index (retrieval/index_gate.py), except that
in local mode every write holds the gate exclusive (its arrays are not safe to grow while
another thread searches them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ingest.errors import BackendUnavailable
from ingest.types import Unit
from retrieval.config import RetrievalSettings
from retrieval.index import (
    SPARSE,
    TEXT,
    VISUAL,
    ChannelHits,
    ChannelQueries,
    IndexedUnit,
    IndexMismatch,
    QueryVector,
    ScoredUnit,
    UnitPayloads,
    VectorLayout,
    check_layout,
    check_vectors,
    point_id,
    search_batched,
)
from retrieval.index_common import (
    VISIBLE,
    PointFilter,
    channel_quantization,
    dir_bytes,
    facet_counts,
    graph_m,
    named_vectors,
    point_sparse,
    quantized_channels,
    threshold_kb,
)
from retrieval.index_gate import AccessGate
from retrieval.types import SearchFilter, SparseVector

log = logging.getLogger(__name__)


@contextmanager
def _backend(what: str) -> Iterator[None]:
    # Connection failures and server-side errors surface as one typed error naming the
    # backend; request errors raised before sending (bad arguments) are bugs and pass through.
    try:
        yield
    except (ResponseHandlingException, UnexpectedResponse, ConnectionError, TimeoutError) as err:
        raise BackendUnavailable(f"Qdrant {what}: {err}") from err


def open_qdrant_client(
    url: str | None = None,
    api_key: str | None = None,
    path: Path | str | None = None,
    timeout_s: float = 10.0,
) -> QdrantClient:
    """A client for a server when `url` is given (checked reachable), otherwise qdrant-client's
    local mode at `path` (a directory, or ":memory:"). Raises BackendUnavailable with the reason."""
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
    except RuntimeError as err:  # the local store is locked by another process
        raise BackendUnavailable(
            f"local Qdrant at {location} is open in another process ({err}); "
            "stop it, or run a Qdrant server and set MMRAG_QDRANT_URL for shared access"
        ) from err


def is_server(client: QdrantClient) -> bool:
    """Whether the client talks to a Qdrant server rather than local mode."""
    options = client.init_options
    location = options.get("location")
    return bool(options.get("url") or options.get("host")) or (
        location is not None and location != ":memory:"
    )


def _match(key: str, value: str | bool) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))


def _doc_filter(doc_id: str) -> models.Filter:
    return models.Filter(must=[_match("doc_id", doc_id)])


def build_filter(points: PointFilter) -> models.Filter | None:
    """The Qdrant filter of the points a request sees (None when nothing restricts)."""
    must: list[models.Condition] = [_match(key, value) for key, value in points.equal(True)]
    must += [models.FieldCondition(key=k, match=models.MatchAny(any=v)) for k, v in points.any_of()]
    return models.Filter(must=must) if must else None


def _quantization(kind: str) -> models.QuantizationConfig | None:
    if kind == "int8":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        )
    if kind == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    return None


class QdrantClientIndex:
    """One collection of unit points. Creates it on first use, refuses a mismatched one."""

    def __init__(
        self,
        client: QdrantClient,
        settings: RetrievalSettings,
        layout: VectorLayout | None = None,
        *,
        blob_root: Path | None = None,
    ) -> None:
        """`layout` None opens the existing collection with the layout it was created with
        (no model needed: for deletes and health checks); IndexMismatch when there is none."""
        self.client = client
        self.settings = settings
        self.collection = settings.collection
        if layout is None:
            with _backend(f"collection {self.collection!r}"):
                if not client.collection_exists(self.collection):
                    raise IndexMismatch(f"no Qdrant collection {self.collection!r} yet")
                layout = self.existing_layout()
        if not layout.channels:
            raise ValueError("an index needs at least one vector channel")
        self.layout = layout
        self.payloads = UnitPayloads(blob_root)
        self.batch_size = settings.upsert_batch
        self.server = is_server(client)
        # Local mode neither quantizes nor builds HNSW: it searches float vectors exactly.
        self._quantized = quantized_channels(layout, settings) if self.server else set()
        self._gate = AccessGate(f"Qdrant collection {self.collection!r}")
        self._ensure_collection()
        # Local mode only: this process holds the store's lock, so the index sees every
        # write and can track which documents are still hidden. With none hidden, searches
        # skip the `visible` filter, which local mode evaluates point by point in Python
        # (16x the time of a plain dense search at 10k points). A server may have other
        # writers: there the filter is always applied.
        self._hidden_docs: set[str] | None = None if self.server else self._scan_hidden()

    # -- collection ------------------------------------------------------------------------

    def _ensure_collection(self) -> None:
        s = self.settings
        with _backend(f"collection {self.collection!r}"):
            if self.client.collection_exists(self.collection):
                check_layout(
                    self.existing_layout(), self.layout, f"Qdrant collection {self.collection!r}"
                )
                return
            widest = max(self.layout.dense.values(), default=1)
            self.client.create_collection(
                self.collection,
                vectors_config={
                    name: models.VectorParams(
                        size=dim,
                        distance=models.Distance.COSINE,
                        quantization_config=_quantization(channel_quantization(name, s)),
                        on_disk=channel_quantization(name, s) != "none",
                        hnsw_config=models.HnswConfigDiff(
                            m=graph_m(s),
                            ef_construct=s.hnsw_ef_construct,
                            full_scan_threshold=threshold_kb(s.hnsw_threshold, dim),
                        ),
                    )
                    for name, dim in self.layout.dense.items()
                },
                sparse_vectors_config=(
                    {SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)}
                    if self.layout.sparse
                    else None
                ),
                optimizers_config=models.OptimizersConfigDiff(
                    indexing_threshold=threshold_kb(s.hnsw_threshold, widest)
                ),
                metadata={"models": dict(self.layout.models)},
            )
            if self.server:  # local mode has no payload indexes (it warns if asked)
                for key in ("doc_id", "kind"):
                    self.client.create_payload_index(
                        self.collection, key, models.PayloadSchemaType.KEYWORD
                    )
                self.client.create_payload_index(
                    self.collection, VISIBLE, models.PayloadSchemaType.BOOL
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

    def _scan_hidden(self) -> set[str]:
        hidden: set[str] = set()
        offset: Any = None
        while True:
            records, offset = self.client.scroll(
                self.collection,
                scroll_filter=models.Filter(must=[_match(VISIBLE, False)]),
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
        return build_filter(PointFilter.search(search_filter, visible_only))

    def drop(self) -> None:
        """Delete the whole collection (and with it every point)."""
        with self._gate.visible_change(), _backend("drop"):
            self.client.delete_collection(self.collection)

    def close(self) -> None:
        """Release the client (and local mode's file lock); a second close is a no-op."""
        with self._gate.closing() as was_open:
            if was_open:
                self.client.close()

    def stored_bytes(self) -> int:
        """Bytes of local mode's directory (0 for a server or ":memory:")."""
        location = self.client.init_options.get("path")
        return dir_bytes(Path(location)) if location else 0

    # -- writes ----------------------------------------------------------------------------

    def _point(self, item: IndexedUnit, visible: bool) -> models.PointStruct:
        vectors: dict[str, Any] = {
            name: vec.tolist() for name, vec in check_vectors(item, self.layout).items()
        }
        sparse = point_sparse(item, self.layout)
        if sparse is not None:
            vectors[SPARSE] = models.SparseVector(
                indices=list(sparse.indices), values=list(sparse.values)
            )
        payload = self.payloads.payload(item.unit)
        payload[VISIBLE] = visible
        return models.PointStruct(id=point_id(item.unit.id), vector=vectors, payload=payload)

    def upsert(self, items: Sequence[IndexedUnit], visible: bool = False) -> None:
        """Insert or overwrite the points of `items` (id = uuid5 of the unit id), in batches."""
        # Local mode's arrays are not safe to grow while another thread searches them
        # (IndexError mid-search): there every write holds the gate exclusive.
        hidden_ok = self.server and not visible
        gate = self._gate.writing if hidden_ok else self._gate.visible_change
        for start in range(0, len(items), self.batch_size):
            batch = [self._point(i, visible) for i in items[start : start + self.batch_size]]
            with gate(), _backend("upsert"):
                self.client.upsert(self.collection, points=batch, wait=True)
        if self._hidden_docs is not None and not visible:
            self._hidden_docs.update(i.unit.doc_id for i in items)

    def set_visible(self, doc_id: str, visible: bool = True) -> None:
        """Show (or hide) every point of a document to search."""
        with self._gate.visible_change(), _backend("set_payload"):
            self.client.set_payload(
                self.collection, payload={VISIBLE: visible}, points=_doc_filter(doc_id), wait=True
            )
            if self._hidden_docs is not None and visible:
                self._hidden_docs.discard(doc_id)
            elif self._hidden_docs is not None:
                self._hidden_docs.add(doc_id)

    def delete_document(self, doc_id: str) -> None:
        """Delete every point of a document (a no-op when it has none)."""
        with self._gate.visible_change(), _backend("delete"):
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
        points = PointFilter(visible_only=visible_only, doc_id=doc_id)
        with self._gate.shared(), _backend("count"):
            result = self.client.count(
                self.collection, count_filter=build_filter(points), exact=True
            )
        return int(result.count)

    def doc_counts(self) -> dict[str, tuple[int, int]]:
        """doc_id -> (points, visible points)."""
        with self._gate.shared(), _backend("facet"):
            limit = max(1, self.client.count(self.collection, exact=True).count)
            every = self.client.facet(self.collection, "doc_id", limit=limit, exact=True)
            shown = self.client.facet(
                self.collection,
                "doc_id",
                limit=limit,
                exact=True,
                facet_filter=build_filter(PointFilter(visible_only=True)),
            )
        return facet_counts(every.hits, shown.hits)

    def get_units(self, unit_ids: Sequence[str]) -> list[Unit]:
        """The stored units with these ids (missing ids are skipped), in the given order."""
        with self._gate.shared(), _backend("retrieve"):
            records = self.client.retrieve(
                self.collection, ids=[point_id(u) for u in unit_ids], with_payload=True
            )
        return self.payloads.in_order((r.payload for r in records), unit_ids)

    def vector_names(self, unit_ids: Sequence[str]) -> dict[str, set[str]]:
        """unit id -> the named vectors stored for it."""
        with self._gate.shared(), _backend("retrieve"):
            records = self.client.retrieve(
                self.collection, ids=[point_id(u) for u in unit_ids], with_vectors=True
            )
        return named_vectors(records)

    def _request(
        self, channel: str, query: QueryVector, query_filter: models.Filter | None, limit: int
    ) -> models.QueryRequest:
        params = None
        if isinstance(query, SparseVector):
            q: Any = models.SparseVector(indices=list(query.indices), values=list(query.values))
        else:
            q = np.asarray(query, dtype=np.float32).tolist()
        if self.server and not isinstance(query, SparseVector):  # local mode has no params
            params = models.SearchParams(
                hnsw_ef=self.settings.hnsw_ef,
                quantization=models.QuantizationSearchParams(
                    rescore=True, oversampling=self.settings.quantization_oversampling
                )
                if channel in self._quantized
                else None,
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
        self, queries: ChannelQueries, search_filter: SearchFilter | None = None, limit: int = 50
    ) -> ChannelHits:
        """Top `limit` visible units per channel, all channels in ONE batched Query API call."""

        def run(wanted: dict[str, QueryVector]) -> list[list[ScoredUnit]]:
            with self._gate.shared(), _backend("query"):
                query_filter = self.search_filter(search_filter)
                requests = [self._request(ch, q, query_filter, limit) for ch, q in wanted.items()]
                responses = self.client.query_batch_points(self.collection, requests=requests)
            built: dict[str, Unit] = {}  # a unit two channels found is rebuilt once
            return [self.payloads.scored(r.points, built) for r in responses]

        return search_batched(queries, search_filter, self.layout, run)
