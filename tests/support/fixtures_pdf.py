"""Tiny PDFs built with pymupdf for the ingestion tests, plus a recording sink and a fake
video extractor. Nothing here reads the corpus."""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pymupdf
import pytest
from PIL import Image

from ingest.config import IngestSettings
from ingest.errors import UnsupportedFile
from ingest.pdf import PdfPages
from ingest.pipeline import Ingestor, PdfExtractor
from ingest.store import BlobStore, Registry
from ingest.types import ClipContent, Document, Unit

A4 = (595.0, 842.0)
needs_tesseract = pytest.mark.skipif(
    shutil.which("tesseract") is None, reason="tesseract is not installed"
)


def fast_settings(**overrides: object) -> IngestSettings:
    """Settings that keep tests quick: low render DPI, English-only OCR at 150 DPI, pages
    rendered inline (tests of the pool ask for workers=2)."""
    values: dict[str, object] = {
        "render_dpi": 72,
        "ocr_dpi": 150,
        "ocr_languages": "eng",
        "workers": 1,
    }
    values.update(overrides)
    return IngestSettings.model_validate(values)


def text_pdf(path: Path, pages: Sequence[str], size: tuple[float, float] = A4) -> Path:
    """A PDF with one page per string, the string as a real (selectable) text layer."""
    doc = pymupdf.open()
    for text in pages:
        page = doc.new_page(width=size[0], height=size[1])
        if text:
            page.insert_textbox(pymupdf.Rect(50, 50, size[0] - 50, size[1] - 50), text, fontsize=14)
    doc.save(path)
    doc.close()
    return path


def text_image_png(lines: Sequence[str], dpi: int = 200) -> bytes:
    """A PNG picture of the lines in large black type on white: OCR can read it, PDF text
    extraction cannot."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1] / 2)
    page.insert_textbox(page.rect + (40, 40, -40, -40), "\n".join(lines), fontsize=24)
    png: bytes = page.get_pixmap(dpi=dpi).tobytes("png")
    doc.close()
    return png


def image_text_pdf(path: Path, lines: Sequence[str], layer: str = "", visible: bool = True) -> Path:
    """One page that is a picture of `lines`, covering the page, with no text layer, or with
    `layer` as its text layer (`visible=False` = render mode 3, like a scanner's OCR layer)."""
    doc = pymupdf.open()
    page = doc.new_page(width=A4[0], height=A4[1] / 2)
    page.insert_image(page.rect, stream=text_image_png(lines))
    if layer:
        page.insert_text((20, 20), layer, fontsize=6, render_mode=0 if visible else 3)
    doc.save(path)
    doc.close()
    return path


def coloured_header_table_pdf(path: Path) -> Path:
    """A 72 dpi picture of a table whose header row is black type on a mid-blue band (as
    scanned-table-multirow.pdf), covering the page, with no text layer."""
    doc = pymupdf.open()
    table = doc.new_page(width=700, height=330)
    table.draw_rect(pymupdf.Rect(25, 20, 675, 120), color=(0, 0, 0), fill=(0.55, 0.71, 0.89))
    table.insert_text((40, 60), "Disability Category    Participants    Accuracy", fontsize=14)
    table.insert_text((40, 100), "Ballots Completed    Time to complete", fontsize=14)
    rows = ["Blind      5     1     34.5%", "Low Vision  5   2   98.3%", "Mobility   3   3   95.4%"]
    for i, row in enumerate(rows):
        table.insert_text((40, 160 + 40 * i), row, fontsize=14)
    png = table.get_pixmap(dpi=72).tobytes("png")
    scan = pymupdf.open()
    scan.new_page(width=700, height=330).insert_image(pymupdf.Rect(0, 0, 700, 330), stream=png)
    scan.save(path)
    scan.close()
    doc.close()
    return path


def picture_pdf(
    path: Path, pixels: tuple[int, int], placed: tuple[float, float, float, float]
) -> Path:
    """One A4 page holding a `pixels` (width, height) grey picture placed at `placed`
    (x0, y0, x1, y1 in points)."""
    buffer = io.BytesIO()
    Image.new("L", pixels, 200).save(buffer, format="PNG")
    doc = pymupdf.open()
    doc.new_page(width=A4[0], height=A4[1]).insert_image(
        pymupdf.Rect(*placed), stream=buffer.getvalue(), keep_proportion=False
    )
    doc.save(path)
    doc.close()
    return path


def garbage_layer_pdf(path: Path, lines: Sequence[str]) -> Path:
    """A picture of `lines` plus a visible text layer that decodes to control characters,
    like a font with a broken encoding (tam-review.pdf)."""
    noise = "".join(chr(c) for c in range(2, 9)) + "".join(chr(c) for c in range(14, 27))
    return image_text_pdf(path, lines, layer=(noise + " ") * 6, visible=True)


def huge_page_pdf(path: Path, inches: float = 200.0) -> Path:
    """A single page `inches` x `inches` (PDF allows up to 200 in) with a little text."""
    side = inches * 72.0
    return text_pdf(path, ["A very large drawing sheet"], size=(side, side))


def encrypted_pdf(path: Path) -> Path:
    """A PDF that needs a user password to open."""
    doc = pymupdf.open()
    doc.new_page().insert_text((72, 72), "secret text")
    doc.save(path, encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="user-pw", owner_pw="owner-pw")
    doc.close()
    return path


def zero_page_pdf(path: Path) -> Path:
    """A well-formed PDF whose page tree is empty (pymupdf refuses to save one, so the
    bytes are written by hand, xref offsets included)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [] /Count 0 >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    path.write_bytes(bytes(out))
    return path


def truncated_pdf(path: Path, source: Path, keep: float) -> Path:
    """The first `keep` share of `source`'s bytes, as a download cut short would leave."""
    data = source.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep))])
    return path


