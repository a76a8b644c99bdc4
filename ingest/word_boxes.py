# pymupdf annotates only part of its API; its calls are untyped to mypy.
# mypy: disable-error-code="no-untyped-call"
"""Where a passage sits on a page: word boxes from the PDF text layer (pymupdf) or from
OCR (tesseract TSV), and the window of words that best matches a quoted passage.

Boxes are fractions of the rendered page (origin top left), so they fit the stored page
image at any resolution. Computed on demand, when someone opens a citation: ingestion stays
as it is and old documents get highlights too.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import Image

from ingest.mupdf import pymupdf, text_flags
from ingest.ocr import run_tesseract
from ingest.reading_order import block_ranks
from ingest.types import Unit, UnitKind

_TOKEN = re.compile(r"\w+", re.UNICODE)
# A passage counts as found when this share of its words lies in one window of the page.
MIN_MATCH_SHARE = 0.5

WordSource = Literal["layer", "ocr", "none"]


@dataclass(frozen=True, slots=True)
class WordBox:
    """One word on a page: its text, its box as fractions of the page, and its line
    (words with the same `line` are on one line of one block)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float
    line: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Box:
    """A rectangle as fractions of the page (origin top left)."""

    x0: float
    y0: float
    x1: float
    y1: float


@dataclass(frozen=True, slots=True)
class PassageMatch:
    """The lines a passage covers on a page, and how many of its words were found there."""

    boxes: tuple[Box, ...]
    matched_words: int
    passage_words: int


def tokens(text: str) -> list[str]:
    """Lower-case word tokens (letters and digits of any script; punctuation splits)."""
    return [t.lower() for t in _TOKEN.findall(text)]


def layer_words(pdf_path: Path, page: int) -> list[WordBox]:
    """Words of page `page` (1-based) from the PDF's text layer, in the unit text's order
    (`ingest.reading_order`)."""
    with pymupdf.open(pdf_path, filetype="pdf") as doc:
        pdf_page = doc.load_page(page - 1)
        # Text coordinates are unrotated; the rendered image shows the page rotated.
        rotate = pdf_page.rotation_matrix
        width, height = pdf_page.rect.width, pdf_page.rect.height
        words = []
        layer = pdf_page.get_text("words", flags=text_flags(pymupdf.TEXTFLAGS_WORDS), sort=False)
        # The unit text's block order (a sentence read across a footnote), kept stable
        # within each block.
        ranks = block_ranks(pdf_page)
        layer.sort(key=lambda word: ranks.get(int(word[5]), int(word[5])))
        for x0, y0, x1, y1, text, block, line, _ in layer:
            rect = pymupdf.Rect(x0, y0, x1, y1) * rotate
            words.append(
                WordBox(
                    text,
                    rect.x0 / width,
                    rect.y0 / height,
                    rect.x1 / width,
                    rect.y1 / height,
                    (int(block), int(line)),
                )
            )
    return words


def parse_tesseract_tsv(tsv: str, width: int, height: int) -> list[WordBox]:
    """Word rows (level 5, non-empty text) of tesseract's TSV output, boxes as fractions
    of a `width` x `height` image. Pure."""
    words = []
    for row in csv.DictReader(io.StringIO(tsv), delimiter="\t", quoting=csv.QUOTE_NONE):
        text = (row.get("text") or "").strip()
        if row.get("level") != "5" or not text:
            continue
        left, top = int(row["left"]), int(row["top"])
        right, bottom = left + int(row["width"]), top + int(row["height"])
        line = (int(row["block_num"]), int(row["par_num"]), int(row["line_num"]))
        words.append(
            WordBox(text, left / width, top / height, right / width, bottom / height, line)
        )
    return words


def ocr_words(image_path: Path, languages: str) -> list[WordBox]:
    """Words tesseract reads on a page image, with their boxes."""
    with Image.open(image_path) as image:
        image.load()
        size = image.size
        tsv = run_tesseract(image, languages, "tsv")
    return parse_tesseract_tsv(tsv, *size)


