"""`mmrag eval`: ingest a corpus into a cached data dir, retrieve for every question, score.

Reports nDCG@5 and hit@5 overall, by question kind and by modality (pdf/video) for the full
two-stage retriever, for stage 1 alone, and for a BM25 baseline over the PDF text layer, all
from the same run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from pydantic import ValidationError

from app.config import Settings
from app.eval.baseline import baseline_index, read_text_layers
from app.eval.cv import (
    NOT_LOCATABLE,
    AnswerCV,
    AnswerFigures,
    AnswerFold,
    CrossValidation,
    FusionCV,
    FusionFold,
    ModalityScores,
    RefusalCV,
    RefusalFold,
    RefusalRates,
    Retrieved,
    cross_validate_answers,
    cross_validate_fusion,
    cross_validate_refusal,
)
from app.eval.metrics import (
    EvalQuestion,
    Scores,
    UnitRef,
    aggregate,
    gold_unit_ids,
    hit_at_k,
    ndcg_at_k,
)
from app.service import Services, build_services
from ingest.errors import MMRagError
from ingest.pipeline import iter_files
from ingest.stages import StageTimes
from ingest.store import sha256_file
from retrieval.evidence import asks_when, clip_evidence, evidence_score
from retrieval.retriever import rank_two_stage
from retrieval.terms import plain_words
from retrieval.types import Hit

if TYPE_CHECKING:
    from generation.types import Answer

log = logging.getLogger(__name__)

CACHE_VERSION = 4  # bump when ingestion output changes meaning (4: sentences over footnotes)


class EvalInputError(MMRagError):
    """A questions file that cannot be used (names the file, line and reason)."""


def load_questions(paths: Path | Sequence[Path]) -> list[EvalQuestion]:
    """Questions from one or more JSONL files (blank lines ignored). A bad line raises
    EvalInputError naming the file, the line and the reason; so does a repeated id."""
    questions: list[EvalQuestion] = []
    seen: dict[str, str] = {}
    for path in [paths] if isinstance(paths, Path) else paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if not line.strip():
                continue
            try:
                question = EvalQuestion.model_validate_json(line)
            except ValidationError as err:
                reason = err.errors()[0]
                where = ".".join(str(p) for p in reason["loc"]) or "line"
                raise EvalInputError(f"{path}:{number}: {where}: {reason['msg']}") from err
            if question.id in seen:
                raise EvalInputError(
                    f"{path}:{number}: question id {question.id!r} repeats one of {seen[question.id]}"
                )
            seen[question.id] = str(path)
            questions.append(question)
    return questions


def corpus_fingerprint(corpus: Path, files: Sequence[Path], settings: Settings) -> str:
    """Hash of the corpus bytes and of every setting that changes what ingestion stores."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}:{settings.profile}".encode())
    for path in files:
        digest.update(f"{path.relative_to(corpus)}:{sha256_file(path)}".encode())
    # `nice` changes when ingestion runs, not what it stores (excluded: older caches stay valid).
    digest.update(settings.ingest.model_dump_json(exclude={"nice"}).encode())
    r = settings.retrieval
    digest.update(
        json.dumps(
            [
                r.visual_embedder,
                r.text_embedder,
                r.sparse,
                r.text_model,
                r.vlm.model_dump(mode="json"),
                r.collection,
            ]
        ).encode()
    )
    return digest.hexdigest()[:16]


@dataclass
class Report:
    """Everything `mmrag eval` measured; `to_json` gives the documented keys."""

    final: tuple[Scores, dict[str, Scores]]
    stage1: tuple[Scores, dict[str, Scores]]
    baseline: tuple[Scores, dict[str, Scores]]
    by_modality: dict[str, dict[str, Scores]]
    per_question: list[dict[str, object]]
    timings: dict[str, float]
    counts: dict[str, int]
    answers: AnswerReport | None = None
    cv: CrossValidation | None = None

    def to_json(self) -> dict[str, object]:
        def block(scores: tuple[Scores, dict[str, Scores]]) -> dict[str, object]:
            overall, kinds = scores
            return {
                "ndcg@5": overall.ndcg,
                "hit@5": overall.hit,
                "n": overall.n,
                "by_kind": {
                    k: {"ndcg@5": s.ndcg, "hit@5": s.hit, "n": s.n} for k, s in kinds.items()
                },
            }

        out = block(self.final)
        out["stage1"] = block(self.stage1)
        out["baseline"] = block(self.baseline)
        out["by_modality"] = {
            name: {m: asdict(s) for m, s in rows.items()} for name, rows in self.by_modality.items()
        }
        out["timings_s"] = self.timings
        out["counts"] = self.counts
        if self.answers is not None:
            out["answers"] = asdict(self.answers)
        if self.cv is not None:
            out["cross_validation"] = asdict(self.cv)
        out["per_question"] = self.per_question
        finite = _finite(out)
        assert isinstance(finite, dict)
        return finite


