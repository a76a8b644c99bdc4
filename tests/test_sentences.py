"""Sentence splitting of PDF text layers, OCR and transcripts: right pieces, verbatim."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from generation.sentences import clean_whitespace, split_sentences


def texts(text: str, max_words: int = 40) -> list[str]:
    return [s.text for s in split_sentences(text, max_words)]


def test_wrapped_prose_is_joined_and_split_at_sentence_ends() -> None:
    text = (
        "Abstract. A purely peer-to-peer version of electronic cash would allow online\n"
        "payments to be sent directly from one party to another without going through a\n"
        "financial institution. We propose a solution to the double-spending problem.\n"
    )
    assert texts(text) == [
        "Abstract.",
        "A purely peer-to-peer version of electronic cash would allow online payments to be "
        "sent directly from one party to another without going through a financial institution.",
        "We propose a solution to the double-spending problem.",
    ]


def test_hyphenated_line_break_is_joined_without_space() -> None:
    text = "the main benefits are lost if a trusted party is required to prevent double-\nspending of coins."
    assert texts(text) == [
        "the main benefits are lost if a trusted party is required to prevent double-spending of coins."
    ]


def test_abbreviations_ordinals_and_initials_do_not_end_sentences() -> None:
    text = "See e.g. Fig. 3 by J. Smith et al. for details. Sie fand am 27. Oktober 2006 statt. Next one."
    assert texts(text) == [
        "See e.g. Fig. 3 by J. Smith et al. for details.",
        "Sie fand am 27. Oktober 2006 statt.",
        "Next one.",
    ]


def test_bullets_headings_and_table_rows_stay_apart() -> None:
    text = (
        "Hands-free card\n"
        "• Remote locking is disabled after\n"
        "  about 15 minutes\n"
        "• The card must be inside the car\n"
        "Dataset    Train    Dev\n"
        "Natural Questions    79,168    8,757\n"
        "lineCap | butt\n"
        "Crawlspace access:\n"
        "From the laundry closet\n"
    )
    assert texts(text) == [
        "Hands-free card",
        "• Remote locking is disabled after about 15 minutes",
        "• The card must be inside the car",
        "Dataset Train Dev",
        "Natural Questions 79,168 8,757",
        "lineCap | butt",
        "Crawlspace access:",
        "From the laundry closet",
    ]


def test_unpunctuated_transcript_is_cut_into_windows() -> None:
    words = [f"w{i}" for i in range(100)]
    pieces = texts(" ".join(words), max_words=40)
    assert [len(p.split()) for p in pieces] == [40, 40, 20]
    assert " ".join(pieces) == " ".join(words)


def test_long_sentence_prefers_cutting_after_a_clause() -> None:
    text = " ".join(["word"] * 30) + ", " + " ".join(["more"] * 30) + "."
    pieces = texts(text, max_words=40)
    assert pieces[0].endswith("word,") and pieces[1].startswith("more")


def test_cjk_and_empty() -> None:
    assert texts("第一句。第二句！") == ["第一句。", "第二句！"]
    assert texts("") == [] and texts(" \n ... \n") == []


def test_ordinals_and_neighbours() -> None:
    sentences = split_sentences("A one.\nB two.\n\nC three.")
    assert [s.ordinal for s in sentences] == [0, 1, 2]


_TEXT = st.lists(
    st.sampled_from(
        [
            "word",
            "Word",
            "docu-",
            "ment",
            ".",
            ",",
            "e.g.",
            "27.",
            "•",
            "|",
            "   ",
            "\n",
            "\n\n",
            "Ü",
            "。",
            "?",
            "-",
            "\t",
        ]
    ),
    max_size=60,
).map(lambda parts: " ".join(parts) if len(parts) % 2 else "".join(parts))


@given(_TEXT)
def test_sentences_are_verbatim_spans(text: str) -> None:
    sentences = split_sentences(text, max_words=7)
    previous_end = 0
    for s in sentences:
        assert s.text == clean_whitespace(text[s.start : s.end])
        assert s.text and s.start >= previous_end  # in order, no overlap
        previous_end = s.end
        # Only whitespace differs from the original span.
        assert re.sub(r"\s", "", s.text) == re.sub(r"\s", "", text[s.start : s.end])
