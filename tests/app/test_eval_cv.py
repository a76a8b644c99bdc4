"""Cross-validation of the fusion weights and the refusal threshold, and question files
with unanswerable lines."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from app.eval.cv import (
    NOT_LOCATABLE,
    CrossValidation,
    Retrieved,
    choose_shares,
    choose_variant,
    cross_validate_answers,
    cross_validate_fusion,
    cross_validate_refusal,
    fit_rule,
    fit_threshold,
    kfold,
    refusal_rates,
)
from app.eval.metrics import EvalQuestion, UnitRef, gold_unit_ids
from app.eval.runner import EvalInputError, load_questions
from retrieval.config import RetrievalSettings
from retrieval.types import Hit
from tests.support.fixtures_retrieval import clip, page


def _hits(units: list[str], kind: str = "page") -> tuple[Hit, ...]:
    """Stage-1 candidates, best first, normalised scores 1.0, 0.9, ..."""
    make = (
        (lambda i, uid: page("d", "d.pdf", i + 1, uid))
        if kind == "page"
        else (lambda i, uid: clip("v", "v.mp4", i, uid))
    )
    hits = []
    for i, uid in enumerate(units):
        unit = make(i, uid)
        hits.append(Hit(unit, 1.0 - 0.1 * i, 1.0 - 0.1 * i))
    return tuple(hits)


def _item(qid: str, modality: str, gold_rank: int, rerank_gold_first: bool) -> Retrieved:
    """Five candidates with the gold one at stage-1 rank `gold_rank`; the reranker puts
    the gold first (helps) or last (hurts)."""
    kind = "page" if modality == "pdf" else "clip"
    hits = _hits([f"{qid}-{i}" for i in range(5)], kind)
    gold = hits[gold_rank].unit.id
    rerank = tuple(
        (1.0 if h.unit.id == gold else 0.5)
        if rerank_gold_first
        else (0.0 if h.unit.id == gold else 0.5)
        for h in hits
    )
    return Retrieved(qid, modality, frozenset({gold}), hits, rerank)


def test_kfold_is_stratified_deterministic_and_a_partition() -> None:
    ids = [f"q{i}" for i in range(23)]
    strata = ["pdf"] * 15 + ["video"] * 5 + ["none"] * 3
    folds = kfold(ids, strata, 5)
    assert sorted(i for f in folds for i in f) == list(range(23))
    assert folds == kfold(list(ids), list(strata), 5)
    # Every fold gets its share of the small strata.
    assert all(sum(strata[i] == "video" for i in f) == 1 for f in folds)
    with pytest.raises(ValueError, match="2 folds"):
        kfold(ids, strata, 1)


def test_choose_shares_weights_the_reranker_down_where_it_hurts() -> None:
    # PDFs: the reranker finds the gold at rank 3; videos: it buries the gold at rank 0.
    items = [_item(f"p{i}", "pdf", 3, True) for i in range(6)]
    items += [_item(f"v{i}", "video", 0, False) for i in range(6)]
    page_share, clip_share = choose_shares(items, RetrievalSettings())
    # 0.3 is the smallest share that lifts the gold to rank 1 (0.7 * 0.7 + 0.3 > 0.7).
    assert page_share == pytest.approx(0.3)
    assert clip_share == 0.0  # stage 1 alone for clips (ties go to the smaller share)


def test_cross_validated_fusion_is_never_worse_held_out_here() -> None:
    items = [_item(f"p{i}", "pdf", 3, True) for i in range(10)]
    items += [_item(f"v{i}", "video", 0, False) for i in range(5)]
    cv = cross_validate_fusion(items, RetrievalSettings(), k_folds=5)
    assert len(cv.folds) == 5
    assert cv.held_out.n == {"pdf": 10, "video": 5, "all": 15}
    assert cv.held_out.two_stage["pdf"] == 1.0 > cv.held_out.stage1["pdf"]
    assert cv.held_out.two_stage["video"] == cv.held_out.stage1["video"] == 1.0
    assert all(f.clip_share == 0.0 for f in cv.folds)


def test_unanswerable_items_are_left_out_of_fusion() -> None:
    items = [_item(f"p{i}", "pdf", 0, True) for i in range(4)]
    items.append(Retrieved("u", "none", frozenset(), _hits(["x"]), (0.1,)))
    assert cross_validate_fusion(items, RetrievalSettings(), k_folds=2).held_out.n["all"] == 4


def test_fit_threshold_separates_and_takes_the_widest_margin() -> None:
    evidence = [0.9, 0.8, 0.7, 0.2, 0.1]
    answerable = [True, True, True, False, False]
    t = fit_threshold(evidence, answerable)
    assert t == pytest.approx(0.45)  # the middle of the gap (0.2, 0.7)
    rates = refusal_rates(evidence, answerable, t)
    assert (rates.answerable, rates.unanswerable) == (0.0, 1.0)


def test_fit_threshold_prefers_answering_when_errors_must_be_traded() -> None:
    # One answerable question scores under an unanswerable one: refusing it (a third of
    # the answerable) costs twice its rate, more than answering half the unanswerable.
    evidence = [0.9, 0.8, 0.1, 0.05, 0.12]
    answerable = [True, True, True, False, False]
    t = fit_threshold(evidence, answerable)
    rates = refusal_rates(evidence, answerable, t)
    assert (rates.answerable, rates.unanswerable) == (0.0, 0.5)


def test_cross_validated_refusal_reports_held_out_rates() -> None:
    ids = [f"q{i}" for i in range(20)]
    evidence = [0.5 + 0.02 * i for i in range(10)] + [0.1 + 0.02 * i for i in range(10)]
    answerable = [True] * 10 + [False] * 10
    cv = cross_validate_refusal(ids, evidence, answerable, k_folds=5)
    assert len(cv.folds) == 5
    assert cv.held_out.answerable == 0.0 and cv.held_out.unanswerable == 1.0
    assert (cv.held_out.n_answerable, cv.held_out.n_unanswerable) == (10, 10)
    assert 0.28 < cv.threshold < 0.5


def test_question_files_with_unanswerable_lines(tmp_path: Path) -> None:
    a = tmp_path / "a.jsonl"
    a.write_text(
        '{"id": "1", "question": "q?", "answer": "x", "file": "pdf/a.pdf", "pages": [1]}\n\n'
    )
    u = tmp_path / "u.jsonl"
    u.write_text('{"id": "u1", "question": "capital?", "answer": null, "file": null}\n')
    questions = load_questions([a, u])
    assert [q.answerable for q in questions] == [True, False]
    assert [q.modality for q in questions] == ["pdf", "none"]
    units = [UnitRef("p1", "pdf/a.pdf", page=1)]
    assert gold_unit_ids(questions[1], units) == set()


def test_bad_question_lines_name_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "question": "q?", "file": "a.pdf"}\n{"id": "2", "question": 3}\n')
    with pytest.raises(EvalInputError, match=r"bad.jsonl:2: question"):
        load_questions(bad)
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"id": "1", "question": "q?"}\n')  # `file` must be given (null or not)
    with pytest.raises(EvalInputError, match=r"missing.jsonl:1: file"):
        load_questions(missing)
    twice = tmp_path / "twice.jsonl"
    twice.write_text('{"id": "1", "question": "q?", "file": null}\n')
    with pytest.raises(EvalInputError, match="repeats"):
        load_questions([twice, twice])


def test_evalquestion_requires_file_key() -> None:
    assert EvalQuestion(id="1", question="q", file=None).modality == "none"


def test_fit_rule_locates_when_questions_that_evidence_alone_would_refuse() -> None:
    # Two answerable questions ask when something happens in a video: little evidence,
    # but their clips hold some of their words; an unanswerable one asks when too, about
    # nothing in any clip (locate score 0); another does not ask when (NOT_LOCATABLE).
    evidence = [0.9, 0.8, 0.1, 0.2, 0.1, 0.15]
    answerable = [True, True, True, True, False, False]
    locate = [NOT_LOCATABLE, NOT_LOCATABLE, 0.2, 0.25, 0.0, NOT_LOCATABLE]
    t, at = fit_rule(evidence, answerable, locate)
    assert 0.2 < t < 0.8
    assert 0.0 < at <= 0.2
    rates = refusal_rates(evidence, answerable, t, locate, at)
    assert (rates.answerable, rates.unanswerable) == (0.0, 1.0)
    assert rates.located_answerable == 0.5 and rates.located_unanswerable == 0.0
    # Without locate scores nothing is located, and the threshold alone must trade.
    t_only, never = fit_rule(evidence, answerable)
    assert never == math.inf and t_only == fit_threshold(evidence, answerable)


def test_cross_validated_refusal_with_located_questions() -> None:
    ids = [f"q{i}" for i in range(20)]
    evidence = [0.6] * 6 + [0.1] * 4 + [0.1] * 10
    answerable = [True] * 10 + [False] * 10
    locate = [NOT_LOCATABLE] * 6 + [0.3] * 4 + [NOT_LOCATABLE] * 6 + [0.0] * 4
    cv = cross_validate_refusal(ids, evidence, answerable, k_folds=2, locate=locate)
    assert cv.held_out.answerable == 0.0 and cv.held_out.unanswerable == 1.0
    assert cv.held_out.located_answerable == 0.4
    assert 0.0 < cv.locate_threshold <= 0.3


def test_answer_variants_are_chosen_on_held_in_questions_only() -> None:
    # "long" is better on PDF questions, "short" equal elsewhere: every fold picks "long";
    # a tie goes to the variant listed first.
    ids = [f"q{i}" for i in range(10)]
    strata = ["pdf"] * 8 + ["video"] * 2
    short = [(0.0, 1.0, 0.5)] * 8 + [(0.0, 0.0, 0.0)] * 2
    long = [(1.0, 1.0, 1.0)] * 8 + [(0.0, 0.0, 0.0)] * 2
    cv = cross_validate_answers(ids, strata, {"short": short, "long": long}, k_folds=5)
    assert cv.variant == "long" and all(f.variant == "long" for f in cv.folds)
    assert cv.held_out["pdf"].contains == 1.0 and cv.held_out["video"].n == 2
    assert cv.held_out["all"].n == 10
    assert choose_variant({"a": short, "b": short}) == "a"
    # One question a variant gets right does not outweigh the rest.
    skewed = [(1.0, 1.0, 1.0)] + [(0.0, 0.0, 0.0)] * 9
    cv = cross_validate_answers(ids, strata, {"short": short, "skewed": skewed}, k_folds=5)
    assert {f.variant for f in cv.folds} == {"short"}
    assert cv.held_out["pdf"].cites_gold == 1.0


def test_the_report_lists_each_cross_validated_choice_fold_by_fold() -> None:
    from app.eval.runner import _format_cv

    items = [_item(f"p{i}", "pdf", 2, True) for i in range(6)]
    items += [_item(f"v{i}", "video", 1, False) for i in range(4)]
    ids = [f"q{i}" for i in range(20)]
    evidence = [0.5 + 0.02 * i for i in range(10)] + [0.1 + 0.02 * i for i in range(10)]
    refusal = cross_validate_refusal(ids, evidence, [True] * 10 + [False] * 10, k_folds=2)
    rows = {"short": [(0.0, 1.0, 0.5)] * 4, "long": [(1.0, 1.0, 1.0)] * 4}
    answers = cross_validate_answers(ids[:4], ["pdf"] * 4, rows, k_folds=2)
    cv = CrossValidation(2, cross_validate_fusion(items, RetrievalSettings(), 2), refusal, answers)
    lines = _format_cv(cv)
    assert lines[0].startswith("2-fold cross-validation")
    # Per choice: its header, the folds' lines, the pooled held-out line, the choice.
    fusion, refusal_part, answer_part = lines[1:8], lines[8:13], lines[13:]
    assert "shares (page, clip)" in fusion[0]
    assert [line.split()[:3] for line in fusion[1:5]] == [
        ["fold", "1", "held-in"],
        ["fold", "1", "held-out"],
        ["fold", "2", "held-in"],
        ["fold", "2", "held-out"],
    ]
    assert "held-out, pooled" in fusion[5] and fusion[6].endswith("(chosen)")
    assert "refusal threshold" in refusal_part[0]
    assert refusal_part[1].startswith("  fold 1 t=") and refusal_part[2].startswith("  fold 2 t=")
    assert "(n=10, 10)" in refusal_part[3] and refusal_part[4].endswith("(chosen)")
    assert "answer settings" in answer_part[0] and len(answer_part) == 7
    assert answer_part[1].endswith("long") and answer_part[-1].endswith("long (chosen)")
