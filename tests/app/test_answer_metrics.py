"""Answer metrics: normalisation, containment on word boundaries, gold citations."""

from __future__ import annotations

import pytest

from app.eval.metrics import (
    answer_contains_gold,
    cites_gold,
    contains_answer,
    normalize_answer,
    token_recall,
)
from generation.answer import finalize_answer, stream_answer
from generation.config import GenerationSettings
from generation.generators.fake import FakeGenerator
from generation.types import FinalEvent
from tests.support.fixtures_generation import hit, page_unit


def test_normalize() -> None:
    assert normalize_answer("  The Double-Spending\nPROBLEM!  ") == "the double spending problem"
    assert normalize_answer("₹7,92,756 crore") == "7 92 756 crore"
    assert normalize_answer("ﬁle Ｎ° 14411*01") == "file n 14411 01"  # ligature, full width


@pytest.mark.parametrize(
    ("answer", "gold", "expected"),
    [
        ("We solve the double-spending problem [S1].", "The double-spending problem", True),
        ("We solve the double spending problem.", "double-spending problem", True),
        ("the docu-ment says so", "document", True),
        ("Tamar [S1] and Leviathan [S2] export gas.", "Tamar and Leviathan", True),
        ("DPR reaches 78.4 % top-20 accuracy", "78.4%", True),
        ("held on 27. Oktober 2006", "27. Oktober 2006", True),
        ("The value 2006 was used.", "2", False),  # word boundaries
        ("the double-spending problem", "triple spending", False),
        ("anything", "", False),
    ],
)
def test_contains_answer(answer: str, gold: str, expected: bool) -> None:
    assert contains_answer(answer, gold) is expected


def test_token_recall() -> None:
    assert token_recall("lasts 15 minutes [S1]", "About 15 minutes") == pytest.approx(2 / 3)
    assert token_recall("nothing", "") == 0.0


def test_refusals_never_contain_the_gold() -> None:
    hits = [hit(page_unit("slides.pdf", 2, "irrelevant"), 0.1)]
    events = list(stream_answer(FakeGenerator(), "q?", hits, GenerationSettings()))
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.answer.refused
    assert contains_answer(final.answer.text, "2")  # "slides.pdf p.2" is in the text...
    assert not answer_contains_gold(final.answer, "2")  # ...but a refusal does not count


def test_cites_gold() -> None:
    hits = [hit(page_unit("a.pdf", 1, "x"), 0.9), hit(page_unit("b.pdf", 5, "y"), 0.8)]
    answer = finalize_answer("y [S2]. z [S7].", hits)
    assert cites_gold(answer, lambda u: u.file_name == "b.pdf" and u.page == 5)
    assert not cites_gold(answer, lambda u: u.file_name == "a.pdf")
