"""A `Services` container for API and UI tests: the real registry, blob store and Ingestor,
with small fake extractors, an in-memory index, a word-overlap retriever and a scripted
generator. No model loads; every part can be switched "down" to test 503 paths."""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymupdf
from fastapi import FastAPI
from fastapi.testclient import TestClient
from PIL import Image

from app.config import Settings
from app.service import Services, open_storage
from generation.errors import GeneratorUnavailable
from ingest.errors import BackendUnavailable
from ingest.pipeline import Ingestor, PdfExtractor
from ingest.types import ClipContent, Document, PageContent, Unit
from retrieval.types import Hit, SearchFilter

# A minimal ISO-BMFF header: enough for ingest.sniff to call it a video.
FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(range(256)) * 64


def make_pdf(path: Path, pages: Sequence[str]) -> Path:
    """A small PDF with one text line per page."""
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=300, height=200)
        page.insert_text((20, 50), text, fontsize=10)
    doc.save(path)
    doc.close()
    return path


def _jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (shade, 80, 160)).save(out, format="JPEG")
    return out.getvalue()


class TinyPdfPages:
    """PdfExtractor over pymupdf at a very low resolution (text layer only, no OCR);
    `seconds_per_page` slows it down to watch an ingestion in progress."""

    def __init__(self, dpi: int = 24, seconds_per_page: float = 0.0) -> None:
        self.dpi = dpi
        self.seconds_per_page = seconds_per_page

    def count_pages(self, path: Path) -> int:
        with pymupdf.open(path) as doc:
            return int(doc.page_count)

    def pages(self, path: Path) -> Iterator[PageContent]:
        with pymupdf.open(path) as doc:
            for number, page in enumerate(doc, start=1):
                time.sleep(self.seconds_per_page)
                pix = page.get_pixmap(dpi=self.dpi)
                yield PageContent(
                    number, pix.tobytes("png"), page.get_text(), "layer", pix.width, pix.height
                )


class GatedPdfPages(TinyPdfPages):
    """TinyPdfPages that stops after the first page until `release` is set: `paused` is
    set while it waits, with page 1's image already in the blob store."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = threading.Event()
        self.release = threading.Event()

    def pages(self, path: Path) -> Iterator[PageContent]:
        for number, page in enumerate(super().pages(path), start=1):
            yield page
            if number == 1:
                self.paused.set()
                if not self.release.wait(60):
                    raise TimeoutError("the test never released the ingest")


class FixedClips:
    """VideoExtractor that pretends every video lasts `duration_s` and has a transcript."""

    def __init__(self, duration_s: float = 20.0, clip_s: float = 10.0, frames: int = 3) -> None:
        self.duration_s = duration_s
        self.clip_s = clip_s
        self.frames = frames

    def duration(self, path: Path) -> float:
        return self.duration_s

    def count_clips(self, duration_s: float) -> int:
        return int(-(-duration_s // self.clip_s))

    def clips(self, path: Path) -> Iterator[ClipContent]:
        for index in range(self.count_clips(self.duration_s)):
            start = index * self.clip_s
            yield ClipContent(
                index,
                start,
                min(start + self.clip_s, self.duration_s),
                tuple(_jpeg(40 * i) for i in range(self.frames)),
                transcript=f"speaker talks about whales in part {index}",
            )


class MemoryIndex:
    """UnitSink + index stand-in: units become searchable on `publish`."""

    def __init__(self) -> None:
        self.up = True
        self.hidden: dict[str, list[Unit]] = {}
        self.published: dict[str, list[Unit]] = {}
        self.closed = False

    def ping(self) -> None:
        if not self.up:
            raise BackendUnavailable("Qdrant at http://qdrant:6333 is not reachable")

    def count(self) -> int:
        self.ping()
        return sum(len(units) for units in self.published.values())

    def add(self, doc: Document, units: Sequence[Unit]) -> None:
        self.ping()
        self.hidden.setdefault(doc.id, []).extend(units)

    def publish(self, doc_id: str) -> None:
        self.published[doc_id] = self.hidden.pop(doc_id, [])

    def remove(self, doc_id: str) -> None:
        self.hidden.pop(doc_id, None)
        self.published.pop(doc_id, None)

    def close(self) -> None:
        self.closed = True


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z0-9]+", text.lower()))


class OverlapRetriever:
    """Scores units by the share of question words they contain."""

    name = "word-overlap"

    def __init__(self, index: MemoryIndex) -> None:
        self.index = index

    def parts(self) -> list[tuple[str, object | None]]:
        """retrieval.retriever.Retriever.parts: this fake is its only model."""
        return [("retriever", self)]

    def search(
        self,
        query: str,
        search_filter: SearchFilter | None = None,
        top_k: int | None = None,
    ) -> list[Hit]:
        """retrieval.retriever.Retriever.search, by word overlap."""
        self.index.ping()
        filter = search_filter
        asked = _words(query)
        hits = []
        for doc_id, units in self.index.published.items():
            if filter and filter.doc_ids is not None and doc_id not in filter.doc_ids:
                continue
            for unit in units:
                if filter and filter.kinds is not None and unit.kind not in filter.kinds:
                    continue
                score = len(asked & _words(unit.text)) / max(len(asked), 1)
                if score > 0:
                    hits.append(Hit(unit, score, score, rerank_score=score, matched=("text",)))
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[: top_k or 5]


class QuotingGenerator:
    """Quotes the top hit and cites it as [S1], word by word; can fail before or mid-stream."""

    name = "quoting"

    def __init__(self) -> None:
        self.up = True
        self.fail_after_words: int | None = None

    def ping(self) -> None:
        if not self.up:
            raise GeneratorUnavailable("vLLM at http://vllm:8000/v1 is not reachable")

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        self.ping()
        words = " ".join(hits[0].unit.text.split()[:8]).rstrip(".")
        for count, word in enumerate(f"{words} [S1].".split(" ")):
            if self.fail_after_words is not None and count >= self.fail_after_words:
                raise GeneratorUnavailable("vLLM dropped the stream")
            yield word if count == 0 else " " + word


def fake_services(settings: Settings, pdf: PdfExtractor | None = None) -> Services:
    """A Services container with the fakes above over the real registry and blob store
    (`pdf` replaces the PDF extractor)."""
    storage = open_storage(settings)
    index = MemoryIndex()
    ingestor = Ingestor(
        settings.ingest,
        storage.registry,
        storage.blobs,
        pdf=pdf or TinyPdfPages(),
        video=FixedClips(),
        sink=index,
    )
    fakes: dict[str, Any] = {"index": index, "indexer": index}
    return Services(
        settings,
        storage,
        ingestor=ingestor,
        retriever=OverlapRetriever(index),  # type: ignore[arg-type]
        generator=QuotingGenerator(),
        **fakes,
    )


@contextmanager
def serving(app: FastAPI, base_url: str = "http://testserver") -> Iterator[TestClient]:
    """A TestClient over `app` once its models have loaded (they load on a background
    thread; a real client waits for /ready to leave "loading")."""
    with TestClient(app, base_url=base_url) as client:
        assert app.state.loader.wait(60) == "ready", app.state.loader.error
        yield client
