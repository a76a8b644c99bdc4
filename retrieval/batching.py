"""Micro-batching of concurrent encoder calls.

Twenty clients asking at once should cost a few model calls, not twenty: an encoder call
pays a fixed price (tokenisation, Python dispatch, small matrix products that use the
cores poorly) that a batch shares. `MicroBatcher` merges the calls that arrive while the
model is busy into the next batch, without a background thread and without a timer: the
first caller leads (runs batches) until its own items are done, then hands the lead to
the oldest waiting caller. A lone caller runs at once, as if unbatched.

`BatchedQueryEmbedder` puts one in front of an Embedder's `embed_queries`.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from ingest.types import Unit
from retrieval.embedders.base import Embedder, Matrix

T = TypeVar("T")

BatchFn = Callable[[list[T]], Matrix]


class _Call(Generic[T]):
    """One caller's items, and where its rows (or error) land."""

    def __init__(self, items: list[T]) -> None:
        self.items = items
        self.rows: Matrix | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.wake = threading.Event()  # set when finished, or when handed the lead

    def outcome(self) -> Matrix:
        if self.error is not None:
            raise self.error
        assert self.rows is not None
        return self.rows


class MicroBatcher(Generic[T]):
    """Calls `fn(items) -> (n, dim)` on the items of all concurrent callers at once (up to
    `max_items` per model call); each caller gets its own rows back, or the error."""

    def __init__(self, fn: BatchFn[T], max_items: int = 256) -> None:
        self.fn = fn
        self.max_items = max_items
        self.calls = 0  # model calls made (for tests and benchmarks)
        self._lock = threading.Lock()
        self._pending: deque[_Call[T]] = deque()
        self._leading = False

    def __call__(self, items: Sequence[T]) -> Matrix:
        call = _Call(list(items))
        with self._lock:
            self._pending.append(call)
            lead = not self._leading
            self._leading = True
        if not lead:
            call.wake.wait()
            if call.finished:
                return call.outcome()
            # Handed the lead by the previous leader.
        try:
            while not call.finished:
                self._run(self._take())
        finally:
            self._hand_over()
        return call.outcome()

    def _take(self) -> list[_Call[T]]:
        with self._lock:
            batch: list[_Call[T]] = []
            size = 0
            while self._pending and (
                not batch or size + len(self._pending[0].items) <= self.max_items
            ):
                call = self._pending.popleft()
                batch.append(call)
                size += len(call.items)
            return batch

    def _run(self, batch: list[_Call[T]]) -> None:
        flat = [item for call in batch for item in call.items]
        try:
            self.calls += 1
            rows = self.fn(flat) if flat else np.zeros((0, 0), dtype=np.float32)
            start = 0
            for call in batch:
                call.rows = rows[start : start + len(call.items)]
                start += len(call.items)
        except BaseException as err:  # every caller of the batch learns of it
            for call in batch:
                call.error = err
        for call in batch:
            call.finished = True
            call.wake.set()

    def _hand_over(self) -> None:
        with self._lock:
            if self._pending:
                self._pending[0].wake.set()  # the oldest waiter leads next
            else:
                self._leading = False


class BatchedQueryEmbedder:
    """An Embedder whose `embed_queries` calls from concurrent threads are micro-batched;
    `embed_units` (ingestion, already batched) goes straight to the wrapped embedder."""

    def __init__(self, inner: Embedder, max_items: int = 64) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.batcher: MicroBatcher[str] = MicroBatcher(inner.embed_queries, max_items)

    def embed_queries(self, queries: Sequence[str]) -> Matrix:
        """(n, dim) query vectors, computed together with other threads' queries."""
        return self.batcher(list(queries))

    def embed_units(self, units: Sequence[Unit]) -> Matrix:
        return self.inner.embed_units(units)

    def __getattr__(self, name: str) -> Any:
        """The wrapped embedder's other capabilities (e.g. `ping`, which /ready probes)."""
        if name == "inner":  # not set yet (during unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)


def batch_queries(embedder: Embedder | None) -> Embedder | None:
    """`embedder` with micro-batched queries (None stays None)."""
    return BatchedQueryEmbedder(embedder) if embedder is not None else None
