"""One process at a time on an embedded index: an exclusive lock on its folder.

Qdrant Edge locks its WAL itself, but only once a shard exists, and a process that swaps
the folder out (`mmrag reindex`) would leave another one writing to the old one. Every
user of the folder takes `ShardLock` first: the index itself, the rebuild, and the
launchers' check that the data dir is free (`ensure_free`).
"""

from __future__ import annotations

import fcntl
from pathlib import Path

from ingest.errors import BackendUnavailable

LOCK_FILE = "mmrag.lock"
IN_USE = (
    "embedded index at {path} is open in another process; stop it, "
    "or run a Qdrant server and set MMRAG_QDRANT_URL for shared access"
)


class ShardLock:
    """This process's exclusive hold on a shard directory, taken before the engine touches
    any file in it. Qdrant Edge locks its WAL itself, but only once a shard exists: two
    processes creating the same new shard at once (`mmrag serve` and `mmrag ingest` started
    together on a fresh data dir) wrote into each other's files, and the survivor's sparse
    store could no longer flush."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._handle = (path / LOCK_FILE).open("a+b")
        try:
            fcntl.flock(self._handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            self._handle.close()
            raise BackendUnavailable(IN_USE.format(path=path)) from err

    def release(self) -> None:
        if not self._handle.closed:
            fcntl.flock(self._handle, fcntl.LOCK_UN)
            self._handle.close()


def ensure_free(path: Path) -> None:
    """BackendUnavailable (the one-line IN_USE message) when another process holds the
    index at `path`; otherwise nothing is kept locked."""
    ShardLock(path).release()
