"""The text of a clip: its share of the transcript, and OCR of frames cleaned of noise.

Pure functions. OCR on natural video frames (cars, people, trees) reads edges as letters:
"a wl |", "jadad=s®", "RK". Captions, signs and slides give real words. The filter keeps
lines made mostly of word-like tokens and drops the rest.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from ingest.asr import Segment

# A word: letters in any script, optionally joined by an apostrophe or a hyphen.
_WORD = re.compile(r"[^\W\d_]+(?:['’-][^\W\d_]+)*")
# A number: 12, 3.5, 12:30, 2024-01-02, 50%.
_NUMBER = re.compile(r"\d+(?:[.,:/-]\d+)*%?")
_EDGE_PUNCT = "\"'“”‘’«»()[]{}<>.,;:!?¡¿*•·-–—…"
_VOWELS = set("aeiouyäöüàâéèêëîïôûùœæåáíóúñ")
_MIN_LINE_WORD_SHARE = 0.6


def transcript_for(segments: Iterable[Segment], start_s: float, end_s: float) -> str:
    """The text of the segments that overlap [start_s, end_s], in time order, one per line.
    A segment crossing a boundary belongs to both clips: its words were spoken in each."""
    inside = sorted(
        (s for s in segments if min(s.end_s, end_s) - max(s.start_s, start_s) > 0),
        key=lambda s: s.start_s,
    )
    return "\n".join(s.text.strip() for s in inside if s.text.strip())


def is_word_like(token: str) -> bool:
    """Whether an OCR token reads as a word or a number rather than texture."""
    core = token.strip(_EDGE_PUNCT)
    if not core:
        return False
    if _NUMBER.fullmatch(core):
        return True
    if not _WORD.fullmatch(core):
        return False
    letters = core.replace("'", "").replace("’", "").replace("-", "")
    if len(letters) < 2:
        return core.lower() in {"a", "i"} or not core.isascii()
    # Noise mixes cases at random ("tHe", "wAl"); words are lower, UPPER or Capitalised.
    if not (core.islower() or core.isupper() or core[0].isupper() and core[1:].islower()):
        return False
    if core.isascii() and len(letters) >= 4 and not _VOWELS & set(letters.lower()):
        return False  # "jdfk": no Latin word of four letters lacks a vowel
    return not re.search(r"(.)\1\1", letters.lower())  # "eee", "lll": repeated strokes


def clean_frame_text(text: str) -> str:
    """OCR output of a video frame with the noise removed: only lines where most tokens
    are words, and only their word-like tokens; a line needs one word of 3+ letters.
    Returns "" when nothing readable is left."""
    kept: list[str] = []
    for line in text.splitlines():
        tokens = line.split()
        if not tokens:
            continue
        words = [t for t in tokens if is_word_like(t)]
        if len(words) / len(tokens) < _MIN_LINE_WORD_SHARE:
            continue
        if not any(len(w.strip(_EDGE_PUNCT)) >= 3 for w in words):
            continue
        kept.append(" ".join(words))
    return "\n".join(dict.fromkeys(kept))  # the same line read twice counts once
