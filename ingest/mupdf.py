"""pymupdf, set up once: every module that reads PDFs imports it from here.

MuPDF prints its repairs of readable files ("invalid ICC colorspace") to stderr; unreadable
files are reported by the ingest summary anyway, so those messages show only when debug
logging is on at the first import (`mmrag -v`).

Importing pymupdf takes ~0.2 s of CPU, so the modules that import this one are themselves
imported where they are used, never on the API server's start path (tested).
"""

from __future__ import annotations

import logging

import pymupdf

pymupdf.TOOLS.mupdf_display_errors(  # type: ignore[no-untyped-call]
    logging.getLogger().isEnabledFor(logging.DEBUG)
)

__all__ = ["LIGATURES", "pymupdf", "text_flags"]

# The Latin ligatures a text layer may hold (U+FB00-FB06); `text_flags` reads them as letters.
LIGATURES = frozenset("ﬀﬁﬂﬃﬄﬅﬆ")


def text_flags(base: int) -> int:
    """`base` (a TEXTFLAGS_* set) with ligatures given as their letters: "ﬁtted" as
    "fitted". MiniLM's vocabulary has no "ﬁ" ("ﬁtted" became [ﬁ, ##tted]), and a reader
    searching or copying a quote types "fi". 100 of the corpus' 416 units had ligatures.
    Every reader of the text layer (unit text, word boxes, table rows) uses it, so their
    texts agree."""
    return int(base) & ~int(pymupdf.TEXT_PRESERVE_LIGATURES)
