"""Video ingestion: probing, clip windows, frame reading (decord and PyAV), clip text."""

from __future__ import annotations

import io
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from ingest import frames as frames_module
from ingest.asr import FakeTranscriber, Segment
from ingest.clip_text import clean_frame_text, is_word_like, transcript_for
from ingest.config import IngestSettings
from ingest.errors import CorruptFile
from ingest.frame_ocr import OcrWord, confident_lines, parse_tsv
from ingest.frames import DECORD, PYAV, Backend, FrameReader, fit_to_pixels
from ingest.pipeline import Ingestor
from ingest.probe import probe_video
from ingest.store import BlobStore, Registry
from ingest.types import Unit, UnitKind
from ingest.video import ClipWindow, VideoClips, frame_times, plan_clips
from tests.support.fixtures_pdf import RecordingSink
from tests.support.fixtures_video import (
    CORPUS_VIDEO,
    ODD_SIZES,
    RAMP_FPS,
    RAMP_SIZE,
    audio_only,
    audio_with_cover,
    faststart,
    make_ramp_video,
    make_text_video,
    ramp_grey,
    requires_ffmpeg,
    scramble_media_data,
    truncate,
)

TESSERACT = shutil.which("tesseract")


def _settings(**overrides: object) -> IngestSettings:
    base: dict[str, object] = {"frame_ocr": False, "clip_seconds": 4.0, "frames_per_clip": 2}
    return IngestSettings.model_validate(base | overrides)


def _grey(image: Image.Image | bytes) -> float:
    if isinstance(image, bytes):
        image = Image.open(io.BytesIO(image))
    return float(np.asarray(image.convert("L")).mean())


def _frame_index(t: float) -> int:
    """The ramp frame on screen at time t."""
    return math.floor(t * RAMP_FPS + 1e-9)


# -- fixtures: each video is built once per session ---------------------------------------


@pytest.fixture(scope="session")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    root = tmp_path_factory.mktemp("videos")
    for suffix in (".mp4", ".mkv", ".webm", ".mov"):
        make_ramp_video(root / f"ramp{suffix}", audio="sine")
    make_ramp_video(root / "silent.mp4")
    make_ramp_video(root / "short.mp4", seconds=3.6)
    make_text_video(root / "text.mp4", ["KANGAROO"])
    make_text_video(root / "words.mp4", ["ALPHA", "BRAVO", "CHARLIE"], seconds_per_word=3.0)
    return root


# -- plan_clips: pure -----------------------------------------------------------------------


def test_a_video_shorter_than_a_clip_is_one_clip() -> None:
    assert plan_clips(3.7, 10.0, 0.0) == [ClipWindow(0, 0.0, 3.7)]
    assert plan_clips(3.7, 10.0, 2.0) == [ClipWindow(0, 0.0, 3.7)]


def test_exact_multiples_give_full_clips() -> None:
    windows = plan_clips(30.0, 10.0, 0.0)
    assert [(w.start_s, w.end_s) for w in windows] == [(0.0, 10.0), (10.0, 20.0), (20.0, 30.0)]


def test_a_short_remainder_is_spread_over_equal_windows() -> None:
    windows = plan_clips(30.2, 10.0, 0.0)
    assert len(windows) == 4
    lengths = {round(w.length_s, 6) for w in windows}
    assert lengths == {round(30.2 / 4, 6)}


def test_empty_and_invalid_plans() -> None:
    assert plan_clips(0.0, 10.0) == []
    with pytest.raises(ValueError, match="overlap"):
        plan_clips(5.0, 10.0, 10.0)
    with pytest.raises(ValueError, match="clip_seconds"):
        plan_clips(5.0, 0.0)


