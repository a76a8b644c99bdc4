"""The lite reranker (MiniLM sentence MaxSim + BM25) and its sentence scorer."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from generation.generators.scoring import SentenceScorer
from retrieval.embedders.minilm import MiniLMEmbedder
from retrieval.embedders.windows import SentenceVectors
from retrieval.rerankers.base import Reranker
from retrieval.rerankers.fake import FakeReranker
from retrieval.rerankers.lite import LiteReranker, best_windows
from tests.support.fixtures_retrieval import BITCOIN, CLIPS, GARDEN, clip, minilm, page
from tests.support.reranker_suite import RerankerSuite


def _reranker() -> LiteReranker:
    return LiteReranker.from_embedder(minilm())


def test_is_a_reranker_sharing_the_embedders_model() -> None:
    reranker = _reranker()
    assert isinstance(reranker, Reranker)
    assert reranker.vectors.model is minilm().model


def test_one_relevant_sentence_lifts_a_long_unit() -> None:
    # The answer is one sentence deep inside a long gardening page; the other candidates
    # are short and off-topic. Sentence MaxSim must find it.
    buried = page("d1", "notes.pdf", 3, " ".join([*GARDEN * 6, BITCOIN[1], *GARDEN * 6]))
    others = [page("d2", "garden.pdf", 1, GARDEN[0]), clip("d3", "show.mp4", 0, CLIPS[0])]
    scores = _reranker().score("How does the network prevent double-spending?", [*others, buried])
    assert scores.index(max(scores)) == 2


def test_file_name_counts_as_evidence() -> None:
    a = page("d1", "quarterly-report.pdf", 1, "Revenue grew by four percent.")
    b = page("d2", "meeting-notes.pdf", 1, "Revenue grew by four percent.")
    scores = _reranker().score("revenue in the quarterly report", [a, b])
    assert scores[0] > scores[1]


def test_scores_do_not_depend_on_candidate_order() -> None:
    units = [page("d", "a.pdf", i + 1, t) for i, t in enumerate([*BITCOIN, *GARDEN])]
    reranker = _reranker()
    forward = reranker.score("peer-to-peer cash", units)
    backward = reranker.score("peer-to-peer cash", units[::-1])[::-1]
    assert forward == pytest.approx(backward, abs=1e-6)


def test_sentence_vectors_are_cached_by_text() -> None:
    calls: list[int] = []

    class Counting:
        dim = 384

        def __init__(self) -> None:
            self.inner = minilm().model

        def encode(self, texts: list[str], **kwargs: Any) -> Any:
            calls.append(len(texts))
            return self.inner.encode(texts, **kwargs)

    vectors = SentenceVectors(Counting(), capacity=4)  # type: ignore[arg-type]
    first = vectors.encode(["a b", "c d", "a b"])
    assert calls == [2]  # duplicates are embedded once
    again = vectors.encode(["c d", "a b"])
    assert calls == [2] and (again == first[[1, 0]]).all()
    assert again.dtype == np.float32 and vectors.encode([]).shape == (0, 384)
    vectors.encode(["e", "f", "g", "h"])  # evicts the least recently used
    vectors.encode(["a b"])
    assert calls == [2, 4, 1]


def test_sentence_scorer_plugs_into_the_extractive_generator() -> None:
    scorer = _reranker().sentence_scorer
    assert isinstance(scorer, SentenceScorer)
    sentences = [
        "Stake the plants when they are 30 cm tall.",
        "The network timestamps transactions by hashing them into a chain of proof-of-work.",
        "Tickets are sold at the door.",
    ]
    (scores,) = scorer.score_groups("How are transactions timestamped?", [tuple(sentences)])
    scores = scores.tolist()
    assert scores.index(max(scores)) == 1
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert min(scores) == 0.0  # unrelated text gets nothing, so a generator can refuse


def test_empty_inputs() -> None:
    reranker = _reranker()
    assert reranker.score("q", []) == []
    assert reranker.sentence_scorer.score_groups("q", []) == []
    (empty,) = reranker.sentence_scorer.score_groups("q", [()])
    assert empty.shape == (0,)
    assert len(reranker.score("q", [page("d", "blank.pdf", 1, "")])) == 1


def test_fake_reranker_prefers_covering_units() -> None:
    a, b = page("d", "a.pdf", 1, BITCOIN[1]), page("d", "b.pdf", 1, GARDEN[0])
    assert FakeReranker().score("double-spending network", [a, b]) == [1.0, 0.0]


def test_caption_match_prefers_the_captioning_page() -> None:
    from retrieval.lexical import caption_match, float_references

    query = "What does Figure 2 of the vignette plot?"
    assert float_references("see Fig. 3 and Table 1") == {("fig", "3"), ("tab", "1")}
    assert caption_match(query, "Results\nFigure 2: Expenditure against income") == 1.0
    assert caption_match(query, "As Figure 2 shows, the fit is poor.") == 0.5
    assert caption_match(query, "Figure 3: something else\nTable 2: a table") == 0.0
    assert caption_match("no reference here", "Figure 2: x") == 0.0


def test_window_matrices_are_cached_per_unit() -> None:
    units = [page("d", "a.pdf", i + 1, t) for i, t in enumerate([*BITCOIN, *GARDEN])]
    reranker = LiteReranker(embedder=MiniLMEmbedder(encoder=minilm().model))
    first = reranker.score("peer-to-peer cash", units)
    encoded: list[int] = []
    inner = reranker.vectors.encode

    def counting(texts: Any, **kwargs: Any) -> Any:
        encoded.append(len(texts))
        return inner(texts, **kwargs)

    reranker.vectors.encode = counting  # type: ignore[method-assign]
    again = reranker.score("peer-to-peer cash", units[::-1])[::-1]
    assert encoded == [1]  # only the query: every unit's windows came from the unit cache
    assert again == pytest.approx(first, abs=1e-6)
    changed = [page("d", "a.pdf", 1, BITCOIN[0] + " Changed."), *units[1:]]
    reranker.score("peer-to-peer cash", changed)
    assert encoded[1:] == [1, len(reranker.unit_windows(changed[0]))]


class TestFakeReranker(RerankerSuite):
    @pytest.fixture
    def reranker(self) -> FakeReranker:
        return FakeReranker()


class TestLiteReranker(RerankerSuite):
    @pytest.fixture
    def reranker(self) -> LiteReranker:
        return _reranker()


def test_sentence_scorer_keeps_a_units_sentences_for_the_next_query() -> None:
    """A group (one unit's sentences) is looked up once: a later query scoring the same unit
    reads no sentence vectors, and gets the scores a fresh scorer gives."""
    reranker = _reranker()
    scorer = reranker.sentence_scorer
    unit = tuple(BITCOIN)
    scorer.score_groups("peer-to-peer cash", [unit])
    looked_up: list[int] = []
    vectors = reranker.embedder.windows.vectors
    original = vectors.encode

    def counting(texts: Any, **kwargs: Any) -> Any:
        looked_up.append(len(texts))
        return original(texts, **kwargs)

    vectors.encode = counting  # type: ignore[method-assign]
    try:
        (again,) = scorer.score_groups("double spending", [unit])
    finally:
        vectors.encode = original  # type: ignore[method-assign]
    assert looked_up == [1]  # the query only
    fresh = type(scorer)(reranker.embedder)
    (expected,) = fresh.score_groups("double spending", [unit])
    assert np.array_equal(again, expected)
    assert again.min() >= 0.0 and again.max() <= 1.0


def test_best_windows_gives_each_units_best_and_top_mean_bit_for_bit() -> None:
    rng = np.random.default_rng(7)
    for _ in range(50):
        matrices = [
            rng.standard_normal((int(rng.integers(1, 70)), 16)).astype(np.float32)
            for _ in range(int(rng.integers(1, 30)))
        ]
        query = rng.standard_normal(16).astype(np.float32)
        best, top_mean = best_windows(matrices, query, 3)
        for unit, matrix in enumerate(matrices):
            sims = np.sort(matrix @ query)[::-1]
            assert float(best[unit]) == float(sims[0])
            assert float(top_mean[unit]) == float(sims[:3].mean())  # of 1-2 where fewer
    best, top_mean = best_windows([], np.ones(16, np.float32), 3)
    assert best.shape == top_mean.shape == (0,)
