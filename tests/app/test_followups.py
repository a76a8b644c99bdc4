"""Follow-up questions read with the question they follow (app/followups.py)."""

from __future__ import annotations

import pytest

from app.followups import is_followup, standalone_question


@pytest.mark.parametrize(
    "question",
    [
        "And what is the phone number to reserve it?",
        "What about the second dataset?",
        "how about Sundays?",
        "How tall must they be?",
        "When was this signed?",
        "Is there a fee?",
        "Who wrote it?",
    ],
)
def test_follow_ups(question: str) -> None:
    assert is_followup(question)


@pytest.mark.parametrize(
    "question",
    [
        "At which MetroRock location is the challenge course package valid?",
        "What is DPR's top-20 accuracy on Natural Questions?",
        "Which bands played on Sunday?",
        "Italics: a question about item 3",  # "it" only inside words
        "",
    ],
)
def test_standalone_questions(question: str) -> None:
    assert not is_followup(question)


def test_a_follow_up_is_asked_after_the_last_question_that_was_not_one() -> None:
    topic = "At which MetroRock location is the challenge course package valid?"
    first = "And what is the phone number to reserve it?"
    assert standalone_question([topic], first) == f"{topic} {first}"
    # A second follow-up goes with the topic, not with the first follow-up.
    assert standalone_question([topic, first], "How tall must I be for it?") == (
        f"{topic} How tall must I be for it?"
    )
    # A new topic stands alone, and so does a question with nothing before it.
    assert standalone_question([topic], "Which bands played on Sunday?") == (
        "Which bands played on Sunday?"
    )
    assert standalone_question([], first) == first
    assert standalone_question(["  "], first) == first


def test_a_conversation_opened_by_a_referring_question_keeps_it_as_the_topic() -> None:
    # "What does this paper propose?" refers to nothing before it: it opens the topic.
    opening = "What does this paper propose?"
    assert standalone_question([opening], "And how is it evaluated?") == (
        f"{opening} And how is it evaluated?"
    )
