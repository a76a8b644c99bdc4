"""Micro-batching of concurrent encoder calls.

Twenty clients asking at once should cost a few model calls, not twenty: an encoder call
pays a fixed price (tokenisation, Python dispatch, small matrix products that use the
cores poorly) that a batch shares. `MicroBatcher` merges the calls that arrive while the
model is busy into the next batch, without a background thread and without a timer: a
caller that finds a free lane runs a batch of everything pending itself; the others wait
for their rows, or for a lane handed over. A lone caller runs at once, as if unbatched.

`lanes` model calls may run at once. With one-thread model calls (the API) and a model
that releases the GIL (the traced MiniLM), two lanes keep two cores encoding: under 20
concurrent clients one lane was busy ~80% of the time and queries queued behind it.
But a further lane opens only once `backlog` calls wait: a MiniLM call reads all of its
21 MB of weights whatever its size (one query costs ~10 ms, eight ~18 ms), so a second
lane started for one query made two small batches where one larger one was nearly free.
With `backlog` 4, 20 clients got 2.23x the sequential rate (median of 21 pairs) against
1.98x with 1 (docs/figures.md, issue 12).

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
    """One caller's items, where its rows (or error) land, and the lock its thread sleeps
    on: released once, when the call is finished or when it is handed a lane."""

    def __init__(self, items: list[T]) -> None:
        self.items = items
        self.rows: Matrix | None = None
        self.error: BaseException | None = None
        self.finished = False
        self.wake = threading.Lock()
        self.wake.acquire()

    def outcome(self) -> Matrix:
        if self.error is not None:
            raise self.error
        assert self.rows is not None
        return self.rows


class MicroBatcher(Generic[T]):
    """Calls `fn(items) -> (n, dim)` on the items of all concurrent callers at once (up to
    `max_items` per model call, up to `lanes` model calls at a time); each caller gets its
    own rows back, or the error.

    A caller that finds a lane free runs a batch: its own items, then the oldest waiting
    calls' that fit. A caller that does not waits on its own lock, which is released once:
    by the batch that computed its rows, or by a finishing lane handing itself over (the
    oldest waiting call then runs the next batch). No caller is woken for nothing: with
    one Condition and notify_all, 20 waiting queries all woke, took the GIL and slept again
    at every batch end (a fifth of the server's GIL time under 20 clients, issue 12).
    """

    def __init__(
        self, fn: BatchFn[T], max_items: int = 256, lanes: int = 1, backlog: int = 1
    ) -> None:
        if lanes < 1 or backlog < 1:
            raise ValueError(f"lanes and backlog must be at least 1, got {lanes}, {backlog}")
        self.fn = fn
        self.max_items = max_items
        self.lanes = lanes
        self.backlog = backlog
        self.calls = 0  # model calls made (for tests and benchmarks)
        self._lock = threading.Lock()
        self._pending: deque[_Call[T]] = deque()
        self._running = 0  # lanes in use

    def __call__(self, items: Sequence[T]) -> Matrix:
        call = _Call(list(items))
        with self._lock:
            # The first lane at once; a further one when `backlog` calls would wait.
            lead = self._running == 0 or (
                self._running < self.lanes and len(self._pending) + 1 >= self.backlog
            )
            if lead:
                self._running += 1
            else:
                self._pending.append(call)
        if not lead:
            call.wake.acquire()  # finished by a batch, or handed a lane
            if call.finished:
                return call.outcome()
        # This thread holds a lane: run its own items and the oldest waiting calls.
        with self._lock:
            batch = [call, *self._take(self.max_items - len(call.items))]
            self.calls += 1
        self._run(batch)
        with self._lock:
            heir = self._pending.popleft() if self._pending else None
            if heir is None:
                self._running -= 1
        if heir is not None:
            heir.wake.release()  # it runs the next batch in this lane
        return call.outcome()

    def _take(self, room: int) -> list[_Call[T]]:
        """The oldest pending calls whose items fit in `room` (the caller holds the lock)."""
        batch: list[_Call[T]] = []
        while self._pending and len(self._pending[0].items) <= room:
            call = self._pending.popleft()
            batch.append(call)
            room -= len(call.items)
        return batch

    def _run(self, batch: list[_Call[T]]) -> None:
        """Compute the batch's rows; then every call in it is finished and, but for the
        first (the running caller's own), woken."""
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
        finally:
            for call in batch:
                call.finished = True
            for call in batch[1:]:
                call.wake.release()


class BatchedQueryEmbedder:
    """An Embedder whose `embed_queries` calls from concurrent threads are micro-batched;
    `embed_units` (ingestion, already batched) goes straight to the wrapped embedder."""

    def __init__(
        self, inner: Embedder, max_items: int = 64, lanes: int = 1, backlog: int = 1
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.batcher: MicroBatcher[str] = MicroBatcher(
            inner.embed_queries, max_items, lanes, backlog
        )

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


def batch_queries(embedder: Embedder | None, lanes: int = 1, backlog: int = 1) -> Embedder | None:
    """`embedder` with micro-batched queries. None stays None, and so does an embedder
    that micro-batches its queries itself (`batches_queries`, the MiniLM one): a second
    batcher in front would only add a hand-off between threads to every query."""
    if embedder is None or getattr(embedder, "batches_queries", False):
        return embedder
    return BatchedQueryEmbedder(embedder, lanes=lanes, backlog=backlog)
