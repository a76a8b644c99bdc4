"""Prompt building: source labels, truncation, image budget and sizes, both wire formats."""

from __future__ import annotations

import base64
import io
import logging
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from PIL import Image

from generation.config import GenerationSettings
from generation.prompts import (
    NO_ANSWER,
    SYSTEM_PROMPT,
    allocate_images,
    build_messages,
    build_prompt,
    build_vlm_messages,
    fit_pixels,
    pick_evenly,
    truncate_text,
)
from tests.support.fixtures_generation import clip_unit, hit, page_unit, write_image


@given(st.lists(st.integers(0, 10), max_size=8), st.integers(0, 30))
def test_allocate_images_respects_budget_and_availability(
    available: list[int], budget: int
) -> None:
    counts = allocate_images(available, budget)
    assert sum(counts) == min(budget, sum(available))
    assert all(0 <= c <= a for c, a in zip(counts, available, strict=True))
    # Round-robin: no source with images goes without one while another has two.
    if any(c >= 2 for c in counts):
        assert all(c >= 1 for c, a in zip(counts, available, strict=True) if a)


def test_allocate_images_prefers_better_ranks() -> None:
    assert allocate_images([4, 1, 4], 3) == [1, 1, 1]
    assert allocate_images([4, 1, 4], 2) == [1, 1, 0]
    assert allocate_images([4, 1, 4], 6) == [3, 1, 2]


def test_pick_evenly() -> None:
    frames = [Path(f"f{i}") for i in range(8)]
    assert pick_evenly(frames, 1) == [Path("f4")]
    assert pick_evenly(frames, 3) == [Path("f0"), Path("f4"), Path("f7")]
    assert pick_evenly(frames, 20) == frames
    assert pick_evenly(frames, 0) == []


@given(st.integers(1, 5000), st.integers(1, 5000), st.integers(784, 4_000_000))
@example(1, 787, 784)
@example(5000, 1, 784)
def test_fit_pixels(width: int, height: int, cap: int) -> None:
    w, h = fit_pixels(width, height, cap)
    if width * height <= cap:
        assert (w, h) == (width, height)
    else:
        assert w * h <= cap and w <= width and h <= height
        # Same aspect ratio, up to the flooring of each side.
        assert w / width == pytest.approx(h / height, abs=1 / min(w, h))


def test_truncate_text() -> None:
    text = "word " * 100
    cut = truncate_text(text, 120)
    assert len(cut) <= 120 and cut.endswith("…") and not cut.endswith(" …")
    assert truncate_text("short", 120) == "short"


@pytest.fixture
def image_hits(tmp_path: Path) -> list:
    page = write_image(tmp_path / "page.png", (1000, 1400))
    frames = [write_image(tmp_path / f"f{i}.jpg", (320, 240), (0, 20 * i, 0)) for i in range(6)]
    return [
        hit(page_unit("manual.pdf", 4, "The hands-free card " * 200, [page]), 0.9),
        hit(clip_unit("demo.mp4", 2, 20.0, 30.0, "the speaker opens the box", frames), 0.7),
        hit(page_unit("empty.pdf", 1, "", []), 0.5),
    ]


def test_openai_messages(image_hits: list) -> None:
    settings = GenerationSettings(max_images=4, image_max_pixels=100_000, max_source_chars=300)
    messages = build_messages("Where is the card?", image_hits, settings)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT and NO_ANSWER in SYSTEM_PROMPT
    parts = messages[1]["content"]
    assert isinstance(parts, list)
    texts = [p["text"] for p in parts if p["type"] == "text"]
    assert texts[0].startswith("[S1] manual.pdf p.4\n") and len(texts[0]) < 350
    assert texts[1].startswith("[S2] demo.mp4 00:20-00:30\n(3 frames")
    assert texts[2].startswith("[S3] empty.pdf p.1\n(no text")
    assert "Where is the card?" in texts[-1]
    kinds = [p["type"] for p in parts]
    # Each source's images follow its text: page, then three frames, none for S3.
    assert kinds == [
        "text",
        "image_url",
        "text",
        "image_url",
        "image_url",
        "image_url",
        "text",
        "text",
    ]
    for part in parts:
        if part["type"] == "image_url":
            raw = base64.b64decode(part["image_url"]["url"].split(",", 1)[1])
            image = Image.open(io.BytesIO(raw))
            assert image.width * image.height <= 100_000


def test_vlm_messages_carry_pil_images(image_hits: list) -> None:
    settings = GenerationSettings(max_images=2, image_max_pixels=50_000)
    messages = build_vlm_messages("q?", image_hits, settings)
    images = [p["image"] for p in messages[1]["content"] if p["type"] == "image"]
    assert len(images) == 2 and all(isinstance(i, Image.Image) for i in images)
    assert all(i.width * i.height <= 50_000 for i in images)
    assert messages[0]["content"][0]["text"] == SYSTEM_PROMPT


def test_no_images_allowed(image_hits: list) -> None:
    prompt = build_prompt("q?", image_hits, GenerationSettings(max_images=0))
    assert prompt.n_images == 0


def test_missing_image_is_skipped_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    hits = [hit(page_unit("gone.pdf", 1, "text", [tmp_path / "missing.png"]), 0.9)]
    with caplog.at_level(logging.WARNING):
        prompt = build_prompt("q?", hits, GenerationSettings())
    assert prompt.n_images == 0 and prompt.sources[0].text == "text"
    assert "gone.pdf p.1" in caplog.text


def test_no_hits() -> None:
    messages = build_messages("q?", [], GenerationSettings())
    texts = [p["text"] for p in messages[1]["content"] if p["type"] == "text"]
    assert "No sources" in texts[0] and "q?" in texts[-1]
