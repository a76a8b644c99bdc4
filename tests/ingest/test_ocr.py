"""Tesseract OCR wrapper: reading an image, language selection, missing-binary errors."""

from __future__ import annotations

import io
import logging

import pytest
from PIL import Image

from ingest import ocr
from ingest.errors import ModelUnavailable
from tests.support.fixtures_pdf import needs_tesseract, text_image_png


@pytest.fixture(autouse=True)
def _fresh_caches() -> None:
    ocr.usable_languages.cache_clear()
    ocr._traineddata_of.cache_clear()


@needs_tesseract
def test_reads_words_from_an_image() -> None:
    image = Image.open(
        io.BytesIO(text_image_png(["Quarterly revenue report", "Invoice 4711"], dpi=120))
    )
    text = ocr.ocr_image(image, "eng")
    assert "Quarterly" in text
    assert "revenue" in text
    assert "4711" in text


@needs_tesseract
def test_accepts_rgba_and_palette_images() -> None:
    image = Image.open(io.BytesIO(text_image_png(["Palette image text"], dpi=120)))
    for mode in ("RGBA", "P"):
        assert "Palette" in ocr.ocr_image(image.convert(mode), "eng")


@needs_tesseract
def test_blank_image_gives_empty_text() -> None:
    assert ocr.ocr_image(Image.new("L", (200, 150), 255), "eng") == ""


@needs_tesseract
def test_version_and_languages() -> None:
    version = ocr.tesseract_version()
    assert version is not None and version.startswith("tesseract")
    languages = ocr.tesseract_languages()
    assert "eng" in languages
    assert "osd" not in languages


@needs_tesseract
def test_missing_languages_are_dropped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="ingest.ocr"):
        assert ocr.usable_languages("eng+zzz+qqq") == "eng"
    assert "zzz" in caplog.text and "qqq" in caplog.text
    assert "tesseract-ocr-zzz" in caplog.text


@needs_tesseract
def test_configured_order_is_kept() -> None:
    installed = sorted(ocr.tesseract_languages())
    configured = "+".join(reversed(installed))
    assert ocr.usable_languages(configured) == configured


@needs_tesseract
def test_no_installed_language_is_an_error() -> None:
    with pytest.raises(ModelUnavailable, match="none of the OCR languages"):
        ocr.usable_languages("zzz+qqq")


def test_missing_tesseract_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ocr, "TESSERACT", "tesseract-that-does-not-exist")
    assert ocr.tesseract_version() is None
    with pytest.raises(ModelUnavailable, match="not installed.*OCR_ENABLED=false"):
        ocr.ocr_image(Image.new("L", (10, 10), 255), "eng")
    with pytest.raises(ModelUnavailable, match="not installed"):
        ocr.tesseract_languages()


def test_normalise_ocr_text() -> None:
    raw = "  line one  \n\n\n\nline two\n\f\n"
    assert ocr.normalise_ocr_text(raw) == "line one\n\nline two"
