"""The GPU path at real size, in one command and under 10 minutes: embedder, reranker and
answer model built as random-weight checkpoints from their published configs
(bench/configs), saved, and loaded through the product's own classes, bf16 on one GPU.

Steps (each under its own time cap; a step that runs out is recorded and the next one
starts; the JSON is rewritten after every step):
- build: Qwen3-VL-2B (embedder and reranker) and Qwen3-VL-4B-Instruct checkpoints.
- embed: `VLMEmbedder` pages/s (decode, processor, batching, forward, pooling) against the
  bare forward + pooling of the same batches already on the GPU: pages at ~414, ~1,008 and
  ~2,080 visual tokens, clips of 8 frames of 448x448, text queries.
- packed: the optimised path on the same inputs: one unpadded row per token-budget batch
  with per-prompt flash attention (`packing`), the patch embedding as a GEMM; its vectors
  are compared with the padded path's (cosine, max |diff|).
- rerank: `VLMReranker.score` latency for 20 and 50 candidates at ~414 tokens.
- generate: `TransformersVLMGenerator.stream` time to first token and decode rate with 5
  page images, against `generate` on the same inputs.
- compile: the packed path with each vision block and decoder layer `torch.compile`d
  (pages at ~414 tokens), compared the same way.

    python -m bench.gpu                  # GPU: writes bench/results/gpu-<device>.json
    python -m bench.gpu --tiny           # CPU, tiny models: proves the script end to end
    python -m bench.gpu --no-compile     # skip the torch.compile step

Columns: per_s are items/s (pages, clips, queries); ratio = pipeline / bare; tflops and
pct_peak count the analytic matrix FLOPs of the forward (bench/flops.py) per second of
the bare (or packed bare) forward against the GPU's dense bf16 peak.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import platform
import signal
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.embed import Workload, make_units, synchronize, timed
from bench.flops import peak_bf16, prompt_flops
from bench.models import ROLE_CONFIGS, bench_tokenizer, config_for, write_random_checkpoint
from generation.config import GenerationSettings
from generation.generators.transformers_vlm import TransformersVLMGenerator
from ingest.types import Unit
from retrieval.config import VLMSettings
from retrieval.embedders.vlm import VLMEmbedder
from retrieval.qwen_vl import loading
from retrieval.qwen_vl.batching import plan_batches
from retrieval.qwen_vl.encoder import Batch, LastTokenEncoder
from retrieval.qwen_vl.formats import query_prompt, unit_prompt
from retrieval.qwen_vl.packing import cuda_varlen_kernel
from retrieval.qwen_vl.patch_embed import use_linear_patch_embedding
from retrieval.qwen_vl.processing import EncodedPrompt
from retrieval.rerankers.vlm import VLMReranker
from retrieval.types import Hit

QUERY = "which region drove subscription revenue growth last quarter?"
PAGE_SOURCE = (1191, 1684)  # an A4 page as ingest renders it (144 dpi, 2 Mpx cap)
# Pooled vectors of two paths agree "within bf16" when every pair has at least this cosine.
BF16_MIN_COSINE = 0.99


class StepTimeout(Exception):
    """A step ran past its cap."""


@contextlib.contextmanager
def time_cap(seconds: float) -> Iterator[None]:
    """Raise StepTimeout in the main thread after `seconds` (SIGALRM; Unix)."""

    def expire(signum: int, frame: object) -> None:
        raise StepTimeout(f"over its {seconds:.0f} s cap")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Row:
    """One measured line of the table."""

    step: str
    workload: str
    batch: str
    tokens_per_item: float
    visual_tokens_per_item: float
    pipeline_per_s: float | None = None
    bare_per_s: float | None = None
    ratio: float | None = None
    tflops: float | None = None
    pct_peak: float | None = None
    min_cosine: float | None = None
    max_abs_diff: float | None = None
    note: str = ""


@dataclass
class Plan:
    """Sizes of one run: real ones on a GPU, toy ones for the CPU smoke test."""

    tiny: bool
    device: torch.device
    dtype: torch.dtype
    embed: list[Workload]
    compile_labels: tuple[str, ...]
    rerank_sizes: tuple[int, ...]
    answer_pages: int
    new_tokens: int
    repeats: int
    caps: dict[str, float]


# The CPU smoke test's toy sizes, then the real ones.
TINY_WORKLOADS = (
    Workload("page", "~16tok", 4, 8, 256, 320, max_pixels=16 * 1024),
    Workload("page", "~48tok", 4, 4, 256, 320, max_pixels=48 * 1024),
    Workload("clip", "8x64x64", 2, 2, 64, 64, frames=8),
    Workload("query", "text", 8, 16),
)
GPU_WORKLOADS = (
    Workload("page", "~414tok", 32, 128, *PAGE_SOURCE, max_pixels=414 * 1024),
    Workload("page", "~1008tok", 32, 64, *PAGE_SOURCE, max_pixels=1008 * 1024),
    Workload("page", "~2080tok", 16, 32, 1280, 1664, max_pixels=2080 * 1024),
    Workload("clip", "8x448x448", 8, 32, 448, 448, frames=8),
    Workload("query", "text", 128, 1024),
)
# 480 s in all: the run fits a 10-minute call with its start and imports
GPU_CAPS = {"build": 90, "embed": 120, "packed": 90, "rerank": 35, "generate": 60, "compile": 85}


def plan(tiny: bool, device: torch.device) -> Plan:
    """What to measure and the time cap of each step."""
    return Plan(
        tiny=tiny,
        device=device,
        dtype=torch.float32 if device.type == "cpu" else torch.bfloat16,
        embed=list(TINY_WORKLOADS if tiny else GPU_WORKLOADS),
        compile_labels=("~16tok",) if tiny else ("~414tok",),
        rerank_sizes=(2, 5) if tiny else (20, 50),
        answer_pages=5,
        new_tokens=12 if tiny else 64,
        repeats=1 if tiny else 2,
        caps={s: 120.0 for s in STEPS} if tiny else dict(GPU_CAPS),
    )


@dataclass
class Measured:
    """What a workload left for later steps: its units and the padded path's vectors."""

    work: Workload
    settings: VLMSettings
    units: list[Unit]
    queries: list[str]
    prepared: list[EncodedPrompt]
    vectors: np.ndarray[Any, np.dtype[np.float32]]
    flops_per_item: float


