"""How readable an extracted text layer is: a language-agnostic score in [0, 1].

PDF text layers go wrong in a few recognisable ways: a font without a usable ToUnicode map
yields control characters, private-use code points or U+FFFD (tam-review.pdf); a poor OCR
layer behind a scan yields letter soup with symbols inside words, odd capitalisation and
letter-spaced words (scanned-letter-ocr.pdf). Real text in any script, including tables of
numbers and forms, is mostly made of tokens that look like words or numbers. The score is
the share of token characters that sit in such tokens, so it needs no dictionary and works
for Latin, Cyrillic, Greek, Hangul and CJK alike.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

# Characters that never occur in real extracted text: C0/C1 controls (except whitespace),
# private-use, unassigned and surrogate code points, and the replacement character.
_BAD_CATEGORIES = {"Cc", "Co", "Cn", "Cs"}
_REPLACEMENT = "\ufffd"
# Scripts written without spaces between words: a long letter run is normal there.
_UNSPACED_SCRIPTS = {"CJK", "HIRAGANA", "KATAKANA", "THAI", "LAO", "KHMER", "MYANMAR", "HANGUL"}
# Longest plausible run of letters in one spaced-script word (German compounds included).
_MAX_WORD_LETTERS = 45
# lower, UPPER, Title, camelCase/McName/iPhone, plural acronyms (PDFs); not tHiS or JMBWeil.
_CASE_SHAPE = re.compile(r"U*|U?l+(?:Ul+)*|U{2,}s")
# Leader dots and rules ("........", "____", "\ufffd\ufffd\ufffd") are one glyph repeated.
_REPEATS = re.compile(r"(.)\1{2,}", re.DOTALL)
# Three or more one-letter tokens in a row: a letter-spaced OCR word ("l e t t e r").
_MAX_SINGLE_LETTERS = 2
# A token of only punctuation/symbols up to this long is neutral ("•", "--", "<-", "%%").
_MAX_SYMBOL_TOKEN = 2
# Below this many characters a score says little; such a layer counts as short, not garbage.
_MIN_SCORED_CHARS = 8


@dataclass(frozen=True, slots=True)
class TextQuality:
    """Summary of a text layer. `score` in [0, 1]: share of token characters in word-like
    or number-like tokens, minus a penalty for characters that cannot occur in real text."""

    chars: int  # non-whitespace characters (repeated glyph runs counted once)
    bad_share: float  # share of control / private-use / unassigned / U+FFFD characters
    word_share: float  # share of token characters in plausible words or numbers
    score: float


@lru_cache(maxsize=8192)
def _script(char: str) -> str:
    """Script of a letter from its Unicode name: LATIN, CYRILLIC, HANGUL, CJK, ..."""
    parts = unicodedata.name(char, "UNKNOWN").split(" ")
    # "FULLWIDTH LATIN ...", "MATHEMATICAL ITALIC ..." still read as Latin-like text.
    if parts[0] in {"FULLWIDTH", "HALFWIDTH"} and len(parts) > 1:
        return parts[1]
    if parts[0] == "MATHEMATICAL":
        return "LATIN"
    return parts[0]


@lru_cache(maxsize=8192)
def _is_bad(char: str) -> bool:
    return char == _REPLACEMENT or (
        unicodedata.category(char) in _BAD_CATEGORIES and not char.isspace()
    )


def _is_letter(char: str) -> bool:
    return char.isalpha() or unicodedata.category(char) in {"Mn", "Mc"}


def _case_shape(run: str) -> str:
    return "".join("U" if c.isupper() else "l" if c.islower() else "" for c in run)


def _segment_is_wordlike(segment: str) -> bool:
    """A run of letters and digits: a number, a word, or a short code like A0/S3/x86."""
    if segment.isdigit():
        return True
    letters = "".join(c for c in segment if _is_letter(c))
    scripts = {_script(c) for c in letters if c.isalpha()}
    if len(scripts) > 1:
        return False  # Latin and Cyrillic in one word: OCR or encoding noise
    if len(letters) < len(segment):
        return len(segment) <= 8  # "A0", "1040EZ", "mp4", "x86"
    script = next(iter(scripts), "")
    if script not in _UNSPACED_SCRIPTS and len(letters) > _MAX_WORD_LETTERS:
        return False
    return _CASE_SHAPE.fullmatch(_case_shape(letters)) is not None


def _strip_edges(token: str) -> str:
    """Drop punctuation and symbols around a token: quotes, brackets, bullets, commas."""
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start])[0] in "PSZ":
        start += 1
    while end > start and unicodedata.category(token[end - 1])[0] in "PSZ":
        end -= 1
    return token[start:end]


def _is_alnum(char: str) -> bool:
    return _is_letter(char) or unicodedata.category(char)[0] == "N"


def _token_is_wordlike(core: str) -> bool:
    """Code (`sqrt(diag(x))`), URLs and e-mail are fine: every letter/digit run between the
    punctuation must look like a word or number, and letters/digits must not be outnumbered."""
    if any(_is_bad(c) for c in core):
        return False
    alnum = sum(1 for c in core if _is_alnum(c))
    if alnum * 2 < len(core):
        return False
    segments: list[str] = []
    current: list[str] = []
    for char in core:
        if _is_alnum(char):
            current.append(char)
        elif current:
            segments.append("".join(current))
            current = []
    if current:
        segments.append("".join(current))
    return all(_segment_is_wordlike(s) for s in segments)


def text_quality(text: str) -> TextQuality:
    """Score a text layer (pure function). See the module docstring for the idea."""
    text = _REPEATS.sub(r"\1", text)
    tokens = text.split()
    chars = sum(len(t) for t in tokens)
    if chars == 0:
        return TextQuality(0, 0.0, 0.0, 0.0)
    bad = sum(1 for t in tokens for c in t if _is_bad(c))
    good_chars = scored_chars = 0
    single_letters = 0
    for token in tokens:
        core = _strip_edges(token)
        if not core:
            # Bullets, dashes, arrows, leader dots: neutral in forms, tables and code; longer
            # runs of mixed symbols or undecodable glyphs are noise.
            if len(token) > _MAX_SYMBOL_TOKEN or any(_is_bad(c) for c in token):
                scored_chars += len(token)
            continue
        scored_chars += len(token)
        single = len(core) == 1 and _is_letter(core)
        single_letters = single_letters + 1 if single else 0
        if single_letters > _MAX_SINGLE_LETTERS:
            continue  # letter-spaced noise: this character counts as not word-like
        if _token_is_wordlike(core):
            good_chars += len(token)
    bad_share = bad / chars
    word_share = good_chars / scored_chars if scored_chars else 1.0
    score = max(0.0, min(word_share, 1.0 - 2.0 * bad_share))
    return TextQuality(chars, bad_share, word_share, score)


def is_garbage(quality: TextQuality, threshold: float) -> bool:
    """Whether a text layer is noise rather than text (a very short layer never counts)."""
    return quality.chars >= _MIN_SCORED_CHARS and quality.score < threshold


def dominant_script(text: str, min_letters: int = 20) -> str | None:
    """The Unicode script most of `text`'s letters are written in ("LATIN", "CYRILLIC",
    "HANGUL", "CJK", ...), or None with fewer than `min_letters` letters. Pure."""
    counts: dict[str, int] = {}
    for char in text:
        if char.isalpha():
            script = _script(char)
            counts[script] = counts.get(script, 0) + 1
    if sum(counts.values()) < min_letters:
        return None
    return max(counts, key=lambda s: counts[s])
