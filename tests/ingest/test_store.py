"""Blob store and registry: content addressing, atomic state changes, deletion, gc."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import NotFound
from ingest.store import BlobStore, Registry, collect_garbage, sha256_file
from ingest.types import DocKind, DocStatus, JobStatus, Unit, UnitKind, page_unit_id


@pytest.fixture
def store(tmp_path: Path) -> tuple[Registry, BlobStore]:
    blobs = BlobStore(tmp_path / "blobs")
    return Registry(tmp_path / "registry.sqlite3", blobs), blobs


def _page(blobs: BlobStore, doc_id: str, page: int, png: bytes) -> Unit:
    key = blobs.put_bytes(png, ".png")
    return Unit(
        id=page_unit_id(doc_id, page),
        doc_id=doc_id,
        kind=UnitKind.PAGE,
        ordinal=page - 1,
        file_name="a.pdf",
        text=f"page {page}",
        images=(blobs.path(key),),
        page=page,
        text_source="layer",
    )


def test_blob_keys_are_content_addresses(tmp_path: Path) -> None:
    blobs = BlobStore(tmp_path)
    key = blobs.put_bytes(b"hello", ".png")
    assert blobs.put_bytes(b"hello", ".png") == key
    assert blobs.put_bytes(b"other", ".png") != key
    assert blobs.path(key).read_bytes() == b"hello"
    source = tmp_path / "src.bin"
    source.write_bytes(b"hello")
    assert blobs.put_file(source, ".png") == key
    assert sorted(blobs.keys()) == sorted({key, blobs.put_bytes(b"other", ".png")})
    assert sha256_file(source) == key.replace("/", "").removesuffix(".png")


def test_document_lifecycle(store: tuple[Registry, BlobStore]) -> None:
    registry, blobs = store
    source = blobs.put_bytes(b"%PDF-1.4 fake", ".pdf")
    doc = registry.begin_document("ab" * 32, "a.pdf", DocKind.PDF, 13, source)
    assert doc.status is DocStatus.PENDING
    assert registry.units(doc.id) == []
    units = [_page(blobs, doc.id, p, f"png{p}".encode()) for p in (1, 2)]
    done = registry.complete_document(doc.id, units)
    assert (done.status, done.n_pages, done.n_clips) == (DocStatus.READY, 2, 0)
    assert registry.units(doc.id) == units
    assert registry.get_unit(units[1].id) == units[1]
    # Restarting a document (re-ingest after a crash) hides its units again.
    registry.begin_document(doc.id, "a.pdf", DocKind.PDF, 13, source)
    assert registry.units(doc.id) == []
    registry.fail_document(doc.id, "boom")
    failed = registry.get_document(doc.id)
    assert failed is not None and failed.status is DocStatus.FAILED and failed.error == "boom"


def test_resolve_by_prefix(store: tuple[Registry, BlobStore]) -> None:
    registry, blobs = store
    source = blobs.put_bytes(b"x", ".pdf")
    registry.begin_document("abc" + "0" * 61, "a.pdf", DocKind.PDF, 1, source)
    registry.begin_document("abd" + "0" * 61, "b.pdf", DocKind.PDF, 1, source)
    assert registry.resolve_document("abc").file_name == "a.pdf"
    with pytest.raises(NotFound, match="ambiguous"):
        registry.resolve_document("ab")
    with pytest.raises(NotFound, match="no document"):
        registry.resolve_document("ff")
    with pytest.raises(NotFound, match="give at least 6 characters"):
        registry.resolve_document("abc", min_prefix=6)
    assert registry.resolve_document("abc000", min_prefix=6).file_name == "a.pdf"


def test_delete_returns_only_unshared_blobs(store: tuple[Registry, BlobStore]) -> None:
    registry, blobs = store
    shared_png = b"blank page"
    for doc_id, name in (("a" * 64, "a.pdf"), ("b" * 64, "b.pdf")):
        source = blobs.put_bytes(name.encode(), ".pdf")
        registry.begin_document(doc_id, name, DocKind.PDF, 5, source)
        registry.complete_document(
            doc_id,
            [_page(blobs, doc_id, 1, shared_png), _page(blobs, doc_id, 2, name.encode() * 2)],
        )
    freed = registry.delete_document("a" * 64)
    assert registry.get_document("a" * 64) is None
    # The blank page is still used by b.pdf, so only a.pdf's own blobs are freed.
    shared_key = blobs.put_bytes(shared_png, ".png")
    assert shared_key not in freed
    assert len(freed) == 2


def test_gc_removes_orphans_and_temp_files(store: tuple[Registry, BlobStore]) -> None:
    registry, blobs = store
    source = blobs.put_bytes(b"src", ".pdf")
    registry.begin_document("c" * 64, "c.pdf", DocKind.PDF, 3, source)
    kept = _page(blobs, "c" * 64, 1, b"kept")
    registry.complete_document("c" * 64, [kept])
    orphan = blobs.put_bytes(b"orphan from a crashed ingest", ".png")
    (blobs.root / orphan[:2] / ".tmp-crashed").write_bytes(b"partial")
    # A grace period spares fresh files (an ingest may be running elsewhere).
    assert collect_garbage(registry, blobs, grace_s=3600).removed_blobs == 0
    report = collect_garbage(registry, blobs, grace_s=None)
    assert (report.removed_blobs, report.removed_temp) == (1, 1)
    assert not blobs.path(orphan).exists()
    assert kept.images[0].exists() and blobs.path(source).exists()


def test_jobs(store: tuple[Registry, BlobStore]) -> None:
    registry, _ = store
    job = registry.create_job("upload.pdf")
    assert job.status is JobStatus.QUEUED
    registry.update_job(job.id, status=JobStatus.RUNNING, progress=0.5, message="3/6 pages")
    running = registry.get_job(job.id)
    assert running is not None
    assert (running.status, running.progress, running.message) == (
        JobStatus.RUNNING,
        0.5,
        "3/6 pages",
    )
    assert [j.id for j in registry.list_jobs([JobStatus.RUNNING])] == [job.id]


def test_records_map_every_field_once_with_enums_as_values() -> None:
    from ingest.records import from_record, to_record
    from ingest.types import DocKind, DocStatus, Document

    doc = Document("d1", "a.pdf", DocKind.PDF, DocStatus.READY, 10, "ab/cd.pdf", n_pages=2)
    record = to_record(doc)
    assert record["kind"] == "pdf" and record["status"] == "ready"
    assert from_record(Document, record) == doc
    # A null where the field has a non-null default (an older record) reads as the default.
    assert from_record(Document, record | {"n_pages": None}).n_pages == 0
    assert from_record(Document, record | {"extra": 1}, file_name="b.pdf").file_name == "b.pdf"