@dataclass
class State:
    """Shared between steps."""

    plan: Plan
    workdir: Path
    peak: float | None
    checkpoints: dict[str, Path] = field(default_factory=dict)
    embedder: VLMEmbedder | None = None
    measured: dict[str, Measured] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)


def settings_for(state: State, work: Workload | None = None) -> VLMSettings:
    """Embedder/reranker settings of the run (per workload: the page pixel budget)."""
    p = state.plan
    update: dict[str, Any] = {
        "model": str(state.checkpoints["embedder"]),
        "device": str(p.device),
        "dtype": "float32" if p.dtype == torch.float32 else "bfloat16",
        "frame_max_pixels": 448 * 448 if not p.tiny else 64 * 64,
    }
    if work is not None:
        update.update(batch_tokens=1 << 30, batch_max_items=work.batch)
        if work.max_pixels is not None:
            update["max_pixels"] = work.max_pixels
    return VLMSettings(**update)


def step_build(state: State) -> None:
    """Write the three checkpoints (the embedder and the reranker share one)."""
    tokenizer = bench_tokenizer()
    written: dict[str, Path] = {}
    for role, name in ROLE_CONFIGS.items():
        if name not in written:
            config = config_for(name, tokenizer, state.plan.tiny)
            written[name] = write_random_checkpoint(
                state.workdir / name, config, tokenizer, state.plan.device, state.plan.dtype
            )
        state.checkpoints[role] = written[name]


