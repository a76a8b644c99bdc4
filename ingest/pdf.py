# pymupdf annotates only part of its API; its calls are untyped to mypy.
# mypy: disable-error-code="no-untyped-call"
"""PDF -> PageContent in page order, rendered in parallel by a pool of processes.

Each worker process opens the document itself once and renders the pages it is given
(one page per task, so a slow OCR page does not hold up a whole chunk). The parent keeps at
most `2 * workers` pages in flight and yields them in order, so memory stays bounded for a
1000-page PDF however slow the consumer is. The pool is torn down (workers terminated) when
the consumer stops early, on any error and on KeyboardInterrupt.
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from ingest.config import IngestSettings
from ingest.errors import CorruptFile
from ingest.priority import match_niceness, thread_niceness
from ingest.types import PageContent

if TYPE_CHECKING:
    from ingest.pdf_page import PageExtractor

log = logging.getLogger(__name__)

# Up to this many pages a pool costs more to start than it saves.
INLINE_MAX_PAGES = 2
# Pages in flight per worker: enough to keep every worker busy, few enough to bound memory.
PAGES_IN_FLIGHT_PER_WORKER = 2
# A file that needed repair and has no end-of-file marker near its end was cut short.
_EOF_MARKER = b"%%EOF"
_TAIL_BYTES = 2048


def _is_truncated(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        fh.seek(max(0, size - _TAIL_BYTES))
        return _EOF_MARKER not in fh.read()


def count_pdf_pages(path: Path) -> int:
    """Pages in a PDF, after checking it can be ingested: CorruptFile naming the reason if
    it is damaged or truncated, encrypted with a password, or has no pages."""
    from ingest.mupdf import pymupdf  # here, not at import: off the API server's start path

    try:
        doc = pymupdf.open(path, filetype="pdf")
    except (RuntimeError, ValueError) as err:
        raise CorruptFile(path, "not a readable PDF (damaged or not a PDF at all)") from err
    try:
        if doc.needs_pass:
            raise CorruptFile(path, "encrypted PDF: a password is needed to open it")
        n_pages = int(doc.page_count)
        if n_pages > 0:
            # Loading the last page walks the page tree, which is where damage shows.
            doc.load_page(n_pages - 1)
        if doc.is_repaired and _is_truncated(path):
            raise CorruptFile(path, "truncated PDF: the file ends before its end-of-file marker")
        if n_pages == 0 and doc.is_repaired:
            raise CorruptFile(path, "damaged PDF: no readable page found")
        if n_pages == 0:
            raise CorruptFile(path, "PDF has no pages")
        return n_pages
    except (RuntimeError, ValueError) as err:
        raise CorruptFile(path, f"damaged PDF: {err}") from err
    finally:
        doc.close()


# -- worker process side ---------------------------------------------------------------------

_worker_pages: PageExtractor | None = None
_worker_source: tuple[Path, IngestSettings] | None = None


def _exit_when_parent_dies(sentinel: int) -> None:
    multiprocessing.connection.wait([sentinel])
    os._exit(1)


def _init_worker(path: Path, settings: IngestSettings, nice: int = 0) -> None:
    """Pool initializer: remember the file; run at the niceness of the thread ingesting
    (the API's background ingest runs nicer than its queries; the CLI does not); Ctrl-C is
    the parent's to handle; exit if the parent is killed (SIGKILL, OOM), which the
    executor itself never notices."""
    global _worker_source
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    match_niceness(nice)
    parent = multiprocessing.parent_process()
    if parent is not None and parent.sentinel is not None:
        watcher = threading.Thread(
            target=_exit_when_parent_dies, args=(parent.sentinel,), daemon=True
        )
        watcher.start()
    _worker_source = (path, settings)


def _extract_in_worker(index: int) -> PageContent:
    """Task: one page, from the document this worker opened on its first task."""
    global _worker_pages
    if _worker_pages is None:
        from ingest.pdf_page import PageExtractor  # preloaded by the forkserver

        assert _worker_source is not None, "worker used without _init_worker"
        _worker_pages = PageExtractor(*_worker_source)
    return _worker_pages.extract(index)


# -- parent side -------------------------------------------------------------------------------


def _stop_pool(executor: ProcessPoolExecutor) -> None:
    """Cancel queued pages and end the workers now, without waiting for running pages."""
    terminate = getattr(executor, "terminate_workers", None)  # Python >= 3.14
    if terminate is not None:
        terminate()
        return
    # Before 3.14 the executor offers no way to stop a running task; its process table is
    # the only handle on the workers.
    processes = list((getattr(executor, "_processes", None) or {}).values())
    executor.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=10)


class PdfPages:
    """The PdfExtractor of ingest.pipeline: validation, then pages in order, in parallel."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings

    def count_pages(self, path: Path) -> int:
        """Number of pages; CorruptFile naming the reason for any PDF we cannot ingest."""
        return count_pdf_pages(path)

    def workers_for(self, n_pages: int) -> int:
        """Processes to use for a document of `n_pages` (1 = render inline)."""
        if n_pages <= INLINE_MAX_PAGES:
            return 1
        wanted = self.settings.workers or os.cpu_count() or 1
        return max(1, min(wanted, n_pages))

    def pages(self, path: Path) -> Iterator[PageContent]:
        """Every page of `path` in order: PNG (capped at max_pixels) and text (layer or OCR)."""
        n_pages = self.count_pages(path)
        workers = self.workers_for(n_pages)
        if workers == 1:
            yield from self._inline(path, n_pages)
        else:
            yield from self._pooled(path, n_pages, workers)

    def _inline(self, path: Path, n_pages: int) -> Iterator[PageContent]:
        from ingest.pdf_page import PageExtractor  # pymupdf: imported on the first PDF

        extractor = PageExtractor(path, self.settings)
        try:
            for index in range(n_pages):
                yield extractor.extract(index)
        finally:
            extractor.close()

    def _pooled(self, path: Path, n_pages: int, workers: int) -> Iterator[PageContent]:
        # forkserver: workers never inherit the parent's threads (API server, torch) or locks.
        context = multiprocessing.get_context("forkserver")
        # Workers fork from a server that has already imported this module and the page
        # extractor (pymupdf, pydantic): ~10 ms per worker instead of ~1 s of imports. The
        # forkserver is one per process and reads this list only when it starts; "__main__"
        # is the default entry.
        context.set_forkserver_preload(["__main__", __name__, "ingest.pdf_page"])
        executor = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(path, self.settings, thread_niceness()),
        )
        in_flight: deque[Future[PageContent]] = deque()
        next_index = 0
        window = workers * PAGES_IN_FLIGHT_PER_WORKER
        finished = False
        try:
            while next_index < n_pages or in_flight:
                while next_index < n_pages and len(in_flight) < window:
                    in_flight.append(executor.submit(_extract_in_worker, next_index))
                    next_index += 1
                yield in_flight.popleft().result()
            finished = True
        except BrokenProcessPool as err:
            raise CorruptFile(path, "a worker process died while rendering a page") from err
        finally:
            if finished:
                executor.shutdown(wait=True)
            else:
                _stop_pool(executor)
