"""A sentence broken at the foot of a column reads on in the next column, not into the
footnote or figure between (ingest.reading_order)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.mupdf import pymupdf, text_flags
from ingest.reading_order import TextBlock, body_size, mended_order, page_text
from ingest.word_boxes import layer_words, locate_passage

BROKEN = "The gap is large when k is small. When training with mul-\n"
FOOTNOTE = "8SQuAD is limited to a small set of Wikipedia documents.\n"
CONTINUED = "tiple datasets, TREC benefits greatly from more examples.\n"


def test_a_footnote_between_a_sentence_and_its_continuation_moves_after_it() -> None:
    blocks = [TextBlock(BROKEN, 11.0), TextBlock(FOOTNOTE, 9.0), TextBlock(CONTINUED, 11.0)]
    assert mended_order(blocks) == [0, 2, 1]


def test_figure_labels_and_a_caption_between_move_too() -> None:
    blocks = [
        TextBlock(BROKEN, 11.0),
        TextBlock("20\n40\n60\n", 6.0),
        TextBlock("Figure 1: Top-k accuracy with different numbers of examples.\n", 11.0),
        TextBlock(CONTINUED, 11.0),
        TextBlock("We conjecture that SQuAD is harder for two reasons.\n", 11.0),
    ]
    assert mended_order(blocks) == [0, 3, 1, 2, 4]


@pytest.mark.parametrize(
    "blocks",
    [
        # The sentence ends: the next column starts a new one.
        [
            TextBlock("The gap is large when k is small.\n", 11.0),
            TextBlock(FOOTNOTE, 9.0),
            TextBlock(CONTINUED, 11.0),
        ],
        # Larger type between (a table's bold row label): a layout, not a footnote.
        [
            TextBlock("assists in providing your ongoing care\n", 11.0),
            TextBlock("breast surgeon\n", 13.0),
            TextBlock("specialises in surgery and performs biopsies\n", 11.0),
        ],
        # A table's cells end in a number or a single word, not a line of prose.
        [
            TextBlock("Speedup\n3d-cube\n2.20x\nstring-validate\n", 11.0),
            TextBlock("Figure 13. Trace statistics for the benchmarks.\n", 11.0),
            TextBlock("mean). We exclude regexp-dna from the calculations.\n", 11.0),
        ],
        # The next column starts with a capital: a new sentence.
        [TextBlock(BROKEN, 11.0), TextBlock(FOOTNOTE, 9.0), TextBlock(FOOTNOTE, 11.0)],
        [],
    ],
)
def test_nothing_else_moves(blocks: list[TextBlock]) -> None:
    assert mended_order(blocks) == list(range(len(blocks)))


def test_the_body_size_is_the_size_of_most_characters() -> None:
    assert body_size([TextBlock("x" * 10, 9.0), TextBlock("y" * 30, 11.0)]) == 11.0
    assert body_size([]) == 0.0


def _two_column_page(path: Path) -> Path:
    """A page like a paper's: the left column's last sentence breaks before a footnote and
    goes on at the top of the right column."""
    doc = pymupdf.open()
    page = doc.new_page(width=612, height=792)
    page.insert_textbox((72, 72, 290, 300), BROKEN.strip(), fontsize=11)
    page.insert_textbox((72, 700, 290, 760), FOOTNOTE.strip(), fontsize=8)
    page.insert_textbox((320, 72, 540, 300), CONTINUED.strip(), fontsize=11)
    doc.save(path)
    doc.close()
    return path


def test_a_real_two_column_page_reads_its_sentence_whole(tmp_path: Path) -> None:
    with pymupdf.open(_two_column_page(tmp_path / "paper.pdf")) as doc:
        page = doc[0]
        text = page_text(page)
        plain = page.get_text(flags=text_flags(pymupdf.TEXTFLAGS_TEXT))
    assert "with mul-\ntiple datasets" in text
    assert "with mul-\n8SQuAD" in plain  # MuPDF's own order splices the footnote in
    assert sorted(text.splitlines()) == sorted(plain.splitlines())  # nothing lost


def test_a_page_with_nothing_to_mend_keeps_mupdfs_text(tmp_path: Path) -> None:
    doc = pymupdf.open()
    page = doc.new_page()
    page.insert_text((72, 72), "A heading", fontsize=14)
    page.insert_textbox((72, 100, 500, 300), "One paragraph. It ends here.", fontsize=11)
    with doc:
        assert page_text(page) == page.get_text(flags=text_flags(pymupdf.TEXTFLAGS_TEXT))


def test_word_boxes_follow_the_same_order_so_the_whole_quote_is_highlighted(
    tmp_path: Path,
) -> None:
    path = _two_column_page(tmp_path / "paper.pdf")
    words = layer_words(path, 1)
    text = " ".join(w.text for w in words)
    assert "mul- tiple datasets" in text and text.index("8SQuAD") > text.index("tiple")
    quote = "When training with multiple datasets, TREC benefits greatly from more examples."
    match = locate_passage(words, quote)
    assert match.matched_words >= 0.8 * match.passage_words
    # Lines of both columns, and not the footnote at the foot of the page.
    assert any(box.x1 < 0.5 for box in match.boxes) and any(box.x0 > 0.5 for box in match.boxes)
    assert all(box.y1 < 0.5 for box in match.boxes)
