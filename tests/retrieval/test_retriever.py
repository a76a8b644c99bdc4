"""Two-stage retrieval end to end: fake encoders, then the real MiniLM + lite reranker."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from ingest.types import Unit, UnitKind
from retrieval.config import RetrievalSettings
from retrieval.embedders.bm25 import BM25Encoder
from retrieval.embedders.fake import FakeEmbedder
from retrieval.encoders import Encoders
from retrieval.index_edge import EdgeIndex
from retrieval.indexer import UnitIndexer
from retrieval.rerankers.base import Reranker
from retrieval.rerankers.fake import FakeReranker
from retrieval.rerankers.lite import LiteReranker
from retrieval.retriever import Retriever
from retrieval.types import SearchFilter
from tests.support.fixtures_retrieval import fake_stack, index_corpus, minilm


class PreferClips:
    """A reranker with a strong, visible opinion: clips first."""

    name = "prefer-clips"

    def score(self, query: str, units: Sequence[Unit]) -> list[float]:
        return [1.0 if u.kind is UnitKind.CLIP else 0.0 for u in units]


def _retriever(settings: RetrievalSettings, reranker: Reranker | None = None) -> Retriever:
    index, indexer = fake_stack(settings=settings)
    index_corpus(indexer)
    return Retriever(index, settings, indexer.encoders, reranker)


@pytest.mark.parametrize("fusion", ["rrf", "dbsf"])
def test_stage1_finds_the_relevant_unit_with_channel_scores(fusion: str) -> None:
    settings = RetrievalSettings(stage1_fusion=fusion)
    retriever = _retriever(settings)
    hits = retriever.stage1_only("double-spending problem peer-to-peer network", top_k=3)
    assert hits[0].unit.id == "doc-bitcoin:p00002"
    assert set(hits[0].matched) == {"text", "sparse"}
    assert set(hits[0].channel_scores) == set(hits[0].matched)
    assert all(h.rerank_score is None for h in hits)
    assert [h.stage1_score for h in hits] == sorted((h.stage1_score for h in hits), reverse=True)
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def _weighted(stage1: float, rerank: float) -> RetrievalSettings:
    """Settings with these stage weights for pages and clips alike."""
    return RetrievalSettings(
        stage1_weight=stage1,
        rerank_weight=rerank,
        clip_stage1_weight=stage1,
        clip_rerank_weight=rerank,
    )


def test_search_fuses_both_stages() -> None:
    retriever = _retriever(_weighted(0.3, 0.7), PreferClips())
    query = "peer-to-peer electronic cash"
    stage1 = retriever.stage1_only(query, top_k=1)
    hits = retriever.search(query, top_k=3)
    assert stage1[0].unit.kind is UnitKind.PAGE
    # The reranker outweighs stage 1, so clips come first; each hit keeps both scores.
    assert hits[0].unit.kind is UnitKind.CLIP
    assert all(h.rerank_score is not None for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(0.0 <= h.score <= 1.0 for h in hits)


def test_stage1_weight_alone_keeps_stage1_order() -> None:
    retriever = _retriever(_weighted(1.0, 0.0), PreferClips())
    query = "tomatoes sun watering"
    assert [h.unit.id for h in retriever.search(query)] == [
        h.unit.id for h in retriever.stage1_only(query)
    ]


def test_units_beyond_rerank_top_n_stay_below_reranked_ones() -> None:
    settings = RetrievalSettings(rerank_top_n=2, top_k=7)
    retriever = _retriever(settings, FakeReranker())
    hits = retriever.search("peer-to-peer network tomatoes pasta")
    assert [h.rerank_score is not None for h in hits] == [True, True] + [False] * (len(hits) - 2)
    assert min(h.score for h in hits[:2]) >= max(h.score for h in hits[2:])


def test_filters_reach_both_stages() -> None:
    retriever = _retriever(RetrievalSettings(), FakeReranker())
    hits = retriever.search("peer-to-peer network pasta", SearchFilter(kinds=(UnitKind.CLIP,)))
    assert hits and {h.unit.kind for h in hits} == {UnitKind.CLIP}
    hits = retriever.search("peer-to-peer network", SearchFilter(doc_ids=("doc-garden",)))
    assert {h.unit.doc_id for h in hits} == {"doc-garden"}


def test_blank_query_and_empty_index_return_nothing() -> None:
    retriever = _retriever(RetrievalSettings(), FakeReranker())
    assert retriever.search("   ") == []
    index, indexer = fake_stack()
    empty = Retriever(index, RetrievalSettings(), indexer.encoders)
    assert empty.search("anything at all") == []


def test_encoder_without_a_matching_vector_is_refused() -> None:
    index, indexer = fake_stack()
    with pytest.raises(ValueError, match="visual"):
        Retriever(index, RetrievalSettings(), Encoders(visual=indexer.encoders.text))


def test_minilm_and_lite_reranker_end_to_end(tmp_path: Path) -> None:
    settings = RetrievalSettings(collection="minilm")
    text, sparse = minilm(), BM25Encoder()
    index = EdgeIndex(tmp_path / "edge", settings, Encoders(text=text, sparse=sparse).layout)
    index_corpus(UnitIndexer(index, Encoders(text=text, sparse=sparse)))
    retriever = Retriever(
        index, settings, Encoders(text=text, sparse=sparse), LiteReranker.from_embedder(text)
    )
    # Paraphrases: few words in common with the relevant unit.
    expectations = {
        "how do I stop someone spending the same digital coin twice?": "doc-bitcoin",
        "when should I support my tomato plants": "doc-garden",
        "how long does the spaghetti cook": "doc-cooking",
    }
    for query, doc_id in expectations.items():
        hits = retriever.search(query, top_k=2)
        assert hits[0].unit.doc_id == doc_id, (query, hits[0].unit.label)
        assert hits[0].rerank_score is not None and hits[0].matched


def test_fusion_weights_apply_per_unit_kind() -> None:
    # The reranker prefers clips; with no say on clips (stage 1 only) and full say on
    # pages, clips keep their stage-1 scores while pages take the reranker's zeros.
    query = "peer-to-peer electronic cash"
    heavy = _retriever(RetrievalSettings(), PreferClips()).search(query, top_k=3)
    assert heavy[0].unit.kind is UnitKind.CLIP
    settings = RetrievalSettings(
        stage1_weight=0.0, rerank_weight=1.0, clip_stage1_weight=1.0, clip_rerank_weight=0.0
    )
    retriever = _retriever(settings, PreferClips())
    stage1 = {h.unit.id: h.score for h in retriever.stage1(query)}
    for hit in retriever.search(query, top_k=10):
        if hit.unit.kind is UnitKind.CLIP:
            assert hit.score == pytest.approx(stage1[hit.unit.id])
        else:
            assert hit.score == pytest.approx(0.0)


def test_fusion_weights_must_not_both_be_zero() -> None:
    with pytest.raises(ValueError, match="clip fusion weights"):
        RetrievalSettings(clip_stage1_weight=0.0, clip_rerank_weight=0.0)


def test_encoders_own_the_layout_and_embed_only_the_channels_that_are_on() -> None:
    text, sparse = FakeEmbedder(dim=16, name="t"), BM25Encoder()
    encoders = Encoders(text=text, sparse=sparse)
    assert encoders.layout.channels == ("text", "sparse") == encoders.channels
    assert encoders.layout.dense == {"text": 16} and dict(encoders.layout.models) == {
        "text": "t",
        "sparse": "bm25",
    }
    unit = Unit("u1", "d1", UnitKind.PAGE, 0, "a.pdf", "peer to peer cash", page=1)
    [item] = encoders.embed_units([unit])
    assert set(item.dense) == {"text"} and item.sparse is not None and item.unit is unit
    query = encoders.embed_query("peer cash")
    assert set(query) == {"text", "sparse"}
    assert float(query["text"] @ item.dense["text"]) > 0.5  # same words, same space
    assert Encoders(visual=FakeEmbedder(dim=8)).layout.channels == ("visual",)
