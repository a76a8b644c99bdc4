"""Sentence splitting of PDF text layers, OCR and transcripts: right pieces, verbatim."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from retrieval.sentences import WINDOW_RULES, split_sentences
from retrieval.verbatim import clean_span, is_verbatim


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


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


def test_line_break_hyphens_are_repaired_and_compounds_keep_theirs() -> None:
    text = "the main benefits are lost if a trusted party is required to prevent double-\nspending of coins."
    assert texts(text) == [
        "the main benefits are lost if a trusted party is required to prevent double-spending of coins."
    ]
    # A word the layout split loses the hyphen (the "num-ber", "detec-tion").
    text = "Each line has a num-\nber. The card left the detec-\ntion area."
    assert texts(text) == ["Each line has a number.", "The card left the detection area."]
    # The text itself decides first: a compound written whole elsewhere keeps its hyphen.
    assert texts("a pre-\nprint; this pre-print") == ["a pre-print; this pre-print"]
    # A capital or digit after the break starts a new part of a name: the hyphen stays.
    assert texts("COVID-\n19 and Hands-\nFree") == ["COVID-19 and Hands-Free"]
    # A part with a digit, or that is itself a compound, names something: it stays.
    assert texts("benchmarks 3d-\nraytrace and date-format-\ntofte") == [
        "benchmarks 3d-raytrace and date-format-tofte"
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


def test_long_sentences_are_never_cut() -> None:
    words = [f"w{i}" for i in range(100)]
    assert texts(" ".join(words)) == [" ".join(words)]
    text = " ".join(["word"] * 30) + ", " + " ".join(["more"] * 30) + "."
    assert texts(text) == [" ".join(text.split())]


def test_a_reference_wrapped_after_a_short_line_is_not_started_mid_sentence() -> None:
    # The quote started at "(CIKM), pages": a short line ending in "of the" or a
    # comma does not end its sentence.
    text = "[12] J. Doe. Dense retrieval. In Proceedings of the\n(CIKM), pages 1-10, 2019.\nNext item here."
    assert texts(text)[0].startswith("[12] J. Doe.")
    assert not any(t.startswith("(CIKM)") for t in texts(text))


def test_a_date_split_by_the_layout_stays_in_its_sentence() -> None:
    # A short line ending in a month name, then the year: the quote must not start at
    # "2023," (the answer to "When did the White House issue it?" is "March 2023").
    text = (
        "The Senate confirmed a National Cyber Director in June 2021 to serve as the principal adviser.\n"
        "The official resigned in February 2023. In March\n"
        "2023, the White House issued the National Cybersecurity Strategy, outlining how\n"
        "the administration will manage the nation's cybersecurity through five pillars.\n"
    )
    assert texts(text)[-1].startswith("In March 2023, the White House issued")


def test_one_long_footer_does_not_make_a_column_of_wrapped_lines_headings() -> None:
    # metrorock-instructions.pdf: ~58-char column lines and one 142-char footer. Judged
    # against the longest line, every column line looked unwrapped, and the quote stopped
    # at "...promotional value expires" without the date.
    column = (
        "* Please call 617-387-7625 (Everett) or 978-499-7625\n"
        "(Newburyport) to reserve classes or challenge course time.\n"
        "• For Packages 2 and 3, promotional value expires\n"
        "03/22/2012.\n"
    )
    footer = "*After this expiration date, you may still be able to redeem this voucher " * 2
    for text in (column, column + footer.strip() + "\n"):
        found = texts(text)
        assert found[0].endswith("to reserve classes or challenge course time."), found
        assert "• For Packages 2 and 3, promotional value expires 03/22/2012." in found, found


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
    sentences = split_sentences(text)
    previous_end = 0
    for s in sentences:
        assert s.text == clean_span(text, s.start, s.end)
        assert s.text and s.start >= previous_end  # in order, no overlap
        previous_end = s.end
        # Only whitespace and line-break hyphens differ from the original span.
        assert re.sub(r"[\s-]", "", s.text) == re.sub(r"[\s-]", "", text[s.start : s.end])
        assert is_verbatim(s.text, text)


# -- the lite reranker's window rules ---------------------------------------------------------


def test_window_rules_join_lower_case_wraps_and_end_after_three_letter_words() -> None:
    text = "Fig. 3 shows the\nresult. See e.g. the table.\nNext Line\n\nafter a blank"
    windows = split_sentences(text, rules=WINDOW_RULES)
    assert [s.text for s in windows] == [
        "Fig.",  # 3 letters end a sentence: the answer rules' abbreviation list does not apply
        "3 shows the result.",
        "See e.g. the table.",
        "Next Line",
        "after a blank",
    ]
    for s in windows:  # every window is a span of the text, whitespace collapsed
        assert " ".join(text[s.start : s.end].split()) == s.text


def test_window_rules_cut_an_overlong_sentence_into_60_word_windows() -> None:
    text = " ".join(f"w{i}" for i in range(130))
    windows = split_sentences(text, rules=WINDOW_RULES)
    assert [s.n_words for s in windows] == [60, 60, 10]
    assert windows[1].text.split()[0] == "w60" and windows[2].text.endswith("w129")
    assert [s.n_words for s in split_sentences(text)] == [130]  # answers never cut