@given(
    duration=st.floats(0.05, 5000.0, allow_nan=False),
    clip=st.floats(0.5, 120.0, allow_nan=False),
    overlap_share=st.floats(0.0, 0.9),
)
def test_windows_cover_the_video_in_order(
    duration: float, clip: float, overlap_share: float
) -> None:
    overlap = clip * overlap_share
    windows = plan_clips(duration, clip, overlap)
    tol = 1e-6 * max(1.0, duration)
    assert windows[0].start_s == 0.0
    assert windows[-1].end_s == duration
    assert [w.index for w in windows] == list(range(len(windows)))
    for w in windows:
        assert 0 < w.length_s <= clip + tol
    for a, b in zip(windows, windows[1:], strict=False):
        assert a.start_s < b.start_s and a.end_s < b.end_s
        assert b.start_s <= a.end_s + tol  # no gap
        assert abs((a.end_s - b.start_s) - overlap) <= tol  # the configured overlap
    # the fewest windows: one fewer could not cover the video within the clip length
    n = len(windows)
    assert n == 1 or (n - 1) * clip - (n - 2) * overlap < duration + tol


@given(start=st.floats(0.0, 1000.0), length=st.floats(0.01, 60.0), k=st.integers(1, 64))
def test_frame_times_are_evenly_spaced_inside_the_window(
    start: float, length: float, k: int
) -> None:
    window = ClipWindow(0, start, start + length)
    times = frame_times(window, k)
    assert len(times) == k
    assert all(window.start_s < t < window.end_s for t in times)
    gaps = np.diff([window.start_s, *times, window.end_s])
    assert np.allclose(gaps[1:-1], length / k) and np.isclose(gaps[0], length / (2 * k))


# -- probing and bad input ------------------------------------------------------------------


@requires_ffmpeg
@pytest.mark.parametrize("name", ["ramp.mp4", "ramp.mkv", "ramp.webm", "ramp.mov"])
def test_probe_reads_every_container(videos: Path, name: str) -> None:
    info = probe_video(videos / name)
    assert info.duration_s == pytest.approx(12.0, abs=0.05)
    assert info.fps == pytest.approx(RAMP_FPS)
    assert info.n_frames == 60
    assert (info.width, info.height) == RAMP_SIZE
    assert info.has_audio


@requires_ffmpeg
def test_probe_sees_a_missing_audio_stream(videos: Path) -> None:
    assert probe_video(videos / "silent.mp4").has_audio is False


@requires_ffmpeg
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda v, d: truncate(v / "ramp.mp4", d / "cut.mp4", 0.5), "cannot open"),
        (
            lambda v, d: truncate(faststart(v / "ramp.mp4", d / "fs.mp4"), d / "cut.mp4", 0.5),
            "truncated",
        ),
        (lambda v, d: truncate(v / "ramp.mkv", d / "cut.mkv", 0.5), "truncated"),
        (lambda v, d: audio_only(v / "ramp.mp4", d / "cut.m4a"), "no video stream"),
        (lambda v, d: audio_with_cover(v / "ramp.mp4", d / "cut.m4a"), "cover picture"),
        (
            lambda v, d: scramble_media_data(
                faststart(v / "ramp.mp4", d / "fs.mp4"), d / "cut.mp4"
            ),
            "no decodable video frame",
        ),
    ],
    ids=["moov-lost", "tail-cut-mp4", "tail-cut-mkv", "audio-only", "audio-with-cover", "noise"],
)
def test_broken_videos_raise_corrupt_file_naming_the_file(
    videos: Path, tmp_path: Path, make: object, reason: str
) -> None:
    bad = make(videos, tmp_path)  # type: ignore[operator]
    extractor = VideoClips(_settings())
    with pytest.raises(CorruptFile) as caught:
        extractor.duration(bad)
    assert str(caught.value).startswith(f"{bad.name}: ")
    assert reason in caught.value.reason


def test_overlap_not_shorter_than_the_clip_is_refused() -> None:
    with pytest.raises(ValueError, match="clip_overlap_s"):
        VideoClips(_settings(clip_seconds=5.0, clip_overlap_s=5.0))


# -- frame reading ----------------------------------------------------------------------------


