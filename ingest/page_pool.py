# pymupdf annotates only part of its API; its calls are untyped to mypy.
# mypy: disable-error-code="no-untyped-call"
"""The PDF page processes: a pool that renders pages of any PDF, reused from one PDF to the
next, so only the first pays for starting it.

Starting the pool costs ~1.3 s of wall on 2 cores (docs/figures.md): multiprocessing's
forkserver starts and imports the page extractor (pymupdf, numpy, pydantic), then each
worker forked from it runs the parent's main module again (multiprocessing's `prepare`:
`app.cli` for `mmrag`, ~0.3 s of CPU; Python 3.11's forkserver never preloads `__main__`
itself). A pool kept from one PDF to the next pays this once per process, and
`PdfPages.start` pays it before the first PDF (at API start, once the models are in).

Each task names its document by a job number, so a worker opens a PDF on its first page of
that job and keeps it open until a page of another job comes (the last PDF stays open
while the pool idles). A worker takes on the niceness of the thread that sent its page.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.config import IngestSettings
from ingest.priority import match_niceness, thread_niceness
from ingest.types import PageContent

if TYPE_CHECKING:
    from ingest.pdf_page import PageExtractor

# -- worker process side ---------------------------------------------------------------------

_worker_settings: IngestSettings | None = None
_worker_doc: tuple[int, PageExtractor] | None = None  # (job, open document)


def _exit_when_parent_dies(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _init_worker(settings: IngestSettings, nice: int = 0) -> None:
    """Pool initializer: remember the settings; run at the niceness of the thread that
    started the pool; Ctrl-C is the parent's to handle; exit if the parent is killed
    (SIGKILL, OOM), which the executor itself never notices."""
    global _worker_settings
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    match_niceness(nice)
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        watcher = threading.Thread(
            target=_exit_when_parent_dies, args=(parent.sentinel,), daemon=True
        )
        watcher.start()
    _worker_settings = settings


def _ready() -> int:
    """Warm-up task: returns once this worker is up (the extractor is preloaded)."""
    return os.getpid()


def _extract_in_worker(job: int, path: Path, index: int, nice: int) -> PageContent:
    """Task: page `index` of `path`, which this worker opens on the first page of `job`."""
    global _worker_doc
    from ingest.pdf_page import PageExtractor  # preloaded by the forkserver

    match_niceness(nice)
    if _worker_doc is None or _worker_doc[0] != job:
        assert _worker_settings is not None, "worker used without _init_worker"
        if _worker_doc is not None:
            _worker_doc[1].close()
            _worker_doc = None
        _worker_doc = (job, PageExtractor(path, _worker_settings))
    return _worker_doc[1].extract(index)


# -- parent side -------------------------------------------------------------------------------


class PagePool:
    """`workers` page processes, forked from multiprocessing's forkserver: they never
    inherit the parent's threads (API server, torch) or locks."""

    def __init__(self, settings: IngestSettings, workers: int) -> None:
        self.workers = workers
        context = multiprocessing.get_context("forkserver")
        # Workers fork from a server that has already imported the page extractor
        # (pymupdf, numpy, pydantic): ~10 ms per worker instead of ~1 s of imports. The
        # forkserver is one per process and reads this list only when it starts;
        # "__main__" is the default entry (which 3.11 ignores, see above).
        context.set_forkserver_preload(["__main__", __name__, "ingest.pdf_page"])
        self._executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(settings, thread_niceness()),
        )

    def start(self) -> None:
        """Start every worker now and wait until each is up (the executor otherwise
        starts them one by one as pages come)."""
        # Each task submitted while no worker is idle starts one more, up to `workers`.
        ready = [self._executor.submit(_ready) for _ in range(self.workers)]
        for future in ready:
            future.result()

    def submit(self, job: int, path: Path, index: int) -> Future[PageContent]:
        """Render page `index` of `path` (job: a number of its own for each PDF pass)."""
        return self._executor.submit(_extract_in_worker, job, path, index, thread_niceness())

    def close(self) -> None:
        """Let the workers finish what they have and exit."""
        self._executor.shutdown(wait=True)

    def stop(self) -> None:
        """Cancel queued pages and end the workers now, without waiting for running pages."""
        executor = self._executor
        terminate = getattr(executor, "terminate_workers", None)  # Python >= 3.14
        if terminate is not None:
            terminate()
            return
        # Before 3.14 the executor offers no way to stop a running task; its process table
        # is the only handle on the workers.
        processes = list((getattr(executor, "_processes", None) or {}).values())
        executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()
        for process in processes:
            process.join(timeout=10)
