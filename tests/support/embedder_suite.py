"""The contract every dense Embedder passes (fake, MiniLM, the VLM embedders).

Use: subclass `EmbedderSuite` in a test module as `class TestMyEmbedder(EmbedderSuite)` and
give it an `embedder` fixture. Embedders without meaningful weights (tiny random models) set
`semantic = False`; `atol` is the tolerance for determinism and batch independence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.types import Unit
from retrieval.embedders.base import Embedder
from tests.support.fixtures_retrieval import BITCOIN, CLIPS, GARDEN, clip, page, write_png


class EmbedderSuite:
    """Behaviour shared by all dense embedders. Needs an `embedder` fixture."""

    semantic = True  # the model's vectors mean something (real weights or lexical fake)
    atol = 1e-5

    @pytest.fixture
    def units(self, tmp_path: Path) -> list[Unit]:
        """Two pages and a clip, with images on disk, plus a page without text."""
        png = write_png(tmp_path / "page.png", (200, 30, 30))
        frames = tuple(write_png(tmp_path / f"f{i}.jpg", (20 * i, 90, 160)) for i in range(2))
        return [
            page("d1", "bitcoin-paper.pdf", 1, " ".join(BITCOIN), (png,)),
            page("d2", "garden_guide.pdf", 1, " ".join(GARDEN), (png,)),
            clip("d3", "cooking-show.mp4", 0, CLIPS[1], images=frames),
            page("d4", "scan.pdf", 1, "", (png,)),
        ]

    def _check_matrix(self, matrix: np.ndarray, rows: int, embedder: Embedder) -> None:
        assert matrix.shape == (rows, embedder.dim)
        assert matrix.dtype == np.float32
        assert np.isfinite(matrix).all()
        np.testing.assert_allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-3)

    def test_is_an_embedder(self, embedder: Embedder) -> None:
        assert isinstance(embedder, Embedder)
        assert embedder.name and isinstance(embedder.dim, int) and embedder.dim > 0

    def test_query_vectors(self, embedder: Embedder) -> None:
        queries = ["what is double spending?", "how often to water tomatoes", "pasta"]
        self._check_matrix(embedder.embed_queries(queries), 3, embedder)

    def test_unit_vectors(self, embedder: Embedder, units: list[Unit]) -> None:
        self._check_matrix(embedder.embed_units(units), len(units), embedder)

    def test_empty_input(self, embedder: Embedder) -> None:
        assert embedder.embed_queries([]).shape == (0, embedder.dim)
        assert embedder.embed_units([]).shape == (0, embedder.dim)

    def test_deterministic(self, embedder: Embedder, units: list[Unit]) -> None:
        np.testing.assert_allclose(
            embedder.embed_units(units), embedder.embed_units(units), atol=self.atol
        )
        np.testing.assert_allclose(
            embedder.embed_queries(["peer-to-peer cash"]),
            embedder.embed_queries(["peer-to-peer cash"]),
            atol=self.atol,
        )

    def test_batch_independent(self, embedder: Embedder, units: list[Unit]) -> None:
        # A unit's vector must not depend on what else is in its batch (padding, pooling).
        together = embedder.embed_units(units)
        for row, unit in enumerate(units):
            np.testing.assert_allclose(
                embedder.embed_units([unit])[0], together[row], atol=self.atol * 100
            )

    def test_different_inputs_differ(self, embedder: Embedder, units: list[Unit]) -> None:
        vectors = embedder.embed_units(units[:3])
        assert not np.allclose(vectors[0], vectors[1], atol=1e-3)
        assert not np.allclose(vectors[0], vectors[2], atol=1e-3)

    def test_relevant_unit_outranks_irrelevant(self, embedder: Embedder, units: list[Unit]) -> None:
        if not self.semantic:
            pytest.skip("vectors of this embedder carry no meaning")
        vectors = embedder.embed_units(units[:3])
        queries = embedder.embed_queries(
            [
                "peer-to-peer electronic cash and the double-spending problem",
                "watering tomatoes and mulch in the garden",
                "boiling pasta in salted water",
            ]
        )
        sims = queries @ vectors.T  # (3 queries, 3 units): the diagonal is the relevant pair
        assert (sims.argmax(axis=1) == np.arange(3)).all(), sims
