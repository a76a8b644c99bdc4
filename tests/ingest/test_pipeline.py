"""Ingestor: idempotence, crash safety and resume, gc and delete, over real PDF pages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.pdf import PdfPages
from ingest.pipeline import iter_files
from ingest.types import DocStatus, PageContent
from tests.support.fixtures_pdf import IngestEnv, fast_settings, text_pdf
from tests.support.paths import child_env
from tests.support.processes import alive


def _pdf(path: Path, n: int = 5, tag: str = "") -> Path:
    return text_pdf(
        path, [f"{tag}Page {i} of the quarterly report, with details." for i in range(1, n + 1)]
    )


@dataclass
class CrashingPdf:
    """Passes `after` pages of the real extractor through, then raises `error`."""

    inner: PdfPages
    after: int
    error: BaseException

    def count_pages(self, path: Path) -> int:
        return self.inner.count_pages(path)

    def pages(self, path: Path) -> Iterator[PageContent]:
        for page in self.inner.pages(path):
            if page.page > self.after:
                raise self.error
            yield page


def _assert_invisible(env: IngestEnv, doc_id: str) -> None:
    doc = env.registry.get_document(doc_id)
    assert doc is not None and doc.status is not DocStatus.READY
    assert env.registry.units(doc_id) == []
    assert doc_id not in env.sink.published()


def test_same_file_twice_is_a_noop(tmp_path: Path) -> None:
    env = IngestEnv.create(tmp_path / "data")
    path = _pdf(tmp_path / "a.pdf")
    first = env.ingestor.ingest_file(path)
    assert (first.status, first.n_pages) == ("ingested", 5)
    snapshot = env.snapshot()
    again = env.ingestor.ingest_file(path)
    assert (again.status, again.doc_id, again.n_pages) == ("skipped", first.doc_id, 5)
    assert env.snapshot() == snapshot
    assert first.notes == again.notes == []
    # The same bytes under another name: it says where the file already is.
    copy = tmp_path / "renamed.pdf"
    copy.write_bytes(path.read_bytes())
    renamed = env.ingestor.ingest_file(copy)
    assert renamed.status == "skipped" and renamed.doc_id == first.doc_id
    assert renamed.notes == [
        f"the same file is already in the library as a.pdf ({first.doc_id[:12]})"
    ]


def test_a_document_without_any_text_says_only_its_name_finds_it(tmp_path: Path) -> None:
    import pymupdf

    env = IngestEnv.create(tmp_path / "data")
    doc = pymupdf.open()
    page = doc.new_page()
    page.draw_rect(pymupdf.Rect(100, 100, 300, 300))  # type: ignore[no-untyped-call]
    doc.save(tmp_path / "drawing.pdf")  # type: ignore[no-untyped-call]
    doc.close()  # type: ignore[no-untyped-call]
    result = env.ingestor.ingest_file(tmp_path / "drawing.pdf")
    assert result.status == "ingested"
    assert result.notes == [
        "no text on any page was found: the lite profile finds it only by its file name"
    ]


def test_a_changed_file_is_a_new_document(tmp_path: Path) -> None:
    env = IngestEnv.create(tmp_path / "data")
    path = _pdf(tmp_path / "a.pdf")
    first = env.ingestor.ingest_file(path)
    _pdf(path, n=2, tag="Revised. ")
    second = env.ingestor.ingest_file(path)
    assert second.status == "ingested" and second.doc_id != first.doc_id
    ready = env.registry.list_documents(DocStatus.READY)
    assert {d.id for d in ready} == {first.doc_id, second.doc_id}
    assert [u.text[:8] for u in env.registry.units(second.doc_id or "")] == ["Revised."] * 2


def test_interrupt_mid_ingest_leaves_the_doc_pending_then_resume_completes_it(
    tmp_path: Path,
) -> None:
    env = IngestEnv.create(tmp_path / "data")
    path = _pdf(tmp_path / "a.pdf", n=6)
    real = PdfPages(fast_settings())
    crashing = env.with_pdf(CrashingPdf(real, after=3, error=KeyboardInterrupt()))
    crashing.batch_size = 2
    with pytest.raises(KeyboardInterrupt):
        crashing.ingest_file(path)
    (doc,) = env.registry.list_documents()
    assert doc.status is DocStatus.PENDING
    _assert_invisible(env, doc.id)
    assert any(op == "add" for op, _, _ in env.sink.calls)  # pages did reach the sink, hidden

    (result,) = env.ingestor.resume()
    assert (result.status, result.doc_id, result.n_pages) == ("ingested", doc.id, 6)
    assert [u.page for u in env.registry.units(doc.id)] == [1, 2, 3, 4, 5, 6]
    assert env.sink.published() == {doc.id}
    # The resumed run cleared the interrupted attempt's points before adding its own.
    ops = [op for op, d, _ in env.sink.calls if d == doc.id]
    last_remove = max(i for i, op in enumerate(ops) if op == "remove")
    assert ops[last_remove:].count("publish") == 1


def test_extractor_error_marks_failed_and_reingest_completes(tmp_path: Path) -> None:
    env = IngestEnv.create(tmp_path / "data")
    path = _pdf(tmp_path / "a.pdf", n=4)
    crashing = env.with_pdf(
        CrashingPdf(PdfPages(fast_settings()), after=2, error=RuntimeError("renderer exploded"))
    )
    result = crashing.ingest_file(path)
    assert result.status == "failed" and "renderer exploded" in (result.error or "")
    doc = env.registry.get_document(result.doc_id or "")
    assert doc is not None and doc.status is DocStatus.FAILED
    _assert_invisible(env, doc.id)

    again = env.ingestor.ingest_file(path)
    assert (again.status, again.doc_id, again.n_pages) == ("ingested", doc.id, 4)


_KILLED_INGEST = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from tests.support.fixtures_pdf import IngestEnv, fast_settings
    from ingest.pdf import PdfPages

    class SlowPages:
        def __init__(self, inner):
            self.inner = inner
        def count_pages(self, path):
            return self.inner.count_pages(path)
        def pages(self, path):
            for page in self.inner.pages(path):
                print("page", page.page, flush=True)
                time.sleep(0.2)
                yield page

    if __name__ == "__main__":
        env = IngestEnv.create(Path({data!r}))
        pdf = SlowPages(PdfPages(fast_settings(workers=2)))
        env.ingestor = env.with_pdf(pdf)
        env.ingestor.batch_size = 2
        env.ingestor.ingest_file(Path({source!r}))
        print("finished", flush=True)
    """
)


