"""Files -> units in the store and the index, crash-safe and idempotent.

Order of work for one file: hash -> (skip if ready) -> register `pending` and keep the
original as a blob -> extract units, writing page/frame blobs and handing batches to the
sink (embedding + hidden upsert) -> sink.publish -> registry marks `ready` with all unit
rows in one transaction. A crash anywhere leaves the document `pending`; ingesting it
again (or `resume`) removes its points and redoes it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from ingest.config import IngestSettings
from ingest.errors import IngestError, MMRagError
from ingest.prefetch import prefetched
from ingest.sniff import detect_kind, is_candidate
from ingest.stages import (
    IngestProgress,
    Phase,
    ProgressFn,
    Stage,
    StageTimes,
    ingest_fraction,
    no_progress,
)
from ingest.store import (
    DEFAULT_GC_GRACE_S,
    BlobStore,
    GcReport,
    Registry,
    collect_garbage,
    sha256_file,
)
from ingest.types import (
    ClipContent,
    DocKind,
    DocStatus,
    Document,
    IngestResult,
    PageContent,
    Unit,
    UnitKind,
    clip_unit_id,
    page_unit_id,
)

log = logging.getLogger(__name__)

__all__ = ["Ingestor", "IngestProgress", "ProgressFn", "UnitSink", "iter_files"]

# Units embedded per sink call: one encoder call of this many units' texts (long and short
# sorted together: less padding than page by page). Extraction runs ahead in a thread
# (ingest.prefetch) by up to two batches, so the page processes work while the encoder
# does, and memory stays bounded for a 1000-page PDF.
EMBED_BATCH_UNITS = 64


class UnitSink(Protocol):
    """Where finished units go (the vector index). Units added are invisible to search until
    `publish`; `remove` deletes every point of a document. `add` may return the seconds
    its stages took (embedding, indexing)."""

    def add(self, doc: Document, units: Sequence[Unit]) -> StageTimes | None: ...

    def publish(self, doc_id: str) -> None: ...

    def remove(self, doc_id: str) -> None: ...


class PdfExtractor(Protocol):
    def count_pages(self, path: Path) -> int: ...

    def pages(self, path: Path) -> Iterator[PageContent]: ...


@runtime_checkable
class WorkerPool(Protocol):
    """An extractor with worker processes of its own (ingest.pdf.PdfPages): `start`
    starts them in the background, `close` ends them."""

    def start(self) -> None: ...

    def close(self) -> None: ...


class VideoExtractor(Protocol):
    def duration(self, path: Path) -> float: ...

    def count_clips(self, duration_s: float) -> int: ...

    def clips(self, path: Path) -> Iterator[ClipContent]: ...


def iter_files(paths: Iterable[Path], skipped: list[Path] | None = None) -> Iterator[Path]:
    """Expand folders (recursively, sorted) into candidate files; files pass through as given.
    A folder's other files go to `skipped`, when given (to say how many were left out)."""
    for path in paths:
        if path.is_dir():
            for p in sorted(p for p in path.rglob("*") if p.is_file()):
                if is_candidate(p):
                    yield p
                elif skipped is not None:
                    skipped.append(p)
        else:
            yield path


def delete_document(
    registry: Registry,
    blobs: BlobStore,
    remove_points: Callable[[str], None] | None,
    doc_id: str,
) -> None:
    """Remove a document's index points (first: a failure leaves everything in place), its
    rows and the blobs no other document shares."""
    if remove_points is not None:
        remove_points(doc_id)
    for key in registry.delete_document(doc_id):
        blobs.delete(key)


def duplicate_notes(path: Path, existing: Document) -> list[str]:
    """For a file whose bytes are a document already in the library under another name:
    which one, so the user can find it (`mmrag ls` shows 12 digits of the id)."""
    if path.name == existing.file_name:
        return []
    return [f"the same file is already in the library as {existing.file_name} ({existing.id[:12]})"]


def textless_notes(kind: DocKind, units: Sequence[Unit]) -> list[str]:
    """For a document none of whose pages or clips gave any text (blank pages, drawings,
    a silent video without captions): that text models find it by its file name only (the
    gpu profile's image embedder still sees its pictures)."""
    if not units or any(u.text.strip() for u in units):
        return []
    found = "text on any page" if kind is DocKind.PDF else "speech or on-screen text"
    return [f"no {found} was found: the lite profile finds it only by its file name"]


