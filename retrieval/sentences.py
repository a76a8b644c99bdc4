"""The one sentence splitter: unit text -> sentences with their character spans.

Two sets of rules (`SplitRules`) share the span-keeping scan (lines -> blocks of lines that
belong together -> sentences): `ANSWER_RULES` for extractive answers (below) and
`WINDOW_RULES` for the lite reranker's sentence windows (simpler joining and sentence ends,
whitespace-collapsed text, overlong sentences cut into 60-word windows). They differ
because the reranker's window vectors were fitted and cached with its rules; see
`WINDOW_RULES` for each difference.

Answer rules: split unit text into answer-sized sentences that stay verbatim.

Unit text comes from PDF text layers (a line break at every printed line, hyphenated words,
bullet lists, table rows), OCR (the same, noisier) and speech transcripts (long lines,
sometimes no punctuation). Each `Sentence` keeps its character span in the original text,
and its `text` is that span as `retrieval.verbatim.clean_span` quotes it: whitespace runs
collapsed and line-break hyphens repaired (`docu-\\nment` -> `document`, while
`double-\\nspending` keeps its hyphen). Sentences are never cut: a sentence starts where
one starts and ends where it ends, so an extractive answer built from these never contains
text that is not there, nor a piece of a sentence.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from retrieval.verbatim import clean_span

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
# A line ending in a month name goes on with the day or year the layout put on the next
# line ("In March" / "2023, the White House issued ...").
# fmt: off
_MONTHS = frozenset((
    "january", "february", "march", "april", "may", "june", "july", "august", "september",
    "october", "november", "december", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec",
))
# fmt: on
# A line this long (relative to the text's wrap width, `wrap_width`) was wrapped by the
# layout.
_WRAPPED_FRACTION = 0.7
_WRAPPED_MIN_CHARS = 45
# The wrap width is this quantile of the line lengths, not the longest line: one 142-char
# footer under a column of ~58-char lines (metrorock-instructions.pdf) made every wrapped
# column line look like a heading, and quotes stopped at "...promotional value expires".
_WRAP_QUANTILE = 0.75


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
    # Number of whitespace-separated words: counted once (sentences are memoised with
    # their text, and a query's answer reads this ~250 times).
    n_words: int = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "n_words", len(self.text.split()))


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


def wrap_width(lines: Sequence[_Line]) -> int:
    """The width the layout wraps its prose at: the upper quartile (_WRAP_QUANTILE) of the
    non-blank lines' lengths; 0 without any."""
    lengths = sorted(len(line.text) for line in lines if not line.blank)
    if not lengths:
        return 0
    return lengths[min(len(lengths) - 1, int(_WRAP_QUANTILE * len(lengths)))]


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
    if line.text[:1].isdigit() and prev.text.split()[-1].rstrip(".").casefold() in _MONTHS:
        return True  # a date split by the layout: "In March" / "2023, ..."
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


Continues = Callable[[_Line, _Line, int], bool]


def _blocks(
    text: str, rows: Sequence[Sequence[str]] = (), continues: Continues = _continues
) -> list[tuple[int, int, int]]:
    """(start, end, cells) of runs of lines that belong together (paragraph pieces,
    bullets, rows); `cells` > 0 marks a table row found in the page layout (`rows`)."""
    lines = _lines(text)
    width = wrap_width(lines)
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
        if prev is not None and blocks and not blocks[-1][2] and continues(prev, line, width):
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


# -- the reranker's window rules ------------------------------------------------------------

# A sentence ends at . ! ? after 3+ non-space characters, so "1. Intro" and "e.g. x" stay
# whole (but "Fig. 3" does not); CJK full stops end a sentence anywhere.
_WINDOW_END = re.compile(r"(?:(?<=[^\s.]{3}[.!?])|(?<=[。！？]))\s+")
_WORD = re.compile(r"\S+")


