"""The persistent vector cache and the lite reranker's use of it across processes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from retrieval.vector_cache import SqliteVectorCache


def test_round_trip_and_dimension_guard(tmp_path: Path) -> None:
    cache = SqliteVectorCache(tmp_path / "c.sqlite3", dim=3)
    cache.put_many({b"a": np.array([1, 2, 3], dtype=np.float32)})
    assert len(cache) == 1
    got = cache.get_many([b"a", b"missing"])
    assert list(got) == [b"a"] and got[b"a"].tolist() == [1.0, 2.0, 3.0]
    cache.close()
    # A cache file written for another dimension yields nothing rather than wrong vectors.
    other = SqliteVectorCache(tmp_path / "c.sqlite3", dim=4)
    assert other.get_many([b"a"]) == {}


def test_lite_reranker_reuses_persisted_window_vectors(tmp_path: Path) -> None:
    from retrieval.rerankers.lite import LiteReranker
    from tests.support.fixtures_retrieval import minilm, page  # the real packaged MiniLM

    units = [page("d" * 64, "guide.pdf", 1, "Remote locking is disabled after about 15 minutes.")]
    path = tmp_path / "windows.sqlite3"
    first = LiteReranker.from_embedder(minilm(), cache_path=path)
    first.warm(units)
    stored = len(SqliteVectorCache(path, first.vectors.dim))
    assert stored == len(first.unit_windows(units[0]))

    # A new reranker (as in a new process) scores without encoding the windows again.
    second = LiteReranker.from_embedder(minilm(), cache_path=path)
    calls: list[int] = []
    encode = second.vectors.model.encode

    def counting_encode(texts: list[str], **kwargs: object) -> object:
        calls.append(len(texts))
        return encode(texts, **kwargs)

    second.vectors.model.encode = counting_encode  # type: ignore[method-assign]
    try:
        scores = second.score("when is remote locking disabled?", units)
    finally:
        second.vectors.model.encode = encode  # type: ignore[method-assign]
    assert calls == [1]  # only the query
    assert scores == first.score("when is remote locking disabled?", units)
