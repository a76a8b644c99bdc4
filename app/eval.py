"""`mmrag eval`: ingest a corpus into a cached data dir, retrieve for every question, score.

Reports nDCG@5 and hit@5 overall, by question kind and by modality (pdf/video) for the full
two-stage retriever, for stage 1 alone, and for a BM25 baseline over the PDF text layer, all
from the same run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from app.config import Settings
from app.eval_baseline import BM25, read_text_layers
from app.eval_metrics import (
    EvalQuestion,
    Scores,
    UnitRef,
    aggregate,
    gold_unit_ids,
    hit_at_k,
    ndcg_at_k,
)
from app.service import Services, build_services
from ingest.pipeline import iter_files
from ingest.stages import StageTimes
from ingest.store import sha256_file
from retrieval.types import Hit

log = logging.getLogger(__name__)

CACHE_VERSION = 1  # bump when ingestion output changes meaning


def load_questions(path: Path) -> list[EvalQuestion]:
    """Questions from a JSONL file (blank lines ignored)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [EvalQuestion.model_validate_json(line) for line in lines if line.strip()]


def corpus_fingerprint(corpus: Path, files: Sequence[Path], settings: Settings) -> str:
    """Hash of the corpus bytes and of every setting that changes what ingestion stores."""
    digest = hashlib.sha256(f"v{CACHE_VERSION}:{settings.profile}".encode())
    for path in files:
        digest.update(f"{path.relative_to(corpus)}:{sha256_file(path)}".encode())
    digest.update(settings.ingest.model_dump_json().encode())
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
    sweep: list[dict[str, float]] = field(default_factory=list)

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
        if self.sweep:
            out["weight_sweep"] = self.sweep
        out["per_question"] = self.per_question
        return out


def _modality(question: EvalQuestion) -> str:
    return "video" if question.span_s is not None else "pdf"


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


def run_eval(
    settings: Settings,
    corpus: Path,
    questions_path: Path,
    *,
    k: int = 5,
    with_answers: bool = False,
    echo: Callable[[str], None] = print,  # noqa: T202 - the CLI passes typer.echo
) -> Report:
    """The whole protocol. The corpus is ingested into `<data_dir>/eval/<fingerprint>`."""
    questions = load_questions(questions_path)
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
        final_rank: dict[str, list[Hit]] = {}
        stage1_rank: dict[str, list[Hit]] = {}
        for q in questions:
            candidates = services.retriever.search(
                q.question, top_k=max(k, settings.retrieval.rerank_top_n)
            )
            final_rank[q.id] = candidates
            stage1_rank[q.id] = services.retriever.stage1_only(q.question, top_k=k)
        timings["retrieve"] = time.perf_counter() - started
        timings["retrieve_per_query"] = timings["retrieve"] / max(len(questions), 1)

        started = time.perf_counter()
        pdf_files = sorted({f for f in doc_files.values() if f.lower().endswith(".pdf")})
        pages = read_text_layers(corpus, pdf_files)
        bm25 = BM25([p.text for p in pages])
        page_ids = {(u.file, u.page): u.unit_id for u in units if u.page is not None}
        baseline_rank = {
            q.id: [
                page_ids.get((pages[i].file, pages[i].page), "") for i in bm25.top(q.question, k)
            ]
            for q in questions
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
        for q in questions:
            ranked = {
                "final": [h.unit.id for h in final_rank[q.id][:k]],
                "stage1": [h.unit.id for h in stage1_rank[q.id][:k]],
                "baseline": baseline_rank[q.id],
            }
            record: dict[str, object] = {"id": q.id, "kind": q.kind, "gold": sorted(gold[q.id])}
            for name, ids in ranked.items():
                row = (q.kind, ndcg_at_k(ids, gold[q.id], k), hit_at_k(ids, gold[q.id], k))
                rows[name].append(row)
                modality_rows[name][_modality(q)].append(row)
                record[name] = {"ndcg@5": row[1], "top": ids}
            per_question.append(record)

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
                "questions": len(questions),
                "documents": len(doc_files),
                "units": len(units),
                "files": len(files),
            },
        )
        if with_answers:
            started = time.perf_counter()
            report.answers = _answer_metrics(services, questions, final_rank, gold, k)
            timings["answers"] = time.perf_counter() - started
        return report
    finally:
        services.close()


@dataclass(frozen=True, slots=True)
class AnswerScores:
    contains_answer: float  # share of answers containing the normalised gold answer
    cites_gold: float  # share of answers citing a gold unit
    n: int


@dataclass
class AnswerReport:
    overall: AnswerScores
    by_modality: dict[str, AnswerScores]
    by_kind: dict[str, AnswerScores]
    samples: list[dict[str, object]]


def _answer_metrics(
    services: Services,
    questions: Sequence[EvalQuestion],
    ranked: dict[str, list[Hit]],
    gold: dict[str, set[str]],
    k: int,
) -> AnswerReport:
    """Share of answers containing the normalised gold answer, and citing a gold unit."""
    from generation.answer import answer as make_answer
    from generation.metrics import answer_contains_gold

    assert services.generator is not None
    rows: list[tuple[str, float, float]] = []
    samples: list[dict[str, object]] = []
    for q in questions:
        result = make_answer(
            services.generator, q.question, ranked[q.id][:k], services.settings.generation
        )
        cited = {c.unit_id for c in result.citations if c.valid}
        contains = 1.0 if answer_contains_gold(result, q.answer) else 0.0
        cites_gold = 1.0 if cited & gold[q.id] else 0.0
        rows.append((q.kind, contains, cites_gold))
        samples.append(
            {"id": q.id, "answer": result.text, "contains": contains, "cites_gold": cites_gold}
        )

    def as_answer(scores: Scores) -> AnswerScores:
        return AnswerScores(scores.ndcg, scores.hit, scores.n)

    overall, kinds = aggregate(rows)
    modality = {
        m: as_answer(
            aggregate([r for r, q in zip(rows, questions, strict=True) if _modality(q) == m])[0]
        )
        for m in ("pdf", "video")
    }
    return AnswerReport(
        as_answer(overall), modality, {kk: as_answer(v) for kk, v in kinds.items()}, samples
    )


def format_report(report: Report) -> str:
    """A plain-text table of the retrieval figures (and answer figures when present)."""
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
        "(pdf/video/kind columns: nDCG@5; n per kind: "
        + ", ".join(f"{k}={report.final[1][k].n}" for k in kinds)
        + ")"
    )
    if report.answers is not None:
        a = report.answers
        lines.append("answers          contains gold  cites gold")
        answer_rows = [("overall", a.overall), *a.by_modality.items(), *a.by_kind.items()]
        for name, row in answer_rows:
            lines.append(
                f"  {name:<14} {row.contains_answer:>13.3f} {row.cites_gold:>11.3f}  (n={row.n})"
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
