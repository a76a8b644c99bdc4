# pymupdf annotates only part of its API; its calls are untyped to mypy.
# mypy: disable-error-code="no-untyped-call"
"""One PDF page -> PageContent: a PNG capped in pixels, and the best text we can get.

Which text a page keeps (`choose_text`):

- the text layer, when it is long enough and reads as text (ingest.textquality);
- OCR of a high-resolution render, when the layer is empty, shorter than `min_text_chars`
  or garbage (a broken font encoding); if OCR reads nothing either, the page is "empty"
  (a short but readable layer is kept rather than nothing);
- for a *scanned* page, i.e. one image covers most of the page and most of the text is
  invisible (render mode 3: the OCR layer a scanner wrote behind the picture), we OCR too
  and keep our OCR unless it reads clearly worse or much less. Such layers come from OCR
  engines of unknown quality (scanned-letter-ocr.pdf's is poor), their score cannot tell a
  misread word from a real one, and the cost is bounded to pages that are pictures anyway.
  Pages with a big picture but *visible* text (a slide over a photo) keep their layer.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from PIL import Image

from ingest.colour import clearest_channel, has_colour, rgb_rows
from ingest.config import IngestSettings
from ingest.errors import CorruptFile
from ingest.mupdf import pymupdf
from ingest.ocr import ocr_image
from ingest.ocr_languages import ScriptMemory, ocr_in_script
from ingest.png import encode_png
from ingest.reading_order import page_text
from ingest.stages import Stage, StageTimes
from ingest.textquality import TextQuality, is_garbage, text_quality
from ingest.types import PageContent

log = logging.getLogger(__name__)

# A layer scoring under this is noise. Real corpus pages (papers, forms, code, Korean,
# Russian, German, French) score >= 0.86; broken encodings score <= 0.1.
GARBAGE_SCORE = 0.5
# A page is a scan when images cover this share of it and this share of its text is invisible.
SCAN_IMAGE_COVER = 0.8
SCAN_INVISIBLE_SHARE = 0.5
# Our OCR replaces a scanner's layer unless it scores this much lower or reads under half.
SCAN_SCORE_MARGIN = 0.05
SCAN_MIN_LENGTH_RATIO = 0.5
# A picture covering this share of a page is OCRed at least at its own resolution (up to
# NATIVE_DPI_CAP): read at 200 dpi, scanned-letter-ocr.pdf's 300 dpi scan lost its
# "FROM: ODY H. LAMBORN" line, which 300 dpi reads.
NATIVE_IMAGE_COVER = 0.5
NATIVE_DPI_CAP = 400


class OcrReason(StrEnum):
    """Why a page is sent to OCR."""

    EMPTY = "empty"
    SHORT = "short"
    GARBAGE = "garbage"
    SCANNED = "scanned"


@dataclass(frozen=True, slots=True)
class PageText:
    """The text a page keeps and where it came from ("layer", "ocr" or "empty")."""

    text: str
    source: str


def fit_zoom(width_pt: float, height_pt: float, dpi: float, max_pixels: int) -> float:
    """Zoom factor (pixels per point) for `dpi`, lowered so that the pixmap MuPDF renders
    for a `width_pt` x `height_pt` page has at most `max_pixels` pixels. Pure."""
    if width_pt <= 0 or height_pt <= 0:
        raise ValueError("page has an empty size")
    page = pymupdf.Rect(0, 0, width_pt, height_pt)

    def pixels(zoom: float) -> int:
        # The pixmap covers the scaled page rectangle rounded outwards to whole pixels.
        irect = (page * pymupdf.Matrix(zoom, zoom)).irect
        return int(irect.width) * int(irect.height)

    zoom = dpi / 72.0
    if width_pt * height_pt * zoom * zoom > max_pixels:
        zoom = math.sqrt(max_pixels / (width_pt * height_pt))
    while pixels(zoom) > max_pixels:
        zoom *= 0.999
    return zoom


def needs_ocr(layer: TextQuality, scanned: bool, min_text_chars: int) -> OcrReason | None:
    """Why a page's text layer is not good enough on its own, or None. Pure."""
    if layer.chars == 0:
        return OcrReason.EMPTY
    if is_garbage(layer, GARBAGE_SCORE):
        return OcrReason.GARBAGE
    if layer.chars < min_text_chars:
        return OcrReason.SHORT
    if scanned:
        return OcrReason.SCANNED
    return None


