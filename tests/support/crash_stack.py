"""The registry, blob store and Edge index of the crash test (child and parent alike)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ingest.config import IngestSettings
from ingest.pipeline import Ingestor, UnitSink
from ingest.store import BlobStore, Registry
from retrieval.config import RetrievalSettings
from retrieval.embedders.bm25 import BM25Encoder
from retrieval.embedders.fake import FakeEmbedder
from retrieval.encoders import Encoders
from retrieval.index_edge import EdgeIndex
from retrieval.indexer import UnitIndexer
from tests.support.api_fakes import FixedClips, TinyPdfPages


@dataclass
class CrashStack:
    registry: Registry
    blobs: BlobStore
    index: EdgeIndex
    indexer: UnitIndexer


def crash_ingestor(stack: CrashStack, sink: UnitSink) -> Ingestor:
    """The real Ingestor over the stack, with tiny fake extractors, one unit per batch."""
    return Ingestor(
        IngestSettings(),
        stack.registry,
        stack.blobs,
        pdf=TinyPdfPages(),
        video=FixedClips(),
        sink=sink,
        batch_size=1,
    )


def open_crash_stack(data_dir: Path) -> CrashStack:
    """Everything under `data_dir`, with a fake text embedder and BM25."""
    blobs = BlobStore(data_dir / "blobs")
    registry = Registry(data_dir / "registry.sqlite3", blobs)
    text, sparse = FakeEmbedder(32), BM25Encoder()
    index = EdgeIndex(
        data_dir / "edge", RetrievalSettings(), Encoders(text=text, sparse=sparse).layout
    )
    return CrashStack(
        registry, blobs, index, UnitIndexer(index, Encoders(text=text, sparse=sparse))
    )
