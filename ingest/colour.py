"""Which grey image OCR reads from a page in colour.

MuPDF's grey render mixes the channels by luminance, and tesseract then thresholds the
whole page once: scanned-table-multirow.pdf's header row, black type on a mid-blue band,
became one dark block and the header and digit cells were lost. Given the colour render,
tesseract reads them, but takes about twice as long (it thresholds every channel). Here
the page is read from its single clearest channel instead: the one whose histogram splits
best into two distant classes, ink and paper (`ink_contrast`). For black on blue that is
the blue channel, where the band is nearly as light as the paper; for red ink, green.

Only pages with colour take this path (`has_colour`); of the corpus' 27 OCR pages, one.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

# A page has colour when at least COLOUR_SHARE of its pixels have channels more than
# COLOUR_SPREAD apart. The corpus' grey scans are at most 0.7% coloured (stray tints).
COLOUR_SPREAD = 40
COLOUR_SHARE = 0.01


def rgb_rows(samples: bytes, width: int, height: int, channels: int) -> NDArray[np.uint8]:
    """A pixmap's samples as a (height, width, channels) view (no copy)."""
    return np.frombuffer(samples, dtype=np.uint8).reshape(height, width, channels)


def has_colour(rgb: NDArray[np.uint8]) -> bool:
    """Whether at least COLOUR_SHARE of an (h, w, 3+) image's pixels are coloured (every
    4th row and column is looked at: a few ms for a page render)."""
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.size == 0:
        return False
    sample = rgb[::4, ::4, :3]
    spread = sample.max(axis=2).astype(np.int16) - sample.min(axis=2)
    return bool((spread > COLOUR_SPREAD).mean() >= COLOUR_SHARE)


def ink_contrast(channel: NDArray[np.uint8]) -> float:
    """How well one threshold splits the channel into two distant classes (ink, paper):
    Otsu's between-class share of the variance times the distance of the two classes'
    means (/255). 0.0 for a flat channel; near 1.0 for black ink on white paper. The
    distance matters: two levels always split perfectly, however faint one is."""
    counts = np.bincount(channel.ravel(), minlength=256).astype(np.float64)
    total = counts.sum()
    levels = np.arange(256, dtype=np.float64)
    mean = (counts * levels).sum() / total
    variance = (counts * (levels - mean) ** 2).sum() / total
    if variance <= 0:
        return 0.0
    below = np.cumsum(counts) / total  # weight of the class at or under each threshold
    below_sum = np.cumsum(counts * levels) / total
    above = 1.0 - below
    valid = (below > 1e-12) & (above > 1e-12)
    between = np.zeros(256)
    between[valid] = (mean * below[valid] - below_sum[valid]) ** 2 / (below[valid] * above[valid])
    t = int(np.argmax(between))
    dark = below_sum[t] / below[t]
    light = (mean - below_sum[t]) / above[t]
    return float(between[t] / variance * (light - dark) / 255.0)


def clearest_channel(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """The (h, w) channel of an (h, w, 3+) image that separates ink from paper best
    (`ink_contrast`, judged on every 4th row and column)."""
    scores = [ink_contrast(rgb[::4, ::4, c]) for c in range(3)]
    return np.ascontiguousarray(rgb[:, :, int(np.argmax(scores))])
