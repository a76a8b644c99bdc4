"""Table rows from a PDF page's line boxes, and the extractive answer quoting a row."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pymupdf
import pytest

from generation.config import GenerationSettings
from generation.generators.extractive import ExtractiveGenerator
from generation.generators.scoring import LexicalSentenceScorer
from generation.rows import NoRows, PdfPageRows, group_rows
from ingest.mupdf import LIGATURES
from ingest.types import Unit
from retrieval.verbatim import is_verbatim
from tests.support.fixtures_generation import hit, page_unit
from tests.support.paths import CORPUS

TABLE = [
    ["Name", "Type", "Default"],
    ["lineWidth", "float", "1.0"],
    ["lineCap", "string", "butt"],
    ["lineJoin", "string", "miter"],
]


def _table_pdf(path: Path, heading: str = "2D Context attributes") -> str:
    """A one-page PDF with a heading and a table written cell by cell (as text layers
    list them); returns the page's text layer."""
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 60), heading)  # type: ignore[no-untyped-call]
    for r, row in enumerate(TABLE):
        for c, cell in enumerate(row):
            page.insert_text((72 + 120 * c, 100 + 20 * r), cell)  # type: ignore[no-untyped-call]
    doc.save(path)  # type: ignore[no-untyped-call]
    text: str = page.get_text()  # type: ignore[no-untyped-call]
    doc.close()  # type: ignore[no-untyped-call]
    return text


def _unit(path: Path) -> Unit:
    text = _table_pdf(path)
    return page_unit("canvas.pdf", 1, text)


def test_group_rows_by_vertical_band_left_to_right() -> None:
    lines = [
        (200.0, 10.0, 20.0, "b"),
        (10.0, 11.0, 21.0, "a"),
        (10.0, 40.0, 50.0, "alone"),
        (10.0, 60.0, 70.0, "c"),
        (90.0, 61.0, 70.0, "d"),
    ]
    assert group_rows(lines) == [["a", "b"], ["c", "d"]]


def test_pdf_rows_read_the_source_page(tmp_path: Path) -> None:
    unit = _unit(tmp_path / "canvas.pdf")
    rows = PdfPageRows(lambda doc_id: tmp_path / "canvas.pdf").rows(unit)
    assert rows == TABLE
    assert PdfPageRows(lambda doc_id: None).rows(unit) == []
    assert NoRows().rows(unit) == []


def test_a_cell_question_quotes_the_whole_matching_row(tmp_path: Path) -> None:
    unit = _unit(tmp_path / "canvas.pdf")
    rows = PdfPageRows(lambda doc_id: tmp_path / "canvas.pdf")
    generator = ExtractiveGenerator(
        LexicalSentenceScorer(), GenerationSettings(extractive_sentences=1), rows=rows
    )
    answer = generator.compose("What is the default lineCap?", [hit(unit, 0.9)])
    assert answer == "lineCap string butt [S1]"
    assert is_verbatim("lineCap string butt", unit.text)
    # Without the layout, a cell takes the following lines instead (crossing rows).
    plain = ExtractiveGenerator(LexicalSentenceScorer(), GenerationSettings(extractive_sentences=1))
    assert plain.compose("What is the default lineCap?", [hit(unit, 0.9)]) != answer


def test_a_question_naming_a_table_gets_its_caption_then_the_row_it_asks_about(
    tmp_path: Path,
) -> None:
    path = tmp_path / "canvas.pdf"
    unit = page_unit("canvas.pdf", 1, _table_pdf(path, "Table 1: Attributes of the 2D context."))
    rows = PdfPageRows(lambda doc_id: path)
    generator = ExtractiveGenerator(
        LexicalSentenceScorer(), GenerationSettings(extractive_sentences=2), rows=rows
    )
    answer = generator.compose("In Table 1, what type is lineJoin?", [hit(unit, 0.9)])
    # The short caption takes the next line for context: the header row.
    assert answer == (
        "Table 1: Attributes of the 2D context. Name Type Default [S1] lineJoin string miter [S1]"
    )


def test_pdf_rows_are_read_once_per_page(tmp_path: Path) -> None:
    unit = _unit(tmp_path / "canvas.pdf")
    opened: list[str] = []

    def source(doc_id: str) -> Path:
        opened.append(doc_id)
        return tmp_path / "canvas.pdf"

    rows = PdfPageRows(source, cache_size=1, rows_cache_size=1)
    first = rows.rows(unit)
    rows._docs.clear()  # only the rows cache can answer now
    assert rows.rows(unit) == first == TABLE
    assert len(opened) == 1
    other = replace(unit, id=unit.id + "-other")
    assert rows.rows(other) == TABLE  # a second page evicts the first (capacity 1)
    rows._docs.clear()
    assert rows.rows(unit) == TABLE
    assert len(opened) == 3


def test_a_table_row_is_not_followed_by_the_next_row(tmp_path: Path) -> None:
    unit = _unit(tmp_path / "canvas.pdf")
    rows = PdfPageRows(lambda doc_id: tmp_path / "canvas.pdf")
    settings = GenerationSettings(extractive_sentences=1, extractive_follow="all")
    generator = ExtractiveGenerator(LexicalSentenceScorer(), settings, rows=rows)
    answer = generator.compose("What is the default lineCap?", [hit(unit, 0.9)])
    assert answer == "lineCap string butt [S1]"


def test_lru_drops_the_least_recently_used_and_reports_it() -> None:
    from retrieval.lru import Lru

    dropped: list[int] = []
    cache: Lru[str, int] = Lru(2, on_evict=dropped.append)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recently used
    cache.put("c", 3)
    assert dropped == [2] and cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)


@pytest.mark.skipif(not (CORPUS / "pdf").is_dir(), reason="corpus not available")
def test_rows_read_ligatures_as_their_letters() -> None:
    """Rows are quoted from the unit text, which gives ligatures as letters
    (ingest.mupdf.text_flags): dpr-paper.pdf p.6 sets "efficiency" with the ﬁ ligature."""
    path = CORPUS / "pdf" / "dpr-paper.pdf"
    cells = "\n".join(
        cell
        for row in PdfPageRows(lambda doc_id: path).rows(page_unit(path.name, 6, ""))
        for cell in row
    )
    assert "Sample efficiency" in cells
    assert not LIGATURES & set(cells)
