"""The contract every Reranker passes (the fake, the lite reranker, the VLM reranker).

Use: subclass `RerankerSuite` in a test module as `class TestMyReranker(RerankerSuite)` and
give it a `reranker` fixture. Rerankers without meaningful weights (tiny random models) set
`semantic = False`; `atol` is the tolerance for determinism and batch independence.
"""

from __future__ import annotations

import math

import pytest

from ingest.types import Unit
from retrieval.rerankers.base import Reranker
from tests.support.fixtures_retrieval import BITCOIN, CLIPS, GARDEN, clip, page

QUERY = "How does the network prevent double-spending?"


class RerankerSuite:
    """Behaviour shared by all rerankers. Needs a `reranker` fixture."""

    semantic = True  # the scores mean something (real weights or a lexical fake)
    atol = 1e-5

    @pytest.fixture
    def units(self) -> list[Unit]:
        """An on-topic page, two off-topic units (page, clip) and a page without text."""
        return [
            page("d2", "garden_guide.pdf", 1, " ".join(GARDEN)),
            page("d1", "bitcoin-paper.pdf", 1, " ".join(BITCOIN)),
            clip("d3", "cooking-show.mp4", 0, CLIPS[1]),
            page("d4", "scan.pdf", 1, ""),
        ]

    def test_is_a_reranker(self, reranker: Reranker) -> None:
        assert isinstance(reranker, Reranker) and reranker.name

    def test_one_finite_score_per_unit(self, reranker: Reranker, units: list[Unit]) -> None:
        scores = reranker.score(QUERY, units)
        assert len(scores) == len(units)
        assert all(isinstance(s, float) and math.isfinite(s) for s in scores)

    def test_no_units_no_scores(self, reranker: Reranker) -> None:
        assert reranker.score(QUERY, []) == []

    def test_deterministic(self, reranker: Reranker, units: list[Unit]) -> None:
        first, again = reranker.score(QUERY, units), reranker.score(QUERY, units)
        assert first == pytest.approx(again, abs=self.atol)

    def test_relevant_unit_scores_highest(self, reranker: Reranker, units: list[Unit]) -> None:
        if not self.semantic:
            pytest.skip("random weights carry no meaning")
        scores = reranker.score(QUERY, units)
        assert scores.index(max(scores)) == 1