def test_sigkill_mid_ingest_leaves_the_doc_pending_then_resume_completes_it(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    source = _pdf(tmp_path / "a.pdf", n=40)
    script = tmp_path / "ingest_then_die.py"
    script.write_text(_KILLED_INGEST.format(data=str(data), source=str(source)))
    proc = subprocess.Popen(
        [sys.executable, str(script)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=child_env(),
    )
    try:
        assert proc.stdout is not None
        seen = [proc.stdout.readline() for _ in range(5)]
        assert seen[-1].startswith("page 5")
        # Kill only the ingest process: its pool workers (children of the forkserver, in the
        # same session) must notice and exit by themselves.
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and alive(proc.pid, group=True):
            time.sleep(0.1)
        assert not alive(proc.pid, group=True), "worker processes outlived their parent"
    finally:
        if alive(proc.pid, group=True):
            os.killpg(proc.pid, signal.SIGKILL)

    env = IngestEnv.create(data)
    (doc,) = env.registry.list_documents()
    assert doc.status is DocStatus.PENDING
    assert env.registry.units(doc.id) == []
    # Page PNGs written before the kill exist, but no row references them.
    assert set(env.blobs.keys()) - env.registry.referenced_blobs()

    (result,) = env.ingestor.resume()
    assert (result.status, result.n_pages) == ("ingested", 40)
    assert len(env.registry.units(doc.id)) == 40
    assert env.sink.published() == {doc.id}


def test_gc_removes_orphan_blobs_only(tmp_path: Path) -> None:
    env = IngestEnv.create(tmp_path / "data")
    result = env.ingestor.ingest_file(_pdf(tmp_path / "a.pdf", n=2))
    referenced = env.registry.referenced_blobs()
    old_orphan = env.blobs.put_bytes(b"left by a crashed ingest", ".png")
    young_orphan = env.blobs.put_bytes(b"being written by a running ingest", ".png")
    an_hour_ago = time.time() - 7200
    os.utime(env.blobs.path(old_orphan), (an_hour_ago, an_hour_ago))
    temp = env.blobs.path(old_orphan).parent / ".tmp-interrupted"
    temp.write_bytes(b"partial")
    os.utime(temp, (an_hour_ago, an_hour_ago))

    report = env.ingestor.gc(grace_s=3600)
    assert (report.removed_blobs, report.removed_temp) == (1, 1)
    keys = set(env.blobs.keys())
    assert old_orphan not in keys and young_orphan in keys
    assert referenced <= keys
    assert len(env.registry.units(result.doc_id or "")) == 2

    assert env.ingestor.gc(grace_s=None).removed_blobs == 1  # the young one, no grace
    assert set(env.blobs.keys()) == referenced


def test_delete_removes_rows_points_and_unshared_blobs(tmp_path: Path) -> None:
    env = IngestEnv.create(tmp_path / "data")
    shared_page = "A cover page both documents share, word for word."
    a = env.ingestor.ingest_file(text_pdf(tmp_path / "a.pdf", [shared_page, "Only in A."]))
    b = env.ingestor.ingest_file(text_pdf(tmp_path / "b.pdf", [shared_page, "Only in B!"]))
    a_id, b_id = a.doc_id or "", b.doc_id or ""
    b_keys = env.registry.referenced_blobs() - _doc_keys(env, a_id)
    b_units = env.registry.units(b_id)

    env.ingestor.delete(a_id)

    assert env.registry.get_document(a_id) is None
    assert env.registry.units(a_id) == []
    assert ("remove", a_id, ()) in env.sink.calls
    assert set(env.blobs.keys()) == env.registry.referenced_blobs()
    assert b_keys | {_key(env, b_units[0].images[0])} <= set(env.blobs.keys())
    assert all(p.is_file() for u in b_units for p in u.images)


def _key(env: IngestEnv, path: Path) -> str:
    return str(path.relative_to(env.blobs.root))


def _doc_keys(env: IngestEnv, doc_id: str) -> set[str]:
    doc = env.registry.get_document(doc_id)
    assert doc is not None
    return {doc.source_blob} | {_key(env, p) for u in env.registry.units(doc_id) for p in u.images}


def test_resume_goes_on_past_a_document_that_fails_unexpectedly(tmp_path: Path) -> None:
    env = IngestEnv.create(tmp_path / "data")
    first, second = _pdf(tmp_path / "a.pdf", n=3), _pdf(tmp_path / "b.pdf", n=3, tag="B. ")
    interrupted = env.with_pdf(CrashingPdf(PdfPages(fast_settings()), 1, KeyboardInterrupt()))
    for path in (first, second):
        with pytest.raises(KeyboardInterrupt):
            interrupted.ingest_file(path)
    assert [d.status for d in env.registry.list_documents()] == [DocStatus.PENDING] * 2

    # The first document to resume hits an extractor bug; the second must still complete.
    flaky = CrashingPdf(PdfPages(fast_settings()), 1, RuntimeError("extractor bug"))
    calls = iter([flaky, PdfPages(fast_settings())])
    broken_first = env.with_pdf(_Switching(calls))
    results = broken_first.resume()
    assert [r.status for r in results] == ["failed", "ingested"]
    assert "extractor bug" in (results[0].error or "")


@dataclass
class _Switching:
    """A PdfExtractor that hands each document to the next extractor in line."""

    extractors: Iterator[CrashingPdf | PdfPages]
    current: CrashingPdf | PdfPages | None = None

    def count_pages(self, path: Path) -> int:
        self.current = next(self.extractors)
        return self.current.count_pages(path)

    def pages(self, path: Path) -> Iterator[PageContent]:
        assert self.current is not None
        return self.current.pages(path)


@dataclass
class PooledPdf:
    """A PDF extractor with worker processes of its own: records start and close."""

    inner: PdfPages
    calls: list[str]

    def count_pages(self, path: Path) -> int:
        return self.inner.count_pages(path)

    def pages(self, path: Path) -> Iterator[PageContent]:
        return self.inner.pages(path)

    def start(self) -> None:
        self.calls.append("start")

    def close(self) -> None:
        self.calls.append("close")


@pytest.mark.parametrize(("warm", "expected"), [(True, ["start", "close"]), (False, ["close"])])
def test_the_ingestor_starts_page_workers_when_the_settings_say_so(
    tmp_path: Path, warm: bool, expected: list[str]
) -> None:
    settings = fast_settings(warm_page_workers=warm)
    calls: list[str] = []
    env = IngestEnv.create(tmp_path, PooledPdf(PdfPages(settings), calls), settings)
    env.ingestor.start_workers()
    result = env.ingestor.ingest_file(_pdf(tmp_path / "a.pdf"))
    env.ingestor.close()
    assert result.status == "ingested"
    assert calls == expected


def test_iter_files_expands_folders_and_reports_what_it_left_out(tmp_path: Path) -> None:
    (tmp_path / "docs" / "sub").mkdir(parents=True)
    for name in ("docs/b.pdf", "docs/sub/a.mp4", "docs/notes.txt", "docs/sub/x.docx"):
        (tmp_path / name).write_bytes(b"x")
    single = tmp_path / "single.txt"  # a file given by name passes through (it is checked later)
    single.write_bytes(b"x")
    skipped: list[Path] = []
    found = list(iter_files([tmp_path / "docs", single], skipped))
    assert found == [tmp_path / "docs/b.pdf", tmp_path / "docs/sub/a.mp4", single]
    assert sorted(skipped) == [tmp_path / "docs/notes.txt", tmp_path / "docs/sub/x.docx"]
