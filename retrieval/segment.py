"""Cutting unit text into sentences (for the lite reranker and extractive answers) and into
passages that fit a small encoder's input window."""

from __future__ import annotations

import functools
import re

# A sentence ends at . ! ? after a word of 3+ characters, so "1. Intro", "e.g. x" and
# "Fig. 3" stay whole; CJK full stops end a sentence anywhere.
_SENTENCE_END = re.compile(r"(?:(?<=[^\s.]{3}[.!?])|(?<=[。！？]))\s+")
_TERMINAL = (".", "!", "?", ":", ";", "。", "！", "？")
_HAS_WORD = re.compile(r"\w", re.UNICODE)


def _joins_previous(prev: str, line: str) -> bool:
    # A wrapped line of prose: the previous line has no terminal punctuation and this one
    # continues in lower case. Slide bullets, table rows and headings stay separate.
    return bool(prev) and not prev.endswith(_TERMINAL) and line[:1].islower()


def _window(words: list[str], size: int, overlap: int) -> list[str]:
    step = max(1, size - overlap)
    return [" ".join(words[i : i + size]) for i in range(0, max(len(words) - overlap, 1), step)]


def split_sentences(text: str, max_words: int = 60) -> list[str]:
    """Text -> sentences/lines in order, whitespace-collapsed; wrapped prose lines are
    joined, overlong sentences cut into `max_words` windows, wordless fragments dropped."""
    return list(_sentences(text, max_words))


# Memoised: the reranker cuts the same candidate units into windows on every query.
@functools.lru_cache(maxsize=4096)
def _sentences(text: str, max_words: int) -> tuple[str, ...]:
    lines: list[str] = []
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            if lines and lines[-1]:
                lines.append("")  # a blank line ends a paragraph
            continue
        if lines and _joins_previous(lines[-1], line):
            lines[-1] = f"{lines[-1]} {line}"
        else:
            lines.append(line)
    sentences: list[str] = []
    for line in lines:
        for piece in _SENTENCE_END.split(line):
            words = piece.split()
            if not words or not _HAS_WORD.search(piece):
                continue
            if len(words) > max_words:
                sentences.extend(_window(words, max_words, 0))
            else:
                sentences.append(" ".join(words))
    return tuple(sentences)


def split_passages(text: str, max_words: int = 160, overlap: int = 20) -> list[str]:
    """Text -> overlapping word windows of at most `max_words` words (at least one passage,
    possibly empty). 160 words stay under MiniLM's 256 wordpieces for most prose."""
    if overlap >= max_words:
        raise ValueError("overlap must be smaller than max_words")
    words = text.split()
    if len(words) <= max_words:
        return [" ".join(words)]
    return _window(words, max_words, overlap)
