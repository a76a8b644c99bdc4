"""k-fold cross-validation of what `mmrag eval` fits: the final fusion weights (per unit
kind) and the refusal threshold. Pure functions over what one eval run retrieved, so every
fold and every candidate setting costs no search.

Folds are deterministic (a hash of the question id orders each stratum) and stratified, so
every fold holds PDF, video and unanswerable questions in the corpus's proportions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from app.eval.metrics import ndcg_at_k
from retrieval.config import RetrievalSettings
from retrieval.retriever import rank_two_stage
from retrieval.types import Hit

# Rerank share a (final = (1 - a) * stage 1 + a * rerank) tried for each unit kind.
RERANK_SHARES = tuple(i / 10 for i in range(11))


@dataclass(frozen=True, slots=True)
class Retrieved:
    """One question's stage-1 candidates and the raw rerank scores of their head."""

    question_id: str
    modality: str  # "pdf", "video" or "none" (unanswerable)
    gold: frozenset[str]
    candidates: tuple[Hit, ...]
    rerank: tuple[float, ...]


def kfold(ids: Sequence[str], strata: Sequence[str], k: int) -> list[list[int]]:
    """Indices of `ids` dealt into `k` folds: within each stratum, in the order of a hash
    of the id, round-robin (so the folds do not depend on the file's order)."""
    if k < 2:
        raise ValueError("cross-validation needs at least 2 folds")
    folds: list[list[int]] = [[] for _ in range(k)]
    turn = 0
    for stratum in sorted(set(strata)):
        members = [i for i, s in enumerate(strata) if s == stratum]
        members.sort(key=lambda i: hashlib.sha256(ids[i].encode()).hexdigest())
        for i in members:
            folds[turn % k].append(i)
            turn += 1
    return [sorted(f) for f in folds]


def with_shares(settings: RetrievalSettings, page: float, clip: float) -> RetrievalSettings:
    """`settings` with the final fusion set to rerank shares `page` and `clip`."""
    return settings.model_copy(
        update={
            "stage1_weight": 1.0 - page,
            "rerank_weight": page,
            "clip_stage1_weight": 1.0 - clip,
            "clip_rerank_weight": clip,
        }
    )


def ndcg_two_stage(item: Retrieved, settings: RetrievalSettings, k: int = 5) -> float:
    """nDCG@k of the final ranking under `settings`' fusion weights."""
    ranked = rank_two_stage(item.candidates, item.rerank, settings)
    return ndcg_at_k([h.unit.id for h in ranked[:k]], set(item.gold), k)


def ndcg_stage1(item: Retrieved, k: int = 5) -> float:
    """nDCG@k of stage 1 alone."""
    return ndcg_at_k([h.unit.id for h in item.candidates[:k]], set(item.gold), k)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


@dataclass(frozen=True, slots=True)
class ModalityScores:
    """Mean nDCG@5 of stage 1 and of both stages, per modality, on one set of questions."""

    stage1: dict[str, float]
    two_stage: dict[str, float]
    n: dict[str, int]


def score_by_modality(
    items: Sequence[Retrieved], settings: RetrievalSettings, k: int = 5
) -> ModalityScores:
    """Stage-1 and two-stage nDCG@k per modality ("pdf", "video", "all")."""
    groups = {m: [i for i in items if i.modality == m] for m in ("pdf", "video")}
    groups["all"] = list(items)
    return ModalityScores(
        stage1={m: _mean([ndcg_stage1(i, k) for i in g]) for m, g in groups.items()},
        two_stage={
            m: _mean([ndcg_two_stage(i, settings, k) for i in g]) for m, g in groups.items()
        },
        n={m: len(g) for m, g in groups.items()},
    )


def choose_shares(
    items: Sequence[Retrieved], settings: RetrievalSettings, k: int = 5
) -> tuple[float, float]:
    """The (page, clip) rerank shares with the best mean nDCG@k on `items`. Page and clip
    shares are chosen on their own modality's questions (a clip's weight barely moves a
    PDF question's ranking, and vice versa); ties go to the smaller share, so a reranker
    that does not help is weighted down."""

    def best(modality: str, pick: Callable[[float], RetrievalSettings]) -> float:
        group = [i for i in items if i.modality == modality]
        scored = [
            (_mean([ndcg_two_stage(i, pick(a), k) for i in group]), -a) for a in RERANK_SHARES
        ]
        return -max(scored)[1]

    page = best("pdf", lambda a: with_shares(settings, a, settings.clip_rerank_weight))
    clip = best("video", lambda a: with_shares(settings, page, a))
    return page, clip


@dataclass(frozen=True, slots=True)
class FusionFold:
    """One fold: the shares chosen on the held-in questions and the scores on both parts."""

    page_share: float
    clip_share: float
    held_in: ModalityScores
    held_out: ModalityScores


@dataclass(frozen=True, slots=True)
class FusionCV:
    """Cross-validated fusion weights: the folds, the held-out means over folds (each
    question scored once, by the fold that held it out), and the choice on all questions."""

    folds: list[FusionFold]
    held_out: ModalityScores
    page_share: float
    clip_share: float
    all_questions: ModalityScores


