"""Which tesseract languages to read a page with, instead of every configured one at once.

Tesseract's cost grows with each language it holds: on a dense English page, five
languages took 2x the CPU of English alone (docs/figures.md). So a page is read in the
languages of its script: the script comes from the page's own text layer when it has one
worth reading (a scanner's hidden layer, a short layer), else from tesseract's orientation
and script detection (OSD). A Latin page is read in English first; when its words are
German, French or Spanish (stopwords), it is read again in that language plus English.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from PIL import Image

from ingest.errors import ModelUnavailable
from ingest.ocr import has_osd, ocr_image, run_tesseract_osd
from ingest.textquality import dominant_script

log = logging.getLogger(__name__)

# Tesseract language code -> script, in the names ingest.textquality.dominant_script uses.
LANGUAGE_SCRIPT: dict[str, str] = {
    **dict.fromkeys(
        [
            "eng",
            "deu",
            "fra",
            "spa",
            "ita",
            "por",
            "nld",
            "pol",
            "ces",
            "swe",
            "dan",
            "nor",
            "fin",
            "tur",
            "ron",
            "hun",
            "vie",
            "ind",
            "cat",
        ],
        "LATIN",
    ),
    **dict.fromkeys(["rus", "ukr", "bul", "srp", "bel", "mkd"], "CYRILLIC"),
    "kor": "HANGUL",
    **dict.fromkeys(["chi_sim", "chi_tra"], "CJK"),
    "jpn": "JAPANESE",
    "ell": "GREEK",
    "ara": "ARABIC",
    "heb": "HEBREW",
    "hin": "DEVANAGARI",
    "tha": "THAI",
}
# Tesseract OSD's script names -> the same names.
_OSD_SCRIPT: dict[str, str] = {
    "Latin": "LATIN",
    "Cyrillic": "CYRILLIC",
    "Hangul": "HANGUL",
    "Korean": "HANGUL",
    "Han": "CJK",
    "Japanese": "JAPANESE",
    "Katakana": "JAPANESE",
    "Hiragana": "JAPANESE",
    "Greek": "GREEK",
    "Arabic": "ARABIC",
    "Hebrew": "HEBREW",
    "Devanagari": "DEVANAGARI",
    "Thai": "THAI",
}
# dominant_script names that mean Japanese.
_TEXT_SCRIPT_ALIASES = {"HIRAGANA": "JAPANESE", "KATAKANA": "JAPANESE"}
# OSD below this script confidence is a guess: read the page in every configured language.
MIN_OSD_CONFIDENCE = 0.5
# Frequent short words that tell Latin-script languages apart.
_STOPWORDS: dict[str, frozenset[str]] = {
    "eng": frozenset(
        [
            "the",
            "of",
            "and",
            "to",
            "in",
            "is",
            "that",
            "for",
            "with",
            "on",
            "are",
            "as",
            "this",
            "by",
            "be",
            "from",
        ]
    ),
    "deu": frozenset(
        [
            "der",
            "die",
            "und",
            "das",
            "ist",
            "nicht",
            "mit",
            "den",
            "von",
            "zu",
            "ein",
            "eine",
            "sich",
            "auf",
            "für",
            "dem",
        ]
    ),
    "fra": frozenset(
        [
            "le",
            "la",
            "les",
            "et",
            "des",
            "est",
            "une",
            "pour",
            "dans",
            "que",
            "qui",
            "sur",
            "pas",
            "du",
            "au",
            "avec",
        ]
    ),
    "spa": frozenset(
        [
            "el",
            "la",
            "los",
            "las",
            "y",
            "que",
            "del",
            "en",
            "por",
            "con",
            "una",
            "para",
            "es",
            "se",
            "al",
        ]
    ),
}
_WORD = re.compile(r"[^\W\d_]+")
# A Latin page is re-read in another language when that language's stopwords are at least
# this many and outnumber English ones.
_MIN_STOPWORDS = 5


@dataclass(frozen=True, slots=True)
class OsdResult:
    """What tesseract's `--psm 0` says about an image's script."""

    script: str | None  # a LANGUAGE_SCRIPT value, None when tesseract names none we know
    confidence: float


def parse_osd(output: str) -> OsdResult:
    """Parse `tesseract --psm 0` output ("Script: Cyrillic", "Script confidence: 13.7")."""
    script: str | None = None
    confidence = 0.0
    for line in output.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Script":
            script = _OSD_SCRIPT.get(value.strip())
        elif key.strip() == "Script confidence":
            try:
                confidence = float(value)
            except ValueError:
                confidence = 0.0
    return OsdResult(script, confidence)


def detect_script(image: Image.Image, dpi: int | None = None) -> OsdResult:
    """Tesseract's orientation and script detection on a page image. An image with too
    little text for OSD, or no OSD data installed, gives script None."""
    if not has_osd():
        return OsdResult(None, 0.0)
    try:
        return parse_osd(run_tesseract_osd(image, dpi))
    except ModelUnavailable as err:  # "Too few characters": no text to detect a script from
        log.debug("OSD found no script: %s", err)
        return OsdResult(None, 0.0)


def script_of_text(text: str) -> str | None:
    """The script of a text layer (None when it has too few letters). Pure."""
    script = dominant_script(text)
    return _TEXT_SCRIPT_ALIASES.get(script, script) if script else None


def languages_for_script(script: str | None, configured: str) -> list[str]:
    """The configured languages written in `script`, English first among Latin ones; a
    non-Latin script adds English (forms and papers mix in English words). Every
    configured language when the script is unknown or none is configured for it. Pure."""
    languages = [lang for lang in configured.split("+") if lang]
    if script is None:
        return languages
    matching = [lang for lang in languages if LANGUAGE_SCRIPT.get(lang) == script]
    if not matching:
        return languages
    if script == "LATIN":
        return sorted(matching, key=lambda lang: lang != "eng")
    return matching + (["eng"] if "eng" in languages else [])


def latin_language(text: str, candidates: list[str]) -> str | None:
    """The Latin-script language among `candidates` whose stopwords `text` uses most, if
    it uses at least a few of them and more than English's. Pure."""
    words = [w.lower() for w in _WORD.findall(text)]
    hits = {
        lang: sum(1 for w in words if w in _STOPWORDS[lang])
        for lang in candidates
        if lang in _STOPWORDS
    }
    if not hits:
        return None
    best = max(hits, key=lambda lang: hits[lang])
    if hits[best] < _MIN_STOPWORDS or hits[best] <= hits.get("eng", 0):
        return None
    return best