@dataclass
class RecordingSink:
    """A UnitSink that remembers every call, in order."""

    calls: list[tuple[str, str, tuple[str, ...]]] = field(default_factory=list)

    def add(self, doc: Document, units: Sequence[Unit]) -> None:
        self.calls.append(("add", doc.id, tuple(u.id for u in units)))

    def publish(self, doc_id: str) -> None:
        self.calls.append(("publish", doc_id, ()))

    def remove(self, doc_id: str) -> None:
        self.calls.append(("remove", doc_id, ()))

    def published(self) -> set[str]:
        """Ids of documents that were published."""
        return {doc_id for op, doc_id, _ in self.calls if op == "publish"}


class NoVideo:
    """A VideoExtractor for PDF-only tests: any video is refused."""

    def duration(self, path: Path) -> float:
        raise UnsupportedFile(path, "video is not supported in this test")

    def count_clips(self, duration_s: float) -> int:
        return 0

    def clips(self, path: Path) -> Iterator[ClipContent]:
        raise UnsupportedFile(path, "video is not supported in this test")


@dataclass
class IngestEnv:
    """An Ingestor over a fresh registry and blob store in a temp dir, with a recording sink."""

    ingestor: Ingestor
    registry: Registry
    blobs: BlobStore
    sink: RecordingSink

    @classmethod
    def create(
        cls, root: Path, pdf: PdfExtractor | None = None, settings: IngestSettings | None = None
    ) -> IngestEnv:
        settings = settings or fast_settings()
        blobs = BlobStore(root / "blobs")
        registry = Registry(root / "registry.sqlite3", blobs)
        sink = RecordingSink()
        ingestor = Ingestor(settings, registry, blobs, pdf or PdfPages(settings), NoVideo(), sink)
        return cls(ingestor, registry, blobs, sink)

    def with_pdf(self, pdf: PdfExtractor) -> Ingestor:
        """Another Ingestor over the same store, with a different PDF extractor."""
        return Ingestor(
            self.ingestor.settings, self.registry, self.blobs, pdf, NoVideo(), self.sink
        )

    def snapshot(self) -> StoreSnapshot:
        """Everything a failed ingest must leave untouched."""
        docs = tuple(self.registry.list_documents())
        units = tuple(u for d in docs for u in self.registry.units(d.id))
        files = tuple(
            sorted(
                (str(p.relative_to(self.blobs.root)), p.stat().st_size, p.stat().st_mtime_ns)
                for p in self.blobs.root.rglob("*")
                if p.is_file()
            )
        )
        return StoreSnapshot(docs, units, files, tuple(self.sink.calls))


@dataclass(frozen=True)
class StoreSnapshot:
    documents: tuple[Document, ...]
    units: tuple[Unit, ...]
    blob_files: tuple[tuple[str, int, int], ...]
    sink_calls: tuple[tuple[str, str, tuple[str, ...]], ...]