@requires_ffmpeg
@pytest.mark.parametrize("backend", [DECORD, PYAV], ids=["decord", "pyav"])
@pytest.mark.parametrize("name", ["ramp.mp4", "ramp.mkv", "ramp.webm", "ramp.mov"])
def test_reader_returns_the_frame_shown_at_each_time(
    videos: Path, name: str, backend: Backend
) -> None:
    # Out of order and across keyframes (every 2 s), so both seeking and decoding forward run.
    # The ramp's size is one every decoder copies on every CPU (see RAMP_SIZE): this tests
    # the backend's timing, not a CPU's decoder bugs (odd sizes are tested below).
    times = [0.1, 1.1, 5.3, 11.9, 3.0, 3.1, 7.65]
    with FrameReader(videos / name, (backend,), size=RAMP_SIZE) as reader:
        frames = reader.read(times)
        assert reader.backend == backend.name
    assert [f.size for f in frames] == [RAMP_SIZE] * len(times)
    expected = [ramp_grey(_frame_index(t)) for t in times]
    assert [_grey(f) for f in frames] == pytest.approx(expected, abs=1.5)


class DecoderCrash(Exception):
    """Not a RuntimeError, as decord's DECORDError is not."""


class BrokenBackend:
    """A decoder that opens, then fails at read in the way `how` says."""

    def __init__(self, how: str) -> None:
        self.how = how
        self.closed = False

    def read(self, times_s: list[float]) -> list[Image.Image]:
        if self.how == "raises":
            raise DecoderCrash("Check failed: from_size == to_size (24576 vs. 18432)")
        if self.how == "wrong-size":  # rows copied with a padded stride
            return [Image.new("RGB", (RAMP_SIZE[0] + 32, RAMP_SIZE[1])) for _ in times_s]
        return []  # "too-few"

    def close(self) -> None:
        self.closed = True


def _cannot_open(path: Path) -> BrokenBackend:
    raise DecoderCrash(f"cannot open {path.name}")


@requires_ffmpeg
@pytest.mark.parametrize("how", ["open", "raises", "wrong-size", "too-few"])
def test_any_failure_of_a_backend_moves_on_to_the_next(videos: Path, how: str) -> None:
    opened: list[BrokenBackend] = []

    def open_broken(path: Path) -> BrokenBackend:
        if how == "open":
            return _cannot_open(path)
        opened.append(BrokenBackend(how))
        return opened[-1]

    with FrameReader(videos / "ramp.mkv", (Backend("broken", open_broken), PYAV), RAMP_SIZE) as r:
        frames = r.read([2.1, 0.1])
        assert r.backend == "pyav"
        assert [_grey(f) for f in r.read([4.1])] == pytest.approx([ramp_grey(20)], abs=1.5)
    assert [_grey(f) for f in frames] == pytest.approx([ramp_grey(10), ramp_grey(0)], abs=1.5)
    assert all(b.closed for b in opened)  # the failed decoder was released


