"""File types are decided by content; bad files get a reason naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.errors import IngestError, UnsupportedFile
from ingest.sniff import detect_kind, sniff_kind
from ingest.types import DocKind


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", DocKind.PDF),
        (b"\x00\x00\x00\x20ftypisom\x00\x00", DocKind.VIDEO),
        (b"\x1a\x45\xdf\xa3\x01\x00", DocKind.VIDEO),
        (b"RIFF\x00\x00\x00\x00AVI LIST", DocKind.VIDEO),
        (b"PK\x03\x04 docx", None),
        (b"hello world", None),
    ],
)
def test_sniff_kind(head: bytes, kind: DocKind | None) -> None:
    assert sniff_kind(head) is kind


def test_detect_kind_errors_name_the_file(tmp_path: Path) -> None:
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    with pytest.raises(IngestError, match=r"^empty\.pdf: empty file"):
        detect_kind(empty)
    fake = tmp_path / "notes.pdf"
    fake.write_text("just text")
    with pytest.raises(UnsupportedFile, match=r"^notes\.pdf: named \.pdf but"):
        detect_kind(fake)
    other = tmp_path / "table.xlsx"
    other.write_bytes(b"PK\x03\x04")
    with pytest.raises(UnsupportedFile, match=r"^table\.xlsx: unsupported file type"):
        detect_kind(other)
    with pytest.raises(IngestError, match="file not found"):
        detect_kind(tmp_path / "missing.mp4")


def test_wrong_extension_is_detected_by_content(tmp_path: Path) -> None:
    pdf_named_mp4 = tmp_path / "report.mp4"
    pdf_named_mp4.write_bytes(b"%PDF-1.4\n...")
    assert detect_kind(pdf_named_mp4) is DocKind.PDF