@dataclass(eq=False)  # a service: equal only to itself
class Ingestor:
    """Runs the ingestion of files into the registry, blob store and (optionally) the index."""

    settings: IngestSettings
    registry: Registry
    blobs: BlobStore
    pdf: PdfExtractor
    video: VideoExtractor
    sink: UnitSink | None = None
    batch_size: int = EMBED_BATCH_UNITS

    def ingest_file(self, path: Path, progress: ProgressFn = no_progress) -> IngestResult:
        """Ingest one file. Never raises for bad input: the result says `failed` and why.

        Holds the blob store's lock (shared) throughout, so gc waits until the document is
        ready and its blobs are referenced."""
        with self.blobs.lock.shared():
            return self._ingest_file(path, progress)

    def _ingest_file(self, path: Path, progress: ProgressFn) -> IngestResult:
        started = time.perf_counter()
        doc_id: str | None = None
        try:
            kind = detect_kind(path)
            size = path.stat().st_size
            if size > self.settings.max_file_bytes:
                raise IngestError(
                    path, f"file is {size} bytes, over the limit of {self.settings.max_file_bytes}"
                )
            progress(IngestProgress(Phase.HASHING))
            hashing = StageTimes()
            hash_started = time.perf_counter()
            doc_id = sha256_file(path)
            existing = self.registry.get_document(doc_id)
            if existing is not None and existing.status is DocStatus.READY:
                return IngestResult(
                    path,
                    doc_id,
                    "skipped",
                    existing.n_pages,
                    existing.n_clips,
                    seconds=time.perf_counter() - started,
                    notes=duplicate_notes(path, existing),
                )
            # Validate before anything is stored, so bad input leaves no trace.
            total = self._count_units(kind, path)
            source_blob = self.blobs.put_file(path, path.suffix.lower() or f".{kind}", doc_id)
            doc = self.registry.begin_document(doc_id, path.name, kind, size, source_blob)
            hashing.add(Stage.HASH, time.perf_counter() - hash_started)
            source = self.blobs.path(source_blob)
            return self._run(doc, source, total, progress, started, path, hashing)
        except MMRagError as err:
            reason = err.reason if isinstance(err, IngestError) else str(err)
            return self._failed(path, doc_id, reason, started)
        except Exception as err:  # an extractor bug must not stop a batch run
            log.exception("unexpected error ingesting %s", path)
            return self._failed(path, doc_id, f"{type(err).__name__}: {err}", started)

    def resume(self, progress: ProgressFn = no_progress) -> list[IngestResult]:
        """Redo every document left `pending` (or `failed`) from its stored original."""
        return [
            self.resume_document(doc.id, progress)
            for doc in self.registry.list_documents()
            if doc.status is not DocStatus.READY
        ]

    def resume_document(self, doc_id: str, progress: ProgressFn = no_progress) -> IngestResult:
        """Redo one document from its stored original (a no-op result when it is ready)."""
        with self.blobs.lock.shared():
            return self._resume_document(doc_id, progress)

    def _resume_document(self, doc_id: str, progress: ProgressFn) -> IngestResult:
        started = time.perf_counter()
        doc = self.registry.get_document(doc_id)
        if doc is None:
            return IngestResult(Path(doc_id), doc_id, "failed", error="no such document")
        if doc.status is DocStatus.READY:
            return IngestResult(Path(doc.file_name), doc.id, "skipped", doc.n_pages, doc.n_clips)
        source = self.blobs.path(doc.source_blob)
        shown = Path(doc.file_name)
        if not source.is_file():
            return self._failed(shown, doc.id, "original file missing from the blob store", started)
        try:
            total = self._count_units(doc.kind, source)
            doc = self.registry.begin_document(
                doc.id, doc.file_name, doc.kind, doc.size_bytes, doc.source_blob
            )
            return self._run(doc, source, total, progress, started, shown)
        except MMRagError as err:
            reason = err.reason if isinstance(err, IngestError) else str(err)
            return self._failed(shown, doc.id, reason, started)
        except Exception as err:  # as in ingest_file: one bad document must not stop the rest
            log.exception("unexpected error resuming %s", doc.file_name)
            return self._failed(shown, doc.id, f"{type(err).__name__}: {err}", started)

    def delete(self, doc_id: str) -> None:
        """Remove a document's points, rows and the blobs no other document shares."""
        remove = self.sink.remove if self.sink is not None else None
        delete_document(self.registry, self.blobs, remove, doc_id)

    def start_workers(self) -> None:
        """Start the extractors' worker processes now, in the background, when the
        settings say so (`warm_page_workers`), so the first file does not wait for them."""
        if self.settings.warm_page_workers and isinstance(self.pdf, WorkerPool):
            self.pdf.start()

    def close(self) -> None:
        """End the extractors' worker processes."""
        for extractor in (self.pdf, self.video):
            if isinstance(extractor, WorkerPool):
                extractor.close()

    def gc(self, grace_s: float | None = DEFAULT_GC_GRACE_S, wait_s: float = 0.0) -> GcReport:
        """Delete orphan blobs (see `collect_garbage`)."""
        return collect_garbage(self.registry, self.blobs, grace_s, wait_s)

    # -- internals -------------------------------------------------------------------------

    def _count_units(self, kind: DocKind, path: Path) -> int:
        if kind is DocKind.PDF:
            return self.pdf.count_pages(path)
        return self.video.count_clips(self.video.duration(path))

    def _failed(self, path: Path, doc_id: str | None, reason: str, started: float) -> IngestResult:
        if doc_id is not None and self.registry.get_document(doc_id) is not None:
            if self.sink is not None:
                self.sink.remove(doc_id)
            self.registry.fail_document(doc_id, reason)
        log.warning("%s: %s", path.name, reason)
        return IngestResult(
            path, doc_id, "failed", error=reason, seconds=time.perf_counter() - started
        )

    def _run(
        self,
        doc: Document,
        source: Path,
        total: int,
        progress: ProgressFn,
        started: float,
        shown: Path,
        stages: StageTimes | None = None,
    ) -> IngestResult:
        stages = stages if stages is not None else StageTimes()
        if self.sink is not None:
            self.sink.remove(doc.id)  # points of an earlier, interrupted attempt
        units: list[Unit] = []
        batch: list[Unit] = []
        duration: float | None = None
        what = "pages" if doc.kind is DocKind.PDF else "clips"
        embedded = 0

        def report(phase: Phase, done: int, detail: str = "") -> None:
            fraction = ingest_fraction(len(units), embedded, total)
            progress(IngestProgress(phase, done, total, what, fraction, detail))

        # A video's audio is transcribed before its first clip comes out.
        first = "transcribing audio" if doc.kind is DocKind.VIDEO else ""
        report(Phase.EXTRACTING, 0, first)
        extracted = StageTimes()  # written by the prefetch thread, merged when it is done
        # closing: on an error below, the producer and its page processes stop at once.
        with closing(prefetched(self._units(doc, source, extracted), 2 * self.batch_size)) as ahead:
            for unit in ahead:
                units.append(unit)
                batch.append(unit)
                report(Phase.EXTRACTING, len(units))
                if len(batch) >= self.batch_size:
                    report(Phase.EMBEDDING, embedded)
                    embedded += self._flush(doc, batch, stages)
                    report(Phase.EMBEDDING, embedded)
        if batch:
            report(Phase.EMBEDDING, embedded)
            embedded += self._flush(doc, batch, stages)
            report(Phase.EMBEDDING, embedded)
        stages.merge(extracted)
        if doc.kind is DocKind.VIDEO and units:
            duration = max(u.end_s or 0.0 for u in units)
        report(Phase.INDEXING, len(units))
        if self.sink is not None:
            with stages.measure(Stage.INDEX, 0):
                self.sink.publish(doc.id)
        with stages.measure(Stage.REGISTRY, len(units)):
            done = self.registry.complete_document(doc.id, units, duration)
        progress(IngestProgress(Phase.READY, len(units), total, what, 1.0))
        return IngestResult(
            shown,
            doc.id,
            "ingested",
            done.n_pages,
            done.n_clips,
            seconds=time.perf_counter() - started,
            notes=textless_notes(doc.kind, units),
            stages=stages,
        )

    def _flush(self, doc: Document, batch: list[Unit], stages: StageTimes) -> int:
        """Hand the batch to the sink; returns how many units it took."""
        n = len(batch)
        if batch and self.sink is not None:
            timings = self.sink.add(doc, batch)
            if timings is not None:
                stages.merge(timings)
        batch.clear()
        return n

    def _units(
        self, doc: Document, source: Path, stages: StageTimes
    ) -> Generator[Unit, None, None]:
        if doc.kind is DocKind.PDF:
            for page in self.pdf.pages(source):
                stages.merge(page.timings)
                with stages.measure(Stage.BLOBS):
                    key = self.blobs.put_bytes(page.png, ".png")
                yield Unit(
                    id=page_unit_id(doc.id, page.page),
                    doc_id=doc.id,
                    kind=UnitKind.PAGE,
                    ordinal=page.page - 1,
                    file_name=doc.file_name,
                    text=page.text,
                    images=(self.blobs.path(key),),
                    page=page.page,
                    text_source=page.text_source,
                )
        else:
            for clip in self.video.clips(source):
                stages.merge(clip.timings)
                with stages.measure(Stage.BLOBS):
                    keys = [self.blobs.put_bytes(frame, ".jpg") for frame in clip.frames]
                yield Unit(
                    id=clip_unit_id(doc.id, clip.index),
                    doc_id=doc.id,
                    kind=UnitKind.CLIP,
                    ordinal=clip.index,
                    file_name=doc.file_name,
                    text=clip.text,
                    images=tuple(self.blobs.path(k) for k in keys),
                    start_s=clip.start_s,
                    end_s=clip.end_s,
                    text_source=clip.text_source,
                )
