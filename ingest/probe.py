"""What a video file holds (duration, frame rate, size, audio), checked before any work.

Probing uses PyAV (installed with faster-whisper): it reads the container header, decodes
the first frame, and demuxes the last GOP so that a truncated file is caught here rather
than halfway through ingestion.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from ingest.errors import CorruptFile

log = logging.getLogger(__name__)

# How many packets to try before deciding that the first frame cannot be decoded: a few
# broken slices at the start (asl-book.mkv has one) must not fail the file.
_MAX_PACKETS_FOR_FIRST_FRAME = 120
# A video whose packets stop this far short of the declared duration is truncated.
_TRUNCATION_MIN_S = 1.0
_TRUNCATION_FRACTION = 0.02


@dataclass(frozen=True, slots=True)
class VideoInfo:
    """Facts about one video file. `duration_s` is where the video frames really end."""

    path: Path
    duration_s: float
    fps: float
    n_frames: int
    width: int
    height: int
    has_audio: bool


def probe_video(path: Path) -> VideoInfo:
    """Read the facts of `path`; raise CorruptFile (naming the file and the reason) when it
    is not a readable video: no container, no video stream, nothing decodable, truncated."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as err:
        raise CorruptFile(path, f"cannot open as a video container ({_reason(err)})") from err
    with container:
        found = video_stream(container)
        if found is None:
            kinds = sorted({str(s.type) for s in container.streams if s.type != "video"})
            if container.streams.video:
                kinds.append("cover picture")
            raise CorruptFile(path, f"no video stream (streams: {', '.join(kinds) or 'none'})")
        stream = found
        has_audio = bool(container.streams.audio)
        fps = _frame_rate(stream)
        declared = _declared_duration(container, stream)
        declared_frames = stream.frames
        width, height = stream.codec_context.width, stream.codec_context.height
        _check_first_frame(path, container, stream)
    end_s = _media_end(path, declared)
    if (
        declared is not None
        and end_s.video < declared - max(_TRUNCATION_MIN_S, _TRUNCATION_FRACTION * declared)
        and end_s.any_stream < declared - _TRUNCATION_MIN_S
    ):
        raise CorruptFile(
            path, f"truncated: data ends at {end_s.any_stream:.1f} s of a declared {declared:.1f} s"
        )
    duration = end_s.video if end_s.video > 0 else (declared or 0.0)
    if duration <= 0:
        raise CorruptFile(path, "video stream has no duration")
    n_frames = declared_frames if declared_frames > 0 else max(1, round(duration * fps))
    if width <= 0 or height <= 0:
        raise CorruptFile(path, "video stream has no frame size")
    return VideoInfo(path, duration, fps, n_frames, width, height, has_audio)


def has_audio_stream(path: Path) -> bool:
    """Whether `path` opens as a media file with at least one audio stream."""
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.error.FFmpegError, OSError) as err:
        raise CorruptFile(path, f"cannot open as a media container ({_reason(err)})") from err


@dataclass(frozen=True, slots=True)
class _MediaEnd:
    video: float  # end time of the last video packet
    any_stream: float  # end time of the last packet of any stream


def video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream | None:
    """The first moving-picture stream; a cover image (an "attached picture" of an audio
    file) does not count."""
    for stream in container.streams.video:
        if not stream.disposition & av.stream.Disposition.attached_pic:
            return stream
    return None


def time_base(stream: av.stream.Stream) -> Fraction:
    """Seconds per tick of a stream's timestamps (1/90000 when the header omits it)."""
    return stream.time_base or Fraction(1, 90_000)


def _reason(err: Exception) -> str:
    return getattr(err, "strerror", None) or str(err) or type(err).__name__


def _frame_rate(stream: av.video.stream.VideoStream) -> float:
    for rate in (stream.average_rate, stream.guessed_rate, stream.base_rate):
        if rate:
            return float(rate)
    return 25.0  # no rate in the header at all: a guess is better than dividing by zero


def _declared_duration(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> float | None:
    # The stream's own duration (mp4 index) excludes a longer audio track; mkv/webm only
    # declare the container's.
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    if container.duration:
        return container.duration / av.time_base
    return None


def _check_first_frame(
    path: Path, container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> None:
    last_error: Exception | None = None
    for n, packet in enumerate(container.demux(stream)):
        if n >= _MAX_PACKETS_FOR_FIRST_FRAME:
            break
        try:
            if packet.decode():
                return
        except av.error.FFmpegError as err:  # a broken slice; later packets may decode
            last_error = err
    detail = f" ({_reason(last_error)})" if last_error else ""
    raise CorruptFile(path, f"no decodable video frame{detail}")


def _media_end(path: Path, declared: float | None) -> _MediaEnd:
    """Demux (no decoding) from the last keyframe before the declared end to the real end."""
    video_end = any_end = 0.0
    start = 0.0
    try:
        with av.open(str(path)) as container:
            video = video_stream(container)
            if video is None:
                return _MediaEnd(0.0, 0.0)
            # Times count from the first video frame, as the frame readers do.
            start = float(video.start_time * time_base(video)) if video.start_time else 0.0
            if declared is not None:
                target = max(0.0, declared - 1.0)
                try:
                    container.seek(int(target / time_base(video)), stream=video, backward=True)
                except av.error.FFmpegError:
                    container.seek(0)
            for packet in container.demux():
                if packet.pts is None or packet.time_base is None:
                    continue
                end = float((packet.pts + (packet.duration or 0)) * Fraction(packet.time_base))
                any_end = max(any_end, end - start)
                if packet.stream.index == video.index:
                    video_end = max(video_end, end - start)
    except av.error.FFmpegError as err:
        # Demux errors at the tail mean missing data: report what was found so far.
        log.debug("%s: demux stopped early: %s", path.name, err)
    return _MediaEnd(video_end, any_end)
