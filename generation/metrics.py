"""Answer quality metrics for `mmrag eval --answers`: pure functions.

`contains_answer` asks whether the gold answer string appears in the answer once both are
normalised (Unicode NFKC, case, punctuation and symbols, whitespace), on word boundaries
("2" is not found in "2006"), ignoring `[Sn]` citation markers. A hyphen may either
separate words or be a line-break hyphenation, so both readings are tried
("double-spending" = "double spending"; "docu-ment" = "document").
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

from generation.citations import cited_hits
from generation.types import Answer
from ingest.types import Unit

_MARKER = re.compile(r"\[S\d+\]")
_HYPHENS = re.compile(r"(?<=\w)[-‐‑–](?=\w)")


def _is_separator(char: str) -> bool:
    # Punctuation (P*) and symbols (S*: currency, degree, math) separate words.
    return unicodedata.category(char)[0] in "PS"


def normalize_answer(text: str) -> str:
    """NFKC, casefolded, punctuation and symbols as spaces, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(" " if _is_separator(c) else c for c in text)
    return " ".join(text.split())


def _readings(text: str) -> set[str]:
    """The normalised text with hyphens as separators, and with hyphenated words joined."""
    return {normalize_answer(text), normalize_answer(_HYPHENS.sub("", text))}


def contains_answer(answer_text: str, gold: str) -> bool:
    """Whether the normalised `gold` appears in the normalised `answer_text` on word
    boundaries (False for an empty gold)."""
    answers = _readings(_MARKER.sub(" ", answer_text))
    golds = {g for g in _readings(gold) if g}
    return any(f" {g} " in f" {a} " for g in golds for a in answers)


def answer_contains_gold(answer: Answer, gold: str) -> bool:
    """`contains_answer` for an Answer; a refusal never counts (its text lists the closest
    sources, whose labels could contain the gold string by chance)."""
    return not answer.refused and contains_answer(answer.text, gold)


def token_recall(answer_text: str, gold: str) -> float:
    """Share of the gold answer's normalised words found in the answer: a softer measure
    than `contains_answer` for golds with extra words ("About 15 minutes")."""
    gold_words = normalize_answer(gold).split()
    if not gold_words:
        return 0.0
    answer_words = set(normalize_answer(_MARKER.sub(" ", answer_text)).split())
    return sum(w in answer_words for w in gold_words) / len(gold_words)


def cites_gold(answer: Answer, is_gold: Callable[[Unit], bool]) -> bool:
    """Whether a valid citation of the answer points at a unit `is_gold` accepts."""
    return any(is_gold(h.unit) for h in cited_hits(answer))
