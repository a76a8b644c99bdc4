"""Pure functions of the evaluation protocol (DESIGN.md, "Evaluation protocol"): retrieval
scores (nDCG@5, hit@5) and answer scores.

Answer scores:
`contains_answer` asks whether the gold answer string appears in the answer once both are
normalised (Unicode NFKC, case, punctuation and symbols, whitespace), on word boundaries
("2" is not found in "2006"), ignoring `[Sn]` citation markers. A hyphen may either
separate words or be a line-break hyphenation, so both readings are tried
("double-spending" = "double spending"; "docu-ment" = "document").
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pydantic import BaseModel

from generation.citations import cited_hits
from generation.types import Answer
from ingest.types import Unit


class EvalQuestion(BaseModel):
    """One line of a questions JSONL file. A line whose `file` is null is unanswerable: the
    corpus does not hold its answer, so it counts only for the refusal rates."""

    id: str
    question: str
    answer: str | None = ""
    file: str | None  # path relative to the corpus folder; null = unanswerable (required)
    pages: list[int] | None = None  # 1-based
    span_s: list[float] | None = None  # [start, end] seconds
    kind: str = "text"

    @property
    def answerable(self) -> bool:
        """Whether the corpus holds the answer (the line names a file)."""
        return self.file is not None

    @property
    def modality(self) -> str:
        """ "video" for a question on a video span, "pdf" for one on pages, "none" when
        unanswerable."""
        if self.file is None:
            return "none"
        return "video" if self.span_s is not None else "pdf"


@dataclass(frozen=True, slots=True)
class UnitRef:
    """What the protocol needs to know of a ranked unit."""

    unit_id: str
    file: str  # path relative to the corpus folder
    page: int | None = None
    start_s: float | None = None
    end_s: float | None = None


def _overlaps(ref: UnitRef, span: Sequence[float]) -> bool:
    if ref.start_s is None or ref.end_s is None:
        return False
    return ref.start_s < span[1] and ref.end_s > span[0]


def gold_unit_ids(question: EvalQuestion, units: Sequence[UnitRef]) -> set[str]:
    """Gold units of a question among all units of the corpus.

    A page is gold when its file matches and its page is in `pages`. For a video question
    only the first clip (by start time) overlapping `span_s` counts: one gold unit. An
    unanswerable question has none.
    """
    if question.file is None:
        return set()
    same_file = [u for u in units if u.file == question.file]
    if question.span_s is not None:
        overlapping = sorted(
            (u for u in same_file if _overlaps(u, question.span_s)),
            key=lambda u: u.start_s or 0.0,
        )
        return {overlapping[0].unit_id} if overlapping else set()
    pages = set(question.pages or ())
    return {u.unit_id for u in same_file if u.page in pages}


def ndcg_at_k(ranked: Sequence[str], gold: set[str], k: int = 5) -> float:
    """nDCG@k with binary gains; the ideal DCG uses min(len(gold), k) relevant units."""
    if not gold:
        return 0.0
    dcg = sum(1.0 / math.log2(i + 2) for i, uid in enumerate(ranked[:k]) if uid in gold)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(gold), k)))
    return dcg / ideal


def hit_at_k(ranked: Sequence[str], gold: set[str], k: int = 5) -> float:
    """1.0 when any gold unit is in the top k."""
    return 1.0 if any(uid in gold for uid in ranked[:k]) else 0.0


@dataclass(frozen=True, slots=True)
class Scores:
    ndcg: float
    hit: float
    n: int


def aggregate(per_question: Sequence[tuple[str, float, float]]) -> tuple[Scores, dict[str, Scores]]:
    """(kind, ndcg, hit) rows -> overall and per-kind means."""

    def mean(rows: Sequence[tuple[str, float, float]]) -> Scores:
        n = len(rows)
        if n == 0:
            return Scores(0.0, 0.0, 0)
        return Scores(sum(r[1] for r in rows) / n, sum(r[2] for r in rows) / n, n)

    kinds = sorted({r[0] for r in per_question})
    return mean(per_question), {k: mean([r for r in per_question if r[0] == k]) for k in kinds}


# -- answers -----------------------------------------------------------------------------

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
