"""The contract every VectorIndex backend passes (Qdrant Edge, qdrant-client local mode and
in memory): round trip, overwrite, delete by document, hidden-then-published documents,
filters by document and kind, per-channel scores, the layout and model check.

Use: subclass `IndexSuite` as `class TestMyIndex(IndexSuite)` with `backend` set to a name
that `fixtures_retrieval.open_test_index` knows; `persistent` says whether it survives a
close and reopen.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from ingest.errors import BackendUnavailable
from ingest.types import Unit, UnitKind
from retrieval.config import RetrievalSettings
from retrieval.embedders.bm25 import BM25Encoder
from retrieval.embedders.fake import FakeEmbedder
from retrieval.encoders import Encoders
from retrieval.index import IndexedUnit, IndexMismatch, QueryVector, VectorIndex, VectorLayout
from retrieval.indexer import UnitIndexer
from retrieval.types import SearchFilter
from tests.support.fixtures_retrieval import (
    document,
    fake_stack,
    index_corpus,
    open_test_index,
    page,
)


def query_of(indexer: UnitIndexer, query: str) -> dict[str, QueryVector]:
    """The text and sparse query vectors of `query`."""
    text, sparse = indexer.encoders.text, indexer.encoders.sparse
    assert text is not None and sparse is not None
    return {
        "text": text.embed_queries([query])[0],
        "sparse": sparse.encode_queries([query])[0],
    }


def found_docs(results: dict[str, list]) -> set[str]:  # type: ignore[type-arg]
    return {h.unit.doc_id for hits in results.values() for h in hits}


class IndexSuite:
    """Behaviour shared by all index backends."""

    backend = "memory"
    persistent = False

    def stack(
        self, where: Path, settings: RetrievalSettings | None = None, dim: int = 64
    ) -> tuple[VectorIndex, UnitIndexer]:
        return fake_stack(self.backend, where, settings, dim)

    def test_satisfies_the_protocol(self, tmp_path: Path) -> None:
        index, _ = self.stack(tmp_path)
        assert isinstance(index, VectorIndex)
        index.close()

    def test_round_trip_and_search(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        docs = index_corpus(indexer)
        assert index.count() == sum(len(u) for u in docs.values())
        bitcoin = docs["doc-bitcoin"]
        assert index.get_units([u.id for u in reversed(bitcoin)] + ["nope"]) == bitcoin[::-1]
        results = index.search_channels(
            query_of(indexer, "double-spending peer-to-peer network"), limit=3
        )
        assert set(results) == {"text", "sparse"}
        for hits in results.values():
            assert hits[0].unit == bitcoin[1]
            assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        # A unit both channels found is rebuilt from its payload once.
        assert results["text"][0].unit is results["sparse"][0].unit
        index.close()

    def test_vector_names_are_the_channels_a_unit_has(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        indexer.add(document("d", "d.pdf"), [page("d", "d.pdf", 1, "tomatoes")])
        assert index.vector_names(["d:p00001", "nope"]) == {"d:p00001": {"text", "sparse"}}
        index.close()

    def test_channel_scores_are_the_raw_similarities(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        docs = index_corpus(indexer)
        assert indexer.encoders.text is not None
        query = query_of(indexer, "tomatoes compost mulch")
        hits = index.search_channels(query, limit=10)["text"]
        unit_vectors = indexer.encoders.text.embed_units([h.unit for h in hits])
        cosine = unit_vectors @ np.asarray(query["text"])
        assert [h.score for h in hits] == pytest.approx(cosine.tolist(), abs=1e-4)
        assert len(hits) == sum(len(u) for u in docs.values())
        index.close()

    def test_reupsert_overwrites_instead_of_duplicating(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        docs = index_corpus(indexer)
        index_corpus(indexer)
        assert index.count() == sum(len(u) for u in docs.values())
        index.close()

    def test_delete_document_removes_only_its_points(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        docs = index_corpus(indexer)
        indexer.remove("doc-garden")
        assert index.count("doc-garden") == 0
        assert index.count("doc-bitcoin") == len(docs["doc-bitcoin"])
        hits = index.search_channels(query_of(indexer, "tomatoes compost mulch"), limit=10)
        assert "doc-garden" not in found_docs(hits)
        indexer.remove("doc-garden")  # deleting again is harmless
        index.close()

    def test_searches_see_a_reingested_units_new_payload(self, tmp_path: Path) -> None:
        # The Edge index keeps units built from payloads (retrieval/unit_cache.py): a unit
        # overwritten by a new ingest, or deleted and ingested again, must come back new.
        index, indexer = self.stack(tmp_path)
        docs = index_corpus(indexer)
        query = query_of(indexer, "tomatoes compost mulch")

        def garden_units() -> dict[str, Unit]:
            hits = index.search_channels(query, SearchFilter(doc_ids=("doc-garden",)))
            return {h.unit.id: h.unit for c in hits.values() for h in c}

        assert set(garden_units().values()) == set(docs["doc-garden"])
        garden_units()  # found again (from the cache where there is one)
        renamed = [replace(u, file_name="garden-v2.pdf") for u in docs["doc-garden"]]
        indexer.add(document("doc-garden", "garden-v2.pdf"), renamed)
        indexer.publish("doc-garden")
        assert set(garden_units().values()) == set(renamed)
        indexer.remove("doc-garden")
        assert garden_units() == {}
        again = [replace(u, text_source="ocr") for u in docs["doc-garden"]]
        indexer.add(document("doc-garden", "garden_guide.pdf"), again)
        indexer.publish("doc-garden")
        assert set(garden_units().values()) == set(again)
        index.close()

    def test_unpublished_documents_are_invisible(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        index_corpus(indexer, publish=False)
        query = query_of(indexer, "tomatoes compost mulch")
        assert all(not hits for hits in index.search_channels(query).values())
        assert index.count(visible_only=True) == 0
        indexer.publish("doc-garden")
        assert found_docs(index.search_channels(query)) == {"doc-garden"}
        assert index.count(visible_only=True) == index.count("doc-garden") == 2
        index.set_visible("doc-garden", False)
        assert found_docs(index.search_channels(query)) == set()
        index.close()

    def test_restricted_searches_never_see_hidden_points(self, tmp_path: Path) -> None:
        # Edge drops the visibility condition for documents it knows have no hidden point:
        # a published document upserted again (hidden) must vanish from searches restricted
        # to it, and one hidden again or deleted must stay out.
        index, indexer = self.stack(tmp_path)
        docs = index_corpus(indexer, publish=False)
        indexer.publish("doc-garden")
        query = query_of(indexer, "tomatoes compost mulch")

        def found(*doc_ids: str) -> set[str]:
            return found_docs(index.search_channels(query, SearchFilter(doc_ids=doc_ids)))

        assert found("doc-garden") == found("doc-garden", "doc-cooking") == {"doc-garden"}
        assert found("doc-cooking") == found("doc-bitcoin") == set()
        indexer.add(document("doc-garden", "garden_guide.pdf"), docs["doc-garden"])
        assert found("doc-garden") == found_docs(index.search_channels(query)) == set()
        indexer.publish("doc-garden")
        assert found("doc-garden") == {"doc-garden"}
        index.set_visible("doc-garden", False)
        assert found("doc-garden") == set()
        indexer.publish("doc-garden")
        indexer.remove("doc-garden")
        assert found("doc-garden") == set()
        index.close()

    def test_doc_counts_report_points_and_visible_points(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        assert index.doc_counts() == {}
        index_corpus(indexer, publish=False)
        indexer.publish("doc-cooking")
        assert index.doc_counts() == {
            "doc-bitcoin": (2, 0),
            "doc-garden": (2, 0),
            "doc-cooking": (3, 3),
        }
        index.close()

    def test_filters_by_document_and_kind(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        index_corpus(indexer)
        query = query_of(indexer, "peer-to-peer pasta tomatoes")
        only_garden = index.search_channels(query, SearchFilter(doc_ids=("doc-garden",)))
        assert found_docs(only_garden) == {"doc-garden"}
        two = index.search_channels(query, SearchFilter(doc_ids=("doc-garden", "doc-cooking")))
        assert found_docs(two) == {"doc-garden", "doc-cooking"}
        clips = index.search_channels(query, SearchFilter(kinds=(UnitKind.CLIP,)))
        assert {h.unit.kind for c in clips.values() for h in c} == {UnitKind.CLIP}
        both = SearchFilter(doc_ids=("doc-garden",), kinds=(UnitKind.CLIP,))
        assert found_docs(index.search_channels(query, both)) == set()
        nothing = index.search_channels(query, SearchFilter(doc_ids=()))
        assert all(not hits for hits in nothing.values())
        index.close()

    def test_only_configured_vectors_exist(self, tmp_path: Path) -> None:
        text = FakeEmbedder(32)
        index = open_test_index(
            self.backend, tmp_path, RetrievalSettings(), Encoders(text=text).layout
        )
        assert index.layout.channels == ("text",)
        with pytest.raises(ValueError, match="sparse"):
            index.search_channels({"sparse": BM25Encoder().encode_queries(["x"])[0]})
        index.close()

    def test_upsert_batches_and_validates_vectors(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path, RetrievalSettings(upsert_batch=2))
        units = [page("d", "many.pdf", i, f"page number {i} text") for i in range(1, 8)]
        indexer.add(document("d", "many.pdf"), units)
        assert index.count("d") == 7
        wrong = IndexedUnit(units[0], {"text": np.zeros(3, dtype=np.float32)})
        with pytest.raises(ValueError, match="shape"):
            index.upsert([wrong])
        missing = IndexedUnit(units[0], {})
        with pytest.raises(ValueError, match="missing 'text'"):
            index.upsert([missing])
        index.close()

    def test_empty_units_and_queries_are_harmless(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        indexer.add(document("d", "empty.pdf"), [page("d", "empty.pdf", 1, "")])
        indexer.publish("d")
        assert index.count("d") == 1
        results = index.search_channels(query_of(indexer, "the of and"))  # only stopwords
        assert results["sparse"] == []
        assert [h.unit.id for h in results["text"]] == ["d:p00001"]
        index.close()

    def test_closed_index_is_a_clear_error(self, tmp_path: Path) -> None:
        index, indexer = self.stack(tmp_path)
        index.close()
        index.close()  # twice is harmless
        with pytest.raises(BackendUnavailable, match="closed"):
            index.count()

    # -- persistence ------------------------------------------------------------------------

    def test_persists_across_reopening(self, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("in-memory backend")
        index, indexer = self.stack(tmp_path)
        docs = index_corpus(indexer)
        indexer.add(document("late", "late.pdf"), [page("late", "late.pdf", 1, "tomatoes")])
        index.close()  # the process ends before `publish`
        reopened, indexer = self.stack(tmp_path)
        assert reopened.count() == sum(len(u) for u in docs.values()) + 1
        assert reopened.count(visible_only=True) == reopened.count() - 1
        hits = reopened.search_channels(query_of(indexer, "tomatoes compost"))
        assert hits["sparse"] and "late" not in found_docs(hits)
        only_late = SearchFilter(doc_ids=("late", "doc-bitcoin"))
        hits = reopened.search_channels(query_of(indexer, "tomatoes compost"), only_late)
        assert "late" not in found_docs(hits)
        reopened.close()

    def test_switching_embedders_is_refused(self, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("in-memory backend")
        index, _ = self.stack(tmp_path, dim=64)
        index.close()
        settings = RetrievalSettings()
        bigger = VectorLayout(text_dim=128, sparse=True, models={"text": "fake", "sparse": "bm25"})
        with pytest.raises(
            IndexMismatch, match=r"holds text\(64, fake\).*produce text\(128, fake\)"
        ):
            open_test_index(self.backend, tmp_path, settings, bigger)
        renamed = VectorLayout(
            text_dim=64, sparse=True, models={"text": "other-model", "sparse": "bm25"}
        )
        with pytest.raises(IndexMismatch, match="other-model"):
            open_test_index(self.backend, tmp_path, settings, renamed)
        with_visual = VectorLayout(
            visual_dim=64, text_dim=64, sparse=True, models={"text": "fake", "sparse": "bm25"}
        )
        with pytest.raises(IndexMismatch):
            open_test_index(self.backend, tmp_path, settings, with_visual)
        same, _ = self.stack(tmp_path, dim=64)  # the right layout still opens
        same.close()

    def test_second_opener_is_a_clear_error(self, tmp_path: Path) -> None:
        if not self.persistent:
            pytest.skip("in-memory backend")
        index, _ = self.stack(tmp_path)
        with pytest.raises(BackendUnavailable, match="another process"):
            self.stack(tmp_path)
        index.close()
        reopened, _ = self.stack(tmp_path)  # the lock went with the close
        reopened.close()
