"""llama-index adapters: the retriever as a `BaseRetriever`, the reranker as a
`BaseNodePostprocessor`, and a query engine built from them.

Nodes are `TextNode`s with id = unit id and metadata naming the file, location and image
paths, so any llama-index component (synthesizers, multimodal LLMs) can use them, and
`unit_from_node` turns them back into units.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from llama_index.core.llms import LLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import BaseNode, NodeWithScore, QueryBundle, TextNode
from pydantic import PrivateAttr

from ingest.types import Unit, UnitKind
from retrieval.rerankers.base import Reranker
from retrieval.retriever import Retriever
from retrieval.types import Hit, SearchFilter

# Bookkeeping the LLM and embedding models need not read.
_HIDDEN_KEYS = [
    "unit_id",
    "doc_id",
    "kind",
    "ordinal",
    "page",
    "start_s",
    "end_s",
    "image_paths",
    "stage1_score",
    "rerank_score",
    "matched",
]


def unit_to_node(unit: Unit) -> TextNode:
    """A unit as a TextNode: its text, with the citation label visible to the LLM."""
    metadata: dict[str, Any] = {
        "source": unit.label,
        "file_name": unit.file_name,
        "unit_id": unit.id,
        "doc_id": unit.doc_id,
        "kind": unit.kind.value,
        "ordinal": unit.ordinal,
        "page": unit.page,
        "start_s": unit.start_s,
        "end_s": unit.end_s,
        "image_paths": [str(p) for p in unit.images],
    }
    return TextNode(
        id_=unit.id,
        text=unit.text,
        metadata=metadata,
        excluded_llm_metadata_keys=list(_HIDDEN_KEYS),
        excluded_embed_metadata_keys=list(_HIDDEN_KEYS),
    )


def hit_to_node(hit: Hit) -> NodeWithScore:
    """A hit as a scored node; both stages' scores ride along in the metadata."""
    node = unit_to_node(hit.unit)
    node.metadata.update(
        stage1_score=hit.stage1_score, rerank_score=hit.rerank_score, matched=list(hit.matched)
    )
    return NodeWithScore(node=node, score=hit.score)


def unit_from_node(node: BaseNode) -> Unit:
    """Rebuild the unit of a node made by `unit_to_node`; any other node becomes a page-like
    unit of its text (so the reranker also works on nodes from other retrievers)."""
    meta = node.metadata
    kind = meta.get("kind")
    return Unit(
        id=str(meta.get("unit_id") or node.node_id),
        doc_id=str(meta.get("doc_id") or node.ref_doc_id or ""),
        kind=UnitKind(kind) if kind in ("page", "clip") else UnitKind.PAGE,
        ordinal=int(meta.get("ordinal") or 0),
        file_name=str(meta.get("file_name") or ""),
        text=node.get_content(),
        images=tuple(Path(p) for p in meta.get("image_paths") or ()),
        page=meta.get("page"),
        start_s=meta.get("start_s"),
        end_s=meta.get("end_s"),
    )


class MMRagRetriever(BaseRetriever):
    """mmrag's two-stage retriever behind llama-index's retriever interface."""

    def __init__(
        self,
        retriever: Retriever,
        *,
        top_k: int | None = None,
        search_filter: SearchFilter | None = None,
        rerank: bool = True,
    ) -> None:
        super().__init__()
        self.retriever = retriever
        self.top_k = top_k
        self.search_filter = search_filter
        self.rerank = rerank

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        search = self.retriever.search if self.rerank else self.retriever.stage1_only
        hits = search(query_bundle.query_str, self.search_filter, self.top_k)
        return [hit_to_node(h) for h in hits]


class MMRagReranker(BaseNodePostprocessor):
    """Any mmrag `Reranker` as a llama-index node postprocessor: re-scores and re-orders
    nodes by the reranker's score and keeps the best `top_n`."""

    top_n: int = 5
    _reranker: Reranker = PrivateAttr()

    def __init__(self, reranker: Reranker, top_n: int = 5) -> None:
        super().__init__(top_n=top_n)
        self._reranker = reranker

    @classmethod
    def class_name(cls) -> str:
        return "MMRagReranker"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("MMRagReranker needs the query")
        if not nodes:
            return []
        scores = self._reranker.score(
            query_bundle.query_str, [unit_from_node(n.node) for n in nodes]
        )
        ranked = sorted(zip(nodes, scores, strict=True), key=lambda pair: -pair[1])
        return [NodeWithScore(node=n.node, score=s) for n, s in ranked[: self.top_n]]


def mmrag_query_engine(
    retriever: Retriever, llm: LLM, *, top_k: int | None = None, **kwargs: Any
) -> RetrieverQueryEngine:
    """A llama-index query engine over the mmrag retriever (reranking included); extra
    keyword arguments go to `RetrieverQueryEngine.from_args` (e.g. node_postprocessors)."""
    return RetrieverQueryEngine.from_args(MMRagRetriever(retriever, top_k=top_k), llm=llm, **kwargs)
