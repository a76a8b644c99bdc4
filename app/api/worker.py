"""Background ingestion for the API: a queue served by one worker thread.

One thread, so two uploads never run the (memory-hungry) models at the same time; the
request that uploaded a file returns at once with a job id, and the job row in the
registry carries progress for `GET /jobs/{id}`.

Crash safety: an upload is kept under `<upload_root>/<job id>/` until its job ends, and once
hashed its bytes are also the document's source blob. `recover_jobs` (at server start)
queues every job a killed server left unfinished again, from the pending document or the
kept upload, and resumes pending documents no job covers (as `mmrag ingest` does).
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

from app.api.uploads import ReceivedUpload
from app.wording import counted
from ingest.priority import lower_thread_priority
from ingest.stages import IngestProgress, Phase, ProgressFn
from ingest.store import Registry
from ingest.types import DocStatus, IngestResult, Job, JobStatus

log = logging.getLogger(__name__)


class FileIngestor(Protocol):
    """What the worker needs from ingest.pipeline.Ingestor."""

    def ingest_file(self, path: Path, progress: ProgressFn = ...) -> IngestResult: ...

    def resume_document(self, doc_id: str, progress: ProgressFn = ...) -> IngestResult: ...


@dataclass(frozen=True, slots=True)
class IngestTask:
    """One job for the worker: ingest an uploaded file, or resume a pending document from
    its source blob. `upload`'s folder is deleted when the job ends."""

    job_id: str
    upload: ReceivedUpload | None = None
    resume_doc_id: str | None = None


def recover_jobs(registry: Registry, upload_root: Path) -> list[IngestTask]:
    """The work a previous server process left unfinished, as tasks to queue again (in
    the original order): its queued/running jobs, then pending documents no job covers.
    A job whose file is gone is failed; upload folders of no job are removed."""
    tasks: list[IngestTask] = []
    covered: set[str] = set()
    for job in registry.list_jobs([JobStatus.QUEUED, JobStatus.RUNNING]):
        task = _recovered(registry, job, upload_root)
        if task is None:
            registry.update_job(
                job.id,
                status=JobStatus.FAILED,
                error="interrupted: the server stopped before the upload was stored; upload again",
            )
            continue
        if task.resume_doc_id is not None:
            covered.add(task.resume_doc_id)
        registry.update_job(
            job.id, status=JobStatus.QUEUED, progress=0.0, message="resumed after a restart"
        )
        tasks.append(task)
    for doc in registry.list_documents(DocStatus.PENDING):
        if doc.id in covered:
            continue
        job = registry.create_job(doc.file_name)
        registry.update_job(job.id, doc_id=doc.id, message="resuming an interrupted ingest")
        tasks.append(IngestTask(job.id, resume_doc_id=doc.id))
    kept = {t.upload.folder.name for t in tasks if t.upload is not None}
    if upload_root.is_dir():
        for folder in upload_root.iterdir():
            if folder.name not in kept:
                shutil.rmtree(folder, ignore_errors=True)
    return tasks


def _recovered(registry: Registry, job: Job, upload_root: Path) -> IngestTask | None:
    upload = ReceivedUpload.find(upload_root / job.id)
    doc = registry.get_document(job.doc_id) if job.doc_id else None
    if doc is not None and doc.status is DocStatus.PENDING:
        return IngestTask(job.id, upload, resume_doc_id=doc.id)  # hashed: resume from the blob
    if upload is not None:
        return IngestTask(job.id, upload)
    return None


class IngestWorker:
    """Runs uploaded files through the ingestor, one at a time, in submission order."""

    def __init__(
        self,
        ingestor: FileIngestor,
        registry: Registry,
        progress_interval_s: float = 0.25,
        nice: int = 0,
    ) -> None:
        self.ingestor = ingestor
        self.registry = registry
        self.progress_interval_s = progress_interval_s
        self.nice = nice  # added to the worker thread's niceness: queries come first
        self._queue: queue.Queue[IngestTask | None] = queue.Queue()
        self._thread = threading.Thread(target=self._serve, name="mmrag-ingest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, task: IngestTask) -> None:
        """Queue a task; its upload folder (if any) is deleted once the job ends."""
        self._queue.put(task)

    def wait_idle(self, timeout_s: float = 30.0) -> bool:
        """Block until every submitted job has finished (True) or the timeout passed."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def stop(self, timeout_s: float = 10.0) -> None:
        """Finish the job in hand, then stop (queued jobs stay queued; the next start
        resumes them)."""
        if not self._thread.is_alive():
            return
        self._queue.put(None)
        self._thread.join(timeout_s)

    def _serve(self) -> None:
        lower_thread_priority(self.nice)
        while True:
            task = self._queue.get()
            try:
                if task is None:
                    return
                self._run(task)
            finally:
                self._queue.task_done()

    def _run(self, task: IngestTask) -> None:
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
            if task.resume_doc_id is not None:
                result = self.ingestor.resume_document(task.resume_doc_id, progress)
            else:
                assert task.upload is not None
                result = self.ingestor.ingest_file(task.upload.path, progress)
        except Exception as err:  # the ingestor reports bad input itself; this is a bug
            log.exception("ingest job %s crashed", task.job_id)
            registry.update_job(
                task.job_id, status=JobStatus.FAILED, error=f"{type(err).__name__}: {err}"
            )
            return
        finally:
            # Kept until here (not deleted when the process dies): a restart resumes it.
            if task.upload is not None:
                shutil.rmtree(task.upload.folder, ignore_errors=True)
        if result.status == "failed":
            job = registry.get_job(task.job_id)
            # The error names the file, as the CLI's does; a document that was not kept is
            # not pointed at (GET /documents/{id} would be a 404).
            named = f"{job.source}: " if job is not None else ""
            kept = result.doc_id is not None and registry.get_document(result.doc_id) is not None
            registry.update_job(
                task.job_id,
                status=JobStatus.FAILED,
                doc_id=result.doc_id if kept else None,
                error=named + (result.error or "ingestion failed"),
                message="failed",
            )
            return
        what = "already ingested" if result.status == "skipped" else "ready"
        sizes = f"{counted(result.n_pages, 'page')}, {counted(result.n_clips, 'clip')}"
        registry.update_job(
            task.job_id,
            status=JobStatus.DONE,
            progress=1.0,
            phase=Phase.READY.value,
            doc_id=result.doc_id,
            message="; ".join([f"{what}: {sizes}", *result.notes]),
        )
