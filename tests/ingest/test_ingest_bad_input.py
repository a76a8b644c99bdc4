"""Bad input through Ingestor.ingest_file: one clear error line naming the file and the
reason, nothing stored changes, and the other files of the same run still ingest."""

from __future__ import annotations

import io
import logging
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from PIL import Image

from ingest.types import DocKind, DocStatus
from tests.support.fixtures_pdf import (
    IngestEnv,
    encrypted_pdf,
    huge_page_pdf,
    text_pdf,
    truncated_pdf,
    zero_page_pdf,
)


def _docx(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return path


def _truncated(path: Path) -> Path:
    full = text_pdf(path.with_name("full.pdf"), [f"Page {i} of the report." for i in range(8)])
    truncated = truncated_pdf(path, full, 0.6)
    full.unlink()
    return truncated


BAD_INPUTS: dict[str, tuple[Callable[[Path], Path], str]] = {
    "zero-byte": (lambda d: _touch(d / "empty.pdf"), "empty file (0 bytes)"),
    "truncated": (lambda d: _truncated(d / "cut.pdf"), "truncated PDF"),
    "corrupt": (
        lambda d: _write(d / "broken.pdf", b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\n%%EOF\n"),
        "damaged PDF",
    ),
    "encrypted": (lambda d: encrypted_pdf(d / "locked.pdf"), "encrypted PDF: a password is needed"),
    "zero-pages": (lambda d: zero_page_pdf(d / "nopages.pdf"), "PDF has no pages"),
    "garbage-named-pdf": (
        lambda d: _write(d / "fake.pdf", b"this is a plain text file, not a PDF\n" * 10),
        "named .pdf but its content is not a PDF",
    ),
    "text-file": (lambda d: _write(d / "notes.txt", b"some notes\n"), "unsupported file type"),
    "docx": (lambda d: _docx(d / "letter.docx"), "unsupported file type"),
}


def _touch(path: Path) -> Path:
    path.touch()
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def env(tmp_path: Path) -> IngestEnv:
    return IngestEnv.create(tmp_path / "data")


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_fails_cleanly(
    case: str, env: IngestEnv, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    build, reason = BAD_INPUTS[case]
    inputs = tmp_path / "in"
    inputs.mkdir()
    before_doc = text_pdf(inputs / "earlier.pdf", ["An earlier document, already stored."])
    assert env.ingestor.ingest_file(before_doc).status == "ingested"
    snapshot = env.snapshot()

    bad = build(inputs)
    with caplog.at_level(logging.WARNING):
        result = env.ingestor.ingest_file(bad)

    assert result.status == "failed"
    assert result.error is not None and reason in result.error
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert lines == [f"{bad.name}: {result.error}"]
    assert "\n" not in lines[0]
    assert env.snapshot() == snapshot  # rows, blobs (bytes and mtimes) and sink untouched

    after_doc = text_pdf(inputs / "later.pdf", ["A later document in the same run."])
    later = env.ingestor.ingest_file(after_doc)
    assert later.status == "ingested"
    assert env.registry.get_document(later.doc_id or "") is not None


def test_a_run_with_bad_files_ingests_the_good_ones(env: IngestEnv, tmp_path: Path) -> None:
    good = [text_pdf(tmp_path / f"good{i}.pdf", [f"Good file {i} text."]) for i in range(2)]
    bad = [build(tmp_path) for build, _ in BAD_INPUTS.values()]
    results = [env.ingestor.ingest_file(p) for p in [good[0], *bad, good[1]]]
    assert [r.status for r in results] == ["ingested"] + ["failed"] * len(bad) + ["ingested"]
    ready = env.registry.list_documents(DocStatus.READY)
    assert sorted(d.file_name for d in ready) == ["good0.pdf", "good1.pdf"]
    assert len(env.registry.list_documents()) == 2  # no rows for the bad files
    assert env.sink.published() == {r.doc_id for r in results if r.status == "ingested"}


def test_pdf_with_a_video_name_is_ingested_as_pdf(env: IngestEnv, tmp_path: Path) -> None:
    path = text_pdf(tmp_path / "holiday.mp4", ["Really a PDF about a holiday."])
    result = env.ingestor.ingest_file(path)
    assert result.status == "ingested" and result.n_pages == 1
    doc = env.registry.get_document(result.doc_id or "")
    assert doc is not None and doc.kind is DocKind.PDF and doc.file_name == "holiday.mp4"
    (unit,) = env.registry.units(doc.id)
    assert unit.text == "Really a PDF about a holiday."


def test_huge_page_is_capped(tmp_path: Path) -> None:
    cap = 300_000
    env = IngestEnv.create(tmp_path / "data", settings=None)
    env.ingestor.settings = env.ingestor.settings.model_copy(update={"max_pixels": cap})
    env.ingestor.pdf = type(env.ingestor.pdf)(env.ingestor.settings)  # type: ignore[call-arg]
    result = env.ingestor.ingest_file(huge_page_pdf(tmp_path / "sheet.pdf", inches=200))
    assert result.status == "ingested"
    (unit,) = env.registry.units(result.doc_id or "")
    with Image.open(io.BytesIO(unit.images[0].read_bytes())) as image:
        width, height = image.size
    assert width * height <= cap
    assert width * height > 0.9 * cap and abs(width - height) <= 1


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    env = IngestEnv.create(tmp_path / "data")
    env.ingestor.settings = env.ingestor.settings.model_copy(update={"max_file_bytes": 100})
    path = text_pdf(tmp_path / "big.pdf", ["More than a hundred bytes for sure."])
    result = env.ingestor.ingest_file(path)
    assert result.status == "failed" and "over the limit" in (result.error or "")
    assert env.registry.list_documents() == []
