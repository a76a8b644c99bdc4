"""OCR of a video frame, word by word with tesseract's confidence.

Plain text (ingest.ocr.ocr_image) is right for pages. Natural video frames need the
confidence: on the corpus, real text (captions, signs) reads at 90-96 while texture read as
letters ("sabia vse", "global) A Ya YN") stays under 70, and word shape alone cannot tell
"global" from a real word.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from PIL import Image

from ingest.ocr import run_tesseract


@dataclass(frozen=True, slots=True)
class OcrWord:
    """One word tesseract read: its text, confidence (0-100) and which line it sits on."""

    text: str
    confidence: float
    line: tuple[int, int, int]  # (block, paragraph, line), tesseract's numbering


def parse_tsv(tsv: str) -> list[OcrWord]:
    """Words from tesseract's `tsv` output (header row first), in reading order."""
    words = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:  # level 5 = word
            continue
        line = (int(row["block_num"]), int(row["par_num"]), int(row["line_num"]))
        words.append(OcrWord(text, float(row["conf"]), line))
    return words


def ocr_words(image: Image.Image, languages: str) -> list[OcrWord]:
    """Words tesseract reads in `image` with the `-l` languages given ("eng+deu").
    Raises ModelUnavailable when tesseract is missing or fails."""
    return parse_tsv(run_tesseract(image, languages, "tsv"))


def confident_lines(words: list[OcrWord], min_confidence: float) -> str:
    """The words at or above `min_confidence`, one line of text per tesseract line."""
    lines: dict[tuple[int, int, int], list[str]] = {}
    for word in words:
        if word.confidence >= min_confidence:
            lines.setdefault(word.line, []).append(word.text)
    return "\n".join(" ".join(parts) for parts in lines.values())
