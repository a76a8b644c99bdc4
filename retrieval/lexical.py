"""Lexical evidence over a small candidate set (what a reranker sees): query-term coverage
of a short text and figure/table caption matches (BM25: retrieval/bm25.py)."""

from __future__ import annotations

import re
from collections.abc import Sequence


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
