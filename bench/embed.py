"""Throughput of the VLM embedder: pages/s at several page resolutions and batch sizes,
clips/s (8 frames of 448x448) and queries/s, for a randomly initialised model of the real
Qwen2-VL-2B / Qwen3-VL-2B size (built from a config: no download; random weights cost the
same time as trained ones).

Each workload is measured twice in the same run:
- pipeline: `VLMEmbedder.embed_units` / `embed_queries` from Units on disk (prompt, PNG
  decode, resize, patching, padding, forward, last-token pooling, normalisation);
- bare: the model forward plus last-token pooling on batches collated beforehand and
  already on the device (the ceiling).
ratio = pipeline rate / bare rate (target >= 0.8).

    PYTHONPATH=. python bench/embed.py                 # GPU, both families
    PYTHONPATH=. python bench/embed.py --tiny          # CPU smoke test, tiny model

Needs only torch, transformers, pillow, numpy, pydantic. Prints a table, writes JSON to
bench/results/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ingest.types import Unit, UnitKind, clip_unit_id, page_unit_id
from retrieval.config import VLMSettings
from retrieval.embedders.vlm import VLMEmbedder
from retrieval.qwen_vl.encoder import LastTokenEncoder
from retrieval.qwen_vl.formats import query_prompt, unit_prompt
from retrieval.qwen_vl.loading import resolve_device, resolve_dtype, text_hidden_size
from retrieval.qwen_vl.processing import ModelInputs, QwenVLProcessor, VisionGeometry
from retrieval.qwen_vl.synthetic import (
    Family,
    chat_template,
    image_processor,
    model_config,
    published_config,
    train_tokenizer,
)

PAGE_TEXT = (
    "Quarterly report. Revenue grew 12% year over year, driven by subscriptions in Europe "
    "and Asia. Operating margin improved to 18%. The board approved a dividend of 0.40 per "
    "share. Risks include currency swings and supply constraints in the second half. "
)
QUERY = "which region drove subscription revenue growth last quarter?"


@dataclass(frozen=True)
class Workload:
    """One measured configuration."""

    kind: str  # page | clip | query
    label: str  # e.g. "504x644"
    batch: int
    items: int
    width: int = 0
    height: int = 0
    frames: int = 0
    max_pixels: int | None = None  # per page image; None: the settings' default


@dataclass
class Result:
    """Rates of one workload."""

    family: str
    kind: str
    label: str
    batch: int
    tokens_per_item: float
    pipeline_per_s: float
    bare_per_s: float
    ratio: float
    peak_mem_gib: float


def write_png(path: Path, width: int, height: int, seed: int) -> Path:
    """A page-like image: white with dark noise bands (compresses like a scan)."""
    rng = np.random.default_rng(seed)
    pixels = np.full((height, width, 3), 255, dtype=np.uint8)
    for top in range(20, height - 10, 24):
        pixels[top : top + 8, 20 : width - 20] = rng.integers(0, 120, (8, max(1, width - 40), 3))
    Image.fromarray(pixels).save(path)
    return path


def make_units(directory: Path, work: Workload) -> list[Unit]:
    """`work.items` units of the workload's kind, written under `directory`."""
    units: list[Unit] = []
    for i in range(work.items):
        if work.kind == "page":
            image = write_png(directory / f"p{work.label}-{i}.png", work.width, work.height, i)
            units.append(
                Unit(
                    page_unit_id("bench", i + 1),
                    "bench",
                    UnitKind.PAGE,
                    i,
                    "bench.pdf",
                    PAGE_TEXT,
                    (image,),
                    page=i + 1,
                )
            )
        else:
            frames = tuple(
                write_png(directory / f"c{i}-{f}.jpg", work.width, work.height, 1000 * i + f)
                for f in range(work.frames)
            )
            units.append(
                Unit(
                    clip_unit_id("bench", i),
                    "bench",
                    UnitKind.CLIP,
                    i,
                    "bench.mp4",
                    "a speaker explains the chart " * 4,
                    frames,
                    start_s=10.0 * i,
                    end_s=10.0 * i + 10,
                )
            )
    return units


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: torch.device, repeats: int) -> float:
    """Median seconds of `repeats` runs of `fn` after one warm-up run."""
    fn()
    synchronize(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def build(
    family: Family, size: str, device: torch.device, dtype: torch.dtype
) -> tuple[LastTokenEncoder, int]:
    """An in-memory random model and its processor, as the embedder's batch encoder."""
    from transformers import AutoModel

    tokenizer = train_tokenizer()
    processor_parts = image_processor(family)
    processor = QwenVLProcessor(
        tokenizer,
        processor_parts,
        VisionGeometry(processor_parts.patch_size, processor_parts.merge_size),
        chat_template(family),
    )
    if size == "tiny":
        config = model_config(family, "tiny", tokenizer)
    else:
        from bench.models import published

        config = published_config(published(f"{family}_2b"), tokenizer)
    torch.manual_seed(0)
    with torch.device(device):
        model = AutoModel.from_config(config, dtype=dtype, attn_implementation="sdpa")
    model.eval()
    encoder = LastTokenEncoder(model, processor, device, batch_tokens=1 << 30, batch_max_items=1)
    return encoder, text_hidden_size(config)


def measure(
    family: Family,
    embedder: VLMEmbedder,
    encoder: LastTokenEncoder,
    work: Workload,
    directory: Path,
    repeats: int,
) -> Result:
    """Pipeline and bare rates of one workload."""
    device = encoder.device
    encoder.batch_max_items = work.batch
    encoder.batch_tokens = 1 << 30  # batch by count here; the budget is exercised in tests
    if work.kind == "query":
        queries = [f"{QUERY} ({i})" for i in range(work.items)]
        prepared = [encoder.prepare(query_prompt(q, embedder.settings)) for q in queries]

        def pipeline() -> object:
            return embedder.embed_queries(queries)
    else:
        units = make_units(directory, work)
        prepared = [encoder.prepare(unit_prompt(u, embedder.settings)) for u in units]

        def pipeline() -> object:
            return embedder.embed_units(units)

    batches: list[ModelInputs] = [
        encoder.processor.collate(prepared[i : i + work.batch]).to(device)
        for i in range(0, len(prepared), work.batch)
    ]

    def bare() -> object:
        return [encoder.pooled(b) for b in batches]

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    pipeline_s = timed(pipeline, device, repeats)
    bare_s = timed(bare, device, repeats)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else 0.0
    tokens = statistics.mean(len(p) for p in prepared)
    return Result(
        family=family,
        kind=work.kind,
        label=work.label,
        batch=work.batch,
        tokens_per_item=round(tokens, 1),
        pipeline_per_s=round(work.items / pipeline_s, 2),
        bare_per_s=round(work.items / bare_s, 2),
        ratio=round(bare_s / pipeline_s, 3),
        peak_mem_gib=round(peak, 2),
    )


def workloads(tiny: bool) -> list[Workload]:
    """The configurations measured (fewer, smaller in --tiny mode)."""
    if tiny:
        return [
            Workload("page", "224x280", 4, 8, 224, 280),
            Workload("clip", "8x112x112", 2, 2, 112, 112, frames=8),
            Workload("query", "text", 16, 32),
        ]
    pages = [(504, 644), (784, 1008), (1120, 1456)]
    out = [
        Workload("page", f"{w}x{h}", batch, 64, w, h)
        for w, h in pages
        for batch in (8, 32)
        if not (w * h > 1_000_000 and batch > 8)
    ]
    out.append(Workload("clip", "8x448x448", 4, 32, 448, 448, frames=8))
    out.append(Workload("query", "text", 128, 1024))
    return out


def print_table(results: Sequence[Result]) -> None:
    header = f"{'family':9} {'kind':5} {'input':10} {'batch':>5} {'tok/item':>8} {'pipeline/s':>10} {'bare/s':>8} {'ratio':>6} {'peak GiB':>8}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.family:9} {r.kind:5} {r.label:10} {r.batch:5d} {r.tokens_per_item:8.0f} "
            f"{r.pipeline_per_s:10.2f} {r.bare_per_s:8.2f} {r.ratio:6.2f} {r.peak_mem_gib:8.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny", action="store_true", help="tiny random model on CPU (smoke test)")
    parser.add_argument("--family", choices=["qwen2_vl", "qwen3_vl", "both"], default="both")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    device = resolve_device("cpu" if args.tiny else args.device)
    dtype = resolve_dtype("auto", device)
    families: list[Family] = ["qwen2_vl", "qwen3_vl"] if args.family == "both" else [args.family]
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="mmrag-bench-") as tmp:
        for family in families:
            encoder, hidden = build(family, "tiny" if args.tiny else "2b", device, dtype)
            settings = VLMSettings(model=f"random-{family}", device=str(device))
            embedder = VLMEmbedder.from_encoder(settings, encoder, hidden)
            for work in workloads(args.tiny):
                result = measure(family, embedder, encoder, work, Path(tmp), args.repeats)
                results.append(result)
                print_table([result])
            del embedder, encoder
            if device.type == "cuda":
                torch.cuda.empty_cache()
    print()
    print_table(results)
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    report = {
        "benchmark": "vlm-embedder",
        "device": str(device),
        "device_name": gpu,
        "dtype": str(dtype),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "tiny": args.tiny,
        "results": [asdict(r) for r in results],
    }
    out = args.out or Path("bench/results") / f"embed-{'tiny' if args.tiny else device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
