"""ingest.colour: when a page counts as coloured, and which channel OCR reads."""

from __future__ import annotations

import numpy as np
import pymupdf
import pytest

from ingest.colour import clearest_channel, has_colour, ink_contrast, rgb_rows

BLUE_BAND = (141, 180, 226)  # scanned-table-multirow.pdf's header fill


def _page(block: tuple[int, int, int], side: int) -> np.ndarray:
    """A 200 x 200 white RGB page with black text rows and a `side`-pixel square block."""
    image = np.full((200, 200, 3), 255, dtype=np.uint8)
    image[10 : 10 + side, 10 : 10 + side] = block
    image[150:156, 20:180] = 0  # a line of "ink"
    return image


def test_a_page_has_colour_only_over_a_share_of_its_pixels() -> None:
    assert has_colour(_page(BLUE_BAND, 60))  # 9% of the page
    assert not has_colour(_page(BLUE_BAND, 10))  # a small logo: 0.25%
    assert not has_colour(_page((150, 150, 150), 60))  # grey is not colour
    assert not has_colour(np.zeros((0, 0, 3), dtype=np.uint8))
    assert not has_colour(np.zeros((10, 10), dtype=np.uint8))  # already grey


def test_rgb_rows_views_a_pixmap() -> None:
    page = pymupdf.open().new_page(width=30, height=20)
    page.draw_rect(pymupdf.Rect(0, 0, 30, 10), color=None, fill=(0, 0, 1))
    pix = page.get_pixmap(dpi=72)
    rows = rgb_rows(pix.samples, pix.width, pix.height, pix.n)
    assert rows.shape == (20, 30, 3)
    assert tuple(rows[2, 2]) == (0, 0, 255) and tuple(rows[15, 2]) == (255, 255, 255)
    assert has_colour(rows)


def test_ink_contrast_is_one_for_black_on_white_and_zero_for_flat() -> None:
    two_levels = np.array([0] * 50 + [255] * 50, dtype=np.uint8)
    assert ink_contrast(two_levels) == pytest.approx(1.0)
    assert ink_contrast(np.full(100, 128, dtype=np.uint8)) == 0.0
    faint = np.array([220] * 50 + [255] * 50, dtype=np.uint8)  # splits perfectly, but faint
    assert ink_contrast(faint) == pytest.approx(35 / 255)
    three_levels = np.array([0] * 10 + [141] * 45 + [255] * 45, dtype=np.uint8)
    assert 0.3 < ink_contrast(three_levels) < 1.0


def test_black_on_a_blue_band_is_read_from_the_blue_channel() -> None:
    image = _page(BLUE_BAND, 100)
    image[40:46, 20:100] = 0  # ink on the band
    grey = clearest_channel(image)
    assert grey.shape == (200, 200) and grey.flags["C_CONTIGUOUS"]
    assert np.array_equal(grey, image[:, :, 2])  # blue: the band (226) is nearly paper
    # Red ink on white is clearest in green or blue, where it is dark.
    red = np.full((100, 100, 3), 255, dtype=np.uint8)
    red[40:60, 10:90] = (220, 20, 20)
    assert clearest_channel(red)[50, 50] == 20
