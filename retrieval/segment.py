"""Cutting unit text into passages that fit a small encoder's input window (sentences:
retrieval/sentences.py)."""

from __future__ import annotations


def _window(words: list[str], size: int, overlap: int) -> list[str]:
    step = max(1, size - overlap)
    return [" ".join(words[i : i + size]) for i in range(0, max(len(words) - overlap, 1), step)]


def split_passages(text: str, max_words: int = 160, overlap: int = 20) -> list[str]:
    """Text -> overlapping word windows of at most `max_words` words (at least one passage,
    possibly empty). 160 words stay under MiniLM's 256 wordpieces for most prose."""
    if overlap >= max_words:
        raise ValueError("overlap must be smaller than max_words")
    words = text.split()
    if len(words) <= max_words:
        return [" ".join(words)]
    return _window(words, max_words, overlap)
