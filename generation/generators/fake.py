"""A deterministic generator for tests and wiring: quotes the start of the top sources and
cites them, streaming word by word."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from generation.prompts import NO_ANSWER, source_marker
from generation.streaming import word_chunks
from retrieval.types import Hit


class FakeGenerator:
    """Answers `"<first words of source 1> [S1]. <first words of source 2> [S2]."` over
    the first `max_sources` hits; with no hits it says it cannot find the answer."""

    name = "fake"
    reads_frames = False

    def __init__(self, max_sources: int = 2, words_per_source: int = 12) -> None:
        self.max_sources = max_sources
        self.words_per_source = words_per_source

    def compose(self, question: str, hits: Sequence[Hit]) -> str:
        """The whole answer text (what `stream` yields, joined)."""
        sentences: list[str] = []
        for index, hit in enumerate(hits[: self.max_sources], start=1):
            words = hit.unit.text.split()[: self.words_per_source] or [hit.unit.label]
            sentences.append(f"{' '.join(words).rstrip('.')} {source_marker(index)}.")
        return " ".join(sentences) if sentences else NO_ANSWER

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        """The answer word by word."""
        yield from word_chunks(self.compose(question, hits))
