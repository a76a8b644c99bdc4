"""Tiny videos made with ffmpeg for the video and ASR tests. Nothing here reads the corpus.

The ramp video encodes time in the picture: frame N is grey level 4*N, so a test can tell
which frame a reader returned from the pixel values alone.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.paths import CORPUS

FFMPEG = shutil.which("ffmpeg")
ESPEAK = shutil.which("espeak-ng")
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
CORPUS_VIDEO = CORPUS / "video"

requires_ffmpeg = pytest.mark.skipif(FFMPEG is None, reason="ffmpeg is not installed")

RAMP_FPS = 5
RAMP_SECONDS = 12.0
RAMP_STEP = 4  # grey levels per frame: frame N has level 4*N
# 128 px rows (384 bytes) need no padding at any SIMD row alignment, so every decoder on
# every CPU copies them as they are; odd sizes have their own tests (ODD_SIZES).
RAMP_SIZE = (128, 64)
# Sizes where decoders have been seen to fail: decord2 3.4.0 cannot copy 96x64 frames on
# some AMD EPYC builds and 1x1 or 2x2 frames on others ("from_size == to_size").
ODD_SIZES = [(96, 64), (98, 50), (1, 1)]

# Encoders per container: h264 for the ISO family and Matroska, VP8 for WebM.
_CODECS = {
    ".mp4": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    ".mov": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    ".mkv": ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac"],
    ".webm": ["-c:v", "libvpx", "-b:v", "300k", "-c:a", "libopus"],
}


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; raise if it fails."""
    assert FFMPEG is not None
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def ramp_grey(frame_index: int) -> int:
    """The grey level of frame N of the ramp video."""
    return RAMP_STEP * frame_index


def make_ramp_video(
    path: Path,
    audio: str | None = None,
    seconds: float = RAMP_SECONDS,
    size: tuple[int, int] = RAMP_SIZE,
) -> Path:
    """A grey ramp of `size` (width, height) at 5 fps, keyframe every 2 s. `audio`: None,
    "sine" (a 440 Hz tone: sound but no speech) or a path to a sound file to lay under the
    picture. Odd sizes are encoded 4:4:4 (4:2:0 needs even sides)."""
    frames = round(seconds * RAMP_FPS)
    width, height = size
    # lavfi's color source refuses sides below 2: make 2x2 and scale down
    source = f"{max(width, 2)}x{max(height, 2)}"
    video = (
        f"color=c=black:s={source}:r={RAMP_FPS}:d={seconds},format=rgb24,"
        f"geq=r='{RAMP_STEP}*N':g='{RAMP_STEP}*N':b='{RAMP_STEP}*N',scale={width}:{height}"
    )
    args = ["-f", "lavfi", "-i", video]
    if audio == "sine":
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    elif audio is not None:
        args += ["-i", audio, "-af", f"apad=whole_dur={seconds}"]
    args += ["-frames:v", str(frames), "-g", str(2 * RAMP_FPS), *_CODECS[path.suffix]]
    if width % 2 or height % 2:
        args += ["-pix_fmt", "yuv444p"]
    if audio is None:
        args.append("-an")
    ffmpeg(*args, "-t", str(seconds), str(path))
    return path


def make_text_video(path: Path, words: Sequence[str], seconds_per_word: float = 4.0) -> Path:
    """A 320x240 video of black words on white, one after another, each shown for
    `seconds_per_word`, with a moving square so that frames differ."""
    draws = [
        f"drawtext=fontfile={FONT}:text={word}:fontsize=44:fontcolor=black:"
        f"x=(w-tw)/2:y=(h-th)/2:enable='between(t,{i * seconds_per_word},"
        f"{(i + 1) * seconds_per_word - 0.001})'"
        for i, word in enumerate(words)
    ]
    seconds = seconds_per_word * len(words)
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=white:s=320x240:r=10:d={seconds}",
        "-vf", ",".join(["drawbox=x=t*20:y=10:w=20:h=20:color=red:t=fill", *draws]),
        *_CODECS[path.suffix], "-an", str(path),
    )  # fmt: skip
    return path


def make_speech_wav(path: Path, sentence: str) -> Path:
    """`sentence` spoken by espeak-ng (skips the test when it is not installed)."""
    if ESPEAK is None:
        pytest.skip("espeak-ng is not installed")
    subprocess.run([ESPEAK, "-v", "en-us", "-s", "140", "-w", str(path), sentence], check=True)
    return path


def make_speech_video(path: Path, sentence: str, delay_s: float, seconds: float) -> Path:
    """A grey video with `sentence` spoken from `delay_s` seconds on."""
    wav = make_speech_wav(path.with_suffix(".wav"), sentence)
    ms = round(delay_s * 1000)
    ffmpeg(
        "-f", "lavfi", "-i", f"color=c=gray:s=96x64:r=5:d={seconds}",
        "-i", str(wav), "-af", f"adelay={ms}:all=1,apad=whole_dur={seconds}",
        *_CODECS[".mp4"], "-t", str(seconds), str(path),
    )  # fmt: skip
    return path


def truncate(src: Path, dst: Path, keep_fraction: float) -> Path:
    """The first `keep_fraction` of the bytes of `src`, as a cut-off download would be."""
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep_fraction)])
    return dst


def faststart(src: Path, dst: Path) -> Path:
    """`src` remuxed with the index (moov) before the data, as streaming files are."""
    ffmpeg("-i", str(src), "-c", "copy", "-movflags", "+faststart", str(dst))
    return dst


def scramble_media_data(src: Path, dst: Path) -> Path:
    """`src` (a faststart mp4) with the bytes of its media data replaced by noise: the
    container opens, nothing decodes."""
    data = bytearray(src.read_bytes())
    start = data.find(b"mdat") + 8
    assert start > 8, "no mdat box"
    noise = bytes((i * 7919 + 13) % 251 for i in range(len(data) - start))
    data[start:] = noise
    dst.write_bytes(bytes(data))
    return dst


def audio_only(src: Path, dst: Path) -> Path:
    """The audio track of `src` alone (an .m4a: an mp4 without a video stream)."""
    ffmpeg("-i", str(src), "-vn", "-c", "copy", str(dst))
    return dst


def audio_with_cover(src: Path, dst: Path) -> Path:
    """The audio track of `src` with a still cover picture, as music files carry."""
    cover = dst.with_suffix(".png")
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x64", "-frames:v", "1", str(cover))
    ffmpeg(
        "-i", str(src), "-i", str(cover), "-map", "0:a", "-map", "1",
        "-c", "copy", "-disposition:v", "attached_pic", str(dst),
    )  # fmt: skip
    return dst
