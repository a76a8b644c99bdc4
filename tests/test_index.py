"""QdrantIndex and UnitIndexer: the same calls on `:memory:` and on an embedded local path."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest
from fixtures_retrieval import corpus_units, document, fake_stack, index_corpus, page

from ingest.errors import BackendUnavailable
from ingest.types import UnitKind
from retrieval.config import RetrievalSettings
from retrieval.embedders.bm25 import BM25Encoder
from retrieval.embedders.fake import FakeEmbedder
from retrieval.index import (
    IndexedUnit,
    IndexMismatch,
    QdrantIndex,
    QueryVector,
    VectorLayout,
    open_qdrant_client,
    point_id,
    unit_from_payload,
    unit_payload,
)
from retrieval.indexer import UnitIndexer, layout_for
from retrieval.types import SearchFilter


@pytest.fixture(params=["memory", "local"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return ":memory:" if request.param == "memory" else str(tmp_path / "qdrant")


def _query(indexer: UnitIndexer, text: str) -> dict[str, QueryVector]:
    assert indexer.text is not None and indexer.sparse is not None
    return {
        "text": indexer.text.embed_queries([text])[0],
        "sparse": indexer.sparse.encode_queries([text])[0],
    }


def test_payload_round_trip_rebuilds_the_unit() -> None:
    for units in corpus_units().values():
        for unit in units:
            assert unit_from_payload(unit_payload(unit, visible=True)) == unit


def test_point_ids_are_deterministic_uuids() -> None:
    assert point_id("doc:p00001") == point_id("doc:p00001")
    assert point_id("doc:p00001") != point_id("doc:p00002")


def test_round_trip_and_search(location: str) -> None:
    index, indexer = fake_stack(location)
    docs = index_corpus(indexer)
    assert index.count() == sum(len(u) for u in docs.values())
    bitcoin = docs["doc-bitcoin"]
    assert index.get_units([u.id for u in bitcoin]) == bitcoin
    results = index.search_channels(
        _query(indexer, "double-spending peer-to-peer network"), limit=3
    )
    assert set(results) == {"text", "sparse"}
    for hits in results.values():
        assert hits[0].unit == bitcoin[1]
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_reupsert_overwrites_instead_of_duplicating(location: str) -> None:
    index, indexer = fake_stack(location)
    docs = index_corpus(indexer)
    index_corpus(indexer)
    assert index.count() == sum(len(u) for u in docs.values())


def test_delete_document_removes_only_its_points(location: str) -> None:
    index, indexer = fake_stack(location)
    docs = index_corpus(indexer)
    indexer.remove("doc-garden")
    assert index.count("doc-garden") == 0
    assert index.count("doc-bitcoin") == len(docs["doc-bitcoin"])
    hits = index.search_channels(_query(indexer, "tomatoes compost mulch"), limit=10)
    assert all(h.unit.doc_id != "doc-garden" for c in hits.values() for h in c)
    indexer.remove("doc-garden")  # deleting again is harmless


def test_unpublished_documents_are_invisible(location: str) -> None:
    index, indexer = fake_stack(location)
    index_corpus(indexer, publish=False)
    query = _query(indexer, "tomatoes compost mulch")
    assert all(not hits for hits in index.search_channels(query).values())
    assert index.count(visible_only=True) == 0
    indexer.publish("doc-garden")
    hits = index.search_channels(query)
    assert {h.unit.doc_id for c in hits.values() for h in c} == {"doc-garden"}
    assert index.count(visible_only=True) == index.count("doc-garden") == 2


def test_embedded_search_filters_visibility_only_while_a_document_is_hidden(location: str) -> None:
    index, indexer = fake_stack(location)
    index_corpus(indexer)
    assert index.search_filter(None) is None  # nothing hidden: no per-point filter
    indexer.add(document("new", "new.pdf"), [page("new", "new.pdf", 1, "tomatoes compost")])
    assert index.search_filter(None) is not None
    assert all(
        h.unit.doc_id != "new"
        for c in index.search_channels(_query(indexer, "tomatoes compost")).values()
        for h in c
    )
    indexer.remove("new")
    assert index.search_filter(None) is None
    only_clips = index.search_filter(SearchFilter(kinds=(UnitKind.CLIP,)))
    assert only_clips is not None and len(only_clips.must or []) == 1


def test_interrupted_ingest_stays_hidden_after_reopening(tmp_path: Path) -> None:
    index, indexer = fake_stack(tmp_path / "q")
    index_corpus(indexer)
    indexer.add(
        document("crashed", "crashed.pdf"), [page("crashed", "crashed.pdf", 1, "tomatoes compost")]
    )
    index.close()  # the process dies before `publish`
    reopened, indexer = fake_stack(tmp_path / "q")
    hits = reopened.search_channels(_query(indexer, "tomatoes compost"))
    assert hits["sparse"] and all(h.unit.doc_id != "crashed" for c in hits.values() for h in c)
    assert (
        reopened.count("crashed") == 1 and reopened.count(visible_only=True) == reopened.count() - 1
    )


def test_filters_by_document_and_kind(location: str) -> None:
    index, indexer = fake_stack(location)
    index_corpus(indexer)
    query = _query(indexer, "peer-to-peer pasta tomatoes")
    only_garden = index.search_channels(query, SearchFilter(doc_ids=("doc-garden",)))
    assert {h.unit.doc_id for c in only_garden.values() for h in c} == {"doc-garden"}
    clips = index.search_channels(query, SearchFilter(kinds=(UnitKind.CLIP,)))
    assert {h.unit.kind for c in clips.values() for h in c} == {UnitKind.CLIP}
    nothing = index.search_channels(query, SearchFilter(doc_ids=()))
    assert all(not hits for hits in nothing.values())


def test_local_index_persists_across_clients(tmp_path: Path) -> None:
    index, indexer = fake_stack(tmp_path / "q")
    docs = index_corpus(indexer)
    index.close()
    reopened, _ = fake_stack(tmp_path / "q")
    assert reopened.count() == sum(len(u) for u in docs.values())
    assert reopened.count(visible_only=True) == reopened.count()


def test_locked_local_index_is_a_clear_error(tmp_path: Path) -> None:
    first = open_qdrant_client(path=tmp_path / "q")
    with pytest.raises(BackendUnavailable, match="another process"):
        open_qdrant_client(path=tmp_path / "q")
    first.close()


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}.*not reachable"):
        open_qdrant_client(url=f"http://127.0.0.1:{port}", timeout_s=2)


def test_switching_embedders_on_an_existing_collection_is_refused(tmp_path: Path) -> None:
    index, _ = fake_stack(tmp_path / "q", dim=64)
    index.close()
    client = open_qdrant_client(path=tmp_path / "q")
    bigger = VectorLayout(text_dim=128, sparse=True, models={"text": "fake", "sparse": "bm25"})
    with pytest.raises(IndexMismatch, match=r"holds text\(64, fake\).*produce text\(128, fake\)"):
        QdrantIndex(client, RetrievalSettings(), bigger)
    renamed = VectorLayout(
        text_dim=64, sparse=True, models={"text": "other-model", "sparse": "bm25"}
    )
    with pytest.raises(IndexMismatch, match="other-model"):
        QdrantIndex(client, RetrievalSettings(), renamed)
    with_visual = VectorLayout(
        visual_dim=64, text_dim=64, sparse=True, models={"text": "fake", "sparse": "bm25"}
    )
    with pytest.raises(IndexMismatch):
        QdrantIndex(client, RetrievalSettings(), with_visual)
    client.close()


def test_only_configured_vectors_exist() -> None:
    text = FakeEmbedder(32)
    index = QdrantIndex(open_qdrant_client(), RetrievalSettings(), layout_for(None, text, None))
    assert index.layout.channels == ("text",)
    stored = index.existing_layout()
    assert stored.dense == {"text": 32} and not stored.sparse
    with pytest.raises(ValueError, match="sparse"):
        index.search_channels({"sparse": BM25Encoder().encode_queries(["x"])[0]})


def test_upsert_batches_and_validates_vectors() -> None:
    index, indexer = fake_stack(settings=RetrievalSettings(upsert_batch=2))
    units = [page("d", "many.pdf", i, f"page number {i} text") for i in range(1, 8)]
    indexer.add(document("d", "many.pdf"), units)
    assert index.count("d") == 7
    wrong = IndexedUnit(units[0], {"text": np.zeros(3, dtype=np.float32)})
    with pytest.raises(ValueError, match="shape"):
        index.upsert([wrong])


def test_indexer_refuses_encoders_that_do_not_match_the_index() -> None:
    index, _ = fake_stack()
    with pytest.raises(ValueError, match="encoders produce"):
        UnitIndexer(index, text=FakeEmbedder(64))  # no sparse encoder, index has one


def test_empty_units_and_queries_are_harmless() -> None:
    index, indexer = fake_stack()
    indexer.add(document("d", "empty.pdf"), [page("d", "empty.pdf", 1, "")])
    indexer.publish("d")
    assert index.count("d") == 1
    results = index.search_channels(_query(indexer, "the of and"))  # only stopwords
    assert results["sparse"] == []
    assert [h.unit.id for h in results["text"]] == ["d:p00001"]
