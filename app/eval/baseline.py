"""The text-only baseline of `mmrag eval`: Okapi BM25 over the PDF text layer, per page.

This is what a plain text RAG would retrieve with: no OCR, no video, no dense vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.mupdf import pymupdf
from retrieval.bm25 import BM25
from retrieval.terms import plain_words


@dataclass(frozen=True, slots=True)
class PageText:
    file: str  # relative to the corpus folder
    page: int  # 1-based
    text: str


def read_text_layers(corpus: Path, files: Sequence[str]) -> list[PageText]:
    """The raw text layer of every page of the given PDFs (relative paths)."""
    pages = []
    for rel in files:
        # pymupdf's inline annotations are partial.
        doc: Any = pymupdf.open(corpus / rel, filetype="pdf")  # type: ignore[no-untyped-call]
        try:
            for number, page in enumerate(doc, start=1):
                pages.append(PageText(rel, number, page.get_text()))
        finally:
            doc.close()
    return pages


def baseline_index(pages: Sequence[PageText]) -> BM25:
    """Okapi BM25 (k1=1.5, b=0.75) over the pages' text layers, plain words (rank with
    `.top(plain_words(question), k)`)."""
    return BM25([plain_words(p.text) for p in pages], k1=1.5)
