"""The unit cache (retrieval/unit_cache.py) and how the embedded index uses it."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from ingest.types import Unit, UnitKind
from retrieval.config import RetrievalSettings
from retrieval.index_edge import EdgeIndex
from retrieval.types import SearchFilter
from retrieval.unit_cache import UnitCache
from tests.support.fixtures_retrieval import document, fake_stack, index_corpus
from tests.support.index_suite import query_of


def unit(uid: str, doc: str = "d") -> Unit:
    return Unit(uid, doc, UnitKind.PAGE, 0, "a.pdf", f"text of {uid}", page=1)


def test_least_recently_used_units_go_first() -> None:
    cache = UnitCache(2)
    cache.put({"a": unit("a"), "b": unit("b")}, cache.generation)
    assert cache.get_many(["a"]) == {"a": unit("a")}  # "b" is now the oldest
    cache.put({"c": unit("c")}, cache.generation)
    assert set(cache.get_many(["a", "b", "c"])) == {"a", "c"}
    assert (cache.hits, cache.misses) == (3, 1)


def test_a_put_after_an_invalidation_is_dropped() -> None:
    cache = UnitCache(10)
    taken = cache.generation  # a search takes it, then reads an old payload of "a" ...
    cache.invalidate(["a"])  # ... while an upsert overwrites "a"
    cache.put({"a": unit("a")}, taken)
    assert cache.get_many(["a"]) == {}
    cache.put({"a": unit("a")}, cache.generation)
    assert cache.get_many(["a"]) == {"a": unit("a")}


def test_invalidation_by_point_and_by_document() -> None:
    cache = UnitCache(10)
    cache.put({"a": unit("a", "d1"), "b": unit("b", "d1"), "c": unit("c", "d2")}, 0)
    cache.invalidate(["a"])
    assert set(cache.get_many(["a", "b", "c"])) == {"b", "c"}
    cache.invalidate_doc("d1")
    assert set(cache.get_many(["a", "b", "c"])) == {"c"}


def test_capacity_zero_keeps_nothing() -> None:
    cache = UnitCache(0)
    cache.put({"a": unit("a")}, cache.generation)
    assert cache.get_many(["a"]) == {} and len(cache) == 0


class CountingShard:
    """The engine shard with its payload reads counted; `during_retrieve` runs inside the
    first one after the payloads were read (an upsert racing a search)."""

    def __init__(self, shard: Any) -> None:
        self.shard = shard
        self.retrieved: list[int] = []
        self.during_retrieve: Any = None

    def retrieve(self, ids: list[Any], *args: Any) -> Any:
        records = self.shard.retrieve(ids, *args)
        self.retrieved.append(len(ids))
        if self.during_retrieve is not None:
            action, self.during_retrieve = self.during_retrieve, None
            action()
        return records

    def __getattr__(self, name: str) -> Any:
        return getattr(self.shard, name)


def edge_stack(tmp_path: Path, capacity: int = 8192) -> tuple[EdgeIndex, Any, CountingShard]:
    index, indexer = fake_stack("edge", tmp_path, RetrievalSettings(unit_cache=capacity))
    assert isinstance(index, EdgeIndex)
    index_corpus(indexer)
    shard = CountingShard(index.shard)
    index.shard = shard  # type: ignore[assignment]
    return index, indexer, shard


def test_units_found_again_are_not_read_again(tmp_path: Path) -> None:
    index, indexer, shard = edge_stack(tmp_path)
    query = query_of(indexer, "tomatoes compost mulch")
    first = index.search_channels(query, limit=4)
    assert shard.retrieved and shard.retrieved[0] > 0
    shard.retrieved.clear()
    assert index.search_channels(query, limit=4) == first
    assert shard.retrieved == []  # every unit came from the cache
    index.close()


def test_without_a_cache_every_search_reads_payloads(tmp_path: Path) -> None:
    index, indexer, shard = edge_stack(tmp_path, capacity=0)
    query = query_of(indexer, "tomatoes compost mulch")
    first = index.search_channels(query, limit=4)
    assert index.search_channels(query, limit=4) == first
    assert len(shard.retrieved) == 2
    index.close()


def test_a_payload_read_during_an_overwrite_is_not_cached(tmp_path: Path) -> None:
    # A search reads the old payloads; an upsert overwrites those points before the
    # search builds and caches the units (hidden upserts run alongside searches). The
    # old units must not be served once the new ones are published.
    index, indexer, shard = edge_stack(tmp_path)
    garden = SearchFilter(doc_ids=("doc-garden",))
    query = query_of(indexer, "tomatoes compost mulch")
    old = {h.unit for c in index.search_channels(query, garden).values() for h in c}
    renamed = [replace(u, file_name="garden-v2.pdf") for u in sorted(old, key=lambda u: u.id)]
    # A third page, not yet published, as in an ingest under way: the document now has
    # hidden points, so upserting more of them runs alongside searches (no deadlock here).
    extra = replace(renamed[0], id="doc-garden:p00003", ordinal=2, page=3)
    indexer.add(document("doc-garden", "v2.pdf"), [extra])
    index.units = UnitCache(8192)  # nothing cached: the next search reads payloads
    shard.during_retrieve = lambda: indexer.add(document("doc-garden", "v2.pdf"), renamed)
    racing = {h.unit for c in index.search_channels(query, garden).values() for h in c}
    assert racing == old  # it read the payloads before the overwrite
    indexer.publish("doc-garden")
    after = {h.unit for c in index.search_channels(query, garden).values() for h in c}
    assert after == {*renamed, extra}
    index.close()