def _wraps(prev: _Line, line: _Line, wrap_width: int) -> bool:
    # A wrapped line of prose: the previous line has no terminal punctuation and this one
    # continues in lower case. Slide bullets, table rows and headings stay separate.
    return not prev.blank and not prev.text.endswith(_TERMINAL) and line.text[:1].islower()


def _window_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    cursor = start
    for match in _WINDOW_END.finditer(text, start, end):
        spans.append((cursor, match.start()))
        cursor = match.end()
    spans.append((cursor, end))
    return spans


def _collapsed(text: str, start: int, end: int) -> str:
    return " ".join(text[start:end].split())


@dataclass(frozen=True, slots=True)
class SplitRules:
    """What differs between the splitter's users: when a line continues the previous one,
    where a sentence ends inside a block, how a span's text is written, and the longest
    sentence kept whole (longer ones are cut into windows of that many words)."""

    continues: Continues
    sentence_spans: Callable[[str, int, int], list[tuple[int, int]]]
    clean: Callable[[str, int, int], str]
    max_words: int | None = None


# Extractive answers: never cut a sentence, quote it verbatim (hyphens repaired).
ANSWER_RULES = SplitRules(_continues, _sentence_spans, clean_span)
# The lite reranker's windows (its cached window vectors depend on these exact cuts):
# - a line continues the previous one only when that has no terminal punctuation and this
#   one starts in lower case (no bullet, table, hyphen, joiner-word or wrap-width rules);
# - a sentence ends at . ! ? after 3+ non-space characters (no abbreviation list, closing
#   quotes stay with the next sentence);
# - text is whitespace-collapsed (line-break hyphens are kept);
# - a sentence over 60 words is cut into consecutive 60-word windows.
WINDOW_RULES = SplitRules(_wraps, _window_spans, _collapsed, max_words=60)


def split_sentences(
    text: str, rows: Sequence[Sequence[str]] = (), rules: SplitRules = ANSWER_RULES
) -> list[Sentence]:
    """`text` -> its sentences in order, each with its span: wrapped lines joined,
    bullets, table rows and headings kept apart; pieces without a word character dropped.
    With ANSWER_RULES sentences are never cut, and `rows` are the page's visual rows
    (generation.rows): a row whose cells the text lists on consecutive lines becomes one
    sentence, whole (`Sentence.cells`). WINDOW_RULES are the lite reranker's."""
    return list(_sentences(text, tuple(tuple(row) for row in rows), rules))


# Memoised: every answer splits the same retrieved units again, and the reranker cuts the
# same candidate units into windows on every query (Sentence is immutable).
@functools.lru_cache(maxsize=4096)
def _sentences(
    text: str, rows: tuple[tuple[str, ...], ...], rules: SplitRules
) -> tuple[Sentence, ...]:
    spans: list[tuple[int, int, int]] = []
    for block_start, block_end, cells in _blocks(text, rows, rules.continues):
        if cells:
            spans.append((block_start, block_end, cells))
            continue
        for s, e in rules.sentence_spans(text, block_start, block_end):
            s, e = _trim(text, s, e)
            if e > s and _HAS_WORD.search(text, s, e):
                spans.extend((ws, we, 0) for ws, we in _cut(text, s, e, rules.max_words))
    return tuple(
        Sentence(
            rules.clean(text, s, e),
            s,
            e,
            ordinal,
            cells,
            adjacent=ordinal > 0 and not text[spans[ordinal - 1][1] : s].strip(),
        )
        for ordinal, (s, e, cells) in enumerate(spans)
    )


def _cut(text: str, start: int, end: int, max_words: int | None) -> list[tuple[int, int]]:
    """The span whole, or consecutive windows of `max_words` words when it is longer."""
    if max_words is None:
        return [(start, end)]
    words = [m.span() for m in _WORD.finditer(text, start, end)]
    if len(words) <= max_words:
        return [(start, end)]
    return [
        (words[i][0], words[min(i + max_words, len(words)) - 1][1])
        for i in range(0, len(words), max_words)
    ]
