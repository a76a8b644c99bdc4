"""Receive one uploaded file from a multipart body, streamed to disk in chunks.

The body is parsed as it arrives (python-multipart's push parser), so neither the whole
file nor the whole body is ever held in memory, and a file whose first bytes are not a PDF
or a video is refused before the rest is received. The size limit is the route's body limit
(every byte of the body counts: file, other fields, framing; see app/api/application.py), which stops
the stream as soon as it passes. Whatever fails, the partial file is removed.
"""

from __future__ import annotations

import shutil
import unicodedata
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from ingest.sniff import sniff_kind
from ingest.types import DocKind

FILE_FIELD = "file"
SNIFF_BYTES = 1024
MAX_NAME_CHARS = 180
MAX_PART_HEADER_BYTES = 16 * 1024  # part headers are held in memory: bound them


class UploadRejected(Exception):
    """The upload is refused; `status_code` and `detail` become the HTTP error."""

    def __init__(self, status_code: int, detail: str) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class ReceivedUpload:
    """A file saved under `<upload_root>/<random>/<file_name>`; `folder` is ours to delete."""

    path: Path
    file_name: str
    size_bytes: int
    kind: DocKind

    @property
    def folder(self) -> Path:
        return self.path.parent

    def move_to(self, folder: Path) -> ReceivedUpload:
        """The same upload after renaming its folder to `folder` (same file system)."""
        self.folder.rename(folder)
        return ReceivedUpload(folder / self.file_name, self.file_name, self.size_bytes, self.kind)

    @classmethod
    def find(cls, folder: Path) -> ReceivedUpload | None:
        """The upload kept in `folder` (by an earlier server process), if it is intact."""
        files = [p for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
        if len(files) != 1:
            return None
        with files[0].open("rb") as fh:
            kind = sniff_kind(fh.read(SNIFF_BYTES))
        if kind is None:
            return None
        return cls(files[0], files[0].name, files[0].stat().st_size, kind)


def safe_file_name(raw: str) -> str:
    """A client-supplied file name reduced to a harmless single path component.

    Drops any directory part (either slash style), control characters and leading dots
    (no hidden files, no `..`), and caps the length while keeping the extension.
    """
    name = unicodedata.normalize("NFC", raw).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip()
    name = name.lstrip(".").strip()
    if len(name) > MAX_NAME_CHARS:
        stem, dot, suffix = name.rpartition(".")
        if dot and 0 < len(suffix) <= 10:
            name = stem[: MAX_NAME_CHARS - len(suffix) - 1] + "." + suffix
        else:
            name = name[:MAX_NAME_CHARS]
    return name or "upload"


def _unsupported(name: str) -> str:
    return (
        f"{name}: unsupported file type (by content, not name): expected a PDF or an "
        "mp4/mov/mkv/webm/avi video"
    )


class _FileWriter:
    """Multipart parser callbacks that stream the `file` field into a file on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path: Path | None = None
        self.size = 0
        self.kind: DocKind | None = None
        self._head = bytearray()
        self._out: BinaryIO | None = None
        self._writing = False
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._headers: dict[bytes, bytes] = {}

    # -- header callbacks ------------------------------------------------------------------

    def on_part_begin(self) -> None:
        self._headers = {}
        self._writing = False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]
        self._check_header_size()

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]
        self._check_header_size()

    def _check_header_size(self) -> None:
        if len(self._header_field) + len(self._header_value) > MAX_PART_HEADER_BYTES:
            raise UploadRejected(
                400, f"a multipart part header is over {MAX_PART_HEADER_BYTES} bytes"
            )

    def on_header_end(self) -> None:
        self._headers[bytes(self._header_field).lower()] = bytes(self._header_value)
        self._header_field.clear()
        self._header_value.clear()

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        field = options.get(b"name", b"").decode("utf-8", "replace")
        raw_name = options.get(b"filename")
        if field != FILE_FIELD or raw_name is None:
            return  # other form fields are ignored
        if self.path is not None:
            raise UploadRejected(400, "one file per request")
        self.path = self.folder / safe_file_name(raw_name.decode("utf-8", "replace"))
        self._out = self.path.open("wb")
        self._writing = True

    # -- data callbacks --------------------------------------------------------------------

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        if not self._writing or self._out is None:
            return
        chunk = data[start:end]
        self.size += len(chunk)
        if self.kind is None and len(self._head) < SNIFF_BYTES:
            self._head += chunk[: SNIFF_BYTES - len(self._head)]
            if len(self._head) >= SNIFF_BYTES:
                self._sniff()
        self._out.write(chunk)

    def on_part_end(self) -> None:
        if not self._writing:
            return
        self._writing = False
        self.close()
        if self.size == 0:
            raise UploadRejected(400, f"{self._name}: empty file (0 bytes)")
        if self.kind is None:
            self._sniff()

    def _sniff(self) -> None:
        self.kind = sniff_kind(bytes(self._head))
        if self.kind is None:
            raise UploadRejected(415, _unsupported(self._name))

    @property
    def _name(self) -> str:
        return self.path.name if self.path else "upload"

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.on_part_begin,
            "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value,
            "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished,
            "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end,
        }


def multipart_boundary(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type (400 if it is anything else)."""
    kind, options = parse_options_header(content_type or "")
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise UploadRejected(400, f"expected multipart/form-data with a `{FILE_FIELD}` field")
    return boundary


async def receive_upload(
    body: AsyncIterator[bytes],
    content_type: str | None,
    upload_root: Path,
) -> ReceivedUpload:
    """Stream the `file` field of a multipart body to `<upload_root>/<random>/<name>`.

    Raises UploadRejected: 400 (not multipart, no file, empty, two files), 415 (content is
    not a PDF or a supported video); whatever `body` raises (the body limit's 413) passes
    through. Nothing is left on disk when it raises.
    """
    boundary = multipart_boundary(content_type)
    folder = upload_root / uuid.uuid4().hex
    folder.mkdir(parents=True)
    writer = _FileWriter(folder)
    parser = MultipartParser(boundary, writer.callbacks())  # type: ignore[arg-type]
    try:
        # Small synchronous writes per network chunk: cheaper than a thread hop each time.
        try:
            async for chunk in body:
                parser.write(chunk)
            parser.finalize()
        except MultipartParseError as err:
            raise UploadRejected(400, f"malformed multipart body: {err}") from err
        if writer.path is None or writer.kind is None:
            raise UploadRejected(400, f"no file in the `{FILE_FIELD}` form field")
        return ReceivedUpload(writer.path, writer.path.name, writer.size, writer.kind)
    except BaseException:
        writer.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
