"""Latency of the embedded Qdrant index at 10k and 100k synthetic units, and its size on disk.

What is timed is the product's stage-1 call, `QdrantIndex.search_channels` (one batched
Query API request per vector, visible-filtered, top 50, payloads turned back into Units),
on vectors shaped like the lite profile (text 384-d + BM25 sparse, ~60 terms per unit,
1.5 kB of page text in the payload) and, at 10k, the gpu profile (+ visual 2048-d).

Reference, same run, same vectors: numpy/scipy brute force of the same scores (dense
matmul, sparse CSR dot with the same IDF, arg-partition top 50), no filter, no payload.
ratio = index p50 / reference p50.

The embedded engine keeps every point in memory and answers queries the same way whether
it was opened on ":memory:" or on a directory; a directory only adds persistence (one
SQLite commit per point). So latency is measured on ":memory:" (fast to fill) and the disk
figures (bytes per unit, insert rate) on a directory with `--disk-points` units.

    python bench/index.py                      # 10k + 100k, about 5 minutes on 2 cores
    python bench/index.py --sizes 2000 --queries 5 --disk-points 300   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

# Run as `python bench/index.py`, this folder comes first on sys.path and bench/ingest.py
# would shadow the `ingest` package: drop the folder before importing the packages.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import numpy as np  # noqa: E402
import numpy.typing as npt  # noqa: E402
from scipy import sparse as sp  # noqa: E402

from ingest.types import Unit, UnitKind, page_unit_id  # noqa: E402
from retrieval.config import RetrievalSettings  # noqa: E402
from retrieval.index import (  # noqa: E402
    SPARSE,
    TEXT,
    VISUAL,
    IndexedUnit,
    QdrantIndex,
    QueryVector,
    VectorLayout,
    open_qdrant_client,
)
from retrieval.types import SparseVector  # noqa: E402

TOP_N = 50
VOCAB = 200_000  # distinct terms of the synthetic corpus (hashed ids are spread over 2^31)
TERMS_PER_UNIT = 60
PAGE_TEXT = ("Revenue grew in Europe and Asia while margins improved. " * 28)[:1500]

F32 = npt.NDArray[np.float32]


@dataclass
class Corpus:
    """Synthetic unit vectors: dense per channel, sparse as CSR over compact term columns."""

    dense: dict[str, F32]
    term_ids: npt.NDArray[np.int64]  # column -> hashed term id
    csr: sp.csr_matrix
    idf: npt.NDArray[np.float64]  # per column, Qdrant's IDF formula

    @property
    def size(self) -> int:
        return self.csr.shape[0]  # type: ignore[no-any-return]

    def sparse_row(self, row: int) -> SparseVector:
        start, end = self.csr.indptr[row], self.csr.indptr[row + 1]
        cols = self.csr.indices[start:end]
        order = np.argsort(self.term_ids[cols])
        return SparseVector(
            tuple(int(t) for t in self.term_ids[cols][order]),
            tuple(float(v) for v in self.csr.data[start:end][order]),
        )


def unit_vectors(rng: np.random.Generator, n: int, dim: int) -> F32:
    matrix = rng.standard_normal((n, dim), dtype=np.float32)
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def make_corpus(rng: np.random.Generator, n: int, dims: dict[str, int]) -> Corpus:
    dense = {name: unit_vectors(rng, n, dim) for name, dim in dims.items()}
    # Zipf-like term frequencies: a few common terms, a long tail, as in real text.
    cols = np.minimum(rng.zipf(1.2, size=(n, TERMS_PER_UNIT)) - 1, VOCAB - 1)
    rows = np.repeat(np.arange(n), TERMS_PER_UNIT)
    weights = rng.uniform(0.3, 1.8, size=n * TERMS_PER_UNIT)  # BM25 document-side range
    csr = sp.csr_matrix((weights, (rows, cols.ravel())), shape=(n, VOCAB))
    csr.sum_duplicates()
    csr.data = np.minimum(csr.data, 2.2)
    df = np.bincount(csr.indices, minlength=VOCAB)
    idf = np.log(1.0 + (n - df + 0.5) / (df + 0.5))
    term_ids = rng.choice(2**31, size=VOCAB, replace=False)
    return Corpus(dense, term_ids, csr, idf)


UNITS_PER_DOC = 50


def row_of(unit: Unit) -> int:
    """Corpus row of a synthetic unit (inverse of `make_units`)."""
    return int(unit.doc_id[3:]) * UNITS_PER_DOC + unit.ordinal


def make_units(corpus: Corpus, start: int, end: int) -> list[IndexedUnit]:
    items = []
    for i in range(start, end):
        doc = f"doc{i // UNITS_PER_DOC:06d}"
        unit = Unit(
            id=page_unit_id(doc, i % UNITS_PER_DOC + 1),
            doc_id=doc,
            kind=UnitKind.PAGE,
            ordinal=i % UNITS_PER_DOC,
            file_name=f"{doc}.pdf",
            text=PAGE_TEXT,
            images=(Path(f"/data/blobs/{i:02x}/{i:060x}.png"),),
            page=i % UNITS_PER_DOC + 1,
            text_source="layer",
        )
        dense = {name: matrix[i] for name, matrix in corpus.dense.items()}
        items.append(IndexedUnit(unit, dense, corpus.sparse_row(i)))
    return items


def build_index(corpus: Corpus, location: str, batch: int = 1000) -> tuple[QdrantIndex, float]:
    """Fill an index with the corpus (visible); returns it and the insert rate (units/s)."""
    layout = VectorLayout(
        visual_dim=corpus.dense[VISUAL].shape[1] if VISUAL in corpus.dense else None,
        text_dim=corpus.dense[TEXT].shape[1],
        sparse=True,
    )
    settings = RetrievalSettings(collection="bench", upsert_batch=batch)
    index = QdrantIndex(open_qdrant_client(path=location), settings, layout)
    started = time.perf_counter()
    for start in range(0, corpus.size, 5000):
        index.upsert(make_units(corpus, start, min(start + 5000, corpus.size)), visible=True)
    return index, corpus.size / (time.perf_counter() - started)


def make_queries(rng: np.random.Generator, corpus: Corpus, n: int) -> list[dict[str, QueryVector]]:
    """Queries near random units (noisy copies), each term of a unit's sparse row once."""
    queries = []
    for row in rng.choice(corpus.size, size=n, replace=False):
        q: dict[str, QueryVector] = {}
        for name, matrix in corpus.dense.items():
            noisy = matrix[row] + 0.5 * unit_vectors(rng, 1, matrix.shape[1])[0]
            q[name] = (noisy / np.linalg.norm(noisy)).astype(np.float32)
        terms = corpus.sparse_row(int(row)).indices[:8]
        q[SPARSE] = SparseVector(terms, (1.0,) * len(terms))
        queries.append(q)
    return queries


