"""Read the frames shown at given times of a video: decord first, PyAV when decord fails.

Only the requested frames are decoded (decord `get_batch`, PyAV seeks), so memory stays at
a few frames whatever the length of the video.
"""

from __future__ import annotations

import bisect
import io
import logging
import math
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol

import av
import av.error
import numpy as np
from PIL import Image

from ingest.errors import CorruptFile
from ingest.probe import time_base, video_stream

log = logging.getLogger(__name__)

BackendName = Literal["decord", "pyav"]


class FrameBackend(Protocol):
    """One decoder: the frames shown at `times_s` (seconds from the first frame), RGB."""

    name: BackendName

    def read(self, times_s: Sequence[float]) -> list[Image.Image]: ...

    def close(self) -> None: ...


class DecordBackend:
    """decord (package decord2): an index of frame timestamps, then `get_batch`."""

    name: BackendName = "decord"

    def __init__(self, path: Path) -> None:
        import decord  # a native extension: imported only when a video is read

        # num_threads=0: FFmpeg picks (cores + 1), so HD video decodes in parallel.
        self._reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=0)
        n = len(self._reader)
        if n == 0:
            raise RuntimeError("decord found no frames")
        # (n, 2): start and end second of every frame, from the container index.
        self._starts = np.asarray(self._reader.get_frame_timestamp(range(n)))[:, 0]

    def read(self, times_s: Sequence[float]) -> list[Image.Image]:
        """The frames shown at `times_s`: the last frame starting at or before each time."""
        positions = np.searchsorted(self._starts, np.asarray(times_s, dtype=np.float64), "right")
        indices = np.clip(positions - 1, 0, len(self._starts) - 1).tolist()
        batch = self._reader.get_batch(indices).asnumpy()  # (k, height, width, 3) uint8
        return [Image.fromarray(frame) for frame in batch]

    def close(self) -> None:
        """Release the decoder."""
        del self._reader


class PyAVBackend:
    """PyAV (FFmpeg): decode forward, seeking only when a keyframe lies before the target."""

    name: BackendName = "pyav"

    def __init__(self, path: Path) -> None:
        self._keyframes = self._index_keyframes(path)
        self._container = av.open(str(path))
        stream = video_stream(self._container)
        if stream is None:
            self._container.close()
            raise RuntimeError("no video stream")
        self._stream = stream
        self._stream.thread_type = "AUTO"
        base = self._stream.start_time
        self._start_s = float(base * time_base(self._stream)) if base else 0.0
        self._frames: Iterator[av.VideoFrame] | None = None
        self._current: av.VideoFrame | None = None
        self._ahead: av.VideoFrame | None = None  # decoded, not yet shown

    @staticmethod
    def _index_keyframes(path: Path) -> list[float]:
        """Keyframe times, from demuxing alone (no decoding): a seek pays off only when a
        keyframe lies between the frame shown and the target."""
        with av.open(str(path)) as container:
            stream = video_stream(container)
            if stream is None:
                raise RuntimeError("no video stream")
            base = stream.start_time or 0
            return sorted(
                float((packet.pts - base) * time_base(stream))
                for packet in container.demux(stream)
                if packet.is_keyframe and packet.pts is not None
            )

    def read(self, times_s: Sequence[float]) -> list[Image.Image]:
        """The frames shown at `times_s`; each is the last frame starting at or before it."""
        # (height, width, 3) uint8 arrays; to_image() is the same but untyped
        return [Image.fromarray(self._frame_at(t).to_ndarray(format="rgb24")) for t in times_s]

    def close(self) -> None:
        """Close the container."""
        self._container.close()

    def _time(self, frame: av.VideoFrame) -> float:
        return (frame.time or 0.0) - self._start_s

    def _seek(self, t: float) -> None:
        target = int((t + self._start_s) / time_base(self._stream))
        self._container.seek(target, stream=self._stream, backward=True)
        self._frames = self._container.decode(self._stream)
        self._current = self._ahead = None

    def _keyframe_between(self, after: float, until: float) -> bool:
        i = bisect.bisect_right(self._keyframes, after)
        return i < len(self._keyframes) and self._keyframes[i] <= until

    def _next(self) -> av.VideoFrame | None:
        if self._ahead is None and self._frames is not None:
            self._ahead = next(self._frames, None)
        return self._ahead

    def _frame_at(self, t: float) -> av.VideoFrame:
        shown = self._current
        if shown is None or t < self._time(shown) or self._keyframe_between(self._time(shown), t):
            self._seek(t)
        while (ahead := self._next()) is not None and (
            self._current is None or self._time(ahead) <= t
        ):
            self._current, self._ahead = ahead, None
        if self._current is None:
            raise RuntimeError(f"no frame at {t:.2f} s")
        return self._current


class FrameReader:
    """Frames of one video at chosen times. Tries the backends in order and stays on the
    first that works; a failure while reading moves on to the next one."""

    def __init__(self, path: Path, backends: Sequence[BackendName] = ("decord", "pyav")) -> None:
        self.path = path
        self._pending = list(backends)
        self._backend: FrameBackend | None = None
        self._errors: list[str] = []

    @property
    def backend(self) -> BackendName | None:
        """The backend in use, once a read has happened."""
        return self._backend.name if self._backend else None

    def read(self, times_s: Sequence[float]) -> list[Image.Image]:
        """RGB frames shown at `times_s` (seconds from the first frame), in the given order.
        Raises CorruptFile naming the file when no backend can decode them."""
        while True:
            if self._backend is None:
                self._backend = self._open_next()
            try:
                return self._backend.read(times_s)
            except (RuntimeError, av.error.FFmpegError, MemoryError) as err:
                # decord raises DECORDError, a RuntimeError subclass
                self._fail(self._backend.name, err)
                self._backend.close()
                self._backend = None

    def close(self) -> None:
        """Release the decoder in use."""
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _open_next(self) -> FrameBackend:
        while self._pending:
            name = self._pending.pop(0)
            try:
                return DecordBackend(self.path) if name == "decord" else PyAVBackend(self.path)
            except (RuntimeError, av.error.FFmpegError, OSError) as err:
                self._fail(name, err)
        raise CorruptFile(self.path, "cannot decode frames: " + "; ".join(self._errors))

    def _fail(self, name: str, err: BaseException) -> None:
        first_line = (str(err).strip().splitlines() or [type(err).__name__])[-1]
        self._errors.append(f"{name}: {first_line[:200]}")
        log.warning("%s: %s could not read frames (%s)", self.path.name, name, first_line[:200])


def fit_to_pixels(image: Image.Image, max_pixels: int) -> Image.Image:
    """`image` scaled down (aspect kept) so that width*height <= max_pixels; never enlarged."""
    width, height = image.size
    if width * height <= max_pixels:
        return image
    scale = math.sqrt(max_pixels / (width * height))
    size = (max(1, math.floor(width * scale)), max(1, math.floor(height * scale)))
    return image.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)


def encode_jpeg(image: Image.Image, quality: int = 85) -> bytes:
    """JPEG bytes of an RGB image."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
