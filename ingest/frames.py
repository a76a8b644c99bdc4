"""Read the frames shown at given times of a video: decord first, PyAV when decord fails.

Only the requested frames are decoded (decord `get_batch`, PyAV seeks), so memory stays at
a few frames whatever the length of the video.

Any failure of a backend (an exception of any class at open or at read, or frames that are
not the stream's size) moves on to the next backend: decoders fail in CPU- and
build-specific ways (decord2 3.4.0 cannot copy the frames of some sizes on some CPUs, and
its DECORDError is a bare `Exception`), and PyAV can read what decord cannot.
"""

from __future__ import annotations

import bisect
import io
import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol

import av
import numpy as np
from PIL import Image

from ingest.errors import CorruptFile
from ingest.probe import time_base, video_stream

log = logging.getLogger(__name__)


class FrameBackend(Protocol):
    """One open decoder: the frames shown at `times_s` (seconds from the first frame), RGB."""

    def read(self, times_s: Sequence[float]) -> list[Image.Image]: ...

    def close(self) -> None: ...


class DecordBackend:
    """decord (package decord2): an index of frame timestamps, then `get_batch`."""

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


@dataclass(frozen=True, slots=True)
class Backend:
    """A decoder by name: `open(path)` gives a FrameBackend or raises."""

    name: str
    open: Callable[[Path], FrameBackend]


DECORD = Backend("decord", DecordBackend)
PYAV = Backend("pyav", PyAVBackend)
DEFAULT_BACKENDS: tuple[Backend, ...] = (DECORD, PYAV)


class FrameReader:
    """Frames of one video at chosen times. Tries the backends in order and stays on the
    first that works; a failure while reading moves on to the next one.

    `size` is the stream's (width, height) as probed; a backend whose frames have another
    size has failed (a decoder that copies rows with the wrong stride gives such frames).
    """

    def __init__(
        self,
        path: Path,
        backends: Sequence[Backend] = DEFAULT_BACKENDS,
        size: tuple[int, int] | None = None,
    ) -> None:
        self.path = path
        self.size = size
        self._pending = list(backends)
        self._backend: FrameBackend | None = None
        self._name: str | None = None
        self._errors: list[str] = []

    @property
    def backend(self) -> str | None:
        """The name of the backend in use, once a read has happened."""
        return self._name if self._backend is not None else None

    def read(self, times_s: Sequence[float]) -> list[Image.Image]:
        """RGB frames shown at `times_s` (seconds from the first frame), in the given order.
        Raises CorruptFile naming the file and every backend's failure when none can
        decode them."""
        while True:
            if self._backend is None:
                self._backend, self._name = self._open_next()
            try:
                frames = self._backend.read(times_s)
                self._check(frames, len(times_s))
                return frames
            # Any exception: decoders raise their own classes (DECORDError is an Exception,
            # not a RuntimeError), and the next backend may succeed where this one failed.
            except Exception as err:
                self._fail(self._name or "?", err)
                self._close_backend()

    def close(self) -> None:
        """Release the decoder in use."""
        self._close_backend()

    def __enter__(self) -> FrameReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _check(self, frames: Sequence[Image.Image], expected: int) -> None:
        if len(frames) != expected:
            raise ValueError(f"{len(frames)} frames for {expected} times")
        wrong = [f.size for f in frames if self.size is not None and f.size != self.size]
        if wrong:
            raise ValueError(f"frame size {wrong[0]} is not the stream's {self.size}")

    def _open_next(self) -> tuple[FrameBackend, str]:
        while self._pending:
            backend = self._pending.pop(0)
            try:
                return backend.open(self.path), backend.name
            except Exception as err:  # as in read(): any failure tries the next
                self._fail(backend.name, err)
        raise CorruptFile(self.path, "cannot decode frames: " + "; ".join(self._errors))

    def _close_backend(self) -> None:
        backend, self._backend = self._backend, None
        if backend is not None:
            try:
                backend.close()
            except Exception as err:  # a failed decoder may fail to close too
                log.debug("%s: closing %s failed (%s)", self.path.name, self._name, err)

    def _fail(self, name: str, err: BaseException) -> None:
        lines = str(err).strip().splitlines()
        reason = f"{type(err).__name__}: {lines[-1]}" if lines else type(err).__name__
        self._errors.append(f"{name}: {reason[:200]}")
        log.warning("%s: %s could not read frames (%s)", self.path.name, name, reason[:200])


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