def reference_search(
    corpus: Corpus, column_of: dict[int, int]
) -> Callable[[dict[str, QueryVector]], None]:
    """Brute force of the same scores with numpy/scipy: top 50 per channel."""
    csc = corpus.csr.tocsc()

    def search(query: dict[str, QueryVector]) -> None:
        for name, vec in query.items():
            if isinstance(vec, SparseVector):
                cols = [column_of[t] for t in vec.indices]
                scores = np.asarray(csc[:, cols] @ corpus.idf[cols]).ravel()
            else:
                scores = corpus.dense[name] @ vec
            top = np.argpartition(-scores, TOP_N)[:TOP_N]
            top[np.argsort(-scores[top])]

    return search


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        out.append((time.perf_counter() - started) * 1000)
    return out


def p95(values: list[float]) -> float:
    return float(np.percentile(values, 95))


@dataclass
class Row:
    """Latency of one index size and vector layout."""

    points: int
    layout: str
    insert_per_s: float
    queries: int
    p50_ms: float
    p95_ms: float
    ref_p50_ms: float
    ref_p95_ms: float
    ratio_p50: float
    dense_recall_at_50: float


def bench_size(rng: np.random.Generator, n: int, dims: dict[str, int], n_queries: int) -> Row:
    corpus = make_corpus(rng, n, dims)
    index, rate = build_index(corpus, ":memory:")
    queries = make_queries(rng, corpus, n_queries)
    column_of = {int(t): c for c, t in enumerate(corpus.term_ids)}
    reference = reference_search(corpus, column_of)
    index.search_channels(queries[0], limit=TOP_N)  # warm-up
    ours = [timed(lambda q=q: index.search_channels(q, limit=TOP_N), 1)[0] for q in queries]
    ref = [timed(lambda q=q: reference(q), 1)[0] for q in queries]
    # Sanity: brute force in Qdrant must find exactly numpy's dense top 50.
    query_text = queries[0][TEXT]
    assert isinstance(query_text, np.ndarray)
    found = {row_of(h.unit) for h in index.search_channels({TEXT: query_text}, limit=TOP_N)[TEXT]}
    truth = set(np.argsort(-(corpus.dense[TEXT] @ query_text))[:TOP_N].tolist())
    index.close()
    layout = "+".join([*dims, SPARSE]) + " (" + ", ".join(f"{d}" for d in dims.values()) + ")"
    return Row(
        n,
        layout,
        rate,
        len(queries),
        statistics.median(ours),
        p95(ours),
        statistics.median(ref),
        p95(ref),
        statistics.median(ours) / statistics.median(ref),
        len(found & truth) / TOP_N,
    )


