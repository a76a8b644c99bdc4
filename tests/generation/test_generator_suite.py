"""Every generator passes the shared suite (tests/support/generator_suite.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from generation.config import GenerationSettings
from generation.generators.extractive import ExtractiveGenerator
from generation.generators.fake import FakeGenerator
from generation.generators.scoring import LexicalSentenceScorer
from generation.generators.vllm import VLLMGenerator
from tests.support.fake_openai_server import FakeOpenAIServer
from tests.support.generator_suite import GeneratorSuite


class TestFakeGenerator(GeneratorSuite):
    @pytest.fixture
    def generator(self) -> FakeGenerator:
        return FakeGenerator()


class TestExtractiveGenerator(GeneratorSuite):
    @pytest.fixture
    def generator(self, settings: GenerationSettings) -> ExtractiveGenerator:
        return ExtractiveGenerator(LexicalSentenceScorer(), settings)


class TestVLLMGenerator(GeneratorSuite):
    @pytest.fixture
    def generator(self, settings: GenerationSettings) -> Iterator[VLLMGenerator]:
        with FakeOpenAIServer() as server:
            generator = VLLMGenerator(
                settings.model_copy(update={"vllm_base_url": server.base_url})
            )
            yield generator
            generator.close()


@pytest.mark.slow
class TestExtractiveWithLiteScorer(GeneratorSuite):
    """The wiring the lite profile uses: the lite reranker's MiniLM sentence scorer."""

    @pytest.fixture(scope="class")
    def generator(self) -> ExtractiveGenerator:
        from retrieval.rerankers.lite import LiteReranker

        reranker = LiteReranker()  # the packaged all-MiniLM-L6-v2
        generator = ExtractiveGenerator(reranker.sentence_scorer, GenerationSettings())
        return generator
