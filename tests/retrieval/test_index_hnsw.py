"""Qdrant Edge above the threshold: a filtered search (a quarter of the documents) must still
find the exact top 50, with an HNSW graph (without ACORN the traversal found about a third)
and with the default "scan" (int8 vectors scanned, no graph, rescored)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.types import Unit, UnitKind, page_unit_id
from retrieval.config import RetrievalSettings
from retrieval.index import IndexedUnit, VectorLayout
from retrieval.index_edge import EdgeIndex
from retrieval.types import SearchFilter


def _unit(i: int) -> Unit:
    doc = f"doc{i // 20:04d}"
    return Unit(page_unit_id(doc, i % 20 + 1), doc, UnitKind.PAGE, i % 20, f"{doc}.pdf", "x")


def _filtered_recall(tmp_path: Path, settings: RetrievalSettings, n: int) -> float:
    rng = np.random.default_rng(0)
    dim = 64
    # Clustered, like repeated real passages: 400 centres, 10 noisy copies each.
    centres = rng.standard_normal((400, dim)).astype(np.float32)
    vectors = centres[np.arange(n) % 400] + 0.3 * rng.standard_normal((n, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    layout = VectorLayout(text_dim=dim, models={"text": "random"})
    index = EdgeIndex(tmp_path / "edge", settings, layout)
    index.upsert([IndexedUnit(_unit(i), {"text": vectors[i]}) for i in range(n)], visible=True)
    index.optimize()
    docs = sorted({_unit(i).doc_id for i in range(n)})
    found = total = 0
    for _ in range(20):
        query = vectors[rng.integers(n)] + 0.2 * rng.standard_normal(dim).astype(np.float32)
        chosen = tuple(docs[j] for j in rng.choice(len(docs), len(docs) // 4, replace=False))
        hits = index.search_channels({"text": query}, SearchFilter(doc_ids=chosen), 50)["text"]
        allowed = np.array([_unit(i).doc_id in chosen for i in range(n)])
        scores = np.where(allowed, vectors @ (query / np.linalg.norm(query)), -np.inf)
        truth = {_unit(int(i)).id for i in np.argsort(-scores)[:50]}
        found += len(truth & {h.unit.id for h in hits})
        total += 50
    index.close()
    return found / total


@pytest.mark.slow
def test_filtered_hnsw_search_keeps_the_exact_top_50(tmp_path: Path) -> None:
    settings = RetrievalSettings(
        hnsw_threshold=500, upsert_batch=500, indexed_search="hnsw", text_quantization="none"
    )
    assert _filtered_recall(tmp_path, settings, 4000) >= 0.95


def test_scan_past_the_threshold_finds_the_exact_top_50(tmp_path: Path) -> None:
    settings = RetrievalSettings(hnsw_threshold=500, upsert_batch=500)
    assert settings.indexed_search == "scan" and settings.text_quantization == "int8"
    assert _filtered_recall(tmp_path, settings, 2000) >= 0.99
    # The segments past the threshold hold the int8 copy that the scan reads.
    quantized = list((tmp_path / "edge").glob("segments/*/vector_storage-text/quantized.data"))
    assert quantized and quantized[0].stat().st_size >= 1500 * 64
