"""Extractive answers on the dev questions, with retrieval taken out of the picture.

For every PDF question the hits are the gold page(s) first, then other pages of the same
file (distractors), up to 3 units, scored like a confident retriever would. The text is the
PDF text layer (pymupdf); questions whose gold pages have no text layer (scans) are counted
and skipped. Figures, all measured in the same run on the same hits:

- extractive: ExtractiveGenerator with the lexical scorer, or with `--scorer lite` the lite
  reranker's MiniLM sentence scorer (what the lite profile uses);
- lead: as many words from the start of the top unit as the extractive answer has (the
  same length budget spent naively: the reference for the ratio);
- ceiling: the whole text of the top 3 units (the most any extract of them could contain).

Prints a table and writes bench/results/extractive_answers.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pymupdf

from app.eval.metrics import contains_answer, token_recall
from generation.config import GenerationSettings
from generation.generators.extractive import ExtractiveGenerator
from generation.generators.scoring import LexicalSentenceScorer, SentenceScorer
from ingest.types import Unit, UnitKind
from retrieval.types import Hit

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus"
RESULTS = ROOT / "bench" / "results"


def page_texts(path: Path) -> list[str]:
    """Text layer of every page."""
    with pymupdf.open(path) as doc:
        return [page.get_text() for page in doc]


def oracle_hits(file_name: str, texts: list[str], gold_pages: list[int], k: int = 3) -> list[Hit]:
    """Gold pages first, then the other pages in order, as hits with falling scores."""
    order = [p for p in gold_pages if 1 <= p <= len(texts)]
    order += [p for p in range(1, len(texts) + 1) if p not in order]
    hits = []
    for rank, page in enumerate(order[:k]):
        unit = Unit(
            id=f"{file_name}:{page}",
            doc_id=file_name,
            kind=UnitKind.PAGE,
            ordinal=page - 1,
            file_name=file_name,
            text=texts[page - 1],
            page=page,
        )
        score = 1.0 - 0.2 * rank
        hits.append(Hit(unit=unit, score=score, stage1_score=score))
    return hits


def build_scorer(name: str) -> SentenceScorer:
    if name == "lexical":
        return LexicalSentenceScorer()
    from retrieval.rerankers.lite import LiteReranker

    return LiteReranker.from_embedder(None, "").sentence_scorer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument("--scorer", choices=["lexical", "lite"], default="lexical")
    parser.add_argument("--sentences", type=int, default=2)
    args = parser.parse_args()

    settings = GenerationSettings(extractive_sentences=args.sentences)
    generator = ExtractiveGenerator(build_scorer(args.scorer), settings)
    questions = [json.loads(line) for line in (args.corpus / "dev_questions.jsonl").open()]
    cache: dict[str, list[str]] = {}
    rows = []
    skipped = 0
    seconds: list[float] = []
    for q in questions:
        if not q["file"].endswith(".pdf"):
            continue
        path = args.corpus / q["file"]
        texts = cache.setdefault(q["file"], page_texts(path))
        hits = oracle_hits(path.name, texts, q["pages"])
        if not "".join(h.unit.text for h in hits[: len(q["pages"])]).strip():
            skipped += 1
            continue
        started = time.perf_counter()
        answer = generator.compose(q["question"], hits)
        seconds.append(time.perf_counter() - started)
        lead = " ".join(hits[0].unit.text.split()[: len(answer.split())])
        ceiling = "\n".join(h.unit.text for h in hits)
        rows.append(
            {
                "id": q["id"],
                "kind": q["kind"],
                "gold": q["answer"],
                "answer": answer,
                "extractive": contains_answer(answer, q["answer"]),
                "lead": contains_answer(lead, q["answer"]),
                "ceiling": contains_answer(ceiling, q["answer"]),
                "recall": token_recall(answer, q["answer"]),
                "lead_recall": token_recall(lead, q["answer"]),
                "words": len(answer.split()),
            }
        )

    n = len(rows)

    def share(key: str) -> float:
        return sum(bool(r[key]) for r in rows) / n if n else 0.0

    summary = {
        "questions": n,
        "skipped_no_text_layer": skipped,
        "scorer": args.scorer,
        "sentences": args.sentences,
        "contains": {k: share(k) for k in ("extractive", "lead", "ceiling")},
        "token_recall": {
            "extractive": statistics.fmean(r["recall"] for r in rows) if rows else 0.0,
            "lead": statistics.fmean(r["lead_recall"] for r in rows) if rows else 0.0,
        },
        "median_answer_words": statistics.median(r["words"] for r in rows) if rows else 0,
        "ms_per_answer": 1000 * statistics.fmean(seconds) if seconds else 0.0,
    }
    contains = summary["contains"]
    recall = summary["token_recall"]
    print(f"{'method':<12} {'contains':>9} {'recall':>8}  (n={n}, {skipped} scans skipped)")
    for key in ("extractive", "lead"):
        print(f"{key:<12} {contains[key]:>9.3f} {recall[key]:>8.3f}")
    print(f"{'ceiling':<12} {contains['ceiling']:>9.3f}")
    ratio_lead = contains["extractive"] / max(contains["lead"], 1 / n) if n else 0.0
    ratio_ceiling = contains["extractive"] / contains["ceiling"] if contains["ceiling"] else 0.0
    summary["ratio_to_lead"] = ratio_lead  # lead floored at one hit, so the ratio is finite
    summary["ratio_to_ceiling"] = ratio_ceiling
    print(f"extractive/lead {ratio_lead:.2f}x, extractive/ceiling {ratio_ceiling:.2f}")
    print(
        f"median answer {summary['median_answer_words']} words, "
        f"{summary['ms_per_answer']:.1f} ms per answer ({args.scorer} scorer)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "extractive_answers.json"
    out.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1, ensure_ascii=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