def _flops(config: Any, encoder: LastTokenEncoder, prepared: Sequence[EncodedPrompt]) -> float:
    """Mean forward FLOPs per prompt."""
    patch = encoder.processor.geometry.patch_size
    total = 0.0
    for prompt in prepared:
        patches = [(img.height // patch) * (img.width // patch) for img in prompt.images]
        total += prompt_flops(config, len(prompt), patches)
    return total / max(1, len(prepared))


def _visual_tokens(encoder: LastTokenEncoder, prepared: Sequence[EncodedPrompt]) -> float:
    geometry = encoder.processor.geometry
    counts = [sum(geometry.tokens(i.height, i.width) for i in p.images) for p in prepared]
    return statistics.mean(counts) if counts else 0.0


def _rate_row(
    state: State,
    step: str,
    m: Measured,
    encoder: LastTokenEncoder,
    pipeline: Callable[[], np.ndarray[Any, np.dtype[np.float32]]],
    batches: list[Batch],
    batch_label: str,
) -> tuple[Row, np.ndarray[Any, np.dtype[np.float32]]]:
    """Time `pipeline` (the product call) and the bare forward of `batches`."""
    p = state.plan
    out: list[np.ndarray[Any, np.dtype[np.float32]]] = []

    def run_pipeline() -> object:
        out.append(pipeline())
        return None

    def run_bare() -> object:
        return [encoder.pooled(b) for b in batches]

    n = len(m.prepared)
    pipeline_s = timed(run_pipeline, p.device, p.repeats)
    bare_s = timed(run_bare, p.device, p.repeats)
    tflops = m.flops_per_item * n / bare_s / 1e12
    row = Row(
        step=step,
        workload=f"{m.work.kind} {m.work.label}",
        batch=batch_label,
        tokens_per_item=round(statistics.mean(len(x) for x in m.prepared), 1),
        visual_tokens_per_item=round(_visual_tokens(encoder, m.prepared), 1),
        pipeline_per_s=round(n / pipeline_s, 2),
        bare_per_s=round(n / bare_s, 2),
        ratio=round(bare_s / pipeline_s, 3),
        tflops=round(tflops, 1),
        pct_peak=round(100 * tflops * 1e12 / state.peak, 1) if state.peak else None,
    )
    return row, out[-1]


def _on_device(encoder: LastTokenEncoder, batches: Sequence[Batch]) -> list[Batch]:
    moved = [b.to(encoder.device) for b in batches]
    synchronize(encoder.device)
    return moved


def _call(embedder: VLMEmbedder, m: Measured) -> np.ndarray[Any, np.dtype[np.float32]]:
    if m.work.kind == "query":
        return embedder.embed_queries(m.queries)
    return embedder.embed_units(m.units)


def step_embed(state: State) -> None:
    """Pipeline vs bare forward on the padded (product default) path."""
    embedder = VLMEmbedder(settings_for(state))
    encoder = embedder.load()
    state.embedder = embedder
    config = loading.load_config(str(state.checkpoints["embedder"]))
    for work in state.plan.embed:
        settings = settings_for(state, work)
        view = VLMEmbedder.from_encoder(settings, encoder, embedder.dim)
        encoder.batch_tokens, encoder.batch_max_items = 1 << 30, work.batch
        units: list[Unit] = []
        queries: list[str] = []
        if work.kind == "query":
            queries = [f"{QUERY} ({i})" for i in range(work.items)]
            prepared = [encoder.prepare(query_prompt(q, settings)) for q in queries]
        else:
            units = make_units(state.workdir, work)
            prepared = [encoder.prepare(unit_prompt(u, settings)) for u in units]
        m = Measured(work, settings, units, queries, prepared, np.zeros(0, np.float32), 0.0)
        m.flops_per_item = _flops(config, encoder, prepared)
        # The groups the product forms too (longest first, `work.batch` per forward).
        groups = plan_batches([len(x) for x in prepared], 1 << 30, work.batch)
        batches = [encoder.collate([prepared[i] for i in g]) for g in groups]
        row, vectors = _rate_row(
            state,
            "embed",
            m,
            encoder,
            lambda view=view, m=m: _call(view, m),
            _on_device(encoder, batches),
            str(work.batch),
        )
        m.vectors = vectors
        state.measured[work.label] = m
        state.rows.append(row)
        print_rows([row])


def _packed_encoder(state: State) -> LastTokenEncoder:
    assert state.embedder is not None, "the embed step runs first"
    base = state.embedder.load()
    use_linear_patch_embedding(base.backbone)
    return LastTokenEncoder(
        base.backbone, base.processor, base.device, 1 << 30, 1 << 30, packed=True
    )


def _compare(row: Row, reference: np.ndarray[Any, Any], vectors: np.ndarray[Any, Any]) -> None:
    cosine = np.sum(reference * vectors, axis=1)  # both unit vectors
    row.min_cosine = round(float(cosine.min()), 5)
    row.max_abs_diff = round(float(np.abs(reference - vectors).max()), 5)
    if row.min_cosine < BF16_MIN_COSINE:
        row.note = f"vectors differ: min cosine {row.min_cosine} < {BF16_MIN_COSINE}"


def _measure_packed(
    state: State, step: str, encoder: LastTokenEncoder, labels: Sequence[str]
) -> None:
    assert state.embedder is not None, "the embed step runs first"
    for label in [x for x in labels if x in state.measured]:  # what the embed step finished
        m = state.measured[label]
        # Token budget = the padded path's tokens per batch, without the padding.
        budget = int(m.work.batch * statistics.mean(len(x) for x in m.prepared))
        encoder.batch_tokens, encoder.batch_max_items = budget, 1 << 30
        view = VLMEmbedder.from_encoder(m.settings, encoder, state.embedder.dim)
        groups = plan_batches([len(x) for x in m.prepared], budget, 1 << 30, packed=True)
        batches = [encoder.collate([m.prepared[i] for i in g]) for g in groups]
        row, vectors = _rate_row(
            state,
            step,
            m,
            encoder,
            lambda view=view, m=m: _call(view, m),
            _on_device(encoder, batches),
            f"{budget} tok",
        )
        _compare(row, m.vectors, vectors)
        state.rows.append(row)
        print_rows([row])


def step_packed(state: State) -> None:
    """The optimised path: packed token-budget batches, varlen attention, GEMM patches."""
    _measure_packed(state, "packed", _packed_encoder(state), [w.label for w in state.plan.embed])


def step_compile(state: State) -> None:
    """The packed path with every vision block and decoder layer compiled (regional
    compilation: one graph per repeated block, reused by all of them)."""
    encoder = _packed_encoder(state)
    backbone: Any = encoder.backbone
    for block in [*backbone.visual.blocks, *backbone.language_model.layers]:
        block.compile(dynamic=True)
    _measure_packed(state, "compile", encoder, state.plan.compile_labels)


def step_rerank(state: State) -> None:
    """Reranker latency for the top 20 / top 50 at ~414 tokens per page."""
    work = state.plan.embed[0]
    m = state.measured.get(work.label)
    units = m.units if m else make_units(state.workdir, work)
    settings = settings_for(state, work).model_copy(
        update={"batch_tokens": 16_384, "batch_max_items": 32}
    )
    reranker = VLMReranker(settings)
    reranker.load()
    for size in state.plan.rerank_sizes:
        pages = (units * (1 + size // max(1, len(units))))[:size]
        seconds = timed(lambda pages=pages: reranker.score(QUERY, pages), state.plan.device, 3)
        row = Row(
            step="rerank",
            workload=f"top {size} pages {work.label}",
            batch="16384 tok",
            tokens_per_item=0.0,
            visual_tokens_per_item=0.0,
            pipeline_per_s=round(size / seconds, 2),
            note=f"latency {seconds * 1000:.0f} ms",
        )
        state.rows.append(row)
        print_rows([row])


def _hits(units: Sequence[Unit]) -> list[Hit]:
    return [Hit(unit=u, score=1.0 - i / 10, stage1_score=1.0) for i, u in enumerate(units)]


def step_generate(state: State) -> None:
    """Time to first token and decode rate with 5 page images, product vs bare generate."""
    p = state.plan
    work = p.embed[0]
    m = state.measured.get(work.label)
    units = (m.units if m else make_units(state.workdir, work))[: p.answer_pages]
    settings = GenerationSettings(
        transformers_model=str(state.checkpoints["generator"]),
        device=str(p.device),
        max_new_tokens=p.new_tokens,
        temperature=0.0,
    )
    generator = TransformersVLMGenerator(settings)
    generator.load()
    hits = _hits(units)

    def stream() -> tuple[float, float, int]:
        start = time.perf_counter()
        first = 0.0
        pieces = 0
        for _ in generator.stream(QUERY, hits):
            pieces += 1
            first = first or time.perf_counter() - start
        return first, time.perf_counter() - start, pieces

    stream()  # warm-up
    first, total, pieces = stream()
    inputs = generator.prepare(QUERY, hits)
    model = loading.load_generative(settings.transformers_model, p.device, p.dtype)
    kwargs = inputs.to(p.device).forward_kwargs(loading.accepts_mm_token_types(model))

    def bare(tokens: int) -> float:
        start = time.perf_counter()
        model.generate(**kwargs, max_new_tokens=tokens, min_new_tokens=tokens, do_sample=False)
        synchronize(p.device)
        return time.perf_counter() - start

    bare(2)
    prefill = statistics.median(bare(1) for _ in range(2))
    full = bare(p.new_tokens)
    prompt_tokens = int(inputs.input_ids.shape[1])
    decode_bare = (p.new_tokens - 1) / max(1e-9, full - prefill)
    decode_product = (p.new_tokens - 1) / max(1e-9, total - first)
    row = Row(
        step="generate",
        workload=f"{len(hits)} pages, {prompt_tokens} prompt tok",
        batch="1",
        tokens_per_item=prompt_tokens,
        visual_tokens_per_item=0.0,
        pipeline_per_s=round(decode_product, 1),
        bare_per_s=round(decode_bare, 1),
        ratio=round(decode_product / decode_bare, 3),
        note=(
            f"TTFT {first * 1000:.0f} ms (bare prefill {prefill * 1000:.0f} ms); "
            f"decode tok/s; {pieces} pieces"
        ),
    )
    state.rows.append(row)
    print_rows([row])


# In this order: compilation, the step most likely to run out of time, comes last.
STEPS: dict[str, Callable[[State], None]] = {
    "build": step_build,
    "embed": step_embed,
    "packed": step_packed,
    "rerank": step_rerank,
    "generate": step_generate,
    "compile": step_compile,
}


def timed_out(err: BaseException) -> bool:
    """Whether `err` is, or wraps, the step's StepTimeout (torch.compile re-raises what
    interrupts it inside its own error)."""
    seen: BaseException | None = err
    while seen is not None:
        if isinstance(seen, StepTimeout) or "StepTimeout" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def print_rows(rows: Sequence[Row]) -> None:
    """One table line per row."""

    def fmt(value: float | None, spec: str) -> str:
        return format(value, spec) if value is not None else "-"

    for r in rows:
        print(
            f"{r.step:8} {r.workload:28} {r.batch:>9} {r.tokens_per_item:7.0f} "
            f"{r.visual_tokens_per_item:6.0f} {fmt(r.pipeline_per_s, '9.2f'):>9} "
            f"{fmt(r.bare_per_s, '8.2f'):>8} {fmt(r.ratio, '5.2f'):>5} "
            f"{fmt(r.tflops, '7.1f'):>7} {fmt(r.pct_peak, '5.1f'):>5} "
            f"{fmt(r.min_cosine, '8.5f'):>8} {r.note}",
            flush=True,
        )


HEADER = (
    f"{'step':8} {'workload':28} {'batch':>9} {'tok/it':>7} {'vis':>6} {'pipe/s':>9} "
    f"{'bare/s':>8} {'ratio':>5} {'TFLOP/s':>7} {'%peak':>5} {'min cos':>8} note"
)


def run(state: State, steps: Sequence[str], out: Path, report: dict[str, Any]) -> None:
    """Run `steps` in order under their caps; rewrite `out` after each."""
    print(HEADER)
    for name in steps:
        started = time.perf_counter()
        status = "ok"
        try:
            with time_cap(state.plan.caps[name]):
                STEPS[name](state)
        except Exception as err:  # one failing step must not lose the others' figures
            kind = "timeout" if timed_out(err) else "error"
            status = f"{kind}: {type(err).__name__}: {str(err)[:300]}"
        seconds = round(time.perf_counter() - started, 1)
        report["steps"][name] = {"status": status, "seconds": seconds}
        report["rows"] = [asdict(r) for r in state.rows]
        out.write_text(json.dumps(report, indent=2))
        print(f"[{name}] {status} in {seconds} s", flush=True)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tiny", action="store_true", help="tiny random models on the CPU")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--no-compile", action="store_true", help="skip the compile step")
    parser.add_argument("--steps", default=",".join(STEPS), help="comma-separated subset")
    parser.add_argument(
        "--cap-scale", type=float, default=1.0, help="multiply every step's time cap"
    )
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)

    device = loading.resolve_device("cpu" if args.tiny else args.device)
    the_plan = plan(args.tiny, device)
    the_plan.caps = {k: v * args.cap_scale for k, v in the_plan.caps.items()}
    steps = [s for s in args.steps.split(",") if s and not (args.no_compile and s == "compile")]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps: {', '.join(sorted(unknown))}")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    report: dict[str, Any] = {
        "benchmark": "gpu-path",
        "device": str(device),
        "device_name": name,
        "dtype": str(the_plan.dtype),
        "peak_bf16_flops": peak_bf16(name) if device.type == "cuda" else None,
        "packed_attention": (
            "varlen flash"
            if device.type == "cuda" and cuda_varlen_kernel() is not None
            else "SDPA per prompt"
        ),
        "torch": torch.__version__,
        "transformers": __import__("transformers").__version__,
        "tiny": args.tiny,
        "configs": ROLE_CONFIGS,
        "bf16_min_cosine": BF16_MIN_COSINE,
        "steps": {},
        "rows": [],
    }
    out = args.out or Path("bench/results") / f"gpu-{'tiny' if args.tiny else device.type}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mmrag-gpu-bench-") as tmp:
        state = State(the_plan, Path(tmp), report["peak_bf16_flops"])
        run(state, steps, out, report)
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    out.write_text(json.dumps(report, indent=2))
    print()
    print(HEADER)
    print_rows(state.rows)
    print(f"\n{report['total_seconds']} s in all; wrote {out}")
    return report


if __name__ == "__main__":
    main()
