"""A fast, lossless PNG encoder for page screenshots.

MuPDF's PNG writer compresses at zlib's default level with per-row filters: ~100 ms of CPU
for a 1191x1406 page, three times the rendering itself. zlib level 1 without filters gives
files of the same size (+1% on corpus pages) in ~45 ms. The pixels are identical; any PNG
reader opens the result.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOR_TYPE = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA
ZLIB_LEVEL = 1


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def encode_png(samples: bytes, width: int, height: int, channels: int) -> bytes:
    """8-bit interleaved pixels (rows top to bottom, no padding) -> PNG bytes."""
    if channels not in _COLOR_TYPE:
        raise ValueError(
            f"PNG: {channels} channels per pixel is not grey/RGB with or without alpha"
        )
    stride = width * channels
    if len(samples) != stride * height:
        raise ValueError(f"PNG: {len(samples)} bytes of samples for {width}x{height}x{channels}")
    rows = np.zeros((height, stride + 1), dtype=np.uint8)  # column 0: filter type 0 (none)
    rows[:, 1:] = np.frombuffer(samples, dtype=np.uint8).reshape(height, stride)
    header = struct.pack(">IIBBBBB", width, height, 8, _COLOR_TYPE[channels], 0, 0, 0)
    return b"".join(
        (
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(rows.tobytes(), ZLIB_LEVEL)),
            _chunk(b"IEND", b""),
        )
    )
