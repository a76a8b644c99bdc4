"""Two-stage retrieval.

Stage 1: one batched Qdrant Query API call with a request per configured vector (visual,
text, sparse), filtered to visible units of the requested documents/kinds, fused by RRF or
DBSF with the same formulas Qdrant uses for prefetch fusion (retrieval.fusion). Fusing here
rather than in Qdrant keeps each channel's score for explanation at no extra search cost.

Stage 2: the reranker scores the top `rerank_top_n`; the final score is the weighted mean of
the normalised stage-1 and rerank scores, in [0, 1], with weights per unit kind
(`rank_two_stage`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace

from ingest.types import Unit
from retrieval.config import RetrievalSettings
from retrieval.encoders import Encoders
from retrieval.fusion import fuse_dbsf, fuse_rrf, normalize, weighted_fusion
from retrieval.index import QueryVector, ScoredUnit, VectorIndex
from retrieval.rerankers.base import Reranker
from retrieval.types import Hit, SearchFilter

log = logging.getLogger(__name__)


def fuse_channels(
    results: dict[str, list[ScoredUnit]], method: str
) -> list[tuple[Unit, float, dict[str, float]]]:
    """Per-channel results -> (unit, fused score, {channel: raw score}), best first."""
    units: dict[str, Unit] = {}
    channel_scores: dict[str, dict[str, float]] = {}
    for channel, hits in results.items():
        for hit in hits:
            units.setdefault(hit.unit.id, hit.unit)
            channel_scores.setdefault(hit.unit.id, {})[channel] = hit.score
    nonempty = [hits for hits in results.values() if hits]
    if method == "dbsf":
        fused = fuse_dbsf([{h.unit.id: h.score for h in hits} for hits in nonempty])
    else:
        fused = fuse_rrf([[h.unit.id for h in hits] for hits in nonempty])
    return [(units[uid], score, channel_scores[uid]) for uid, score in fused]


class Retriever:
    """Query text -> ranked `Hit`s, from the index and (optionally) a reranker."""

    def __init__(
        self,
        index: VectorIndex,
        settings: RetrievalSettings,
        encoders: Encoders,
        reranker: Reranker | None = None,
    ) -> None:
        for channel in encoders.channels:
            if channel not in index.layout.channels:
                raise ValueError(
                    f"a {channel!r} encoder is configured but the index has no such vector"
                )
        if not encoders.channels:
            raise ValueError("a retriever needs at least one encoder")
        self.index = index
        self.settings = settings
        self.encoders = encoders
        self.reranker = reranker

    def parts(self) -> list[tuple[str, object | None]]:
        """(role, component or None when off) of every model the retriever uses."""
        return [*self.encoders.parts(), ("reranker", self.reranker)]

    def query_vectors(self, query: str) -> dict[str, QueryVector]:
        """The query embedded for every configured channel."""
        return self.encoders.embed_query(query)

    def stage1(
        self, query: str, search_filter: SearchFilter | None = None, limit: int | None = None
    ) -> list[Hit]:
        """First-stage candidates, best first: `stage1_score` is the fused score, `score`
        its normalisation over the candidates, `matched` the channels that found the unit."""
        if not query.strip():
            return []
        limit = limit or self.settings.stage1_top_n
        results = self.index.search_channels(self.query_vectors(query), search_filter, limit)
        fused = fuse_channels(results, self.settings.stage1_fusion)[:limit]
        norm = normalize([score for _, score, _ in fused], self.settings.normalization)
        return [
            Hit(
                unit=unit,
                score=n,
                stage1_score=score,
                matched=tuple(ch for ch in results if ch in channels),
                channel_scores=channels,
            )
            for (unit, score, channels), n in zip(fused, norm, strict=True)
        ]

    def stage1_only(
        self, query: str, search_filter: SearchFilter | None = None, top_k: int | None = None
    ) -> list[Hit]:
        """The top `top_k` of stage 1 without reranking (for evaluation and explanation)."""
        return self.stage1(query, search_filter)[: top_k or self.settings.top_k]

    def rerank_scores(self, query: str, candidates: Sequence[Hit]) -> list[float]:
        """The reranker's raw scores of the first `rerank_top_n` candidates (none without a
        reranker)."""
        if self.reranker is None or not candidates:
            return []
        head = candidates[: self.settings.rerank_top_n]
        return self.reranker.score(query, [h.unit for h in head])

    def search(
        self, query: str, search_filter: SearchFilter | None = None, top_k: int | None = None
    ) -> list[Hit]:
        """Both stages: the top `top_k` hits with final, stage-1 and rerank scores."""
        top_k = top_k or self.settings.top_k
        candidates = self.stage1(query, search_filter)
        raw = self.rerank_scores(query, candidates)
        return rank_two_stage(candidates, raw, self.settings)[:top_k]


def rank_two_stage(
    candidates: Sequence[Hit], raw: Sequence[float], settings: RetrievalSettings
) -> list[Hit]:
    """Final ranking of stage-1 `candidates` (best first, `score` normalised) given the raw
    rerank scores of the first `len(raw)` of them: each reranked hit scores the weighted
    mean, with its unit kind's weights (`settings.fusion_weights`), of its normalised
    stage-1 and rerank scores; the others follow in stage-1 order. A pure function, so
    `mmrag eval` can try fusion weights without searching again."""
    if not raw:
        return list(candidates)
    weights = settings.fusion_weights()
    head = candidates[: len(raw)]
    rerank_norm = normalize(raw, settings.normalization)
    reranked = []
    for hit, r, n in zip(head, raw, rerank_norm, strict=True):
        w1, w2 = weights[hit.unit.kind]
        final = weighted_fusion([[hit.score], [n]], [w1, w2])[0]
        reranked.append(replace(hit, score=final, rerank_score=r))
    # Units the reranker did not see count as its lowest score (0 after normalisation);
    # their lower stage-1 scores keep them below the reranked ones.
    tail = []
    for hit in candidates[len(raw) :]:
        w1, w2 = weights[hit.unit.kind]
        tail.append(replace(hit, score=w1 * hit.score / (w1 + w2), rerank_score=None))
    return sorted(reranked, key=lambda h: -h.score) + tail
