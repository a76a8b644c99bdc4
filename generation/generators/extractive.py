"""The lite-profile generator: answer with the best sentences of the top units, verbatim.

No text is invented: every sentence of the answer is a span of a unit's text with only its
whitespace cleaned (generation.sentences), followed by the `[Sn]` marker of its source.
The best-scoring sentence is taken first; when it is short (a table row, a `label:` line,
a heading) its better-scoring neighbour comes with it, because the answer is often on the
next line; other slots go to sentences scoring at least half as well as the best.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from generation.config import GenerationSettings
from generation.generators.scoring import LexicalSentenceScorer, SentenceScorer
from generation.prompts import NO_ANSWER, source_marker
from generation.sentences import Sentence, split_sentences
from generation.streaming import word_chunks
from retrieval.rerankers.base import Reranker
from retrieval.types import Hit

logger = logging.getLogger(__name__)

SHORT_SENTENCE_WORDS = 8  # shorter than this, a sentence needs its neighbour for context
MAX_SENTENCE_WORDS = 40  # longer sentences are cut, so answers stay short


@dataclass(frozen=True, slots=True)
class ScoredSentence:
    """A candidate sentence of hit `source_index` (1-based) with its combined score."""

    source_index: int
    sentence: Sentence
    score: float

    @property
    def key(self) -> tuple[int, int]:
        """Identity of the sentence: (source, position in the unit)."""
        return self.source_index, self.sentence.ordinal


class ExtractiveGenerator:
    """Picks `settings.extractive_sentences` sentences from the top `max_units` hits.

    A sentence's score is the scorer's score plus `hit_weight * hit.score`, so the
    retriever's confidence in a unit breaks near-ties between units. Without any sentence
    scoring above `min_score` it says it cannot find the answer.
    """

    name = "extractive"

    def __init__(
        self,
        scorer: SentenceScorer,
        settings: GenerationSettings,
        *,
        max_units: int = 3,
        hit_weight: float = 0.2,
        min_score: float = 0.0,
    ) -> None:
        self.scorer = scorer
        self.settings = settings
        self.max_units = max_units
        self.hit_weight = hit_weight
        self.min_score = min_score

    @classmethod
    def from_reranker(
        cls, reranker: Reranker | None, settings: GenerationSettings
    ) -> ExtractiveGenerator:
        """Score sentences with the reranker's sentence scorer when it has one (the lite
        reranker), lexically otherwise."""
        scorer = getattr(reranker, "sentence_scorer", None)
        if not isinstance(scorer, SentenceScorer):
            scorer = LexicalSentenceScorer()
        return cls(scorer, settings)

    def _candidates(self, question: str, hits: Sequence[Hit]) -> list[ScoredSentence]:
        """Every sentence of the top units with its combined score, in text order."""
        flat = [
            (index, hit, sentence)
            for index, hit in enumerate(hits[: self.max_units], start=1)
            for sentence in split_sentences(hit.unit.text, MAX_SENTENCE_WORDS)
        ]
        if not flat:
            return []
        raw = self.scorer.score(question, [s.text for _, _, s in flat])
        return [
            ScoredSentence(index, s, r + self.hit_weight * hit.score if r > self.min_score else 0.0)
            for (index, hit, s), r in zip(flat, raw, strict=True)
        ]

    def select(self, question: str, hits: Sequence[Hit]) -> list[ScoredSentence]:
        """The chosen sentences, best first (empty when nothing answers the question)."""
        candidates = self._candidates(question, hits)
        ranked = sorted((c for c in candidates if c.score > 0), key=lambda c: -c.score)
        if not ranked:
            return []
        best = ranked[0]
        picks = [best]
        limit = self.settings.extractive_sentences
        if limit >= 2 and best.sentence.n_words < SHORT_SENTENCE_WORDS:
            by_key = {c.key: c for c in candidates}
            ordinal = best.sentence.ordinal
            # Next line first, so it wins ties: a value follows its label more often.
            neighbours = [
                n
                for o in (ordinal + 1, ordinal - 1)
                if (n := by_key.get((best.source_index, o))) is not None
            ]
            if neighbours:
                picks.append(max(neighbours, key=lambda c: c.score))
        for candidate in ranked[1:]:
            if len(picks) >= limit or candidate.score < 0.5 * best.score:
                break
            if all(
                candidate.key != p.key and candidate.sentence.text != p.sentence.text for p in picks
            ):
                picks.append(candidate)
        return picks

    def compose(self, question: str, hits: Sequence[Hit]) -> str:
        """The whole answer: the chosen sentences grouped by source (best source first, in
        text order within a source), each group followed by its `[Sn]` marker."""
        picks = self.select(question, hits)
        if not picks:
            logger.info("no sentence of the top %d units matches %r", self.max_units, question)
            return NO_ANSWER
        order: list[int] = []
        for pick in picks:
            if pick.source_index not in order:
                order.append(pick.source_index)
        groups: list[str] = []
        for index in order:
            sentences = sorted(
                (p.sentence for p in picks if p.source_index == index), key=lambda s: s.ordinal
            )
            groups.append(" ".join(s.text for s in sentences) + f" {source_marker(index)}")
        return " ".join(groups)

    def stream(self, question: str, hits: Sequence[Hit]) -> Iterator[str]:
        """The answer word by word."""
        yield from word_chunks(self.compose(question, hits))