@requires_ffmpeg
@pytest.mark.parametrize("where", ["__init__", "read"])
def test_a_real_decord_error_falls_back_to_pyav(
    videos: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    from decord._ffi.base import DECORDError

    assert not issubclass(DECORDError, RuntimeError)  # why FrameReader catches any Exception

    def broken(*_args: object) -> None:
        raise DECORDError("Check failed: from_size == to_size (24576 vs. 18432)")

    monkeypatch.setattr(frames_module.DecordBackend, where, broken)
    with FrameReader(videos / "ramp.mkv") as reader:
        frame = reader.read([2.1])[0]
        assert reader.backend == "pyav"
    assert _grey(frame) == pytest.approx(ramp_grey(10), abs=1.5)


@requires_ffmpeg
def test_the_file_fails_only_when_every_backend_fails_naming_each(videos: Path) -> None:
    backends = (
        Backend("first", _cannot_open),
        Backend("second", lambda _p: BrokenBackend("wrong-size")),
        Backend("third", lambda _p: BrokenBackend("raises")),
    )
    with FrameReader(videos / "ramp.mp4", backends, RAMP_SIZE) as reader:
        with pytest.raises(CorruptFile) as err:
            reader.read([1.0])
        assert reader.backend is None
    assert str(err.value).startswith("ramp.mp4: cannot decode frames: ")
    reason = err.value.reason
    assert "first: DecoderCrash: cannot open ramp.mp4" in reason
    assert "second: ValueError: frame size (160, 64) is not the stream's (128, 64)" in reason
    assert "third: DecoderCrash: Check failed" in reason


@requires_ffmpeg
def test_reader_names_every_backend_when_none_can_decode(videos: Path, tmp_path: Path) -> None:
    broken = truncate(videos / "ramp.mp4", tmp_path / "broken.mp4", 0.3)  # index lost
    with FrameReader(broken) as reader, pytest.raises(CorruptFile) as err:
        reader.read([1.0])
    assert str(err.value).startswith("broken.mp4: ")
    assert "decord" in err.value.reason and "pyav" in err.value.reason


@pytest.fixture(scope="session")
def odd_videos(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[int, int], Path]:
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg is not installed")
    root = tmp_path_factory.mktemp("odd-videos")
    return {
        size: make_ramp_video(root / f"ramp-{size[0]}x{size[1]}.mp4", seconds=4.0, size=size)
        for size in ODD_SIZES
    }


@requires_ffmpeg
@pytest.mark.parametrize("size", ODD_SIZES, ids=[f"{w}x{h}" for w, h in ODD_SIZES])
def test_reader_reads_odd_sizes_with_whichever_backend_can(
    odd_videos: dict[tuple[int, int], Path], size: tuple[int, int]
) -> None:
    times = [0.1, 2.5, 1.3]
    with FrameReader(odd_videos[size], size=size) as reader:
        frames = reader.read(times)
        assert reader.backend in ("decord", "pyav")
    assert [f.size for f in frames] == [size] * len(times)
    expected = [ramp_grey(_frame_index(t)) for t in times]
    assert [_grey(f) for f in frames] == pytest.approx(expected, abs=2.5)


@requires_ffmpeg
@pytest.mark.parametrize("size", ODD_SIZES, ids=[f"{w}x{h}" for w, h in ODD_SIZES])
def test_odd_sized_videos_ingest_as_clips(
    odd_videos: dict[tuple[int, int], Path], tmp_path: Path, size: tuple[int, int]
) -> None:
    units = _ingest_clips(odd_videos[size], tmp_path)
    assert [(u.start_s, u.end_s) for u in units] == [(0.0, 4.0)]
    stored = [Image.open(p) for p in units[0].images]
    assert [im.size for im in stored] == [size, size]
    expected = [ramp_grey(_frame_index(t)) for t in (1.0, 3.0)]
    assert [_grey(im) for im in stored] == pytest.approx(expected, abs=4)


@requires_ffmpeg
def test_a_video_whose_frames_decord_cannot_copy_ingests_through_pyav(
    videos: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What decord2 3.4.0 does on some CPUs: frames come back, but not of the stream's size.
    def padded_rows(_self: object, times_s: list[float]) -> list[Image.Image]:
        return [Image.new("RGB", (RAMP_SIZE[0] + 32, RAMP_SIZE[1])) for _ in times_s]

    monkeypatch.setattr(frames_module.DecordBackend, "read", padded_rows)
    units = _ingest_clips(videos / "silent.mp4", tmp_path)
    assert len(units) == 3
    for unit in units:
        assert [Image.open(p).size for p in unit.images] == [RAMP_SIZE, RAMP_SIZE]
    times = frame_times(ClipWindow(0, 0.0, 4.0), 2)
    first = [_grey(Image.open(p)) for p in units[0].images]
    assert first == pytest.approx([ramp_grey(_frame_index(t)) for t in times], abs=3)


def _ingest_clips(path: Path, tmp_path: Path) -> list[Unit]:
    """Ingest one video in 4 s clips of 2 frames each; the stored units."""
    settings = _settings()
    blobs = BlobStore(tmp_path / "blobs")
    registry = Registry(tmp_path / "registry.sqlite3", blobs)
    ingestor = Ingestor(
        settings, registry, blobs, pdf=None, video=VideoClips(settings), sink=RecordingSink()
    )  # type: ignore[arg-type]
    result = ingestor.ingest_file(path)
    assert result.status == "ingested", result.error
    assert result.doc_id is not None
    return registry.units(result.doc_id)


@pytest.mark.parametrize(
    ("size", "cap"), [((1920, 1080), 448 * 448), ((300, 200), 448 * 448), ((1000, 40), 1024)]
)
def test_fit_to_pixels_keeps_aspect_under_the_cap(size: tuple[int, int], cap: int) -> None:
    out = fit_to_pixels(Image.new("RGB", size), cap)
    assert out.width * out.height <= cap
    if size[0] * size[1] <= cap:
        assert out.size == size
    else:
        assert out.width / out.height == pytest.approx(size[0] / size[1], rel=0.2)


# -- clips ----------------------------------------------------------------------------------


@requires_ffmpeg
def test_clips_have_evenly_spaced_frames_from_their_window(videos: Path) -> None:
    extractor = VideoClips(_settings(clip_seconds=4.0, frames_per_clip=2))
    path = videos / "silent.mp4"
    clips = list(extractor.clips(path))
    assert extractor.count_clips(extractor.duration(path)) == len(clips) == 3
    assert [(c.index, c.start_s, c.end_s) for c in clips] == [
        (0, 0.0, 4.0),
        (1, 4.0, 8.0),
        (2, 8.0, 12.0),
    ]
    for clip in clips:
        assert len(clip.frames) == 2
        assert all(f[:2] == b"\xff\xd8" for f in clip.frames)  # JPEG
        times = frame_times(ClipWindow(clip.index, clip.start_s, clip.end_s), 2)
        greys = [_grey(f) for f in clip.frames]
        assert greys == pytest.approx([ramp_grey(_frame_index(t)) for t in times], abs=3)
        assert clip.transcript == "" and clip.ocr_text == ""


@requires_ffmpeg
def test_overlapping_clips(videos: Path) -> None:
    extractor = VideoClips(_settings(clip_seconds=5.0, clip_overlap_s=1.0, frames_per_clip=1))
    clips = list(extractor.clips(videos / "silent.mp4"))
    assert len(clips) == extractor.count_clips(12.0) == 3
    for a, b in zip(clips, clips[1:], strict=False):
        assert a.end_s - b.start_s == pytest.approx(1.0)


@requires_ffmpeg
def test_a_short_video_is_one_clip(videos: Path) -> None:
    clips = list(
        VideoClips(_settings(clip_seconds=10.0, frames_per_clip=4)).clips(videos / "short.mp4")
    )
    assert len(clips) == 1
    assert clips[0].end_s == pytest.approx(3.6, abs=0.01)
    assert len({_grey(f) for f in clips[0].frames}) == 4  # four different moments


@requires_ffmpeg
def test_frames_are_shrunk_to_the_pixel_cap(videos: Path) -> None:
    clips = VideoClips(_settings(frame_max_pixels=4096, frames_per_clip=1)).clips(
        videos / "text.mp4"
    )
    image = Image.open(io.BytesIO(next(iter(clips)).frames[0]))
    assert image.width * image.height <= 4096
    assert image.width / image.height == pytest.approx(320 / 240, rel=0.05)


@requires_ffmpeg
def test_transcript_segments_go_to_the_clips_they_overlap(videos: Path) -> None:
    segments = [
        Segment(1.0, 2.0, "alpha"),
        Segment(3.5, 4.5, "bravo"),  # crosses the 4 s boundary: spoken in both clips
        Segment(9.0, 11.0, "charlie"),
    ]
    fake = FakeTranscriber({"ramp.mp4": segments})
    clips = list(VideoClips(_settings(clip_seconds=4.0), fake).clips(videos / "ramp.mp4"))
    assert fake.calls == [videos / "ramp.mp4"]  # the whole file, once
    assert [c.transcript for c in clips] == ["alpha\nbravo", "bravo", "charlie"]
    assert [c.text_source for c in clips] == ["asr", "asr", "asr"]


@requires_ffmpeg
def test_a_video_without_audio_is_not_transcribed(videos: Path) -> None:
    fake = FakeTranscriber([Segment(0.0, 12.0, "should not appear")])
    clips = list(VideoClips(_settings(), fake).clips(videos / "silent.mp4"))
    assert fake.calls == []
    assert all(c.transcript == "" for c in clips) and len(clips) == 3


@requires_ffmpeg
def test_asr_disabled_in_settings_skips_the_transcriber(videos: Path) -> None:
    fake = FakeTranscriber([Segment(0.0, 1.0, "hello")])
    clips = list(VideoClips(_settings(asr_enabled=False), fake).clips(videos / "ramp.mp4"))
    assert fake.calls == [] and clips[0].transcript == ""


@requires_ffmpeg
def test_a_corrupt_audio_track_costs_only_the_transcript(videos: Path) -> None:
    class BrokenAudio:
        def transcribe(self, path: Path) -> list[Segment]:
            raise CorruptFile(path, "audio track cannot be decoded")

    clips = list(VideoClips(_settings(), BrokenAudio()).clips(videos / "ramp.mp4"))
    assert len(clips) == 3 and all(c.frames for c in clips)


@requires_ffmpeg
@pytest.mark.skipif(TESSERACT is None, reason="tesseract is not installed")
def test_keyframe_ocr_reads_burned_in_text_and_nothing_from_flat_frames(videos: Path) -> None:
    extractor = VideoClips(
        _settings(frame_ocr=True, clip_seconds=10.0, frames_per_clip=3), ocr_languages="eng"
    )
    text_clip = next(iter(extractor.clips(videos / "text.mp4")))
    assert text_clip.ocr_text == "KANGAROO"
    assert text_clip.text_source == "ocr"
    flat = list(extractor.clips(videos / "short.mp4"))
    assert [c.ocr_text for c in flat] == [""]


@requires_ffmpeg
@pytest.mark.skipif(TESSERACT is None, reason="tesseract is not installed")
def test_parallel_keyframe_ocr_keeps_each_clip_its_own_text(videos: Path) -> None:
    settings = _settings(frame_ocr=True, clip_seconds=3.0, frames_per_clip=1, workers=2)
    clips = list(VideoClips(settings, ocr_languages="eng").clips(videos / "words.mp4"))
    assert [c.ocr_text for c in clips] == ["ALPHA", "BRAVO", "CHARLIE"]
    assert [c.index for c in clips] == [0, 1, 2]


@requires_ffmpeg
def test_ingestor_stores_clips_with_times_and_frames(videos: Path, tmp_path: Path) -> None:
    settings = _settings()
    blobs = BlobStore(tmp_path / "blobs")
    registry = Registry(tmp_path / "registry.sqlite3", blobs)
    fake = FakeTranscriber([Segment(5.0, 6.0, "delta")])
    ingestor = Ingestor(
        settings, registry, blobs, pdf=None, video=VideoClips(settings, fake), sink=RecordingSink()
    )  # type: ignore[arg-type]
    result = ingestor.ingest_file(videos / "ramp.webm")
    assert (result.status, result.n_clips) == ("ingested", 3), result.error
    assert result.doc_id is not None
    units = registry.units(result.doc_id)
    assert [(u.start_s, u.end_s) for u in units] == [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)]
    assert [u.text for u in units] == ["", "delta", ""]
    assert all(len(u.images) == 2 and all(p.is_file() for p in u.images) for u in units)


@requires_ffmpeg
def test_ingestor_reports_a_truncated_video(videos: Path, tmp_path: Path) -> None:
    settings = _settings()
    blobs = BlobStore(tmp_path / "blobs")
    registry = Registry(tmp_path / "registry.sqlite3", blobs)
    ingestor = Ingestor(settings, registry, blobs, pdf=None, video=VideoClips(settings))  # type: ignore[arg-type]
    bad = truncate(faststart(videos / "ramp.mp4", tmp_path / "fs.mp4"), tmp_path / "cut.mp4", 0.6)
    result = ingestor.ingest_file(bad)
    assert result.status == "failed"
    assert result.error is not None and "truncated" in result.error
    assert registry.list_documents() == []


# -- clip text: pure --------------------------------------------------------------------------


def test_transcript_for_a_window() -> None:
    segments = [Segment(2.0, 3.0, " later "), Segment(0.0, 1.0, "first"), Segment(1.0, 1.5, "  ")]
    assert transcript_for(segments, 0.0, 2.5) == "first\nlater"
    assert transcript_for(segments, 1.0, 2.0) == ""  # touching is not overlapping
    assert transcript_for([], 0.0, 10.0) == ""


@pytest.mark.parametrize(
    "token",
    [
        "Welcome",
        "crossing,",
        "KANGAROO",
        "don't",
        "e-mail",
        "12:30",
        "2024",
        "50%",
        "Straße",
        "привет",
        "a",
        "I",
    ],
)
def test_word_like_tokens(token: str) -> None:
    assert is_word_like(token)


@pytest.mark.parametrize(
    "token", ["|", "\\\\", "jadad=s®", "tHe", "wAl", "jdfk", "eeee", "—-_", "x", "}"]
)
def test_noise_tokens(token: str) -> None:
    assert not is_word_like(token)


def test_clean_frame_text_keeps_captions_and_drops_texture() -> None:
    raw = "a wl |\njadad=s® } ——\nWelcome to the pedestrian crossing\n\\ \\\\ \\\nRK\nWelcome to the pedestrian crossing"
    assert clean_frame_text(raw) == "Welcome to the pedestrian crossing"
    assert clean_frame_text("") == ""
    assert clean_frame_text("Exit 12 →") == "Exit 12"


def test_confident_lines_drop_low_confidence_words() -> None:
    words = [
        OcrWord("global)", 0.0, (1, 1, 1)),
        OcrWord("Ya", 66.0, (1, 1, 1)),
        OcrWord("Welcome", 96.0, (2, 1, 1)),
        OcrWord("home", 93.0, (2, 1, 1)),
        OcrWord("Exit", 91.0, (2, 1, 2)),
    ]
    assert confident_lines(words, 80.0) == "Welcome home\nExit"


def test_parse_tesseract_tsv() -> None:
    header = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
    rows = [
        "1\t1\t0\t0\t0\t0\t0\t0\t320\t240\t-1\t",
        "5\t1\t1\t1\t1\t1\t46\t96\t228\t34\t96.5\tKANGAROO",
        '5\t1\t1\t1\t1\t2\t46\t96\t228\t34\t12\t"quoted',
    ]
    words = parse_tsv("\n".join([header, *rows]) + "\n")
    assert words == [OcrWord("KANGAROO", 96.5, (1, 1, 1)), OcrWord('"quoted', 12.0, (1, 1, 1))]


# -- the real corpus ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS_VIDEO.is_dir(), reason="corpus not present")
def test_every_corpus_video_gives_clips_with_frames() -> None:
    extractor = VideoClips(IngestSettings(frame_ocr=False, asr_enabled=False))
    videos = sorted(p for p in CORPUS_VIDEO.iterdir() if p.is_file())
    assert len(videos) >= 12
    for path in videos:
        duration = extractor.duration(path)
        clips = list(extractor.clips(path))
        assert len(clips) == extractor.count_clips(duration) >= 1, path.name
        assert clips[0].start_s == 0.0 and clips[-1].end_s == pytest.approx(duration)
        for clip in clips:
            assert 0 <= clip.start_s < clip.end_s <= duration + 1e-6, path.name
            assert clip.end_s - clip.start_s <= extractor.settings.clip_seconds + 1e-6
            assert len(clip.frames) == extractor.settings.frames_per_clip
            sizes = {Image.open(io.BytesIO(f)).size for f in clip.frames}
            assert all(w * h <= extractor.settings.frame_max_pixels for w, h in sizes)
        # frames from different parts of a video differ (the reader does not return one frame)
        first, last = clips[0].frames[0], clips[-1].frames[-1]
        assert first != last, path.name


def test_clip_labels_round_to_the_nearest_second() -> None:
    # 0-9.96 s once read "00:00-00:09" and the next clip "00:09-00:19".
    def clip(start: float, end: float) -> Unit:
        return Unit("d:c00000", "d", UnitKind.CLIP, 0, "v.mp4", "", start_s=start, end_s=end)

    assert clip(0.0, 9.957).label == "v.mp4 00:00-00:10"
    assert clip(9.957, 19.914).label == "v.mp4 00:10-00:20"
    assert clip(3599.6, 3725.2).location == "1:00:00-1:02:05"
