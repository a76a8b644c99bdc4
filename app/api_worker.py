"""Background ingestion for the API: a queue served by one worker thread.

One thread, so two uploads never run the (memory-hungry) models at the same time; the
request that uploaded a file returns at once with a job id, and the job row in the
registry carries progress for `GET /jobs/{id}`.
"""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from app.api_uploads import ReceivedUpload
from ingest.stages import IngestProgress, Phase, ProgressFn
from ingest.store import Registry
from ingest.types import IngestResult, JobStatus

log = logging.getLogger(__name__)


class FileIngestor(Protocol):
    """What the worker needs from ingest.pipeline.Ingestor."""

    def ingest_file(self, path: Path, progress: ProgressFn = ...) -> IngestResult: ...


@dataclass(frozen=True, slots=True)
class _Task:
    job_id: str
    upload: ReceivedUpload


def fail_interrupted_jobs(registry: Registry) -> int:
    """Mark jobs a previous server process left queued/running as failed; returns how many."""
    stale = registry.list_jobs([JobStatus.QUEUED, JobStatus.RUNNING])
    for job in stale:
        registry.update_job(
            job.id,
            status=JobStatus.FAILED,
            error="interrupted: the server stopped before this job finished; upload again",
        )
    return len(stale)


class IngestWorker:
    """Runs uploaded files through the ingestor, one at a time, in submission order."""

    def __init__(
        self, ingestor: FileIngestor, registry: Registry, progress_interval_s: float = 0.25
    ) -> None:
        self.ingestor = ingestor
        self.registry = registry
        self.progress_interval_s = progress_interval_s
        self._queue: queue.Queue[_Task | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="mmrag-ingest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, job_id: str, upload: ReceivedUpload) -> None:
        """Queue an uploaded file; its folder is deleted once the job ends."""
        self._queue.put(_Task(job_id, upload))

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until every submitted job has finished (True) or the timeout passed."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the job in hand, then stop (queued jobs stay queued and fail on restart)."""
        if not self._thread.is_alive():
            return
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _serve(self) -> None:
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                self._run(task)
            finally:
                self._queue.task_done()

    def _run(self, task: _Task) -> None:
        registry = self.registry
        registry.update_job(task.job_id, status=JobStatus.RUNNING, message="starting")
        last = 0.0
        last_phase = Phase.QUEUED

        def progress(report: IngestProgress) -> None:
            nonlocal last, last_phase
            now = time.monotonic()
            # Each update is a SQLite write; a few per second are plenty for a progress bar,
            # but every change of phase is written so none goes unseen.
            if now - last >= self.progress_interval_s or report.phase is not last_phase:
                last, last_phase = now, report.phase
                registry.update_job(
                    task.job_id,
                    progress=report.fraction,
                    message=report.message,
                    phase=report.phase.value,
                    done=report.done,
                    total=report.total,
                )

        try:
            result = self.ingestor.ingest_file(task.upload.path, progress)
        except Exception as err:  # the ingestor reports bad input itself; this is a bug
            log.exception("ingest of %s crashed", task.upload.file_name)
            registry.update_job(
                task.job_id, status=JobStatus.FAILED, error=f"{type(err).__name__}: {err}"
            )
            return
        finally:
            shutil.rmtree(task.upload.folder, ignore_errors=True)
        if result.status == "failed":
            registry.update_job(
                task.job_id,
                status=JobStatus.FAILED,
                doc_id=result.doc_id,
                error=result.error or "ingestion failed",
                message="failed",
            )
            return
        what = "already ingested" if result.status == "skipped" else "ready"
        registry.update_job(
            task.job_id,
            status=JobStatus.DONE,
            progress=1.0,
            phase=Phase.READY.value,
            doc_id=result.doc_id,
            message=f"{what}: {result.n_pages} pages, {result.n_clips} clips",
        )
