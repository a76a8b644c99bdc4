"""The CPU side that feeds the VLM embedder on a GPU: pages per second per core for each
stage of turning a stored page PNG into model input, and whether a 16-core GPU machine
keeps up with the forward pass (target 110 pages/s at ~414 visual tokens, Qwen3-VL).

Pages are the corpus PDFs (../shared/corpus/pdf) rendered as ingest stores them (144 dpi,
2 Mpx cap, PNG); synthetic pages of the same size when the corpus is absent. Stages, one
thread each, per page:
- prepare: header read, sizing, prompt rendering, tokenisation (`LastTokenEncoder.prepare`);
- decode: PNG to RGB; resize: to the ~414-token size (bicubic); patchify: to the model's
  float patches; pin: the page's share of the batch copy into page-locked memory (timed as
  a plain copy of the same bytes here: this machine has no CUDA);
- collate: `processor.collate` of a batch of 32 with 1..N decode threads (the end-to-end
  feed: padding, decode, resize, patchify, in the product's thread pool).

Projection: collate time per page t(k) = serial + parallel / k is fitted to the measured
thread counts; 16 cores leave 14 decode threads (the main thread drives the GPU, one
thread collates). Reference in the same run: the single-thread sum of the stages.

    python -m bench.feed [--pages 64] [--batch 32]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from bench.embed import PAGE_TEXT, write_png
from bench.models import bench_tokenizer
from ingest.types import Unit, UnitKind, page_unit_id
from retrieval.config import VLMSettings
from retrieval.qwen_vl.formats import unit_prompt
from retrieval.qwen_vl.processing import (
    QwenVLProcessor,
    VisionGeometry,
    decode_rgb,
    patchify,
)
from retrieval.qwen_vl.prompts import render_prompt
from retrieval.qwen_vl.synthetic import chat_template, image_processor

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "pdf"
TARGET_PAGES_PER_S = 110.0
GPU_CORES = 16
RESERVED_THREADS = 2  # the thread driving the GPU and the collate thread


@dataclass
class Stage:
    """One stage's single-thread cost."""

    name: str
    ms_per_page: float
    pages_per_s_per_core: float


@dataclass
class Scaling:
    """`processor.collate` with `threads` decode threads: wall rate, and CPU ms per page in
    the calling (collate) thread and in the decode threads."""

    threads: int
    pages_per_s: float
    serial_cpu_ms: float
    parallel_cpu_ms: float


def render_corpus_pages(directory: Path, count: int) -> list[Path]:
    """Up to `count` corpus pages as ingest stores them (PNG), spread over the PDFs."""
    import pymupdf

    from ingest.config import IngestSettings
    from ingest.pdf_page import render

    settings = IngestSettings()
    pdfs = sorted(CORPUS.glob("*.pdf"))
    paths: list[Path] = []
    page_index = 0
    while pdfs and len(paths) < count and page_index < 8:
        for pdf in pdfs:
            if len(paths) >= count:
                break
            with pymupdf.open(pdf) as doc:
                if page_index >= doc.page_count:
                    continue
                pix = render(doc.load_page(page_index), settings.render_dpi, settings.max_pixels)
                path = directory / f"{pdf.stem}-{page_index}.png"
                path.write_bytes(pix.tobytes("png"))
                paths.append(path)
        page_index += 1
    return paths


def page_images(directory: Path, count: int) -> tuple[list[Path], str]:
    """Page PNGs to feed, and where they came from."""
    if CORPUS.is_dir():
        paths = render_corpus_pages(directory, count)
        if paths:
            return paths, f"{len(paths)} corpus pages rendered at 144 dpi"
    paths = [write_png(directory / f"page-{i}.png", 1191, 1684, i) for i in range(count)]
    return paths, f"{count} synthetic 1191x1684 pages"


def page_units(paths: Sequence[Path]) -> list[Unit]:
    return [
        Unit(page_unit_id("feed", i + 1), "feed", UnitKind.PAGE, i, "feed.pdf", PAGE_TEXT, (p,))
        for i, p in enumerate(paths)
    ]


