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

__all__ = ["pymupdf"]
