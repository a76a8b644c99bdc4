"""The text-only baseline of `mmrag eval`: Okapi BM25 over the PDF text layer, per page.

This is what a plain text RAG would retrieve with: no OCR, no video, no dense vectors.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymupdf

_WORD = re.compile(r"\w+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    return _WORD.findall(text.lower())


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


class BM25:
    """Okapi BM25 (k1=1.5, b=0.75) over a fixed list of documents."""

    def __init__(self, texts: Sequence[str], k1: float = 1.5, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self.docs = [Counter(tokenize(t)) for t in texts]
        self.lengths = [sum(d.values()) for d in self.docs]
        self.avg_len = sum(self.lengths) / max(len(self.docs), 1) or 1.0
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(d.keys())
        n = len(self.docs)
        self.idf = {t: math.log(1 + (n - f + 0.5) / (f + 0.5)) for t, f in df.items()}

    def scores(self, query: str) -> list[float]:
        terms = [t for t in set(tokenize(query)) if t in self.idf]
        out = []
        for doc, length in zip(self.docs, self.lengths, strict=True):
            norm = self.k1 * (1 - self.b + self.b * length / self.avg_len)
            out.append(
                sum(
                    self.idf[t] * doc[t] * (self.k1 + 1) / (doc[t] + norm)
                    for t in terms
                    if t in doc
                )
            )
        return out

    def top(self, query: str, k: int) -> list[int]:
        """Indices of the k best documents (ties broken by position), zero scores excluded."""
        scored = [(s, i) for i, s in enumerate(self.scores(query)) if s > 0]
        scored.sort(key=lambda si: (-si[0], si[1]))
        return [i for _, i in scored[:k]]