def per_page(fn: Callable[[int], object], count: int, repeats: int) -> float:
    """Median-of-`repeats` CPU seconds (this thread's) per page of `fn(i)` over `count`
    pages: CPU time, not wall time, so other load on the machine does not inflate it."""
    runs = []
    for _ in range(repeats):
        start = time.thread_time()
        for i in range(count):
            fn(i)
        runs.append((time.thread_time() - start) / count)
    return statistics.median(runs)


def collate_scaling(
    processor: QwenVLProcessor, groups: Sequence[Any], threads: int, repeats: int
) -> Scaling:
    """Collate every group with `threads` decode threads (median of `repeats` runs after a
    warm-up)."""
    processor.decode_workers = threads
    processor._pool = None  # a pool of the new size
    pages = sum(len(g) for g in groups)
    runs = []
    for attempt in range(repeats + 1):
        wall, own, total = time.perf_counter(), time.thread_time(), time.process_time()
        for group in groups:
            processor.collate(group)
        wall, own = time.perf_counter() - wall, time.thread_time() - own
        total = time.process_time() - total
        if attempt:  # the first run warms the pool and the allocator
            runs.append((wall, own, total - own))
    wall, own, others = (statistics.median(r[k] for r in runs) for k in range(3))
    return Scaling(
        threads,
        round(pages / wall, 1),
        round(own / pages * 1000, 2),
        round(others / pages * 1000, 2),
    )


def stage(name: str, seconds: float) -> Stage:
    return Stage(name, round(seconds * 1000, 2), round(1 / seconds, 1))


def measure(pages: int, batch: int, max_threads: int, repeats: int = 3) -> dict[str, Any]:
    """Every figure of the report."""
    torch.set_num_threads(1)  # one core per stage: the figures are per core
    with tempfile.TemporaryDirectory(prefix="mmrag-feed-") as tmp:
        paths, source = page_images(Path(tmp), pages)
        units = page_units(paths)
        parts = image_processor("qwen3_vl")
        geometry = VisionGeometry(parts.patch_size, parts.merge_size)
        processor = QwenVLProcessor(bench_tokenizer(), parts, geometry, chat_template("qwen3_vl"))
        settings = VLMSettings(model="feed", max_pixels=414 * 1024)
        specs = [unit_prompt(u, settings) for u in units]

        def prepare(i: int) -> object:
            spec = specs[i]
            sized = [processor.size_image(p.source, p.sizing) for p in spec.images]
            return processor.encode(render_prompt(spec), sized)

        prepared = [prepare(i) for i in range(len(units))]
        sized = [p.images[0] for p in prepared]  # type: ignore[attr-defined]
        decoded = [decode_rgb(s.source) for s in sized]
        resized = [s.load() for s in sized]
        norm = processor.normalization
        assert norm is not None
        patches = [patchify(r, geometry, norm) for r in resized]
        n = len(units)
        stages = [
            stage("prepare", per_page(prepare, n, repeats)),
            stage("decode", per_page(lambda i: decode_rgb(sized[i].source), n, repeats)),
            stage(
                "resize",
                per_page(
                    lambda i: decoded[i].resize((sized[i].width, sized[i].height), 3), n, repeats
                ),
            ),
            stage("patchify", per_page(lambda i: patchify(resized[i], geometry, norm), n, repeats)),
            stage("pin (copy)", per_page(lambda i: patches[i].clone(), n, repeats)),
        ]
        groups = [prepared[i : i + batch] for i in range(0, n, batch)]
        scaling = [
            collate_scaling(processor, groups, threads, repeats)
            for threads in range(1, max_threads + 1)
        ]
        tokens = statistics.mean(len(p) for p in prepared)  # type: ignore[arg-type]
        visual = statistics.mean(geometry.tokens(s.height, s.width) for s in sized)
        size = statistics.mean(Path(p).stat().st_size for p in paths) / 1024
        width, height = (statistics.mean(d.size[k] for d in decoded) for k in (0, 1))
    return project(stages, scaling, source, tokens, visual, size, (width, height))


