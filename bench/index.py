"""Stage-1 latency, recall and size of the index backends at 10k and 100k units.

Units carry real vectors: the MiniLM embeddings and BM25 vectors of the corpus's PDF text
(pages cut into ~90-word passages), repeated and perturbed to reach the count (each copy's
dense vector is the original plus Gaussian noise at cosine ~0.9, its sparse vector drops
about a tenth of the terms), 50 units per document, the passage as payload text. Queries
are the dev questions, embedded the same way, each restricted to a random quarter of
the documents: the product's stage-1 call `search_channels({text, sparse}, filter, 50)`.

Rows (`backend` at `points`): `edge-exact` (Qdrant Edge, float vectors, no index),
`edge-scan-int8` (the product's default past the threshold: int8 text vectors scanned
without a graph, rescored with the floats), `edge-hnsw` (HNSW built by `optimize`), `edge-hnsw-int8` (int8 text vectors, rescored), `local` (qdrant-client
local mode, the embedded store before Qdrant Edge; few queries at 100k, it is slow), and at
10k the gpu-profile layout with a 2048-d visual vector (`edge-*-visual`, float and binary).
`recall_at_50` is the share of edge-exact's top 50 (per channel, dense and sparse) that a
backend finds (a unit tying exact's 50th score counts); `bytes_per_unit` the vector bytes search keeps in memory per unit (the
quantized copy where there is one, the float originals otherwise, plus the HNSW graph;
local mode holds the float vectors); `disk_bytes_per_unit` the whole shard on disk.
`speedup_vs_local` = local p50 / backend p50 in the same run.

`--api-start` also builds a 100k-unit data dir (registry + Edge shard) and times a fresh
process building the API's services from it (`build_services`: models, index, reconcile),
then spawns `mmrag serve` on it (`--spawns` times; medians) until `/ready` and a first query.

    python -m bench.index --sizes 100000 --serve-only /tmp/d100k --spawns 5   # start only

    nice -n 5 python -m bench.index                        # 10k + 100k, ~15 min on 2 cores
    python -m bench.index --sizes 2000 --queries 10 --no-api-start   # smoke run
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np
import numpy.typing as npt

from app.config import Settings
from ingest.types import DocKind, Unit, UnitKind, page_unit_id
from retrieval.config import RetrievalSettings
from retrieval.embedders.bm25 import BM25Encoder
from retrieval.embedders.minilm import MiniLMEmbedder
from retrieval.encoders import Encoders
from retrieval.index import SPARSE, TEXT, VISUAL, IndexedUnit, QueryVector, VectorIndex
from retrieval.index_common import dir_bytes
from retrieval.index_edge import EdgeIndex
from retrieval.index_qdrant import QdrantClientIndex, open_qdrant_client
from retrieval.types import SearchFilter, SparseVector

TOP_N = 50
UNITS_PER_DOC = 50
NOISE = 0.5  # norm of the noise added to a unit vector: cosine to the original ~0.9
F32 = npt.NDArray[np.float32]
T = TypeVar("T")
CORPUS = Path(__file__).resolve().parents[1] / ".." / "shared" / "corpus"


@dataclass
class Base:
    """The real vectors the synthetic units are made from."""

    texts: list[str]
    text: F32  # (n_base, 384) MiniLM
    sparse: list[SparseVector]
    queries: F32  # (n_q, 384)
    query_sparse: list[SparseVector]


def passages(corpus: Path, words: int = 90) -> list[str]:
    """The corpus PDFs' text layers cut into passages of about `words` words."""
    import pymupdf

    out = []
    for pdf in sorted(corpus.rglob("*.pdf")):
        with pymupdf.open(pdf) as doc:
            for page in doc:
                tokens = page.get_text().split()
                out.extend(
                    " ".join(tokens[i : i + words])
                    for i in range(0, len(tokens), words)
                    if len(tokens[i : i + words]) >= 20
                )
    return out


