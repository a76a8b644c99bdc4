"""A model-free reranker for tests: the share of query terms found in the unit's text."""

from __future__ import annotations

from collections.abc import Sequence

from ingest.types import Unit
from retrieval.lexical import coverage
from retrieval.terms import tokenize
from retrieval.unit_text import unit_text


class FakeReranker:
    """Deterministic `Reranker`: query-term coverage of `unit_text`, in [0, 1]."""

    name = "fake"

    def score(self, query: str, units: Sequence[Unit]) -> list[float]:
        """One score per unit: the share of distinct query terms its text contains."""
        terms = tokenize(query)
        return [coverage(terms, tokenize(unit_text(u))) for u in units]
