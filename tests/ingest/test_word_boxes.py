"""Word boxes of a page (text layer, OCR) and where a quoted passage sits among them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pymupdf
import pytest

from ingest.word_boxes import (
    WordBox,
    layer_words,
    line_boxes,
    locate_passage,
    ocr_words,
    parse_tesseract_tsv,
)


def _word(text: str, x: float, line: int) -> WordBox:
    return WordBox(text, x, line * 0.1, x + 0.05, line * 0.1 + 0.05, (0, line))


def _line(words: str, line: int) -> list[WordBox]:
    return [_word(w, i * 0.1, line) for i, w in enumerate(words.split())]


PAGE = (
    _line("Heading about whales", 0)
    + _line("The blue whale song", 1)
    + _line("carries across double-spending basins.", 2)
    + _line("Unrelated closing words here", 3)
)


def test_a_quote_over_two_lines_gets_one_box_per_line() -> None:
    found = locate_passage(PAGE, "The blue whale song carries across double-spending basins")
    assert found.matched_words == found.passage_words == 9  # double-spending is two tokens
    assert [(round(b.y0, 2), round(b.y1, 2)) for b in found.boxes] == [(0.1, 0.15), (0.2, 0.25)]
    assert found.boxes[1].x1 == pytest.approx(0.35)


def test_a_paraphrase_finds_the_closest_window_and_nonsense_finds_nothing() -> None:
    close = locate_passage(PAGE, "a whale song carries across the basins")
    assert close.boxes and all(0.1 <= b.y0 <= 0.2 for b in close.boxes)
    assert locate_passage(PAGE, "zebra quantum volcano").boxes == ()
    assert locate_passage(PAGE, "").boxes == ()
    assert locate_passage([], "whale").boxes == ()


def test_edge_words_the_quote_does_not_need_are_left_out() -> None:
    # The window of the best match starts on a second "the": one more than the quote has.
    found = locate_passage(_line("the In this paper the", 0), "In this paper the quote")
    assert found.matched_words == 4
    assert found.boxes[0].x0 == pytest.approx(0.1) and found.boxes[0].x1 == pytest.approx(0.45)


def test_line_boxes_merge_consecutive_words_of_a_line() -> None:
    boxes = line_boxes(_line("a b c", 4) + _line("d", 5))
    assert [(b.x0, b.x1) for b in boxes] == [(0.0, pytest.approx(0.25)), (0.0, 0.05)]


def test_tesseract_tsv_words_become_fractions() -> None:
    tsv = (
        "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext\n"
        "4\t1\t1\t1\t1\t0\t10\t20\t100\t10\t-1\t\n"
        "5\t1\t1\t1\t1\t1\t10\t20\t40\t10\t96\tHello\n"
        "5\t1\t1\t1\t1\t2\t60\t20\t50\t10\t95\tworld\n"
        "5\t1\t1\t1\t1\t3\t60\t20\t50\t10\t95\t \n"
    )
    words = parse_tesseract_tsv(tsv, 200, 100)
    assert [(w.text, w.x0, w.y0, w.x1, w.y1) for w in words] == [
        ("Hello", 0.05, 0.2, 0.25, 0.3),
        ("world", 0.3, 0.2, 0.55, 0.3),
    ]


def test_layer_words_follow_a_rotated_page(tmp_path: Path) -> None:
    path = tmp_path / "rotated.pdf"
    doc = pymupdf.open()
    page = doc.new_page(width=400, height=200)
    page.insert_text((20, 40), "top left words", fontsize=12)
    page.set_rotation(90)
    doc.save(path)
    words = layer_words(path, 1)
    # Rotated 90 degrees clockwise, the top-left corner ends up top right.
    assert words and all(w.x0 > 0.5 and w.y0 < 0.5 for w in words)
    assert all(0 <= v <= 1 for w in words for v in (w.x0, w.y0, w.x1, w.y1))


@pytest.mark.skipif(shutil.which("tesseract") is None, reason="tesseract missing")
def test_ocr_words_find_the_passage_on_a_rendered_page(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page(width=300, height=200)
    page.insert_text((20, 60), "Scanned letters are read by OCR", fontsize=14)
    page.insert_text((20, 140), "Another line far below", fontsize=14)
    png = tmp_path / "page.png"
    page.get_pixmap(dpi=150).save(png)
    expected = page.search_for("Scanned letters are read by OCR")[0]
    found = locate_passage(ocr_words(png, "eng"), "Scanned letters are read by OCR")
    assert len(found.boxes) == 1
    box = found.boxes[0]
    assert box.y0 * 200 < expected.y1 and box.y1 * 200 > expected.y0
    assert box.x0 * 300 < expected.x0 + 5 and box.x1 * 300 > expected.x1 - 5
