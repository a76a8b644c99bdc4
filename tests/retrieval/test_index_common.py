"""The backend-neutral pieces both index backends build on (retrieval/index_common.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ingest.types import UnitKind
from retrieval.index_common import VISIBLE, PointFilter, facet_counts, named_vectors
from retrieval.types import SearchFilter


def test_a_search_sees_visible_points_of_the_filtered_documents_and_kinds() -> None:
    points = PointFilter.search(SearchFilter(doc_ids=("a", "b"), kinds=(UnitKind.CLIP,)))
    assert points.equal(shown=1) == [(VISIBLE, 1)]
    assert points.any_of() == [("doc_id", ["a", "b"]), ("kind", ["clip"])]
    assert points.restricted


def test_an_unfiltered_search_restricts_nothing_but_visibility() -> None:
    points = PointFilter.search(None, visible_only=False)
    assert points.equal(shown=True) == [] and points.any_of() == []
    assert not points.restricted
    assert PointFilter.search(None).equal(shown=True) == [(VISIBLE, True)]


def test_a_count_matches_one_document_exactly() -> None:
    points = PointFilter(visible_only=True, doc_id="d")
    assert points.equal(shown=1) == [(VISIBLE, 1), ("doc_id", "d")]
    assert points.any_of() == []


@dataclass
class _Hit:
    value: Any
    count: int


@dataclass
class _Record:
    payload: dict[str, Any] | None
    vector: Any


def test_facet_counts_pair_all_and_visible_points_and_skip_emptied_documents() -> None:
    every = [_Hit("a", 3), _Hit("b", 2), _Hit("gone", 0)]
    shown = [_Hit("a", 3)]
    assert facet_counts(every, shown) == {"a": (3, 3), "b": (2, 0)}


def test_named_vectors_lists_the_vectors_present_per_unit() -> None:
    records = [
        _Record({"unit_id": "u1"}, {"visual": [0.1], "text": None}),
        _Record(None, {"visual": [0.1]}),
        _Record({"unit_id": "u2"}, [0.1]),
    ]
    assert named_vectors(records) == {"u1": {"visual"}}


def test_visibility_is_dropped_only_where_no_hidden_document_can_match() -> None:
    every = PointFilter.search(None)
    some = PointFilter.search(SearchFilter(doc_ids=("a", "b")))
    assert not every.without_needless_visibility(set()).visible_only
    assert every.without_needless_visibility({"x"}).visible_only
    assert not some.without_needless_visibility({"x"}).visible_only
    assert some.without_needless_visibility({"b"}).visible_only
    assert (
        PointFilter(visible_only=True, doc_id="x").without_needless_visibility({"x"}).visible_only
    )
    assert not PointFilter(doc_id="x").without_needless_visibility({"x"}).visible_only
    kept = PointFilter.search(SearchFilter(doc_ids=("a",))).without_needless_visibility(set())
    assert kept.doc_ids == ("a",)
