"""The lock policy of an index shared by the API's query threads and the ingest worker.

- Reads (search, count, retrieve) hold the gate *shared*: any number run at once; the
  engine itself keeps segments consistent under concurrent reads and writes.
- Writes are serialised by one writer mutex. Writes that do not change what search can
  see (upserting hidden points, building the HNSW graph, flushing) run alongside reads:
  hidden points are filtered out, and the engine swaps an optimised segment in atomically.
- Writes that change what search can see (publishing or deleting a document) also hold
  the gate *exclusive* for that single operation (milliseconds), so no read ever observes
  a document half published or half deleted.
- `close` holds the gate exclusive and marks it closed; later calls raise
  BackendUnavailable instead of touching a released store.
Writers are preferred: a waiting exclusive holder stops new readers from entering, so a
steady stream of queries cannot starve a publish.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.errors import BackendUnavailable


class AccessGate:
    """A readers-writer gate plus a writer mutex (see the module docstring)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._exclusive = False
        self._waiting_exclusive = 0
        self._closed = False
        self._writer = threading.RLock()

    def _check_open(self) -> None:
        if self._closed:
            raise BackendUnavailable(f"{self.name} is closed")

    def _await_alone(self) -> None:
        """(Holding `_cond`.) Wait until no reader and no exclusive holder is inside;
        meanwhile new readers wait (writers are preferred)."""
        self._waiting_exclusive += 1
        try:
            while self._exclusive or self._readers:
                self._cond.wait()
        finally:
            self._waiting_exclusive -= 1

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Hold the gate as a reader."""
        with self._cond:
            while self._exclusive or self._waiting_exclusive:
                self._cond.wait()
            self._check_open()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the gate alone (no reader inside)."""
        with self._cond:
            self._await_alone()
            self._check_open()
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer mutex (one writer at a time), alongside readers."""
        with self._writer, self.shared():
            yield

    @contextmanager
    def visible_change(self) -> Iterator[None]:
        """Hold the writer mutex and the gate exclusive: for a publish or a delete."""
        with self._writer, self.exclusive():
            yield

    @contextmanager
    def closing(self) -> Iterator[bool]:
        """Hold everything to close; yields False when already closed (nothing to do)."""
        with self._writer, self._cond:
            self._await_alone()
            was_open = not self._closed
            self._closed = True
            self._cond.notify_all()
            yield was_open
