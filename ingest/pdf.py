# pymupdf annotates only part of its API; its calls are untyped to mypy.
# mypy: disable-error-code="no-untyped-call"
"""PDF -> PageContent in page order, rendered in parallel by a pool of processes.

Each worker process opens the document itself once and renders the pages it is given
(one page per task, so a slow OCR page does not hold up a whole chunk). The parent keeps at
most `2 * workers` pages in flight and yields them in order, so memory stays bounded for a
1000-page PDF however slow the consumer is.

The pool (ingest.page_pool) is kept from one PDF to the next, and `start` starts it before
the first one; `close` ends it. It is torn down (workers terminated) when a consumer stops
early, on any error and on KeyboardInterrupt, and started again by the next PDF. A PDF read
while another one holds the pool (two ingests at once) gets a pool of its own.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from ingest.config import IngestSettings
from ingest.errors import CorruptFile
from ingest.page_pool import PagePool
from ingest.types import PageContent

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


class PdfPages:
    """The PdfExtractor of ingest.pipeline: validation, then pages in order, in parallel."""

    def __init__(self, settings: IngestSettings) -> None:
        self.settings = settings
        self._pool: PagePool | None = None
        self._pool_lock = threading.Lock()  # held while the shared pool starts or stops
        self._busy = False  # a PDF is reading from the shared pool
        self._busy_lock = threading.Lock()
        self._jobs = itertools.count()
        self._starter: threading.Thread | None = None

    def count_pages(self, path: Path) -> int:
        """Number of pages; CorruptFile naming the reason for any PDF we cannot ingest."""
        return count_pdf_pages(path)

    def pool_workers(self) -> int:
        """Processes in the page pool: `workers`, or one per CPU core."""
        return max(1, self.settings.workers or os.cpu_count() or 1)

    def workers_for(self, n_pages: int) -> int:
        """Processes to use for a document of `n_pages` (1 = render inline)."""
        if n_pages <= INLINE_MAX_PAGES:
            return 1
        return max(1, min(self.pool_workers(), n_pages))

    def start(self) -> None:
        """Start the page processes now, in a background thread, so the first PDF does
        not wait for them, then import pymupdf here too (a no-op when they run, or when
        pages are rendered inline)."""
        if self.pool_workers() == 1:
            return
        with self._pool_lock:
            if self._pool is not None or self._starter is not None:
                return
            self._starter = threading.Thread(
                target=self._start_quietly, name="mmrag-page-pool", daemon=True
            )
            self._starter.start()

    def _start_quietly(self) -> None:
        try:
            self._shared_pool()
            import ingest.mupdf  # noqa: F401  (count_pages in this process: ~0.15 s of import)
        except Exception as err:  # the first PDF tries again, and reports what fails
            log.warning("the PDF page processes did not start: %s", err)
        finally:
            with self._pool_lock:
                self._starter = None

    def wait_started(self, timeout_s: float | None = None) -> bool:
        """Wait for a `start` in progress; True once none is (bench.profile times a warm
        pool with it)."""
        starter = self._starter
        if starter is not None:
            starter.join(timeout_s)
        return starter is None or not starter.is_alive()

    def close(self) -> None:
        """End the page processes (the next PDF starts them again)."""
        self.wait_started()
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

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

    def _shared_pool(self) -> PagePool:
        """The pool kept between PDFs, started here if it is not running."""
        with self._pool_lock:
            if self._pool is None:
                pool = PagePool(self.settings, self.pool_workers())
                try:
                    pool.start()
                except BaseException:
                    pool.stop()
                    raise
                self._pool = pool
            return self._pool

    def _drop_shared_pool(self, pool: PagePool) -> None:
        with self._pool_lock:
            if self._pool is pool:
                self._pool = None
        pool.stop()

    def _pooled(self, path: Path, n_pages: int, workers: int) -> Iterator[PageContent]:
        with self._busy_lock:
            shared = not self._busy
            self._busy = True
        try:
            try:
                pool = self._shared_pool() if shared else PagePool(self.settings, workers)
            except BrokenProcessPool as err:
                raise CorruptFile(path, "a worker process died while starting") from err
            yield from self._read(pool, shared, path, n_pages, workers)
        finally:
            if shared:
                with self._busy_lock:
                    self._busy = False

    def _read(
        self, pool: PagePool, shared: bool, path: Path, n_pages: int, workers: int
    ) -> Iterator[PageContent]:
        job = next(self._jobs)
        in_flight: deque[Future[PageContent]] = deque()
        next_index = 0
        window = workers * PAGES_IN_FLIGHT_PER_WORKER
        finished = False
        try:
            while next_index < n_pages or in_flight:
                while next_index < n_pages and len(in_flight) < window:
                    in_flight.append(pool.submit(job, path, next_index))
                    next_index += 1
                yield in_flight.popleft().result()
            finished = True
        except BrokenProcessPool as err:
            raise CorruptFile(path, "a worker process died while rendering a page") from err
        finally:
            if not finished:  # stopped early, an error, Ctrl-C: end the workers now
                if shared:
                    self._drop_shared_pool(pool)
                else:
                    pool.stop()
            elif not shared:
                pool.close()
