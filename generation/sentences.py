"""Split unit text into answer-sized sentences that stay verbatim.

Unit text comes from PDF text layers (a line break at every printed line, hyphenated words,
bullet lists, table rows), OCR (the same, noisier) and speech transcripts (long lines,
sometimes no punctuation). Each `Sentence` keeps its character span in the original text,
and its `text` is that span with whitespace cleaned: runs collapsed to one space and the
line break after a hyphenated word removed (`docu-\\nment` -> `docu-ment`). Nothing else is
changed, so an extractive answer built from these never contains text that is not there.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

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
_HYPHEN_BREAK = re.compile(r"(?<=\w-)[ \t]*\n\s*(?=\w)")
_SPACES = re.compile(r"\s+")
_HAS_WORD = re.compile(r"\w")
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

    @property
    def n_words(self) -> int:
        """Number of whitespace-separated words."""
        return len(self.text.split())


def clean_whitespace(raw: str) -> str:
    """Whitespace-cleaned text: hyphenated line breaks joined, runs collapsed, stripped."""
    return _SPACES.sub(" ", _HYPHEN_BREAK.sub("", raw)).strip()


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
    # A long line without terminal punctuation was wrapped; a short one is a heading,
    # a slide line or a table cell.
    return len(prev.text) >= max(_WRAPPED_MIN_CHARS, _WRAPPED_FRACTION * wrap_width)


def _blocks(text: str) -> list[tuple[int, int]]:
    """Spans of runs of lines that belong together (paragraph pieces, bullets, rows)."""
    lines = _lines(text)
    width = max((len(line.text) for line in lines), default=0)
    blocks: list[tuple[int, int]] = []
    prev: _Line | None = None
    for line in lines:
        if line.blank:
            prev = line
            continue
        if prev is not None and blocks and _continues(prev, line, width):
            blocks[-1] = (blocks[-1][0], line.end)
        else:
            blocks.append((line.start, line.end))
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


def _word_windows(text: str, start: int, end: int, max_words: int) -> list[tuple[int, int]]:
    """Cut an overlong span: at clause marks (, ; :) when they give pieces small enough,
    otherwise into windows of `max_words` words."""
    words = [m.span() for m in re.finditer(r"\S+", text[start:end])]
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(words):
        j = min(i + max_words, len(words))
        if j < len(words):
            # Prefer to end the window after a word closing a clause, in its second half.
            for k in range(j - 1, i + max_words // 2, -1):
                if text[start + words[k][1] - 1] in ",;:":
                    j = k + 1
                    break
        spans.append((start + words[i][0], start + words[j - 1][1]))
        i = j
    return spans


def split_sentences(text: str, max_words: int = 40) -> list[Sentence]:
    """`text` -> its sentences in order: wrapped lines joined, bullets, table rows and
    headings kept apart, sentences longer than `max_words` cut; pieces without a word
    character dropped."""
    return list(_sentences(text, max_words))


# Memoised: every answer splits the same retrieved units again (Sentence is immutable).
@functools.lru_cache(maxsize=2048)
def _sentences(text: str, max_words: int) -> tuple[Sentence, ...]:
    spans: list[tuple[int, int]] = []
    for block_start, block_end in _blocks(text):
        for s, e in _sentence_spans(text, block_start, block_end):
            s, e = _trim(text, s, e)
            if e <= s or not _HAS_WORD.search(text, s, e):
                continue
            if len(text[s:e].split()) > max_words:
                spans.extend(_word_windows(text, s, e, max_words))
            else:
                spans.append((s, e))
    return tuple(
        Sentence(clean_whitespace(text[s:e]), s, e, ordinal) for ordinal, (s, e) in enumerate(spans)
    )
