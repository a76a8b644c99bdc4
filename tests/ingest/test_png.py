"""ingest.png: lossless, readable by PIL and PyMuPDF, for every channel layout."""

from __future__ import annotations

import io

import numpy as np
import pymupdf
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from ingest.png import encode_png


@given(
    width=st.integers(1, 40),
    height=st.integers(1, 40),
    channels=st.sampled_from([1, 2, 3, 4]),
    seed=st.integers(0, 2**32 - 1),
)
def test_pixels_survive_the_round_trip(width: int, height: int, channels: int, seed: int) -> None:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, channels), np.uint8)
    image = Image.open(io.BytesIO(encode_png(pixels.tobytes(), width, height, channels)))
    decoded = np.asarray(image).reshape(height, width, channels)
    assert np.array_equal(decoded, pixels)


def test_a_rendered_page_matches_mupdfs_own_png() -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=200, height=120)
    page.insert_text((20, 60), "Remote locking is disabled after 15 minutes.", fontsize=9)
    pix = page.get_pixmap(dpi=144, alpha=False)
    ours = np.asarray(Image.open(io.BytesIO(encode_png(pix.samples, pix.width, pix.height, pix.n))))
    theirs = np.asarray(Image.open(io.BytesIO(pix.tobytes("png"))))
    assert np.array_equal(ours, theirs)
    assert pymupdf.Pixmap(encode_png(pix.samples, pix.width, pix.height, pix.n)).width == pix.width


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="channels"):
        encode_png(b"\0" * 10, 5, 2, 5)
    with pytest.raises(ValueError, match="bytes of samples"):
        encode_png(b"\0" * 10, 5, 2, 3)
