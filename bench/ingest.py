"""Ingestion throughput over the corpus: PDF pages/s and video clips/s.

PDF, all measured in the same run over every page of every corpus PDF:
- bare render (reference): pymupdf `get_pixmap` at the pipeline's DPI and pixel cap plus
  `tobytes("png")`, one process, no other work. Also shown without the PNG encoding;
- render-only: `ingest.pdf_page.render` + PNG (our zoom/cap code on top of bare);
- text-only: text layer + garbage score + scanned-page check (the OCR decision);
- OCR: tesseract on the pages that need it (single process; seconds per page);
- pipeline: `PdfPages.pages` over every file with the configured workers (0 = one per
  core), split into files whose pages need no OCR and all files; the no-OCR files also
  with one worker, and (files > 2 pages) the parallel ceiling: bare render split over
  `workers` long-lived processes.
ratio = rate / bare render rate of the same files, measured back to back (target: pipeline
on no-OCR pages >= 0.7; with 2 processes it should exceed 1.0). per-cpu-s = pages per CPU
second of the bench and all its worker processes (needs psutil): it shows the work per page
even where a busy machine (Linux autogroup: one CPU share per session) gives a second
process no extra CPU, and wall-clock rates cannot show a parallel speed-up.

Video (when ingest.video is importable): `VideoClips(settings, WhisperTranscriber)` over
the corpus videos: clips/s and realtime factor (seconds of video per wall second).

    .venv/bin/python bench/ingest.py [PDF_DIR] [--video-dir DIR] [--out FILE] [--no-video]
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

# Run as `python bench/ingest.py`, this file's folder comes first on sys.path and its name
# would shadow the `ingest` package: drop the folder before importing the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import pymupdf  # noqa: E402

from ingest.config import IngestSettings  # noqa: E402
from ingest.ocr import tesseract_version  # noqa: E402
from ingest.pdf import PdfPages  # noqa: E402
from ingest.pdf_page import (  # noqa: E402
    OcrReason,
    PageExtractor,
    fit_zoom,
    is_scanned,
    needs_ocr,
    render,
)
from ingest.textquality import text_quality  # noqa: E402

try:  # optional: CPU time of pool workers (psutil comes with the gpu extra)
    import psutil
except ImportError:  # pragma: no cover
    psutil = None

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO.parent / "shared" / "corpus"


@dataclass
class Row:
    """One line of the table: `units` done in `seconds`."""

    name: str
    units: int
    seconds: float
    unit: str = "pages"
    ratio: float | None = None  # rate / reference rate
    note: str = ""
    # CPU seconds of this process and its workers: pages per CPU-second do not depend on
    # how busy a shared machine is.
    cpu_seconds: float | None = None

    @property
    def rate(self) -> float:
        return self.units / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_rate(self) -> float | None:
        return self.units / self.cpu_seconds if self.cpu_seconds else None


@dataclass
class OcrPage:
    file: str
    page: int
    reason: str
    seconds: float = 0.0
    chars: int = 0


@dataclass
class Report:
    machine: dict[str, object]
    settings: dict[str, object]
    rows: list[Row] = field(default_factory=list)
    ocr_pages: list[OcrPage] = field(default_factory=list)
    video_files: list[dict[str, object]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def cpu_seconds() -> float:
    """CPU seconds of this process and every process it started, including pool workers
    that already exited (the forkserver reaps them, so they count in its children times).
    Without psutil: this process only."""
    total = time.process_time()
    if psutil is None:
        return total
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
        except psutil.Error:
            continue  # exited between listing and reading; its parent's children times have it
        total += t.user + t.system + t.children_user + t.children_system
    return total


class Stopwatch:
    """Units, wall and CPU seconds summed per measurement name. Measurements of one file run
    back to back, so the load of a shared machine drifts alike for all of them; pages per
    CPU-second do not depend on that load at all."""

    def __init__(self) -> None:
        self.totals: dict[str, tuple[int, float, float]] = {}

    def time(self, name: str, work: Callable[[], int]) -> tuple[int, float, float]:
        """Run `work` (returns units done), add it to `name`'s totals, return the figures."""
        cpu_started = cpu_seconds()
        started = time.perf_counter()
        units = work()
        seconds = time.perf_counter() - started
        time.sleep(0.05)  # let the forkserver reap this file's workers before reading CPU
        cpu = cpu_seconds() - cpu_started
        self.add(name, units, seconds, cpu)
        return units, seconds, cpu

    def add(self, name: str, units: int, seconds: float, cpu: float = 0.0) -> None:
        old_units, old_seconds, old_cpu = self.totals.get(name, (0, 0.0, 0.0))
        self.totals[name] = (old_units + units, old_seconds + seconds, old_cpu + cpu)

    def row(self, name: str, label: str, note: str = "") -> Row:
        units, seconds, cpu = self.totals.get(name, (0, 0.0, 0.0))
        return Row(label, units, seconds, note=note, cpu_seconds=cpu)