def _best_window(page: list[str], passage: list[str], length: int) -> tuple[int, int, int]:
    """(start, end, matches): the window of `length` page tokens that best matches the
    passage: most shared tokens (with multiplicity) plus most shared adjacent pairs (so
    words in the passage's order win ties), trimmed of edge tokens it does not need."""
    wanted = Counter(passage)
    pairs = set(zip(passage, passage[1:], strict=False))
    # in_order[i]: page tokens i-1 and i are adjacent in the passage too.
    in_order = [0] + [int(pair in pairs) for pair in zip(page, page[1:], strict=False)]
    prefix = [0]
    for flag in in_order:
        prefix.append(prefix[-1] + flag)
    have: Counter[str] = Counter()
    matches = 0
    best, best_score = (0, 0, 0), 0
    for end, token in enumerate(page):
        have[token] += 1
        if have[token] <= wanted[token]:
            matches += 1
        start = end - length + 1
        if start > 0:
            gone = page[start - 1]
            if have[gone] <= wanted[gone]:
                matches -= 1
            have[gone] -= 1
        start = max(start, 0)
        score = matches + prefix[end + 1] - prefix[start + 1]
        if score > best_score:
            best, best_score = (start, end + 1, matches), score
    start, end, matches = best
    # Drop edge words the passage does not need: not in it, or one occurrence too many
    # (a "the" just before the quote starts).
    have = Counter(page[start:end])
    while start < end and have[page[start]] > wanted[page[start]]:
        have[page[start]] -= 1
        start += 1
    while end > start and have[page[end - 1]] > wanted[page[end - 1]]:
        have[page[end - 1]] -= 1
        end -= 1
    return start, end, matches


def locate_passage(words: list[WordBox], passage: str) -> PassageMatch:
    """The page lines covering the window of words that best matches `passage` (a quote,
    or a sentence close to the page's wording); no boxes when under MIN_MATCH_SHARE of
    its words are found together. Pure."""
    wanted_tokens = tokens(passage)
    if not wanted_tokens or not words:
        return PassageMatch((), 0, len(wanted_tokens))
    # A page word may hold several tokens ("double-spending"): remember whose they are.
    page_tokens: list[str] = []
    owner: list[int] = []
    for index, word in enumerate(words):
        for token in tokens(word.text):
            page_tokens.append(token)
            owner.append(index)
    start, end, matches = _best_window(page_tokens, wanted_tokens, len(wanted_tokens))
    if matches < MIN_MATCH_SHARE * len(wanted_tokens) or start >= end:
        return PassageMatch((), matches, len(wanted_tokens))
    chosen = sorted(set(owner[start:end]))
    return PassageMatch(line_boxes([words[i] for i in chosen]), matches, len(wanted_tokens))


def line_boxes(words: list[WordBox]) -> tuple[Box, ...]:
    """One box per run of consecutive words on the same line (their union). Pure."""
    boxes: list[Box] = []
    current: list[WordBox] = []
    for word in [*words, None]:
        if current and (word is None or word.line != current[-1].line):
            boxes.append(
                Box(
                    min(w.x0 for w in current),
                    min(w.y0 for w in current),
                    max(w.x1 for w in current),
                    max(w.y1 for w in current),
                )
            )
            current = []
        if word is not None:
            current.append(word)
    return tuple(boxes)


def unit_words(
    unit: Unit, source_pdf: Path, ocr_languages: str
) -> tuple[WordSource, list[WordBox]]:
    """The word boxes behind a page unit's text and where they come from: the text layer
    when the page's text is the layer, OCR of the stored page image when it was OCR'd;
    ("none", []) for a clip or an empty page."""
    if unit.kind is not UnitKind.PAGE or unit.page is None:
        return "none", []
    if unit.text_source == "layer":
        return "layer", layer_words(source_pdf, unit.page)
    if unit.text_source == "ocr" and unit.images:
        return "ocr", ocr_words(unit.images[0], ocr_languages)
    return "none", []
