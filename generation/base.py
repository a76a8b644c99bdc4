"""The Generator protocol: stream an answer to a question from retrieved hits."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol, runtime_checkable

from retrieval.types import Hit


@runtime_checkable
class Generator(Protocol):
    """Streams answer text that cites sources as [S1], [S2], ... (1-based hit indices).

    An implementation may set `reads_frames = True` when it sees the clips' frames (a VLM):
    then questions asking *when* something happens in a video reach it instead of getting
    the closest clips listed (generation.answer.Route.LOCATE)."""

    name: str

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]: ...


def generate(generator: Generator, question: str, hits: Sequence[Hit]) -> str:
    """The whole answer at once (non-streaming helper)."""
    return "".join(generator.stream(question, hits))
