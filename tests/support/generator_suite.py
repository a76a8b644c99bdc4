"""The contract every Generator passes (fake, extractive, vLLM via the fake server, and the
in-process transformers one).

Use: subclass `GeneratorSuite` in a test module as `class TestMyGenerator(GeneratorSuite)`
and give it a `generator` fixture; the subclass inherits every test below. Subclasses of a
generator that cannot be steered (random weights) set `expects_grounded_text = False`.
"""

from __future__ import annotations

import pytest

from generation.answer import answer, finalize_answer, is_no_answer, stream_answer
from generation.base import Generator
from generation.citations import parse_citations
from generation.config import GenerationSettings
from generation.types import FinalEvent, TokenEvent
from tests.support.fixtures_generation import CountingGenerator, sample_hits

QUESTION = "What problem does the peer-to-peer network solve for electronic cash?"


class GeneratorSuite:
    """Behaviour shared by all generators. Needs a `generator` fixture."""

    # False for models whose output we cannot steer (tiny random weights): they must still
    # stream and never break citation checking, but need not cite or refuse in words.
    expects_grounded_text = True

    @pytest.fixture
    def settings(self) -> GenerationSettings:
        return GenerationSettings(refusal_threshold=0.5, extractive_sentences=2, max_new_tokens=64)

    def test_is_a_generator(self, generator: Generator) -> None:
        assert isinstance(generator, Generator)
        assert generator.name

    def test_streams_more_than_one_chunk(self, generator: Generator) -> None:
        pieces = list(generator.stream(QUESTION, sample_hits()))
        assert all(isinstance(p, str) for p in pieces)
        text = "".join(pieces)
        assert len(text.split()) > 3
        assert len([p for p in pieces if p]) > 1

    def test_cites_only_retrieved_sources(self, generator: Generator) -> None:
        hits = sample_hits()
        text = "".join(generator.stream(QUESTION, hits))
        checked = finalize_answer(text, hits)
        assert all(c.valid for c in checked.citations), checked.citations
        if self.expects_grounded_text:
            assert checked.citations, f"no citation in {text!r}"
            cited_units = {c.unit_id for c in checked.citations}
            assert cited_units <= {h.unit.id for h in hits}

    def test_stream_answer_events(self, generator: Generator, settings: GenerationSettings) -> None:
        hits = sample_hits()
        events = list(stream_answer(generator, QUESTION, hits, settings))
        tokens = [e for e in events[:-1] if isinstance(e, TokenEvent)]
        assert len(tokens) == len(events) - 1 and tokens
        final = events[-1]
        assert isinstance(final, FinalEvent)
        assert final.answer.hits == hits
        assert not final.answer.refused or not self.expects_grounded_text
        # Answer.text is the canonical form: only [Sn] markers of retrieved hits remain.
        for group in parse_citations(final.answer.text):
            assert group.raw.startswith("[S")
        assert all(c.valid == (c.source_index is not None) for c in final.answer.citations)

    def test_refuses_without_evidence(
        self, generator: Generator, settings: GenerationSettings
    ) -> None:
        counting = CountingGenerator(generator)
        weak = sample_hits()  # none of them says anything about Australia
        result = answer(counting, "What is the capital of Australia?", weak, settings)
        assert result.refused
        assert counting.calls == 0  # the model is not asked to guess
        assert not result.citations
        assert weak[0].unit.label in result.text  # the closest sources are shown

    def test_handles_empty_hit_list(
        self, generator: Generator, settings: GenerationSettings
    ) -> None:
        text = "".join(generator.stream(QUESTION, []))
        checked = finalize_answer(text, [])
        assert not [c for c in checked.citations if c.valid]
        if self.expects_grounded_text:
            assert is_no_answer(text)
        result = answer(generator, QUESTION, [], settings)
        assert result.refused and result.hits == []
