"""The evaluation protocol's pure functions."""

from __future__ import annotations

import math

from app.eval.baseline import PageText, baseline_index
from app.eval.metrics import EvalQuestion, UnitRef, aggregate, gold_unit_ids, hit_at_k, ndcg_at_k
from retrieval.bm25 import BM25, idf, length_norm, term_weight
from retrieval.terms import plain_words


def test_ndcg_binary_gains_and_ideal_uses_min_gold_k() -> None:
    assert ndcg_at_k(["g", "x"], {"g"}) == 1.0
    assert math.isclose(ndcg_at_k(["x", "g"], {"g"}), 1 / math.log2(3))
    # Two gold units, one found at rank 1: DCG 1, ideal 1 + 1/log2(3).
    assert math.isclose(ndcg_at_k(["g1", "x"], {"g1", "g2"}), 1 / (1 + 1 / math.log2(3)))
    assert ndcg_at_k(["a", "b", "c", "d", "e", "g"], {"g"}) == 0.0  # rank 6 is outside @5
    assert ndcg_at_k(["a"], set()) == 0.0
    # More gold than k: the ideal is capped at k.
    assert ndcg_at_k([f"g{i}" for i in range(5)], {f"g{i}" for i in range(8)}) == 1.0


def test_hit_at_k() -> None:
    assert hit_at_k(["a", "b", "g"], {"g"}) == 1.0
    assert hit_at_k(["a", "b", "c", "d", "e", "g"], {"g"}) == 0.0


def test_gold_pages_and_first_overlapping_clip() -> None:
    units = [
        UnitRef("p1", "pdf/a.pdf", page=1),
        UnitRef("p2", "pdf/a.pdf", page=2),
        UnitRef("q2", "pdf/b.pdf", page=2),
        UnitRef("c1", "video/v.mp4", start_s=10, end_s=20),
        UnitRef("c0", "video/v.mp4", start_s=0, end_s=10),
        UnitRef("c2", "video/v.mp4", start_s=20, end_s=30),
    ]
    pdf_q = EvalQuestion(id="1", question="?", file="pdf/a.pdf", pages=[2], kind="text")
    assert gold_unit_ids(pdf_q, units) == {"p2"}
    video_q = EvalQuestion(
        id="2", question="?", file="video/v.mp4", span_s=[6.5, 21], kind="video-visual"
    )
    assert gold_unit_ids(video_q, units) == {"c0"}
    touching = EvalQuestion(id="3", question="?", file="video/v.mp4", span_s=[10, 12], kind="v")
    assert gold_unit_ids(touching, units) == {"c1"}  # [0,10) only touches 10: no overlap


def test_aggregate_by_kind() -> None:
    overall, kinds = aggregate([("text", 1.0, 1.0), ("text", 0.0, 0.0), ("table", 0.5, 1.0)])
    assert overall.n == 3 and math.isclose(overall.ndcg, 0.5)
    assert kinds["text"].ndcg == 0.5 and kinds["table"].hit == 1.0


def test_bm25_ranks_the_matching_page_first() -> None:
    texts = ["the cat sat on the mat", "double spending problem in peer to peer cash", "nothing"]
    bm25 = baseline_index([PageText("a.pdf", i, t) for i, t in enumerate(texts, 1)])
    assert bm25.top(plain_words("peer-to-peer double spending"), 2) == [1]
    assert bm25.top(plain_words("zebra"), 3) == []


def test_bm25_saturates_term_frequency_and_normalises_length() -> None:
    docs = [["cash"] * 1 + ["x"] * 9, ["cash"] * 5 + ["x"] * 5, ["cash"] + ["y"] * 99, ["z"]]
    one, five, long, none = BM25(docs).scores(["cash", "cash"])
    assert none == 0.0 and five > one > long > 0
    assert five < 5 * one  # saturation: five times the term is not five times the score
    assert math.isclose(one, idf(4, 3) * term_weight(1, length_norm(10, 30.25, 1.2, 0.75), 1.2))
