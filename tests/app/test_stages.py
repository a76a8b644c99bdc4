"""Stage timings and progress phases: the figures add up, progress only moves forward, and
an ingest reports every phase with counts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from app.api.worker import IngestWorker
from ingest import stages
from ingest.store import BlobStore, Registry
from ingest.types import IngestResult
from tests.support.fixtures_pdf import IngestEnv, text_pdf
from tests.support.uploads import run_one_upload


def test_stage_times_add_merge_and_measure() -> None:
    a = stages.StageTimes()
    a.add(stages.Stage.RENDER, 0.5, 2)
    with a.measure(stages.Stage.OCR):
        pass
    b = stages.StageTimes()
    b.add(stages.Stage.RENDER, 0.25)
    total = stages.sum_stages([a, b])
    assert total.seconds[stages.Stage.RENDER] == 0.75 and total.counts[stages.Stage.RENDER] == 3
    assert total.counts[stages.Stage.OCR] == 1 and 0 <= total.seconds[stages.Stage.OCR] < 1
    assert a.seconds[stages.Stage.RENDER] == 0.5  # inputs unchanged


def test_measure_counts_a_failing_step() -> None:
    times = stages.StageTimes()
    try:
        with times.measure(stages.Stage.OCR):
            raise RuntimeError("tesseract died")
    except RuntimeError:
        pass
    assert times.counts == {stages.Stage.OCR: 1}


def test_stage_table_lists_stages_largest_first() -> None:
    times = stages.StageTimes()
    times.add(stages.Stage.RENDER, 1.0, 10)
    times.add(stages.Stage.OCR, 3.0, 1)
    lines = stages.stage_table(times, wall_s=2.5)
    assert lines[1].split()[0] == "ocr" and lines[2].split()[0] == "render"
    assert "100.0" in lines[2]  # ms per rendered page
    assert lines[-2].split()[:2] == ["sum", "4.00"] and lines[-1].split() == ["wall", "2.50"]


def test_fraction_never_decreases_as_phases_interleave() -> None:
    # Batches alternate: extract 3, embed 3, extract 6, embed 6 ... of 10.
    steps = [(3, 0), (3, 3), (6, 3), (6, 6), (10, 6), (10, 10)]
    fractions = [stages.ingest_fraction(e, m, 10) for e, m in steps]
    assert fractions == sorted(fractions)
    assert fractions[0] > 0 and fractions[-1] < 1.0  # 1.0 only once ready
    assert stages.ingest_fraction(5, 0, 0) == 0.0


def test_progress_message_names_phase_and_counts() -> None:
    report = stages.IngestProgress(stages.Phase.EMBEDDING, 12, 40, "pages", 0.5)
    assert report.message == "embedding 12/40 pages"
    assert stages.IngestProgress(stages.Phase.HASHING).message == "hashing"
    clips = stages.IngestProgress(
        stages.Phase.EXTRACTING, 0, 4, "clips", detail="transcribing audio"
    )
    assert clips.message == "extracting 0/4 clips (transcribing audio)"


def test_ingest_reports_every_phase_in_order_with_counts(tmp_path: Path) -> None:
    env = IngestEnv.create(tmp_path / "data")
    env.ingestor.batch_size = 2  # two embedding batches and a remainder for 5 pages
    reports: list[stages.IngestProgress] = []
    path = text_pdf(
        tmp_path / "a.pdf", [f"Page {i} of the report, with details." for i in range(5)]
    )
    result = env.ingestor.ingest_file(path, reports.append)
    assert result.status == "ingested"
    phases = [r.phase for r in reports]
    order = [
        stages.Phase.HASHING,
        stages.Phase.EXTRACTING,
        stages.Phase.EMBEDDING,
        stages.Phase.INDEXING,
        stages.Phase.READY,
    ]
    assert [p for i, p in enumerate(phases) if i == 0 or p != phases[i - 1]][:3] == order[:3]
    assert phases[-2:] == [stages.Phase.INDEXING, stages.Phase.READY]
    assert max(r.done for r in reports if r.phase is stages.Phase.EXTRACTING) == 5
    assert max(r.done for r in reports if r.phase is stages.Phase.EMBEDDING) == 5
    assert all(r.total == 5 and r.what == "pages" for r in reports[1:])
    fractions = [r.fraction for r in reports]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    # Where the time went: every page rendered, its text read, stored, registered.
    assert result.stages.counts[stages.Stage.RENDER] == 5
    assert result.stages.counts[stages.Stage.TEXT] == 5
    assert result.stages.counts[stages.Stage.BLOBS] == 5
    assert result.stages.counts[stages.Stage.REGISTRY] == 5
    assert result.stages.counts[stages.Stage.HASH] == 1


def test_old_registry_gains_the_job_phase_columns(tmp_path: Path) -> None:
    path = tmp_path / "registry.sqlite3"
    with sqlite3.connect(path) as conn:  # the jobs table as the first release made it
        conn.execute(
            "CREATE TABLE jobs (id TEXT PRIMARY KEY, source TEXT NOT NULL, status TEXT NOT NULL,"
            " progress REAL NOT NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', doc_id TEXT,"
            " error TEXT, created_at REAL NOT NULL, updated_at REAL NOT NULL)"
        )
        conn.execute(
            "INSERT INTO jobs VALUES ('old', 'a.pdf', 'done', 1, 'ready', NULL, NULL, 1, 1)"
        )
    registry = Registry(path, BlobStore(tmp_path / "blobs"))
    old = registry.get_job("old")
    assert old is not None and (old.phase, old.done, old.total) == ("queued", 0, 0)
    job = registry.create_job("b.pdf")
    registry.update_job(job.id, phase=stages.Phase.EMBEDDING.value, done=3, total=7, progress=0.8)
    again = registry.get_job(job.id)
    assert again is not None and (again.phase, again.done, again.total) == ("embedding", 3, 7)


class _PhasedIngestor:
    """Reports each phase and looks at the job row while it is in `embedding`."""

    def __init__(self, registry: Registry, job_id: str) -> None:
        self.registry = registry
        self.job_id = job_id
        self.seen: list[tuple[str, int, int, str]] = []

    def ingest_file(
        self, path: Path, progress: stages.ProgressFn = stages.no_progress
    ) -> IngestResult:
        for report in (
            stages.IngestProgress(stages.Phase.HASHING),
            stages.IngestProgress(stages.Phase.EXTRACTING, 1, 2, "pages", 0.3),
            stages.IngestProgress(stages.Phase.EMBEDDING, 2, 2, "pages", 0.8),
            stages.IngestProgress(stages.Phase.INDEXING, 2, 2, "pages", 0.97),
            stages.IngestProgress(stages.Phase.READY, 2, 2, "pages", 1.0),
        ):
            progress(report)
            job = self.registry.get_job(self.job_id)
            assert job is not None
            self.seen.append((job.phase, job.done, job.total, job.message))
        return IngestResult(path, "d" * 64, "ingested", n_pages=2)


def test_api_job_row_follows_every_phase(tmp_path: Path, registry: Registry) -> None:
    job = registry.create_job("paper.pdf")
    ingestor = _PhasedIngestor(registry, job.id)
    # A long interval: only the change of phase forces each write.
    worker = IngestWorker(ingestor, registry, progress_interval_s=3600)
    run_one_upload(tmp_path, worker, job.id)
    assert [s[0] for s in ingestor.seen] == [
        "hashing",
        "extracting",
        "embedding",
        "indexing",
        "ready",
    ]
    assert ingestor.seen[2] == ("embedding", 2, 2, "embedding 2/2 pages")
    done = registry.get_job(job.id)
    assert done is not None and done.status.value == "done" and done.phase == "ready"
