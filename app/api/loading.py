"""Model loading in the background: the server answers `/health` at once, `/ready` says
"loading" until every model is in memory, and routes that need the models answer 503.

Why: on a first start the models download (minutes); a container health check on
`/health` must not time out meanwhile, and a client must be able to tell "still loading"
from "down".
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from typing import Generic, Literal, TypeVar

log = logging.getLogger(__name__)

LoadStatus = Literal["loading", "ready", "failed"]
T = TypeVar("T")


def pause_gc_for_start() -> None:
    """Turn the cyclic GC off while the server starts. Imports and model loading make
    hundreds of thousands of objects that live as long as the process, and every full
    collection walks all of them: 3-4 of them (plus the young ones) took ~0.3-0.5 s of CPU
    of a 100k-unit start. `resume_gc_after_start` turns it back on."""
    gc.disable()


def resume_gc_after_start() -> None:
    """When start-up paused the GC: one collection (~0.1-0.2 s: start-up's few thousand
    garbage objects, so none stays pinned), then what start-up made moves out of the GC's
    reach (`gc.freeze`: later collections, during queries, no longer walk the modules and
    models) and the GC is back on. Nothing happens otherwise (an app built in tests)."""
    if not gc.isenabled():
        gc.collect()
        gc.freeze()
        gc.enable()


class BackgroundLoader(Generic[T]):
    """Runs `build()` once on a daemon thread. `status` is "loading", then "ready" (with
    `value`) or "failed" (with `error`). `stop(release)` waits for the build and calls
    `release(value)` when it succeeded, so nothing loaded is left open at shutdown."""

    def __init__(self, build: Callable[[], T], name: str = "model-loader") -> None:
        self._build = build
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._lock = threading.Lock()
        self._status: LoadStatus = "loading"
        self.value: T | None = None
        self.error: str = ""

    @property
    def status(self) -> LoadStatus:
        """Where loading stands."""
        with self._lock:
            return self._status

    def start(self) -> None:
        """Begin building on the background thread."""
        self._thread.start()

    def wait(self, timeout_s: float | None = None) -> LoadStatus:
        """Block until loading ends (or `timeout_s` passes); the status then."""
        self._thread.join(timeout_s)
        return self.status

    def stop(self, release: Callable[[T], None], timeout_s: float | None = None) -> None:
        """Wait for a build in progress (models cannot be interrupted mid-load), then
        release what was built."""
        if self._thread.is_alive():
            log.info("waiting for model loading to finish before shutting down")
        self._thread.join(timeout_s)
        with self._lock:
            value, self.value = self.value, None
        if value is not None:
            release(value)

    def _run(self) -> None:
        try:
            value = self._build()
        except Exception as err:  # any failure: /ready reports it; the process stays up
            log.exception("loading the models failed")
            with self._lock:
                self._status, self.error = "failed", f"{type(err).__name__}: {err}"
            return
        with self._lock:
            self.value, self._status = value, "ready"
        log.info("models loaded: the API is ready")