@dataclass
class DiskRow:
    """Persistence cost of the embedded index on a directory."""

    points: int
    bytes_per_unit: float
    payload_text_bytes: int
    insert_per_s: float


def bench_disk(rng: np.random.Generator, n: int) -> DiskRow:
    corpus = make_corpus(rng, n, {TEXT: 384})
    with tempfile.TemporaryDirectory() as tmp:
        index, rate = build_index(corpus, tmp, batch=256)
        index.close()
        size = sum(p.stat().st_size for p in Path(tmp).rglob("*") if p.is_file())
    return DiskRow(n, size / n, len(PAGE_TEXT), rate)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=12, help="queries per size")
    parser.add_argument(
        "--visual-dim", type=int, default=2048, help="0 = skip the gpu-profile layout"
    )
    parser.add_argument("--visual-max-points", type=int, default=10_000)
    parser.add_argument("--disk-points", type=int, default=1500)
    parser.add_argument("--out", type=Path, default=Path("bench/results/index.json"))
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    rows: list[Row] = []
    for n in args.sizes:
        rows.append(bench_size(rng, n, {TEXT: 384}, args.queries))
        if args.visual_dim and n <= args.visual_max_points:
            rows.append(bench_size(rng, n, {VISUAL: args.visual_dim, TEXT: 384}, args.queries))
    disk = bench_disk(rng, args.disk_points)

    print(
        f"{'points':>8} {'layout':<30} {'insert/s':>9} {'p50 ms':>8} {'p95 ms':>8} "
        f"{'ref p50':>8} {'ref p95':>8} {'ratio':>7} {'recall':>6}"
    )
    for r in rows:
        print(
            f"{r.points:>8} {r.layout:<30} {r.insert_per_s:>9.0f} {r.p50_ms:>8.1f} {r.p95_ms:>8.1f} "
            f"{r.ref_p50_ms:>8.2f} {r.ref_p95_ms:>8.2f} {r.ratio_p50:>7.0f}x {r.dense_recall_at_50:>6.2f}"
        )
    print(
        f"\non disk (local path, {disk.points} units, text+sparse, {disk.payload_text_bytes} B "
        f"of text each): {disk.bytes_per_unit:,.0f} bytes/unit, insert {disk.insert_per_s:.0f} units/s"
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "bench": "index",
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
        },
        "top_n": TOP_N,
        "rows": [asdict(r) for r in rows],
        "disk": asdict(disk),
    }
    args.out.write_text(json.dumps(result, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
