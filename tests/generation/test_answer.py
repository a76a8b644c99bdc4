"""stream_answer / answer: refusal without evidence, events, checked citations, errors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from generation.answer import answer, has_evidence, refusal_text, stream_answer
from generation.config import GenerationSettings
from generation.errors import GeneratorUnavailable
from generation.prompts import NO_ANSWER
from generation.types import FinalEvent, TokenEvent
from retrieval.types import Hit
from tests.support.fixtures_generation import CountingGenerator, hit, page_unit, sample_hits

SETTINGS = GenerationSettings(refusal_threshold=0.0)  # always answer: tests of the stream


class ScriptedGenerator:
    """Streams fixed pieces, optionally failing after them."""

    name = "scripted"

    def __init__(self, pieces: list[str], fail: bool = False) -> None:
        self.pieces = pieces
        self.fail = fail

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        yield from self.pieces
        if self.fail:
            raise GeneratorUnavailable("vLLM at http://x: the stream broke off")


def test_threshold_is_inclusive() -> None:
    # "peer network spending": the unit holds 2 of the 3 content words (0.667 >= 0.6).
    unit = page_unit("a.pdf", 1, "A peer network")
    settings = GenerationSettings(refusal_threshold=0.6)
    assert has_evidence("peer network spending", [hit(unit, 0.3)], settings)
    assert not has_evidence("peer cash spending", [hit(unit, 0.3)], settings)
    assert not has_evidence("peer network", [], settings)
    exact = GenerationSettings(refusal_threshold=2 / 3)
    assert has_evidence("peer network spending", [hit(unit, 0.3)], exact)


def test_evidence_is_absolute_not_the_normalised_score() -> None:
    # The bug: the best hit's normalised score is always about 1.0, so nothing was
    # ever refused ("What is the capital of Australia?" got an answer). A top hit
    # normalised to 1.0 that holds none of the question's words is refused.
    settings = GenerationSettings(refusal_threshold=0.5)
    metro = page_unit("metrorock.pdf", 1, "For shuttle service from the Wellington T stop, call.")
    top = Hit(metro, score=1.0, stage1_score=0.9, rerank_score=5.0)
    assert not has_evidence("What is the capital of Australia?", [top], settings)
    assert has_evidence("Whom to call for the shuttle service?", [top], settings)
    # The best of the hits counts, whatever its rank.
    other = Hit(page_unit("b.pdf", 1, "Canberra is the capital of Australia."), 0.1, 0.1)
    assert has_evidence("What is the capital of Australia?", [top, other], settings)


def test_near_topic_question_is_refused() -> None:
    # It names the document's subject but asks what the page does not say.
    card = page_unit(
        "car-manual-handsfree-card.pdf",
        1,
        "HANDS-FREE CARD: if the card has been within the detection area for approximately "
        "15 minutes, remote locking of the car is disabled.",
    )
    question = "What is the recommended tyre pressure for the car?"
    assert not has_evidence(question, [hit(card, 0.9)], GenerationSettings())
    answerable = "After how long in the detection area is remote locking disabled?"
    assert has_evidence(answerable, [hit(card, 0.9)], GenerationSettings())


def test_events_and_checked_answer() -> None:
    generator = ScriptedGenerator(["It is ", "five [S1", "] and ", "ten [S9]."])
    events = list(stream_answer(generator, "q", sample_hits(), SETTINGS))
    assert [e.text for e in events if isinstance(e, TokenEvent)] == generator.pieces
    final = events[-1]
    assert isinstance(final, FinalEvent)
    assert final.answer.text == "It is five [S1] and ten."
    assert [(c.source_index, c.valid) for c in final.answer.citations] == [(1, True), (None, False)]
    assert not final.answer.refused


def test_the_model_saying_it_cannot_find_it_is_a_refusal() -> None:
    result = answer(ScriptedGenerator([NO_ANSWER]), "q", sample_hits(), SETTINGS)
    assert result.refused and result.text == NO_ANSWER


def test_an_empty_reply_becomes_a_refusal() -> None:
    result = answer(ScriptedGenerator(["", "  "]), "q", sample_hits(), SETTINGS)
    assert result.refused and result.text == NO_ANSWER


def test_refusal_lists_the_closest_sources_best_first() -> None:
    hits = [hit(page_unit("a.pdf", 1, "x"), 0.1), hit(page_unit("b.pdf", 2, "y"), 0.2)]
    counting = CountingGenerator(ScriptedGenerator(["never"]))
    events = list(stream_answer(counting, "zebra", hits, GenerationSettings()))
    assert counting.calls == 0 and len(events) == 2
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.answer.refused
    assert final.answer.text == refusal_text(hits)
    assert final.answer.text.index("b.pdf p.2") < final.answer.text.index("a.pdf p.1")
    assert "do not cover" in final.answer.text and "closest, not an answer" in final.answer.text
    assert final.answer.hits == hits and final.answer.citations == []


def test_generator_errors_reach_the_caller_after_the_streamed_tokens() -> None:
    events: list[object] = []
    with pytest.raises(GeneratorUnavailable, match="broke off"):
        for event in stream_answer(
            ScriptedGenerator(["Partial "], fail=True), "q", sample_hits(), SETTINGS
        ):
            events.append(event)
    assert events == [TokenEvent("Partial ")]
