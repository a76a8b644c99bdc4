"""Pure functions of the evaluation protocol (DESIGN.md, "Evaluation protocol")."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel


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