def cross_validate_fusion(
    items: Sequence[Retrieved], settings: RetrievalSettings, k_folds: int = 5, k: int = 5
) -> FusionCV:
    """k-fold CV of `choose_shares` over the answerable `items`."""
    answerable = [i for i in items if i.gold]
    folds = kfold([i.question_id for i in answerable], [i.modality for i in answerable], k_folds)
    results: list[FusionFold] = []
    pooled_stage1: dict[str, list[float]] = {"pdf": [], "video": [], "all": []}
    pooled_two: dict[str, list[float]] = {"pdf": [], "video": [], "all": []}
    for fold in folds:
        held_out = [answerable[i] for i in fold]
        held_in = [item for i, item in enumerate(answerable) if i not in set(fold)]
        page, clip = choose_shares(held_in, settings, k)
        fitted = with_shares(settings, page, clip)
        results.append(
            FusionFold(
                page,
                clip,
                score_by_modality(held_in, fitted, k),
                score_by_modality(held_out, fitted, k),
            )
        )
        for item in held_out:
            for key in ("all", item.modality):
                pooled_stage1[key].append(ndcg_stage1(item, k))
                pooled_two[key].append(ndcg_two_stage(item, fitted, k))
    page, clip = choose_shares(answerable, settings, k)
    return FusionCV(
        folds=results,
        held_out=ModalityScores(
            stage1={m: _mean(v) for m, v in pooled_stage1.items()},
            two_stage={m: _mean(v) for m, v in pooled_two.items()},
            n={m: len(v) for m, v in pooled_stage1.items()},
        ),
        page_share=page,
        clip_share=clip,
        all_questions=score_by_modality(answerable, with_shares(settings, page, clip), k),
    )


# --- refusal -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefusalRates:
    """Share of answerable and of unanswerable questions refused at a threshold."""

    answerable: float
    unanswerable: float
    n_answerable: int
    n_unanswerable: int


def refusal_rates(
    evidence: Sequence[float], answerable: Sequence[bool], threshold: float
) -> RefusalRates:
    """Refused = evidence under `threshold`."""
    ans = [e < threshold for e, a in zip(evidence, answerable, strict=True) if a]
    unans = [e < threshold for e, a in zip(evidence, answerable, strict=True) if not a]
    return RefusalRates(
        _mean([float(r) for r in ans]), _mean([float(r) for r in unans]), len(ans), len(unans)
    )


# Refusing an answerable question costs a user more than a cautious answer to an
# unanswerable one that shows only verbatim quotes: weigh its error rate twice.
ANSWERABLE_ERROR_WEIGHT = 2.0


def fit_threshold(evidence: Sequence[float], answerable: Sequence[bool]) -> float:
    """The threshold minimising `ANSWERABLE_ERROR_WEIGHT * answerable refused + unanswerable
    answered` (rates). Candidates are midpoints between neighbouring evidence values; among
    equally good ones the middle of the widest best run is taken (the largest margin)."""
    values = sorted(set(evidence))
    if not values:
        raise ValueError("no evidence to fit a threshold on")
    cuts = [values[0] - 1e-6] + [(a + b) / 2 for a, b in zip(values, values[1:], strict=False)]
    cuts.append(values[-1] + 1e-6)

    def cost(t: float) -> float:
        rates = refusal_rates(evidence, answerable, t)
        return ANSWERABLE_ERROR_WEIGHT * rates.answerable + (1.0 - rates.unanswerable)

    costs = [cost(t) for t in cuts]
    best = min(costs)
    # The longest run of consecutive best cuts; its middle leaves the most margin.
    runs: list[list[int]] = []
    for i, c in enumerate(costs):
        if c <= best + 1e-12:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
    widest = max(runs, key=lambda r: (cuts[r[-1]] - cuts[r[0]], -r[0]))
    return (cuts[widest[0]] + cuts[widest[-1]]) / 2


@dataclass(frozen=True, slots=True)
class RefusalFold:
    threshold: float
    held_in: RefusalRates
    held_out: RefusalRates


@dataclass(frozen=True, slots=True)
class RefusalCV:
    """Cross-validated refusal threshold: folds, pooled held-out rates, the fit on all."""

    folds: list[RefusalFold]
    held_out: RefusalRates
    threshold: float
    all_questions: RefusalRates


def cross_validate_refusal(
    ids: Sequence[str], evidence: Sequence[float], answerable: Sequence[bool], k_folds: int = 5
) -> RefusalCV:
    """k-fold CV of `fit_threshold`, folds stratified by answerability."""
    folds = kfold(ids, ["a" if a else "u" for a in answerable], k_folds)
    results: list[RefusalFold] = []
    refused_out: list[bool] = [False] * len(ids)
    for fold in folds:
        inside = [i for i in range(len(ids)) if i not in set(fold)]
        t = fit_threshold([evidence[i] for i in inside], [answerable[i] for i in inside])
        for i in fold:
            refused_out[i] = evidence[i] < t
        results.append(
            RefusalFold(
                t,
                refusal_rates([evidence[i] for i in inside], [answerable[i] for i in inside], t),
                refusal_rates([evidence[i] for i in fold], [answerable[i] for i in fold], t),
            )
        )
    threshold = fit_threshold(evidence, answerable)
    ans = [float(r) for r, a in zip(refused_out, answerable, strict=True) if a]
    unans = [float(r) for r, a in zip(refused_out, answerable, strict=True) if not a]
    return RefusalCV(
        folds=results,
        held_out=RefusalRates(_mean(ans), _mean(unans), len(ans), len(unans)),
        threshold=threshold,
        all_questions=refusal_rates(evidence, answerable, threshold),
    )


@dataclass
class CrossValidation:
    """Everything `mmrag eval` cross-validates, for the report."""

    k_folds: int
    fusion: FusionCV
    refusal: RefusalCV | None  # None without both answerable and unanswerable questions
