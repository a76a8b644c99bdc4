"""Wiring: build every component once from one Settings value.

`Services` is a plain container (no behaviour of its own beyond closing); use cases live in
small modules (app/querying.py) and in the components themselves.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from app import factory
from app.config import Settings
from app.index_sync import SyncReport, reconcile
from generation.base import Generator
from ingest.conversations import ConversationStore
from ingest.pipeline import Ingestor, delete_document
from ingest.store import MIN_DELETE_PREFIX, BlobStore, Registry
from ingest.types import Document
from retrieval.index import IndexMismatch, VectorIndex, VectorLayout
from retrieval.index_factory import open_index
from retrieval.indexer import UnitIndexer, UnitWarmer
from retrieval.retriever import Retriever

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Storage:
    """What needs no model: the registry, the blob store and the saved conversations."""

    registry: Registry
    blobs: BlobStore
    conversations: ConversationStore


def open_storage(settings: Settings) -> Storage:
    """Open (creating if needed) the registry, blob store and conversations under the data dir."""
    blobs = BlobStore(settings.blob_dir)
    registry = Registry(settings.registry_path, blobs)
    return Storage(registry, blobs, ConversationStore(settings.registry_path))


def open_vector_index(settings: Settings, layout: VectorLayout | None = None) -> VectorIndex:
    """The index the settings name. With `layout` None an existing index opens as it is,
    without loading a model (deletes, health checks); IndexMismatch when there is none."""
    return open_index(
        settings.retrieval,
        layout,
        blob_root=settings.blob_dir,
        url=settings.qdrant_url,
        api_key=settings.qdrant_api_key.get_secret_value() if settings.qdrant_api_key else None,
        timeout_s=settings.qdrant_timeout_s,
        edge_dir=settings.index_dir,
        legacy_dir=settings.qdrant_path,
    )


def delete_documents(settings: Settings, doc_ids: Sequence[str]) -> Iterator[Document]:
    """Delete documents (ids or unique prefixes of at least MIN_DELETE_PREFIX digits,
    NotFound otherwise, before anything is deleted) from the index, the registry and the
    blob store, yielding each one when it is gone. Loads no model."""
    storage = open_storage(settings)
    docs = [storage.registry.resolve_document(d, MIN_DELETE_PREFIX) for d in doc_ids]
    try:
        index: VectorIndex | None = open_vector_index(settings)
    except IndexMismatch:
        index = None  # no index yet: nothing of these documents is in one
    try:
        for doc in docs:
            remove = index.delete_document if index is not None else None
            delete_document(storage.registry, storage.blobs, remove, doc.id)
            yield doc
    finally:
        if index is not None:
            index.close()


@runtime_checkable
class Loadable(Protocol):
    """A model that loads its weights lazily and can be told to load them now."""

    def load(self) -> object: ...


@dataclass
class Services:
    """Every long-lived component, built once (CLI command or API lifespan)."""

    settings: Settings
    storage: Storage
    index: VectorIndex
    indexer: UnitIndexer
    ingestor: Ingestor
    retriever: Retriever
    generator: Generator | None
    # What reconciling the index with the registry found at start (app/index_sync.py).
    sync: SyncReport = field(default_factory=SyncReport)

    @property
    def registry(self) -> Registry:
        return self.storage.registry

    def load_models(self) -> None:
        """Load every lazily loaded retrieval model now (the API does this in the
        background at start-up, so the first query does not pay for it)."""
        for role, part in self.retriever.parts():
            if isinstance(part, Loadable):
                log.info("loading the %s", role)
                part.load()

    def close(self) -> None:
        self.ingestor.close()
        self.index.close()


def limit_torch_threads(threads: int) -> None:
    """Cap torch's intra-op threads for this process (0 = leave torch's default)."""
    if threads <= 0:
        return
    import torch

    torch.set_num_threads(threads)


def build_services(settings: Settings, *, with_generator: bool = True) -> Services:
    """Load models and open storage and the index. Models load here, once, to run on
    `settings.torch_threads` intra-op threads each."""
    limit_torch_threads(settings.torch_threads)
    storage = open_storage(settings)
    encoders = factory.build_encoders(settings)
    index = open_vector_index(settings, encoders.layout)
    # A crash may have left the index apart from the registry: make them agree first.
    sync = reconcile(storage.registry, index)
    reranker = factory.build_reranker(settings, encoders.text)
    # A reranker that can precompute its per-unit vectors does so while ingesting.
    warmers: list[UnitWarmer] = [reranker] if isinstance(reranker, UnitWarmer) else []
    indexer = UnitIndexer(index, encoders, warmers)
    ingestor = Ingestor(
        settings.ingest,
        storage.registry,
        storage.blobs,
        pdf=factory.build_pdf_extractor(settings),
        video=factory.build_video_extractor(settings),
        sink=indexer,
    )
    # Concurrent queries share encoder calls (see retrieval/batching.py).
    batched = encoders.with_batched_queries(
        settings.retrieval.query_lanes, settings.retrieval.query_backlog
    )
    retriever = Retriever(index, settings.retrieval, batched, reranker)
    generator = (
        factory.build_generator(settings, factory.build_sentence_scorer(reranker), storage.registry)
        if with_generator
        else None
    )
    return Services(settings, storage, index, indexer, ingestor, retriever, generator, sync)
