"""A bounded LRU of the units an index built from point payloads, keyed by point id.

Reading 50-80 payloads from Qdrant Edge's on-disk store and building their `Unit`s was
about a third of stage 1's time at 100k units (docs/figures.md); a unit found again comes
from here instead. Invalidation: the one process that writes the shard (the shard lock)
calls `invalidate` for every point an upsert overwrites, before and after the write, and
`invalidate_doc` when a document is deleted. A search takes the `generation` before it
reads payloads and `put`s what it built only if no invalidation happened since, so a
payload read before an overwrite landed is never cached after it (tests/retrieval/
test_unit_cache.py). Visibility is not cached: the engine's filtered search decides which
points are found; the cache only supplies the units of points found.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping

from ingest.types import Unit


class UnitCache:
    """Point id -> built `Unit`, at most `capacity` of them (0: nothing is kept)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._units: OrderedDict[Hashable, Unit] = OrderedDict()
        self._lock = threading.Lock()
        self._generation = 0
        self.hits = 0
        self.misses = 0

    @property
    def generation(self) -> int:
        """Changes with every invalidation: take it before reading payloads for `put`."""
        return self._generation

    def __len__(self) -> int:
        return len(self._units)

    def get_many(self, point_ids: Iterable[Hashable]) -> dict[Hashable, Unit]:
        """The cached units of these points (the others are misses), marked recently used."""
        out: dict[Hashable, Unit] = {}
        if not self.capacity:
            return out
        wanted = 0
        with self._lock:
            units = self._units
            for pid in point_ids:
                wanted += 1
                unit = units.get(pid)
                if unit is not None:
                    units.move_to_end(pid)
                    out[pid] = unit
            self.hits += len(out)
            self.misses += wanted - len(out)
        return out

    def put(self, units: Mapping[Hashable, Unit], generation: int) -> None:
        """Keep `units`, built from payloads read after `generation` was taken; dropped
        when an invalidation happened since (the payload may predate an overwrite)."""
        if not self.capacity or not units:
            return
        with self._lock:
            if generation != self._generation:
                return
            self._units.update(units)
            for pid in units:
                self._units.move_to_end(pid)
            while len(self._units) > self.capacity:
                self._units.popitem(last=False)

    def invalidate(self, point_ids: Iterable[Hashable]) -> None:
        """Forget these points (their payloads are being overwritten)."""
        with self._lock:
            self._generation += 1
            for pid in point_ids:
                self._units.pop(pid, None)

    def invalidate_doc(self, doc_id: str) -> None:
        """Forget every unit of a document (it is being deleted)."""
        with self._lock:
            self._generation += 1
            gone = [pid for pid, unit in self._units.items() if unit.doc_id == doc_id]
            for pid in gone:
                del self._units[pid]
