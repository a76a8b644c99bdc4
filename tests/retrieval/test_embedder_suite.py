"""Every text embedder passes the shared suite (tests/support/embedder_suite.py), plus MiniLM
specifics: long pages, pooling, model errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.errors import ModelUnavailable
from retrieval.embedders.fake import FakeEmbedder
from retrieval.embedders.minilm import MiniLMEmbedder, load_text_encoder
from tests.support.embedder_suite import EmbedderSuite
from tests.support.fixtures_retrieval import BITCOIN, GARDEN, minilm, page


class TestFakeEmbedder(EmbedderSuite):
    @pytest.fixture
    def embedder(self) -> FakeEmbedder:
        return FakeEmbedder(dim=96)


class TestMiniLMEmbedder(EmbedderSuite):
    @pytest.fixture
    def embedder(self) -> MiniLMEmbedder:
        return minilm()


def test_minilm_is_the_packaged_all_minilm() -> None:
    embedder = minilm()
    assert embedder.dim == 384
    assert embedder.model.max_length == 256  # type: ignore[attr-defined]


def test_long_page_keeps_evidence_beyond_the_first_256_tokens() -> None:
    # The relevant sentence sits after ~600 words of gardening; a truncating encoder never
    # sees it, passage pooling does.
    filler = " ".join([GARDEN[0]] * 40)
    long_page = page("d", "notes.pdf", 1, f"{filler} {BITCOIN[1]}")
    query = "double-spending problem solved with a peer-to-peer network and proof-of-work"
    model = minilm().model
    pooled = MiniLMEmbedder(encoder=model, pooling="mean")
    truncated = MiniLMEmbedder(encoder=model, pooling="first")
    assert len(pooled.unit_passages(long_page)) > 1
    q = pooled.embed_queries([query])[0]
    assert (
        float(pooled.embed_units([long_page])[0] @ q)
        > float(truncated.embed_units([long_page])[0] @ q) + 0.05
    )


def test_max_pooling_is_unit_norm() -> None:
    embedder = MiniLMEmbedder(encoder=minilm().model, pooling="max", passage_words=20)
    vectors = embedder.embed_units([page("d", "a.pdf", 1, " ".join(BITCOIN))])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="no-such-model"):
        load_text_encoder(str(tmp_path / "no-such-model"))
