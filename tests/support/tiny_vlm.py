"""Session fixtures: tiny random Qwen2-VL / Qwen3-VL checkpoints (2 layers, hidden 64, a
2-block vision tower, a BPE tokenizer trained on the spot) saved to a temporary directory
and loaded through the product's own loading code, plus tiny page and clip units.

The fixtures are registered for every test by tests/conftest.py (`pytest_plugins`): ask for
`tiny_qwen3_vl` by name; import only the unit builders (`make_page_unit`, `make_clip_unit`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ingest.types import Unit, UnitKind, clip_unit_id, page_unit_id
from retrieval.qwen_vl.synthetic import Family, write_checkpoint


def _checkpoint(factory: pytest.TempPathFactory, family: Family) -> Path:
    return write_checkpoint(factory.mktemp(f"tiny-{family}"), family, seed=0)


@pytest.fixture(scope="session")
def tiny_qwen2_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random Qwen2-VL checkpoint (14-pixel patches)."""
    return _checkpoint(tmp_path_factory, "qwen2_vl")


@pytest.fixture(scope="session")
def tiny_qwen3_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random Qwen3-VL checkpoint (16-pixel patches)."""
    return _checkpoint(tmp_path_factory, "qwen3_vl")


@pytest.fixture(scope="session")
def tiny_qwen3_vl_bos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen3-VL checkpoint whose tokenizer prepends a BOS token when asked to add
    special tokens (real Qwen tokenizers do not): shows whether special tokens are added
    as the reference adds them."""
    return write_checkpoint(tmp_path_factory.mktemp("tiny-qwen3_vl-bos"), "qwen3_vl", add_bos=True)


@pytest.fixture(scope="session")
def tiny_qwen2_5_vl(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory of a tiny random Qwen2.5-VL checkpoint (windowed vision attention)."""
    return _checkpoint(tmp_path_factory, "qwen2_5_vl")


def write_image(path: Path, width: int, height: int, seed: int) -> Path:
    """A noisy RGB PNG (different seeds give different images)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def make_page_unit(
    directory: Path,
    page: int = 1,
    text: str = "Whales sing long songs.",
    size: tuple[int, int] = (96, 128),
) -> Unit:
    """A page unit with a `size` (width, height) page image."""
    image = write_image(directory / f"page-{page}.png", *size, seed=page)
    return Unit(
        id=page_unit_id("doc", page),
        doc_id="doc",
        kind=UnitKind.PAGE,
        ordinal=page - 1,
        file_name="report.pdf",
        text=text,
        images=(image,),
        page=page,
        text_source="layer",
    )


def make_clip_unit(
    directory: Path, index: int = 0, frames: int = 3, text: str = "a dog runs on the beach"
) -> Unit:
    """A clip unit with `frames` 64x48 frames."""
    paths = tuple(
        write_image(directory / f"clip-{index}-{i}.png", 64, 48, seed=100 + 10 * index + i)
        for i in range(frames)
    )
    return Unit(
        id=clip_unit_id("vid", index),
        doc_id="vid",
        kind=UnitKind.CLIP,
        ordinal=index,
        file_name="clip.mp4",
        text=text,
        images=paths,
        start_s=10.0 * index,
        end_s=10.0 * index + 10.0,
        text_source="asr",
    )
