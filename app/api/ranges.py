"""HTTP Range requests for media, as RFC 9110 section 14 says.

- A Range field the server cannot use (another unit such as `items=`, bad syntax, a range
  whose last byte comes before its first) is ignored: 200 with the whole file.
- A valid range set of which no range is satisfiable (starts past the end, `bytes=-0`) is
  416 with `Content-Range: bytes */<size>`.
- Otherwise 206 with the satisfiable ranges (Starlette sends them, multipart when several).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from app.api.errors import error_response

MAX_RANGES = 16  # more is a cheap denial of service (RFC 9110 section 14.2 allows refusing)
_SPEC = re.compile(r"(\d*)-(\d*)")


@dataclass(frozen=True, slots=True)
class Unsatisfiable:
    """None of the requested ranges overlaps the file."""

    size: int


ByteRanges = list[tuple[int, int]]  # (first, last) inclusive


def parse_byte_ranges(header: str | None, size: int) -> ByteRanges | Unsatisfiable | None:
    """The satisfiable ranges of a Range header over a file of `size` bytes; None when the
    header is absent or unusable (serve the whole file); Unsatisfiable for a 416."""
    if header is None:
        return None
    unit, sep, spec = header.partition("=")
    if not sep or unit.strip().lower() != "bytes":
        return None
    parts = [p.strip() for p in spec.split(",")]
    if not parts or len(parts) > MAX_RANGES:
        return None
    ranges: ByteRanges = []
    for part in parts:
        match = _SPEC.fullmatch(part)
        if match is None or match.group(0) == "-":
            return None
        first, last = match.group(1), match.group(2)
        if first:
            start = int(first)
            end = int(last) if last else size - 1
            if last and end < start:
                return None  # invalid range-spec: the whole field is ignored
            if start < size:
                ranges.append((start, min(end, size - 1)))
        else:
            suffix = int(last)
            if suffix > 0 and size > 0:
                ranges.append((max(size - suffix, 0), size - 1))
    if not ranges:
        return Unsatisfiable(size)
    return ranges


class RangedFileResponse(FileResponse):
    """A FileResponse whose Range handling follows `parse_byte_ranges`: an unusable Range
    field is dropped before Starlette sees it, a valid one is passed on normalised."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        size = os.stat(self.path).st_size
        decision = parse_byte_ranges(Headers(scope=scope).get("range"), size)
        headers = [(k, v) for k, v in scope["headers"] if k.lower() != b"range"]
        if isinstance(decision, Unsatisfiable):
            response = error_response(
                416,
                f"none of the requested byte ranges is within the file ({size} bytes)",
                {"Content-Range": f"bytes */{size}", "Accept-Ranges": "bytes"},
            )
            await response(scope, receive, send)
            return
        if decision is not None:
            spec = ",".join(f"{a}-{b}" for a, b in decision)
            headers.append((b"range", f"bytes={spec}".encode()))
        await super().__call__({**scope, "headers": headers}, receive, send)
