"""CPU speed of the lite profile's models: MiniLM unit embedding (units/s) and the lite
reranker (ms per query at 30 candidates).

Pages are the text layers of the corpus PDFs (../shared/corpus) when present, otherwise
synthetic pages of similar length. References measured in the same run:
- embedding: a bare `SentenceTransformer.encode` of each unit's first 256 tokens (what a
  truncating embedder costs); ratio = units/s of `MiniLMEmbedder.embed_units` / reference.
- reranking: the same query scored with a cold window cache (every window embedded) and
  with a warm one (the same candidates seen before, as in a conversation).

    python bench/lite.py [--pages 120] [--queries 10] [--threads 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

# Run as `python bench/lite.py`, this folder comes first on sys.path and bench/ingest.py
# would shadow the `ingest` package: drop the folder before importing the packages.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ingest.types import Unit, UnitKind, page_unit_id  # noqa: E402
from retrieval.embedders.minilm import MiniLMEmbedder  # noqa: E402
from retrieval.rerankers.lite import LiteReranker  # noqa: E402

CORPUS = _HERE.parent.parent / "shared" / "corpus" / "pdf"
QUERIES = [
    "What is the top-20 retrieval accuracy on Natural Questions?",
    "Which bandwidth selection procedure is used by default?",
    "On what machine were the performance experiments run?",
    "How long are the points valid before they expire?",
    "Which data set is used for the logistic regression tree?",
    "What does Figure 2 plot?",
    "Which two time series are plotted in Figure 1?",
    "How many users took part in the longitudinal study?",
    "Where is the crawlspace access located?",
    "What is the default value of the line cap?",
]


def load_pages(n: int) -> tuple[list[Unit], str]:
    """Up to `n` page units with text, from the corpus or synthetic."""
    units: list[Unit] = []
    if CORPUS.is_dir():
        import pymupdf

        for path in sorted(CORPUS.glob("*.pdf")):
            with pymupdf.open(path) as doc:
                for number, page in enumerate(doc, start=1):
                    text = page.get_text()
                    if len(text.strip()) > 50:
                        units.append(_page(path.stem, path.name, number, text))
                    if len(units) >= n:
                        return units, "corpus text layers"
        if units:
            return units, "corpus text layers"
    rng = np.random.default_rng(0)
    words = ["revenue", "margin", "europe", "asia", "dividend", "risk", "supply", "growth"]
    for i in range(n):
        text = " ".join(rng.choice(words, size=int(rng.integers(100, 600))))
        units.append(_page(f"doc{i}", f"doc{i}.pdf", 1, text))
    return units, "synthetic"


def _page(doc_id: str, file_name: str, number: int, text: str) -> Unit:
    return Unit(
        page_unit_id(doc_id, number),
        doc_id,
        UnitKind.PAGE,
        number - 1,
        file_name,
        text,
        page=number,
    )


@dataclass
class Result:
    source: str
    units: int
    mean_chars: float
    torch_threads: int
    embed_units_per_s: float
    reference_units_per_s: float
    embed_ratio: float
    passages_per_unit: float
    queries_per_s: float
    rerank_candidates: int
    rerank_cold_ms_p50: float
    rerank_warm_ms_p50: float
    rerank_windows_per_query: float


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pages", type=int, default=120)
    parser.add_argument("--queries", type=int, default=10)
    parser.add_argument("--candidates", type=int, default=30)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0 = torch default")
    parser.add_argument("--out", type=Path, default=Path("bench/results/lite.json"))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    units, source = load_pages(args.pages)
    embedder = MiniLMEmbedder()
    embedder.embed_units(units[:2])  # warm-up

    started = time.perf_counter()
    embedder.embed_units(units)
    embed_rate = len(units) / (time.perf_counter() - started)
    first = [embedder.unit_passages(u)[0] for u in units]
    started = time.perf_counter()
    embedder.encode(first)
    reference_rate = len(units) / (time.perf_counter() - started)
    passages = statistics.mean(len(embedder.unit_passages(u)) for u in units)

    queries = (QUERIES * (args.queries // len(QUERIES) + 1))[: args.queries]
    started = time.perf_counter()
    for q in queries:
        embedder.embed_queries([q])
    query_rate = len(queries) / (time.perf_counter() - started)

    rng = np.random.default_rng(0)
    cold, warm, windows = [], [], []
    for q in queries:
        reranker = LiteReranker.from_embedder(embedder)  # fresh cache
        picks = rng.choice(len(units), size=min(args.candidates, len(units)), replace=False)
        candidates = [units[i] for i in picks]
        windows.append(sum(len(reranker.unit_windows(u)) for u in candidates))
        for bucket in (cold, warm):
            started = time.perf_counter()
            reranker.score(q, candidates)
            bucket.append((time.perf_counter() - started) * 1000)

    result = Result(
        source=source,
        units=len(units),
        mean_chars=statistics.mean(len(u.text) for u in units),
        torch_threads=torch.get_num_threads(),
        embed_units_per_s=embed_rate,
        reference_units_per_s=reference_rate,
        embed_ratio=embed_rate / reference_rate,
        passages_per_unit=passages,
        queries_per_s=query_rate,
        rerank_candidates=args.candidates,
        rerank_cold_ms_p50=statistics.median(cold),
        rerank_warm_ms_p50=statistics.median(warm),
        rerank_windows_per_query=statistics.mean(windows),
    )
    print(
        f"pages: {result.units} ({source}, {result.mean_chars:.0f} chars on average), torch threads {result.torch_threads}"
    )
    print(f"{'measure':<44} {'value':>10}")
    print(f"{'MiniLM embed_units (mean of passages)':<44} {embed_rate:>8.1f}/s")
    print(f"{'reference: first 256 tokens only':<44} {reference_rate:>8.1f}/s")
    ratio_label = f"ratio (passages per unit: {passages:.2f})"
    print(f"{ratio_label:<44} {result.embed_ratio:>10.2f}")
    print(f"{'MiniLM queries':<44} {query_rate:>8.1f}/s")
    print(
        f"{f'lite rerank, {args.candidates} candidates, cold cache':<44} {result.rerank_cold_ms_p50:>7.0f} ms"
    )
    print(
        f"{f'lite rerank, {args.candidates} candidates, warm cache':<44} {result.rerank_warm_ms_p50:>7.0f} ms"
    )
    print(f"{'windows embedded per cold query':<44} {result.rerank_windows_per_query:>10.0f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "bench": "lite",
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
        **asdict(result),
    }
    args.out.write_text(json.dumps(payload, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
