"""stream_answer / answer: refusal without evidence, events, checked citations, errors."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest

from generation.answer import (
    LOCATED_PREFIX,
    Route,
    answer,
    has_evidence,
    refusal_text,
    route,
    stream_answer,
)
from generation.citations import render_answer
from generation.config import GenerationSettings
from generation.errors import GeneratorUnavailable
from generation.prompts import NO_ANSWER
from generation.types import FinalEvent, TokenEvent
from retrieval.evidence import evidence_score
from retrieval.types import Hit
from tests.support.fixtures_generation import (
    CountingGenerator,
    clip_unit,
    hit,
    page_unit,
    sample_hits,
)

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


@pytest.mark.parametrize(
    ("question", "refused", "evidence"),
    [
        # The page holds call, shuttle and service, not night: 3 of 4.
        ("Whom to call for the shuttle service at night?", False, 0.75),
        ("What is the capital of Australia?", True, 0.0),
    ],
)
def test_every_answer_carries_the_evidence_its_route_read(
    question: str, refused: bool, evidence: float
) -> None:
    metro = page_unit("metrorock.pdf", 1, "For shuttle service, call 617-387-7625.")
    hits = [hit(metro, 0.9)]
    settings = GenerationSettings(refusal_threshold=0.5)
    final = answer(ScriptedGenerator(["Call 617-387-7625 [S1]."]), question, hits, settings)
    assert final.refused is refused
    assert final.evidence == pytest.approx(evidence)


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
    # Above the evidence threshold, the generator may still find nothing to say: that
    # refusal reads as any other, with the closest sources.
    hits = sample_hits()
    result = answer(ScriptedGenerator([NO_ANSWER]), "q", hits, SETTINGS)
    assert result.refused and result.text == refusal_text(hits)
    assert result.text.startswith(NO_ANSWER) and "closest, not an answer" in result.text


def test_an_empty_reply_becomes_a_refusal() -> None:
    result = answer(ScriptedGenerator(["", "  "]), "q", sample_hits(), SETTINGS)
    assert result.refused and result.text == refusal_text(sample_hits())


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


def _bottle_hits() -> list[Hit]:
    # Lite clip text: header words (file title, "video clip"), no speech.
    return [
        hit(page_unit("manual.pdf", 3, "Place the bottle on the table before cleaning."), 0.9),
        hit(clip_unit("bottle-detection.mp4", 1, 6.0, 11.0, ""), 0.8),
        hit(clip_unit("bottle-detection.mp4", 3, 17.0, 22.0, ""), 0.7),
    ]


LOCATE = GenerationSettings(refusal_threshold=0.6, locate_threshold=0.1)


def test_a_when_question_about_a_video_is_located_not_refused() -> None:
    question = "When is only a single water bottle left standing on the table?"
    hits = _bottle_hits()
    assert route(question, hits, LOCATE) is Route.LOCATE
    counting = CountingGenerator(ScriptedGenerator(["never"]))
    result = answer(counting, question, hits, LOCATE)
    assert counting.calls == 0
    assert result.located and not result.refused
    assert result.evidence == evidence_score(question, hits) < LOCATE.refusal_threshold
    # The clips, best first, as valid citations; the page is not one of them.
    assert [c.source_index for c in result.citations] == [2, 3]
    assert all(c.valid for c in result.citations)
    shown = render_answer(result)
    assert shown.startswith(LOCATED_PREFIX)
    assert "bottle-detection.mp4 00:06-00:11" in shown
    assert shown.index("00:06-00:11") < shown.index("00:17-00:22")


def test_only_questions_asking_when_are_located() -> None:
    hits = _bottle_hits()
    # The same words, not asking for a time: nothing to point at, refused.
    assert route("Which colour is the single water bottle?", hits, LOCATE) is Route.REFUSE
    # Asking when, but about nothing any clip holds: refused.
    assert route("When did the Berlin Wall fall?", hits, LOCATE) is Route.REFUSE
    # Asking when, with no clip among the hits: refused.
    assert route("When is the bottle left?", hits[:1], LOCATE) is Route.REFUSE
    # Enough evidence: quoted as usual.
    assert route("Where to place the bottle?", hits, LOCATE) is Route.ANSWER


def test_a_generator_that_reads_frames_answers_located_questions_itself() -> None:
    class Seeing(ScriptedGenerator):
        reads_frames = True

    question = "During which interval is the leftmost water bottle removed?"
    result = answer(Seeing(["From 6 to 11 s [S2]."]), question, _bottle_hits(), LOCATE)
    assert result.text == "From 6 to 11 s [S2]." and not result.located and not result.refused


def test_a_when_question_with_nothing_to_quote_falls_back_to_locating() -> None:
    # Evidence is enough (the page holds the words) but the generator quotes nothing:
    # the question asks when and a clip is about it, so the clips are listed.
    question = "When is the bottle placed on the table?"
    hits = _bottle_hits()
    assert route(question, hits, LOCATE) is Route.ANSWER
    events = list(stream_answer(ScriptedGenerator([NO_ANSWER]), question, hits, LOCATE))
    final = events[-1]
    assert isinstance(final, FinalEvent) and final.answer.located and not final.answer.refused
    assert [e.text for e in events if isinstance(e, TokenEvent)] == [final.answer.text]
    # A quote is kept as it is.
    quoted = answer(ScriptedGenerator(["Place the bottle [S1]."]), question, hits, LOCATE)
    assert quoted.text == "Place the bottle [S1]." and not quoted.located


def test_evidence_ignores_one_letter_terms_and_matches_word_variants() -> None:
    from retrieval.evidence import evidence_score

    unit = page_unit("manual.pdf", 2, "Clean the filters often. Attach dependent forms.")
    hits = [hit(unit, 0.5)]
    # "I" says nothing about the subject: 3 of 3 terms, not 3 of 4.
    assert evidence_score("How often should I clean the filter?", hits) == 1.0
    # "attaching"/"Attach" and "dependants"/"dependent" share their first six letters;
    # "attention" and "depot" match nothing ("attent", a five-letter word: exact only).
    assert evidence_score("attaching dependants", hits) == 1.0
    assert evidence_score("attention dependants", hits) == 0.5
    assert evidence_score("depot", hits) == 0.0
