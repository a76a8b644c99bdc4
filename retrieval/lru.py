"""A bounded least-recently-used map (the page rows' caches, the answer scorer's unit groups)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most `size` entries, the least recently used dropped first (`on_evict` sees each
    value dropped). Not thread-safe: the caller holds its lock."""

    def __init__(self, size: int, on_evict: Callable[[V], object] = lambda value: None) -> None:
        self.size = size
        self.on_evict = on_evict
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value of `key`, now the most recently used, or None."""
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        while len(self._entries) > self.size:
            self.on_evict(self._entries.popitem(last=False)[1])

    def clear(self) -> None:
        self._entries.clear()
