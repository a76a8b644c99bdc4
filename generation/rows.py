# pymupdf annotates only part of its API; its calls are untyped to mypy.
# mypy: disable-error-code="no-untyped-call"
"""Visual rows of a PDF page, from PyMuPDF's line boxes: what a table row is.

A page's text layer lists a table cell by cell, one line each ("lineCap" / "string" /
"butt"), so the text alone cannot tell where a row ends. The line boxes can: lines whose
vertical centres share a band form one visual row, read left to right. The extractive
generator quotes the row that holds the best-matching cell (when the row is one
contiguous piece of the unit's text, so the quote stays verbatim).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ingest.types import Unit, UnitKind
from retrieval.lru import Lru

logger = logging.getLogger(__name__)

# Two lines are in one row when their vertical centres differ by less than this share of
# the smaller line height.
ROW_BAND = 0.5


@runtime_checkable
class PageRows(Protocol):
    """The visual rows of a page unit: each row's line texts, left to right."""

    def rows(self, unit: Unit) -> list[list[str]]: ...


class NoRows:
    """`PageRows` for when no page layout is at hand (clips, OCR pages, tests)."""

    def rows(self, unit: Unit) -> list[list[str]]:
        """No rows."""
        return []


def group_rows(lines: list[tuple[float, float, float, str]]) -> list[list[str]]:
    """(x0, y0, y1, text) line boxes -> rows of two or more lines sharing a vertical band,
    top to bottom, each left to right. Lines are compared with the row's first line."""
    rows: list[list[tuple[float, float, float, str]]] = []
    for line in sorted(lines, key=lambda b: ((b[1] + b[2]) / 2, b[0])):
        x0, y0, y1, text = line
        centre, height = (y0 + y1) / 2, max(y1 - y0, 1e-3)
        if rows:
            first = rows[-1][0]
            first_height = max(first[2] - first[1], 1e-3)
            limit = ROW_BAND * min(height, first_height)
            if abs(centre - (first[1] + first[2]) / 2) < limit:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [[t for _, _, _, t in sorted(row)] for row in rows if len(row) >= 2]


class PdfPageRows:
    """`PageRows` of page units read from their source PDF (found by `source_path`, doc id
    -> path or None). Open documents are kept in a small LRU cache, and the rows of the
    last `rows_cache_size` pages in another: a unit id names immutable content, and
    PyMuPDF holds the GIL while it reads a layout (~10-35 ms a page), so concurrent
    answers about the same pages would otherwise queue behind each other."""

    def __init__(
        self,
        source_path: Callable[[str], Path | None],
        cache_size: int = 4,
        rows_cache_size: int = 1024,
    ) -> None:
        self.source_path = source_path
        self._docs: Lru[str, Any] = Lru(cache_size, on_evict=lambda doc: doc.close())
        self._rows: Lru[str, list[list[str]]] = Lru(rows_cache_size)
        self._lock = threading.Lock()

    def _open(self, doc_id: str) -> Any:
        doc = self._docs.get(doc_id)
        if doc is not None:
            return doc
        path = self.source_path(doc_id)
        if path is None or not path.exists():
            return None
        doc = _mupdf().open(path, filetype="pdf")
        self._docs.put(doc_id, doc)
        return doc

    def rows(self, unit: Unit) -> list[list[str]]:
        """The rows of a text-layer page (none for clips, OCR pages and unreadable files)."""
        if unit.kind is not UnitKind.PAGE or unit.page is None or unit.text_source != "layer":
            return []
        with self._lock:
            cached = self._rows.get(unit.id)
            if cached is not None:
                return cached
            try:
                doc = self._open(unit.doc_id)
                if doc is None or unit.page > doc.page_count:
                    return []
                layout = doc[unit.page - 1].get_text("dict", flags=_text_flags())
            except (RuntimeError, ValueError) as err:
                logger.warning("%s: no page layout for table rows: %s", unit.label, err)
                return []
        rows = _rows_of(layout)
        with self._lock:
            self._rows.put(unit.id, rows)
        return rows


def _mupdf() -> Any:
    from ingest.mupdf import pymupdf  # on the first table row, not on the server's start

    return pymupdf


def _text_flags() -> int:
    # Text only: image blocks carry no lines, and decoding them is most of get_text's cost.
    # Ligatures as letters, as in the unit text the rows are quoted from.
    from ingest.mupdf import pymupdf, text_flags

    return text_flags(pymupdf.TEXTFLAGS_DICT & ~pymupdf.TEXT_PRESERVE_IMAGES)


def _rows_of(layout: dict[str, Any]) -> list[list[str]]:
    """The rows of a page's `get_text("dict")` layout."""
    lines = []
    for block in layout.get("blocks", []):
        for line in block.get("lines", []):
            text = "".join(span["text"] for span in line["spans"]).strip()
            if text:
                x0, y0, _, y1 = line["bbox"]
                lines.append((float(x0), float(y0), float(y1), text))
    return group_rows(lines)
