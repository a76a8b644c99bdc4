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
    from retrieval.embedders.minilm import MiniLMEmbedder
    from retrieval.rerankers.lite import LiteReranker
    from tests.support.fixtures_retrieval import (  # the real packaged MiniLM
        counted_encodes,
        minilm,
        page,
    )

    units = [page("d" * 64, "guide.pdf", 1, "Remote locking is disabled after about 15 minutes.")]
    path = tmp_path / "windows.sqlite3"
    first = LiteReranker.from_embedder(MiniLMEmbedder(encoder=minilm().model, cache_path=path))
    first.warm(units)
    stored = len(SqliteVectorCache(path, first.vectors.dim))
    assert stored == len(first.unit_windows(units[0]))

    # A new reranker (as in a new process) scores without encoding the windows again.
    second = LiteReranker.from_embedder(MiniLMEmbedder(encoder=minilm().model, cache_path=path))
    with counted_encodes(second.vectors.model) as calls:
        scores = second.score("when is remote locking disabled?", units)
    assert calls == [1]  # only the query
    assert scores == first.score("when is remote locking disabled?", units)


def test_text_vectors_pool_the_windows_the_reranker_scores(tmp_path: Path) -> None:
    from retrieval.embedders.base import l2_normalize
    from retrieval.embedders.minilm import MiniLMEmbedder
    from retrieval.rerankers.lite import LiteReranker
    from tests.support.fixtures_retrieval import counted_encodes, minilm, page

    text = " ".join(["Remote locking is disabled after about 15 minutes."] * 3 + ["Pair it."] * 4)
    units = [page("d" * 64, "guide.pdf", 1, text)]
    embedder = MiniLMEmbedder(encoder=minilm().model, cache_path=tmp_path / "w.sqlite3")
    vector = embedder.embed_units(units)[0]
    windows = embedder.windows.windows(units[0])
    assert len(windows) > 1
    expected = l2_normalize(embedder.encode(windows).mean(axis=0, keepdims=True))[0]
    assert np.allclose(vector, expected, atol=1e-5)
    # The reranker sharing the embedder finds every window already encoded.
    reranker = LiteReranker.from_embedder(embedder)
    with counted_encodes(reranker.vectors.model) as calls:
        reranker.warm(units)
        reranker.score("when is remote locking disabled?", units)
    assert calls == [1]  # only the query
    # Passage pooling, the earlier default, stays selectable.
    passages = MiniLMEmbedder(encoder=minilm().model, pooling="mean").embed_units(units)[0]
    assert not np.allclose(passages, vector, atol=1e-3)


def test_a_query_is_encoded_once_for_retrieval_rerank_and_answer(tmp_path: Path) -> None:
    from retrieval.embedders.minilm import MiniLMEmbedder
    from retrieval.rerankers.lite import LiteReranker
    from tests.support.fixtures_retrieval import counted_encodes, minilm, page

    path = tmp_path / "w.sqlite3"
    embedder = MiniLMEmbedder(encoder=minilm().model, cache_path=path)
    reranker = LiteReranker.from_embedder(embedder)
    units = [page("d" * 64, "guide.pdf", 1, "Remote locking is disabled after 15 minutes.")]
    reranker.warm(units)
    stored = len(SqliteVectorCache(path, embedder.dim))
    question = "when is remote locking disabled?"
    with counted_encodes(embedder.model) as calls:
        vector = embedder.embed_queries([question])[0]
        reranker.score(question, units)
        reranker.sentence_scorer.score_groups(question, [("Remote locking is disabled.",)])
    assert calls == [1, 1]  # the query once, then the answer's sentence
    assert np.allclose(vector, embedder.encode([question])[0], atol=1e-5)
    # Queries stay in memory: the on-disk cache holds unit texts (and answer sentences).
    assert len(SqliteVectorCache(path, embedder.dim)) == stored + 1