def load_base(corpus: Path, cache: Path, embedder: MiniLMEmbedder, bm25: BM25Encoder) -> Base:
    """Embed the corpus passages and dev questions once (cached in `cache`)."""
    questions = [
        json.loads(line)["question"]
        for line in (corpus / "dev_questions.jsonl").read_text().splitlines()
        if line.strip()
    ]
    if cache.is_file():
        saved = np.load(cache, allow_pickle=False)
        texts = [str(t) for t in saved["texts"]]
        text, queries = saved["text"], saved["queries"]
    else:
        texts = passages(corpus)
        started = time.perf_counter()
        text = embedder.encode(texts)
        queries = embedder.encode(questions)
        print(f"embedded {len(texts)} passages in {time.perf_counter() - started:.0f} s")
        np.savez(cache, texts=np.array(texts), text=text, queries=queries)
    return Base(
        texts,
        text,
        [bm25.encode_text(t) for t in texts],
        queries,
        bm25.encode_queries(questions),
    )


@dataclass
class Corpus:
    """n synthetic units: dense vectors per channel, sparse vectors, payload texts."""

    dense: dict[str, F32]
    sparse: list[SparseVector]
    texts: list[str]

    @property
    def size(self) -> int:
        return len(self.sparse)


def perturb(rng: np.random.Generator, base: F32, rows: npt.NDArray[np.int64]) -> F32:
    """Copies of `base[rows]` plus noise of norm NOISE, renormalised."""
    noise = rng.standard_normal((len(rows), base.shape[1]), dtype=np.float32)
    noise *= NOISE / np.linalg.norm(noise, axis=1, keepdims=True)
    out = base[rows] + noise
    return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)


def make_corpus(rng: np.random.Generator, base: Base, n: int, visual_dim: int = 0) -> Corpus:
    """`n` units from the base passages (the first copy of each passage unperturbed)."""
    rows = np.arange(n) % len(base.texts)
    dense = {TEXT: perturb(rng, base.text, rows)}
    first = np.arange(n) < len(base.texts)
    dense[TEXT][first] = base.text[rows[first]]
    if visual_dim:
        # A stand-in "visual" space: a fixed random projection of the text space.
        projection = rng.standard_normal((base.text.shape[1], visual_dim), dtype=np.float32)
        projected = base.text @ projection
        projected /= np.linalg.norm(projected, axis=1, keepdims=True)
        dense[VISUAL] = perturb(rng, projected.astype(np.float32), rows)
    sparse = []
    for i, row in enumerate(rows):
        vec = base.sparse[row]
        keep = rng.random(len(vec.indices)) > (0.1 if i >= len(base.texts) else 0.0)
        keep[:1] = True  # never drop every term
        sparse.append(
            SparseVector(
                tuple(t for t, k in zip(vec.indices, keep, strict=True) if k),
                tuple(v for v, k in zip(vec.values, keep, strict=True) if k),
            )
        )
    return Corpus(dense, sparse, [base.texts[r] for r in rows])


def doc_of(i: int) -> str:
    return f"doc{i // UNITS_PER_DOC:06d}"


def make_units(corpus: Corpus, start: int, end: int) -> list[IndexedUnit]:
    items = []
    for i in range(start, end):
        doc = doc_of(i)
        number = i % UNITS_PER_DOC + 1
        unit = Unit(
            id=page_unit_id(doc, number),
            doc_id=doc,
            kind=UnitKind.PAGE,
            ordinal=number - 1,
            file_name=f"{doc}.pdf",
            text=corpus.texts[i],
            images=(Path(f"blobs/{i % 256:02x}/{i:062x}.png"),),
            page=number,
            text_source="layer",
        )
        dense = {name: matrix[i] for name, matrix in corpus.dense.items()}
        items.append(IndexedUnit(unit, dense, corpus.sparse[i]))
    return items


def fill(index: VectorIndex, corpus: Corpus, batch: int = 2000) -> float:
    """Upsert the corpus (visible); returns seconds, indexing (HNSW) included."""
    started = time.perf_counter()
    for start in range(0, corpus.size, batch):
        index.upsert(make_units(corpus, start, min(start + batch, corpus.size)), visible=True)
    if isinstance(index, EdgeIndex):
        index.optimize()
    return time.perf_counter() - started


Query = tuple[dict[str, QueryVector], SearchFilter]


