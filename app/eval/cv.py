"""k-fold cross-validation of what `mmrag eval` fits: the final fusion weights (per unit
kind) and the refusal threshold. Pure functions over what one eval run retrieved, so every
fold and every candidate setting costs no search.

Folds are deterministic (a hash of the question id orders each stratum) and stratified, so
every fold holds PDF, video and unanswerable questions in the corpus's proportions.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
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

# Never located: the `locate` score of a question that does not ask *when* (or holds no
# clip), so no locate threshold reaches it.
NOT_LOCATABLE = -1.0


@dataclass(frozen=True, slots=True)
class RefusalRates:
    """Share of answerable and of unanswerable questions refused at a threshold, and the
    shares answered by locating clips (generation.answer.Route.LOCATE) among the rest."""

    answerable: float
    unanswerable: float
    n_answerable: int
    n_unanswerable: int
    located_answerable: float = 0.0
    located_unanswerable: float = 0.0


def _decisions(
    evidence: Sequence[float], locate: Sequence[float] | None, threshold: float, locate_at: float
) -> list[tuple[bool, bool]]:
    """(refused, located) per question: answered with evidence >= `threshold`, else
    located with a locate score >= `locate_at`, else refused (generation.answer.route)."""
    scores = locate if locate is not None else [NOT_LOCATABLE] * len(evidence)
    out = []
    for e, loc in zip(evidence, scores, strict=True):
        answered = e >= threshold
        located = not answered and loc >= locate_at
        out.append((not answered and not located, located))
    return out


def refusal_rates(
    evidence: Sequence[float],
    answerable: Sequence[bool],
    threshold: float,
    locate: Sequence[float] | None = None,
    locate_at: float = math.inf,
) -> RefusalRates:
    """Refused = evidence under `threshold` and (when `locate` scores are given: the clip
    evidence of questions asking *when*, NOT_LOCATABLE for others) locate score under
    `locate_at`."""
    return _rates_of(_decisions(evidence, locate, threshold, locate_at), answerable)


def _rates_of(decided: Sequence[tuple[bool, bool]], answerable: Sequence[bool]) -> RefusalRates:
    """The rates of (refused, located) decisions, split by whether each question is
    answerable."""
    ans = [d for d, a in zip(decided, answerable, strict=True) if a]
    unans = [d for d, a in zip(decided, answerable, strict=True) if not a]
    return RefusalRates(
        _mean([float(r) for r, _ in ans]),
        _mean([float(r) for r, _ in unans]),
        len(ans),
        len(unans),
        _mean([float(loc) for _, loc in ans]),
        _mean([float(loc) for _, loc in unans]),
    )


# Refusing an answerable question costs a user more than a cautious answer to an
# unanswerable one that shows only verbatim quotes: weigh its error rate twice.
ANSWERABLE_ERROR_WEIGHT = 2.0


def _cuts(values: Sequence[float]) -> list[float]:
    """Candidate thresholds: below all values, between neighbours, above all."""
    ordered = sorted(set(values))
    cuts = [ordered[0] - 1e-6] + [(a + b) / 2 for a, b in zip(ordered, ordered[1:], strict=False)]
    cuts.append(ordered[-1] + 1e-6)
    return cuts


def _middle_of_widest_run(cuts: Sequence[float], good: Sequence[bool]) -> float:
    """The middle of the longest run of consecutive good cuts (the largest margin)."""
    runs: list[list[int]] = []
    for i, ok in enumerate(good):
        if ok:
            if runs and runs[-1][-1] == i - 1:
                runs[-1].append(i)
            else:
                runs.append([i])
    widest = max(runs, key=lambda r: (cuts[r[-1]] - cuts[r[0]], -r[0]))
    return (cuts[widest[0]] + cuts[widest[-1]]) / 2


def _cost(rates: RefusalRates) -> float:
    return ANSWERABLE_ERROR_WEIGHT * rates.answerable + (1.0 - rates.unanswerable)


def fit_threshold(evidence: Sequence[float], answerable: Sequence[bool]) -> float:
    """The threshold minimising `ANSWERABLE_ERROR_WEIGHT * answerable refused + unanswerable
    answered` (rates). Candidates are midpoints between neighbouring evidence values; among
    equally good ones the middle of the widest best run is taken (the largest margin)."""
    return fit_rule(evidence, answerable)[0]


def fit_rule(
    evidence: Sequence[float], answerable: Sequence[bool], locate: Sequence[float] | None = None
) -> tuple[float, float]:
    """(threshold, locate threshold) minimising the cost of `fit_threshold`, both chosen
    together. The locate threshold is positive (a clip must hold some of the question's
    words) and the middle of the widest run of locate cuts that reach the best cost; the
    threshold is then the middle of the widest best run given it. Without `locate` scores
    (or none positive) the locate threshold is infinite: nothing is located."""
    if not evidence:
        raise ValueError("no evidence to fit a threshold on")
    cuts = _cuts(evidence)
    positive = [v for v in (locate or []) if v > 0]
    locate_cuts = [c for c in _cuts([*positive, 0.0]) if c > 0] if positive else []
    locate_cuts.append(math.inf)

    def costs(locate_at: float) -> list[float]:
        return [_cost(refusal_rates(evidence, answerable, t, locate, locate_at)) for t in cuts]

    table = {at: costs(at) for at in locate_cuts}
    best = min(min(row) for row in table.values())
    finite = [at for at in locate_cuts if at != math.inf]
    good = [min(table[at]) <= best + 1e-12 for at in finite]
    locate_at = _middle_of_widest_run(finite, good) if any(good) else math.inf
    row = costs(locate_at)
    threshold = _middle_of_widest_run(cuts, [c <= min(row) + 1e-12 for c in row])
    return threshold, locate_at


@dataclass(frozen=True, slots=True)
class RefusalFold:
    threshold: float
    held_in: RefusalRates
    held_out: RefusalRates
    locate_threshold: float = math.inf


@dataclass(frozen=True, slots=True)
class RefusalCV:
    """Cross-validated refusal rule: folds, pooled held-out rates, the fit on all."""

    folds: list[RefusalFold]
    held_out: RefusalRates
    threshold: float
    all_questions: RefusalRates
    locate_threshold: float = math.inf


def cross_validate_refusal(
    ids: Sequence[str],
    evidence: Sequence[float],
    answerable: Sequence[bool],
    k_folds: int = 5,
    locate: Sequence[float] | None = None,
) -> RefusalCV:
    """k-fold CV of `fit_rule`, folds stratified by answerability (and by whether a
    question can be located, so each fold holds some)."""
    scores = list(locate) if locate is not None else [NOT_LOCATABLE] * len(ids)
    strata = [
        ("a" if a else "u") + ("l" if s > NOT_LOCATABLE else "")
        for a, s in zip(answerable, scores, strict=True)
    ]
    folds = kfold(ids, strata, k_folds)
    results: list[RefusalFold] = []
    decided: list[tuple[bool, bool]] = [(False, False)] * len(ids)

    def part(index: Sequence[int]) -> tuple[list[float], list[bool], list[float]]:
        return (
            [evidence[i] for i in index],
            [answerable[i] for i in index],
            [scores[i] for i in index],
        )

    for fold in folds:
        inside = [i for i in range(len(ids)) if i not in set(fold)]
        ev_in, ans_in, loc_in = part(inside)
        t, at = fit_rule(ev_in, ans_in, loc_in)
        ev_out, ans_out, loc_out = part(fold)
        for i, d in zip(fold, _decisions(ev_out, loc_out, t, at), strict=True):
            decided[i] = d
        results.append(
            RefusalFold(
                t,
                refusal_rates(ev_in, ans_in, t, loc_in, at),
                refusal_rates(ev_out, ans_out, t, loc_out, at),
                at,
            )
        )
    threshold, locate_at = fit_rule(evidence, answerable, scores)
    return RefusalCV(
        folds=results,
        held_out=_rates_of(decided, answerable),
        threshold=threshold,
        all_questions=refusal_rates(evidence, answerable, threshold, scores, locate_at),
        locate_threshold=locate_at,
    )


# --- extractive answer settings ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AnswerFigures:
    """Mean answer figures on a set of answerable questions."""

    contains: float
    cites_gold: float
    token_recall: float
    n: int


def answer_figures(rows: Sequence[tuple[float, float, float]]) -> AnswerFigures:
    """Means of (contains gold, cites gold, gold-word share) rows."""
    contains, cites, recall = (_mean([r[i] for r in rows]) for i in range(3))
    return AnswerFigures(contains, cites, recall, len(rows))


def answer_objective(rows: Sequence[tuple[float, float, float]]) -> float:
    """What the choice maximises: the mean of the three figures (each in [0, 1])."""
    return _mean([sum(r) / 3 for r in rows])


def choose_variant(rows: Mapping[str, Sequence[tuple[float, float, float]]]) -> str:
    """The variant with the best `answer_objective`; ties go to the one listed first (the
    grid is ordered from the shortest answers to the longest)."""
    names = list(rows)
    return max(names, key=lambda name: (answer_objective(rows[name]), -names.index(name)))


def figures_by_stratum(
    rows: Sequence[tuple[float, float, float]], strata: Sequence[str]
) -> dict[str, AnswerFigures]:
    """`answer_figures` of all rows ("all") and of each stratum's (e.g. "pdf", "video")."""
    out = {"all": answer_figures(rows)}
    for stratum in sorted(set(strata)):
        out[stratum] = answer_figures(
            [r for r, s in zip(rows, strata, strict=True) if s == stratum]
        )
    return out


