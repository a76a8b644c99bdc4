"""Micro-batching of concurrent encoder calls.

Twenty clients asking at once should cost a few model calls, not twenty: an encoder call
pays a fixed price (tokenisation, Python dispatch, small matrix products that use the
cores poorly) that a batch shares. `MicroBatcher` merges the calls that arrive while the
model is busy into the next batch, without a background thread and without a timer: a
caller that finds a free lane runs a batch of everything pending itself; the others wait
for their rows, or for a lane. A lone caller runs at once, as if unbatched.

`lanes` model calls may run at once. With one-thread model calls (the API) and a model
that releases the GIL (the traced MiniLM), two lanes keep two cores encoding: under 20
concurrent clients one lane was busy ~80% of the time and queries queued behind it.

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

    def outcome(self) -> Matrix:
        if self.error is not None:
            raise self.error
        assert self.rows is not None
        return self.rows


class MicroBatcher(Generic[T]):
    """Calls `fn(items) -> (n, dim)` on the items of all concurrent callers at once (up to
    `max_items` per model call, up to `lanes` model calls at a time); each caller gets its
    own rows back, or the error."""

    def __init__(self, fn: BatchFn[T], max_items: int = 256, lanes: int = 1) -> None:
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, got {lanes}")
        self.fn = fn
        self.max_items = max_items
        self.lanes = lanes
        self.calls = 0  # model calls made (for tests and benchmarks)
        self._changed = threading.Condition(threading.Lock())
        self._pending: deque[_Call[T]] = deque()
        self._running = 0  # lanes in use

    def __call__(self, items: Sequence[T]) -> Matrix:
        call = _Call(list(items))
        with self._changed:
            self._pending.append(call)
            while not call.finished:
                if self._running < self.lanes and self._pending:
                    # A free lane: run what is pending (this call's items, or earlier
                    # callers' first), then look again.
                    batch = self._take()
                    self._running += 1
                    self.calls += 1
                    self._changed.release()
                    try:
                        self._run(batch)
                    finally:
                        self._changed.acquire()
                        self._running -= 1
                        self._changed.notify_all()
                else:
                    self._changed.wait()
        return call.outcome()

    def _take(self) -> list[_Call[T]]:
        """The oldest pending calls that fit one model call (the caller holds the lock)."""
        batch: list[_Call[T]] = []
        size = 0
        while self._pending and (not batch or size + len(self._pending[0].items) <= self.max_items):
            call = self._pending.popleft()
            batch.append(call)
            size += len(call.items)
        return batch

    def _run(self, batch: list[_Call[T]]) -> None:
        flat = [item for call in batch for item in call.items]
        try:
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


class BatchedQueryEmbedder:
    """An Embedder whose `embed_queries` calls from concurrent threads are micro-batched;
    `embed_units` (ingestion, already batched) goes straight to the wrapped embedder."""

    def __init__(self, inner: Embedder, max_items: int = 64, lanes: int = 1) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.batcher: MicroBatcher[str] = MicroBatcher(inner.embed_queries, max_items, lanes)

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


def batch_queries(embedder: Embedder | None, lanes: int = 1) -> Embedder | None:
    """`embedder` with micro-batched queries. None stays None, and so does an embedder
    that micro-batches its queries itself (`batches_queries`, the MiniLM one): a second
    batcher in front would only add a hand-off between threads to every query."""
    if embedder is None or getattr(embedder, "batches_queries", False):
        return embedder
    return BatchedQueryEmbedder(embedder, lanes=lanes)
