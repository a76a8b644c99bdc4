"""The index contract on every backend (tests/support/index_suite.py), plus backend specifics."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from ingest.errors import BackendUnavailable
from ingest.types import Unit, UnitKind
from retrieval.index import UnitPayloads, point_id
from retrieval.index_qdrant import QdrantClientIndex, open_qdrant_client
from retrieval.types import SearchFilter
from tests.support.fixtures_retrieval import corpus_units, document, index_corpus, page
from tests.support.index_suite import IndexSuite, query_of


class TestEdgeIndex(IndexSuite):
    backend = "edge"
    persistent = True


class TestLocalModeIndex(IndexSuite):
    backend = "local"
    persistent = True


class TestMemoryIndex(IndexSuite):
    backend = "memory"


def test_payload_round_trip_rebuilds_the_unit() -> None:
    for units in corpus_units().values():
        for unit in units:
            assert UnitPayloads().unit(UnitPayloads().payload(unit)) == unit


def test_payloads_hold_blob_keys_and_old_absolute_paths_still_resolve(tmp_path: Path) -> None:
    root = tmp_path / "data" / "blobs"
    unit = Unit("d:p1", "d", UnitKind.PAGE, 0, "a.pdf", "text", images=(root / "ab" / "cd.png",))
    payloads = UnitPayloads(root)
    payload = payloads.payload(unit)
    assert payload["images"] == ["ab/cd.png"]  # never an absolute path
    assert payloads.unit(payload) == unit
    # The data dir moved: the same payload resolves under the new blob root.
    moved = tmp_path / "elsewhere" / "blobs"
    assert UnitPayloads(moved).unit(payload).images == (moved / "ab" / "cd.png",)
    # An older version stored absolute paths: under the old root and under another one.
    assert payloads.unit({**payload, "images": [str(root / "ab/cd.png")]}) == unit
    old = {**payload, "images": ["/srv/old-data/blobs/ab/cd.png"]}
    assert payloads.unit(old).images == (root / "ab" / "cd.png",)


def test_point_ids_are_deterministic_uuids() -> None:
    assert point_id("doc:p00001") == point_id("doc:p00001")
    assert point_id("doc:p00001") != point_id("doc:p00002")


def test_local_mode_filters_visibility_only_while_a_document_is_hidden(tmp_path: Path) -> None:
    from tests.support.fixtures_retrieval import fake_stack

    index, indexer = fake_stack("local", tmp_path)
    assert isinstance(index, QdrantClientIndex)
    index_corpus(indexer)
    assert index.search_filter(None) is None  # nothing hidden: no per-point filter
    indexer.add(document("new", "new.pdf"), [page("new", "new.pdf", 1, "tomatoes compost")])
    assert index.search_filter(None) is not None
    hits = index.search_channels(query_of(indexer, "tomatoes compost"))
    assert all(h.unit.doc_id != "new" for c in hits.values() for h in c)
    indexer.remove("new")
    assert index.search_filter(None) is None
    only_clips = index.search_filter(SearchFilter(kinds=(UnitKind.CLIP,)))
    assert only_clips is not None and len(only_clips.must or []) == 1
    index.close()


def test_unreachable_server_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(BackendUnavailable, match=f"127.0.0.1:{port}.*not reachable"):
        open_qdrant_client(url=f"http://127.0.0.1:{port}", timeout_s=2)
