"""Tiny units, documents and encoders for retrieval tests (no corpus, no downloads)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Any

from PIL import Image

from ingest.types import DocKind, DocStatus, Document, Unit, UnitKind, clip_unit_id, page_unit_id
from retrieval.config import RetrievalSettings
from retrieval.embedders.bm25 import BM25Encoder
from retrieval.embedders.fake import FakeEmbedder
from retrieval.embedders.minilm import MiniLMEmbedder
from retrieval.encoders import Encoders
from retrieval.index import VectorIndex, VectorLayout
from retrieval.index_edge import EdgeIndex
from retrieval.index_qdrant import QdrantClientIndex, open_qdrant_client
from retrieval.indexer import UnitIndexer

# Three small "documents" on unrelated topics, so relevance is unambiguous.
BITCOIN = [
    "A purely peer-to-peer version of electronic cash would allow online payments to be sent "
    "directly from one party to another without going through a financial institution.",
    "We propose a solution to the double-spending problem using a peer-to-peer network. "
    "The network timestamps transactions by hashing them into an ongoing chain of proof-of-work.",
]
GARDEN = [
    "Tomatoes need full sun and regular watering. Stake the plants when they are 30 cm tall.",
    "Compost improves the soil structure. Mulch keeps moisture in during hot summer weeks.",
]
CLIPS = [
    "The chef chops onions and garlic on a wooden board.",
    "Now the pasta goes into boiling salted water for eight minutes.",
    "Finally we plate the spaghetti with basil and parmesan cheese.",
]


def page(
    doc_id: str, file_name: str, number: int, text: str, images: tuple[Path, ...] = ()
) -> Unit:
    """A page unit."""
    return Unit(
        id=page_unit_id(doc_id, number),
        doc_id=doc_id,
        kind=UnitKind.PAGE,
        ordinal=number - 1,
        file_name=file_name,
        text=text,
        images=images,
        page=number,
        text_source="layer",
    )


def clip(
    doc_id: str,
    file_name: str,
    index: int,
    text: str,
    seconds: float = 10.0,
    images: tuple[Path, ...] = (),
) -> Unit:
    """A clip unit covering [index * seconds, (index + 1) * seconds)."""
    return Unit(
        id=clip_unit_id(doc_id, index),
        doc_id=doc_id,
        kind=UnitKind.CLIP,
        ordinal=index,
        file_name=file_name,
        text=text,
        images=images,
        start_s=index * seconds,
        end_s=(index + 1) * seconds,
        text_source="asr",
    )


def document(doc_id: str, file_name: str, kind: DocKind = DocKind.PDF) -> Document:
    """A registry-style document record for `UnitSink.add`."""
    return Document(doc_id, file_name, kind, DocStatus.PENDING, 1, "blob")


def corpus_units() -> dict[str, list[Unit]]:
    """doc_id -> units: two PDFs and one video."""
    return {
        "doc-bitcoin": [
            page("doc-bitcoin", "bitcoin-paper.pdf", i + 1, t) for i, t in enumerate(BITCOIN)
        ],
        "doc-garden": [
            page("doc-garden", "garden_guide.pdf", i + 1, t) for i, t in enumerate(GARDEN)
        ],
        "doc-cooking": [clip("doc-cooking", "cooking-show.mp4", i, t) for i, t in enumerate(CLIPS)],
    }


def write_png(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (56, 56)) -> Path:
    """A solid-colour PNG (or JPEG by suffix) for units that need an image."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="JPEG" if path.suffix == ".jpg" else "PNG")
    path.write_bytes(buffer.getvalue())
    return path


@contextmanager
def counted_encodes(model: Any) -> Iterator[list[int]]:
    """The batch sizes of the `model.encode` calls made inside the block."""
    calls: list[int] = []
    encode = model.encode

    def counting(texts: list[str], **kwargs: object) -> object:
        calls.append(len(texts))
        return encode(texts, **kwargs)

    model.encode = counting
    try:
        yield calls
    finally:
        model.encode = encode


@cache
def minilm() -> MiniLMEmbedder:
    """The packaged MiniLM, loaded once per test session."""
    return MiniLMEmbedder()


# The index backends the contract suite runs on: Qdrant Edge, qdrant-client's local mode on
# a directory (standing in for a server) and in memory.
BACKENDS = ("edge", "local", "memory")


def open_test_index(
    backend: str, where: Path | None, settings: RetrievalSettings, layout: VectorLayout
) -> VectorIndex:
    """An index of `backend` kept under `where` (not needed for "memory")."""
    if backend == "memory":
        return QdrantClientIndex(open_qdrant_client(), settings, layout)
    assert where is not None, f"the {backend} backend needs a directory"
    if backend == "edge":
        return EdgeIndex(where / "edge" / settings.collection, settings, layout)
    return QdrantClientIndex(open_qdrant_client(path=where / "local"), settings, layout)


def fake_stack(
    backend: str = "memory",
    where: Path | None = None,
    settings: RetrievalSettings | None = None,
    dim: int = 64,
) -> tuple[VectorIndex, UnitIndexer]:
    """Index + indexer with a fake text embedder and BM25 on one backend."""
    settings = settings or RetrievalSettings()
    text, sparse = FakeEmbedder(dim), BM25Encoder()
    index = open_test_index(backend, where, settings, Encoders(text=text, sparse=sparse).layout)
    return index, UnitIndexer(index, Encoders(text=text, sparse=sparse))


def index_corpus(indexer: UnitIndexer, publish: bool = True) -> dict[str, list[Unit]]:
    """Add (and publish) every document of `corpus_units`."""
    docs = corpus_units()
    for doc_id, units in docs.items():
        indexer.add(document(doc_id, units[0].file_name), units)
        if publish:
            indexer.publish(doc_id)
    return docs
