"""Lexical evidence over a small candidate set (what a reranker sees): BM25 with IDF from the
candidates themselves, and query-term coverage of a short text."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence


def bm25_scores(
    query_terms: Sequence[str],
    documents: Sequence[Sequence[str]],
    k1: float = 1.2,
    b: float = 0.75,
) -> list[float]:
    """BM25 of each tokenised document for the distinct query terms, with IDF
    `ln(1 + (N - df + 0.5) / (df + 0.5))` over `documents` (always positive)."""
    terms = set(query_terms)
    n = len(documents)
    if not terms or n == 0:
        return [0.0] * n
    counts = [Counter(doc) for doc in documents]
    lengths = [len(doc) for doc in documents]
    avg_len = max(sum(lengths) / n, 1.0)
    idf = {}
    for term in terms:
        df = sum(1 for c in counts if term in c)
        idf[term] = math.log(1.0 + (n - df + 0.5) / (df + 0.5))
    scores = []
    for c, length in zip(counts, lengths, strict=True):
        norm = k1 * (1.0 - b + b * length / avg_len)
        scores.append(sum(idf[t] * c[t] * (k1 + 1.0) / (c[t] + norm) for t in terms if c[t] > 0))
    return scores


def coverage(query_terms: Sequence[str], text_terms: Sequence[str]) -> float:
    """Share of the distinct query terms that occur in the text, in [0, 1]."""
    wanted = set(query_terms)
    if not wanted:
        return 0.0
    return len(wanted & set(text_terms)) / len(wanted)


# "Figure 2", "Fig. 2", "Table 3", "Abbildung 2", "Tableau 3": references a question can make
# to a numbered float; the page holding its caption ("Figure 2:" at a line start) is the
# one that shows it, while other pages merely mention it.
_FLOAT_WORDS = r"(?:figure|fig\.?|table|tab\.?|abbildung|abb\.?|tabelle|tableau|tabla|figura)"
_FLOAT_REF = re.compile(rf"\b{_FLOAT_WORDS}\s*(\d+)", re.IGNORECASE)


def float_references(text: str) -> set[tuple[str, str]]:
    """Numbered figure/table references in a text, as (kind, number), kind "fig" or "tab"."""
    return {(_float_kind(m.group(0)), m.group(1)) for m in _FLOAT_REF.finditer(text)}


def _float_kind(word: str) -> str:
    return "tab" if word.lower().startswith("tab") else "fig"


def caption_match(query: str, text: str) -> float:
    """1.0 when the text holds the caption of a figure/table the query names ("Figure 2:"
    at a line start), 0.5 when it only mentions it, else 0.0."""
    wanted = float_references(query)
    if not wanted:
        return 0.0
    best = 0.0
    for line in text.splitlines():
        for match in _FLOAT_REF.finditer(line):
            if (_float_kind(match.group(0)), match.group(1)) not in wanted:
                continue
            at_start = not line[: match.start()].strip()
            rest = line[match.end() :].lstrip()
            if at_start and (not rest or rest[0] in ":.|-–"):
                return 1.0
            best = 0.5
    return best