def make_queries(
    rng: np.random.Generator, base: Base, corpus: Corpus, n: int, visual: bool
) -> list[Query]:
    """Dev questions (cycled), each filtered to a random quarter of the documents."""
    docs = sorted({doc_of(i) for i in range(corpus.size)})
    projection = None
    if visual:  # the same projection the corpus used is not needed: any query vector works
        projection = rng.standard_normal(
            (base.queries.shape[1], corpus.dense[VISUAL].shape[1]), dtype=np.float32
        )
    out: list[Query] = []
    for i in range(n):
        row = i % len(base.queries)
        q: dict[str, QueryVector] = {TEXT: base.queries[row], SPARSE: base.query_sparse[row]}
        if projection is not None:
            v = base.queries[row] @ projection
            q[VISUAL] = (v / np.linalg.norm(v)).astype(np.float32)
        chosen = rng.choice(len(docs), size=max(1, len(docs) // 4), replace=False)
        out.append((q, SearchFilter(doc_ids=tuple(docs[c] for c in sorted(chosen)))))
    return out


@dataclass
class Timings:
    """Per-query wall and process-CPU milliseconds (CPU time is what a shared VM's steal
    does not inflate)."""

    wall_ms: list[float]
    cpu_ms: list[float]

    def row_figures(self) -> dict[str, float]:
        return {
            "p50_ms": statistics.median(self.wall_ms),
            "p95_ms": float(np.percentile(self.wall_ms, 95)),
            "cpu_p50_ms": statistics.median(self.cpu_ms),
            "cpu_p95_ms": float(np.percentile(self.cpu_ms, 95)),
        }


def timed(call: Callable[[], T], into: Timings) -> T:
    """`call()`, its wall and CPU milliseconds appended to `into`."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = call()
    into.wall_ms.append((time.perf_counter() - wall) * 1000)
    into.cpu_ms.append((time.process_time() - cpu) * 1000)
    return result


def reference_query(index: EdgeIndex, q: dict[str, QueryVector]) -> Callable[[], object]:
    """The issue's reference search: one dense channel, exact, no filter, no payload (it
    measured 9.7 ms p50 / 14.7 ms p95 at 100k on its 2-core machine, where the 15 ms target
    comes from). Timed beside the product's stage 1 to scale that target to this machine."""
    import qdrant_edge as qe

    request = qe.QueryRequest(
        limit=TOP_N,
        query=qe.Query.Nearest(np.asarray(q[TEXT], dtype=np.float32), using=TEXT),
        params=qe.SearchParams(exact=True),
        with_payload=False,
    )
    return lambda: index.shard.query(request)


Found = dict[str, list[tuple[str, float]]]  # channel -> (unit id, score), best first


def run_queries(
    index: VectorIndex,
    queries: list[Query],
    reference: Timings | None = None,
    reference_index: EdgeIndex | None = None,
    warm: list[Query] | None = None,
    repeat: Timings | None = None,
    hit_shares: dict[str, float] | None = None,
) -> tuple[Timings, list[Found]]:
    """Times per query and the unit ids found per channel. With `reference` the issue's
    reference search on `reference_index` (the exact float shard) runs before each query,
    interleaved so load hits both alike. The untimed warm-up runs `warm` (the same
    questions under other filters: the shard warms up, but the timed queries' units are
    not in the index's unit cache unless another query found them too). `repeat` times
    the same queries a second time (their units now cached); `hit_shares` gets the unit
    cache's hit share of each timed pass."""
    cache = index.units if isinstance(index, EdgeIndex) else None

    def share_since(mark: tuple[int, int]) -> float:
        assert cache is not None
        hits, lookups = cache.hits - mark[0], cache.hits + cache.misses - mark[1]
        return hits / lookups if lookups else 0.0

    for q, f in warm or queries:  # warm-up: a shard's first searches after opening run slower
        index.search_channels(q, f, TOP_N)
    # The bench holds millions of objects (the corpus) that the API process does not: left
    # in the collector's generations, each full collection a query triggers walks them all
    # (stage 1 measured ~10 ms slower per query). The API freezes its start-up objects too.
    gc.collect()
    gc.freeze()
    times, found = Timings([], []), []
    mark = (cache.hits, cache.hits + cache.misses) if cache is not None else (0, 0)
    for q, f in queries:
        if reference is not None and reference_index is not None:
            timed(reference_query(reference_index, q), reference)
        result = timed(partial(index.search_channels, q, f, TOP_N), times)
        found.append({ch: [(h.unit.id, h.score) for h in hits] for ch, hits in result.items()})
    if cache is not None and hit_shares is not None:
        hit_shares["timed"] = share_since(mark)
        mark = (cache.hits, cache.hits + cache.misses)
    for q, f in queries if repeat is not None else ():
        timed(partial(index.search_channels, q, f, TOP_N), repeat)
    if cache is not None and hit_shares is not None and repeat is not None:
        hit_shares["repeat"] = share_since(mark)
    gc.unfreeze()
    return times, found


TIE = 1e-5  # relative score difference read as a tie


def recall(found: list[Found], truth: list[Found]) -> float:
    """Share of the exact top 50 (all channels) that `found` has, over the queries. A found
    unit outside exact's list whose score ties exact's 50th counts: the perturbed copies
    share sparse vectors, so BM25 scores tie across the cut-off and which tied copy makes
    the top 50 depends on segment order, not on search quality."""
    hit = total = 0
    for got, want in zip(found, truth, strict=False):
        for channel, exact in want.items():
            if not exact:
                continue
            ids, cut = {i for i, _ in exact}, exact[-1][1]
            tied = [i for i, score in got.get(channel, []) if score >= cut - TIE * abs(cut)]
            hit += min(
                len(exact),
                len(ids & {i for i, _ in got.get(channel, [])})
                + sum(1 for i in tied if i not in ids),
            )
            total += len(exact)
    return hit / total if total else 1.0


def resident_bytes(path: Path) -> int:
    """Vector bytes search keeps in memory: per vector storage the quantized copy if any,
    else its float files; plus the HNSW graphs and the sparse index."""
    total = 0
    for segment in (path / "segments").iterdir():
        for part in segment.iterdir():
            if part.name.startswith("vector_storage"):
                quantized = part / "quantized.data"
                total += (
                    dir_bytes(part) if not quantized.exists() else quantized.stat().st_blocks * 512
                )
            elif part.name.startswith("vector_index"):
                total += dir_bytes(part)
    return total


@dataclass
class Row:
    backend: str
    points: int
    queries: int
    p50_ms: float
    p95_ms: float
    recall_at_50: float
    build_s: float
    bytes_per_unit: float
    disk_bytes_per_unit: float
    speedup_vs_local: float | None = None
    cpu_p50_ms: float | None = None
    cpu_p95_ms: float | None = None


def settings_for(kind: str) -> RetrievalSettings:
    """exact: float vectors, never indexed (the truth); scan: the product's default past the
    threshold (int8 text vectors scanned, no graph); hnsw / int8 / binary: HNSW graphs."""
    if kind == "exact":
        return RetrievalSettings(
            collection="bench", hnsw_threshold=10**9, upsert_batch=500, text_quantization="none"
        )
    quant = {"int8": ("int8", "none"), "binary": ("none", "binary"), "scan": ("int8", "none")}
    text, visual = quant.get(kind, ("none", "none"))
    return RetrievalSettings(
        collection="bench",
        hnsw_threshold=1000,
        upsert_batch=500,
        indexed_search="scan" if kind == "scan" else "hnsw",
        text_quantization=text,  # type: ignore[arg-type]
        visual_quantization=visual,  # type: ignore[arg-type]
    )


def bench_edge(
    name: str,
    kind: str,
    corpus: Corpus,
    queries: list[Query],
    layout_names: dict[str, str],
    truth: list[Found] | None,
    workdir: Path,
    reference_shard: Path | None = None,
    warm: list[Query] | None = None,
    extra: dict[str, object] | None = None,
) -> tuple[list[Row], list[Found]]:
    """The backend's rows: its stage-1 figures and the issue's reference search
    (`reference_query`) interleaved with them, on the exact shard (this one for exact
    search, which is then kept for the other backends' references, else
    `reference_shard`). The scan row (the product's default) also gets `<name>-repeat`:
    the same queries again, their units in the unit cache; its hit shares go to `extra`."""
    from retrieval.index import VectorLayout

    layout = VectorLayout(
        visual_dim=corpus.dense[VISUAL].shape[1] if VISUAL in corpus.dense else None,
        text_dim=corpus.dense[TEXT].shape[1],
        sparse=True,
        models=layout_names,
    )
    path = workdir / name
    shutil.rmtree(path, ignore_errors=True)
    # Blob keys under a blob root, as the product stores and reads them.
    blobs = workdir / "blobs"
    index = EdgeIndex(path, settings_for(kind), layout, blob_root=blobs)
    build = fill(index, corpus)
    # Timed as the API finds the shard after a start: loaded from disk (a shard searched in
    # the process that just filled it measured ~1.3x the CPU per query).
    index.close()
    os.sync()  # the build's dirty pages written back now, not during the timed queries
    index = EdgeIndex(path, settings_for(kind), layout, blob_root=blobs)
    ref_index = None
    if kind == "exact":
        ref_index = index
    elif reference_shard is not None:
        ref_index = EdgeIndex(reference_shard, settings_for("exact"), layout)
    reference = Timings([], []) if ref_index is not None and VISUAL not in corpus.dense else None
    repeat = Timings([], []) if kind == "scan" else None
    shares: dict[str, float] = {}
    times, found = run_queries(index, queries, reference, ref_index, warm, repeat, shares)
    if repeat is not None and extra is not None:
        extra[f"unit_cache_{corpus.size}"] = {"capacity": index.units.capacity, **shares}
        print("unit cache hit share:", shares)
    index.close()
    if ref_index is not None and ref_index is not index:
        ref_index.close()
    n = corpus.size
    resident, disk = resident_bytes(path) / n, dir_bytes(path) / n
    score = recall(found, truth) if truth is not None else 1.0
    rows = [
        Row(
            name,
            n,
            len(queries),
            **times.row_figures(),
            recall_at_50=score,
            build_s=build,
            bytes_per_unit=resident,
            disk_bytes_per_unit=disk,
        )
    ]
    if repeat is not None:
        rows.append(
            Row(
                f"{name}-repeat",
                n,
                len(queries),
                **repeat.row_figures(),
                recall_at_50=score,
                build_s=build,
                bytes_per_unit=resident,
                disk_bytes_per_unit=disk,
            )
        )
    if reference is not None:
        rows.append(
            Row(
                f"{name}-reference",
                n,
                len(queries),
                **reference.row_figures(),
                recall_at_50=1.0,
                build_s=build,
                bytes_per_unit=resident,
                disk_bytes_per_unit=disk,
            )
        )
    if kind != "exact":
        shutil.rmtree(path, ignore_errors=True)
    return rows, found


def bench_local(
    corpus: Corpus,
    queries: list[Query],
    layout_names: dict[str, str],
    truth: list[Found],
) -> Row:
    from retrieval.index import VectorLayout

    layout = VectorLayout(text_dim=corpus.dense[TEXT].shape[1], sparse=True, models=layout_names)
    index = QdrantClientIndex(open_qdrant_client(), settings_for("exact"), layout)
    build = fill(index, corpus)
    times, found = run_queries(index, queries)
    index.close()
    n = corpus.size
    floats = sum(m.shape[1] * 4 for m in corpus.dense.values())
    return Row(
        "local",
        n,
        len(queries),
        **times.row_figures(),
        recall_at_50=recall(found, truth[: len(found)]),
        build_s=build,
        bytes_per_unit=floats,
        disk_bytes_per_unit=float("nan"),
    )


def build_data_dir(corpus: Corpus, data_dir: Path, names: dict[str, str], text_dim: int) -> None:
    """A data dir the API can start from: registry rows and an HNSW Edge shard."""
    from app.service import open_storage
    from retrieval.index import VectorLayout

    settings = Settings(data_dir=data_dir)
    storage = open_storage(settings)
    layout = VectorLayout(text_dim=text_dim, sparse=True, models=names)
    index = EdgeIndex(
        settings.index_dir / settings.retrieval.collection,
        settings.retrieval,
        layout,
        blob_root=settings.blob_dir,
    )
    for start in range(0, corpus.size, UNITS_PER_DOC):
        items = [
            # The registry keeps image paths as keys under the blob store.
            replace(
                i, unit=replace(i.unit, images=tuple(settings.blob_dir / p for p in i.unit.images))
            )
            for i in make_units(corpus, start, min(start + UNITS_PER_DOC, corpus.size))
        ]
        doc = items[0].unit.doc_id
        storage.registry.begin_document(doc, f"{doc}.pdf", DocKind.PDF, 1, "source.pdf")
        index.upsert(items, visible=False)
        index.set_visible(doc)
        storage.registry.complete_document(doc, [i.unit for i in items])
    index.optimize()
    index.close()


_API_START = """
import json, time
t0 = time.perf_counter()
from app import factory
from app.config import Settings
from app.index_sync import reconcile
from app.service import build_services, open_storage, open_vector_index
t1 = time.perf_counter()
s = Settings(data_dir=DATA_DIR)
services = build_services(s, with_generator=False)
t2 = time.perf_counter()
n = services.index.count(visible_only=True)
hits = services.retriever.stage1("how is the revenue split by region")
t3 = time.perf_counter()
services.close()
# The same steps one by one, to see where the start goes (models and files now cached).
t4 = time.perf_counter()
storage = open_storage(s)
factory.build_text_embedder(s), factory.build_sparse_encoder(s)
t5 = time.perf_counter()
index = open_vector_index(s)
t6 = time.perf_counter()
reconcile(storage.registry, index)
t7 = time.perf_counter()
index.close()
print(json.dumps({"points": n, "import_s": t1 - t0, "build_services_s": t2 - t1,
    "first_query_s": t3 - t2, "total_s": t3 - t0, "again_models_s": t5 - t4,
    "again_index_open_s": t6 - t5, "again_reconcile_s": t7 - t6}))
"""


def time_api_start(data_dir: Path) -> dict[str, float]:
    """A fresh process: import, build the API's services (models, index, reconcile), one
    two-stage query; then the same steps again one by one, timed apart."""
    out = subprocess.run(
        [sys.executable, "-c", _API_START.replace("DATA_DIR", repr(str(data_dir)))],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    if out.returncode != 0:
        raise RuntimeError(f"API start failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def time_server_ready(
    data_dir: Path, port: int = 8765, limit_s: float = 120.0, poll_s: float = 0.05
) -> dict[str, float]:
    """What a user waits for: `mmrag serve` spawned until `/health`, then `/ready`, answer
    200, then one `POST /query` (seconds from the spawn; the query on its own), and the CPU
    seconds the server spent until `/ready` (all its threads, from /proc).

    One client polls every `poll_s` over a kept connection: a new client per request
    (`httpx.get`) costs the bench ~60 ms a poll, which blurred the figures by as much, and
    each request takes the server's GIL from the loading thread for ~3 ms."""
    import httpx

    env = {**os.environ, "MMRAG_DATA_DIR": str(data_dir), "MMRAG_PORT": str(port)}
    command = [sys.executable, "-m", "app.cli", "serve"]
    out: dict[str, float] = {}
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=60) as client:
        started = time.perf_counter()
        server = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        try:
            while "ready_s" not in out:
                if time.perf_counter() - started > limit_s or server.poll() is not None:
                    raise RuntimeError(
                        f"server not ready: {server.stderr.read() if server.stderr else ''}"
                    )
                for probe in ("health", "ready"):
                    try:
                        if f"{probe}_s" not in out and client.get(f"/{probe}").status_code == 200:
                            out[f"{probe}_s"] = time.perf_counter() - started
                    except httpx.HTTPError:
                        pass
                time.sleep(poll_s)
            out["ready_cpu_s"] = cpu_seconds(server.pid)
            asked = time.perf_counter()
            client.post("/query", json={"question": "how is revenue split by region?"})
            out["first_query_s"] = time.perf_counter() - asked
        finally:
            server.terminate()
            server.wait(30)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a running process, all its threads (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_server_ready_runs(data_dir: Path, runs: int) -> dict[str, object]:
    """`time_server_ready` `runs` times in a row: every run and the median of each figure
    (a shared machine's noise needs several spawns)."""
    spawns = []
    for number in range(runs):
        spawns.append(time_server_ready(data_dir))
        print(f"spawn {number + 1}/{runs}:", {k: round(v, 2) for k, v in spawns[-1].items()})
    median = {key: statistics.median(s[key] for s in spawns) for key in spawns[0]}
    return {"runs": spawns, "median": median}


def ensure_data_dir(data_dir: Path, n: int, args: argparse.Namespace) -> None:
    """Build the `n`-unit data dir of `build_data_dir` at `data_dir` unless a previous run
    finished one there (marked by `bench-units`), so repeated start timings reuse it."""
    marker = data_dir / "bench-units"
    if marker.is_file() and marker.read_text() == str(n):
        return
    shutil.rmtree(data_dir, ignore_errors=True)
    embedder, bm25 = MiniLMEmbedder(), BM25Encoder()
    names = dict(Encoders(text=embedder, sparse=bm25).layout.models)
    base = load_base(args.corpus.resolve(), args.cache, embedder, bm25)
    corpus = make_corpus(np.random.default_rng(0), base, n)
    build_data_dir(corpus, data_dir, names, corpus.dense[TEXT].shape[1])
    marker.write_text(str(n))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--queries", type=int, default=62, help="queries per Edge backend")
    parser.add_argument(
        "--local-queries",
        type=int,
        nargs=2,
        default=[20, 5],
        help="local-mode queries at 10k-or-less and above",
    )
    parser.add_argument("--visual-dim", type=int, default=2048, help="0 = skip")
    parser.add_argument("--visual-at", type=int, default=10_000, help="size of the visual rows")
    parser.add_argument("--api-start", action=argparse.BooleanOptionalAction, default=True)
    parser.add_argument(
        "--local",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="time qdrant-client's local mode too (minutes at 100k: its ratio is measured once)",
    )
    parser.add_argument("--hnsw-up-to", type=int, default=10**9, help="skip HNSW rows above")
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "mmrag-bench-index-base.npz"
    )
    parser.add_argument("--out", type=Path, default=Path("bench/results/index.json"))
    parser.add_argument(
        "--serve-only",
        type=Path,
        metavar="DATA_DIR",
        help="only time `mmrag serve` on a data dir of max(--sizes) units kept at DATA_DIR "
        "(built there on the first run)",
    )
    parser.add_argument("--spawns", type=int, default=1, help="`mmrag serve` spawns to time")
    args = parser.parse_args()
    if args.serve_only is not None:
        ensure_data_dir(args.serve_only, max(args.sizes), args)
        served = time_server_ready_runs(args.serve_only, args.spawns)
        print("mmrag serve, median:", served["median"])
        write_result(args.out, None, [], {"server_ready": served})
        return

    rng = np.random.default_rng(0)
    embedder, bm25 = MiniLMEmbedder(), BM25Encoder()
    names = dict(Encoders(text=embedder, sparse=bm25).layout.models)
    base = load_base(args.corpus.resolve(), args.cache, embedder, bm25)
    print(f"base: {len(base.texts)} passages, {len(base.queries)} questions")
    rows: list[Row] = []
    extra: dict[str, object] = {}
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        work = Path(tmp)
        for n in args.sizes:
            corpus = make_corpus(rng, base, n)
            queries = make_queries(rng, base, corpus, args.queries, visual=False)
            # Warm-up queries: the same questions under other filters (own generator, so
            # the timed queries stay those of earlier runs).
            warm = make_queries(np.random.default_rng(1), base, corpus, args.queries, False)
            size_rows, truth = bench_edge(
                "edge-exact", "exact", corpus, queries, names, None, work, warm=warm
            )
            extra[f"stage1_vs_reference_{n}"] = versus_reference(*size_rows)
            exact_shard = work / "edge-exact"
            scan = bench_edge(
                "edge-scan-int8",
                "scan",
                corpus,
                queries,
                names,
                truth,
                work,
                exact_shard,
                warm,
                extra,
            )[0]
            extra[f"scan_vs_reference_{n}"] = versus_reference(scan[0], scan[-1])
            extra[f"scan_repeat_vs_reference_{n}"] = versus_reference(scan[1], scan[-1])
            size_rows += scan
            for name, kind in (("edge-hnsw", "hnsw"), ("edge-hnsw-int8", "int8")):
                if n <= args.hnsw_up_to:
                    size_rows += bench_edge(
                        name, kind, corpus, queries, names, truth, work, exact_shard, warm
                    )[0]
            shutil.rmtree(exact_shard, ignore_errors=True)
            if args.local:
                few = args.local_queries[0] if n <= 10_000 else args.local_queries[1]
                local = bench_local(corpus, queries[:few], names, truth)
                for row in size_rows:
                    row.speedup_vs_local = local.p50_ms / row.p50_ms
                size_rows.append(local)
            rows.extend(size_rows)
            print_rows(size_rows)
            if args.api_start and n == max(args.sizes):
                data_dir = work / "api-data"
                build_data_dir(corpus, data_dir, names, corpus.dense[TEXT].shape[1])
                extra["api_start"] = time_api_start(data_dir)
                print("API start:", extra["api_start"])
                extra["server_ready"] = time_server_ready_runs(data_dir, args.spawns)
                print("mmrag serve:", extra["server_ready"])
                shutil.rmtree(data_dir, ignore_errors=True)
            del corpus
            write_result(args.out, base, rows, extra)
        if args.visual_dim:
            corpus = make_corpus(rng, base, args.visual_at, args.visual_dim)
            queries = make_queries(rng, base, corpus, args.queries, visual=True)
            names_v = {**names, VISUAL: "projected-minilm"}
            visual_rows, truth = bench_edge(
                "edge-exact-visual", "exact", corpus, queries, names_v, None, work
            )
            shutil.rmtree(work / "edge-exact-visual", ignore_errors=True)
            for name, kind in (("edge-hnsw-visual", "hnsw"), ("edge-hnsw-visual-binary", "binary")):
                visual_rows += bench_edge(name, kind, corpus, queries, names_v, truth, work)[0]
            rows.extend(visual_rows)
            print_rows(visual_rows)
    write_result(args.out, base, rows, extra)


def versus_reference(stage1: Row, reference: Row) -> dict[str, float]:
    """Stage 1 over the issue's reference search, same shard, same run: the 15 ms target
    is met on this machine when the p95 ratio is at most 15 / 14.7 (the reference's p95
    where the target was set)."""
    ratios = {
        "p50": stage1.p50_ms / reference.p50_ms,
        "p95": stage1.p95_ms / reference.p95_ms,
        "cpu_p50": (stage1.cpu_p50_ms or 0) / (reference.cpu_p50_ms or 1),
        "cpu_p95": (stage1.cpu_p95_ms or 0) / (reference.cpu_p95_ms or 1),
    }
    print("stage 1 / reference:", {k: round(v, 2) for k, v in ratios.items()})
    return ratios


def write_result(out: Path, base: Base | None, rows: list[Row], extra: dict[str, object]) -> None:
    """The JSON report (rewritten after each size, so a long run keeps what it measured)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "bench": "index",
        "machine": {
            "python": platform.python_version(),
            "processor": platform.processor(),
            "cpus": os.cpu_count(),
            "load_avg": os.getloadavg(),
        },
        "top_n": TOP_N,
        "base_passages": len(base.texts) if base is not None else None,
        "rows": [asdict(r) for r in rows],
        **extra,
    }
    out.write_text(json.dumps(result, indent=2))
    print(f"wrote {out}")


def print_rows(rows: list[Row]) -> None:
    print(
        f"{'backend':<26} {'points':>8} {'q':>3} {'p50 ms':>8} {'p95 ms':>8} {'cpu p95':>8} "
        f"{'recall':>6} {'build s':>8} {'B/unit':>7} {'disk B/u':>8} {'vs local':>8}"
    )
    for r in rows:
        speed = f"{r.speedup_vs_local:.0f}x" if r.speedup_vs_local else "-"
        cpu = f"{r.cpu_p95_ms:.2f}" if r.cpu_p95_ms is not None else "-"
        print(
            f"{r.backend:<26} {r.points:>8} {r.queries:>3} {r.p50_ms:>8.2f} {r.p95_ms:>8.2f} "
            f"{cpu:>8} {r.recall_at_50:>6.3f} {r.build_s:>8.1f} {r.bytes_per_unit:>7.0f} "
            f"{r.disk_bytes_per_unit:>8.0f} {speed:>8}"
        )


if __name__ == "__main__":
    main()
