"""Absolute evidence that retrieved hits answer a question: what the refusal test reads.

`Hit.score` is normalised over the candidates (the best hit always scores about 1), so it
cannot say whether anything relevant was found. The evidence is absolute: the largest
share of the question's content words (stop words dropped, light stemming, the same terms
the stage-1 sparse channel matches on) that one retrieved unit's text holds, header (file
title, location) included. An off-topic question finds few of its words anywhere; a
near-topic one ("the horsepower of the car in the hands-free card") finds the subject's
words but not the one it asks about.

Measured on the dev questions plus 42 unanswerable ones (docs/figures.md), this separated
answerable from unanswerable questions better than the raw rerank score, the raw dense
cosine of stage 1, or their sums with it (5-fold cross-validated). A threshold on it is
fitted with `mmrag eval` (GenerationSettings.refusal_threshold); the same rule holds for
every profile and generator.
"""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.lexical import coverage
from retrieval.terms import tokenize
from retrieval.types import Hit
from retrieval.unit_text import unit_text


def evidence_score(question: str, hits: Sequence[Hit]) -> float:
    """The largest share of the question's content terms found in one hit's text, in
    [0, 1]; 0.0 without hits or content terms."""
    terms = tokenize(question)
    return max((coverage(terms, tokenize(unit_text(h.unit))) for h in hits), default=0.0)
