"""What a text model reads for a unit: honest metadata (file title, location) plus its text.

One place, so the dense text embedder, the BM25 encoder and the lite reranker agree on it.
"""

from __future__ import annotations

import functools
import re
from pathlib import PurePath

from ingest.types import Unit, UnitKind, format_timestamp

_SEPARATORS = re.compile(r"[-_.\s]+")


@functools.lru_cache(maxsize=4096)
def file_title(file_name: str) -> str:
    """`my-report_2023.pdf` -> `my report 2023`: the file name stem as words."""
    stem = PurePath(file_name).stem
    return _SEPARATORS.sub(" ", stem).strip()


def unit_header(unit: Unit) -> str:
    """One line saying what the unit is: `my report: page 3` or `tree: video clip 00:10-00:20`."""
    title = file_title(unit.file_name)
    if unit.kind is UnitKind.PAGE:
        where = f"page {unit.page}" if unit.page is not None else "page"
    else:
        start = format_timestamp(unit.start_s or 0.0)
        end = format_timestamp(unit.end_s or 0.0)
        where = f"video clip {start}-{end}"
    return f"{title}: {where}" if title else where


def unit_text(unit: Unit, max_chars: int | None = None) -> str:
    """Header line then the unit's text (optionally cut to `max_chars` characters of text)."""
    return _joined(unit_header(unit), unit.text, max_chars)


def titled_text(unit: Unit) -> str:
    """The file title then the unit's text, without the location words every unit of its
    kind shares ("page 3", "video clip 00:10-00:20"): what the refusal evidence counts
    (retrieval.evidence). "clip" in a question says it asks about a video, not which one,
    and "page" or "10" would otherwise find themselves in every header."""
    return _joined(file_title(unit.file_name), unit.text, None)


# Memoised so the same unit gives the same str object: what reads it next (term sets,
# BM25 tokens, evidence) is memoised by text, and a str computes its hash once.
@functools.lru_cache(maxsize=4096)
def _joined(header: str, text: str, max_chars: int | None) -> str:
    body = text.strip()
    if max_chars is not None and len(body) > max_chars:
        body = body[:max_chars]
    return f"{header}\n{body}" if body else header
