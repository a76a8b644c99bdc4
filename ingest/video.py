"""Video -> clips: fixed windows, K evenly spaced frames each, transcript and keyframe OCR.

`VideoClips` implements the `VideoExtractor` protocol of ingest.pipeline. The audio is
transcribed once for the whole file and each clip takes the segments that overlap it;
frames are decoded per clip, so memory holds one clip's frames at a time.
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PIL import Image

from ingest.clip_text import clean_frame_text, transcript_for
from ingest.config import IngestSettings
from ingest.errors import CorruptFile
from ingest.frame_ocr import confident_lines, ocr_words
from ingest.stages import Stage, StageTimes
from ingest.types import ClipContent

if TYPE_CHECKING:
    from ingest.asr import Segment, Transcriber
    from ingest.probe import VideoInfo

__all__ = [
    "ClipWindow",
    "VideoClips",
    "frame_times",
    "plan_clips",
]

log = logging.getLogger(__name__)

# Tesseract confidence that separates text from texture on video frames (see frame_ocr).
MIN_OCR_CONFIDENCE = 80.0
# Window arithmetic in floating point: a 30.0 s video with 10 s clips is 3 clips, not 4.
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class ClipWindow:
    """The time span of one clip, in seconds from the start of the video."""

    index: int
    start_s: float
    end_s: float

    @property
    def length_s(self) -> float:
        return self.end_s - self.start_s


def plan_clips(duration_s: float, clip_seconds: float, overlap_s: float = 0.0) -> list[ClipWindow]:
    """Cut [0, duration_s] into the fewest equal windows no longer than `clip_seconds`,
    each overlapping the next by `overlap_s`.

    Equal windows instead of full ones plus a remainder: a 30.2 s video with 10 s clips
    gives four 7.6 s clips rather than three 10 s clips and a 0.2 s sliver whose frames
    would repeat one moment. A video no longer than one clip is one clip.
    """
    if clip_seconds <= 0:
        raise ValueError(f"clip_seconds must be > 0, got {clip_seconds}")
    if not 0 <= overlap_s < clip_seconds:
        raise ValueError(f"overlap must be in [0, clip_seconds), got {overlap_s}")
    if duration_s <= 0:
        return []
    step = clip_seconds - overlap_s
    count = max(1, math.ceil((duration_s - overlap_s) / step - _EPS))
    # count windows of length L with step L - overlap cover count*L - (count-1)*overlap.
    length = (duration_s + (count - 1) * overlap_s) / count
    stride = length - overlap_s
    windows = [
        ClipWindow(i, i * stride, min(i * stride + length, duration_s)) for i in range(count)
    ]
    last = windows[-1]
    windows[-1] = ClipWindow(last.index, last.start_s, duration_s)  # no rounding gap at the end
    return windows


def frame_times(window: ClipWindow, k: int) -> list[float]:
    """K sample times in a window: the centres of K equal slices, so frames are evenly
    spaced and none sits on a boundary shared with the neighbouring clip."""
    return [window.start_s + (i + 0.5) * window.length_s / k for i in range(k)]


class VideoClips:
    """The video extractor: clips of a file with JPEG frames, transcript and OCR text.

    `transcriber` None (or `settings.asr_enabled` false) leaves transcripts empty;
    `settings.frame_ocr` false leaves OCR text empty. `ocr_languages` defaults to
    `settings.ocr_languages` (a tesseract `-l` value).
    """

    def __init__(
        self,
        settings: IngestSettings,
        transcriber: Transcriber | None = None,
        ocr_languages: str | None = None,
    ) -> None:
        if settings.clip_overlap_s >= settings.clip_seconds:
            raise ValueError(
                f"clip_overlap_s ({settings.clip_overlap_s}) must be shorter than "
                f"clip_seconds ({settings.clip_seconds})"
            )
        self.settings = settings
        self.transcriber = transcriber if settings.asr_enabled else None
        self.ocr_languages = ocr_languages or settings.ocr_languages

    def probe(self, path: Path) -> VideoInfo:
        """The facts of a video file; CorruptFile when it is not a readable video."""
        from ingest.probe import probe_video  # PyAV: imported on the first video

        return probe_video(path)

    def duration(self, path: Path) -> float:
        """Seconds of video in `path`, after checking it decodes (CorruptFile if not)."""
        return self.probe(path).duration_s

    def count_clips(self, duration_s: float) -> int:
        """How many clips a video of this length gives."""
        return len(self.windows(duration_s))

    def windows(self, duration_s: float) -> list[ClipWindow]:
        """The clip windows of a video of this length under the current settings."""
        return plan_clips(duration_s, self.settings.clip_seconds, self.settings.clip_overlap_s)

    def clips(self, path: Path) -> Iterator[ClipContent]:
        """Clips of `path` in time order. Raises CorruptFile for a broken video and
        ModelUnavailable when a configured model (ASR, OCR) cannot run.

        Keyframe OCR (tesseract, one process per frame) runs on a thread pool while the
        next clips decode; at most `workers + 1` clips wait, so memory stays bounded.
        """
        from ingest.frames import FrameReader, encode_jpeg, fit_to_pixels

        info = self.probe(path)
        asr = StageTimes()  # carried by the first clip
        with asr.measure(Stage.ASR):
            segments = self._transcribe(info)
        k = self.settings.frames_per_clip
        workers = self.settings.workers or os.cpu_count() or 1
        pool = ThreadPoolExecutor(workers, "keyframe-ocr") if self.settings.frame_ocr else None
        pending: deque[_PendingClip] = deque()
        try:
            with FrameReader(path, size=(info.width, info.height)) as reader:
                for window in self.windows(info.duration_s):
                    timings = asr if window.index == 0 else StageTimes()
                    with timings.measure(Stage.FRAMES):
                        images = reader.read(frame_times(window, k))
                        frames = tuple(
                            encode_jpeg(fit_to_pixels(im, self.settings.frame_max_pixels))
                            for im in images
                        )
                    keyframe = images[len(images) // 2]
                    ocr = pool.submit(self._timed_ocr, keyframe) if pool is not None else None
                    pending.append(_PendingClip(window, frames, ocr, timings))
                    if len(pending) > workers:
                        yield pending.popleft().finish(segments)
            while pending:
                yield pending.popleft().finish(segments)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _transcribe(self, info: VideoInfo) -> list[Segment]:
        if self.transcriber is None or not info.has_audio:
            return []
        try:
            return self.transcriber.transcribe(info.path)
        except CorruptFile as err:
            # A broken audio track should not cost the pictures.
            log.warning("%s: ingesting without a transcript: %s", info.path.name, err.reason)
            return []

    def _timed_ocr(self, keyframe: Image.Image) -> tuple[str, float]:
        # Wall only: tesseract children of several threads cannot be told apart.
        started = time.perf_counter()
        return self._ocr(keyframe), time.perf_counter() - started

    def _ocr(self, keyframe: Image.Image) -> str:
        """OCR of a keyframe at full resolution (small text survives), noise removed."""
        from ingest.frames import fit_to_pixels

        words = ocr_words(fit_to_pixels(keyframe, self.settings.ocr_max_pixels), self.ocr_languages)
        return clean_frame_text(confident_lines(words, MIN_OCR_CONFIDENCE))


@dataclass(frozen=True, slots=True)
class _PendingClip:
    """A clip whose frames are ready and whose keyframe OCR may still be running."""

    window: ClipWindow
    frames: tuple[bytes, ...]
    ocr: Future[tuple[str, float]] | None  # text and seconds
    timings: StageTimes

    def finish(self, segments: Sequence[Segment]) -> ClipContent:
        ocr_text = ""
        if self.ocr is not None:
            ocr_text, seconds = self.ocr.result()
            self.timings.add(Stage.KEYFRAME_OCR, seconds)
        return ClipContent(
            index=self.window.index,
            start_s=self.window.start_s,
            end_s=self.window.end_s,
            frames=self.frames,
            transcript=transcript_for(segments, self.window.start_s, self.window.end_s),
            ocr_text=ocr_text,
            timings=self.timings,
        )
