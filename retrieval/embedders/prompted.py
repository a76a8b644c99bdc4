"""The `Embedder` side shared by the VLM embedders (in-process and over vLLM's HTTP API):
queries and units become prompt specs (retrieval/qwen_vl/formats.py), and each backend
embeds a non-empty list of specs its own way."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ingest.types import Unit
from retrieval.embedders.base import Matrix
from retrieval.qwen_vl.formats import PromptOptions, query_prompt, unit_prompt
from retrieval.qwen_vl.prompts import PromptSpec


class PromptedEmbedder:
    """Base of an embedder of prompt specs: subclasses set `settings` and `dim` and
    implement `embed_specs`."""

    settings: PromptOptions
    dim: int

    def embed_queries(self, queries: Sequence[str]) -> Matrix:
        """(len(queries), dim) unit vectors of the queries, with the query instruction."""
        return self._embed([query_prompt(q, self.settings) for q in queries])

    def embed_units(self, units: Sequence[Unit]) -> Matrix:
        """(len(units), dim) unit vectors of pages (image + text) and clips (frames + text)."""
        return self._embed([unit_prompt(u, self.settings) for u in units])

    def _embed(self, specs: list[PromptSpec]) -> Matrix:
        if not specs:
            return np.zeros((0, self.dim), dtype=np.float32)
        return self.embed_specs(specs)

    def embed_specs(self, specs: list[PromptSpec]) -> Matrix:
        """(len(specs), dim) unit vectors of a non-empty list of prompt specs."""
        raise NotImplementedError