@dataclass
class ScriptMemory:
    """The script OSD found on an earlier page of the same document: pages of one
    document share a script, and OSD costs about as much as reading a page."""

    script: str | None = None


def ocr_in_script(
    image: Image.Image,
    configured: str,
    dpi: int | None,
    layer_text: str = "",
    memory: ScriptMemory | None = None,
) -> str:
    """OCR text of a page image in the languages of its script (see the module docstring).

    `layer_text`: a text layer worth trusting for its script (a scanner's hidden layer);
    `memory`: the document's script, read and updated. Raises ModelUnavailable when
    tesseract is missing or fails."""
    memory = memory if memory is not None else ScriptMemory()
    script = script_of_text(layer_text) or memory.script
    if script is None:
        osd = detect_script(image, dpi)
        if osd.script is not None and osd.confidence >= MIN_OSD_CONFIDENCE:
            script = memory.script = osd.script
    languages = languages_for_script(script, configured)
    if script != "LATIN" or len(languages) == 1:
        return ocr_image(image, "+".join(languages), dpi)
    first = ocr_image(image, languages[0], dpi)
    other = latin_language(first, languages)
    if other is None or other == languages[0]:
        return first
    log.debug("page reads as %s: OCR again with %s+%s", other, other, languages[0])
    return ocr_image(image, f"{other}+{languages[0]}", dpi)
