"""Absolute evidence that retrieved hits answer a question: what the refusal test reads.

`Hit.score` is normalised over the candidates (the best hit always scores about 1), so it
cannot say whether anything relevant was found. The evidence is the best raw rerank score
among the hits, a number on the reranker's own absolute scale (the lite reranker's MiniLM
cosines plus absolute term coverage; the VLM reranker's yes-probability); without rerank
scores, the best raw dense-text cosine of stage 1. A threshold on it is fitted with
`mmrag eval` on answerable and unanswerable questions (GenerationSettings.refusal_threshold).
"""

from __future__ import annotations

from collections.abc import Sequence

from retrieval.index import TEXT
from retrieval.types import Hit


def evidence_score(hits: Sequence[Hit]) -> float:
    """The best raw rerank score of `hits`, else their best stage-1 text cosine; 0.0 when
    there are no hits or no raw score."""
    reranked = [h.rerank_score for h in hits if h.rerank_score is not None]
    if reranked:
        return max(reranked)
    cosines = [h.channel_scores[TEXT] for h in hits if TEXT in h.channel_scores]
    return max(cosines, default=0.0)
