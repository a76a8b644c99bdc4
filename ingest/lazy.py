"""`LoadOnce`: a model (or anything costly) built on first use, once, thread-safely.

Every model in mmrag loads this way (the Whisper transcriber, the VLM embedder, reranker and
generator), so a CLI command that never needs one never pays for it, and concurrent first
calls build it once. It lives in the lowest layer so every layer can use it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoadOnce(Generic[T]):
    """The value of `build()`, built by the first `get()`; later calls return it."""

    def __init__(self, build: Callable[[], T], value: T | None = None) -> None:
        self._build = build
        self._value = value  # given: already built (e.g. a model made in memory)
        self._lock = threading.Lock()

    def get(self) -> T:
        """The value, building it now if this is the first call (others wait for it)."""
        with self._lock:
            if self._value is None:
                self._value = self._build()
            return self._value

    @property
    def loaded(self) -> bool:
        """Whether the value has been built."""
        return self._value is not None
