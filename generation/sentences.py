"""Split unit text into answer-sized sentences that stay verbatim.

Unit text comes from PDF text layers (a line break at every printed line, hyphenated words,
bullet lists, table rows), OCR (the same, noisier) and speech transcripts (long lines,
sometimes no punctuation). Each `Sentence` keeps its character span in the original text,
and its `text` is that span as `generation.verbatim.clean_span` quotes it: whitespace runs
collapsed and line-break hyphens repaired (`docu-\\nment` -> `document`, while
`double-\\nspending` keeps its hyphen). Sentences are never cut: a sentence starts where
one starts and ends where it ends, so an extractive answer built from these never contains
text that is not there, nor a piece of a sentence.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

from generation.verbatim import clean_span

_BULLET = re.compile(
    r"^\s*(?:[•·▪◦●○■□►▸‣⁃∙*–—-]\s+|\(?\d{1,2}[.)]\s+|\(?[a-zA-Z][.)]\s+|\([ivx]+\)\s+)"
)
_TABLE_GAP = re.compile(r"\S(?:\t| {3,})\S")
_TERMINAL = (".", "!", "?", ":", ";", "。", "！", "？")
_HYPHEN_END = re.compile(r"\w-$")
# A sentence ends at . ! ? (plus closing quotes/brackets) before whitespace; CJK stops end
# one anywhere.
_SENTENCE_END = re.compile(r"[.!?]+[\"'”’)\]]*(?=\s)|[。！？]+")
# Words whose period does not end a sentence (casefolded, without the final period).
# fmt: off
_ABBREVIATIONS = frozenset((
    "e.g", "i.e", "cf", "vs", "etc", "al", "fig", "figs", "eq", "eqs", "no", "nr", "dr", "mr",
    "mrs", "ms", "prof", "st", "jr", "sr", "inc", "ltd", "co", "corp", "approx", "ca", "vol",
    "pp", "p", "sec", "ch", "art", "abs", "resp", "jan", "feb", "mar", "apr", "jun", "jul",
    "aug", "sep", "sept", "oct", "nov", "dec", "z.b", "bzw", "usw", "ggf", "vgl", "mme",
))
# fmt: on
_WORD_BEFORE = re.compile(r"([\w.]+)$")
_HAS_WORD = re.compile(r"\w")
# A line ending in one of these words has not finished its sentence.
_JOINERS = frozenset(
    [
        "a",
        "an",
        "the",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "and",
        "or",
        "with",
        "by",
        "from",
        "as",
        "that",
        "which",
    ]
)
# A line this long (relative to the longest line around it) was wrapped by the layout.
_WRAPPED_FRACTION = 0.7
_WRAPPED_MIN_CHARS = 45


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence (or line, or table row) of a text: its cleaned text and its span."""

    text: str
    start: int  # character offsets into the original text: text[start:end]
    end: int
    ordinal: int  # position among the sentences of the same text
    cells: int = 0  # > 0: a table row of this many cells (from the page layout)
    # Only whitespace lies between the previous sentence and this one, so the two quoted
    # together are still one contiguous passage.
    adjacent: bool = False

    @property
    def n_words(self) -> int:
        """Number of whitespace-separated words."""
        return len(self.text.split())


@dataclass(frozen=True, slots=True)
class _Line:
    start: int
    end: int
    text: str  # stripped

    @property
    def blank(self) -> bool:
        return not self.text

    @property
    def bullet(self) -> bool:
        return bool(_BULLET.match(self.text))

    @property
    def table_row(self) -> bool:
        return "|" in self.text or bool(_TABLE_GAP.search(self.text))


def _lines(text: str) -> list[_Line]:
    lines: list[_Line] = []
    pos = 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n")
        lead = len(body) - len(body.lstrip())
        stripped = body.strip()
        lines.append(_Line(pos + lead, pos + lead + len(stripped), stripped))
        pos += len(raw)
    return lines


def _continues(prev: _Line, line: _Line, wrap_width: int) -> bool:
    """Whether `line` continues the sentence of `prev` (a layout wrap, not a new item)."""
    if prev.blank or line.blank or line.bullet or prev.table_row or line.table_row:
        return False
    if _HYPHEN_END.search(prev.text) and line.text[:1].isalpha():
        return True  # hyphenated word
    if prev.text.endswith(_TERMINAL):
        return False
    if line.text[:1].islower() or line.text[:1] in ",;)]":
        return True  # a sentence does not start in lower case
    if (
        prev.text.endswith((",", "(", "-", "–", "&"))
        or prev.text.split()[-1].casefold() in _JOINERS
    ):
        return True  # "... pages 71-80," / "... of the": the sentence goes on
    # A long line without terminal punctuation was wrapped; a short one is a heading,
    # a slide line or a table cell.
    return len(prev.text) >= max(_WRAPPED_MIN_CHARS, _WRAPPED_FRACTION * wrap_width)


