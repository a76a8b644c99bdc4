"""The embedded index: Qdrant Edge (`qdrant-edge-py`), Qdrant's own engine in-process.

One shard directory per collection (`<data_dir>/edge/<collection>/`), with a write-ahead
log: every update is in the WAL before the call returns, so a killed process loses nothing
it was told was written, and a restart replays the log. Beside the shard, `mmrag.json`
records the vector layout and the models that made it (checked on open).

Search is exact while the index is small; once a segment holds `hnsw_threshold` units
(Qdrant's own indexing threshold, converted from units to the kilobytes it counts in)
`optimize` rebuilds it with its quantized vectors (int8, binary) and, per
`indexed_search`, either no graph ("scan": searches scan the quantized vectors and rescore
with the float originals) or an HNSW graph. `optimize` runs after each publish and is a
no-op below the threshold; smaller indexes are searched exactly over the float vectors.
Searches skip the visibility condition for documents with no hidden point (`_hidden`).
The units of found points come from an LRU of built units (retrieval/unit_cache.py) or
from one payload read.

Thread safety: see retrieval/index_gate.py.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Hashable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ingest.errors import BackendUnavailable
from ingest.types import Unit
from retrieval.config import RetrievalSettings
from retrieval.index import (
    SPARSE,
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
from retrieval.shard_lock import IN_USE, ShardLock
from retrieval.types import SearchFilter, SparseVector
from retrieval.unit_cache import UnitCache

log = logging.getLogger(__name__)

LAYOUT_FILE = "mmrag.json"
FORMAT = 1
# Qdrant Edge 0.9 reads a Python bool in MatchValue as an integer, so a bool payload never
# matches: visibility is stored as 1/0.
_SHOWN, _HIDDEN = 1, 0
FLUSH_EVERY_S = 30.0
PointId = int | uuid.UUID | str  # what the engine takes and returns as a point's id


def point_key(pid: PointId) -> int:
    """A point id as the int the search path keys it by (our ids are UUIDs, whose hash and
    equality run in Python; an int's run in C)."""
    if isinstance(pid, uuid.UUID):
        return pid.int
    return uuid.UUID(pid).int if isinstance(pid, str) else pid


def _bug(err: Exception) -> bool:
    # The engine raises plain `Exception` for store failures; these come from our own calls.
    return isinstance(err, (TypeError, ValueError, AttributeError, KeyError, IndexError))


def _quantization(kind: str) -> Any:
    if kind == "int8":
        return qe.ScalarQuantizationConfig(
            type=qe.ScalarType.Int8, quantile=0.99, memory=qe.Memory.Pinned
        )
    if kind == "binary":
        return qe.BinaryQuantizationConfig(memory=qe.Memory.Pinned)
    return None


def edge_config(layout: VectorLayout, settings: RetrievalSettings) -> qe.EdgeConfig:
    """The shard configuration for a layout: cosine dense vectors (quantized ones keep their
    float originals on disk for rescoring), IDF sparse vectors, HNSW from the threshold."""
    vectors = {}
    for name, dim in layout.dense.items():
        quantized = channel_quantization(name, settings) != "none"
        vectors[name] = qe.EdgeVectorParams(
            size=dim,
            distance=qe.Distance.Cosine,
            quantization_config=_quantization(channel_quantization(name, settings)),
            memory=qe.Memory.Cold if quantized else None,
            # A filtered search touching fewer than the threshold's units scans them exactly.
            hnsw_config=qe.HnswIndexConfig(
                m=graph_m(settings),
                ef_construct=settings.hnsw_ef_construct,
                full_scan_threshold=threshold_kb(settings.hnsw_threshold, dim),
            ),
        )
    sparse = (
        {SPARSE: qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf)} if layout.sparse else None
    )
    # A segment is indexed once ANY of its vectors passes the threshold: the widest decides.
    widest = max(layout.dense.values(), default=1)
    return qe.EdgeConfig(
        vectors=vectors or None,
        sparse_vectors=sparse,
        optimizers=qe.EdgeOptimizersConfig(
            indexing_threshold=threshold_kb(settings.hnsw_threshold, widest)
        ),
    )


def _match(key: str, value: str | int) -> qe.FieldCondition:
    return qe.FieldCondition(key=key, match=qe.MatchValue(value))


def build_filter(points: PointFilter) -> qe.Filter | None:
    """The Edge filter of the points a request sees (None when nothing restricts)."""
    must: list[Any] = [_match(key, value) for key, value in points.equal(_SHOWN)]
    must += [qe.FieldCondition(key=k, match=qe.MatchAny(v)) for k, v in points.any_of()]
    return qe.Filter(must=must) if must else None