def _each_page(path: Path, work: Callable[[pymupdf.Page], object]) -> Callable[[], int]:
    def run() -> int:
        with pymupdf.open(path) as doc:
            for page in doc:
                work(page)
            return int(doc.page_count)

    return run


def bare_render(settings: IngestSettings, png: bool) -> Callable[[pymupdf.Page], object]:
    """pymupdf alone: the zoom for the cap, the pixmap, optionally the PNG bytes."""

    def work(page: pymupdf.Page) -> object:
        rect = page.rect
        zoom = fit_zoom(rect.width, rect.height, settings.render_dpi, settings.max_pixels)
        pix = page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), alpha=False)
        return pix.tobytes("png") if png else pix

    return work


def render_only(settings: IngestSettings) -> Callable[[pymupdf.Page], object]:
    """Our render step: ingest.pdf_page.render + PNG."""
    return lambda page: render(page, settings.render_dpi, settings.max_pixels).tobytes("png")


def text_only(settings: IngestSettings, need: list[OcrPage]) -> Callable[[pymupdf.Page], object]:
    """Text layer + the OCR decision; appends the pages that need OCR to `need`."""

    def work(page: pymupdf.Page) -> object:
        reason = needs_ocr(text_quality(page.get_text()), False, settings.min_text_chars)
        if reason is None and is_scanned(page):
            reason = OcrReason.SCANNED
        if reason is not None:
            need.append(OcrPage(Path(page.parent.name).name, page.number + 1, str(reason)))
        return reason

    return work


def ocr_page(pdf_dir: Path, item: OcrPage, settings: IngestSettings) -> None:
    """Tesseract on one page that needs it, as a pipeline worker runs it."""
    extractor = PageExtractor(pdf_dir / item.file, settings)
    try:
        page = extractor.doc.load_page(item.page - 1)
        started = time.perf_counter()
        text = extractor._ocr(page)  # noqa: SLF001 - the OCR step alone
        item.seconds = time.perf_counter() - started
        item.chars = len(text)
    finally:
        extractor.close()


def _bare_range(path: Path, start: int, stop: int, settings: IngestSettings) -> int:
    """Bare render + PNG of pages [start, stop) in a reference worker process."""
    render_page = bare_render(settings, png=True)
    with pymupdf.open(path) as doc:
        for index in range(start, stop):
            render_page(doc.load_page(index))
    return stop - start


