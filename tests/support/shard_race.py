"""A child process for tests/retrieval/test_index_lock.py: waits at a barrier with the
others, then creates (or opens) the same Qdrant Edge shard and writes 20 units to it."""

from __future__ import annotations

import time
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import numpy as np

from ingest.types import Unit, UnitKind, page_unit_id
from retrieval.config import RetrievalSettings
from retrieval.index import SPARSE, TEXT, IndexedUnit, VectorLayout
from retrieval.index_edge import EdgeIndex
from retrieval.types import SparseVector

LAYOUT = VectorLayout(visual_dim=None, text_dim=8, sparse=True, models={TEXT: "t", SPARSE: "s"})
UNITS = 20


def units(doc: str) -> list[IndexedUnit]:
    # Units built here, not with tests.support.fixtures_retrieval: each child imports this
    # module, and that one imports the model stack.
    out = []
    for i in range(UNITS):
        vector = np.random.default_rng(i).standard_normal(8).astype(np.float32)
        unit = Unit(
            id=page_unit_id(doc, i + 1),
            doc_id=doc,
            kind=UnitKind.PAGE,
            ordinal=i,
            file_name=f"{doc}.pdf",
            text=f"text {i}",
            page=i + 1,
        )
        out.append(
            IndexedUnit(
                unit,
                {TEXT: vector / np.linalg.norm(vector)},
                sparse=SparseVector((i, i + 1), (1.0, 0.5)),
            )
        )
    return out


def create_and_write(path: str, barrier: Barrier, results: Queue[str]) -> None:
    barrier.wait()
    try:
        index = EdgeIndex(Path(path), RetrievalSettings(collection="race"), LAYOUT)
    except Exception as err:  # what the test inspects: the losers' errors
        results.put(f"{type(err).__name__}: {err}")
        return
    index.upsert(units("winner"), visible=True)
    time.sleep(0.5)  # still writing while the others try
    index.close()
    results.put("ok")