@dataclass(frozen=True, slots=True)
class AnswerFold:
    variant: str
    held_in: dict[str, AnswerFigures]  # "all" and per stratum (modality)
    held_out: dict[str, AnswerFigures]


@dataclass(frozen=True, slots=True)
class AnswerCV:
    """Cross-validated answer settings: per fold the variant chosen on the held-in
    questions and its figures on both parts, the pooled held-out figures, the choice on
    all questions."""

    variants: list[str]
    folds: list[AnswerFold]
    held_out: dict[str, AnswerFigures]
    variant: str
    all_questions: dict[str, AnswerFigures]


def cross_validate_answers(
    ids: Sequence[str],
    strata: Sequence[str],
    rows: Mapping[str, Sequence[tuple[float, float, float]]],
    k_folds: int = 5,
) -> AnswerCV:
    """k-fold CV of `choose_variant`: `rows[variant][i]` are question i's (contains gold,
    cites gold, gold-word share) under that variant; folds stratified by `strata`."""
    folds = kfold(ids, strata, k_folds)
    results: list[AnswerFold] = []
    pooled: list[tuple[float, float, float]] = [(0.0, 0.0, 0.0)] * len(ids)
    for fold in folds:
        out = set(fold)
        inside_index = [i for i in range(len(ids)) if i not in out]
        inside = {name: [v[i] for i in inside_index] for name, v in rows.items()}
        chosen = choose_variant(inside)
        for i in fold:
            pooled[i] = rows[chosen][i]
        results.append(
            AnswerFold(
                chosen,
                figures_by_stratum(inside[chosen], [strata[i] for i in inside_index]),
                figures_by_stratum([rows[chosen][i] for i in fold], [strata[i] for i in fold]),
            )
        )
    variant = choose_variant(rows)
    return AnswerCV(
        variants=list(rows),
        folds=results,
        held_out=figures_by_stratum(pooled, strata),
        variant=variant,
        all_questions=figures_by_stratum(rows[variant], strata),
    )


@dataclass
class CrossValidation:
    """Everything `mmrag eval` cross-validates, for the report."""

    k_folds: int
    fusion: FusionCV
    refusal: RefusalCV | None  # None without both answerable and unanswerable questions
    answers: AnswerCV | None = None  # with --answers and the extractive generator