def _bare_parallel(
    pool: ProcessPoolExecutor, path: Path, pages: int, workers: int, settings: IngestSettings
) -> Callable[[], int]:
    """Bare render split over `workers` already-running processes."""
    bounds = [pages * i // workers for i in range(workers + 1)]

    def run() -> int:
        futures = [
            pool.submit(_bare_range, path, a, b, settings) for a, b in itertools.pairwise(bounds)
        ]
        return sum(f.result() for f in futures)

    return run


def count_pages(path: Path) -> int:
    with pymupdf.open(path) as doc:
        return int(doc.page_count)


def pipeline(path: Path, pdf: PdfPages) -> Callable[[], int]:
    """PdfPages.pages over one file."""
    return lambda: sum(1 for _ in pdf.pages(path))


def video_rows(video_dir: Path, settings: IngestSettings, report: Report) -> list[Row]:
    """Clips/s and realtime factor of the video extractor, or [] if it is not there yet."""
    try:
        from ingest.asr import WhisperTranscriber
        from ingest.video import VideoClips
    except ImportError as err:
        report.notes.append(f"video skipped: {err}")
        return []
    files = sorted(
        p for p in video_dir.iterdir() if p.suffix.lower() in {".mp4", ".mkv", ".mov", ".webm"}
    )
    if not files:
        report.notes.append(f"video skipped: no videos in {video_dir}")
        return []
    transcriber = WhisperTranscriber(settings)
    clips_extractor = VideoClips(settings, transcriber)
    # Load the ASR model outside the timing (it loads once per process in the product).
    load_started = time.perf_counter()
    transcriber._load()  # noqa: SLF001 - warm-up only
    load_s = time.perf_counter() - load_started
    total_clips = 0
    total_video = total_wall = 0.0
    for path in files:
        started = time.perf_counter()
        duration = clips_extractor.duration(path)
        clips = list(clips_extractor.clips(path))
        wall = time.perf_counter() - started
        report.video_files.append(
            {
                "file": path.name,
                "duration_s": round(duration, 2),
                "clips": len(clips),
                "wall_s": round(wall, 3),
                "realtime_factor": round(duration / wall, 2) if wall else None,
                "text_sources": sorted({c.text_source for c in clips}),
            }
        )
        total_clips += len(clips)
        total_video += duration
        total_wall += wall
    rtf = total_video / total_wall if total_wall else 0.0
    return [
        Row(
            "video: clips (ASR + frames + keyframe OCR)",
            total_clips,
            total_wall,
            unit="clips",
            note=f"{len(files)} files, ASR model load {load_s:.1f} s not counted",
        ),
        Row(
            "video: seconds of video",
            round(total_video),
            total_wall,
            unit="video s",
            note=f"realtime factor {rtf:.1f}x",
        ),
    ]


def print_table(report: Report) -> None:
    header = f"{'measurement':52} {'units':>7} {'seconds':>9} {'rate/s':>9} {'ratio':>6}"
    print(f"\n{header} {'per-cpu-s':>9}  note")
    for row in report.rows:
        ratio = f"{row.ratio:.2f}" if row.ratio is not None else ""
        cpu = f"{row.cpu_rate:.2f}" if row.cpu_rate is not None else ""
        print(
            f"{row.name:52} {row.units:>7} {row.seconds:>9.2f} {row.rate:>9.2f} {ratio:>6} "
            f"{cpu:>9}  {row.unit}; {row.note}"
        )
    if report.ocr_pages:
        times = [p.seconds for p in report.ocr_pages]
        print(
            f"\nOCR seconds per page: mean {statistics.mean(times):.2f}, median "
            f"{statistics.median(times):.2f}, max {max(times):.2f} over {len(times)} pages"
        )
    for note in report.notes:
        print(f"note: {note}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pdf_dir", nargs="?", type=Path, default=CORPUS / "pdf")
    parser.add_argument("--video-dir", type=Path, default=CORPUS / "video")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "ingest.json")
    parser.add_argument("--no-video", action="store_true")
    parser.add_argument("--workers", type=int, default=0, help="pipeline processes; 0 = cores")
    args = parser.parse_args(argv)

    settings = IngestSettings(workers=args.workers)
    files = sorted(args.pdf_dir.glob("*.pdf"))
    if not files:
        raise SystemExit(f"no PDFs in {args.pdf_dir}")
    report = Report(
        machine={
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "pymupdf": pymupdf.__version__,
            "tesseract": tesseract_version(),
            "load_avg_start": os.getloadavg(),
        },
        settings=settings.model_dump(),
    )
    print(f"{len(files)} PDFs in {args.pdf_dir}; workers={settings.workers or os.cpu_count()}")

    # Stage by stage, one process, every page; the four stages of a file back to back.
    stages = Stopwatch()
    need: list[OcrPage] = []
    for path in files:
        stages.time("bare", _each_page(path, bare_render(settings, png=True)))
        stages.time("pixmap", _each_page(path, bare_render(settings, png=False)))
        stages.time("render", _each_page(path, render_only(settings)))
        stages.time("text", _each_page(path, text_only(settings, need)))
    for item in need:
        ocr_page(args.pdf_dir, item, settings)
    report.ocr_pages = need

    # The pipeline: files whose pages need no OCR run the references and the pipeline back
    # to back; files with OCR pages run once, with N processes.
    workers = settings.workers or os.cpu_count() or 1
    serial_pdf = PdfPages(settings.model_copy(update={"workers": 1}))
    parallel_pdf = PdfPages(settings)
    ocr_files = {p.file for p in need}
    runs = Stopwatch()
    n_plain = n_multi = 0
    # The page pool (and the forkserver it forks from) starts once, then is kept between
    # files (ingest/page_pool.py): its start is not a file's.
    warm_up = next((f for f in files if parallel_pdf.workers_for(count_pages(f)) > 1), None)
    if warm_up is not None:
        pipeline(warm_up, parallel_pdf)()
    # The parallel ceiling: bare render in `workers` long-lived processes, pages split into
    # contiguous ranges, no pool start-up, nothing sent back.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as ceiling:
        for path in files:
            if path.name in ocr_files:
                runs.time("all", pipeline(path, parallel_pdf))
                continue
            n_plain += 1
            runs.time("bare", _each_page(path, bare_render(settings, png=True)))
            runs.time("serial", pipeline(path, serial_pdf))
            pages, seconds, cpu = runs.time("parallel", pipeline(path, parallel_pdf))
            runs.add("all", pages, seconds, cpu)
            if parallel_pdf.workers_for(pages) > 1:
                n_multi += 1
                runs.time("bare-multi", _each_page(path, bare_render(settings, png=True)))
                runs.time("ceiling-multi", _bare_parallel(ceiling, path, pages, workers, settings))
                runs.time("serial-multi", pipeline(path, serial_pdf))
                runs.time("parallel-multi", pipeline(path, parallel_pdf))

    one = "1 process"
    rows = [
        stages.row("bare", "bare render + PNG (reference)", f"pymupdf, {one}"),
        stages.row("pixmap", "bare render, pixmap only (no PNG)", f"pymupdf, {one}"),
        stages.row("render", "render-only (ingest.pdf_page.render + PNG)", one),
        stages.row("text", "text-only (layer + garbage score + scan check)", one),
    ]
    reference = rows[0].rate
    for row in rows:
        row.ratio = row.rate / reference if reference else None
    ocr_seconds = sum(p.seconds for p in need)
    langs = settings.ocr_languages
    rows.append(Row("OCR (pages that need it)", len(need), ocr_seconds, note=f"{one}, -l {langs}"))
    pipe_ref = runs.row(
        "bare", "pipeline section reference: bare render + PNG", f"{n_plain} no-OCR files"
    )
    pipe_rows = [
        pipe_ref,
        runs.row("serial", "pipeline, no-OCR files, 1 process", f"{n_plain} files"),
        runs.row("parallel", f"pipeline, no-OCR files, {workers} processes", f"{n_plain} files"),
    ]
    for row in pipe_rows:
        row.ratio = row.rate / pipe_ref.rate if pipe_ref.rate else None
    multi_ref = runs.row("bare-multi", "bare render + PNG, files > 2 pages", f"{n_multi} files")
    multi_rows = [
        multi_ref,
        runs.row("ceiling-multi", f"  bare render + PNG, {workers} processes (ceiling)"),
        runs.row("serial-multi", "  pipeline, 1 process"),
        runs.row("parallel-multi", f"  pipeline, {workers} processes (pool per file)"),
    ]
    for row in multi_rows:
        row.ratio = row.rate / multi_ref.rate if multi_ref.rate else None
    pipe_rows += multi_rows
    all_row = runs.row(
        "all",
        f"pipeline, all files, {workers} processes",
        f"{len(files)} files, {len(need)} OCR pages",
    )
    all_row.ratio = all_row.rate / pipe_ref.rate if pipe_ref.rate else None
    report.rows = rows + pipe_rows + [all_row]
    report.rows += [] if args.no_video else video_rows(args.video_dir, settings, report)
    report.machine["load_avg_end"] = os.getloadavg()

    print_table(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = asdict(report) | {"rates": {r.name: r.rate for r in report.rows}}
    args.out.write_text(json.dumps(payload, indent=2, default=str))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
