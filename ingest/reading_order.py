# pymupdf annotates only part of its API; its calls are untyped to mypy.
# mypy: disable-error-code="no-untyped-call"
"""A page's text layer with sentences that cross a footnote or a figure kept whole.

MuPDF gives a page's text blocks in the order the PDF draws them. In a two-column paper
that is: the left column, its footnotes, the figure beside it (tick labels, legend,
caption), then the right column. A sentence broken at the foot of the left column ("When
training with mul-") therefore reads on into "8SQuAD is limited to …", and a quote built
from the text splices the footnote into it.

`mended_order` moves the text that sits between a sentence and its continuation after the
continuation: when a paragraph of body-size text ends mid-sentence, the next body-size
block that is not a caption starts in lower case, and everything between is smaller type
(footnotes, figure labels) or a caption, the continuation comes next and the rest follows
it. Nothing else moves, so a page without such a break keeps MuPDF's text exactly. Larger
type between (a table's bold row labels) is never jumped over: that is a layout to keep.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from ingest.mupdf import pymupdf, text_flags

# A block of body text is within this many points of the page's body size (the size most
# of its characters have): bold runs, italics and superscript markers shift it a little.
BODY_SIZE_TOLERANCE = 0.6
# Prose broken mid-sentence ends in a lower-case word, a hyphenated fragment or a comma;
# its continuation starts with a lower-case word. Both are lines of prose, not labels.
_BROKEN_END = re.compile(r"[a-zà-ÿ](?:-|,)?\s*$")
MIN_LINE_WORDS = 3  # a table cell or a label is shorter
_CAPTION = re.compile(r"^\s*(?:figure|fig\.|table|abbildung|tableau|tabelle)\s*\d", re.IGNORECASE)
_LOWER_START = re.compile(r"^\s*[a-zà-ÿ]{2}")


@dataclass(frozen=True, slots=True)
class TextBlock:
    """One block of the layer: its text as MuPDF gives it, and the font size most of its
    characters have."""

    text: str
    size: float


def body_size(blocks: Sequence[TextBlock]) -> float:
    """The font size most of the page's characters have (0.0 for an empty page)."""
    chars: Counter[float] = Counter()
    for block in blocks:
        chars[block.size] += len(block.text.strip())
    return _commonest(chars)


def _commonest(chars: Counter[float]) -> float:
    """The size holding the most characters (the first such on a tie), 0.0 for none."""
    return max(chars, key=lambda size: chars[size]) if chars else 0.0


def mended_order(blocks: Sequence[TextBlock]) -> list[int]:
    """The order (indices into `blocks`) that puts each sentence's continuation right after
    the block it breaks off in, see the module docstring; the identity when nothing moves."""
    body = body_size(blocks)

    def is_body(i: int) -> bool:
        return abs(blocks[i].size - body) <= BODY_SIZE_TOLERANCE

    rest = list(range(len(blocks)))
    order: list[int] = []
    while rest:
        current = rest.pop(0)
        order.append(current)
        if not (is_body(current) and _ends_broken(blocks[current].text)):
            continue
        following = next(
            (k for k, i in enumerate(rest) if is_body(i) and not _CAPTION.match(blocks[i].text)),
            None,
        )
        if not following:  # none, or right after: nothing to move
            continue
        smaller = all(
            blocks[i].size < body or _CAPTION.match(blocks[i].text) for i in rest[:following]
        )
        if smaller and _prose_line(blocks[rest[following]].text, first=True, shape=_LOWER_START):
            rest.insert(0, rest.pop(following))
    return order


def _ends_broken(text: str) -> bool:
    """Whether a block is prose that stops mid-sentence."""
    return _prose_line(text, first=False, shape=_BROKEN_END)


def _prose_line(text: str, *, first: bool, shape: re.Pattern[str]) -> bool:
    """Whether a block's first (or last) line is prose, MIN_LINE_WORDS words or more, of
    the `shape` asked for (a broken end, a lower-case start)."""
    lines = text.strip().splitlines()
    if not lines:
        return False
    line = lines[0] if first else lines[-1]
    return len(line.split()) >= MIN_LINE_WORDS and shape.search(line) is not None


def page_text(page: pymupdf.Page) -> str:
    """The page's text layer (ligatures as letters, `ingest.mupdf.text_flags`), its blocks
    in `mended_order`."""
    _, texts, order = _blocks_in_order(page)
    if order == sorted(order):
        return str(page.get_text(flags=_FLAGS))
    return "".join(texts[i] for i in order)


def block_ranks(page: pymupdf.Page) -> dict[int, int]:
    """Each text block's number (as MuPDF's "words" and "blocks" give it) -> its place in
    `mended_order`, so the other readers of the layer (word boxes) follow the same order."""
    numbers, _, order = _blocks_in_order(page)
    return {numbers[i]: rank for rank, i in enumerate(order)}


_FLAGS = text_flags(pymupdf.TEXTFLAGS_TEXT)


def _blocks_in_order(page: pymupdf.Page) -> tuple[list[int], list[str], list[int]]:
    """The page's text blocks (their numbers and texts, in MuPDF's order) and their
    `mended_order`; MuPDF's own order when its two views of the blocks disagree. The font
    sizes (the costly "dict" view) are read only when some block stops mid-sentence: on
    other pages nothing can move."""
    blocks = [b for b in page.get_text("blocks", flags=_FLAGS) if b[6] == 0]
    numbers, texts = [int(b[5]) for b in blocks], [str(b[4]) for b in blocks]
    unchanged = list(range(len(texts)))
    if not any(_ends_broken(text) for text in texts[:-1]):
        return numbers, texts, unchanged
    layout = page.get_text("dict", flags=_FLAGS)
    sizes = [_dominant_size(b) for b in layout["blocks"] if b.get("type") == 0]
    if len(texts) != len(sizes):
        return numbers, texts, unchanged
    order = mended_order([TextBlock(t, s) for t, s in zip(texts, sizes, strict=True)])
    return numbers, texts, order


def _dominant_size(block: dict[str, object]) -> float:
    """The font size (rounded to 0.1 pt) most of a layout block's characters have."""
    chars: Counter[float] = Counter()
    for line in block.get("lines", []):  # type: ignore[attr-defined]
        for span in line["spans"]:
            chars[round(float(span["size"]), 1)] += len(span["text"].strip())
    return _commonest(chars)
