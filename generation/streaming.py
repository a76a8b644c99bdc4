"""Cutting finished text into stream chunks, for generators that have the whole answer at
once (fake, extractive) but must stream like a model does."""

from __future__ import annotations

import re
from collections.abc import Iterator

_WORD_WITH_SPACE = re.compile(r"\S+\s*|\s+")


def word_chunks(text: str) -> Iterator[str]:
    """`text` as word-sized chunks (each word with the whitespace after it); joined, the
    chunks give back `text` exactly."""
    for match in _WORD_WITH_SPACE.finditer(text):
        yield match.group(0)
