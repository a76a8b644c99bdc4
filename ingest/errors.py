"""The error hierarchy: each error names the file and the reason, in one line."""

from __future__ import annotations

from pathlib import Path


class MMRagError(Exception):
    """Base of every error mmrag raises on purpose."""


class IngestError(MMRagError):
    """A file could not be ingested. `str(err)` is `<file>: <reason>`."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path.name}: {reason}")

    def __reduce__(self) -> tuple[type[IngestError], tuple[Path, str]]:
        # Rebuild from (path, reason), not from the message, so the error survives pickling
        # (it crosses process boundaries from the PDF worker pool).
        return (type(self), (self.path, self.reason))


class UnsupportedFile(IngestError):
    """The file is not a PDF or a video we can read (decided by content, not the name)."""


class CorruptFile(IngestError):
    """The file claims a supported type but cannot be read (truncated, broken, encrypted)."""


class ModelUnavailable(MMRagError):
    """A model could not be loaded from its hub id or local path."""


class BackendUnavailable(MMRagError):
    """A service the configuration points at (Qdrant server, vLLM) is not reachable."""


class NotFound(MMRagError):
    """A document, unit or job id does not exist (or a prefix is ambiguous)."""


class StoreBusy(MMRagError):
    """The data dir is in use by an operation that excludes this one (e.g. gc during an
    ingest)."""
