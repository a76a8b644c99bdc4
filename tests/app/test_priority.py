"""Ingestion runs nicer than the queries served beside it."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from app.api.worker import IngestWorker
from ingest.config import IngestSettings
from ingest.priority import lower_thread_priority
from ingest.stages import ProgressFn, no_progress
from ingest.store import Registry
from ingest.types import IngestResult
from tests.support.uploads import run_one_upload

pytestmark = pytest.mark.skipif(not hasattr(os, "setpriority"), reason="no per-thread priority")


def _niceness_after(nice: int) -> tuple[int, int]:
    """(niceness of a thread after lowering its priority, of a thread it then starts)."""
    seen: list[int] = []

    def child() -> None:
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    def run() -> None:
        lower_thread_priority(nice)
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        started = threading.Thread(target=child)
        started.start()
        started.join()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return seen[0], seen[1]


def test_a_thread_lowers_only_its_own_priority_and_its_children_inherit_it() -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    own, child = _niceness_after(5)
    assert own == child == min(19, before + 5)
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before  # caller kept


def test_zero_leaves_the_priority_alone() -> None:
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert _niceness_after(0) == (before, before)


def test_ingestion_is_nicer_by_default() -> None:
    assert IngestSettings().nice == 10


class _NicenessRecorder:
    """A FileIngestor that records the niceness it runs at."""

    def __init__(self) -> None:
        self.niceness: list[int] = []

    def _record(self, path: Path) -> IngestResult:
        self.niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return IngestResult(path, "d" * 64, "ingested", n_pages=1)

    def ingest_file(self, path: Path, progress: ProgressFn = no_progress) -> IngestResult:
        return self._record(path)

    def resume_document(self, doc_id: str, progress: ProgressFn = no_progress) -> IngestResult:
        return self._record(Path(doc_id))


def test_the_api_ingest_worker_runs_nicer_than_the_server(
    tmp_path: Path, registry: Registry
) -> None:
    job = registry.create_job("paper.pdf")
    ingestor = _NicenessRecorder()
    run_one_upload(tmp_path, IngestWorker(ingestor, registry, nice=4), job.id)
    server = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert ingestor.niceness == [min(19, server + 4)]


def test_page_processes_take_on_the_niceness_of_the_ingesting_thread(tmp_path: Path) -> None:
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from ingest.page_pool import _init_worker
    from ingest.priority import thread_niceness

    base = thread_niceness()
    for nice in (base, base + 3):
        with ProcessPoolExecutor(
            1,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_init_worker,
            initargs=(IngestSettings(), nice),
        ) as pool:
            assert pool.submit(os.getpriority, os.PRIO_PROCESS, 0).result() == min(19, nice)


def test_a_kept_page_pool_takes_on_the_niceness_of_each_ingesting_thread(tmp_path: Path) -> None:
    # The API starts the pool from its loader thread and ingests from a nicer thread.
    from ingest.page_pool import PagePool
    from ingest.priority import thread_niceness
    from tests.support.fixtures_pdf import text_pdf

    pdf = text_pdf(tmp_path / "a.pdf", ["one", "two", "three"])
    pool = PagePool(IngestSettings(render_dpi=36), 1)
    try:
        pool.start()
        base = thread_niceness()
        seen: list[int] = []

        def ingest_nicer() -> None:
            lower_thread_priority(3)
            pool.submit(0, pdf, 0).result()
            seen.append(pool._executor.submit(os.getpriority, os.PRIO_PROCESS, 0).result())

        thread = threading.Thread(target=ingest_nicer)
        thread.start()
        thread.join()
        assert seen == [min(19, base + 3)]
    finally:
        pool.close()