def _finite(value: object) -> object:
    """`value` with infinite floats (a locate threshold that locates nothing) as None, so
    the JSON is standard."""
    if isinstance(value, float) and math.isinf(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def ingest_corpus(
    services: Services,
    corpus: Path,
    files: Sequence[Path],
    echo: Callable[[str], None],
    stages: StageTimes | None = None,
) -> dict[str, str]:
    """Ingest every file (a no-op for files already ready); returns doc_id -> relative path.
    The seconds of each ingest stage are added to `stages`."""
    from tqdm import tqdm

    services.ingestor.resume()
    doc_files: dict[str, str] = {}
    failed = []
    for path in tqdm(files, unit="file", desc="ingest", dynamic_ncols=True):
        result = services.ingestor.ingest_file(path)
        if stages is not None:
            stages.merge(result.stages)
        if result.doc_id is None or result.status == "failed":
            failed.append(f"{path}: {result.error}")
            continue
        doc_files[result.doc_id] = str(path.relative_to(corpus))
    for line in failed:
        echo(f"ingest failed: {line}")
    return doc_files


def retrieve_all(
    services: Services, questions: Sequence[EvalQuestion], gold: dict[str, set[str]]
) -> list[Retrieved]:
    """Stage-1 candidates and raw rerank scores of every question (one search each)."""
    out = []
    for q in questions:
        candidates = services.retriever.stage1(q.question)
        raw = services.retriever.rerank_scores(q.question, candidates)
        out.append(
            Retrieved(q.id, q.modality, frozenset(gold[q.id]), tuple(candidates), tuple(raw))
        )
    return out


def run_eval(
    settings: Settings,
    corpus: Path,
    questions_paths: Path | Sequence[Path],
    *,
    k: int = 5,
    k_folds: int = 5,
    with_answers: bool = False,
    echo: Callable[[str], None] = print,  # noqa: T202 - the CLI passes typer.echo
) -> Report:
    """The whole protocol. The corpus is ingested into `<data_dir>/eval/<fingerprint>`.

    Retrieval metrics count only answerable questions; unanswerable ones (file null) count
    for the refusal rates. The fusion weights and the refusal threshold are cross-validated
    over the questions (`app.eval.cv`)."""
    paths = [questions_paths] if isinstance(questions_paths, Path) else list(questions_paths)
    questions = load_questions(paths)
    answerable = [q for q in questions if q.answerable]
    files = list(iter_files([corpus]))
    timings: dict[str, float] = {}

    started = time.perf_counter()
    fingerprint = corpus_fingerprint(corpus, files, settings)
    eval_settings = settings.model_copy(
        update={"data_dir": settings.data_dir / "eval" / fingerprint}
    )
    echo(f"corpus {corpus} ({len(files)} files), cache {eval_settings.data_dir}")
    services = build_services(eval_settings, with_generator=with_answers)
    timings["load_models"] = time.perf_counter() - started
    try:
        started = time.perf_counter()
        stages = StageTimes()
        doc_files = ingest_corpus(services, corpus, files, echo, stages)
        timings["ingest"] = time.perf_counter() - started
        # Where the ingest time went (stage seconds overlap across page processes).
        timings.update({f"ingest.{name}": s for name, s in stages.seconds.items()})

        units = [
            UnitRef(u.id, doc_files[doc_id], u.page, u.start_s, u.end_s)
            for doc_id in doc_files
            for u in services.registry.units(doc_id)
        ]
        gold = {q.id: gold_unit_ids(q, units) for q in questions}

        started = time.perf_counter()
        retrieved = retrieve_all(services, questions, gold)
        timings["retrieve"] = time.perf_counter() - started
        timings["retrieve_per_query"] = timings["retrieve"] / max(len(questions), 1)
        by_id = {r.question_id: r for r in retrieved}
        final_rank = {
            r.question_id: rank_two_stage(r.candidates, r.rerank, settings.retrieval)
            for r in retrieved
        }

        started = time.perf_counter()
        pdf_files = sorted({f for f in doc_files.values() if f.lower().endswith(".pdf")})
        pages = read_text_layers(corpus, pdf_files)
        bm25 = baseline_index(pages)
        page_ids = {(u.file, u.page): u.unit_id for u in units if u.page is not None}
        baseline_rank = {
            q.id: [
                page_ids.get((pages[i].file, pages[i].page), "")
                for i in bm25.top(plain_words(q.question), k)
            ]
            for q in answerable
        }
        timings["baseline"] = time.perf_counter() - started

        rows: dict[str, list[tuple[str, float, float]]] = {
            "final": [],
            "stage1": [],
            "baseline": [],
        }
        modality_rows: dict[str, dict[str, list[tuple[str, float, float]]]] = {
            name: {"pdf": [], "video": []} for name in rows
        }
        per_question: list[dict[str, object]] = []
        evidence = {q.id: evidence_score(q.question, final_rank[q.id][:k]) for q in questions}
        # What the LOCATE route reads: the clip evidence of questions asking *when*.
        locate = {
            q.id: clip_evidence(q.question, final_rank[q.id][:k])
            if asks_when(q.question)
            else NOT_LOCATABLE
            for q in questions
        }
        for q in questions:
            record: dict[str, object] = {
                "id": q.id,
                "kind": q.kind,
                "question": q.question,
                "gold": sorted(gold[q.id]),
                "evidence": evidence[q.id],
                "locate_evidence": locate[q.id],
            }
            if not q.answerable:
                record["final"] = {"top": [h.unit.id for h in final_rank[q.id][:k]]}
                per_question.append(record)
                continue
            ranked = {
                "final": [h.unit.id for h in final_rank[q.id][:k]],
                "stage1": [h.unit.id for h in by_id[q.id].candidates[:k]],
                "baseline": baseline_rank[q.id],
            }
            for name, ids in ranked.items():
                row = (q.kind, ndcg_at_k(ids, gold[q.id], k), hit_at_k(ids, gold[q.id], k))
                rows[name].append(row)
                modality_rows[name][q.modality].append(row)
                record[name] = {"ndcg@5": row[1], "top": ids}
            per_question.append(record)

        started = time.perf_counter()
        cv = CrossValidation(
            k_folds=k_folds,
            fusion=cross_validate_fusion(retrieved, settings.retrieval, k_folds, k),
            refusal=cross_validate_refusal(
                [q.id for q in questions],
                [evidence[q.id] for q in questions],
                [q.answerable for q in questions],
                k_folds,
                [locate[q.id] for q in questions],
            )
            if any(not q.answerable for q in questions) and answerable
            else None,
        )
        timings["cross_validate"] = time.perf_counter() - started

        report = Report(
            final=aggregate(rows["final"]),
            stage1=aggregate(rows["stage1"]),
            baseline=aggregate(rows["baseline"]),
            by_modality={
                name: {m: aggregate(r)[0] for m, r in by_mod.items()}
                for name, by_mod in modality_rows.items()
            },
            per_question=per_question,
            timings=timings,
            counts={
                "questions": len(answerable),
                "unanswerable": len(questions) - len(answerable),
                "documents": len(doc_files),
                "units": len(units),
                "files": len(files),
            },
            cv=cv,
        )
        if with_answers:
            started = time.perf_counter()
            report.answers, records = _answer_metrics(services, questions, final_rank, gold, k)
            for record in per_question:
                record["answer"] = records[str(record["id"])]
            timings["answers"] = time.perf_counter() - started
            started = time.perf_counter()
            cv.answers = _cross_validate_answers(services, answerable, final_rank, gold, k, k_folds)
            timings["cross_validate_answers"] = time.perf_counter() - started
        return report
    finally:
        services.close()


@dataclass(frozen=True, slots=True)
class AnswerScores:
    contains_answer: float  # share of answers containing the normalised gold answer
    cites_gold: float  # share of answers citing a gold unit
    token_recall: float  # mean share of the gold answer's words found in the answer
    n: int
    words: float = 0.0  # mean length of the answers given (refusals excluded), in words


@dataclass(frozen=True, slots=True)
class RefusalShares:
    """What was refused: a refusal says the documents do not cover the question and cites
    nothing. A located answer (the closest video moments for a question asking *when*,
    cited) is not a refusal; its shares are reported beside."""

    unanswerable: float  # share of unanswerable questions refused
    answerable: float  # share of answerable questions refused
    n_unanswerable: int
    located_unanswerable: float = 0.0  # share of unanswerable questions located
    located_answerable: float = 0.0  # share of answerable questions located


@dataclass
class AnswerReport:
    overall: AnswerScores
    by_modality: dict[str, AnswerScores]
    by_kind: dict[str, AnswerScores]
    refusal: RefusalShares


def _answer_scores(rows: Sequence[tuple[float, float, float, float]]) -> AnswerScores:
    n = len(rows)
    if n == 0:
        return AnswerScores(0.0, 0.0, 0.0, 0)
    contains, cites, recall = (sum(r[i] for r in rows) / n for i in range(3))
    given = [r[3] for r in rows if r[3] > 0]
    return AnswerScores(contains, cites, recall, n, sum(given) / len(given) if given else 0.0)


# The extractive settings `mmrag eval --answers` cross-validates, from the shortest answers
# to the longest (ties go to the first): passages quoted, the top-ranked unit's best
# sentence quoted too, which passages go on with their next sentence, and whether a
# question asking for a quantity prefers sentences stating a figure (answer type).
ANSWER_VARIANTS: dict[str, dict[str, object]] = {
    f"{n} passages{', top unit' if top else ''}{f', follow {follow}' if follow != 'none' else ''}"
    f"{', answer type' if typed else ''}": {
        "extractive_sentences": n,
        "extractive_top_unit": top,
        "extractive_follow": follow,
        "extractive_answer_type": typed,
    }
    for n in (2, 3)
    for follow in ("none", "first", "all")
    for top in (False, True)
    for typed in (False, True)
}


def _score_answer(
    result: Answer, question: EvalQuestion, gold: set[str]
) -> tuple[float, float, float]:
    """(contains gold, cites a gold unit, gold-word share) of an answer; a refusal scores
    0 in each."""
    from app.eval.metrics import answer_contains_gold, token_recall

    gold_answer = question.answer or ""
    cited = {c.unit_id for c in result.citations if c.valid}
    contains = 1.0 if answer_contains_gold(result, gold_answer) else 0.0
    cites_gold = 1.0 if cited & gold else 0.0
    recall = 0.0 if result.refused else token_recall(result.text, gold_answer)
    return contains, cites_gold, recall


def _cross_validate_answers(
    services: Services,
    answerable: Sequence[EvalQuestion],
    ranked: dict[str, list[Hit]],
    gold: dict[str, set[str]],
    k: int,
    k_folds: int,
) -> AnswerCV | None:
    """Answer every answerable question under each of ANSWER_VARIANTS and cross-validate
    the choice (folds stratified by modality); None unless the generator is extractive."""
    from generation.answer import answer as make_answer
    from generation.generators.extractive import ExtractiveGenerator

    generator = services.generator
    if not isinstance(generator, ExtractiveGenerator) or not answerable:
        return None
    rows: dict[str, list[tuple[float, float, float]]] = {}
    for name, changes in ANSWER_VARIANTS.items():
        settings = services.settings.generation.model_copy(update=changes)
        variant = generator.with_settings(settings)
        rows[name] = [
            _score_answer(
                make_answer(variant, q.question, ranked[q.id][:k], settings), q, gold[q.id]
            )
            for q in answerable
        ]
    return cross_validate_answers(
        [q.id for q in answerable], [q.modality for q in answerable], rows, k_folds
    )


def _answer_metrics(
    services: Services,
    questions: Sequence[EvalQuestion],
    ranked: dict[str, list[Hit]],
    gold: dict[str, set[str]],
    k: int,
) -> tuple[AnswerReport, dict[str, dict[str, object]]]:
    """Answer every question through the real pipeline (refusal included). Answerable
    ones: share containing the gold answer, citing a gold unit, gold-word recall; all:
    the share refused and the share located. Also each question's answer record (text,
    route, citations, scores) for `per_question`."""
    from generation.answer import answer as make_answer
    from generation.citations import render_answer

    assert services.generator is not None
    rows: dict[str, list[tuple[float, float, float, float]]] = {}
    refused: dict[bool, list[float]] = {True: [], False: []}
    located: dict[bool, list[float]] = {True: [], False: []}
    records: dict[str, dict[str, object]] = {}
    for q in questions:
        result = make_answer(
            services.generator, q.question, ranked[q.id][:k], services.settings.generation
        )
        refused[q.answerable].append(1.0 if result.refused else 0.0)
        located[q.answerable].append(1.0 if result.located else 0.0)
        words = 0 if result.refused else len(render_answer(result).split())
        record: dict[str, object] = {
            "text": render_answer(result),
            "route": "refuse" if result.refused else "locate" if result.located else "answer",
            "cited": [c.unit_id for c in result.citations if c.valid],
            "words": words,
        }
        if q.answerable:
            contains, cites_gold, recall = _score_answer(result, q, gold[q.id])
            row = (contains, cites_gold, recall, float(words))
            for key in ("overall", f"modality:{q.modality}", f"kind:{q.kind}"):
                rows.setdefault(key, []).append(row)
            record.update(
                gold_answer=q.answer or "",
                contains=contains,
                cites_gold=cites_gold,
                token_recall=recall,
            )
        records[q.id] = record

    def share(values: Sequence[float]) -> float:
        return sum(values) / len(values) if values else 0.0

    report = AnswerReport(
        overall=_answer_scores(rows.get("overall", [])),
        by_modality={m: _answer_scores(rows.get(f"modality:{m}", [])) for m in ("pdf", "video")},
        by_kind={
            key.split(":", 1)[1]: _answer_scores(r)
            for key, r in sorted(rows.items())
            if key.startswith("kind:")
        },
        refusal=RefusalShares(
            share(refused[False]),
            share(refused[True]),
            len(refused[False]),
            share(located[False]),
            share(located[True]),
        ),
    )
    return report, records


def format_report(report: Report) -> str:
    """A plain-text table of the retrieval figures, the cross-validated fusion weights and
    refusal threshold, and the answer figures when present."""
    kinds = sorted(report.final[1])
    header = f"{'':<10} {'nDCG@5':>7} {'hit@5':>6} {'pdf':>6} {'video':>6}  " + " ".join(
        f"{k[:12]:>12}" for k in kinds
    )
    lines = [header, "-" * len(header)]
    for name, scores in (
        ("final", report.final),
        ("stage1", report.stage1),
        ("baseline", report.baseline),
    ):
        overall, by_kind = scores
        mod = report.by_modality[name]
        lines.append(
            f"{name:<10} {overall.ndcg:>7.3f} {overall.hit:>6.3f} {mod['pdf'].ndcg:>6.3f} {mod['video'].ndcg:>6.3f}  "
            + " ".join(f"{by_kind[k].ndcg:>12.3f}" for k in kinds)
        )
    lines.append(
        "(pdf/video/kind columns: nDCG@5 over answerable questions; n per kind: "
        + ", ".join(f"{k}={report.final[1][k].n}" for k in kinds)
        + f"; unanswerable: {report.counts.get('unanswerable', 0)})"
    )
    if report.cv is not None:
        lines.extend(_format_cv(report.cv))
    if report.answers is not None:
        a = report.answers
        lines.append("answers          contains gold  cites gold  gold-word share  words")
        answer_rows = [("overall", a.overall), *a.by_modality.items(), *a.by_kind.items()]
        for name, row in answer_rows:
            lines.append(
                f"  {name:<14} {row.contains_answer:>13.3f} {row.cites_gold:>11.3f}"
                f" {row.token_recall:>16.3f} {row.words:>6.1f}  (n={row.n})"
            )
        r = a.refusal
        lines.append(
            f"refused: unanswerable {r.unanswerable:.3f} (n={r.n_unanswerable}),"
            f" answerable {r.answerable:.3f} (n={a.overall.n});"
            f" located: unanswerable {r.located_unanswerable:.3f},"
            f" answerable {r.located_answerable:.3f}"
        )
    t = report.timings
    lines.append(
        "time: "
        + ", ".join(
            f"{name} {value:.1f}s" for name, value in t.items() if name != "retrieve_per_query"
        )
        + f" ({t.get('retrieve_per_query', 0) * 1000:.0f} ms/query)"
    )
    return "\n".join(lines)


def _format_cv(cv: CrossValidation) -> list[str]:
    lines = [
        f"{cv.k_folds}-fold cross-validation (nDCG@5; shares = rerank weight chosen per unit kind)"
    ]
    lines += _fusion_lines(cv.fusion)
    if cv.refusal is not None:
        lines += _refusal_lines(cv.refusal)
    if cv.answers is not None:
        lines += _answer_lines(cv.answers)
    return lines


_Fold = TypeVar("_Fold")


def _cv_section(
    header: str,
    folds: Sequence[_Fold],
    fold_lines: Callable[[int, _Fold], list[str]],
    pooled: str,
    chosen: str,
) -> list[str]:
    """One cross-validated choice in the report: its column header, each fold's lines,
    the pooled held-out line and the line of the choice on all questions."""
    lines = [header]
    for i, fold in enumerate(folds, start=1):
        lines += fold_lines(i, fold)
    return [*lines, pooled, chosen]


def _fusion_lines(f: FusionCV) -> list[str]:
    def row(name: str, scores: ModalityScores, shares: str) -> str:
        return (
            f"  {name:<22} {scores.stage1['pdf']:>7.3f} {scores.two_stage['pdf']:>7.3f}"
            f" {scores.stage1['video']:>7.3f} {scores.two_stage['video']:>7.3f}  {shares}"
        )

    def fold_lines(i: int, fold: FusionFold) -> list[str]:
        shares = f"{fold.page_share:.1f}, {fold.clip_share:.1f}"
        return [
            row(f"fold {i} held-in", fold.held_in, shares),
            row(f"fold {i} held-out", fold.held_out, shares),
        ]

    return _cv_section(
        f"  {'':<22} {'pdf s1':>7} {'pdf 2st':>7} {'vid s1':>7} {'vid 2st':>7}  shares (page, clip)",
        f.folds,
        fold_lines,
        row("held-out, pooled", f.held_out, "per fold"),
        row("all questions", f.all_questions, f"{f.page_share:.1f}, {f.clip_share:.1f} (chosen)"),
    )


def _refusal_lines(r: RefusalCV) -> list[str]:
    def fold_lines(i: int, fold: RefusalFold) -> list[str]:
        return [
            f"  fold {i} t={fold.threshold:.3f} l={fold.locate_threshold:.3f}"
            f"  held-in {_rates(fold.held_in)}  held-out {_rates(fold.held_out)}"
        ]

    return _cv_section(
        "  refusal threshold, locate threshold   refused: answerable unanswerable"
        " (located: answerable unanswerable)",
        r.folds,
        fold_lines,
        f"  held-out, pooled            {_rates(r.held_out)}"
        f"  (n={r.held_out.n_answerable}, {r.held_out.n_unanswerable})",
        f"  all questions t={r.threshold:.3f} l={r.locate_threshold:.3f}"
        f"  {_rates(r.all_questions)}  (chosen)",
    )


def _answer_lines(a: AnswerCV) -> list[str]:
    def fold_lines(i: int, fold: AnswerFold) -> list[str]:
        return [
            f"  fold {i} held-in  {_figures(fold.held_in)}  {fold.variant}",
            f"  fold {i} held-out {_figures(fold.held_out)}",
        ]

    return _cv_section(
        "  answer settings, PDF questions   contains  cites gold  gold-word share"
        "  (all answerable: same columns)",
        a.folds,
        fold_lines,
        f"  held-out, pooled {_figures(a.held_out)}",
        f"  all questions    {_figures(a.all_questions)}  {a.variant} (chosen)",
    )


def _rates(rates: RefusalRates) -> str:
    return (
        f"{rates.answerable:.3f} {rates.unanswerable:.3f}"
        f" ({rates.located_answerable:.3f} {rates.located_unanswerable:.3f})"
    )


def _figures(by: dict[str, AnswerFigures]) -> str:
    def three(f: AnswerFigures) -> str:
        return f"{f.contains:.3f} {f.cites_gold:.3f} {f.token_recall:.3f}"

    pdf = by.get("pdf", AnswerFigures(0.0, 0.0, 0.0, 0))
    return (
        f"{pdf.contains:>19.3f} {pdf.cites_gold:>11.3f} {pdf.token_recall:>16.3f}"
        f"  ({three(by['all'])})"
    )
