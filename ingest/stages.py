"""Where ingestion time goes (stage timings) and what a running ingest is doing (progress).

Stage timings are summed per stage name: a page's render, text layer and OCR are timed in
the worker process that does them and travel back with the page; embedding and indexing
are timed by the sink. `IngestResult.stages` holds a file's totals; `bench.ingest --profile`
adds them up over a corpus.

Progress is reported per phase with counts (`IngestProgress`): what the CLI's progress bar
and the API's job status show.
"""

from __future__ import annotations

import resource
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum


class Stage(StrEnum):
    """One measured step of ingestion."""

    HASH = "hash"  # sha256 of the file, copy of the original into the blob store
    RENDER = "render"  # page -> pixmap -> PNG
    TEXT = "text"  # text layer, garbage score and scanned-page check
    OCR = "ocr"  # tesseract on a page (script detection included)
    ASR = "asr"  # Whisper over a video's audio
    FRAMES = "frames"  # decode a clip's frames, JPEG
    KEYFRAME_OCR = "keyframe_ocr"  # tesseract on a clip's keyframe
    BLOBS = "blobs"  # PNG/JPEG into the blob store
    TEXT_VECTORS = "text_vectors"  # dense text embedding (MiniLM passages)
    VISUAL_VECTORS = "visual_vectors"  # VLM embedding of page images / clip frames
    SPARSE = "sparse"  # BM25 sparse vectors
    WINDOWS = "windows"  # the reranker's sentence-window vectors, computed at ingest
    INDEX = "index"  # upsert (hidden) and publish in the vector index
    REGISTRY = "registry"  # unit rows and `ready` in one transaction


def cpu_now() -> float:
    """CPU seconds of this process (all its threads) and its waited-for children
    (tesseract runs as one): unlike wall seconds, barely changed by other work on the
    machine."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


@dataclass
class StageTimes:
    """Wall seconds, CPU seconds and item counts per stage; additive, picklable (it
    crosses processes)."""

    seconds: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, seconds: float, items: int = 1, cpu: float = 0.0) -> None:
        """Count `items` done in `seconds` (and `cpu` CPU seconds) under `stage`."""
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds
        self.counts[stage] = self.counts.get(stage, 0) + items
        self.cpu[stage] = self.cpu.get(stage, 0.0) + cpu

    def merge(self, other: StageTimes) -> None:
        """Add every stage of `other` to this one."""
        for stage, seconds in other.seconds.items():
            self.add(stage, seconds, other.counts.get(stage, 0), other.cpu.get(stage, 0.0))

    @contextmanager
    def measure(self, stage: str, items: int = 1) -> Iterator[None]:
        """Time the body under `stage`, wall and CPU (counted even when it raises). CPU is
        the whole process's: exact where nothing else runs in it meanwhile."""
        started, cpu_started = time.perf_counter(), cpu_now()
        try:
            yield
        finally:
            self.add(stage, time.perf_counter() - started, items, cpu_now() - cpu_started)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


class SharedStageTimes(StageTimes):
    """StageTimes that several threads add to (keyframe OCR runs on a thread pool)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def add(self, stage: str, seconds: float, items: int = 1, cpu: float = 0.0) -> None:
        with self._lock:
            super().add(stage, seconds, items, cpu)

    def snapshot(self) -> StageTimes:
        """A plain copy of the figures so far."""
        with self._lock:
            return StageTimes(dict(self.seconds), dict(self.counts), dict(self.cpu))


def sum_stages(parts: Mapping[str, StageTimes] | list[StageTimes]) -> StageTimes:
    """The stage-by-stage sum of several StageTimes."""
    total = StageTimes()
    for part in parts.values() if isinstance(parts, Mapping) else parts:
        total.merge(part)
    return total


class Phase(StrEnum):
    """What an ingest is doing now, as shown to people (CLI bar, API job, UI)."""

    QUEUED = "queued"
    HASHING = "hashing"
    EXTRACTING = "extracting"  # pages: render, text layer, OCR; clips: ASR, frames, OCR
    EMBEDDING = "embedding"  # vectors of every configured encoder, hidden upsert
    INDEXING = "indexing"  # publish in the index, registry rows
    READY = "ready"


@dataclass(frozen=True, slots=True)
class IngestProgress:
    """One progress report: the phase, units done of the file's total, and the fraction
    of the whole file done (extraction counts for most of it)."""

    phase: Phase
    done: int = 0
    total: int = 0
    what: str = ""  # "pages" or "clips"
    fraction: float = 0.0
    detail: str = ""  # e.g. "transcribing audio"

    @property
    def message(self) -> str:
        """`embedding 12/40 pages`, `hashing`, `extracting 0/4 clips (transcribing audio)`."""
        counts = f" {self.done}/{self.total} {self.what}".rstrip() if self.total else ""
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.phase.value}{counts}{detail}"


ProgressFn = Callable[[IngestProgress], None]

# Share of a file's progress bar: extraction dominates, embedding is most of the rest
# (lite profile, docs/figures.md); publishing and the registry take the last few percent.
_EXTRACT_SHARE = 0.7
_EMBED_SHARE = 0.27


def ingest_fraction(extracted: int, embedded: int, total: int) -> float:
    """Share of a file done when `extracted` and `embedded` of its `total` units are
    through those phases (they interleave, batch by batch); never decreasing. Pure."""
    if total <= 0:
        return 0.0
    return min(
        (_EXTRACT_SHARE * min(extracted, total) + _EMBED_SHARE * min(embedded, total)) / total,
        _EXTRACT_SHARE + _EMBED_SHARE,
    )


def no_progress(_report: IngestProgress) -> None:
    """The default ProgressFn: report nowhere."""
    return None


def stage_table(times: StageTimes, wall_s: float | None = None) -> list[str]:
    """Lines of a table: each stage's seconds, items, ms per item and share of the summed
    stage seconds, largest first (stages overlap across processes, so the sum can exceed
    the wall time given). Pure."""
    total = times.total_s
    header = f"{'stage':<14} {'seconds':>9} {'items':>7} {'ms/item':>9} {'share':>6}"
    lines = [f"{header} {'cpu s':>8} {'cpu ms/item':>11}"]
    for stage, seconds in sorted(times.seconds.items(), key=lambda kv: -kv[1]):
        items = times.counts.get(stage, 0)
        cpu = times.cpu.get(stage, 0.0)
        per = f"{1000 * seconds / items:9.1f}" if items else f"{'':>9}"
        cpu_per = f"{1000 * cpu / items:11.1f}" if items else f"{'':>11}"
        share = seconds / total if total else 0.0
        lines.append(
            f"{stage:<14} {seconds:9.2f} {items:7d} {per} {share:6.1%} {cpu:8.2f} {cpu_per}"
        )
    lines.append(f"{'sum':<14} {total:9.2f} {'':>7} {'':>9} {'':>6} {sum(times.cpu.values()):8.2f}")
    if wall_s is not None:
        lines.append(f"{'wall':<14} {wall_s:9.2f}")
    return lines
