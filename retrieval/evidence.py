"""Absolute evidence that retrieved hits answer a question: what the refusal test reads.

`Hit.score` is normalised over the candidates (the best hit always scores about 1), so it
cannot say whether anything relevant was found. The evidence is absolute: the largest
share of the question's content words (stop words dropped, light stemming, the same terms
the stage-1 sparse channel matches on) that one retrieved unit's text holds, its file title
included but not the location words every unit of its kind shares (`titled_text`: a
question saying "clip" or "page" matched every header, and "the animated restaurant clip"
was located in the tree video). An off-topic question finds few of its words anywhere; a
near-topic one ("the horsepower of the car in the hands-free card") finds the subject's
words but not the one it asks about.

Measured on the dev questions plus 42 unanswerable ones (docs/figures.md), this separated
answerable from unanswerable questions better than the raw rerank score, the raw dense
cosine of stage 1, or their sums with it (5-fold cross-validated). A threshold on it is
fitted with `mmrag eval` (GenerationSettings.refusal_threshold); the same rule holds for
every profile and generator.

Questions that ask *when* something happens in a video are the exception the lite profile
needs: its clip text is the file name, the time span, speech and on-screen text, never
the pictures, so "When is only one bottle left?" finds one or two of its words at best.
Their answer is a time, which a clip citation gives; `clip_evidence` (the same share over
clips only) with its own threshold decides whether the library holds a video the question
is about (GenerationSettings.locate_threshold).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from ingest.types import UnitKind
from retrieval.terms import term_set, tokenize
from retrieval.types import Hit
from retrieval.unit_text import titled_text

# Two words sharing their first PREFIX_CHARS letters count as one (a crude stemmer past the
# light plural stemming of the terms: "dependants"/"dependent", "attaching"/"attached").
PREFIX_CHARS = 6


def question_terms(question: str) -> set[str]:
    """The question's content terms that evidence counts: one-character terms dropped (the
    `s` of "card's", the pronoun "I": they say nothing about the subject), unless nothing
    else is left."""
    terms = set(tokenize(question))
    return {t for t in terms if len(t) > 1} or terms


def term_share(terms: set[str], text: str) -> float:
    """Share of `terms` that the text holds, a term matching a text word equal to it or
    sharing its first PREFIX_CHARS letters; 0.0 without terms."""
    if not terms:
        return 0.0
    words = term_set(text)
    prefixes = _prefixes(text)
    found = sum(
        1 for t in terms if t in words or (len(t) >= PREFIX_CHARS and t[:PREFIX_CHARS] in prefixes)
    )
    return found / len(terms)


@functools.lru_cache(maxsize=4096)
def _prefixes(text: str) -> frozenset[str]:
    """The first PREFIX_CHARS letters of the text's longer terms (memoised: the same
    retrieved units are judged query after query)."""
    return frozenset(w[:PREFIX_CHARS] for w in term_set(text) if len(w) >= PREFIX_CHARS)


def evidence_score(question: str, hits: Sequence[Hit]) -> float:
    """The largest share of the question's content terms (`question_terms`) found in one
    hit's text (`term_share`), in [0, 1]; 0.0 without hits or content terms."""
    terms = question_terms(question)
    return max((term_share(terms, titled_text(h.unit)) for h in hits), default=0.0)


def clip_evidence(question: str, hits: Sequence[Hit]) -> float:
    """`evidence_score` over the video clips among the hits only (0.0 without clips)."""
    return evidence_score(question, [h for h in hits if h.unit.kind is UnitKind.CLIP])


# "When ...", "During which part/interval ...", "At what time/point ...", "In which
# second ...", "At which moment ...": the answer is a moment or a span of time.
_ASKS_WHEN = re.compile(
    r"\bwhen\b|\b(?:during|at|in|from)\s+(?:which|what)\s+"
    r"(?:part|interval|moment|point|time|second|minute|segment|scene|span)s?\b",
    re.IGNORECASE,
)


def asks_when(question: str) -> bool:
    """Whether the question asks for a moment or a span of time ("When does ...",
    "During which interval ...")."""
    return _ASKS_WHEN.search(question) is not None
