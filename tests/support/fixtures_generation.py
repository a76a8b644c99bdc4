"""Hits and units for generation tests, built in memory (images written to tmp dirs)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path

from PIL import Image

from generation.base import Generator
from ingest.types import Unit
from retrieval.types import Hit
from tests.support.fixtures_retrieval import clip as retrieval_clip
from tests.support.fixtures_retrieval import page as retrieval_page

BITCOIN_TEXT = """Bitcoin: A Peer-to-Peer Electronic Cash System
Abstract. A purely peer-to-peer version of electronic cash would allow online
payments to be sent directly from one party to another without going through a
financial institution. Digital signatures provide part of the solution, but the main
benefits are lost if a trusted third party is still required to prevent double-
spending. We propose a solution to the double-spending problem using a peer-to-peer
network."""

CANVAS_TEXT = """Attribute    Type    Default
lineWidth    float    1.0
lineCap    string    butt
lineJoin    string    miter
shadowOffsetX    float    0.0"""

KITCHEN_TRANSCRIPT = (
    "okay so first we chop the onions really fine and then we heat the pan with some olive "
    "oil until it shimmers and after that the onions go in for about five minutes"
)


def page_unit(file_name: str, page: int, text: str, images: Sequence[Path] = ()) -> Unit:
    """A page unit of document `file_name`."""
    return retrieval_page(f"doc-{file_name}", file_name, page, text, tuple(images))


def clip_unit(
    file_name: str, index: int, start_s: float, end_s: float, text: str, frames: Sequence[Path] = ()
) -> Unit:
    """A clip unit of video `file_name`."""
    unit = retrieval_clip(f"doc-{file_name}", file_name, index, text, images=tuple(frames))
    return replace(unit, start_s=start_s, end_s=end_s)


def hit(unit: Unit, score: float) -> Hit:
    """A hit with the same score for both stages (raw rerank included, so the absolute
    evidence of the hit is `score`)."""
    return Hit(unit=unit, score=score, stage1_score=score, rerank_score=score)


def sample_hits(score: float = 0.9) -> list[Hit]:
    """Three hits: the bitcoin abstract (best), a canvas table, a cooking clip."""
    return [
        hit(page_unit("bitcoin.pdf", 1, BITCOIN_TEXT), score),
        hit(page_unit("canvas.pdf", 2, CANVAS_TEXT), score * 0.8),
        hit(clip_unit("kitchen.mp4", 1, 10.0, 20.0, KITCHEN_TRANSCRIPT), score * 0.5),
    ]


def write_image(
    path: Path, size: tuple[int, int], color: tuple[int, int, int] = (200, 30, 30)
) -> Path:
    """Write a solid-colour image (PNG or JPEG by suffix) and return its path."""
    Image.new("RGB", size, color).save(path)
    return path


class CountingGenerator:
    """Wraps a generator and counts how often it was asked to stream."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.name = inner.name
        self.calls = 0

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        self.calls += 1
        return self.inner.stream(question, hits)
