"""llama-index adapters inside a real RetrieverQueryEngine (with llama-index's MockLLM)."""

from __future__ import annotations

from llama_index.core.base.response.schema import Response
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle, TextNode

from retrieval.config import RetrievalSettings
from retrieval.llama import (
    MMRagReranker,
    MMRagRetriever,
    mmrag_query_engine,
    unit_from_node,
    unit_to_node,
)
from retrieval.rerankers.fake import FakeReranker
from retrieval.retriever import Retriever
from tests.support.fixtures_retrieval import corpus_units, fake_stack, index_corpus


def _retriever() -> Retriever:
    settings = RetrievalSettings()
    index, indexer = fake_stack(settings=settings)
    index_corpus(indexer)
    return Retriever(index, settings, indexer.encoders, reranker=FakeReranker())


def test_nodes_round_trip_to_units() -> None:
    for units in corpus_units().values():
        for unit in units:
            node = unit_to_node(unit)
            assert node.node_id == unit.id
            rebuilt = unit_from_node(node)
            assert (
                rebuilt.label == unit.label and rebuilt.text == unit.text and rebuilt.id == unit.id
            )
            # The LLM sees the citation label, not the bookkeeping.
            llm_view = node.get_content(MetadataMode.LLM)
            assert unit.label in llm_view and "image_paths" not in llm_view


def test_retriever_returns_scored_nodes_with_both_stages() -> None:
    nodes = MMRagRetriever(_retriever(), top_k=2).retrieve("double-spending peer-to-peer network")
    assert len(nodes) == 2
    assert nodes[0].node.metadata["unit_id"] == "doc-bitcoin:p00002"
    assert nodes[0].score is not None and nodes[0].node.metadata["rerank_score"] is not None
    assert nodes[0].node.metadata["stage1_score"] > 0


def test_query_engine_with_mock_llm_uses_our_nodes() -> None:
    engine = mmrag_query_engine(_retriever(), MockLLM(max_tokens=8), top_k=3)
    assert isinstance(engine, RetrieverQueryEngine)
    response = engine.query("how long does the pasta boil")
    assert isinstance(response, Response)
    assert response.response  # MockLLM echoes a few tokens
    sources = [n.node.metadata["unit_id"] for n in response.source_nodes]
    assert sources[0] == "doc-cooking:c00001"


def test_reranker_postprocessor_reorders_any_nodes() -> None:
    nodes = [
        NodeWithScore(node=TextNode(text="Tomatoes need full sun."), score=0.9),
        NodeWithScore(node=TextNode(text="Boil the pasta for eight minutes."), score=0.1),
        NodeWithScore(node=unit_to_node(corpus_units()["doc-bitcoin"][0]), score=0.5),
    ]
    post = MMRagReranker(FakeReranker(), top_n=2)
    out = post.postprocess_nodes(nodes, QueryBundle("boil pasta minutes"))
    assert len(out) == 2
    assert out[0].node.get_content() == "Boil the pasta for eight minutes."
    assert out[0].score == 1.0


def test_reranker_postprocessor_in_a_query_engine() -> None:
    engine = RetrieverQueryEngine.from_args(
        MMRagRetriever(_retriever(), top_k=5, rerank=False),
        llm=MockLLM(max_tokens=8),
        node_postprocessors=[MMRagReranker(FakeReranker(), top_n=1)],
    )
    response = engine.query("tomatoes sun stake plants")
    assert [n.node.metadata["doc_id"] for n in response.source_nodes] == ["doc-garden"]
