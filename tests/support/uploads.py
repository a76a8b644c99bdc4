"""Running one upload through the API's ingest worker, for tests of the worker."""

from __future__ import annotations

from pathlib import Path

from app.api.uploads import ReceivedUpload
from app.api.worker import IngestTask, IngestWorker
from ingest.types import DocKind


def run_one_upload(tmp_path: Path, worker: IngestWorker, job_id: str) -> None:
    """Queue a tiny uploaded PDF as job `job_id` on `worker`, wait for it, stop the worker."""
    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "paper.pdf").write_bytes(b"%PDF-1.4")
    worker.start()
    upload = ReceivedUpload(folder / "paper.pdf", "paper.pdf", 8, DocKind.PDF)
    worker.submit(IngestTask(job_id, upload))
    assert worker.wait_idle(30)
    worker.stop()