def choose_text(
    layer_text: str, reason: OcrReason | None, ocr: Callable[[], str] | None
) -> PageText:
    """The text a page keeps, given the OCR reason and an OCR function (None = OCR off)."""
    layer_text = layer_text.strip()
    if reason is None:
        return PageText(layer_text, "layer")
    usable_layer = reason in {OcrReason.SHORT, OcrReason.SCANNED}
    if ocr is None:
        if usable_layer:
            return PageText(layer_text, "layer")
        return PageText("", "empty")
    ocr_text = ocr().strip()
    ocr_quality = text_quality(ocr_text)
    if reason is OcrReason.SCANNED:
        layer_quality = text_quality(layer_text)
        worse = ocr_quality.score < layer_quality.score - SCAN_SCORE_MARGIN
        shorter = ocr_quality.chars < SCAN_MIN_LENGTH_RATIO * layer_quality.chars
        if worse or shorter:
            return PageText(layer_text, "layer")
        return PageText(ocr_text, "ocr")
    if reason is OcrReason.SHORT:
        reads_more = ocr_quality.chars > text_quality(layer_text).chars
        if not reads_more or is_garbage(ocr_quality, GARBAGE_SCORE):
            return PageText(layer_text, "layer")
        return PageText(ocr_text, "ocr")
    if ocr_quality.chars == 0 or is_garbage(ocr_quality, GARBAGE_SCORE):
        return PageText("", "empty")
    return PageText(ocr_text, "ocr")


def _image_cover(page: pymupdf.Page) -> float:
    """Share of the page area covered by images (overlaps ignored, capped at 1)."""
    area = abs(page.rect)
    if area <= 0:
        return 0.0
    covered = sum(abs(pymupdf.Rect(info["bbox"]) & page.rect) for info in page.get_image_info())
    return min(1.0, float(covered / area))


def _invisible_share(page: pymupdf.Page) -> float:
    """Share of the page's characters drawn invisibly (render mode 3 or fully transparent)."""
    total = invisible = 0
    for span in page.get_texttrace():
        n = len(span["chars"])
        total += n
        if span["type"] == 3 or span.get("opacity", 1.0) == 0:
            invisible += n
    return invisible / total if total else 0.0


def is_scanned(page: pymupdf.Page) -> bool:
    """A picture of a page with a hidden OCR layer behind it (see the module docstring)."""
    return _image_cover(page) >= SCAN_IMAGE_COVER and _invisible_share(page) >= SCAN_INVISIBLE_SHARE


def picture_dpi(page: pymupdf.Page) -> float:
    """Pixels per inch, as placed on the page, of the largest image covering at least
    NATIVE_IMAGE_COVER of it (the scan of a scanned page); 0.0 when there is none."""
    area = abs(page.rect)
    best, dpi = 0.0, 0.0
    for info in page.get_image_info():
        placed = pymupdf.Rect(info["bbox"])
        shown = abs(placed & page.rect)
        if area <= 0 or shown < NATIVE_IMAGE_COVER * area or shown <= best or placed.is_empty:
            continue
        best = shown
        dpi = min(info["width"] * 72 / placed.width, info["height"] * 72 / placed.height)
    return float(dpi)


def ocr_dpi(page: pymupdf.Page, dpi: int) -> int:
    """The resolution to OCR `page` at: `dpi`, or its scan's own resolution when higher
    (never above NATIVE_DPI_CAP): rendering a scan below it throws away what it holds."""
    return max(dpi, min(round(picture_dpi(page)), NATIVE_DPI_CAP))


