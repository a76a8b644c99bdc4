"""MiniLM vectors of sentence windows: what the lite profile matches a query against.

A unit's text is cut into windows of `window` sentences (stride window // 2 + 1), each
prefixed with the unit's header line (file title and location). The lite reranker scores
a candidate by its best windows, and the MiniLM text embedder pools the same window
vectors into the unit's dense vector, so ingestion encodes every window once for both
(the windows cover the page; measured against separate 160-word passages in
docs/figures.md: the same nDCG@5 for 0.64x the encoder tokens).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from ingest.types import Unit
from retrieval.batching import MicroBatcher
from retrieval.embedders.base import Matrix
from retrieval.sentences import WINDOW_RULES, split_sentences
from retrieval.unit_text import unit_header
from retrieval.vector_cache import SqliteVectorCache

if TYPE_CHECKING:
    from retrieval.embedders.bert import SentenceEncoder


class SentenceVectors:
    """MiniLM vectors of short texts with an LRU cache keyed by the text's digest, backed
    by an optional persistent cache (so a new process does not re-embed known units).

    Thread-safe without serialising: the lock guards only the cache, never the model. Texts
    of concurrent queries (`encode`) are micro-batched into shared model calls; ingestion's
    `warm` encodes its own (large) batches directly, so a query never waits behind one.
    """

    def __init__(
        self,
        model: SentenceEncoder,
        capacity: int = 20_000,
        batch_size: int = 64,
        persistent: SqliteVectorCache | None = None,
        lanes: int = 1,
        backlog: int = 1,
    ) -> None:
        self.model = model
        self.capacity = capacity
        self.batch_size = batch_size
        self.dim = model.dim
        self.persistent = persistent
        # Keyed by the text itself: a str caches its hash, so a lookup costs no digest
        # (a query looks up ~360 answer sentences). Digests key the persistent cache only.
        self._cache: OrderedDict[str, Matrix] = OrderedDict()
        self._lock = threading.Lock()
        self.batcher: MicroBatcher[str] = MicroBatcher(self._model_encode, 512, lanes, backlog)

    def _empty(self) -> Matrix:
        return np.empty((0, self.dim), dtype=np.float32)

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()

    def _model_encode(self, texts: list[str]) -> Matrix:
        return self.model.encode(texts, batch_size=self.batch_size)

    def encode(self, texts: Sequence[str], *, batched: bool = True, persist: bool = True) -> Matrix:
        """(n, dim) unit vectors, computing only the texts not in the cache (in one model
        call, shared with concurrent callers when `batched`). Queries pass `persist=False`:
        they stay in memory (the retriever, reranker and answer scorer share one encoding)
        and never touch the on-disk cache of unit texts."""
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            if len(found) == len(set(texts)):
                # All cached (an answer's sentences, once their unit has been seen): no
                # per-text work but the LRU update.
                for text in found:
                    self._cache.move_to_end(text)
                return np.stack([found[t] for t in texts]) if texts else self._empty()
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        persistent = self.persistent if persist else None
        if missing and persistent is not None:
            digests = {self._key(t): t for t in missing}
            stored = persistent.get_many(digests)
            found.update((digests[k], vector) for k, vector in stored.items())
            missing = [t for t in missing if t not in found]
        if missing:
            encode = self.batcher if batched else self._model_encode
            fresh = dict(zip(missing, encode(missing), strict=True))
            if persistent is not None:
                persistent.put_many({self._key(t): vector for t, vector in fresh.items()})
            found.update(fresh)
        out = np.stack([found[t] for t in texts]) if texts else self._empty()
        with self._lock:
            self._cache.update(found)
            for text in texts:
                self._cache.move_to_end(text)
            while len(self._cache) > self.capacity:
                self._cache.popitem(last=False)
        return out


class UnitWindows:
    """The windows of units and their vectors, cached per unit.

    A query's reranking looks up ~50 units here instead of ~1,300 windows (hashing and
    copying each one under a lock was most of a cached rerank's time).
    """

    def __init__(
        self,
        vectors: SentenceVectors,
        *,
        window: int = 3,
        max_windows: int = 64,
        prefix_header: bool = True,
        cache_units: int = 1_250,
    ) -> None:
        self.vectors = vectors
        self.window = window
        self.max_windows = max_windows
        self.prefix_header = prefix_header
        self.cache_units = max(1, cache_units)
        self._cache: OrderedDict[tuple[str, str], Matrix] = OrderedDict()
        self._lock = threading.Lock()

    def windows(self, unit: Unit) -> list[str]:
        """The unit's windows of `window` sentences (stride window // 2 + 1), each
        prefixed by the header line (or, with `prefix_header` off, the header line as a
        window of its own)."""
        header = unit_header(unit)
        sentences = [s.text for s in split_sentences(unit.text, rules=WINDOW_RULES)]
        step = self.window // 2 + 1 if self.window > 1 else 1
        windows = [
            " ".join(sentences[i : i + self.window])
            for i in range(0, max(len(sentences) - self.window + step, 1), step)
        ]
        windows = [w for w in windows if w][: self.max_windows]
        if self.prefix_header:
            return [f"{header}: {w}" for w in windows] or [header]
        return [header, *windows]

    def matrices(self, units: Sequence[Unit], *, batched: bool = True) -> list[Matrix]:
        """Each unit's (n_windows, dim) window vectors; the units' missing windows are
        encoded in one call (micro-batched with concurrent queries when `batched`)."""
        # The windows are a function of the header and the text: together they are the key
        # (str hashing runs in C, unlike cutting the windows again).
        keys = [(unit_header(u), u.text) for u in units]
        with self._lock:
            found = {k: self._cache[k] for k in keys if k in self._cache}
        missing = {k: self.windows(u) for k, u in zip(keys, units, strict=True) if k not in found}
        if missing:
            flat = [text for windows in missing.values() for text in windows]
            vectors = self.vectors.encode(flat, batched=batched)
            start = 0
            for key, windows in missing.items():
                found[key] = vectors[start : start + len(windows)]
                start += len(windows)
        with self._lock:
            for key in keys:
                self._cache[key] = found[key]
                self._cache.move_to_end(key)
            while len(self._cache) > self.cache_units:
                self._cache.popitem(last=False)
        return [found[k] for k in keys]
