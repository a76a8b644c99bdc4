"""Keep the index in step with the registry: reconcile on start, rebuild on demand.

The registry is the record of what is ingested; the index follows it. A crash can leave
them apart in two ways: points of a document the registry does not call `ready` (killed
mid-ingest: hidden points; killed between publish and the registry commit: visible ones),
or a ready document whose points are missing (an index lost or made elsewhere).
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.config import Settings
from ingest.store import Registry
from ingest.types import DocStatus
from retrieval.index import VectorIndex
from retrieval.indexer import UnitIndexer

log = logging.getLogger(__name__)


@dataclass
class SyncReport:
    """What `reconcile` changed, and what it could not fix."""

    deleted: list[str] = field(default_factory=list)  # orphan or failed documents' points
    hidden: list[str] = field(default_factory=list)  # published but not ready in the registry
    published: list[str] = field(default_factory=list)  # ready, complete, but left hidden
    missing: list[str] = field(default_factory=list)  # ready but points missing: reindex


def reconcile(registry: Registry, index: VectorIndex) -> SyncReport:
    """Make the index agree with the registry: only `ready` documents are visible, each with
    all its units; points of unknown or failed documents go. A `pending` document keeps its
    hidden points (another worker may be ingesting it; `mmrag ingest` resumes it)."""
    report = SyncReport()
    docs = {d.id: d for d in registry.list_documents()}
    counts = index.doc_counts()
    for doc_id, (points, visible) in counts.items():
        doc = docs.get(doc_id)
        if doc is None or doc.status is DocStatus.FAILED:
            index.delete_document(doc_id)
            report.deleted.append(doc_id)
        elif doc.status is not DocStatus.READY and visible:
            index.set_visible(doc_id, False)
            report.hidden.append(doc_id)
        elif doc.status is DocStatus.READY and points == doc.n_pages + doc.n_clips > visible:
            index.set_visible(doc_id, True)
            report.published.append(doc_id)
    for doc in docs.values():
        if (
            doc.status is DocStatus.READY
            and counts.get(doc.id, (0, 0))[0] < doc.n_pages + doc.n_clips
        ):
            report.missing.append(doc.id)
    if report.missing:
        log.warning(
            "%d ready documents have points missing from the index; run `mmrag reindex`",
            len(report.missing),
        )
    return report


@dataclass
class ReindexReport:
    """What `reindex` rebuilt."""

    documents: int
    units: int
    seconds: float
    removed_legacy: bool


def rebuild(
    settings: Settings, progress: Callable[[int, int, str], None] | None = None
) -> ReindexReport:
    """Rebuild the index from the registry and blobs: re-embed every ready document's units
    into a fresh index, then swap it in (the old one stays until the new one is complete).
    An old local-mode index is removed once the new one is in place. The embedded index
    is locked for the whole rebuild: BackendUnavailable while another process has it open."""
    started = time.perf_counter()
    if settings.qdrant_url:
        return _rebuild(settings, progress, started)
    from retrieval.shard_lock import ShardLock

    # Held until the new index is in place: a server (or `mmrag ingest`) using the live
    # index would otherwise keep writing to the folder swapped out, and lose what it added.
    live = ShardLock(settings.shard_dir)
    try:
        return _rebuild(settings, progress, started)
    finally:
        live.release()


def _rebuild(
    settings: Settings, progress: Callable[[int, int, str], None] | None, started: float
) -> ReindexReport:
    from app import factory
    from app.service import open_storage
    from retrieval.index_factory import legacy_collection, open_index
    from retrieval.indexer import UnitWarmer

    storage = open_storage(settings)
    encoders = factory.build_encoders(settings)
    reranker = factory.build_reranker(settings, encoders.text)
    warmers: list[UnitWarmer] = [reranker] if isinstance(reranker, UnitWarmer) else []
    layout = encoders.layout
    collection = settings.retrieval.collection
    final_dir = settings.shard_dir
    build_settings = settings.retrieval
    if settings.qdrant_url:
        from retrieval.index_qdrant import open_qdrant_client

        client = open_qdrant_client(url=settings.qdrant_url, api_key=_key(settings))
        client.delete_collection(collection)
        client.close()
    else:
        build_settings = settings.retrieval.model_copy(
            update={"collection": collection + ".rebuild"}
        )
        shutil.rmtree(settings.index_dir / build_settings.collection, ignore_errors=True)
    index = open_index(
        build_settings,
        layout,
        blob_root=settings.blob_dir,
        url=settings.qdrant_url,
        api_key=_key(settings),
        edge_dir=settings.index_dir,
    )
    indexer = UnitIndexer(index, encoders, warmers)
    ready = storage.registry.list_documents(DocStatus.READY)
    units = 0
    try:
        for number, doc in enumerate(ready, start=1):
            doc_units = storage.registry.units(doc.id)
            if progress is not None:
                progress(number, len(ready), doc.file_name)
            indexer.add(doc, doc_units)
            indexer.publish(doc.id)
            units += len(doc_units)
    finally:
        index.close()
    removed_legacy = False
    if not settings.qdrant_url:
        old = final_dir.with_name(collection + ".old")
        shutil.rmtree(old, ignore_errors=True)
        if final_dir.exists():
            final_dir.rename(old)
        (settings.index_dir / build_settings.collection).rename(final_dir)
        shutil.rmtree(old, ignore_errors=True)
        legacy = legacy_collection(settings.qdrant_path, collection)
        if legacy is not None:
            shutil.rmtree(legacy)
            removed_legacy = True
    return ReindexReport(len(ready), units, time.perf_counter() - started, removed_legacy)


def _key(settings: Settings) -> str | None:
    return settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None