def _row_runs(lines: list[_Line], rows: Sequence[Sequence[str]]) -> dict[int, int]:
    """Where the text lists a table row's cells on consecutive lines: first line index ->
    last line index of the row."""
    by_first: dict[str, list[list[str]]] = {}
    for row in rows:
        cells = [" ".join(c.split()) for c in row]
        if len(cells) >= 2 and all(cells):
            by_first.setdefault(cells[0], []).append(cells)
    runs: dict[int, int] = {}
    texts = [" ".join(line.text.split()) for line in lines]
    i = 0
    while i < len(lines):
        for cells in by_first.get(texts[i], []):
            if texts[i : i + len(cells)] == cells:
                runs[i] = i + len(cells) - 1
                i += len(cells) - 1
                break
        i += 1
    return runs


def _blocks(text: str, rows: Sequence[Sequence[str]] = ()) -> list[tuple[int, int, int]]:
    """(start, end, cells) of runs of lines that belong together (paragraph pieces,
    bullets, rows); `cells` > 0 marks a table row found in the page layout (`rows`)."""
    lines = _lines(text)
    width = max((len(line.text) for line in lines), default=0)
    runs = _row_runs(lines, rows)
    blocks: list[tuple[int, int, int]] = []
    prev: _Line | None = None
    index = 0
    while index < len(lines):
        line = lines[index]
        if index in runs:
            last = runs[index]
            blocks.append((line.start, lines[last].end, last - index + 1))
            prev, index = None, last + 1  # a row neither continues nor is continued
            continue
        index += 1
        if line.blank:
            prev = line
            continue
        if prev is not None and blocks and not blocks[-1][2] and _continues(prev, line, width):
            blocks[-1] = (blocks[-1][0], line.end, 0)
        else:
            blocks.append((line.start, line.end, 0))
        prev = line
    return blocks


def _is_abbreviation(before: str) -> bool:
    match = _WORD_BEFORE.search(before)
    if match is None:
        return False
    word = match.group(1).rstrip(".").casefold()
    if word in _ABBREVIATIONS:
        return True
    if all(len(part) == 1 and part.isalpha() for part in word.split(".")):
        return True  # initials: "J. Smith", "U.S. Army"
    # "27. Oktober", "1. Introduction": a short number before a period is an ordinal.
    return word.isdigit() and len(word) <= 2


def _sentence_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _SENTENCE_END.finditer(text, start, end):
        stop = match.end()
        if match.group(0).startswith(".") and _is_abbreviation(text[cursor : match.start()]):
            continue
        spans.append((cursor, stop))
        cursor = stop
    spans.append((cursor, end))
    return spans


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split_sentences(text: str, rows: Sequence[Sequence[str]] = ()) -> list[Sentence]:
    """`text` -> its sentences in order: wrapped lines joined, bullets, table rows and
    headings kept apart, never cut; pieces without a word character dropped. `rows` are the
    page's visual rows (generation.rows): a row whose cells the text lists on consecutive
    lines becomes one sentence, whole (`Sentence.cells`)."""
    return list(_sentences(text, tuple(tuple(row) for row in rows)))


# Memoised: every answer splits the same retrieved units again (Sentence is immutable).
@functools.lru_cache(maxsize=2048)
def _sentences(text: str, rows: tuple[tuple[str, ...], ...]) -> tuple[Sentence, ...]:
    spans: list[tuple[int, int, int]] = []
    for block_start, block_end, cells in _blocks(text, rows):
        if cells:
            spans.append((block_start, block_end, cells))
            continue
        for s, e in _sentence_spans(text, block_start, block_end):
            s, e = _trim(text, s, e)
            if e > s and _HAS_WORD.search(text, s, e):
                spans.append((s, e, 0))
    return tuple(
        Sentence(
            clean_span(text, s, e),
            s,
            e,
            ordinal,
            cells,
            adjacent=ordinal > 0 and not text[spans[ordinal - 1][1] : s].strip(),
        )
        for ordinal, (s, e, cells) in enumerate(spans)
    )