def project(
    stages: Sequence[Stage],
    scaling: Sequence[Scaling],
    source: str,
    tokens: float,
    visual: float,
    png_kib: float,
    page_size: tuple[float, float],
) -> dict[str, Any]:
    """What a 16-core machine can feed, from CPU time per page (wall time on this shared
    machine is distorted by other load).

    `LastTokenEncoder.encode` prepares every prompt on the calling thread first, then a
    collate thread builds batch i + 1 while the GPU runs batch i: its own work (padding,
    tensors, the pinned copy) is serial, the decode threads' work divides over 14 threads.
    So the feed sustains 1000 / (serial + pin + parallel / 14) pages/s, and a GPU at the
    target rate gets 1000 / (prepare + max(1000 / target, collate)) pages/s end to end.
    """
    one = scaling[0]  # one decode thread: all decoding in the pool, none in the caller
    threads = GPU_CORES - RESERVED_THREADS
    ms = {s.name: s.ms_per_page for s in stages}
    collate_ms = one.serial_cpu_ms + ms["pin (copy)"] + one.parallel_cpu_ms / threads
    feed = 1000 / collate_ms
    end_to_end = 1000 / (ms["prepare"] + max(1000 / TARGET_PAGES_PER_S, collate_ms))
    return {
        "source": source,
        "page_png_kib": round(png_kib, 1),
        "page_pixels": [round(page_size[0]), round(page_size[1])],
        "tokens_per_page": round(tokens, 1),
        "visual_tokens_per_page": round(visual, 1),
        "stages": [asdict(s) for s in stages],
        "single_thread_sum_ms": round(sum(ms.values()), 2),
        "collate_scaling": [asdict(s) for s in scaling],
        "projected_threads": threads,
        "projected_collate_ms_per_page": round(collate_ms, 2),
        "projected_feed_pages_per_s": round(feed, 1),
        "target_pages_per_s": TARGET_PAGES_PER_S,
        "projected_pipeline_pages_per_s": round(end_to_end, 1),
        "projected_ratio_to_target": round(end_to_end / TARGET_PAGES_PER_S, 2),
    }


def print_report(report: dict[str, Any]) -> None:
    print(
        f"{report['source']}; {report['page_pixels'][0]}x{report['page_pixels'][1]} px, "
        f"{report['page_png_kib']} KiB PNG, {report['visual_tokens_per_page']:.0f} visual / "
        f"{report['tokens_per_page']:.0f} total tokens per page"
    )
    print(f"{'stage':12} {'ms/page':>8} {'pages/s/core':>13}")
    for s in report["stages"]:
        print(f"{s['name']:12} {s['ms_per_page']:8.2f} {s['pages_per_s_per_core']:13.1f}")
    print(f"{'sum':12} {report['single_thread_sum_ms']:8.2f}")
    print(f"\n{'threads':>7} {'wall pages/s':>12} {'collate-thread ms':>17} {'decode ms':>9}")
    for s in report["collate_scaling"]:
        print(
            f"{s['threads']:7d} {s['pages_per_s']:12.1f} {s['serial_cpu_ms']:17.2f} "
            f"{s['parallel_cpu_ms']:9.2f}"
        )
    print(
        f"\n16 cores ({report['projected_threads']} decode threads): collate "
        f"{report['projected_collate_ms_per_page']} ms/page = "
        f"{report['projected_feed_pages_per_s']} pages/s of feed; with a GPU at "
        f"{report['target_pages_per_s']:.0f} pages/s the pipeline gets "
        f"{report['projected_pipeline_pages_per_s']} pages/s "
        f"({report['projected_ratio_to_target']} of the target)"
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=64)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=0, help="max decode threads (0: cores)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--out", type=Path, default=Path("bench/results/feed.json"))
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    report = measure(args.pages, args.batch, args.threads or cores, args.repeats)
    report.update(machine=platform.processor() or platform.machine(), cores=cores)
    print_report(report)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")
    return report


if __name__ == "__main__":
    main()
