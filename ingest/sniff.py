"""Decide a file's type from its bytes, not its name."""

from __future__ import annotations

from pathlib import Path

from ingest.errors import IngestError, UnsupportedFile
from ingest.types import DocKind

PDF_SUFFIXES = {".pdf"}
VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi"}


def sniff_kind(head: bytes) -> DocKind | None:
    """The document kind the leading bytes of a file announce, or None."""
    if b"%PDF-" in head[:1024]:
        return DocKind.PDF
    if len(head) >= 12 and head[4:8] == b"ftyp":  # ISO base media: mp4, mov, m4v
        return DocKind.VIDEO
    if head[:4] == b"\x1a\x45\xdf\xa3":  # EBML: mkv, webm
        return DocKind.VIDEO
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return DocKind.VIDEO
    return None


def detect_kind(path: Path) -> DocKind:
    """The kind of `path` by content. Raises IngestError naming the file and the reason."""
    if not path.exists():
        raise IngestError(path, "file not found")
    if not path.is_file():
        raise IngestError(path, "not a regular file")
    size = path.stat().st_size
    if size == 0:
        raise IngestError(path, "empty file (0 bytes)")
    try:
        with path.open("rb") as fh:
            head = fh.read(1024)
    except OSError as err:
        raise IngestError(path, f"cannot read: {err.strerror or err}") from err
    kind = sniff_kind(head)
    if kind is None:
        suffix = path.suffix.lower()
        if suffix in PDF_SUFFIXES | VIDEO_SUFFIXES:
            raise UnsupportedFile(
                path, f"named {suffix} but its content is not a PDF or a supported video"
            )
        raise UnsupportedFile(
            path, "unsupported file type (expected a PDF or an mp4/mov/mkv/webm/avi video)"
        )
    return kind


def is_candidate(path: Path) -> bool:
    """Whether a folder walk should pick this file up (by name; content decides later)."""
    return path.suffix.lower() in PDF_SUFFIXES | VIDEO_SUFFIXES and not path.name.startswith(".")
