"""What kind of answer a question expects (generation.generators.answer_type)."""

from __future__ import annotations

import pytest

from generation.generators.answer_type import asks_quantity, states_new_figure


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many training questions does the dataset have?", True),
        ("How much does the membership cost?", True),
        ("What revenue did the company report for 2021-22?", True),
        ("What share of the electricity is powered by gas?", True),
        ("What was the total comprehensive income in fiscal 2021?", True),
        ("Who sent the progress memo?", False),
        ("Which filing status comes fourth on the form?", False),
        ("What does Figure 2 show?", False),
        ("When does the gym open?", False),
    ],
)
def test_asks_quantity(question: str, expected: bool) -> None:
    assert asks_quantity(question) is expected


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("Natural Questions 79,168 58,880 8,757", True),
        ("About 70% of the electricity", True),
        ("Revenue of ₹7,92,756 crore", True),
        ("A MacBook Pro with a 2.2 GHz Core 2 processor", True),
        ("It has 1200 members", True),
        # Years, dates and small numbers (list items, pages) are not figures.
        ("Years ended March 31, 2020 and 2021", False),
        ("Form 1040 (2010) Page 2", False),
        ("1 Partition the site set into blocks.", False),
        # A figure the question already holds is not an answer.
        ("Form 1040 is due", False),
    ],
)
def test_states_new_figure(sentence: str, expected: bool) -> None:
    assert states_new_figure(sentence, "How many lines does Form 1040 have?") is expected