def _doc_filter(doc_id: str) -> qe.Filter:
    return qe.Filter(must=[_match("doc_id", doc_id)])


def read_layout(shard_dir: Path) -> VectorLayout | None:
    """The layout recorded beside a shard (None when there is no shard)."""
    path = shard_dir / LAYOUT_FILE
    if not path.is_file():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise IndexMismatch(
            f"index at {shard_dir} has format {data.get('format')!r} (this version reads "
            f"{FORMAT}); run `mmrag reindex` to rebuild it from the registry and blobs"
        )
    return VectorLayout.from_json(data["layout"])


def _write_layout(shard_dir: Path, layout: VectorLayout) -> None:
    shard_dir.mkdir(parents=True, exist_ok=True)
    tmp = shard_dir / (LAYOUT_FILE + ".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "layout": layout.to_json()}), encoding="utf-8")
    os.replace(tmp, shard_dir / LAYOUT_FILE)


class EdgeIndex:
    """A Qdrant Edge shard of unit points. Creates it on first use, refuses a mismatched one."""

    def __init__(
        self,
        path: Path,
        settings: RetrievalSettings,
        layout: VectorLayout | None = None,
        *,
        blob_root: Path | None = None,
    ) -> None:
        """`layout` None opens the existing shard with the layout stored beside it (no
        model needed: for deletes and health checks); IndexMismatch when there is none."""
        self.path = Path(path)
        if layout is None:
            layout = read_layout(self.path)
            if layout is None:
                raise IndexMismatch(f"no index at {self.path} yet (ingest something first)")
        if not layout.channels:
            raise ValueError("an index needs at least one vector channel")
        self.layout = layout
        self.payloads = UnitPayloads(blob_root)
        self.settings = settings
        self.batch_size = settings.upsert_batch
        self._gate = AccessGate(f"embedded index at {self.path}")
        self._quantized = quantized_channels(layout, settings)
        # Every document that may have a hidden point. This process alone writes the shard
        # (ShardLock), so it knows them all; searches restricted to other documents skip
        # the visibility condition. Changed only with the gate exclusive, read shared.
        self._hidden: set[str] = set()
        # Units built from payloads, by point id: invalidated by every write that changes a
        # payload (upsert, delete); see retrieval/unit_cache.py.
        self.units = UnitCache(settings.unit_cache)
        self._lock = ShardLock(self.path)
        try:
            self.shard = self._open()
            self._hidden = self._hidden_docs()
        except BaseException:
            self._lock.release()
            raise
        self._flushed_at = time.monotonic()

    # -- opening ---------------------------------------------------------------------------

    def _open(self) -> qe.EdgeShard:
        config = edge_config(self.layout, self.settings)
        stored = read_layout(self.path)
        try:
            if stored is None:
                if (self.path / "segments").exists():
                    raise IndexMismatch(
                        f"{self.path} holds a Qdrant Edge shard without its {LAYOUT_FILE}; "
                        "run `mmrag reindex` to rebuild it from the registry and blobs"
                    )
                _write_layout(self.path, self.layout)  # first, so a shard never lacks it
                shard = qe.EdgeShard.create(str(self.path), config)
                for key, schema in (
                    ("doc_id", qe.PayloadSchemaType.Keyword),
                    ("kind", qe.PayloadSchemaType.Keyword),
                    (VISIBLE, qe.PayloadSchemaType.Integer),
                ):
                    shard.update(qe.UpdateOperation.create_field_index(key, schema))
                log.info("created index %s: %s", self.path, self.layout.describe())
                return shard
            check_layout(stored, self.layout, f"the index at {self.path}")
            # Passing the config applies changed search settings (HNSW, quantization).
            return qe.EdgeShard.load(str(self.path), config)
        except IndexMismatch:
            raise
        except Exception as err:
            if _bug(err):
                raise
            if "WouldBlock" in str(err):
                raise BackendUnavailable(IN_USE.format(path=self.path)) from err
            raise BackendUnavailable(f"embedded index at {self.path}: {err}") from err

    def _hidden_docs(self) -> set[str]:
        """The documents with hidden points, read from the shard (a facet of the `visible`
        = 0 points: those a crash or an unfinished ingest left hidden)."""
        hidden = qe.Filter(must=[_match(VISIBLE, _HIDDEN)])
        with self._engine("facet"):
            count = int(self.shard.count(qe.CountRequest(exact=True, filter=hidden)))
            if not count:
                return set()
            facet = self.shard.facet(
                qe.FacetRequest(key="doc_id", limit=count, exact=True, filter=hidden)
            )
        return {str(hit.value) for hit in facet.hits}

    @contextmanager
    def _engine(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as err:
            if _bug(err) or isinstance(err, BackendUnavailable):
                raise
            raise BackendUnavailable(f"embedded index at {self.path}, {what}: {err}") from err

    # -- writes ----------------------------------------------------------------------------

    def _point(self, item: IndexedUnit, visible: bool) -> qe.Point:
        vectors: dict[str, Any] = dict(check_vectors(item, self.layout))
        sparse = point_sparse(item, self.layout)
        if sparse is not None:
            vectors[SPARSE] = qe.SparseVector(list(sparse.indices), list(sparse.values))
        payload = self.payloads.payload(item.unit)
        payload[VISIBLE] = _SHOWN if visible else _HIDDEN
        return qe.Point(point_id(item.unit.id), vectors, payload)

    def upsert(self, items: Sequence[IndexedUnit], visible: bool = False) -> None:
        """Insert or overwrite the points of `items`, in batches (alongside searches)."""
        new_hidden = set() if visible else {i.unit.doc_id for i in items} - self._hidden
        if new_hidden:  # before the points land, so no search skips their condition
            with self._gate.visible_change():
                self._hidden |= new_hidden
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            op = qe.UpdateOperation.upsert_points([self._point(i, visible) for i in chunk])
            # Before the write (no search takes an old unit from the cache meanwhile) and
            # after it (no search that read an old payload during the write caches it).
            keys = [point_key(point_id(i.unit.id)) for i in chunk]
            self.units.invalidate(keys)
            if visible:
                with self._gate.visible_change(), self._engine("upsert"):
                    self.shard.update(op)
            else:
                with self._gate.writing(), self._engine("upsert"):
                    self.shard.update(op)
            self.units.invalidate(keys)

    def set_visible(self, doc_id: str, visible: bool = True) -> None:
        """Show (or hide) a document in one operation; then index and flush if due."""
        payload = {VISIBLE: _SHOWN if visible else _HIDDEN}
        with self._gate.visible_change(), self._engine("publish"):
            if not visible:
                self._hidden.add(doc_id)
            self.shard.update(
                qe.UpdateOperation.set_payload_by_filter(_doc_filter(doc_id), payload)
            )
            if visible:
                self._hidden.discard(doc_id)
        self.optimize()

    def delete_document(self, doc_id: str) -> None:
        """Delete every point of a document in one operation."""
        with self._gate.visible_change(), self._engine("delete"):
            self.shard.update(qe.UpdateOperation.delete_points_by_filter(_doc_filter(doc_id)))
            self._hidden.discard(doc_id)
            self.units.invalidate_doc(doc_id)

    def optimize(self) -> bool:
        """Build HNSW (and quantized) segments where a segment passed the threshold;
        searches go on meanwhile. Flushes after a rebuild, or when the last flush is
        `FLUSH_EVERY_S` old: the WAL already makes every update durable, flushing only
        bounds the log a restart replays. Returns whether anything was rebuilt."""
        with self._gate.writing(), self._engine("optimize"):
            changed = bool(self.shard.optimize())
            if changed or time.monotonic() - self._flushed_at > FLUSH_EVERY_S:
                self.shard.flush()
                self._flushed_at = time.monotonic()
        return changed

    # -- reads -----------------------------------------------------------------------------

    def count(self, doc_id: str | None = None, visible_only: bool = False) -> int:
        """Number of points, of one document or all; optionally only the visible ones."""
        points = PointFilter(visible_only=visible_only, doc_id=doc_id)
        request = qe.CountRequest(exact=True, filter=build_filter(points))
        with self._gate.shared(), self._engine("count"):
            return int(self.shard.count(request))

    def doc_counts(self) -> dict[str, tuple[int, int]]:
        """doc_id -> (points, visible points), from the doc_id payload index."""
        with self._gate.shared(), self._engine("facet"):
            limit = max(1, int(self.shard.count(qe.CountRequest(exact=True))))
            every = self.shard.facet(qe.FacetRequest(key="doc_id", limit=limit, exact=True))
            shown = self.shard.facet(
                qe.FacetRequest(
                    key="doc_id",
                    limit=limit,
                    exact=True,
                    filter=build_filter(PointFilter(visible_only=True)),
                )
            )
        return facet_counts(every, shown)

    def get_units(self, unit_ids: Sequence[str]) -> list[Unit]:
        """The stored units with these ids (missing ids are skipped), in the given order."""
        with self._gate.shared(), self._engine("retrieve"):
            records = self.shard.retrieve([point_id(u) for u in unit_ids], True, False)
        return self.payloads.in_order((r.payload for r in records), unit_ids)

    def vector_names(self, unit_ids: Sequence[str]) -> dict[str, set[str]]:
        """unit id -> the named vectors stored for it."""
        with self._gate.shared(), self._engine("retrieve"):
            records = self.shard.retrieve([point_id(u) for u in unit_ids], True, True)
        return named_vectors(records)

    def _request(
        self,
        channel: str,
        query: QueryVector,
        query_filter: qe.Filter | None,
        limit: int,
        restricted: bool,
    ) -> qe.QueryRequest:
        if isinstance(query, SparseVector):
            vector: Any = qe.SparseVector(list(query.indices), list(query.values))
            params = None
        else:
            vector = query.astype("float32", copy=False)
            rescore = (
                qe.QuantizationSearchParams(
                    rescore=True, oversampling=self.settings.quantization_oversampling
                )
                if channel in self._quantized
                else None
            )
            # HNSW under a document/kind filter lost most of the true top 50 (recall 0.33
            # at 10k, a quarter of the documents); ACORN's filtered traversal keeps 0.97.
            acorn = qe.AcornSearchParams(enable=True) if restricted else None
            params = qe.SearchParams(
                hnsw_ef=self.settings.hnsw_ef, quantization=rescore, acorn=acorn
            )
        return qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(vector, using=channel),
            filter=query_filter,
            params=params,
            with_payload=False,  # read once per unit afterwards (search_channels)
        )

    def search_channels(
        self, queries: ChannelQueries, search_filter: SearchFilter | None = None, limit: int = 50
    ) -> ChannelHits:
        """Top `limit` visible units per channel, all channels in ONE batched query."""
        points = PointFilter.search(search_filter)
        restricted = points.restricted

        def run(wanted: dict[str, QueryVector]) -> list[list[ScoredUnit]]:
            with self._gate.shared(), self._engine("query"):
                query_filter = build_filter(points.without_needless_visibility(self._hidden))
                batch = qe.QueryBatchRequest(
                    [
                        self._request(ch, q, query_filter, limit, restricted)
                        for ch, q in wanted.items()
                    ]
                )
                # Points are keyed by their id's int: the engine returns uuid.UUID ids, whose
                # hash and equality are Python functions, run ~500 times a query in these
                # dicts and the unit cache (search_channels: 2.0 -> 1.8 ms of CPU a query).
                found = [
                    [(point_key(p.id), p.score) for p in ch] for ch in self.shard.query_batch(batch)
                ]
                # The channels overlap: each unit is read and built once.
                units = self._units_of([key for ch in found for key, _ in ch])
            return [[ScoredUnit(units[key], s) for key, s in ch if key in units] for ch in found]

        return search_batched(queries, search_filter, self.layout, run)

    def _units_of(self, keys: Iterable[int]) -> dict[Hashable, Unit]:
        """The units of found points (by `UUID.int` of their ids): cached ones, the rest
        built from their payloads (read in one call) and cached. Holding the gate shared."""
        generation = self.units.generation  # before any payload is read
        wanted = dict.fromkeys(keys)
        units = self.units.get_many(wanted)
        missing: list[PointId] = [uuid.UUID(int=key) for key in wanted if key not in units]
        if missing:
            records = self.shard.retrieve(missing, True, False)
            built: dict[Hashable, Unit] = {
                point_key(r.id): self.payloads.unit(r.payload) for r in records if r.payload
            }
            self.units.put(built, generation)
            units.update(built)
        return units

    def stored_bytes(self) -> int:
        """Bytes the shard occupies on disk."""
        return dir_bytes(self.path)

    def close(self) -> None:
        """Flush and release the shard (and its WAL lock); a second close is a no-op."""
        with self._gate.closing() as was_open:
            if was_open:
                try:
                    with self._engine("close"):
                        self.shard.flush()
                        self.shard.close()
                finally:
                    self._lock.release()


def remove_shard(path: Path) -> None:
    """Delete a (closed) shard directory."""
    shutil.rmtree(path, ignore_errors=True)
