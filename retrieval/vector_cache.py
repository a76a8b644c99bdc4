"""A persistent cache of text vectors (SQLite, one file), shared by processes.

The lite reranker embeds a few thousand sentence windows per query; the same units recur
across queries and across runs, so their vectors are kept on disk under the data dir,
keyed by the model and the text's digest.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from retrieval.embedders.base import Matrix


class SqliteVectorCache:
    """`get_many`/`put_many` of float32 vectors of one dimension, keyed by bytes."""

    def __init__(self, path: Path, dim: int) -> None:
        self.path = path
        self.dim = dim
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the API's query and ingest threads, so calls hold a lock;
        # SQLite itself serialises writers across processes.
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=30.0, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute(
            "CREATE TABLE IF NOT EXISTS vectors (key BLOB PRIMARY KEY, vec BLOB NOT NULL)"
        )

    def get_many(self, keys: Iterable[bytes]) -> dict[bytes, Matrix]:
        """The stored vectors among `keys` (absent keys are left out)."""
        wanted = list(keys)
        found: dict[bytes, Matrix] = {}
        for start in range(0, len(wanted), 500):  # SQLite's bound-parameter limit
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT key, vec FROM vectors WHERE key IN ({marks})", chunk
                ).fetchall()
            for key, blob in rows:
                vec = np.frombuffer(blob, dtype=np.float32)
                if vec.shape == (self.dim,):
                    found[bytes(key)] = vec
        return found

    def put_many(self, items: Mapping[bytes, Matrix]) -> None:
        """Store vectors (existing keys are overwritten)."""
        if not items:
            return
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT OR REPLACE INTO vectors (key, vec) VALUES (?, ?)",
                [(k, np.asarray(v, dtype=np.float32).tobytes()) for k, v in items.items()],
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._conn.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._conn.close()