def render(page: pymupdf.Page, dpi: int, max_pixels: int, gray: bool = False) -> pymupdf.Pixmap:
    """Render a page at `dpi`, scaled down to at most `max_pixels` (zoom chosen before
    rendering, so memory stays bounded for huge pages)."""
    rect = page.rect
    zoom = fit_zoom(rect.width, rect.height, dpi, max_pixels)
    colorspace = pymupdf.csGRAY if gray else pymupdf.csRGB
    return page.get_pixmap(matrix=pymupdf.Matrix(zoom, zoom), colorspace=colorspace, alpha=False)


def pixmap_image(pix: pymupdf.Pixmap) -> Image.Image:
    """A PIL view of a pixmap without alpha (one copy of the samples)."""
    mode = "L" if pix.n == 1 else "RGB"
    return Image.frombytes(mode, (pix.width, pix.height), pix.samples)


class PageExtractor:
    """An open PDF and the settings to turn its pages into PageContent, one at a time.

    One per process: the PDF extractor's workers each open the document themselves."""

    def __init__(self, path: Path, settings: IngestSettings) -> None:
        self.path = path
        self.settings = settings
        try:
            self.doc = pymupdf.open(path, filetype="pdf")
        except (RuntimeError, ValueError) as err:
            raise CorruptFile(path, f"cannot open PDF: {err}") from err
        if self.doc.needs_pass:
            self.doc.close()
            raise CorruptFile(path, "encrypted PDF: a password is needed to open it")
        self._script = ScriptMemory()  # the script OSD found on an earlier page

    def close(self) -> None:
        """Release the document."""
        self.doc.close()

    def extract(self, index: int) -> PageContent:
        """Page `index` (0-based) as a PNG plus its text, with the seconds each step took.
        CorruptFile if MuPDF cannot read it."""
        number = index + 1
        timings = StageTimes()
        try:
            page = self.doc.load_page(index)
            if page.rect.is_empty:
                raise CorruptFile(self.path, f"page {number} has an empty size")
            with timings.measure(Stage.RENDER):
                pix = render(page, self.settings.render_dpi, self.settings.max_pixels)
                png = encode_png(pix.samples, pix.width, pix.height, pix.n)
            with timings.measure(Stage.TEXT):
                layer = page_text(page)
                reason = needs_ocr(text_quality(layer), False, self.settings.min_text_chars)
                if reason is None and is_scanned(page):
                    reason = OcrReason.SCANNED

            def ocr() -> str:
                with timings.measure(Stage.OCR):
                    hint = layer if reason is OcrReason.SCANNED else ""
                    colour = has_colour(rgb_rows(pix.samples, pix.width, pix.height, pix.n))
                    return self._ocr(page, hint, colour=colour)

            chosen = choose_text(layer, reason, ocr if self.settings.ocr_enabled else None)
        except (RuntimeError, ValueError) as err:
            raise CorruptFile(self.path, f"page {number} cannot be read: {err}") from err
        if reason is not None:
            log.debug("%s p.%d: %s text layer -> %s", self.path.name, number, reason, chosen.source)
        return PageContent(
            number, png, chosen.text, chosen.source, pix.width, pix.height, timings=timings
        )

    def _ocr(self, page: pymupdf.Page, layer_text: str = "", colour: bool = False) -> str:
        """OCR of a page render; `layer_text` (a scanner's hidden layer) hints at the script.

        A page with `colour` is read from its clearest channel (ingest.colour), others from
        MuPDF's grey render."""
        resolution = ocr_dpi(page, self.settings.ocr_dpi)
        pix = render(page, resolution, self.settings.ocr_max_pixels, gray=not colour)
        dpi = round(pix.width * 72 / page.rect.width)  # lower than ocr_dpi on capped pages
        if colour:
            rgb = rgb_rows(pix.samples, pix.width, pix.height, pix.n)
            image = Image.fromarray(clearest_channel(rgb), mode="L")
        else:
            image = pixmap_image(pix)
        if not self.settings.ocr_script_detection:
            return ocr_image(image, self.settings.ocr_languages, dpi=dpi)
        return ocr_in_script(image, self.settings.ocr_languages, dpi, layer_text, self._script)
