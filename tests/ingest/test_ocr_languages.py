"""Choosing tesseract languages per page: script from the layer or OSD, Latin language
from stopwords; and the real tesseract reading a German page with its umlauts."""

from __future__ import annotations

import io
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from ingest import ocr, ocr_languages
from ingest.config import IngestSettings
from ingest.ocr_languages import (
    OsdResult,
    ScriptMemory,
    languages_for_script,
    latin_language,
    ocr_in_script,
    parse_osd,
    script_of_text,
)
from ingest.pdf_page import PageExtractor
from tests.support.fixtures_pdf import needs_tesseract, text_image_png
from tests.support.paths import CORPUS

CONFIGURED = "eng+deu+fra+spa+rus+kor"

OSD_OUTPUT = """Page number: 0
Orientation in degrees: 0
Rotate: 0
Orientation confidence: 23.55
Script: Cyrillic
Script confidence: 13.72
"""


def test_parse_osd_reads_script_and_confidence() -> None:
    assert parse_osd(OSD_OUTPUT) == OsdResult("CYRILLIC", 13.72)
    assert parse_osd("Script: Hangul\nScript confidence: 2.5\n") == OsdResult("HANGUL", 2.5)
    assert parse_osd("Script: Klingon\nScript confidence: 9\n").script is None
    assert parse_osd("") == OsdResult(None, 0.0)


def test_languages_for_script() -> None:
    assert languages_for_script("LATIN", CONFIGURED) == ["eng", "deu", "fra", "spa"]
    assert languages_for_script("LATIN", "deu+eng") == ["eng", "deu"]  # English first
    assert languages_for_script("CYRILLIC", CONFIGURED) == ["rus", "eng"]
    assert languages_for_script("HANGUL", CONFIGURED) == ["kor", "eng"]
    assert languages_for_script("HANGUL", "kor") == ["kor"]
    # Unknown script, or none configured for it: every configured language.
    assert languages_for_script(None, CONFIGURED) == CONFIGURED.split("+")
    assert languages_for_script("GREEK", CONFIGURED) == CONFIGURED.split("+")


def test_script_of_text() -> None:
    assert script_of_text("Диагностическая карта транспортного средства") == "CYRILLIC"
    assert (
        script_of_text("적립 제외 대상: 무이자할부, 다이어트할부, 삼성카드 할인이 적용된")
        == "HANGUL"
    )
    assert script_of_text("The quarterly report of the foundation") == "LATIN"
    assert script_of_text("p. 3") is None  # too few letters to tell


def test_latin_language_needs_clear_stopword_evidence() -> None:
    candidates = ["eng", "deu", "fra", "spa"]
    german = "Die Prüfung der Anlage ist nicht mit den Vorgaben von dem Amt für Umwelt zu machen."
    french = "Le rapport de la commission est pour les membres et des experts dans une salle."
    english = "The report of the committee is for the members and the experts in the room."
    assert latin_language(german, candidates) == "deu"
    assert latin_language(french, candidates) == "fra"
    assert latin_language(english, candidates) is None  # English is what was read already
    assert latin_language("Die Katze", candidates) is None  # too little to tell
    assert latin_language(german, ["eng", "fra"]) is None  # German not configured


def _image(lines: list[str]) -> Image.Image:
    return Image.open(io.BytesIO(text_image_png(lines, dpi=200)))


@needs_tesseract
def test_german_page_is_read_again_in_german(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = ocr_languages.ocr_image

    def recording(image: Image.Image, languages: str, dpi: int | None = None) -> str:
        calls.append(languages)
        return real(image, languages, dpi)

    monkeypatch.setattr(ocr_languages, "ocr_image", recording)
    lines = [
        "Die Prüfung der Anlage ist nicht mit den",
        "Vorgaben von dem Amt für Umwelt zu machen,",
        "und die Größe der Fläche ist zu messen.",
    ]
    text = ocr_in_script(_image(lines), CONFIGURED, 200, layer_text=" ".join(lines))
    assert calls == ["eng", "deu+eng"]
    assert "Prüfung" in text and "für" in text


@needs_tesseract
def test_english_page_is_read_once_in_english(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = ocr_languages.ocr_image
    monkeypatch.setattr(
        ocr_languages,
        "ocr_image",
        lambda image, languages, dpi=None: calls.append(languages) or real(image, languages, dpi),
    )
    lines = ["Quarterly revenue report of the foundation", "for the members and the board"]
    text = ocr_in_script(_image(lines), CONFIGURED, 200, layer_text=" ".join(lines))
    assert calls == ["eng"] and "Quarterly" in text


@needs_tesseract
def test_osd_script_is_remembered_for_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    detections: list[str] = []
    monkeypatch.setattr(
        ocr_languages,
        "detect_script",
        lambda image, dpi=None: detections.append("osd") or OsdResult("LATIN", 5.0),
    )
    memory = ScriptMemory()
    image = _image(["Quarterly revenue report of the foundation"])
    ocr_in_script(image, CONFIGURED, 200, memory=memory)
    ocr_in_script(image, CONFIGURED, 200, memory=memory)
    assert detections == ["osd"] and memory.script == "LATIN"


@needs_tesseract
def test_unsure_osd_reads_in_every_configured_language(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    monkeypatch.setattr(
        ocr_languages, "detect_script", lambda image, dpi=None: OsdResult("LATIN", 0.1)
    )
    monkeypatch.setattr(
        ocr_languages, "ocr_image", lambda image, languages, dpi=None: calls.append(languages) or ""
    )
    memory = ScriptMemory()
    ocr_in_script(_image(["text"]), "eng+rus", 200, memory=memory)
    assert calls == ["eng+rus"] and memory.script is None


@needs_tesseract
def test_osd_on_a_real_page_finds_latin() -> None:
    if not ocr.has_osd():
        pytest.skip("tesseract OSD data not installed")
    lines = [f"Line {i} of the quarterly revenue report" for i in range(8)]  # fits the box
    assert ocr_languages.detect_script(_image(lines), 200).script == "LATIN"


# -- the real corpus (slow) -----------------------------------------------------------------

CORPUS_PDF = CORPUS / "pdf"


@pytest.mark.slow
@needs_tesseract
@pytest.mark.skipif(not CORPUS_PDF.is_dir(), reason="corpus not available")
def test_korean_corpus_page_ocrs_to_korean_words(tmp_path: Path) -> None:
    """The Korean card-terms page, as a picture without its text layer, reads in Korean
    (small print in table cells: 35 of the layer's 149 words of 3+ letters come back exactly; five
    languages without Korean, the old default, read none of them)."""
    with pymupdf.open(CORPUS_PDF / "ko-card-terms-table.pdf") as source:
        layer = source.load_page(0).get_text()
        png = source.load_page(0).get_pixmap(dpi=200).tobytes("png")
        size = source.load_page(0).rect
    scan = tmp_path / "ko-scan.pdf"
    with pymupdf.open() as doc:
        page = doc.new_page(width=size.width, height=size.height)
        page.insert_image(page.rect, stream=png)
        doc.save(scan)
    extractor = PageExtractor(scan, IngestSettings())
    try:
        content = extractor.extract(0)
    finally:
        extractor.close()
    assert content.text_source == "ocr"
    words = [w.strip(",.()[]:") for w in layer.split()]
    words = [w for w in words if len(w) >= 3 and script_of_text(w * 20) == "HANGUL"]
    found = [w for w in words if w in content.text]
    assert len(words) >= 100 and len(found) >= 0.2 * len(words), (len(found), len(words))
