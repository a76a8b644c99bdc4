"""Sentence scorers for extractive answers: how well a sentence answers a question.

`SentenceScorer` is the interface; `LexicalSentenceScorer` is the dependency-free
implementation (IDF-weighted query-term coverage plus a phrase bonus), used on its own when
no model is configured and as a fallback. A model-backed scorer (the lite reranker's MiniLM
MaxSim) plugs in through the same interface.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from retrieval.terms import tokenize

# Share of the score given to query bigrams found in order in the sentence.
_PHRASE_WEIGHT = 0.25
# Names, identifiers and numbers in a question (`lineCap`, `Tamar`, `1040`) say more about
# where the answer is than its common words do.
_SALIENT_BOOST = 2.0
_QUERY_WORD = re.compile(r"\w+")


def salient_terms(query: str) -> set[str]:
    """Query terms written with a capital (not the first word) or a digit."""
    words = _QUERY_WORD.findall(query)[1:]
    salient = [w for w in words if any(c.isupper() or c.isdigit() for c in w)]
    return {t for w in salient for t in tokenize(w)}


@runtime_checkable
class SentenceScorer(Protocol):
    """Scores sentences against a query: higher answers it better; comparable within one
    call only. The sentences come in groups, one per unit (its `unit_sentences` texts):
    the same units come back query after query, so a scorer may keep per-group work."""

    name: str

    def score_groups(
        self, query: str, groups: Sequence[tuple[str, ...]]
    ) -> list[npt.NDArray[np.float64]]: ...


def _bigrams(tokens: Sequence[str]) -> set[tuple[str, str]]:
    return set(zip(tokens, tokens[1:], strict=False))


class LexicalSentenceScorer:
    """IDF-weighted share of the query's content words a sentence contains, in [0, 1],
    plus a bonus for query word pairs it contains in order. IDF is computed over the
    sentences of one call, so words every sentence has count little; names, identifiers
    and numbers of the query weigh double."""

    name = "lexical"

    def score_groups(
        self, query: str, groups: Sequence[tuple[str, ...]]
    ) -> list[npt.NDArray[np.float64]]:
        """One score in [0, 1] per sentence of each group; IDF over all of them."""
        flat = self.score(query, [s for group in groups for s in group])
        out, start = [], 0
        for group in groups:
            out.append(np.asarray(flat[start : start + len(group)], dtype=np.float64))
            start += len(group)
        return out

    def score(self, query: str, sentences: Sequence[str]) -> list[float]:
        """One score in [0, 1] per sentence."""
        query_tokens = tokenize(query)
        query_terms = set(query_tokens)
        if not query_terms or not sentences:
            return [0.0] * len(sentences)
        sentence_tokens = [tokenize(s) for s in sentences]
        sentence_terms = [set(tokens) for tokens in sentence_tokens]
        df = Counter(t for terms in sentence_terms for t in terms & query_terms)
        n = len(sentences)
        salient = salient_terms(query)
        weight = {
            t: math.log(1.0 + (n + 1) / (df[t] + 0.5)) * (_SALIENT_BOOST if t in salient else 1.0)
            for t in query_terms
        }
        total = sum(weight.values())
        query_pairs = _bigrams(query_tokens)
        scores: list[float] = []
        for tokens, terms in zip(sentence_tokens, sentence_terms, strict=True):
            coverage = sum(weight[t] for t in terms & query_terms) / total
            phrase = len(query_pairs & _bigrams(tokens)) / len(query_pairs) if query_pairs else 0.0
            scores.append((1 - _PHRASE_WEIGHT) * coverage + _PHRASE_WEIGHT * phrase)
        return scores
